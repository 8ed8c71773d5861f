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
        let ended = loop {
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
                        continue;
                    }
                    _ => {
                        stream.next();
                    }
                }
            };
            break true;
        };
        debug_assert!(ended);
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
        while let Some((id, depth)) = stack.pop() {
            c.depth = c.depth.max(depth);
            match m.parts.get(id as usize).map(|p| &p.body) {
                Some(PartType::Multipart(children)) => {
                    // A broken tree may name a part twice; mail-parser's walk does not loop.
                    if depth <= m.parts.len() + 1 {
                        stack.extend(children.iter().map(|&child| (child, depth + 1)));
                    }
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
