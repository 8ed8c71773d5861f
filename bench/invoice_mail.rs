//! The benchmark message: a real invoice mail of an exact size, shared by the load generator
//! (`examples/smtp_load.rs`) and the content bench (`benches/content.rs`) through `#[path]`.
//!
//! The mail is what a supplier's ERP sends: a short text part, the invoice XML (a real SI-UBL
//! file) as a base64 attachment, and a same-named PDF as a base64 attachment whose padding
//! stream makes the whole message exactly the requested size. Header From and MAIL FROM are a
//! trusted sender of `config/local.toml` and `bench/trustgate-bench.toml`, so every server under
//! test accepts it. Pure: no I/O beyond [`read_invoice_xml`], never used by the daemon.

#![allow(dead_code)] // Each includer uses a different part of this file.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The envelope sender and header From of every benchmark message.
pub const FROM: &str = "invoices@supplier.example";
/// The envelope recipient and header To of every benchmark message.
pub const TO: &str = "AD64SDE@trust.example.test";
/// Where the invoice XML is looked for, in order, relative to the repository root.
pub const XML_CANDIDATES: [&str; 2] = [
    "tests/fixtures/invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml",
    "/work/shared/corpus/invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml",
];
/// Width of the per-message unique part of the Message-ID, patched in place.
const ID_WIDTH: usize = 20;
/// The MIME boundary (never appears in base64 or in the XML).
const BOUNDARY: &str = "=_trustgate_bench_7f3a9c";
/// Base64 line length (RFC 2045: at most 76).
const B64_LINE: usize = 76;

/// Reads the invoice XML: `explicit` if given, else the first of [`XML_CANDIDATES`] that exists
/// (relative ones against `root`).
///
/// # Errors
/// A readable message when no file could be read.
pub fn read_invoice_xml(
    explicit: Option<&Path>,
    root: &Path,
) -> Result<(PathBuf, Vec<u8>), String> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) => vec![p.to_path_buf()],
        None => XML_CANDIDATES.iter().map(|c| root.join(c)).collect(),
    };
    for path in &candidates {
        if let Ok(bytes) = std::fs::read(path) {
            return Ok((path.clone(), bytes));
        }
    }
    Err(format!(
        "no invoice XML found; tried {candidates:?} (pass --xml PATH)"
    ))
}

/// A benchmark message with a Message-ID (and optionally an invoice number) that can be made
/// unique in place.
#[derive(Clone)]
pub struct InvoiceMail {
    /// The whole message, CRLF line endings, ending in CRLF, without the SMTP terminator.
    pub bytes: Vec<u8>,
    /// Offset of the [`ID_WIDTH`] digits inside the Message-ID.
    id_offset: usize,
    /// The attached XML as attached.
    xml: Vec<u8>,
    /// Offset of the XML attachment's base64 lines in `bytes`.
    xml_b64_offset: usize,
}

impl InvoiceMail {
    /// Builds a message of exactly `size` bytes around `xml`; `run` (a few ASCII letters or
    /// digits) goes into every Message-ID so that two runs never send the same message.
    ///
    /// # Errors
    /// When `size` is below the smallest possible message (the message with an empty PDF
    /// padding), with that minimum in the text.
    pub fn build(xml: &[u8], size: usize, run: &str) -> Result<Self, String> {
        // The PDF padding is chosen so that the base64 of the PDF fills the message to `size`;
        // what is left (< one base64 quantum plus its line break) goes into the MIME epilogue,
        // which every parser ignores.
        let min = Self::assemble(xml, 0, run, 0).bytes.len();
        if size < min {
            return Err(format!(
                "--size {size} is below the smallest invoice mail ({min} bytes)"
            ));
        }
        // Base64 with CRLF every 76 chars: ~ 4/3 * 78/76 message bytes per PDF byte. Approach
        // from below, then leave 2..=80 bytes (or none) to the epilogue.
        let mut pad = 0usize;
        loop {
            let len = Self::assemble(xml, pad, run, 0).bytes.len();
            if len == size || (len < size && (2..=80).contains(&(size - len))) {
                return Ok(Self::assemble(xml, pad, run, size - len));
            }
            if len > size {
                pad = pad.saturating_sub((len - size) * 3 / 4 + 3);
            } else if size - len == 1 {
                if pad == 0 {
                    return Err(format!(
                        "--size {size} cannot be reached exactly; try {}",
                        size + 1
                    ));
                }
                // One base64 quantum less: the gap grows to 5..=7 bytes.
                pad = pad.saturating_sub(3);
            } else {
                pad += ((size - len) * 3 / 4 * 76 / 78).max(1);
            }
        }
    }

    /// Sets the unique part of the Message-ID (the number is written in decimal, zero-padded).
    pub fn set_id(&mut self, n: u64) {
        let digits = format!("{n:0width$}", width = ID_WIDTH);
        let digits = &digits.as_bytes()[digits.len() - ID_WIDTH..];
        self.bytes[self.id_offset..self.id_offset + ID_WIDTH].copy_from_slice(digits);
    }

    /// Where the invoice number (the first `<cbc:ID>` of a UBL invoice) sits in the XML, if it
    /// is at least 6 characters wide.
    pub fn invoice_number_span(&self) -> Option<(usize, usize)> {
        let open = b"<cbc:ID>";
        let start = self.xml.windows(open.len()).position(|w| w == open)? + open.len();
        let len = self.xml[start..].iter().position(|&b| b == b'<')?;
        (len >= 6).then_some((start, len))
    }

    /// Replaces the invoice number with the last digits of `n` (same width, so the message
    /// keeps its size) and re-encodes the XML attachment in place: every message is then a
    /// different invoice. Does nothing when [`Self::invoice_number_span`] is `None`.
    pub fn set_invoice_number(&mut self, n: u64) {
        let Some((start, len)) = self.invoice_number_span() else {
            return;
        };
        let digits = format!("{n:0width$}", width = len);
        let digits = &digits.as_bytes()[digits.len() - len..];
        self.xml[start..start + len].copy_from_slice(digits);
        let encoded = STANDARD.encode(&self.xml);
        let mut at = self.xml_b64_offset;
        for line in encoded.as_bytes().chunks(B64_LINE) {
            self.bytes[at..at + line.len()].copy_from_slice(line);
            at += line.len() + 2; // CRLF
        }
    }

    fn assemble(xml: &[u8], pad: usize, run: &str, epilogue: usize) -> Self {
        let mut m = String::with_capacity(pad * 2 + xml.len() * 2 + 4096);
        m.push_str("From: Supplier B.V. <");
        m.push_str(FROM);
        m.push_str(">\r\nTo: <");
        m.push_str(TO);
        m.push_str(">\r\nSubject: Invoice INV-BENCH-1\r\n");
        m.push_str("Date: Mon, 02 Nov 2026 10:00:00 +0100\r\n");
        m.push_str("Message-ID: <bench.");
        m.push_str(run);
        m.push('.');
        let id_offset = m.len();
        m.push_str(&"0".repeat(ID_WIDTH));
        m.push_str("@load.supplier.example>\r\n");
        m.push_str("MIME-Version: 1.0\r\n");
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\r\n\r\n"
        ));
        m.push_str("This is a multi-part message in MIME format.\r\n\r\n");
        m.push_str(&format!("--{BOUNDARY}\r\n"));
        m.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
        );
        m.push_str(
            "Dear customer,\r\n\r\nPlease find attached invoice INV-BENCH-1 (XML and PDF).\r\n\r\n",
        );
        m.push_str("Kind regards,\r\nSupplier B.V. accounts receivable\r\n\r\n");
        let xml_b64_offset = attach(&mut m, "application/xml", "INV-BENCH-1.xml", xml);
        attach(
            &mut m,
            "application/pdf",
            "INV-BENCH-1.pdf",
            &padded_pdf(pad),
        );
        m.push_str(&format!("--{BOUNDARY}--\r\n"));
        if epilogue >= 2 {
            // Lines of at most 76 characters, the last one absorbing the remainder.
            let mut left = epilogue;
            while left > 0 {
                let line = if left > 78 && left - 78 >= 2 {
                    78
                } else {
                    left
                };
                m.push_str(&"~".repeat(line - 2));
                m.push_str("\r\n");
                left -= line;
            }
        }
        Self {
            bytes: m.into_bytes(),
            id_offset,
            xml: xml.to_vec(),
            xml_b64_offset,
        }
    }
}

/// One base64 attachment part; returns the offset of its first base64 line.
fn attach(m: &mut String, content_type: &str, name: &str, data: &[u8]) -> usize {
    m.push_str(&format!("--{BOUNDARY}\r\n"));
    m.push_str(&format!(
        "Content-Type: {content_type}; name=\"{name}\"\r\n"
    ));
    m.push_str(&format!(
        "Content-Disposition: attachment; filename=\"{name}\"\r\n"
    ));
    m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    let offset = m.len();
    let encoded = STANDARD.encode(data);
    for line in encoded.as_bytes().chunks(B64_LINE) {
        // base64 output is ASCII.
        m.push_str(std::str::from_utf8(line).unwrap_or_default());
        m.push_str("\r\n");
    }
    offset
}

/// A small well-formed one-page PDF whose content stream carries `pad` bytes of PDF comments
/// (pseudo-random printable text, so it does not compress to nothing on the way).
fn padded_pdf(pad: usize) -> Vec<u8> {
    let mut content = Vec::with_capacity(pad + 64);
    content.extend_from_slice(b"BT /F1 12 Tf 72 770 Td (Invoice INV-BENCH-1) Tj ET\n");
    let mut x: u32 = 0x2545_f491;
    let mut col = 0;
    while content.len() < pad + 52 {
        if col == 0 {
            content.push(b'%');
        } else if col == 71 {
            content.push(b'\n');
            col = 0;
            continue;
        } else {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            content.push(b'!' + (x % 90) as u8 + 1);
        }
        col += 1;
    }
    content.truncate(52 + pad);

    let mut pdf = Vec::with_capacity(content.len() + 1024);
    let mut offsets = Vec::new();
    pdf.extend_from_slice(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
    let objects: [Vec<u8>; 5] = [
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
          /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_vec(),
        {
            let mut s = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
            s.extend_from_slice(&content);
            s.extend_from_slice(b"\nendstream");
            s
        },
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        pdf.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}
