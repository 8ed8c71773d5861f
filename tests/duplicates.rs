//! Duplicates that a third party cannot forge and that tell the truth, over real sockets with
//! the daemon in-process: the duplicate key includes the trusted sender (no pre-emption by
//! another supplier), concurrent copies get one 250 between them and the answers match the
//! records, every spelling of an issue date is one day, and the 250 counts invoices and names
//! the receivers. Loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};

use common::{INVOICE_XML, RECEIVER, SHARED, SUPPLIER, Smtp, TestConfig, mail, read_fixture};
use trustgate::spool::{DocumentStatus, MessageRecord};

const OTHER_SUPPLIER: &str = "billing@other-supplier.example";

async fn records(daemon: &trustgate::daemon::Daemon) -> Vec<MessageRecord> {
    let spool = daemon.spool.clone();
    tokio::task::spawn_blocking(move || spool.list().unwrap())
        .await
        .unwrap()
}

fn invoice_from(from: &str, to: &str, xml: &[u8]) -> String {
    mail(from, to, &[("INV-1.xml", "application/xml", xml)])
}

/// Sends `xml` in a new message (a Message-ID of its own: the same invoice sent again, not
/// the same message retransmitted).
async fn send(
    addr: std::net::SocketAddr,
    from: &'static str,
    to: &'static str,
    xml: Vec<u8>,
) -> String {
    static MESSAGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = MESSAGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let body =
        invoice_from(from, to, &xml).replacen("Message-ID: <", &format!("Message-ID: <m{n}."), 1);
    tokio::task::spawn_blocking(move || Smtp::connect(addr).transaction(from, to, &body))
        .await
        .unwrap()
}

/// A client that never saw our 250 sends the very same message again (the same Message-ID,
/// the same bytes): it gets 250 again, even with `duplicates = "refuse"`, and the copy is
/// recorded as a resend whose invoice is a duplicate, not delivered again. The same invoice in
/// a new message is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exact_retransmission_is_answered_250_whatever_duplicates_says() {
    let cfg = TestConfig::with_extras("", "duplicates = \"refuse\"", "");
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let body = invoice_from(SUPPLIER, RECEIVER, &read_fixture(INVOICE_XML));
    let transmit = |body: String| {
        tokio::task::spawn_blocking(move || {
            Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &body)
        })
    };
    let first = transmit(body.clone()).await.unwrap();
    assert!(first.starts_with("250 2.0.0"), "{first}");
    let again = transmit(body.clone()).await.unwrap();
    assert!(again.starts_with("250 2.0.0"), "{again}");
    let first_id = common::queued_id(&first);
    assert!(
        again.contains(&format!(
            ": 1 duplicate of 12115118 from message {first_id} of "
        )) && again.ends_with(" (not delivered again)"),
        "{again}"
    );
    let recs = records(&daemon).await;
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].resend_of.as_ref(), Some(&recs[0].id));
    assert!(matches!(
        recs[1].documents[0].status,
        DocumentStatus::Duplicate
    ));
    assert_eq!(ready(&recs), 1, "delivered once");
    // The same invoice in a new message: the duplicate policy applies.
    let new = send(addr, SUPPLIER, RECEIVER, read_fixture(INVOICE_XML)).await;
    assert!(
        new.starts_with("550") && new.contains("already received"),
        "{new}"
    );
    daemon.stop().await;
}

/// The invoice fixture under another invoice number.
fn numbered(number: &str) -> Vec<u8> {
    String::from_utf8(read_fixture(INVOICE_XML))
        .unwrap()
        .replacen(
            "<cbc:ID>12115118</cbc:ID>",
            &format!("<cbc:ID>{number}</cbc:ID>"),
            1,
        )
        .into_bytes()
}

/// The 250 says what happened to each document: the new invoice by its number, the duplicate
/// by its number and the message it first came in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_250_names_each_new_invoice_and_each_duplicate() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let first = send(addr, SUPPLIER, RECEIVER, numbered("DUP-A")).await;
    assert!(
        first.ends_with(&format!(": 1 invoice accepted (DUP-A) for {RECEIVER}")),
        "{first}"
    );
    let first_id = common::queued_id(&first);
    let body = mail(
        SUPPLIER,
        RECEIVER,
        &[
            ("DUP-A.xml", "application/xml", &numbered("DUP-A")),
            ("DUP-B.xml", "application/xml", &numbered("DUP-B")),
        ],
    )
    .replacen("Message-ID: <", "Message-ID: <two.", 1);
    let r = tokio::task::spawn_blocking(move || {
        Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &body)
    })
    .await
    .unwrap();
    let id = common::queued_id(&r);
    let expected_head = format!(
        "250 2.0.0 queued as {id}: 1 invoice accepted (DUP-B) for {RECEIVER}, 1 duplicate of DUP-A from message {first_id} of "
    );
    assert!(
        r.starts_with(&expected_head) && r.ends_with(" (not delivered again)"),
        "{r}"
    );
    daemon.stop().await;
}

fn ready(records: &[MessageRecord]) -> usize {
    records
        .iter()
        .flat_map(|m| &m.documents)
        .filter(|d| d.status.is_ready())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_trusted_sender_cannot_pre_empt_a_suppliers_invoice() {
    let cfg = TestConfig::with_extras("", "duplicates = \"refuse\"", "");
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    // A sender trusted at the same organisation claims the supplier's seller, number and date.
    let forged = send(addr, OTHER_SUPPLIER, RECEIVER, read_fixture(INVOICE_XML)).await;
    assert!(forged.starts_with("250"), "{forged}");
    // The real supplier's invoice is not "already received".
    let real = send(addr, SUPPLIER, RECEIVER, read_fixture(INVOICE_XML)).await;
    assert!(real.starts_with("250 2.0.0"), "{real}");
    assert!(!real.contains("already"), "{real}");
    assert_eq!(ready(&records(&daemon).await), 2);
    // The supplier's own second copy still is a duplicate.
    let again = send(addr, SUPPLIER, RECEIVER, read_fixture(INVOICE_XML)).await;
    assert!(
        again.starts_with("550") && again.contains("already received"),
        "{again}"
    );
    daemon.stop().await;
}

/// One SMTP session up to the end of its body, the final dot not yet sent.
fn session_before_dot(addr: std::net::SocketAddr, body: &str) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect(addr).unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    let mut expect = |r: &mut BufReader<TcpStream>, code: &str| loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with(code), "expected {code}: {line}");
        if line.as_bytes().get(3) == Some(&b' ') {
            break;
        }
    };
    expect(&mut r, "220");
    w.write_all(b"EHLO erp.supplier.example\r\n").unwrap();
    expect(&mut r, "250");
    w.write_all(format!("MAIL FROM:<{SUPPLIER}>\r\n").as_bytes())
        .unwrap();
    expect(&mut r, "250");
    w.write_all(format!("RCPT TO:<{RECEIVER}>\r\n").as_bytes())
        .unwrap();
    expect(&mut r, "250");
    w.write_all(b"DATA\r\n").unwrap();
    expect(&mut r, "354");
    w.write_all(body.as_bytes()).unwrap();
    (r, w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_get_one_250_and_the_answers_match_the_records() {
    for mode in ["refuse", "accept"] {
        let cfg = TestConfig::with_extras("", &format!("duplicates = \"{mode}\""), "");
        let daemon = cfg.start().await;
        let addr = daemon.smtp_addrs[0];
        let body = invoice_from(SUPPLIER, RECEIVER, &read_fixture(INVOICE_XML));
        let replies = tokio::task::spawn_blocking(move || {
            let barrier = Arc::new(Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|i| {
                    // Eight messages carrying the same invoice (each its own Message-ID: an
                    // exact retransmission of one message is another case, answered 250).
                    let body = body.replacen("Message-ID: <", &format!("Message-ID: <copy{i}."), 1);
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        let (mut r, mut w) = session_before_dot(addr, &body);
                        // All eight end their DATA at the same moment.
                        barrier.wait();
                        w.write_all(b".\r\n").unwrap();
                        let mut line = String::new();
                        r.read_line(&mut line).unwrap();
                        line
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        let recs = records(&daemon).await;
        let accepted = replies.iter().filter(|r| r.starts_with("250")).count();
        // One invoice delivered, whatever the interleaving.
        assert_eq!(ready(&recs), 1, "{mode}: {replies:#?}");
        match mode {
            "refuse" => {
                // Only the first is told "accepted"; every other copy is refused, now (550)
                // or after the first's commit (451, then 550 on retry).
                assert_eq!(accepted, 1, "{replies:#?}");
                for r in replies.iter().filter(|r| !r.starts_with("250")) {
                    assert!(
                        (r.starts_with("550") && r.contains("already received"))
                            || (r.starts_with("451") && r.contains("another message")),
                        "{r}"
                    );
                }
            }
            _ => {
                // Stored, not delivered again, and the 250 says so (or 451 while in flight).
                let said_duplicate = replies
                    .iter()
                    .filter(|r| {
                        r.starts_with("250")
                            && r.contains(" duplicate of ")
                            && r.trim_end().ends_with("(not delivered again)")
                    })
                    .count();
                assert_eq!(said_duplicate, accepted - 1, "{replies:#?}");
                let duplicates = recs
                    .iter()
                    .flat_map(|m| &m.documents)
                    .filter(|d| matches!(d.status, DocumentStatus::Duplicate))
                    .count();
                assert_eq!(duplicates, accepted - 1, "{replies:#?}");
            }
        }
        daemon.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_copies_in_one_message_are_one_invoice() {
    let cfg = TestConfig::with_extras("", "duplicates = \"refuse\"\npartial = \"accept\"", "");
    let daemon = cfg.start().await;
    let xml = read_fixture(INVOICE_XML);
    let body = mail(
        SUPPLIER,
        RECEIVER,
        &[
            ("INV-1.xml", "application/xml", &xml),
            ("INV-1-copy.xml", "application/xml", &xml),
        ],
    );
    let addr = daemon.smtp_addrs[0];
    let r = tokio::task::spawn_blocking(move || {
        Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &body)
    })
    .await
    .unwrap();
    assert!(
        r.starts_with("250") && r.contains("1 invoice accepted"),
        "{r}"
    );
    assert!(r.contains("already received in this same message"), "{r}");
    assert_eq!(ready(&records(&daemon).await), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_the_issue_date_is_the_same_invoice() {
    let cfg = TestConfig::with_extras("", "duplicates = \"refuse\"", "");
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let original = read_fixture(INVOICE_XML);
    let first = send(addr, SUPPLIER, RECEIVER, original.clone()).await;
    assert!(first.starts_with("250"), "{first}");
    let text = String::from_utf8(original).unwrap();
    assert!(text.contains("<cbc:IssueDate>2015-01-09</cbc:IssueDate>"));
    for date in ["2015-01-09+01:00", "2015-01-09Z", " 2015-01-09 "] {
        let variant = text.replace(
            "<cbc:IssueDate>2015-01-09</cbc:IssueDate>",
            &format!("<cbc:IssueDate>{date}</cbc:IssueDate>"),
        );
        let r = send(addr, SUPPLIER, RECEIVER, variant.into_bytes()).await;
        assert!(
            r.starts_with("550") && r.contains("already received"),
            "{date}: {r}"
        );
    }
    // The number in another case and spacing, too.
    let variant = text.replace("<cbc:ID>12115118</cbc:ID>", "<cbc:ID> 12115118 </cbc:ID>");
    let r = send(addr, SUPPLIER, RECEIVER, variant.into_bytes()).await;
    assert!(
        r.starts_with("550") && r.contains("already received"),
        "{r}"
    );
    assert_eq!(ready(&records(&daemon).await), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_250_counts_invoices_and_names_the_receivers() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let body = invoice_from(SUPPLIER, RECEIVER, &read_fixture(INVOICE_XML));
    let r = tokio::task::spawn_blocking(move || {
        let mut s = Smtp::connect(addr);
        s.cmd("EHLO erp.supplier.example", "250");
        s.cmd(&format!("MAIL FROM:<{SUPPLIER}>"), "250");
        s.cmd(&format!("RCPT TO:<{RECEIVER}>"), "250");
        s.cmd(&format!("RCPT TO:<{SHARED}>"), "250");
        s.cmd("DATA", "354");
        s.send(&body);
        s.send(".\r\n");
        s.reply()
    })
    .await
    .unwrap();
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert!(
        r.contains("1 invoice accepted (") && r.ends_with(&format!(") for {RECEIVER}, {SHARED}")),
        "one invoice, both receivers: {r}"
    );
    // One record for the organisation, not one per receiver: nothing stored as a duplicate.
    let recs = records(&daemon).await;
    assert_eq!(recs[0].documents.len(), 1, "{:?}", recs[0].documents);
    assert!(recs[0].documents[0].status.is_ready());
    daemon.stop().await;
}

fn seller_findings(record: &MessageRecord) -> Vec<String> {
    record.documents[0]
        .report
        .as_ref()
        .and_then(|r| r["findings"].as_array())
        .map(|f| {
            f.iter()
                .filter(|f| f["rule_id"] == "TG-SELLER")
                .map(|f| f["message"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_claimed_by_another_trusted_sender_is_a_finding() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let text = String::from_utf8(read_fixture(INVOICE_XML)).unwrap();
    let numbered = |n: &str| {
        text.replace(
            "<cbc:ID>12115118</cbc:ID>",
            &format!("<cbc:ID>{n}</cbc:ID>"),
        )
        .into_bytes()
    };
    let r = send(addr, SUPPLIER, RECEIVER, numbered("A-1")).await;
    assert!(r.starts_with("250"), "{r}");
    // Another supplier trusted at acme sends an invoice in the first one's name.
    let r = send(addr, OTHER_SUPPLIER, RECEIVER, numbered("A-2")).await;
    assert!(r.starts_with("250"), "a warning, not a refusal: {r}");
    let r = send(addr, SUPPLIER, RECEIVER, numbered("A-3")).await;
    assert!(r.starts_with("250"), "{r}");
    let recs = records(&daemon).await;
    assert!(seller_findings(&recs[0]).is_empty());
    let found = seller_findings(&recs[1]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("domain:supplier.example")
            && found[0].contains(&format!("address:{OTHER_SUPPLIER}")),
        "names both senders: {found:?}"
    );
    assert!(
        seller_findings(&recs[2]).is_empty(),
        "the usual sender again"
    );
    daemon.stop().await;
}
