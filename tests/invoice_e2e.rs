//! Invoice inspection through the SMTP server, one test per feature: hybrid PDFs, rule
//! refusals with their official ids, routing on a shared address, the buyer check, accepted
//! specifications, partial acceptance, duplicates and resends. Real sockets, real spool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{RECEIVER, SHARED, SUPPLIER, Smtp, TestConfig, mail, read_fixture};
use trustgate::spool::{DocumentStatus, MessageRecord};

async fn records(daemon: &trustgate::daemon::Daemon) -> Vec<MessageRecord> {
    let spool = daemon.spool.clone();
    tokio::task::spawn_blocking(move || spool.list().unwrap())
        .await
        .unwrap()
}

async fn send(
    addr: std::net::SocketAddr,
    to: &'static str,
    attachments: Vec<(&'static str, &'static str, Vec<u8>)>,
) -> String {
    tokio::task::spawn_blocking(move || {
        let atts: Vec<(&str, &str, &[u8])> = attachments
            .iter()
            .map(|(n, c, b)| (*n, *c, b.as_slice()))
            .collect();
        Smtp::connect(addr).transaction(SUPPLIER, to, &mail(SUPPLIER, to, &atts))
    })
    .await
    .unwrap()
}

fn xml(rel: &str) -> Vec<u8> {
    read_fixture(&format!("invoices/{rel}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_factur_x_pdf_alone_is_accepted() {
    let cfg = TestConfig::with_extras("", "buyer_check = \"off\"", "");
    let daemon = cfg.start().await;
    let pdf = xml("facturx/invoice_EN16931.pdf");
    let r = send(
        daemon.smtp_addrs[0],
        RECEIVER,
        vec![("Facture F20260023.pdf", "application/pdf", pdf)],
    )
    .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let recs = records(&daemon).await;
    let doc = &recs[0].documents[0];
    assert_eq!(doc.xml_name, "factur-x.xml");
    assert_eq!(doc.pdf_name.as_deref(), Some("Facture F20260023.pdf"));
    assert_eq!(doc.invoice_number.as_deref(), Some("F20260023"));
    assert!(doc.status.is_ready());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_si_ubl_is_refused_with_its_br_nl_rule() {
    let cfg = TestConfig::with_extras("", "buyer_check = \"off\"", "");
    let daemon = cfg.start().await;
    let bad = xml("invalid/SI-UBL-2.0_BR-NL-1_error_wrong_scheme.xml");
    let r = send(
        daemon.smtp_addrs[0],
        RECEIVER,
        vec![("INV-7.xml", "application/xml", bad)],
    )
    .await;
    assert!(r.starts_with("550 5.6.0"), "{r}");
    assert!(
        r.contains("BR-NL-1") && r.contains("12115118") && r.contains("INV-7.xml"),
        "{r}"
    );
    assert!(
        r.len() <= 512,
        "reply longer than RFC 5321 allows: {}",
        r.len()
    );
    // The full report is in the spool.
    let recs = records(&daemon).await;
    assert!(recs[0].status.is_rejected());
    let doc = &recs[0].documents[0];
    assert!(
        matches!(&doc.status, DocumentStatus::Rejected { rules } if rules.contains(&"BR-NL-1".to_string()))
    );
    let findings = doc.report.as_ref().unwrap()["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["rule_id"] == "BR-NL-1"));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_address_routes_by_buyer() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    // Buyer KvK 11111111 -> acme; buyer KvK 87654321 -> beta; KvK 13524678 -> nobody here.
    let r = send(
        addr,
        SHARED,
        vec![(
            "a.xml",
            "application/xml",
            xml("si-ubl/SI-UBL-2.0_ok_minimal.xml"),
        )],
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    let r = send(
        addr,
        SHARED,
        vec![(
            "b.xml",
            "application/xml",
            xml("si-ubl/SI-UBL-2.0_ok_full.xml"),
        )],
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    let r = send(
        addr,
        SHARED,
        vec![(
            "c.xml",
            "application/xml",
            xml("si-ubl/NLCIUS-CII_ok_example.xml"),
        )],
    )
    .await;
    assert!(r.starts_with("550 5.6.0") && r.contains("TG-ROUTE"), "{r}");
    let recs = records(&daemon).await;
    let orgs: Vec<_> = recs
        .iter()
        .map(|m| m.documents[0].organisation.as_str())
        .collect();
    assert_eq!(orgs[..2], ["acme", "beta"]);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyer_check_refuses_another_organisations_invoice_unless_warn() {
    let cfg = TestConfig::new(); // buyer_check = "strict" by default
    let daemon = cfg.start().await;
    let beta_invoice = xml("si-ubl/SI-UBL-2.0_ok_full.xml");
    let r = send(
        daemon.smtp_addrs[0],
        RECEIVER,
        vec![("b.xml", "application/xml", beta_invoice.clone())],
    )
    .await;
    assert!(r.starts_with("550 5.6.0") && r.contains("TG-BUYER"), "{r}");
    daemon.stop().await;

    let cfg = TestConfig::with_extras("", "buyer_check = \"warn\"", "");
    let daemon = cfg.start().await;
    let r = send(
        daemon.smtp_addrs[0],
        RECEIVER,
        vec![("b.xml", "application/xml", beta_invoice)],
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specifications_and_pdf_requirement_per_receiver() {
    let cfg = TestConfig::with_extras(
        "",
        "accept_specifications = [\"peppol-bis-3\"]\nrequire_pdf = true",
        "",
    );
    let daemon = cfg.start().await;
    let r = send(
        daemon.smtp_addrs[0],
        RECEIVER,
        vec![(
            "a.xml",
            "application/xml",
            xml("si-ubl/SI-UBL-2.0_ok_minimal.xml"),
        )],
    )
    .await;
    assert!(
        r.starts_with("550 5.6.0") && r.contains("TG-SPEC") && r.contains("TG-PDF"),
        "{r}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_invoices_some_bad_refuse_all_by_default_or_accept_the_good_ones() {
    let good = xml("si-ubl/SI-UBL-2.0_ok_minimal.xml");
    let bad = xml("invalid/SI-UBL-2.0_BR-NL-1_error_wrong_scheme.xml");
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let r = send(
        daemon.smtp_addrs[0],
        RECEIVER,
        vec![
            ("good.xml", "application/xml", good.clone()),
            ("bad.xml", "application/xml", bad.clone()),
        ],
    )
    .await;
    assert!(
        r.starts_with("550 5.6.0") && r.contains("1 of 2 invoices refused"),
        "{r}"
    );
    let recs = records(&daemon).await;
    assert_eq!(
        recs[0].documents[0].status.to_string(),
        "withheld",
        "the good one is not delivered either"
    );
    daemon.stop().await;

    let cfg = TestConfig::with_extras("", "partial = \"accept\"", "");
    let daemon = cfg.start().await;
    let r = send(
        daemon.smtp_addrs[0],
        RECEIVER,
        vec![
            ("good.xml", "application/xml", good),
            ("bad.xml", "application/xml", bad),
        ],
    )
    .await;
    assert!(
        r.starts_with("250 2.0.0") && r.contains("1 invoice accepted (") && r.contains("BR-NL-1"),
        "{r}"
    );
    let recs = records(&daemon).await;
    let statuses: Vec<_> = recs[0]
        .documents
        .iter()
        .map(|d| d.status.to_string())
        .collect();
    assert_eq!(statuses, ["ready", "rejected"]);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_invoice_again_is_a_duplicate_and_the_same_message_a_resend() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let body = common::invoice_mail(SUPPLIER); // same Message-ID and bytes each time
    for _ in 0..2 {
        let b = body.clone();
        let r = tokio::task::spawn_blocking(move || {
            Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &b)
        })
        .await
        .unwrap();
        assert!(r.starts_with("250"), "{r}");
    }
    // The same invoice in another message (other file name, other Message-ID).
    let r = send(
        addr,
        RECEIVER,
        vec![(
            "again.xml",
            "application/xml",
            read_fixture(common::INVOICE_XML),
        )],
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    let recs = records(&daemon).await;
    assert!(recs[0].documents[0].status.is_ready());
    assert_eq!(
        recs[1].resend_of.as_ref(),
        Some(&recs[0].id),
        "same Message-ID and content: a resend"
    );
    assert_eq!(recs[1].documents[0].status.to_string(), "duplicate");
    assert_eq!(recs[2].resend_of, None);
    assert_eq!(
        recs[2].documents[0].duplicate_of.as_ref().unwrap().message,
        recs[0].id
    );
    daemon.stop().await;

    // Survives a restart, and can be refused in the session instead.
    let text = std::fs::read_to_string(&cfg.path).unwrap().replacen(
        "document_type = \"purchase-invoice\"",
        "document_type = \"purchase-invoice\"\nduplicates = \"refuse\"",
        1,
    );
    std::fs::write(&cfg.path, text).unwrap();
    let daemon = cfg.start().await;
    let first = records(&daemon).await[0].id.to_string();
    let r = send(
        daemon.smtp_addrs[0],
        RECEIVER,
        vec![(
            "third.xml",
            "application/xml",
            read_fixture(common::INVOICE_XML),
        )],
    )
    .await;
    assert!(
        r.starts_with("550 5.6.0") && r.contains(&first) && r.contains("already received"),
        "{r}"
    );
    daemon.stop().await;
}
