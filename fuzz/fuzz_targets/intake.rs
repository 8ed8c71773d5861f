//! Fuzzes MIME intake (`trustgate::intake`): arbitrary bytes as a raw message, then pairing
//! (which inspects every XML and searches every PDF). Must never panic, whatever the input,
//! and stays within the default limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustgate::intake::{IntakeLimits, pair, parse_message};

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse_message(data, &IntakeLimits::default()) {
        let _ = pair(parsed.attachments);
    }
});
