//! Notices to supplier contacts (issue 11, section 3) over real sockets: a trusted sender's
//! invoice refused in the session gets a notice at its registered contact through a real SMTP
//! relay on loopback, as an automatic reply; automatic input and strangers get none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::peers::{HttpAnswer, SmtpRelay, WebhookServer};
use common::{RECEIVER, Smtp, TestConfig, fixture, invoice_mail, mail, read_fixture};

/// An invoice of the test corpus that breaks BR-NL-1 (the supplier's KvK with a wrong scheme).
const BR_NL_1: &str = "invoices/invalid/SI-UBL-2.0_BR-NL-1_error_wrong_scheme.xml";

fn config(relay: &SmtpRelay, extra: &str) -> TestConfig {
    let cfg = TestConfig::new();
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[relay]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nmail_from = \"bounces@trust.example.test\"\n\n[notices]\nfrom = \"no-reply@trust.example.test\"\n{extra}\n[delivery]\ninitial_backoff = \"1s\"\nmax_backoff = \"2s\"\n",
        relay.addr.port()
    ));
    std::fs::write(&cfg.path, text).unwrap();
    cfg
}

fn refused_invoice(headers: &str) -> String {
    let xml = read_fixture(BR_NL_1);
    let m = mail(
        "billing@supplier.example",
        RECEIVER,
        &[("INV-NL1.xml", "application/xml", &xml)],
    );
    format!("{headers}{m}")
}

fn send(addr: std::net::SocketAddr, mail_from: &str, body: &str) -> String {
    let mut smtp = Smtp::connect(addr);
    smtp.transaction(mail_from, RECEIVER, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_invoice_notifies_the_contact_in_dutch_as_an_automatic_reply() {
    let _ = fixture(BR_NL_1);
    let relay = SmtpRelay::start();
    let cfg = config(&relay, "");
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let reply = tokio::task::spawn_blocking(move || {
        send(
            addr,
            "billing@supplier.example",
            &refused_invoice("Subject: Factuur =?utf-8?q?NL1=0D=0ABcc:_victim@example.org?=\r\n"),
        )
    })
    .await
    .unwrap();
    assert!(reply.starts_with("550 5.6.0"), "{reply}");
    assert!(reply.contains("BR-NL-1"), "{reply}");

    let mails = tokio::task::spawn_blocking(move || relay.wait_for(1, 30))
        .await
        .unwrap();
    let notice = &mails[0];
    assert_eq!(notice.mail_from, "", "MAIL FROM:<>");
    assert_eq!(notice.rcpt_to, vec!["billing@supplier.example".to_string()]);
    let parsed = mail_parser::MessageParser::default()
        .parse(&notice.data)
        .unwrap();
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    assert!(parsed.header("Bcc").is_none());
    assert!(
        parsed.in_reply_to().as_text().is_some(),
        "In-Reply-To the refused message"
    );
    let subject = parsed.subject().unwrap_or_default();
    assert!(subject.starts_with("Factuur geweigerd"), "{subject}");
    let text = parsed.body_text(0).unwrap();
    assert!(text.contains("[BR-NL-1]"), "{text}");
    assert!(text.contains("Wat kunt u doen?"), "{text}");
    assert!(!text.contains("\nBcc:"), "{text}");
    assert_eq!(parsed.html_body_count(), 1);
    // The original attachment is never sent back.
    assert!(!String::from_utf8_lossy(&notice.data).contains("INV-NL1.xml\"\r\nContent-Transfer"));
    // spool show says where the notice went.
    let list = daemon.spool.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].notice.as_ref().map(|n| n.to.as_str()),
        Some("billing@supplier.example")
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_notice_for_automatic_input_or_a_stranger_and_the_cap_holds() {
    let relay = SmtpRelay::start();
    let cfg = config(&relay, "rate_per_hour = 2\n");
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    tokio::task::spawn_blocking(move || {
        // Automatic input: refused in the session, but no notice.
        for headers in [
            "Auto-Submitted: auto-generated\r\n",
            "Precedence: bulk\r\n",
            "List-Id: <x.example>\r\n",
        ] {
            let reply = send(addr, "billing@supplier.example", &refused_invoice(headers));
            assert!(reply.starts_with("550 5.6.0"), "{reply}");
        }
        // A stranger is refused before DATA: nothing stored, no notice.
        let mut smtp = Smtp::connect(addr);
        smtp.cmd("EHLO x.example", "250");
        smtp.cmd("MAIL FROM:<evil@attacker.example>", "250");
        smtp.cmd(&format!("RCPT TO:<{RECEIVER}>"), "550");
        // Three refused invoices from the supplier: two notices (the cap), the third held.
        for _ in 0..3 {
            let reply = send(addr, "billing@supplier.example", &refused_invoice(""));
            assert!(reply.starts_with("550 5.6.0"), "{reply}");
        }
    })
    .await
    .unwrap();
    let relay_mails = tokio::task::spawn_blocking(move || {
        let mails = relay.wait_for(2, 30);
        // Give a third one the chance to arrive, if the cap did not hold.
        std::thread::sleep(std::time::Duration::from_secs(3));
        let _ = mails;
        relay.wait_for(2, 1)
    })
    .await
    .unwrap();
    assert_eq!(
        relay_mails.len(),
        2,
        "automatic input gets none, and the cap is 2"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_notifies_the_contact_and_the_admin_once() {
    let relay = SmtpRelay::start();
    let hook = WebhookServer::start();
    // The receiving system refuses the document for good: a dead letter at once.
    hook.set_default(HttpAnswer::status(410));
    let cfg = TestConfig::with_extras("", "deliver = [\"hook\"]\n", "");
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[relay]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nmail_from = \"bounces@trust.example.test\"\n\n[notices]\nfrom = \"no-reply@trust.example.test\"\nadmin = \"ap-admin@acme.example\"\n\n[delivery]\ninitial_backoff = \"1s\"\nmax_backoff = \"2s\"\n\n[[sink]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\n",
        relay.addr.port(),
        hook.url()
    ));
    std::fs::write(&cfg.path, text).unwrap();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let reply = tokio::task::spawn_blocking(move || {
        Smtp::connect(addr).transaction(
            "billing@supplier.example",
            RECEIVER,
            &invoice_mail("billing@supplier.example"),
        )
    })
    .await
    .unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let mails = tokio::task::spawn_blocking(move || {
        let _ = relay.wait_for(2, 30);
        std::thread::sleep(std::time::Duration::from_secs(2));
        relay.wait_for(2, 1)
    })
    .await
    .unwrap();
    assert_eq!(
        mails.len(),
        2,
        "one notice to the contact, one to the admin"
    );
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(to, ["ap-admin@acme.example", "billing@supplier.example"]);
    for m in &mails {
        assert_eq!(m.mail_from, "");
        let parsed = mail_parser::MessageParser::default()
            .parse(&m.data)
            .unwrap();
        let subject = parsed.subject().unwrap_or_default();
        assert!(subject.starts_with("Factuur niet afgeleverd"), "{subject}");
    }
    daemon.stop().await;
}

/// Waits until `f` holds (panics after `secs`).
async fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// "A rate cap per contact (default 10 an hour). Past it, one digest." With a cap of 2 in a
/// window shortened to 5 s (`rate_window`, which exists for this), five refused invoices give
/// the contact two notices and then ONE digest that names the other three; each of those three
/// deliveries is settled delivered with an answer naming the digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_the_contact_gets_one_digest_of_the_rest() {
    let relay = SmtpRelay::start();
    let cfg = config(&relay, "rate_per_hour = 2\nrate_window = \"5s\"\n");
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    tokio::task::spawn_blocking(move || {
        for _ in 0..5 {
            let reply = send(addr, "billing@supplier.example", &refused_invoice(""));
            assert!(reply.starts_with("550 5.6.0"), "{reply}");
        }
    })
    .await
    .unwrap();
    let spool = daemon.spool.clone();
    let ids: Vec<String> = spool
        .list()
        .unwrap()
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    assert_eq!(ids.len(), 5);
    // Every notice delivery ends delivered: two sent alone, three in the digest.
    until("every notice settled", 60, || {
        ids.iter().all(|id| {
            let id = trustgate::spool::MessageId::parse(id).unwrap();
            spool.deliveries(&id).unwrap().iter().any(|d| {
                d.sink == "notices" && d.record.state == trustgate::spool::DeliveryState::Delivered
            })
        })
    })
    .await;
    let mails = relay.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 3, "two notices and one digest, nothing else");
    let parse = |m: &common::peers::RelayedMail| {
        let parsed = mail_parser::MessageParser::default()
            .parse(&m.data)
            .unwrap();
        (
            parsed.subject().unwrap_or_default().to_string(),
            parsed
                .body_text(0)
                .unwrap_or_default()
                .replace("\r\n", "\n"),
            parsed.message_id().unwrap_or_default().to_string(),
            parsed
                .header_raw("Auto-Submitted")
                .map(|v| v.trim().to_string()),
            parsed.in_reply_to().as_text().is_some(),
        )
    };
    let mut alone = Vec::new();
    for m in &mails[..2] {
        let (subject, text, ..) = parse(m);
        assert!(subject.starts_with("Factuur geweigerd"), "{subject}");
        alone.extend(ids.iter().filter(|id| text.contains(id.as_str())).cloned());
    }
    assert_eq!(alone.len(), 2, "each notice names its own message");
    let digest = &mails[2];
    assert_eq!(digest.mail_from, "", "MAIL FROM:<>");
    assert_eq!(digest.rcpt_to, vec!["billing@supplier.example".to_string()]);
    let (subject, text, digest_id, auto, in_reply_to) = parse(digest);
    assert_eq!(subject, "Samenvatting: 3 berichten over uw facturen");
    assert_eq!(auto.as_deref(), Some("auto-replied"));
    assert!(
        !in_reply_to,
        "a digest answers several messages, so none of them"
    );
    let rest: Vec<&String> = ids.iter().filter(|id| !alone.contains(id)).collect();
    assert_eq!(rest.len(), 3);
    for id in &rest {
        assert!(text.contains(&format!("ons kenmerk {id}")), "{id}:\n{text}");
        // Its delivery's answer names the digest.
        let mid = trustgate::spool::MessageId::parse(id).unwrap();
        let answer = spool
            .deliveries(&mid)
            .unwrap()
            .into_iter()
            .find(|d| d.sink == "notices")
            .and_then(|d| d.record.answer)
            .unwrap();
        assert!(
            answer.contains(&format!(
                "in digest <{digest_id}> to billing@supplier.example (3 notices)"
            )),
            "{answer}"
        );
    }
    for id in &alone {
        assert!(
            !text.contains(id.as_str()),
            "{id} was sent alone, not in the digest"
        );
    }
    assert!(text.contains("[BR-NL-1]"), "{text}");
    daemon.stop().await;
}

/// The deferral lives in the spool, not in memory: a daemon stopped while notices wait for
/// their digest (its memory of the cap gone, as after a crash: a deferred delivery is pending,
/// never in flight) sends them after the restart. None is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_notices_survive_a_restart() {
    let relay = SmtpRelay::start();
    let cfg = config(&relay, "rate_per_hour = 1\nrate_window = \"5s\"\n");
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    tokio::task::spawn_blocking(move || {
        for _ in 0..3 {
            let reply = send(addr, "billing@supplier.example", &refused_invoice(""));
            assert!(reply.starts_with("550 5.6.0"), "{reply}");
        }
    })
    .await
    .unwrap();
    let ids: Vec<trustgate::spool::MessageId> = daemon
        .spool
        .list()
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids.len(), 3);
    let notice_of = |spool: &trustgate::spool::Spool, id: &trustgate::spool::MessageId| {
        spool
            .deliveries(id)
            .unwrap()
            .into_iter()
            .find(|d| d.sink == "notices")
            .unwrap()
            .record
    };
    // One sent, two deferred to the digest.
    let spool = daemon.spool.clone();
    until("one notice sent and two deferred", 30, || {
        let records: Vec<_> = ids.iter().map(|id| notice_of(&spool, id)).collect();
        records
            .iter()
            .filter(|r| r.state == trustgate::spool::DeliveryState::Delivered)
            .count()
            == 1
            && records
                .iter()
                .filter(|r| {
                    r.state == trustgate::spool::DeliveryState::Pending
                        && r.last_error
                            .as_deref()
                            .is_some_and(|e| e.starts_with("deferred: "))
                })
                .count()
                == 2
    })
    .await;
    // The spool is one process's: let go of it before the restart.
    drop(spool);
    daemon.stop().await;
    assert_eq!(relay.mails.lock().unwrap().len(), 1);

    let daemon = cfg.start().await;
    let spool = daemon.spool.clone();
    until("every notice delivered after the restart", 60, || {
        ids.iter()
            .all(|id| notice_of(&spool, id).state == trustgate::spool::DeliveryState::Delivered)
    })
    .await;
    drop(spool);
    let texts: Vec<String> = relay
        .mails
        .lock()
        .unwrap()
        .iter()
        .map(|m| {
            let parsed = mail_parser::MessageParser::default()
                .parse(&m.data)
                .unwrap();
            parsed.body_text(0).unwrap_or_default().into_owned()
        })
        .collect();
    for id in &ids {
        assert!(
            texts.iter().any(|t| t.contains(id.as_str())),
            "{id} was never sent:\n{texts:#?}"
        );
    }
    daemon.stop().await;
}
