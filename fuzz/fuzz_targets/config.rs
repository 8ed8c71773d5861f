//! Fuzzes the config loader (`trustgate::config::validate::load_str`) with arbitrary text:
//! every input is either a `Config` or a list of located errors, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use trustgate::config::validate::{Options, load_str};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let options = Options { check_spool_writable: false, check_tls_files: false };
        let _ = load_str(text, Path::new("/nonexistent/fuzz.toml"), &options);
    }
});
