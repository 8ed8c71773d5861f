//! Fuzzes the authentication input: a message's headers and signatures, and the DNS records
//! they are checked against. Today this is mail-auth 0.13.3, the crate `policy::auth` uses for
//! SPF, DKIM, DMARC and ARC (issue 10); trustgate's own parsers join the target when they exist.
//!
//! The input is a raw message. Its `X-Fuzz-Txt` header fields are the DNS: a resolver cache
//! answers every TXT name with the first of them that parses as the record asked for (DKIM key,
//! DMARC, SPF, ATPS, report), every A/AAAA/MX/PTR name with a fixed answer, so the verifiers run
//! to the end without a network and the resolver behind them has no name server at all.
//!
//! Covered, none of which may panic or hang on any input:
//! - `AuthenticatedMessage::parse` (strict and not) and `from_parsed` over mail-parser's tree,
//!   and everything they hand out: DKIM-Signature, ARC-Seal, ARC-Message-Signature,
//!   ARC-Authentication-Results, DKIM2 headers, the header From list, body hashes, errors;
//! - each header parser alone over the whole input (`dkim::Signature`, `arc::{Signature, Seal,
//!   Results}`, `dkim2::{Signature, MessageInstance}`) and the DSN parser;
//! - every TXT record parser (`TxtRecordParser`: SPF, SPF macro, DMARC, DKIM key, ATPS, DKIM
//!   report) over the whole input and over each `X-Fuzz-Txt` value;
//! - the verifiers: DKIM (header selection, canonicalisation, RSA/Ed25519 with fuzzed keys),
//!   ARC, SPF (MAIL FROM = the first header From) and DMARC;
//! - the Authentication-Results and Received-SPF headers written from those results, which must
//!   stay one header field each: every line break is CRLF followed by folding white space, so
//!   nothing in a signature or record can inject a header line.
//!
//! mail-auth has no Authentication-Results *parser* (only `arc::Results`, which reads `i=`).
//! Seed with `fuzz/seeds/auth/` and `tests/fixtures/mime/`. The body is `fuzz/common/auth.rs`,
//! which `tests/fuzz_regressions.rs` also runs (its proptest and the kept crash inputs). The
//! mail-parser tree is built under `catch_unwind`, as trustgate builds it; such a contained
//! panic is not a crash (`fuzz/common/contain.rs`).
#![no_main]

#[path = "../common/auth.rs"]
mod auth;
#[path = "../common/contain.rs"]
mod contain;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: contain::install(), |data: &[u8]| {
    let _ = auth::check(data);
});
