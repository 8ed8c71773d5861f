//! Denmark's rules in Peppol BIS Billing 3.0's artefact (DK-R-002..DK-R-017), as a table.
//!
//! They apply by `$DKSupplierCountry` and `$DKCustomerCountry`: the parties' address country
//! codes as written, concatenated ([`countries_are`]). The payment rules (DK-R-005..011) ask
//! an invoice's payment instructions, not a credit note's, for what each Danish payment means
//! needs: a bank account with its branch (31, 42), a mandate (49), a FIK or giro payment id
//! with its creditor account (50, 93).

use super::super::amount::Amount;
use super::super::model::{Doc, PartyData, PaymentMeansData, normalize_space};
use super::peppol_national::{countries_are, is_number};
use super::table::{Broken, Input, Rule, each};

/// `$DKSupplierCountry = 'DK'` (and `$DKCustomerCountry`, when `both`).
fn danish(doc: &Doc, both: bool) -> bool {
    countries_are(doc, "DK", both)
}

/// DK-R-014/017: a legal registration identifier exists, and the (first's) scheme, normalized,
/// is not `0184`.
fn not_cvr(p: &PartyData) -> bool {
    p.legal_ids
        .first()
        .is_some_and(|id| normalize_space(id.scheme.as_deref().unwrap_or("")) != "0184")
}

/// `cbc:PaymentMeansCode = code` (as written).
fn means(p: &PaymentMeansData, code: &str) -> bool {
    p.code.as_deref() == Some(code)
}

/// `substring(cbc:PaymentID, 1, 3)` is one of `prefixes`.
fn payment_id_starts(p: &PaymentMeansData, prefixes: &[&str]) -> bool {
    let id = p.payment_id.as_deref().unwrap_or("");
    prefixes.iter().any(|x| id.starts_with(x))
}

/// `string-length(cbc:PaymentID)`.
fn payment_id_length(p: &PaymentMeansData) -> usize {
    p.payment_id.as_deref().map_or(0, |t| t.chars().count())
}

/// The payee's account id (`PayeeFinancialAccount/ID`), as written, or empty.
fn account(p: &PaymentMeansData) -> &str {
    p.accounts.first().map_or("", String::as_str)
}

fn nonblank(x: Option<&str>) -> bool {
    !normalize_space(x.unwrap_or("")).is_empty()
}

/// DK-R-005..011: each of an invoice's payment instructions that `broken` says breaks the
/// rule, when seller and buyer are Danish.
fn payments(
    i: &Input<'_>,
    broken: fn(&PaymentMeansData) -> bool,
    what: &str,
    out: &mut Vec<Broken>,
) {
    let d = i.doc;
    if d.credit_note_root || !danish(d, true) {
        return;
    }
    for n in each(&d.payment_means, broken) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("payment instruction {}: {what}", n + 1),
        ));
    }
}

/// DK-R-004: a reason coded `ZZZ` is four characters of a number from 0 to 9999, or text with
/// a `#` inside (not first, not last).
fn danish_reason(text: Option<&str>) -> bool {
    let Some(text) = text else {
        return false;
    };
    let numeric = normalize_space(text).chars().count() == 4
        && is_number(text)
        && text
            .trim_matches([' ', '\t', '\n', '\r'])
            .parse::<f64>()
            .is_ok_and(|v| (0.0..=9999.0).contains(&v));
    let marked = text.contains('#') && !text.starts_with('#') && !text.ends_with('#');
    numeric || marked
}

/// The item classification list versions DK-R-003 accepts for the `TST` list.
const TST_VERSIONS: &[&str] = &["19.05.01", "19.0501", "26.08.01", "26.0801"];

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "DK-R-002",
        terms: &["BT-30"],
        check: |i, out| {
            let d = i.doc;
            let id = d
                .seller
                .legal_ids
                .first()
                .map(|id| normalize_space(&id.value));
            if danish(d, false) && id.unwrap_or_default().is_empty() {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a Danish seller must give its legal registration identifier (BT-30, the CVR number)".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "DK-R-005",
        terms: &["BT-81"],
        check: |i, out| {
            let d = i.doc;
            if d.credit_note_root || !danish(d, true) {
                return;
            }
            // `contains(' 1 10 … ', concat(' ', cbc:PaymentMeansCode, ' '))`, as written.
            const CODES: &str = " 1 10 31 42 48 49 50 58 59 93 97 ";
            for n in each(&d.payment_means, |p| {
                !CODES.contains(&format!(" {} ", p.code.as_deref().unwrap_or("")))
            }) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("payment instruction {} has a payment means code Danish invoicing does not use", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "DK-R-013",
        terms: &["BT-29", "BT-46"],
        check: |i, out| {
            let d = i.doc;
            if !danish(d, true) {
                return;
            }
            let unschemed = [&d.seller, &d.buyer].into_iter().any(|p| {
                p.identifiers
                    .iter()
                    .any(|id| normalize_space(id.scheme.as_deref().unwrap_or("")).is_empty())
            });
            if unschemed {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a party identifier (BT-29, BT-46) of a Danish seller or buyer has no schemeID"
                        .to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "DK-R-014",
        terms: &["BT-30"],
        check: |i, out| {
            let d = i.doc;
            if danish(d, false) && not_cvr(&d.seller) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a Danish seller's legal registration identifier (BT-30) must have schemeID 0184 (CVR)".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "DK-R-016",
        terms: &["BT-115"],
        check: |i, out| {
            let d = i.doc;
            let negative = d
                .totals
                .as_ref()
                .and_then(|t| t.payable.value())
                .is_some_and(|p| p < Amount::ZERO);
            if d.credit_note_root && danish(d, true) && negative {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a Danish credit note must not have a negative amount due (BT-115)".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "DK-R-017",
        terms: &["BT-47"],
        check: |i, out| {
            let d = i.doc;
            if d.buyer.present && danish(d, true) && not_cvr(&d.buyer) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a Danish buyer's legal registration identifier (BT-47) must have schemeID 0184 (CVR)".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "DK-R-003",
        terms: &["BT-158"],
        check: |i, out| {
            let d = i.doc;
            if !danish(d, true) {
                return;
            }
            for n in each(&d.lines, |l| {
                let lists = &l.classifications;
                lists.iter().any(|c| c.list.as_deref() == Some("TST"))
                    && !lists.iter().any(|c| {
                        c.version
                            .as_deref()
                            .is_some_and(|v| TST_VERSIONS.contains(&v))
                    })
            }) {
                out.push(Broken::at(
                    i.line(n),
                    "an item classification of the TST list must give listVersionID 19.05.01 or 26.08.01 (or 19.0501, 26.0801)",
                ));
            }
        },
    },
    Rule {
        id: "DK-R-004",
        terms: &["BT-97", "BT-98", "BT-104", "BT-105"],
        check: |i, out| {
            let d = i.doc;
            if !danish(d, true) {
                return;
            }
            for r in &d.allowance_reasons {
                if r.code.as_deref() == Some("ZZZ") && !danish_reason(r.text.as_deref()) {
                    out.push(Broken::at(
                        i.root().to_owned(),
                        format!(
                            "the reason {:?} of an allowance or charge coded ZZZ must be a four-digit number or contain # (not first or last)",
                            r.text.as_deref().unwrap_or("").chars().take(40).collect::<String>()
                        ),
                    ));
                }
            }
        },
    },
    Rule {
        id: "DK-R-006",
        terms: &["BT-81", "BT-84", "BT-86"],
        check: |i, out| {
            payments(
                i,
                |p| {
                    (means(p, "31") || means(p, "42"))
                        && !(nonblank(Some(account(p))) && nonblank(p.branch.as_deref()))
                },
                "a bank transfer (31, 42) must give the account (BT-84) and its bank branch (BT-86)",
                out,
            )
        },
    },
    Rule {
        id: "DK-R-007",
        terms: &["BT-81", "BT-89", "BT-91"],
        check: |i, out| {
            payments(
                i,
                |p| {
                    means(p, "49")
                        && !(nonblank(p.mandate_id.as_deref())
                            && nonblank(p.payer_account_id.as_deref()))
                },
                "a direct debit (49) must give the mandate reference (BT-89) and the debited account (BT-91)",
                out,
            )
        },
    },
    Rule {
        id: "DK-R-008",
        terms: &["BT-81", "BT-83", "BT-84"],
        check: |i, out| {
            payments(
                i,
                |p| {
                    let account = account(p);
                    means(p, "50")
                        && !(payment_id_starts(p, &["01#", "04#", "15#"])
                            && matches!(account.len(), 7 | 8)
                            && account.bytes().all(|b| b.is_ascii_digit()))
                },
                "a giro payment (50) must give a payment id starting 01#, 04# or 15# (BT-83) and an account of 7 or 8 digits (BT-84)",
                out,
            )
        },
    },
    Rule {
        id: "DK-R-009",
        terms: &["BT-81", "BT-83"],
        check: |i, out| {
            payments(
                i,
                |p| {
                    means(p, "50")
                        && payment_id_starts(p, &["04#", "15#"])
                        && payment_id_length(p) != 19
                },
                "a giro payment id (BT-83) starting 04# or 15# must be 19 characters",
                out,
            )
        },
    },
    Rule {
        id: "DK-R-010",
        terms: &["BT-81", "BT-83", "BT-84"],
        check: |i, out| {
            payments(
                i,
                |p| {
                    means(p, "93")
                        && !(payment_id_starts(p, &["71#", "73#", "75#"])
                            && account(p).chars().count() == 8)
                },
                "a FIK payment (93) must give a payment id starting 71#, 73# or 75# (BT-83) and a creditor account of 8 characters (BT-84)",
                out,
            )
        },
    },
    Rule {
        id: "DK-R-011",
        terms: &["BT-81", "BT-83"],
        check: |i, out| {
            payments(
                i,
                |p| {
                    means(p, "93")
                        && payment_id_starts(p, &["71#", "75#"])
                        && !matches!(payment_id_length(p), 18 | 19)
                },
                "a FIK payment id (BT-83) starting 71# or 75# must be 18 or 19 characters",
                out,
            )
        },
    },
];
