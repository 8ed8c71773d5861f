//! The identity of an invoice, for duplicate detection: who sent it, who issued it, its
//! number, issue date and document type, each part normalised so that two spellings of the
//! same invoice are one key.
//!
//! The trusted sender is part of the key on purpose. Without it, any sender trusted at the
//! same organisation could send an invoice that claims another supplier's seller id, number
//! and date first, and have the real supplier's invoice refused as "already received" (or
//! accepted and never delivered): pre-emption. With it, a third party can only collide with
//! its own invoices.

use super::{Identifier, Inspection};

/// The duplicate key of `inspection` for `organisation`, sent by the trusted sender named
/// `sender` (a stable name of the trusted-sender entry that let the mail in, e.g.
/// `domain:supplier.example`). `None` when the invoice has no number to compare.
pub fn duplicate_key(organisation: &str, sender: &str, inspection: &Inspection) -> Option<String> {
    let number = normalise_number(inspection.invoice_number.as_deref()?)?;
    let seller = &inspection.seller;
    let ident = |i: &Identifier| {
        format!(
            "{}:{}",
            normalise_identifier(i.scheme.as_deref().unwrap_or("")),
            normalise_identifier(&i.value)
        )
    };
    let seller_id = seller
        .vat_id
        .as_deref()
        .map(|v| format!("VAT:{}", normalise_identifier(v)))
        .or_else(|| seller.legal_id.as_ref().map(ident))
        .or_else(|| seller.endpoint_id.as_ref().map(ident))
        .or_else(|| {
            seller
                .name
                .as_deref()
                .map(|n| format!("NAME:{}", collapse_whitespace(n).to_lowercase()))
        })
        .unwrap_or_default();
    let kind = inspection
        .document_type_code
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map_or_else(|| inspection.syntax.name().to_string(), str::to_string);
    let date = inspection
        .issue_date
        .as_deref()
        .map(normalise_date)
        .unwrap_or_default();
    Some(format!(
        "{organisation}\u{1f}{}\u{1f}{seller_id}\u{1f}{number}\u{1f}{date}\u{1f}{kind}",
        sender.to_lowercase()
    ))
}

/// The seller part of a duplicate key: `(organisation + seller identity, sender)`, so the
/// spool can remember who sends for a seller without knowing the key's layout. `None` for a
/// key without a seller identity.
pub fn seller_claim(duplicate_key: &str) -> Option<(String, String)> {
    let mut parts = duplicate_key.split('\u{1f}');
    let (organisation, sender, seller) = (parts.next()?, parts.next()?, parts.next()?);
    (!seller.is_empty()).then(|| (format!("{organisation}\u{1f}{seller}"), sender.to_string()))
}

/// An identifier (VAT number, KvK, scheme code) compared without case, spaces, dots and
/// dashes: `nl 1234.56.789-b01` is `NL123456789B01`.
pub fn normalise_identifier(s: &str) -> String {
    s.chars()
        .filter(|c| !(c.is_whitespace() || *c == '.' || *c == '-'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// An invoice number compared without surrounding or repeated white space and without case
/// (`inv-001 ` is `INV-001`); `None` when nothing is left.
fn normalise_number(s: &str) -> Option<String> {
    let n = collapse_whitespace(s).to_uppercase();
    (!n.is_empty()).then_some(n)
}

/// An issue date as `YYYY-MM-DD`: `2015-01-09`, `2015-01-09+01:00`, `2015-01-09Z`,
/// `2015-01-09T10:00:00` and CII's `20150109` are one day. Anything else is kept as
/// written, trimmed, so it still compares with itself.
pub fn normalise_date(s: &str) -> String {
    let s = s.trim();
    let digits: String = s.chars().take(10).filter(char::is_ascii_digit).collect();
    let dashed = s.len() >= 10
        && s.as_bytes()[4] == b'-'
        && s.as_bytes()[7] == b'-'
        && s[..10].chars().filter(char::is_ascii_digit).count() == 8;
    let compact = s.len() >= 8 && s.as_bytes()[..8].iter().all(u8::is_ascii_digit);
    let rest = if dashed {
        &s[10..]
    } else if compact {
        &s[8..]
    } else {
        return s.to_string();
    };
    // After the day only a zone or a time may follow.
    let zone_or_time = rest.is_empty()
        || rest.starts_with(['+', '-', 'Z', 'z', 'T', 't', ' '])
            && rest[1..]
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ':' | '.' | '+' | '-' | 'Z' | 'z'));
    if !zone_or_time {
        return s.to_string();
    }
    let digits = if dashed { digits } else { s[..8].to_string() };
    format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..8])
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_one_issue_date_is_one_day() {
        for s in [
            "2015-01-09",
            " 2015-01-09 ",
            "2015-01-09+01:00",
            "2015-01-09-05:00",
            "2015-01-09Z",
            "2015-01-09T10:15:00",
            "2015-01-09T10:15:00+01:00",
            "20150109",
        ] {
            assert_eq!(normalise_date(s), "2015-01-09", "{s:?}");
        }
        // Not dates: kept, so they compare only with themselves.
        for s in ["9 January 2015", "2015-01-0x", "2015-01-09garbage"] {
            assert_eq!(normalise_date(s), s, "{s:?}");
        }
        assert_ne!(normalise_date("2015-01-09"), normalise_date("2015-01-10"));
    }

    #[test]
    fn numbers_and_identifiers_compare_without_case_and_spacing() {
        assert_eq!(normalise_number(" inv-001 "), Some("INV-001".into()));
        assert_eq!(normalise_number("INV  001"), normalise_number("inv 001"));
        assert_ne!(normalise_number("INV-001"), normalise_number("INV-0001"));
        assert_eq!(normalise_number("   "), None);
        assert_eq!(normalise_identifier("nl 1234.56.789-b01"), "NL123456789B01");
    }

    fn inspection(xml: &str) -> Inspection {
        match crate::invoice::inspect(xml.as_bytes()) {
            crate::invoice::Detection::Invoice(i) => *i,
            other => panic!("not an invoice: {other:?}"),
        }
    }

    const UBL: &str = r#"<?xml version="1.0"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
 <cbc:ID>NUMBER</cbc:ID><cbc:IssueDate>DATE</cbc:IssueDate><cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
 <cac:AccountingSupplierParty><cac:Party><cac:PartyTaxScheme><cbc:CompanyID>VAT</cbc:CompanyID>
 <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme></cac:Party></cac:AccountingSupplierParty>
</Invoice>"#;

    fn key(sender: &str, number: &str, date: &str, vat: &str) -> Option<String> {
        let xml = UBL
            .replace("NUMBER", number)
            .replace("DATE", date)
            .replace(">VAT<", &format!(">{vat}<"));
        duplicate_key("acme", sender, &inspection(&xml))
    }

    #[test]
    fn each_part_of_the_key_is_normalised() {
        let base = key(
            "domain:supplier.example",
            "INV-1",
            "2015-01-09",
            "NL123456789B01",
        );
        assert!(base.is_some());
        for (what, other) in [
            (
                "date with zone",
                key(
                    "domain:supplier.example",
                    "INV-1",
                    "2015-01-09+01:00",
                    "NL123456789B01",
                ),
            ),
            (
                "number case and spaces",
                key(
                    "domain:supplier.example",
                    " inv-1 ",
                    "2015-01-09",
                    "NL123456789B01",
                ),
            ),
            (
                "VAT spelling",
                key(
                    "domain:supplier.example",
                    "INV-1",
                    "2015-01-09",
                    "nl 123456789.b01",
                ),
            ),
            (
                "sender case",
                key(
                    "domain:SUPPLIER.example",
                    "INV-1",
                    "2015-01-09",
                    "NL123456789B01",
                ),
            ),
        ] {
            assert_eq!(other, base, "{what}");
        }
    }

    #[test]
    fn the_seller_claim_is_the_organisation_and_seller_with_the_sender() {
        let key = |number: &str| {
            format!(
                "acme\u{1f}domain:supplier.example\u{1f}VAT:NL123456789B01\u{1f}{number}\u{1f}2015-01-09\u{1f}380"
            )
        };
        assert_eq!(
            seller_claim(&key("INV-1")),
            Some((
                "acme\u{1f}VAT:NL123456789B01".to_string(),
                "domain:supplier.example".to_string()
            ))
        );
        // Another invoice of the same seller from the same sender: the same claim.
        assert_eq!(seller_claim(&key("INV-2")), seller_claim(&key("INV-1")));
        // No seller identity: no claim.
        assert_eq!(
            seller_claim("acme\u{1f}domain:x\u{1f}\u{1f}1\u{1f}\u{1f}380"),
            None
        );
    }

    #[test]
    fn another_trusted_sender_cannot_pre_empt_an_invoice() {
        assert_ne!(
            key(
                "domain:supplier.example",
                "INV-1",
                "2015-01-09",
                "NL123456789B01"
            ),
            key(
                "domain:attacker.example",
                "INV-1",
                "2015-01-09",
                "NL123456789B01"
            ),
        );
    }
}
