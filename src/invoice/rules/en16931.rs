//! EN 16931 business rules that need no code lists, as tables: the mandatory elements BR-01 to
//! BR-16, the totals arithmetic BR-CO-10 to BR-CO-16 and the seller's identification BR-CO-26
//! ([`CORE`]); the rules over lines, allowances and charges and the decimals ([`RULES`]).
//!
//! Each check follows the XPath of the CEN/TC 434 schematron (validation 1.3.x) for its syntax,
//! including its contexts (a rule whose context element is absent does not fire) and its
//! rounding (`round(x * 100) div 100`, halves towards positive infinity). Absent amounts behave
//! like the XPath empty sequence (comparisons with them fail).
//!
//! Fail closed: a totals rule that cannot be computed (an amount that is not a number, one with
//! more digits than [`Amount`] holds, or a sum that overflows) fires, with a message that says
//! why it could not be checked. It never passes silently. (The official XSLT stops with a type
//! error there; the malformed amount itself is reported by `rules::syntax`.)

use super::super::amount::Amount;
use super::super::model::{
    AddressData, AllowanceChargeData, LineAllowanceChargeData, Num, TotalsData, nonblank,
};
use super::table::{Broken, Input, Rule, each};

/// BR-01..BR-07: the element `ok` says is given; else `message`.
fn given(i: &Input<'_>, ok: bool, message: &str, out: &mut Vec<Broken>) {
    if !ok {
        out.push(Broken::at(i.root().to_owned(), message));
    }
}

/// BR-12..BR-15, in the context of the document totals group: the amount `get` reads from it
/// is given. Without the group at all the amount due is unknown, which is never a pass (the UBL
/// schema requires `cac:LegalMonetaryTotal`; EN 16931 requires BT-106, 109, 112, 115).
fn total_given(i: &Input<'_>, get: fn(&TotalsData) -> Num, bt: &str, out: &mut Vec<Broken>) {
    let message = match &i.doc.totals {
        None => format!(
            "the invoice has no document totals (UBL cac:LegalMonetaryTotal, CII SpecifiedTradeSettlementHeaderMonetarySummation), so it has no {bt}"
        ),
        Some(t) if !get(t).present() => format!("the invoice has no {bt}"),
        Some(_) => return,
    };
    out.push(Broken::at(i.root().to_owned(), message));
}

/// BR-09 and BR-11: a postal address of `addresses` lacks its country code. UBL: in each
/// address; CII: the rule's context is the invoice, so a missing address also breaks it.
fn country_missing(i: &Input<'_>, addresses: &[AddressData], message: &str, out: &mut Vec<Broken>) {
    if lacks_country(addresses, i.cii) {
        out.push(Broken::at(i.root().to_owned(), message));
    }
}

/// A postal address lacks its country code: in UBL some address; in CII the first, or there is
/// none.
fn lacks_country(addresses: &[AddressData], cii: bool) -> bool {
    if cii {
        !addresses.first().is_some_and(|a| nonblank(&a.country))
    } else {
        addresses.iter().any(|a| !nonblank(&a.country))
    }
}

/// The mandatory elements (BR-01..BR-16), the totals arithmetic (BR-CO-10..BR-CO-16) and the
/// seller's identification (BR-CO-26): the rules every EN 16931 invoice is checked by first.
pub(super) const CORE: &[Rule] = &[
    Rule {
        id: "BR-01",
        terms: &["BT-24"],
        check: |i, out| {
            given(
                i,
                nonblank(&i.doc.customization_id),
                "the invoice has no specification identifier (BT-24, UBL cbc:CustomizationID / CII GuidelineSpecifiedDocumentContextParameter ID)",
                out,
            )
        },
    },
    Rule {
        id: "BR-02",
        terms: &["BT-1"],
        check: |i, out| {
            given(
                i,
                nonblank(&i.doc.number),
                "the invoice has no invoice number (BT-1)",
                out,
            )
        },
    },
    Rule {
        id: "BR-03",
        terms: &["BT-2"],
        check: |i, out| {
            given(
                i,
                nonblank(&i.doc.issue_date),
                "the invoice has no issue date (BT-2; in CII a DateTimeString with format 102)",
                out,
            )
        },
    },
    Rule {
        id: "BR-04",
        terms: &["BT-3"],
        check: |i, out| {
            given(
                i,
                nonblank(&i.doc.type_code),
                "the invoice has no invoice type code (BT-3)",
                out,
            )
        },
    },
    Rule {
        id: "BR-05",
        terms: &["BT-5"],
        check: |i, out| {
            given(
                i,
                nonblank(&i.doc.currency),
                "the invoice has no invoice currency code (BT-5)",
                out,
            )
        },
    },
    Rule {
        id: "BR-06",
        terms: &["BT-27"],
        check: |i, out| {
            given(
                i,
                nonblank(&i.doc.seller.registration_name),
                "the invoice has no seller name (BT-27)",
                out,
            )
        },
    },
    Rule {
        id: "BR-07",
        terms: &["BT-44"],
        check: |i, out| {
            given(
                i,
                nonblank(&i.doc.buyer.registration_name),
                "the invoice has no buyer name (BT-44)",
                out,
            )
        },
    },
    Rule {
        id: "BR-08",
        terms: &["BG-5"],
        check: |i, out| {
            given(
                i,
                !i.doc.seller.addresses.is_empty(),
                "the invoice has no seller postal address (BG-5)",
                out,
            )
        },
    },
    Rule {
        id: "BR-09",
        terms: &["BG-5", "BT-40"],
        check: |i, out| {
            country_missing(
                i,
                &i.doc.seller.addresses,
                "the seller postal address has no country code (BT-40)",
                out,
            )
        },
    },
    Rule {
        id: "BR-10",
        terms: &["BG-8"],
        check: |i, out| {
            given(
                i,
                !i.doc.buyer.addresses.is_empty(),
                "the invoice has no buyer postal address (BG-8)",
                out,
            )
        },
    },
    Rule {
        id: "BR-11",
        terms: &["BG-8", "BT-55"],
        check: |i, out| {
            country_missing(
                i,
                &i.doc.buyer.addresses,
                "the buyer postal address has no country code (BT-55)",
                out,
            )
        },
    },
    Rule {
        id: "BR-12",
        terms: &["BT-106"],
        check: |i, out| {
            total_given(
                i,
                |t| t.line_extension,
                "sum of invoice line net amounts (BT-106)",
                out,
            )
        },
    },
    Rule {
        id: "BR-13",
        terms: &["BT-109"],
        check: |i, out| {
            total_given(
                i,
                |t| t.tax_exclusive,
                "total amount without VAT (BT-109)",
                out,
            )
        },
    },
    Rule {
        id: "BR-14",
        terms: &["BT-112"],
        check: |i, out| {
            total_given(
                i,
                |t| t.tax_inclusive,
                "total amount with VAT (BT-112)",
                out,
            )
        },
    },
    Rule {
        id: "BR-15",
        terms: &["BT-115"],
        check: |i, out| total_given(i, |t| t.payable, "amount due for payment (BT-115)", out),
    },
    Rule {
        id: "BR-16",
        terms: &["BG-25"],
        check: |i, out| {
            given(
                i,
                !i.doc.lines.is_empty(),
                "the invoice has no invoice line (BG-25)",
                out,
            )
        },
    },
    Rule {
        id: "BR-CO-10",
        terms: &["BT-106", "BT-131"],
        check: line_total,
    },
    Rule {
        id: "BR-CO-11",
        terms: &["BT-107", "BT-92"],
        check: |i, out| allowance_charge_total(i, false, out),
    },
    Rule {
        id: "BR-CO-12",
        terms: &["BT-108", "BT-99"],
        check: |i, out| allowance_charge_total(i, true, out),
    },
    Rule {
        id: "BR-CO-13",
        terms: &["BT-109", "BT-106", "BT-107", "BT-108"],
        check: tax_exclusive,
    },
    Rule {
        id: "BR-CO-14",
        terms: &["BT-110", "BT-117"],
        check: tax_total,
    },
    Rule {
        id: "BR-CO-15",
        terms: &["BT-112", "BT-109", "BT-110"],
        check: tax_inclusive,
    },
    Rule {
        id: "BR-CO-16",
        terms: &["BT-115", "BT-112", "BT-113", "BT-114"],
        check: amount_due,
    },
    Rule {
        id: "BR-CO-26",
        terms: &["BT-31", "BT-29", "BT-30"],
        // The seller is identified by a VAT identifier, an identifier or a legal registration
        // identifier, so the buyer can identify the seller automatically.
        check: |i, out| {
            let s = &i.doc.seller;
            if s.present
                && s.vat_ids.is_empty()
                && s.identifiers.is_empty()
                && s.legal_ids.is_empty()
            {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the seller has no VAT identifier (BT-31), seller identifier (BT-29) or legal registration identifier (BT-30); give at least one",
                ));
            }
        },
    },
];

/// Why a rule could not be computed; the rule then fires with this reason.
type Uncomputable = String;

pub(super) const OVERFLOW: &str = "the amounts are too large to compute with exactly";

/// An amount a rule computes with: absent or a value, else why it cannot be used.
pub(super) fn usable(n: Num, what: &str) -> Result<Num, Uncomputable> {
    match n {
        Num::Absent | Num::Value(_) => Ok(n),
        Num::Invalid => Err(format!("{what} is not a decimal number")),
        Num::TooLong => Err(format!("{what} has more digits than can be computed with")),
    }
}

/// Σ of the amounts (absent ones count as nothing); `item` names one of them, numbered from 1.
fn sum(values: &[Num], item: &str) -> Result<Amount, Uncomputable> {
    let mut total = Amount::ZERO;
    for (i, n) in values.iter().enumerate() {
        if let Num::Value(a) = usable(*n, &format!("{item} {}", i + 1))? {
            total = total.checked_add(a).ok_or_else(|| OVERFLOW.to_string())?;
        }
    }
    Ok(total)
}

/// `round(x * 100) div 100`, or why not.
fn round2(a: Amount) -> Result<Amount, Uncomputable> {
    a.round2().ok_or_else(|| OVERFLOW.to_string())
}

/// A rule that could not be computed fails: pushes it with the reason.
fn uncomputable(i: &Input<'_>, out: &mut Vec<Broken>, what: &str, why: &str) {
    out.push(Broken::at(
        i.root().to_owned(),
        format!("{what} cannot be checked because {why}; write every amount as a plain decimal number such as 1234.50"),
    ));
}

/// XPath general comparison `a = b` where `a` may be the empty sequence.
fn equals(a: Num, b: Amount) -> bool {
    a.value().is_some_and(|a| a == b)
}

fn or_zero(n: Num) -> Amount {
    n.value().unwrap_or(Amount::ZERO)
}

fn show(n: Num) -> String {
    match n {
        Num::Value(a) => a.to_string(),
        Num::Absent => "absent".into(),
        Num::Invalid => "not a number".into(),
        Num::TooLong => "too long to compute with".into(),
    }
}

const LINE_ITEM: &str = "the net amount (BT-131) of invoice line";

/// BR-CO-10: Sum of Invoice line net amount = Σ Invoice line net amount.
fn line_total(i: &Input<'_>, out: &mut Vec<Broken>) {
    let (doc, Some(t)) = (i.doc, &i.doc.totals) else {
        return;
    };
    const WHAT: &str = "the sum of invoice line net amounts (BT-106)";
    let checked = || -> Result<(Num, Amount), Uncomputable> {
        let lea = usable(t.line_extension, WHAT)?;
        let nets: Vec<Num> = doc.lines.iter().map(|l| l.net).collect();
        Ok((lea, round2(sum(&nets, LINE_ITEM)?)?))
    };
    match checked() {
        Err(why) => uncomputable(i, out, WHAT, &why),
        Ok((lea, expected)) => {
            if !equals(lea, expected) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "the sum of invoice line net amounts (BT-106) is {}, but the lines add up to {expected}",
                        show(lea)
                    ),
                ));
            }
        }
    }
}

/// BR-CO-11 (`charge` false) and BR-CO-12: the allowance (charge) total equals the sum of the
/// document level allowances (charges), and is absent only when there are none.
fn allowance_charge_total(i: &Input<'_>, charge: bool, out: &mut Vec<Broken>) {
    let (doc, Some(t)) = (i.doc, &i.doc.totals) else {
        return;
    };
    let (total, items, what, bt_total, bt_item) = if charge {
        (t.charge_total, &doc.charges, "charges", "BT-108", "BT-99")
    } else {
        (
            t.allowance_total,
            &doc.allowances,
            "allowances",
            "BT-107",
            "BT-92",
        )
    };
    // An allowance or charge without a valid indicator is in neither sum, as in the
    // official contexts (`[ChargeIndicator = false()]`); `syntax` refuses it.
    let label = format!("the sum of {what} on document level ({bt_total})");
    let checked = || -> Result<(Num, Amount), Uncomputable> {
        let total = usable(total, &label)?;
        let item = format!("the document level {what} amount ({bt_item}) no.");
        Ok((total, round2(sum(items, &item)?)?))
    };
    let (total, expected) = match checked() {
        Ok(v) => v,
        Err(why) => return uncomputable(i, out, &label, &why),
    };
    let ok = (!total.present() && items.is_empty()) || equals(total, expected);
    if !ok {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the sum of {what} on document level ({bt_total}) is {}, but the {} document level {what} ({bt_item}) add up to {expected}",
                show(total),
                items.len()
            ),
        ));
    }
}

/// BR-CO-13: Invoice total amount without VAT = Σ line net amounts - allowances + charges.
fn tax_exclusive(i: &Input<'_>, out: &mut Vec<Broken>) {
    let (cii, Some(t)) = (i.cii, &i.doc.totals) else {
        return;
    };
    const WHAT: &str = "the total without VAT (BT-109)";
    let inputs = || -> Result<(Num, Num, Num, Num), Uncomputable> {
        Ok((
            usable(t.tax_exclusive, WHAT)?,
            usable(t.line_extension, "the sum of line net amounts (BT-106)")?,
            usable(t.charge_total, "the sum of charges (BT-108)")?,
            usable(t.allowance_total, "the sum of allowances (BT-107)")?,
        ))
    };
    let (tea, lea, ch, al) = match inputs() {
        Ok(v) => v,
        Err(why) => return uncomputable(i, out, WHAT, &why),
    };
    let Some(lea_v) = lea.value() else {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("the total without VAT (BT-109) is {}, but the sum of line net amounts (BT-106) is absent", show(tea)),
        ));
        return;
    };
    let expected = if !cii && !ch.present() && !al.present() {
        // UBL compares without rounding when there are neither allowances nor charges.
        Some(lea_v)
    } else {
        lea_v
            .checked_add(or_zero(ch))
            .and_then(|x| x.checked_sub(or_zero(al)))
            .and_then(Amount::round2)
    };
    let Some(expected) = expected else {
        return uncomputable(i, out, WHAT, OVERFLOW);
    };
    if !equals(tea, expected) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the total without VAT (BT-109) is {}, but line net amounts {lea_v} - allowances {} + charges {} = {expected}",
                show(tea),
                or_zero(al),
                or_zero(ch)
            ),
        ));
    }
}

/// BR-CO-14: Invoice total VAT amount = Σ VAT category tax amounts.
fn tax_total(i: &Input<'_>, out: &mut Vec<Broken>) {
    let (doc, cii) = (i.doc, i.cii);
    const WHAT: &str = "the invoice total VAT amount (BT-110)";
    const ITEM: &str = "the VAT category tax amount (BT-117) no.";
    if cii {
        // Context: TaxTotalAmount[@currencyID = InvoiceCurrencyCode]; sum of header
        // ApplicableTradeTax/CalculatedAmount. Without a currency code BR-05 fires.
        let Some(currency) = doc.currency.as_deref() else {
            return;
        };
        let mut in_currency = doc
            .tax_totals
            .iter()
            .filter(|t| t.currency.as_deref() == Some(currency))
            .peekable();
        if in_currency.peek().is_none() {
            return;
        }
        let expected = match sum(&doc.vat_breakdown_amounts, ITEM).and_then(round2) {
            Ok(e) => e,
            Err(why) => return uncomputable(i, out, WHAT, &why),
        };
        for t in in_currency {
            if let Err(why) = usable(t.amount, WHAT) {
                return uncomputable(i, out, WHAT, &why);
            }
            if !equals(t.amount, expected) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "the invoice total VAT amount (BT-110) is {}, but the VAT breakdown (BT-117) adds up to {expected}",
                        show(t.amount)
                    ),
                ));
                return;
            }
        }
    } else {
        // Context: each cac:TaxTotal with at least one cac:TaxSubtotal.
        for t in doc.tax_totals.iter().filter(|t| t.has_subtotals) {
            let checked = || -> Result<(Num, Amount), Uncomputable> {
                let amount = usable(t.amount, WHAT)?;
                Ok((amount, round2(sum(&t.subtotal_amounts, ITEM)?)?))
            };
            let (amount, expected) = match checked() {
                Ok(v) => v,
                Err(why) => return uncomputable(i, out, WHAT, &why),
            };
            if !equals(amount, expected) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "the invoice total VAT amount (BT-110) is {}, but its subtotals (BT-117) add up to {expected}",
                        show(amount)
                    ),
                ));
                return;
            }
        }
    }
}

/// BR-CO-15: Invoice total amount with VAT = total without VAT + total VAT amount, for the
/// VAT total in the invoice currency (which must occur exactly once).
fn tax_inclusive(i: &Input<'_>, out: &mut Vec<Broken>) {
    let (doc, cii) = (i.doc, i.cii);
    const WHAT: &str = "the total amount with VAT (BT-112)";
    // `every $Currency in <currency code>`: vacuously true without a currency code.
    let Some(currency) = doc.currency.as_deref() else {
        return;
    };
    let empty = TotalsData::default();
    let t = doc.totals.as_ref().unwrap_or(&empty);
    let in_currency: Vec<Num> = doc
        .tax_totals
        .iter()
        .filter(|t| t.currency.as_deref() == Some(currency))
        .map(|t| t.amount)
        .collect();
    let inputs = || -> Result<(Num, Num), Uncomputable> {
        for n in &in_currency {
            usable(*n, "the invoice total VAT amount (BT-110)")?;
        }
        Ok((
            usable(t.tax_inclusive, WHAT)?,
            usable(t.tax_exclusive, "the total without VAT (BT-109)")?,
        ))
    };
    let (incl, excl) = match inputs() {
        Ok(v) => v,
        Err(why) => return uncomputable(i, out, WHAT, &why),
    };
    let computed = match (excl.value(), in_currency.as_slice()) {
        (Some(e), [Num::Value(tax)]) => e.checked_add(*tax).and_then(Amount::round2),
        _ => None,
    };
    let mut ok = in_currency.len() == 1 && computed.is_some_and(|c| equals(incl, c));
    if cii && !ok {
        // CII also accepts a total with VAT equal to the total without VAT.
        ok = excl.value().is_some_and(|e| equals(incl, e));
    }
    if !ok {
        let why = match in_currency.len() {
            0 => format!("there is no total VAT amount in the invoice currency {currency}"),
            1 => format!(
                "total without VAT {} + VAT {} = {}",
                show(excl),
                show(in_currency[0]),
                computed.map_or_else(|| "not computable".to_string(), |c| c.to_string())
            ),
            n => format!(
                "there are {n} total VAT amounts in the invoice currency {currency}, not one"
            ),
        };
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the total amount with VAT (BT-112) is {}, but {why}",
                show(incl)
            ),
        ));
    }
}

/// BR-CO-16: Amount due for payment = total with VAT - paid amount + rounding amount.
fn amount_due(i: &Input<'_>, out: &mut Vec<Broken>) {
    let (cii, Some(t)) = (i.cii, &i.doc.totals) else {
        return;
    };
    const WHAT: &str = "the amount due (BT-115)";
    let inputs = || -> Result<(Num, Num, Num, Num), Uncomputable> {
        Ok((
            usable(t.payable, WHAT)?,
            usable(t.tax_inclusive, "the total with VAT (BT-112)")?,
            usable(t.prepaid, "the paid amount (BT-113)")?,
            usable(t.rounding, "the rounding amount (BT-114)")?,
        ))
    };
    let (payable, incl, prepaid, rounding) = match inputs() {
        Ok(v) => v,
        Err(why) => return uncomputable(i, out, WHAT, &why),
    };
    let ok = match (payable.value(), incl.value()) {
        (Some(p), Some(grand)) => {
            if cii {
                // Exact: DuePayable = Grand - Prepaid + Rounding (absent counts as 0).
                match grand
                    .checked_sub(or_zero(prepaid))
                    .and_then(|x| x.checked_add(or_zero(rounding)))
                {
                    Some(e) => e == p,
                    None => return uncomputable(i, out, WHAT, OVERFLOW),
                }
            } else {
                let left = if rounding.present() {
                    p.checked_sub(or_zero(rounding)).and_then(Amount::round2)
                } else {
                    Some(p)
                };
                let right = if prepaid.present() {
                    grand.checked_sub(or_zero(prepaid)).and_then(Amount::round2)
                } else {
                    Some(grand)
                };
                match (left, right) {
                    (Some(l), Some(r)) => l == r,
                    _ => return uncomputable(i, out, WHAT, OVERFLOW),
                }
            }
        }
        _ => false,
    };
    if !ok {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the amount due (BT-115) is {}, but total with VAT {} - paid {} + rounding {} does not give it",
                show(payable),
                show(incl),
                or_zero(prepaid),
                or_zero(rounding)
            ),
        ));
    }
}

/// The EN 16931 core rules over invoice lines, document level allowances and charges, and the
/// VAT breakdown, as a table (see [`super::table`]). Each follows its official XPath for UBL
/// and for CII; where the two differ the check says so.
/// A BR-DEC rule: the amount it reads has at most two decimals as written.
macro_rules! decimals {
    ($id:literal, $term:literal) => {
        Rule {
            id: $id,
            terms: &[$term],
            check: |i, out| {
                let hidden = |b: &Option<usize>| {
                    b.and_then(|n| i.doc.vat_breakdown.get(n))
                        .is_some_and(|b| b.hidden_from_cii_breakdown_rules(i.cii))
                };
                for (_, location, _) in i
                    .doc
                    .long_decimals
                    .iter()
                    .filter(|(r, _, b)| *r == $id && !hidden(b))
                {
                    out.push(Broken::at(
                        location.clone(),
                        format!(
                            "{} ({location}) has more than two decimals; round it to cents",
                            crate::invoice::decimals::term($id)
                        ),
                    ));
                }
            },
        }
    };
}

/// Whose allowances and charges a decimals rule reads.
#[derive(Clone, Copy)]
enum Group {
    Document,
    Line,
}

/// A BR-DEC rule over an allowance's or charge's amount (`base` false) or base amount: it has at
/// most two decimals as written. The context is the group with the indicator as each syntax's
/// core rules compare it ([`AllowanceChargeData::is_charge`]).
macro_rules! group_decimals {
    ($id:literal, $term:literal, $group:expr, $charge:expr, $base:expr) => {
        Rule {
            id: $id,
            terms: &[$term],
            check: |i, out| long_group_decimals(i, $group, $charge, $base, $term, out),
        }
    };
}

fn long_group_decimals(
    i: &Input<'_>,
    group: Group,
    charge: bool,
    base: bool,
    term: &str,
    out: &mut Vec<Broken>,
) {
    let kind = if charge { "charge" } else { "allowance" };
    let what = if base { "base amount" } else { "amount" };
    let long = |d: super::super::model::GroupDecimals| {
        (if base { d.base } else { d.amount }) == Some(true)
    };
    match group {
        Group::Document => {
            for (n, a) in i.doc.allowance_charges.iter().enumerate() {
                if a.is_charge(i.cii) == Some(charge) && long(a.decimals) {
                    out.push(Broken::at(
                        i.allowance_charge(n),
                        format!(
                            "the {what} ({term}) of document level {kind} {} has more than two decimals; round it to cents",
                            ordinal(i, n, charge)
                        ),
                    ));
                }
            }
        }
        Group::Line => {
            for (n, a) in i.doc.line_allowance_charges.iter().enumerate() {
                if a.is_charge(i.cii) == Some(charge) && long(a.decimals) {
                    out.push(Broken::at(
                        i.line_allowance_charge(n),
                        format!(
                            "the {what} ({term}) of a {kind} of invoice line {} has more than two decimals; round it to cents",
                            a.line + 1
                        ),
                    ));
                }
            }
        }
    }
}

pub(super) const RULES: &[Rule] = &[
    decimals!("BR-DEC-09", "BT-106"),
    decimals!("BR-DEC-10", "BT-107"),
    decimals!("BR-DEC-11", "BT-108"),
    decimals!("BR-DEC-12", "BT-109"),
    decimals!("BR-DEC-14", "BT-112"),
    decimals!("BR-DEC-16", "BT-113"),
    decimals!("BR-DEC-17", "BT-114"),
    decimals!("BR-DEC-18", "BT-115"),
    decimals!("BR-DEC-19", "BT-116"),
    decimals!("BR-DEC-20", "BT-117"),
    decimals!("BR-DEC-23", "BT-131"),
    group_decimals!("BR-DEC-01", "BT-92", Group::Document, false, false),
    group_decimals!("BR-DEC-02", "BT-93", Group::Document, false, true),
    group_decimals!("BR-DEC-05", "BT-99", Group::Document, true, false),
    group_decimals!("BR-DEC-06", "BT-100", Group::Document, true, true),
    group_decimals!("BR-DEC-24", "BT-136", Group::Line, false, false),
    group_decimals!("BR-DEC-25", "BT-137", Group::Line, false, true),
    group_decimals!("BR-DEC-27", "BT-141", Group::Line, true, false),
    group_decimals!("BR-DEC-28", "BT-142", Group::Line, true, true),
    Rule {
        id: "BR-21",
        terms: &["BG-25", "BT-126"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| !l.id) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "invoice line {} has no invoice line identifier (BT-126)",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-22",
        terms: &["BG-25", "BT-129"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| !l.quantity) {
                out.push(Broken::at(
                    i.line(n),
                    format!("invoice line {} has no invoiced quantity (BT-129)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-23",
        terms: &["BG-25", "BT-130"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| !l.unit_code) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "invoice line {} has no unit of measure (BT-130, the unitCode of its quantity)",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-24",
        terms: &["BG-25", "BT-131"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| !l.net.present()) {
                out.push(Broken::at(
                    i.line(n),
                    format!("invoice line {} has no net amount (BT-131)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-25",
        terms: &["BG-25", "BT-153"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| !l.item_name) {
                out.push(Broken::at(
                    i.line(n),
                    format!("invoice line {} has no item name (BT-153)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-26",
        terms: &["BG-25", "BT-146"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| !l.price.present()) {
                out.push(Broken::at(
                    i.line(n),
                    format!("invoice line {} has no item net price (BT-146)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-27",
        terms: &["BG-25", "BT-146"],
        // `price >= 0` is false for an absent price too, so BR-27 fires with BR-26.
        check: |i, out| {
            for (n, line) in i.doc.lines.iter().enumerate() {
                let detail = match line.price {
                    Num::Value(p) if p >= Amount::ZERO => continue,
                    Num::Value(p) => format!(
                        "the item net price (BT-146) of invoice line {} is {p}; it may not be negative (give a discount as an allowance)",
                        n + 1
                    ),
                    Num::Absent => format!(
                        "invoice line {} has no item net price (BT-146), so it is not zero or more",
                        n + 1
                    ),
                    Num::Invalid | Num::TooLong => format!(
                        "the item net price (BT-146) of invoice line {} is not a usable number",
                        n + 1
                    ),
                };
                out.push(Broken::at(i.line(n), detail));
            }
        },
    },
    Rule {
        id: "BR-CO-04",
        terms: &["BG-25", "BT-151"],
        check: |i, out| {
            let cii = i.cii;
            for n in each(&i.doc.lines, |l| {
                !l.taxes.iter().any(|t| t.is_vat(cii) && t.code.is_some())
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "invoice line {} has no VAT category code (BT-151) in the VAT scheme",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-31",
        terms: &["BG-20", "BT-92"],
        check: |i, out| {
            allowance_charge_lacks(i, false, |a| !a.amount.present(), "an amount (BT-92)", out)
        },
    },
    Rule {
        id: "BR-32",
        terms: &["BG-20", "BT-95"],
        check: |i, out| {
            allowance_charge_lacks(
                i,
                false,
                |a| !has_vat_code(a, i.cii),
                "a VAT category code (BT-95)",
                out,
            );
        },
    },
    Rule {
        id: "BR-33",
        terms: &["BG-20", "BT-97", "BT-98"],
        check: |i, out| document_reason(i, false, out),
    },
    Rule {
        id: "BR-36",
        terms: &["BG-21", "BT-99"],
        check: |i, out| {
            allowance_charge_lacks(i, true, |a| !a.amount.present(), "an amount (BT-99)", out)
        },
    },
    Rule {
        id: "BR-37",
        terms: &["BG-21", "BT-102"],
        check: |i, out| {
            allowance_charge_lacks(
                i,
                true,
                |a| !has_vat_code(a, i.cii),
                "a VAT category code (BT-102)",
                out,
            );
        },
    },
    Rule {
        id: "BR-38",
        terms: &["BG-21", "BT-104", "BT-105"],
        check: |i, out| document_reason(i, true, out),
    },
    // BR-CO-21 and BR-CO-22 ask the same of the same groups as BR-33 and BR-38; the official
    // artefacts fire both, so trustgate names both.
    Rule {
        id: "BR-CO-21",
        terms: &["BG-20", "BT-97", "BT-98"],
        check: |i, out| document_reason(i, false, out),
    },
    Rule {
        id: "BR-CO-22",
        terms: &["BG-21", "BT-104", "BT-105"],
        check: |i, out| document_reason(i, true, out),
    },
    Rule {
        id: "BR-CO-18",
        terms: &["BG-23"],
        // UBL asks it of the invoice; CII of each line, so an invoice without lines passes.
        check: |i, out| {
            if i.doc.vat_breakdown.is_empty() && (!i.cii || !i.doc.lines.is_empty()) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the invoice has no VAT breakdown (BG-23); give one per VAT category and rate",
                ));
            }
        },
    },
    Rule {
        id: "BR-45",
        terms: &["BG-23", "BT-116"],
        check: |i, out| {
            let cii = i.cii;
            for n in each(&i.doc.vat_breakdown, |b| {
                !b.hidden_from_cii_breakdown_rules(cii) && !b.taxable.present()
            }) {
                out.push(Broken::at(
                    i.breakdown(n),
                    format!("VAT breakdown {} has no taxable amount (BT-116)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-46",
        terms: &["BG-23", "BT-117"],
        check: |i, out| {
            let cii = i.cii;
            for n in each(&i.doc.vat_breakdown, |b| {
                !b.hidden_from_cii_breakdown_rules(cii) && !b.tax.present()
            }) {
                out.push(Broken::at(
                    i.breakdown(n),
                    format!("VAT breakdown {} has no VAT amount (BT-117)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-47",
        terms: &["BG-23", "BT-118"],
        check: |i, out| {
            let cii = i.cii;
            for n in each(&i.doc.vat_breakdown, |b| {
                let defined = b.category.is_vat(cii) && b.category.code.is_some();
                !(b.hidden_from_cii_breakdown_rules(cii) || defined)
            }) {
                out.push(Broken::at(
                    i.breakdown(n),
                    format!(
                        "VAT breakdown {} has no VAT category code (BT-118) in the VAT scheme",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-48",
        terms: &["BG-23", "BT-119"],
        check: |i, out| {
            let cii = i.cii;
            for n in each(&i.doc.vat_breakdown, |b| {
                let c = &b.category;
                let rated = c.is_vat(cii) && (c.percent.present() || c.code_is("O", cii));
                !(b.hidden_from_cii_breakdown_rules(cii) || rated)
            }) {
                out.push(Broken::at(
                    i.breakdown(n),
                    format!(
                        "VAT breakdown {} has no VAT rate (BT-119); only category O (not subject to VAT) may go without",
                        n + 1
                    ),
                ));
            }
        },
    },
    // BG-11, the seller's tax representative: each rule's context is the party, so an invoice
    // without one passes.
    Rule {
        id: "BR-18",
        terms: &["BG-11", "BT-62"],
        check: |i, out| {
            let rep = &i.doc.tax_representative;
            if rep.present && !nonblank(&rep.trading_name) {
                out.push(Broken::at(
                    tax_representative(i),
                    "the seller's tax representative (BG-11) has no name (BT-62)",
                ));
            }
        },
    },
    Rule {
        id: "BR-19",
        terms: &["BG-11", "BG-12"],
        check: |i, out| {
            let rep = &i.doc.tax_representative;
            if rep.present && rep.addresses.is_empty() {
                out.push(Broken::at(
                    tax_representative(i),
                    "the seller's tax representative (BG-11) has no postal address (BG-12)",
                ));
            }
        },
    },
    Rule {
        id: "BR-20",
        // UBL asks it of each address, CII of the party (so a missing address breaks it too).
        terms: &["BG-12", "BT-69"],
        check: |i, out| {
            let rep = &i.doc.tax_representative;
            if rep.present && lacks_country(&rep.addresses, i.cii) {
                out.push(Broken::at(
                    tax_representative(i),
                    "the postal address of the seller's tax representative (BG-12) has no country code (BT-69)",
                ));
            }
        },
    },
    Rule {
        id: "BR-56",
        // UBL: a VAT `PartyTaxScheme/CompanyID` exists; CII: a `schemeID` VA one is not blank.
        terms: &["BG-11", "BT-63"],
        check: |i, out| {
            let rep = &i.doc.tax_representative;
            let has = if i.cii {
                rep.vat_ids.iter().any(|v| !v.trim().is_empty())
            } else {
                !rep.vat_ids.is_empty()
            };
            if rep.present && !has {
                out.push(Broken::at(
                    tax_representative(i),
                    "the seller's tax representative (BG-11) has no VAT identifier (BT-63)",
                ));
            }
        },
    },
    // BG-27 and BG-28, a line's allowances and charges.
    Rule {
        id: "BR-41",
        terms: &["BG-27", "BT-136"],
        check: |i, out| {
            line_group_lacks(
                i,
                false,
                |a| !a.amount_value.present(),
                "an amount (BT-136)",
                out,
            )
        },
    },
    Rule {
        id: "BR-42",
        terms: &["BG-27", "BT-139", "BT-140"],
        check: |i, out| line_reason(i, false, out),
    },
    Rule {
        id: "BR-43",
        terms: &["BG-28", "BT-141"],
        check: |i, out| {
            line_group_lacks(
                i,
                true,
                |a| !a.amount_value.present(),
                "an amount (BT-141)",
                out,
            )
        },
    },
    Rule {
        id: "BR-44",
        terms: &["BG-28", "BT-144", "BT-145"],
        check: |i, out| line_reason(i, true, out),
    },
    // BR-CO-23 and BR-CO-24 ask the same as BR-42 and BR-44; the official artefacts fire both.
    Rule {
        id: "BR-CO-23",
        terms: &["BG-27", "BT-139", "BT-140"],
        check: |i, out| line_reason(i, false, out),
    },
    Rule {
        id: "BR-CO-24",
        terms: &["BG-28", "BT-144", "BT-145"],
        check: |i, out| line_reason(i, true, out),
    },
];

/// A document level allowance (`charge` false) or charge (true) has a VAT category code in the
/// VAT scheme.
fn has_vat_code(a: &AllowanceChargeData, cii: bool) -> bool {
    a.taxes.iter().any(|t| t.is_vat(cii) && t.code.is_some())
}

/// Reports each document level allowance (`charge` false) or charge (true) for which `lacks`
/// holds. Which group is which follows each syntax's rule context ([`AllowanceChargeData::is_charge`]).
fn allowance_charge_lacks(
    i: &Input<'_>,
    charge: bool,
    lacks: impl Fn(&AllowanceChargeData) -> bool,
    what: &str,
    out: &mut Vec<Broken>,
) {
    let kind = if charge { "charge" } else { "allowance" };
    for (n, a) in i.doc.allowance_charges.iter().enumerate() {
        if a.is_charge(i.cii) == Some(charge) && lacks(a) {
            out.push(Broken::at(
                i.allowance_charge(n),
                format!(
                    "document level {kind} {} has no {what}",
                    ordinal(i, n, charge)
                ),
            ));
        }
    }
}

/// BR-33/38 and BR-CO-21/22 (the same test, both fired): a document level allowance
/// (`charge` false) or charge has a reason or a reason code.
fn document_reason(i: &Input<'_>, charge: bool, out: &mut Vec<Broken>) {
    let what = if charge {
        "a reason (BT-104) or a reason code (BT-105)"
    } else {
        "a reason (BT-97) or a reason code (BT-98)"
    };
    allowance_charge_lacks(i, charge, |a| !a.reason && !a.reason_code, what, out);
}

/// BR-42/44 and BR-CO-23/24 (the same test, both fired): a line's allowance or charge has a
/// reason or a reason code.
fn line_reason(i: &Input<'_>, charge: bool, out: &mut Vec<Broken>) {
    let what = if charge {
        "a reason (BT-144) or a reason code (BT-145)"
    } else {
        "a reason (BT-139) or a reason code (BT-140)"
    };
    line_group_lacks(i, charge, |a| !a.reason && !a.reason_code, what, out);
}

/// The location of the seller's tax representative.
fn tax_representative(i: &Input<'_>) -> String {
    i.below(
        "cac:TaxRepresentativeParty",
        "ram:ApplicableHeaderTradeAgreement/ram:SellerTaxRepresentativeTradeParty",
    )
}

/// Reports each allowance (`charge` false) or charge (true) of an invoice line for which
/// `lacks` holds; which is which follows each syntax's rule context (UBL
/// `AllowanceCharge[ChargeIndicator = false()]`, CII `ChargeIndicator[udt:Indicator = 'false']`).
fn line_group_lacks(
    i: &Input<'_>,
    charge: bool,
    lacks: impl Fn(&LineAllowanceChargeData) -> bool,
    what: &str,
    out: &mut Vec<Broken>,
) {
    let kind = if charge { "charge" } else { "allowance" };
    for (n, a) in i.doc.line_allowance_charges.iter().enumerate() {
        if a.is_charge(i.cii) == Some(charge) && lacks(a) {
            out.push(Broken::at(
                i.line_allowance_charge(n),
                format!("a {kind} of invoice line {} has no {what}", a.line + 1),
            ));
        }
    }
}

/// The position of allowance/charge `n` among the groups of its kind (1-based).
fn ordinal(i: &Input<'_>, n: usize, charge: bool) -> usize {
    i.doc
        .allowance_charges
        .iter()
        .take(n + 1)
        .filter(|a| a.is_charge(i.cii) == Some(charge))
        .count()
}
