//! Hostile invoices over a real SMTP socket (issue 9, section 5): inspection never skips a rule
//! silently. Each case is a valid SI-UBL invoice broken one way, sent by a trusted supplier to
//! a real in-process daemon on 127.0.0.1; each must be refused with a 5xx that names the
//! problem, and stored as rejected (never queued for delivery):
//!
//! - a line amount of `n/a`, `1E5` or `1e30`, and two lines whose sum overflows;
//! - a second `cac:AccountingCustomerParty` and a second root `cbc:ID`;
//! - buyer identifiers naming two organisations, under `buyer_check = "strict"`;
//! - a Factur-X PDF paired by name whose own XML is another invoice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{RECEIVER, SHARED, SUPPLIER, Smtp, TestConfig, mail, read_fixture};

/// The valid invoice every case breaks: number 12115118, buyer ACME (KvK 11111111), one line
/// of 200.00, EUR 242.00 due to NL11 BANK 1111111111.
fn minimal() -> String {
    String::from_utf8(read_fixture(common::INVOICE_XML)).unwrap()
}

const LINE_AMOUNT: &str = r#"<cbc:LineExtensionAmount currencyID="EUR">200.00</cbc:LineExtensionAmount>
        <cac:Item>"#;

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

/// Sends one XML (and optional PDF) and returns the reply, asserting it is a refusal within
/// RFC 5321's line length, and that the spool holds the message as rejected.
async fn refused(
    daemon: &trustgate::daemon::Daemon,
    to: &'static str,
    xml: String,
    pdf: Option<Vec<u8>>,
) -> String {
    let before = spool_len(daemon).await;
    let mut atts = vec![("INV-1.xml", "application/xml", xml.into_bytes())];
    if let Some(pdf) = pdf {
        atts.push(("inv-1.pdf", "application/pdf", pdf));
    }
    let r = send(daemon.smtp_addrs[0], to, atts).await;
    assert!(r.starts_with("550 5.6.0"), "not refused: {r}");
    assert!(r.len() <= 512, "reply of {} octets: {r}", r.len());
    let recs = records(daemon).await;
    assert_eq!(recs.len(), before + 1, "{r}");
    let last = recs.iter().max_by_key(|m| m.received_at).unwrap();
    assert!(last.status.is_rejected(), "{r}");
    assert!(last.documents.iter().all(|d| !d.status.is_ready()), "{r}");
    r
}

async fn records(daemon: &trustgate::daemon::Daemon) -> Vec<trustgate::spool::MessageRecord> {
    let spool = daemon.spool.clone();
    tokio::task::spawn_blocking(move || spool.list().unwrap())
        .await
        .unwrap()
}

async fn spool_len(daemon: &trustgate::daemon::Daemon) -> usize {
    records(daemon).await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unbroken_invoice_is_accepted() {
    // The control: every refusal below is caused by its one change.
    let cfg = TestConfig::new(); // keeps the spool directory alive
    let daemon = cfg.start().await;
    let r = send(
        daemon.smtp_addrs[0],
        RECEIVER,
        vec![("INV-1.xml", "application/xml", minimal().into_bytes())],
    )
    .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amount_that_is_not_a_number_is_refused_with_the_schema_rule() {
    let cfg = TestConfig::new(); // keeps the spool directory alive
    let daemon = cfg.start().await;
    for bad in ["n/a", "1E5", "1e30"] {
        let xml = minimal().replace(LINE_AMOUNT, &LINE_AMOUNT.replace("200.00", bad));
        let r = refused(&daemon, RECEIVER, xml, None).await;
        assert!(
            r.contains("cvc-datatype-valid.1.2.1") && r.contains(&format!("{bad:?}")),
            "{bad}: {r}"
        );
        assert!(
            r.contains("BR-CO-10"),
            "{bad}: the line total was not failed: {r}"
        );
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_amount_is_checked_not_only_those_the_rules_compute_with() {
    // The price and the VAT base are amounts the totals rules never add up: the schema
    // refuses them all the same, so do we.
    let cfg = TestConfig::new(); // keeps the spool directory alive
    let daemon = cfg.start().await;
    for (element, bad) in [
        ("PriceAmount", "n/a"),
        ("TaxableAmount", "1E5"),
        ("PriceAmount", ""),
    ] {
        let from = format!("<cbc:{element} currencyID=\"EUR\">200.00</cbc:{element}>");
        let xml = minimal();
        assert!(xml.contains(&from), "{from}");
        let xml = xml.replacen(
            &from,
            &format!("<cbc:{element} currencyID=\"EUR\">{bad}</cbc:{element}>"),
            1,
        );
        let r = refused(&daemon, RECEIVER, xml, None).await;
        assert!(
            r.contains("cvc-datatype-valid.1.2.1") && r.contains(element),
            "{element} {bad:?}: {r}"
        );
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lines_whose_sum_overflows_are_refused() {
    let cfg = TestConfig::new(); // keeps the spool directory alive
    let daemon = cfg.start().await;
    let m = minimal();
    let start = m.find("    <cac:InvoiceLine>").unwrap();
    let end = m.find("</cac:InvoiceLine>").unwrap() + "</cac:InvoiceLine>\n".len();
    let line = &m[start..end];
    let big = line.replace(
        ">200.00</cbc:LineExtensionAmount>",
        &format!(">{}</cbc:LineExtensionAmount>", "9".repeat(30)),
    );
    let tiny = line
        .replace(
            ">200.00</cbc:LineExtensionAmount>",
            ">0.00000000000000000001</cbc:LineExtensionAmount>",
        )
        .replace("<cbc:ID>1</cbc:ID>", "<cbc:ID>2</cbc:ID>");
    let xml = m.replacen(line, &format!("{big}{tiny}"), 1);
    let r = refused(&daemon, RECEIVER, xml, None).await;
    assert!(r.contains("BR-CO-10") && r.contains("too large"), "{r}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_buyer_or_invoice_number_is_refused_naming_the_element() {
    let cfg = TestConfig::new(); // keeps the spool directory alive
    let daemon = cfg.start().await;
    let m = minimal();
    let start = m.find("    <cac:AccountingCustomerParty>").unwrap();
    let end = m.find("</cac:AccountingCustomerParty>").unwrap()
        + "</cac:AccountingCustomerParty>\n".len();
    let buyer = &m[start..end];
    let other = buyer
        .replace("11111111", "87654321")
        .replace("Ontvanger", "Beta");
    let xml = m.replacen(buyer, &format!("{buyer}{other}"), 1);
    let r = refused(&daemon, RECEIVER, xml, None).await;
    assert!(
        r.contains("cvc-complex-type.2.4.a") && r.contains("Invoice/AccountingCustomerParty "),
        "{r}"
    );

    let xml = m.replace(
        "<cbc:ID>12115118</cbc:ID>",
        "<cbc:ID>12115118</cbc:ID>\n    <cbc:ID>99999999</cbc:ID>",
    );
    let r = refused(&daemon, RECEIVER, xml, None).await;
    assert!(
        r.contains("cvc-complex-type.2.4.a") && r.contains("Invoice/ID "),
        "{r}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyer_ids_of_two_organisations_are_refused_naming_both() {
    // acme's KvK as the legal id, beta's in PartyIdentification.
    let xml = minimal().replace(
        "<cbc:EndpointID schemeID=\"9944\">NL1234567890</cbc:EndpointID>",
        "<cbc:EndpointID schemeID=\"9944\">NL1234567890</cbc:EndpointID>\n<cac:PartyIdentification><cbc:ID schemeID=\"0106\">87654321</cbc:ID></cac:PartyIdentification>",
    );
    assert!(xml.contains("87654321"));
    let cfg = TestConfig::new(); // keeps the spool directory alive
    let daemon = cfg.start().await; // buyer_check = "strict"
    for to in [RECEIVER, SHARED] {
        let r = refused(&daemon, to, xml.clone(), None).await;
        assert!(r.contains("TG-BUYER-IDS"), "{to}: {r}");
        for name in ["11111111", "ACME B.V.", "87654321", "Beta B.V."] {
            assert!(r.contains(name), "{to}: {name} not named: {r}");
        }
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_factur_x_pdf_of_another_invoice_is_refused_with_the_differences() {
    // A real Factur-X (invoice F20260023, EUR 104.90, IBAN FR20…) as the visual of the SI-UBL
    // invoice 12115118 (EUR 242.00, IBAN NL11…), paired by name.
    let pdf = read_fixture("invoices/facturx/invoice_EN16931.pdf");
    let cfg = TestConfig::new(); // keeps the spool directory alive
    let daemon = cfg.start().await;
    let r = refused(&daemon, RECEIVER, minimal(), Some(pdf)).await;
    assert!(r.contains("TG-PDF-XML"), "{r}");
    for part in [
        "F20260023",
        "12115118",
        "EUR 104.90",
        "EUR 242.00",
        "payment account",
    ] {
        assert!(r.contains(part), "{part} not named: {r}");
    }
    // The same invoice with a plain PDF visual is accepted.
    let r = send(
        daemon.smtp_addrs[0],
        RECEIVER,
        vec![
            (
                "INV-2.xml",
                "application/xml",
                minimal().replace("12115118", "12115119").into_bytes(),
            ),
            (
                "inv-2.pdf",
                "application/pdf",
                b"%PDF-1.4\n%test\n".to_vec(),
            ),
        ],
    )
    .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    daemon.stop().await;
}
