//! Fuzzes MIME intake (`trustgate::intake`): arbitrary bytes as a raw message, then pairing
//! (which inspects every XML and searches every PDF). Must never panic, whatever the input.
//!
//! The bounds are asserted, not only survived (issue 9): what `parse_message` lets through is
//! within every limit, and the pre-scan never counts less than mail-parser builds, so the
//! limits it enforces before parsing hold for the tree mail-parser would build.
//!
//! Body: `fuzz/common/intake.rs`. Panics that `parse_message` catches (mail-parser's, see
//! `fuzz/common/contain.rs`) are contained as in production; any other panic is a crash.
#![no_main]

#[path = "../common/contain.rs"]
mod contain;
#[path = "../common/intake.rs"]
mod intake;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: contain::install(), |data: &[u8]| intake::check(data));
