//! Invoice inspection: bytes in, a typed [`Inspection`] out.
//!
//! Called by `intake` (and the `inspect` CLI) for every XML attachment. It recognises UBL 2.x,
//! UN/CEFACT CII and ZUGFeRD 1.0 invoices by the namespace and local name of the root element,
//! refuses unsafe or broken XML (DOCTYPE, entities, too deep, not well-formed) and extracts the
//! invoice number.
//!
//! This module is pure: it never does I/O, never reads a clock, knows nothing of SMTP or the
//! spool, and never panics on any input. Work is bounded by [`Limits`].

mod scan;

pub use scan::Limits;

/// What an XML attachment turned out to be.
#[derive(Debug, Clone)]
pub enum Detection {
    /// An e-invoice.
    Invoice(Box<Inspection>),
    /// Not an invoice: not XML at all, or XML whose root element is not an invoice root.
    NotInvoice,
    /// Refused as unsafe or broken: DOCTYPE, entity declaration or reference, too deep, too
    /// many elements, too large, not well-formed. The text is one sentence a supplier can act
    /// on; the caller prefixes the attachment name (`"INV-1.xml: " + reason`).
    Refused(String),
}

/// The syntax of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syntax {
    /// UBL 2.x Invoice.
    UblInvoice,
    /// UBL 2.x CreditNote.
    UblCreditNote,
    /// UN/CEFACT CII CrossIndustryInvoice (D16B, as used by EN 16931, Factur-X, XRechnung).
    Cii,
    /// ZUGFeRD 1.0 CrossIndustryDocument (predates EN 16931).
    Zugferd1,
}

impl Syntax {
    /// Display name, e.g. `UBL Invoice`.
    pub fn name(&self) -> &'static str {
        match self {
            Syntax::UblInvoice => "UBL Invoice",
            Syntax::UblCreditNote => "UBL CreditNote",
            Syntax::Cii => "CII CrossIndustryInvoice",
            Syntax::Zugferd1 => "ZUGFeRD 1.0 CrossIndustryDocument",
        }
    }
}

/// The inspection of one invoice XML.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The syntax, from the root element.
    pub syntax: Syntax,
    /// The invoice number (BT-1), trimmed; `None` when absent or empty.
    pub invoice_number: Option<String>,
}

/// Inspects an XML file with the default [`Limits`].
pub fn inspect(xml: &[u8]) -> Detection {
    inspect_with(xml, &Limits::default())
}

/// Inspects an XML file with explicit limits.
pub fn inspect_with(xml: &[u8], limits: &Limits) -> Detection {
    scan::scan(xml, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(d: &Detection) -> Option<&str> {
        match d {
            Detection::Invoice(i) => i.invoice_number.as_deref(),
            _ => None,
        }
    }

    #[test]
    fn ubl_invoice_with_rebound_prefixes() {
        let xml = br#"<?xml version="1.0"?>
<Bob:Invoice xmlns:H="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" xmlns:Bob="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">
 <H:UBLVersionID>2.0</H:UBLVersionID>
 <ID xmlns="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"> A-1 </ID>
</Bob:Invoice>"#;
        let d = inspect(xml);
        assert!(matches!(&d, Detection::Invoice(i) if i.syntax == Syntax::UblInvoice));
        assert_eq!(number(&d), Some("A-1"));
    }

    #[test]
    fn cii_number_from_exchanged_document() {
        let xml = br#"<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100">
<rsm:ExchangedDocumentContext><ram:ID>no</ram:ID></rsm:ExchangedDocumentContext>
<rsm:ExchangedDocument><ram:ID>F&amp;1</ram:ID></rsm:ExchangedDocument></rsm:CrossIndustryInvoice>"#;
        let d = inspect(xml);
        assert!(matches!(&d, Detection::Invoice(i) if i.syntax == Syntax::Cii));
        assert_eq!(number(&d), Some("F&1"));
    }

    #[test]
    fn doctype_is_refused() {
        let xml = br#"<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x "y">]><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>"#;
        assert!(matches!(inspect(xml), Detection::Refused(r) if r.contains("DOCTYPE")));
    }

    #[test]
    fn unknown_entity_is_refused() {
        let xml = br#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID xmlns="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">&x;</ID></Invoice>"#;
        assert!(matches!(inspect(xml), Detection::Refused(_)));
    }

    #[test]
    fn too_deep_is_refused() {
        let mut xml = String::from(
            r#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">"#,
        );
        for _ in 0..200 {
            xml.push_str("<a>");
        }
        assert!(matches!(inspect(xml.as_bytes()), Detection::Refused(r) if r.contains("deep")));
    }

    #[test]
    fn broken_invoice_is_refused_other_xml_is_not_invoice() {
        let xml = br#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><a></b></Invoice>"#;
        assert!(matches!(inspect(xml), Detection::Refused(_)));
        let truncated =
            br#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><a>"#;
        assert!(matches!(inspect(truncated), Detection::Refused(_)));
        assert!(matches!(
            inspect(b"<html><body/></html>"),
            Detection::NotInvoice
        ));
        assert!(matches!(inspect(b"just text"), Detection::NotInvoice));
        assert!(matches!(inspect(b""), Detection::NotInvoice));
    }
}
