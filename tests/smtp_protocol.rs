//! The SMTP layer over real TCP on loopback: the real `Server` in-process with a small test
//! handler, driven by raw sockets, a rustls client and lettre (SMTP-HARDENING.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use trustgate::address::Address;
use trustgate::smtp::limits::Limits;
use trustgate::smtp::server::{ConnectionLimits, Server, load_tls};
use trustgate::smtp::{BodySink, Envelope, Handler, Reply, SessionInfo, reply};

/// Generous bound for every wait on the server; tests wait for conditions, not for time.
const WAIT: Duration = Duration::from_secs(20);

// ---- test handler -------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Stored {
    envelope: Envelope,
    body: Vec<u8>,
    tls: bool,
}

#[derive(Debug, Default)]
struct Record {
    mails: Vec<String>,
    rcpts: Vec<String>,
    opened: usize,
    messages: Vec<Stored>,
}

/// Accepts recipients `@gw.test`, stores bodies in memory, answers 250. A recipient starting
/// with `failsink@` gets a body sink whose writes fail.
#[derive(Debug, Default)]
struct TestHandler {
    rec: Mutex<Record>,
}

impl TestHandler {
    fn messages(&self) -> Vec<Stored> {
        self.rec.lock().unwrap().messages.clone()
    }
    fn mails(&self) -> Vec<String> {
        self.rec.lock().unwrap().mails.clone()
    }
    fn rcpts(&self) -> Vec<String> {
        self.rec.lock().unwrap().rcpts.clone()
    }
}

struct MemBody {
    buf: Vec<u8>,
    fail: bool,
}

impl BodySink for MemBody {
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        if self.fail {
            return Err(std::io::Error::other("disk full"));
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }
}

impl Handler for TestHandler {
    type Body = MemBody;

    fn mail(
        &self,
        _: &SessionInfo,
        reverse_path: Option<&Address>,
        _: Option<u64>,
    ) -> Result<(), Reply> {
        self.rec
            .lock()
            .unwrap()
            .mails
            .push(reverse_path.map(ToString::to_string).unwrap_or_default());
        Ok(())
    }

    fn rcpt(
        &self,
        _: &SessionInfo,
        _: Option<&Address>,
        forward_path: &Address,
    ) -> Result<(), Reply> {
        let forward_path = forward_path.to_string();
        self.rec.lock().unwrap().rcpts.push(forward_path.clone());
        if forward_path.ends_with("@gw.test") {
            Ok(())
        } else {
            Err(reply::unknown_recipient(&forward_path))
        }
    }

    fn open_body(&self, _: &SessionInfo, envelope: &Envelope) -> Result<MemBody, Reply> {
        self.rec.lock().unwrap().opened += 1;
        let fail = envelope.rcpt_to.iter().any(|r| r.local() == "failsink");
        Ok(MemBody {
            buf: Vec::new(),
            fail,
        })
    }

    fn end_of_data(
        &self,
        session: &SessionInfo,
        envelope: Envelope,
        body: MemBody,
    ) -> impl Future<Output = Reply> + Send {
        let tls = session.tls;
        async move {
            self.rec.lock().unwrap().messages.push(Stored {
                envelope,
                body: body.buf,
                tls,
            });
            reply::queued_invoices(&["N-1".into()], &["a@gw.test".into()], &[], &[]).reply("T1")
        }
    }
}

// ---- server and client helpers ------------------------------------------------------------

struct TestServer {
    addr: SocketAddr,
    handler: Arc<TestHandler>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

fn limits() -> Limits {
    Limits {
        hostname: "mx.gw.test".to_string(),
        command_timeout: Duration::from_secs(30),
        data_timeout: Duration::from_secs(30),
        session_timeout: Duration::from_secs(120),
        ..Limits::default()
    }
}

fn conn_limits() -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 100,
        max_connections_per_ip: 100,
        max_connections_per_minute: 0,
        max_connections_per_minute_per_network: 0,
        shutdown_timeout: Duration::from_secs(10),
    }
}

async fn start(
    limits: Limits,
    conn: ConnectionLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> TestServer {
    let server = Server::bind(&["127.0.0.1:0".parse().unwrap()])
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let handler = Arc::new(TestHandler::default());
    let shutdown = CancellationToken::new();
    let live = trustgate::smtp::server::Live::new(handler.clone(), limits);
    let task = tokio::spawn(server.run(live, conn, tls, shutdown.clone()));
    TestServer {
        addr,
        handler,
        shutdown,
        task,
    }
}

impl TestServer {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("server did not drain")
            .unwrap();
    }
}

struct Client<S> {
    io: BufReader<S>,
}

impl Client<TcpStream> {
    async fn connect(addr: SocketAddr) -> Client<TcpStream> {
        Client {
            io: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        }
    }

    /// Connects and reads the 220 banner.
    async fn greeted(addr: SocketAddr) -> Client<TcpStream> {
        let mut c = Client::connect(addr).await;
        c.expect("220 ").await;
        c
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.io.get_mut().write_all(bytes.as_ref()).await.unwrap();
        self.io.get_mut().flush().await.unwrap();
    }

    /// Reads one reply (every line of a multi-line reply); empty string at EOF.
    async fn reply(&mut self) -> String {
        tokio::time::timeout(WAIT, async {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                if self.io.read_line(&mut line).await.unwrap() == 0 {
                    return all;
                }
                all.push_str(&line);
                if line.as_bytes().get(3) != Some(&b'-') {
                    return all;
                }
            }
        })
        .await
        .expect("no reply from the server")
    }

    async fn expect(&mut self, prefix: &str) -> String {
        let r = self.reply().await;
        assert!(r.starts_with(prefix), "expected {prefix:?}, got {r:?}");
        r
    }

    async fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, self.io.read_to_end(&mut rest))
            .await
            .expect("connection not closed")
            .ok();
        assert!(
            rest.is_empty(),
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// EHLO, MAIL, RCPT, DATA, each answered, ending at the 354.
    async fn open_data(&mut self) {
        self.send("EHLO c.test\r\n").await;
        self.expect("250").await;
        self.send("MAIL FROM:<a@s.test>\r\n").await;
        self.expect("250 2.1.0").await;
        self.send("RCPT TO:<x@gw.test>\r\n").await;
        self.expect("250 2.1.5").await;
        self.send("DATA\r\n").await;
        self.expect("354").await;
    }
}

// ---- tests ----------------------------------------------------------------------------------

#[tokio::test]
async fn lettre_sends_a_message() {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let srv = start(limits(), conn_limits(), None).await;
    let email = Message::builder()
        .from("Supplier <a@s.test>".parse().unwrap())
        .to("x@gw.test".parse().unwrap())
        .subject("Invoice 1")
        .body(String::from("Hello\r\n.a line with a leading dot\r\n"))
        .unwrap();
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(srv.addr.port())
        .build();
    let response = mailer.send(email).await.unwrap();
    assert!(response.is_positive());
    let messages = srv.handler.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].envelope.mail_from,
        Address::parse("a@s.test").ok()
    );
    assert_eq!(
        messages[0].envelope.rcpt_to,
        vec![Address::parse("x@gw.test").unwrap()]
    );
    let body = String::from_utf8_lossy(&messages[0].body);
    assert!(body.contains("Subject: Invoice 1"), "{body}");
    assert!(
        body.contains("\r\n.a line with a leading dot\r\n"),
        "dot-stuffing not undone: {body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn pipelined_transaction_in_one_write_gets_replies_in_order() {
    let srv = start(limits(), conn_limits(), None).await;
    let mut c = Client::greeted(srv.addr).await;
    c.send(concat!(
        "EHLO c.test\r\n",
        "MAIL FROM:<a@s.test> SIZE=100\r\n",
        "RCPT TO:<x@gw.test>\r\n",
        "RCPT TO:<nobody@elsewhere.test>\r\n",
        "RCPT TO:<y@gw.test>\r\n",
        "DATA\r\n"
    ))
    .await;
    let ehlo = c.expect("250-mx.gw.test").await;
    assert!(
        ehlo.contains("PIPELINING")
            && ehlo.contains("SIZE ")
            && ehlo.contains("ENHANCEDSTATUSCODES")
    );
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.expect("550 5.1.1").await;
    c.expect("250 2.1.5").await;
    c.expect("354").await;
    c.send("Subject: one\r\n\r\nbody\r\n.\r\nQUIT\r\n").await;
    c.expect("250 2.0.0").await;
    c.expect("221 2.0.0").await;
    c.expect_eof().await;
    let messages = srv.handler.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].envelope.rcpt_to,
        vec![
            Address::parse("x@gw.test").unwrap(),
            Address::parse("y@gw.test").unwrap()
        ]
    );
    assert_eq!(messages[0].body, b"Subject: one\r\n\r\nbody\r\n");
    srv.stop().await;
}

#[tokio::test]
async fn message_sent_with_data_before_354_is_refused_and_nothing_stored() {
    let srv = start(limits(), conn_limits(), None).await;
    let mut c = Client::greeted(srv.addr).await;
    c.send("EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<x@gw.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n").await;
    c.expect("250").await;
    c.expect("250").await;
    c.expect("250").await;
    c.expect("554 5.5.0").await;
    c.expect_eof().await;
    assert!(srv.handler.messages().is_empty());
    assert_eq!(srv.handler.rec.lock().unwrap().opened, 0);
    srv.stop().await;
}

/// SMTP-HARDENING 11 (CVE-2023-51764/51765/51766): never a second envelope.
#[tokio::test]
async fn smuggling_payloads_never_yield_a_second_envelope() {
    let srv = start(limits(), conn_limits(), None).await;
    for payload in ["\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r\n.\r\r\n"] {
        let mut c = Client::greeted(srv.addr).await;
        c.open_data().await;
        c.send(format!(
            "Subject: one\r\n\r\nfirst{payload}MAIL FROM:<evil@s.test>\r\nRCPT TO:<victim@gw.test>\r\nDATA\r\n\r\nsmuggled\r\n.\r\n"
        ))
        .await;
        let r = c.reply().await;
        assert!(r.starts_with("554 5.6.0"), "{payload:?}: {r:?}");
        c.send("QUIT\r\n").await;
        c.expect("221").await;
        c.expect_eof().await;
    }
    assert!(
        srv.handler.messages().is_empty(),
        "a smuggling message reached the handler"
    );
    assert!(srv.handler.mails().iter().all(|m| m == "a@s.test"));
    assert!(!srv.handler.rcpts().iter().any(|r| r.starts_with("victim")));
    srv.stop().await;
}

/// SMTP-HARDENING 12: a bare LF inside a command line is one bad line, not two commands.
#[tokio::test]
async fn bare_lf_in_command_line_is_one_bad_line() {
    let srv = start(limits(), conn_limits(), None).await;
    let mut c = Client::greeted(srv.addr).await;
    c.send("EHLO c.test\r\nMAIL FROM:<a@s.test>\nRCPT TO:<x@gw.test>\r\nNOOP\r\n")
        .await;
    c.expect("250").await;
    c.expect("500 5.5.2").await;
    c.expect("250 2.0.0").await;
    assert!(srv.handler.mails().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn declared_size_too_large_is_552_at_mail() {
    let srv = start(limits(), conn_limits(), None).await;
    let mut c = Client::greeted(srv.addr).await;
    c.send("EHLO c.test\r\n").await;
    c.expect("250").await;
    c.send("MAIL FROM:<a@s.test> SIZE=1000000000000\r\n").await;
    c.expect("552 5.3.4").await;
    assert!(srv.handler.mails().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn body_too_large_without_size_is_discarded_and_552() {
    let srv = start(
        Limits {
            max_message_size: 10_000,
            ..limits()
        },
        conn_limits(),
        None,
    )
    .await;
    let mut c = Client::greeted(srv.addr).await;
    c.open_data().await;
    let line = format!("{}\r\n", "x".repeat(998));
    for _ in 0..200 {
        c.send(&line).await; // 200 KB in total
    }
    c.send(".\r\n").await;
    c.expect("552 5.3.4").await;
    // The session goes on after the refusal.
    c.send("NOOP\r\n").await;
    c.expect("250").await;
    assert!(
        srv.handler.messages().is_empty(),
        "the handler got a message over the limit"
    );
    srv.stop().await;
}

#[tokio::test]
async fn body_sink_failure_is_451() {
    let srv = start(limits(), conn_limits(), None).await;
    let mut c = Client::greeted(srv.addr).await;
    c.send("EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<failsink@gw.test>\r\nDATA\r\n")
        .await;
    for p in ["250", "250", "250", "354"] {
        c.expect(p).await;
    }
    c.send("Subject: x\r\n\r\nhi\r\n.\r\n").await;
    c.expect("451 4.3.0").await;
    assert!(srv.handler.messages().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn command_line_too_long_is_500_and_the_session_goes_on() {
    let srv = start(limits(), conn_limits(), None).await;
    let mut c = Client::greeted(srv.addr).await;
    c.send(format!("EHLO {}\r\n", "a".repeat(100 * 1024))).await;
    c.expect("500 5.5.2").await;
    c.send("NOOP\r\n").await;
    c.expect("250 2.0.0").await;
    srv.stop().await;
}

#[tokio::test]
async fn nul_bytes_and_too_many_errors_close_with_421() {
    let srv = start(
        Limits {
            max_errors: 3,
            ..limits()
        },
        conn_limits(),
        None,
    )
    .await;
    let mut c = Client::greeted(srv.addr).await;
    c.send("EH\0LO x\r\nFOO\r\nBAR\r\n").await;
    c.expect("500 5.5.1").await;
    c.expect("500 5.5.1").await;
    c.expect("500 5.5.1").await;
    c.expect("421 4.7.0").await;
    c.expect_eof().await;
    srv.stop().await;
}

#[tokio::test]
async fn pregreet_is_554_and_close() {
    // The server waits up to this long for an early talker before its banner; the client
    // talks at once, so the wait ends as soon as its bytes arrive.
    let srv = start(
        Limits {
            pregreet_wait: WAIT,
            ..limits()
        },
        conn_limits(),
        None,
    )
    .await;
    let mut c = Client::connect(srv.addr).await;
    c.send("EHLO c.test\r\n").await;
    c.expect("554 5.5.0").await;
    c.expect_eof().await;
    assert!(srv.handler.mails().is_empty());
    srv.stop().await;
}

fn tls_setup() -> (
    tempfile::TempDir,
    Arc<rustls::ServerConfig>,
    rustls::pki_types::CertificateDer<'static>,
) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let certificate = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&certificate, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let (config, _) = load_tls(&trustgate::config::Tls { certificate, key }).unwrap();
    (dir, config, ck.cert.der().clone())
}

async fn tls_client(
    tcp: TcpStream,
    cert: &rustls::pki_types::CertificateDer<'static>,
) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(WAIT, connector.connect(name, tcp))
        .await
        .unwrap()
        .unwrap();
    Client {
        io: BufReader::new(tls),
    }
}

/// RFC 3207; SMTP-HARDENING 8-9; CVE-2011-0411.
#[tokio::test]
async fn starttls_discards_injected_plaintext_and_requires_ehlo_again() {
    let (_dir, config, cert) = tls_setup();
    let srv = start(limits(), conn_limits(), Some(config)).await;
    let mut c = Client::greeted(srv.addr).await;
    c.send("EHLO c.test\r\n").await;
    assert!(c.expect("250-").await.contains("STARTTLS"));
    // The injection: a command in the same segment as STARTTLS.
    c.send("STARTTLS\r\nMAIL FROM:<inj@s.test>\r\n").await;
    c.expect("220 2.0.0").await;
    let tcp = c.io.into_inner();
    let mut t = tls_client(tcp, &cert).await;
    // Had the injected MAIL survived, its 250 would come first and this RCPT would pass.
    t.send("RCPT TO:<x@gw.test>\r\n").await;
    t.expect("503 5.5.1").await;
    t.send("MAIL FROM:<a@s.test>\r\n").await;
    t.expect("503 5.5.1").await; // EHLO is required again
    t.send("EHLO c.test\r\n").await;
    let ehlo = t.expect("250-").await;
    assert!(
        !ehlo.contains("STARTTLS"),
        "STARTTLS offered inside TLS: {ehlo}"
    );
    t.send("STARTTLS\r\n").await;
    t.expect("503 5.5.1").await;
    t.send("MAIL FROM:<a@s.test>\r\nRCPT TO:<x@gw.test>\r\nDATA\r\n")
        .await;
    t.expect("250").await;
    t.expect("250").await;
    t.expect("354").await;
    t.send("Subject: tls\r\n\r\nover tls\r\n.\r\nQUIT\r\n")
        .await;
    t.expect("250 2.0.0").await;
    t.expect("221").await;
    assert_eq!(
        srv.handler.mails(),
        vec!["a@s.test".to_string()],
        "injected MAIL reached the handler"
    );
    let messages = srv.handler.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].tls);
    srv.stop().await;
}

/// RFC 3207 4: port 25 never requires TLS, even with a certificate configured.
#[tokio::test]
async fn plaintext_delivery_works_with_tls_configured() {
    let (_dir, config, _) = tls_setup();
    let srv = start(limits(), conn_limits(), Some(config)).await;
    let mut c = Client::greeted(srv.addr).await;
    c.open_data().await;
    c.send("Subject: plain\r\n\r\nplain\r\n.\r\n").await;
    c.expect("250 2.0.0").await;
    assert!(!srv.handler.messages()[0].tls);
    srv.stop().await;
}

#[tokio::test]
async fn lettre_delivers_over_starttls() {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&certificate, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let (config, _) = load_tls(&trustgate::config::Tls { certificate, key }).unwrap();
    let srv = start(limits(), conn_limits(), Some(config)).await;
    let params = TlsParameters::builder("localhost".to_string())
        .add_root_certificate(Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap())
        .build_rustls()
        .unwrap();
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(srv.addr.port())
        .tls(Tls::Required(params))
        .build();
    let email = Message::builder()
        .from("a@s.test".parse().unwrap())
        .to("x@gw.test".parse().unwrap())
        .subject("over starttls")
        .body(String::from("hello"))
        .unwrap();
    assert!(mailer.send(email).await.unwrap().is_positive());
    let messages = srv.handler.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].tls);
    srv.stop().await;
}

/// The value of the counter sample `series` (`name{labels}`) in the process's metrics.
fn counter(series: &str) -> u64 {
    let text = trustgate::observe::metrics().text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// SMTP-HARDENING 18.
#[tokio::test]
async fn per_ip_connection_cap_is_421() {
    let refused = r#"trustgate_smtp_connections_refused_total{reason="too_many_connections"}"#;
    let replies = r#"trustgate_smtp_replies_total{code="421",enhanced="4.7.0"}"#;
    let (refused_before, replies_before) = (counter(refused), counter(replies));
    let srv = start(
        limits(),
        ConnectionLimits {
            max_connections_per_ip: 2,
            ..conn_limits()
        },
        None,
    )
    .await;
    let mut c1 = Client::greeted(srv.addr).await;
    let _c2 = Client::greeted(srv.addr).await;
    let mut c3 = Client::connect(srv.addr).await;
    c3.expect("421 4.7.0").await;
    c3.expect_eof().await;
    // Counted where it is logged, its reply too (other tests may add to both meanwhile).
    assert!(counter(refused) > refused_before);
    assert!(counter(replies) > replies_before);
    // A freed slot is usable again (the slot is released when the first session's task ends).
    c1.send("QUIT\r\n").await;
    c1.expect("221").await;
    c1.expect_eof().await;
    wait_for_banner(srv.addr).await;
    srv.stop().await;
}

#[tokio::test]
async fn connections_per_minute_over_the_rate_get_451_and_recover() {
    // 60 a minute: a burst of 60, then one more a second (SMTP-HARDENING 19).
    let srv = start(
        limits(),
        ConnectionLimits {
            max_connections_per_minute: 60,
            ..conn_limits()
        },
        None,
    )
    .await;
    let mut greeted = 0;
    let refused = loop {
        let mut c = Client::connect(srv.addr).await;
        let r = c.reply().await;
        if r.starts_with("220 ") {
            greeted += 1;
            assert!(greeted <= 62, "never limited");
            continue;
        }
        break r;
    };
    assert!(
        refused.starts_with("451 4.7.1") && refused.contains("last minute"),
        "{refused}"
    );
    assert!((60..=62).contains(&greeted), "refused after {greeted}");
    // The allowance refills: a second later there is room for one more.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let _c = Client::greeted(srv.addr).await;
    srv.stop().await;
}

#[tokio::test]
async fn total_connection_cap_is_421() {
    let srv = start(
        limits(),
        ConnectionLimits {
            max_connections: 1,
            ..conn_limits()
        },
        None,
    )
    .await;
    let _c1 = Client::greeted(srv.addr).await;
    let mut c2 = Client::connect(srv.addr).await;
    c2.expect("421 4.7.0").await;
    c2.expect_eof().await;
    srv.stop().await;
}

/// Connects until a connection is greeted with 220 (bounded by `WAIT`).
async fn wait_for_banner(addr: SocketAddr) {
    tokio::time::timeout(WAIT, async {
        loop {
            let mut c = Client::connect(addr).await;
            if c.reply().await.starts_with("220 ") {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("no slot freed");
}

/// RFC 5321 4.5.3.2; SMTP-HARDENING 17.
#[tokio::test]
async fn command_timeout_is_421_4_4_2() {
    let srv = start(
        Limits {
            command_timeout: Duration::from_millis(200),
            ..limits()
        },
        conn_limits(),
        None,
    )
    .await;
    let mut c = Client::greeted(srv.addr).await;
    c.expect("421 4.4.2").await;
    c.expect_eof().await;
    srv.stop().await;
}

#[tokio::test]
async fn data_timeout_is_421_4_4_2_and_nothing_stored() {
    let srv = start(
        Limits {
            data_timeout: Duration::from_millis(200),
            ..limits()
        },
        conn_limits(),
        None,
    )
    .await;
    let mut c = Client::greeted(srv.addr).await;
    c.open_data().await;
    c.send("Subject: slow\r\n\r\npart").await;
    c.expect("421 4.4.2").await;
    c.expect_eof().await;
    assert!(srv.handler.messages().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn session_deadline_is_421_4_4_2() {
    let srv = start(
        Limits {
            session_timeout: Duration::from_millis(300),
            ..limits()
        },
        conn_limits(),
        None,
    )
    .await;
    let mut c = Client::greeted(srv.addr).await;
    c.expect("421 4.4.2").await;
    c.expect_eof().await;
    srv.stop().await;
}

/// STYLE 3.6: an idle session answers 421 4.3.2, and `run` returns once sessions are gone.
#[tokio::test]
async fn shutdown_answers_421_4_3_2_and_run_returns() {
    let srv = start(limits(), conn_limits(), None).await;
    let mut c = Client::greeted(srv.addr).await;
    c.send("EHLO c.test\r\n").await;
    c.expect("250").await;
    srv.shutdown.cancel();
    c.expect("421 4.3.2").await;
    c.expect_eof().await;
    tokio::time::timeout(WAIT, srv.task)
        .await
        .expect("run did not return")
        .unwrap();
}

/// A session inside DATA finishes its message first, then gets 421 4.3.2.
#[tokio::test]
async fn shutdown_lets_a_message_in_data_finish() {
    let srv = start(limits(), conn_limits(), None).await;
    let mut c = Client::greeted(srv.addr).await;
    c.open_data().await;
    c.send("Subject: in flight\r\n\r\nfirst half\r\n").await;
    srv.shutdown.cancel();
    c.send("second half\r\n.\r\n").await;
    c.expect("250 2.0.0").await;
    c.expect("421 4.3.2").await;
    c.expect_eof().await;
    let messages = srv.handler.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].body,
        b"Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n"
    );
    tokio::time::timeout(WAIT, srv.task)
        .await
        .expect("run did not return")
        .unwrap();
}

/// Thousands of idle sessions at once, all still answered. Needs `ulimit -n` above
/// 2 × SESSIONS (both ends live in this process); `scripts/test.sh` raises it. Run with
/// `--nocapture` to see the resident memory per idle session.
#[tokio::test]
async fn thousands_of_idle_sessions() {
    const SESSIONS: usize = 2000;
    let conn = ConnectionLimits {
        max_connections: SESSIONS,
        max_connections_per_ip: SESSIONS,
        ..conn_limits()
    };
    let srv = start(limits(), conn, None).await;
    let before = resident_kib();
    let mut clients = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        clients.push(Client::greeted(srv.addr).await);
    }
    let after = resident_kib();
    println!(
        "{SESSIONS} idle sessions: {} KiB resident more, {} bytes each (client side included)",
        after.saturating_sub(before),
        after.saturating_sub(before) * 1024 / SESSIONS as u64
    );
    for c in &mut clients {
        c.send("NOOP\r\n").await;
    }
    for c in &mut clients {
        c.expect("250 2.0.0").await;
    }
    srv.stop().await;
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
