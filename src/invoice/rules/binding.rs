//! The EN 16931 syntax binding rules: those that read the model, as a table (UBL-SR-* and
//! UBL-DT-* over amounts, lines and attachments), and the presence and count constraints
//! (UBL-CR-*, most UBL-SR-*, UBL-DT-*, CII-SR-*, CII-DT-*), which the streaming pass
//! evaluates from the generated [`binding_tables`](super::binding_tables) and [`generated`]
//! reports. The cardinalities of the elements the model reads are in `syntax`.

use super::super::model::Doc;
use super::catalogue::{self, Flag};
use super::table::{Broken, Input, Rule, each};
use super::{Finding, Severity};

/// Reports what the streaming pass found against the generated binding rules, with the flag
/// and text the artefact of `layer` gives each rule.
pub(super) fn generated(doc: &Doc, layer: u16, out: &mut Vec<Finding>) {
    for hit in &doc.bindings {
        let official = catalogue::lookup(hit.id, layer);
        let severity = match official.map(|o| o.flag) {
            Some(Flag::Warning | Flag::Information) => Severity::Warning,
            Some(Flag::Fatal) | None => Severity::Fatal,
        };
        let text = official.map_or("", |o| o.text);
        out.push(Finding {
            rule_id: hit.id,
            severity,
            message: format!("[{}] {} (in {})", hit.id, text, hit.location),
            location: Some(hit.location.clone()),
            official_text: official.map(|o| o.text),
            line: None,
            offset: Some(hit.offset),
        });
    }
}

/// The ids of the generated rules, for [`super::implemented`].
pub(super) fn generated_ids() -> impl Iterator<Item = &'static str> {
    [&super::binding_tables::UBL, &super::binding_tables::CII]
        .into_iter()
        .flat_map(|b| b.templates.iter())
        .flat_map(|t| t.asserts.iter().map(|a| a.id))
}

pub(super) const UBL_RULES: &[Rule] = &[
    Rule {
        id: "UBL-SR-48",
        terms: &["BG-25", "BT-151"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| l.tax_count != 1) {
                let count = i.doc.lines.get(n).map_or(0, |l| l.tax_count);
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "invoice line {} has {count} classified tax categories (Item/ClassifiedTaxCategory); give exactly one",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "UBL-DT-01",
        terms: &[
            "BT-92", "BT-99", "BT-106", "BT-107", "BT-108", "BT-109", "BT-110", "BT-112", "BT-113",
            "BT-114", "BT-115", "BT-116", "BT-117", "BT-131",
        ],
        // Every `…Amount` but prices and a price's allowance, as written: `12.000` has three.
        check: |i, out| {
            for location in &i.doc.long_amounts.first {
                out.push(Broken::at(
                    location.clone(),
                    format!(
                        "the amount {location} has more than two decimals; round amounts to cents"
                    ),
                ));
            }
        },
    },
    Rule {
        id: "UBL-DT-07",
        terms: &["BT-125"],
        check: |i: &Input<'_>, out| {
            if i.doc.binary_without_filename {
                out.push(Broken::at(
                    format!("{}/cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject", i.root()),
                    "an attached document (EmbeddedDocumentBinaryObject) has no filename attribute; give its file name",
                ));
            }
        },
    },
];
