//! XRechnung (KoSIT) rules: BR-DE-2 as hand code, and a table of the rules over the seller
//! contact, the addresses, the payment instructions, the VAT breakdown and the buyer reference
//! (BR-DE-1, 3..11, 14, 15, 22, 23-a, 24-a), with the UBL-only payment means structure and SEPA
//! mandate (BR-DE-23-b, 24-b, 25-a, 25-b, 30, 31: [`UBL_RULES`]). The others (the Skonto syntax
//! BR-DE-18, the VAT category codes BR-DE-16, the CII payment means rules, the extension's
//! BR-DEX-* and the CVD rules) are not implemented yet.
//!
//! Peppol's German rules (DE-R-*) are these rules for a German seller and buyer
//! (`peppol_national`).

use super::super::model::{AddressData, Doc, nonblank};
use super::table::{Broken, Input, Rule, each};
use super::{Finding, fatal};

pub(super) fn check(doc: &Doc, out: &mut Vec<Finding>) {
    // BR-DE-2: The group SELLER CONTACT (BG-6) shall be transmitted.
    if !doc.seller.contact {
        out.push(fatal(
            "BR-DE-2",
            "XRechnung requires the seller contact group (BG-6: UBL cac:AccountingSupplierParty/cac:Party/cac:Contact, CII SellerTradeParty/DefinedTradeContact); add the seller's contact",
        ));
    }
}

/// Reports each address of `addresses` without a city (`city`) or postal code, as
/// `CityName[boolean(normalize-space(.))]` asks it of each address.
fn address_lacks(
    i: &Input<'_>,
    addresses: &[AddressData],
    city: bool,
    whose: &str,
    out: &mut Vec<Broken>,
) {
    for n in each(addresses, |a| {
        if city {
            !nonblank(&a.city)
        } else {
            !nonblank(&a.postal_zone)
        }
    }) {
        let what = if city {
            "city (CityName)"
        } else {
            "postal code"
        };
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the {whose} address {} has no {what}; XRechnung requires it",
                n + 1
            ),
        ));
    }
}

/// Reports a seller contact without `what` (BR-DE-5..7, asked of the contact group).
fn contact_lacks(i: &Input<'_>, given: bool, what: &str, out: &mut Vec<Broken>) {
    if i.doc.seller.contact && !given {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("the seller contact (BG-6) has no {what}; XRechnung requires it"),
        ));
    }
}

/// The payment instructions whose type code (normalize-spaced) is one of `codes`.
fn means_with<'a>(
    doc: &'a Doc,
    codes: &'a [&'a str],
) -> impl Iterator<Item = (usize, &'a super::super::model::PaymentMeansData)> + 'a {
    doc.payment_means.iter().enumerate().filter(move |(_, p)| {
        p.code
            .as_deref()
            .map(super::super::model::normalize_space)
            .is_some_and(|c| codes.contains(&c.as_str()))
    })
}

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "BR-DE-1",
        terms: &["BG-16"],
        check: |i, out| {
            if i.doc.payment_means.is_empty() {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "XRechnung requires payment instructions (BG-16)",
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-3",
        terms: &["BG-5", "BT-37"],
        check: |i, out| address_lacks(i, &i.doc.seller.addresses, true, "seller", out),
    },
    Rule {
        id: "BR-DE-4",
        terms: &["BG-5", "BT-38"],
        check: |i, out| address_lacks(i, &i.doc.seller.addresses, false, "seller", out),
    },
    Rule {
        id: "BR-DE-5",
        terms: &["BG-6", "BT-41"],
        check: |i, out| contact_lacks(i, i.doc.seller.contact_name, "name (BT-41)", out),
    },
    Rule {
        id: "BR-DE-6",
        terms: &["BG-6", "BT-42"],
        check: |i, out| {
            contact_lacks(
                i,
                i.doc.seller.contact_phone,
                "telephone number (BT-42)",
                out,
            )
        },
    },
    Rule {
        id: "BR-DE-7",
        terms: &["BG-6", "BT-43"],
        check: |i, out| contact_lacks(i, i.doc.seller.contact_email, "e-mail address (BT-43)", out),
    },
    Rule {
        id: "BR-DE-8",
        terms: &["BG-8", "BT-52"],
        check: |i, out| address_lacks(i, &i.doc.buyer.addresses, true, "buyer", out),
    },
    Rule {
        id: "BR-DE-9",
        terms: &["BG-8", "BT-53"],
        check: |i, out| address_lacks(i, &i.doc.buyer.addresses, false, "buyer", out),
    },
    Rule {
        id: "BR-DE-10",
        terms: &["BG-15", "BT-77"],
        check: |i, out| address_lacks(i, &i.doc.delivery_addresses, true, "deliver to", out),
    },
    Rule {
        id: "BR-DE-11",
        terms: &["BG-15", "BT-78"],
        check: |i, out| address_lacks(i, &i.doc.delivery_addresses, false, "deliver to", out),
    },
    Rule {
        id: "BR-DE-14",
        // `Percent[boolean(normalize-space(.))]`: a rate that is there but not a number is a
        // schema finding already and not reported again here.
        terms: &["BG-23", "BT-119"],
        check: |i, out| {
            for n in each(&i.doc.vat_breakdown, |b| !b.category.percent.present()) {
                out.push(Broken::at(
                    i.breakdown(n),
                    format!(
                        "VAT breakdown {} has no VAT rate (BT-119); XRechnung requires it",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-15",
        terms: &["BT-10"],
        check: |i, out| {
            if !nonblank(&i.doc.buyer_reference) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "XRechnung requires the buyer reference (BT-10, the Leitweg-ID)",
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-22",
        terms: &["BG-24", "BT-125"],
        check: |i, out| {
            let names: Vec<&str> = i
                .doc
                .attachments
                .iter()
                .filter_map(|a| a.filename.as_deref())
                .collect();
            let repeated = names
                .iter()
                .enumerate()
                .find(|(n, name)| names[..*n].contains(name));
            if let Some((_, name)) = repeated {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("two attached documents have the file name {name:?}; XRechnung requires distinct names"),
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-23-a",
        terms: &["BG-16", "BG-17"],
        check: |i, out| {
            for (n, _) in means_with(i.doc, &["30", "58"]).filter(|(_, p)| !p.account_element) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "payment instruction {} is a credit transfer without the account (BG-17)",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-24-a",
        terms: &["BG-16", "BG-18"],
        check: |i, out| {
            for (n, _) in means_with(i.doc, &["48", "54", "55"]).filter(|(_, p)| !p.card_element) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("payment instruction {} is a card payment without the card information (BG-18)", n + 1),
                ));
            }
        },
    },
];

/// Reports each payment instruction with one of `codes` for which `wrong` holds.
fn means_breaking(
    i: &Input<'_>,
    codes: &[&str],
    wrong: fn(&super::super::model::PaymentMeansData) -> bool,
    what: &str,
    out: &mut Vec<Broken>,
) {
    for (n, _) in means_with(i.doc, codes).filter(|(_, p)| wrong(p)) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("payment instruction {} {what}", n + 1),
        ));
    }
}

/// A SEPA direct debit mandate (`PaymentMeans/PaymentMandate`) exists.
fn has_mandate(doc: &Doc) -> bool {
    doc.payment_means.iter().any(|p| p.mandate_element)
}

/// XRechnung's UBL rules on the structure of the payment instructions.
pub(super) const UBL_RULES: &[Rule] = &[
    Rule {
        id: "BR-DE-23-b",
        terms: &["BG-16", "BG-18", "BG-19"],
        check: |i, out| {
            means_breaking(
                i,
                &["30", "58"],
                |p| p.card_element || p.mandate_element,
                "is a credit transfer with card (BG-18) or direct debit (BG-19) information",
                out,
            )
        },
    },
    Rule {
        id: "BR-DE-24-b",
        terms: &["BG-16", "BG-17", "BG-19"],
        check: |i, out| {
            means_breaking(
                i,
                &["48", "54", "55"],
                |p| p.account_element || p.mandate_element,
                "is a card payment with credit transfer (BG-17) or direct debit (BG-19) information",
                out,
            )
        },
    },
    Rule {
        id: "BR-DE-25-a",
        terms: &["BG-16", "BG-19"],
        check: |i, out| {
            means_breaking(
                i,
                &["59"],
                |p| !p.mandate_element,
                "is a direct debit without the mandate (BG-19)",
                out,
            )
        },
    },
    Rule {
        id: "BR-DE-25-b",
        terms: &["BG-16", "BG-17", "BG-18"],
        check: |i, out| {
            means_breaking(
                i,
                &["59"],
                |p| p.account_element || p.card_element,
                "is a direct debit with credit transfer (BG-17) or card (BG-18) information",
                out,
            )
        },
    },
    Rule {
        id: "BR-DE-30",
        terms: &["BG-19", "BT-90"],
        // The creditor identifier is a seller or payee party identifier with scheme `SEPA`.
        check: |i, out| {
            let d = i.doc;
            let sepa = [&d.seller, &d.payee].into_iter().any(|p| {
                p.identifiers
                    .iter()
                    .any(|id| id.scheme.as_deref() == Some("SEPA"))
            });
            if has_mandate(d) && !sepa {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a direct debit needs the bank assigned creditor identifier (BT-90: a seller or payee identifier with schemeID SEPA)",
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-31",
        terms: &["BG-19", "BT-91"],
        check: |i, out| {
            let d = i.doc;
            if has_mandate(d) && !d.payment_means.iter().any(|p| p.payer_account) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a direct debit needs the debited account identifier (BT-91, PaymentMandate/PayerFinancialAccount/ID)",
                ));
            }
        },
    },
];

/// The XRechnung rule `id` (of [`RULES`] or [`UBL_RULES`]), for Peppol's German twins.
pub(super) fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().chain(UBL_RULES).find(|r| r.id == id)
}
