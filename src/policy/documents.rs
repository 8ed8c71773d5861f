//! The receiver's rules for each invoice document: which organisation it is for (routing by the
//! buyer's KvK, VAT id or endpoint id), whether its specification is accepted, whether it needs
//! a PDF, and whether its rule findings refuse it.
//!
//! Pure: asked by the gateway at end of data with the validated config and the inspection; it
//! never touches the spool (duplicates are looked up by the gateway) or the network.

use crate::config::{BuyerCheck, Organisation, Receiver, normalise_identifier};
use crate::invoice::{Inspection, Party, Severity};

/// What the receiver's rules say about one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Accept it for the organisation at this index of [`crate::config::Config::organisations`].
    /// `warnings` are notes for the log and the spool (e.g. a buyer mismatch under `warn`).
    Accept {
        /// The organisation it is routed to.
        organisation: usize,
        /// Notes that did not refuse it.
        warnings: Vec<String>,
    },
    /// Refuse it.
    Refuse {
        /// The rule ids (official ones such as `BR-NL-1`, or ours such as `TG-BUYER`).
        rules: Vec<String>,
        /// One sentence per reason, for the supplier.
        reasons: Vec<String>,
    },
}

/// Our own rule ids for refusals that are not EN 16931 rules.
pub mod rule {
    /// The buyer is none of the organisations served by a shared address.
    pub const NO_ROUTE: &str = "TG-ROUTE";
    /// The buyer clearly names another organisation than the receiver's.
    pub const OTHER_BUYER: &str = "TG-BUYER";
    /// The specification is not accepted at this address.
    pub const SPECIFICATION: &str = "TG-SPEC";
    /// The receiver requires a PDF visual and there is none.
    pub const NO_PDF: &str = "TG-PDF";
    /// The buyer's identifiers name different parties (one organisation's KvK, another's in
    /// `PartyIdentification`): routing on any one of them would be a guess.
    pub const CONFLICTING_BUYER: &str = "TG-BUYER-IDS";
}

/// Judges one document for `receiver`.
pub fn decide(
    receiver: &Receiver,
    organisations: &[Organisation],
    inspection: &Inspection,
    has_pdf: bool,
) -> Decision {
    let mut rules = Vec::new();
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();

    // Conflicting identifiers: refused wherever the buyer decides something (routing on a
    // shared address, the strict buyer check), noted under `warn`.
    let conflict = conflicting_buyer(&inspection.buyer, organisations);
    if let Some(text) = &conflict {
        let shared = receiver.organisations.len() > 1;
        match receiver.buyer_check {
            _ if shared => {
                rules.push(rule::CONFLICTING_BUYER.to_string());
                reasons.push(text.clone());
            }
            BuyerCheck::Strict => {
                rules.push(rule::CONFLICTING_BUYER.to_string());
                reasons.push(text.clone());
            }
            BuyerCheck::Warn => warnings.push(text.clone()),
            BuyerCheck::Off => {}
        }
    }

    // Routing.
    let organisation = if receiver.organisations.len() > 1 {
        let matched = receiver.organisations.iter().copied().find(|&i| {
            organisations
                .get(i)
                .is_some_and(|o| buyer_matches(&inspection.buyer, o) == Match::Yes)
        });
        match matched {
            Some(i) if conflict.is_none() => i,
            // Already refused as conflicting: stay on the receiver's own organisation.
            Some(_) => receiver.organisation,
            None => {
                rules.push(rule::NO_ROUTE.to_string());
                reasons.push(format!(
                    "[{}] the buyer ({}) is none of the organisations served by {}; address the invoice to the buyer's own KvK, VAT or Peppol id",
                    rule::NO_ROUTE,
                    describe(&inspection.buyer),
                    receiver.address
                ));
                receiver.organisation
            }
        }
    } else {
        // Validation guarantees the index; a missing organisation leaves nothing to compare.
        if conflict.is_none()
            && let Some(org) = organisations.get(receiver.organisation)
            && buyer_matches(&inspection.buyer, org) == Match::No
        {
            let text = format!(
                "[{}] the buyer ({}) is not {} ({}); check the buyer's identifiers or the address you send to",
                rule::OTHER_BUYER,
                describe(&inspection.buyer),
                org.name,
                describe_org(org)
            );
            match receiver.buyer_check {
                BuyerCheck::Strict => {
                    rules.push(rule::OTHER_BUYER.to_string());
                    reasons.push(text);
                }
                BuyerCheck::Warn => warnings.push(text),
                BuyerCheck::Off => {}
            }
        }
        receiver.organisation
    };

    // Specification.
    let spec = inspection.specification.id();
    if !receiver.accepts_specification(&spec) {
        rules.push(rule::SPECIFICATION.to_string());
        reasons.push(format!(
            "[{}] {spec} ({}) is not accepted at this address; send one of: {}",
            rule::SPECIFICATION,
            inspection.specification.name(),
            receiver.accept_specifications.join(", ")
        ));
    }

    // Visual.
    if receiver.require_pdf && !has_pdf {
        rules.push(rule::NO_PDF.to_string());
        reasons.push(format!(
            "[{}] no PDF of the invoice: attach it with the same name as the XML",
            rule::NO_PDF
        ));
    }

    // Business rules.
    for finding in &inspection.findings {
        let refuses = match finding.severity {
            Severity::Fatal => true,
            Severity::Warning => receiver.refuse_warnings,
        };
        if refuses {
            rules.push(finding.rule_id.to_string());
            reasons.push(finding.message.clone());
        } else {
            warnings.push(finding.message.clone());
        }
    }

    if rules.is_empty() {
        Decision::Accept {
            organisation,
            warnings,
        }
    } else {
        Decision::Refuse { rules, reasons }
    }
}

/// Whether a buyer is an organisation, judged on identifiers both sides have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// An identifier of the buyer is one of the organisation's.
    Yes,
    /// The buyer has identifiers of a kind the organisation also has, and none match: it
    /// clearly names someone else.
    No,
    /// Nothing to compare (e.g. the buyer gives only a name).
    Unknown,
}

/// The buyer's identifiers that can be compared with the organisation's, each shown as
/// written (`0106:11111111`, `VAT NL123…`) with whether it is the organisation's.
fn comparable_ids(buyer: &Party, org: &Organisation) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    if let Some(vat) = &buyer.vat_id
        && !org.vat_ids.is_empty()
    {
        out.push((
            format!("VAT {vat}"),
            org.vat_ids.contains(&normalise_identifier(vat)),
        ));
    }
    let ids = buyer
        .legal_id
        .iter()
        .chain(buyer.endpoint_id.iter())
        .chain(buyer.identifiers.iter());
    for id in ids {
        let value = normalise_identifier(&id.value);
        let scheme = id.scheme.as_deref().map(|s| s.trim().to_ascii_uppercase());
        let shown = match &id.scheme {
            Some(s) => format!("{}:{}", s.trim(), id.value),
            None => id.value.clone(),
        };
        // KvK: scheme 0106, or no scheme at all (older Dutch examples carry it bare; a bare
        // value is only counted when it matches, since it may be anything).
        if let Some(kvk) = &org.kvk
            && matches!(scheme.as_deref(), Some("0106") | None)
        {
            let yes = &value == kvk;
            if yes || scheme.is_some() {
                out.push((shown.clone(), yes));
                continue;
            }
        }
        if let Some(scheme) = &scheme
            && org.endpoint_ids.iter().any(|e| &e.scheme == scheme)
        {
            let yes = org
                .endpoint_ids
                .iter()
                .any(|e| &e.scheme == scheme && e.id == value);
            out.push((shown, yes));
        }
    }
    out
}

/// Compares the buyer's VAT id, legal id and endpoint id (and other party ids) with the
/// organisation's KvK, VAT ids and endpoint ids.
pub fn buyer_matches(buyer: &Party, org: &Organisation) -> Match {
    let ids = comparable_ids(buyer, org);
    let yes = ids.iter().any(|(_, m)| *m);
    let no = ids.iter().any(|(_, m)| !*m);
    match (yes, no) {
        (true, _) => Match::Yes,
        (false, true) => Match::No,
        (false, false) => Match::Unknown,
    }
}

/// A sentence naming both when the buyer's identifiers are two organisations' at once (one's
/// KvK as legal id, another's in `PartyIdentification`, say): whichever one a reader takes, it
/// may not be the one we route to. `None` when they name at most one of `organisations`.
///
/// A second identifier that is no organisation's here (a branch number, an unrelated
/// endpoint) is not a conflict: official examples carry such ids beside the buyer's KvK.
pub fn conflicting_buyer(buyer: &Party, organisations: &[Organisation]) -> Option<String> {
    let matched: Vec<&Organisation> = organisations
        .iter()
        .filter(|o| buyer_matches(buyer, o) == Match::Yes)
        .collect();
    let [a, b, ..] = matched.as_slice() else {
        return None;
    };
    let ids = |o: &Organisation| {
        let mut shown: Vec<String> = comparable_ids(buyer, o)
            .into_iter()
            .filter(|(_, m)| *m)
            .map(|(s, _)| s)
            .collect();
        shown.dedup();
        shown.join(", ")
    };
    Some(format!(
        "[{}] the buyer's identifiers name two organisations: {} is {} and {} is {}; send the invoice with one buyer",
        rule::CONFLICTING_BUYER,
        ids(a),
        a.name,
        ids(b),
        b.name
    ))
}

fn describe(p: &Party) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &p.name {
        parts.push(n.clone());
    }
    if let Some(v) = &p.vat_id {
        parts.push(format!("VAT {v}"));
    }
    for id in p.legal_id.iter().chain(p.endpoint_id.iter()) {
        parts.push(match &id.scheme {
            Some(s) => format!("{s}:{}", id.value),
            None => id.value.clone(),
        });
    }
    if parts.is_empty() {
        "no name or identifier".to_string()
    } else {
        parts.join(", ")
    }
}

fn describe_org(o: &Organisation) -> String {
    let mut parts = Vec::new();
    if let Some(k) = &o.kvk {
        parts.push(format!("KvK {k}"));
    }
    parts.extend(o.vat_ids.iter().map(|v| format!("VAT {v}")));
    parts.extend(
        o.endpoint_ids
            .iter()
            .map(|e| format!("{}:{}", e.scheme, e.id)),
    );
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::Identifier;

    fn org(id: &str, kvk: &str) -> Organisation {
        Organisation {
            id: id.into(),
            name: format!("{id} B.V."),
            kvk: Some(kvk.into()),
            vat_ids: Vec::new(),
            endpoint_ids: Vec::new(),
            verified_users: Vec::new(),
            deliver: Vec::new(),
        }
    }

    fn kvk(value: &str) -> Identifier {
        Identifier {
            value: value.into(),
            scheme: Some("0106".into()),
        }
    }

    #[test]
    fn two_organisations_kvk_numbers_in_one_buyer_conflict_and_both_are_named() {
        let orgs = [org("acme", "11111111"), org("beta", "87654321")];
        let buyer = Party {
            legal_id: Some(kvk("11111111")),
            identifiers: vec![kvk("87654321")],
            ..Party::default()
        };
        let text = conflicting_buyer(&buyer, &orgs).unwrap();
        assert!(text.starts_with("[TG-BUYER-IDS]"), "{text}");
        for part in ["0106:11111111", "acme B.V.", "0106:87654321", "beta B.V."] {
            assert!(text.contains(part), "{part} missing: {text}");
        }
        // Whichever id comes first.
        let swapped = Party {
            legal_id: Some(kvk("87654321")),
            identifiers: vec![kvk("11111111")],
            ..Party::default()
        };
        assert!(conflicting_buyer(&swapped, &orgs).is_some());
    }

    #[test]
    fn ids_that_name_one_organisation_do_not_conflict() {
        let orgs = [org("acme", "11111111"), org("beta", "87654321")];
        for other in [kvk("11111111"), kvk("99999999")] {
            let buyer = Party {
                legal_id: Some(kvk("11111111")),
                identifiers: vec![other],
                ..Party::default()
            };
            assert_eq!(conflicting_buyer(&buyer, &orgs), None);
            assert_eq!(buyer_matches(&buyer, &orgs[0]), Match::Yes);
        }
    }
}
