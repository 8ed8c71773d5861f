//! The EN 16931 code list rules, BR-CL-01 to BR-CL-26: every coded value the streaming pass
//! collected ([`Doc::codes`], placed by `invoice::codes` where the official schematron looks)
//! is looked up in the list the official artefact carries ([`codelists`], generated from it).
//! Severity and text are the artefact's; the finding adds the value and where it is.
//!
//! Peppol BIS 3 looks the same places up in its own lists (PEPPOL-EN16931-CL001..CL008,
//! [`codelists::PEPPOL`]): [`peppol`] reads the uses the EN 16931 rules collected.

use super::super::Syntax;
use super::super::codes::{CodeUse, PEPPOL_ALLOWANCE_REASON, PEPPOL_CHARGE_REASON};
use super::super::model::Doc;
use super::codelists::{self, CodeList};
use super::{Finding, Severity};

pub(super) fn check(doc: &Doc, syntax: Syntax, out: &mut Vec<Finding>) {
    let lists: &[CodeList] = match syntax {
        Syntax::UblInvoice | Syntax::UblCreditNote => codelists::UBL,
        Syntax::Cii => codelists::CII,
        Syntax::Zugferd1 => return,
    };
    if doc.codes_truncated {
        // Not the official verdict (no validator stops counting), so never fatal: a warning
        // that not every code was looked up.
        out.push(Finding {
            rule_id: "TG-CODES",
            severity: Severity::Warning,
            message: format!(
                "[TG-CODES] the invoice has more than {} distinct coded values; only the first were checked against their code lists",
                super::super::codes::MAX_CODES
            ),
            location: None,
            official_text: None,
            line: None,
            offset: None,
        });
    }
    for code in &doc.codes {
        // (UBL's second BR-CL-10 list, `SEPA`, is applied where it is collected: only a
        // seller's or payee's SEPA identifier is let through.)
        let Some(list) = lists
            .iter()
            .find(|l| l.id == code.rule && l.list == code.list)
        else {
            continue;
        };
        if !codelists::lookup(list, &code.value) {
            out.push(refused(list, code));
        }
    }
}

/// Which EN 16931 code uses each Peppol list checks: the same elements, as the artefacts'
/// contexts name them (the reason codes are collected under the Peppol ids themselves, as
/// Peppol reads the indicator differently).
const PEPPOL_READS: &[(&str, &str)] = &[
    ("PEPPOL-EN16931-CL001", "BR-CL-24"),
    (PEPPOL_ALLOWANCE_REASON, PEPPOL_ALLOWANCE_REASON),
    (PEPPOL_CHARGE_REASON, PEPPOL_CHARGE_REASON),
    ("PEPPOL-EN16931-CL006", "BR-CL-06"),
    ("PEPPOL-EN16931-CL007", "BR-CL-03"),
    ("PEPPOL-EN16931-CL008", "BR-CL-25"),
];

/// Peppol BIS Billing 3.0's code lists (UBL).
pub(super) fn peppol(doc: &Doc, out: &mut Vec<Finding>) {
    for code in &doc.codes {
        for (id, _) in PEPPOL_READS.iter().filter(|(_, en)| *en == code.rule) {
            let Some(list) = codelists::PEPPOL.iter().find(|l| l.id == *id) else {
                continue;
            };
            if !codelists::lookup(list, &code.value) {
                out.push(refused(list, code));
            }
        }
    }
}

/// The ids of [`peppol`]'s rules.
pub(super) fn peppol_ids() -> impl Iterator<Item = &'static str> {
    PEPPOL_READS.iter().map(|(id, _)| *id)
}

fn refused(list: &CodeList, code: &CodeUse) -> Finding {
    Finding {
        rule_id: list.id,
        severity: list.flag,
        message: format!(
            "[{}] {}: \"{}\" at {}",
            list.id,
            list.text,
            shown(&code.value),
            code.location
        ),
        location: Some(code.location.clone()),
        official_text: None,
        line: None,
        offset: None,
    }
}

/// A value as a message shows it: at most 40 characters.
fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(40).collect();
    if s.len() < value.len() {
        s.push('…');
    }
    s
}
