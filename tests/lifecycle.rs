//! The trusted senders' lifecycle (issue 11, section 2) over real sockets and the real binary:
//! `trustgate invite` mails the contact through a real SMTP relay on loopback, `senders list`
//! shows `pending`, then `invited`, then `active` after the first invoice (with the address it
//! came from), and `sender disable` makes the gateway refuse the sender with 550 5.7.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::peers::SmtpRelay;
use common::{RECEIVER, Smtp, TestConfig, cli, cli_off_runtime, invoice_mail};

const CONTACT: &str = "billing@supplier.example";

fn config(relay: &SmtpRelay) -> TestConfig {
    let cfg = TestConfig::new();
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[relay]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nmail_from = \"bounces@trust.example.test\"\n\n[notices]\nfrom = \"no-reply@trust.example.test\"\n\n[delivery]\ninitial_backoff = \"1s\"\nmax_backoff = \"2s\"\n",
        relay.addr.port()
    ));
    std::fs::write(&cfg.path, text).unwrap();
    cfg
}

/// The `senders list --json` row of the supplier's contact at RECEIVER.
fn state_of(cfg: &TestConfig) -> serde_json::Value {
    let (code, out, err) = cli(&cfg.path, &["senders", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    rows.into_iter()
        .find(|r| r["receiver"] == RECEIVER && r["contact"] == CONTACT)
        .unwrap_or_else(|| panic!("no row for {CONTACT}: {out}"))
}

async fn send(addr: std::net::SocketAddr, from: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        Smtp::connect(addr).transaction(from, RECEIVER, &invoice_mail(from))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_invited_active_then_disabled_and_enabled() {
    let relay = SmtpRelay::start();
    let cfg = config(&relay);

    // Before any spool exists every sender is pending.
    assert_eq!(state_of(&cfg)["state"], "pending");

    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];

    // Invited: the CLI asks the running daemon, which queues the invitation.
    let (code, out, err) = cli_off_runtime(&cfg, &["invite", RECEIVER, "--sender", CONTACT]).await;
    assert_eq!(code, 0, "{err}");
    let invitation = out.trim().to_string();
    assert!(!invitation.is_empty(), "prints the invitation's id");
    let row = state_of(&cfg);
    assert_eq!(row["state"], "invited", "{row}");
    assert_eq!(row["invited"]["count"], 1, "{row}");
    assert_eq!(row["invited"]["message"], invitation.as_str(), "{row}");

    // The contact receives it through the relay: an automatic message (not a reply), from
    // the null sender, in Dutch (the sender's default language), saying where to send and who
    // must send.
    let mails = tokio::task::block_in_place(|| relay.wait_for(1, 30));
    let mail = &mails[0];
    assert_eq!(mail.mail_from, "", "MAIL FROM:<>");
    assert_eq!(mail.rcpt_to, vec![CONTACT.to_string()]);
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.data)
        .unwrap();
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    assert!(parsed.in_reply_to().as_text().is_none());
    let text = parsed.body_text(0).unwrap().to_string();
    assert!(text.contains(RECEIVER), "{text}");
    assert!(text.contains("supplier.example"), "{text}");
    assert!(text.contains("Peppol BIS 3"), "{text}");
    assert!(parsed.body_html(0).is_some(), "a text and an HTML part");
    // Recorded: `spool show` says where it went.
    // (The relay has it; the settlement follows within moments.)
    let mut show = String::new();
    for _ in 0..100 {
        let (code, out, _) = cli_off_runtime(&cfg, &["spool", "show", &invitation]).await;
        assert_eq!(code, 0);
        show = out;
        if show.contains("delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(show.contains("outgoing"), "{show}");
    assert!(
        show.contains("notices") && show.contains("delivered"),
        "{show}"
    );

    // An unknown contact is refused by name.
    let (code, _, err) =
        cli_off_runtime(&cfg, &["invite", RECEIVER, "--sender", "nobody@x.example"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no trusted sender with contact"), "{err}");

    // Active on its first invoice, from the exact address it came from.
    let reply = send(addr, "ap@supplier.example").await;
    assert!(reply.starts_with("250"), "{reply}");
    let row = state_of(&cfg);
    assert_eq!(row["state"], "active", "{row}");
    assert_eq!(row["active"]["from"], "ap@supplier.example", "{row}");
    let first = row["active"]["message"].as_str().unwrap().to_string();
    // A second invoice from another address of the domain changes nothing.
    assert!(
        send(addr, "sales@supplier.example")
            .await
            .starts_with("250")
    );
    let row = state_of(&cfg);
    assert_eq!(row["active"]["from"], "ap@supplier.example", "{row}");
    assert_eq!(row["active"]["message"], first.as_str(), "{row}");

    // Disabled: refused in the session, saying by whom.
    let (code, _, err) =
        cli_off_runtime(&cfg, &["sender", "disable", RECEIVER, "--contact", CONTACT]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(state_of(&cfg)["state"], "disabled");
    let reply = send(addr, "ap@supplier.example").await;
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    assert!(reply.contains("disabled"), "{reply}");
    assert!(reply.contains("ACME B.V."), "{reply}");
    // Another trusted sender of the receiver is not affected.
    assert!(
        send(addr, "billing@other-supplier.example")
            .await
            .starts_with("250")
    );

    // Enabled again: back to active, and accepted.
    let (code, _, err) =
        cli_off_runtime(&cfg, &["sender", "enable", RECEIVER, "--contact", CONTACT]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(state_of(&cfg)["state"], "active");
    assert!(send(addr, "ap@supplier.example").await.starts_with("250"));
    daemon.stop().await;

    // Without a daemon the CLI opens the spool itself: the state is durable.
    let row = state_of(&cfg);
    assert_eq!(row["state"], "active", "{row}");
    let (code, _, err) = cli(
        &cfg.path,
        &["sender", "disable", RECEIVER, "--contact", CONTACT],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(state_of(&cfg)["state"], "disabled");
}
