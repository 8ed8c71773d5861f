//! Hybrid PDFs (Factur-X, ZUGFeRD, XRechnung-in-PDF): finds the invoice XML embedded in a PDF.
//!
//! Called by intake for every PDF attachment and by the `inspect` CLI. Walks the catalog's
//! `/Names /EmbeddedFiles` name tree and its `/AF` (associated files) array, and returns the
//! embedded files named like an invoice XML (`factur-x.xml`, `zugferd-invoice.xml`,
//! `ZUGFeRD-invoice.xml`, `xrechnung.xml`).
//!
//! Objects come from `pdf_reader`, which reads only what this walk asks for: the walk never
//! loads the whole document. lopdf's loader parses every object and decompresses every object
//! stream first, so a 1.5 MB PDF of object streams took 1.5 GB (issue 9).
//!
//! Untrusted input: the file's size, the objects it may hold, the values parsed, the bytes
//! decompressed (per stream and in total), name-tree nodes and depth are bounded
//! ([`PdfLimits`]), so memory is the PDF plus those budgets whatever is inside it; time is
//! bounded through them (this module reads no clock). lopdf's decoders have panicked on crafted
//! input before (lopdf issues #82, #532; RUSTSEC-2026-0187), so the walk runs under
//! `catch_unwind` and a panic becomes [`PdfError::Unreadable`]. Never writes files, never
//! follows external references.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use lopdf::{Object, ObjectId};

use super::pdf_reader::{PdfReader, Usage};

/// Limits on one PDF. Every count is over the whole file, so one PDF costs at most about
/// its own size plus `max_total_decompressed_bytes` plus `max_values` parsed values (a few
/// hundred bytes each), whatever it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfLimits {
    /// Largest PDF accepted, in bytes. Default 64 MiB.
    pub max_bytes: usize,
    /// Most objects the reader may know of, counted as lopdf would hold them: entries of the
    /// cross-reference data, members listed by each object stream decompressed, and headers
    /// found by a repair scan. Default 200,000.
    pub max_objects: usize,
    /// Most values parsed from the objects the search reads (numbers, names, strings, array
    /// items, dictionary entries, nested or not). Real hybrid invoices need a few hundred.
    /// Default 100,000.
    pub max_values: usize,
    /// Largest size any one stream may decompress to, in bytes (cross-reference and object
    /// streams, and the embedded XML itself). Default 16 MiB.
    pub max_decompressed_bytes: usize,
    /// Most bytes one PDF may materialise in total: every stream decompressed (cross-reference
    /// streams, object streams, embedded files) and every string copied out of its objects.
    /// Default 32 MiB (one embedded XML at `max_decompressed_bytes` and the structure
    /// around it).
    pub max_total_decompressed_bytes: usize,
    /// Most name-tree nodes and file specifications visited. Default 1,000.
    pub max_embedded_files: usize,
    /// Most bytes a PDF may decompress as a multiple of its own size (at least
    /// [`EXPANSION_FLOOR`]), within `max_total_decompressed_bytes`. Default 100. Keeps a small
    /// PDF from costing the whole budget: the memory of one message stays in proportion to
    /// its size, and so does the memory of many small messages judged at once. Real hybrid
    /// invoices compress their XML 5 to 30 times.
    pub max_expansion: usize,
}

/// The decompression budget every PDF has whatever its size (a hybrid invoice of a few KB
/// may still embed an XML of a few hundred KB).
pub const EXPANSION_FLOOR: usize = 1 << 20;

impl PdfLimits {
    /// These limits for a PDF of `len` bytes: the total (and per-stream) decompression budget
    /// cut to `max_expansion` times its size, at least [`EXPANSION_FLOOR`].
    pub fn for_size(&self, len: usize) -> PdfLimits {
        let scaled = len
            .saturating_mul(self.max_expansion)
            .max(EXPANSION_FLOOR)
            .min(self.max_total_decompressed_bytes);
        PdfLimits {
            max_total_decompressed_bytes: scaled,
            max_decompressed_bytes: self.max_decompressed_bytes.min(scaled),
            ..*self
        }
    }
}

impl Default for PdfLimits {
    fn default() -> Self {
        PdfLimits {
            max_bytes: 64 << 20,
            max_objects: 200_000,
            max_values: 100_000,
            max_decompressed_bytes: 16 << 20,
            max_total_decompressed_bytes: 32 << 20,
            max_embedded_files: 1_000,
            max_expansion: 100,
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
    /// The objects the search reads hold more values than [`PdfLimits::max_values`].
    #[error("the PDF's catalog and embedded file entries hold more than {limit} values")]
    TooManyValues {
        /// The limit.
        limit: usize,
    },
    /// Together, the streams (and strings) read from the PDF would exceed
    /// [`PdfLimits::max_total_decompressed_bytes`].
    #[error("the PDF decompresses to more than {limit} bytes in total")]
    TotalDecompressedTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A cross-reference or object stream decompresses to more than
    /// [`PdfLimits::max_decompressed_bytes`].
    #[error("a stream of the PDF decompresses to more than {limit} bytes")]
    StreamTooLarge {
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
    let limits = &limits.for_size(pdf.len());
    let (found, _) = guarded(|| search(pdf, limits))?;
    let mut found = found?;
    found.sort_by_key(|x| preference(&x.name));
    Ok(found)
}

/// The walk over `pdf`, and what it spent of `limits` (for the tests of the bounds).
fn search(pdf: &[u8], limits: &PdfLimits) -> (Result<Vec<EmbeddedXml>, PdfError>, Usage) {
    let mut walker = Walker::new(pdf, limits);
    let result = walker.run();
    let usage = walker.reader.usage();
    (result.map(|()| walker.found), usage)
}

/// Runs the walk (and lopdf's decoders inside it), turning a panic into
/// [`PdfError::Unreadable`].
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, PdfError> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| PdfError::Unreadable("the PDF parser failed on this file".into()))
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
    reader: PdfReader<'d>,
    limits: &'d PdfLimits,
    visited: usize,
    /// Name-tree nodes and file specifications already walked: a node listed twice (a cycle,
    /// or a fan-out onto one kid) is walked once.
    seen_nodes: HashSet<ObjectId>,
    seen_streams: HashSet<ObjectId>,
    found: Vec<EmbeddedXml>,
}

impl<'d> Walker<'d> {
    fn new(pdf: &'d [u8], limits: &'d PdfLimits) -> Walker<'d> {
        Walker {
            reader: PdfReader::new(pdf, limits),
            limits,
            visited: 0,
            seen_nodes: HashSet::new(),
            seen_streams: HashSet::new(),
            found: Vec::new(),
        }
    }

    fn run(&mut self) -> Result<(), PdfError> {
        self.reader.open()?;
        let catalog = self.reader.catalog()?;
        let catalog = catalog
            .as_dict()
            .map_err(|e| PdfError::Unreadable(e.to_string()))?;
        // PDF 32000-1 7.7.4: /Names /EmbeddedFiles is a name tree of file specifications.
        if let Some(names) = self.entry(catalog, b"Names")?
            && let Ok(names) = names.as_dict()
            && let Some(tree) = self.entry(names, b"EmbeddedFiles")?
        {
            self.name_tree(&tree, 0)?;
        }
        // PDF 2.0 / PDF/A-3 associated files: the catalog's /AF array.
        if let Some(files) = self.entry(catalog, b"AF")?
            && let Ok(files) = files.as_array()
        {
            for file in files {
                self.file_spec(file)?;
            }
        }
        Ok(())
    }

    /// `dict[key]`, references followed; `None` when absent.
    fn entry(
        &mut self,
        dict: &lopdf::Dictionary,
        key: &[u8],
    ) -> Result<Option<Rc<Object>>, PdfError> {
        match dict.get(key) {
            Ok(value) => Ok(Some(self.reader.resolve_with_id(value)?.1)),
            Err(_) => Ok(None),
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

    /// Whether `object` is a reference to a node walked before (and marks it walked).
    fn walked_before(&mut self, object: &Object) -> bool {
        match object {
            Object::Reference(id) => !self.seen_nodes.insert(*id),
            _ => false,
        }
    }

    fn name_tree(&mut self, node: &Object, depth: usize) -> Result<(), PdfError> {
        self.tick()?;
        if depth > 16 {
            return Err(PdfError::Unreadable(
                "embedded file name tree nested too deep".into(),
            ));
        }
        let Ok(node) = node.as_dict() else {
            return Ok(());
        };
        if let Some(names) = self.entry(node, b"Names")?
            && let Ok(names) = names.as_array()
        {
            // [name1 spec1 name2 spec2 ...]
            for pair in names.chunks(2) {
                if let [_, spec] = pair {
                    self.file_spec(spec)?;
                }
            }
        }
        if let Some(kids) = self.entry(node, b"Kids")?
            && let Ok(kids) = kids.as_array()
        {
            for kid in kids {
                if self.walked_before(kid) {
                    continue;
                }
                let (_, kid) = self.reader.resolve_with_id(kid)?;
                self.name_tree(&kid, depth + 1)?;
            }
        }
        Ok(())
    }

    /// A file specification (PDF 32000-1 7.11.3): name in /UF or /F, stream in /EF.
    fn file_spec(&mut self, spec: &Object) -> Result<(), PdfError> {
        if self.walked_before(spec) {
            return Ok(());
        }
        self.tick()?;
        let (_, spec) = self.reader.resolve_with_id(spec)?;
        let Ok(spec) = spec.as_dict() else {
            return Ok(());
        };
        let mut name = None;
        for key in [b"UF".as_slice(), b"F"] {
            if let Some(value) = self.entry(spec, key)?
                && let Object::String(bytes, _) = &*value
            {
                let n = text_string(bytes);
                if preference(&n) < INVOICE_NAMES.len() {
                    name = Some(n);
                    break;
                }
            }
        }
        let Some(name) = name else { return Ok(()) };
        let Some(ef) = self.entry(spec, b"EF")? else {
            return Ok(());
        };
        let Ok(ef) = ef.as_dict() else {
            return Ok(());
        };
        for key in [b"F".as_slice(), b"UF"] {
            let Ok(entry) = ef.get(key) else { continue };
            let (id, object) = self.reader.resolve_with_id(entry)?;
            let Object::Stream(stream) = &*object else {
                continue;
            };
            if let Some(id) = id
                && !self.seen_streams.insert(id)
            {
                return Ok(());
            }
            let limit = self.limits.max_decompressed_bytes;
            let bytes = self
                .reader
                .stream_content(stream, limit)
                .map_err(|err| match err {
                    PdfError::StreamTooLarge { limit } => PdfError::EmbeddedTooLarge {
                        name: name.clone(),
                        limit,
                    },
                    other => other,
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

/// Hostile PDF generators, shared with the integration and end-to-end tests.
#[cfg(test)]
#[path = "../../tests/common/hostile_pdf.rs"]
mod hostile;

#[cfg(test)]
mod tests {
    use super::*;

    use super::hostile;

    const MIB: usize = 1 << 20;

    /// The search with `limits`, asserting that it stayed within them whatever it returned.
    fn bounded(pdf: &[u8], limits: &PdfLimits) -> Result<Vec<EmbeddedXml>, PdfError> {
        let (result, usage) = search(pdf, limits);
        assert!(
            usage.materialised <= limits.max_total_decompressed_bytes,
            "{usage:?}"
        );
        assert!(usage.objects <= limits.max_objects, "{usage:?}");
        assert!(usage.values <= limits.max_values, "{usage:?}");
        if let Ok(found) = &result {
            let total: usize = found.iter().map(|x| x.bytes.len()).sum();
            assert!(total <= limits.max_total_decompressed_bytes);
            assert!(
                found
                    .iter()
                    .all(|x| x.bytes.len() <= limits.max_decompressed_bytes)
            );
        }
        result
    }

    #[test]
    fn a_facturx_in_an_object_stream_with_an_xref_stream_is_found() {
        let xml = b"<rsm:CrossIndustryInvoice/>";
        let found = bounded(
            &hostile::facturx_in_object_stream(xml),
            &PdfLimits::default(),
        );
        let found = found.unwrap();
        // Once by the name tree, and /AF names the same file specification.
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name, "factur-x.xml");
        assert_eq!(found[0].bytes, xml);
        let found = bounded(&hostile::facturx_in_table(xml), &PdfLimits::default()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bytes, xml);
    }

    #[test]
    fn offsets_that_miss_their_objects_are_repaired_by_a_scan() {
        let xml = b"<Invoice/>";
        let found = bounded(
            &hostile::facturx_with_broken_xref(xml),
            &PdfLimits::default(),
        );
        assert_eq!(found.unwrap()[0].bytes, xml);
    }

    #[test]
    fn object_streams_the_search_does_not_need_are_never_decompressed() {
        // 64 object streams of 1 MiB each; the search may materialise 256 KiB in all.
        let limits = PdfLimits {
            max_total_decompressed_bytes: 256 << 10,
            ..PdfLimits::default()
        };
        let (result, usage) = search(&hostile::object_stream_bomb(64, MIB), &limits);
        assert_eq!(result, Ok(Vec::new()));
        // Only the names of the trailer and the catalog.
        assert!(usage.materialised < 1024, "{usage:?}");
    }

    #[test]
    fn a_small_pdf_gets_a_budget_in_proportion_to_its_size() {
        // Filler that compresses about 1000:1: the PDF is small, the search needs 8 MiB.
        let pdf = hostile::needed_object_streams_bomb(2 * MIB);
        assert!(pdf.len() < 100 * 1024, "{}", pdf.len());
        let limits = PdfLimits::default();
        let scaled = limits.for_size(pdf.len());
        assert_eq!(
            scaled.max_total_decompressed_bytes,
            (pdf.len() * limits.max_expansion).max(EXPANSION_FLOOR)
        );
        assert!(scaled.max_decompressed_bytes <= scaled.max_total_decompressed_bytes);
        let result = invoice_xmls_in_pdf(&pdf, &limits);
        assert!(
            matches!(
                result,
                Err(PdfError::TotalDecompressedTooLarge { limit }
                    | PdfError::StreamTooLarge { limit }) if limit == scaled.max_total_decompressed_bytes
            ),
            "{result:?}, {} bytes",
            pdf.len()
        );
        // A large PDF keeps the configured ceiling.
        assert_eq!(
            limits.for_size(64 << 20).max_total_decompressed_bytes,
            limits.max_total_decompressed_bytes
        );
        // Real hybrid invoices are far within it.
        let real = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/invoices/facturx/invoice_EN16931.pdf"
        ))
        .unwrap();
        assert!(!invoice_xmls_in_pdf(&real, &limits).unwrap().is_empty());
    }

    #[test]
    fn object_streams_the_search_needs_count_against_the_total() {
        let pdf = hostile::needed_object_streams_bomb(2 * MIB);
        // Four 2 MiB streams hold the catalog, pages, name tree and file spec.
        let found = bounded(&pdf, &PdfLimits::default()).unwrap();
        assert_eq!(found[0].bytes, b"<x/>");
        let small_total = PdfLimits {
            max_total_decompressed_bytes: 5 * MIB,
            ..PdfLimits::default()
        };
        assert_eq!(
            bounded(&pdf, &small_total),
            Err(PdfError::TotalDecompressedTooLarge { limit: 5 * MIB })
        );
        let small_stream = PdfLimits {
            max_decompressed_bytes: MIB,
            ..PdfLimits::default()
        };
        assert_eq!(
            bounded(&pdf, &small_stream),
            Err(PdfError::StreamTooLarge { limit: MIB })
        );
    }

    #[test]
    fn objects_listed_in_a_needed_object_stream_count_as_objects() {
        let limits = PdfLimits {
            max_objects: 50_000,
            ..PdfLimits::default()
        };
        assert_eq!(
            bounded(&hostile::catalog_among_tiny_objects(60_000), &limits),
            Err(PdfError::TooManyObjects { limit: 50_000 })
        );
        // Under the bound it reads: the catalog is found among them.
        assert_eq!(
            bounded(&hostile::catalog_among_tiny_objects(40_000), &limits),
            Ok(Vec::new())
        );
        // A million tiny objects nobody needs cost nothing.
        let (result, usage) = search(&hostile::many_tiny_objects(1_000_000), &limits);
        assert_eq!(result, Ok(Vec::new()));
        assert!(usage.objects < 10, "{usage:?}");
    }

    #[test]
    fn cross_reference_entries_count_as_objects() {
        let limits = PdfLimits {
            max_objects: 10_000,
            ..PdfLimits::default()
        };
        assert_eq!(
            bounded(&hostile::many_xref_entries(20_000), &limits),
            Err(PdfError::TooManyObjects { limit: 10_000 })
        );
    }

    #[test]
    fn values_parsed_are_bounded() {
        assert_eq!(
            bounded(&hostile::huge_catalog_array(150_000), &PdfLimits::default()),
            Err(PdfError::TooManyValues { limit: 100_000 })
        );
    }

    #[test]
    fn many_large_embedded_invoices_stop_at_the_total() {
        let pdf = hostile::many_large_embedded_files(40, MIB);
        let limits = PdfLimits {
            max_total_decompressed_bytes: 4 * MIB,
            ..PdfLimits::default()
        };
        assert_eq!(
            bounded(&pdf, &limits),
            Err(PdfError::TotalDecompressedTooLarge { limit: 4 * MIB })
        );
        let one_too_large = PdfLimits {
            max_decompressed_bytes: MIB / 2,
            ..PdfLimits::default()
        };
        assert!(matches!(
            bounded(&pdf, &one_too_large),
            Err(PdfError::EmbeddedTooLarge { limit, .. }) if limit == MIB / 2
        ));
    }

    #[test]
    fn deep_cyclic_and_fanned_out_name_trees_end() {
        let limits = PdfLimits::default();
        assert!(matches!(
            bounded(&hostile::deep_name_tree(40), &limits),
            Err(PdfError::Unreadable(m)) if m.contains("too deep")
        ));
        assert_eq!(
            bounded(&hostile::deep_name_tree(10), &limits),
            Ok(Vec::new())
        );
        // The file specification's /EF points at itself, a dictionary: nothing to read.
        assert_eq!(
            bounded(&hostile::cyclic_name_tree(), &limits),
            Ok(Vec::new())
        );
        // 50^10 paths through 11 nodes: each node is walked once.
        assert_eq!(
            bounded(&hostile::fan_out_name_tree(50, 10), &limits),
            Ok(Vec::new())
        );
    }

    #[test]
    fn encrypted_pdfs_are_refused() {
        let pdf = hostile::facturx_in_table(b"<x/>");
        let text = String::from_utf8_lossy(&pdf).replace(
            "/Root 1 0 R",
            "/Root 1 0 R /Encrypt << /Filter /Standard >>",
        );
        assert!(matches!(
            bounded(text.as_bytes(), &PdfLimits::default()),
            Err(PdfError::Unreadable(m)) if m.contains("encrypted")
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever the hostile file and however small the limits, the search ends, does not
        /// panic, and spends no more than its limits.
        #[test]
        fn hostile_pdfs_stay_within_any_limits(
            kind in 0usize..9,
            size in 1usize..200,
            cut in proptest::option::of(0usize..100_000),
            flip in proptest::option::of((0usize..100_000, proptest::prelude::any::<u8>())),
            max_objects in 1usize..5_000,
            max_values in 1usize..5_000,
            max_stream in 1usize..(2 * MIB),
            max_total in 1usize..(4 * MIB),
        ) {
            let mut pdf = match kind {
                0 => hostile::object_stream_bomb(size % 8 + 1, size * 10_000),
                1 => hostile::many_tiny_objects(size * 100),
                2 => hostile::many_large_embedded_files(size % 16 + 1, size * 5_000),
                3 => hostile::deep_name_tree(size as u32 % 30 + 1),
                4 => hostile::fan_out_name_tree(size % 20 + 1, size as u32 % 12 + 1),
                5 => hostile::needed_object_streams_bomb(size * 5_000),
                6 => hostile::catalog_among_tiny_objects(size * 50),
                7 => hostile::facturx_in_object_stream(&vec![b'x'; size * 1000]),
                _ => hostile::facturx_with_broken_xref(&vec![b'y'; size * 1000]),
            };
            if let Some((at, byte)) = flip {
                let at = at % pdf.len();
                pdf[at] = byte;
            }
            if let Some(cut) = cut {
                pdf.truncate(cut.max(16).min(pdf.len()));
            }
            let limits = PdfLimits {
                max_objects,
                max_values,
                max_decompressed_bytes: max_stream,
                max_total_decompressed_bytes: max_total,
                ..PdfLimits::default()
            };
            let _ = guarded(|| bounded(&pdf, &limits)).expect("no panic");
        }
    }

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
