//! Shared helpers for the integration tests: a config on a temp spool, the daemon in-process
//! or as the built binary, a raw SMTP client, and invoice mails built from the fixtures.
//! Everything listens on 127.0.0.1 only.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use trustgate::config::Config;
use trustgate::daemon::Daemon;

pub mod authdns;
pub mod hostile_pdf;
pub mod peers;

/// The trusted supplier domain of the test config.
pub const SUPPLIER: &str = "invoices@supplier.example";
/// The test receiver (organisation acme, KvK 11111111: the buyer of the SI-UBL fixtures).
pub const RECEIVER: &str = "AD64SDE@trust.example.test";
/// A shared receiver serving acme (KvK 11111111) and beta (KvK 87654321).
pub const SHARED: &str = "SHARED1@trust.example.test";

/// A test config on a fresh temporary spool, listening on an ephemeral loopback port.
pub struct TestConfig {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TestConfig {
    pub fn new() -> TestConfig {
        Self::with_server_extra("")
    }

    /// `extra` is inserted into `[server]` (e.g. `max_message_size = "64KiB"`).
    pub fn with_server_extra(extra: &str) -> TestConfig {
        Self::with_extras(extra, "", "")
    }

    /// `server` goes into `[server]`, `receiver` into the first `[[receiver]]` (AD64SDE),
    /// `shared_extra` into the shared receiver (SHARED1, serving acme and beta).
    pub fn with_extras(extra: &str, receiver: &str, shared_extra: &str) -> TestConfig {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir_all(&spool).unwrap();
        let text = format!(
            r#"
[server]
hostname = "mx.trust.example.test"
listen = ["127.0.0.1:0"]
{extra}

[spool]
path = "{spool}"

[[organisation]]
id = "acme"
name = "ACME B.V."
kvk = "11111111"
vat_ids = ["NL123456789B01"]
verified_users = ["ap@acme.example", "@accountant.example"]

[[organisation]]
id = "beta"
name = "Beta B.V."
kvk = "87654321"
{extra_org}

[[receiver]]
address = "{RECEIVER}"
organisation = "acme"
document_type = "purchase-invoice"
{receiver_auth}{receiver}

[[receiver.trusted_sender]]
name = "Supplier B.V."
contact = "billing@supplier.example"
domain = "supplier.example"

[[receiver.trusted_sender]]
name = "Other Supplier"
contact = "billing@other-supplier.example"
address = "billing@other-supplier.example"

[[receiver.trusted_sender]]
name = "ACME's own staff"
contact = "ap@acme.example"
verified_users = true

[[receiver]]
address = "{SHARED}"
organisations = ["acme", "beta"]
document_type = "purchase-invoice"
{shared_auth}{extra_shared}

[[receiver.trusted_sender]]
name = "Supplier B.V."
contact = "billing@supplier.example"
domain = "supplier.example"
"#,
            spool = spool.display(),
            extra_org = "",
            extra_shared = shared_extra,
            // These tests are about everything but authentication (tests/auth.rs): the
            // identities are taken as written unless a test sets its own `auth`.
            receiver_auth = if receiver.contains("auth =") {
                ""
            } else {
                "auth = \"none\"\n"
            },
            shared_auth = if shared_extra.contains("auth =") {
                ""
            } else {
                "auth = \"none\"\n"
            },
        );
        let path = dir.path().join("trustgate.toml");
        std::fs::write(&path, text).unwrap();
        TestConfig { dir, path }
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    pub fn load(&self) -> Config {
        Config::load(&self.path).unwrap_or_else(|e| panic!("test config invalid:\n{e}"))
    }

    pub async fn start(&self) -> Daemon {
        Daemon::start(&self.load()).await.unwrap()
    }
}

/// The path of a fixture file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn read_fixture(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// A valid SI-UBL invoice used by most tests.
pub const INVOICE_XML: &str = "invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml";

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for j in 0..4 {
            if j <= chunk.len() {
                out.push(T[(n >> (18 - 6 * j) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A MIME message (CRLF line endings, no final dot) with the given attachments.
pub fn mail(from: &str, to: &str, attachments: &[(&str, &str, &[u8])]) -> String {
    let mut m = format!(
        "From: Supplier <{from}>\r\nTo: <{to}>\r\nSubject: Invoice\r\nMessage-ID: <{}@supplier.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n\
--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease find our invoice attached.\r\n",
        std::process::id()
    );
    for (name, ctype, bytes) in attachments {
        m.push_str(&format!(
            "--BOUNDARY\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(bytes)
        ));
    }
    m.push_str("--BOUNDARY--\r\n");
    m
}

/// The standard invoice mail: INV-1.xml with its inv-1.PDF.
pub fn invoice_mail(from: &str) -> String {
    let xml = read_fixture(INVOICE_XML);
    mail(
        from,
        RECEIVER,
        &[
            ("INV-1.xml", "application/xml", &xml),
            ("inv-1.PDF", "application/pdf", b"%PDF-1.4\n%test\n"),
        ],
    )
}

/// A blocking line-oriented SMTP client over a real socket.
pub struct Smtp {
    pub reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    /// Connects and reads the banner (asserting 220).
    pub fn connect(addr: SocketAddr) -> Smtp {
        let s = Smtp::connect_raw(addr);
        let mut s = s;
        s.expect("220");
        s
    }

    /// Connects without reading anything.
    pub fn connect_raw(addr: SocketAddr) -> Smtp {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Smtp {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    pub fn send(&mut self, data: &str) {
        self.writer.write_all(data.as_bytes()).unwrap();
    }

    pub fn send_bytes(&mut self, data: &[u8]) {
        self.writer.write_all(data).unwrap();
    }

    /// Reads one (possibly multi-line) reply; returns its last line.
    pub fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "connection closed while waiting for a reply");
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return line.trim_end().to_string();
            }
        }
    }

    /// Reads a reply and asserts it starts with `prefix` (e.g. `"250 2.0.0"`); returns it.
    pub fn expect(&mut self, prefix: &str) -> String {
        let r = self.reply();
        assert!(r.starts_with(prefix), "expected {prefix:?}, got {r:?}");
        r
    }

    /// Sends a command line and expects a reply prefix.
    pub fn cmd(&mut self, line: &str, prefix: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.expect(prefix)
    }

    /// EHLO, MAIL, RCPT and DATA, each accepted: the session is ready for the body.
    pub fn open_data(&mut self, from: &str, to: &str) {
        self.cmd("EHLO client.supplier.example", "250");
        self.cmd(&format!("MAIL FROM:<{from}>"), "250");
        self.cmd(&format!("RCPT TO:<{to}>"), "250");
        self.cmd("DATA", "354");
    }

    /// EHLO, MAIL, RCPT, DATA, body, dot; returns the final reply line.
    pub fn transaction(&mut self, from: &str, to: &str, body: &str) -> String {
        self.open_data(from, to);
        self.send(body);
        self.send(".\r\n");
        self.reply()
    }

    /// Whether the server closed the connection (EOF within the read timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }
}

/// The built `trustgate` binary running `serve` on a config, with its stderr watched.
pub struct Process {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every line the daemon logged so far (also echoed to the test's stderr).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The first implicit-TLS address (`listen_tls`), if any.
    pub tls_addr: Option<SocketAddr>,
}

impl Process {
    /// Starts `trustgate serve --config PATH` and waits until it logs its listening address.
    pub fn serve(config: &Path) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trustgate"));
        command.args(["serve", "--config"]).arg(config);
        Process::start(command)
    }

    /// As [`Process::serve`], with these environment variables set (e.g. `NOTIFY_SOCKET`).
    pub fn serve_with_env(config: &Path, env: &[(&str, &str)]) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trustgate"));
        command.args(["serve", "--config"]).arg(config);
        for (k, v) in env {
            command.env(k, v);
        }
        Process::start(command)
    }

    /// As [`Process::serve`], with at most `files` open file descriptors (`ulimit -n` in a
    /// shell that then becomes the daemon).
    pub fn serve_with_nofile(config: &Path, files: u32) -> Process {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!(
                "ulimit -n {files} && exec \"$0\" serve --config \"$1\""
            ))
            .arg(env!("CARGO_BIN_EXE_trustgate"))
            .arg(config);
        Process::start(command)
    }

    fn start(mut command: Command) -> Process {
        let mut child = command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && line.contains("trustgate started") {
                    let _ = tx.send(line.clone());
                    sent = true;
                }
                eprintln!("[daemon] {line}");
                kept.lock().unwrap().push(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the daemon did not log `trustgate started` within 60 s");
        let addr = parse_listen(&line).unwrap_or_else(|| panic!("no address in {line:?}"));
        let tls_addr = line
            .split_once("listen_tls=")
            .and_then(|(_, rest)| parse_listen(rest));
        Process {
            child,
            addr,
            log,
            tls_addr,
        }
    }

    /// The log lines so far that contain every one of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .cloned()
            .collect()
    }

    /// Waits up to `timeout` for a log line that contains every one of `needles`.
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.log_lines(needles).into_iter().next() {
                return Some(line);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for exit; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds `127.0.0.1:PORT` in a log line.
fn parse_listen(line: &str) -> Option<SocketAddr> {
    let start = line.find("127.0.0.1:")?;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The sample SI-UBL invoice with invoice number `number`.
pub fn numbered_invoice_xml(number: &str) -> Vec<u8> {
    String::from_utf8(read_fixture(INVOICE_XML))
        .unwrap()
        .replacen(
            "<cbc:ID>12115118</cbc:ID>",
            &format!("<cbc:ID>{number}</cbc:ID>"),
            1,
        )
        .into_bytes()
}

/// Sends the sample invoice, renumbered `number`, with a PDF, from `from` to RECEIVER; asserts
/// the 250 and returns the message id it names.
pub fn send_numbered_invoice(addr: SocketAddr, from: &str, number: &str) -> String {
    send_numbered_invoice_to(addr, from, RECEIVER, number)
}

/// The message id a `250 2.0.0 queued as ID: ...` reply names.
pub fn queued_id(reply: &str) -> String {
    reply
        .split_whitespace()
        .find(|w| w.contains('T') && w.contains('-') && w.len() >= 20)
        .unwrap_or_else(|| panic!("no message id in {reply:?}"))
        .trim_end_matches(':')
        .to_string()
}

/// `spool list --json` output (one JSON object per line) as one JSON array.
pub fn ndjson(out: &str) -> serde_json::Value {
    serde_json::Value::Array(
        out.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect(),
    )
}

/// Runs the `trustgate` CLI with a config and returns (exit code, stdout, stderr).
pub fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// As [`send_numbered_invoice`], to `to` (e.g. [`SHARED`]).
pub fn send_numbered_invoice_to(addr: SocketAddr, from: &str, to: &str, number: &str) -> String {
    let xml = numbered_invoice_xml(number);
    let body = mail(
        from,
        to,
        &[
            ("INV-1.xml", "application/xml", &xml),
            ("INV-1.pdf", "application/pdf", b"%PDF-1.4\n%test\n"),
        ],
    );
    let reply = Smtp::connect(addr).transaction(from, to, &body);
    assert!(reply.starts_with("250"), "{reply}");
    queued_id(&reply)
}

/// Runs the CLI as [`cli`] does, off the async runtime (it may ask this process's daemon over
/// the control socket, which the runtime serves).
pub async fn cli_off_runtime(cfg: &TestConfig, args: &[&str]) -> (i32, String, String) {
    let path = cfg.path.clone();
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&path, &args)
    })
    .await
    .unwrap()
}
