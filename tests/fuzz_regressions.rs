//! The fuzz targets' checks in plain `cargo test` (docs/fuzzing.md), for machines without a
//! nightly toolchain:
//!
//! - every input kept under `tests/fixtures/fuzz/<target>/` (crashes found by fuzzing) runs
//!   through the same code as its target: the target's own body for `auth` and `intake`
//!   (`fuzz/common/*.rs`), the same `load_str` call for `config`;
//! - proptest equivalents of the targets that have none in `src/`: `auth` (mutated signed
//!   messages and records through the target's own body, `fuzz/common/auth.rs`) and `config`
//!   (arbitrary and mutated TOML through `config::validate::load_str`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use trustgate::config::validate::{Options, load_str};

#[path = "../fuzz/common/auth.rs"]
mod auth;
#[path = "../fuzz/common/intake.rs"]
mod intake;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `dir` (relative to the repository), sorted; none if it does not exist.
fn files_in(dir: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The config target's body.
fn check_config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let options = Options {
            check_spool_writable: false,
            check_tls_files: false,
        };
        let _ = load_str(text, Path::new("/nonexistent/fuzz.toml"), &options);
    }
}

/// `mail-parser-invalid-part-id-dsn.eml`: the same mail-parser `debug_assert!` as the intake
/// input below, reached through `mail_auth::dkim2::Dkim2Dsn::parse`, mail-auth's only full
/// mail-parser parse of raw input. Found by the CI smoke run. The target runs it under
/// `catch_unwind`, as trustgate must if it ever parses DSNs.
#[test]
fn kept_auth_inputs_pass() {
    let files = files_in("tests/fixtures/fuzz/auth");
    assert!(!files.is_empty());
    for file in files {
        let _ = auth::check(&std::fs::read(&file).unwrap());
    }
}

/// The auth target answers DNS from the message itself: were that broken, fuzzing would only
/// ever see DNS errors. Each signed seed must pass what it was signed for.
#[test]
fn auth_seeds_verify_offline() {
    let seed = |name: &str| std::fs::read(root().join("fuzz/seeds/auth").join(name)).unwrap();
    for (name, wanted) in [
        (
            "dkim-rsa-relaxed.eml",
            &["dkim=pass", "spf=pass", "dmarc=pass"][..],
        ),
        ("dkim-rsa-simple.eml", &["dkim=pass"]),
        ("dkim-ed25519.eml", &["dkim=pass", "dmarc=pass"]),
        ("arc-one-hop.eml", &["arc=pass"]),
        ("arc-two-hops.eml", &["arc=pass", "dkim=pass"]),
    ] {
        let header = auth::check(&seed(name)).unwrap();
        for w in wanted {
            assert!(header.contains(w), "{name}: no {w} in {header}");
        }
    }
}

/// - `mail-parser-invalid-part-id.eml`: a multipart whose boundary line closes a part that
///   mail-parser never opened fires a `debug_assert!` in its multipart walk (a no-op in release
///   builds). Found by the CI smoke run (cargo-fuzz builds with debug assertions). trustgate
///   contains it: `parse_message` runs mail-parser under `catch_unwind`. This test, a debug
///   build, panics without that.
/// - `mail-parser-multipart-cycle.eml`: mail-parser builds a multipart whose children are the
///   part itself and the root. `built_counts` walked the cycle and counted more depth, parts
///   and nested messages than were built, so the target's "the pre-scan never counts less"
///   failed (found by the long intake run). It now counts each part once.
#[test]
fn kept_intake_inputs_pass() {
    let files = files_in("tests/fixtures/fuzz/intake");
    assert!(!files.is_empty());
    for file in files {
        intake::check(&std::fs::read(&file).unwrap());
    }
}

#[test]
fn kept_config_inputs_pass() {
    for file in files_in("tests/fixtures/fuzz/config") {
        check_config(&std::fs::read(&file).unwrap());
    }
}

/// The auth seeds (signed messages, ARC chains, records) and the MIME fixtures up to 64 KiB
/// (the fuzz runs' `-max_len`).
fn auth_seeds() -> Vec<Vec<u8>> {
    files_in("fuzz/seeds/auth")
        .into_iter()
        .chain(files_in("tests/fixtures/mime"))
        .filter(|p| p.extension().is_some_and(|e| e == "eml" || e == "txt"))
        .filter(|p| p.metadata().unwrap().len() <= 64 * 1024)
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn config_seeds() -> Vec<Vec<u8>> {
    files_in("config")
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// A strategy mutating one of `seeds`: a few bytes replaced, a slice repeated, the end cut.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        any::<prop::sample::Index>(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(pick, flips, dup, cut)| {
            let mut bytes = pick.get(&seeds).clone();
            for (at, value) in flips {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = value;
                }
            }
            if !bytes.is_empty() {
                let at = dup.index(bytes.len());
                let piece = bytes[at..bytes.len().min(at + 64)].to_vec();
                bytes.splice(at..at, piece);
            }
            bytes.truncate(cut.index(bytes.len() + 1).max(bytes.len() / 2));
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn auth_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = auth::check(&bytes);
    }

    #[test]
    fn auth_mutated_seeds(bytes in mutated(auth_seeds())) {
        let _ = auth::check(&bytes);
    }

    #[test]
    fn config_arbitrary_text(text in "\\PC{0,512}") {
        check_config(text.as_bytes());
    }

    #[test]
    fn config_mutated_seeds(bytes in mutated(config_seeds())) {
        check_config(&bytes);
    }
}
