//! Invoice inspection: bytes in, a typed [`Inspection`] out.
//!
//! Called by `intake` for every XML attachment (and, through [`extract_from_pdf`], for the XML
//! inside every hybrid PDF), and by the `inspect` CLI. It recognises UBL 2.x Invoice/CreditNote,
//! UN/CEFACT CII D16B and ZUGFeRD 1.0 by the namespace and local name of the root element,
//! refuses unsafe or broken XML, reads the specification identifier and the business fields, and
//! checks the EN 16931 and NLCIUS business rules with their official rule ids.
//!
//! Flow: `detect` (encoding, BOM) → `xml` (one streaming quick-xml pass, limits, no DTD, no
//! entities) → `ubl` / `cii` (paths → the `model`) → `rules` (findings) → `fields` (public
//! values). `facturx` finds the XML inside PDFs; `attachment` decides whether an embedded
//! "PDF" really is one.
//!
//! This module is pure: it never does I/O, never reads a clock, knows nothing of SMTP or the
//! spool, and never panics on any input. Work is bounded by [`Limits`] and [`PdfLimits`].

mod amount;
mod attachment;
mod cii;
mod detect;
mod facturx;
mod fields;
mod model;
mod pdf_reader;
mod rules;
mod spec;
mod ubl;
mod xml;

use serde::Serialize;

pub use amount::Amount;
pub use facturx::{EmbeddedXml, PdfError, PdfLimits, extract_from_pdf, invoice_xmls_in_pdf};
pub use fields::{Attachment, EmbeddedPdf, Identifier, Party, Totals};
pub use rules::{Finding, Severity};
pub use spec::{FacturXProfile, Specification, Zugferd1Profile};

use model::{Doc, clean};
use xml::{Family, Ns, Stop};

/// What an XML attachment turned out to be.
#[derive(Debug, Clone)]
pub enum Detection {
    /// An e-invoice (valid or not: see [`Inspection::findings`]).
    Invoice(Box<Inspection>),
    /// Not an invoice: not XML at all, or XML whose root element is not an invoice root
    /// (including other XML that carries a DOCTYPE).
    NotInvoice,
    /// An invoice root, but refused as unsafe or broken: DOCTYPE, entity reference, too deep,
    /// too many elements, too large, not well-formed, undecodable. The text is one sentence a
    /// supplier can act on; the caller prefixes the attachment name (`"INV-1.xml: " + reason`).
    Refused(String),
}

/// The syntax of an invoice, from its root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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

/// Limits on one XML document, enforced while reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting accepted (the root is depth 1).
    pub max_depth: usize,
    /// Most elements accepted in one document.
    pub max_elements: usize,
    /// Longest text kept from one element other than an embedded binary object; longer text
    /// is cut (identifiers and codes are short; only attachments are large).
    pub max_text_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Real invoices nest about 10 deep; 64 leaves room for extensions and signatures.
        Limits {
            max_bytes: 64 << 20,
            max_depth: 64,
            max_elements: 2_000_000,
            max_text_bytes: 64 << 10,
        }
    }
}

/// The inspection of one invoice XML.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The syntax, from the root element.
    pub syntax: Syntax,
    /// The specification the invoice declares (BT-24).
    pub specification: Specification,
    /// The specification identifier as written, whitespace-normalised.
    pub customization_id: Option<String>,
    /// Business process (BT-23: UBL `ProfileID`, CII `BusinessProcessSpecifiedDocumentContextParameter`).
    pub profile_id: Option<String>,
    /// Invoice type code (BT-3), e.g. `380` invoice, `381` credit note, `384` corrective.
    pub document_type_code: Option<String>,
    /// The invoice number (BT-1), whitespace-normalised; `None` when absent or empty.
    pub invoice_number: Option<String>,
    /// Issue date (BT-2) as `YYYY-MM-DD`.
    pub issue_date: Option<String>,
    /// Payment due date (BT-9) as `YYYY-MM-DD`.
    pub due_date: Option<String>,
    /// Invoice currency code (BT-5).
    pub currency: Option<String>,
    /// The seller (BG-4).
    pub seller: Party,
    /// The buyer (BG-7).
    pub buyer: Party,
    /// Document totals (BG-22).
    pub totals: Totals,
    /// Payment account identifiers (BT-84; IBANs for SEPA credit transfer), as written.
    pub payment_accounts: Vec<String>,
    /// Buyer reference (BT-10, e.g. the Leitweg-ID for XRechnung).
    pub buyer_reference: Option<String>,
    /// Purchase order reference (BT-13).
    pub order_reference: Option<String>,
    /// Additional supporting documents (BG-24).
    pub attachments: Vec<Attachment>,
    /// The first embedded object that really is a PDF: the invoice's visual when the message
    /// has no separate PDF.
    pub embedded_pdf: Option<EmbeddedPdf>,
    /// Every failed business rule, fatal and warning, in rule order.
    pub findings: Vec<Finding>,
}

impl Inspection {
    /// No fatal finding.
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Fatal)
    }

    /// The ids of the fatal findings, e.g. `["BR-NL-10"]`.
    pub fn fatal_rule_ids(&self) -> Vec<&'static str> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Fatal)
            .map(|f| f.rule_id)
            .collect()
    }
}

/// Inspects an XML file with the default [`Limits`].
pub fn inspect(xml: &[u8]) -> Detection {
    inspect_with(xml, &Limits::default())
}

/// Inspects an XML file with explicit limits. Never panics; returns [`Detection::Refused`]
/// rather than reading past a limit.
pub fn inspect_with(xml: &[u8], limits: &Limits) -> Detection {
    match run(xml, limits) {
        Ok(inspection) => Detection::Invoice(Box::new(inspection)),
        Err(Stop::NotInvoice) => Detection::NotInvoice,
        Err(Stop::Refused(reason)) => Detection::Refused(reason),
    }
}

fn run(xml: &[u8], limits: &Limits) -> Result<Inspection, Stop> {
    let text = detect::prepare(xml)?;
    let opened = detect::open(&text, limits)?;
    let root = opened.root;
    let (syntax, doc) = match root.family {
        Family::Ubl => {
            let credit_note = root.ns == Ns::UblCreditNote;
            let mut handler = ubl::Ubl::new(credit_note);
            xml::drive(opened, limits, &mut handler)?;
            let syntax = if credit_note {
                Syntax::UblCreditNote
            } else {
                Syntax::UblInvoice
            };
            (syntax, handler.doc)
        }
        Family::Cii | Family::Zugferd1 => {
            let mut handler = cii::Cii::default();
            xml::drive(opened, limits, &mut handler)?;
            let syntax = if root.family == Family::Cii {
                Syntax::Cii
            } else {
                Syntax::Zugferd1
            };
            (syntax, handler.doc)
        }
    };
    Ok(build(syntax, doc))
}

fn build(syntax: Syntax, mut doc: Doc) -> Inspection {
    let specification = Specification::from_id(doc.customization_id.as_deref());
    let findings = rules::check(&doc, syntax, specification);
    let totals = fields::totals(&doc, syntax);
    let embedded_pdf = doc
        .embedded_pdf
        .take()
        .map(|(name, bytes)| EmbeddedPdf { name, bytes });
    Inspection {
        syntax,
        specification,
        customization_id: clean(&doc.customization_id),
        profile_id: clean(&doc.profile_id),
        document_type_code: clean(&doc.type_code),
        invoice_number: clean(&doc.number),
        issue_date: fields::date(&doc.issue_date),
        due_date: fields::date(&doc.due_date),
        currency: clean(&doc.currency),
        seller: fields::party(&doc.seller),
        buyer: fields::party(&doc.buyer),
        totals,
        payment_accounts: doc
            .payment_means
            .iter()
            .flat_map(|p| p.accounts.iter())
            .map(|a| model::normalize_space(a))
            .filter(|a| !a.is_empty())
            .collect(),
        buyer_reference: clean(&doc.buyer_reference),
        order_reference: clean(&doc.order_reference),
        attachments: doc
            .attachments
            .iter()
            .map(|a| Attachment {
                id: clean(&a.id),
                filename: clean(&a.filename),
                mime_code: clean(&a.mime_code),
                size: a.size,
                is_pdf: a.is_pdf,
                uri: clean(&a.uri),
            })
            .collect(),
        embedded_pdf,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UBL_HEAD: &str = r#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2">"#;

    fn invoice(d: Detection) -> Inspection {
        match d {
            Detection::Invoice(i) => *i,
            other => panic!("not an invoice: {other:?}"),
        }
    }

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
 <H:ID>second</H:ID>
</Bob:Invoice>"#;
        let d = inspect(xml);
        assert!(matches!(&d, Detection::Invoice(i) if i.syntax == Syntax::UblInvoice));
        assert_eq!(number(&d), Some("A-1"));
    }

    #[test]
    fn ids_in_foreign_namespaces_are_ignored() {
        let xml = format!(
            r#"{UBL_HEAD}<ext:UBLExtensions xmlns:ext="urn:x"><cbc:ID>ext</cbc:ID></ext:UBLExtensions><x:ID xmlns:x="urn:y">no</x:ID><cbc:ID>yes</cbc:ID></Invoice>"#
        );
        // cbc:ID inside an extension is not a child of the root; x:ID is not cbc.
        assert_eq!(number(&inspect(xml.as_bytes())), Some("yes"));
    }

    #[test]
    fn cii_number_from_exchanged_document() {
        let xml = br#"<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100">
<rsm:ExchangedDocumentContext><ram:ID>no</ram:ID></rsm:ExchangedDocumentContext>
<rsm:ExchangedDocument><ram:ID>F&amp;1&#x41;</ram:ID></rsm:ExchangedDocument></rsm:CrossIndustryInvoice>"#;
        let d = inspect(xml);
        assert!(matches!(&d, Detection::Invoice(i) if i.syntax == Syntax::Cii));
        assert_eq!(number(&d), Some("F&1A"));
    }

    #[test]
    fn doctype_is_refused_for_invoices_only() {
        let xml = br#"<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x "y">]><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>"#;
        assert!(matches!(inspect(xml), Detection::Refused(r) if r.contains("DOCTYPE")));
        let xhtml = br#"<!DOCTYPE html><html><body/></html>"#;
        assert!(matches!(inspect(xhtml), Detection::NotInvoice));
    }

    #[test]
    fn unknown_entity_is_refused() {
        let xml = format!("{UBL_HEAD}<cbc:ID>&x;</cbc:ID></Invoice>");
        assert!(matches!(inspect(xml.as_bytes()), Detection::Refused(r) if r.contains("&x;")));
    }

    #[test]
    fn limits_are_enforced_while_reading() {
        let mut deep = String::from(UBL_HEAD);
        for _ in 0..200 {
            deep.push_str("<a>");
        }
        assert!(matches!(inspect(deep.as_bytes()), Detection::Refused(r) if r.contains("deep")));
        let many = format!("{UBL_HEAD}{}</Invoice>", "<a/>".repeat(50));
        let limits = Limits {
            max_elements: 10,
            ..Limits::default()
        };
        assert!(
            matches!(inspect_with(many.as_bytes(), &limits), Detection::Refused(r) if r.contains("elements"))
        );
        let limits = Limits {
            max_bytes: 100,
            ..Limits::default()
        };
        assert!(
            matches!(inspect_with(many.as_bytes(), &limits), Detection::Refused(r) if r.contains("bytes"))
        );
        let long = format!("{UBL_HEAD}<cbc:ID>{}</cbc:ID></Invoice>", "é".repeat(100));
        let limits = Limits {
            max_text_bytes: 11,
            ..Limits::default()
        };
        assert_eq!(
            number(&inspect_with(long.as_bytes(), &limits)),
            Some("ééééé")
        );
    }

    #[test]
    fn broken_invoice_is_refused_other_xml_is_not_invoice() {
        let xml = format!("{UBL_HEAD}<a></b></Invoice>");
        assert!(matches!(inspect(xml.as_bytes()), Detection::Refused(_)));
        let truncated = format!("{UBL_HEAD}<a>");
        assert!(
            matches!(inspect(truncated.as_bytes()), Detection::Refused(r) if r.contains("ends"))
        );
        let two_roots = format!("{UBL_HEAD}</Invoice><Invoice/>");
        assert!(
            matches!(inspect(two_roots.as_bytes()), Detection::Refused(r) if r.contains("after"))
        );
        assert!(matches!(
            inspect(b"<html><body/></html>"),
            Detection::NotInvoice
        ));
        assert!(matches!(inspect(b"just text"), Detection::NotInvoice));
        assert!(matches!(inspect(b""), Detection::NotInvoice));
        assert!(matches!(inspect(b"%PDF-1.4"), Detection::NotInvoice));
    }

    #[test]
    fn totals_rules_fire_with_their_ids() {
        let xml = format!(
            r#"{UBL_HEAD}<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID><cbc:ID>1</cbc:ID>
<cbc:IssueDate>2024-01-02</cbc:IssueDate><cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode><cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
<cac:AccountingSupplierParty><cac:Party><cac:PostalAddress><cac:Country><cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country></cac:PostalAddress><cac:PartyLegalEntity><cbc:RegistrationName>S</cbc:RegistrationName><cbc:CompanyID schemeID="0106">12345678</cbc:CompanyID></cac:PartyLegalEntity></cac:Party></cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party><cac:PostalAddress><cac:Country><cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country></cac:PostalAddress><cac:PartyLegalEntity><cbc:RegistrationName>B</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:AccountingCustomerParty>
<cac:TaxTotal><cbc:TaxAmount currencyID="EUR">21.00</cbc:TaxAmount><cac:TaxSubtotal><cbc:TaxAmount currencyID="EUR">20.00</cbc:TaxAmount></cac:TaxSubtotal></cac:TaxTotal>
<cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID="EUR">100.00</cbc:LineExtensionAmount><cbc:TaxExclusiveAmount currencyID="EUR">100.00</cbc:TaxExclusiveAmount><cbc:TaxInclusiveAmount currencyID="EUR">121.00</cbc:TaxInclusiveAmount><cbc:PayableAmount currencyID="EUR">120.00</cbc:PayableAmount></cac:LegalMonetaryTotal>
<cac:InvoiceLine><cbc:LineExtensionAmount currencyID="EUR">99.995</cbc:LineExtensionAmount></cac:InvoiceLine></Invoice>"#
        );
        let i = invoice(inspect(xml.as_bytes()));
        assert_eq!(i.fatal_rule_ids(), ["BR-CO-14", "BR-CO-16"]);
        assert!(
            i.findings
                .iter()
                .all(|f| f.message.starts_with(&format!("[{}]", f.rule_id)))
        );
        assert_eq!(
            i.totals.payable.map(|a| a.to_string()).as_deref(),
            Some("120.00")
        );
        assert_eq!(i.issue_date.as_deref(), Some("2024-01-02"));
    }
}
