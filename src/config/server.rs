//! `[server]` and `[server.tls]`: the SMTP listener, its limits, and its TLS files (whose check
//! `[admin]` shares).
//!
//! The validated [`Server`] and [`Tls`], and the checks that build them from [`raw::Server`],
//! called by [`super::validate`]; every number, size and duration is a row of its `KEYS` table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::defaults;
use super::raw;
use super::validate::{Key, Validator, key};
use crate::address::{Address, Domain};

/// `[server]`: the SMTP listener and its limits.
#[derive(Debug, Clone)]
pub struct Server {
    /// The name we announce in the banner and EHLO reply.
    pub hostname: String,
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Addresses to listen on with TLS from the first byte (implicit TLS, port 465), for ERPs
    /// that submit that way; needs `[server.tls]`.
    pub listen_tls: Vec<SocketAddr>,
    /// Largest message accepted, in bytes (SIZE and while streaming).
    pub max_message_size: u64,
    /// Recipients accepted per transaction (RFC 5321 asks for at least 100).
    pub max_recipients: usize,
    /// Longest command line in octets, CRLF included (RFC 5321 4.5.3.1.4: 512).
    pub max_line_length: usize,
    /// Connections open at once, in total.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Connections one IP address may open per minute (0: no limit).
    pub max_connections_per_minute: u32,
    /// Connections one network may open per minute (0: no limit).
    pub max_connections_per_minute_per_network: u32,
    /// Messages one IP address may start per minute (0: no limit).
    pub max_messages_per_minute: u32,
    /// Messages one network may start per minute (0: no limit).
    pub max_messages_per_minute_per_network: u32,
    /// Transactions per session before 452 4.4.5.
    pub max_messages_per_session: usize,
    /// Protocol errors per session before 421 and close.
    pub max_errors: usize,
    /// Waiting for the next command (RFC 5321 4.5.3.2.7: at least 5 minutes).
    pub command_timeout: Duration,
    /// Waiting for the next chunk of DATA (RFC 5321 4.5.3.2.5: 3 minutes).
    pub data_timeout: Duration,
    /// The whole session, whatever happens in it.
    pub session_timeout: Duration,
    /// How long a SIGTERM waits for DATA in progress to be committed and for deliveries in
    /// flight to finish (or go back to the queue) before the rest is closed.
    pub shutdown_timeout: Duration,
    /// STARTTLS certificate and key; STARTTLS is advertised only when set.
    pub tls: Option<Tls>,
    /// Where mail to `postmaster@` and `abuse@` of the served domains is forwarded (through
    /// `[relay]`, as received); `None`: it is kept in the spool for `trustgate spool list`.
    pub postmaster: Option<Address>,
    /// The domain of addresses that `trustgate receiver add` generates when `--domain` is not
    /// given; `None`: the domain the existing receivers share.
    pub receiver_domain: Option<Domain>,
    /// Characters in a generated receiver's local part.
    pub receiver_address_length: usize,
    /// Domains whose ARC seals are believed: a valid chain sealed only by them, whose first
    /// hop saw the From domain pass, counts as that pass (mail forwarded by Microsoft 365 or
    /// Google). Empty: ARC is recorded but never trusted.
    pub trusted_arc_sealers: Vec<Domain>,
}

impl Default for Server {
    /// Every optional key at its default (see [`defaults`]); `hostname` and `listen`, which
    /// the config must set, empty.
    fn default() -> Server {
        Server {
            hostname: String::new(),
            listen: Vec::new(),
            listen_tls: Vec::new(),
            max_message_size: defaults::MAX_MESSAGE_SIZE,
            max_recipients: defaults::MAX_RECIPIENTS,
            max_line_length: defaults::MAX_LINE_LENGTH,
            max_connections: defaults::MAX_CONNECTIONS,
            max_connections_per_ip: defaults::MAX_CONNECTIONS_PER_IP,
            max_connections_per_minute: defaults::MAX_CONNECTIONS_PER_MINUTE,
            max_connections_per_minute_per_network:
                defaults::MAX_CONNECTIONS_PER_MINUTE_PER_NETWORK,
            max_messages_per_minute: defaults::MAX_MESSAGES_PER_MINUTE,
            max_messages_per_minute_per_network: defaults::MAX_MESSAGES_PER_MINUTE_PER_NETWORK,
            max_messages_per_session: defaults::MAX_MESSAGES_PER_SESSION,
            max_errors: defaults::MAX_ERRORS,
            command_timeout: defaults::COMMAND_TIMEOUT,
            data_timeout: defaults::DATA_TIMEOUT,
            session_timeout: defaults::SESSION_TIMEOUT,
            shutdown_timeout: defaults::SHUTDOWN_TIMEOUT,
            tls: None,
            postmaster: None,
            receiver_domain: None,
            receiver_address_length: defaults::RECEIVER_ADDRESS_LENGTH,
            trusted_arc_sealers: Vec::new(),
        }
    }
}

/// `[server.tls]`.
#[derive(Debug, Clone)]
pub struct Tls {
    /// PEM certificate chain.
    pub certificate: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `[server]`'s numbers, sizes and durations, checked by [`Validator::keys`].
const KEYS: &[Key<raw::Server, Server>] = &[
    key!(size max_message_size, defaults::MAX_MESSAGE_SIZE_RANGE),
    key!(
        count max_recipients,
        defaults::MAX_RECIPIENTS_RANGE,
        " (RFC 5321 4.5.3.1.8 requires at least 100)"
    ),
    key!(
        count max_line_length,
        defaults::MAX_LINE_LENGTH_RANGE,
        " (RFC 5321 4.5.3.1.4 requires at least 512)"
    ),
    key!(count max_connections, defaults::MAX_CONNECTIONS_RANGE),
    key!(count max_connections_per_ip, defaults::MAX_CONNECTIONS_PER_IP_RANGE),
    key!(count max_connections_per_minute as u32, defaults::MAX_CONNECTIONS_PER_MINUTE_RANGE),
    key!(
        count max_connections_per_minute_per_network as u32,
        defaults::MAX_CONNECTIONS_PER_MINUTE_PER_NETWORK_RANGE
    ),
    key!(count max_messages_per_minute as u32, defaults::MAX_MESSAGES_PER_MINUTE_RANGE),
    key!(
        count max_messages_per_minute_per_network as u32,
        defaults::MAX_MESSAGES_PER_MINUTE_PER_NETWORK_RANGE
    ),
    key!(count max_messages_per_session, defaults::MAX_MESSAGES_PER_SESSION_RANGE),
    key!(count max_errors, defaults::MAX_ERRORS_RANGE),
    key!(duration command_timeout, defaults::COMMAND_TIMEOUT_RANGE),
    key!(duration data_timeout, defaults::DATA_TIMEOUT_RANGE),
    key!(duration session_timeout, defaults::SESSION_TIMEOUT_RANGE),
    key!(duration shutdown_timeout, defaults::SHUTDOWN_TIMEOUT_RANGE),
    key!(
        count receiver_address_length,
        defaults::RECEIVER_ADDRESS_LENGTH_RANGE,
        " (fewer than 7 characters could be guessed)"
    ),
];

impl Validator<'_> {
    pub(super) fn server(&mut self, raw: raw::Server) -> Server {
        let mut hostname = raw.hostname.get_ref().trim().to_string();
        if let Ok(domain) = Domain::parse(&hostname) {
            // Lower case, without a trailing dot: the form announced in the banner and EHLO.
            hostname = domain.as_str().to_string();
        } else if hostname.is_empty() {
            self.error(
                &raw.hostname,
                "hostname is empty; write the public name of this host, e.g. \"mx.example.com\""
                    .into(),
            );
        } else {
            self.error(
                &raw.hostname,
                format!("hostname \"{hostname}\" is not a fully qualified domain name; write the public name of this host, e.g. \"mx.example.com\""),
            );
        }

        let mut listen: Vec<SocketAddr> = Vec::new();
        if raw.listen.get_ref().is_empty() {
            self.error(
                &raw.listen,
                "listen is empty; add at least one address, e.g. listen = [\"0.0.0.0:25\"]".into(),
            );
        }
        for entry in raw.listen.get_ref() {
            match entry.get_ref().trim().parse::<SocketAddr>() {
                Ok(addr) if listen.contains(&addr) => {
                    self.error(entry, format!("listen address \"{addr}\" is listed twice; remove one"));
                }
                Ok(addr) => listen.push(addr),
                Err(_) => self.error(
                    entry,
                    format!(
                        "listen address \"{}\" is not IP:PORT; write e.g. \"0.0.0.0:25\" or \"[::]:25\" (host names are not resolved)",
                        entry.get_ref()
                    ),
                ),
            }
        }

        let mut listen_tls: Vec<SocketAddr> = Vec::new();
        for entry in raw.listen_tls.iter().flat_map(|l| l.get_ref()) {
            match entry.get_ref().trim().parse::<SocketAddr>() {
                // Port 0 (any free port, for tests) may repeat.
                Ok(addr)
                    if addr.port() != 0
                        && (listen.contains(&addr) || listen_tls.contains(&addr)) =>
                {
                    self.error(entry, format!("listen_tls address \"{addr}\" is listed twice (here or in listen); remove one"));
                }
                Ok(addr) => listen_tls.push(addr),
                Err(_) => self.error(
                    entry,
                    format!(
                        "listen_tls address \"{}\" is not IP:PORT; write e.g. \"0.0.0.0:465\" (host names are not resolved)",
                        entry.get_ref()
                    ),
                ),
            }
        }
        if raw.tls.is_none()
            && let Some(l) = raw.listen_tls.as_ref().filter(|l| !l.get_ref().is_empty())
        {
            self.error(
                l,
                "listen_tls needs a certificate: add [server.tls] with certificate and key, or remove listen_tls".into(),
            );
        }

        let mut server = Server::default();
        self.keys("", KEYS, &raw, &mut server);
        let (max_connections, max_connections_per_ip) =
            (server.max_connections, server.max_connections_per_ip);
        if max_connections_per_ip > max_connections {
            let span = raw
                .max_connections_per_ip
                .as_ref()
                .or(raw.max_connections.as_ref())
                .map(Spanned::span);
            if let Some(span) = span {
                self.error_at(
                    span,
                    format!("max_connections_per_ip ({max_connections_per_ip}) is larger than max_connections ({max_connections}); lower it to at most {max_connections}"),
                );
            }
        }
        let tls = raw.tls.map(|tls| {
            let tls = tls.into_inner();
            self.tls_files(&tls.certificate, &tls.key, "tls.certificate", "tls.key")
        });
        let mut trusted_arc_sealers: Vec<Domain> = Vec::new();
        for entry in raw.trusted_arc_sealers.iter().flat_map(|l| l.get_ref()) {
            match Domain::parse(entry.get_ref().trim()) {
                Ok(d) if trusted_arc_sealers.contains(&d) => {
                    self.error(entry, format!("trusted_arc_sealers lists \"{d}\" twice; remove one"));
                }
                Ok(d) => trusted_arc_sealers.push(d),
                Err(e) => self.error(
                    entry,
                    format!("trusted_arc_sealers entry \"{}\" {e}; write the sealer's domain, e.g. \"microsoft.com\"", entry.get_ref()),
                ),
            }
        }

        let postmaster = raw.postmaster.as_ref().and_then(|p| {
            match Address::parse(p.get_ref().trim()) {
                Ok(a) => Some(a),
                Err(e) => {
                    self.error(p, format!("postmaster {e}; write the admin's address, e.g. \"hostmaster@example.org\""));
                    None
                }
            }
        });

        let receiver_domain = raw.receiver_domain.as_ref().and_then(|d| {
            let written = d.get_ref().trim();
            match Domain::parse(written) {
                Ok(domain) => Some(domain),
                Err(e) => {
                    self.error(d, format!("receiver_domain {e}; write the domain of the generated addresses, e.g. \"trust.example.com\""));
                    None
                }
            }
        });
        Server {
            hostname,
            listen,
            listen_tls,
            postmaster,
            receiver_domain,
            tls,
            trusted_arc_sealers,
            ..server
        }
    }

    /// A TLS certificate chain and private key, both PEM files: `[server.tls]`, and `[admin]`'s
    /// `tls_cert` and `tls_key`. With `check_tls_files`, both are read and must hold what they
    /// are named for; `cert_key` and `key_key` name the keys in messages.
    pub(super) fn tls_files(
        &mut self,
        cert_value: &Spanned<String>,
        key_value: &Spanned<String>,
        cert_key: &str,
        key_key: &str,
    ) -> Tls {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};

        let certificate = self.path(cert_value, cert_key);
        let key = self.path(key_value, key_key);
        if self.options.check_tls_files {
            if let Some(bytes) = self.read_small(
                cert_value,
                &certificate,
                cert_key,
                defaults::MAX_TLS_FILE_SIZE,
            ) {
                let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&bytes).collect();
                match certs {
                    Ok(certs) if !certs.is_empty() => {}
                    Ok(_) => self.error(
                        cert_value,
                        format!("{cert_key} {} holds no PEM certificate; point it at the certificate chain (-----BEGIN CERTIFICATE-----)", certificate.display()),
                    ),
                    Err(e) => self.error(
                        cert_value,
                        format!("{cert_key} {} is not valid PEM ({e}); point it at the PEM certificate chain", certificate.display()),
                    ),
                }
            }
            if let Some(bytes) =
                self.read_small(key_value, &key, key_key, defaults::MAX_TLS_FILE_SIZE)
                && let Err(e) = PrivateKeyDer::from_pem_slice(&bytes)
            {
                self.error(
                    key_value,
                    format!("{key_key} {} holds no PEM private key ({e}); point it at the private key (-----BEGIN PRIVATE KEY-----)", key.display()),
                );
            }
        }
        Tls { certificate, key }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::testing::*;
    use crate::config::validate::{Options, load_str};

    #[test]
    fn listen_tls_needs_a_certificate_and_its_own_addresses() {
        let text = HEAD.replace(
            "listen = [\"127.0.0.1:2525\"]",
            "listen = [\"127.0.0.1:2525\"]\nlisten_tls = [\"127.0.0.1:2525\", \"127.0.0.1:465\"]",
        );
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e
                .starts_with("t.toml:4:15: listen_tls address \"127.0.0.1:2525\" is listed twice")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("t.toml:4:14: listen_tls needs a certificate")),
            "{errs:?}"
        );
    }

    #[test]
    fn limits_out_of_range() {
        let text = HEAD.replace(
            "[spool]",
            "max_recipients = 99\nmax_message_size = 0\nmax_line_length = 100\nmax_connections = 10\nmax_connections_per_ip = 11\nshutdown_timeout = \"2h\"\ncommand_timeout = \"0s\"\n[spool]\nlarge_body_threshold = \"65MiB\"",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:4:18: max_recipients 99 is out of range (RFC 5321 4.5.3.1.8 requires at least 100); use 100 to 10000",
                "t.toml:5:20: max_message_size 0 bytes is out of range; use 1 bytes to 1 GiB",
                "t.toml:6:19: max_line_length 100 is out of range (RFC 5321 4.5.3.1.4 requires at least 512); use 512 to 4096",
                "t.toml:8:26: max_connections_per_ip (11) is larger than max_connections (10); lower it to at most 10",
                "t.toml:9:20: shutdown_timeout 2h is out of range; use 1s to 10m",
                "t.toml:10:19: command_timeout 0s is out of range; use 1s to 1h",
                "t.toml:12:24: large_body_threshold 68157440 bytes is out of range; use 0 bytes to 64 MiB",
            ]
        );
    }

    #[test]
    fn malformed_listen_addresses_and_hostnames() {
        let text = EXAMPLE.replace(
            "listen = [\"127.0.0.1:2525\"]",
            "listen = [\"localhost:25\", \"127.0.0.1:25\", \"127.0.0.1:25\", \"::1:25\"]",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:3:11: listen address \"localhost:25\" is not IP:PORT; write e.g. \"0.0.0.0:25\" or \"[::]:25\" (host names are not resolved)",
                "t.toml:3:43: listen address \"127.0.0.1:25\" is listed twice; remove one",
                "t.toml:3:59: listen address \"::1:25\" is not IP:PORT; write e.g. \"0.0.0.0:25\" or \"[::]:25\" (host names are not resolved)",
            ]
        );
        let text = EXAMPLE.replace("listen = [\"127.0.0.1:2525\"]", "listen = []");
        assert_one(&text, "3:10", "listen is empty; add at least one address");
        let ipv6 = valid(&EXAMPLE.replace("\"127.0.0.1:2525\"", "\"[::1]:2525\", \"0.0.0.0:25\""));
        assert_eq!(ipv6.server.listen.len(), 2);
    }

    #[test]
    fn empty_or_bad_hostname() {
        let text = EXAMPLE.replace("\"mx.trust.example.test\"", "\"\"");
        assert_eq!(
            errors(&text),
            [
                "t.toml:2:12: hostname is empty; write the public name of this host, e.g. \"mx.example.com\""
            ]
        );
        let text = EXAMPLE.replace("\"mx.trust.example.test\"", "\"mx\"");
        assert_one(
            &text,
            "2:12",
            "hostname \"mx\" is not a fully qualified domain name",
        );
        let text = EXAMPLE.replace("\"mx.trust.example.test\"", "\"MX.Trust.Example.Test.\"");
        assert_eq!(valid(&text).server.hostname, "mx.trust.example.test");
    }

    #[test]
    fn tls_files_must_be_readable_pem() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("trustgate.toml");
        let ck =
            rcgen::generate_simple_self_signed(vec!["mx.trust.example.test".to_string()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("junk.pem"), "not pem").unwrap();
        let options = Options {
            check_spool_writable: false,
            check_tls_files: true,
        };
        let with_tls = |cert: &str, key: &str| {
            let text = EXAMPLE.replace(
                "\n[spool]",
                &format!("\n[server.tls]\ncertificate = \"{cert}\"\nkey = \"{key}\"\n\n[spool]"),
            );
            load_str(&text, &cfg, &options)
        };
        let c = with_tls("cert.pem", "key.pem").unwrap();
        let tls = c.server.tls.unwrap();
        assert!(tls.certificate.is_absolute() && tls.certificate.ends_with("cert.pem"));
        assert!(tls.key.is_absolute() && tls.key.ends_with("key.pem"));

        let errs = with_tls("missing.pem", "junk.pem").unwrap_err().0;
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert_eq!((errs[0].line, errs[0].column), (7, 15));
        assert!(
            errs[0].message.starts_with("tls.certificate ")
                && errs[0].message.contains("cannot be read"),
            "{}",
            errs[0]
        );
        assert_eq!((errs[1].line, errs[1].column), (8, 7));
        assert!(
            errs[1].message.contains("holds no PEM private key"),
            "{}",
            errs[1]
        );
        // The key is not a certificate, and a certificate is not a key.
        let errs = with_tls("key.pem", "cert.pem").unwrap_err().0;
        assert_eq!(errs.len(), 2, "{errs:#?}");
        // Skipped when asked.
        let text = EXAMPLE.replace(
            "\n[spool]",
            "\n[server.tls]\ncertificate = \"a\"\nkey = \"b\"\n[spool]",
        );
        assert!(load_str(&text, &cfg, &no_io()).is_ok());
    }

    #[test]
    fn shutdown_timeout_is_a_second_to_ten_minutes() {
        let with = |value: &str| {
            HEAD.replacen(
                "[server]\n",
                &format!("[server]\nshutdown_timeout = {value}\n"),
                1,
            )
        };
        assert_eq!(
            valid(&with("\"10m\"")).server.shutdown_timeout,
            Duration::from_secs(600)
        );
        assert_eq!(
            valid(&with("\"1s\"")).server.shutdown_timeout,
            Duration::from_secs(1)
        );
        // 0 would close a message being committed; more than 10 minutes holds up a stop.
        for (written, shown) in [("\"0s\"", "0s"), ("\"11m\"", "11m")] {
            assert_one(
                &with(written),
                "2:20",
                &format!("shutdown_timeout {shown} is out of range; use 1s to 10m"),
            );
        }
    }

    #[test]
    fn every_key_of_the_table_takes_its_range() {
        let text = HEAD.replacen("[server]\n", "[server]\n@KEY@\n", 1);
        check_table(&text, "", KEYS);
    }
}
