//! Downstream peers for the delivery tests, on 127.0.0.1: a scripted HTTP/1.1 webhook
//! receiver and a scripted SMTP relay. Each runs on plain threads over real sockets and
//! records what it received.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A free loopback port (bound and released: a peer can start there later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered with.
    pub status: u16,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// An answer of the webhook receiver: status and extra headers.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl HttpAnswer {
    pub fn status(status: u16) -> HttpAnswer {
        HttpAnswer {
            status,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> HttpAnswer {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A webhook receiver answering from a script, then with a default status.
pub struct WebhookServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<HttpRequest>>>,
    script: Arc<Mutex<VecDeque<HttpAnswer>>>,
    default: Arc<Mutex<HttpAnswer>>,
    delay: Arc<Mutex<Duration>>,
    stop: Arc<AtomicBool>,
}

impl WebhookServer {
    /// On an ephemeral port, answering 200 unless scripted.
    pub fn start() -> WebhookServer {
        Self::start_on(0)
    }

    /// On `port` (0: ephemeral).
    pub fn start_on(port: u16) -> WebhookServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let server = WebhookServer {
            addr: listener.local_addr().unwrap(),
            requests: Arc::default(),
            script: Arc::default(),
            default: Arc::new(Mutex::new(HttpAnswer::status(200))),
            delay: Arc::default(),
            stop: Arc::default(),
        };
        let (requests, script, default, stop, delay) = (
            Arc::clone(&server.requests),
            Arc::clone(&server.script),
            Arc::clone(&server.default),
            Arc::clone(&server.stop),
            Arc::clone(&server.delay),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (requests, script, default, stop, delay) = (
                            Arc::clone(&requests),
                            Arc::clone(&script),
                            Arc::clone(&default),
                            Arc::clone(&stop),
                            Arc::clone(&delay),
                        );
                        std::thread::spawn(move || {
                            let _ = serve_http(stream, &requests, &script, &default, &stop, &delay);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        server
    }

    /// The next answers, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = HttpAnswer>) {
        self.script.lock().unwrap().extend(answers);
    }

    /// How long each answer waits (the request is recorded when it arrives).
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    /// The answer once the script is used up.
    pub fn set_default(&self, answer: HttpAnswer) {
        *self.default.lock().unwrap() = answer;
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/invoices", self.addr)
    }

    pub fn requests(&self) -> Vec<HttpRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (panics after `secs`).
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<HttpRequest> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "webhook got {} of {n} requests in {secs} s",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_http(
    stream: TcpStream,
    requests: &Mutex<Vec<HttpRequest>>,
    script: &Mutex<VecDeque<HttpAnswer>>,
    default: &Mutex<HttpAnswer>,
    stop: &AtomicBool,
    delay: &Mutex<Duration>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let answer = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| default.lock().unwrap().clone());
        requests.lock().unwrap().push(HttpRequest {
            method,
            path,
            headers,
            body,
            at: Instant::now(),
            status: answer.status,
        });
        let wait = *delay.lock().unwrap();
        std::thread::sleep(wait);
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n",
            answer.status
        );
        for (n, v) in &answer.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes())?;
        writer.write_all(b"ok")?;
        writer.flush()?;
    }
}

/// One message the SMTP relay accepted.
#[derive(Debug, Clone)]
pub struct RelayedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA bytes, dot-unstuffed, without the final `.`.
    pub data: Vec<u8>,
}

/// An SMTP relay whose reply to each DATA (end of data) follows a script, then `250`.
pub struct SmtpRelay {
    pub addr: SocketAddr,
    pub mails: Arc<Mutex<Vec<RelayedMail>>>,
    /// Final replies of the transactions so far (accepted or not).
    pub replies: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<VecDeque<String>>>,
    stop: Arc<AtomicBool>,
}

impl SmtpRelay {
    pub fn start() -> SmtpRelay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let relay = SmtpRelay {
            addr: listener.local_addr().unwrap(),
            mails: Arc::default(),
            replies: Arc::default(),
            script: Arc::default(),
            stop: Arc::default(),
        };
        let (mails, replies, script, stop) = (
            Arc::clone(&relay.mails),
            Arc::clone(&relay.replies),
            Arc::clone(&relay.script),
            Arc::clone(&relay.stop),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (mails, replies, script) = (
                            Arc::clone(&mails),
                            Arc::clone(&replies),
                            Arc::clone(&script),
                        );
                        std::thread::spawn(move || {
                            let _ = serve_smtp(stream, &mails, &replies, &script);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        relay
    }

    /// The next end-of-data replies, e.g. `"451 4.3.0 try later"`.
    pub fn script(&self, replies: &[&str]) {
        self.script
            .lock()
            .unwrap()
            .extend(replies.iter().map(|r| (*r).to_string()));
    }

    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<RelayedMail> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.mails.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "relay got {} of {n} mails in {secs} s",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for SmtpRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_smtp(
    stream: TcpStream,
    mails: &Mutex<Vec<RelayedMail>>,
    replies: &Mutex<Vec<String>>,
    script: &Mutex<VecDeque<String>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    w.write_all(b"220 relay.test ESMTP\r\n")?;
    let (mut from, mut rcpts) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-relay.test\r\n250-8BITMIME\r\n250 PIPELINING\r\n")?;
        } else if upper.starts_with("HELO") {
            w.write_all(b"250 relay.test\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = between_angles(&line);
            rcpts.clear();
            w.write_all(b"250 2.1.0 ok\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            rcpts.push(between_angles(&line));
            w.write_all(b"250 2.1.5 ok\r\n")?;
        } else if upper.starts_with("DATA") {
            w.write_all(b"354 go ahead\r\n")?;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                if r.read_until(b'\n', &mut l)? == 0 {
                    return Ok(());
                }
                if l == b".\r\n" {
                    break;
                }
                if l.starts_with(b"..") {
                    l.remove(0);
                }
                data.extend_from_slice(&l);
            }
            let reply = script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| "250 2.0.0 Ok: queued as RELAY1".to_string());
            replies.lock().unwrap().push(reply.clone());
            if reply.starts_with('2') {
                mails.lock().unwrap().push(RelayedMail {
                    mail_from: from.clone(),
                    rcpt_to: rcpts.clone(),
                    data,
                });
            }
            w.write_all(format!("{reply}\r\n").as_bytes())?;
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            w.write_all(b"250 2.0.0 ok\r\n")?;
        } else if upper.starts_with("QUIT") {
            w.write_all(b"221 2.0.0 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"502 5.5.2 not implemented\r\n")?;
        }
    }
}

fn between_angles(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line.rfind('>').unwrap_or(line.len());
    line[start..end].to_string()
}

/// A `nats-server -js` on a loopback port with its own store, killed when dropped.
pub struct NatsServer {
    pub port: u16,
    child: std::process::Child,
    _store: tempfile::TempDir,
}

impl NatsServer {
    /// Starts one; `None` when nats-server is not installed and this is not CI (CI installs
    /// it through scripts/test.sh, so there a missing server fails the test).
    pub fn start() -> Option<NatsServer> {
        Self::start_on(free_port())
    }

    /// The same on `port` (a server that comes back where a sink expects it).
    pub fn start_on(port: u16) -> Option<NatsServer> {
        let store = tempfile::tempdir().unwrap();
        let child = match std::process::Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(err) if std::env::var_os("CI").is_none() => {
                eprintln!(
                    "skipped: nats-server not installed ({err}); scripts/test.sh installs it"
                );
                return None;
            }
            Err(err) => panic!("nats-server is needed in CI: {err}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(NatsServer {
            port,
            child,
            _store: store,
        })
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
