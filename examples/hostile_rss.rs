//! Peak memory per hostile message (issue 9, section 1), for `bench/hostile.sh` and
//! `BENCHMARKS.md`: the worst case of each kind of the issue, each sent once to a fresh
//! release `trustgate serve`, with the daemon's peak RSS growth against the message's size.
//!
//! For every case it writes a config on a fresh temporary spool (127.0.0.1, port 0,
//! `max_message_size = "40MiB"`), starts `trustgate serve --config` and reads the listening
//! address from its "trustgate started" log line, sends one ordinary invoice as a warm-up,
//! reads VmHWM from `/proc/<pid>/status`, sends the hostile message over a raw SMTP socket,
//! reads VmHWM again and the spool's size on disk (`du -sb`, and the bytes allocated), then
//! stops the daemon with SIGTERM. The PDF object-stream bomb also goes through `trustgate
//! inspect FILE`, its peak RSS measured as the children's `ru_maxrss` through python3 (as
//! `tests/hostile_pdf.rs` does). The PDFs come from the generators the tests use
//! (`tests/common/hostile_pdf.rs`).
//!
//! Loopback only: the daemon listens on 127.0.0.1 and this program connects nowhere else.
//! Every reply wait is bounded (10 minutes). Writes one JSON document (`--out`) and prints a
//! Markdown table on stdout.
//!
//! ```sh
//! cargo build --release --bins --examples
//! target/release/examples/hostile_rss --trustgate target/release/trustgate \
//!     --out bench/results/hostile.json [--only bomb,parts]
//! ```

#[path = "../tests/common/hostile_pdf.rs"]
mod hostile_pdf;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::json;

/// The longest wait for any reply (the unbounded PDF loader took minutes).
const REPLY_TIMEOUT: Duration = Duration::from_secs(600);
/// The trusted sender (MAIL FROM and header From) of every message.
const SUPPLIER: &str = "invoices@supplier.example";
/// The one receiver of every case but the last (organisation acme, KvK 11111111: the buyer
/// of the SI-UBL fixture).
const RECEIVER: &str = "AD64SDE@trust.example.test";
/// The invoice paired with the PDFs (buyer acme).
const INVOICE_XML: &str = "tests/fixtures/invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml";
/// Receivers of one organisation in the many-recipients case (the RFC 5321 minimum that a
/// server must accept in one transaction, and trustgate's default `max_recipients`).
const RECEIVERS: usize = 100;
const MIB: usize = 1 << 20;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Peak RSS of trustgate per hostile message, against the message's size")]
struct Args {
    /// The trustgate binary (a release build).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/trustgate"))]
    trustgate: PathBuf,
    /// Where to write the JSON results.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/results/hostile.json"))]
    out: PathBuf,
    /// Run only these cases (comma-separated ids: bomb, files, needed, needed200, tiny, paired,
    /// parts, fields, recipients, inspect).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// One hostile message and the daemon it is sent to.
struct Case {
    id: &'static str,
    what: &'static str,
    /// The figure the issue measured before the bounds, for the table.
    before: &'static str,
    recipients: Vec<String>,
    /// Build the message (CRLF lines, no final dot).
    message: fn(&Path) -> Vec<u8>,
}

/// What one case measured.
struct Measured {
    message_bytes: usize,
    reply: String,
    elapsed_ms: f64,
    hwm_before: u64,
    hwm_after: u64,
    spool_before: u64,
    spool_after: u64,
    spool_alloc_after: u64,
    /// What the spool recorded about the attachments it did not take (name: reason), e.g.
    /// the PDF bound that stopped the search for an embedded invoice.
    ignored: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !args.trustgate.is_file() {
        bail!("{} is missing; build it first", args.trustgate.display());
    }
    let wanted = |id: &str| args.only.is_empty() || args.only.iter().any(|o| o == id);
    let load_before = loadavg();

    let one = vec![RECEIVER.to_string()];
    let many: Vec<String> = (1..=RECEIVERS)
        .map(|i| format!("AP{i:03}@trust.example.test"))
        .collect();
    let cases = [
        Case {
            id: "bomb",
            what: "PDF object-stream bomb alone (90 streams × 16 MiB − 4 KiB)",
            before: "1.5 GB",
            recipients: one.clone(),
            message: |_| pdf_mail("bomb.pdf", &bomb(), None),
        },
        Case {
            id: "files",
            what: "90 factur-x.xml file specs × 16 MiB − 4 KiB each, alone",
            before: "up to 1,000 × 16 MiB read",
            recipients: one.clone(),
            message: |_| {
                pdf_mail(
                    "files.pdf",
                    &hostile_pdf::many_large_embedded_files(90, 16 * MIB - 4096),
                    None,
                )
            },
        },
        Case {
            id: "needed",
            what: "catalog, names and file spec in 4 object streams of 16 MiB − 4 KiB filler",
            before: "",
            recipients: one.clone(),
            message: |_| {
                pdf_mail(
                    "needed.pdf",
                    &hostile_pdf::needed_object_streams_bomb(16 * MIB - 4096),
                    None,
                )
            },
        },
        Case {
            id: "needed200",
            what: "200 copies of that PDF in one message",
            before: "",
            recipients: one.clone(),
            message: |_| {
                let pdf = hostile_pdf::needed_object_streams_bomb(16 * MIB - 4096);
                pdfs_mail("needed.pdf", &[pdf.as_slice(); 200], None)
            },
        },
        Case {
            id: "tiny",
            what: "the catalog in an object stream whose index lists 1 million more objects",
            before: "",
            recipients: one.clone(),
            message: |_| {
                pdf_mail(
                    "tiny.pdf",
                    &hostile_pdf::catalog_among_tiny_objects(1_000_000),
                    None,
                )
            },
        },
        Case {
            id: "paired",
            what: "the bomb as INV-1.pdf beside a valid INV-1.xml",
            before: "",
            recipients: one.clone(),
            message: |root| pdf_mail("INV-1.pdf", &bomb(), Some(&invoice(root, None))),
        },
        Case {
            id: "parts",
            what: "~33 MB of empty MIME parts (4.7 million)",
            before: "983 MB (4.8 million parts)",
            recipients: one.clone(),
            message: |_| {
                repeated(
                    "From: Supplier <invoices@supplier.example>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n",
                    "--b\r\n\r\n",
                    "--b--\r\n",
                    33_000_000,
                )
            },
        },
        Case {
            id: "fields",
            what: "one part with ~33 MB of header fields (6.6 million)",
            before: "818 MB and a 250 (6.5 million fields)",
            recipients: one.clone(),
            message: |_| {
                repeated(
                    "From: Supplier <invoices@supplier.example>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
                    "X:a\r\n",
                    "\r\nbody\r\n--b--\r\n",
                    33_000_000,
                )
            },
        },
        Case {
            id: "recipients",
            what: "invoice XML + 25 MiB PDF (34 MiB message) to 100 receivers of one organisation",
            before: "12 s, 2.6 GB, ~2.5 GB spool",
            recipients: many.clone(),
            message: |root| {
                pdf_mail(
                    "INV-1.pdf",
                    &large_pdf(25 * MIB),
                    Some(&invoice(root, None)),
                )
            },
        },
    ];

    let mut rows = Vec::new();
    for case in cases.iter().filter(|c| wanted(c.id)) {
        eprintln!("== {}: {}", case.id, case.what);
        let m =
            run_case(&args.trustgate, root, case).with_context(|| format!("case {}", case.id))?;
        let growth = m.hwm_after.saturating_sub(m.hwm_before);
        let spool_growth = m.spool_after.saturating_sub(m.spool_before);
        eprintln!(
            "   {} bytes, {:.0} ms, VmHWM {} -> {} MiB (+{} MiB, {:.2}× the message), spool +{} bytes; {}",
            m.message_bytes,
            m.elapsed_ms,
            m.hwm_before >> 20,
            m.hwm_after >> 20,
            growth >> 20,
            growth as f64 / m.message_bytes as f64,
            spool_growth,
            m.reply
        );
        for i in m.ignored.iter().take(3) {
            eprintln!("   ignored {i}");
        }
        if m.ignored.len() > 3 {
            eprintln!("   ... and {} more ignored", m.ignored.len() - 3);
        }
        rows.push(json!({
            "case": case.id,
            "what": case.what,
            "before_in_issue": case.before,
            "recipients": case.recipients.len(),
            "message_bytes": m.message_bytes,
            "reply": m.reply,
            "elapsed_ms": round2(m.elapsed_ms),
            "hwm_before_bytes": m.hwm_before,
            "hwm_after_bytes": m.hwm_after,
            "rss_growth_bytes": growth,
            "growth_over_size": round2(growth as f64 / m.message_bytes as f64),
            "spool_before_bytes": m.spool_before,
            "spool_after_bytes": m.spool_after,
            "spool_allocated_after_bytes": m.spool_alloc_after,
            "spool_growth_bytes": spool_growth,
            "spool_growth_over_size": round2(spool_growth as f64 / m.message_bytes as f64),
            "ignored_total": m.ignored.len(),
            "ignored": m.ignored.iter().take(10).collect::<Vec<_>>(),
        }));
    }

    let inspect = if wanted("inspect") {
        eprintln!("== inspect: trustgate inspect on the bomb");
        Some(inspect_bomb(&args.trustgate)?)
    } else {
        None
    };

    let doc = json!({
        "date": command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        "commit": commit(root),
        "machine": {
            "cores": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
            "kernel": command_line("uname", &["-r"]),
        },
        "load_before": load_before,
        "load_after": loadavg(),
        "trustgate": args.trustgate.display().to_string(),
        "max_message_size": "40MiB",
        "cases": rows,
        "inspect": inspect,
    });
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    print!("{}", table(&doc));
    Ok(())
}

/// Starts a daemon for `case`, warms it up, sends the hostile message and measures.
fn run_case(trustgate: &Path, root: &Path, case: &Case) -> anyhow::Result<Measured> {
    let dir = tempfile::Builder::new()
        .prefix("trustgate-hostile.")
        .tempdir()?;
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool)?;
    let config = dir.path().join("trustgate.toml");
    std::fs::write(&config, config_text(&spool, &case.recipients))?;
    let message = (case.message)(root);

    let mut daemon = Daemon::serve(trustgate, &config)?;
    let result = (|| {
        // Warm-up: an ordinary invoice (its own invoice number, so the case's invoice is no
        // duplicate of it), so the baseline holds the runtime, the spool and one inspection.
        let warm = pdf_mail(
            "INV-0.pdf",
            b"%PDF-1.4\n%warm-up\n",
            Some(&invoice(root, Some("12115119"))),
        );
        let (r, _) = transaction(daemon.addr, &case.recipients[..1], &warm)?;
        if !r.starts_with("250 ") {
            bail!("the warm-up invoice was answered {r}");
        }
        let hwm_before = vm_hwm(daemon.pid())?;
        let (spool_before, _) = du(&spool)?;
        let (reply, elapsed) = transaction(daemon.addr, &case.recipients, &message)?;
        let hwm_after = vm_hwm(daemon.pid())?;
        let (spool_after, spool_alloc_after) = du(&spool)?;
        Ok(Measured {
            message_bytes: message.len(),
            reply,
            elapsed_ms: elapsed.as_secs_f64() * 1000.0,
            hwm_before,
            hwm_after,
            spool_before,
            spool_after,
            spool_alloc_after,
            ignored: Vec::new(),
        })
    })();
    let stopped = daemon.terminate();
    match (result, stopped) {
        (Ok(mut m), Ok(())) => {
            m.ignored = ignored_reasons(trustgate, &config);
            Ok(m)
        }
        (Err(e), _) | (Ok(_), Err(e)) => {
            Err(e.context(format!("daemon log (last lines):\n{}", daemon.log_tail())))
        }
    }
}

/// Every ignored attachment on record in the spool but the warm-up's ("name: reason"), from
/// `trustgate spool list --json` (empty when it fails).
fn ignored_reasons(trustgate: &Path, config: &Path) -> Vec<String> {
    let Ok(out) = Command::new(trustgate)
        .args(["spool", "list", "--json", "--config"])
        .arg(config)
        .output()
    else {
        return Vec::new();
    };
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    list.as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["ignored"].as_array().cloned().unwrap_or_default())
        .filter(|i| i["name"] != "INV-0.pdf")
        .map(|i| {
            format!(
                "{}: {}",
                i["name"].as_str().unwrap_or(""),
                i["reason"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// The daemon's config: the test config's organisations, and either the one receiver or
/// `recipients` receivers of organisation acme, each trusting supplier.example.
fn config_text(spool: &Path, recipients: &[String]) -> String {
    let mut text = format!(
        r#"[server]
hostname = "mx.trust.example.test"
listen = ["127.0.0.1:0"]
max_message_size = "40MiB"
max_recipients = {max}

[spool]
path = "{spool}"

[[organisation]]
id = "acme"
name = "ACME B.V."
kvk = "11111111"
vat_ids = ["NL123456789B01"]

[[organisation]]
id = "beta"
name = "Beta B.V."
kvk = "87654321"
"#,
        max = recipients.len().max(100),
        spool = spool.display(),
    );
    for address in recipients {
        let _ = write!(
            text,
            r#"
[[receiver]]
address = "{address}"
organisation = "acme"
document_type = "purchase-invoice"
auth = "none"

[[receiver.trusted_sender]]
name = "Supplier B.V."
contact = "billing@supplier.example"
domain = "supplier.example"
"#
        );
    }
    text
}

/// A running `trustgate serve`, its stderr kept (the last lines) for error reports.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Daemon {
    /// Starts `trustgate serve --config PATH` and waits until it logs its listening address.
    fn serve(trustgate: &Path, config: &Path) -> anyhow::Result<Daemon> {
        let mut child = Command::new(trustgate)
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", trustgate.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && line.contains("trustgate started") {
                    let _ = tx.send(line.clone());
                    sent = true;
                }
                let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                if kept.len() == 20 {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        });
        let mut daemon = Daemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = daemon.child.kill();
            bail!(
                "the daemon did not log `trustgate started` within 60 s:\n{}",
                daemon.log_tail()
            );
        };
        daemon.addr = parse_listen(&line).with_context(|| format!("no address in {line:?}"))?;
        if !daemon.addr.ip().is_loopback() {
            bail!("the daemon listens on {}, not loopback", daemon.addr);
        }
        Ok(daemon)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM, and wait up to a minute for the exit (then SIGKILL).
    fn terminate(&mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!("the daemon did not exit within 60 s of SIGTERM")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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

/// One SMTP transaction on a raw socket: EHLO, MAIL, one RCPT per recipient (each must get
/// 250), DATA, the message and the final dot, QUIT. Returns the final reply's first line and
/// the time from the first byte of the message to that reply. The message is written from a
/// thread of its own, so a server that answers before reading it all cannot block this one.
fn transaction(
    addr: SocketAddr,
    recipients: &[String],
    message: &[u8],
) -> anyhow::Result<(String, Duration)> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut reply = || -> anyhow::Result<String> {
        let mut first = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                bail!("connection closed while waiting for a reply");
            }
            let line = line.trim_end().to_string();
            let last = line.len() < 4 || line.as_bytes()[3] != b'-';
            let first = first.get_or_insert(line);
            if last {
                return Ok(first.clone());
            }
        }
    };
    let greeting = reply()?;
    if !greeting.starts_with("220") {
        bail!("greeting {greeting}");
    }
    let mut commands = vec![
        ("EHLO client.supplier.example".to_string(), "250"),
        (format!("MAIL FROM:<{SUPPLIER}>"), "250"),
    ];
    commands.extend(recipients.iter().map(|r| (format!("RCPT TO:<{r}>"), "250")));
    commands.push(("DATA".to_string(), "354"));
    for (command, want) in commands {
        writer.write_all(format!("{command}\r\n").as_bytes())?;
        let r = reply()?;
        if !r.starts_with(want) {
            bail!("{command}: {r}");
        }
    }
    let start = Instant::now();
    let body = message.to_vec();
    let mut w = writer.try_clone()?;
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        w.write_all(&body)?;
        w.write_all(b".\r\n")
    });
    let last = reply()?;
    let elapsed = start.elapsed();
    let _ = sender.join();
    let _ = writer.write_all(b"QUIT\r\n");
    Ok((last, elapsed))
}

/// Peak resident set of a running process, in bytes (VmHWM).
fn vm_hwm(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/<pid>/status")?;
    Ok(kb * 1024)
}

/// The spool's size on disk: apparent bytes (`du -sb`) and bytes allocated.
fn du(dir: &Path) -> anyhow::Result<(u64, u64)> {
    let size = |args: &[&str]| -> anyhow::Result<u64> {
        let out = Command::new("du").args(args).arg(dir).output()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .context("du gave no size")
    };
    Ok((size(&["-sb"])?, size(&["-s", "--block-size=1"])?))
}

/// Peak RSS of `trustgate inspect` on the bomb and on a 15-byte PDF, as the children's
/// `ru_maxrss` through python3.
fn inspect_bomb(trustgate: &Path) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::Builder::new()
        .prefix("trustgate-hostile.")
        .tempdir()?;
    let small = dir.path().join("small.pdf");
    std::fs::write(&small, b"%PDF-1.4\n%test\n")?;
    let pdf = bomb();
    let path = dir.path().join("bomb.pdf");
    std::fs::write(&path, &pdf)?;
    let (baseline, _, _) = inspect_peak_rss(trustgate, &small)?;
    let start = Instant::now();
    let (peak, code, output) = inspect_peak_rss(trustgate, &path)?;
    let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "   {} byte PDF: peak RSS {} MiB (a 15-byte PDF: {} MiB), exit {code}, {elapsed_ms:.0} ms",
        pdf.len(),
        peak >> 20,
        baseline >> 20
    );
    Ok(json!({
        "file_bytes": pdf.len(),
        "exit_code": code,
        "elapsed_ms": round2(elapsed_ms),
        "peak_rss_bytes": peak,
        "baseline_peak_rss_bytes": baseline,
        "rss_growth_bytes": growth,
        "growth_over_size": round2(growth as f64 / pdf.len() as f64),
        "output": output
            .lines()
            .filter(|l| !l.starts_with("MAXRSS_KB"))
            .collect::<Vec<_>>()
            .join("\n"),
        "before_in_issue": "1.5 GB",
    }))
}

/// (peak RSS in bytes, exit code, output) of `trustgate inspect FILE`.
fn inspect_peak_rss(trustgate: &Path, file: &Path) -> anyhow::Result<(u64, i32, String)> {
    let script = "import resource, subprocess, sys\n\
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n\
sys.stdout.buffer.write(r.stdout)\n\
print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(trustgate)
        .arg("inspect")
        .arg(file)
        .output()
        .context("python3 is needed to measure `trustgate inspect`")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("MAXRSS_KB"))
        .with_context(|| format!("no measurement in {text}"))?;
    let mut parts = line.split_whitespace().skip(1);
    let kb: u64 = parts.next().context("kb")?.parse()?;
    let code: i32 = parts.next().context("code")?.parse()?;
    Ok((kb * 1024, code, text))
}

/// The bomb of the issue: 90 object streams × (16 MiB − 4 KiB), about 1.5 MB on disk.
fn bomb() -> Vec<u8> {
    hostile_pdf::object_stream_bomb(90, 16 * MIB - 4096)
}

/// A PDF of `size` bytes: an empty page tree and one unfiltered stream of pseudo-random bytes
/// (incompressible, as a scanned invoice is), reachable from nothing.
fn large_pdf(size: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(size);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while data.len() < size.saturating_sub(400) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    let mut w = hostile_pdf::PdfWriter::new();
    w.object(1, "<< /Type /Catalog /Pages 2 0 R >>");
    w.object(2, "<< /Type /Pages /Kids [] /Count 0 >>");
    w.raw_stream(3, "", &data);
    w.finish_with_table(1)
}

/// The SI-UBL fixture, with its invoice number replaced by `number` if given.
fn invoice(root: &Path, number: Option<&str>) -> Vec<u8> {
    let path = root.join(INVOICE_XML);
    let xml = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match number {
        Some(n) => xml.replacen(
            "<cbc:ID>12115118</cbc:ID>",
            &format!("<cbc:ID>{n}</cbc:ID>"),
            1,
        ),
        None => xml,
    }
    .into_bytes()
}

/// An invoice mail: a text part, then `INV-1.xml` (if `xml`) and the PDF `name`, base64.
fn pdf_mail(name: &str, pdf: &[u8], xml: Option<&[u8]>) -> Vec<u8> {
    pdfs_mail(name, &[pdf], xml)
}

/// An invoice mail with `INV-1.xml` (if `xml`) and each of `pdfs`, the first named `name`, the
/// others `name` with `-2`, `-3`… before `.pdf`.
fn pdfs_mail(name: &str, pdfs: &[&[u8]], xml: Option<&[u8]>) -> Vec<u8> {
    let mut attachments = Vec::new();
    if let Some(xml) = xml {
        let xml_name = name.replace(".pdf", ".xml");
        attachments.push((xml_name, "application/xml", xml));
    }
    for (i, pdf) in pdfs.iter().enumerate() {
        let n = match i {
            0 => name.to_string(),
            _ => name.replace(".pdf", &format!("-{}.pdf", i + 1)),
        };
        attachments.push((n, "application/pdf", *pdf));
    }
    let mut m = format!(
        "From: Supplier <{SUPPLIER}>\r\nTo: <{RECEIVER}>\r\nSubject: Invoice\r\n\
Message-ID: <{}.{name}@supplier.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n\
--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease find our invoice attached.\r\n",
        std::process::id()
    );
    for (name, ctype, bytes) in attachments {
        let _ = write!(
            m,
            "--BOUNDARY\r\nContent-Type: {ctype}; name=\"{name}\"\r\n\
Content-Disposition: attachment; filename=\"{name}\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(bytes)
        );
    }
    m.push_str("--BOUNDARY--\r\n");
    m.into_bytes()
}

/// Base64 in lines of 76 characters (57 input bytes), CRLF between lines.
fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    let mut out = String::with_capacity(data.len() / 57 * 78 + 80);
    for (i, chunk) in data.chunks(57).enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        base64::engine::general_purpose::STANDARD.encode_string(chunk, &mut out);
    }
    out
}

/// A message of about `size` bytes: `head`, then `unit` repeated, then `tail`.
fn repeated(head: &str, unit: &str, tail: &str, size: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(size + unit.len() + tail.len());
    m.extend_from_slice(head.as_bytes());
    while m.len() < size {
        m.extend_from_slice(unit.as_bytes());
    }
    m.extend_from_slice(tail.as_bytes());
    m
}

/// The Markdown table of the results.
fn table(doc: &serde_json::Value) -> String {
    let mut t = String::from(
        "\n| case | message | reply | elapsed | peak RSS growth | growth ÷ size | spool growth ÷ size | before (issue 9) |\n\
|---|---:|---|---:|---:|---:|---:|---|\n",
    );
    for r in doc["cases"].as_array().into_iter().flatten() {
        let reply = r["reply"].as_str().unwrap_or("");
        let reply: String = reply.chars().take(90).collect();
        let _ = writeln!(
            t,
            "| {} | {} | `{}` | {:.0} ms | {} | {:.2}× | {:.2}× | {} |",
            r["case"].as_str().unwrap_or(""),
            mb(r["message_bytes"].as_u64().unwrap_or(0)),
            reply.replace('|', "\\|"),
            r["elapsed_ms"].as_f64().unwrap_or(0.0),
            mib(r["rss_growth_bytes"].as_u64().unwrap_or(0)),
            r["growth_over_size"].as_f64().unwrap_or(0.0),
            r["spool_growth_over_size"].as_f64().unwrap_or(0.0),
            r["before_in_issue"].as_str().unwrap_or(""),
        );
    }
    if let Some(i) = doc["inspect"].as_object() {
        let _ = writeln!(
            t,
            "| inspect bomb.pdf | {} | exit {} | {:.0} ms | {} (peak {}) | {:.2}× | | 1.5 GB |",
            mb(i["file_bytes"].as_u64().unwrap_or(0)),
            i["exit_code"],
            i["elapsed_ms"].as_f64().unwrap_or(0.0),
            mib(i["rss_growth_bytes"].as_u64().unwrap_or(0)),
            mib(i["peak_rss_bytes"].as_u64().unwrap_or(0)),
            i["growth_over_size"].as_f64().unwrap_or(0.0),
        );
    }
    t
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The commit the binaries were built from, marked when `src/` has uncommitted changes.
fn commit(root: &Path) -> String {
    let root = root.display().to_string();
    let head = command_line("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
    let clean = Command::new("git")
        .args(["-C", &root, "diff", "--quiet", "HEAD", "--", "src"])
        .status()
        .is_ok_and(|s| s.success());
    if clean {
        head
    } else {
        format!("{head}+dirty-src")
    }
}

/// The first line of a command's output, or "" when it fails.
fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default()
}
