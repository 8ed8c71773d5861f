//! Greece's rules in Peppol BIS Billing 3.0's artefact (GR-R-001..GR-R-010), as a table.
//!
//! Greek invoices carry their myDATA registration in the document: the invoice number is six
//! `|`-separated segments (the seller's tax number, the issue date, the branch, the document
//! type, the series and the number), the `##M.AR.K##` additional document gives the tax
//! authority's registration mark, and the tax numbers (TIN, "ΑΦΜ") carry a check digit.
//!
//! Which rules apply follows three of the artefact's variables, each read here as written:
//! `$isGreekSender` (the seller's VAT prefix, else the tax representative's, else the seller's
//! address country, is `GR` or `EL`), `$isGreekSenderandReceiver` (and the buyer's, read the
//! same way without a representative) and `$accountingSupplierCountry` (the seller's alone).

use super::super::model::{AttachmentData, Doc, PartyData, normalize_space};
use super::peppol_national::{supplier_country, vat_company_ids, vat_prefix};
use super::table::{Broken, Input, Rule};

/// `u:TinVerification`: the ninth character is the check digit of the first eight, weighted
/// 256, 128, …, 2, the sum modulo 11 and then modulo 10. A character that is not an ASCII
/// digit (all `to_digit(10)` takes) makes the artefact's `number()` NaN, and the test false;
/// characters past the ninth are not read.
pub(super) fn tin(value: &str) -> bool {
    let digits: Vec<u32> = value
        .chars()
        .take(9)
        .map_while(|c| c.to_digit(10))
        .collect();
    if digits.len() != 9 {
        return false;
    }
    let sum: u32 = digits[..8]
        .iter()
        .enumerate()
        .map(|(n, d)| d << (8 - n))
        .sum();
    sum % 11 % 10 == digits[8]
}

/// The artefact's `$…Country` of a party: the prefix of its first VAT identifier, else the
/// country code of its address, upper-cased and normalized.
fn country_of(p: &PartyData) -> Option<String> {
    vat_prefix(p)
        .or_else(|| p.addresses.first().and_then(|a| a.country.clone()))
        .map(|c| normalize_space(&c).to_uppercase())
}

fn is_greek(country: Option<String>) -> bool {
    matches!(country.as_deref(), Some("GR" | "EL"))
}

/// `$isGreekSender`.
fn greek_sender(doc: &Doc) -> bool {
    is_greek(supplier_country(doc))
}

/// `$isGreekSenderandReceiver`.
fn greek_sender_and_receiver(doc: &Doc) -> bool {
    greek_sender(doc) && is_greek(country_of(&doc.buyer))
}

/// `$isGreekSender and /*/cac:AccountingSupplierParty/…/cbc:IdentificationCode = 'GR'` (as
/// written).
fn greek_sender_in_greece(doc: &Doc) -> bool {
    greek_sender(doc)
        && doc
            .seller
            .addresses
            .iter()
            .any(|a| a.country.as_deref() == Some("GR"))
}

/// The additional documents whose description is `marker`.
fn marked<'a>(doc: &'a Doc, marker: &'a str) -> impl Iterator<Item = &'a AttachmentData> {
    doc.attachments
        .iter()
        .filter(move |a| a.description_text.as_deref() == Some(marker))
}

/// `tokenize(cbc:ID, '\|')`: an empty number has no segments.
fn segments(doc: &Doc) -> Vec<&str> {
    match doc.number.as_deref() {
        None | Some("") => Vec::new(),
        Some(n) => n.split('|').collect(),
    }
}

/// The GR-R-001 rules: the invoice number, for a Greek sender.
fn number(i: &Input<'_>, ok: fn(&Doc, &[&str]) -> bool, what: &str, out: &mut Vec<Broken>) {
    let d = i.doc;
    if d.number.is_none() || !greek_sender(d) {
        return;
    }
    if !ok(d, &segments(d)) {
        let shown: String = d.number.as_deref().unwrap_or("").chars().take(60).collect();
        out.push(Broken::at(
            i.below("cbc:ID[1]", ""),
            format!("the invoice number {shown:?} of a Greek seller: {what}"),
        ));
    }
}

fn segment<'a>(s: &[&'a str], n: usize) -> &'a str {
    s.get(n).copied().unwrap_or("")
}

/// GR-R-001-2: the first segment is the seller's (or its representative's) tax number: nine
/// characters, a valid TIN, and the third to eleventh character of a VAT identifier.
fn seller_tin_segment(d: &Doc, s: &[&str]) -> bool {
    let first = segment(s, 0);
    let of_vat =
        |p: &PartyData| vat_company_ids(p).any(|v| v.chars().skip(2).take(9).eq(first.chars()));
    normalize_space(first).chars().count() == 9
        && tin(first)
        && (of_vat(&d.seller) || of_vat(&d.tax_representative))
}

/// GR-R-001-3: the second segment is the issue date written day/month/year (the artefact's
/// `$dateRegExp`, anchored at the start only), whose `/`-separated parts equal the issue
/// date's, as written.
fn issue_date_segment(d: &Doc, s: &[&str]) -> bool {
    let second = segment(s, 1);
    if normalize_space(second).is_empty() || !greek_date(second) {
        return false;
    }
    let id_date: Vec<&str> = second.split('/').collect();
    let issue: Vec<&str> = match d.issue_date.as_deref() {
        None | Some("") => Vec::new(),
        Some(t) => t.split('-').collect(),
    };
    // `$tokenizedIdDate[1] = $tokenizedUblIssueDate[3]`: an absent part equals nothing.
    let eq = |a: Option<&&str>, b: Option<&&str>| matches!((a, b), (Some(a), Some(b)) if a == b);
    eq(id_date.first(), issue.get(2))
        && eq(id_date.get(1), issue.get(1))
        && eq(id_date.get(2), issue.first())
}

/// `matches(x, '^(0?[1-9]|[12][0-9]|3[01])[-\\/ ]?(0?[1-9]|1[0-2])[-\\/ ]?(19|20)[0-9]{2}')`.
fn greek_date(x: &str) -> bool {
    let b = x.as_bytes();
    let sep = |p: usize| -> Vec<usize> {
        let mut v = vec![p];
        if matches!(b.get(p), Some(b'-' | b'\\' | b'/' | b' ')) {
            v.push(p + 1);
        }
        v
    };
    let digit = |p: usize| b.get(p).is_some_and(u8::is_ascii_digit);
    let at = |p: usize| b.get(p).copied().unwrap_or(0);
    // Every way the day can end, then the month, then the year: the regex backtracks.
    let mut days = Vec::new();
    if matches!(at(0), b'1'..=b'9') {
        days.push(1);
    }
    if at(0) == b'0' && matches!(at(1), b'1'..=b'9') {
        days.push(2);
    }
    if matches!(at(0), b'1' | b'2') && digit(1) {
        days.push(2);
    }
    if at(0) == b'3' && matches!(at(1), b'0' | b'1') {
        days.push(2);
    }
    for day in days {
        for m in sep(day) {
            let mut months = Vec::new();
            if matches!(at(m), b'1'..=b'9') {
                months.push(m + 1);
            }
            if at(m) == b'0' && matches!(at(m + 1), b'1'..=b'9') {
                months.push(m + 2);
            }
            if at(m) == b'1' && matches!(at(m + 1), b'0'..=b'2') {
                months.push(m + 2);
            }
            for month in months {
                for y in sep(month) {
                    let century = (at(y) == b'1' && at(y + 1) == b'9')
                        || (at(y) == b'2' && at(y + 1) == b'0');
                    if century && digit(y + 2) && digit(y + 3) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// GR-R-001-4: the third segment is a whole number, not negative (`number()` is not NaN and
/// `xs:integer(…) >= 0`).
fn branch_segment(_: &Doc, s: &[&str]) -> bool {
    let t = segment(s, 2).trim_matches([' ', '\t', '\n', '\r']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (!negative || digits.bytes().all(|b| b == b'0'))
}

/// The myDATA document types `$greekDocumentType` lists (with the empty string its trailing
/// space leaves, which the `normalize-space` test before it excludes).
const GREEK_DOCUMENT_TYPES: &[&str] = &["1.1", "1.6", "2.1", "2.4", "5.1", "5.2"];

/// GR-R-001-5: the fourth segment is one of the document types, as written.
fn type_segment(_: &Doc, s: &[&str]) -> bool {
    GREEK_DOCUMENT_TYPES.contains(&segment(s, 3))
}

/// The additional documents' markers.
const MARK: &str = "##M.AR.K##";
const INVOICE_URL: &str = "##INVOICE|URL##";

/// GR-R-002/005: the party's (first) trading name is not empty.
fn named(i: &Input<'_>, p: &PartyData, whose: &str, out: &mut Vec<Broken>) {
    if p.present && p.trading_name.as_deref().unwrap_or("").is_empty() {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("the {whose} of a Greek seller's invoice must give its name (PartyName)"),
        ));
    }
}

/// GR-R-009/010: the party's electronic address is a Greek TIN with scheme `9933`.
fn tin_endpoint(i: &Input<'_>, p: &PartyData, whose: &str, out: &mut Vec<Broken>) {
    let Some(endpoint) = &p.endpoint else {
        return;
    };
    if !(endpoint.scheme.as_deref() == Some("9933") && tin(&endpoint.value)) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the {whose}'s electronic address {:?} (scheme {:?}) is not a valid Greek tax number with scheme 9933",
                endpoint.value.chars().take(20).collect::<String>(),
                endpoint.scheme.as_deref().unwrap_or("")
            ),
        ));
    }
}

/// `cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID) = 'VAT']/cbc:CompanyID`.
fn normalized_vat_ids(p: &PartyData) -> impl Iterator<Item = &str> {
    p.tax_schemes
        .iter()
        .filter(|(scheme, _)| {
            scheme
                .as_deref()
                .is_some_and(|s| normalize_space(s) == "VAT")
        })
        .filter_map(|(_, id)| id.as_deref())
}

/// `substring(x, 1, 2) = 'EL' and u:TinVerification(substring(x, 3))`.
fn greek_vat(x: &str) -> bool {
    x.starts_with("EL") && tin(&x[2..])
}

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "GR-R-001-1",
        terms: &["BT-1"],
        check: |i, out| {
            number(
                i,
                |_, s| s.len() == 6,
                "it must have 6 segments separated by |",
                out,
            )
        },
    },
    Rule {
        id: "GR-R-001-2",
        terms: &["BT-1", "BT-31", "BT-63"],
        check: |i, out| {
            number(
                i,
                seller_tin_segment,
                "its first segment must be the seller's valid tax number, as in its VAT identifier",
                out,
            )
        },
    },
    Rule {
        id: "GR-R-001-3",
        terms: &["BT-1", "BT-2"],
        check: |i, out| {
            number(
                i,
                issue_date_segment,
                "its second segment must be the issue date written DD/MM/YYYY",
                out,
            )
        },
    },
    Rule {
        id: "GR-R-001-4",
        terms: &["BT-1"],
        check: |i, out| {
            number(
                i,
                branch_segment,
                "its third segment must be the branch, a whole number of 0 or more",
                out,
            )
        },
    },
    Rule {
        id: "GR-R-001-5",
        terms: &["BT-1"],
        check: |i, out| {
            number(
                i,
                |d, s| !normalize_space(segment(s, 3)).is_empty() && type_segment(d, s),
                "its fourth segment must be a myDATA document type (1.1, 1.6, 2.1, 2.4, 5.1 or 5.2)",
                out,
            )
        },
    },
    Rule {
        id: "GR-R-001-6",
        terms: &["BT-1"],
        check: |i, out| {
            number(
                i,
                |_, s| !segment(s, 4).is_empty(),
                "its fifth segment, the series, must not be empty",
                out,
            )
        },
    },
    Rule {
        id: "GR-R-001-7",
        terms: &["BT-1"],
        check: |i, out| {
            number(
                i,
                |_, s| !segment(s, 5).is_empty(),
                "its sixth segment, the number, must not be empty",
                out,
            )
        },
    },
    Rule {
        id: "GR-R-002",
        terms: &["BT-28"],
        check: |i, out| {
            if greek_sender(i.doc) {
                named(i, &i.doc.seller, "seller", out);
            }
        },
    },
    Rule {
        id: "GR-R-003",
        terms: &["BT-31"],
        check: |i, out| {
            let d = i.doc;
            if !d.seller.present || !greek_sender(d) {
                return;
            }
            for id in normalized_vat_ids(&d.seller).filter(|id| !greek_vat(id)) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "the Greek seller's VAT identifier {:?} must be EL followed by a valid tax number",
                        id.chars().take(20).collect::<String>()
                    ),
                ));
            }
        },
    },
    Rule {
        id: "GR-R-004-1",
        terms: &["BT-122"],
        check: |i, out| {
            let d = i.doc;
            if greek_sender_in_greece(d) && marked(d, MARK).count() != 1 {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "an invoice from Greece must have exactly one additional document described ##M.AR.K## (the myDATA registration mark)".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "GR-R-004-2",
        terms: &["BT-122"],
        check: |i, out| {
            let d = i.doc;
            if !greek_sender_in_greece(d) {
                return;
            }
            for a in marked(d, MARK) {
                let Some(id) = a.id.as_deref() else { continue };
                if !matches!(id.as_bytes().first(), Some(b'1'..=b'9')) {
                    out.push(Broken::at(
                        i.root().to_owned(),
                        format!(
                            "the myDATA registration mark {:?} must be a number not starting with 0",
                            id.chars().take(30).collect::<String>()
                        ),
                    ));
                }
            }
        },
    },
    Rule {
        id: "GR-R-008-2",
        terms: &["BT-122"],
        check: |i, out| {
            let d = i.doc;
            if greek_sender_in_greece(d) && marked(d, INVOICE_URL).count() > 1 {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "an invoice from Greece may have at most one additional document described ##INVOICE|URL##".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "GR-R-008-3",
        terms: &["BT-124"],
        check: |i, out| {
            let d = i.doc;
            if !greek_sender(d) {
                return;
            }
            for a in marked(d, INVOICE_URL) {
                if normalize_space(a.uri.as_deref().unwrap_or("")).is_empty() {
                    out.push(Broken::at(
                        i.root().to_owned(),
                        "the additional document described ##INVOICE|URL## must give the invoice's address (BT-124)".to_owned(),
                    ));
                }
            }
        },
    },
    Rule {
        id: "GR-S-008-1",
        terms: &["BT-122"],
        check: |i, out| {
            let d = i.doc;
            if greek_sender_in_greece(d) && marked(d, INVOICE_URL).count() != 1 {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "an invoice from Greece should have one additional document described ##INVOICE|URL##".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "GR-S-011",
        terms: &["BT-31"],
        check: |i, out| {
            let d = i.doc;
            if !d.seller.present || !greek_sender(d) {
                return;
            }
            let ids: Vec<&str> = normalized_vat_ids(&d.seller).collect();
            if !(ids.len() == 1 && greek_vat(ids[0])) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a Greek seller should give one VAT identifier (BT-31): EL and a valid tax registration number".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "GR-R-005",
        terms: &["BT-45"],
        check: |i, out| {
            if greek_sender(i.doc) {
                named(i, &i.doc.buyer, "buyer", out);
            }
        },
    },
    Rule {
        id: "GR-R-006",
        terms: &["BT-48"],
        check: |i, out| {
            let d = i.doc;
            if !d.buyer.present || !greek_sender_and_receiver(d) {
                return;
            }
            let ids: Vec<&str> = normalized_vat_ids(&d.buyer).collect();
            if !(ids.len() == 1 && greek_vat(ids[0])) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a Greek buyer of a Greek seller must have one VAT identifier: EL followed by a valid tax number".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "GR-R-009",
        terms: &["BT-34"],
        check: |i, out| {
            let d = i.doc;
            if d.seller.present && is_greek(country_of(&d.seller)) {
                tin_endpoint(i, &d.seller, "seller", out);
            }
        },
    },
    Rule {
        id: "GR-R-010",
        terms: &["BT-49"],
        check: |i, out| {
            let d = i.doc;
            if d.buyer.present && greek_sender_and_receiver(d) {
                tin_endpoint(i, &d.buyer, "buyer", out);
            }
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tin_check_digits() {
        // The base example's seller and buyer.
        assert!(tin("061828591"));
        assert!(tin("801399030"));
        assert!(!tin("061828592"));
        assert!(!tin("06182859"));
        assert!(!tin("06182859x"));
        // Characters past the ninth are not read.
        assert!(tin("0618285912"));
    }

    #[test]
    fn greek_dates_follow_the_artefacts_expression() {
        for ok in [
            "01/10/2020",
            "1/1/2020",
            "1-1-1999",
            "31/12/2099x",
            "11 12 2020",
            "0111 2020",
        ] {
            assert!(greek_date(ok), "{ok}");
        }
        for bad in [
            "32/10/2020",
            "00/10/2020",
            "1/13/2020",
            "1/1/2120",
            "x1/1/2020",
            "1//1/2020",
        ] {
            assert!(!greek_date(bad), "{bad}");
        }
    }

    #[test]
    fn the_branch_is_a_whole_number() {
        let ok = |t: &str| branch_segment(&Doc::default(), &["", "", t]);
        assert!(ok("0") && ok(" 12 ") && ok("+3") && ok("-0"));
        assert!(!ok("") && !ok("-1") && !ok("1.5") && !ok("a"));
    }
}
