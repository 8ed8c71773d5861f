//! Fuzz target for the invoice inspector: arbitrary bytes as an invoice XML and as a hybrid
//! PDF. Neither may panic, hang or allocate past its limits. The bytes also become the one
//! line amount of a valid invoice: unless they are that same number, the invoice is never
//! valid (a malformed or other amount is a finding, never a skipped rule; issue 9).
//!
//! Panics in lopdf's decoders that `extract_from_pdf` catches and turns into
//! `PdfError::Unreadable` are contained as in production (`fuzz/common/contain.rs`); any other
//! panic is a crash. Seed with `tests/fixtures/invoices/**`.
#![no_main]

#[path = "../common/contain.rs"]
mod contain;

use libfuzzer_sys::fuzz_target;
use trustgate::invoice::{Amount, Detection, extract_from_pdf, inspect};

/// A valid SI-UBL invoice whose only line (and totals) amount to 200.00.
const SEED: &str = include_str!("../../tests/fixtures/invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml");
const LINE: &str = r#"<cbc:LineExtensionAmount currencyID="EUR">200.00</cbc:LineExtensionAmount>
        <cac:Item>"#;

fuzz_target!(init: contain::install(), |data: &[u8]| {
    if let Detection::Invoice(inspection) = inspect(data) {
        // The derived values must be usable without further checks.
        let _ = inspection.fatal_rule_ids();
        let _ = inspection.totals.payable.map(|a| a.to_string());
    }
    if let Ok(Some(xml)) = extract_from_pdf(data) {
        let _ = inspect(&xml.bytes);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        // Text content only: no markup, no characters XML 1.0 forbids.
        let amount: String = text
            .chars()
            .filter(|c| !matches!(c, '<' | '&') && (!c.is_control() || matches!(c, '\t' | '\n')))
            .collect();
        let xml = SEED.replace(LINE, &LINE.replace("200.00", &amount));
        if let Detection::Invoice(i) = inspect(xml.as_bytes()) {
            assert!(
                !i.is_valid() || Amount::parse(&amount) == Amount::parse("200"),
                "line amount {amount:?} passed"
            );
        }
    }
});
