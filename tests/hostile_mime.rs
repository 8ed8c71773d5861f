//! Hostile MIME over real sockets, against the built daemon as a process (issue 9, sections 1,
//! 3 and 5): MIME bombs refused before they cost memory (the daemon's peak RSS, read from
//! `/proc/<pid>/status`, held to a bound in proportion to the message), every ambiguous header
//! From refused with a reply that quotes what was sent, invisible characters shown escaped in
//! replies and in `trustgate spool show`, and every reply line within RFC 5321's 512 octets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Process, RECEIVER, SUPPLIER, Smtp, TestConfig, cli, invoice_mail, mail};

/// The daemon's peak resident set so far (VmHWM), in bytes.
fn peak_rss(process: &Process) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", process.child.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status");
    kb * 1024
}

/// Sends `body` (CRLF lines, no final dot) from the trusted supplier and returns every line of
/// the final reply, as sent.
fn send(process: &Process, body: &[u8]) -> Vec<String> {
    let mut smtp = Smtp::connect(process.addr);
    smtp.cmd("EHLO client.supplier.example", "250");
    smtp.cmd(&format!("MAIL FROM:<{SUPPLIER}>"), "250");
    smtp.cmd(&format!("RCPT TO:<{RECEIVER}>"), "250");
    smtp.cmd("DATA", "354");
    smtp.send_bytes(body);
    smtp.send(".\r\n");
    let last = smtp.reply();
    smtp.send("QUIT\r\n");
    vec![last]
}

/// A message whose size is about `size`, built from `unit` repeated after `head`.
fn repeated(head: &str, unit: &str, tail: &str, size: usize) -> Vec<u8> {
    let mut m = head.as_bytes().to_vec();
    while m.len() < size {
        m.extend_from_slice(unit.as_bytes());
    }
    m.extend_from_slice(tail.as_bytes());
    m
}

/// Peak RSS after a message may grow by at most this much: the body itself is held a few
/// times (staging, the parse input, socket buffers), plus a fixed slack for threads and
/// allocator arenas. Before the pre-scan, mail-parser's tree took 25 to 30 times the size.
fn rss_bound(size: usize) -> u64 {
    4 * size as u64 + 64 * 1024 * 1024
}

fn daemon() -> (TestConfig, Process) {
    let config = TestConfig::with_server_extra("max_message_size = \"40MiB\"");
    let process = Process::serve(&config.path);
    (config, process)
}

#[test]
fn mime_bombs_are_refused_within_a_memory_bound() {
    let (_config, process) = daemon();
    // Warm up with an ordinary invoice, so the baseline holds the daemon's working set.
    let ok = send(&process, invoice_mail(SUPPLIER).as_bytes());
    assert!(ok[0].starts_with("250 2.0.0"), "{ok:?}");

    let size = 12 * 1024 * 1024;
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            // 1.8 million empty parts.
            "many parts",
            repeated(
                "From: Supplier <invoices@supplier.example>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n",
                "--b\r\n\r\n",
                "--b--\r\n",
                size,
            ),
            "550 5.6.0 message refused: message has more than 1000 MIME parts",
        ),
        (
            // 2.5 million header fields in one part (the message's own header block is small).
            "many header fields in a part",
            repeated(
                "From: Supplier <invoices@supplier.example>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
                "X:a\r\n",
                "\r\nbody\r\n--b--\r\n",
                size,
            ),
            "552 5.3.4",
        ),
        (
            // One address list field of 6 million addresses.
            "one huge address field",
            repeated(
                "From: Supplier <invoices@supplier.example>\r\nTo: ",
                "a,",
                "\r\n\r\nbody\r\n",
                size,
            ),
            "552 5.3.4",
        ),
    ];
    for (what, body, want) in cases {
        let before = peak_rss(&process);
        let reply = send(&process, &body);
        let after = peak_rss(&process);
        eprintln!(
            "{what}: {} MiB message, peak RSS {} -> {} MiB, {reply:?}",
            body.len() >> 20,
            before >> 20,
            after >> 20
        );
        assert!(reply[0].starts_with(want), "{what}: {reply:?}");
        assert!(
            after <= before + rss_bound(body.len()),
            "{what}: peak RSS grew from {} MiB to {} MiB for a message of {} MiB",
            before >> 20,
            after >> 20,
            body.len() >> 20
        );
    }
}

/// The standard invoice mail with its From line replaced by `from_lines`.
fn with_from(from_lines: &[u8]) -> Vec<u8> {
    let m = invoice_mail(SUPPLIER);
    let rest = m
        .strip_prefix("From: Supplier <invoices@supplier.example>\r\n")
        .expect("invoice_mail starts with its From line");
    [from_lines, rest.as_bytes()].concat()
}

#[test]
fn every_ambiguous_from_is_refused_quoting_what_was_sent() {
    let (_config, process) = daemon();
    let two = "the message has more than one From header";
    let cases: Vec<(&[u8], &str)> = vec![
        (b"From\x0c: evil@attacker.example\r\nFrom: invoices@supplier.example\r\n", two),
        (b"From\x0b: evil@attacker.example\r\nFrom: invoices@supplier.example\r\n", two),
        (b"From \t: evil@attacker.example\r\nFrom: invoices@supplier.example\r\n", two),
        (b"Fr\0om: evil@attacker.example\r\nFrom: invoices@supplier.example\r\n", two),
        (b"\x0cFrom: evil@attacker.example\r\nFrom: invoices@supplier.example\r\n", two),
        (
            b"From: invoices@supplier.example\r\nX-Note: x\r\n\x0c\r\nFrom: evil@attacker.example\r\n",
            two,
        ),
        (
            b"From: evil@attacker.example <invoices@supplier.example>\r\n",
            "the From header \"evil@attacker.example <invoices@supplier.example>\" has an unquoted @ in its display name",
        ),
        (
            b"From: Billing <invoices@supplier.example\r\n",
            "the From header \"Billing <invoices@supplier.example\" has an unclosed angle bracket",
        ),
        (
            b"From: invoices@supplier.example,\r\n",
            "the From header \"invoices@supplier.example,\" ends with a comma",
        ),
        (
            b"From: invoices@supplier.example, evil@attacker.example\r\n",
            "names more than one mailbox",
        ),
        (
            "From: invoices@supplier.example\u{200B}\r\n".as_bytes(),
            "the From header \"invoices@supplier.example\\u{200B}\" holds the invisible character U+200B",
        ),
        (
            "From: \u{FEFF}<invoices@supplier.example>\r\n".as_bytes(),
            "\"\\u{FEFF}<invoices@supplier.example>\" holds the invisible character U+FEFF",
        ),
        (
            "From: Billing <invoices@supplier.example\u{202E}>\r\n".as_bytes(),
            "holds the invisible character U+202E",
        ),
    ];
    for (from, want) in cases {
        let reply = send(&process, &with_from(from));
        let shown = String::from_utf8_lossy(from);
        assert!(
            reply[0].starts_with("550 5.7.1 ") && reply[0].contains(want),
            "{shown:?}: {reply:?}"
        );
        assert!(
            !reply[0].contains(['\u{200B}', '\u{FEFF}', '\u{202E}', '\0']),
            "{shown:?}: invisible text in {reply:?}"
        );
    }
    // The same message with one plain From is accepted.
    let reply = send(&process, invoice_mail(SUPPLIER).as_bytes());
    assert!(reply[0].starts_with("250 2.0.0"), "{reply:?}");
}

#[test]
fn invisible_characters_in_names_are_shown_escaped() {
    let (config, process) = daemon();
    let name = "INV\u{202E}fdp.xml";
    let xml = common::read_fixture(common::INVOICE_XML);
    let body = mail(SUPPLIER, RECEIVER, &[(name, "application/xml", &xml)]);
    let reply = send(&process, body.as_bytes());
    assert!(reply[0].starts_with("250 2.0.0 queued as "), "{reply:?}");
    let id = reply[0]["250 2.0.0 queued as ".len()..]
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let (code, out, err) = cli(&config.path, &["spool", "show", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("xml: INV\\u{202E}fdp.xml"), "{out}");
    assert!(!out.contains('\u{202E}'), "{out}");
    let (code, out, err) = cli(&config.path, &["spool", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\u{202E}'), "{out}");

    // A refusal that names the file shows it escaped too.
    let unsafe_xml = br#"<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x "y">]><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>"#;
    let body = mail(SUPPLIER, RECEIVER, &[(name, "application/xml", unsafe_xml)]);
    let reply = send(&process, body.as_bytes());
    assert!(
        reply[0].starts_with("550 5.6.0 INV\\u{202E}fdp.xml"),
        "{reply:?}"
    );
}

#[test]
fn a_reply_that_quotes_a_huge_element_name_stays_within_512_octets() {
    let (_config, process) = daemon();
    let a = "A".repeat(1 << 20);
    let b = "B".repeat(1 << 20);
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"><{a}></{b}></Invoice>\n"
    );
    let body = mail(
        SUPPLIER,
        RECEIVER,
        &[("big.xml", "application/xml", xml.as_bytes())],
    );
    let mut smtp = Smtp::connect(process.addr);
    smtp.cmd("EHLO client.supplier.example", "250");
    smtp.cmd(&format!("MAIL FROM:<{SUPPLIER}>"), "250");
    smtp.cmd(&format!("RCPT TO:<{RECEIVER}>"), "250");
    smtp.cmd("DATA", "354");
    smtp.send(&body);
    smtp.send(".\r\n");
    let reply = smtp.reply();
    assert!(
        reply.starts_with("550 5.6.0"),
        "{}",
        &reply[..reply.len().min(600)]
    );
    assert!(
        reply.len() + 2 <= 512,
        "a reply line of {} octets: {}...",
        reply.len() + 2,
        &reply[..600.min(reply.len())]
    );
    // The session goes on: the next command gets its own short reply.
    let next = smtp.cmd("NOOP", "250");
    assert!(next.len() + 2 <= 512);
}

#[test]
fn the_limits_table_of_the_config_sets_the_bounds() {
    // Ten attachments: within the default of 1,000 parts, over a configured 5.
    let atts: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("note-{i}.txt"), b"hello".to_vec()))
        .collect();
    let refs: Vec<(&str, &str, &[u8])> = atts
        .iter()
        .map(|(n, b)| (n.as_str(), "text/plain", b.as_slice()))
        .collect();
    let body = mail(SUPPLIER, RECEIVER, &refs);
    let config = TestConfig::new();
    let process = Process::serve(&config.path);
    let default = send(&process, body.as_bytes());
    assert!(
        !default[0].contains("MIME parts"),
        "within the default bound: {default:?}"
    );
    drop(process);
    let text = std::fs::read_to_string(&config.path).unwrap();
    std::fs::write(
        &config.path,
        format!("{text}\n[limits]\nmax_mime_parts = 5\n"),
    )
    .unwrap();
    let process = Process::serve(&config.path);
    let limited = send(&process, body.as_bytes());
    assert!(
        limited[0].starts_with("550") && limited[0].contains("5 MIME parts"),
        "over the configured bound: {limited:?}"
    );
}
