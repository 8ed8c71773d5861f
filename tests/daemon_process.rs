//! The built `trustgate` binary as an admin runs it: kill -9 at named points and restart,
//! the spool CLI while the daemon runs and after it stopped, swaks and Python's smtplib as
//! clients, SIGTERM. Loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{
    INVOICE_XML, Process, RECEIVER, SUPPLIER, Smtp, TestConfig, cli, fixture, invoice_mail,
};

fn spool_ids(cfg: &TestConfig) -> Vec<String> {
    let (code, out, err) = cli(&cfg.path, &["spool", "list", "--json", "--full"]);
    assert_eq!(code, 0, "spool list failed: {err}");
    let list = common::ndjson(&out);
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn kill9_right_after_250_loses_nothing() {
    let cfg = TestConfig::new();
    let daemon = Process::serve(&cfg.path);
    let mut accepted = Vec::new();
    for _ in 0..3 {
        let r = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &invoice_mail(SUPPLIER));
        assert!(r.starts_with("250 2.0.0"), "{r}");
        accepted.push(r);
    }
    // The moment the client has its 250, the process dies without any chance to flush.
    daemon.kill9();

    let ids = spool_ids(&cfg); // opens the store directly: no daemon is running
    assert_eq!(ids.len(), 3, "acknowledged messages lost: {ids:?}");
    for (reply, id) in accepted.iter().zip(&ids) {
        assert!(reply.contains(id.as_str()), "{reply} vs {id}");
    }
    // And the daemon starts again on the same spool and still has them.
    let daemon = Process::serve(&cfg.path);
    assert_eq!(spool_ids(&cfg).len(), 3);
    daemon.kill9();
}

#[test]
fn kill9_in_the_middle_of_data_stores_nothing() {
    // A small large-body threshold makes the half-received body spill to a staging file, so
    // the test also proves start-up removes it.
    let cfg = TestConfig::new();
    let text = std::fs::read_to_string(&cfg.path)
        .unwrap()
        .replace("[spool]\n", "[spool]\nlarge_body_threshold = \"4KiB\"\n");
    std::fs::write(&cfg.path, text).unwrap();
    let daemon = Process::serve(&cfg.path);
    let mut s = Smtp::connect(daemon.addr);
    s.open_data(SUPPLIER, RECEIVER);
    let body = common::mail(
        SUPPLIER,
        RECEIVER,
        &[
            (
                "INV-1.xml",
                "application/xml",
                &common::read_fixture(INVOICE_XML),
            ),
            ("INV-1.pdf", "application/pdf", &vec![b'%'; 64 * 1024]),
        ],
    );
    s.send(&body[..body.len() - 10]);
    // Wait until the half-received body has spilled to its staging file, then kill.
    let bodies = cfg.spool_dir().join("bodies");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !files_in(&bodies).iter().any(|f| f.ends_with(".tmp")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no staging file appeared: {:?}",
            files_in(&bodies)
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    daemon.kill9();

    let daemon = Process::serve(&cfg.path);
    assert!(spool_ids(&cfg).is_empty());
    let leftovers: Vec<_> = files_in(&cfg.spool_dir().join("bodies"))
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging files left after restart: {leftovers:?}"
    );
    daemon.kill9();
}

#[test]
fn spool_cli_works_while_the_daemon_runs() {
    let cfg = TestConfig::new();
    let daemon = Process::serve(&cfg.path);
    let r = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &invoice_mail(SUPPLIER));
    assert!(r.starts_with("250"), "{r}");

    // redb lets one process open the store: these go through the daemon's control socket.
    let ids = spool_ids(&cfg);
    assert_eq!(ids.len(), 1);
    let (code, out, err) = cli(&cfg.path, &["spool", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&ids[0]), "{out}");
    let (code, out, err) = cli(&cfg.path, &["spool", "show", &ids[0]]);
    assert_eq!(code, 0, "{err}");
    for expected in ["INV-1.xml", "inv-1.PDF", SUPPLIER, RECEIVER] {
        assert!(out.contains(expected), "show lacks {expected}: {out}");
    }
    let (code, raw, _) = cli(&cfg.path, &["spool", "show", &ids[0], "--raw"]);
    assert_eq!(code, 0);
    // The message as sent, under our trace field (RFC 5321 4.4).
    let (trace, sent) = raw
        .split_once("\r\nFrom: ")
        .expect("the stored message keeps its From");
    assert!(
        trace.starts_with("Received: from client.supplier.example ([127.0.0.1]:"),
        "{trace}"
    );
    assert!(trace.contains(&format!("id {}", ids[0])), "{trace}");
    assert_eq!(
        format!("From: {sent}"),
        invoice_mail(SUPPLIER),
        "raw message differs from what was sent"
    );
    let (code, _, _) = cli(&cfg.path, &["spool", "show", "NO-SUCH-ID"]);
    assert_eq!(code, 1);

    assert_eq!(daemon.terminate(), Some(0), "SIGTERM is a clean exit");
    assert_eq!(
        spool_ids(&cfg),
        ids,
        "the same after stop, read directly from the store"
    );
}

#[test]
fn swaks_sends_an_invoice_with_attachments() {
    let cfg = TestConfig::new();
    let daemon = Process::serve(&cfg.path);
    let out = Command::new("swaks")
        .args([
            "--server",
            &daemon.addr.ip().to_string(),
            "--port",
            &daemon.addr.port().to_string(),
        ])
        .args([
            "--from",
            SUPPLIER,
            "--to",
            RECEIVER,
            "--helo",
            "erp.supplier.example",
        ])
        .args(["--header", "Subject: Invoice INV-1"])
        .arg("--attach-type")
        .arg("application/xml")
        .arg("--attach-name")
        .arg("INV-1.xml")
        .arg("--attach")
        .arg(format!("@{}", fixture(INVOICE_XML).display()))
        .output()
        .expect("swaks is needed: scripts/test.sh installs it");
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "swaks failed:\n{transcript}");
    assert!(
        transcript.contains("<-  250 2.0.0 queued as"),
        "{transcript}"
    );
    assert_eq!(spool_ids(&cfg).len(), 1);

    // A refusal is a refusal for swaks too (exit code 24: RCPT refused).
    let out = Command::new("swaks")
        .args([
            "--server",
            &daemon.addr.ip().to_string(),
            "--port",
            &daemon.addr.port().to_string(),
        ])
        .args(["--from", "someone@stranger.example", "--to", RECEIVER])
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(transcript.contains("<** 550 5.7.1"), "{transcript}");
    daemon.kill9();
}

#[test]
fn python_smtplib_sends_an_invoice() {
    let cfg = TestConfig::new();
    let daemon = Process::serve(&cfg.path);
    let script = r#"
import smtplib, sys
from email.message import EmailMessage
host, port, path, sender, rcpt = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
msg = EmailMessage()
msg["From"] = sender
msg["To"] = rcpt
msg["Subject"] = "Invoice"
msg.set_content("Invoice attached.")
with open(path, "rb") as f:
    msg.add_attachment(f.read(), maintype="application", subtype="xml", filename="Factuur 2026-001.xml")
msg.add_attachment(b"%PDF-1.4\n", maintype="application", subtype="pdf", filename="factuur 2026-001.pdf")
with smtplib.SMTP(host, port) as s:
    s.ehlo("erp.supplier.example")
    refused = s.send_message(msg)
    print("refused", refused)
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &daemon.addr.ip().to_string(),
            &daemon.addr.port().to_string(),
        ])
        .arg(fixture(INVOICE_XML))
        .args([SUPPLIER, RECEIVER])
        .output()
        .expect("python3 is needed");
    assert!(
        out.status.success(),
        "smtplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids = spool_ids(&cfg);
    assert_eq!(ids.len(), 1);
    let (_, show, _) = cli(&cfg.path, &["spool", "show", &ids[0]]);
    assert!(
        show.contains("Factuur 2026-001.xml") && show.contains("factuur 2026-001.pdf"),
        "{show}"
    );
    daemon.kill9();
}

#[test]
fn the_accept_loop_survives_running_out_of_file_descriptors() {
    // 64 descriptors: the spool, the runtime and the listener take some, so a few dozen
    // connections exhaust them and accept() fails with EMFILE (SMTP-HARDENING: never exit).
    let cfg = TestConfig::with_server_extra(
        "max_connections_per_ip = 1000\nmax_connections_per_minute = 0\nmax_connections_per_minute_per_network = 0",
    );
    let daemon = Process::serve_with_nofile(&cfg.path, 64);
    let mut held = Vec::new();
    for _ in 0..200 {
        // Once the accept backlog is full too, a connect waits for SYN retries: stop there.
        match std::net::TcpStream::connect_timeout(
            &daemon.addr,
            std::time::Duration::from_millis(300),
        ) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    assert!(held.len() > 64, "only {} connections", held.len());
    // Some of them were greeted, the rest wait in the backlog while accept() fails.
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(held);
    // The daemon is still there, and greets again once descriptors are free.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = std::panic::catch_unwind(|| {
            Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &invoice_mail(SUPPLIER))
        });
        if let Ok(r) = r
            && r.starts_with("250")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no session after the descriptors were freed"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(daemon.terminate(), Some(0));
}

/// The test config plus a receiver whose supplier `secure.example` is trusted only over TLS,
/// and which also trusts `supplier.example` in clear text; with a self-signed certificate for
/// STARTTLS.
fn tls_required_config() -> TestConfig {
    let cfg = TestConfig::new();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = cfg.dir.path().join("cert.pem");
    let key = cfg.dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let text = std::fs::read_to_string(&cfg.path).unwrap().replacen(
        "\n[spool]\n",
        &format!(
            "\n[server.tls]\ncertificate = \"{}\"\nkey = \"{}\"\n\n[spool]\n",
            cert.display(),
            key.display()
        ),
        1,
    );
    let text = format!(
        "{text}
[[receiver]]
address = \"TLS1@trust.example.test\"
organisation = \"acme\"
document_type = \"purchase-invoice\"
auth = \"none\"

[[receiver.trusted_sender]]
name = \"Secure B.V.\"
contact = \"billing@secure.example\"
domain = \"secure.example\"
require_tls = true

[[receiver.trusted_sender]]
name = \"Supplier B.V.\"
contact = \"billing@supplier.example\"
domain = \"supplier.example\"
"
    );
    std::fs::write(&cfg.path, text).unwrap();
    cfg
}

/// swaks with an invoice from `from` (envelope) and `header_from` to TLS1, with or without
/// STARTTLS; returns the transcript.
fn swaks_to_tls1(addr: std::net::SocketAddr, from: &str, header_from: &str, tls: bool) -> String {
    let mut cmd = Command::new("swaks");
    cmd.args([
        "--server",
        &addr.ip().to_string(),
        "--port",
        &addr.port().to_string(),
    ])
    .args(["--from", from, "--to", "TLS1@trust.example.test"])
    .args(["--helo", "erp.secure.example"])
    .args(["--header", &format!("From: {header_from}")])
    .args([
        "--attach-type",
        "application/xml",
        "--attach-name",
        "INV-1.xml",
    ])
    .arg("--attach")
    .arg(format!("@{}", fixture(INVOICE_XML).display()));
    if tls {
        cmd.arg("--tls");
    }
    let out = cmd
        .output()
        .expect("swaks is needed: scripts/test.sh installs it");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_sender_trusted_only_over_tls_is_refused_in_clear_text() {
    let cfg = tls_required_config();
    let daemon = Process::serve(&cfg.path);
    // In clear text: refused at MAIL, for the envelope sender.
    let t = swaks_to_tls1(
        daemon.addr,
        "billing@secure.example",
        "billing@secure.example",
        false,
    );
    assert!(t.contains("<** 530 5.7.0"), "{t}");
    // Nor can another trusted envelope sender carry its header From in clear text.
    let t = swaks_to_tls1(
        daemon.addr,
        "invoices@supplier.example",
        "billing@secure.example",
        false,
    );
    assert!(t.contains("<** 530 5.7.0"), "{t}");
    assert!(!t.contains("queued as"), "{t}");
    // Over STARTTLS it is accepted.
    let t = swaks_to_tls1(
        daemon.addr,
        "billing@secure.example",
        "billing@secure.example",
        true,
    );
    // swaks marks what it read inside TLS with `<~`.
    assert!(t.contains("<~  250 2.0.0 queued as"), "{t}");
    // The clear-text supplier of the same receiver is not affected.
    let t = swaks_to_tls1(
        daemon.addr,
        "invoices@supplier.example",
        "invoices@supplier.example",
        false,
    );
    assert!(t.contains("<-  250 2.0.0 queued as"), "{t}");
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn an_implicit_tls_listener_speaks_tls_from_the_first_byte() {
    let cfg = tls_required_config();
    let text = std::fs::read_to_string(&cfg.path).unwrap().replacen(
        "listen = [\"127.0.0.1:0\"]",
        "listen = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]",
        1,
    );
    std::fs::write(&cfg.path, text).unwrap();
    let daemon = Process::serve(&cfg.path);
    let tls_addr = daemon.tls_addr.expect("the implicit TLS address is logged");
    // swaks --tlsc: the handshake first, then the banner; the TLS-only sender is accepted.
    let out = Command::new("swaks")
        .args([
            "--server",
            &tls_addr.ip().to_string(),
            "--port",
            &tls_addr.port().to_string(),
        ])
        .arg("--tlsc")
        .args([
            "--from",
            "billing@secure.example",
            "--to",
            "TLS1@trust.example.test",
        ])
        .args(["--helo", "erp.secure.example"])
        .args([
            "--attach-type",
            "application/xml",
            "--attach-name",
            "INV-1.xml",
        ])
        .arg("--attach")
        .arg(format!("@{}", fixture(INVOICE_XML).display()))
        .output()
        .expect("swaks is needed: scripts/test.sh installs it");
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("TLS started"), "{t}");
    assert!(t.contains("<~  220 "), "the banner comes inside TLS: {t}");
    assert!(!t.contains("STARTTLS"), "no STARTTLS inside TLS: {t}");
    assert!(t.contains("<~  250 2.0.0 queued as"), "{t}");
    // A client that speaks SMTP in clear text to it gets no banner.
    let mut plain = std::net::TcpStream::connect(tls_addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    std::io::Write::write_all(&mut plain, b"EHLO x\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut plain, &mut buf).unwrap_or(0);
    assert!(!buf[..n].starts_with(b"220"), "{:?}", &buf[..n]);
    assert_eq!(daemon.terminate(), Some(0));
}

/// A Python smtplib client that stays connected: it says `READY <sha256 of the server
/// certificate>` after STARTTLS, then on each line of stdin sends one message in the same
/// session and prints its reply code.
const TLS_CLIENT: &str = r#"
import hashlib, smtplib, ssl, sys
host, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP(host, port, timeout=30)
s.ehlo("erp.secure.example")
s.starttls(context=ctx)
s.ehlo("erp.secure.example")
der = s.sock.getpeercert(binary_form=True)
print("READY " + hashlib.sha256(der).hexdigest(), flush=True)
for line in sys.stdin:
    msg = sys.argv[3]
    code = s.sendmail("billing@secure.example", ["TLS1@trust.example.test"], msg)
    print("SENT", flush=True)
s.quit()
"#;

/// The SHA-256 of the certificate a fresh STARTTLS handshake gets.
fn served_certificate(addr: std::net::SocketAddr) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            TLS_CLIENT,
            &addr.ip().to_string(),
            &addr.port().to_string(),
            "",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("READY "))
        .unwrap_or_else(|| panic!("{text} {}", String::from_utf8_lossy(&out.stderr)))
        .to_string()
}

fn der_sha256(pem: &str) -> String {
    use rustls_pki_types::pem::PemObject as _;
    use sha2::Digest as _;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    sha2::Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn sighup_reloads_the_certificate_without_dropping_a_session() {
    use std::io::{BufRead as _, Write as _};
    let cfg = tls_required_config();
    let cert = cfg.dir.path().join("cert.pem");
    let key = cfg.dir.path().join("key.pem");
    let first = der_sha256(&std::fs::read_to_string(&cert).unwrap());
    let daemon = Process::serve(&cfg.path);
    assert_eq!(served_certificate(daemon.addr), first);

    // A session over TLS, open across the reload.
    let message =
        invoice_mail("billing@secure.example").replace(RECEIVER, "TLS1@trust.example.test");
    let mut open = Command::new("python3")
        .args([
            "-c",
            TLS_CLIENT,
            &daemon.addr.ip().to_string(),
            &daemon.addr.port().to_string(),
            &message,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(open.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert_eq!(ready, format!("READY {first}"));

    // A renewed certificate, then SIGHUP.
    let renewed = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(&cert, renewed.cert.pem()).unwrap();
    std::fs::write(&key, renewed.signing_key.serialize_pem()).unwrap();
    let second = der_sha256(&renewed.cert.pem());
    assert_ne!(first, second);
    let hup = |pid: u32| {
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
    };
    assert!(hup(daemon.child.id()).success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while served_certificate(daemon.addr) != second {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate is not served"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // The session opened before still delivers a message.
    let mut stdin = open.stdin.take().unwrap();
    writeln!(stdin, "send").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "SENT");
    drop(stdin);
    assert!(open.wait().unwrap().success());

    // A broken file on the next SIGHUP: the daemon keeps serving the last good certificate.
    std::fs::write(&key, "not a key").unwrap();
    assert!(hup(daemon.child.id()).success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(served_certificate(daemon.addr), second);
    assert_eq!(daemon.terminate(), Some(0));
}

/// `serve --log-format json`: every log line is one JSON object, for log shippers.
#[test]
fn json_logs_are_one_object_per_line() {
    // Asked for on the command line, and by `[log] format` in the config.
    json_logs_from(&["serve", "--log-format", "json"], "");
    json_logs_from(&["serve"], "\n[log]\nformat = \"json\"\n");
}

fn json_logs_from(args: &[&str], config_tail: &str) {
    use std::io::BufRead as _;
    let cfg = TestConfig::new();
    let text = std::fs::read_to_string(&cfg.path).unwrap();
    std::fs::write(&cfg.path, format!("{text}{config_tail}")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .args(args)
        .arg("--config")
        .arg(&cfg.path)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let started = loop {
        let line = lines.next().expect("the daemon ended").unwrap();
        let value: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        seen.push(value.clone());
        if value["fields"]["message"] == "trustgate started" {
            break value;
        }
    };
    assert_eq!(started["level"], "INFO");
    assert!(started["timestamp"].is_string());
    assert!(
        started["fields"]["listen"]
            .as_str()
            .is_some_and(|l| l.contains("127.0.0.1:")),
        "{started}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// SIGTERM to the real process while a client is inside DATA: the message in progress is
/// finished and committed (250, and it is in the spool after the exit), the next command gets
/// 421 4.3.2, new connections are refused, and the daemon exits 0. Never silence, nothing lost.
#[test]
fn sigterm_during_data_finishes_the_message_and_exits_0() {
    let cfg = TestConfig::with_server_extra("shutdown_timeout = \"20s\"");
    let daemon = Process::serve(&cfg.path);
    let mut s = Smtp::connect(daemon.addr);
    s.open_data(SUPPLIER, RECEIVER);
    let body = invoice_mail(SUPPLIER);
    let (head, tail) = body.split_at(body.len() / 2);
    s.send(head);
    // The daemon stops listening at SIGTERM: wait for that, with the session still in DATA.
    assert!(
        Command::new("kill")
            .args(["-TERM", &daemon.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        daemon
            .wait_for_log(&["shutting down"], std::time::Duration::from_secs(10))
            .is_some(),
        "the daemon did not log its shutdown"
    );
    s.send(tail);
    s.send(".\r\n");
    let reply = s.reply();
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let id = common::queued_id(&reply);
    // The session is told, not dropped: 421 4.3.2 right after the 250, then the end.
    let next = s.reply();
    assert!(next.starts_with("421 4.3.2"), "{next}");
    assert!(s.is_closed());
    assert_eq!(daemon.terminate(), Some(0));
    // The acknowledged message is in the spool after the exit.
    assert_eq!(spool_ids(&cfg), vec![id]);
}

/// SIGTERM while a client stalls inside DATA: the daemon waits at most `[server]
/// shutdown_timeout`, answers 421 4.3.2 (a 4xx: the client keeps the message and retries),
/// stores nothing half-received, and exits 0.
#[test]
fn sigterm_with_a_stalled_data_exits_within_the_shutdown_timeout() {
    let cfg = TestConfig::with_server_extra("shutdown_timeout = \"2s\"");
    let daemon = Process::serve(&cfg.path);
    let mut s = Smtp::connect(daemon.addr);
    s.open_data(SUPPLIER, RECEIVER);
    let body = invoice_mail(SUPPLIER);
    s.send(&body[..body.len() / 2]);
    let started = std::time::Instant::now();
    assert_eq!(daemon.terminate(), Some(0));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    // The client is told, never left in silence: 421 4.3.2 (retry later), never a 250.
    let mut line = String::new();
    let _ = std::io::BufRead::read_line(&mut s.reader, &mut line);
    assert!(
        line.starts_with("421 4.3.2"),
        "unexpected answer to a cut DATA: {line:?}"
    );
    assert!(spool_ids(&cfg).is_empty());
}

/// Every line about a message carries its queue id, Postfix's way: one grep of the id finds
/// its arrival (client, HELO, envelope), its storage and its delivery. A duplicate is logged
/// with its own id and the first one's.
#[test]
fn one_grep_of_the_queue_id_follows_a_message_from_arrival_to_delivery() {
    let out = tempfile::tempdir().unwrap();
    let cfg = TestConfig::with_extras("", "deliver = [\"folder\"]", "");
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[[sink]]\nname = \"folder\"\nkind = \"directory\"\npath = \"{}\"\n",
        out.path().display()
    ));
    std::fs::write(&cfg.path, text).unwrap();
    let daemon = Process::serve(&cfg.path);
    let wait = std::time::Duration::from_secs(30);

    let id = common::send_numbered_invoice(daemon.addr, SUPPLIER, "LOG-1");
    let delivered = daemon.wait_for_log(&[&id, "document delivered"], wait);
    assert!(delivered.is_some(), "no delivery line with {id}");
    let arrival = daemon.log_lines(&[&id, "message received"]);
    assert_eq!(arrival.len(), 1, "{arrival:?}");
    assert!(
        arrival[0].contains("client=127.0.0.1:")
            && arrival[0].contains("helo=client.supplier.example")
            && arrival[0].contains(SUPPLIER)
            && arrival[0].contains(RECEIVER),
        "{}",
        arrival[0]
    );
    assert_eq!(daemon.log_lines(&[&id, "message stored"]).len(), 1);

    // The same invoice again: stored under a new id, logged as a duplicate of the first.
    let again = common::send_numbered_invoice(daemon.addr, SUPPLIER, "LOG-1");
    assert_ne!(again, id);
    // The log is read through a pipe: wait for the line rather than race the reader thread.
    let duplicate = daemon.wait_for_log(&[&again, "duplicate invoice", &id], wait);
    assert!(duplicate.is_some(), "{:?}", daemon.log_lines(&[&again]));
    assert_eq!(
        daemon.log_lines(&[&again, "duplicate invoice", &id]).len(),
        1
    );
    assert!(
        daemon.log_lines(&[&again, "document delivered"]).is_empty(),
        "a duplicate was delivered"
    );

    // The very same message retransmitted (a client that never saw our 250): logged as a
    // resend of the first under its own id.
    let body = common::invoice_mail(SUPPLIER);
    let first = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &body);
    let resent = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &body);
    let (first, resent) = (common::queued_id(&first), common::queued_id(&resent));
    let line = daemon.wait_for_log(&[&resent, "resend", &first], wait);
    assert!(line.is_some(), "{:?}", daemon.log_lines(&[&resent]));
    assert_eq!(daemon.terminate(), Some(0));
}

/// A webhook config: AD64SDE delivers to `erp`, answered by `hook`.
fn webhook_config(hook: &common::peers::WebhookServer, server: &str) -> TestConfig {
    let cfg = TestConfig::with_extras(server, "deliver = [\"erp\"]", "");
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[[sink]]\nname = \"erp\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ntimeout = \"30s\"\n",
        hook.url()
    ));
    std::fs::write(&cfg.path, text).unwrap();
    cfg
}

/// The state of each delivery of message `id`, by `spool list --json --full`.
fn delivery_states(cfg: &TestConfig, id: &str) -> Vec<String> {
    let (code, out, err) = cli(&cfg.path, &["spool", "list", "--json", "--full"]);
    assert_eq!(code, 0, "{err}");
    let list = common::ndjson(&out);
    let shown = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no message {id} in {list}"))
        .clone();
    shown["deliveries"]
        .as_array()
        .unwrap_or_else(|| panic!("no deliveries in {shown}"))
        .iter()
        .map(|d| d["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// SIGTERM while a delivery is in flight: the attempt is allowed to finish and its outcome is
/// recorded (delivered, not sent again after a restart), within `[server] shutdown_timeout`.
#[test]
fn sigterm_lets_a_delivery_in_flight_finish_and_record_it() {
    let hook = common::peers::WebhookServer::start();
    hook.set_delay(std::time::Duration::from_millis(1500));
    let cfg = webhook_config(&hook, "shutdown_timeout = \"20s\"");
    let daemon = Process::serve(&cfg.path);
    let id = common::send_numbered_invoice(daemon.addr, SUPPLIER, "TERM-1");
    // The webhook has the request and is still answering when SIGTERM comes.
    hook.wait_for(1, 30);
    assert_eq!(daemon.terminate(), Some(0));
    assert_eq!(delivery_states(&cfg, &id), vec!["delivered".to_string()]);
    assert_eq!(hook.requests().len(), 1);
}

/// A delivery that does not finish within `[server] shutdown_timeout` is dropped, the daemon
/// still exits 0 in time, and the delivery is pending again: sent after the restart.
#[test]
fn sigterm_returns_a_delivery_that_outlasts_the_timeout_to_the_queue() {
    let hook = common::peers::WebhookServer::start();
    hook.set_delay(std::time::Duration::from_secs(8));
    let cfg = webhook_config(&hook, "shutdown_timeout = \"1s\"");
    let daemon = Process::serve(&cfg.path);
    let id = common::send_numbered_invoice(daemon.addr, SUPPLIER, "TERM-2");
    hook.wait_for(1, 30);
    let started = std::time::Instant::now();
    assert_eq!(daemon.terminate(), Some(0));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    let states = delivery_states(&cfg, &id);
    assert_eq!(states.len(), 1);
    assert_ne!(states[0], "delivered", "{states:?}");
    // After the restart it is sent again (once its lease ran out) and delivered.
    hook.set_delay(std::time::Duration::ZERO);
    let daemon = Process::serve(&cfg.path);
    hook.wait_for(2, 90);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while delivery_states(&cfg, &id) != vec!["delivered".to_string()] {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            delivery_states(&cfg, &id)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(daemon.terminate(), Some(0));
}
