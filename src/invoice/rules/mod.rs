//! Business rule checks over the extracted [`Doc`]: each rule set in its own file, each rule id
//! next to the code that checks it.
//!
//! Schema findings (`syntax`: malformed amounts, repeated singular elements) come first and
//! apply to every document. Which business rule sets run mirrors the official validation artefacts (see `VERDICTS.md` in the corpus):
//! EN 16931 for UBL 2.1+ and CII (not for UBL 2.0 or ZUGFeRD 1.0), the Dutch NLCIUS rules when the
//! specification identifier is exactly SI-UBL 2.0 / NLCIUS, the XRechnung rules for XRechnung.
//! Severity is the official schematron flag, except that Factur-X MINIMUM and BASIC WL, which are
//! not EN 16931 invoices by design, get EN 16931 findings as warnings. Pure.

mod binding;
/// The presence and count binding rules, generated from the official XSLTs
/// (`scripts/binding_rules.py`); kept as generated, so `--check` compares byte for byte.
#[rustfmt::skip]
pub(crate) mod binding_tables;
/// The official rule catalogue (id, flag, text, layers), generated from the nine XSLTs
/// (`scripts/rule_catalogue.py`).
// Its layer constants and per-layer listing serve the docs and the tests.
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
mod en16931_parts;
mod nl;
mod peppol;
mod peppol_bis3;
mod peppol_cii;
mod peppol_danish;
mod peppol_greek;
mod peppol_national;
pub(crate) mod syntax;
pub(crate) mod table;
mod vat;
mod vat_ids;
mod xrechnung;
mod xrechnung_cvd;
mod xrechnung_extension;
mod xrechnung_warnings;

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
    /// Where in the document it failed: a path to the element, like the official
    /// validators' SVRL `location`, when the rule names one place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The rule's text in the official artefact that carries it, when it is an official rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub official_text: Option<&'static str>,
    /// The line of the document where the element at `location` starts, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Where that element starts, in bytes (turned into `line` once all rules ran).
    #[serde(skip)]
    pub(crate) offset: Option<usize>,
}

/// Fills each finding's `line` from its byte offset in `text` (the document as parsed), in
/// one pass over the text however many findings there are.
pub(crate) fn number_lines(findings: &mut [Finding], text: &[u8]) {
    let mut wanted: Vec<(usize, usize)> = findings
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.offset.map(|o| (o.min(text.len()), i)))
        .collect();
    wanted.sort_unstable();
    let (mut at, mut line) = (0usize, 1usize);
    for (offset, index) in wanted {
        line += text
            .get(at..offset)
            .map_or(0, |s| s.iter().filter(|&&b| b == b'\n').count());
        at = offset;
        if let Some(f) = findings.get_mut(index) {
            f.line = Some(line);
        }
    }
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
        location: None,
        official_text: None,
        line: None,
        offset: None,
    }
}

/// Rules reported outside the rule tables: the CII binding's cardinalities of the elements
/// the model reads, which the extractor counts as it reads them (`cii::Cii::singular`) and
/// `syntax` reports beside the XML Schema findings.
const HAND_CODED: &[&str] = &[
    "CII-SR-455",
    "CII-SR-456",
    "CII-SR-459",
    "CII-SR-460",
    "CII-SR-469",
    "CII-SR-473",
    "CII-SR-477",
    "CII-SR-478",
    "CII-SR-479",
    "CII-SR-480",
    "CII-SR-481",
    "CII-SR-482",
    "CII-SR-484",
    "CII-SR-487",
];

/// Every rule table: the file that holds it, the artefacts ([`catalogue::layer`] bits) whose
/// rules it checks, and its rules.
pub(crate) fn tables() -> [(&'static str, u16, &'static [table::Rule]); 32] {
    use catalogue::layer::{
        EN16931_CII, EN16931_UBL, NLCIUS_CII, PEPPOL_BIS3_UBL, PEPPOL_SB_UBL, SI_UBL_2_0,
        SI_UBL_2_0_GACCOUNT, XRECHNUNG_CII, XRECHNUNG_UBL,
    };
    [
        ("en16931", EN16931_UBL | EN16931_CII, en16931::CORE),
        ("en16931", EN16931_UBL | EN16931_CII, en16931::RULES),
        (
            "en16931_parts",
            EN16931_UBL | EN16931_CII,
            en16931_parts::RULES,
        ),
        ("vat", EN16931_UBL | EN16931_CII, vat::RULES),
        ("vat_ids", EN16931_UBL | EN16931_CII, vat_ids::RULES),
        ("binding", EN16931_UBL, binding::UBL_RULES),
        ("binding", EN16931_CII, binding::CII_RULES),
        (
            "nl",
            SI_UBL_2_0 | SI_UBL_2_0_GACCOUNT | NLCIUS_CII,
            nl::RULES,
        ),
        (
            "nl",
            SI_UBL_2_0 | SI_UBL_2_0_GACCOUNT | NLCIUS_CII,
            nl::WARNINGS,
        ),
        (
            "nl",
            SI_UBL_2_0 | SI_UBL_2_0_GACCOUNT | NLCIUS_CII,
            nl::SUPPLIER,
        ),
        ("peppol", PEPPOL_BIS3_UBL | PEPPOL_SB_UBL, peppol::BIS3_UBL),
        (
            "peppol_bis3",
            PEPPOL_BIS3_UBL | PEPPOL_SB_UBL,
            peppol_bis3::RULES,
        ),
        (
            "peppol_bis3",
            PEPPOL_BIS3_UBL | PEPPOL_SB_UBL | XRECHNUNG_UBL,
            peppol_bis3::SHARED_UBL,
        ),
        ("peppol_bis3", PEPPOL_BIS3_UBL, peppol_bis3::BILLING),
        ("peppol_bis3", PEPPOL_SB_UBL, peppol_bis3::SELF_BILLING),
        ("peppol_bis3", XRECHNUNG_UBL, peppol_bis3::XRECHNUNG_UBL),
        ("peppol_national", PEPPOL_BIS3_UBL, peppol_national::RULES),
        ("peppol_national", PEPPOL_BIS3_UBL, peppol_national::GERMAN),
        ("peppol_greek", PEPPOL_BIS3_UBL, peppol_greek::RULES),
        ("peppol_danish", PEPPOL_BIS3_UBL, peppol_danish::RULES),
        ("xrechnung", XRECHNUNG_UBL, xrechnung::UBL_RULES),
        ("xrechnung", XRECHNUNG_CII, xrechnung::CII_RULES),
        ("xrechnung", XRECHNUNG_UBL | XRECHNUNG_CII, xrechnung::RULES),
        (
            "xrechnung_cvd",
            XRECHNUNG_UBL | XRECHNUNG_CII,
            xrechnung_cvd::RULES,
        ),
        (
            "xrechnung_extension",
            XRECHNUNG_UBL | XRECHNUNG_CII,
            xrechnung_extension::RULES,
        ),
        (
            "xrechnung_extension",
            XRECHNUNG_UBL,
            xrechnung_extension::UBL_RULES,
        ),
        (
            "xrechnung_warnings",
            XRECHNUNG_UBL | XRECHNUNG_CII,
            xrechnung_warnings::RULES,
        ),
        (
            "xrechnung_warnings",
            XRECHNUNG_UBL,
            xrechnung_warnings::EXTENSION_UBL,
        ),
        (
            "xrechnung_warnings",
            XRECHNUNG_CII,
            xrechnung_warnings::EXTENSION_CII,
        ),
        ("nl", SI_UBL_2_0_GACCOUNT, nl::GACCOUNT),
        ("peppol", XRECHNUNG_UBL, peppol::XRECHNUNG_UBL),
        ("peppol_cii", XRECHNUNG_CII, peppol_cii::XRECHNUNG_CII),
    ]
}

/// The official rule ids trustgate checks, sorted: the tests hold it against the official
/// verdicts (every rule listed here must be named wherever the artefacts fire it).
pub fn implemented() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = HAND_CODED.to_vec();
    ids.extend(tables().iter().flat_map(|(_, _, t)| t.iter().map(|r| r.id)));
    ids.extend(codelists::UBL.iter().chain(codelists::CII).map(|l| l.id));
    ids.extend(binding::generated_ids());
    ids.extend(code_list_rules::peppol_ids());
    ids.extend(super::cii_values::IDS);
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Each rule id trustgate checks with the artefacts whose documents it checks it for, by the
/// artefacts' keys (`EN16931-UBL`, `SI-UBL-2.0`, …): the Dutch artefacts carry the EN 16931
/// rules, and trustgate runs those for their documents too. For docs/rules.md's table
/// (`cargo run --example implemented_rules`).
pub fn implemented_in() -> Vec<(&'static str, Vec<&'static str>)> {
    use catalogue::layer::*;
    const KEYS: [(u16, &str); 9] = [
        (EN16931_UBL, "EN16931-UBL"),
        (EN16931_CII, "EN16931-CII"),
        (PEPPOL_BIS3_UBL, "PEPPOL-BIS3-UBL"),
        (PEPPOL_SB_UBL, "PEPPOL-SB-UBL"),
        (SI_UBL_2_0, "SI-UBL-2.0"),
        (SI_UBL_2_0_GACCOUNT, "SI-UBL-2.0-GACCOUNT"),
        (NLCIUS_CII, "NLCIUS-CII"),
        (XRECHNUNG_UBL, "XRECHNUNG-UBL"),
        (XRECHNUNG_CII, "XRECHNUNG-CII"),
    ];
    // The EN 16931 rules run for the Dutch artefacts' documents too.
    let with_dutch = |mask: u16| {
        let mut m = mask;
        if mask & EN16931_UBL != 0 {
            m |= SI_UBL_2_0 | SI_UBL_2_0_GACCOUNT;
        }
        if mask & EN16931_CII != 0 {
            m |= NLCIUS_CII;
        }
        m
    };
    let mut pairs: Vec<(&'static str, u16)> = Vec::new();
    for id in HAND_CODED {
        let mask = if id.starts_with("BR-NL-") {
            SI_UBL_2_0 | SI_UBL_2_0_GACCOUNT | NLCIUS_CII
        } else if id.starts_with("BR-DE-") {
            XRECHNUNG_UBL | XRECHNUNG_CII
        } else if id.starts_with("CII-") {
            with_dutch(EN16931_CII)
        } else if id.starts_with("UBL-") {
            with_dutch(EN16931_UBL)
        } else {
            with_dutch(EN16931_UBL | EN16931_CII)
        };
        pairs.push((id, mask));
    }
    for (_, mask, rules) in tables() {
        pairs.extend(rules.iter().map(|r| (r.id, with_dutch(mask))));
    }
    pairs.extend(
        codelists::UBL
            .iter()
            .map(|l| (l.id, with_dutch(EN16931_UBL))),
    );
    pairs.extend(
        codelists::CII
            .iter()
            .map(|l| (l.id, with_dutch(EN16931_CII))),
    );
    pairs.extend(
        super::cii_values::IDS
            .iter()
            .map(|id| (*id, with_dutch(EN16931_CII))),
    );
    pairs.extend(code_list_rules::peppol_ids().map(|id| (id, PEPPOL_BIS3_UBL | PEPPOL_SB_UBL)));
    pairs.extend(binding::generated_ids().map(|id| {
        let syntax = if id.starts_with("CII-") {
            EN16931_CII
        } else {
            EN16931_UBL
        };
        (id, with_dutch(syntax))
    }));
    let mut by_id: std::collections::BTreeMap<&'static str, u16> = Default::default();
    for (id, mask) in pairs {
        *by_id.entry(id).or_default() |= mask;
    }
    by_id
        .into_iter()
        .map(|(id, mask)| {
            let keys = KEYS
                .iter()
                .filter(|(bit, _)| mask & bit != 0)
                .map(|(_, k)| *k);
            (id, keys.collect())
        })
        .collect()
}

/// Runs every rule set that applies to this document.
pub(crate) fn check(doc: &Doc, syntax: Syntax, spec: Specification) -> Vec<Finding> {
    let mut out = Vec::new();
    if applies_en16931(doc, syntax, spec) {
        let cii = syntax == Syntax::Cii;
        let input = table::Input { doc, cii };
        let layer = if cii {
            catalogue::layer::EN16931_CII
        } else {
            catalogue::layer::EN16931_UBL
        };
        table::run(en16931::CORE, &input, layer, &mut out);
        table::run(en16931::RULES, &input, layer, &mut out);
        table::run(en16931_parts::RULES, &input, layer, &mut out);
        table::run(vat::RULES, &input, layer, &mut out);
        table::run(vat_ids::RULES, &input, layer, &mut out);
        let binding_rules = if cii {
            binding::CII_RULES
        } else {
            binding::UBL_RULES
        };
        table::run(binding_rules, &input, layer, &mut out);
        binding::generated(doc, layer, &mut out);
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
    if spec == Specification::SiUbl2GAccount
        && matches!(syntax, Syntax::UblInvoice | Syntax::UblCreditNote)
    {
        let input = table::Input { doc, cii: false };
        let layer = catalogue::layer::SI_UBL_2_0_GACCOUNT;
        table::run(nl::GACCOUNT, &input, layer, &mut out);
    }
    let cii = syntax == Syntax::Cii;
    let input = table::Input { doc, cii };
    match spec {
        Specification::PeppolBis3 | Specification::PeppolSelfBilling
            if !cii && syntax != Syntax::Zugferd1 =>
        {
            // Self-billing carries the billing artefact's rules but the national ones and
            // P0112, with its own identifier, type codes and R051.
            let billing = spec == Specification::PeppolBis3;
            let (layer, own) = if billing {
                (catalogue::layer::PEPPOL_BIS3_UBL, peppol_bis3::BILLING)
            } else {
                (catalogue::layer::PEPPOL_SB_UBL, peppol_bis3::SELF_BILLING)
            };
            for rules in [
                peppol::BIS3_UBL,
                peppol_bis3::RULES,
                peppol_bis3::SHARED_UBL,
                own,
            ] {
                table::run(rules, &input, layer, &mut out);
            }
            code_list_rules::peppol(doc, &mut out);
            if billing {
                for rules in [
                    peppol_national::RULES,
                    peppol_national::GERMAN,
                    peppol_greek::RULES,
                    peppol_danish::RULES,
                ] {
                    table::run(rules, &input, layer, &mut out);
                }
            }
        }
        Specification::XRechnung { .. } if cii => {
            for rules in [peppol_cii::XRECHNUNG_CII, xrechnung::CII_RULES] {
                table::run(rules, &input, catalogue::layer::XRECHNUNG_CII, &mut out);
            }
        }
        Specification::XRechnung { .. } if syntax != Syntax::Zugferd1 => {
            for rules in [
                peppol::XRECHNUNG_UBL,
                peppol_bis3::SHARED_UBL,
                peppol_bis3::XRECHNUNG_UBL,
                xrechnung::UBL_RULES,
            ] {
                table::run(rules, &input, catalogue::layer::XRECHNUNG_UBL, &mut out);
            }
        }
        _ => {}
    }
    if matches!(spec, Specification::XRechnung { .. }) && syntax != Syntax::Zugferd1 {
        let layer = if cii {
            catalogue::layer::XRECHNUNG_CII
        } else {
            catalogue::layer::XRECHNUNG_UBL
        };
        table::run(xrechnung::RULES, &input, layer, &mut out);
        table::run(xrechnung_warnings::RULES, &input, layer, &mut out);
        // The artefact's `$isCVD` and `$isExtension`: its own version's identifiers, exactly.
        if xrechnung_warnings::is_cvd(doc) {
            table::run(xrechnung_cvd::RULES, &input, layer, &mut out);
        }
        if xrechnung_warnings::is_extension(doc) {
            table::run(xrechnung_extension::RULES, &input, layer, &mut out);
            let own = if cii {
                xrechnung_warnings::EXTENSION_CII
            } else {
                table::run(xrechnung_extension::UBL_RULES, &input, layer, &mut out);
                xrechnung_warnings::EXTENSION_UBL
            };
            table::run(own, &input, layer, &mut out);
        }
    }
    // Schema errors come first, as the official pipelines check the XSD before any rule, and
    // are fatal for every specification.
    let mut syntax_findings = Vec::new();
    syntax::check(doc, &mut syntax_findings);
    syntax_findings.append(&mut out);
    let layers = layers(syntax, spec);
    for f in &mut syntax_findings {
        if f.official_text.is_none() {
            f.official_text = catalogue::lookup(f.rule_id, layers).map(|r| r.text);
        }
    }
    syntax_findings
}

/// The official artefacts whose rules apply, as [`catalogue::layer`] bits: the one the
/// official validators would choose for this specification, and the EN 16931 one it includes.
fn layers(syntax: Syntax, spec: Specification) -> u16 {
    use catalogue::layer;
    let cii = syntax == Syntax::Cii;
    let base = if cii {
        layer::EN16931_CII
    } else {
        layer::EN16931_UBL
    };
    let extra = match spec {
        Specification::PeppolBis3 => layer::PEPPOL_BIS3_UBL,
        Specification::PeppolSelfBilling => layer::PEPPOL_SB_UBL,
        Specification::SiUbl2 if cii => layer::NLCIUS_CII,
        Specification::SiUbl2 => layer::SI_UBL_2_0,
        Specification::SiUbl2GAccount => layer::SI_UBL_2_0_GACCOUNT,
        Specification::XRechnung { .. } if cii => layer::XRECHNUNG_CII,
        Specification::XRechnung { .. } => layer::XRECHNUNG_UBL,
        _ => 0,
    };
    base | extra
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
