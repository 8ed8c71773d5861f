//! Rate limits per client address and per client network (SMTP-HARDENING 19): how many
//! connections, or messages, one IP address and one network (its /24 for IPv4, its /64 for
//! IPv6, what one customer of a provider usually holds) may start per minute. Over the limit
//! the client is told 451 4.7.1 and tries again later; the allowance refills continuously, so
//! it recovers within the minute.
//!
//! Built on governor's keyed GCRA limiters: constant memory per key, no timer tasks. Keys of
//! clients that went quiet are dropped by [`RateLimit::forget_idle`], which the owner calls
//! now and then, so a scan from many addresses does not grow memory for ever.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A per-minute allowance per IP address and per network.
pub struct RateLimit {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_network: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("per_ip", &self.per_ip.is_some())
            .field("per_network", &self.per_network.is_some())
            .finish()
    }
}

/// Which allowance a refused event exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The client's own address.
    Ip,
    /// Its /24 or /64.
    Network,
}

impl RateLimit {
    /// `per_ip` and `per_network` events per minute (0: no limit), each allowed in a burst
    /// up to the whole minute's allowance.
    pub fn per_minute(per_ip: u32, per_network: u32) -> RateLimit {
        let limiter = |n: u32| NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        RateLimit {
            per_ip: limiter(per_ip),
            per_network: limiter(per_network),
        }
    }

    /// Counts one event from `ip`; `Err` names the allowance it would exceed. An event the
    /// network refuses still counts against the address's own allowance.
    pub fn check(&self, ip: IpAddr) -> Result<(), Exceeded> {
        let ip = canonical(ip);
        if let Some(l) = &self.per_ip
            && l.check_key(&ip).is_err()
        {
            return Err(Exceeded::Ip);
        }
        if let Some(l) = &self.per_network
            && l.check_key(&network(ip)).is_err()
        {
            return Err(Exceeded::Network);
        }
        Ok(())
    }

    /// Drops the state of clients whose allowance is full again (quiet for a minute).
    pub fn forget_idle(&self) {
        for l in [&self.per_ip, &self.per_network].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`, as a dual-stack listener reports it)
/// counts as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The network an address counts against: its /24 (IPv4) or /64 (IPv6).
pub fn network(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & 0xffff_ff00).into()),
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_the_slash_24_and_the_slash_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(network(ip("192.0.2.77")), ip("192.0.2.0"));
        assert_eq!(network(ip("::ffff:192.0.2.77")), ip("192.0.2.0"));
        assert_eq!(network(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn the_allowance_is_per_address_and_per_network() {
        let limit = RateLimit::per_minute(2, 3);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(limit.check(ip("192.0.2.1")), Ok(()));
        assert_eq!(limit.check(ip("192.0.2.1")), Ok(()));
        assert_eq!(limit.check(ip("192.0.2.1")), Err(Exceeded::Ip));
        // Another address of the same /24 has its own allowance, but shares the network's.
        assert_eq!(limit.check(ip("192.0.2.2")), Ok(()));
        assert_eq!(limit.check(ip("192.0.2.3")), Err(Exceeded::Network));
        // Another network is not affected.
        assert_eq!(limit.check(ip("198.51.100.1")), Ok(()));
        // Off.
        let off = RateLimit::per_minute(0, 0);
        for _ in 0..1000 {
            assert_eq!(off.check(ip("192.0.2.1")), Ok(()));
        }
    }
}
