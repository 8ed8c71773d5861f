//! `[dns]`: the resolver that authenticates senders (SPF, DKIM, DMARC, ARC).
//!
//! The validated [`Dns`] and the checks that build it from [`raw::Dns`], called by
//! [`super::validate`].

use std::net::SocketAddr;
use std::time::Duration;

use super::defaults;
use super::raw;
use super::validate::{Key, Validator, key};

/// `[dns]`: the resolver that authenticates senders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    /// Name servers to ask, over UDP and TCP; empty: the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// How long one query may take before it is tried again or counts as a temporary failure.
    pub timeout: Duration,
    /// Answers kept in the resolver's cache, at most.
    pub cache_size: usize,
}

impl Default for Dns {
    fn default() -> Dns {
        Dns {
            nameservers: Vec::new(),
            timeout: defaults::DNS_TIMEOUT,
            cache_size: defaults::DNS_CACHE_SIZE,
        }
    }
}

/// `[dns]`'s number and duration, checked by [`Validator::keys`].
const KEYS: &[Key<raw::Dns, Dns>] = &[
    key!(duration timeout, defaults::DNS_TIMEOUT_RANGE),
    key!(count cache_size, defaults::DNS_CACHE_SIZE_RANGE),
];

impl Validator<'_> {
    pub(super) fn dns(&mut self, raw: &raw::Dns) -> Dns {
        let mut nameservers: Vec<SocketAddr> = Vec::new();
        for entry in raw.nameservers.iter().flat_map(|l| l.get_ref()) {
            let written = entry.get_ref().trim();
            // A bare IP means port 53.
            let parsed = written.parse::<SocketAddr>().or_else(|_| {
                written
                    .parse::<std::net::IpAddr>()
                    .map(|ip| SocketAddr::new(ip, 53))
            });
            match parsed {
                Ok(addr) if nameservers.contains(&addr) => {
                    self.error(entry, format!("dns.nameservers lists \"{addr}\" twice; remove one"));
                }
                Ok(addr) => nameservers.push(addr),
                Err(_) => self.error(
                    entry,
                    format!("dns.nameservers entry \"{written}\" is not an IP address; write e.g. \"127.0.0.1:53\" or \"::1\" (host names are not resolved)"),
                ),
            }
        }
        if let Some(list) = raw.nameservers.as_ref().filter(|l| l.get_ref().is_empty()) {
            self.error(list, "dns.nameservers is empty; list at least one, or remove the key to use the system's resolvers".into());
        }
        let mut dns = Dns {
            nameservers,
            ..Dns::default()
        };
        self.keys("dns.", KEYS, raw, &mut dns);
        dns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::testing::*;

    #[test]
    fn nameservers_timeout_and_cache_round_trip_and_defaults() {
        let c = valid(HEAD);
        assert_eq!(c.dns, Dns::default());
        assert!(c.dns.nameservers.is_empty());
        let c = valid(&format!(
            "{HEAD}[dns]\nnameservers = [\"127.0.0.1\", \"[::1]:5353\"]\ntimeout = \"250ms\"\ncache_size = 0\n"
        ));
        assert_eq!(
            c.dns,
            Dns {
                nameservers: vec![
                    "127.0.0.1:53".parse().unwrap(),
                    "[::1]:5353".parse().unwrap()
                ],
                timeout: Duration::from_millis(250),
                cache_size: 0,
            }
        );
    }

    #[test]
    fn nameserver_mistakes_are_located() {
        let text = format!(
            "{HEAD}[dns]\nnameservers = [\"127.0.0.1\", \"127.0.0.1:53\", \"dns.example\"]\n"
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:7:29: dns.nameservers lists \"127.0.0.1:53\" twice; remove one",
                "t.toml:7:45: dns.nameservers entry \"dns.example\" is not an IP address; write e.g. \"127.0.0.1:53\" or \"::1\" (host names are not resolved)",
            ]
        );
        assert_one(
            &format!("{HEAD}[dns]\nnameservers = []\n"),
            "7:15",
            "dns.nameservers is empty; list at least one",
        );
    }

    #[test]
    fn every_key_of_the_table_takes_its_range() {
        check_table(&format!("{HEAD}[dns]\n@KEY@\n"), "dns.", KEYS);
    }
}
