//! Embedded binary objects (UBL `EmbeddedDocumentBinaryObject`, CII `AttachmentBinaryObject`):
//! their decoded size, and whether a declared PDF really is one.
//!
//! Called by `ubl` and `cii` at the end of a binary object element. Many test invoices declare
//! `application/pdf` over text, CSV or GIF bytes, so only content that decodes to bytes starting
//! with `%PDF` counts as the invoice's visual.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::model::{AttachmentData, Doc};

/// Base64 as producers write it: standard alphabet, padding optional, trailing bits tolerated.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Records the binary object `text` (base64 with any whitespace) on the last attachment.
pub(crate) fn embedded_object(
    doc: &mut Doc,
    mime_code: Option<String>,
    filename: Option<String>,
    text: &str,
) {
    let is_pdf_declared = mime_code
        .as_deref()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/pdf"));
    let mut is_pdf = false;
    let mut pdf = None;
    // Decode only what really is a PDF: look at the first bytes before decoding the rest.
    if is_pdf_declared && starts_with_pdf_magic(text) {
        let mut compact = Vec::with_capacity(text.len());
        for chunk in text.as_bytes().split(u8::is_ascii_whitespace) {
            compact.extend_from_slice(chunk);
        }
        if let Ok(bytes) = LENIENT.decode(&compact) {
            is_pdf = bytes.starts_with(b"%PDF");
            if is_pdf {
                pdf = Some(bytes);
            }
        }
    }
    let size = decoded_len(text);
    if doc.attachments.is_empty() {
        doc.attachments.push(AttachmentData::default());
    }
    let Some(att) = doc.attachments.last_mut() else {
        return;
    };
    att.mime_code = mime_code;
    att.filename = filename;
    att.size = size;
    att.is_pdf = is_pdf;
    if let (Some(bytes), None) = (pdf, &doc.embedded_pdf) {
        let name = att
            .filename
            .as_deref()
            .or(att.id.as_deref())
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("embedded.pdf")
            .to_owned();
        doc.embedded_pdf = Some((name, bytes));
    }
}

/// Whether base64 text decodes to bytes starting with `%PDF` (decodes only the first block).
fn starts_with_pdf_magic(text: &str) -> bool {
    let head: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .take(8)
        .collect();
    LENIENT.decode(&head).is_ok_and(|b| b.starts_with(b"%PDF"))
}

/// The decoded length of base64 text, counted without decoding.
pub(crate) fn decoded_len(text: &str) -> usize {
    let chars = text
        .bytes()
        .filter(|b| *b != b'=' && !b.is_ascii_whitespace())
        .count();
    chars / 4 * 3
        + match chars % 4 {
            2 => 1,
            3 => 2,
            _ => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_length_without_decoding() {
        assert_eq!(decoded_len("QUJD"), 3);
        assert_eq!(decoded_len("QUI="), 2);
        assert_eq!(decoded_len("QQ=="), 1);
        assert_eq!(decoded_len("QUJD\n RA=="), 4);
        assert_eq!(decoded_len(""), 0);
    }

    #[test]
    fn only_real_pdfs_become_the_visual() {
        let mut doc = Doc::default();
        // "%PDF-1.4 test"
        doc.attachments.push(AttachmentData::default());
        embedded_object(
            &mut doc,
            Some("application/pdf".into()),
            Some("a.pdf".into()),
            "JVBERi0xLjQgdGVzdA==",
        );
        // "GIF89a" declared as PDF
        doc.attachments.push(AttachmentData::default());
        embedded_object(
            &mut doc,
            Some("application/pdf".into()),
            Some("b.pdf".into()),
            "R0lGODlh",
        );
        assert_eq!(doc.attachments.len(), 2);
        assert!(doc.attachments[0].is_pdf);
        assert!(!doc.attachments[1].is_pdf);
        let (name, bytes) = doc.embedded_pdf.unwrap();
        assert_eq!(name, "a.pdf");
        assert!(bytes.starts_with(b"%PDF-1.4"));
    }
}
