//! Invoice inspection: bytes in, a typed inspection out. No I/O, no SMTP, no storage.
// STUB API: owned by the invoice helper, who replaces and extends it.

/// What an XML attachment turned out to be.
#[derive(Debug, Clone)]
pub enum Detection {
    /// An e-invoice.
    Invoice(Box<Inspection>),
    /// Well-formed or not, it is not an invoice (another root element, not XML at all).
    NotInvoice,
    /// Refused as unsafe or broken: DOCTYPE, entity declaration, too deep, not well-formed.
    Refused(String),
}

/// The syntax of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// UBL 2.x Invoice.
    UblInvoice,
    /// UBL 2.x CreditNote.
    UblCreditNote,
    /// UN/CEFACT CII CrossIndustryInvoice.
    Cii,
}

impl Syntax {
    /// Display name, e.g. `UBL Invoice`.
    pub fn name(&self) -> &'static str {
        match self {
            Syntax::UblInvoice => "UBL Invoice",
            Syntax::UblCreditNote => "UBL CreditNote",
            Syntax::Cii => "CII CrossIndustryInvoice",
        }
    }
}

/// The inspection of one invoice XML.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The syntax.
    pub syntax: Syntax,
    /// The invoice number.
    pub invoice_number: Option<String>,
}

/// Inspects an XML file.
pub fn inspect(_xml: &[u8]) -> Detection {
    Detection::NotInvoice
}
