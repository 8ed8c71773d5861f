//! Issue 9, section 1, "A PDF object-stream bomb": a 1.5 MB PDF must cost memory in proportion
//! to its size, in the daemon (sent over SMTP to the built binary) and in `trustgate inspect`.
//!
//! The bomb holds 90 object streams of about 16 MiB each once decompressed, none of them needed
//! to find an embedded invoice. Loading it the way lopdf loads a document took the daemon's peak
//! RSS to about 1.5 GB. Peak RSS is read as VmHWM from `/proc/<pid>/status` of the daemon, and
//! as the children's `ru_maxrss` (through python3, or GNU time) for the CLI. Loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::hostile_pdf::{many_large_embedded_files, object_stream_bomb};
use common::{Process, RECEIVER, SUPPLIER, Smtp, TestConfig, cli, mail};

/// The bomb of the issue: 90 object streams × (16 MiB − 4 KiB), about 1.5 MB on disk.
fn bomb() -> Vec<u8> {
    object_stream_bomb(90, (16 << 20) - 4096)
}

/// Extra memory a message may cost beyond the idle daemon: a constant for the work of one
/// message (parsing, the staging buffer, the PDF reader's bounded budget) plus a few times the
/// message, generous enough not to flake yet a hundred times below the bomb's 1.5 GB.
fn allowed_growth(message_bytes: usize) -> u64 {
    (96 << 20) + 8 * message_bytes as u64
}

/// Peak resident set of a running process, in bytes (VmHWM).
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/<pid>/status");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM value");
    kb * 1024
}

/// One SMTP transaction on a raw socket that waits up to 10 minutes for the final reply: the
/// unbounded loader took minutes in a debug build, and the test must then fail on memory, not
/// on a timeout.
fn slow_transaction(addr: std::net::SocketAddr, message: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(600)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut reply = || loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return line.trim_end().to_string();
        }
    };
    assert!(reply().starts_with("220"));
    for (cmd, want) in [
        ("EHLO client.supplier.example".to_string(), "250"),
        (format!("MAIL FROM:<{SUPPLIER}>"), "250"),
        (format!("RCPT TO:<{RECEIVER}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        writer.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        let r = reply();
        assert!(r.starts_with(want), "{cmd}: {r}");
    }
    writer.write_all(message.as_bytes()).unwrap();
    writer.write_all(b".\r\n").unwrap();
    reply()
}

#[test]
fn pdf_bombs_over_smtp_cost_memory_in_proportion() {
    let cfg = TestConfig::with_server_extra("max_message_size = \"8MiB\"");
    let daemon = Process::serve(&cfg.path);
    let pid = daemon.child.id();

    // Warm up on an ordinary message, so the baseline includes the runtime, the spool and
    // a first inspection.
    let r =
        Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &common::invoice_mail(SUPPLIER));
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let baseline = vm_hwm(pid);

    // The bomb: nothing in it is needed to look for an embedded invoice, so nothing
    // of it is decompressed. Then 90 file specifications named factur-x.xml, each with its
    // own 16 MiB stream: the search needs them, and the total budget stops it.
    let bombs = [
        ("bomb.pdf", bomb()),
        (
            "files.pdf",
            many_large_embedded_files(90, (16 << 20) - 4096),
        ),
    ];
    for (name, pdf) in &bombs {
        assert!(pdf.len() < 2_000_000, "{name} is {} bytes", pdf.len());
        let message = mail(SUPPLIER, RECEIVER, &[(name, "application/pdf", pdf)]);
        let r = slow_transaction(daemon.addr, &message);
        // A PDF alone carries no invoice: the usual refusal, not a 4xx and not a crash.
        assert!(r.starts_with("550 5.6.0"), "{name}: {r}");
        let peak = vm_hwm(pid);
        let growth = peak.saturating_sub(baseline);
        eprintln!(
            "daemon VmHWM: baseline {} KiB, after {name} {} KiB (+{} KiB) for a {} byte message",
            baseline >> 10,
            peak >> 10,
            growth >> 10,
            message.len()
        );
        assert!(
            growth <= allowed_growth(message.len()),
            "{name}: a {} byte message raised the daemon's peak RSS by {} MiB (allowed {} MiB)",
            message.len(),
            growth >> 20,
            allowed_growth(message.len()) >> 20
        );
    }

    // Each refusal is on record with what the PDF reader found: nothing in the first, the
    // bound that stopped it in the second.
    let (code, out, err) = cli(&cfg.path, &["spool", "list", "--json", "--full"]);
    assert_eq!(code, 0, "{err}");
    let list = common::ndjson(&out);
    let reason = |name: &str| -> String {
        list.as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["ignored"].as_array().cloned().unwrap_or_default())
            .find(|i| i["name"] == name)
            .and_then(|i| i["reason"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("{name} not among the ignored attachments: {out}"))
    };
    let first = reason("bomb.pdf");
    assert!(first.contains("no invoice XML embedded in it"), "{first}");
    let second = reason("files.pdf");
    assert!(
        second.contains("decompresses to more than 33554432 bytes in total"),
        "{second}"
    );
    daemon.kill9();
}

/// Peak RSS (bytes) and exit code of `trustgate inspect FILE`, measured by the parent as the
/// children's `ru_maxrss`: python3's `resource` module, else GNU time.
fn inspect_peak_rss(file: &Path) -> (u64, i32, String) {
    let exe = env!("CARGO_BIN_EXE_trustgate");
    let script = "import resource, subprocess, sys\n\
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n\
sys.stdout.buffer.write(r.stdout)\n\
print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)\n";
    let out = Command::new("python3")
        .args(["-c", script, exe, "inspect"])
        .arg(file)
        .output();
    let text = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            let o = Command::new("/usr/bin/time")
                .args(["-f", "MAXRSS_KB %M %x", exe, "inspect"])
                .arg(file)
                .output()
                .expect("neither python3 nor /usr/bin/time to measure the CLI");
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        }
    };
    let line = text
        .lines()
        .find(|l| l.starts_with("MAXRSS_KB"))
        .unwrap_or_else(|| panic!("no measurement in {text}"));
    let mut parts = line.split_whitespace().skip(1);
    let kb: u64 = parts.next().unwrap().parse().unwrap();
    let code: i32 = parts.next().unwrap().parse().unwrap();
    (kb * 1024, code, text)
}

#[test]
fn object_stream_bomb_in_inspect_costs_memory_in_proportion() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.pdf");
    std::fs::write(&small, b"%PDF-1.4\n%test\n").unwrap();
    let (baseline, _, _) = inspect_peak_rss(&small);

    let pdf = bomb();
    let path = dir.path().join("bomb.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let (peak, code, out) = inspect_peak_rss(&path);
    eprintln!(
        "inspect peak RSS: {} KiB on a 15-byte PDF, {} KiB on the {} byte bomb",
        baseline >> 10,
        peak >> 10,
        pdf.len()
    );
    assert_eq!(
        code, 1,
        "an unreadable or empty PDF is a failed inspection: {out}"
    );
    assert!(
        peak.saturating_sub(baseline) <= allowed_growth(pdf.len()),
        "inspect on a {} byte PDF peaked at {} MiB (baseline {} MiB)",
        pdf.len(),
        peak >> 20,
        baseline >> 20
    );
}
