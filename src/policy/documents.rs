//! The receiver's rules for each invoice document: which organisation it is for (routing by the
//! buyer's KvK, VAT id or endpoint id), whether its specification is accepted, whether it needs
//! a PDF, and whether its rule findings refuse it.
//!
//! Pure: asked by the gateway at end of data with the validated config and the inspection; it
//! never touches the spool (duplicates are looked up by the gateway) or the network.

use crate::config::{BuyerCheck, Organisation, Receiver, normalise_identifier};
use crate::invoice::{Identifier, Inspection, Party, Severity};

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

    // Routing.
    let organisation = if receiver.organisations.len() > 1 {
        let matched = receiver.organisations.iter().copied().find(|&i| {
            organisations
                .get(i)
                .is_some_and(|o| buyer_matches(&inspection.buyer, o) == Match::Yes)
        });
        match matched {
            Some(i) => i,
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
        if let Some(org) = organisations.get(receiver.organisation)
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
            "[{}] {} is not accepted at this address; send one of: {}",
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

/// Compares the buyer's VAT id, legal id and endpoint id (and other party ids) with the
/// organisation's KvK, VAT ids and endpoint ids.
pub fn buyer_matches(buyer: &Party, org: &Organisation) -> Match {
    let mut comparable = false;
    let mut ids: Vec<&Identifier> = Vec::new();
    ids.extend(buyer.legal_id.iter());
    ids.extend(buyer.endpoint_id.iter());
    ids.extend(buyer.identifiers.iter());

    if let Some(vat) = &buyer.vat_id
        && !org.vat_ids.is_empty()
    {
        comparable = true;
        if org.vat_ids.contains(&normalise_identifier(vat)) {
            return Match::Yes;
        }
    }
    for id in ids {
        let value = normalise_identifier(&id.value);
        let scheme = id.scheme.as_deref().map(|s| s.trim().to_ascii_uppercase());
        // KvK: scheme 0106, or no scheme at all (older Dutch examples carry it bare).
        if let Some(kvk) = &org.kvk
            && matches!(scheme.as_deref(), Some("0106") | None)
        {
            if scheme.is_some() {
                comparable = true;
            }
            if &value == kvk {
                return Match::Yes;
            }
        }
        if let Some(scheme) = &scheme
            && org.endpoint_ids.iter().any(|e| &e.scheme == scheme)
        {
            comparable = true;
            if org
                .endpoint_ids
                .iter()
                .any(|e| &e.scheme == scheme && e.id == value)
            {
                return Match::Yes;
            }
        }
    }
    if comparable {
        Match::No
    } else {
        Match::Unknown
    }
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
