//! The authentication policy: what must be proven about a trusted sender before its mail is
//! believed (issue 10). Pure: stage 2 of end of data (`gateway::authenticate`) asks DNS and
//! fills an [`AuthResults`]; [`prove`] reads it against the trusted-sender entry the header
//! From matched and says how the sender was proven, or why not ([`AuthFailure`], plain data
//! that the gateway turns into a reply).
//!
//! The rules:
//! - `auth = "dmarc"` (the default) needs SPF or DKIM to pass *aligned* with the From domain,
//!   whatever policy (even `p=none`, or none at all) the domain publishes;
//! - `"spf"` and `"dkim"` need that mechanism, aligned;
//! - a sender with `via = "platform.example"` (its From is then one exact address) may pass on
//!   SPF or DKIM for the platform's domain instead: an ERP's shared mail servers cannot align
//!   with every supplier's domain;
//! - a valid ARC chain whose every sealer is in `trusted_arc_sealers`, and whose first hop saw
//!   the required check pass for the From domain, counts as that pass (mail forwarded by
//!   Microsoft 365 or Google, which breaks SPF and sometimes DKIM);
//! - a DNS failure that might have hidden a pass is temporary, so the sender retries.

use serde::{Deserialize, Serialize};

use crate::address::{Address, Domain};
use crate::config::{AuthPolicy, TrustedSender};

/// The result of one check, in the words of RFC 8601 (Authentication-Results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The check passed.
    Pass,
    /// It failed.
    Fail,
    /// SPF `~all`: not authorised, weakly.
    SoftFail,
    /// SPF `?all`, or a DKIM signature that could not be judged.
    Neutral,
    /// Nothing to check (no record, no signature).
    None,
    /// A DNS failure: the answer may differ on a retry.
    TempError,
    /// A broken record or signature.
    PermError,
}

impl Outcome {
    /// The RFC 8601 word.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::SoftFail => "softfail",
            Outcome::Neutral => "neutral",
            Outcome::None => "none",
            Outcome::TempError => "temperror",
            Outcome::PermError => "permerror",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SPF for one identity (MAIL FROM, or HELO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpfCheck {
    /// The result.
    pub result: Outcome,
    /// The domain checked (lower case; empty when there was none).
    pub domain: String,
}

/// One DKIM signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimCheck {
    /// The result.
    pub result: Outcome,
    /// The signing domain (`d=`), lower case.
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// Why it did not pass, in words (empty on a pass).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// DMARC for the header From's domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmarcCheck {
    /// DMARC's own result: `none` when the domain publishes no record.
    pub result: Outcome,
    /// The From domain.
    pub from_domain: String,
    /// The published policy (`none`, `quarantine`, `reject`), if a record was found. It is
    /// recorded, never obeyed: trustgate refuses what does not pass, whatever it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// SPF passed for a MAIL FROM domain aligned with the From domain (by the domain's
    /// record, else relaxed: the same domain or one below the other).
    pub spf_aligned: bool,
    /// A DKIM signature passed for a domain aligned with the From domain.
    pub dkim_aligned: bool,
}

/// What the first ARC hop (instance 1) recorded in its ARC-Authentication-Results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArcFirstHop {
    /// Its `dmarc=` result and `header.from`, if it recorded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmarc: Option<(Outcome, String)>,
    /// Its `spf=` result and `smtp.mailfrom` domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spf: Option<(Outcome, String)>,
    /// Its `dkim=` results and `header.d` domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dkim: Vec<(Outcome, String)>,
}

/// The ARC chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArcCheck {
    /// The chain's validation: `none` without ARC headers.
    pub result: Outcome,
    /// The `d=` of each ARC-Seal, instance 1 first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sealers: Vec<String>,
    /// What the first hop saw.
    #[serde(default)]
    pub first_hop: ArcFirstHop,
}

/// Everything stage 2 found out about a message's sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResults {
    /// SPF for the envelope sender.
    pub spf_mail_from: SpfCheck,
    /// SPF for the HELO name (recorded; alignment uses MAIL FROM).
    pub spf_helo: SpfCheck,
    /// Each DKIM signature, in header order (at most the first few; see the gateway).
    pub dkim: Vec<DkimCheck>,
    /// DMARC for the From domain.
    pub dmarc: DmarcCheck,
    /// ARC.
    pub arc: ArcCheck,
}

/// What the spool keeps of a message's authentication (`spool show`, sink metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRecord {
    /// How the sender was proven for the receivers that accepted it (one entry per distinct
    /// proof); empty for a message refused before it was proven.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proven_by: Vec<Proof>,
    /// What the checks found.
    #[serde(flatten)]
    pub results: AuthResults,
}

/// What stage 2 proved about a message's sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// No addressed receiver asks for a check (every trusted sender has `auth = "none"`), so
    /// none ran.
    NotRequired,
    /// The checks ran.
    Checked(Box<AuthResults>),
    /// A stored message judged again by `trustgate spool recover`: it was authenticated when
    /// it arrived, and DNS today would not say what it said then.
    Recovered,
}

/// How a sender was proven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proof {
    /// `auth = "none"`: not checked.
    NotRequired,
    /// DMARC: SPF or DKIM aligned with the From domain.
    Dmarc,
    /// SPF aligned with the From domain.
    Spf,
    /// DKIM aligned with the From domain.
    Dkim,
    /// SPF or DKIM for the platform the sender uses (`via`).
    Via(String),
    /// A trusted ARC chain whose first hop saw the From domain pass; the last sealer.
    Arc(String),
    /// Judged again after the database was lost (authenticated on arrival).
    Recovered,
}

impl std::fmt::Display for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proof::NotRequired => f.write_str("not checked (auth = none)"),
            Proof::Dmarc => f.write_str("dmarc"),
            Proof::Spf => f.write_str("spf"),
            Proof::Dkim => f.write_str("dkim"),
            Proof::Via(d) => write!(f, "via {d}"),
            Proof::Arc(d) => write!(f, "arc sealed by {d}"),
            Proof::Recovered => f.write_str("recovered"),
        }
    }
}

/// Why a sender is not proven: which check the receiver required, and the facts in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// DMARC did not pass (550 5.7.26).
    Dmarc(String),
    /// SPF did not pass, aligned (550 5.7.23).
    Spf(String),
    /// No valid aligned DKIM signature (550 5.7.20).
    Dkim(String),
    /// A DNS lookup failed in a way that may have hidden a pass (451: retry).
    Temporary(String),
}

/// Whether `authenticated` is aligned with `target` in DMARC's relaxed mode, without a public
/// suffix list: the same domain, or one a subdomain of the other. Used where no DMARC record
/// says more (with a record, its own alignment mode and organisational domain decide).
pub fn relaxed_aligned(authenticated: &str, target: &str) -> bool {
    let a = authenticated.trim_end_matches('.').to_ascii_lowercase();
    let t = target.trim_end_matches('.').to_ascii_lowercase();
    if a.is_empty() || t.is_empty() {
        return false;
    }
    a == t || a.ends_with(&format!(".{t}")) || t.ends_with(&format!(".{a}"))
}

/// How `from` (the header From, which matched `sender`) is proven by `authentication`, or why
/// it is not. `arc_sealers` are the trusted ARC sealers (`[server] trusted_arc_sealers`).
///
/// # Errors
/// The check the sender's policy required did not pass.
pub fn prove(
    sender: &TrustedSender,
    from: &Address,
    authentication: &Authentication,
    arc_sealers: &[Domain],
) -> Result<Proof, AuthFailure> {
    let results = match (sender.auth, authentication) {
        (AuthPolicy::None, _) => return Ok(Proof::NotRequired),
        (_, Authentication::Recovered) => return Ok(Proof::Recovered),
        (_, Authentication::Checked(results)) => results,
        // A check was required and none ran: our own mistake, so never a pass and never a
        // permanent refusal.
        (_, Authentication::NotRequired) => {
            return Err(AuthFailure::Temporary(
                "the sender's authentication did not run".into(),
            ));
        }
    };
    let from_domain = from.domain().as_str();
    let r = results.as_ref();
    let spf_pass_for = |domain: &str| {
        r.spf_mail_from.result == Outcome::Pass && relaxed_aligned(&r.spf_mail_from.domain, domain)
    };
    let dkim_pass_for = |domain: &str| {
        r.dkim
            .iter()
            .any(|d| d.result == Outcome::Pass && relaxed_aligned(&d.domain, domain))
    };

    // The required check, aligned with the From domain.
    let direct = match sender.auth {
        AuthPolicy::Dmarc if r.dmarc.spf_aligned || r.dmarc.dkim_aligned => Some(Proof::Dmarc),
        AuthPolicy::Spf if r.dmarc.spf_aligned => Some(Proof::Spf),
        AuthPolicy::Dkim if r.dmarc.dkim_aligned => Some(Proof::Dkim),
        _ => None,
    };
    if let Some(proof) = direct {
        return Ok(proof);
    }

    // The platform that sends for this supplier (its From is one exact address: checked by
    // the config).
    if let Some(via) = &sender.via {
        let via = via.as_str();
        let passed = match sender.auth {
            AuthPolicy::Spf => spf_pass_for(via),
            AuthPolicy::Dkim => dkim_pass_for(via),
            _ => spf_pass_for(via) || dkim_pass_for(via),
        };
        if passed {
            return Ok(Proof::Via(via.to_string()));
        }
    }

    // A forwarder we trust, that saw the check pass before it forwarded.
    if let Some(sealer) = trusted_arc(&r.arc, sender.auth, from_domain, arc_sealers) {
        return Ok(Proof::Arc(sealer));
    }

    // No pass. A DNS failure on the way may have hidden one: let the sender retry.
    let temporary = r.spf_mail_from.result == Outcome::TempError
        || r.dkim.iter().any(|d| d.result == Outcome::TempError)
        || r.dmarc.result == Outcome::TempError;
    let facts = facts(r, from_domain);
    if temporary {
        return Err(AuthFailure::Temporary(format!(
            "a DNS lookup failed ({facts})"
        )));
    }
    let via = sender
        .via
        .as_ref()
        .map(|v| format!(", nor for the platform {v}"))
        .unwrap_or_default();
    Err(match sender.auth {
        AuthPolicy::Spf => AuthFailure::Spf(format!(
            "SPF does not pass for a MAIL FROM domain aligned with {from_domain}{via} ({facts})"
        )),
        AuthPolicy::Dkim => AuthFailure::Dkim(format!(
            "no valid DKIM signature aligned with {from_domain}{via} ({facts})"
        )),
        _ => AuthFailure::Dmarc(format!(
            "DMARC does not pass for {from_domain}: neither SPF nor DKIM passes aligned with it{via} ({facts})"
        )),
    })
}

/// The sealer of a trusted ARC chain that vouches for `policy` on `from_domain`, if any. Every
/// sealer must be trusted: ARC verifies only the last hop's message signature, so an
/// untrusted later hop could have changed the invoice and sealed it anew.
fn trusted_arc(
    arc: &ArcCheck,
    policy: AuthPolicy,
    from_domain: &str,
    arc_sealers: &[Domain],
) -> Option<String> {
    if arc.result != Outcome::Pass || arc.sealers.is_empty() {
        return None;
    }
    let trusted = |d: &str| arc_sealers.iter().any(|t| relaxed_sealer(d, t.as_str()));
    if !arc.sealers.iter().all(|s| trusted(s)) {
        return None;
    }
    let hop = &arc.first_hop;
    let dmarc =
        matches!(&hop.dmarc, Some((Outcome::Pass, d)) if d.eq_ignore_ascii_case(from_domain));
    let spf = matches!(&hop.spf, Some((Outcome::Pass, d)) if relaxed_aligned(d, from_domain));
    let dkim = hop
        .dkim
        .iter()
        .any(|(o, d)| *o == Outcome::Pass && relaxed_aligned(d, from_domain));
    let vouched = match policy {
        AuthPolicy::Spf => spf,
        AuthPolicy::Dkim => dkim,
        _ => dmarc,
    };
    vouched.then(|| arc.sealers.last().cloned().unwrap_or_default())
}

/// A sealer's `d=` is a trusted sealer's domain or below it (`eu.microsoft.com`), never
/// above it.
fn relaxed_sealer(sealer: &str, trusted: &str) -> bool {
    let s = sealer.trim_end_matches('.').to_ascii_lowercase();
    s == trusted || s.ends_with(&format!(".{trusted}"))
}

/// The results in a few words for a refusal: `SPF fail for bounce.example; DKIM none`.
fn facts(r: &AuthResults, from_domain: &str) -> String {
    let spf = if r.spf_mail_from.domain.is_empty() {
        format!("SPF {}", r.spf_mail_from.result)
    } else {
        format!(
            "SPF {} for {}",
            r.spf_mail_from.result, r.spf_mail_from.domain
        )
    };
    let dkim = if r.dkim.is_empty() {
        "no DKIM signature".to_string()
    } else {
        let each: Vec<String> = r
            .dkim
            .iter()
            .take(3)
            .map(|d| {
                if d.reason.is_empty() {
                    format!("DKIM {} for {}", d.result, d.domain)
                } else {
                    format!("DKIM {} for {}: {}", d.result, d.domain, d.reason)
                }
            })
            .collect();
        each.join(", ")
    };
    let dmarc = match &r.dmarc.policy {
        Some(_) => format!("DMARC {} for {from_domain}", r.dmarc.result),
        None => format!("no DMARC record for {from_domain}"),
    };
    format!("{spf}; {dkim}; {dmarc}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrustKind;

    fn sender(auth: AuthPolicy, via: Option<&str>) -> TrustedSender {
        TrustedSender {
            name: "Supplier".into(),
            contact: Address::parse("billing@supplier.test").unwrap(),
            kind: TrustKind::Domain(Domain::parse("supplier.test").unwrap()),
            require_tls: false,
            auth,
            own_auth: true,
            via: via.map(|v| Domain::parse(v).unwrap()),
            language: crate::config::Language::Nl,
        }
    }

    fn from() -> Address {
        Address::parse("billing@supplier.test").unwrap()
    }

    fn results() -> AuthResults {
        AuthResults {
            spf_mail_from: SpfCheck {
                result: Outcome::None,
                domain: "supplier.test".into(),
            },
            spf_helo: SpfCheck {
                result: Outcome::None,
                domain: "mail.supplier.test".into(),
            },
            dkim: Vec::new(),
            dmarc: DmarcCheck {
                result: Outcome::None,
                from_domain: "supplier.test".into(),
                policy: None,
                spf_aligned: false,
                dkim_aligned: false,
            },
            arc: ArcCheck {
                result: Outcome::None,
                sealers: Vec::new(),
                first_hop: ArcFirstHop::default(),
            },
        }
    }

    fn checked(r: AuthResults) -> Authentication {
        Authentication::Checked(Box::new(r))
    }

    fn sealers() -> Vec<Domain> {
        vec![Domain::parse("sealer.test").unwrap()]
    }

    #[test]
    fn alignment_is_relaxed_both_ways_and_never_across_siblings() {
        assert!(relaxed_aligned("supplier.test", "SUPPLIER.test."));
        assert!(relaxed_aligned("mail.supplier.test", "supplier.test"));
        assert!(relaxed_aligned("supplier.test", "billing.supplier.test"));
        assert!(!relaxed_aligned("evilsupplier.test", "supplier.test"));
        assert!(!relaxed_aligned("supplier.test.evil", "supplier.test"));
        assert!(!relaxed_aligned("", "supplier.test"));
    }

    #[test]
    fn dmarc_passes_on_either_aligned_mechanism_and_fails_with_the_facts() {
        let mut r = results();
        r.dmarc.dkim_aligned = true;
        let s = sender(AuthPolicy::Dmarc, None);
        assert_eq!(
            prove(&s, &from(), &checked(r.clone()), &[]),
            Ok(Proof::Dmarc)
        );
        r.dmarc.dkim_aligned = false;
        r.dmarc.spf_aligned = true;
        assert_eq!(
            prove(&s, &from(), &checked(r.clone()), &[]),
            Ok(Proof::Dmarc)
        );
        r.dmarc.spf_aligned = false;
        r.spf_mail_from.result = Outcome::Fail;
        let Err(AuthFailure::Dmarc(text)) = prove(&s, &from(), &checked(r), &[]) else {
            panic!("not a DMARC failure");
        };
        assert!(text.contains("SPF fail for supplier.test"), "{text}");
        assert!(text.contains("no DKIM signature"), "{text}");
        assert!(text.contains("no DMARC record"), "{text}");
    }

    #[test]
    fn spf_and_dkim_policies_need_their_own_mechanism() {
        let mut r = results();
        r.dmarc.dkim_aligned = true;
        assert!(matches!(
            prove(
                &sender(AuthPolicy::Spf, None),
                &from(),
                &checked(r.clone()),
                &[]
            ),
            Err(AuthFailure::Spf(_))
        ));
        assert_eq!(
            prove(
                &sender(AuthPolicy::Dkim, None),
                &from(),
                &checked(r.clone()),
                &[]
            ),
            Ok(Proof::Dkim)
        );
        r.dmarc.dkim_aligned = false;
        r.dmarc.spf_aligned = true;
        assert!(matches!(
            prove(
                &sender(AuthPolicy::Dkim, None),
                &from(),
                &checked(r.clone()),
                &[]
            ),
            Err(AuthFailure::Dkim(_))
        ));
        assert_eq!(
            prove(&sender(AuthPolicy::Spf, None), &from(), &checked(r), &[]),
            Ok(Proof::Spf)
        );
    }

    #[test]
    fn none_passes_without_checks_and_a_missing_check_is_temporary() {
        assert_eq!(
            prove(
                &sender(AuthPolicy::None, None),
                &from(),
                &Authentication::NotRequired,
                &[]
            ),
            Ok(Proof::NotRequired)
        );
        assert!(matches!(
            prove(
                &sender(AuthPolicy::Dmarc, None),
                &from(),
                &Authentication::NotRequired,
                &[]
            ),
            Err(AuthFailure::Temporary(_))
        ));
    }

    #[test]
    fn a_dns_failure_without_a_pass_is_temporary() {
        let mut r = results();
        r.dkim.push(DkimCheck {
            result: Outcome::TempError,
            domain: "supplier.test".into(),
            selector: "s1".into(),
            reason: "timeout".into(),
        });
        assert!(matches!(
            prove(&sender(AuthPolicy::Dmarc, None), &from(), &checked(r), &[]),
            Err(AuthFailure::Temporary(_))
        ));
    }

    #[test]
    fn via_accepts_the_platforms_own_pass() {
        let mut r = results();
        r.spf_mail_from = SpfCheck {
            result: Outcome::Pass,
            domain: "bounce.platform.test".into(),
        };
        assert_eq!(
            prove(
                &sender(AuthPolicy::Dmarc, Some("platform.test")),
                &from(),
                &checked(r.clone()),
                &[]
            ),
            Ok(Proof::Via("platform.test".into()))
        );
        // Without via the same mail proves nothing about the supplier.
        assert!(matches!(
            prove(
                &sender(AuthPolicy::Dmarc, None),
                &from(),
                &checked(r.clone()),
                &[]
            ),
            Err(AuthFailure::Dmarc(_))
        ));
        // A policy of DKIM needs the platform's DKIM, not its SPF.
        assert!(matches!(
            prove(
                &sender(AuthPolicy::Dkim, Some("platform.test")),
                &from(),
                &checked(r),
                &[]
            ),
            Err(AuthFailure::Dkim(_))
        ));
    }

    #[test]
    fn arc_counts_only_for_a_valid_chain_of_trusted_sealers_that_saw_a_pass() {
        let mut r = results();
        r.arc = ArcCheck {
            result: Outcome::Pass,
            sealers: vec!["sealer.test".into()],
            first_hop: ArcFirstHop {
                dmarc: Some((Outcome::Pass, "supplier.test".into())),
                ..ArcFirstHop::default()
            },
        };
        let s = sender(AuthPolicy::Dmarc, None);
        assert_eq!(
            prove(&s, &from(), &checked(r.clone()), &sealers()),
            Ok(Proof::Arc("sealer.test".into()))
        );
        // Not trusted by this gateway.
        assert!(prove(&s, &from(), &checked(r.clone()), &[]).is_err());
        // An untrusted later hop.
        let mut later = r.clone();
        later.arc.sealers.push("relay.evil".into());
        assert!(prove(&s, &from(), &checked(later), &sealers()).is_err());
        // A broken chain.
        let mut broken = r.clone();
        broken.arc.result = Outcome::Fail;
        assert!(prove(&s, &from(), &checked(broken), &sealers()).is_err());
        // The first hop saw another From domain pass.
        let mut other = r;
        other.arc.first_hop.dmarc = Some((Outcome::Pass, "other.test".into()));
        assert!(prove(&s, &from(), &checked(other), &sealers()).is_err());
    }
}
