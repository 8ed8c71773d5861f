//! Delivery end to end, over real sockets: mail in over SMTP, documents out to a real HTTP
//! receiver, a real SMTP relay, a real folder and a real nats-server, all on 127.0.0.1.
//! Retries, Retry-After, dead letters and `spool retry`, restarts, kill -9 while delivering.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::peers::{HttpAnswer, SmtpRelay, WebhookServer, free_port};
use common::{INVOICE_XML, Process, RECEIVER, SUPPLIER, Smtp, TestConfig, cli, read_fixture};
use mail_parser::MimeHeaders as _;
use trustgate::spool::{DeliveryState, MessageId, Spool};

/// The webhook secret of the tests, Standard Webhooks style.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A test config whose AD64SDE receiver delivers to `deliver`, with `tail` (sinks,
/// `[delivery]`, `[relay]`) appended.
fn config(deliver: &[&str], tail: &str) -> TestConfig {
    let list: Vec<String> = deliver.iter().map(|s| format!("{s:?}")).collect();
    let cfg = TestConfig::with_extras("", &format!("deliver = [{}]", list.join(", ")), "");
    append(&cfg, tail);
    cfg
}

fn append(cfg: &TestConfig, tail: &str) {
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push('\n');
    text.push_str(tail);
    std::fs::write(&cfg.path, text).unwrap();
}

fn webhook_sink(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[sink]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntimeout = \"5s\"\n{extra}\n"
    )
}

/// Fast retries for tests: 1 s, doubling to 2 s.
const FAST: &str =
    "[delivery]\ninitial_backoff = \"1s\"\nmax_backoff = \"2s\"\nmax_age = \"1h\"\nworkers = 4\n";

/// The sample invoice with its own invoice number (so it is no duplicate) and a PDF.
fn invoice_mail_numbered(n: usize) -> String {
    let xml = String::from_utf8(read_fixture(INVOICE_XML))
        .unwrap()
        .replacen(
            "<cbc:ID>12115118</cbc:ID>",
            &format!("<cbc:ID>T-{n}</cbc:ID>"),
            1,
        );
    common::mail(
        SUPPLIER,
        RECEIVER,
        &[
            ("INV-1.xml", "application/xml", xml.as_bytes()),
            ("inv-1.PDF", "application/pdf", b"%PDF-1.4\n%test\n"),
        ],
    )
}

/// Sends one invoice mail (blocking); returns our message id from the 250.
fn send(addr: std::net::SocketAddr, n: usize) -> MessageId {
    let reply = Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &invoice_mail_numbered(n));
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let id = reply
        .split_whitespace()
        .find(|w| w.contains('T') && w.contains('-') && w.len() >= 20)
        .unwrap()
        .trim_end_matches(':');
    MessageId::parse(id).unwrap()
}

async fn send_async(addr: std::net::SocketAddr, n: usize) -> MessageId {
    tokio::task::spawn_blocking(move || send(addr, n))
        .await
        .unwrap()
}

/// Waits until `f` holds (panics after `secs`).
async fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn state(spool: &Spool, id: &MessageId, sink: &str) -> Option<DeliveryState> {
    spool
        .deliveries(id)
        .unwrap()
        .into_iter()
        .find(|d| d.sink == sink)
        .map(|d| d.record.state)
}

/// Verifies a request with the official Standard Webhooks library (Python `standardwebhooks`).
fn verify_with_standard_webhooks(req: &common::peers::HttpRequest) {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    std::fs::write(&body, &req.body).unwrap();
    let script = r#"
import sys
from standardwebhooks.webhooks import Webhook
secret, body, wid, ts, sig = sys.argv[1:]
Webhook(secret).verify(open(body, "rb").read(), {"webhook-id": wid, "webhook-timestamp": ts, "webhook-signature": sig})
print("verified")
"#;
    let out = Command::new("python3")
        .args(["-c", script, SECRET])
        .arg(&body)
        .args([
            req.header("webhook-id").unwrap(),
            req.header("webhook-timestamp").unwrap(),
            req.header("webhook-signature").unwrap(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("verified"),
        "the Standard Webhooks verifier refused the signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_fails_twice_gets_one_id_and_a_verifiable_signature() {
    let hook = WebhookServer::start();
    hook.script([HttpAnswer::status(500), HttpAnswer::status(503)]);
    let cfg = config(
        &["erp"],
        &format!("{FAST}{}", webhook_sink("erp", &hook.url(), "")),
    );
    let daemon = cfg.start().await;
    let id = send_async(daemon.smtp_addrs[0], 1).await;

    let requests = tokio::task::spawn_blocking({
        let requests = hook.requests.clone();
        move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while requests.lock().unwrap().len() < 3 {
                assert!(Instant::now() < deadline, "three attempts expected");
                std::thread::sleep(Duration::from_millis(10));
            }
            requests.lock().unwrap().clone()
        }
    })
    .await
    .unwrap();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 503, 200]);
    let ids: Vec<&str> = requests
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids, [ids[0]; 3], "one webhook-id across the attempts");
    assert_eq!(ids[0], format!("{id}-0.erp@mx.trust.example.test"));
    assert_eq!(requests[2].header("idempotency-key"), Some(ids[0]));
    // The retries waited for the back-off (1 s, then 1 to 2 s with jitter).
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(450));
    for r in &requests {
        verify_with_standard_webhooks(r);
    }
    let body = requests[2].json();
    assert_eq!(body["type"], "invoice.received");
    assert_eq!(body["data"]["message_id"], id.as_str());
    assert_eq!(body["data"]["organisation"], "acme");
    assert_eq!(body["data"]["invoice_number"], "T-1");
    use base64::Engine as _;
    let xml = base64::engine::general_purpose::STANDARD
        .decode(body["data"]["xml_base64"].as_str().unwrap())
        .unwrap();
    assert!(
        String::from_utf8(xml)
            .unwrap()
            .contains("<cbc:ID>T-1</cbc:ID>")
    );

    let spool = daemon.spool.clone();
    until("delivered state", 10, || {
        state(&spool, &id, "erp") == Some(DeliveryState::Delivered)
    })
    .await;
    let attempts = spool.attempts(&id).unwrap();
    let outcomes: Vec<&str> = attempts.iter().map(|a| a.record.outcome.as_str()).collect();
    assert_eq!(outcomes, ["retry", "retry", "delivered"]);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_down_until_after_a_restart_gets_the_document_after_it() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hooks/invoices");
    let cfg = config(
        &["erp"],
        &format!("{FAST}{}", webhook_sink("erp", &url, "")),
    );
    let daemon = cfg.start().await;
    let id = send_async(daemon.smtp_addrs[0], 2).await;
    let spool = daemon.spool.clone();
    until("a failed attempt", 15, || {
        !spool.attempts(&id).unwrap().is_empty()
    })
    .await;
    assert_eq!(state(&spool, &id, "erp"), Some(DeliveryState::Pending));
    drop(spool);
    daemon.stop().await;

    let hook = WebhookServer::start_on(port);
    let daemon = cfg.start().await;
    let got = tokio::task::spawn_blocking(move || {
        let got = hook.wait_for(1, 30);
        drop(hook);
        got
    })
    .await
    .unwrap();
    assert_eq!(
        got[0].header("webhook-id").unwrap(),
        format!("{id}-0.erp@mx.trust.example.test")
    );
    let spool = daemon.spool.clone();
    until("delivered after the restart", 10, || {
        state(&spool, &id, "erp") == Some(DeliveryState::Delivered)
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_is_a_dead_letter_and_spool_retry_delivers_it() {
    let hook = WebhookServer::start();
    hook.script([HttpAnswer::status(410)]);
    let cfg = config(
        &["erp"],
        &format!("{FAST}{}", webhook_sink("erp", &hook.url(), "")),
    );
    let daemon = cfg.start().await;
    let id = send_async(daemon.smtp_addrs[0], 3).await;
    let spool = daemon.spool.clone();
    until("a dead letter", 15, || {
        state(&spool, &id, "erp") == Some(DeliveryState::Failed)
    })
    .await;
    // Dead at once: no second attempt, however long we wait for the back-off.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hook.requests().len(), 1);

    // `spool list` shows it, `spool show` gives the reason, `spool retry` re-offers it: all
    // through the running daemon's control socket.
    let path = cfg.path.clone();
    let (list, show, retry) = tokio::task::spawn_blocking(move || {
        (
            cli(&path, &["spool", "list"]),
            cli(&path, &["spool", "show", id_str(&path)]),
            cli(&path, &["spool", "retry", "--failed"]),
        )
    })
    .await
    .unwrap();
    assert!(list.1.contains("erp=failed"), "{list:?}");
    assert!(
        show.1.contains("failed") && show.1.contains("410"),
        "{show:?}"
    );
    assert_eq!(retry.0, 0, "{retry:?}");
    assert!(retry.1.contains("re-offered 1 delivery"), "{retry:?}");
    until("delivered after the re-offer", 15, || {
        state(&spool, &id, "erp") == Some(DeliveryState::Delivered)
    })
    .await;
    let requests = hook.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id")
    );
    daemon.stop().await;
}

/// The only message id in the spool at `config` (for CLI calls).
fn id_str(config: &Path) -> &'static str {
    let (code, out, err) = cli(config, &["spool", "list", "--json", "--full"]);
    assert_eq!(code, 0, "{err}");
    let v = common::ndjson(&out);
    Box::leak(v[0]["id"].as_str().unwrap().to_string().into_boxed_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let hook = WebhookServer::start();
    hook.script([HttpAnswer::status(429).with_header("Retry-After", "3")]);
    // A minute of back-off: only Retry-After can bring the second attempt within seconds.
    let tail = format!(
        "[delivery]\ninitial_backoff = \"1m\"\n{}",
        webhook_sink("erp", &hook.url(), "")
    );
    let cfg = config(&["erp"], &tail);
    let daemon = cfg.start().await;
    send_async(daemon.smtp_addrs[0], 4).await;
    let requests = tokio::task::spawn_blocking(move || hook.wait_for(2, 30))
        .await
        .unwrap();
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(2900) && gap < Duration::from_secs(20),
        "second attempt after {gap:?}, Retry-After said 3 s"
    );
    daemon.stop().await;
}

fn relay_config(relay: &SmtpRelay, sink: &str) -> String {
    format!(
        "{FAST}[relay]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nmail_from = \"bounces@trust.example.test\"\n{sink}",
        relay.addr.port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_mode_retries_a_451_and_sends_the_files_unchanged() {
    let relay = SmtpRelay::start();
    relay.script(&["451 4.3.0 try again later"]);
    let tail = relay_config(
        &relay,
        "[[sink]]\nname = \"exact\"\nkind = \"smtp\"\nto = \"digitalemailbox@example.test\"\nmode = \"document\"\n",
    );
    let cfg = config(&["exact"], &tail);
    let daemon = cfg.start().await;
    let id = send_async(daemon.smtp_addrs[0], 5).await;
    let (mails, replies) = tokio::task::spawn_blocking(move || {
        let mails = relay.wait_for(1, 30);
        let replies = relay.replies.lock().unwrap().clone();
        (mails, replies)
    })
    .await
    .unwrap();
    assert!(
        replies[0].starts_with("451") && replies[1].starts_with("250"),
        "{replies:?}"
    );
    let mail = &mails[0];
    assert_eq!(mail.mail_from, "bounces@trust.example.test");
    assert_eq!(mail.rcpt_to, ["digitalemailbox@example.test"]);
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.data)
        .unwrap();
    assert_eq!(
        parsed
            .header("Trustgate-Document-Id")
            .and_then(|h| h.as_text()),
        Some(format!("{id}-0").as_str())
    );
    assert!(parsed.message_id().is_some() && parsed.date().is_some());
    let xml = String::from_utf8(read_fixture(INVOICE_XML))
        .unwrap()
        .replacen("<cbc:ID>12115118</cbc:ID>", "<cbc:ID>T-5</cbc:ID>", 1);
    let mut files: Vec<(String, Vec<u8>)> = parsed
        .attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap().to_string(),
                a.contents().to_vec(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ("INV-1.xml".to_string(), xml.into_bytes()),
            ("inv-1.PDF".to_string(), b"%PDF-1.4\n%test\n".to_vec())
        ]
    );
    let spool = daemon.spool.clone();
    until("delivered", 10, || {
        state(&spool, &id, "exact") == Some(DeliveryState::Delivered)
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmaster_mail_is_kept_and_forwarded_to_the_postmaster_address() {
    let relay = SmtpRelay::start();
    let tail = relay_config(&relay, "");
    let cfg = TestConfig::with_extras("postmaster = \"hostmaster@ops.example\"", "", "");
    append(&cfg, &tail);
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    // From anyone, about anything: RFC 5321 4.5.1.
    let reply = tokio::task::spawn_blocking(move || {
        Smtp::connect(addr).transaction(
            "someone@stranger.example",
            "postmaster@trust.example.test",
            "From: someone@stranger.example\r\nSubject: your server\r\n\r\nhello\r\n",
        )
    })
    .await
    .unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let mails = tokio::task::spawn_blocking(move || relay.wait_for(1, 30))
        .await
        .unwrap();
    assert_eq!(mails[0].rcpt_to, vec!["hostmaster@ops.example".to_string()]);
    let data = String::from_utf8_lossy(&mails[0].data);
    assert!(data.contains("Subject: your server\r\n\r\nhello"), "{data}");
    let list = daemon.spool.list().unwrap();
    assert_eq!(list.len(), 1, "kept in the spool as well");
    until("the forward is recorded as delivered", 10, || {
        state(&daemon.spool, &list[0].id, "postmaster") == Some(DeliveryState::Delivered)
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn original_mode_forwards_the_message_byte_for_byte_after_one_trace_header() {
    let relay = SmtpRelay::start();
    let tail = relay_config(
        &relay,
        "[[sink]]\nname = \"fwd\"\nkind = \"smtp\"\nto = \"archive@example.test\"\nmode = \"original\"\n",
    );
    let cfg = config(&["fwd"], &tail);
    let daemon = cfg.start().await;
    let id = send_async(daemon.smtp_addrs[0], 6).await;
    let mails = tokio::task::spawn_blocking(move || relay.wait_for(1, 30))
        .await
        .unwrap();
    let raw = daemon.spool.raw(&id).unwrap().unwrap();
    let data = &mails[0].data;
    let first_line_end = data.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    assert!(
        data.starts_with(b"Received: "),
        "{:?}",
        String::from_utf8_lossy(&data[..first_line_end])
    );
    assert_eq!(
        &data[first_line_end..],
        raw.as_slice(),
        "every other byte as it came"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_documents_are_offered_to_a_sink_linked_after_they_arrived() {
    let hook = WebhookServer::start();
    let cfg = config(
        &["erp"],
        &format!("{FAST}{}", webhook_sink("erp", &hook.url(), "")),
    );
    let daemon = cfg.start().await;
    let id = send_async(daemon.smtp_addrs[0], 7).await;
    let spool = daemon.spool.clone();
    until("delivered to erp", 15, || {
        state(&spool, &id, "erp") == Some(DeliveryState::Delivered)
    })
    .await;
    drop(spool);
    daemon.stop().await;

    // The admin links an archive folder and re-offers what acme received today.
    let out = cfg.dir.path().join("archive");
    append(
        &cfg,
        &format!(
            "[[sink]]\nname = \"archive\"\nkind = \"directory\"\npath = \"{}\"\n",
            out.display()
        ),
    );
    let daemon = cfg.start().await;
    let path = cfg.path.clone();
    let since =
        trustgate::spool::format_time(std::time::SystemTime::now() - Duration::from_secs(3600));
    let retry = tokio::task::spawn_blocking(move || {
        cli(
            &path,
            &[
                "spool",
                "retry",
                "--organisation",
                "acme",
                "--since",
                &since,
                "--sink",
                "archive",
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(retry.0, 0, "{retry:?}");
    assert!(retry.1.contains("re-offered 1 delivery"), "{retry:?}");
    let json = out.join(format!("{id}-0.json"));
    until("the archive's .json", 15, || json.exists()).await;
    assert!(out.join(format!("{id}-0.xml")).exists());
    assert!(out.join(format!("{id}-0.pdf")).exists());
    // Nothing went to erp twice.
    assert_eq!(hook.requests().len(), 1);
    daemon.stop().await;
}

#[test]
fn kill9_while_delivering_loses_nothing_and_repeats_only_what_was_in_flight() {
    const N: usize = 100;
    let hook = WebhookServer::start();
    // Slow enough that the kill finds attempts in flight.
    hook.set_delay(Duration::from_millis(200));
    let out = tempfile::tempdir().unwrap();
    let tail = format!(
        "{FAST}{}[[sink]]\nname = \"archive\"\nkind = \"directory\"\npath = \"{}\"\n",
        webhook_sink("erp", &hook.url(), ""),
        out.path().display()
    );
    let cfg = config(&["erp", "archive"], &tail);
    let daemon = Process::serve(&cfg.path);
    let mut ids = Vec::new();
    for n in 0..N {
        ids.push(send(daemon.addr, 100 + n));
    }
    // Kill in the middle of the drain.
    hook.wait_for(N / 3, 60);
    daemon.kill9();
    let before = hook.requests().len();
    assert!(
        before < N,
        "everything was delivered before the kill; slow the hook down"
    );

    let daemon = Process::serve(&cfg.path);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let distinct: std::collections::HashSet<String> = hook
            .requests()
            .iter()
            .map(|r| r.header("webhook-id").unwrap().to_string())
            .collect();
        let files = std::fs::read_dir(out.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".json")
            })
            .count();
        if distinct.len() == N && files == N {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the restart: {} of {N} at the webhook, {files} of {N} in the folder",
            distinct.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every document reached both sinks; the extra webhook deliveries are the ones that
    // were in flight at the kill, each with its own document's id: at most the 4 attempts
    // running, plus the 4 before them whose answers were in but whose settlement was not yet
    // durable (a worker frees its slot once the downstream answered, before the settlement's
    // fsync, so settlements share fsyncs).
    let requests = hook.requests();
    let extra = requests.len() - N;
    assert!(extra <= 8, "{extra} extra deliveries for 4 workers");
    for id in &ids {
        let want = format!("{id}-0.erp@mx.trust.example.test");
        assert!(
            requests
                .iter()
                .any(|r| r.header("webhook-id") == Some(want.as_str())),
            "{want} never delivered"
        );
    }
    daemon.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_drops_a_redelivery_so_the_stream_holds_each_document_once() {
    let Some(nats) = common::peers::NatsServer::start() else {
        return;
    };
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: "INVOICES".into(),
            subjects: vec!["invoices.>".into()],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .unwrap();
    let tail = format!(
        "{FAST}[[sink]]\nname = \"platform\"\nkind = \"nats\"\nurl = \"{}\"\nsubject = \"invoices.{{organisation}}\"\n",
        nats.url()
    );
    let cfg = config(&["platform"], &tail);
    let daemon = cfg.start().await;
    const N: usize = 3;
    let mut ids = Vec::new();
    for n in 0..N {
        ids.push(send_async(daemon.smtp_addrs[0], 200 + n).await);
    }
    let spool = daemon.spool.clone();
    until("all delivered", 30, || {
        ids.iter()
            .all(|id| state(&spool, id, "platform") == Some(DeliveryState::Delivered))
    })
    .await;
    // Each document is two messages: its PDF, then its XML.
    assert_eq!(stream.info().await.unwrap().state.messages, 2 * N as u64);

    // What a crash between the ack and the spool's record does: the same delivery again,
    // with the same Nats-Msg-Id. The duplicate window drops it.
    for id in &ids {
        let path = cfg.path.clone();
        let arg = id.to_string();
        let retry = tokio::task::spawn_blocking(move || {
            cli(&path, &["spool", "retry", &arg, "--sink", "platform"])
        })
        .await
        .unwrap();
        assert_eq!(retry.0, 0, "{retry:?}");
    }
    until("delivered again", 30, || {
        ids.iter().all(|id| {
            spool
                .deliveries(id)
                .unwrap()
                .iter()
                .any(|d| d.record.state == DeliveryState::Delivered && d.record.total_attempts == 2)
        })
    })
    .await;
    assert_eq!(stream.info().await.unwrap().state.messages, 2 * N as u64);
    let last = spool.attempts(&ids[0]).unwrap().pop().unwrap();
    assert!(
        last.record.detail.contains("duplicate"),
        "{:?}",
        last.record
    );

    // The subject and the headers name the organisation and the document.
    let msg = stream
        .get_last_raw_message_by_subject("invoices.acme")
        .await
        .unwrap();
    let headers = msg.headers;
    assert_eq!(
        headers.get("Nats-Msg-Id").map(|v| v.to_string()).unwrap(),
        format!("{}-0.platform@mx.trust.example.test", ids[N - 1])
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_is_down_holds_back_no_other() {
    // Nothing listens at the webhook's port, and it never answers: 20 documents wait for it
    // while the folder gets every one of them.
    let url = format!("http://127.0.0.1:{}/hooks", free_port());
    let out = tempfile::tempdir().unwrap();
    let tail = format!(
        "{FAST}{}[[sink]]\nname = \"archive\"\nkind = \"directory\"\npath = \"{}\"\nlayout = \"by-organisation\"\n",
        webhook_sink("erp", &url, ""),
        out.path().display()
    );
    let cfg = config(&["erp", "archive"], &tail);
    let daemon = cfg.start().await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(send_async(daemon.smtp_addrs[0], 300 + n).await);
    }
    let dir = out.path().join("acme");
    until("every document in the folder", 30, || {
        ids.iter()
            .all(|id| dir.join(format!("{id}-0.json")).exists())
    })
    .await;
    let spool = daemon.spool.clone();
    for id in &ids {
        assert_ne!(state(&spool, id, "erp"), Some(DeliveryState::Delivered));
    }
    daemon.stop().await;
}

/// Documents are not stored apart: each is decoded again from the stored message for
/// delivery. Two invoices in one message and a Factur-X PDF (its XML inside the PDF) arrive
/// with exactly the bytes that were accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_decoded_again_from_the_stored_message_byte_for_byte() {
    let hook = WebhookServer::start();
    let list = "deliver = [\"erp\"]\nbuyer_check = \"off\"";
    let cfg = TestConfig::with_extras("", list, "");
    append(
        &cfg,
        &format!("{FAST}{}", webhook_sink("erp", &hook.url(), "")),
    );
    let daemon = cfg.start().await;

    let xml = |n: &str| {
        String::from_utf8(read_fixture(INVOICE_XML))
            .unwrap()
            .replacen(
                "<cbc:ID>12115118</cbc:ID>",
                &format!("<cbc:ID>{n}</cbc:ID>"),
                1,
            )
            .into_bytes()
    };
    let (a, b) = (xml("TWO-A"), xml("TWO-B"));
    let facturx = read_fixture("invoices/facturx/invoice_EN16931.pdf");
    // An Authentication-Results field that claims our name is left out when the message is
    // stored, and our Received field put before it: the parts' recorded places move with them.
    let body = "Authentication-Results: mx.trust.example.test; spf=pass\r\n".to_string()
        + &common::mail(
            SUPPLIER,
            RECEIVER,
            &[
                ("A.xml", "application/xml", &a),
                ("B.xml", "application/xml", &b),
                ("b.pdf", "application/pdf", b"%PDF-1.4\n%b\n"),
                ("factur-x.pdf", "application/pdf", &facturx),
            ],
        );
    let addr = daemon.smtp_addrs[0];
    let reply = tokio::task::spawn_blocking(move || {
        Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &body)
    })
    .await
    .unwrap();
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let requests = tokio::task::spawn_blocking(move || hook.wait_for(3, 30))
        .await
        .unwrap();
    use base64::Engine as _;
    let decode = |v: &serde_json::Value| {
        v.as_str()
            .map(|s| base64::engine::general_purpose::STANDARD.decode(s).unwrap())
    };
    let mut got: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = requests
        .iter()
        .map(|r| {
            let data = &r.json()["data"];
            (
                data["xml"]["name"].as_str().unwrap().to_string(),
                decode(&data["xml_base64"]).unwrap(),
                decode(&data["pdf_base64"]),
            )
        })
        .collect();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(got[0].0, "A.xml");
    assert_eq!((&got[0].1, &got[0].2), (&a, &None));
    assert_eq!(got[1].0, "B.xml");
    assert_eq!(
        (&got[1].1, &got[1].2),
        (&b, &Some(b"%PDF-1.4\n%b\n".to_vec()))
    );
    // The hybrid invoice: the XML found inside the PDF, and the PDF itself.
    let embedded = trustgate::invoice::invoice_xmls_in_pdf(
        &facturx,
        &trustgate::invoice::PdfLimits::default(),
    )
    .unwrap();
    assert_eq!(got[2].1, embedded[0].bytes);
    assert_eq!(got[2].2.as_deref(), Some(facturx.as_slice()));
    // Delivery read the two parts of the message itself at their recorded places, without
    // parsing it again (the Factur-X XML, inside its PDF, has no place of its own).
    let id = reply
        .split_whitespace()
        .find(|w| w.contains('T') && w.contains('-') && w.len() >= 20)
        .and_then(|w| MessageId::parse(w.trim_end_matches(':')))
        .unwrap();
    let record = daemon.spool.get(&id).unwrap().unwrap();
    let raw = daemon.spool.raw(&id).unwrap().unwrap();
    assert!(
        !raw.windows(8).any(|w| w == b"spf=pass"),
        "the forged field is left out"
    );
    let fast: Vec<&str> = record
        .documents
        .iter()
        .filter(|d| trustgate::delivery::stored::at_recorded_places(&raw, d).is_some())
        .map(|d| d.xml_name.as_str())
        .collect();
    assert_eq!(fast, ["A.xml", "B.xml"]);
    daemon.stop().await;
}
