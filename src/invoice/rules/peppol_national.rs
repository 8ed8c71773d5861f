//! The national rules Peppol BIS Billing 3.0's artefact carries, as tables: the Netherlands
//! (NL-R-001..NL-R-009), Norway (NO-R-001), Sweden (SE-R-001..006, 013), Italy
//! (IT-R-001..004), Iceland (IS-R-002..010) and Germany ([`GERMAN`]: DE-R-*, XRechnung's
//! rules for a German seller and buyer); Denmark's are in `peppol_danish` and Greece's in
//! `peppol_greek`. Each applies by the country the artefact reads:
//! `$supplierCountryIsNL` and the like are the upper-cased, normalized country code of the
//! party's postal address; Norway's `$supplierCountry` prefers the VAT identifier's prefix.
//!
//! The Dutch rules restate BR-NL-1..BR-NL-10 of SI-UBL 2.0 for Peppol documents, with their
//! own contexts: NL-R-003 and NL-R-005 ask each legal identifier for its scheme, where BR-NL-1
//! asks the party for one.

use super::super::amount::Amount;
use super::super::model::{AddressData, Doc, Ident, PartyData, normalize_space};
use super::nl::{complete, has_scheme};
use super::peppol_bis3::mod11;
use super::table::{Broken, Input, Rule, each};
use super::xrechnung;

/// `upper-case(normalize-space(<party>/cac:PostalAddress/cac:Country/cbc:IdentificationCode))
/// = code` (the first address: the artefact's `normalize-space` takes one).
pub(super) fn in_country(party: &PartyData, code: &str) -> bool {
    party
        .addresses
        .first()
        .and_then(|a| a.country.as_deref())
        .is_some_and(|c| normalize_space(c).to_uppercase() == code)
}

fn supplier_nl(doc: &Doc) -> bool {
    in_country(&doc.seller, "NL")
}

fn both_nl(doc: &Doc) -> bool {
    supplier_nl(doc) && in_country(&doc.buyer, "NL")
}

/// NL-R-002/004/006: each postal address of `party` has street, city and postal code.
fn addresses(i: &Input<'_>, addresses: &[AddressData], whose: &str, out: &mut Vec<Broken>) {
    for n in each(addresses, |a| !complete(a)) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the {whose} address {} lacks a street (BT-35), city (BT-37) or postal code (BT-38)",
                n + 1
            ),
        ));
    }
}

/// NL-R-003/005: each legal identifier has scheme 0106 (KvK) or 0190 (OIN) and a value.
fn legal_ids(i: &Input<'_>, ids: &[Ident], whose: &str, out: &mut Vec<Broken>) {
    for id in ids {
        let kvk_or_oin = has_scheme(std::slice::from_ref(id)) && !id.value.trim().is_empty();
        if !kvk_or_oin {
            out.push(Broken::at(
                i.root().to_owned(),
                format!(
                    "the {whose}'s legal registration identifier {:?} (scheme {:?}) is not a KvK (0106) or OIN (0190) number",
                    id.value.chars().take(40).collect::<String>(),
                    id.scheme.as_deref().unwrap_or("")
                ),
            ));
        }
    }
}

/// `u:mod11` of the artefact, the nine digits of a Norwegian organisation number.
fn norwegian_vat(id: &str) -> bool {
    // `substring(CompanyID, 1, 2) = 'NO'` was tested by the caller.
    let rest: String = id.chars().skip(2).collect();
    let digits: String = rest.chars().take(9).collect();
    rest.len() == 12
        && rest.ends_with("MVA")
        && digits.bytes().all(|b| b.is_ascii_digit())
        && mod11(&digits)
}

/// `$supplierCountry`: the seller's VAT identifier prefix (of a `PartyTaxScheme` whose
/// `TaxScheme/ID` is `VAT` as written), else the tax representative's, else the seller's
/// address country, upper-cased and normalized.
pub(super) fn supplier_country(doc: &Doc) -> Option<String> {
    vat_prefix(&doc.seller)
        .or_else(|| vat_prefix(&doc.tax_representative))
        .or_else(|| doc.seller.addresses.first().and_then(|a| a.country.clone()))
        .map(|c| normalize_space(&c).to_uppercase())
}

/// The first two characters of the party's first VAT identifier, as written
/// (`if (…/substring(cbc:CompanyID, 1, 2))`: an empty prefix counts as none).
pub(super) fn vat_prefix(p: &PartyData) -> Option<String> {
    vat_company_ids(p)
        .next()
        .map(|v| v.chars().take(2).collect::<String>())
        .filter(|v| !v.is_empty())
}

/// `cac:PartyTaxScheme[cac:TaxScheme/cbc:ID = 'VAT']/cbc:CompanyID`, as written.
pub(super) fn vat_company_ids(p: &PartyData) -> impl Iterator<Item = &str> {
    p.tax_schemes
        .iter()
        .filter(|(scheme, _)| scheme.as_deref() == Some("VAT"))
        .filter_map(|(_, id)| id.as_deref())
}

/// The Swedish rules' seller: an address in `SE` (as written) and a VAT identifier starting
/// with `SE`.
fn swedish_vat_seller(doc: &Doc) -> bool {
    doc.seller.present
        && doc
            .seller
            .addresses
            .iter()
            .any(|a| a.country.as_deref() == Some("SE"))
        && vat_company_ids(&doc.seller).any(|v| v.starts_with("SE"))
}

/// `string(number(x)) != 'NaN'`: `x`, trimmed, is an `xs:double` (`INF` included).
pub(super) fn is_number(x: &str) -> bool {
    let t = x.trim_matches([' ', '\t', '\n', '\r']);
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    if t == "INF" {
        return true;
    }
    let (mantissa, exponent) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (digits(a) || a.is_empty())
                && (digits(b) || b.is_empty())
                && !(a.is_empty() && b.is_empty())
        }
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// Reports a seller identifier for the Swedish rules.
fn swedish(i: &Input<'_>, what: String, out: &mut Vec<Broken>) {
    out.push(Broken::at(i.root().to_owned(), what));
}

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "NL-R-001",
        terms: &["BT-3", "BT-25"],
        check: |i, out| {
            let d = i.doc;
            if d.credit_note_root && d.type_code.is_some() && supplier_nl(d) && !d.preceding_invoice
            {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a credit note from a supplier in the Netherlands must reference the invoice it credits (BT-25)".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "NL-R-002",
        terms: &["BG-5"],
        check: |i, out| {
            if supplier_nl(i.doc) {
                addresses(i, &i.doc.seller.addresses, "supplier", out);
            }
        },
    },
    Rule {
        id: "NL-R-003",
        terms: &["BT-30"],
        check: |i, out| {
            if supplier_nl(i.doc) {
                legal_ids(i, &i.doc.seller.legal_ids, "supplier", out);
            }
        },
    },
    Rule {
        id: "NL-R-004",
        terms: &["BG-8"],
        check: |i, out| {
            if both_nl(i.doc) {
                addresses(i, &i.doc.buyer.addresses, "customer", out);
            }
        },
    },
    Rule {
        id: "NL-R-005",
        terms: &["BT-47"],
        check: |i, out| {
            if both_nl(i.doc) {
                legal_ids(i, &i.doc.buyer.legal_ids, "customer", out);
            }
        },
    },
    Rule {
        id: "NL-R-006",
        terms: &["BG-12"],
        check: |i, out| {
            let d = i.doc;
            if supplier_nl(d) && in_country(&d.tax_representative, "NL") {
                addresses(
                    i,
                    &d.tax_representative.addresses,
                    "tax representative",
                    out,
                );
            }
        },
    },
    Rule {
        id: "NL-R-007",
        terms: &["BT-115", "BG-16"],
        check: |i, out| {
            let d = i.doc;
            let Some(totals) = d.totals.as_ref() else {
                return;
            };
            if !supplier_nl(d) || !d.payment_means.is_empty() {
                return;
            }
            let nothing_due = totals.payable.value().is_some_and(|p| {
                if d.credit_note_root {
                    p >= Amount::ZERO
                } else {
                    p <= Amount::ZERO
                }
            });
            if !nothing_due {
                out.push(Broken::at(
                    i.below("cac:LegalMonetaryTotal", ""),
                    "a supplier in the Netherlands must say how to pay (BG-16, PaymentMeans) when an amount is due".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "NL-R-008",
        terms: &["BT-81"],
        check: |i, out| {
            let d = i.doc;
            if !both_nl(d) {
                return;
            }
            for n in each(&d.payment_means, |p| {
                let code = p.code.as_deref().map(normalize_space);
                !matches!(
                    code.as_deref(),
                    Some("30" | "48" | "49" | "57" | "58" | "59")
                )
            }) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("payment instruction {} has a payment means code other than 30, 48, 49, 57, 58 or 59", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "NL-R-009",
        terms: &["BT-132", "BT-13"],
        check: |i, out| {
            let d = i.doc;
            if supplier_nl(d) && d.order_line_reference && d.order_reference.is_none() {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a line refers to a purchase order line (BT-132), so the invoice must give the purchase order reference (BT-13)".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "SE-R-001",
        terms: &["BT-31"],
        check: |i, out| {
            let d = i.doc;
            if let Some(vat) = vat_company_ids(&d.seller).next()
                && swedish_vat_seller(d)
                && normalize_space(vat).chars().count() != 14
            {
                swedish(
                    i,
                    format!(
                        "the Swedish VAT identifier {:?} is not 14 characters (SE, ten digits, 01)",
                        vat.chars().take(20).collect::<String>()
                    ),
                    out,
                );
            }
        },
    },
    Rule {
        id: "SE-R-002",
        terms: &["BT-31"],
        check: |i, out| {
            let d = i.doc;
            if let Some(vat) = vat_company_ids(&d.seller).next()
                && swedish_vat_seller(d)
                && !is_number(&vat.chars().skip(2).take(12).collect::<String>())
            {
                swedish(
                    i,
                    format!(
                        "the Swedish VAT identifier {:?} does not have digits after SE",
                        vat.chars().take(20).collect::<String>()
                    ),
                    out,
                );
            }
        },
    },
    Rule {
        id: "SE-R-003",
        terms: &["BT-30"],
        check: |i, out| swedish_legal_ids(i, is_number, "is not a number", out),
    },
    Rule {
        id: "SE-R-004",
        terms: &["BT-30"],
        check: |i, out| {
            swedish_legal_ids(
                i,
                |id| normalize_space(id).chars().count() == 10,
                "is not ten characters",
                out,
            )
        },
    },
    Rule {
        id: "SE-R-005",
        terms: &["BT-32"],
        check: |i, out| {
            let s = &i.doc.seller;
            let in_sweden = s
                .addresses
                .iter()
                .any(|a| a.country.as_deref() == Some("SE"));
            if !(s.present && in_sweden && !s.legal_ids.is_empty()) {
                return;
            }
            let others = s.tax_schemes.iter().filter(|(scheme, _)| {
                normalize_space(&scheme.as_deref().unwrap_or("").to_uppercase()) != "VAT"
            });
            for (_, id) in others {
                let Some(id) = id else { continue };
                if normalize_space(&id.to_uppercase()) != "GODKÄND FÖR F-SKATT" {
                    swedish(
                        i,
                        format!(
                            "the seller's tax registration {:?} is not \"Godkänd för F-skatt\"",
                            id.chars().take(40).collect::<String>()
                        ),
                        out,
                    );
                }
            }
        },
    },
    Rule {
        id: "SE-R-006",
        terms: &["BT-96", "BT-103", "BT-119", "BT-152"],
        check: |i, out| {
            let d = i.doc;
            if !swedish_vat_seller(d) {
                return;
            }
            let categories = d
                .vat_breakdown
                .iter()
                .map(|b| &b.category)
                .chain(d.allowance_charges.iter().flat_map(|a| &a.taxes))
                .chain(&d.line_allowance_categories)
                .chain(d.lines.iter().flat_map(|l| &l.taxes));
            let allowed = ["25", "12", "6"].map(Amount::parse);
            for c in categories.filter(|c| c.code.as_deref() == Some("S")) {
                let ok = c
                    .percent
                    .value()
                    .is_some_and(|p| allowed.contains(&Some(p)));
                if !ok {
                    swedish(i, "a standard rated VAT category of a Swedish seller has a rate other than 25, 12 or 6 %".to_owned(), out);
                    return;
                }
            }
        },
    },
    Rule {
        id: "IT-R-001",
        terms: &["BT-32"],
        check: |i, out| {
            let s = &i.doc.seller;
            if !s.present || supplier_country(i.doc).as_deref() != Some("IT") {
                return;
            }
            let others = s
                .tax_schemes
                .iter()
                .filter(|(scheme, _)| normalize_space(scheme.as_deref().unwrap_or("")) != "VAT");
            for (_, id) in others {
                let id = normalize_space(id.as_deref().unwrap_or(""));
                let ok = (11..=16).contains(&id.len())
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
                if !ok {
                    out.push(Broken::at(
                        i.root().to_owned(),
                        format!("the Italian seller's tax registration {:?} is not 11 to 16 capital letters and digits (the codice fiscale)", id.chars().take(20).collect::<String>()),
                    ));
                }
            }
        },
    },
    Rule {
        id: "IT-R-002",
        terms: &["BT-35"],
        check: |i, out| italian_address(i, |a| a.street.is_some(), "street (BT-35)", out),
    },
    Rule {
        id: "IT-R-003",
        terms: &["BT-37"],
        check: |i, out| italian_address(i, |a| a.city.is_some(), "city (BT-37)", out),
    },
    Rule {
        id: "IT-R-004",
        terms: &["BT-38"],
        check: |i, out| italian_address(i, |a| a.postal_zone.is_some(), "postal code (BT-38)", out),
    },
    Rule {
        id: "IS-R-002",
        terms: &["BT-30"],
        check: |i, out| {
            if icelandic(i.doc, false) && !has_kennitala(&i.doc.seller) {
                out.push(Broken::at(i.root().to_owned(), "an Icelandic seller must give its kennitala as legal registration identifier (BT-30) with schemeID 0196".to_owned()));
            }
        },
    },
    Rule {
        id: "IS-R-003",
        terms: &["BT-35", "BT-38"],
        check: |i, out| {
            if icelandic(i.doc, false) && !street_and_postcode(&i.doc.seller) {
                out.push(Broken::at(i.root().to_owned(), "an Icelandic seller's address must give the street (BT-35) and postal code (BT-38)".to_owned()));
            }
        },
    },
    Rule {
        id: "IS-R-004",
        terms: &["BT-47"],
        check: |i, out| {
            let d = i.doc;
            if d.buyer.present && icelandic(d, true) && !has_kennitala(&d.buyer) {
                out.push(Broken::at(i.root().to_owned(), "an Icelandic buyer must give its kennitala as legal registration identifier (BT-47) with schemeID 0196".to_owned()));
            }
        },
    },
    Rule {
        id: "IS-R-005",
        terms: &["BT-50", "BT-53"],
        check: |i, out| {
            let d = i.doc;
            if d.buyer.present && icelandic(d, true) && !street_and_postcode(&d.buyer) {
                out.push(Broken::at(i.root().to_owned(), "an Icelandic buyer's address must give the street (BT-50) and postal code (BT-53)".to_owned()));
            }
        },
    },
    Rule {
        id: "IS-R-006",
        terms: &["BT-84"],
        check: |i, out| icelandic_account(i, "9", out),
    },
    Rule {
        id: "IS-R-007",
        terms: &["BT-84"],
        check: |i, out| icelandic_account(i, "42", out),
    },
    Rule {
        id: "IS-R-008",
        terms: &["BT-122"],
        check: |i, out| {
            let d = i.doc;
            let Some(marker) = d.attachments.iter().find(|a| is_eindagi(a)) else {
                return;
            };
            let id = marker.id.as_deref().unwrap_or("");
            if icelandic(d, false)
                && !(id.chars().count() == 10 && super::en16931_parts::xs_date(id).is_some())
            {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "the final due date (EINDAGI) {:?} is not a date written YYYY-MM-DD",
                        id.chars().take(20).collect::<String>()
                    ),
                ));
            }
        },
    },
    Rule {
        id: "IS-R-009",
        terms: &["BT-9"],
        check: |i, out| {
            let d = i.doc;
            if icelandic(d, false) && d.attachments.iter().any(is_eindagi) && d.due_date.is_none() {
                out.push(Broken::at(i.root().to_owned(), "an Icelandic invoice with a final due date (EINDAGI) must give the due date (BT-9)".to_owned()));
            }
        },
    },
    Rule {
        id: "IS-R-010",
        terms: &["BT-9"],
        // `(cbc:DueDate) <= (…[EINDAGI]/cbc:ID)`: two untyped values compare as strings.
        check: |i, out| {
            let d = i.doc;
            let Some(marker) = d.attachments.iter().find(|a| is_eindagi(a)) else {
                return;
            };
            let ok = match (d.due_date.as_deref(), marker.id.as_deref()) {
                (Some(due), Some(last)) => due <= last,
                _ => false,
            };
            if icelandic(d, false) && !ok {
                out.push(Broken::at(i.root().to_owned(), "the due date (BT-9) of an Icelandic invoice is after its final due date (EINDAGI)".to_owned()));
            }
        },
    },
    Rule {
        id: "SE-R-013",
        terms: &["BT-30", "BT-40"],
        check: super::peppol::swedish_seller_legal_id,
    },
    Rule {
        id: "SE-R-007",
        terms: &["BT-84", "BT-86"],
        check: |i, out| swedish_giro(i, "SE:PLUSGIRO", xs_double, "is not numeric", out),
    },
    Rule {
        id: "SE-R-008",
        terms: &["BT-84", "BT-86"],
        check: |i, out| swedish_giro(i, "SE:BANKGIRO", xs_double, "is not numeric", out),
    },
    Rule {
        id: "SE-R-009",
        terms: &["BT-84", "BT-86"],
        check: |i, out| {
            swedish_giro(
                i,
                "SE:BANKGIRO",
                |v| matches!(v.chars().count(), 7 | 8),
                "does not have 7 or 8 characters",
                out,
            )
        },
    },
    Rule {
        id: "SE-R-010",
        terms: &["BT-84", "BT-86"],
        check: |i, out| {
            swedish_giro(
                i,
                "SE:PLUSGIRO",
                |v| (2..=8).contains(&v.chars().count()),
                "does not have 2 to 8 characters",
                out,
            )
        },
    },
    Rule {
        id: "SE-R-011",
        terms: &["BT-81"],
        check: |i, out| {
            swedish_means(
                i,
                &["50", "56"],
                false,
                "use code 30 with the branch SE:BANKGIRO or SE:PLUSGIRO for Swedish Bankgiro or Plusgiro",
                out,
            )
        },
    },
    Rule {
        id: "SE-R-012",
        terms: &["BT-81"],
        check: |i, out| {
            swedish_means(
                i,
                &["31"],
                true,
                "a credit transfer between Swedish partners is code 30",
                out,
            )
        },
    },
    Rule {
        id: "IS-R-001",
        terms: &["BT-3"],
        check: |i, out| {
            let d = i.doc;
            let code = d
                .type_code
                .as_deref()
                .map(normalize_space)
                .unwrap_or_default();
            if icelandic(d, false) && !matches!(code.as_str(), "380" | "381") {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("an Icelandic seller's invoice type code (BT-3) should be 380 or 381, not {code:?}"),
                ));
            }
        },
    },
    Rule {
        id: "NO-R-002",
        terms: &["BT-32"],
        // `normalize-space(cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID) = 'TAX']
        // /cbc:CompanyID) = 'Foretaksregisteret'`: more than one such id stops the artefact.
        check: |i, out| {
            let d = i.doc;
            if !d.seller.present || supplier_country(d).as_deref() != Some("NO") {
                return;
            }
            let ids: Vec<&str> = d
                .seller
                .tax_schemes
                .iter()
                .filter(|(scheme, id)| {
                    id.is_some()
                        && scheme
                            .as_deref()
                            .is_some_and(|s| normalize_space(s) == "TAX")
                })
                .filter_map(|(_, id)| id.as_deref())
                .collect();
            let registered = match ids.as_slice() {
                [] => false,
                [one] => normalize_space(one) == "Foretaksregisteret",
                _ => return,
            };
            if !registered {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a Norwegian seller should state Foretaksregisteret (a PartyTaxScheme with TaxScheme TAX)",
                ));
            }
        },
    },
    Rule {
        id: "NO-R-001",
        terms: &["BT-31"],
        check: |i, out| {
            let d = i.doc;
            if !d.seller.present || supplier_country(d).as_deref() != Some("NO") {
                return;
            }
            for id in vat_company_ids(&d.seller).filter(|v| v.starts_with("NO")) {
                if !norwegian_vat(id) {
                    out.push(Broken::at(
                        i.root().to_owned(),
                        format!(
                            "the Norwegian VAT identifier {:?} is not NO, nine digits of a valid organisation number and MVA",
                            id.chars().take(20).collect::<String>()
                        ),
                    ));
                }
            }
        },
    },
];

/// `//cac:AccountingSupplierParty/cac:Party[cac:PostalAddress/cac:Country/cbc:IdentificationCode
/// = 'SE']`: some address of the party has country `SE`, as written.
fn swedish_address(p: &PartyData) -> bool {
    p.addresses
        .iter()
        .any(|a| a.country.as_deref() == Some("SE"))
}

/// SE-R-007..010: with a Swedish seller, each account id (BT-84) of a credit transfer (30)
/// whose branch (BT-86) is `branch` passes `ok`, normalized.
fn swedish_giro(
    i: &Input<'_>,
    branch: &str,
    ok: fn(&str) -> bool,
    what: &str,
    out: &mut Vec<Broken>,
) {
    let d = i.doc;
    if !swedish_address(&d.seller) {
        return;
    }
    for p in d.payment_means.iter().filter(|p| {
        p.code.as_deref().map(normalize_space).as_deref() == Some("30")
            && p.branch.as_deref().map(normalize_space).as_deref() == Some(branch)
    }) {
        for account in p.accounts.iter().map(|a| normalize_space(a)) {
            if !ok(&account) {
                swedish(
                    i,
                    format!(
                        "the {} account {:?} {what}",
                        &branch[3..],
                        account.chars().take(40).collect::<String>()
                    ),
                    out,
                );
            }
        }
    }
}

/// SE-R-011/012: with a Swedish seller (and buyer, when `both`), no payment means type code is
/// one of `codes`, as written.
fn swedish_means(i: &Input<'_>, codes: &[&str], both: bool, what: &str, out: &mut Vec<Broken>) {
    let d = i.doc;
    if !swedish_address(&d.seller) || (both && !swedish_address(&d.buyer)) {
        return;
    }
    for (n, _) in d
        .payment_means
        .iter()
        .enumerate()
        .filter(|(_, p)| p.code.as_deref().is_some_and(|c| codes.contains(&c)))
    {
        swedish(i, format!("payment instruction {}: {what}", n + 1), out);
    }
}

/// `string(number(x)) != 'NaN'`: `x` is an `xs:double` literal (`INF` included).
fn xs_double(x: &str) -> bool {
    let unsigned = x.strip_prefix(['+', '-']).unwrap_or(x);
    if unsigned == "INF" {
        return true;
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// `$supplierCountryIsDE and $customerCountryIsDE`.
fn both_de(doc: &Doc) -> bool {
    in_country(&doc.seller, "DE") && in_country(&doc.buyer, "DE")
}

/// A German rule: XRechnung's rule `twin`, for a German seller and buyer (the artefact carries
/// it with the same context and test).
fn german(i: &Input<'_>, twin: &str, out: &mut Vec<Broken>) {
    if !both_de(i.doc) {
        return;
    }
    if let Some(rule) = xrechnung::rule(twin) {
        (rule.check)(i, out);
    }
}

/// Peppol's German rules (DE-R-*), each XRechnung's BR-DE rule of the same number; DE-R-002
/// is BR-DE-2, which XRechnung checks by hand.
pub(super) const GERMAN: &[Rule] = &[
    Rule {
        id: "DE-R-002",
        terms: &["BG-6"],
        check: |i, out| {
            if both_de(i.doc) && !i.doc.seller.contact {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a German seller invoicing a German buyer must give the seller contact (BG-6)"
                        .to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "DE-R-001",
        terms: &["BG-16"],
        check: |i, out| german(i, "BR-DE-1", out),
    },
    Rule {
        id: "DE-R-003",
        terms: &["BG-5", "BT-37"],
        check: |i, out| german(i, "BR-DE-3", out),
    },
    Rule {
        id: "DE-R-004",
        terms: &["BG-5", "BT-38"],
        check: |i, out| german(i, "BR-DE-4", out),
    },
    Rule {
        id: "DE-R-005",
        terms: &["BG-6", "BT-41"],
        check: |i, out| german(i, "BR-DE-5", out),
    },
    Rule {
        id: "DE-R-006",
        terms: &["BG-6", "BT-42"],
        check: |i, out| german(i, "BR-DE-6", out),
    },
    Rule {
        id: "DE-R-007",
        terms: &["BG-6", "BT-43"],
        check: |i, out| german(i, "BR-DE-7", out),
    },
    Rule {
        id: "DE-R-008",
        terms: &["BG-8", "BT-52"],
        check: |i, out| german(i, "BR-DE-8", out),
    },
    Rule {
        id: "DE-R-009",
        terms: &["BG-8", "BT-53"],
        check: |i, out| german(i, "BR-DE-9", out),
    },
    Rule {
        id: "DE-R-010",
        terms: &["BG-15", "BT-77"],
        check: |i, out| german(i, "BR-DE-10", out),
    },
    Rule {
        id: "DE-R-011",
        terms: &["BG-15", "BT-78"],
        check: |i, out| german(i, "BR-DE-11", out),
    },
    Rule {
        id: "DE-R-014",
        terms: &["BG-23", "BT-119"],
        check: |i, out| german(i, "BR-DE-14", out),
    },
    Rule {
        id: "DE-R-015",
        terms: &["BT-10"],
        check: |i, out| german(i, "BR-DE-15", out),
    },
    Rule {
        id: "DE-R-022",
        terms: &["BG-24", "BT-125"],
        check: |i, out| german(i, "BR-DE-22", out),
    },
    Rule {
        id: "DE-R-023-1",
        terms: &["BG-16", "BG-17"],
        check: |i, out| german(i, "BR-DE-23-a", out),
    },
    Rule {
        id: "DE-R-023-2",
        terms: &["BG-16", "BG-18", "BG-19"],
        check: |i, out| german(i, "BR-DE-23-b", out),
    },
    Rule {
        id: "DE-R-024-1",
        terms: &["BG-16", "BG-18"],
        check: |i, out| german(i, "BR-DE-24-a", out),
    },
    Rule {
        id: "DE-R-024-2",
        terms: &["BG-16", "BG-17", "BG-19"],
        check: |i, out| german(i, "BR-DE-24-b", out),
    },
    Rule {
        id: "DE-R-025-1",
        terms: &["BG-16", "BG-19"],
        check: |i, out| german(i, "BR-DE-25-a", out),
    },
    Rule {
        id: "DE-R-025-2",
        terms: &["BG-16", "BG-17", "BG-18"],
        check: |i, out| german(i, "BR-DE-25-b", out),
    },
    Rule {
        id: "DE-R-030",
        terms: &["BG-19", "BT-90"],
        check: |i, out| german(i, "BR-DE-30", out),
    },
    Rule {
        id: "DE-R-031",
        terms: &["BG-19", "BT-91"],
        check: |i, out| german(i, "BR-DE-31", out),
    },
    Rule {
        id: "DE-R-016",
        terms: &["BT-31", "BT-32", "BG-11"],
        check: |i, out| german(i, "BR-DE-16", out),
    },
    Rule {
        id: "DE-R-018",
        terms: &["BT-20"],
        check: |i, out| german(i, "BR-DE-18", out),
    },
    Rule {
        id: "DE-R-017",
        terms: &["BT-3"],
        check: |i, out| german(i, "BR-DE-17", out),
    },
    Rule {
        id: "DE-R-019",
        terms: &["BT-81", "BT-84"],
        check: |i, out| german(i, "BR-DE-19", out),
    },
    Rule {
        id: "DE-R-020",
        terms: &["BT-81", "BT-91"],
        check: |i, out| german(i, "BR-DE-20", out),
    },
    Rule {
        id: "DE-R-026",
        terms: &["BT-3", "BG-3"],
        check: |i, out| german(i, "BR-DE-26", out),
    },
    Rule {
        id: "DE-R-027",
        terms: &["BG-6", "BT-42"],
        check: |i, out| german(i, "BR-DE-27", out),
    },
    Rule {
        id: "DE-R-028",
        terms: &["BG-6", "BT-43"],
        check: |i, out| german(i, "BR-DE-28", out),
    },
    Rule {
        id: "DE-R-T02",
        terms: &["BT-124"],
        check: |i, out| german(i, "BR-TMP-2", out),
    },
];

/// SE-R-003/004: each legal identifier of a seller with an address in `SE` passes `ok`.
fn swedish_legal_ids(i: &Input<'_>, ok: fn(&str) -> bool, what: &str, out: &mut Vec<Broken>) {
    let s = &i.doc.seller;
    if !s
        .addresses
        .iter()
        .any(|a| a.country.as_deref() == Some("SE"))
    {
        return;
    }
    for id in s.legal_ids.iter().filter(|id| !ok(&id.value)) {
        swedish(
            i,
            format!(
                "the Swedish seller's legal registration identifier {:?} {what}",
                id.value.chars().take(20).collect::<String>()
            ),
            out,
        );
    }
}

/// IT-R-002..004: an Italian seller's address has the element `has` looks for.
fn italian_address(
    i: &Input<'_>,
    has: fn(&AddressData) -> bool,
    what: &str,
    out: &mut Vec<Broken>,
) {
    let s = &i.doc.seller;
    if s.present && supplier_country(i.doc).as_deref() == Some("IT") && !s.addresses.iter().any(has)
    {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("an Italian seller's address must give the {what}"),
        ));
    }
}

/// Denmark's and Iceland's `$…SupplierCountry` (and `$…CustomerCountry`, when `both`): the
/// party's address country codes, as written and concatenated, are `code`.
pub(super) fn countries_are(doc: &Doc, code: &str, both: bool) -> bool {
    let country = |p: &PartyData| {
        p.addresses
            .iter()
            .filter_map(|a| a.country.as_deref())
            .collect::<String>()
    };
    country(&doc.seller) == code && (!both || country(&doc.buyer) == code)
}

/// An additional document described `EINDAGI`: its id is the Icelandic final due date.
fn is_eindagi(a: &super::super::model::AttachmentData) -> bool {
    a.description_text.as_deref() == Some("EINDAGI")
}

/// `$SupplierCountry = 'IS'` (and `$CustomerCountry`, when `both`), read as Denmark's are.
fn icelandic(doc: &Doc, both: bool) -> bool {
    countries_are(doc, "IS", both)
}

/// IS-R-002/004: a legal registration identifier with schemeID `0196` (as written).
fn has_kennitala(p: &PartyData) -> bool {
    p.legal_ids
        .iter()
        .any(|id| id.scheme.as_deref() == Some("0196"))
}

/// IS-R-003/005: some address has a street and some a postal code.
fn street_and_postcode(p: &PartyData) -> bool {
    p.addresses.iter().any(|a| a.street.is_some())
        && p.addresses.iter().any(|a| a.postal_zone.is_some())
}

/// IS-R-006/007: with a payment instruction of type `code` (as written), its account id is 12
/// characters.
fn icelandic_account(i: &Input<'_>, code: &str, out: &mut Vec<Broken>) {
    let d = i.doc;
    if !icelandic(d, false) {
        return;
    }
    let of_code: Vec<_> = d
        .payment_means
        .iter()
        .filter(|p| p.code.as_deref() == Some(code))
        .collect();
    if of_code.is_empty() {
        return;
    }
    let accounts: Vec<&String> = of_code.iter().flat_map(|p| &p.accounts).collect();
    let ok = accounts.len() == 1 && normalize_space(accounts[0]).chars().count() == 12;
    if !ok {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("an Icelandic payment instruction of type {code} needs one account id (BT-84) of 12 characters"),
        ));
    }
}
