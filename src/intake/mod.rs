//! Intake: from the raw message to invoice documents.
//!
//! Called by the [`crate::gateway`] at end of data, on a blocking thread, with a body whose size
//! the SMTP session has already bounded. [`mime`] takes the attachments out of the MIME tree
//! (mail-parser) within our own limits and checks the header From strictly, and [`archive`]
//! replaces each zip or gzip attachment by the files inside it, within bounds; [`pairing`] asks
//! [`crate::invoice`] which XML files are invoices and pairs each with its same-named PDF.
//! Pure functions over bytes: no sockets, no disk, no clock. Names taken from mail are
//! sanitised here and are only ever metadata, never paths.

pub mod archive;
pub mod from;
pub mod mime;
pub mod names;
pub mod pairing;
pub mod prescan;
pub mod trace;

pub use archive::{ArchiveLimits, ArchiveNote, ArchiveReport, ArchiveSource};
pub use from::FromDefect;
pub use mime::{
    Attachment, HeaderFrom, IntakeError, IntakeLimits, Location, ParsedMessage, parse_message,
};
pub use pairing::{Document, Ignored, Origin, Paired, PairedBy, pair, pair_with};

/// Pairs the attachments of a parsed message ([`pair_with`]) and lists what its archives did
/// not yield: each archive opened without giving a document (`an archive with no invoice XML
/// in it`), and each archive or entry that could not be read. The latter may have hidden
/// the invoice (encrypted, over a bound, unreadable, nested past the one level opened): when the
/// message has no document at all they are `refused`, so the reply quotes their sentence;
/// otherwise they are only `ignored`, like the rest. The documents are [`pair_with`]'s, in
/// its order: [`document_bytes`] finds them again without this step.
pub fn pair_parsed(
    attachments: Vec<Attachment>,
    archives: &ArchiveReport,
    limits: &IntakeLimits,
) -> Paired {
    let mut paired = pair_with(attachments, limits);
    let no_documents = paired.documents.is_empty();
    for note in &archives.notes {
        let listed = Ignored {
            name: note.name.clone(),
            reason: note.reason.clone(),
        };
        if note.refuses && no_documents {
            paired.refused.push(listed);
        } else {
            paired.ignored.push(listed);
        }
    }
    for name in &archives.opened {
        let yielded = paired.documents.iter().any(|d| {
            [&d.xml_archive, &d.pdf_archive]
                .into_iter()
                .flatten()
                .any(|s| s.archive == *name)
        });
        if !yielded {
            paired.ignored.push(Ignored {
                name: name.clone(),
                reason: "an archive with no invoice XML in it".into(),
            });
        }
    }
    paired
}

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
    let mut paired = pair_with(parsed.attachments, limits);
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

/// The content of the part at `at` in a raw message, decoded: the fast way back to a stored
/// document's bytes, without parsing the message. `None` when the range is not in `raw` or its
/// base64 does not decode; the caller checks the bytes against the hash recorded at acceptance
/// (a part whose text mail-parser converted, for instance, differs) and falls back to
/// [`document_bytes`].
pub fn decode_at(raw: &[u8], at: &Location) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body = raw.get(usize::try_from(at.start).ok()?..usize::try_from(at.end).ok()?)?;
    if !at.base64 {
        return Some(body.to_vec());
    }
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    // Base64 in mail is lines of 76 characters: copy each line without its line break, found
    // with memchr, rather than testing every byte. Other white space is rare: the decoder
    // refuses it, and only then is every byte tested.
    let mut compact = Vec::with_capacity(body.len());
    let mut from = 0;
    for end in memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len())) {
        let line = &body[from..end];
        compact.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        from = end + 1;
    }
    if let Ok(bytes) = LENIENT.decode(&compact) {
        return Some(bytes);
    }
    compact.retain(|b| !b.is_ascii_whitespace());
    LENIENT.decode(compact).ok()
}

/// The addresses in a message's `To`, `Cc` and `Delivered-To` header fields, in that order:
/// where `trustgate spool recover` looks for the recipients of a stored body that carries no
/// envelope (written before bodies kept theirs). Only the header block is parsed.
pub fn header_recipients(raw: &[u8]) -> Vec<String> {
    let Some(message) = mail_parser::MessageParser::default().parse_headers(raw) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    let fields = [message.to(), message.cc()];
    let listed = fields
        .into_iter()
        .flatten()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address.as_deref().map(str::to_string));
    let delivered = message.header_values("Delivered-To").filter_map(|v| {
        v.as_text()
            .map(|t| t.trim().trim_matches(['<', '>']).to_string())
    });
    for address in listed.chain(delivered) {
        if !address.is_empty() && !out.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
            out.push(address);
        }
    }
    out
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
    fn decode_at_gives_back_the_parts_that_parse_message_decoded() {
        let mail = b"From: a@b.test\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
Content-Type: application/pdf; name=\"x.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjQKJXRl\r\nc3QK\r\n--B\r\n\
Content-Type: application/xml; name=\"x.xml\"\r\n\r\n<a/>\r\n--B--\r\n";
        let parsed = parse_message(mail, &IntakeLimits::default()).unwrap();
        assert_eq!(parsed.attachments.len(), 2);
        for a in &parsed.attachments {
            let at = a
                .location
                .expect("a part of the message itself has a location");
            assert_eq!(
                decode_at(mail, &at).as_deref(),
                Some(a.bytes.as_slice()),
                "{}",
                a.name
            );
        }
        // White space inside a line (rare, but mail-parser skips it) is left out too.
        let spaced = b"--B\r\n\r\nJVBE Ri0x\tLjQK\r\n--B--\r\n";
        let at = Location {
            start: 7,
            end: 23,
            base64: true,
        };
        assert_eq!(decode_at(spaced, &at).as_deref(), Some(&b"%PDF-1.4\n"[..]));
        let past = Location {
            start: 5,
            end: 9999,
            base64: false,
        };
        assert_eq!(decode_at(mail, &past), None);
    }

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
