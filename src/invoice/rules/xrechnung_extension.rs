//! XRechnung's extension (`…#conformant#urn:xeinkauf.de:kosit:extension:xrechnung_3.0`), the
//! rules that read coded values, UBL and CII alike: BR-DEX-01 (the attachment types the
//! extension allows) and BR-DEX-04..08 (the identifier schemes, with the extension's own
//! `XR01`..`XR03` beside ISO 6523 and the EAS list).
//!
//! Their contexts are the very elements of BR-CL-10, 11, 21, 24, 25 and 26 of EN 16931 (UBL's
//! `SEPA` exception for the seller's and payee's party identifiers included), so they read the
//! codes the streaming pass collected for those.
//!
//! UBL alone ([`UBL_RULES`]) has the extension's sub-lines (`cac:SubInvoiceLine`, BR-DEX-03)
//! and third-party payments (`cac:PrepaidPayment`, BR-DEX-09..14). As in the artefact, the
//! sub-line and payment rules read an `Invoice` root only (a credit note has neither), and the
//! amount due (BR-DEX-09) is its own equation beside EN 16931's BR-CO-16, which still runs.

use super::super::amount::Amount;
use super::super::model::{Num, PrepaidPaymentData, TotalsData, normalize_space};
use super::codelists::{XRECHNUNG_EAS_EXT, XRECHNUNG_ICD_EXT};
use super::en16931::{OVERFLOW, usable};
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

/// BR-DEX-09's two sides, as the artefact rounds them.
enum Due {
    /// Amount due − rounding, and total with VAT − paid + Σ third-party payments.
    Sides(Amount, Amount),
    /// The amount due or the total with VAT is absent: the empty sequence compares false.
    Missing,
}

/// BR-DEX-09's sides for the totals `t`, or why they cannot be computed.
fn amount_due(i: &Input<'_>, t: &TotalsData) -> Result<Due, String> {
    // EN 16931's fail-closed reading of an amount (BR-CO-16 reads the same terms).
    let value = |n: Num, what: &str| usable(n, what).map(Num::value);
    // `exists(cbc:PaidAmount[normalize-space()])`: only then is the sum taken, of them all.
    let paid = || i.doc.prepaid_payments.iter().flat_map(|p| &p.paid_amounts);
    let mut third_party = Amount::ZERO;
    if paid().any(|(text, _)| !text.trim().is_empty()) {
        for (text, _) in paid() {
            let amount = value(
                Num::parse(text),
                "a third-party payment amount (BT-DEX-002)",
            )?;
            third_party = third_party
                .checked_add(amount.unwrap_or(Amount::ZERO))
                .ok_or(OVERFLOW)?;
        }
    }
    let prepaid = value(t.prepaid, "the paid amount (BT-113)")?.unwrap_or(Amount::ZERO);
    let rounding = value(t.rounding, "the rounding amount (BT-114)")?.unwrap_or(Amount::ZERO);
    let payable = value(t.payable, "the amount due (BT-115)")?;
    let total = value(t.tax_inclusive, "the total with VAT (BT-112)")?;
    let (Some(payable), Some(total)) = (payable, total) else {
        return Ok(Due::Missing);
    };
    let left = payable
        .checked_sub(rounding)
        .and_then(Amount::round2)
        .ok_or(OVERFLOW)?;
    let right = total
        .checked_sub(prepaid)
        .and_then(|x| x.checked_add(third_party))
        .and_then(Amount::round2)
        .ok_or(OVERFLOW)?;
    Ok(Due::Sides(left, right))
}

/// The location of third-party payment `n` (0-based).
fn payment(i: &Input<'_>, n: usize) -> String {
    format!("{}/cac:PrepaidPayment[{}]", i.root(), n + 1)
}

/// Reports each third-party payment of an `Invoice` for which `broken` holds.
fn payments(
    i: &Input<'_>,
    out: &mut Vec<Broken>,
    broken: impl Fn(&PrepaidPaymentData) -> bool,
    detail: &str,
) {
    if i.doc.credit_note_root {
        return;
    }
    for (n, p) in i.doc.prepaid_payments.iter().enumerate() {
        if broken(p) {
            out.push(Broken::at(payment(i, n), detail));
        }
    }
}

/// The extension's rules that only UBL has.
pub(super) const UBL_RULES: &[Rule] = &[
    Rule {
        id: "BR-DEX-03",
        terms: &["BG-DEX-01", "BG-DEX-06"],
        check: |i, out| {
            let n = i.doc.sub_line_items_without_one_category;
            if n > 0 && !i.doc.credit_note_root {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "{n} sub-line item(s) (cac:SubInvoiceLine/cac:Item) do not have exactly one cac:ClassifiedTaxCategory"
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-DEX-09",
        terms: &["BT-115", "BT-112", "BT-113", "BT-114", "BT-DEX-002"],
        check: |i, out| {
            let Some(t) = &i.doc.totals else {
                return;
            };
            let at = i.below("cac:LegalMonetaryTotal", "");
            match amount_due(i, t) {
                Ok(Due::Sides(left, right)) if left == right => {}
                Ok(Due::Sides(left, right)) => out.push(Broken::at(
                    at,
                    format!(
                        "the amount due less rounding is {left}, but the total with VAT less the paid amount plus the third-party payments is {right}"
                    ),
                )),
                Ok(Due::Missing) => out.push(Broken::at(
                    at,
                    "the amount due (BT-115) or the total with VAT (BT-112) is missing",
                )),
                Err(why) => out.push(Broken::at(
                    at,
                    format!("the amount due cannot be checked because {why}"),
                )),
            }
        },
    },
    Rule {
        id: "BR-DEX-10",
        terms: &["BG-DEX-09", "BT-DEX-001"],
        check: |i, out| {
            payments(
                i,
                out,
                |p| !p.id,
                "a third-party payment has no payment type (cbc:ID)",
            );
        },
    },
    Rule {
        id: "BR-DEX-11",
        terms: &["BG-DEX-09", "BT-DEX-002"],
        check: |i, out| {
            payments(
                i,
                out,
                |p| !p.paid_amounts.iter().any(|(t, _)| !t.trim().is_empty()),
                "a third-party payment has no amount (cbc:PaidAmount)",
            );
        },
    },
    Rule {
        id: "BR-DEX-12",
        terms: &["BG-DEX-09", "BT-DEX-003"],
        check: |i, out| {
            payments(
                i,
                out,
                |p| !p.instruction_id,
                "a third-party payment has no description (cbc:InstructionID)",
            );
        },
    },
    Rule {
        id: "BR-DEX-13",
        terms: &["BT-DEX-002"],
        check: |i, out| {
            // `string-length(substring-after(cbc:PaidAmount, '.')) <= 2`, on the text as
            // written (trailing spaces count).
            payments(
                i,
                out,
                |p| {
                    p.paid_amounts.first().is_some_and(|(text, _)| {
                        text.split_once('.')
                            .is_some_and(|(_, after)| after.chars().count() > 2)
                    })
                },
                "a third-party payment amount has more than two decimals",
            );
        },
    },
    Rule {
        id: "BR-DEX-14",
        terms: &["BT-DEX-002", "BT-5"],
        check: |i, out| {
            let currency = i.doc.currency.as_deref();
            payments(
                i,
                out,
                |p| {
                    !p.paid_amounts
                        .iter()
                        .any(|(_, c)| c.is_some() && c.as_deref() == currency)
                },
                "a third-party payment amount is not in the invoice currency (BT-5)",
            );
        },
    },
];
