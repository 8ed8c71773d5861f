//! The EN 16931 code list rules, BR-CL-01 to BR-CL-26: every coded value the streaming pass
//! collected ([`Doc::codes`], placed by `invoice::codes` where the official schematron looks)
//! is looked up in the list the official artefact carries ([`codelists`], generated from it).
//! Severity and text are the artefact's; the finding adds the value and where it is.

use super::super::Syntax;
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
            out.push(Finding {
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
            });
        }
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
