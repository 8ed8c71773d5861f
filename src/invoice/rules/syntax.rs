//! Schema-level findings that every syntax gets, whatever its specification: an amount that is
//! not an `xs:decimal`, and an element that may occur once but occurs again. Both are errors
//! of the document itself (the official pipelines refuse them at the XSD step, before any
//! schematron runs), so they are always fatal and never downgraded to warnings.
//!
//! Ids: the XML Schema validation rules as validators report them (`cvc-datatype-valid.1.2.1`
//! for a value outside its type's lexical space, `cvc-complex-type.2.4.a` for an element where
//! the content model allows no further one), or the EN 16931 CII binding's own cardinality
//! rule (`CII-SR-*`) where D16B allows repetition but EN 16931 does not.

use super::super::model::{Doc, MAX_NOTED, Num};
use super::{Finding, fatal};

/// The XSD rule for a value outside its type's lexical space (`n/a`, `1E5` for `xs:decimal`).
pub(crate) const MALFORMED_DECIMAL: &str = "cvc-datatype-valid.1.2.1";
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
