//! Turns attachment bytes into the UTF-8 text the streaming pass reads, and recognises the root.
//!
//! Handles a UTF-8 or UTF-16 byte order mark and the single-byte encodings German and French
//! invoices are still sent in (ISO-8859-1/15, windows-1252), by transcoding to UTF-8 before
//! parsing. Anything else that is not valid UTF-8 is refused if its root is an invoice root.
//! Pure; called by `inspect_with` in `mod.rs`.

use std::borrow::Cow;

use super::Limits;
use super::xml::{self, Opened, Stop};

/// The declared or sniffed encoding of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Latin1,
    Latin9,
    Windows1252,
    Unsupported,
}

/// Returns UTF-8 bytes without BOM, transcoded if needed.
pub(crate) fn prepare(xml: &[u8]) -> Result<Cow<'_, [u8]>, Stop> {
    if let Some(rest) = xml.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest);
    }
    if let Some(rest) = xml.strip_prefix(b"\xFF\xFE") {
        return Ok(Cow::Owned(utf16(rest, u16::from_le_bytes).into_bytes()));
    }
    if let Some(rest) = xml.strip_prefix(b"\xFE\xFF") {
        return Ok(Cow::Owned(utf16(rest, u16::from_be_bytes).into_bytes()));
    }
    match declared_encoding(xml) {
        Encoding::Utf8 => utf8(xml),
        _ if xml.is_ascii() => Ok(Cow::Borrowed(xml)),
        Encoding::Latin1 => Ok(Cow::Owned(single_byte(xml, char::from))),
        Encoding::Latin9 => Ok(Cow::Owned(single_byte(xml, latin9))),
        Encoding::Windows1252 => Ok(Cow::Owned(single_byte(xml, windows1252))),
        Encoding::Unsupported => refuse_if_invoice(
            xml,
            "the XML declares an encoding trustgate does not read; send the invoice encoded as UTF-8",
        ),
    }
}

/// Recognises the root of prepared text.
pub(crate) fn open<'x>(text: &'x [u8], limits: &Limits) -> Result<Opened<'x>, Stop> {
    xml::open(text, limits)
}

fn utf8(bytes: &[u8]) -> Result<Cow<'_, [u8]>, Stop> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(Cow::Borrowed(bytes)),
        Err(_) => refuse_if_invoice(
            bytes,
            "the XML is not valid UTF-8; send the invoice encoded as UTF-8 (or declare its real encoding)",
        ),
    }
}

/// Undecodable bytes: refused when the root (read leniently) is an invoice, else not an invoice.
fn refuse_if_invoice(bytes: &[u8], reason: &str) -> Result<Cow<'static, [u8]>, Stop> {
    let lossy = String::from_utf8_lossy(bytes);
    match xml::open(lossy.as_bytes(), &Limits::default()) {
        Ok(_) => Err(Stop::Refused(reason.to_owned())),
        Err(Stop::Refused(r)) => Err(Stop::Refused(r)),
        Err(Stop::NotInvoice) => Err(Stop::NotInvoice),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

fn single_byte(bytes: &[u8], map: fn(u8) -> char) -> Vec<u8> {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    out.extend(bytes.iter().map(|&b| map(b)));
    out.into_bytes()
}

/// ISO-8859-15 differs from ISO-8859-1 in eight positions.
fn latin9(b: u8) -> char {
    match b {
        0xA4 => '€',
        0xA6 => 'Š',
        0xA8 => 'š',
        0xB4 => 'Ž',
        0xB8 => 'ž',
        0xBC => 'Œ',
        0xBD => 'œ',
        0xBE => 'Ÿ',
        _ => char::from(b),
    }
}

/// windows-1252: ISO-8859-1 with printable characters in 0x80..=0x9F.
fn windows1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// The `encoding` pseudo-attribute of the XML declaration, if any (UTF-8 when absent).
fn declared_encoding(xml: &[u8]) -> Encoding {
    let Some(decl) = xml.strip_prefix(b"<?xml") else {
        return Encoding::Utf8;
    };
    let head = &decl[..decl.len().min(256)];
    let Some(end) = head.windows(2).position(|w| w == b"?>") else {
        return Encoding::Utf8;
    };
    let head = &head[..end];
    let Some(at) = head.windows(8).position(|w| w == b"encoding") else {
        return Encoding::Utf8;
    };
    let rest = &head[at + 8..];
    let rest = rest.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b"=") else {
        return Encoding::Utf8;
    };
    let rest = rest.trim_ascii_start();
    let Some((&quote, rest)) = rest.split_first() else {
        return Encoding::Utf8;
    };
    if quote != b'"' && quote != b'\'' {
        return Encoding::Utf8;
    }
    let Some(len) = rest.iter().position(|&b| b == quote) else {
        return Encoding::Utf8;
    };
    let name = String::from_utf8_lossy(&rest[..len]).to_ascii_lowercase();
    match name.as_str() {
        "utf-8" | "utf8" => Encoding::Utf8,
        "iso-8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "us-ascii" | "ascii" => {
            Encoding::Latin1
        }
        "iso-8859-15" | "iso_8859-15" | "latin-9" | "latin9" => Encoding::Latin9,
        "windows-1252" | "cp1252" => Encoding::Windows1252,
        _ => Encoding::Unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_and_single_byte_encodings_become_utf8() {
        assert_eq!(&*prepare(b"\xEF\xBB\xBF<a/>").unwrap(), b"<a/>");
        let latin = b"<?xml version='1.0' encoding='ISO-8859-1'?><a>M\xFCnchen</a>";
        assert!(
            std::str::from_utf8(&prepare(latin).unwrap())
                .unwrap()
                .contains("München")
        );
        let cp = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><a>\x80 5</a>";
        assert!(
            std::str::from_utf8(&prepare(cp).unwrap())
                .unwrap()
                .contains("€ 5")
        );
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<a>é</a>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(&*prepare(&le).unwrap(), "<a>é</a>".as_bytes());
    }

    #[test]
    fn invalid_utf8_is_refused_only_for_invoices() {
        let inv = b"<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\">\xFF</Invoice>";
        assert!(matches!(prepare(inv), Err(Stop::Refused(r)) if r.contains("UTF-8")));
        assert!(matches!(
            prepare(b"<html>\xFF</html>"),
            Err(Stop::NotInvoice)
        ));
    }
}
