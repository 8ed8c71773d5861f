//! The intake fuzz target's body, shared with `tests/fuzz_regressions.rs` (included there with
//! `#[path]`), so kept crash inputs run the very same checks in `cargo test`. See
//! `fuzz/fuzz_targets/intake.rs`.

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
        xml: Default::default(),
        archive: Default::default(),
    }
}

/// Runs one input through intake; panics where a property fails.
pub fn check(data: &[u8]) {
    if let Ok(parsed) = parse_message(data, &IntakeLimits::default()) {
        let _ = pair(parsed.attachments);
    }

    // mail-parser 0.11's quoted-printable decoder overflows, and its multipart walk has a
    // `debug_assert!` that fires, where debug assertions are on (cargo-fuzz's default build,
    // `cargo test`); the pre-scan runs the same walk. Compare only where neither panics, and
    // the pre-scan may panic only where mail-parser does (as the proptest in prescan.rs holds).
    let scanned = std::panic::catch_unwind(|| prescan(data, &IntakeLimits::unbounded()));
    let built = std::panic::catch_unwind(|| {
        mail_parser::MessageParser::default()
            .parse(data)
            .map(|m| built_counts(&m))
    });
    assert!(
        scanned.is_ok() || built.is_err(),
        "the pre-scan panicked where mail-parser did not"
    );
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
}
