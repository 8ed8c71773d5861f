//! Fuzzes the sans-I/O SMTP session (`trustgate::smtp::session`) with arbitrary bytes in
//! arbitrary reads, answering every ask like an accept-all handler. Asserts that the session
//! never panics, never stalls, never holds more than one command line, and never hands out
//! more body than the size limit.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use trustgate::smtp::limits::Limits;
use trustgate::smtp::reply;
use trustgate::smtp::session::{Answer, Output, Session};

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, input)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_line_length: 32 + usize::from(cfg & 0x0f) * 32,
        max_message_size: 2048,
        max_recipients: 100,
        max_errors: 64,
        ..Limits::default()
    };
    let read_size = 1 + usize::from(cfg >> 4) * 17;
    let mut session = Session::new(Arc::new(limits.clone()), cfg & 1 == 1);
    let mut out = Vec::new();
    let mut body: u64 = 0;
    session.greet(false, &mut out);
    act(&mut session, &mut out, &mut body, &limits);
    for read in input.chunks(read_size) {
        let mut rest = read;
        while !rest.is_empty() && !session.is_closed() {
            let n = session.feed(rest, &mut out);
            assert!(session.buffered_bytes() <= limits.max_line_length);
            rest = &rest[n..];
            let progressed = n > 0 || !out.is_empty();
            act(&mut session, &mut out, &mut body, &limits);
            assert!(progressed, "session stalled");
        }
    }
});

/// Plays an accept-all handler until no output is left.
fn act(session: &mut Session, out: &mut Vec<Output>, body: &mut u64, limits: &Limits) {
    while !out.is_empty() {
        for output in std::mem::take(out) {
            match output {
                Output::Mail { .. } | Output::Rcpt { .. } => session.resume(Answer::Accept, out),
                Output::OpenBody(_) => {
                    *body = 0;
                    session.resume(Answer::Accept, out);
                }
                Output::Body(chunk) => {
                    *body += chunk.len() as u64;
                    assert!(*body <= limits.max_message_size);
                }
                Output::EndOfData(_) => session.resume(
                    Answer::Reply(reply::queued_invoices(&[], &[], &[], &[]).reply("fuzz")),
                    out,
                ),
                Output::StartTls => session.tls_started(),
                Output::Reply(_)
                | Output::Lines(_)
                | Output::DiscardBody
                | Output::Transaction(_)
                | Output::Close => {}
            }
        }
    }
}
