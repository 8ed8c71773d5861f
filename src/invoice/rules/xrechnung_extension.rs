//! XRechnung's extension (`…#conformant#urn:xeinkauf.de:kosit:extension:xrechnung_3.0`), the
//! rules that read coded values, UBL and CII alike: BR-DEX-01 (the attachment types the
//! extension allows) and BR-DEX-04..08 (the identifier schemes, with the extension's own
//! `XR01`..`XR03` beside ISO 6523 and the EAS list).
//!
//! Their contexts are the very elements of BR-CL-10, 11, 21, 24, 25 and 26 of EN 16931 (UBL's
//! `SEPA` exception for the seller's and payee's party identifiers included), so they read the
//! codes the streaming pass collected for those. The rest of the extension's rules (BR-DEX-03
//! on sub-lines, BR-DEX-09..14 on third-party prepayments) are not checked yet.

use super::super::model::normalize_space;
use super::codelists::{XRECHNUNG_EAS_EXT, XRECHNUNG_ICD_EXT};
use super::table::{Broken, Input, Rule};

/// The MIME codes BR-DEX-01 allows, compared as written.
const MIME_CODES: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/xml",
];

/// Reports each collected code of the EN 16931 rule `site` that `list` (sorted) lacks: the
/// value, normalized, has no inner space and is in the list.
fn schemes(i: &Input<'_>, site: &str, list: &[&str], out: &mut Vec<Broken>) {
    for code in i.doc.codes.iter().filter(|c| c.rule == site) {
        let value = normalize_space(&code.value);
        if value.contains(' ') || list.binary_search(&value.as_str()).is_err() {
            out.push(Broken::at(
                code.location.clone(),
                format!(
                    "the scheme {:?} is not one XRechnung's extension allows",
                    code.value.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
}

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "BR-DEX-01",
        terms: &["BT-125"],
        check: |i, out| {
            for code in i.doc.codes.iter().filter(|c| c.rule == "BR-CL-24") {
                if !MIME_CODES.contains(&code.value.as_str()) {
                    out.push(Broken::at(
                        code.location.clone(),
                        format!(
                            "the attachment type {:?} is not one XRechnung's extension allows",
                            code.value.chars().take(60).collect::<String>()
                        ),
                    ));
                }
            }
            if i.doc.binary_without_mime {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "an attached document has no mimeCode",
                ));
            }
        },
    },
    Rule {
        id: "BR-DEX-04",
        terms: &["BT-29", "BT-46", "BT-60"],
        check: |i, out| schemes(i, "BR-CL-10", XRECHNUNG_ICD_EXT, out),
    },
    Rule {
        id: "BR-DEX-05",
        terms: &["BT-30", "BT-47", "BT-61"],
        check: |i, out| schemes(i, "BR-CL-11", XRECHNUNG_ICD_EXT, out),
    },
    Rule {
        id: "BR-DEX-06",
        terms: &["BT-157"],
        check: |i, out| schemes(i, "BR-CL-21", XRECHNUNG_ICD_EXT, out),
    },
    Rule {
        id: "BR-DEX-07",
        terms: &["BT-34", "BT-49"],
        check: |i, out| schemes(i, "BR-CL-25", XRECHNUNG_EAS_EXT, out),
    },
    Rule {
        id: "BR-DEX-08",
        terms: &["BT-71"],
        check: |i, out| schemes(i, "BR-CL-26", XRECHNUNG_ICD_EXT, out),
    },
];
