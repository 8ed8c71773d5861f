//! Panics that trustgate itself catches, handled as in production.
//!
//! libfuzzer-sys installs a panic hook that aborts at once, before any `catch_unwind` can run.
//! trustgate contains upstream panics on purpose: `intake::parse_message` runs mail-parser under
//! `catch_unwind` (its quoted-printable decoder overflows, and a `debug_assert!` in its multipart
//! walk fires, where debug assertions are on, as in cargo-fuzz's default build), and
//! `invoice::facturx` does the same around lopdf. With the abort hook, such an input is
//! reported as a crash although the daemon answers it normally.
//!
//! `install` replaces the hook with one that only prints the panic's message and location. A
//! panic that trustgate catches is then contained, as in production. A panic that escapes still
//! ends the run: libfuzzer-sys catches it around the target and aborts, and the printed line
//! says where it came from. Replay the input with `RUST_BACKTRACE=1` for the full stack.

/// Replaces libfuzzer-sys's aborting panic hook (see the module docs). Call from `init:`.
pub fn install() {
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
}
