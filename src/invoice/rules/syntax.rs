//! Schema-level findings that every syntax gets, whatever its specification: an amount that is
//! not an `xs:decimal`, and an element that may occur once but occurs again. Both are errors
//! of the document itself (the official pipelines refuse them at the XSD step, before any
//! schematron runs), so they are always fatal and never downgraded to warnings.
//!
//! Ids: the XML Schema validation rules as validators report them (`cvc-datatype-valid.1.2.1`
//! for a value outside its type's lexical space, `cvc-complex-type.2.4.a` for an element where
//! the content model allows no further one), or the EN 16931 CII binding's own cardinality
//! rule (`CII-SR-*`) where D16B allows repetition but EN 16931 does not.

use super::super::model::{Doc, MAX_NOTED, Num, parse_bool};
use super::{Finding, fatal};

/// The XSD rule for a value outside its type's lexical space (`n/a`, `1E5` for `xs:decimal`).
/// (Also for an `xs:boolean` that is not `true`, `false`, `1` or `0`.)
pub(crate) const MALFORMED_DECIMAL: &str = "cvc-datatype-valid.1.2.1";
/// The XSD rule for a required element that is missing.
pub(crate) const MISSING_ELEMENT: &str = "cvc-complex-type.2.4.b";

/// Every allowance and charge (document level and a line's) has a `ChargeIndicator` that is
/// an `xs:boolean`: the schema requires it, and without it the allowance is in neither sum.
fn charge_indicators(doc: &Doc, out: &mut Vec<Finding>) {
    let indicators = doc
        .allowance_charges
        .iter()
        .map(|a| ("document level", a.indicator.as_deref()))
        .chain(
            doc.line_allowance_charges
                .iter()
                .map(|a| ("invoice line", a.indicator.as_deref())),
        );
    let mut reported = 0;
    for (level, indicator) in indicators {
        let finding = match indicator {
            None => fatal(
                MISSING_ELEMENT,
                format!(
                    "an allowance or charge on {level} has no ChargeIndicator; say true for a charge, false for an allowance"
                ),
            ),
            Some(text) if parse_bool(text).is_none() => fatal(
                MALFORMED_DECIMAL,
                format!(
                    "the ChargeIndicator of an allowance or charge on {level} is {:?}, which is not true or false",
                    text.chars().take(40).collect::<String>()
                ),
            ),
            Some(_) => continue,
        };
        out.push(finding);
        reported += 1;
        if reported == 3 {
            break;
        }
    }
}

/// Our id for a valid decimal with more digits than the gateway computes with exactly.
pub(crate) const AMOUNT_TOO_LONG: &str = "TG-AMOUNT";

pub(super) fn check(doc: &Doc, out: &mut Vec<Finding>) {
    for bad in &doc.bad_amounts {
        match bad.kind {
            Num::TooLong => out.push(fatal(
                AMOUNT_TOO_LONG,
                format!(
                    "{} is {:?}, a number with more than 30 digits, which cannot be checked exactly; send amounts with at most 30 digits",
                    bad.what, bad.text
                ),
            )),
            _ => out.push(fatal(
                MALFORMED_DECIMAL,
                format!(
                    "{} is {:?}, which is not a decimal number (xs:decimal: digits with an optional sign and decimal point, no exponent); write it like 1234.50",
                    bad.what, bad.text
                ),
            )),
        }
    }
    if doc.bad_amounts.len() >= MAX_NOTED {
        out.push(fatal(
            MALFORMED_DECIMAL,
            format!("(only the first {MAX_NOTED} unusable amounts are listed)"),
        ));
    }
    charge_indicators(doc, out);
    for r in &doc.repeated {
        out.push(fatal(
            r.rule,
            format!(
                "the element {} occurs more than once where it may occur only once; send it once, so every reader sees the same value",
                r.path
            ),
        ));
    }
}
