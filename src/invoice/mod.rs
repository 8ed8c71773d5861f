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
mod bindings;
mod cii;
mod cii_values;
mod codes;
mod decimals;
mod detect;
mod discouraged;
mod facturx;
mod fields;
pub mod identity;
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
pub use rules::{Finding, Severity, implemented as implemented_rules, implemented_in};
pub use spec::{FacturXProfile, Specification, XRechnungFlavour, Zugferd1Profile};
pub use xml::root_element;

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

/// The syntax of an invoice, from its root element. Serialised as its [`Syntax::id`].
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

impl Serialize for Syntax {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl Syntax {
    const ALL: [Syntax; 4] = [
        Syntax::UblInvoice,
        Syntax::UblCreditNote,
        Syntax::Cii,
        Syntax::Zugferd1,
    ];

    /// The stable name in records, metadata and JSON, e.g. `ubl-invoice`, `cii`.
    pub fn id(&self) -> &'static str {
        match self {
            Syntax::UblInvoice => "ubl-invoice",
            Syntax::UblCreditNote => "ubl-credit-note",
            Syntax::Cii => "cii",
            Syntax::Zugferd1 => "zugferd-1",
        }
    }

    /// The id of a syntax as an older trustgate stored it (its display name, `UBL Invoice`,
    /// or its Rust name, `UblInvoice`), or `stored` itself when it is already an id.
    pub fn id_of_stored(stored: &str) -> String {
        Syntax::ALL
            .iter()
            .find(|s| s.name() == stored || format!("{s:?}") == stored)
            .map_or_else(|| stored.to_string(), |s| s.id().to_string())
    }

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
            let collected = xml::drive(opened, limits, &mut handler)?;
            handler.doc.set_collected(collected);
            let syntax = if credit_note {
                Syntax::UblCreditNote
            } else {
                Syntax::UblInvoice
            };
            (syntax, handler.doc)
        }
        Family::Cii | Family::Zugferd1 => {
            let mut handler = cii::Cii::default();
            handler.zugferd1 = root.family == Family::Zugferd1;
            let collected = xml::drive(opened, limits, &mut handler)?;
            handler.doc.set_collected(collected);
            let syntax = if root.family == Family::Cii {
                Syntax::Cii
            } else {
                Syntax::Zugferd1
            };
            (syntax, handler.doc)
        }
    };
    Ok(build(syntax, doc, &text))
}

fn build(syntax: Syntax, mut doc: Doc, text: &[u8]) -> Inspection {
    let specification = Specification::from_id(doc.customization_id.as_deref());
    let mut findings = rules::check(&doc, syntax, specification);
    rules::number_lines(&mut findings, text);
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
    fn a_repeated_or_malformed_attribute_is_refused() {
        let repeated =
            format!(r#"{UBL_HEAD}<cbc:ID schemeID="0088" schemeID="0106">1</cbc:ID></Invoice>"#);
        assert!(
            matches!(inspect(repeated.as_bytes()), Detection::Refused(r) if r.contains("repeated attribute"))
        );
        let unquoted = format!("{UBL_HEAD}<cbc:ID schemeID=0088>1</cbc:ID></Invoice>");
        assert!(matches!(
            inspect(unquoted.as_bytes()),
            Detection::Refused(_)
        ));
        let fine = format!(r#"{UBL_HEAD}<cbc:ID schemeID="0088">1</cbc:ID></Invoice>"#);
        assert!(matches!(inspect(fine.as_bytes()), Detection::Invoice(_)));
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
        // The totals rules only: the bare line and breakdown break line and VAT rules too.
        let totals: Vec<&str> = i
            .fatal_rule_ids()
            .into_iter()
            .filter(|id| {
                [
                    "BR-CO-10", "BR-CO-11", "BR-CO-12", "BR-CO-13", "BR-CO-14", "BR-CO-15",
                    "BR-CO-16",
                ]
                .contains(id)
            })
            .collect();
        assert_eq!(totals, ["BR-CO-14", "BR-CO-16"]);
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

    /// A valid SI-UBL invoice (one line of 200.00, payable 242.00) to break one way at a time.
    const MINIMAL: &str =
        include_str!("../../tests/fixtures/invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml");
    const LINE_AMOUNT: &str = r#"<cbc:LineExtensionAmount currencyID="EUR">200.00</cbc:LineExtensionAmount>
        <cac:Item>"#;

    fn with_line_amount(value: &str) -> Inspection {
        assert!(MINIMAL.contains(LINE_AMOUNT));
        let xml = MINIMAL.replace(LINE_AMOUNT, &LINE_AMOUNT.replace("200.00", value));
        invoice(inspect(xml.as_bytes()))
    }

    #[test]
    fn a_finding_names_its_element_and_line() {
        let xml = MINIMAL.replace("<cbc:Name>SimplerInvoicing test invoice</cbc:Name>", "");
        let i = invoice(inspect(xml.as_bytes()));
        let f = i.findings.iter().find(|f| f.rule_id == "BR-25").unwrap();
        assert_eq!(f.location.as_deref(), Some("/Invoice/cac:InvoiceLine[1]"));
        // The fixture's line starts on line 85.
        assert_eq!(f.line, Some(85));
        assert_eq!(
            f.official_text,
            Some("Each Invoice line (BG-25) shall contain the Item name (BT-153).")
        );
        let json = serde_json::to_value(f).unwrap();
        assert_eq!(json["line"], 85);
        assert_eq!(json["location"], "/Invoice/cac:InvoiceLine[1]");
    }

    #[test]
    fn the_fixture_is_valid() {
        assert!(invoice(inspect(MINIMAL.as_bytes())).is_valid());
    }

    #[test]
    fn an_amount_that_is_not_a_decimal_is_a_schema_finding_and_fails_the_total() {
        for bad in ["n/a", "1E5", "1e30", "2E2", "", "0x10", "1,5"] {
            let i = with_line_amount(bad);
            assert!(!i.is_valid(), "{bad:?} passed");
            assert_eq!(
                i.fatal_rule_ids(),
                // BR-S-08 sums the same line amount: it fails closed as well.
                ["cvc-datatype-valid.1.2.1", "BR-CO-10", "BR-S-08"],
                "{bad:?}"
            );
            assert!(
                i.findings[0].message.contains("line 1"),
                "{}",
                i.findings[0]
            );
            assert!(i.findings[1].message.contains("cannot be checked"));
        }
    }

    #[test]
    fn a_sum_that_overflows_fails_the_total() {
        // Each fits; aligned to one scale they exceed i128.
        let line = MINIMAL.split("<cac:InvoiceLine>").nth(1).unwrap();
        let line = format!(
            "<cac:InvoiceLine>{}",
            line.split("</Invoice>").next().unwrap()
        );
        let big = line.replace(">200.00<", &format!(">{}<", "9".repeat(30)));
        let tiny = line.replace(">200.00<", ">0.00000000000000000001<");
        let xml = MINIMAL.replace(&line, &format!("{big}{tiny}"));
        let i = invoice(inspect(xml.as_bytes()));
        // The tiny line amount's 20 decimals also break BR-DEC-23 and UBL-DT-01.
        assert_eq!(
            i.fatal_rule_ids(),
            ["BR-CO-10", "BR-DEC-23", "BR-S-08", "UBL-DT-01"]
        );
        assert!(
            i.findings[0].message.contains("too large"),
            "{}",
            i.findings[0]
        );
        // A valid decimal longer than 30 digits cannot be computed with either.
        let i = with_line_amount(&"9".repeat(31));
        assert_eq!(i.fatal_rule_ids(), ["TG-AMOUNT", "BR-CO-10", "BR-S-08"]);
    }

    #[test]
    fn every_amount_the_rules_read_fails_closed() {
        let amounts = [
            r#"<cbc:TaxAmount currencyID="EUR">42.00</cbc:TaxAmount>
        <cac:TaxSubtotal>"#,
            r#"<cbc:TaxAmount currencyID="EUR">42.00</cbc:TaxAmount>
            <cac:TaxCategory>"#,
            r#"<cbc:LineExtensionAmount currencyID="EUR">200.00</cbc:LineExtensionAmount>
        <cbc:TaxExclusiveAmount"#,
            r#"<cbc:TaxExclusiveAmount currencyID="EUR">200.00</cbc:TaxExclusiveAmount>"#,
            r#"<cbc:TaxInclusiveAmount currencyID="EUR">242.00</cbc:TaxInclusiveAmount>"#,
            r#"<cbc:PayableAmount currencyID="EUR">242.00</cbc:PayableAmount>"#,
        ];
        for a in amounts {
            assert!(MINIMAL.contains(a), "{a}");
            for bad in ["n/a", "1E5"] {
                let broken = a
                    .replace("42.00", bad)
                    .replace("200.00", bad)
                    .replace("242.00", bad);
                let i = invoice(inspect(MINIMAL.replace(a, &broken).as_bytes()));
                let ids = i.fatal_rule_ids();
                assert_eq!(
                    ids.first(),
                    Some(&"cvc-datatype-valid.1.2.1"),
                    "{a}: {ids:?}"
                );
                assert!(
                    ids.iter().any(|id| id.starts_with("BR-CO-")),
                    "{a} with {bad}: no totals rule failed: {ids:?}"
                );
            }
        }
        // Added totals that are not numbers fail too.
        for (element, rule) in [
            ("AllowanceTotalAmount", "BR-CO-11"),
            ("ChargeTotalAmount", "BR-CO-12"),
            ("PrepaidAmount", "BR-CO-16"),
            ("PayableRoundingAmount", "BR-CO-16"),
        ] {
            let xml = MINIMAL.replace(
                r#"<cbc:PayableAmount"#,
                &format!(
                    r#"<cbc:{element} currencyID="EUR">n/a</cbc:{element}><cbc:PayableAmount"#
                ),
            );
            let i = invoice(inspect(xml.as_bytes()));
            assert!(
                i.fatal_rule_ids().contains(&rule),
                "{element}: {:?}",
                i.fatal_rule_ids()
            );
        }
    }

    #[test]
    fn an_allowance_without_a_valid_indicator_is_refused_and_in_neither_sum() {
        // As in the official contexts (`AllowanceCharge[ChargeIndicator = false()]`), such a
        // group is in neither sum, so the sums agree; the schema step refuses it.
        let bad = MINIMAL.replace(
            "<cac:TaxTotal>",
            r#"<cac:AllowanceCharge><cbc:ChargeIndicator>maybe</cbc:ChargeIndicator><cbc:Amount currencyID="EUR">10</cbc:Amount></cac:AllowanceCharge><cac:TaxTotal>"#,
        );
        let ids = invoice(inspect(bad.as_bytes())).fatal_rule_ids().join(" ");
        assert!(ids.contains("cvc-datatype-valid.1.2.1"), "{ids}");
        assert!(
            !ids.contains("BR-CO-11") && !ids.contains("BR-CO-12"),
            "{ids}"
        );
        let missing = MINIMAL.replace(
            "<cac:TaxTotal>",
            r#"<cac:AllowanceCharge><cbc:Amount currencyID="EUR">10</cbc:Amount></cac:AllowanceCharge><cac:TaxTotal>"#,
        );
        let ids = invoice(inspect(missing.as_bytes()))
            .fatal_rule_ids()
            .join(" ");
        assert!(ids.contains("cvc-complex-type.2.4.b"), "{ids}");
    }

    #[test]
    fn missing_totals_are_never_a_pass() {
        let start = MINIMAL.find("<cac:LegalMonetaryTotal>").unwrap();
        let end =
            MINIMAL.find("</cac:LegalMonetaryTotal>").unwrap() + "</cac:LegalMonetaryTotal>".len();
        let xml = format!("{}{}", &MINIMAL[..start], &MINIMAL[end..]);
        let ids = invoice(inspect(xml.as_bytes())).fatal_rule_ids();
        assert_eq!(ids[..4], ["BR-12", "BR-13", "BR-14", "BR-15"]);
    }

    fn repeated_rules(xml: &str) -> Vec<String> {
        invoice(inspect(xml.as_bytes()))
            .findings
            .iter()
            .filter(|f| f.rule_id == "cvc-complex-type.2.4.a" || f.rule_id.starts_with("CII-SR-"))
            .map(|f| f.message.clone())
            .collect()
    }

    #[test]
    fn a_singular_ubl_element_given_twice_is_refused_with_its_name() {
        let customer_start = MINIMAL.find("    <cac:AccountingCustomerParty>").unwrap();
        let customer_end = MINIMAL.find("</cac:AccountingCustomerParty>").unwrap()
            + "</cac:AccountingCustomerParty>\n".len();
        let customer = &MINIMAL[customer_start..customer_end];
        let cases = [
            (
                MINIMAL.replacen(customer, &format!("{customer}{}", customer.replace("11111111", "87654321")), 1),
                "Invoice/AccountingCustomerParty ",
            ),
            (
                MINIMAL.replace("<cbc:ID>12115118</cbc:ID>", "<cbc:ID>12115118</cbc:ID><cbc:ID>666</cbc:ID>"),
                "Invoice/ID ",
            ),
            (
                MINIMAL.replace("<cbc:IssueDate>2015-01-09</cbc:IssueDate>", "<cbc:IssueDate>2015-01-09</cbc:IssueDate><cbc:IssueDate>2016-01-09</cbc:IssueDate>"),
                "Invoice/IssueDate ",
            ),
            (
                MINIMAL.replace("<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>", "<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode><cbc:DocumentCurrencyCode>GBP</cbc:DocumentCurrencyCode>"),
                "Invoice/DocumentCurrencyCode ",
            ),
            (
                MINIMAL.replace(r#"<cbc:CompanyID schemeID="0106">11111111</cbc:CompanyID>"#, r#"<cbc:CompanyID schemeID="0106">11111111</cbc:CompanyID><cbc:CompanyID schemeID="0106">87654321</cbc:CompanyID>"#),
                "Invoice/AccountingCustomerParty/Party/PartyLegalEntity/CompanyID ",
            ),
            (
                MINIMAL.replace("<cbc:ID>NL11 BANK 1111111111</cbc:ID>", "<cbc:ID>NL11 BANK 1111111111</cbc:ID><cbc:ID>DE02 1203 0000 0000 2020 51</cbc:ID>"),
                "Invoice/PaymentMeans/PayeeFinancialAccount/ID ",
            ),
            (
                MINIMAL.replace(r#"<cbc:PayableAmount currencyID="EUR">242.00</cbc:PayableAmount>"#, r#"<cbc:PayableAmount currencyID="EUR">242.00</cbc:PayableAmount><cbc:PayableAmount currencyID="EUR">1.00</cbc:PayableAmount>"#),
                "Invoice/LegalMonetaryTotal/PayableAmount ",
            ),
        ];
        for (xml, name) in cases {
            let found = repeated_rules(&xml);
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            assert!(found[0].contains(name), "{name}: {found:?}");
            assert!(!invoice(inspect(xml.as_bytes())).is_valid());
        }
        // Elements that may repeat do not fire: two PaymentMeans, two InvoiceLines are fine.
        let pm_start = MINIMAL.find("    <cac:PaymentMeans>").unwrap();
        let pm_end = MINIMAL.find("</cac:PaymentMeans>").unwrap() + "</cac:PaymentMeans>\n".len();
        let pm = &MINIMAL[pm_start..pm_end];
        let xml = MINIMAL.replace(pm, &format!("{pm}{pm}"));
        assert!(repeated_rules(&xml).is_empty());
        // The same element name in another parent is another element.
        assert!(repeated_rules(MINIMAL).is_empty());
    }

    #[test]
    fn a_hostile_number_of_repeats_is_noted_a_bounded_number_of_times() {
        let many = "<cbc:ID>x</cbc:ID>".repeat(10_000);
        let xml = MINIMAL.replace(
            "<cbc:ID>12115118</cbc:ID>",
            &format!("<cbc:ID>12115118</cbc:ID>{many}"),
        );
        assert_eq!(repeated_rules(&xml).len(), 1);
    }

    #[test]
    fn a_singular_cii_element_given_twice_is_refused() {
        let cii = include_str!("../../tests/fixtures/invoices/cii/CII_example1.xml");
        assert!(repeated_rules(cii).is_empty());
        let buyer = "<ram:BuyerTradeParty>";
        assert!(cii.contains(buyer));
        let start = cii.find(buyer).unwrap();
        let end = cii.find("</ram:BuyerTradeParty>").unwrap() + "</ram:BuyerTradeParty>".len();
        let xml = cii.replacen(&cii[start..end], &format!("{0}{0}", &cii[start..end]), 1);
        let found = repeated_rules(&xml);
        assert!(
            found.iter().any(|m| m.contains("CrossIndustryInvoice/SupplyChainTradeTransaction/ApplicableHeaderTradeAgreement/BuyerTradeParty ")),
            "{found:?}"
        );
        let due = cii.find("<ram:DuePayableAmount>").map(|s| {
            let e = cii[s..].find("</ram:DuePayableAmount>").unwrap()
                + s
                + "</ram:DuePayableAmount>".len();
            &cii[s..e]
        });
        if let Some(due) = due {
            let xml = cii.replacen(due, &format!("{due}{due}"), 1);
            let i = invoice(inspect(xml.as_bytes()));
            assert!(
                i.fatal_rule_ids().contains(&"CII-SR-487"),
                "{:?}",
                i.fatal_rule_ids()
            );
        }
    }

    proptest::proptest! {
        /// Whatever text stands as the line amount, the invoice is valid only when it is the
        /// same number as the totals (200.00): a malformed amount never passes.
        #[test]
        fn a_line_amount_other_than_the_total_never_passes(amount in "[ -~]{0,40}") {
            let amount: String = amount.chars().filter(|c| !matches!(c, '<' | '&')).collect();
            let xml = MINIMAL.replace(LINE_AMOUNT, &LINE_AMOUNT.replace("200.00", &amount));
            if let Detection::Invoice(i) = inspect(xml.as_bytes()) {
                proptest::prop_assert!(
                    !i.is_valid() || Amount::parse(&amount) == Amount::parse("200"),
                    "{amount:?} passed"
                );
            }
        }

        #[test]
        fn decimal_looking_amounts_never_pass_unless_equal(
            int in "[0-9]{0,35}",
            frac in proptest::option::of("[0-9]{0,22}"),
            exp in proptest::option::of("[eE][+-]?[0-9]{1,3}"),
        ) {
            let amount = format!("{int}{}{}", frac.map(|f| format!(".{f}")).unwrap_or_default(), exp.unwrap_or_default());
            let xml = MINIMAL.replace(LINE_AMOUNT, &LINE_AMOUNT.replace("200.00", &amount));
            let i = invoice(inspect(xml.as_bytes()));
            proptest::prop_assert!(
                !i.is_valid() || Amount::parse(&amount) == Amount::parse("200"),
                "{amount:?} passed"
            );
        }
    }
}
