//! A stored document's bytes, wherever the spool keeps them: in the database or a file of its
//! own, or not apart at all (decoded again from the stored raw message, at the parts' recorded
//! places or by parsing it again, and checked against the hashes recorded at acceptance).
//! Used by the delivery workers and by the admin's export (and later the pull API), so every
//! reader gets the bytes that were accepted, or an error that says why not.

use crate::intake::{self, IntakeLimits};
use crate::spool::{DocumentRecord, MessageRecord, Spool, SpoolError, sha256_hex};

/// What the spool holds of a document.
#[derive(Debug)]
pub enum Stored {
    /// Its bytes, and the raw message when it was read for them.
    Bytes {
        /// The XML.
        xml: Vec<u8>,
        /// The paired PDF.
        pdf: Option<Vec<u8>>,
        /// The raw message, if it was read.
        raw: Option<Vec<u8>>,
    },
    /// Nothing any more (the message was deleted or purged).
    Gone,
    /// The stored bytes do not give what was accepted: why.
    Broken(String),
}

/// Loads document `doc` of `message`. Blocking: call it from `spawn_blocking` in async code.
/// `limits` bound the parse when the document must be found in the raw message again.
///
/// # Errors
/// Database or I/O errors of the spool.
pub fn load(
    spool: &Spool,
    message: &MessageRecord,
    doc: &DocumentRecord,
    limits: &IntakeLimits,
) -> Result<Stored, SpoolError> {
    let Some(source) = doc.source else {
        return Ok(match spool.document(&message.id, doc.index)? {
            Some(bytes) => Stored::Bytes {
                xml: bytes.xml,
                pdf: bytes.pdf,
                raw: None,
            },
            None => Stored::Gone,
        });
    };
    let Some(raw) = spool.raw(&message.id)? else {
        return Ok(Stored::Gone);
    };
    // Straight from the parts' places in the message, when the hashes agree.
    if let Some((xml, pdf)) = at_recorded_places(&raw, doc) {
        return Ok(Stored::Bytes {
            xml,
            pdf,
            raw: Some(raw),
        });
    }
    Ok(match intake::document_bytes(&raw, source, limits) {
        Ok((xml, pdf)) if sha256_hex(&xml) == doc.xml_sha256 => Stored::Bytes {
            xml,
            pdf,
            raw: Some(raw),
        },
        Ok(_) => Stored::Broken(
            "the stored message yields another document than was accepted (its XML hash differs)"
                .to_string(),
        ),
        Err(err) => Stored::Broken(format!(
            "the stored message no longer yields the document: {err}"
        )),
    })
}

/// The document's XML and PDF decoded at their recorded places in `raw`, if the hashes agree:
/// delivery's fast path (no parse). `None` sends [`load`] to the full parse.
pub fn at_recorded_places(raw: &[u8], doc: &DocumentRecord) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let at = |p: crate::spool::PartAt| intake::Location {
        start: p.start,
        end: p.end,
        base64: p.base64,
    };
    let xml = intake::decode_at(raw, &at(doc.xml_at?))?;
    if sha256_hex(&xml) != doc.xml_sha256 {
        return None;
    }
    let pdf = match (doc.pdf_size, doc.pdf_at, &doc.pdf_sha256) {
        (None, _, _) => None,
        (Some(_), Some(p), Some(sha)) => {
            let pdf = intake::decode_at(raw, &at(p))?;
            if sha256_hex(&pdf) != *sha {
                return None;
            }
            Some(pdf)
        }
        _ => return None,
    };
    Some((xml, pdf))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the spool keeps it for a document of `mail` found by intake.
    fn record_of(mail: &[u8]) -> crate::spool::DocumentRecord {
        let parsed = intake::parse_message(mail, &IntakeLimits::default()).unwrap();
        let doc = intake::pair(parsed.attachments).documents.remove(0);
        let at = |l: intake::Location| serde_json::json!({"start": l.start, "end": l.end, "base64": l.base64});
        serde_json::from_value(serde_json::json!({
            "index": 0, "receiver": "r@x.test", "organisation": "acme", "format": "ubl-invoice",
            "invoice_number": null, "xml_name": doc.xml_name, "xml_size": doc.xml.len(),
            "xml_sha256": sha256_hex(&doc.xml), "pdf_name": doc.pdf_name,
            "pdf_size": doc.pdf.as_ref().map(Vec::len),
            "pdf_sha256": doc.pdf.as_deref().map(sha256_hex),
            "status": "ready", "xml_store": {"in": "in_message"},
            "pdf_store": {"in": "in_message"}, "source": 0,
            "xml_at": doc.xml_at.map(at), "pdf_at": doc.pdf_at.map(at),
        }))
        .unwrap()
    }

    const MAIL: &[u8] = b"From: a@b.test\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
Content-Type: application/xml; name=\"i.xml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
PEludm9pY2UgeG1sbnM9InVybjpvYXNpczpuYW1lczpzcGVjaWZpY2F0aW9uOnVibDpzY2hlbWE6eHNk\r\n\
Okludm9pY2UtMiIgeG1sbnM6Y2JjPSJ1cm46b2FzaXM6bmFtZXM6c3BlY2lmaWNhdGlvbjp1Ymw6c2No\r\n\
ZW1hOnhzZDpDb21tb25CYXNpY0NvbXBvbmVudHMtMiI+PGNiYzpJRD4xPC9jYmM6SUQ+PC9JbnZvaWNl\r\n\
Pg==\r\n--B\r\n\
Content-Type: application/pdf; name=\"i.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjQKJXRlc3QK\r\n--B--\r\n";

    #[test]
    fn a_document_is_decoded_from_its_parts_places_without_a_parse() {
        let record = record_of(MAIL);
        assert!(record.xml_at.is_some() && record.pdf_at.is_some());
        let (xml, pdf) = at_recorded_places(MAIL, &record).expect("the fast path applies");
        assert!(xml.starts_with(b"<Invoice"));
        assert_eq!(pdf.as_deref(), Some(b"%PDF-1.4\n%test\n".as_slice()));
    }

    #[test]
    fn bytes_that_differ_from_the_accepted_hash_send_it_to_the_full_parse() {
        let mut record = record_of(MAIL);
        record.xml_sha256 = "0".repeat(64);
        assert_eq!(at_recorded_places(MAIL, &record), None);
        let mut record = record_of(MAIL);
        record.pdf_sha256 = None;
        assert_eq!(at_recorded_places(MAIL, &record), None);
    }
}
