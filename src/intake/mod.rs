//! Intake: from the raw message to invoice documents.
//!
//! Called by the [`crate::gateway`] at end of data, on a blocking thread, with a body whose size
//! the SMTP session has already bounded. [`mime`] takes the attachments out of the MIME tree
//! (mail-parser) within our own limits and checks the header From strictly; [`pairing`] asks
//! [`crate::invoice`] which XML files are invoices and pairs each with its same-named PDF.
//! Pure functions over bytes: no sockets, no disk, no clock. Names taken from mail are
//! sanitised here and are only ever metadata, never paths.

pub mod mime;
pub mod names;
pub mod pairing;

pub use mime::{Attachment, HeaderFrom, IntakeError, IntakeLimits, ParsedMessage, parse_message};
pub use pairing::{Document, Ignored, Origin, Paired, pair};

/// The XML and PDF of document `source` of a raw message, found again the way the gateway
/// found them at end of data (the same parse, the same pairing, the same order): how the
/// spool's documents kept in the raw message are read back for delivery. The caller checks
/// the bytes against the hash recorded at acceptance.
///
/// # Errors
/// The message no longer parses within the limits, or has fewer documents.
pub fn document_bytes(
    raw: &[u8],
    source: u32,
    limits: &IntakeLimits,
) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    let parsed = parse_message(raw, limits).map_err(|e| e.to_string())?;
    let mut paired = pair(parsed.attachments);
    let count = paired.documents.len();
    let index = usize::try_from(source).unwrap_or(usize::MAX);
    if index >= count {
        return Err(format!(
            "the message holds {count} invoice document(s), not a document {source}"
        ));
    }
    let doc = paired.documents.swap_remove(index);
    Ok((doc.xml, doc.pdf))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &[u8] = b"From: a@b.test\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
Content-Type: application/xml; name=\"x.xml\"\r\nContent-Disposition: attachment; filename=\"x.xml\"\r\n\r\n\
<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\" xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\"><cbc:ID>1</cbc:ID></Invoice>\r\n\
--B--\r\n";

    #[test]
    fn document_bytes_finds_the_document_again_and_names_a_missing_one() {
        let (xml, pdf) = document_bytes(MAIL, 0, &IntakeLimits::default()).unwrap();
        assert!(
            xml.starts_with(b"<Invoice"),
            "{}",
            String::from_utf8_lossy(&xml)
        );
        assert_eq!(pdf, None);
        let err = document_bytes(MAIL, 1, &IntakeLimits::default()).unwrap_err();
        assert_eq!(
            err,
            "the message holds 1 invoice document(s), not a document 1"
        );
        assert!(document_bytes(b"", 0, &IntakeLimits::default()).is_err());
    }
}
