//! Throughput of the invoice inspector (MB/s of XML) and of Factur-X extraction from PDFs,
//! over the invoice fixtures. Run: `cargo bench --bench inspect`.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trustgate::invoice::{Detection, extract_from_pdf, inspect};

fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/invoices")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One representative file per syntax and size.
const XML: [&str; 6] = [
    "si-ubl/SI-UBL-2.0_ok_minimal.xml",
    "si-ubl/SI-UBL-2.0_ok_full.xml",
    "peppol-bis3/Invoice-Max_content.xml",
    "cii/CII_example1.xml",
    "si-ubl/NLCIUS-CII_ok_example.xml",
    // 200 KB of base64 (a real embedded PDF) in one text node.
    "xrechnung/01.15a-INVOICE_ubl.xml",
];

fn inspection(c: &mut Criterion) {
    let mut group = c.benchmark_group("inspect");
    for rel in XML {
        let xml = fixture(rel);
        assert!(matches!(inspect(&xml), Detection::Invoice(_)), "{rel}");
        group.throughput(Throughput::Bytes(xml.len() as u64));
        group.bench_function(rel, |b| b.iter(|| inspect(black_box(&xml))));
    }
    // A large invoice: the minimal SI-UBL with its line repeated 5 000 times.
    let minimal =
        String::from_utf8(fixture("si-ubl/SI-UBL-2.0_ok_minimal.xml")).unwrap_or_default();
    if let (Some(start), Some(end)) = (
        minimal.find("<cac:InvoiceLine>"),
        minimal.rfind("</cac:InvoiceLine>"),
    ) {
        let line = &minimal[start..end + "</cac:InvoiceLine>".len()];
        let big = format!(
            "{}{}{}",
            &minimal[..start],
            line.repeat(5_000),
            &minimal[start + line.len()..]
        );
        group.throughput(Throughput::Bytes(big.len() as u64));
        group.bench_function("si-ubl 5000 lines", |b| {
            b.iter(|| inspect(black_box(big.as_bytes())))
        });
    }
    group.finish();
}

fn facturx(c: &mut Criterion) {
    let mut group = c.benchmark_group("extract_from_pdf");
    for rel in [
        "facturx/invoice_EN16931.pdf",
        "facturx/EXTENDED_Fremdwaehrung_wdis_fx-pdfa4.pdf",
    ] {
        let pdf = fixture(rel);
        assert!(matches!(extract_from_pdf(&pdf), Ok(Some(_))), "{rel}");
        group.throughput(Throughput::Bytes(pdf.len() as u64));
        group.bench_function(rel, |b| b.iter(|| extract_from_pdf(black_box(&pdf))));
    }
    group.finish();
}

criterion_group!(benches, inspection, facturx);
criterion_main!(benches);
