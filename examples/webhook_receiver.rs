//! A minimal, fast HTTP/1.1 receiver for the delivery benchmarks (`bench/run.sh` with
//! `trustgate+delivery`, `bench/drain.sh`): what trustgate's webhook sink posts to.
//!
//! It reads each request (keep-alive, `Content-Length` bodies, pipelined requests allowed),
//! throws the body away and answers `--status` (200 by default) with a two-byte body. It
//! counts requests, POSTs, body bytes and distinct `webhook-id` headers, and remembers when the
//! first and the last POST were answered. `GET /stats` answers those counters as one JSON
//! object (never counted as a request); SIGTERM or SIGINT prints the same JSON on stdout and
//! exits 0. `--dump-first PATH` writes the body of the first POST with a body to `PATH` (and
//! its `Content-Type` to `PATH.content-type`), so a plain HTTP load generator can post the
//! same bytes (`bench/drain.sh` gives it to `wrk`).
//!
//! Loopback only: it refuses to listen on any other address. Chunked request bodies are not
//! supported (answered 411, connection closed); trustgate's webhook sink and `wrk` always send
//! `Content-Length`.
//!
//! ```sh
//! cargo run --release --example webhook_receiver -- --listen 127.0.0.1:2581 [--status 200] \
//!     [--dump-first /tmp/body.json]
//! curl -s http://127.0.0.1:2581/stats
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::Parser;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The longest request head (request line and headers) read.
const MAX_HEAD: usize = 64 * 1024;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Minimal HTTP/1.1 webhook receiver that counts what it is sent")]
struct Args {
    /// Where to listen, 127.0.0.1:PORT (loopback addresses only).
    #[arg(long, default_value = "127.0.0.1:2581")]
    listen: SocketAddr,
    /// The status every request other than `GET /stats` is answered with.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(200..=599))]
    status: u16,
    /// Write the body of the first POST to this file (and its Content-Type to FILE.content-type).
    #[arg(long, value_name = "FILE")]
    dump_first: Option<PathBuf>,
    /// Refuse bodies larger than this many bytes (answered 413, connection closed).
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    max_body: u64,
    /// Runtime threads (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Counters shared by every connection.
#[derive(Default)]
struct State {
    started_us: u64,
    connections: AtomicU64,
    open_connections: AtomicU64,
    /// Requests answered with `--status` (every request but `GET /stats` and bad ones).
    requests: AtomicU64,
    posts: AtomicU64,
    body_bytes: AtomicU64,
    /// Requests with a `webhook-id` header.
    with_webhook_id: AtomicU64,
    /// Requests whose `webhook-id` was seen before (a redelivery).
    duplicate_ids: AtomicU64,
    ids: Mutex<HashSet<Box<str>>>,
    /// Unix microseconds when the first / last POST was answered (0: none yet).
    first_post_us: AtomicU64,
    last_post_us: AtomicU64,
    bad_requests: AtomicU64,
    /// Connections that ended inside a request or on a socket error.
    aborted_connections: AtomicU64,
    dumped: AtomicBool,
    first_content_type: Mutex<Option<String>>,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl State {
    fn json(&self, status: u16) -> serde_json::Value {
        let first = self.first_post_us.load(Ordering::Relaxed);
        let last = self.last_post_us.load(Ordering::Relaxed);
        let posts = self.posts.load(Ordering::Relaxed);
        let span_s = if last > first {
            (last - first) as f64 / 1e6
        } else {
            0.0
        };
        let distinct = self
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        serde_json::json!({
            "status": status,
            "started_unix_ms": self.started_us / 1000,
            "now_unix_ms": now_us() / 1000,
            "connections": self.connections.load(Ordering::Relaxed),
            "open_connections": self.open_connections.load(Ordering::Relaxed),
            "requests": self.requests.load(Ordering::Relaxed),
            "posts": posts,
            "body_bytes": self.body_bytes.load(Ordering::Relaxed),
            "with_webhook_id": self.with_webhook_id.load(Ordering::Relaxed),
            "distinct_webhook_ids": distinct,
            "duplicate_webhook_ids": self.duplicate_ids.load(Ordering::Relaxed),
            "bad_requests": self.bad_requests.load(Ordering::Relaxed),
            "aborted_connections": self.aborted_connections.load(Ordering::Relaxed),
            "first_post_unix_ms": (first > 0).then_some(first as f64 / 1000.0),
            "last_post_unix_ms": (last > 0).then_some(last as f64 / 1000.0),
            "first_to_last_s": span_s,
            "first_content_type": *self.first_content_type.lock().unwrap_or_else(PoisonError::into_inner),
        })
    }
}

/// What the head of one request says.
struct Head {
    method: String,
    target: String,
    keep_alive: bool,
    content_length: u64,
    chunked: bool,
    expect_continue: bool,
    webhook_id: Option<String>,
    content_type: Option<String>,
}

fn parse_head(head: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let version = parts.next()?;
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return None,
    };
    let mut h = Head {
        method,
        target,
        keep_alive: http11,
        content_length: 0,
        chunked: false,
        expect_continue: false,
        webhook_id: None,
        content_type: None,
    };
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            h.content_length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            h.chunked = !value.eq_ignore_ascii_case("identity");
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                h.keep_alive = false;
            } else if v.contains("keep-alive") {
                h.keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("expect") {
            h.expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("webhook-id") {
            h.webhook_id = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("content-type") {
            h.content_type = Some(value.to_string());
        }
    }
    Some(h)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        408 => "Request Timeout",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn response(status: u16, content_type: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    if status != 204 {
        r.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    if !keep_alive {
        r.push_str("Connection: close\r\n");
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    if status != 204 {
        bytes.extend_from_slice(body);
    }
    bytes
}

/// Serves one connection until the peer closes it, asks to, or sends something unreadable.
async fn serve(stream: TcpStream, state: Arc<State>, args: Arc<Args>) -> anyhow::Result<()> {
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut head = Vec::with_capacity(1024);
    loop {
        head.clear();
        // The head: lines up to the empty line (empty lines before a request are skipped).
        loop {
            let before = head.len();
            let n = (&mut rd)
                .take((MAX_HEAD + 1 - head.len()) as u64)
                .read_until(b'\n', &mut head)
                .await
                .context("read")?;
            if n == 0 {
                if head.is_empty() {
                    return Ok(()); // closed between requests
                }
                bail!("connection closed inside a request head");
            }
            if head.len() > MAX_HEAD {
                state.bad_requests.fetch_add(1, Ordering::Relaxed);
                let _ = wr.write_all(&response(431, "text/plain", b"", false)).await;
                return Ok(());
            }
            let line = &head[before..];
            if line == b"\r\n" || line == b"\n" {
                if before == 0 {
                    head.clear();
                    continue;
                }
                break;
            }
        }
        let Some(h) = parse_head(&head) else {
            state.bad_requests.fetch_add(1, Ordering::Relaxed);
            let _ = wr
                .write_all(&response(400, "text/plain", b"bad request", false))
                .await;
            return Ok(());
        };
        if h.chunked {
            state.bad_requests.fetch_add(1, Ordering::Relaxed);
            let _ = wr
                .write_all(&response(411, "text/plain", b"send Content-Length", false))
                .await;
            return Ok(());
        }
        if h.content_length > args.max_body {
            state.bad_requests.fetch_add(1, Ordering::Relaxed);
            let _ = wr
                .write_all(&response(413, "text/plain", b"too large", false))
                .await;
            return Ok(());
        }
        if h.expect_continue && h.content_length > 0 {
            wr.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .context("write")?;
        }
        // The body: kept only when it is the first one to dump, else discarded as it comes.
        let dump = h.method == "POST"
            && h.content_length > 0
            && args.dump_first.is_some()
            && !state.dumped.swap(true, Ordering::Relaxed);
        if dump {
            let mut body = Vec::with_capacity(h.content_length as usize);
            (&mut rd)
                .take(h.content_length)
                .read_to_end(&mut body)
                .await
                .context("read body")?;
            if body.len() as u64 != h.content_length {
                bail!("connection closed inside a body");
            }
            if let Some(path) = &args.dump_first {
                tokio::fs::write(path, &body)
                    .await
                    .with_context(|| format!("write {}", path.display()))?;
                let ct = h.content_type.clone().unwrap_or_default();
                let mut ct_path = path.clone().into_os_string();
                ct_path.push(".content-type");
                tokio::fs::write(&ct_path, ct.as_bytes())
                    .await
                    .context("write the content type")?;
                *state
                    .first_content_type
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = h.content_type.clone();
                eprintln!(
                    "webhook_receiver: wrote the first body ({} bytes) to {}",
                    body.len(),
                    path.display()
                );
            }
        } else if h.content_length > 0 {
            let copied = tokio::io::copy_buf(
                &mut (&mut rd).take(h.content_length),
                &mut tokio::io::sink(),
            )
            .await
            .context("read body")?;
            if copied != h.content_length {
                bail!("connection closed inside a body");
            }
        }

        let reply = if h.method == "GET" && (h.target == "/stats" || h.target == "/stats/") {
            let body = state.json(args.status).to_string();
            response(200, "application/json", body.as_bytes(), h.keep_alive)
        } else {
            state.requests.fetch_add(1, Ordering::Relaxed);
            state
                .body_bytes
                .fetch_add(h.content_length, Ordering::Relaxed);
            if let Some(id) = h.webhook_id {
                state.with_webhook_id.fetch_add(1, Ordering::Relaxed);
                let fresh = state
                    .ids
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id.into_boxed_str());
                if !fresh {
                    state.duplicate_ids.fetch_add(1, Ordering::Relaxed);
                }
            }
            if h.method == "POST" {
                let now = now_us();
                let _ = state.first_post_us.compare_exchange(
                    0,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                state.last_post_us.fetch_max(now, Ordering::Relaxed);
                state.posts.fetch_add(1, Ordering::Relaxed);
            }
            response(args.status, "text/plain", b"ok", h.keep_alive)
        };
        wr.write_all(&reply).await.context("write")?;
        if !h.keep_alive {
            let _ = wr.shutdown().await;
            return Ok(());
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "--listen {} is not a loopback address; this benchmark receiver listens on 127.0.0.1 only",
            args.listen
        );
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let state = Arc::new(State {
        started_us: now_us(),
        ..State::default()
    });
    let args = Arc::new(args);
    eprintln!(
        "webhook_receiver: listening on http://{} (answering {})",
        args.listen, args.status
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("SIGTERM handler")?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("webhook_receiver: accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                state.connections.fetch_add(1, Ordering::Relaxed);
                state.open_connections.fetch_add(1, Ordering::Relaxed);
                let (state, args) = (Arc::clone(&state), Arc::clone(&args));
                tokio::spawn(async move {
                    // A peer that vanishes mid-request is no error of ours; just count it.
                    if serve(stream, Arc::clone(&state), args).await.is_err() {
                        state.aborted_connections.fetch_add(1, Ordering::Relaxed);
                    }
                    state.open_connections.fetch_sub(1, Ordering::Relaxed);
                });
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    println!("{}", state.json(args.status));
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("webhook_receiver: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webhook_receiver: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
