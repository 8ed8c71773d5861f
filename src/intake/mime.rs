//! The MIME tree of a received message, within our limits: its attachments (also inside
//! message/rfc822 parts), its Message-ID and its strictly checked header From.
//!
//! mail-parser is lenient by design, and it builds the whole tree before anyone can count it;
//! the limits here are ours (SMTP-HARDENING 20, 22, 23; issue 9). [`super::prescan`] counts
//! the header fields and bytes of every part, the parts, the nesting depth and the nested
//! messages on the raw bytes first, so mail-parser only ever sees a message within them; the
//! tree is then walked without recursion. The header From is read twice, by mail-parser and
//! by [`super::from`]'s strict RFC 5322 reader, and used only when both agree.

use mail_parser::{
    Address as MpAddress, Encoding, HeaderName, Message, MessageParser, MimeHeaders, PartType,
};

use super::archive::{self, ArchiveLimits, ArchiveReport, ArchiveSource};
use super::from::{self, FromDefect};
use super::{names, prescan};

/// Limits applied to one message. Each is enforced by [`prescan::prescan`] on the raw bytes,
/// before mail-parser builds anything.
#[derive(Debug, Clone)]
pub struct IntakeLimits {
    /// Largest header block of any one part (the message's own included), in bytes
    /// (default 256 KiB).
    pub max_header_bytes: usize,
    /// Most header fields in the header block of any one part (default 1,000).
    pub max_headers: usize,
    /// Most bytes in all header blocks of the message together, nested messages included
    /// (default 1 MiB): mail-parser keeps a parsed copy of every field, some at many times
    /// their size (an address list), so the total is bounded, not only each block.
    pub max_total_header_bytes: usize,
    /// Most header fields in all header blocks together (default 10,000).
    pub max_total_headers: usize,
    /// Most MIME parts in the whole message (nested messages included; default 1,000).
    pub max_parts: usize,
    /// Deepest multipart/message nesting (default 32).
    pub max_depth: usize,
    /// Most nested messages (message/rfc822, message/global, digest entries; default 64).
    pub max_nested_messages: usize,
    /// Bounds on reading each PDF (hybrid invoices, and the visual paired with an XML).
    pub pdf: crate::invoice::PdfLimits,
    /// Bounds on inspecting each invoice XML (attached, or embedded in a PDF).
    pub xml: crate::invoice::Limits,
    /// Bounds on opening zip and gzip attachments; the gateway sets their total to the
    /// configured `max_message_size`.
    pub archive: ArchiveLimits,
}

impl Default for IntakeLimits {
    fn default() -> Self {
        IntakeLimits {
            max_header_bytes: 256 * 1024,
            max_headers: 1000,
            max_total_header_bytes: 1024 * 1024,
            max_total_headers: 10_000,
            max_parts: 1000,
            max_depth: 32,
            max_nested_messages: 64,
            pdf: crate::invoice::PdfLimits::default(),
            xml: crate::invoice::Limits::default(),
            archive: ArchiveLimits::default(),
        }
    }
}

impl IntakeLimits {
    /// No MIME bound at all (the PDF and XML bounds are the defaults): what the pre-scan
    /// counts, compared with what mail-parser builds, by the proptests and the intake fuzz
    /// target; and the admin's reading of a document again from a message that passed the
    /// configured bounds when it was accepted (`admin::control`).
    pub fn unbounded() -> IntakeLimits {
        IntakeLimits {
            max_header_bytes: usize::MAX,
            max_headers: usize::MAX,
            max_total_header_bytes: usize::MAX,
            max_total_headers: usize::MAX,
            max_parts: usize::MAX,
            max_depth: usize::MAX,
            max_nested_messages: usize::MAX,
            pdf: crate::invoice::PdfLimits::default(),
            xml: crate::invoice::Limits::default(),
            archive: ArchiveLimits::default(),
        }
    }
}

/// Why a message cannot be taken in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// A header block (of the message or of one part) is over the byte or field limit
    /// (answered 552 5.3.4).
    #[error(
        "header block too large: {bytes} bytes in {fields} fields (limits {max_bytes} bytes, {max_fields} fields)"
    )]
    HeadersTooLarge {
        /// Bytes in the header block (counted up to the point of refusal).
        bytes: usize,
        /// Header fields counted (up to the point of refusal).
        fields: usize,
        /// The byte limit.
        max_bytes: usize,
        /// The field limit.
        max_fields: usize,
    },
    /// All header blocks together are over the byte or field limit (answered 552 5.3.4).
    #[error(
        "headers too large: {bytes} bytes in {fields} fields in all parts (limits {max_bytes} bytes, {max_fields} fields)"
    )]
    AllHeadersTooLarge {
        /// Bytes in all header blocks (up to the point of refusal).
        bytes: usize,
        /// Header fields in all header blocks (up to the point of refusal).
        fields: usize,
        /// The byte limit.
        max_bytes: usize,
        /// The field limit.
        max_fields: usize,
    },
    /// More nested messages than allowed.
    #[error("message holds more than {limit} nested messages")]
    TooManyNestedMessages {
        /// The limit.
        limit: usize,
    },
    /// More parts than allowed.
    #[error("message has more than {limit} MIME parts")]
    TooManyParts {
        /// The limit.
        limit: usize,
    },
    /// Nested deeper than allowed.
    #[error("MIME structure nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// mail-parser could not make a message of it at all.
    #[error("the message could not be parsed as MIME")]
    Unparsable,
}

/// What the header From says, judged strictly ("Composition Kills", USENIX Security 2020):
/// exactly one From field with exactly one plain mailbox that mail-parser and a strict RFC 5322
/// reading agree on, or a refusal reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderFrom {
    /// One From field naming one mailbox; the address as written (display name dropped).
    One(String),
    /// No From field.
    Missing,
    /// More than one From field (as the most tolerant reader counts them).
    Multiple,
    /// One From field that cannot be trusted: `field` is its value as sent (unfolded, for the
    /// reply, which escapes it), `defect` why.
    Refused {
        /// The field value as sent.
        field: String,
        /// What is wrong with it.
        defect: FromDefect,
    },
}

/// One attachment taken from the message.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Sanitised file name ([`names::UNNAMED`] when the part has none).
    pub name: String,
    /// Lower-case `type/subtype`, `application/octet-stream` when absent.
    pub content_type: String,
    /// Decoded content.
    pub bytes: Vec<u8>,
    /// Where the content is in the raw message, when it is a part of the message itself (not
    /// of a nested message) in base64 or no transfer encoding: lets delivery decode it again
    /// without parsing the whole message ([`super::decode_at`]). `None` for a file taken
    /// from an archive.
    pub location: Option<Location>,
    /// The archive it was taken from, when it is a file inside a zip or gzip attachment
    /// ([`archive`]); `None` for a part of the message.
    pub archive: Option<ArchiveSource>,
}

/// Where a part's content is in the raw message, and how it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    /// Offset of the part's body.
    pub start: u32,
    /// Offset just past it.
    pub end: u32,
    /// Base64 (else the bytes as they are).
    pub base64: bool,
}

/// The parts of a message that intake cares about.
#[derive(Debug, Clone)]
pub struct ParsedMessage {
    /// The strict reading of the header From.
    pub header_from: HeaderFrom,
    /// The Message-ID header, without angle brackets.
    pub message_id: Option<String>,
    /// Every attachment, in message order, nested messages included; a zip or gzip
    /// attachment is replaced by the files inside it ([`archive::expand`]).
    pub attachments: Vec<Attachment>,
    /// The archives opened, and the archives and entries that yielded nothing, with why.
    pub archives: ArchiveReport,
    /// The Subject, decoded, if any.
    pub subject: Option<String>,
    /// The fields that say the message was sent automatically (RFC 3834).
    pub auto: crate::notify::suppress::AutoFields,
}

/// Parses a raw message within `limits`.
///
/// # Errors
/// [`IntakeError`] when a limit is exceeded (found by [`prescan::prescan`] before mail-parser
/// runs) or the message is not MIME at all.
pub fn parse_message(raw: &[u8], limits: &IntakeLimits) -> Result<ParsedMessage, IntakeError> {
    // mail-parser 0.11's quoted-printable decoder subtracts without a check when a boundary
    // follows the part's first line break: a panic where overflow checks are on (debug builds,
    // fuzzing), a wrap that does no harm in release. The pre-scan runs the same decoder.
    // Either way a message must not take its session down: a panic is an unparsable message.
    let message = std::panic::catch_unwind(|| {
        prescan::prescan(raw, limits)?;
        MessageParser::default()
            .parse(raw)
            .ok_or(IntakeError::Unparsable)
    })
    .unwrap_or(Err(IntakeError::Unparsable))?;

    let header_from = judge_header_from(raw, &message);
    let message_id = message.message_id().map(str::to_string);
    // Archives are opened here, before pairing, so that every reader of a message (the
    // gateway, delivery's `document_bytes`, the admin's tools) sees the same attachments in
    // the same order.
    let expanded = archive::expand(collect_attachments(&message, limits)?, &limits.archive);
    let text = |name: &str| {
        message
            .header(name)
            .and_then(|v| v.as_text())
            .map(str::to_string)
            .or_else(|| message.header_raw(name).map(|v| v.trim().to_string()))
    };
    let auto = crate::notify::suppress::AutoFields {
        auto_submitted: text("Auto-Submitted"),
        precedence: text("Precedence"),
        list_id: message.header_raw("List-Id").is_some(),
    };
    Ok(ParsedMessage {
        header_from,
        message_id,
        attachments: expanded.attachments,
        archives: expanded.report,
        subject: message.subject().map(str::to_string),
        auto,
    })
}

/// The top-level header block as the strictest reader sees it: everything before the first
/// empty line (CRLF or LF). mail-parser's ends there or earlier (it also ends at a line of
/// white space), so a From field mail-parser reads is always in it.
fn header_block(raw: &[u8]) -> &[u8] {
    let mut line_start = 0;
    while line_start < raw.len() {
        let end =
            memchr::memchr(b'\n', &raw[line_start..]).map_or(raw.len(), |i| line_start + i + 1);
        let line = &raw[line_start..end];
        if line == b"\r\n" || line == b"\n" {
            return &raw[..line_start];
        }
        line_start = end;
    }
    raw
}

/// Longest From value quoted back in a refusal.
const MAX_SHOWN_FROM: usize = 200;

fn judge_header_from(raw: &[u8], message: &Message<'_>) -> HeaderFrom {
    let tolerant = from::count_from_lines(header_block(raw));
    let parsed: Vec<_> = message
        .parts
        .first()
        .map(|root| {
            root.headers
                .iter()
                .filter(|h| h.name == HeaderName::From)
                .collect()
        })
        .unwrap_or_default();
    if tolerant > 1 || parsed.len() > 1 {
        return HeaderFrom::Multiple;
    }
    let Some(field) = parsed.first() else {
        return if tolerant == 0 {
            HeaderFrom::Missing
        } else {
            // A line other readers take for a From field that mail-parser does not.
            HeaderFrom::Refused {
                field: String::new(),
                defect: FromDefect::ReadDifferently,
            }
        };
    };
    let value = raw
        .get(field.offset_start as usize..field.offset_end as usize)
        .unwrap_or_default();
    let refused = |defect| HeaderFrom::Refused {
        field: from::shown_value(value, MAX_SHOWN_FROM),
        defect,
    };
    let strict = match from::read_mailbox(value) {
        Ok(address) => address,
        Err(defect) => return refused(defect),
    };
    match message.from() {
        Some(MpAddress::List(list))
            if list.len() == 1 && list[0].address.as_deref().map(str::trim) == Some(&strict) =>
        {
            HeaderFrom::One(strict)
        }
        Some(MpAddress::Group(_)) => refused(FromDefect::SeveralMailboxes),
        _ => refused(FromDefect::ReadDifferently),
    }
}

/// Walks the part tree iteratively (nested messages included) and collects leaf parts that
/// carry a file name or an XML/PDF content type.
fn collect_attachments(
    root: &Message<'_>,
    limits: &IntakeLimits,
) -> Result<Vec<Attachment>, IntakeError> {
    let mut out = Vec::new();
    let mut parts_seen = 0usize;
    // (message, part index in that message, depth)
    let mut stack: Vec<(&Message<'_>, u32, usize)> = vec![(root, 0, 1)];
    while let Some((message, part_id, depth)) = stack.pop() {
        if depth > limits.max_depth {
            return Err(IntakeError::TooDeep {
                limit: limits.max_depth,
            });
        }
        parts_seen += 1;
        if parts_seen > limits.max_parts {
            return Err(IntakeError::TooManyParts {
                limit: limits.max_parts,
            });
        }
        let Some(part) = message.parts.get(part_id as usize) else {
            continue;
        };
        match &part.body {
            PartType::Multipart(children) => {
                // Reverse so that popping keeps message order.
                for &child in children.iter().rev() {
                    stack.push((message, child, depth + 1));
                }
            }
            PartType::Message(nested) => stack.push((nested, 0, depth + 1)),
            _ => {
                let content_type = part
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{}", ct.ctype(), token(sub)),
                        None => token(ct.ctype()).to_string(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".to_string())
                    .to_ascii_lowercase();
                let name = part.attachment_name();
                let typed_document = content_type.ends_with("/xml")
                    || content_type.ends_with("+xml")
                    || content_type == "application/pdf";
                // The root part of a message is its body text unless it is itself a document.
                if name.is_none() && !typed_document {
                    continue;
                }
                // Offsets of a nested message's parts are into its own (possibly decoded)
                // bytes, so only the message's own parts have a location in the raw message.
                let location = (std::ptr::eq(message, root)
                    && part.encoding != Encoding::QuotedPrintable
                    && part.offset_body <= part.offset_end)
                    .then_some(Location {
                        start: part.offset_body,
                        end: part.offset_end,
                        base64: part.encoding == Encoding::Base64,
                    });
                out.push(Attachment {
                    name: names::sanitise(name.unwrap_or("")),
                    content_type,
                    bytes: part.contents().to_vec(),
                    location,
                    archive: None,
                });
            }
        }
    }
    Ok(out)
}

/// The leading MIME token of a type or subtype: a malformed `application/pdf name="x"` (missing
/// semicolon) still reads as `pdf`.
fn token(s: &str) -> &str {
    let end = s
        .find(|c: char| c.is_whitespace() || matches!(c, ';' | '"' | ','))
        .unwrap_or(s.len());
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> ParsedMessage {
        parse_message(raw.as_bytes(), &IntakeLimits::default()).unwrap()
    }

    const TWO_ATTACHMENTS: &str = "From: Supplier <billing@supplier.example>\r\n\
Message-ID: <m1@supplier.example>\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
--b\r\nContent-Type: application/xml; name=\"INV-1.xml\"\r\nContent-Disposition: attachment; filename=\"INV-1.xml\"\r\n\r\n<Invoice/>\r\n\
--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''..%2F..%2Finv-1.PDF\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\
--b--\r\n";

    #[test]
    fn finds_attachments_and_sanitises_names() {
        let m = parse(TWO_ATTACHMENTS);
        assert_eq!(
            m.header_from,
            HeaderFrom::One("billing@supplier.example".into())
        );
        assert_eq!(m.message_id.as_deref(), Some("m1@supplier.example"));
        let names: Vec<_> = m.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["INV-1.xml", "inv-1.PDF"]);
        assert_eq!(m.attachments[1].bytes, b"%PDF-1.4\n");
        assert_eq!(m.attachments[1].content_type, "application/pdf");
    }

    #[test]
    fn two_from_fields_are_refused() {
        let m = parse("From: a@x.example\r\nFrom: b@y.example\r\n\r\nbody\r\n");
        assert_eq!(m.header_from, HeaderFrom::Multiple);
    }

    #[test]
    fn from_with_two_mailboxes_is_refused() {
        let m = parse("From: a@x.example, b@y.example\r\n\r\nbody\r\n");
        assert!(
            matches!(
                &m.header_from,
                HeaderFrom::Refused { field, defect: FromDefect::SeveralMailboxes }
                    if field == "a@x.example, b@y.example"
            ),
            "{:?}",
            m.header_from
        );
    }

    #[test]
    fn display_name_that_looks_like_an_address_is_not_judged() {
        let m = parse("From: \"billing@supplier.example\" <evil@attacker.example>\r\n\r\nbody\r\n");
        assert_eq!(
            m.header_from,
            HeaderFrom::One("evil@attacker.example".into())
        );
    }

    #[test]
    fn missing_from() {
        assert_eq!(
            parse("Subject: x\r\n\r\nbody\r\n").header_from,
            HeaderFrom::Missing
        );
    }

    #[test]
    fn attachments_inside_message_rfc822_are_found() {
        let raw = "From: a@x.example\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n\
--o\r\nContent-Type: message/rfc822\r\n\r\n\
From: inner@y.example\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n\
--i\r\nContent-Type: text/xml; name=inner.xml\r\n\r\n<x/>\r\n--i--\r\n\
--o--\r\n";
        let m = parse(raw);
        assert_eq!(m.header_from, HeaderFrom::One("a@x.example".into()));
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].name, "inner.xml");
    }

    #[test]
    fn header_block_limit() {
        let mut raw = String::from("From: a@x.example\r\n");
        for i in 0..2000 {
            raw.push_str(&format!("X-H{i}: v\r\n"));
        }
        raw.push_str("\r\nbody\r\n");
        let err = parse_message(raw.as_bytes(), &IntakeLimits::default()).unwrap_err();
        assert!(matches!(err, IntakeError::HeadersTooLarge { .. }), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused_without_stack_overflow() {
        let depth = 5000;
        let mut raw = String::from("From: a@x.example\r\n");
        for i in 0..depth {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\r\n\r\nx\r\n");
        let err = parse_message(raw.as_bytes(), &IntakeLimits::default()).unwrap_err();
        assert!(matches!(err, IntakeError::TooDeep { .. }), "{err}");

        let mut nested = String::new();
        for _ in 0..depth {
            nested.push_str("From: a@x.example\r\nContent-Type: message/rfc822\r\n\r\n");
        }
        nested.push_str("x\r\n");
        let err = parse_message(nested.as_bytes(), &IntakeLimits::default()).unwrap_err();
        assert!(matches!(err, IntakeError::TooDeep { .. }), "{err}");
    }

    #[test]
    fn many_parts_are_refused() {
        let mut raw =
            String::from("From: a@x.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        for _ in 0..5000 {
            raw.push_str("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        raw.push_str("--b--\r\n");
        let err = parse_message(raw.as_bytes(), &IntakeLimits::default()).unwrap_err();
        assert_eq!(err, IntakeError::TooManyParts { limit: 1000 });
    }
}
