//! Fuzzes the PDF search (`trustgate::invoice::invoice_xmls_in_pdf`) with small limits taken
//! from the input, so every bound is reached often: the object count, the values parsed, the
//! bytes decompressed per stream and in total. It must never panic, and whatever it returns
//! stays within the limits. Seed with `tests/fixtures/invoices/facturx/*.pdf` and the files
//! of `tests/common/hostile_pdf.rs` (each seed prefixed with 8 bytes of limits).
#![no_main]

#[path = "../common/contain.rs"]
mod contain;

use libfuzzer_sys::fuzz_target;
use trustgate::invoice::{PdfError, PdfLimits, invoice_xmls_in_pdf};

fuzz_target!(init: contain::install(), |data: &[u8]| {
    let Some((knobs, pdf)) = data.split_first_chunk::<8>() else {
        return;
    };
    let limits = PdfLimits {
        max_objects: usize::from(u16::from_le_bytes([knobs[0], knobs[1]])) + 1,
        max_values: usize::from(u16::from_le_bytes([knobs[2], knobs[3]])) + 1,
        max_decompressed_bytes: (usize::from(u16::from_le_bytes([knobs[4], knobs[5]])) + 1) << 6,
        max_total_decompressed_bytes: (usize::from(u16::from_le_bytes([knobs[6], knobs[7]])) + 1)
            << 7,
        ..PdfLimits::default()
    };
    match invoice_xmls_in_pdf(pdf, &limits) {
        Ok(found) => {
            let total: usize = found.iter().map(|x| x.bytes.len()).sum();
            assert!(total <= limits.max_total_decompressed_bytes);
            assert!(
                found
                    .iter()
                    .all(|x| x.bytes.len() <= limits.max_decompressed_bytes)
            );
        }
        Err(PdfError::TooManyObjects { limit }) => assert_eq!(limit, limits.max_objects),
        Err(PdfError::TooManyValues { limit }) => assert_eq!(limit, limits.max_values),
        Err(PdfError::TotalDecompressedTooLarge { limit }) => {
            assert_eq!(limit, limits.max_total_decompressed_bytes)
        }
        Err(_) => {}
    }
});
