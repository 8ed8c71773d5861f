//! End to end through the real daemon (in-process) over real sockets: what a supplier's mail
//! server sees for each policy and content decision, and what lands in the spool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{INVOICE_XML, RECEIVER, SUPPLIER, Smtp, TestConfig, invoice_mail, mail, read_fixture};

/// Messages stored as accepted (content refusals of trusted senders are recorded as rejected).
async fn stored(daemon: &trustgate::daemon::Daemon) -> usize {
    let spool = daemon.spool.clone();
    tokio::task::spawn_blocking(move || {
        spool
            .list()
            .unwrap()
            .iter()
            .filter(|m| !m.status.is_rejected())
            .count()
    })
    .await
    .unwrap()
}

/// Messages recorded as rejected.
async fn rejected(daemon: &trustgate::daemon::Daemon) -> usize {
    let spool = daemon.spool.clone();
    tokio::task::spawn_blocking(move || {
        spool
            .list()
            .unwrap()
            .iter()
            .filter(|m| m.status.is_rejected())
            .count()
    })
    .await
    .unwrap()
}

/// Runs a blocking client closure off the runtime, so the in-process server keeps running.
async fn client<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_invoice_is_stored_with_its_pdf_paired() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let reply = client(move || {
        Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &invoice_mail(SUPPLIER))
    })
    .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");

    let spool = daemon.spool.clone();
    let records = tokio::task::spawn_blocking(move || spool.list().unwrap())
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert!(
        reply.contains(&record.id.to_string()),
        "250 names the spool id: {reply}"
    );
    assert_eq!(record.mail_from, SUPPLIER);
    assert_eq!(record.rcpt_to, vec![RECEIVER.to_string()]);
    assert_eq!(record.documents.len(), 1);
    let doc = &record.documents[0];
    assert_eq!(doc.xml_name, "INV-1.xml");
    assert_eq!(doc.pdf_name.as_deref(), Some("inv-1.PDF"));
    // The one vocabulary: the syntax and specification as the config and docs name them.
    assert_eq!(doc.format, "ubl-invoice");
    assert_eq!(doc.specification.as_deref(), Some("si-ubl-2.0"));
    assert!(doc.invoice_number.is_some());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lettre_client_delivers_an_invoice() {
    use lettre::message::header::{ContentTransferEncoding, ContentType};
    use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    // The fixture has LF line endings. Sent as 7bit/8bit text, lettre would keep those bare LFs,
    // which trustgate refuses (554 5.6.0, SMTP smuggling); an ERP sends the XML base64-encoded.
    let xml = Body::new_with_encoding(read_fixture(INVOICE_XML), ContentTransferEncoding::Base64)
        .unwrap();
    let email = Message::builder()
        .from(SUPPLIER.parse::<Mailbox>().unwrap())
        .to(RECEIVER.parse::<Mailbox>().unwrap())
        .subject("Invoice 1")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain("Our invoice.".to_string()))
                .singlepart(
                    Attachment::new("factuur.xml".into())
                        .body(xml, ContentType::parse("application/xml").unwrap()),
                )
                .singlepart(Attachment::new("Factuur.pdf".into()).body(
                    b"%PDF-1.4\r\n".to_vec(),
                    ContentType::parse("application/pdf").unwrap(),
                )),
        )
        .unwrap();
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .hello_name(lettre::transport::smtp::extension::ClientId::Domain(
            "erp.supplier.example".into(),
        ))
        .build();
    let response = mailer.send(email).await.unwrap();
    assert_eq!(response.code().to_string(), "250");
    assert_eq!(stored(&daemon).await, 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_recipient_and_other_domains_are_refused_at_rcpt() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    client(move || {
        let mut s = Smtp::connect(addr);
        s.cmd("EHLO client.supplier.example", "250");
        s.cmd(&format!("MAIL FROM:<{SUPPLIER}>"), "250");
        let r = s.cmd("RCPT TO:<NOPE123@trust.example.test>", "550 5.1.1");
        assert!(r.contains("NOPE123@trust.example.test"), "{r}");
        s.cmd("RCPT TO:<someone@elsewhere.example>", "550 5.1.1");
        // Case-insensitive local part: the generated address in lower case is ours.
        s.cmd("RCPT TO:<ad64sde@TRUST.example.test>", "250");
        s.cmd("QUIT", "221");
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_envelope_sender_is_refused_naming_the_check() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    client(move || {
        let mut s = Smtp::connect(addr);
        s.cmd("EHLO client.example", "250");
        s.cmd("MAIL FROM:<billing@stranger.example>", "250");
        let r = s.cmd(&format!("RCPT TO:<{RECEIVER}>"), "550 5.7.1");
        assert!(r.contains("envelope sender"), "{r}");
        s.cmd("RSET", "250");
        // A subdomain of a trusted domain is not the trusted domain.
        s.cmd("MAIL FROM:<x@evil.supplier.example>", "250");
        s.cmd(&format!("RCPT TO:<{RECEIVER}>"), "550 5.7.1");
        s.cmd("RSET", "250");
        // The null sender cannot send invoices.
        s.cmd("MAIL FROM:<>", "250");
        s.cmd(&format!("RCPT TO:<{RECEIVER}>"), "550 5.7.1");
        s.cmd("RSET", "250");
        // Exact-address and verified-user entries.
        s.cmd("MAIL FROM:<billing@other-supplier.example>", "250");
        s.cmd(&format!("RCPT TO:<{RECEIVER}>"), "250");
        s.cmd("RSET", "250");
        s.cmd("MAIL FROM:<someone@other-supplier.example>", "250");
        s.cmd(&format!("RCPT TO:<{RECEIVER}>"), "550 5.7.1");
        s.cmd("RSET", "250");
        s.cmd("MAIL FROM:<clerk@accountant.example>", "250");
        s.cmd(&format!("RCPT TO:<{RECEIVER}>"), "250");
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_from_must_be_trusted_too() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    client(move || {
        let body = invoice_mail("ceo@attacker.example");
        let r = Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &body);
        assert!(
            r.starts_with("550 5.7.1") && r.contains("header From"),
            "{r}"
        );

        let two_from = format!("From: <{SUPPLIER}>\r\n{}", invoice_mail(SUPPLIER));
        let r = Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &two_from);
        assert!(
            r.starts_with("550 5.7.1") && r.contains("more than one From"),
            "{r}"
        );

        let two_mailboxes = invoice_mail(SUPPLIER).replacen(
            &format!("From: Supplier <{SUPPLIER}>"),
            &format!("From: <{SUPPLIER}>, <ceo@attacker.example>"),
            1,
        );
        let r = Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &two_mailboxes);
        assert!(
            r.starts_with("550 5.7.1") && r.contains("more than one mailbox"),
            "{r}"
        );
    })
    .await;
    assert_eq!(stored(&daemon).await, 0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_without_invoice_xml_is_refused_with_advice() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    const ADVICE: &str = "; attach the invoice as a UBL or CII XML file";
    // A real PDF without an embedded invoice (the visual of the webhook tests).
    let pdf: &'static [u8] = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webhook/visual.pdf"
    ))
    .unwrap()
    .leak();
    // Every "no invoice" sentence: each names what was found instead.
    // (attachments as (name, content type, bytes), the sentence)
    type Attachments = Vec<(&'static str, &'static str, &'static [u8])>;
    let cases: Vec<(Attachments, String)> = vec![
        (
            Vec::new(),
            format!("no invoice found: the message has no attachment{ADVICE}"),
        ),
        (
            vec![("invoice.pdf", "application/pdf", pdf)],
            format!(
                "no invoice found: invoice.pdf: a PDF with no invoice XML to pair it with, and no invoice XML embedded in it (not Factur-X or ZUGFeRD){ADVICE}"
            ),
        ),
        (
            vec![("broken.pdf", "application/pdf", b"%PDF-1.4\n")],
            format!(
                "no invoice found: broken.pdf: a PDF with no invoice XML to pair it with (the PDF cannot be read: no cross-reference data and no catalog found){ADVICE}"
            ),
        ),
        (
            vec![("order.xml", "application/xml", b"<Order xmlns=\"urn:x\"/>")],
            format!(
                "no invoice found: order.xml: XML, but not an invoice: its root element is Order, not a UBL Invoice or CreditNote or a CII CrossIndustryInvoice{ADVICE}"
            ),
        ),
        (
            vec![("notes.xml", "text/xml", b"plain words")],
            format!("no invoice found: notes.xml: named or typed as XML, but not XML{ADVICE}"),
        ),
        (
            vec![
                ("logo.png", "image/png", b"\x89PNG"),
                ("scan.pdf", "application/pdf", pdf),
            ],
            format!(
                "no invoice found: logo.png: image/png, neither an invoice XML nor a PDF; scan.pdf: a PDF with no invoice XML to pair it with, and no invoice XML embedded in it (not Factur-X or ZUGFeRD){ADVICE}"
            ),
        ),
    ];
    let count = cases.len();
    client(move || {
        for (attachments, sentence) in cases {
            let body = mail(SUPPLIER, RECEIVER, &attachments);
            let r = Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &body);
            assert_eq!(r, format!("550 5.6.0 {sentence}"));
        }
    })
    .await;
    assert_eq!(stored(&daemon).await, 0);
    assert_eq!(
        rejected(&daemon).await,
        count,
        "trusted senders' refused messages are recorded for the admin"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_with_doctype_is_refused() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    client(move || {
        let xml = String::from_utf8(read_fixture(INVOICE_XML)).unwrap();
        let evil = xml.replacen(
            "<Invoice",
            "<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<Invoice",
            1,
        );
        let body = mail(
            SUPPLIER,
            RECEIVER,
            &[("INV-9.xml", "application/xml", evil.as_bytes())],
        );
        let r = Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &body);
        assert!(r.starts_with("550 5.6.0") && r.contains("INV-9.xml"), "{r}");
    })
    .await;
    assert_eq!(stored(&daemon).await, 0);
    assert_eq!(rejected(&daemon).await, 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_is_refused_with_and_without_size() {
    let cfg = TestConfig::with_server_extra("max_message_size = \"64KiB\"");
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    client(move || {
        let mut s = Smtp::connect(addr);
        s.cmd("EHLO client.supplier.example", "250");
        s.cmd(
            &format!("MAIL FROM:<{SUPPLIER}> SIZE=1000000000000"),
            "552 5.3.4",
        );
        s.cmd(&format!("MAIL FROM:<{SUPPLIER}> SIZE=70000"), "552 5.3.4");

        let big = mail(
            SUPPLIER,
            RECEIVER,
            &[
                ("INV-1.xml", "application/xml", &read_fixture(INVOICE_XML)),
                ("big.pdf", "application/pdf", &vec![b'x'; 200_000]),
            ],
        );
        let r = Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &big);
        assert!(r.starts_with("552 5.3.4"), "{r}");
    })
    .await;
    assert_eq!(stored(&daemon).await, 0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_pipelined_transaction_in_one_write() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    client(move || {
        let mut s = Smtp::connect(addr);
        s.cmd("EHLO client.supplier.example", "250");
        // RFC 2920: MAIL, RCPT and DATA may be sent as a group; the body after the 354.
        s.send(&format!("MAIL FROM:<{SUPPLIER}>\r\nRCPT TO:<{RECEIVER}>\r\nRCPT TO:<unknown@trust.example.test>\r\nDATA\r\n"));
        s.expect("250");
        s.expect("250");
        s.expect("550 5.1.1");
        s.expect("354");
        s.send(&format!("{}.\r\nQUIT\r\n", invoice_mail(SUPPLIER)));
        s.expect("250 2.0.0");
        s.expect("221");
    })
    .await;
    assert_eq!(stored(&daemon).await, 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_payloads_never_create_a_second_message() {
    // SMTP-HARDENING 11 (CVE-2023-51764/51765/51766): only CRLF.CRLF ends DATA.
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let payloads = ["\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r"];
    for fake_end in payloads {
        client(move || {
            let mut s = Smtp::connect(addr);
            s.cmd("EHLO client.supplier.example", "250");
            s.cmd(&format!("MAIL FROM:<{SUPPLIER}>"), "250");
            s.cmd(&format!("RCPT TO:<{RECEIVER}>"), "250");
            s.cmd("DATA", "354");
            let body = invoice_mail(SUPPLIER);
            let smuggled = format!(
                "{body}{fake_end}MAIL FROM:<{SUPPLIER}>\r\nRCPT TO:<{RECEIVER}>\r\nDATA\r\n{body}\r\n.\r\n"
            );
            s.send(&smuggled);
            let r = s.reply();
            // One reply for the whole thing: the message is refused for its bare CR/LF.
            assert!(r.starts_with("554 5.6"), "{fake_end:?}: {r}");
            s.send("NOOP\r\n");
            s.expect("250");
        })
        .await;
    }
    assert_eq!(stored(&daemon).await, 0, "a smuggled message was stored");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_per_minute_over_the_rate_get_451_at_mail() {
    let cfg = TestConfig::with_server_extra("max_messages_per_minute = 2");
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let replies = tokio::task::spawn_blocking(move || {
        let mut s = Smtp::connect(addr);
        s.cmd("EHLO erp.supplier.example", "250");
        let mut replies = Vec::new();
        for _ in 0..3 {
            s.send(&format!("MAIL FROM:<{SUPPLIER}>\r\n"));
            replies.push(s.reply());
            s.cmd("RSET", "250");
        }
        replies
    })
    .await
    .unwrap();
    assert!(
        replies[0].starts_with("250") && replies[1].starts_with("250"),
        "{replies:?}"
    );
    assert!(
        replies[2].starts_with("451 4.7.1") && replies[2].contains("last minute"),
        "{replies:?}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmaster_and_abuse_of_a_served_domain_take_mail_from_anyone() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let replies = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for to in [
            "postmaster@trust.example.test",
            "Abuse@trust.example.test",
            "postmaster@elsewhere.example",
        ] {
            let mut s = Smtp::connect(addr);
            s.cmd("EHLO mail.stranger.example", "250");
            s.cmd("MAIL FROM:<someone@stranger.example>", "250");
            s.send(&format!("RCPT TO:<{to}>\r\n"));
            let rcpt = s.reply();
            if rcpt.starts_with("250") {
                s.cmd("DATA", "354");
                s.send(&format!(
                    "From: someone@stranger.example\r\nTo: {to}\r\nSubject: your server\r\n\r\nhello\r\n.\r\n"
                ));
                out.push(s.reply());
            } else {
                out.push(rcpt);
            }
        }
        out
    })
    .await
    .unwrap();
    assert!(
        replies[0].starts_with("250 2.0.0") && replies[0].contains("stored for the postmaster"),
        "{replies:?}"
    );
    assert!(replies[1].starts_with("250 2.0.0"), "{replies:?}");
    // Not ours: no relaying, even for a postmaster.
    assert!(replies[2].starts_with("55"), "{replies:?}");
    let spool = daemon.spool.clone();
    let records = tokio::task::spawn_blocking(move || spool.list().unwrap())
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|m| m.documents.is_empty() && !m.status.is_rejected())
    );
    daemon.stop().await;
}
