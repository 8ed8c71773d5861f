//! Business rule checks over the extracted [`Doc`]: each rule set in its own file, each rule id
//! next to the code that checks it.
//!
//! Schema findings (`syntax`: malformed amounts, repeated singular elements) come first and
//! apply to every document. Which business rule sets run mirrors the official validation artefacts (see `VERDICTS.md` in the corpus):
//! EN 16931 for UBL 2.1+ and CII (not for UBL 2.0 or ZUGFeRD 1.0), the Dutch NLCIUS rules when the
//! specification identifier is exactly SI-UBL 2.0 / NLCIUS, the XRechnung rules for XRechnung.
//! Severity is the official schematron flag, except that Factur-X MINIMUM and BASIC WL, which are
//! not EN 16931 invoices by design, get EN 16931 findings as warnings. Pure.

/// The official rule catalogue (id, flag, text, layers), generated from the nine XSLTs
/// (`scripts/rule_catalogue.py`).
// Not yet read by the rules; they will take their ids and texts from it.
#[allow(dead_code)]
pub(crate) mod catalogue;
#[cfg(test)]
mod catalogue_tests;
mod code_list_rules;
/// The EN 16931 code lists, generated from the official XSLTs (`scripts/codelists.py`).
// Each list carries its official context and value expression as documentation, which no code
// reads.
#[allow(dead_code)]
pub(crate) mod codelists;
mod en16931;
mod nl;
pub(crate) mod syntax;
mod xrechnung;

use serde::Serialize;

use super::Syntax;
use super::model::Doc;
use super::spec::Specification;

/// How serious a finding is, as flagged in the official schematron.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The invoice is invalid (`flag="fatal"`).
    Fatal,
    /// The invoice is valid but questionable (`flag="warning"`).
    Warning,
}

/// One failed business rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The official rule id, e.g. `BR-CO-15` or `BR-NL-10`.
    pub rule_id: &'static str,
    /// Fatal or warning.
    pub severity: Severity,
    /// One sentence for the supplier, starting with the rule id in brackets.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A fatal finding; the message gets the `[rule id]` prefix.
pub(crate) fn fatal(rule_id: &'static str, message: impl std::fmt::Display) -> Finding {
    Finding {
        rule_id,
        severity: Severity::Fatal,
        message: format!("[{rule_id}] {message}"),
    }
}

/// Runs every rule set that applies to this document.
pub(crate) fn check(doc: &Doc, syntax: Syntax, spec: Specification) -> Vec<Finding> {
    let mut out = Vec::new();
    if applies_en16931(doc, syntax, spec) {
        en16931::check(doc, syntax, &mut out);
        code_list_rules::check(doc, syntax, &mut out);
        if spec.below_en16931() {
            for f in &mut out {
                f.severity = Severity::Warning;
                f.message.push_str(&format!(
                    " (reported as a warning: {} is not an EN 16931 invoice by design)",
                    spec.name()
                ));
            }
        }
    }
    if spec.is_nlcius() {
        nl::check(doc, syntax, &mut out);
    }
    if matches!(spec, Specification::XRechnung { .. }) && syntax != Syntax::Zugferd1 {
        xrechnung::check(doc, &mut out);
    }
    // Schema errors come first, as the official pipelines check the XSD before any rule, and
    // are fatal for every specification.
    let mut syntax_findings = Vec::new();
    syntax::check(doc, &mut syntax_findings);
    syntax_findings.append(&mut out);
    syntax_findings
}

/// EN 16931 applies to UBL 2.1+ and CII; UBL 2.0 and ZUGFeRD 1.0 predate it.
fn applies_en16931(doc: &Doc, syntax: Syntax, spec: Specification) -> bool {
    match syntax {
        Syntax::Zugferd1 => false,
        Syntax::Cii => true,
        Syntax::UblInvoice | Syntax::UblCreditNote => {
            let ubl20 = doc.ubl_version.as_deref().map(str::trim) == Some("2.0");
            !(ubl20 || spec == Specification::Ubl20)
        }
    }
}
