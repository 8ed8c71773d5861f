//! XRechnung's Clean Vehicles Directive profile (BR-DE-CVD-01..06, BR-TMP-CVD-01), for UBL and
//! CII alike: an invoice for vehicles under the directive names its contract (BT-12) and tender
//! (BT-17), and a line classified in the `CVD` list gives the vehicle category (M1..N3) and a
//! `cva` attribute saying whether the vehicle is clean, zero-emission or other.
//!
//! The artefacts compare `listID`, the attribute name `cva` and the list `CVD` as written
//! (general comparisons), and normalize the codes and values they test against the lists.

use super::super::model::{LineData, normalize_space};
use super::codelists::XRECHNUNG_7143_CVD;
use super::table::{Broken, Rule, each};

/// `$CVD-VEHICLE-CATEGORY`.
const VEHICLE_CATEGORIES: &[&str] = &["M1", "M2", "M3", "N1", "N2", "N3"];
/// `$CVA-CODES`.
const CVA_CODES: &[&str] = &["clean", "zero-emission", "other"];

/// The line's classifications in the `CVD` list (`@listID = 'CVD'`, as written).
fn cvd_classifications(l: &LineData) -> usize {
    l.classifications
        .iter()
        .filter(|c| c.list.as_deref() == Some("CVD"))
        .count()
}

/// The line's `cva` attributes (`Name`/`Description` = `cva`, as written).
fn cva_properties(l: &LineData) -> impl Iterator<Item = &(Option<String>, Option<String>)> {
    l.properties
        .iter()
        .filter(|(name, _)| name.as_deref() == Some("cva"))
}

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "BR-DE-CVD-01",
        terms: &["BT-12"],
        check: |i, out| {
            if !i.doc.contract_reference {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "an invoice under the Clean Vehicles Directive must give the contract reference (BT-12)",
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-CVD-02",
        terms: &["BT-17"],
        check: |i, out| {
            let d = i.doc;
            let given = if i.cii {
                d.attachments.iter().any(|a| {
                    a.type_code.as_deref().map(normalize_space).as_deref() == Some("50")
                        && !normalize_space(a.id.as_deref().unwrap_or("")).is_empty()
                })
            } else {
                d.originator_reference
            };
            if !given {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "an invoice under the Clean Vehicles Directive must give the tender or lot reference (BT-17)",
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-CVD-03",
        terms: &["BT-158", "BT-160"],
        check: |i, out| {
            let some = i
                .doc
                .lines
                .iter()
                .any(|l| cvd_classifications(l) > 0 && cva_properties(l).next().is_some());
            if !some {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "an invoice under the Clean Vehicles Directive needs a line classified in the CVD list with a cva attribute",
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-CVD-04",
        terms: &["BT-158"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                l.classifications.iter().any(|c| {
                    c.list.as_deref().map(normalize_space).as_deref() == Some("CVD")
                        && !VEHICLE_CATEGORIES.contains(&normalize_space(&c.code).as_str())
                })
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the CVD classification of invoice line {} must be a vehicle category (M1, M2, M3, N1, N2 or N3)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-CVD-05",
        terms: &["BT-161"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                cva_properties(l).any(|(_, value)| {
                    !CVA_CODES.contains(&normalize_space(value.as_deref().unwrap_or("")).as_str())
                })
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the cva attribute of invoice line {} must be clean, zero-emission or other", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-CVD-06-a",
        terms: &["BT-158", "BT-160"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                cvd_classifications(l) > 0 && cva_properties(l).count() != 1
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("invoice line {} is classified in the CVD list and needs exactly one cva attribute", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-CVD-06-b",
        terms: &["BT-158", "BT-160"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                cva_properties(l).next().is_some() && cvd_classifications(l) != 1
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("invoice line {} has a cva attribute and needs exactly one CVD classification", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-TMP-CVD-01",
        terms: &["BT-158"],
        // The list id, normalized and without inner spaces, is CVD or one of UNTDID 7143.
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                l.classifications.iter().any(|c| {
                    let list = normalize_space(c.list.as_deref().unwrap_or(""));
                    list.contains(' ') || XRECHNUNG_7143_CVD.binary_search(&list.as_str()).is_err()
                })
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("an item classification of invoice line {} has a list id (listID) that is neither CVD nor of UNTDID 7143", n + 1),
                ));
            }
        },
    },
];
