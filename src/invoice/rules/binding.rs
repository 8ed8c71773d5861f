//! The EN 16931 syntax binding rules that are not cardinalities of the streaming pass
//! (those are in `syntax`): UBL-SR-* and UBL-DT-* over the model, as a table.

use super::table::{Broken, Input, Rule, each};

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
