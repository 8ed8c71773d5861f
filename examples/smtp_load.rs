//! SMTP load generator for the benchmarks (`bench/run.sh`, `BENCHMARKS.md`).
//!
//! N sessions, each one persistent TCP connection that loops MAIL, RCPT, DATA, the message and
//! the final dot, against any `HOST:PORT`: trustgate, Postfix or smtp-sink get exactly the same
//! bytes. The message is a real invoice mail of `--size` bytes (`bench/invoice_mail.rs`) with a
//! unique Message-ID each time. Latency is measured from just before the final `.\r\n` is
//! written to the moment the reply is read: what the server spends accepting (and, for a
//! spooling server, storing) a message. Only 250 counts as a success; every other reply or
//! failure is counted by stage and reply code.
//!
//! Its own minimal SMTP client over raw TCP (no library between the clock and the socket).
//! It must never send anywhere but the address it is given; `bench/run.sh` gives it loopback
//! addresses only. Every run is bounded: it stops at the end of `--duration` (or after
//! `--messages`, at most 10 minutes), and every reply wait has `--timeout`.
//!
//! ```sh
//! cargo run --release --example smtp_load -- --addr 127.0.0.1:2525 --sessions 20 --size 50KiB \
//!     --duration 20s --warmup 2s [--json]
//! ```

#[path = "../bench/invoice_mail.rs"]
mod invoice_mail;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::Parser;
use invoice_mail::InvoiceMail;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Hard cap of a `--messages` run without `--duration`.
const MESSAGES_MODE_CAP: Duration = Duration::from_secs(600);
/// Pause before reconnecting after a failed connection, so a dead server is not hammered.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "SMTP load generator: N persistent sessions sending a real invoice mail")]
struct Args {
    /// Server to load, HOST:PORT (use loopback addresses only).
    #[arg(long)]
    addr: String,
    /// Concurrent sessions (one TCP connection each).
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    /// Message size: bytes, or with a unit: 50KiB, 1MiB (binary), 50kB, 1MB (decimal).
    #[arg(long, default_value = "50KiB", value_parser = parse_size)]
    size: usize,
    /// Measured time, after the warm-up (default 20s unless --messages is given).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many accepted messages in the measured phase instead.
    #[arg(long)]
    messages: Option<u64>,
    /// Warm-up before measuring: messages sent, not counted.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Envelope sender (MAIL FROM); the header From is always the invoice supplier.
    #[arg(long, default_value = invoice_mail::FROM)]
    from: String,
    /// Envelope recipient (RCPT TO).
    #[arg(long, default_value = invoice_mail::TO)]
    to: String,
    /// Invoice XML to attach (default: the SI-UBL minimal fixture).
    #[arg(long)]
    xml: Option<PathBuf>,
    /// Name of the server under test, for the output.
    #[arg(long, default_value = "server")]
    label: String,
    /// Give every message its own invoice number (the XML's first cbc:ID, same width; unique
    /// within a run), so a server that detects duplicate invoices sees none; by default every
    /// message carries the same invoice.
    #[arg(long)]
    unique_invoices: bool,
    /// With --unique-invoices: add this to every invoice number, so that consecutive runs
    /// against one spool (bench/growth.sh batches) send different invoices too. Give each run
    /// an offset at least the previous run's offset plus its --messages; the offset plus one
    /// session's message count must stay below 1,000,000.
    #[arg(long, default_value_t = 0)]
    invoice_offset: u64,
    /// Send MAIL, RCPT and DATA in one write when the server offers PIPELINING.
    #[arg(long)]
    pipelining: bool,
    /// Longest wait for any one reply or connect.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Runtime threads of this generator (1: a single-threaded runtime, the least noise).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Pace the load at this many messages per second in all (each session sends at its share
    /// of the rate; a session that falls behind sends at once until it is on time again). By
    /// default every session sends as fast as the server answers.
    #[arg(long)]
    rate: Option<f64>,
    /// Print the result as one JSON object on stdout (the summary line goes to stderr).
    #[arg(long)]
    json: bool,
    /// Only write one message as it would be sent (without the final dot) to this file, and exit.
    #[arg(long)]
    dump: Option<PathBuf>,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("not a size: {s:?} (try 51200 or 50KiB)"))?;
    let mult = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1024,
        "MiB" | "M" => 1024 * 1024,
        "kB" | "KB" => 1000,
        "MB" => 1_000_000,
        u => return Err(format!("unknown size unit {u:?} (B, KiB, MiB, kB, MB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

/// When to count, and when to stop; shared by all sessions.
struct Plan {
    measure_start: Instant,
    measure_end: Instant,
    /// `Some(M)`: stop after M measured messages (tickets taken at the start of a transaction).
    messages: Option<u64>,
    tickets: AtomicU64,
    stop: AtomicBool,
}

impl Plan {
    /// Whether a new transaction may start now, and whether it is measured.
    fn next(&self) -> Option<bool> {
        let now = Instant::now();
        if self.stop.load(Ordering::Relaxed) || now >= self.measure_end {
            return None;
        }
        if now < self.measure_start {
            return Some(false);
        }
        if let Some(m) = self.messages
            && self.tickets.fetch_add(1, Ordering::Relaxed) >= m
        {
            self.stop.store(true, Ordering::Relaxed);
            return None;
        }
        Some(true)
    }

    /// Whether a reply read at `at` for a transaction of this kind is counted.
    fn counts(&self, measured: bool, at: Instant) -> bool {
        if self.messages.is_some() {
            measured
        } else {
            at >= self.measure_start && at <= self.measure_end
        }
    }
}

/// What one session saw.
#[derive(Default)]
struct Stats {
    /// End-of-data latencies of counted 250 replies, in nanoseconds.
    latencies: Vec<u64>,
    /// Counted non-250 outcomes by `STAGE CODE ENHANCED`.
    errors: BTreeMap<String, u64>,
    /// One full reply or error text per key of `errors`.
    samples: BTreeMap<String, String>,
    /// Failures during the warm-up or after the end (not in `errors`).
    uncounted_errors: u64,
    /// Reply time of the last counted 250.
    last_ok: Option<Instant>,
    /// Every 250 at end of data, warm-up included (to relate a server's own CPU counters).
    all_ok: u64,
}

impl Stats {
    fn error(&mut self, plan: &Plan, measured: bool, key: String, text: String) {
        if plan.counts(measured, Instant::now()) {
            *self.errors.entry(key.clone()).or_default() += 1;
            self.samples
                .entry(key)
                .or_insert_with(|| text.chars().take(200).collect());
        } else {
            self.uncounted_errors += 1;
        }
    }

    fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in other.samples {
            self.samples.entry(k).or_insert(v);
        }
        self.uncounted_errors += other.uncounted_errors;
        self.last_ok = self.last_ok.max(other.last_ok);
        self.all_ok += other.all_ok;
    }
}

/// One SMTP reply: its code and its lines joined.
struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    /// `CODE X.Y.Z` (the enhanced code when there is one), the key errors are counted by.
    fn key(&self) -> String {
        let enhanced = self
            .text
            .get(4..)
            .and_then(|t| t.split_whitespace().next())
            .filter(|w| w.len() >= 5 && w.chars().all(|c| c.is_ascii_digit() || c == '.'));
        match enhanced {
            Some(e) => format!("{} {e}", self.code),
            None => self.code.to_string(),
        }
    }
}

/// A client connection: buffered reads, direct writes.
struct Conn {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    line: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    async fn connect(addr: &str, timeout: Duration) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .context("connect timed out")?
            .context("connect")?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        let (rd, wr) = stream.into_split();
        Ok(Conn {
            rd: BufReader::with_capacity(16 * 1024, rd),
            wr,
            line: Vec::new(),
            timeout,
        })
    }

    async fn read_reply(&mut self) -> anyhow::Result<Reply> {
        tokio::time::timeout(self.timeout, self.read_reply_inner())
            .await
            .context("reply timed out")?
    }

    async fn read_reply_inner(&mut self) -> anyhow::Result<Reply> {
        let mut text = String::new();
        loop {
            self.line.clear();
            let n = self
                .rd
                .read_until(b'\n', &mut self.line)
                .await
                .context("read")?;
            if n == 0 {
                bail!("connection closed by the server");
            }
            let line = String::from_utf8_lossy(&self.line);
            let line = line.trim_end();
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .with_context(|| format!("not an SMTP reply: {line:?}"))?;
            if !text.is_empty() {
                text.push_str(" | ");
            }
            text.push_str(line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, text });
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        tokio::time::timeout(self.timeout, self.wr.write_all(bytes))
            .await
            .context("write timed out")?
            .context("write")
    }
}

/// What the session loop does after a transaction.
enum Next {
    Continue,
    Reconnect,
}

/// One session: connect, EHLO, loop transactions until the plan says stop; reconnects when the
/// server closes or refuses at MAIL/RCPT/DATA.
async fn session(index: u64, args: Arc<Args>, plan: Arc<Plan>, mut mail: InvoiceMail) -> Stats {
    let mut stats = Stats::default();
    let mut seq: u64 = 0;
    let mail_from = format!("MAIL FROM:<{}> SIZE={}\r\n", args.from, mail.bytes.len());
    let mail_from_plain = format!("MAIL FROM:<{}>\r\n", args.from);
    let rcpt = format!("RCPT TO:<{}>\r\n", args.to);
    // `--rate`: this session's interval between messages, its sessions spread over one interval.
    let pace = args
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(args.sessions.max(1) as f64 / r));
    let started = tokio::time::Instant::now()
        + pace.map_or(Duration::ZERO, |p| {
            p.mul_f64(index as f64 / args.sessions.max(1) as f64)
        });
    'connection: while let Some(measured) = plan.next() {
        let (mut conn, caps) = match open(&args).await {
            Ok(c) => c,
            Err((stage, e)) => {
                stats.error(&plan, measured, format!("{stage} error"), format!("{e:#}"));
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        let mut measured = measured;
        loop {
            seq += 1;
            if let Some(pace) = pace {
                tokio::time::sleep_until(started + pace.mul_f64((seq - 1) as f64)).await;
            }
            mail.set_id(index * 1_000_000_000_000 + seq);
            if args.unique_invoices {
                // Unique within a run: the session in the high digits; across runs with
                // --invoice-offset.
                mail.set_invoice_number(index * 1_000_000 + args.invoice_offset + seq);
            }
            let mail_cmd = if caps.size {
                &mail_from
            } else {
                &mail_from_plain
            };
            match transaction(
                &mut conn,
                &mail,
                mail_cmd,
                &rcpt,
                caps.pipelining && args.pipelining,
            )
            .await
            {
                Ok(Outcome::Accepted { latency, at }) => {
                    stats.all_ok += 1;
                    if plan.counts(measured, at) {
                        stats.latencies.push(latency.as_nanos() as u64);
                        stats.last_ok = Some(at);
                    }
                }
                Ok(Outcome::Refused { stage, reply }) => {
                    let next = if stage == "DATA-END" && reply.code != 421 {
                        Next::Continue
                    } else {
                        Next::Reconnect
                    };
                    stats.error(
                        &plan,
                        measured,
                        format!("{stage} {}", reply.key()),
                        reply.text,
                    );
                    if let Next::Reconnect = next {
                        let _ = conn.send(b"QUIT\r\n").await;
                        continue 'connection;
                    }
                }
                Err(e) => {
                    stats.error(&plan, measured, "io error".into(), format!("{e:#}"));
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue 'connection;
                }
            }
            match plan.next() {
                Some(m) => measured = m,
                None => {
                    let _ = conn.send(b"QUIT\r\n").await;
                    let _ = conn.read_reply().await;
                    break 'connection;
                }
            }
        }
    }
    stats
}

/// What the server offers after EHLO.
struct Caps {
    pipelining: bool,
    size: bool,
}

async fn open(args: &Args) -> Result<(Conn, Caps), (&'static str, anyhow::Error)> {
    let mut conn = Conn::connect(&args.addr, args.timeout)
        .await
        .map_err(|e| ("CONNECT", e))?;
    let greeting = conn.read_reply().await.map_err(|e| ("GREETING", e))?;
    if greeting.code != 220 {
        return Err(("GREETING", anyhow::anyhow!("{}", greeting.text)));
    }
    conn.send(b"EHLO load.supplier.example\r\n")
        .await
        .map_err(|e| ("EHLO", e))?;
    let ehlo = conn.read_reply().await.map_err(|e| ("EHLO", e))?;
    if ehlo.code != 250 {
        return Err(("EHLO", anyhow::anyhow!("{}", ehlo.text)));
    }
    let upper = ehlo.text.to_ascii_uppercase();
    let has = |kw: &str| {
        upper
            .split(" | ")
            .any(|l| l.get(4..).is_some_and(|k| k.starts_with(kw)))
    };
    Ok((
        conn,
        Caps {
            pipelining: has("PIPELINING"),
            size: has("SIZE"),
        },
    ))
}

enum Outcome {
    Accepted { latency: Duration, at: Instant },
    Refused { stage: &'static str, reply: Reply },
}

async fn transaction(
    conn: &mut Conn,
    mail: &InvoiceMail,
    mail_cmd: &str,
    rcpt: &str,
    pipelining: bool,
) -> anyhow::Result<Outcome> {
    let stages: [(&'static str, u16); 3] = [("MAIL", 250), ("RCPT", 250), ("DATA", 354)];
    if pipelining {
        let batch = format!("{mail_cmd}{rcpt}DATA\r\n");
        conn.send(batch.as_bytes()).await?;
        let mut refused = None;
        for (stage, want) in stages {
            let reply = conn.read_reply().await?;
            if reply.code != want && refused.is_none() {
                refused = Some(Outcome::Refused { stage, reply });
            }
        }
        if let Some(r) = refused {
            return Ok(r);
        }
    } else {
        for ((stage, want), cmd) in stages.into_iter().zip([mail_cmd, rcpt, "DATA\r\n"]) {
            conn.send(cmd.as_bytes()).await?;
            let reply = conn.read_reply().await?;
            if reply.code != want {
                return Ok(Outcome::Refused { stage, reply });
            }
        }
    }
    conn.send(&mail.bytes).await?;
    let sent = Instant::now();
    conn.send(b".\r\n").await?;
    let reply = conn.read_reply().await?;
    let at = Instant::now();
    if reply.code == 250 {
        Ok(Outcome::Accepted {
            latency: at - sent,
            at,
        })
    } else {
        Ok(Outcome::Refused {
            stage: "DATA-END",
            reply,
        })
    }
}

/// Linux reports CPU time in USER_HZ ticks, 100 per second on every architecture we run on.
const TICKS_PER_S: f64 = 100.0;

/// CPU counters from /proc: the whole machine's busy time and this process's own.
struct CpuSample {
    at: Instant,
    cores: usize,
    machine_busy: u64,
    client: u64,
}

/// CPU spent between two samples, in seconds.
struct CpuWindow {
    wall_s: f64,
    cores: usize,
    machine_busy_s: f64,
    client_s: f64,
}

impl CpuSample {
    /// `None` where /proc is not Linux's.
    fn now() -> Option<CpuSample> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let mut cores = 0;
        let mut machine_busy = 0;
        for line in stat.lines() {
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("cpu") => {
                    // user nice system idle iowait irq softirq steal (guest is inside user).
                    let v: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
                    if v.len() < 8 {
                        return None;
                    }
                    machine_busy = v.iter().sum::<u64>() - v[3] - v[4];
                }
                Some(name) if name.starts_with("cpu") => cores += 1,
                _ => {}
            }
        }
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may contain spaces) in parentheses; utime and
        // stime are fields 14 and 15 of the line, 12 and 13 after the ')'.
        let after = own.get(own.rfind(')')? + 1..)?;
        let f: Vec<&str> = after.split_whitespace().collect();
        let client = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(CpuSample {
            at: Instant::now(),
            cores: cores.max(1),
            machine_busy,
            client,
        })
    }

    fn since(&self, before: &CpuSample) -> CpuWindow {
        CpuWindow {
            wall_s: (self.at - before.at).as_secs_f64().max(1e-9),
            cores: self.cores,
            machine_busy_s: self.machine_busy.saturating_sub(before.machine_busy) as f64
                / TICKS_PER_S,
            client_s: self.client.saturating_sub(before.client) as f64 / TICKS_PER_S,
        }
    }
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (xml_path, xml) =
        invoice_mail::read_invoice_xml(args.xml.as_deref(), root).map_err(anyhow::Error::msg)?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let run_id = format!("{:x}{:x}", nanos as u64, std::process::id());
    let mail = InvoiceMail::build(&xml, args.size, &run_id).map_err(anyhow::Error::msg)?;
    if args.unique_invoices && mail.invoice_number_span().is_none() {
        bail!(
            "--unique-invoices needs a UBL invoice whose first <cbc:ID> is at least 6 characters"
        );
    }
    if mail.bytes.len() != args.size {
        bail!(
            "built a {} byte message for --size {}",
            mail.bytes.len(),
            args.size
        );
    }
    if let Some(path) = &args.dump {
        let mut mail = mail.clone();
        mail.set_id(1);
        if args.unique_invoices {
            mail.set_invoice_number(1_000_001);
        }
        std::fs::write(path, &mail.bytes).with_context(|| format!("write {}", path.display()))?;
        eprintln!(
            "smtp_load: wrote {} bytes to {}",
            mail.bytes.len(),
            path.display()
        );
        return Ok(true);
    }
    if args.sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    if args.invoice_offset >= 1_000_000 {
        bail!("--invoice-offset must be below 1000000 (the session is in the higher digits)");
    }

    let start = Instant::now();
    let measure_start = start + args.warmup;
    let span = match (args.duration, args.messages) {
        (Some(d), _) => d,
        (None, Some(_)) => MESSAGES_MODE_CAP,
        (None, None) => Duration::from_secs(20),
    };
    let plan = Arc::new(Plan {
        measure_start,
        measure_end: measure_start + span,
        messages: args.messages,
        tickets: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let args = Arc::new(args);
    // CPU over the measured window of a --duration run (a --messages run has no fixed window).
    let cpu_window = tokio::spawn({
        let (from, to, timed) = (
            plan.measure_start,
            plan.measure_end,
            args.messages.is_none(),
        );
        async move {
            if !timed {
                return None;
            }
            tokio::time::sleep_until(from.into()).await;
            let before = CpuSample::now()?;
            tokio::time::sleep_until(to.into()).await;
            let after = CpuSample::now()?;
            Some(after.since(&before))
        }
    });
    let mut tasks = Vec::with_capacity(args.sessions);
    for i in 0..args.sessions {
        tasks.push(tokio::spawn(session(
            i as u64 + 1,
            args.clone(),
            plan.clone(),
            mail.clone(),
        )));
    }
    let mut total = Stats::default();
    for t in tasks {
        total.merge(t.await.context("session task panicked")?);
    }

    let cpu = cpu_window.await.ok().flatten();
    let elapsed = match args.messages {
        Some(_) => total
            .last_ok
            .map(|t| t.saturating_duration_since(measure_start))
            .unwrap_or(span),
        None => span,
    };
    let mut lat = std::mem::take(&mut total.latencies);
    lat.sort_unstable();
    let ok = lat.len() as u64;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = ok as f64 / secs;
    let mbps = rate * mail.bytes.len() as f64 / 1e6;
    let mean = if lat.is_empty() {
        0.0
    } else {
        lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1e6
    };
    let (p50, p90, p99) = (
        percentile_ms(&lat, 50.0),
        percentile_ms(&lat, 90.0),
        percentile_ms(&lat, 99.0),
    );
    let max = lat.last().map_or(0.0, |&m| m as f64 / 1e6);
    let errors_total: u64 = total.errors.values().sum();

    let errors_text = if total.errors.is_empty() {
        "none".to_string()
    } else {
        total
            .errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Whole-machine CPU minus this generator's own, per accepted message: what the server (and
    // the kernel's loopback and file work for it) cost, valid only on an otherwise quiet machine.
    let server_cpu_ms = cpu.as_ref().filter(|_| ok > 0).map(|c| {
        ((c.machine_busy_s - c.client_s).max(0.0) * 1000.0 / ok as f64 * 1000.0).round() / 1000.0
    });
    let cpu_text = match (&cpu, server_cpu_ms) {
        (Some(c), Some(ms)) => format!(
            "; machine busy {:.0}% of {} cores, this client {:.0}% of one, rest {ms:.3} ms CPU/msg",
            100.0 * c.machine_busy_s / c.wall_s / c.cores as f64,
            c.cores,
            100.0 * c.client_s / c.wall_s,
        ),
        _ => String::new(),
    };
    let summary = format!(
        "{label} {addr}: {ok} msgs in {secs:.1}s = {rate:.0} msgs/s ({mbps:.1} MB/s), {n} sessions x {size} B; \
         end-of-data latency p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; errors: {errors_text}{cpu_text}",
        label = args.label,
        addr = args.addr,
        n = args.sessions,
        size = mail.bytes.len(),
    );
    if args.json {
        eprintln!("{summary}");
        for (k, v) in &total.samples {
            eprintln!("  {k}: {v}");
        }
        let json = serde_json::json!({
            "label": args.label,
            "addr": args.addr,
            "sessions": args.sessions,
            "size_bytes": mail.bytes.len(),
            "warmup_s": args.warmup.as_secs_f64(),
            "elapsed_s": round3(secs),
            "pipelining": args.pipelining,
            "unique_invoices": args.unique_invoices,
            "invoice_offset": args.invoice_offset,
            "xml": xml_path.display().to_string(),
            "messages": ok,
            "accepted_total": total.all_ok,
            "msgs_per_s": round3(rate),
            "mb_per_s": round3(mbps),
            "latency_ms": {
                "p50": round3(p50), "p90": round3(p90), "p99": round3(p99),
                "max": round3(max), "mean": round3(mean),
            },
            "errors_total": errors_total,
            "errors": total.errors,
            "error_samples": total.samples,
            "uncounted_errors": total.uncounted_errors,
            "cpu": cpu.as_ref().map(|c| serde_json::json!({
                "wall_s": round3(c.wall_s),
                "cores": c.cores,
                "machine_busy_s": round3(c.machine_busy_s),
                "client_s": round3(c.client_s),
                "rest_ms_per_msg": server_cpu_ms,
            })),
        });
        println!("{json}");
    } else {
        println!("{summary}");
        for (k, v) in &total.samples {
            println!("  {k}: {v}");
        }
    }
    Ok(ok > 0)
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
            eprintln!("smtp_load: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("smtp_load: no message was accepted");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("smtp_load: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
