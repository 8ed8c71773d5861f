//! The MIME structure of a raw message, counted before mail-parser builds it: parts, header
//! fields and header bytes (in every part's header block and in the whole message), nesting
//! depth and nested messages, each held to [`IntakeLimits`] while it is counted.
//!
//! Why: mail-parser builds the whole tree first, and a part or a header field costs it about a
//! hundred bytes however few bytes it took on the wire. 4.8 million empty parts in 33 MB took
//! 983 MB; 6.5 million header fields in one part took 818 MB (issue 9). [`mime`](super::mime)
//! calls [`prescan`] first and hands mail-parser only a message within the limits.
//!
//! How: this is mail-parser 0.11's own walk (`MessageParser::parse_` and
//! `MessageStream::parse_headers`), with the same stream primitives (`seek_next_part`,
//! `mime_part`, the base64 and quoted-printable part decoders, `is_multipart_end`,
//! `seek_next_part_offset`, `parse_header_name` and the header value parsers), so it finds the
//! same boundaries and splits the same header fields, but keeps nothing: each header value is
//! dropped as soon as it is read, each part body as soon as its end is found. It counts every
//! header block mail-parser starts (one more than it keeps at the end of a message) and every
//! part header block; it may count more than mail-parser builds, never fewer (a property test
//! and the intake fuzz target hold it to that). Before a header name or value is read, the
//! bytes it can take (to the end of its line, or of its folded lines) are checked against the
//! block's and the message's header byte budget, so no single field is read past the limit.
//!
//! Cost: time linear in the message (mail-parser's walk, without the tree); memory one header
//! value and one decoded part body at a time, plus the decoded body of a base64 or
//! quoted-printable `message/rfc822` part while it is scanned (mail-parser parses those again,
//! at most [`MAX_NESTED_ENCODED`] levels deep, and so does this). The stack of open multiparts
//! is bounded by `max_depth`. Pure: no I/O.

use mail_parser::parsers::MessageStream;
use mail_parser::{ContentType, HeaderName, HeaderValue};

use super::mime::{IntakeError, IntakeLimits};

/// mail-parser 0.11's `MAX_NESTED_ENCODED`: how many levels of base64 or quoted-printable
/// `message/rfc822` parts it parses again; deeper ones stay binary.
pub const MAX_NESTED_ENCODED: usize = 3;

/// What the pre-scan counted: upper bounds of what mail-parser builds from the same bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Parts, nested messages' parts included (every header block started).
    pub parts: usize,
    /// Header fields in all header blocks.
    pub header_fields: usize,
    /// Bytes of all header blocks.
    pub header_bytes: usize,
    /// Most header fields in one header block.
    pub max_block_fields: usize,
    /// Most bytes in one header block.
    pub max_block_bytes: usize,
    /// Deepest part (the root part is at depth 1; a multipart's children and a nested
    /// message's root one deeper than their parent).
    pub depth: usize,
    /// Nested messages (message/rfc822, message/global, digest entries).
    pub nested_messages: usize,
}

/// Counts the MIME structure of `raw` as mail-parser 0.11 will build it, stopping at the first
/// limit of `limits` that is exceeded.
///
/// # Errors
/// [`IntakeError::HeadersTooLarge`] for one header block over `max_header_bytes` or
/// `max_headers`, [`IntakeError::AllHeadersTooLarge`] for all of them over
/// `max_total_header_bytes` or `max_total_headers`, [`IntakeError::TooManyParts`],
/// [`IntakeError::TooDeep`] and [`IntakeError::TooManyNestedMessages`].
pub fn prescan(raw: &[u8], limits: &IntakeLimits) -> Result<Counts, IntakeError> {
    let mut scan = Scan {
        limits,
        counts: Counts::default(),
    };
    scan.message(raw, MAX_NESTED_ENCODED, 0)?;
    Ok(scan.counts)
}

/// Where a base64 part that starts at the stream's offset ends, and where the stream is left,
/// exactly as mail-parser 0.11's `MessageStream::decode_base64_mime(boundary)` finds them, but
/// without decoding: its walk never depends on the decoded bytes, only on which bytes it meets
/// (base64 letters, `=`, white space, line ends, `--` and the boundary). `usize::MAX` (and the
/// stream back at the part's start) where mail-parser gives up on the part. Decoding is most
/// of the pre-scan's time on a message with a PDF; a property test holds this to the decoder.
fn skip_base64_part(stream: &mut MessageStream<'_>, boundary: &[u8]) -> usize {
    /// What a byte does to mail-parser's walk.
    const PASS: u8 = 0;
    const LINE_END: u8 = 1;
    const DASH: u8 = 2;
    const STOP: u8 = 3;
    const CLASS: [u8; 256] = {
        let mut class = [STOP; 256];
        let mut b = 0usize;
        while b < 256 {
            let c = b as u8;
            if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b' ' | b'\t' | b'\r') {
                class[b] = PASS;
            }
            b += 1;
        }
        class[b'\n' as usize] = LINE_END;
        class[b'-' as usize] = DASH;
        class
    };
    stream.checkpoint();
    let start = stream.offset();
    let data = stream.bytes(start..stream.len());
    // The byte before `i` and the one before that, as the decoder's `last_ch` and
    // `before_last_ch` start (a line end, then nothing).
    let last = |i: usize| if i == 0 { b'\n' } else { data[i - 1] };
    let before_last = |i: usize| match i {
        0 => 0,
        1 => b'\n',
        _ => data[i - 2],
    };
    let mut end_pos = start;
    for (i, &ch) in data.iter().enumerate() {
        match CLASS[usize::from(ch)] {
            PASS => {}
            LINE_END => end_pos = start + i - usize::from(last(i) == b'\r'),
            DASH if last(i) != b'-' => {}
            DASH => {
                if boundary.is_empty() || !data[i + 1..].starts_with(boundary) {
                    stream.restore();
                    return usize::MAX;
                }
                stream.skip_bytes(i + 1 + boundary.len());
                return if before_last(i) == b'\n' {
                    end_pos
                } else {
                    start + i - 1
                };
            }
            _ => {
                stream.restore();
                return usize::MAX;
            }
        }
    }
    if boundary.is_empty() {
        stream.seek_end();
        stream.offset()
    } else {
        stream.restore();
        usize::MAX
    }
}

/// mail-parser's `MimeType`, as far as the walk depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mime {
    Multipart,
    MultipartDigest,
    TextPlain,
    TextOther,
    Message,
    Other,
}

/// mail-parser's `MessageParserState`, as far as the walk depends on it.
#[derive(Debug)]
struct State {
    mime: Mime,
    boundary: Option<Vec<u8>>,
}

/// The walk's running totals and limits.
struct Scan<'l> {
    limits: &'l IntakeLimits,
    counts: Counts,
}

/// What the walk needs from one header block.
struct Block<'x> {
    /// The last Content-Type field (mail-parser's `header_value` takes the last).
    content_type: Option<ContentType<'x>>,
    /// The last Content-Transfer-Encoding field's text.
    encoding: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    None,
    Base64,
    QuotedPrintable,
}

impl Scan<'_> {
    /// One message (mail-parser's `parse_`): `depth_left` levels of encoded nested messages
    /// may still be parsed again; `base` is the depth of the part that holds this message.
    fn message(&mut self, raw: &[u8], depth_left: usize, base: usize) -> Result<(), IntakeError> {
        let mut stream = MessageStream::new(raw);
        let mut state = State {
            mime: Mime::Message,
            boundary: None,
        };
        // mail-parser's `state_stack`: the parent states, and whether each was left for a
        // nested message (`Some(prev_message)` there).
        let mut stack: Vec<(State, bool)> = Vec::new();

        'outer: loop {
            // Every header block started is counted as a part, whether or not it ends up as
            // one (a message without a body still becomes one).
            let depth = base + stack.len() + 1;
            self.count_part(depth)?;
            let Some(block) = self.headers(&mut stream)? else {
                break;
            };

            let (is_multipart, mut mime) = mime_type(block.content_type.as_ref(), state.mime);
            if is_multipart
                && let Some(boundary) = block
                    .content_type
                    .as_ref()
                    .and_then(|c| c.attribute("boundary"))
            {
                if stream.seek_next_part(boundary.as_bytes()) {
                    let new_state = State {
                        mime,
                        boundary: Some(boundary.as_bytes().to_vec()),
                    };
                    stack.push((state, false));
                    state = new_state;
                    stream.skip_crlf();
                    continue;
                }
                mime = Mime::TextOther;
            }

            let encoding = match block.encoding.as_deref() {
                Some(e) if e.eq_ignore_ascii_case("base64") => Encoding::Base64,
                Some(e) if e.eq_ignore_ascii_case("quoted-printable") => Encoding::QuotedPrintable,
                _ => Encoding::None,
            };

            if mime == Mime::Message && encoding == Encoding::None {
                self.count_nested()?;
                let new_state = State {
                    mime: Mime::Message,
                    boundary: state.boundary.take(),
                };
                stack.push((state, true));
                state = new_state;
                continue;
            }

            let boundary: &[u8] = state.boundary.as_deref().unwrap_or(b"");
            let (offset_end, bytes) = match encoding {
                // Only a nested message's bytes are looked into: any other base64 part is
                // only walked past, to where mail-parser's decoder would stop.
                Encoding::Base64 if mime != Mime::Message || depth_left == 0 => (
                    skip_base64_part(&mut stream, boundary),
                    std::borrow::Cow::Borrowed(&[][..]),
                ),
                Encoding::Base64 => stream.decode_base64_mime(boundary),
                Encoding::QuotedPrintable => stream.decode_quoted_printable_mime(boundary),
                Encoding::None => stream.mime_part(boundary),
            };
            if offset_end == usize::MAX {
                // mail-parser recovers the part as text up to the next boundary (so it is
                // never parsed as a nested message).
                let (_, boundary_found) = stream.seek_part_end(state.boundary.as_deref());
                if !boundary_found {
                    state.boundary = None;
                }
            } else if mime == Mime::Message && depth_left != 0 {
                // A base64 or quoted-printable message: mail-parser parses its decoded bytes
                // again, one level of encoding less.
                self.count_nested()?;
                self.message(&bytes, depth_left - 1, depth)?;
            }
            drop(bytes);

            if state.boundary.is_some() {
                'inner: loop {
                    if state.mime == Mime::Message {
                        // The end of a nested message: back to its parent.
                        match stack.pop() {
                            Some((mut prev, true)) => {
                                prev.boundary = state.boundary.take();
                                state = prev;
                            }
                            _ => break 'outer,
                        }
                    }
                    if stream.is_multipart_end() {
                        if let Some((prev, _)) = stack.pop() {
                            state = prev;
                            if let Some(boundary) = &state.boundary
                                && stream.seek_next_part_offset(boundary).is_some()
                            {
                                continue 'inner;
                            }
                        }
                        break 'outer;
                    }
                    break 'inner;
                }
            } else if stream.offset() >= raw.len() {
                break 'outer;
            }
        }
        Ok(())
    }

    fn count_part(&mut self, depth: usize) -> Result<(), IntakeError> {
        let limits = self.limits;
        self.counts.parts += 1;
        if self.counts.parts > limits.max_parts {
            return Err(IntakeError::TooManyParts {
                limit: limits.max_parts,
            });
        }
        self.counts.depth = self.counts.depth.max(depth);
        if depth > limits.max_depth {
            return Err(IntakeError::TooDeep {
                limit: limits.max_depth,
            });
        }
        Ok(())
    }

    fn count_nested(&mut self) -> Result<(), IntakeError> {
        self.counts.nested_messages += 1;
        if self.counts.nested_messages > self.limits.max_nested_messages {
            return Err(IntakeError::TooManyNestedMessages {
                limit: self.limits.max_nested_messages,
            });
        }
        Ok(())
    }

    /// One header block (mail-parser's `parse_headers`): `None` where mail-parser's returns
    /// false (the end of the input came first).
    fn headers<'x>(
        &mut self,
        stream: &mut MessageStream<'x>,
    ) -> Result<Option<Block<'x>>, IntakeError> {
        let start = stream.offset();
        let mut fields = 0usize;
        let mut block = Block {
            content_type: None,
            encoding: None,
        };
        // mail-parser's loop: skip white space, end at an empty line, read a field.
        loop {
            match stream.peek() {
                Some(b'\n') => {
                    stream.next();
                    break;
                }
                None => {
                    self.count_block(stream.offset() - start, fields)?;
                    return Ok(None);
                }
                Some(ch) if !ch.is_ascii_whitespace() => {
                    // A field (or a line without a colon): bound what reading its name
                    // and value can take before reading them.
                    let upto = self.budget(start);
                    let line = line_end(stream, upto);
                    self.check_block(line - start, fields)?;
                    let Some(name) = stream.parse_header_name() else {
                        if stream.is_eof() {
                            self.count_block(stream.offset() - start, fields)?;
                            return Ok(None);
                        }
                        continue;
                    };
                    fields += 1;
                    let value_end = folded_end(stream, upto);
                    self.check_block(value_end - start, fields)?;
                    read_value(stream, &name, &mut block);
                    self.check_block(stream.offset() - start, fields)?;
                }
                _ => {
                    stream.next();
                }
            }
        }
        self.count_block(stream.offset() - start, fields)?;
        Ok(Some(block))
    }

    /// The offset past which a header block starting at `start` is over a byte limit.
    fn budget(&self, start: usize) -> usize {
        let limits = self.limits;
        let left_total = limits
            .max_total_header_bytes
            .saturating_sub(self.counts.header_bytes);
        start.saturating_add(limits.max_header_bytes.min(left_total))
    }

    /// Refuses a header block of `bytes` and `fields` so far when it, or all blocks with it,
    /// is over a limit.
    fn check_block(&self, bytes: usize, fields: usize) -> Result<(), IntakeError> {
        let limits = self.limits;
        if bytes > limits.max_header_bytes || fields > limits.max_headers {
            return Err(IntakeError::HeadersTooLarge {
                bytes,
                fields,
                max_bytes: limits.max_header_bytes,
                max_fields: limits.max_headers,
            });
        }
        let all_bytes = self.counts.header_bytes.saturating_add(bytes);
        let all_fields = self.counts.header_fields.saturating_add(fields);
        if all_bytes > limits.max_total_header_bytes || all_fields > limits.max_total_headers {
            return Err(IntakeError::AllHeadersTooLarge {
                bytes: all_bytes,
                fields: all_fields,
                max_bytes: limits.max_total_header_bytes,
                max_fields: limits.max_total_headers,
            });
        }
        Ok(())
    }

    /// Adds a finished header block to the totals.
    fn count_block(&mut self, bytes: usize, fields: usize) -> Result<(), IntakeError> {
        self.check_block(bytes, fields)?;
        let c = &mut self.counts;
        c.header_bytes += bytes;
        c.header_fields += fields;
        c.max_block_bytes = c.max_block_bytes.max(bytes);
        c.max_block_fields = c.max_block_fields.max(fields);
        Ok(())
    }
}

/// The offset just past the end of the current line (its `\n`), or `upto + 1` when the line
/// runs past `upto`: never reads more than the budget.
fn line_end(stream: &MessageStream<'_>, upto: usize) -> usize {
    let pos = stream.offset();
    let rest = stream.bytes(pos..stream.len().min(upto.saturating_add(1)));
    match memchr::memchr(b'\n', rest) {
        Some(i) => pos + i + 1,
        None if pos + rest.len() >= stream.len() => stream.len(),
        None => upto.saturating_add(1),
    }
}

/// The offset just past a header value that starts here: its line and every following line
/// that starts with a space or a tab (every mail-parser value parser stops at the first `\n`
/// not followed by one), or `upto + 1` when that runs past `upto`.
fn folded_end(stream: &MessageStream<'_>, upto: usize) -> usize {
    let end = stream.len().min(upto.saturating_add(1));
    let mut pos = stream.offset();
    loop {
        let rest = stream.bytes(pos..end);
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                pos += i + 1;
                match stream.bytes(pos..pos + 1) {
                    [b' ' | b'\t'] => {}
                    _ => return pos,
                }
            }
            None if end >= stream.len() => return stream.len(),
            None => return end,
        }
    }
}

/// Reads one header value with the parser mail-parser's default configuration uses for the
/// field `name` (so the stream ends where mail-parser's does), keeping only what the walk needs.
fn read_value<'x>(stream: &mut MessageStream<'x>, name: &HeaderName<'x>, block: &mut Block<'x>) {
    let value = match name {
        HeaderName::Subject
        | HeaderName::Comments
        | HeaderName::ContentDescription
        | HeaderName::ContentLocation
        | HeaderName::ContentTransferEncoding => stream.parse_unstructured(),
        HeaderName::From
        | HeaderName::To
        | HeaderName::Cc
        | HeaderName::Bcc
        | HeaderName::ReplyTo
        | HeaderName::Sender
        | HeaderName::ResentTo
        | HeaderName::ResentFrom
        | HeaderName::ResentBcc
        | HeaderName::ResentCc
        | HeaderName::ResentSender
        | HeaderName::ListArchive
        | HeaderName::ListHelp
        | HeaderName::ListId
        | HeaderName::ListOwner
        | HeaderName::ListPost
        | HeaderName::ListSubscribe
        | HeaderName::ListUnsubscribe => stream.parse_address(),
        HeaderName::Date | HeaderName::ResentDate => stream.parse_date(),
        HeaderName::MessageId
        | HeaderName::References
        | HeaderName::InReplyTo
        | HeaderName::ReturnPath
        | HeaderName::ContentId
        | HeaderName::ResentMessageId => stream.parse_id(),
        HeaderName::Keywords | HeaderName::ContentLanguage => stream.parse_comma_separared(),
        HeaderName::Received => stream.parse_received(),
        HeaderName::MimeVersion => stream.parse_raw(),
        HeaderName::ContentType | HeaderName::ContentDisposition => stream.parse_content_type(),
        _ => stream.parse_raw(),
    };
    match (name, value) {
        (HeaderName::ContentType, HeaderValue::ContentType(ct)) => block.content_type = Some(ct),
        // mail-parser's `header_value` takes the last field of the name, whatever its value.
        (HeaderName::ContentType, _) => block.content_type = None,
        (HeaderName::ContentTransferEncoding, HeaderValue::Text(t)) => {
            block.encoding = Some(t.into_owned());
        }
        (HeaderName::ContentTransferEncoding, _) => block.encoding = None,
        _ => {}
    }
}

/// mail-parser's `mime_type`: whether the part is a multipart, and its type for the walk.
fn mime_type(content_type: Option<&ContentType<'_>>, parent: Mime) -> (bool, Mime) {
    match content_type {
        Some(ct) => match ct.ctype() {
            "multipart" => (
                true,
                if ct.subtype() == Some("digest") {
                    Mime::MultipartDigest
                } else {
                    Mime::Multipart
                },
            ),
            "text" => match ct.subtype() {
                Some("plain") => (false, Mime::TextPlain),
                _ => (false, Mime::TextOther),
            },
            "message" if matches!(ct.subtype(), Some("rfc822" | "global")) => {
                (false, Mime::Message)
            }
            _ => (false, Mime::Other),
        },
        None if parent == Mime::MultipartDigest => (false, Mime::Message),
        None => (false, Mime::TextPlain),
    }
}

/// What mail-parser built, counted the way [`prescan`] counts: for the property test and the
/// intake fuzz target, which hold `prescan`'s counts to be no lower. Not a bound on anything.
#[doc(hidden)]
pub fn built_counts(message: &mail_parser::Message<'_>) -> Counts {
    use mail_parser::PartType;
    let mut c = Counts::default();
    // Every part of every message, nested ones included; and each part's depth in the tree.
    let mut messages = vec![(message, 1usize)];
    while let Some((m, root_depth)) = messages.pop() {
        for part in &m.parts {
            c.parts += 1;
            let fields = part.headers.len();
            let bytes = (part.offset_body as usize).saturating_sub(part.offset_header as usize);
            c.header_fields += fields;
            c.header_bytes += bytes;
            c.max_block_fields = c.max_block_fields.max(fields);
            c.max_block_bytes = c.max_block_bytes.max(bytes);
        }
        let mut stack = vec![(0u32, root_depth)];
        // A broken tree may name a part twice, even as a child of itself: mail-parser 0.11
        // builds a multipart whose children are itself and the root where a boundary closes a
        // part it never opened (tests/fixtures/fuzz/intake/mail-parser-invalid-part-id.eml).
        // Count what was built, each part once: walking the cycle counted the same parts and
        // nested messages again and again, and depths up to the number of parts (the intake
        // fuzz target's crash). `collect_attachments` bounds its own walk by depth and parts.
        let mut seen = vec![false; m.parts.len()];
        while let Some((id, depth)) = stack.pop() {
            match seen.get_mut(id as usize) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            c.depth = c.depth.max(depth);
            match m.parts.get(id as usize).map(|p| &p.body) {
                Some(PartType::Multipart(children)) => {
                    stack.extend(children.iter().map(|&child| (child, depth + 1)));
                }
                Some(PartType::Message(nested)) => {
                    c.nested_messages += 1;
                    messages.push((nested, depth + 1));
                }
                _ => {}
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;
    use proptest::prelude::*;

    fn unbounded() -> IntakeLimits {
        IntakeLimits::unbounded()
    }

    /// The pre-scan's counts are never lower than what mail-parser builds from `raw`.
    fn assert_covers(raw: &[u8]) -> Counts {
        let scanned = std::panic::catch_unwind(|| prescan(raw, &unbounded()));
        let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw));
        let (scanned, parsed) = match (scanned, parsed) {
            (Ok(scanned), Ok(parsed)) => (scanned.expect("no limits"), parsed),
            // mail-parser's quoted-printable decoder overflows in debug builds (see
            // `mime::parse_message`); the pre-scan runs the same decoder, and panics only
            // where mail-parser does.
            (Err(_), Err(_)) => return Counts::default(),
            (Err(_), Ok(_)) => panic!("the pre-scan panicked where mail-parser did not"),
            (Ok(scanned), Err(_)) => return scanned.expect("no limits"),
        };
        if let Some(message) = parsed {
            let built = built_counts(&message);
            let pairs = [
                ("parts", scanned.parts, built.parts),
                ("header fields", scanned.header_fields, built.header_fields),
                ("header bytes", scanned.header_bytes, built.header_bytes),
                (
                    "block fields",
                    scanned.max_block_fields,
                    built.max_block_fields,
                ),
                (
                    "block bytes",
                    scanned.max_block_bytes,
                    built.max_block_bytes,
                ),
                ("depth", scanned.depth, built.depth),
                ("nested", scanned.nested_messages, built.nested_messages),
            ];
            for (what, s, b) in pairs {
                assert!(
                    s >= b,
                    "{what}: pre-scan {s} < mail-parser {b}\n{scanned:?}\n{built:?}\n{:?}",
                    String::from_utf8_lossy(raw)
                );
            }
        }
        scanned
    }

    #[test]
    fn many_empty_parts_are_refused_before_parsing() {
        let mut raw =
            b"From: a@x.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        for _ in 0..100_000 {
            raw.extend_from_slice(b"--b\r\n\r\n");
        }
        let err = prescan(&raw, &IntakeLimits::default()).unwrap_err();
        assert_eq!(err, IntakeError::TooManyParts { limit: 1000 });
    }

    #[test]
    fn boundaries_are_found_where_mail_parser_finds_them() {
        // Not at a line start, declared in RFC 2231 pieces, and inside an encoded message.
        let raw = b"Content-Type: multipart/mixed; boundary*0=\"ab\"; boundary*1=\"cd\"\r\n\r\n\
x--abcd\r\nContent-Type: text/plain\r\n\r\none--abcd\r\n\r\ntwo\r\n--abcd--\r\n";
        let c = assert_covers(raw);
        assert!(c.parts >= 3, "{c:?}");
        let inner = "Content-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\na\r\n--i\r\n\r\nb\r\n--i--\r\n";
        let encoded = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(inner)
        };
        let raw = format!(
            "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\
Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--o--\r\n"
        );
        let c = assert_covers(raw.as_bytes());
        assert_eq!(c.nested_messages, 1, "{c:?}");
        assert!(c.parts >= 5, "{c:?}");
    }

    #[test]
    fn header_fields_of_every_part_are_counted() {
        let mut raw = String::from(
            "From: a@x.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
        );
        for i in 0..1001 {
            raw.push_str(&format!("X-{i}: v\r\n"));
        }
        raw.push_str("\r\nbody\r\n--b--\r\n");
        assert_covers(raw.as_bytes());
        let err = prescan(raw.as_bytes(), &IntakeLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                IntakeError::HeadersTooLarge {
                    fields: 1001,
                    max_fields: 1000,
                    ..
                }
            ),
            "{err}"
        );
        // Within each block, but over the total.
        let limits = IntakeLimits {
            max_total_headers: 500,
            ..IntakeLimits::default()
        };
        let mut raw = String::from("Content-Type: multipart/mixed; boundary=b\r\n\r\n");
        for _ in 0..10 {
            raw.push_str("--b\r\n");
            for i in 0..60 {
                raw.push_str(&format!("X-{i}: v\r\n"));
            }
            raw.push_str("\r\nbody\r\n");
        }
        let err = prescan(raw.as_bytes(), &limits).unwrap_err();
        assert!(
            matches!(err, IntakeError::AllHeadersTooLarge { .. }),
            "{err}"
        );
    }

    #[test]
    fn one_huge_field_is_refused_before_it_is_read() {
        let mut raw = b"To: ".to_vec();
        raw.extend(std::iter::repeat_n(b"a,".as_slice(), 200_000).flatten());
        raw.extend_from_slice(b"\r\n\r\nbody");
        let err = prescan(&raw, &IntakeLimits::default()).unwrap_err();
        // Refused at the name, before mail-parser's address parser (about 28 bytes of memory
        // per byte of `a,`) reads the value.
        assert!(
            matches!(err, IntakeError::HeadersTooLarge { bytes, max_bytes, .. } if bytes == max_bytes + 1),
            "{err}"
        );
        // A line without a colon is not read past the limit either.
        let raw = [vec![b'x'; 300_000], b"\r\n\r\n".to_vec()].concat();
        assert!(matches!(
            prescan(&raw, &IntakeLimits::default()),
            Err(IntakeError::HeadersTooLarge { .. })
        ));
        let limits = IntakeLimits {
            max_total_header_bytes: 1000,
            ..IntakeLimits::default()
        };
        let raw = format!(
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX: {}\r\n\r\nbody\r\n--b--\r\n",
            "v".repeat(2000)
        );
        assert!(matches!(
            prescan(raw.as_bytes(), &limits),
            Err(IntakeError::AllHeadersTooLarge { .. })
        ));
    }

    #[test]
    fn depth_and_nested_messages_are_bounded() {
        let mut raw = String::new();
        for i in 0..40 {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        raw.push_str("\r\nx\r\n");
        assert_eq!(
            prescan(raw.as_bytes(), &IntakeLimits::default()),
            Err(IntakeError::TooDeep { limit: 32 })
        );
        assert_covers(raw.as_bytes());
        let mut raw = String::from("Content-Type: multipart/digest; boundary=d\r\n\r\n");
        for _ in 0..100 {
            raw.push_str("--d\r\n\r\nSubject: x\r\n\r\nbody\r\n");
        }
        raw.push_str("--d--\r\n");
        let c = assert_covers(raw.as_bytes());
        assert!(c.nested_messages >= 100, "{c:?}");
        assert_eq!(
            prescan(raw.as_bytes(), &IntakeLimits::default()),
            Err(IntakeError::TooManyNestedMessages { limit: 64 })
        );
    }

    #[test]
    fn corpus_messages_are_covered() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mime");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "eml") {
                assert_covers(&std::fs::read(&path).unwrap());
                seen += 1;
            }
        }
        assert!(seen > 0, "no .eml in {}", dir.display());
    }

    /// MIME-ish text: header lines (with odd separators), boundary lines of a few declared
    /// boundaries (also mid-line, closing, unknown), nested message and digest declarations,
    /// encodings, folds, bare LFs and stray bytes.
    fn mimeish() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"Content-Type: multipart/mixed; boundary=a\r\n".to_vec()),
            Just(b"Content-Type: multipart/alternative; boundary=\"b\"\r\n".to_vec()),
            Just(b"Content-Type: multipart/digest; boundary=a\r\n".to_vec()),
            Just(b"content-type: MULTIPART/mixed;\r\n boundary*0=a; boundary*1=b\r\n".to_vec()),
            Just(b"Content-Type: message/rfc822\r\n".to_vec()),
            Just(b"Content-Type: message/global\r\n".to_vec()),
            Just(b"Content-Type: text/plain\r\n".to_vec()),
            Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
            Just(b"Content-Transfer-Encoding: quoted-printable\r\n".to_vec()),
            Just(b"From: a@x.example\r\n".to_vec()),
            Just(b"From\x0c: \"q\r\n x\" <b@y>\r\n".to_vec()),
            Just(b"Received: from x\r\n by y; 1 Jan 2020\r\n".to_vec()),
            Just(b"X: v\r\n\tfold\r\n".to_vec()),
            Just(b"no colon line\r\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b" \r\n".to_vec()),
            Just(b"\x0c\r\n".to_vec()),
            Just(b"--a\r\n".to_vec()),
            Just(b"--b\r\n".to_vec()),
            Just(b"--ab\r\n".to_vec()),
            Just(b"--a--\r\n".to_vec()),
            Just(b"--b--".to_vec()),
            Just(b"x--a".to_vec()),
            Just(b"--a ".to_vec()),
            Just(b"SGVsbG8=\r\n".to_vec()),
            Just(b"=41=\r\n".to_vec()),
            Just(b"body text\r\n".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
    }

    /// Bytes a base64 part's walk can meet: letters, padding, white space, line ends, dashes,
    /// the boundary and bytes that stop it.
    fn base64ish() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"QUJD".to_vec()),
            Just(b"a".to_vec()),
            Just(b"=".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b" ".to_vec()),
            Just(b"\t".to_vec()),
            Just(b"-".to_vec()),
            Just(b"--".to_vec()),
            Just(b"--b".to_vec()),
            Just(b"\r\n--b".to_vec()),
            Just(b"\n--b--".to_vec()),
            Just(b"!".to_vec()),
            Just(b"\xc3".to_vec()),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    /// mail-parser's decoder and the skip, from `at` in `data` with `boundary`: where the part
    /// ends, and where the stream is left.
    fn both_walks(data: &[u8], at: usize, boundary: &[u8]) -> ((usize, usize), (usize, usize)) {
        let mut decoding = MessageStream::new(data);
        decoding.skip_bytes(at);
        let (end, _) = decoding.decode_base64_mime(boundary);
        let mut skipping = MessageStream::new(data);
        skipping.skip_bytes(at);
        let skipped = skip_base64_part(&mut skipping, boundary);
        ((end, decoding.offset()), (skipped, skipping.offset()))
    }

    #[test]
    fn a_base64_part_is_walked_past_to_where_the_decoder_stops() {
        let mail = b"QUJD\r\nREVG\r\n--b\r\nrest";
        assert_eq!(both_walks(mail, 0, b"b"), ((10, 15), (10, 15)));
        assert_eq!(both_walks(b"QU!D\r\n--b", 0, b"b").1, (usize::MAX, 0));
        assert_eq!(both_walks(b"QUJD", 0, b"").1, (4, 4));
        assert_eq!(both_walks(b"xQUJD", 1, b"b").1, (usize::MAX, 1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// The skip finds the end mail-parser's base64 decoder finds, and leaves the stream
        /// where it does, for every boundary and starting point.
        #[test]
        fn the_base64_skip_stops_where_the_decoder_stops(
            data in base64ish(),
            at in 0usize..8,
            boundary in prop_oneof![Just(b"b".to_vec()), Just(Vec::new()), Just(b"b--".to_vec())],
        ) {
            let at = at.min(data.len());
            let (decoder, skip) = both_walks(&data, at, &boundary);
            prop_assert_eq!(decoder, skip);
        }

        /// The pre-scan never counts fewer parts, header fields, header bytes, levels or
        /// nested messages than mail-parser builds.
        #[test]
        fn never_counts_less_than_mail_parser(raw in mimeish()) {
            assert_covers(&raw);
        }

        /// Within the default limits, or refused: never a panic, and what passes is within
        /// every bound.
        #[test]
        fn what_passes_is_within_the_limits(raw in mimeish()) {
            let limits = IntakeLimits {
                max_parts: 20,
                max_headers: 8,
                max_header_bytes: 300,
                max_total_headers: 30,
                max_total_header_bytes: 900,
                max_depth: 4,
                max_nested_messages: 3,
                pdf: Default::default(),
                xml: Default::default(),
                archive: Default::default(),
            };
            let parsed = std::panic::catch_unwind(|| {
                prescan(&raw, &limits).ok()?;
                MessageParser::default().parse(&raw)
            });
            if let Ok(Some(message)) = parsed {
                let b = built_counts(&message);
                prop_assert!(b.parts <= limits.max_parts, "{b:?}");
                prop_assert!(b.max_block_fields <= limits.max_headers, "{b:?}");
                prop_assert!(b.max_block_bytes <= limits.max_header_bytes, "{b:?}");
                prop_assert!(b.header_fields <= limits.max_total_headers, "{b:?}");
                prop_assert!(b.header_bytes <= limits.max_total_header_bytes, "{b:?}");
                prop_assert!(b.depth <= limits.max_depth, "{b:?}");
                prop_assert!(b.nested_messages <= limits.max_nested_messages, "{b:?}");
            }
        }
    }
}
