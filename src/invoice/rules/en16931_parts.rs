//! EN 16931 core rules over the invoice's optional parts, as a table (see [`super::table`]):
//! the payee (BR-17), the invoicing periods (BR-29, BR-30, BR-CO-19, BR-CO-20, BR-CO-03), the
//! payment instructions (BR-49..51, BR-61), the references (BR-52, BR-55), the delivery
//! (BR-57), the electronic addresses (BR-62, BR-63) and the item details (BR-28, BR-54,
//! BR-64, BR-65). A rule whose context element is absent does not fire.
//!
//! Each follows its syntax's XPath where the two differ: UBL compares period dates as
//! `xs:date`s, CII compares the text of `DateTimeString[@format = '102']` (so a period whose
//! dates are written in another format breaks BR-29); UBL's BR-CO-19 also accepts a period with
//! only a description code; UBL asks `exists(@schemeID)`, CII `normalize-space(@schemeID) != ''`.

use super::super::amount::Amount;
use super::super::model::{AddressData, Doc, Num, PartyData, PeriodData, nonblank};
use super::table::{Broken, Input, Loc, Rule, each};

/// The location of document level period `n`.
fn period_at(i: &Input<'_>, n: usize) -> Loc {
    let path = i.below(
        &format!("cac:InvoicePeriod[{}]", n + 1),
        &format!(
            "ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod[{}]",
            n + 1
        ),
    );
    Loc {
        path,
        offset: i.doc.periods.get(n).map(|p| p.offset),
    }
}

/// The location of the period of a line.
fn line_period_at(i: &Input<'_>, p: &PeriodData) -> Loc {
    let line = i.line(p.line);
    let element = if i.cii {
        "ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod"
    } else {
        "cac:InvoicePeriod"
    };
    Loc {
        path: format!("{}/{element}", line.path),
        offset: Some(p.offset),
    }
}

/// The location of payment instruction `n`.
fn payment_means_at(i: &Input<'_>, n: usize) -> Loc {
    let path = i.below(
        &format!("cac:PaymentMeans[{}]", n + 1),
        &format!(
            "ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeSettlementPaymentMeans[{}]",
            n + 1
        ),
    );
    Loc {
        path,
        offset: i.doc.payment_means.get(n).map(|p| p.offset),
    }
}

/// `xs:date` from text (`[-]YYYY-MM-DD`, an optional time zone ignored), as a comparable
/// tuple; `None` when it is not a date (the official XSLT then stops with a type error).
pub(super) fn xs_date(text: &str) -> Option<(i64, u32, u32)> {
    let t = text.trim_matches([' ', '\t', '\n', '\r']);
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let mut parts = t.splitn(3, '-');
    let year = parts.next()?;
    let month = parts.next()?;
    let rest = parts.next()?;
    let day = rest.get(..2)?;
    let zone = &rest[2..];
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && zone.as_bytes()[3] == b':');
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if year.len() < 4 || month.len() != 2 || !digits(year) || !digits(month) || !digits(day) {
        return None;
    }
    let (y, m, d) = (
        year.parse::<i64>().ok()?,
        month.parse::<u32>().ok()?,
        day.parse::<u32>().ok()?,
    );
    // The day exists in its month (xs:date refuses 2023-02-29 and 2023-04-31).
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !zone_ok || !(1..=12).contains(&m) || !(1..=days).contains(&d) {
        return None;
    }
    Some((if negative { -y } else { y }, m, d))
}

/// BR-29/BR-30: a period with both dates ends on or after its start. UBL compares them as
/// `xs:date`s; CII compares the text of the format 102 strings, and a period whose start and
/// end exist without one fails.
fn period_backwards(p: &PeriodData, cii: bool) -> Option<String> {
    if !(p.has_start && p.has_end) {
        return None;
    }
    let (start, end) = (p.start.as_deref(), p.end.as_deref());
    if cii {
        match (start, end) {
            (Some(s), Some(e)) if e >= s => None,
            (Some(s), Some(e)) => Some(format!("ends on {e}, before it starts on {s}")),
            _ => Some(
                "has a start and an end date, but not both as DateTimeString with format 102"
                    .into(),
            ),
        }
    } else {
        match (start.and_then(xs_date), end.and_then(xs_date)) {
            (Some(s), Some(e)) if e >= s => None,
            (Some(_), Some(_)) => Some(format!(
                "ends on {}, before it starts on {}",
                end.unwrap_or_default().trim(),
                start.unwrap_or_default().trim()
            )),
            _ => Some("has a start or end date that is not a date (YYYY-MM-DD)".into()),
        }
    }
}

/// `normalize-space(x) != ''` of an attribute value.
fn blank(s: Option<&str>) -> bool {
    s.is_none_or(|s| s.trim_matches([' ', '\t', '\n', '\r']).is_empty())
}

/// BR-62/BR-63: the electronic address has a scheme. UBL (context `EndpointID`):
/// `exists(@schemeID)`; CII (the invoice): the first `URIUniversalCommunication/URIID` has a
/// non-blank `schemeID`, or there is no such group.
fn endpoint_unschemed(party: &PartyData, cii: bool) -> bool {
    if !party.endpoint_element {
        return false;
    }
    let scheme = party.endpoint.as_ref().and_then(|e| e.scheme.as_deref());
    if cii {
        blank(scheme)
    } else {
        party.endpoint.is_some() && scheme.is_none()
    }
}

/// BR-17: a payee other than the seller has a name, differs from the seller by name and by
/// identifier (CII: also by legal registration identifier).
fn payee_problem(doc: &Doc, cii: bool) -> Option<&'static str> {
    let (payee, seller) = (&doc.payee, &doc.seller);
    if !payee.present {
        return None;
    }
    let Some(name) = payee.trading_name.as_deref() else {
        return Some("the payee (BG-10) has no name (BT-59)");
    };
    let seller_name = if cii {
        seller.registration_name.as_deref()
    } else {
        seller.trading_name.as_deref()
    };
    if seller_name == Some(name) {
        return Some(
            "the payee (BG-10) has the seller's name; leave the payee out when the seller is paid",
        );
    }
    let shared = |a: &[String], b: &[String]| a.iter().any(|x| b.contains(x));
    if shared(&payee.local_ids, &seller.local_ids) {
        return Some(
            "the payee (BG-10) has the seller's identifier; leave the payee out when the seller is paid",
        );
    }
    let legal = |p: &PartyData| {
        p.legal_ids
            .iter()
            .map(|l| l.value.clone())
            .collect::<Vec<_>>()
    };
    if cii && shared(&legal(payee), &legal(seller)) {
        return Some(
            "the payee (BG-10) has the seller's legal registration identifier; leave the payee out when the seller is paid",
        );
    }
    None
}

fn country_blank(a: &AddressData) -> bool {
    !nonblank(&a.country)
}

/// XPath's `. = round(. * 100) div 100` on an amount as a double (CII's BR-DEC-13/15): `None`
/// when it is not a number (the official XSLT stops with a type error there).
fn whole_cents(n: Num) -> Option<bool> {
    let v: f64 = n.value()?.to_string().parse().ok()?;
    Some(((v * 100.0) + 0.5).floor() / 100.0 == v)
}

/// CII's BR-DEC-13 and BR-DEC-15: among the VAT totals (`TaxTotalAmount`) one passes, and one
/// passes when it is in `currency` with whole cents, or (BR-DEC-13 only, `other_passes`) when
/// it is in another currency. UBL's versions compare the `currencyID` with a child of the
/// amount that cannot exist, so they never fire there.
fn tax_total_cents(i: &Input<'_>, currency: Option<&str>, other_passes: bool) -> Option<String> {
    let doc = i.doc;
    if !i.cii || doc.totals.is_none() || doc.tax_totals.is_empty() {
        return None;
    }
    let passes = doc.tax_totals.iter().any(|t| {
        let same = currency.is_some() && t.currency.as_deref() == currency;
        (same && whole_cents(t.amount) == Some(true)) || (other_passes && !same)
    });
    (!passes).then(|| {
        let shown: Vec<String> = doc
            .tax_totals
            .iter()
            .map(|t| {
                format!(
                    "{} {}",
                    t.amount
                        .value()
                        .map_or_else(|| "(not a number)".into(), |a| a.to_string()),
                    t.currency.as_deref().unwrap_or("")
                )
            })
            .collect();
        format!(
            "the invoice total VAT amount in {} ({}) has more than two decimals; round it to cents",
            currency.unwrap_or("the currency"),
            shown.join(", ")
        )
    })
}

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "BR-53",
        // UBL: every VAT accounting currency has a TaxTotal/TaxAmount in it, anywhere. CII: a
        // TaxTotalAmount in it, and it is not the invoice currency.
        terms: &["BT-6", "BT-111"],
        check: |i, out| {
            let doc = i.doc;
            let Some(tax_currency) = doc.tax_currency.as_deref() else {
                return;
            };
            let in_it = doc
                .tax_totals
                .iter()
                .any(|t| t.currency.as_deref() == Some(tax_currency));
            let ok = if i.cii {
                doc.totals.is_none() || (in_it && doc.currency.as_deref() != Some(tax_currency))
            } else {
                in_it || doc.nested_tax_currencies.iter().any(|c| c == tax_currency)
            };
            if !ok {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "the invoice names a VAT accounting currency (BT-6) {tax_currency} but has no total VAT amount in it (BT-111){}",
                        if i.cii { ", or it is the invoice currency" } else { "" }
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-DEC-13",
        terms: &["BT-110"],
        check: |i, out| {
            if let Some(detail) = tax_total_cents(i, i.doc.currency.as_deref(), true) {
                out.push(Broken::at(i.root().to_owned(), detail));
            }
        },
    },
    Rule {
        id: "BR-DEC-15",
        terms: &["BT-111"],
        check: |i, out| {
            let Some(currency) = i.doc.tax_currency.as_deref() else {
                return;
            };
            if let Some(detail) = tax_total_cents(i, Some(currency), false) {
                out.push(Broken::at(i.root().to_owned(), detail));
            }
        },
    },
    Rule {
        id: "BR-17",
        terms: &["BG-10", "BT-59"],
        check: |i, out| {
            if let Some(detail) = payee_problem(i.doc, i.cii) {
                let path = i.below(
                    "cac:PayeeParty",
                    "ram:ApplicableHeaderTradeSettlement/ram:PayeeTradeParty",
                );
                out.push(Broken::at(path, detail));
            }
        },
    },
    Rule {
        id: "BR-28",
        terms: &["BG-29", "BT-148"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| match l.gross_price {
                Num::Absent => false,
                Num::Value(p) => p < Amount::ZERO,
                Num::Invalid | Num::TooLong => true,
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "the item gross price (BT-148) of invoice line {} is negative or not a number; it must be zero or more",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-29",
        terms: &["BG-14", "BT-73", "BT-74"],
        check: |i, out| {
            for (n, p) in i.doc.periods.iter().enumerate() {
                if let Some(why) = period_backwards(p, i.cii) {
                    out.push(Broken::at(
                        period_at(i, n),
                        format!("the invoicing period (BG-14) {why}"),
                    ));
                }
            }
        },
    },
    Rule {
        id: "BR-30",
        terms: &["BG-26", "BT-134", "BT-135"],
        check: |i, out| {
            for p in &i.doc.line_periods {
                if let Some(why) = period_backwards(p, i.cii) {
                    out.push(Broken::at(
                        line_period_at(i, p),
                        format!("the period of invoice line {} (BG-26) {why}", p.line + 1),
                    ));
                }
            }
        },
    },
    Rule {
        id: "BR-CO-19",
        // UBL also accepts a period with only a description code (BT-8).
        terms: &["BG-14", "BT-73", "BT-74"],
        check: |i, out| {
            for (n, p) in i.doc.periods.iter().enumerate() {
                if !p.has_start && !p.has_end && (i.cii || !p.description_code) {
                    out.push(Broken::at(
                        period_at(i, n),
                        "the invoicing period (BG-14) has neither a start date (BT-73) nor an end date (BT-74)",
                    ));
                }
            }
        },
    },
    Rule {
        id: "BR-CO-20",
        terms: &["BG-26", "BT-134", "BT-135"],
        check: |i, out| {
            for p in i
                .doc
                .line_periods
                .iter()
                .filter(|p| !p.has_start && !p.has_end)
            {
                out.push(Broken::at(
                    line_period_at(i, p),
                    format!(
                        "the period of invoice line {} (BG-26) has neither a start date (BT-134) nor an end date (BT-135)",
                        p.line + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-CO-03",
        // UBL: the tax point date with the invoicing period's description code; CII: with a
        // DueDateTypeCode, asked of each VAT breakdown.
        terms: &["BT-7", "BT-8"],
        check: |i, out| {
            let doc = i.doc;
            let both = if i.cii {
                doc.tax_point_date && doc.due_date_type_code && !doc.vat_breakdown.is_empty()
            } else {
                doc.tax_point_date && doc.periods.first().is_some_and(|p| p.description_code)
            };
            if both {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the invoice has both a VAT point date (BT-7) and a VAT point date code (BT-8); give only one",
                ));
            }
        },
    },
    Rule {
        id: "BR-49",
        terms: &["BG-16", "BT-81"],
        check: |i, out| {
            for n in each(&i.doc.payment_means, |p| p.code.is_none()) {
                out.push(Broken::at(
                    payment_means_at(i, n),
                    format!(
                        "payment instruction {} has no payment means type code (BT-81)",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-50",
        // Context: the account of a credit transfer (code 30 or 58 as written).
        terms: &["BG-17", "BT-84"],
        check: |i, out| {
            let cii = i.cii;
            for n in each(&i.doc.payment_means, |p| {
                let transfer = matches!(p.code.as_deref(), Some("30" | "58"));
                let given = if cii {
                    p.accounts.iter().any(|a| !a.trim().is_empty())
                } else {
                    p.accounts.first().is_some_and(|a| !a.trim().is_empty())
                };
                transfer && p.account_element && !given
            }) {
                out.push(Broken::at(
                    payment_means_at(i, n),
                    format!(
                        "the credit transfer account of payment instruction {} has no account identifier (BT-84, the IBAN)",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-61",
        // UBL: asked of each payment instruction with code 30 or 58 (trimmed); CII: of each
        // account group of one with code 30 or 58 as written.
        terms: &["BG-16", "BT-81", "BT-84"],
        check: |i, out| {
            let cii = i.cii;
            for n in each(&i.doc.payment_means, |p| {
                let missing = p.accounts.is_empty();
                if cii {
                    matches!(p.code.as_deref(), Some("30" | "58")) && p.account_element && missing
                } else {
                    matches!(p.code.as_deref().map(str::trim), Some("30" | "58")) && missing
                }
            }) {
                out.push(Broken::at(
                    payment_means_at(i, n),
                    format!(
                        "payment instruction {} is a credit transfer (code 30 or 58) without the account to pay to (BT-84)",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-51",
        terms: &["BG-18", "BT-87"],
        check: |i, out| {
            for (n, p) in i.doc.payment_means.iter().enumerate() {
                let long = p.card_numbers.iter().any(|c| {
                    let digits: String = c.split_whitespace().collect::<Vec<_>>().join(" ");
                    digits.chars().count() > 10
                });
                if long {
                    out.push(Broken::at(
                        payment_means_at(i, n),
                        format!(
                            "the payment card number (BT-87) of payment instruction {} is longer than 10 characters; give only its last 4 to 6 digits",
                            n + 1
                        ),
                    ));
                }
            }
        },
    },
    Rule {
        id: "BR-52",
        terms: &["BG-24", "BT-122"],
        check: |i, out| {
            for n in each(&i.doc.attachments, |a| !nonblank(&a.id)) {
                let path = i.below(
                    &format!("cac:AdditionalDocumentReference[{}]", n + 1),
                    &format!(
                        "ram:ApplicableHeaderTradeAgreement/ram:AdditionalReferencedDocument[{}]",
                        n + 1
                    ),
                );
                out.push(Broken::at(
                    path,
                    format!(
                        "additional supporting document {} has no reference (BT-122)",
                        n + 1
                    ),
                ));
            }
            // CII asks every `ram:AdditionalReferencedDocument`, a line's too.
            for n in each(&i.doc.lines, |l| l.reference_without_id) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "a document referenced by invoice line {} has no reference (IssuerAssignedID)",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-55",
        terms: &["BG-3", "BT-25"],
        check: |i, out| {
            for n in each(&i.doc.billing_references, |has_id| !has_id) {
                let path = i.below(
                    &format!("cac:BillingReference[{}]", n + 1),
                    &format!(
                        "ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument[{}]",
                        n + 1
                    ),
                );
                out.push(Broken::at(
                    path,
                    format!(
                        "preceding invoice reference {} has no preceding invoice number (BT-25)",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-57",
        // UBL: each address has a country code element; CII: the first one is not blank.
        terms: &["BG-15", "BT-80"],
        check: |i, out| {
            let addresses = &i.doc.delivery_addresses;
            let missing = if i.cii {
                addresses.first().is_some_and(country_blank)
            } else {
                addresses.iter().any(|a| a.country.is_none())
            };
            if missing {
                let path = i.below(
                    "cac:Delivery/cac:DeliveryLocation/cac:Address",
                    "ram:ApplicableHeaderTradeDelivery/ram:ShipToTradeParty/ram:PostalTradeAddress",
                );
                out.push(Broken::at(
                    path,
                    "the deliver to address (BG-15) has no country code (BT-80)",
                ));
            }
        },
    },
    Rule {
        id: "BR-62",
        terms: &["BT-34"],
        check: |i, out| {
            if endpoint_unschemed(&i.doc.seller, i.cii) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the seller's electronic address (BT-34) has no scheme identifier (schemeID, e.g. 0106 for a KvK number)",
                ));
            }
        },
    },
    Rule {
        id: "BR-63",
        terms: &["BT-49"],
        check: |i, out| {
            if endpoint_unschemed(&i.doc.buyer, i.cii) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the buyer's electronic address (BT-49) has no scheme identifier (schemeID, e.g. 0106 for a KvK number)",
                ));
            }
        },
    },
    Rule {
        id: "BR-54",
        terms: &["BG-32", "BT-160", "BT-161"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| l.property_incomplete) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "an item attribute (BG-32) of invoice line {} lacks its name (BT-160) or value (BT-161)",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-64",
        terms: &["BT-157"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| l.standard_id_without_scheme) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "the item standard identifier (BT-157) of invoice line {} has no scheme identifier (schemeID, e.g. 0160 for a GTIN)",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-65",
        terms: &["BT-158"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| l.classification_without_list) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "the item classification (BT-158) of invoice line {} has no list identifier (listID)",
                        n + 1
                    ),
                ));
            }
        },
    },
];

#[cfg(test)]
mod tests {
    use super::xs_date;

    #[test]
    fn dates_compare_as_xs_date() {
        assert!(xs_date("2024-01-31").unwrap() < xs_date("2024-02-01").unwrap());
        assert_eq!(xs_date(" 2024-01-31Z "), xs_date("2024-01-31+01:00"));
        assert!(xs_date("2024-1-31").is_none());
        assert!(xs_date("20240131").is_none());
        assert!(xs_date("2024-13-01").is_none());
        assert!(xs_date("2023-02-29").is_none() && xs_date("2024-02-29").is_some());
        assert!(xs_date("2024-04-31").is_none());
        assert!(xs_date("2024-01-31T10:00").is_none());
    }
}
