//! Mail as accounting packages and ERPs really name their files, over real SMTP to the
//! in-process daemon, at an address that requires a PDF (`require_pdf = true`): each pairing
//! rule gives the invoice its visual and is recorded, and `trustgate spool show` says which
//! rule paired it; two XMLs and one PDF with unrelated names are not paired, so the address
//! refuses the mail with TG-PDF. Loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{RECEIVER, SUPPLIER, Smtp, TestConfig, cli, mail, queued_id, read_fixture};

/// A real PDF that carries no invoice (the visual of the webhook tests).
fn visual() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webhook/visual.pdf"
    ))
    .unwrap()
}

/// The sample SI-UBL invoice renumbered `number`.
fn invoice(number: &str) -> Vec<u8> {
    String::from_utf8(read_fixture(common::INVOICE_XML))
        .unwrap()
        .replacen(
            "<cbc:ID>12115118</cbc:ID>",
            &format!("<cbc:ID>{number}</cbc:ID>"),
            1,
        )
        .into_bytes()
}

/// Sends `attachments` in a message of its own (its own Message-ID).
async fn send(
    addr: std::net::SocketAddr,
    tag: &str,
    attachments: Vec<(&str, &str, Vec<u8>)>,
) -> String {
    let parts: Vec<(&str, &str, &[u8])> = attachments
        .iter()
        .map(|(n, c, b)| (*n, *c, b.as_slice()))
        .collect();
    let body = mail(SUPPLIER, RECEIVER, &parts).replacen(
        "Message-ID: <",
        &format!("Message-ID: <{tag}."),
        1,
    );
    tokio::task::spawn_blocking(move || Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &body))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pairing_rule_over_smtp_and_in_spool_show() {
    let cfg = TestConfig::with_extras("", "require_pdf = true", "");
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let pdf = visual();
    // (message tag, attachments, the PDF the invoice gets, the rule that pairs them)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str, Vec<u8>)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        // 1. The same name, whatever the case.
        (
            "same",
            vec![
                ("INV-1.xml", "application/xml", invoice("ERP-1")),
                ("inv-1.PDF", "application/pdf", pdf.clone()),
            ],
            "inv-1.PDF",
            "same-name",
        ),
        // 2. The invoice number in the PDF's name, beside the terms and conditions.
        (
            "number",
            vec![
                ("ubl_PZ-1.xml", "application/xml", invoice("PZ-1")),
                ("Algemene voorwaarden.pdf", "application/pdf", pdf.clone()),
                ("Factuur PZ-1.pdf", "application/pdf", pdf.clone()),
            ],
            "Factuur PZ-1.pdf",
            "invoice-number",
        ),
        // 3. The only XML and the only PDF, named by an export job and a scanner.
        (
            "only",
            vec![
                ("export_20261204.xml", "application/xml", invoice("EXP-7")),
                ("scan0001.pdf", "application/pdf", pdf.clone()),
            ],
            "scan0001.pdf",
            "only-pair",
        ),
    ];
    for (tag, attachments, pdf_name, rule) in cases {
        let r = send(addr, tag, attachments).await;
        assert!(r.starts_with("250 2.0.0"), "{tag}: {r}");
        let id = queued_id(&r);
        let record = daemon
            .spool
            .get(&trustgate::spool::MessageId::parse(&id).unwrap())
            .unwrap()
            .unwrap();
        let doc = &record.documents[0];
        assert_eq!(
            (doc.pdf_name.as_deref(), doc.paired_by.as_deref()),
            (Some(pdf_name), Some(rule)),
            "{tag}"
        );
        let (code, out, err) = cli(&cfg.path, &["spool", "show", &id]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(&format!("pdf: {pdf_name} ("))
                && out.contains(&format!("paired by {rule})")),
            "{tag}: {out}"
        );
    }

    // Two XMLs and one PDF with unrelated names: which invoice it shows cannot be told, so
    // neither gets it, and the address that requires a PDF refuses both.
    let r = send(
        addr,
        "unrelated",
        vec![
            ("one.xml", "application/xml", invoice("U-1")),
            ("two.xml", "application/xml", invoice("U-2")),
            ("document.pdf", "application/pdf", pdf.clone()),
        ],
    )
    .await;
    assert!(
        r.starts_with("550 5.6.0 2 of 2 invoices refused") && r.contains("TG-PDF"),
        "{r}"
    );
    daemon.stop().await;
}
