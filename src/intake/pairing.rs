//! Which attachments are invoice documents: each invoice XML, recognised by [`crate::invoice`],
//! paired with the PDF of the same base name (case-insensitively: `INV-1.xml` with `inv-1.PDF`).
//! Everything else is listed as ignored with a reason; unsafe XML is listed as refused.

use std::collections::HashMap;

use super::mime::Attachment;
use super::names;
use crate::invoice::{self, Detection, Inspection};

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

fn pairing_key(name: &str) -> String {
    names::split_extension(name).0.to_lowercase()
}

/// Inspects every XML attachment and pairs invoices with their PDFs.
pub fn pair(attachments: Vec<Attachment>) -> Paired {
    let mut paired = Paired::default();
    let mut pdfs: Vec<Option<Attachment>> = Vec::new();
    let mut pdf_by_key: HashMap<String, usize> = HashMap::new();

    for a in attachments {
        match kind(&a) {
            Kind::Xml => match invoice::inspect(&a.bytes) {
                Detection::Invoice(inspection) => paired.documents.push(Document {
                    xml_name: a.name,
                    xml: a.bytes,
                    inspection,
                    pdf_name: None,
                    pdf: None,
                }),
                Detection::NotInvoice => paired.ignored.push(Ignored {
                    name: a.name,
                    reason: "XML but not a UBL or CII invoice".into(),
                }),
                Detection::Refused(reason) => paired.refused.push(Ignored { name: a.name, reason }),
            },
            Kind::Pdf => {
                pdf_by_key.entry(pairing_key(&a.name)).or_insert(pdfs.len());
                pdfs.push(Some(a));
            }
            Kind::Other => paired.ignored.push(Ignored {
                name: a.name,
                reason: "neither an invoice XML nor its PDF".into(),
            }),
        }
    }

    for doc in &mut paired.documents {
        if let Some(&i) = pdf_by_key.get(&pairing_key(&doc.xml_name))
            && let Some(pdf) = pdfs[i].take()
        {
            doc.pdf_name = Some(pdf.name);
            doc.pdf = Some(pdf.bytes);
        }
    }
    for pdf in pdfs.into_iter().flatten() {
        paired.ignored.push(Ignored {
            name: pdf.name,
            reason: "PDF without a same-named invoice XML".into(),
        });
    }
    paired
}
