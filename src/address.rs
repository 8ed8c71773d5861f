//! Mail addresses and domains, parsed once at the edge (SMTP paths, config, header From).
//!
//! Only the plain `local@domain` form that real suppliers use is accepted: no source routes
//! (`@a:b@c`), no `%` hacks, no quoted local parts, no IP literals, no bare local parts.
//! Anything else is refused, so an address never smuggles a second destination or a path
//! (SMTP-HARDENING 5, 31; CVE-2020-7247). Domains are compared in lower case; the local part
//! keeps its case but is compared case-insensitively for our own generated addresses.

use std::fmt;

/// RFC 5321 4.5.3.1.1: the maximum length of a local part.
pub const MAX_LOCAL_PART: usize = 64;
/// RFC 5321 4.5.3.1.2: the maximum length of a domain.
pub const MAX_DOMAIN: usize = 255;

/// Why a string is not an address we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `@`, or more than one.
    #[error("\"{0}\" is not of the form local@domain")]
    NotLocalAtDomain(String),
    /// Local part empty, too long or with characters outside the plain set.
    #[error(
        "the local part of \"{0}\" is empty, longer than 64 characters or has characters other than letters, digits and !#$&'*+-/=?^_`{{|}}~."
    )]
    BadLocalPart(String),
    /// Domain malformed.
    #[error("\"{0}\" is not a valid domain name")]
    BadDomain(String),
}

/// A validated `local@domain` address. `domain` is stored in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    local: String,
    domain: Domain,
}

impl Address {
    /// Parses `local@domain` (no angle brackets, no display name).
    ///
    /// # Errors
    /// [`AddressError`] saying which part is wrong.
    pub fn parse(s: &str) -> Result<Address, AddressError> {
        let (local, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| AddressError::NotLocalAtDomain(s.to_string()))?;
        if local.contains('@') {
            return Err(AddressError::NotLocalAtDomain(s.to_string()));
        }
        if !is_plain_local_part(local) {
            return Err(AddressError::BadLocalPart(s.to_string()));
        }
        let domain =
            Domain::parse(domain).map_err(|_| AddressError::BadDomain(domain.to_string()))?;
        Ok(Address {
            local: local.to_string(),
            domain,
        })
    }

    /// The local part, as written.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain, in lower case.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// `local@domain` with the local part in lower case: the key under which our own
    /// generated addresses and whitelisted sender addresses are compared.
    pub fn key(&self) -> String {
        format!("{}@{}", self.local.to_ascii_lowercase(), self.domain)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// A DNS domain name in lower case, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// Parses a domain: labels of letters, digits and hyphens (UTF-8 letters allowed for
    /// internationalised names), at least two labels, each 1..=63 long, total at most 255.
    ///
    /// # Errors
    /// [`AddressError::BadDomain`].
    pub fn parse(s: &str) -> Result<Domain, AddressError> {
        let bad = || AddressError::BadDomain(s.to_string());
        let d = s.strip_suffix('.').unwrap_or(s);
        if d.is_empty() || d.len() > MAX_DOMAIN || !d.contains('.') {
            return Err(bad());
        }
        for label in d.split('.') {
            if label.is_empty()
                || label.len() > 63
                || label.starts_with('-')
                || label.ends_with('-')
                || !label.chars().all(|c| c.is_alphanumeric() || c == '-')
            {
                return Err(bad());
            }
        }
        Ok(Domain(d.to_lowercase()))
    }

    /// The domain as a lower-case string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 5322 dot-atom of atext characters (plus UTF-8 for SMTPUTF8), at most 64 octets.
fn is_plain_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$&'*+-/=?^_`{|}~";
    !local.is_empty()
        && local.len() <= MAX_LOCAL_PART
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            c.is_alphanumeric()
                || c == '.'
                || SPECIALS.contains(c)
                || (!c.is_ascii() && !c.is_control())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_addresses_and_lowercases_domain() {
        let a = Address::parse("AD64SDE@Trust.Example.TEST").unwrap();
        assert_eq!(a.local(), "AD64SDE");
        assert_eq!(a.domain().as_str(), "trust.example.test");
        assert_eq!(a.key(), "ad64sde@trust.example.test");
    }

    #[test]
    fn refuses_routing_tricks() {
        for s in [
            "u%ext@gw.test",
            "@a.test:b@c.test",
            "\"x@ext\"@gw.test",
            "a@b@c.test",
            "nodomain",
            "a@localhost",
            "a@[127.0.0.1]",
            "a;rm -rf /@x.test",
            "../../etc@x.test",
            "a@-x.test",
            "",
        ] {
            assert!(Address::parse(s).is_err(), "{s} should be refused");
        }
    }

    #[test]
    fn enforces_rfc5321_lengths() {
        let long_local = format!("{}@x.test", "a".repeat(65));
        assert!(Address::parse(&long_local).is_err());
        let ok_local = format!("{}@x.test", "a".repeat(64));
        assert!(Address::parse(&ok_local).is_ok());
        let long_domain = format!("a@{}.test", "b.".repeat(130));
        assert!(Address::parse(&long_domain).is_err());
    }
}
