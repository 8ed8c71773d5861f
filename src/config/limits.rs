//! `[limits]`: what one message may cost to take apart, whatever is inside it: the MIME
//! pre-scan's caps, the PDF reader's and the XML inspector's. See docs/security.md.
//!
//! The validated [`Limits`] and the check that builds it from [`raw::Limits`], called by
//! [`super::validate`]: every key is a row of its `KEYS` table.

use super::defaults;
use super::raw;
use super::validate::{Key, Validator, key};

/// `[limits]`: what one message may cost to take apart, whatever is inside it: the MIME
/// pre-scan's caps, the PDF reader's and the XML inspector's. See docs/security.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest header block of any one MIME part (the message's own included), in bytes.
    pub max_header_bytes: u64,
    /// Most header fields in the header block of any one MIME part.
    pub max_header_fields: usize,
    /// Most bytes in all header blocks of a message together, nested messages included.
    pub max_total_header_bytes: u64,
    /// Most header fields in all header blocks of a message together.
    pub max_total_header_fields: usize,
    /// Most MIME parts in a message, nested messages included.
    pub max_mime_parts: usize,
    /// Deepest multipart/message nesting.
    pub max_mime_depth: usize,
    /// Most nested messages (message/rfc822, message/global, digest entries).
    pub max_nested_messages: usize,
    /// Largest PDF searched for an embedded invoice XML.
    pub max_pdf_bytes: u64,
    /// Most objects one PDF may hold, counted as the PDF reader holds them (object streams included).
    pub max_pdf_objects: usize,
    /// Most values parsed from the objects the search for an embedded invoice reads.
    pub max_pdf_values: usize,
    /// Largest size any one PDF stream may decompress to (the embedded XML included).
    pub max_pdf_stream_bytes: u64,
    /// Most bytes one PDF may decompress in total (every stream the search reads).
    pub max_pdf_decompressed_bytes: u64,
    /// Most name-tree nodes and file specifications visited in one PDF.
    pub max_pdf_embedded_files: usize,
    /// Most bytes one PDF may decompress, as a multiple of its own size (at least 1 MiB), within max_pdf_decompressed_bytes: a small PDF cannot cost the whole budget.
    pub max_pdf_expansion: usize,
    /// Most messages taken apart (MIME, PDF, XML) at once; more wait at end of data. Inspection is CPU work, so more than a few per core only adds memory. 0: twice the number of cores.
    pub max_parallel_inspections: usize,
    /// Largest invoice XML inspected, in bytes.
    pub max_xml_bytes: u64,
    /// Deepest element nesting of an invoice XML (the root is depth 1).
    pub max_xml_depth: usize,
    /// Most elements in one invoice XML.
    pub max_xml_elements: usize,
    /// Longest text kept from one XML element other than an embedded binary object; longer
    /// text is cut.
    pub max_xml_text_bytes: u64,
}

impl Default for Limits {
    /// The values of a config without `[limits]` (see [`defaults`]).
    fn default() -> Limits {
        Limits {
            max_header_bytes: defaults::MAX_HEADER_BYTES,
            max_header_fields: defaults::MAX_HEADER_FIELDS,
            max_total_header_bytes: defaults::MAX_TOTAL_HEADER_BYTES,
            max_total_header_fields: defaults::MAX_TOTAL_HEADER_FIELDS,
            max_mime_parts: defaults::MAX_MIME_PARTS,
            max_mime_depth: defaults::MAX_MIME_DEPTH,
            max_nested_messages: defaults::MAX_NESTED_MESSAGES,
            max_pdf_bytes: defaults::MAX_PDF_BYTES,
            max_pdf_objects: defaults::MAX_PDF_OBJECTS,
            max_pdf_values: defaults::MAX_PDF_VALUES,
            max_pdf_stream_bytes: defaults::MAX_PDF_STREAM_BYTES,
            max_pdf_decompressed_bytes: defaults::MAX_PDF_DECOMPRESSED_BYTES,
            max_pdf_embedded_files: defaults::MAX_PDF_EMBEDDED_FILES,
            max_pdf_expansion: defaults::MAX_PDF_EXPANSION,
            max_parallel_inspections: defaults::MAX_PARALLEL_INSPECTIONS,
            max_xml_bytes: defaults::MAX_XML_BYTES,
            max_xml_depth: defaults::MAX_XML_DEPTH,
            max_xml_elements: defaults::MAX_XML_ELEMENTS,
            max_xml_text_bytes: defaults::MAX_XML_TEXT_BYTES,
        }
    }
}

impl Limits {
    /// The bounds on reading one invoice XML, for the inspector ([`crate::invoice::inspect_with`]).
    pub fn xml(&self) -> crate::invoice::Limits {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        crate::invoice::Limits {
            max_bytes: size(self.max_xml_bytes),
            max_depth: self.max_xml_depth,
            max_elements: self.max_xml_elements,
            max_text_bytes: size(self.max_xml_text_bytes),
        }
    }
}

/// Every key of `[limits]`, checked by [`Validator::keys`].
const KEYS: &[Key<raw::Limits, Limits>] = &[
    key!(size max_header_bytes, defaults::MAX_HEADER_BYTES_RANGE),
    key!(count max_header_fields, defaults::MAX_HEADER_FIELDS_RANGE),
    key!(size max_total_header_bytes, defaults::MAX_TOTAL_HEADER_BYTES_RANGE),
    key!(count max_total_header_fields, defaults::MAX_TOTAL_HEADER_FIELDS_RANGE),
    key!(count max_mime_parts, defaults::MAX_MIME_PARTS_RANGE),
    key!(count max_mime_depth, defaults::MAX_MIME_DEPTH_RANGE),
    key!(count max_nested_messages, defaults::MAX_NESTED_MESSAGES_RANGE),
    key!(size max_pdf_bytes, defaults::MAX_PDF_BYTES_RANGE),
    key!(count max_pdf_objects, defaults::MAX_PDF_OBJECTS_RANGE),
    key!(count max_pdf_values, defaults::MAX_PDF_VALUES_RANGE),
    key!(size max_pdf_stream_bytes, defaults::MAX_PDF_STREAM_BYTES_RANGE),
    key!(size max_pdf_decompressed_bytes, defaults::MAX_PDF_DECOMPRESSED_BYTES_RANGE),
    key!(count max_pdf_embedded_files, defaults::MAX_PDF_EMBEDDED_FILES_RANGE),
    key!(count max_pdf_expansion, defaults::MAX_PDF_EXPANSION_RANGE),
    key!(count max_parallel_inspections, defaults::MAX_PARALLEL_INSPECTIONS_RANGE),
    key!(size max_xml_bytes, defaults::MAX_XML_BYTES_RANGE),
    key!(count max_xml_depth, defaults::MAX_XML_DEPTH_RANGE),
    key!(count max_xml_elements, defaults::MAX_XML_ELEMENTS_RANGE),
    key!(size max_xml_text_bytes, defaults::MAX_XML_TEXT_BYTES_RANGE),
];

impl Validator<'_> {
    pub(super) fn limits(&mut self, raw: &raw::Limits) -> Limits {
        let mut limits = Limits::default();
        self.keys("limits.", KEYS, raw, &mut limits);
        limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::testing::*;

    #[test]
    fn every_key_round_trips_and_defaults_apply() {
        assert_eq!(valid(HEAD).limits, Limits::default());
        assert_eq!(
            valid(&format!("{HEAD}[limits]\n")).limits,
            Limits::default()
        );
        let text = format!(
            "{HEAD}[limits]\nmax_header_bytes = \"2 KiB\"\nmax_header_fields = 11\nmax_total_header_bytes = 3072\n\
             max_total_header_fields = 12\nmax_mime_parts = 13\nmax_mime_depth = 14\nmax_nested_messages = 0\n\
             max_pdf_bytes = \"5 MiB\"\nmax_pdf_objects = 1000\nmax_pdf_values = 2000\nmax_pdf_stream_bytes = \"1 MiB\"\n\
             max_pdf_decompressed_bytes = \"2 MiB\"\nmax_pdf_embedded_files = 15\nmax_pdf_expansion = 16\n\
             max_parallel_inspections = 17\nmax_xml_bytes = \"3 MiB\"\nmax_xml_depth = 18\n\
             max_xml_elements = 19000\nmax_xml_text_bytes = \"20 KiB\"\n"
        );
        assert_eq!(
            valid(&text).limits,
            Limits {
                max_header_bytes: 2048,
                max_header_fields: 11,
                max_total_header_bytes: 3072,
                max_total_header_fields: 12,
                max_mime_parts: 13,
                max_mime_depth: 14,
                max_nested_messages: 0,
                max_pdf_bytes: 5 << 20,
                max_pdf_objects: 1000,
                max_pdf_values: 2000,
                max_pdf_stream_bytes: 1 << 20,
                max_pdf_decompressed_bytes: 2 << 20,
                max_pdf_embedded_files: 15,
                max_pdf_expansion: 16,
                max_parallel_inspections: 17,
                max_xml_bytes: 3 << 20,
                max_xml_depth: 18,
                max_xml_elements: 19_000,
                max_xml_text_bytes: 20 << 10,
            }
        );
    }

    #[test]
    fn the_xml_keys_are_the_inspectors_limits() {
        // The defaults are the inspector's own, so a config without them changes nothing.
        assert_eq!(Limits::default().xml(), crate::invoice::Limits::default());
        let text = format!(
            "{HEAD}[limits]\nmax_xml_bytes = \"1 MiB\"\nmax_xml_depth = 20\nmax_xml_elements = 5000\nmax_xml_text_bytes = 2048\n"
        );
        assert_eq!(
            valid(&text).limits.xml(),
            crate::invoice::Limits {
                max_bytes: 1 << 20,
                max_depth: 20,
                max_elements: 5000,
                max_text_bytes: 2048,
            }
        );
        let text = format!("{HEAD}[limits]\nmax_xml_depth = 8\n");
        assert_one(
            &text,
            "7:17",
            "limits.max_xml_depth 8 is out of range; use 16 to 4096",
        );
    }

    #[test]
    fn out_of_range_values_are_named_and_located() {
        let text = format!(
            "{HEAD}[limits]\nmax_mime_depth = 0\nmax_pdf_bytes = \"2 GiB\"\nmax_header_bytes = \"lots\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:7:18: limits.max_mime_depth 0 is out of range; use 1 to 256",
                "t.toml:8:17: limits.max_pdf_bytes 2147483648 bytes is out of range; use 1 KiB to 1 GiB",
                "t.toml:9:20: limits.max_header_bytes: \"lots\" is not a size; write a whole number of bytes or e.g. \"35 MiB\", \"512 KiB\", \"100 MB\"",
            ]
        );
    }

    #[test]
    fn every_key_of_the_table_takes_its_range() {
        check_table(&format!("{HEAD}[limits]\n@KEY@\n"), "limits.", KEYS);
    }
}
