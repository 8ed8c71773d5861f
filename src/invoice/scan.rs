//! The bounded, namespace-aware streaming pass over an invoice XML (quick-xml `NsReader`).
//!
//! Refuses DOCTYPE (and with it every entity declaration) and every entity reference other
//! than the five predefined ones and character references; caps size, depth and element
//! count while reading. Never resolves or fetches anything.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::{Detection, Inspection, Syntax};

/// Limits on one XML document, enforced while reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting accepted (the root is depth 1).
    pub max_depth: usize,
    /// Most elements accepted in one document.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Real invoices nest about 10 deep; 64 leaves room for extensions.
        Limits {
            max_bytes: 64 << 20,
            max_depth: 64,
            max_elements: 2_000_000,
        }
    }
}

const UBL_INVOICE: &[u8] = b"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
const UBL_CREDIT_NOTE: &[u8] = b"urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
const UBL_CBC: &[u8] = b"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";
const CII_RSM: &[u8] = b"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100";
const CII_RAM: &[u8] =
    b"urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100";
const FERD1_RSM: &[u8] = b"urn:ferd:CrossIndustryDocument:invoice:1p0";
const FERD1_RAM: &[u8] =
    b"urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12";

/// Scans one document.
pub(crate) fn scan(xml: &[u8], limits: &Limits) -> Detection {
    if xml.len() > limits.max_bytes {
        return refused(format!(
            "the XML is {} bytes, more than the {} accepted; send a smaller invoice",
            xml.len(),
            limits.max_bytes
        ));
    }
    let mut reader = NsReader::from_reader(xml);
    let mut saw_doctype = false;
    let mut syntax = None;
    let mut depth = 0usize;
    let mut elements = 0usize;
    // The element path as (is-interesting-namespace, local name) below the root.
    let mut path: Vec<(u8, u8)> = Vec::with_capacity(16);
    let mut number: Option<String> = None;
    let mut in_number = false;
    loop {
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (ns_code(&ns), event),
            Err(err) => {
                return match syntax {
                    None => NOT,
                    Some(_) => refused(format!(
                        "the XML is not well-formed at byte {} ({err}); send a well-formed invoice",
                        reader.error_position()
                    )),
                };
            }
        };
        match event {
            Event::DocType(_) => saw_doctype = true,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                depth += 1;
                elements += 1;
                if depth > limits.max_depth {
                    return refused(format!(
                        "the XML nests elements more than {} deep; send a flatter invoice",
                        limits.max_depth
                    ));
                }
                if elements > limits.max_elements {
                    return refused(format!(
                        "the XML has more than {} elements; send a smaller invoice",
                        limits.max_elements
                    ));
                }
                let local = e.local_name().into_inner();
                if depth == 1 {
                    syntax = match (ns, local) {
                        (NS_UBL_INVOICE, b"Invoice") => Some(Syntax::UblInvoice),
                        (NS_UBL_CREDIT_NOTE, b"CreditNote") => Some(Syntax::UblCreditNote),
                        (NS_CII_RSM, b"CrossIndustryInvoice") => Some(Syntax::Cii),
                        (NS_FERD1_RSM, b"CrossIndustryDocument") => Some(Syntax::Zugferd1),
                        _ => return NOT,
                    };
                    if saw_doctype {
                        return refused(
                            "XML with a DOCTYPE is refused; send the invoice without a DTD".into(),
                        );
                    }
                } else {
                    path.push((ns, name_code(local)));
                    in_number = number.is_none() && is_number_path(syntax, &path);
                    if in_number {
                        number = Some(String::new());
                    }
                }
                if empty {
                    depth -= 1;
                    path.pop();
                    in_number = false;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                path.pop();
                in_number = false;
            }
            Event::Text(t) if in_number => match t.xml_content() {
                Ok(s) => push_text(&mut number, &s),
                Err(_) => return refused(NOT_UTF8.into()),
            },
            Event::CData(t) if in_number => match t.xml_content() {
                Ok(s) => push_text(&mut number, &s),
                Err(_) => return refused(NOT_UTF8.into()),
            },
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => match &*r {
                        b"amp" => Some('&'),
                        b"lt" => Some('<'),
                        b"gt" => Some('>'),
                        b"apos" => Some('\''),
                        b"quot" => Some('"'),
                        _ => None,
                    },
                    Err(_) => None,
                };
                match ch {
                    Some(c) if in_number => push_text(&mut number, c.encode_utf8(&mut [0; 4])),
                    Some(_) => {}
                    None if syntax.is_none() => return NOT,
                    None => {
                        return refused(
                            "XML entity references are refused; write the characters themselves"
                                .into(),
                        );
                    }
                }
            }
            Event::Eof => {
                return match syntax {
                    None => NOT,
                    Some(_) if depth != 0 => refused(
                        "the XML ends before its root element is closed; send the complete invoice"
                            .into(),
                    ),
                    Some(syntax) => Detection::Invoice(Box::new(Inspection {
                        syntax,
                        invoice_number: number
                            .map(|n| n.trim().to_owned())
                            .filter(|n| !n.is_empty()),
                    })),
                };
            }
            _ => {}
        }
    }
}

const NOT: Detection = Detection::NotInvoice;
const NOT_UTF8: &str = "the XML is not valid UTF-8; send the invoice encoded as UTF-8";

const NS_OTHER: u8 = 0;
const NS_UBL_INVOICE: u8 = 1;
const NS_UBL_CREDIT_NOTE: u8 = 2;
const NS_UBL_CBC: u8 = 3;
const NS_CII_RSM: u8 = 4;
const NS_CII_RAM: u8 = 5;
const NS_FERD1_RSM: u8 = 6;
const NS_FERD1_RAM: u8 = 7;

fn ns_code(ns: &ResolveResult<'_>) -> u8 {
    match ns {
        ResolveResult::Bound(ns) => match ns.into_inner() {
            UBL_INVOICE => NS_UBL_INVOICE,
            UBL_CREDIT_NOTE => NS_UBL_CREDIT_NOTE,
            UBL_CBC => NS_UBL_CBC,
            CII_RSM => NS_CII_RSM,
            CII_RAM => NS_CII_RAM,
            FERD1_RSM => NS_FERD1_RSM,
            FERD1_RAM => NS_FERD1_RAM,
            _ => NS_OTHER,
        },
        _ => NS_OTHER,
    }
}

const NAME_OTHER: u8 = 0;
const NAME_ID: u8 = 1;
const NAME_EXCHANGED_DOCUMENT: u8 = 2;
const NAME_HEADER_EXCHANGED_DOCUMENT: u8 = 3;

fn name_code(local: &[u8]) -> u8 {
    match local {
        b"ID" => NAME_ID,
        b"ExchangedDocument" => NAME_EXCHANGED_DOCUMENT,
        b"HeaderExchangedDocument" => NAME_HEADER_EXCHANGED_DOCUMENT,
        _ => NAME_OTHER,
    }
}

fn is_number_path(syntax: Option<Syntax>, path: &[(u8, u8)]) -> bool {
    match syntax {
        Some(Syntax::UblInvoice | Syntax::UblCreditNote) => path == [(NS_UBL_CBC, NAME_ID)],
        Some(Syntax::Cii) => path == [(NS_CII_RSM, NAME_EXCHANGED_DOCUMENT), (NS_CII_RAM, NAME_ID)],
        Some(Syntax::Zugferd1) => {
            path == [
                (NS_FERD1_RSM, NAME_HEADER_EXCHANGED_DOCUMENT),
                (NS_FERD1_RAM, NAME_ID),
            ]
        }
        None => false,
    }
}

fn push_text(target: &mut Option<String>, s: &str) {
    if let Some(t) = target
        && t.len() + s.len() <= 1024
    {
        t.push_str(s);
    }
}

fn refused(reason: String) -> Detection {
    Detection::Refused(reason)
}
