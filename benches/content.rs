//! Criterion bench of the content step: what the gateway does with a message at end of data
//! before the spool commit, [`trustgate::intake::parse_message`] then [`trustgate::intake::pair`]
//! (MIME tree, attachments, invoice inspection, XML/PDF pairing), on the same real 50 KiB
//! invoice mail that `examples/smtp_load.rs` sends (`bench/invoice_mail.rs`).
//!
//! ```sh
//! cargo bench --bench content
//! ```
//! Reports the time per message and the throughput in MB/s (decimal) of raw message bytes.
//! Benchmarks only: no timing assertion anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../bench/invoice_mail.rs"]
mod invoice_mail;

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trustgate::intake::{self, IntakeLimits};

/// Message sizes measured: the load run's 50 KiB, and 1 MiB to see how the step scales.
const SIZES: [(&str, usize); 2] = [("50KiB", 50 * 1024), ("1MiB", 1024 * 1024)];

fn content(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (_, xml) = invoice_mail::read_invoice_xml(None, root).expect("invoice XML");
    let limits = IntakeLimits::default();
    let mut group = c.benchmark_group("content");
    for (label, size) in SIZES {
        let mail = invoice_mail::InvoiceMail::build(&xml, size, "bench").expect("build mail");
        let raw = mail.bytes;
        assert_eq!(raw.len(), size, "exact size");
        // The bench is only meaningful if the message is what the gateway accepts.
        let parsed = intake::parse_message(&raw, &limits).expect("parse");
        let paired = intake::pair(parsed.attachments);
        assert_eq!(paired.documents.len(), 1, "one invoice document");
        assert!(paired.documents[0].pdf.is_some(), "the PDF is paired");

        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_function(format!("parse_message/{label}"), |b| {
            b.iter(|| intake::parse_message(black_box(&raw), &limits).unwrap())
        });
        group.bench_function(format!("parse_and_pair/{label}"), |b| {
            b.iter(|| {
                let parsed = intake::parse_message(black_box(&raw), &limits).unwrap();
                intake::pair(parsed.attachments)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, content);
criterion_main!(benches);
