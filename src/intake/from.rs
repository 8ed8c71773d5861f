//! The header From read strictly, so that the address trustgate trusts is the one every other
//! reader of the message sees ("Composition Kills", USENIX Security 2020).
//!
//! Two readings have to agree before a From is used. [`count_from_lines`] counts From fields
//! the way the most tolerant parser would: every line of the header block whose name, with
//! every space, control and non-ASCII byte taken out, is `from` (so `From\x0c:`,
//! `From\x0b:`, `From \t:`, `Fr\0om:` and a From after a line mail-parser takes for the end of
//! the header block all count); more than one is a refusal. [`read_mailbox`] parses the raw
//! field value by RFC 5322 3.4 alone: one mailbox, an optional display name of atoms or
//! quoted strings, an angle-addr or addr-spec, comments allowed where the RFC allows them,
//! and nothing invisible anywhere. [`super::mime`] then requires mail-parser's address to be
//! the same string. Called by `mime` only; pure.

use std::fmt;

use crate::text::is_invisible;

/// Why a From field is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromDefect {
    /// The field is not UTF-8.
    NotUtf8,
    /// A control, bidirectional or other invisible character (escaped in the text).
    Invisible(char),
    /// `@` outside quotes in the display name: `evil@attacker.example <billing@supplier.example>`.
    UnquotedAt,
    /// `<` without its `>`.
    UnclosedAngle,
    /// A comma with nothing after it.
    TrailingComma,
    /// Several mailboxes, or a group.
    SeveralMailboxes,
    /// A quoted local part, a domain literal or a source route: not a plain address.
    NotPlainAddress,
    /// No address at all.
    NoAddress,
    /// Not RFC 5322 syntax; the text says where.
    Syntax(&'static str),
    /// mail-parser reads a different address from the field than RFC 5322 does.
    ReadDifferently,
}

impl fmt::Display for FromDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FromDefect::NotUtf8 => write!(f, "is not UTF-8"),
            FromDefect::Invisible(c) => {
                write!(f, "holds the invisible character U+{:04X}", u32::from(*c))
            }
            FromDefect::UnquotedAt => write!(f, "has an unquoted @ in its display name"),
            FromDefect::UnclosedAngle => write!(f, "has an unclosed angle bracket"),
            FromDefect::TrailingComma => write!(f, "ends with a comma"),
            FromDefect::SeveralMailboxes => write!(f, "names more than one mailbox"),
            FromDefect::NotPlainAddress => write!(
                f,
                "is not a plain address (quoted local part, domain literal or route)"
            ),
            FromDefect::NoAddress => write!(f, "has no address"),
            FromDefect::Syntax(why) => write!(f, "is not valid RFC 5322 syntax ({why})"),
            FromDefect::ReadDifferently => {
                write!(
                    f,
                    "is read as different addresses by different mail programs"
                )
            }
        }
    }
}

/// From fields in a header block, counted as the most tolerant parser would: each line (a
/// continuation line too) whose bytes before its first `:`, keeping only ASCII graphic
/// characters, are `from` in any case.
pub fn count_from_lines(header: &[u8]) -> usize {
    header
        .split(|&b| b == b'\n')
        .filter(|line| {
            let Some(colon) = memchr::memchr(b':', line) else {
                return false;
            };
            let mut name = line[..colon].iter().filter(|b| b.is_ascii_graphic());
            b"from".iter().all(|want| {
                name.next()
                    .is_some_and(|got| got.eq_ignore_ascii_case(want))
            }) && name.next().is_none()
        })
        .count()
}

/// The field value as sent, for a reply: unfolded, trimmed, lossy UTF-8, cut to at most `max`
/// bytes (on a character boundary, marked with `...`). The reply escapes what is invisible.
pub fn shown_value(value: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(value);
    let unfolded: String = text.split(['\r', '\n']).collect();
    let text = unfolded.trim_matches([' ', '\t']);
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The one address of a raw From field value (the bytes after the colon, folds and final line
/// break included), read by RFC 5322 3.4 (with RFC 6532 UTF-8), as `local@domain` without
/// comments or white space.
///
/// # Errors
/// The [`FromDefect`] that makes the field unusable.
pub fn read_mailbox(value: &[u8]) -> Result<String, FromDefect> {
    let text = std::str::from_utf8(value).map_err(|_| FromDefect::NotUtf8)?;
    // RFC 5322 3.2.2: unfolding removes a CRLF that is followed by white space.
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    let mut unfolded = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let fold = match c {
            '\r' if chars.peek() == Some(&'\n') => {
                chars.next();
                true
            }
            '\n' => true,
            _ => false,
        };
        if fold {
            if !matches!(chars.peek(), Some(' ' | '\t')) {
                return Err(FromDefect::Syntax("a line break that is not a fold"));
            }
            continue;
        }
        if c != '\t' && is_invisible(c) {
            return Err(FromDefect::Invisible(c));
        }
        unfolded.push(c);
    }
    let s = unfolded.as_bytes();
    structure(s)?;
    let mut p = Cursor { s, i: 0 };
    p.cfws()?;
    if p.at_end() {
        return Err(FromDefect::NoAddress);
    }
    // addr-spec alone?
    let start = p.i;
    let alone = p.addr_spec();
    if alone.is_ok() {
        p.cfws()?;
        if p.at_end() {
            return alone;
        }
    }
    if !s.contains(&b'<') {
        // No angle-addr to fall back on: say what is wrong with the addr-spec.
        return Err(match alone {
            Ok(_) => FromDefect::Syntax("text after the address"),
            Err(defect) => defect,
        });
    }
    // name-addr: [display-name] angle-addr.
    p.i = start;
    p.phrase()?;
    p.cfws()?;
    if p.peek() != Some(b'<') {
        return Err(if p.at_end() {
            FromDefect::NoAddress
        } else {
            FromDefect::Syntax("a display name needs its address in <>")
        });
    }
    p.i += 1;
    p.cfws()?;
    if p.peek() == Some(b'@') {
        return Err(FromDefect::NotPlainAddress);
    }
    let address = p.addr_spec()?;
    p.cfws()?;
    if p.peek() != Some(b'>') {
        return Err(FromDefect::UnclosedAngle);
    }
    p.i += 1;
    p.cfws()?;
    if !p.at_end() {
        return Err(FromDefect::Syntax("text after the address"));
    }
    Ok(address)
}

/// The field's top-level structure (outside quotes, comments and angle brackets): names the
/// defects a reader should see first (a comma, a group, an `@` in the display name, an
/// unclosed bracket) before the grammar is applied.
fn structure(s: &[u8]) -> Result<(), FromDefect> {
    let (mut in_quote, mut comment, mut in_angle) = (false, 0usize, false);
    let (mut angles, mut at_outside, mut escaped) = (0usize, 0usize, false);
    let mut last_comma = None;
    for (i, &b) in s.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if in_quote || comment > 0 => escaped = true,
            b'"' if comment == 0 => in_quote = !in_quote,
            _ if in_quote => {}
            b'(' => comment += 1,
            b')' if comment > 0 => comment -= 1,
            _ if comment > 0 => {}
            b')' => return Err(FromDefect::Syntax("a ) without its (")),
            b'<' if in_angle => return Err(FromDefect::Syntax("a < inside <>")),
            b'<' => {
                in_angle = true;
                angles += 1;
            }
            b'>' if !in_angle => return Err(FromDefect::Syntax("a > without its <")),
            b'>' => in_angle = false,
            _ if in_angle => {}
            b',' => last_comma = Some(i),
            b';' | b':' => return Err(FromDefect::SeveralMailboxes),
            b'@' => at_outside += 1,
            _ => {}
        }
    }
    if in_quote {
        return Err(FromDefect::Syntax("an unclosed quoted string"));
    }
    if comment > 0 {
        return Err(FromDefect::Syntax("an unclosed comment"));
    }
    if in_angle {
        return Err(FromDefect::UnclosedAngle);
    }
    if let Some(comma) = last_comma {
        let rest = &s[comma + 1..];
        return Err(if rest.iter().all(|b| matches!(b, b' ' | b'\t')) {
            FromDefect::TrailingComma
        } else {
            FromDefect::SeveralMailboxes
        });
    }
    if angles > 1 {
        return Err(FromDefect::SeveralMailboxes);
    }
    if angles == 1 && at_outside > 0 {
        return Err(FromDefect::UnquotedAt);
    }
    if angles == 0 && at_outside > 1 {
        return Err(FromDefect::Syntax("more than one @"));
    }
    Ok(())
}

/// RFC 5322 3.2.3 atext, with RFC 6532's UTF-8 (invisible characters are refused before).
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || b >= 0x80
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    /// RFC 5322 3.2.2 CFWS: white space and (nested) comments.
    fn cfws(&mut self) -> Result<(), FromDefect> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.i += 1,
                Some(b'(') => {
                    let mut depth = 0usize;
                    loop {
                        match self.peek() {
                            None => return Err(FromDefect::Syntax("an unclosed comment")),
                            Some(b'\\') => self.i += 2,
                            Some(b'(') => {
                                depth += 1;
                                self.i += 1;
                            }
                            Some(b')') => {
                                depth -= 1;
                                self.i += 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            Some(_) => self.i += 1,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// 1*atext; empty when there is none here.
    fn atom(&mut self) -> &[u8] {
        let start = self.i;
        while self.peek().is_some_and(is_atext) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// RFC 5322 3.2.3 dot-atom-text.
    fn dot_atom(&mut self) -> Option<String> {
        let start = self.i;
        loop {
            if self.atom().is_empty() {
                return None;
            }
            if self.peek() != Some(b'.') {
                break;
            }
            self.i += 1;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// RFC 5322 3.2.4 quoted-string (after its opening quote was seen).
    fn quoted_string(&mut self) -> Result<(), FromDefect> {
        self.i += 1;
        loop {
            match self.peek() {
                None => return Err(FromDefect::Syntax("an unclosed quoted string")),
                Some(b'\\') => self.i += 2,
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(_) => self.i += 1,
            }
        }
    }

    /// RFC 5322 3.2.5 phrase (with obs-phrase's dots): words of atoms and quoted strings.
    fn phrase(&mut self) -> Result<(), FromDefect> {
        let mut words = 0usize;
        loop {
            self.cfws()?;
            match self.peek() {
                Some(b'"') => self.quoted_string()?,
                Some(b'.') if words > 0 => self.i += 1,
                Some(b) if is_atext(b) => {
                    self.atom();
                }
                _ => return Ok(()),
            }
            words += 1;
        }
    }

    /// RFC 5322 3.4.1 addr-spec, refusing the quoted local part and the domain literal.
    fn addr_spec(&mut self) -> Result<String, FromDefect> {
        self.cfws()?;
        if self.peek() == Some(b'"') {
            return Err(FromDefect::NotPlainAddress);
        }
        let local = self.dot_atom().ok_or(FromDefect::NoAddress)?;
        self.cfws()?;
        if self.peek() != Some(b'@') {
            return Err(FromDefect::NoAddress);
        }
        self.i += 1;
        self.cfws()?;
        if self.peek() == Some(b'[') {
            return Err(FromDefect::NotPlainAddress);
        }
        let domain = self
            .dot_atom()
            .ok_or(FromDefect::Syntax("no domain after @"))?;
        Ok(format!("{local}@{domain}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_from_name_counts() {
        for line in [
            "From: a@x\r\n",
            "from : a@x\r\n",
            "FROM\t: a@x\r\n",
            "From\x0c: a@x\r\n",
            "From\x0b: a@x\r\n",
            "From \t: a@x\r\n",
            "Fr\0om: a@x\r\n",
            "\x0cFrom: a@x\r\n",
            " From: a@x\r\n",
            "F r o m: a@x\r\n",
            "From\u{a0}: a@x\r\n",
        ] {
            assert_eq!(count_from_lines(line.as_bytes()), 1, "{line:?}");
        }
        for line in [
            "Fromage: x\r\n",
            "X-From: a\r\n",
            "Subject: From: x\r\n",
            "From a@x\r\n",
        ] {
            assert_eq!(count_from_lines(line.as_bytes()), 0, "{line:?}");
        }
    }

    #[test]
    fn plain_mailboxes_are_read() {
        for (value, want) in [
            (" billing@supplier.example\r\n", "billing@supplier.example"),
            (
                " <billing@supplier.example>\r\n",
                "billing@supplier.example",
            ),
            (
                " Supplier B.V. <billing@supplier.example>\r\n",
                "billing@supplier.example",
            ),
            (
                " \"Supplier, Billing\" <billing@supplier.example>\r\n",
                "billing@supplier.example",
            ),
            (
                " \"billing@supplier.example\" <evil@attacker.example>\r\n",
                "evil@attacker.example",
            ),
            (
                " billing@supplier.example (Billing)\r\n",
                "billing@supplier.example",
            ),
            (
                " =?UTF-8?Q?M=C3=BCller?=\r\n <m@supplier.example>\r\n",
                "m@supplier.example",
            ),
            (" Müller GmbH <m@supplier.example>", "m@supplier.example"),
        ] {
            assert_eq!(
                read_mailbox(value.as_bytes()).as_deref(),
                Ok(want),
                "{value:?}"
            );
        }
    }

    #[test]
    fn ambiguous_fields_are_refused_with_their_reason() {
        for (value, want) in [
            (
                " evil@attacker.example <billing@supplier.example>",
                FromDefect::UnquotedAt,
            ),
            (
                " Billing <billing@supplier.example",
                FromDefect::UnclosedAngle,
            ),
            (" billing@supplier.example,", FromDefect::TrailingComma),
            (" a@x.example, b@y.example", FromDefect::SeveralMailboxes),
            (" group: a@x.example;", FromDefect::SeveralMailboxes),
            (
                " billing@supplier.example\u{200B}",
                FromDefect::Invisible('\u{200B}'),
            ),
            (
                " \u{FEFF}billing@supplier.example",
                FromDefect::Invisible('\u{FEFF}'),
            ),
            (
                " <billing@supplier.example\u{202E}>",
                FromDefect::Invisible('\u{202E}'),
            ),
            (" \"x\"@supplier.example", FromDefect::NotPlainAddress),
            (" a@[127.0.0.1]", FromDefect::NotPlainAddress),
            (" <@relay.example:a@x.example>", FromDefect::NotPlainAddress),
            ("", FromDefect::NoAddress),
            (" Billing", FromDefect::NoAddress),
            (" a <b@x> <c@y>", FromDefect::SeveralMailboxes),
            (
                " \"unclosed <a@x>",
                FromDefect::Syntax("an unclosed quoted string"),
            ),
        ] {
            assert_eq!(read_mailbox(value.as_bytes()), Err(want), "{value:?}");
        }
        assert_eq!(read_mailbox(b" a@x\xff"), Err(FromDefect::NotUtf8));
    }

    #[test]
    fn shown_value_is_unfolded_and_trimmed() {
        assert_eq!(shown_value(b" a\r\n <b@x>\r\n", 100), "a <b@x>");
        assert_eq!(shown_value("é".repeat(10).as_bytes(), 8), "éé...");
    }
}
