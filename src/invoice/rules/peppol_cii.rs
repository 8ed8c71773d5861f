//! The Peppol rules XRechnung's CII artefact copies (PEPPOL-EN16931-R001..R130), each as
//! that artefact words it for CII: R008 allows an empty `ram:ApplicableHeaderTradeDelivery`,
//! R043 is split into R043-1 (allowances and charges) and R043-2 (price discounts), and R121
//! and R130 ask both prices of a line (net and gross) for their base quantity.
//!
//! The artefact's mode runs one template per node, highest priority first, as in UBL: R041 and
//! R042 take the allowances and charges with a percentage and no base amount (or the other way
//! round), so R040 and R043-1 are asked only of the others.

use super::super::amount::Amount;
use super::super::model::{Doc, LineData, Num, normalize_space};
use super::peppol::{business_process, empty_elements, endpoint};
use super::peppol_bis3::{
    base_without_percent, indicator_not_boolean, line_reference_not_object, percent_without_base,
    xrechnung_percentages,
};
use super::table::{Broken, Input, Rule, each};

/// The Peppol rules XRechnung's CII artefact carries (its R008 allows an empty
/// `ram:ApplicableHeaderTradeDelivery`).
pub(super) const XRECHNUNG_CII: &[Rule] = &[
    Rule {
        id: "PEPPOL-EN16931-R001",
        terms: &["BT-23"],
        check: business_process,
    },
    Rule {
        id: "PEPPOL-EN16931-R008",
        terms: &["BT-1"],
        check: |i, out| empty_elements(i, true, out),
    },
    Rule {
        id: "PEPPOL-EN16931-R010",
        terms: &["BT-49"],
        check: |i, out| endpoint(i, &i.doc.buyer, "buyer", "BT-49", out),
    },
    Rule {
        id: "PEPPOL-EN16931-R020",
        terms: &["BT-34"],
        check: |i, out| endpoint(i, &i.doc.seller, "seller", "BT-34", out),
    },
    Rule {
        id: "PEPPOL-EN16931-R005",
        terms: &["BT-5", "BT-6"],
        check: super::peppol_bis3::tax_currency_not_invoice_currency,
    },
    Rule {
        id: "PEPPOL-EN16931-R110",
        terms: &["BG-14", "BG-26", "BT-73", "BT-134"],
        check: |i, out| cii_line_periods(i, false, out),
    },
    Rule {
        id: "PEPPOL-EN16931-R111",
        terms: &["BG-14", "BG-26", "BT-74", "BT-135"],
        check: |i, out| cii_line_periods(i, true, out),
    },
    Rule {
        id: "PEPPOL-EN16931-R061",
        terms: &["BG-19", "BT-89"],
        // `../ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID` of a direct debit.
        check: |i, out| {
            let d = i.doc;
            for (n, p) in d.payment_means.iter().enumerate() {
                let code = p.code.as_deref().map(normalize_space);
                if matches!(code.as_deref(), Some("49" | "59")) && !d.direct_debit.mandate {
                    out.push(Broken::at(
                        i.root().to_owned(),
                        format!("payment instruction {} is a direct debit without the mandate reference (BT-89, DirectDebitMandateID)", n + 1),
                    ));
                }
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R053",
        terms: &["BT-110"],
        check: |i, out| {
            let n = cii_totals_in(i.doc, i.doc.currency.as_deref()).count();
            if n > 1 {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the invoice has {n} VAT totals (TaxTotalAmount) in the invoice currency; give one"),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R054",
        terms: &["BT-111"],
        check: |i, out| {
            let d = i.doc;
            // `@currencyID != $documentCurrencyCode`: neither side may be missing.
            let n = d
                .tax_totals
                .iter()
                .filter(|t| matches!((t.currency.as_deref(), d.currency.as_deref()), (Some(c), Some(doc)) if c != doc))
                .count();
            let wanted = usize::from(d.tax_currency.is_some());
            if n != wanted {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the invoice has {n} VAT totals in another currency than the invoice's; it needs one exactly when it gives a VAT accounting currency (BT-6)"),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R055",
        terms: &["BT-110", "BT-111"],
        check: |i, out| {
            let d = i.doc;
            let in_doc = || cii_totals_in(d, d.currency.as_deref());
            let in_tax = || cii_totals_in(d, d.tax_currency.as_deref());
            if d.tax_currency.is_none() || in_doc().next().is_none() {
                return;
            }
            let sign = |below: bool| {
                move |a: Amount| {
                    if below {
                        a < Amount::ZERO
                    } else {
                        a >= Amount::ZERO
                    }
                }
            };
            let negative = in_tax().any(sign(true)) && in_doc().any(sign(true));
            let positive = in_tax().any(sign(false)) && in_doc().any(sign(false));
            if !(negative || positive) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the VAT total in the VAT accounting currency (BT-111) and the one in the invoice currency (BT-110) do not have the same sign".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R040",
        terms: &["BT-92", "BT-93", "BT-94", "BT-99", "BT-100", "BT-101"],
        check: xrechnung_percentages,
    },
    Rule {
        id: "PEPPOL-EN16931-R041",
        terms: &["BT-93", "BT-94", "BT-100", "BT-101"],
        check: percent_without_base,
    },
    Rule {
        id: "PEPPOL-EN16931-R042",
        terms: &["BT-93", "BT-94", "BT-100", "BT-101"],
        check: base_without_percent,
    },
    Rule {
        id: "PEPPOL-EN16931-R043-1",
        terms: &["BG-20", "BG-21", "BG-27", "BG-28"],
        check: indicator_not_boolean,
    },
    Rule {
        id: "PEPPOL-EN16931-R043-2",
        terms: &["BT-147"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                let text = l.price_allowance_indicator.as_deref().map(normalize_space);
                l.price_allowance && !matches!(text.as_deref(), Some("true" | "false"))
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the price discount of invoice line {} has a ChargeIndicator other than true or false", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R044",
        terms: &["BG-29", "BT-147"],
        // `not(…/ram:ActualAmount) or …/udt:Indicator = 'false'`, the indicator as written.
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                l.price_discount.present()
                    && l.price_allowance_indicator.as_deref() != Some("false")
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the price allowance of invoice line {} has a ChargeIndicator other than false; a price can only have a discount", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R046",
        terms: &["BT-146", "BT-147", "BT-148"],
        // With a gross price: net price = gross price − price discount (0 without one), exactly.
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                if !l.gross_price.present() {
                    return false;
                }
                let discount = match l.price_discount {
                    Num::Absent => Some(Amount::ZERO),
                    d => d.value(),
                };
                let net = l
                    .gross_price
                    .value()
                    .zip(discount)
                    .and_then(|(g, d)| g.checked_sub(d));
                !matches!((net, l.price), (Some(net), Num::Value(p)) if net == p)
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the net price (BT-146) of invoice line {} is not its gross price (BT-148) minus its price discount (BT-147)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R101",
        terms: &["BG-25", "BT-128"],
        check: line_reference_not_object,
    },
    Rule {
        id: "PEPPOL-EN16931-R121",
        terms: &["BG-25", "BT-149"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                !above_zero(l.base_quantity) || !above_zero(l.gross_base_quantity)
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "a price base quantity (BT-149) of invoice line {} is not above zero",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R130",
        terms: &["BT-130", "BT-150"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                !same_unit(l, &l.base_quantity_unit) || !same_unit(l, &l.gross_base_quantity_unit)
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the unit of a price base quantity (BT-150) of invoice line {} is not the unit of its quantity (BT-130)", n + 1),
                ));
            }
        },
    },
];

/// R121: `not(ram:BasisQuantity) or xs:decimal(ram:BasisQuantity) > 0` (a value that is not a
/// decimal is not above zero).
fn above_zero(q: Num) -> bool {
    match q {
        Num::Absent => true,
        Num::Value(q) => q > Amount::ZERO,
        Num::Invalid | Num::TooLong => false,
    }
}

/// R130: a base quantity's `unitCode` (where it has one) is the billed quantity's.
fn same_unit(line: &LineData, unit: &Option<String>) -> bool {
    unit.is_none() || *unit == line.quantity_unit
}

/// CII's R110/R111: with an invoicing period start (end) date, each line period's start (end)
/// date is not before (after) it. The artefact compares the `DateTimeString`s as strings; a
/// date the model does not keep (not format 102) is not compared, so this never refuses where
/// the artefact would not.
fn cii_line_periods(i: &Input<'_>, end: bool, out: &mut Vec<Broken>) {
    let d = i.doc;
    fn pick(p: &super::super::model::PeriodData, end: bool) -> Option<&str> {
        if end {
            p.end.as_deref()
        } else {
            p.start.as_deref()
        }
    }
    let Some(bound) = d.periods.first().and_then(|p| pick(p, end)) else {
        return;
    };
    for p in &d.line_periods {
        let Some(date) = pick(p, end) else { continue };
        let within = if end { date <= bound } else { date >= bound };
        if !within {
            out.push(Broken::at(
                i.line(p.line),
                format!(
                    "the period of invoice line {} {} on {date}, outside the invoicing period ({bound})",
                    p.line + 1,
                    if end { "ends" } else { "starts" }
                ),
            ));
        }
    }
}

/// CII: the VAT totals (`TaxTotalAmount`) whose `currencyID` is `currency` (as written), as
/// numbers.
fn cii_totals_in<'a>(doc: &'a Doc, currency: Option<&'a str>) -> impl Iterator<Item = Amount> + 'a {
    doc.tax_totals
        .iter()
        .filter(move |t| currency.is_some() && t.currency.as_deref() == currency)
        .filter_map(|t| t.amount.value())
}
