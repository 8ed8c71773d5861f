//! XRechnung (KoSIT) rules, as tables: the seller contact (BR-DE-2, 5..7), the addresses, the
//! payment instructions, the VAT breakdown and the buyer reference (BR-DE-1, 3..11, 14, 15, 22,
//! 23-a, 24-a) and the Skonto syntax of the payment terms (BR-DE-18), with the UBL-only payment
//! means structure, SEPA mandate and VAT registration (BR-DE-16, 23-b, 24-b, 25-a, 25-b, 30, 31:
//! [`UBL_RULES`]; CII's own wording of the payment and direct debit ones: [`CII_RULES`]). The
//! warnings are in `xrechnung_warnings`, the extension's rules in `xrechnung_extension` and the
//! Clean Vehicles Directive's in `xrechnung_cvd`.
//!
//! Peppol's German rules (DE-R-*) are these rules for a German seller and buyer
//! (`peppol_national`).

use super::super::model::{AddressData, Doc, nonblank, normalize_space};
use super::table::{Broken, Input, Rule, each};

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
        id: "BR-DE-2",
        terms: &["BG-6"],
        check: |i, out| {
            if !i.doc.seller.contact {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "XRechnung requires the seller contact group (BG-6: UBL cac:AccountingSupplierParty/cac:Party/cac:Contact, CII SellerTradeParty/DefinedTradeContact); add the seller's contact",
                ));
            }
        },
    },
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
    Rule {
        id: "BR-DE-18",
        terms: &["BT-20"],
        check: |i, out| {
            if let Some(text) = i.doc.payment_terms_text.as_deref()
                && !skonto_ok(text)
            {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the payment terms (BT-20) have a line starting with # that is not #SKONTO#TAGE=n#PROZENT=n.nn#(BASISBETRAG=n.nn#), or the last such line does not end with a line break",
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
    Rule {
        id: "BR-DE-16",
        terms: &["BT-31", "BT-32", "BG-11"],
        // A category of VAT (S, Z, E, AE, K, G, L, M, as written) on a document level
        // allowance or charge (indicator `false`/`true` as written) or on a line needs the
        // seller's VAT or tax registration identifier, or a tax representative.
        check: |i, out| {
            let d = i.doc;
            let supported = |t: &super::super::model::TaxCategoryData| {
                t.code
                    .as_deref()
                    .is_some_and(|c| VAT_CATEGORIES.contains(&c))
            };
            let groups = d
                .allowance_charges
                .iter()
                .filter(|a| matches!(a.indicator.as_deref(), Some("true" | "false")))
                .flat_map(|a| &a.taxes);
            let lines = d.lines.iter().flat_map(|l| &l.taxes);
            let registered = d.tax_representative.present
                || d.seller
                    .tax_schemes
                    .iter()
                    .any(|(_, id)| id.as_deref().is_some_and(|id| !id.trim().is_empty()));
            if groups.chain(lines).any(supported) && !registered {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the invoice has VAT categories but the seller gives no VAT identifier (BT-31) or tax registration (BT-32) and there is no tax representative (BG-11)",
                ));
            }
        },
    },
];

/// A direct debit reference of CII: the mandate, the creditor identifier, or a debited
/// account (`$BT-89-path`, `$BT-90-path`, `$BT-91-path`).
fn cii_debit(doc: &Doc) -> (bool, bool, bool) {
    let dd = &doc.direct_debit;
    let account = doc.payment_means.iter().any(|p| p.payer_account);
    (dd.mandate, dd.creditor, account)
}

/// XRechnung's CII rules on the payment instructions and the direct debit.
/// The VAT categories BR-DE-16 asks a VAT identifier for, as written (UBL and CII).
const VAT_CATEGORIES: &[&str] = &["S", "Z", "E", "AE", "K", "G", "L", "M"];

pub(super) const CII_RULES: &[Rule] = &[
    Rule {
        id: "BR-TMP-3",
        terms: &["BT-149", "BT-150"],
        // With a base quantity on both prices, they are equal as written, and so are their
        // units where both have one (untyped values compare as strings).
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                let [net, gross] = &l.base_quantity_texts;
                let (Some(net), Some(gross)) = (net, gross) else {
                    return false;
                };
                let units = match (&l.base_quantity_unit, &l.gross_base_quantity_unit) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                };
                !(net == gross && units)
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the gross and net prices of invoice line {} have different base quantities (BT-149) or units (BT-150)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-16",
        terms: &["BT-31", "BT-32", "BG-11"],
        // Some line's `ApplicableTradeTax/TypeCode` is `VAT` and some line's `CategoryCode` is
        // S, Z, E, AE, K, G, L or M (two general comparisons, as written); then the seller has
        // a non-blank `SpecifiedTaxRegistration/ID` with schemeID VA or FC (normalized), or
        // there is a tax representative. (The artefact's third test, a document level
        // allowance whose whole `CategoryTradeTax` reads `VAT`, cannot hold together with its
        // category code; it is left out.)
        check: |i, out| {
            let d = i.doc;
            let taxes = || d.lines.iter().flat_map(|l| &l.taxes);
            let vat = taxes().any(|t| t.scheme.as_deref() == Some("VAT"));
            let category = taxes().any(|t| {
                t.code
                    .as_deref()
                    .is_some_and(|c| VAT_CATEGORIES.contains(&c))
            });
            let registered = d.tax_representative.present
                || d.seller
                    .vat_ids
                    .iter()
                    .any(|v| !normalize_space(v).is_empty())
                || d.seller.tax_registrations.iter().any(|t| {
                    matches!(
                        normalize_space(t.scheme.as_deref().unwrap_or("")).as_str(),
                        "VA" | "FC"
                    ) && !normalize_space(&t.value).is_empty()
                });
            if vat && category && !registered {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the invoice has VAT categories but the seller gives no VAT identifier (BT-31) or tax registration (BT-32) and there is no tax representative (BG-11)",
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-23-b",
        terms: &["BG-16", "BG-18", "BG-19"],
        check: |i, out| {
            let (m, c, _) = cii_debit(i.doc);
            for (n, _) in means_with(i.doc, &["30", "58"])
                .filter(|(_, p)| p.card_element || m || c || p.payer_account)
            {
                out.push(Broken::at(i.root().to_owned(), format!("payment instruction {} is a credit transfer with card (BG-18) or direct debit (BG-19) information", n + 1)));
            }
        },
    },
    Rule {
        id: "BR-DE-24-b",
        terms: &["BG-16", "BG-17", "BG-19"],
        check: |i, out| {
            let (m, c, _) = cii_debit(i.doc);
            for (n, _) in means_with(i.doc, &["48", "54", "55"])
                .filter(|(_, p)| p.account_element || m || c || p.payer_account)
            {
                out.push(Broken::at(i.root().to_owned(), format!("payment instruction {} is a card payment with credit transfer (BG-17) or direct debit (BG-19) information", n + 1)));
            }
        },
    },
    Rule {
        id: "BR-DE-25-a",
        terms: &["BG-16", "BG-19"],
        check: |i, out| {
            let (m, c, _) = cii_debit(i.doc);
            for (n, _) in means_with(i.doc, &["59"]).filter(|(_, p)| !(m || c || p.payer_account)) {
                out.push(Broken::at(i.root().to_owned(), format!("payment instruction {} is a direct debit without the mandate, creditor identifier or debited account (BG-19)", n + 1)));
            }
        },
    },
    Rule {
        id: "BR-DE-25-b",
        terms: &["BG-16", "BG-17", "BG-18"],
        check: |i, out| {
            for (n, _) in means_with(i.doc, &["59"])
                .filter(|(_, p)| p.account_element || p.institution || p.card_element)
            {
                out.push(Broken::at(i.root().to_owned(), format!("payment instruction {} is a direct debit with credit transfer (BG-17) or card (BG-18) information", n + 1)));
            }
        },
    },
    Rule {
        id: "BR-DE-30",
        terms: &["BG-19", "BT-90"],
        check: |i, out| {
            let (m, c, a) = cii_debit(i.doc);
            if (m || c || a) && !((m || a) && c) {
                out.push(Broken::at(i.root().to_owned(), "a direct debit needs the bank assigned creditor identifier (BT-90, CreditorReferenceID)"));
            }
        },
    },
    Rule {
        id: "BR-DE-31",
        terms: &["BG-19", "BT-91"],
        check: |i, out| {
            let (m, c, a) = cii_debit(i.doc);
            if (m || c || a) && !((m || c) && a) {
                out.push(Broken::at(i.root().to_owned(), "a direct debit needs the debited account identifier (BT-91, PayerPartyDebtorFinancialAccount/IBANID)"));
            }
        },
    },
];

/// The XRechnung rule `id` (of [`RULES`], [`UBL_RULES`] or the warnings), for Peppol's German
/// twins.
pub(super) fn rule(id: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .chain(UBL_RULES)
        .chain(super::xrechnung_warnings::RULES)
        .find(|r| r.id == id)
}

/// BR-DE-18: every line of the payment terms that starts with `#` (after normalize-space) is
/// `#SKONTO#TAGE=n#PROZENT=n.nn#` with an optional `BASISBETRAG=[-]n.nn#`, and (when there is
/// such a line) the text after the last `#…#` starts with white space holding a line break.
fn skonto_ok(text: &str) -> bool {
    let lines: Vec<String> = text
        .split('\n')
        .map(normalize_space)
        .filter(|l| l.starts_with('#'))
        .collect();
    if lines.is_empty() {
        return true;
    }
    lines.iter().all(|l| skonto_line(l)) && ends_with_break(text)
}

/// `^#SKONTO#TAGE=[0-9]+#PROZENT=[0-9]+\.[0-9]{2}(#BASISBETRAG=-?[0-9]+\.[0-9]{2})?#$`.
fn skonto_line(line: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let cents = |s: &str| {
        s.split_once('.')
            .is_some_and(|(a, b)| digits(a) && b.len() == 2 && digits(b))
    };
    let Some(rest) = line
        .strip_prefix("#SKONTO#TAGE=")
        .and_then(|r| r.strip_suffix('#'))
    else {
        return false;
    };
    let parts: Vec<&str> = rest.split('#').collect();
    let days_percent = |days: &str, percent: &str| {
        digits(days) && percent.strip_prefix("PROZENT=").is_some_and(cents)
    };
    match parts.as_slice() {
        [days, percent] => days_percent(days, percent),
        [days, percent, base] => {
            days_percent(days, percent)
                && base
                    .strip_prefix("BASISBETRAG=")
                    .map(|b| b.strip_prefix('-').unwrap_or(b))
                    .is_some_and(cents)
        }
        _ => false,
    }
}

/// `matches(tokenize(., '#.+#')[last()], '^\s*\n')`: the text after the last line holding two
/// `#` (after its last `#`), or the whole text, begins with white space that holds a line
/// break (`.` matches neither `\n` nor `\r`).
fn ends_with_break(text: &str) -> bool {
    let mut end = None;
    let mut start = 0;
    for segment in text.split(['\n', '\r']) {
        // A match is a `#`, at least one character, and a later `#` on the segment; greedy,
        // so the last one ends at the segment's last `#`.
        if let (Some(first), Some(last)) = (segment.find('#'), segment.rfind('#'))
            && last > first + 1
        {
            end = Some(start + last + 1);
        }
        start += segment.len() + 1;
    }
    let tail = end.map_or(text, |e| &text[e..]);
    let rest = tail.trim_start_matches([' ', '\t', '\r', '\n']);
    tail[..tail.len() - rest.len()].contains('\n')
}

#[cfg(test)]
mod tests {
    use super::skonto_ok;

    #[test]
    fn skonto_lines_follow_the_official_syntax() {
        assert!(skonto_ok("Zahlbar sofort ohne Abzug."));
        assert!(skonto_ok("#SKONTO#TAGE=7#PROZENT=2.00#\n"));
        assert!(skonto_ok(
            "#SKONTO#TAGE=7#PROZENT=2.00#BASISBETRAG=-12.50#\r\n"
        ));
        assert!(
            !skonto_ok("#SKONTO#TAGE=7#PROZENT=2.00#"),
            "no line break after it"
        );
        assert!(!skonto_ok("#SKONTO#TAGE=7#PROZENT=2#\n"));
        assert!(!skonto_ok("#SKONTO#TAGE=7#PROZENT=2.00\n"));
    }
}
