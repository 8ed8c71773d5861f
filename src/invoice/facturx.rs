//! Hybrid PDFs (Factur-X, ZUGFeRD, XRechnung-in-PDF): finds the invoice XML embedded in a PDF.
//!
//! Called by intake for every PDF attachment and by the `inspect` CLI. Parses with `lopdf`, then
//! walks the catalog's `/Names /EmbeddedFiles` name tree and its `/AF` (associated files) array
//! ourselves, and returns the embedded files named like an invoice XML (`factur-x.xml`,
//! `zugferd-invoice.xml`, `ZUGFeRD-invoice.xml`, `xrechnung.xml`).
//!
//! Untrusted input: size, object count, per-stream decompressed size, name-tree nodes and depth
//! are bounded ([`PdfLimits`]); time is bounded through them (this module reads no clock).
//! lopdf has panicked on crafted PDFs before (lopdf issues #82, #532; RUSTSEC-2026-0187), so
//! every lopdf call runs under `catch_unwind` and a panic becomes [`PdfError::Unreadable`].
//! Never writes files, never follows external references.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

/// Limits on one PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfLimits {
    /// Largest PDF accepted, in bytes.
    pub max_bytes: usize,
    /// Most indirect objects (counted as `endobj` keywords before parsing).
    pub max_objects: usize,
    /// Largest size any one stream may decompress to, in bytes (object streams while loading,
    /// and the embedded XML itself).
    pub max_decompressed_bytes: usize,
    /// Most name-tree nodes and file specifications visited.
    pub max_embedded_files: usize,
}

impl Default for PdfLimits {
    fn default() -> Self {
        PdfLimits {
            max_bytes: 64 << 20,
            max_objects: 200_000,
            max_decompressed_bytes: 16 << 20,
            max_embedded_files: 1_000,
        }
    }
}

/// An invoice XML found inside a PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedXml {
    /// The embedded file's name as written in the PDF (display only, never a path).
    pub name: String,
    /// The decompressed file content.
    pub bytes: Vec<u8>,
}

/// Why a PDF could not be searched for an invoice XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    /// The bytes do not start with a PDF header.
    #[error("not a PDF (no %PDF header)")]
    NotPdf,
    /// Larger than [`PdfLimits::max_bytes`].
    #[error("the PDF is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More objects than [`PdfLimits::max_objects`].
    #[error("the PDF has more than {limit} objects")]
    TooManyObjects {
        /// The limit.
        limit: usize,
    },
    /// The PDF parser gave up (broken, truncated, or hostile file).
    #[error("the PDF cannot be read: {0}")]
    Unreadable(String),
    /// An embedded invoice XML decompresses to more than the limit.
    #[error("the embedded file {name} is larger than {limit} bytes once decompressed")]
    EmbeddedTooLarge {
        /// The embedded file's name.
        name: String,
        /// The limit.
        limit: usize,
    },
}

/// Embedded file names that carry the invoice XML, in order of preference (compared without
/// case: ZUGFeRD 1.0 writes `ZUGFeRD-invoice.xml`).
const INVOICE_NAMES: [&str; 3] = ["factur-x.xml", "xrechnung.xml", "zugferd-invoice.xml"];

/// The invoice XML embedded in `pdf` (the preferred one when there are several), with default
/// limits. `Ok(None)` when the PDF carries no invoice XML.
///
/// # Errors
/// [`PdfError`] when the bytes are not a readable PDF within the limits.
pub fn extract_from_pdf(pdf: &[u8]) -> Result<Option<EmbeddedXml>, PdfError> {
    Ok(invoice_xmls_in_pdf(pdf, &PdfLimits::default())?
        .into_iter()
        .next())
}

/// Every invoice XML embedded in `pdf`, preferred first (`factur-x.xml`, `xrechnung.xml`,
/// `zugferd-invoice.xml`), each file once.
///
/// # Errors
/// [`PdfError`] when the bytes are not a readable PDF within the limits.
pub fn invoice_xmls_in_pdf(pdf: &[u8], limits: &PdfLimits) -> Result<Vec<EmbeddedXml>, PdfError> {
    let header_window = &pdf[..pdf.len().min(1024)];
    if !header_window.windows(5).any(|w| w == b"%PDF-") {
        return Err(PdfError::NotPdf);
    }
    if pdf.len() > limits.max_bytes {
        return Err(PdfError::TooLarge {
            size: pdf.len(),
            limit: limits.max_bytes,
        });
    }
    let objects = count(pdf, b"endobj");
    if objects > limits.max_objects {
        return Err(PdfError::TooManyObjects {
            limit: limits.max_objects,
        });
    }
    let options = LoadOptions {
        max_decompressed_size: Some(limits.max_decompressed_bytes),
        ..LoadOptions::default()
    };
    let doc = guarded(|| Document::load_mem_with_options(pdf, options))?
        .map_err(|e| PdfError::Unreadable(e.to_string()))?;
    let mut found = guarded(|| Walker::new(&doc, limits).run())??;
    found.sort_by_key(|x| preference(&x.name));
    Ok(found)
}

/// Runs lopdf code, turning a panic into [`PdfError::Unreadable`].
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, PdfError> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| PdfError::Unreadable("the PDF parser failed on this file".into()))
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn preference(name: &str) -> usize {
    let base = base_name(name);
    INVOICE_NAMES
        .iter()
        .position(|n| base.eq_ignore_ascii_case(n))
        .unwrap_or(INVOICE_NAMES.len())
}

/// The last path component of an embedded file name.
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\', ':']).next().unwrap_or(name).trim()
}

/// Collects the file specifications reachable from the catalog, within limits.
struct Walker<'d> {
    doc: &'d Document,
    limits: &'d PdfLimits,
    visited: usize,
    seen_streams: HashSet<ObjectId>,
    found: Vec<EmbeddedXml>,
}

impl<'d> Walker<'d> {
    fn new(doc: &'d Document, limits: &'d PdfLimits) -> Walker<'d> {
        Walker {
            doc,
            limits,
            visited: 0,
            seen_streams: HashSet::new(),
            found: Vec::new(),
        }
    }

    fn run(mut self) -> Result<Vec<EmbeddedXml>, PdfError> {
        let catalog = self
            .doc
            .catalog()
            .map_err(|e| PdfError::Unreadable(e.to_string()))?;
        // PDF 32000-1 7.7.4: /Names /EmbeddedFiles is a name tree of file specifications.
        if let Some(tree) = self
            .dict_at(catalog, b"Names")
            .and_then(|n| self.dict_at(n, b"EmbeddedFiles"))
        {
            self.name_tree(tree, 0)?;
        }
        // PDF 2.0 / PDF/A-3 associated files: the catalog's /AF array.
        if let Some(Object::Array(files)) = catalog.get(b"AF").ok().map(|o| self.deref(o)) {
            for file in files {
                if let Object::Dictionary(spec) = self.deref(file) {
                    self.file_spec(spec)?;
                }
            }
        }
        Ok(self.found)
    }

    fn deref(&self, object: &'d Object) -> &'d Object {
        match self.doc.dereference(object) {
            Ok((_, o)) => o,
            Err(_) => &Object::Null,
        }
    }

    fn dict_at(&self, dict: &'d Dictionary, key: &[u8]) -> Option<&'d Dictionary> {
        match self.deref(dict.get(key).ok()?) {
            Object::Dictionary(d) => Some(d),
            _ => None,
        }
    }

    fn tick(&mut self) -> Result<(), PdfError> {
        self.visited += 1;
        if self.visited > self.limits.max_embedded_files {
            return Err(PdfError::Unreadable(format!(
                "more than {} embedded file entries",
                self.limits.max_embedded_files
            )));
        }
        Ok(())
    }

    fn name_tree(&mut self, node: &'d Dictionary, depth: usize) -> Result<(), PdfError> {
        self.tick()?;
        if depth > 16 {
            return Err(PdfError::Unreadable(
                "embedded file name tree nested too deep".into(),
            ));
        }
        if let Object::Array(names) = node.get(b"Names").map_or(&Object::Null, |o| self.deref(o)) {
            // [name1 spec1 name2 spec2 ...]
            for pair in names.chunks(2) {
                if let [_, spec] = pair
                    && let Object::Dictionary(spec) = self.deref(spec)
                {
                    self.file_spec(spec)?;
                }
            }
        }
        if let Object::Array(kids) = node.get(b"Kids").map_or(&Object::Null, |o| self.deref(o)) {
            for kid in kids {
                if let Object::Dictionary(kid) = self.deref(kid) {
                    self.name_tree(kid, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// A file specification (PDF 32000-1 7.11.3): name in /UF or /F, stream in /EF.
    fn file_spec(&mut self, spec: &'d Dictionary) -> Result<(), PdfError> {
        self.tick()?;
        let name = [b"UF".as_slice(), b"F"]
            .iter()
            .filter_map(|k| match spec.get(k).ok().map(|o| self.deref(o)) {
                Some(Object::String(bytes, _)) => Some(text_string(bytes)),
                _ => None,
            })
            .find(|n| preference(n) < INVOICE_NAMES.len());
        let Some(name) = name else { return Ok(()) };
        let Some(ef) = self.dict_at(spec, b"EF") else {
            return Ok(());
        };
        for key in [b"F".as_slice(), b"UF"] {
            let Ok(entry) = ef.get(key) else { continue };
            let Ok((id, Object::Stream(stream))) = self.doc.dereference(entry) else {
                continue;
            };
            if let Some(id) = id
                && !self.seen_streams.insert(id)
            {
                return Ok(());
            }
            let bytes = stream
                .decompressed_content_with_limit(self.limits.max_decompressed_bytes)
                .map_err(|_| PdfError::EmbeddedTooLarge {
                    name: name.clone(),
                    limit: self.limits.max_decompressed_bytes,
                })?;
            self.found.push(EmbeddedXml { name, bytes });
            return Ok(());
        }
        Ok(())
    }
}

/// A PDF text string (PDF 32000-1 7.9.2.2): UTF-16BE with BOM, UTF-8 with BOM (PDF 2.0), else
/// PDFDocEncoding (read as Latin-1, which agrees for file names).
fn text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        let units = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]));
        return char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
    }
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_without_case_and_path() {
        assert_eq!(preference("factur-x.xml"), 0);
        assert_eq!(preference("ZUGFeRD-invoice.xml"), 2);
        assert_eq!(preference("dir/XRechnung.xml"), 1);
        assert_eq!(preference("Bon_de_livraison.pdf"), 3);
    }

    #[test]
    fn text_strings_decode() {
        assert_eq!(text_string(b"\xFE\xFF\x00f\x00x"), "fx");
        assert_eq!(text_string(b"factur-x.xml"), "factur-x.xml");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(extract_from_pdf(b"hello"), Err(PdfError::NotPdf));
        assert!(extract_from_pdf(b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF").is_err());
        assert!(extract_from_pdf(b"%PDF-").is_err());
    }
}
