//! Stage 2 of end of data: authenticate the sender (SPF for MAIL FROM and HELO, every DKIM
//! signature, DMARC for the header From's domain, ARC) with mail-auth over a hickory resolver,
//! and write what was found as an `Authentication-Results` field (RFC 8601).
//!
//! The facts go into [`AuthResults`], plain data that the verdict judges with
//! [`crate::policy::auth::prove`] and the spool keeps. Nothing here decides: a DNS failure is
//! recorded as `temperror`, and the policy says whether it matters.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator,
    SpfResult, dmarc::Policy, dmarc::verify::DmarcParameters, spf::verify::SpfParameters,
};

use crate::policy::auth::{
    ArcCheck, ArcFirstHop, AuthResults, DkimCheck, DmarcCheck, Outcome, SpfCheck, relaxed_aligned,
};

/// DKIM signatures verified per message, in header order; the rest are ignored. Each costs a
/// DNS lookup and a public-key operation, and a supplier's mail carries one or two (its own
/// and its mail service's): without a bound, a message of 1000 signatures costs 1000 lookups.
pub const MAX_DKIM_SIGNATURES: usize = 10;

/// How many times the `[dns] timeout` all of stage 2 may take: SPF alone may need ten
/// lookups and each may be tried twice, but most are cached, lookups that fail stop the check,
/// and the session must not wait on DNS for ever.
const STAGE_TIMEOUTS: u32 = 6;

/// The resolver and what stage 2 needs besides the message.
pub struct Authenticator {
    inner: MessageAuthenticator,
    /// Our hostname: the authserv-id of the Authentication-Results we write, and the host
    /// domain of SPF's macros.
    hostname: String,
    /// The bound on the whole stage.
    deadline: Duration,
}

/// What stage 2 returns: the facts, and the `Authentication-Results` field that records them.
pub struct Authenticated {
    /// The facts, for the verdict and the spool.
    pub results: AuthResults,
    /// The whole field, `Authentication-Results: host; ...\r\n`, to prepend to the message.
    pub header: String,
}

impl Authenticator {
    /// A resolver from `[dns]`: its name servers (else the system's), its timeout and cache.
    ///
    /// # Errors
    /// The system's resolver configuration cannot be read (no `nameservers` given).
    pub fn new(dns: &crate::config::Dns, hostname: &str) -> Result<Authenticator, String> {
        let mut opts = ResolverOpts::default();
        opts.timeout = dns.timeout;
        // hickory counts retries: one retry after the first try. A lost UDP packet is
        // common, a second loss is an outage.
        opts.attempts = 1;
        // Mail names are never in /etc/hosts.
        opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        opts.cache_size = u64::try_from(dns.cache_size).unwrap_or(u64::MAX);
        let config = if dns.nameservers.is_empty() {
            let (config, system) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?;
            opts.ndots = system.ndots;
            config
        } else {
            let servers = dns
                .nameservers
                .iter()
                .map(|addr| {
                    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                    for connection in &mut server.connections {
                        connection.port = addr.port();
                    }
                    server
                })
                .collect();
            ResolverConfig::from_name_servers(servers)
        };
        // Names in mail are absolute: never try them under a local search domain.
        opts.ndots = 0;
        let inner = MessageAuthenticator::new(config, opts)
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))?;
        Ok(Authenticator {
            inner,
            hostname: hostname.to_string(),
            deadline: dns.timeout * STAGE_TIMEOUTS,
        })
    }

    /// Authenticates `raw` (the message as received) from `peer`, which said `helo` and
    /// `MAIL FROM:<mail_from>`. Never fails: what could not be checked is `temperror`.
    pub async fn check(
        &self,
        raw: &[u8],
        peer: IpAddr,
        helo: &str,
        mail_from: &str,
    ) -> Authenticated {
        match tokio::time::timeout(self.deadline, self.check_all(raw, peer, helo, mail_from)).await
        {
            Ok(done) => done,
            Err(_) => self.timed_out(raw, helo, mail_from),
        }
    }

    async fn check_all(
        &self,
        raw: &[u8],
        peer: IpAddr,
        helo: &str,
        mail_from: &str,
    ) -> Authenticated {
        let host = self.hostname.as_str();
        let spf_helo = self
            .inner
            .verify_spf(SpfParameters::verify_ehlo(peer, helo, host))
            .await;
        let spf_mail_from = self
            .inner
            .verify_spf(SpfParameters::verify_mail_from(peer, helo, host, mail_from))
            .await;
        // mail-auth reads the header block with mail-parser's primitives, which have debug
        // assertions; as in intake, a panic there is an unreadable message, never a lost
        // session.
        let parsed = std::panic::catch_unwind(|| AuthenticatedMessage::parse(raw))
            .ok()
            .flatten();
        let Some(mut message) = parsed else {
            // Not even a header block: nothing for DKIM, DMARC or ARC to read. The verdict
            // refuses such a message on its From anyway.
            let results = AuthResults {
                spf_mail_from: spf_check(&spf_mail_from),
                spf_helo: spf_check(&spf_helo),
                dkim: Vec::new(),
                dmarc: no_dmarc(""),
                arc: no_arc(),
            };
            let header = AuthenticationResults::new(host)
                .with_spf_ehlo_result(&spf_helo, peer, helo)
                .with_spf_mailfrom_result(&spf_mail_from, peer, mail_from, helo);
            return Authenticated {
                results,
                header: one_field(&format!("Authentication-Results: {header}")),
            };
        };
        message.dkim_headers.truncate(MAX_DKIM_SIGNATURES);
        let dkim = self.inner.verify_dkim(&message).await;
        let arc = self.inner.verify_arc(&message).await;
        let mail_from_domain = mail_from
            .rsplit_once('@')
            .map_or(helo, |(_, d)| d)
            .to_ascii_lowercase();
        let dmarc = self
            .inner
            .verify_dmarc(DmarcParameters::new(
                &message,
                &dkim,
                &mail_from_domain,
                &spf_mail_from,
            ))
            .await;
        let from_domain = message
            .from
            .first()
            .and_then(|f| f.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();

        let dkim_checks: Vec<DkimCheck> = dkim
            .iter()
            .map(|output| {
                let (domain, selector) = output
                    .signature()
                    .map(|s| (s.d.to_ascii_lowercase(), s.s.clone()))
                    .unwrap_or_default();
                let (result, reason) = dkim_outcome(output.result());
                DkimCheck {
                    result,
                    domain,
                    selector,
                    reason,
                }
            })
            .collect();
        let spf_check_mail_from = spf_check(&spf_mail_from);
        let record = dmarc.dmarc_record().is_some();
        // With a record, mail-auth aligned as it says (strict or relaxed, by its
        // organisational domain). Without one, DMARC's defaults: relaxed.
        let (spf_aligned, dkim_aligned) = if record {
            (
                *dmarc.spf_result() == DmarcResult::Pass,
                *dmarc.dkim_result() == DmarcResult::Pass,
            )
        } else {
            (
                spf_check_mail_from.result == Outcome::Pass
                    && relaxed_aligned(&spf_check_mail_from.domain, &from_domain),
                dkim_checks
                    .iter()
                    .any(|d| d.result == Outcome::Pass && relaxed_aligned(&d.domain, &from_domain)),
            )
        };
        let dmarc_check = DmarcCheck {
            result: dmarc_outcome(&dmarc.result()),
            from_domain: from_domain.clone(),
            policy: record.then(|| {
                match dmarc.policy() {
                    Policy::Reject => "reject",
                    Policy::Quarantine => "quarantine",
                    Policy::None | Policy::Unspecified => "none",
                }
                .to_string()
            }),
            spf_aligned,
            dkim_aligned,
        };
        let sets = arc.sets();
        let arc_check = ArcCheck {
            result: dkim_outcome(arc.result()).0,
            sealers: sets
                .iter()
                .map(|set| set.seal.header.d.to_ascii_lowercase())
                .collect(),
            first_hop: message
                .aar_headers
                .iter()
                .find(|h| h.header.i == 1)
                .map(|h| first_hop(h.value))
                .unwrap_or_default(),
        };
        let from_header = message.from.first().map_or("", String::as_str);
        let header = AuthenticationResults::new(host)
            .with_spf_ehlo_result(&spf_helo, peer, helo)
            .with_spf_mailfrom_result(&spf_mail_from, peer, mail_from, helo)
            .with_dkim_results(&dkim, from_header)
            .with_arc_result(&arc, peer)
            .with_dmarc_result(&dmarc);
        Authenticated {
            results: AuthResults {
                spf_mail_from: spf_check_mail_from,
                spf_helo: spf_check(&spf_helo),
                dkim: dkim_checks,
                dmarc: dmarc_check,
                arc: arc_check,
            },
            header: one_field(&format!("Authentication-Results: {header}")),
        }
    }

    /// The record of a stage that ran out of time: every check `temperror`, so the policy
    /// answers 451 and the sender retries.
    fn timed_out(&self, raw: &[u8], helo: &str, mail_from: &str) -> Authenticated {
        let mail_from_domain = mail_from
            .rsplit_once('@')
            .map_or(helo, |(_, d)| d)
            .to_ascii_lowercase();
        let from_domain = AuthenticatedMessage::parse(raw)
            .and_then(|m| m.from.first().cloned())
            .and_then(|f| f.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
            .unwrap_or_default();
        let temp = |domain: String| SpfCheck {
            result: Outcome::TempError,
            domain,
        };
        let mut dmarc = no_dmarc(&from_domain);
        dmarc.result = Outcome::TempError;
        Authenticated {
            results: AuthResults {
                spf_mail_from: temp(mail_from_domain),
                spf_helo: temp(helo.to_ascii_lowercase()),
                dkim: Vec::new(),
                dmarc,
                arc: no_arc(),
            },
            header: format!(
                "Authentication-Results: {}; spf=temperror; dkim=temperror; dmarc=temperror (DNS timed out)\r\n",
                self.hostname
            ),
        }
    }
}

/// `field` as exactly one header field ending in CRLF: every line after the first is a
/// continuation (starts with a tab), and no control character but the tab survives. The values
/// in it (domains, selectors, the HELO) come from the client and its DNS; mail-auth quotes
/// them, and this makes sure no value can ever start a field of its own.
fn one_field(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 2);
    for (i, line) in field.split("\r\n").enumerate() {
        let clean: String = line
            .chars()
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect();
        if i > 0 {
            out.push_str("\r\n");
            if !clean.starts_with([' ', '\t']) {
                out.push('\t');
            }
        }
        out.push_str(&clean);
    }
    out.push_str("\r\n");
    out
}

fn spf_check(output: &mail_auth::SpfOutput) -> SpfCheck {
    SpfCheck {
        result: match output.result() {
            SpfResult::Pass => Outcome::Pass,
            SpfResult::Fail => Outcome::Fail,
            SpfResult::SoftFail => Outcome::SoftFail,
            SpfResult::Neutral => Outcome::Neutral,
            SpfResult::TempError => Outcome::TempError,
            SpfResult::PermError => Outcome::PermError,
            SpfResult::None => Outcome::None,
        },
        domain: output.domain().to_ascii_lowercase(),
    }
}

fn dkim_outcome(result: &DkimResult) -> (Outcome, String) {
    match result {
        DkimResult::Pass => (Outcome::Pass, String::new()),
        DkimResult::Neutral(e) => (Outcome::Neutral, e.to_string()),
        DkimResult::Fail(e) => (Outcome::Fail, e.to_string()),
        DkimResult::PermError(e) => (Outcome::PermError, e.to_string()),
        DkimResult::TempError(e) => (Outcome::TempError, e.to_string()),
        DkimResult::None => (Outcome::None, String::new()),
    }
}

fn dmarc_outcome(result: &DmarcResult) -> Outcome {
    match result {
        DmarcResult::Pass => Outcome::Pass,
        DmarcResult::Fail(_) => Outcome::Fail,
        DmarcResult::TempError(_) => Outcome::TempError,
        DmarcResult::PermError(_) => Outcome::PermError,
        DmarcResult::None => Outcome::None,
    }
}

fn no_dmarc(from_domain: &str) -> DmarcCheck {
    DmarcCheck {
        result: Outcome::None,
        from_domain: from_domain.to_string(),
        policy: None,
        spf_aligned: false,
        dkim_aligned: false,
    }
}

fn no_arc() -> ArcCheck {
    ArcCheck {
        result: Outcome::None,
        sealers: Vec::new(),
        first_hop: ArcFirstHop::default(),
    }
}

/// Results the first ARC hop recorded (its ARC-Authentication-Results value, RFC 8617 4.1.1:
/// `i=1; authserv-id; method=result ptype.property=value ...; ...`).
pub fn first_hop(value: &[u8]) -> ArcFirstHop {
    let mut hop = ArcFirstHop::default();
    let text = String::from_utf8_lossy(value);
    let text = without_comments(&text);
    // `i=1` and the authserv-id come first; a resinfo is a method=result and its properties.
    for resinfo in text.split(';').skip(2).take(MAX_RESINFOS) {
        let mut words = resinfo.split_ascii_whitespace();
        let Some((method, result)) = words.next().and_then(|w| w.split_once('=')) else {
            continue;
        };
        let Some(outcome) = outcome_word(result) else {
            continue;
        };
        let property = |name: &str| {
            resinfo
                .split_ascii_whitespace()
                .filter_map(|w| w.split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| domain_of(v))
        };
        match method.to_ascii_lowercase().as_str() {
            "dmarc" if hop.dmarc.is_none() => {
                if let Some(d) = property("header.from") {
                    hop.dmarc = Some((outcome, d));
                }
            }
            "spf" if hop.spf.is_none() => {
                if let Some(d) = property("smtp.mailfrom") {
                    hop.spf = Some((outcome, d));
                }
            }
            "dkim" if hop.dkim.len() < MAX_DKIM_SIGNATURES => {
                if let Some(d) = property("header.d").or_else(|| property("header.i")) {
                    hop.dkim.push((outcome, d));
                }
            }
            _ => {}
        }
    }
    hop
}

/// Result statements read from one ARC-Authentication-Results.
const MAX_RESINFOS: usize = 64;

/// A property value as a lower-case domain: `"user@Example.com"` → `example.com`.
fn domain_of(value: &str) -> String {
    let v = value.trim_matches('"');
    v.rsplit_once('@')
        .map_or(v, |(_, d)| d)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn outcome_word(word: &str) -> Option<Outcome> {
    Some(match word.to_ascii_lowercase().as_str() {
        "pass" => Outcome::Pass,
        "fail" | "hardfail" => Outcome::Fail,
        "softfail" => Outcome::SoftFail,
        "neutral" => Outcome::Neutral,
        "none" => Outcome::None,
        "temperror" => Outcome::TempError,
        "permerror" => Outcome::PermError,
        _ => return None,
    })
}

/// `text` with RFC 5322 comments (nested parentheses, `\` quoting) removed. An unclosed
/// comment runs to the end.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut escaped = false;
    for c in text.chars() {
        if depth > 0 {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            continue;
        }
        if c == '(' {
            depth = 1;
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_hop_reads_dmarc_spf_and_dkim_and_ignores_comments() {
        let hop = first_hop(
            b"i=1; mx.microsoft.com 1; spf=pass (sender IP is 192.0.2.1)\r\n smtp.mailfrom=Supplier.test; dkim=pass (signature was verified)\r\n header.d=supplier.test; dmarc=pass action=none (p=reject) header.from=supplier.test;compauth=pass reason=100",
        );
        assert_eq!(hop.dmarc, Some((Outcome::Pass, "supplier.test".into())));
        assert_eq!(hop.spf, Some((Outcome::Pass, "supplier.test".into())));
        assert_eq!(hop.dkim, vec![(Outcome::Pass, "supplier.test".into())]);
    }

    #[test]
    fn first_hop_is_not_fooled_by_a_comment_or_a_result_in_the_authserv_id() {
        // The claim sits inside a comment, and the authserv-id slot holds a lookalike.
        let hop = first_hop(b"i=1; dmarc=pass header.from=supplier.test; dkim=fail (dmarc=pass header.from=supplier.test) header.d=x.test");
        assert_eq!(hop.dmarc, None);
        assert_eq!(hop.dkim, vec![(Outcome::Fail, "x.test".into())]);
    }

    #[test]
    fn the_results_field_is_always_one_field() {
        assert_eq!(
            one_field("Authentication-Results: mx;\r\n\tspf=pass"),
            "Authentication-Results: mx;\r\n\tspf=pass\r\n"
        );
        let forged =
            one_field("Authentication-Results: mx; dkim=pass header.d=x\r\nBcc: y@z\n\rX: 1");
        assert!(!forged.contains("\r\nBcc"), "{forged:?}");
        assert_eq!(forged.matches("\r\n").count(), 2, "{forged:?}");
        assert!(forged.ends_with("\r\n"));
    }

    #[test]
    fn first_hop_survives_garbage() {
        for input in [
            &b""[..],
            b";;;;",
            b"i=1; x; dmarc",
            b"i=1; x; =pass header.from=",
            b"(((((",
            b"i=1; x; dmarc=pass header.from=\"@\"",
            b"\xff\xfe; \xff; dmarc=pass header.from=a",
        ] {
            let _ = first_hop(input);
        }
        let hop = first_hop(b"i=1; x; dmarc=pass header.from=\"billing@Supplier.TEST.\"");
        assert_eq!(hop.dmarc, Some((Outcome::Pass, "supplier.test".into())));
    }

    proptest::proptest! {
        /// Any bytes: no panic, and only the known words come out.
        #[test]
        fn first_hop_never_panics(value in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let hop = first_hop(&value);
            proptest::prop_assert!(hop.dkim.len() <= MAX_DKIM_SIGNATURES);
        }
    }
}
