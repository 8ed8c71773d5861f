//! Fuzzes MIME intake (`trustgate::intake`): arbitrary bytes as a raw message, then pairing
//! (which inspects every XML and searches every PDF). Must never panic, whatever the input.
//!
//! The bounds are asserted, not only survived (issue 9): what `parse_message` lets through is
//! within every limit, and the pre-scan never counts less than mail-parser builds, so the
//! limits it enforces before parsing hold for the tree mail-parser would build.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustgate::intake::prescan::{built_counts, prescan};
use trustgate::intake::{IntakeLimits, pair, parse_message};

/// Small limits, so the fuzzer reaches them with small inputs.
fn small() -> IntakeLimits {
    IntakeLimits {
        max_header_bytes: 512,
        max_headers: 16,
        max_total_header_bytes: 2048,
        max_total_headers: 64,
        max_parts: 32,
        max_depth: 6,
        max_nested_messages: 4,
        pdf: Default::default(),
    }
}

fn unbounded() -> IntakeLimits {
    IntakeLimits {
        max_header_bytes: usize::MAX,
        max_headers: usize::MAX,
        max_total_header_bytes: usize::MAX,
        max_total_headers: usize::MAX,
        max_parts: usize::MAX,
        max_depth: usize::MAX,
        max_nested_messages: usize::MAX,
        pdf: Default::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse_message(data, &IntakeLimits::default()) {
        let _ = pair(parsed.attachments);
    }

    // mail-parser 0.11's quoted-printable decoder overflows where overflow checks are on;
    // the pre-scan runs the same decoder. Compare only where neither panics.
    let scanned = std::panic::catch_unwind(|| prescan(data, &unbounded()));
    let built = std::panic::catch_unwind(|| {
        mail_parser::MessageParser::default()
            .parse(data)
            .map(|m| built_counts(&m))
    });
    if let (Ok(Ok(s)), Ok(Some(b))) = (scanned, built) {
        assert!(s.parts >= b.parts, "parts {s:?} {b:?}");
        assert!(s.header_fields >= b.header_fields, "fields {s:?} {b:?}");
        assert!(s.header_bytes >= b.header_bytes, "bytes {s:?} {b:?}");
        assert!(
            s.max_block_fields >= b.max_block_fields,
            "block fields {s:?} {b:?}"
        );
        assert!(
            s.max_block_bytes >= b.max_block_bytes,
            "block bytes {s:?} {b:?}"
        );
        assert!(s.depth >= b.depth, "depth {s:?} {b:?}");
        assert!(s.nested_messages >= b.nested_messages, "nested {s:?} {b:?}");
    }

    let limits = small();
    let passed = std::panic::catch_unwind(|| {
        prescan(data, &limits).ok()?;
        mail_parser::MessageParser::default()
            .parse(data)
            .map(|m| built_counts(&m))
    });
    if let Ok(Some(b)) = passed {
        assert!(b.parts <= limits.max_parts, "{b:?}");
        assert!(b.max_block_fields <= limits.max_headers, "{b:?}");
        assert!(b.max_block_bytes <= limits.max_header_bytes, "{b:?}");
        assert!(b.header_fields <= limits.max_total_headers, "{b:?}");
        assert!(b.header_bytes <= limits.max_total_header_bytes, "{b:?}");
        assert!(b.depth <= limits.max_depth, "{b:?}");
        assert!(b.nested_messages <= limits.max_nested_messages, "{b:?}");
    }
});
