//! The delivery sinks against real peers on loopback: a small HTTP/1.1 server for the webhook,
//! a small scripted SMTP server for the relay, and `nats-server` (when installed) for NATS.
//! Each test asserts what the peer received and how its answer was read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::peers::NatsServer;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use trustgate::delivery::payload::FileMeta;
use trustgate::delivery::sink::Sink;
use trustgate::delivery::sink::nats::{NatsOptions, NatsSink};
use trustgate::delivery::sink::smtp::{RelayOptions, RelayTls, SmtpMode, SmtpOptions, SmtpSink};
use trustgate::delivery::sink::webhook::{WebhookOptions, WebhookPayload, WebhookSink};
use trustgate::delivery::{DocumentMeta, Item, Outcome};

const XML: &[u8] = include_bytes!("fixtures/webhook/invoice.xml");
const PDF: &[u8] = include_bytes!("fixtures/webhook/visual.pdf");
const RAW: &[u8] = include_bytes!("fixtures/webhook/original.eml");

const DELIVERY_ID: &str = "20261122T101530Z-000001-0.erp";
const SECRET: &[u8] = b"a-secret-of-thirty-two-bytes-for";

/// Bounds every wait on a peer, so a broken sink fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(20);

fn item(pdf: bool) -> Item {
    Item {
        delivery_id: DELIVERY_ID.into(),
        attempt: 1,
        meta: DocumentMeta {
            gateway: "mx1.trust.example.test".into(),
            document_id: "20261122T101530Z-000001-0".into(),
            message_id: "20261122T101530Z-000001".into(),
            index: 0,
            receiver: "AD64SDE@trust.example.test".into(),
            organisation: "acme".into(),
            envelope_sender: "invoices@supplier.example".into(),
            header_from: Some("invoices@supplier.example".into()),
            header_message_id: Some("<inv-1@supplier.example>".into()),
            tls: None,
            auth: None,
            notice: None,
            received_at: "2026-11-22T10:15:30.123Z".into(),
            format: "UBL Invoice".into(),
            specification: Some("SI-UBL 2.0 (NLCIUS)".into()),
            invoice_number: Some("INV-1".into()),
            inspection: json!({
                "syntax": "UblInvoice",
                "invoice_number": "INV-1",
                "currency": "EUR",
                "seller": {"name": "Supplier BV"},
                "buyer": {"name": "Acme"},
                "totals": {"payable": "121.00"},
                "findings": []
            }),
            xml: FileMeta {
                name: "INV-1.xml".into(),
                size: XML.len() as u64,
                sha256: None,
                content_type: "application/xml".into(),
                archive: None,
            },
            pdf: pdf.then(|| FileMeta {
                name: "INV-1 visual.pdf".into(),
                size: PDF.len() as u64,
                sha256: None,
                content_type: "application/pdf".into(),
                archive: None,
            }),
        },
        xml: XML.to_vec(),
        pdf: pdf.then(|| PDF.to_vec()),
        raw: Some(RAW.to_vec()),
    }
}

async fn deliver(sink: &dyn Sink, item: &Item) -> Outcome {
    tokio::time::timeout(LIMIT, sink.deliver(item))
        .await
        .expect("the attempt ends on its own")
}

/// A loopback port with nothing listening on it.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

// --- webhook --------------------------------------------------------------------------------

/// What the HTTP server saw of one request.
#[derive(Debug)]
struct HttpRequest {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the HTTP server answers the next request.
enum HttpReply {
    Status(u16, Vec<(&'static str, &'static str)>, &'static str),
    /// Read the request, never answer.
    Silent,
}

struct HttpServer {
    url: String,
    requests: mpsc::UnboundedReceiver<HttpRequest>,
    connections: Arc<AtomicUsize>,
}

impl HttpServer {
    async fn next(&mut self) -> HttpRequest {
        tokio::time::timeout(LIMIT, self.requests.recv())
            .await
            .expect("a request arrives")
            .expect("the server runs")
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that answers requests in script order (200 once the
/// script is used up) and keeps connections open between requests.
async fn http_server(script: Vec<HttpReply>) -> HttpServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(http_connection(socket, Arc::clone(&script), tx.clone()));
        }
    });
    HttpServer {
        url: format!("http://{addr}/hooks/in"),
        requests: rx,
        connections,
    }
}

async fn http_connection(
    mut socket: TcpStream,
    script: Arc<Mutex<VecDeque<HttpReply>>>,
    tx: mpsc::UnboundedSender<HttpRequest>,
) {
    let mut buf = Vec::new();
    loop {
        // The head.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap().to_string();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_string(), v.trim().to_string())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        // The body.
        while buf.len() < length {
            let mut chunk = [0u8; 65536];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..length).collect();
        let _ = tx.send(HttpRequest {
            request_line,
            headers,
            body,
        });
        let reply = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(HttpReply::Status(200, vec![], ""));
        match reply {
            HttpReply::Silent => {
                // Hold the connection open and never answer.
                std::future::pending::<()>().await;
            }
            HttpReply::Status(status, extra, body) => {
                let mut answer = format!(
                    "HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\n",
                    body.len()
                );
                for (name, value) in extra {
                    answer.push_str(&format!("{name}: {value}\r\n"));
                }
                answer.push_str("\r\n");
                answer.push_str(body);
                if socket.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn webhook(
    url: &str,
    secret: Option<&[u8]>,
    payload: WebhookPayload,
    timeout: Duration,
) -> WebhookSink {
    WebhookSink::new(WebhookOptions {
        url: url.into(),
        secret: secret.map(<[u8]>::to_vec),
        payload,
        timeout,
    })
    .unwrap()
}

/// The Standard Webhooks check, written again here from the spec rather than calling the
/// crate's `sign`: HMAC-SHA256 over `{id}.{timestamp}.{body}`, base64, `v1,` prefix.
fn verify_signature(request: &HttpRequest, secret: &[u8]) {
    let id = request.header("webhook-id").unwrap();
    let timestamp = request.header("webhook-timestamp").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    let header = request.header("webhook-signature").unwrap();
    assert!(
        header.split(' ').any(|s| s == expected),
        "signature {header} does not verify"
    );
}

fn assert_standard_headers(request: &HttpRequest) {
    assert_eq!(request.request_line, "POST /hooks/in HTTP/1.1");
    assert_eq!(request.header("webhook-id"), Some(DELIVERY_ID));
    assert_eq!(request.header("idempotency-key"), Some(DELIVERY_ID));
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("trustgate/", env!("CARGO_PKG_VERSION")))
    );
    let timestamp: i64 = request
        .header("webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - timestamp).abs() < 300,
        "timestamp {timestamp} is not now"
    );
}

#[tokio::test]
async fn webhook_json_delivery_is_signed_and_carries_the_files() {
    let mut server = http_server(vec![]).await;
    let sink = webhook(
        &server.url,
        Some(SECRET),
        WebhookPayload::Json,
        Duration::from_secs(5),
    );
    let item = item(true);

    let outcome = deliver(&sink, &item).await;
    assert_eq!(
        outcome,
        Outcome::Delivered {
            answer: "HTTP 200".into()
        }
    );
    let request = server.next().await;
    assert_standard_headers(&request);
    assert_eq!(request.header("content-type"), Some("application/json"));
    verify_signature(&request, SECRET);

    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["type"], "invoice.received");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let data = &body["data"];
    assert_eq!(data["document_id"], "20261122T101530Z-000001-0");
    assert_eq!(data["receiver"], "AD64SDE@trust.example.test");
    assert_eq!(data["xml"]["name"], "INV-1.xml");
    assert_eq!(data["pdf"]["name"], "INV-1 visual.pdf");
    assert_eq!(
        BASE64.decode(data["xml_base64"].as_str().unwrap()).unwrap(),
        XML
    );
    assert_eq!(
        BASE64.decode(data["pdf_base64"].as_str().unwrap()).unwrap(),
        PDF
    );
}

#[tokio::test]
async fn webhook_reuses_its_connection_and_signs_only_with_a_secret() {
    let mut server = http_server(vec![]).await;
    let sink = webhook(
        &server.url,
        None,
        WebhookPayload::Json,
        Duration::from_secs(5),
    );
    for _ in 0..2 {
        assert!(matches!(
            deliver(&sink, &item(false)).await,
            Outcome::Delivered { .. }
        ));
        let request = server.next().await;
        assert_standard_headers(&request);
        assert_eq!(request.header("webhook-signature"), None);
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["data"]["pdf_base64"], Value::Null);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn webhook_500_is_retried_with_the_start_of_the_body() {
    let long = "database down\r\n\u{1b}[31m and then a very long story ............................................................................................................................................................................................................ END";
    let mut server = http_server(vec![HttpReply::Status(500, vec![], long)]).await;
    let sink = webhook(
        &server.url,
        Some(SECRET),
        WebhookPayload::Json,
        Duration::from_secs(5),
    );

    let Outcome::Retry { error, retry_after } = deliver(&sink, &item(true)).await else {
        panic!("500 is a retry");
    };
    assert_eq!(retry_after, None);
    assert!(
        error.starts_with("HTTP 500: database down ?[31m and then"),
        "{error}"
    );
    assert!(
        !error.contains("END"),
        "only 200 bytes of the body: {error}"
    );
    assert!(error.bytes().all(|b| (0x20..0x7f).contains(&b)), "{error}");
    server.next().await;
}

#[tokio::test]
async fn webhook_429_is_retried_after_the_requested_wait() {
    let mut server =
        http_server(vec![HttpReply::Status(429, vec![("Retry-After", "7")], "")]).await;
    let sink = webhook(
        &server.url,
        Some(SECRET),
        WebhookPayload::Json,
        Duration::from_secs(5),
    );
    assert_eq!(
        deliver(&sink, &item(true)).await,
        Outcome::Retry {
            error: "HTTP 429".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    server.next().await;
}

#[tokio::test]
async fn webhook_410_is_permanent() {
    let mut server = http_server(vec![HttpReply::Status(410, vec![], "gone")]).await;
    let sink = webhook(
        &server.url,
        Some(SECRET),
        WebhookPayload::Json,
        Duration::from_secs(5),
    );
    assert_eq!(
        deliver(&sink, &item(true)).await,
        Outcome::Permanent {
            error: "HTTP 410: gone".into()
        }
    );
    server.next().await;
}

#[tokio::test]
async fn webhook_redirects_are_not_followed() {
    let mut server = http_server(vec![HttpReply::Status(
        302,
        vec![("Location", "http://127.0.0.1:1/elsewhere")],
        "",
    )])
    .await;
    let sink = webhook(
        &server.url,
        Some(SECRET),
        WebhookPayload::Json,
        Duration::from_secs(5),
    );
    assert_eq!(
        deliver(&sink, &item(false)).await,
        Outcome::Permanent {
            error: "HTTP 302".into()
        }
    );
    server.next().await;
    assert!(server.requests.try_recv().is_err(), "one request only");
}

#[tokio::test]
async fn webhook_silent_server_is_a_retry_after_the_timeout() {
    let mut server = http_server(vec![HttpReply::Silent]).await;
    // Credentials and a token in the URL must not reach the error text.
    let url = server
        .url
        .replace("http://", "http://user:hunter2@")
        .replace("/hooks/in", "/hooks/in?token=s3cret");
    let sink = webhook(
        &url,
        Some(SECRET),
        WebhookPayload::Json,
        Duration::from_millis(300),
    );

    let Outcome::Retry { error, retry_after } = deliver(&sink, &item(true)).await else {
        panic!("a timeout is a retry");
    };
    assert_eq!(retry_after, None);
    assert!(error.contains("timed out"), "{error}");
    for secret in ["hunter2", "s3cret", "token", "user"] {
        assert!(!error.contains(secret), "{error}");
    }
    let request = server.next().await;
    // reqwest sends the URL's userinfo as basic auth, never in the request line.
    assert_eq!(request.request_line, "POST /hooks/in?token=s3cret HTTP/1.1");
}

#[tokio::test]
async fn webhook_refused_connection_is_a_retry() {
    let port = closed_port().await;
    let url = format!("http://user:hunter2@127.0.0.1:{port}/in?token=s3cret");
    let sink = webhook(
        &url,
        Some(SECRET),
        WebhookPayload::Json,
        Duration::from_secs(5),
    );
    let Outcome::Retry { error, .. } = deliver(&sink, &item(true)).await else {
        panic!("a refused connection is a retry");
    };
    assert!(error.starts_with("webhook connection failed"), "{error}");
    for secret in ["hunter2", "s3cret", "token"] {
        assert!(!error.contains(secret), "{error}");
    }
}

/// The parts of a `multipart/form-data` body: (headers, content).
fn multipart_parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = body
        .strip_prefix(format!("--{boundary}").as_bytes())
        .expect("the body starts with the boundary");
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            assert_eq!(rest, b"--\r\n", "nothing after the close delimiter");
            return parts;
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after the boundary");
        let end = rest
            .windows(delimiter.len())
            .position(|w| w == delimiter.as_bytes())
            .expect("a part ends with a delimiter");
        let part = &rest[..end];
        let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        parts.push((
            String::from_utf8(part[..split].to_vec()).unwrap(),
            part[split + 4..].to_vec(),
        ));
        rest = &rest[end + delimiter.len()..];
    }
}

#[tokio::test]
async fn webhook_multipart_sends_the_files_unchanged_and_signs_the_exact_bytes() {
    let mut server = http_server(vec![]).await;
    let sink = webhook(
        &server.url,
        Some(SECRET),
        WebhookPayload::Multipart,
        Duration::from_secs(5),
    );
    let item = item(true);
    assert!(matches!(
        deliver(&sink, &item).await,
        Outcome::Delivered { .. }
    ));

    let request = server.next().await;
    assert_standard_headers(&request);
    verify_signature(&request, SECRET);
    let content_type = request.header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect("multipart/form-data");
    let parts = multipart_parts(&request.body, boundary);
    assert_eq!(parts.len(), 3);

    let (head, metadata) = &parts[0];
    assert_eq!(
        head,
        "Content-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json"
    );
    let metadata: Value = serde_json::from_slice(metadata).unwrap();
    assert_eq!(metadata["type"], "invoice.received");
    assert_eq!(metadata["data"]["document_id"], "20261122T101530Z-000001-0");
    assert_eq!(metadata["data"]["xml"]["name"], "INV-1.xml");
    assert!(metadata["data"].get("xml_base64").is_none());
    assert!(metadata["data"].get("pdf_base64").is_none());

    let (head, xml) = &parts[1];
    assert_eq!(
        head,
        "Content-Disposition: form-data; name=\"xml\"; filename=\"INV-1.xml\"\r\nContent-Type: application/xml"
    );
    assert_eq!(xml, XML);

    let (head, pdf) = &parts[2];
    assert_eq!(
        head,
        "Content-Disposition: form-data; name=\"pdf\"; filename=\"INV-1 visual.pdf\"\r\nContent-Type: application/pdf"
    );
    assert_eq!(pdf, PDF);
}

// --- smtp -----------------------------------------------------------------------------------

/// What the SMTP server saw of one transaction.
#[derive(Debug)]
struct SmtpTransaction {
    mail_from: String,
    rcpt_to: Vec<String>,
    /// After DATA, dot-unstuffed, up to (not including) the final `.` line.
    data: Vec<u8>,
}

/// The replies the SMTP server gives.
#[derive(Clone, Copy)]
struct SmtpScript {
    rcpt: &'static str,
    data: &'static str,
    end_of_data: &'static str,
}

const ACCEPT: SmtpScript = SmtpScript {
    rcpt: "250 2.1.5 Ok",
    data: "354 End data with <CR><LF>.<CR><LF>",
    end_of_data: "250 2.0.0 Ok: queued as 4Xk9Q2",
};

async fn smtp_server(script: SmtpScript) -> (SocketAddr, mpsc::UnboundedReceiver<SmtpTransaction>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(smtp_connection(socket, script, tx.clone()));
        }
    });
    (addr, rx)
}

async fn smtp_connection(
    socket: TcpStream,
    script: SmtpScript,
    tx: mpsc::UnboundedSender<SmtpTransaction>,
) {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    let mut reply = async |text: &str| {
        let _ = write.write_all(format!("{text}\r\n").as_bytes()).await;
    };
    reply("220 relay.test ESMTP scripted").await;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    loop {
        let mut line = Vec::new();
        if read.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => reply("250-relay.test\r\n250-8BITMIME\r\n250 SMTPUTF8").await,
            "HELO" | "NOOP" => reply("250 2.0.0 Ok").await,
            "RSET" => {
                mail_from.clear();
                rcpt_to.clear();
                reply("250 2.0.0 Ok").await;
            }
            "MAIL" => {
                mail_from = line.clone();
                reply("250 2.1.0 Ok").await;
            }
            "RCPT" => {
                if script.rcpt.starts_with('2') {
                    rcpt_to.push(line.clone());
                }
                reply(script.rcpt).await;
            }
            "DATA" => {
                reply(script.data).await;
                if !script.data.starts_with("354") {
                    continue;
                }
                let mut data = Vec::new();
                loop {
                    let mut line = Vec::new();
                    if read.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    // RFC 5321 4.5.2: a leading dot was doubled by the client.
                    let line = line.strip_prefix(b".").unwrap_or(&line);
                    data.extend_from_slice(line);
                }
                let _ = tx.send(SmtpTransaction {
                    mail_from: std::mem::take(&mut mail_from),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                });
                reply(script.end_of_data).await;
            }
            "QUIT" => {
                reply("221 2.0.0 Bye").await;
                return;
            }
            _ => reply("500 5.5.2 unknown command").await,
        }
    }
}

fn relay(addr: SocketAddr) -> RelayOptions {
    RelayOptions {
        host: addr.ip().to_string(),
        port: addr.port(),
        tls: RelayTls::None,
        credentials: None,
        mail_from: "gateway@trust.example.test".into(),
        timeout: Duration::from_secs(5),
        hostname: "gw.trust.example.test".into(),
    }
}

fn smtp_sink(addr: SocketAddr, mode: SmtpMode) -> SmtpSink {
    SmtpSink::new(
        &relay(addr),
        SmtpOptions {
            to: "ap@acme.example".into(),
            mode,
        },
    )
    .unwrap()
}

async fn transaction(rx: &mut mpsc::UnboundedReceiver<SmtpTransaction>) -> SmtpTransaction {
    tokio::time::timeout(LIMIT, rx.recv())
        .await
        .expect("a transaction arrives")
        .unwrap()
}

#[tokio::test]
async fn smtp_original_mode_forwards_the_bytes_with_one_received_line() {
    let (addr, mut rx) = smtp_server(ACCEPT).await;
    let sink = smtp_sink(addr, SmtpMode::Original);
    assert!(sink.needs_raw());

    assert_eq!(
        deliver(&sink, &item(true)).await,
        Outcome::Delivered {
            answer: "250 2.0.0 Ok: queued as 4Xk9Q2".into()
        }
    );
    let t = transaction(&mut rx).await;
    assert_eq!(
        t.mail_from,
        "MAIL FROM:<gateway@trust.example.test> BODY=8BITMIME"
    );
    assert_eq!(t.rcpt_to, ["RCPT TO:<ap@acme.example>"]);

    let line_end = t.data.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let (received, rest) = t.data.split_at(line_end);
    let received = std::str::from_utf8(received).unwrap();
    assert!(
        received
            .starts_with("Received: by gw.trust.example.test (trustgate) for <ap@acme.example>; "),
        "{received}"
    );
    assert!(received.ends_with(" +0000\r\n"), "{received}");
    assert_eq!(rest, RAW, "every byte after the trace line as received");
}

#[tokio::test]
async fn smtp_document_mode_sends_a_fresh_message_with_both_files() {
    let (addr, mut rx) = smtp_server(ACCEPT).await;
    let sink = smtp_sink(addr, SmtpMode::Document);
    assert!(!sink.needs_raw());
    let mut item = item(true);
    item.raw = None;

    assert!(matches!(
        deliver(&sink, &item).await,
        Outcome::Delivered { .. }
    ));
    let t = transaction(&mut rx).await;
    assert!(
        t.mail_from
            .starts_with("MAIL FROM:<gateway@trust.example.test>")
    );
    assert_eq!(t.rcpt_to, ["RCPT TO:<ap@acme.example>"]);

    let message = mail_parser::MessageParser::default()
        .parse(&t.data)
        .unwrap();
    assert_eq!(message.subject(), Some("Invoice INV-1 from Supplier BV"));
    assert!(message.date().is_some());
    assert!(
        message
            .message_id()
            .unwrap()
            .ends_with("@gw.trust.example.test")
    );
    assert_eq!(
        message
            .header("Trustgate-Document-Id")
            .and_then(|h| h.as_text()),
        Some("20261122T101530Z-000001-0")
    );
    let text = message.body_text(0).unwrap();
    assert!(text.contains("invoice INV-1 from Supplier BV"), "{text}");
    assert!(
        text.contains("AD64SDE@trust.example.test") && text.contains("acme"),
        "{text}"
    );

    use mail_parser::MimeHeaders as _;
    let attachments: Vec<_> = message.attachments().collect();
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[0].attachment_name(), Some("INV-1.xml"));
    assert!(attachments[0].is_content_type("application", "xml"));
    assert_eq!(attachments[0].content_transfer_encoding(), Some("base64"));
    assert_eq!(attachments[0].contents(), XML);
    assert_eq!(attachments[1].attachment_name(), Some("INV-1 visual.pdf"));
    assert!(attachments[1].is_content_type("application", "pdf"));
    assert_eq!(attachments[1].contents(), PDF);
}

#[tokio::test]
async fn smtp_451_at_rcpt_is_a_retry() {
    let (addr, _rx) = smtp_server(SmtpScript {
        rcpt: "451 4.3.0 try again later",
        ..ACCEPT
    })
    .await;
    let Outcome::Retry { error, .. } =
        deliver(&smtp_sink(addr, SmtpMode::Document), &item(true)).await
    else {
        panic!("451 is a retry");
    };
    assert!(
        error.contains("451") && error.contains("try again later"),
        "{error}"
    );
}

#[tokio::test]
async fn smtp_451_after_data_is_a_retry() {
    let (addr, _rx) = smtp_server(SmtpScript {
        end_of_data: "451 4.7.1 greylisted",
        ..ACCEPT
    })
    .await;
    let Outcome::Retry { error, .. } =
        deliver(&smtp_sink(addr, SmtpMode::Original), &item(true)).await
    else {
        panic!("451 is a retry");
    };
    assert!(
        error.contains("451") && error.contains("greylisted"),
        "{error}"
    );
}

#[tokio::test]
async fn smtp_550_at_rcpt_is_permanent() {
    let (addr, _rx) = smtp_server(SmtpScript {
        rcpt: "550 5.1.1 no such user",
        ..ACCEPT
    })
    .await;
    let Outcome::Permanent { error } =
        deliver(&smtp_sink(addr, SmtpMode::Document), &item(true)).await
    else {
        panic!("550 is permanent");
    };
    assert!(
        error.contains("550") && error.contains("no such user"),
        "{error}"
    );
}

#[tokio::test]
async fn smtp_554_at_data_is_permanent() {
    let (addr, _rx) = smtp_server(SmtpScript {
        data: "554 5.5.1 no valid recipients",
        ..ACCEPT
    })
    .await;
    let outcome = deliver(&smtp_sink(addr, SmtpMode::Document), &item(true)).await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
}

#[tokio::test]
async fn smtp_refused_connection_is_a_retry() {
    let port = closed_port().await;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let outcome = deliver(&smtp_sink(addr, SmtpMode::Document), &item(true)).await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
}

// --- nats -----------------------------------------------------------------------------------

/// A `nats-server -js` on `port` (tests/common/peers.rs); `None` when it is not installed
/// outside CI.
async fn nats_server(port: u16) -> Option<NatsServer> {
    tokio::task::spawn_blocking(move || NatsServer::start_on(port))
        .await
        .unwrap()
}

/// A stream over `invoices.>` with a ten-minute duplicate window.
async fn invoices_stream(url: &str) -> async_nats::jetstream::Context {
    let client = async_nats::connect(url).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: "INVOICES".into(),
            subjects: vec!["invoices.>".into()],
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        })
        .await
        .unwrap();
    jetstream
}

fn nats_sink(url: &str, subject: &str) -> NatsSink {
    NatsSink::new(NatsOptions {
        url: url.into(),
        subject: subject.into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

#[tokio::test]
async fn nats_delivers_xml_and_pdf_once_however_often_it_is_sent() {
    let Some(server) = nats_server(closed_port().await).await else {
        return;
    };
    let jetstream = invoices_stream(&server.url()).await;
    let sink = nats_sink(&server.url(), "invoices.{organisation}.{receiver}");
    let item = item(true);

    assert_eq!(
        deliver(&sink, &item).await,
        Outcome::Delivered {
            answer: "jetstream ack stream=INVOICES seq=2; pdf seq=1".into()
        }
    );
    let Outcome::Delivered { answer } = deliver(&sink, &item).await else {
        panic!("a repeat is delivered");
    };
    assert_eq!(
        answer,
        "jetstream ack stream=INVOICES seq=2 duplicate; pdf seq=1 duplicate"
    );

    let stream = jetstream.get_stream("INVOICES").await.unwrap();
    assert_eq!(stream.get_info().await.unwrap().state.messages, 2);

    let pdf = stream.get_raw_message(1).await.unwrap();
    assert_eq!(
        pdf.subject.as_str(),
        "invoices.acme.AD64SDE_trust_example_test.pdf"
    );
    assert_eq!(pdf.payload.as_ref(), PDF);
    assert_eq!(
        pdf.headers.get("Nats-Msg-Id").unwrap().as_str(),
        format!("{DELIVERY_ID}.pdf")
    );
    assert_eq!(
        pdf.headers.get("Trustgate-Document-Id").unwrap().as_str(),
        "20261122T101530Z-000001-0"
    );

    let xml = stream.get_raw_message(2).await.unwrap();
    assert_eq!(
        xml.subject.as_str(),
        "invoices.acme.AD64SDE_trust_example_test"
    );
    assert_eq!(xml.payload.as_ref(), XML);
    let header = |name: &str| xml.headers.get(name).map(|v| v.as_str().to_string());
    assert_eq!(header("Nats-Msg-Id").as_deref(), Some(DELIVERY_ID));
    assert_eq!(
        header("Trustgate-Document-Id").as_deref(),
        Some("20261122T101530Z-000001-0")
    );
    assert_eq!(
        header("Trustgate-Message-Id").as_deref(),
        Some("20261122T101530Z-000001")
    );
    assert_eq!(
        header("Trustgate-Receiver").as_deref(),
        Some("AD64SDE@trust.example.test")
    );
    assert_eq!(header("Trustgate-Organisation").as_deref(), Some("acme"));
    assert_eq!(header("Trustgate-Invoice-Number").as_deref(), Some("INV-1"));
    assert_eq!(
        header("Trustgate-Specification").as_deref(),
        Some("SI-UBL 2.0 (NLCIUS)")
    );
    assert_eq!(header("Trustgate-Xml-Name").as_deref(), Some("INV-1.xml"));
    assert_eq!(
        header("Trustgate-Pdf-Name").as_deref(),
        Some("INV-1 visual.pdf")
    );
    let metadata: Value = serde_json::from_str(&header("Trustgate-Metadata").unwrap()).unwrap();
    assert_eq!(metadata, serde_json::to_value(&item.meta).unwrap());
}

#[tokio::test]
async fn nats_without_a_stream_for_the_subject_is_a_retry() {
    let Some(server) = nats_server(closed_port().await).await else {
        return;
    };
    invoices_stream(&server.url()).await;
    let sink = nats_sink(&server.url(), "elsewhere.{organisation}");
    let Outcome::Retry { error, .. } = deliver(&sink, &item(false)).await else {
        panic!("no stream is a retry");
    };
    assert!(
        error.contains("no JetStream stream") && error.contains("elsewhere.acme"),
        "{error}"
    );
}

#[tokio::test]
async fn nats_document_over_max_payload_is_permanent() {
    let Some(server) = nats_server(closed_port().await).await else {
        return;
    };
    invoices_stream(&server.url()).await;
    let sink = nats_sink(&server.url(), "invoices.{organisation}");
    let mut item = item(false);
    item.xml = vec![b'x'; 1536 * 1024];
    let Outcome::Permanent { error } = deliver(&sink, &item).await else {
        panic!("too large is permanent");
    };
    assert!(
        error.contains("max_payload") && error.contains("1048576"),
        "{error}"
    );
}

#[tokio::test]
async fn nats_connects_lazily_and_again_after_a_failed_connect() {
    let port = closed_port().await;
    let url = format!("nats://user:hunter2@127.0.0.1:{port}");
    // new() does not connect, so a server that is down does not stop the sink being built.
    let sink = nats_sink(&url, "invoices.{organisation}");
    let Outcome::Retry { error, .. } = deliver(&sink, &item(false)).await else {
        panic!("no server is a retry");
    };
    assert!(error.starts_with("nats connect failed"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");

    // The server comes up (with no users configured, the userinfo is ignored); the next
    // attempt connects.
    let Some(server) = nats_server(port).await else {
        return;
    };
    invoices_stream(&server.url()).await;
    let outcome = deliver(&sink, &item(false)).await;
    assert_eq!(
        outcome,
        Outcome::Delivered {
            answer: "jetstream ack stream=INVOICES seq=1".into()
        }
    );
}
