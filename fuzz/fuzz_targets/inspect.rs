//! Fuzz target for the invoice inspector: arbitrary bytes as an invoice XML and as a hybrid
//! PDF. Neither may panic, hang or allocate past its limits.
//!
//! Note: libfuzzer-sys aborts on any panic, including panics in lopdf's decoders that
//! `extract_from_pdf` catches and turns into `PdfError::Unreadable` in production; a crash
//! whose stack is inside lopdf is an upstream bug we already contain. Seed with
//! `tests/fixtures/invoices/**`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustgate::invoice::{Detection, extract_from_pdf, inspect};

fuzz_target!(|data: &[u8]| {
    if let Detection::Invoice(inspection) = inspect(data) {
        // The derived values must be usable without further checks.
        let _ = inspection.fatal_rule_ids();
        let _ = inspection.totals.payable.map(|a| a.to_string());
    }
    if let Ok(Some(xml)) = extract_from_pdf(data) {
        let _ = inspect(&xml.bytes);
    }
});
