//! Which attachments are invoice documents: each invoice XML, recognised by [`crate::invoice`],
//! paired with its PDF the way people name files ([`PairedBy`]), in this order:
//! 1. the PDF of the same base name, case-insensitively (`INV-1.xml` with `inv-1.PDF`);
//! 2. an XML with a PDF embedded in it (UBL's `AdditionalDocumentReference`) has that as its
//!    visual, as before;
//! 3. a PDF whose name contains the invoice number of exactly one XML still without a PDF, as a
//!    word of its own (`Factuur PZ-1.pdf` with invoice `PZ-1`, not with invoice `1`), when no
//!    other PDF names that number;
//! 4. when exactly one XML and exactly one PDF are left unpaired, they are paired, unless that
//!    PDF carries an invoice XML of its own for another invoice (a Factur-X of its own).
//!
//! A PDF left without an XML is searched for an embedded Factur-X/ZUGFeRD/XRechnung XML (a
//! hybrid invoice: the XML is the document, the PDF its visual). Everything else is listed as
//! ignored with a reason; unsafe XML is listed as refused. Two XMLs and one PDF with unrelated
//! names are not paired: which XML the PDF shows cannot be told.
//!
//! A PDF paired with an XML is opened too: when it carries an invoice XML of its own (a
//! Factur-X/ZUGFeRD visual), that invoice must be the same one (number, seller, buyer, amount
//! due with currency, payment account). Otherwise a clerk approving the PDF approves another
//! invoice than the one booked from the XML, so the difference is a fatal finding
//! ([`PDF_MISMATCH`]) on the document.

use std::collections::HashMap;

use super::archive::ArchiveSource;
use super::mime::{Attachment, IntakeLimits, Location};
use super::names;
use crate::invoice::{self, Detection, Finding, Inspection, PdfError, Severity};

/// Our rule id for a paired PDF whose own invoice XML is another invoice than the XML's.
pub const PDF_MISMATCH: &str = "TG-PDF-XML";

/// One invoice document: the XML, its inspection, and its PDF if one was attached.
#[derive(Debug, Clone)]
pub struct Document {
    /// Sanitised XML file name.
    pub xml_name: String,
    /// The XML bytes.
    pub xml: Vec<u8>,
    /// What the inspector found.
    pub inspection: Box<Inspection>,
    /// Sanitised PDF file name.
    pub pdf_name: Option<String>,
    /// The PDF bytes.
    pub pdf: Option<Vec<u8>>,
    /// Where the XML and the PDF came from.
    pub origin: Origin,
    /// Where the XML is in the raw message, when it is a part of its own there.
    pub xml_at: Option<Location>,
    /// Where the PDF is in the raw message, when it is a part of its own there.
    pub pdf_at: Option<Location>,
    /// How its XML and PDF were put together, when it has a PDF.
    pub paired_by: Option<PairedBy>,
    /// The archive the XML (for a hybrid PDF: the PDF) was taken from, if any.
    pub xml_archive: Option<ArchiveSource>,
    /// The archive the PDF was taken from, if any.
    pub pdf_archive: Option<ArchiveSource>,
}

/// Which pairing rule gave a document its PDF (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairedBy {
    /// The same base name as the XML.
    SameName,
    /// Embedded in the XML.
    EmbeddedInXml,
    /// The PDF's name contains the invoice number.
    InvoiceNumber,
    /// The only XML and the only PDF left.
    OnlyPair,
    /// A hybrid PDF: the XML came out of it.
    Hybrid,
}

impl PairedBy {
    /// The word records, `spool show` and `inspect` use.
    pub fn as_str(self) -> &'static str {
        match self {
            PairedBy::SameName => "same-name",
            PairedBy::EmbeddedInXml => "embedded-in-xml",
            PairedBy::InvoiceNumber => "invoice-number",
            PairedBy::OnlyPair => "only-pair",
            PairedBy::Hybrid => "hybrid-pdf",
        }
    }
}

/// How a document was put together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An XML attachment, with its same-named PDF attachment if there was one.
    Attachments,
    /// A hybrid PDF attachment (Factur-X, ZUGFeRD, XRechnung) carrying the XML.
    HybridPdf,
    /// An XML attachment whose PDF visual is embedded in the XML itself.
    PdfEmbeddedInXml,
}

impl Origin {
    /// A short word for records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Attachments => "attachments",
            Origin::HybridPdf => "hybrid-pdf",
            Origin::PdfEmbeddedInXml => "pdf-embedded-in-xml",
        }
    }
}

/// An attachment that is not (part of) a document, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// Sanitised name.
    pub name: String,
    /// Why it was not taken.
    pub reason: String,
}

/// The outcome of pairing.
#[derive(Debug, Clone, Default)]
pub struct Paired {
    /// Invoice documents, in message order.
    pub documents: Vec<Document>,
    /// Attachments kept only in the raw message.
    pub ignored: Vec<Ignored>,
    /// XML files refused as unsafe or broken (DOCTYPE, entities, not well-formed).
    pub refused: Vec<Ignored>,
}

enum Kind {
    Xml,
    Pdf,
    Other,
}

fn kind(a: &Attachment) -> Kind {
    let (_, ext) = names::split_extension(&a.name);
    if ext == "xml" || a.content_type.ends_with("/xml") || a.content_type.ends_with("+xml") {
        Kind::Xml
    } else if ext == "pdf" || a.content_type == "application/pdf" {
        Kind::Pdf
    } else {
        Kind::Other
    }
}

/// The invoice XML inside a hybrid PDF: the first embedded invoice XML that inspects as an
/// invoice (a PDF may carry the same invoice twice, e.g. `factur-x.xml` and
/// `ZUGFeRD-invoice.xml`). Errors say why the PDF is not a document.
fn hybrid_invoice(
    pdf: &Attachment,
    limits: &IntakeLimits,
) -> Result<(String, Vec<u8>, Box<Inspection>), String> {
    const ALONE: &str = "a PDF with no invoice XML to pair it with";
    let xmls = match invoice::invoice_xmls_in_pdf(&pdf.bytes, &limits.pdf) {
        Ok(xmls) => xmls,
        Err(err) => return Err(format!("{ALONE} ({err})")),
    };
    let mut refused = None;
    for xml in xmls {
        match invoice::inspect_with(&xml.bytes, &limits.xml) {
            Detection::Invoice(inspection) => {
                return Ok((names::sanitise(&xml.name), xml.bytes, inspection));
            }
            Detection::Refused(reason) => {
                refused = Some(format!("embedded {}: {reason}", names::sanitise(&xml.name)))
            }
            Detection::NotInvoice => {}
        }
    }
    Err(refused.unwrap_or_else(|| {
        format!("{ALONE}, and no invoice XML embedded in it (not Factur-X or ZUGFeRD)")
    }))
}

/// What an XML attachment that is no invoice is instead, in words a supplier's admin can
/// check against what their ERP sent.
fn not_an_invoice(bytes: &[u8]) -> String {
    match invoice::root_element(bytes) {
        Some(root) => format!(
            "XML, but not an invoice: its root element is {root}, not a UBL Invoice or CreditNote or a CII CrossIndustryInvoice"
        ),
        None => "named or typed as XML, but not XML".to_string(),
    }
}

fn pairing_key(name: &str) -> String {
    names::split_extension(name).0.to_lowercase()
}

/// Inspects every XML attachment and pairs invoices with their PDFs, within the default
/// XML and PDF limits.
pub fn pair(attachments: Vec<Attachment>) -> Paired {
    pair_with(attachments, &IntakeLimits::default())
}

/// Inspects every XML attachment and pairs invoices with their PDFs; every XML is inspected
/// within `limits.xml` and every PDF read within `limits.pdf` (`[limits]` in the config).
pub fn pair_with(attachments: Vec<Attachment>, limits: &IntakeLimits) -> Paired {
    let mut paired = Paired::default();
    let mut pdfs: Vec<Option<Attachment>> = Vec::new();
    let mut pdf_by_key: HashMap<String, usize> = HashMap::new();

    for a in attachments {
        match kind(&a) {
            Kind::Xml => match invoice::inspect_with(&a.bytes, &limits.xml) {
                Detection::Invoice(inspection) => paired.documents.push(Document {
                    xml_name: a.name,
                    xml: a.bytes,
                    inspection,
                    pdf_name: None,
                    pdf: None,
                    origin: Origin::Attachments,
                    xml_at: a.location,
                    pdf_at: None,
                    paired_by: None,
                    xml_archive: a.archive,
                    pdf_archive: None,
                }),
                Detection::NotInvoice => paired.ignored.push(Ignored {
                    reason: not_an_invoice(&a.bytes),
                    name: a.name,
                }),
                Detection::Refused(reason) => paired.refused.push(Ignored {
                    name: a.name,
                    reason,
                }),
            },
            Kind::Pdf => {
                pdf_by_key.entry(pairing_key(&a.name)).or_insert(pdfs.len());
                pdfs.push(Some(a));
            }
            Kind::Other => paired.ignored.push(Ignored {
                reason: format!("{}, neither an invoice XML nor a PDF", a.content_type),
                name: a.name,
            }),
        }
    }

    for doc in &mut paired.documents {
        if let Some(&i) = pdf_by_key.get(&pairing_key(&doc.xml_name))
            && let Some(pdf) = pdfs[i].take()
        {
            attach(doc, pdf, PairedBy::SameName);
        } else if let Some(embedded) = doc.inspection.embedded_pdf.take() {
            doc.pdf_name = Some(names::sanitise(&embedded.name));
            doc.pdf = Some(embedded.bytes);
            doc.origin = Origin::PdfEmbeddedInXml;
            doc.paired_by = Some(PairedBy::EmbeddedInXml);
        }
    }
    pair_by_invoice_number(&mut paired.documents, &mut pdfs);
    pair_the_only_two(&mut paired.documents, &mut pdfs);
    for doc in &mut paired.documents {
        if let Some(pdf) = check_pdf_invoice(doc, limits) {
            pdfs.push(Some(pdf));
        }
    }
    for pdf in pdfs.into_iter().flatten() {
        match hybrid_invoice(&pdf, limits) {
            Ok((xml_name, xml, inspection)) => paired.documents.push(Document {
                xml_name,
                xml,
                inspection,
                pdf_name: Some(pdf.name),
                pdf: Some(pdf.bytes),
                origin: Origin::HybridPdf,
                xml_at: None,
                pdf_at: pdf.location,
                paired_by: Some(PairedBy::Hybrid),
                xml_archive: pdf.archive.clone(),
                pdf_archive: pdf.archive,
            }),
            Err(reason) => paired.ignored.push(Ignored {
                name: pdf.name,
                reason,
            }),
        }
    }
    paired
}

/// Gives `doc` the attachment `pdf` as its visual.
fn attach(doc: &mut Document, pdf: Attachment, by: PairedBy) {
    doc.pdf_name = Some(pdf.name);
    doc.pdf = Some(pdf.bytes);
    doc.pdf_at = pdf.location;
    doc.pdf_archive = pdf.archive;
    doc.paired_by = Some(by);
}

/// Rule 3: a PDF whose name holds, as a word of its own, the invoice number of exactly one XML
/// still without a PDF, when no other unpaired PDF holds that number too.
fn pair_by_invoice_number(documents: &mut [Document], pdfs: &mut [Option<Attachment>]) {
    // For each unpaired PDF, the one unpaired document whose number its name holds, if one.
    let mut claims: Vec<(usize, usize)> = Vec::new();
    for (p, pdf) in pdfs.iter().enumerate() {
        let Some(pdf) = pdf else { continue };
        let stem = names::split_extension(&pdf.name).0.to_lowercase();
        let mut matching = documents.iter().enumerate().filter(|(_, d)| {
            d.pdf.is_none()
                && d.inspection
                    .invoice_number
                    .as_deref()
                    .is_some_and(|n| holds_word(&stem, &n.to_lowercase()))
        });
        if let (Some((d, _)), None) = (matching.next(), matching.next()) {
            claims.push((p, d));
        }
    }
    for &(p, d) in &claims {
        // A document two PDFs claim is left alone: which one is its visual cannot be told.
        if claims.iter().filter(|(_, other)| *other == d).count() == 1
            && let Some(pdf) = pdfs[p].take()
        {
            attach(&mut documents[d], pdf, PairedBy::InvoiceNumber);
        }
    }
}

/// Whether `word` occurs in `text` with no letter or digit right before or after it.
fn holds_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(word).any(|(at, _)| {
        boundary(text[..at].chars().next_back()) && boundary(text[at + word.len()..].chars().next())
    })
}

/// Rule 4: exactly one XML and exactly one PDF left unpaired are each other's. Only a guess:
/// when that PDF turns out to carry another invoice of its own, [`check_pdf_invoice`] undoes
/// it (the PDF is then a hybrid invoice itself), so the PDF is read once either way.
fn pair_the_only_two(documents: &mut [Document], pdfs: &mut [Option<Attachment>]) {
    let mut lonely = documents
        .iter()
        .enumerate()
        .filter(|(_, d)| d.pdf.is_none());
    let (Some((d, _)), None) = (lonely.next(), lonely.next()) else {
        return;
    };
    let mut left = pdfs.iter().enumerate().filter(|(_, p)| p.is_some());
    let (Some((p, _)), None) = (left.next(), left.next()) else {
        return;
    };
    if let Some(pdf) = pdfs[p].take() {
        attach(&mut documents[d], pdf, PairedBy::OnlyPair);
    }
}

/// Takes back the PDF of a document that rule 4 guessed, as an attachment of its own again.
fn undo_guess(doc: &mut Document) -> Option<Attachment> {
    if doc.paired_by != Some(PairedBy::OnlyPair) {
        return None;
    }
    doc.paired_by = None;
    Some(Attachment {
        name: doc.pdf_name.take()?,
        content_type: "application/pdf".into(),
        bytes: doc.pdf.take()?,
        location: doc.pdf_at.take(),
        archive: doc.pdf_archive.take(),
    })
}

/// Compares the invoice inside the document's PDF visual (if it carries one) with the XML's,
/// and adds a fatal [`PDF_MISMATCH`] finding naming each difference. A PDF that rule 4 only
/// guessed gets no finding: the guess is undone and the PDF returned, to be looked at on its
/// own.
fn check_pdf_invoice(doc: &mut Document, limits: &IntakeLimits) -> Option<Attachment> {
    let Some(pdf) = &doc.pdf else { return None };
    let pdf_name = doc.pdf_name.as_deref().unwrap_or("the PDF");
    let xmls = match invoice::invoice_xmls_in_pdf(pdf, &limits.pdf) {
        Ok(xmls) => xmls,
        // Over a bound: it cannot be searched for an embedded invoice, so it cannot be shown
        // to carry the same one. Refused, or a PDF made to exceed a bound would carry any
        // invoice past the comparison.
        Err(
            err @ (PdfError::TooManyObjects { .. }
            | PdfError::TooManyValues { .. }
            | PdfError::TotalDecompressedTooLarge { .. }
            | PdfError::StreamTooLarge { .. }
            | PdfError::EmbeddedTooLarge { .. }),
        ) => {
            let message = format!(
                "[{PDF_MISMATCH}] {pdf_name} cannot be checked against the XML ({err}); send a PDF within the limits"
            );
            return mismatch(doc, message);
        }
        // Not a PDF we can read: a plain visual, nothing to compare.
        Err(_) => return None,
    };
    let mut unreadable = None;
    let mut embedded = None;
    for xml in xmls {
        match invoice::inspect_with(&xml.bytes, &limits.xml) {
            Detection::Invoice(i) => {
                embedded = Some(i);
                break;
            }
            Detection::Refused(reason) => {
                unreadable = Some(format!("{}: {reason}", names::sanitise(&xml.name)))
            }
            Detection::NotInvoice => {}
        }
    }
    let message = match (embedded, unreadable) {
        (Some(theirs), _) => {
            let differences = differences(&doc.inspection, &theirs);
            if differences.is_empty() {
                return None;
            }
            format!(
                "[{PDF_MISMATCH}] {pdf_name} carries another invoice than the XML: {}; send the PDF of this invoice",
                differences.join("; ")
            )
        }
        (None, Some(reason)) => format!(
            "[{PDF_MISMATCH}] {pdf_name} carries an invoice XML that cannot be compared with the XML ({reason}); send the PDF of this invoice"
        ),
        (None, None) => return None,
    };
    mismatch(doc, message)
}

/// The fatal [`PDF_MISMATCH`] finding `message` on `doc`, unless its PDF was only guessed
/// (rule 4): then the PDF is taken back instead.
fn mismatch(doc: &mut Document, message: String) -> Option<Attachment> {
    if let Some(pdf) = undo_guess(doc) {
        return Some(pdf);
    }
    doc.inspection.findings.push(Finding {
        rule_id: PDF_MISMATCH,
        severity: Severity::Fatal,
        message,
        location: None,
        official_text: None,
        line: None,
        offset: None,
    });
    None
}

/// Identifiers compared without spaces, dots, dashes and case (`NL11 BANK 1111111111`).
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '\t'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// "what: X in the PDF, Y in the XML" for each business field both give and that differs.
fn differences(xml: &Inspection, pdf: &Inspection) -> Vec<String> {
    let mut out = Vec::new();
    let mut compare = |what: &str, ours: Option<String>, theirs: Option<String>| {
        if let (Some(o), Some(t)) = (ours, theirs)
            && squash(&o) != squash(&t)
        {
            out.push(format!("{what} {t} in the PDF, {o} in the XML"));
        }
    };
    compare(
        "invoice number",
        xml.invoice_number.clone(),
        pdf.invoice_number.clone(),
    );
    compare(
        "seller VAT",
        xml.seller.vat_id.clone(),
        pdf.seller.vat_id.clone(),
    );
    compare(
        "seller id",
        xml.seller.legal_id.as_ref().map(|i| i.value.clone()),
        pdf.seller.legal_id.as_ref().map(|i| i.value.clone()),
    );
    compare(
        "buyer VAT",
        xml.buyer.vat_id.clone(),
        pdf.buyer.vat_id.clone(),
    );
    compare(
        "buyer id",
        xml.buyer.legal_id.as_ref().map(|i| i.value.clone()),
        pdf.buyer.legal_id.as_ref().map(|i| i.value.clone()),
    );
    let total = |i: &Inspection| {
        i.totals
            .payable
            .map(|a| format!("{} {a}", i.currency.as_deref().unwrap_or("(no currency)")))
    };
    let same_total = xml.totals.payable == pdf.totals.payable && xml.currency == pdf.currency;
    if !same_total && xml.totals.payable.is_some() && pdf.totals.payable.is_some() {
        compare("amount due", total(xml), total(pdf));
    }
    let accounts = |i: &Inspection| {
        let mut a: Vec<String> = i.payment_accounts.iter().map(|s| squash(s)).collect();
        a.sort();
        a.dedup();
        a
    };
    let (ours, theirs) = (accounts(xml), accounts(pdf));
    if !ours.is_empty() && !theirs.is_empty() && ours != theirs {
        out.push(format!(
            "payment account {} in the PDF, {} in the XML",
            pdf.payment_accounts.join(", "),
            xml.payment_accounts.join(", ")
        ));
    }
    out
}
