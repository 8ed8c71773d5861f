//! Zip and gzip attachments over real SMTP (issue 13 §1): the built `trustgate` binary serving
//! on loopback, archives built here with the zip and flate2 crates, the spool read back with the
//! `trustgate spool` CLI. An invoice inside an archive is accepted and records where it came
//! from; an encrypted archive and a zip bomb are refused with a sentence that says why, the bomb
//! without the daemon's memory growing by what it would inflate to; entry names that are paths
//! are reduced to base names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Cursor, Write as _};

use common::{INVOICE_XML, Process, RECEIVER, SUPPLIER, Smtp, TestConfig, cli, mail, read_fixture};
use zip::write::SimpleFileOptions;

const PDF: &[u8] = b"%PDF-1.4\n%test visual\n";

/// A zip of `(name, bytes)` files, deflated.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Sends one mail with `attachments` from the trusted supplier; the final reply.
fn send(daemon: &Process, attachments: &[(&str, &str, &[u8])]) -> String {
    Smtp::connect(daemon.addr).transaction(
        SUPPLIER,
        RECEIVER,
        &mail(SUPPLIER, RECEIVER, attachments),
    )
}

/// `spool list --json --full`: every message record.
fn records(cfg: &TestConfig) -> Vec<serde_json::Value> {
    let (code, out, err) = cli(&cfg.path, &["spool", "list", "--json", "--full"]);
    assert_eq!(code, 0, "spool list failed: {err}");
    common::ndjson(&out).as_array().unwrap().clone()
}

#[test]
fn a_zip_with_an_invoice_xml_and_its_pdf_is_accepted_and_records_the_archive() {
    // Delivered to a directory sink, whose metadata names the archive too.
    let out_dir = tempfile::tempdir().unwrap();
    let cfg = TestConfig::with_extras("", "deliver = [\"folder\"]", "");
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[[sink]]\nname = \"folder\"\nkind = \"directory\"\npath = \"{}\"\n",
        out_dir.path().display()
    ));
    std::fs::write(&cfg.path, text).unwrap();
    let daemon = Process::serve(&cfg.path);
    let xml = read_fixture(INVOICE_XML);
    let zip = zip_of(&[("INV-1.xml", &xml), ("INV-1.pdf", PDF)]);
    let r = send(&daemon, &[("INV-1.zip", "application/zip", &zip)]);
    assert!(r.starts_with("250 2.0.0"), "{r}");

    let recs = records(&cfg);
    assert_eq!(recs.len(), 1, "{recs:?}");
    let docs = recs[0]["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 1, "{docs:?}");
    let doc = &docs[0];
    assert_eq!(doc["xml_name"], "INV-1.xml");
    assert_eq!(doc["pdf_name"], "INV-1.pdf");
    assert_eq!(doc["paired_by"], "same-name");
    assert_eq!(
        doc["xml_archive"],
        serde_json::json!({"archive": "INV-1.zip", "entry": "INV-1.xml"})
    );
    assert_eq!(
        doc["pdf_archive"],
        serde_json::json!({"archive": "INV-1.zip", "entry": "INV-1.pdf"})
    );
    assert_eq!(recs[0]["status"], "accepted");

    let id = recs[0]["id"].as_str().unwrap();
    let (code, out, err) = cli(&cfg.path, &["spool", "show", id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("xml: INV-1.xml in INV-1.zip"), "{out}");
    assert!(out.contains("pdf: INV-1.pdf in INV-1.zip"), "{out}");

    // The directory sink's metadata: each file with the archive it came out of.
    // (in the folder itself or in the organisation's subfolder, as the layout says)
    let name = format!("{id}-0.json");
    let candidates = [
        out_dir.path().join(&name),
        out_dir.path().join("acme").join(&name),
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let meta_path = loop {
        if let Some(found) = candidates.iter().find(|p| p.exists()) {
            break found.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the directory sink wrote no {name}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    assert_eq!(meta["xml"]["name"], "INV-1.xml");
    assert_eq!(meta["xml"]["archive"], "INV-1.zip");
    assert_eq!(meta["pdf"]["archive"], "INV-1.zip");

    // Read back for delivery: decoded again from the stored message, through the archive,
    // to the very bytes that were zipped.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = cli(
        &cfg.path,
        &["spool", "export", id, "--out", dir.path().to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(dir.path().join(format!("{id}-0.xml"))).unwrap(),
        xml
    );
    assert_eq!(
        std::fs::read(dir.path().join(format!("{id}-0.pdf"))).unwrap(),
        PDF
    );
}

#[test]
fn a_gzipped_invoice_xml_is_accepted_under_its_name_without_gz() {
    let cfg = TestConfig::new();
    let daemon = Process::serve(&cfg.path);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&read_fixture(INVOICE_XML)).unwrap();
    let gz = gz.finish().unwrap();
    let r = send(&daemon, &[("INV-1.xml.gz", "application/gzip", &gz)]);
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let recs = records(&cfg);
    let doc = &recs[0]["documents"][0];
    assert_eq!(doc["xml_name"], "INV-1.xml");
    assert_eq!(doc["xml_archive"]["archive"], "INV-1.xml.gz");
    assert!(doc.get("pdf_archive").is_none(), "{doc}");
}

#[test]
fn a_batch_zip_of_zipped_invoices_is_opened_one_level_deep() {
    // An ERP's batch export: one zip per invoice (XML and PDF), the lot zipped again.
    let cfg = TestConfig::new();
    let daemon = Process::serve(&cfg.path);
    let numbered = common::numbered_invoice_xml;
    let one = zip_of(&[("INV-1.xml", &numbered("INV-1")), ("INV-1.pdf", PDF)]);
    let two = zip_of(&[("INV-2.xml", &numbered("INV-2")), ("INV-2.pdf", PDF)]);
    // A third level is not opened: listed, and the message still carries its two invoices.
    let deeper = zip_of(&[("old.zip", &zip_of(&[("INV-3.xml", &numbered("INV-3"))]))]);
    let batch = zip_of(&[
        ("INV-1.zip", &one),
        ("INV-2.zip", &two),
        ("older.zip", &deeper),
    ]);
    let r = send(&daemon, &[("batch.zip", "application/zip", &batch)]);
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert!(r.contains("2 invoices accepted (INV-1, INV-2)"), "{r}");

    let recs = records(&cfg);
    let docs = recs[0]["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2, "{docs:?}");
    for (doc, n) in docs.iter().zip(["INV-1", "INV-2"]) {
        assert_eq!(doc["paired_by"], "same-name");
        assert_eq!(
            doc["xml_archive"],
            serde_json::json!({"archive": format!("batch.zip/{n}.zip"), "entry": format!("{n}.xml")})
        );
        assert_eq!(doc["pdf_archive"]["archive"], format!("batch.zip/{n}.zip"));
    }
    let id = recs[0]["id"].as_str().unwrap();
    let (code, out, err) = cli(&cfg.path, &["spool", "show", id]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("xml: INV-1.xml in batch.zip/INV-1.zip"),
        "{out}"
    );

    // Only the third level holds an invoice: refused with the sentence that says why.
    let wrap = zip_of(&[("older.zip", &deeper)]);
    let r = send(&daemon, &[("wrap.zip", "application/zip", &wrap)]);
    assert!(r.starts_with("550 5.6.0"), "{r}");
    assert!(
        r.contains("old.zip: in the archive wrap.zip/older.zip: an archive inside an archive inside an archive is not opened"),
        "{r}"
    );
}

#[test]
fn an_encrypted_zip_is_refused_550_with_a_sentence_that_says_so() {
    use zip::unstable::write::FileOptionsExt as _;
    let cfg = TestConfig::new();
    let daemon = Process::serve(&cfg.path);
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .with_deprecated_encryption(b"secret")
        .unwrap();
    w.start_file("INV-1.xml", options).unwrap();
    w.write_all(&read_fixture(INVOICE_XML)).unwrap();
    let zip = w.finish().unwrap().into_inner();
    let r = send(&daemon, &[("INV.zip", "application/zip", &zip)]);
    assert!(r.starts_with("550 5.6.0"), "{r}");
    assert!(
        r.contains("INV.zip")
            && r.contains("encrypted")
            && r.contains("send the invoice files unencrypted"),
        "{r}"
    );

    // With an invoice beside it, the message is accepted and the archive only listed.
    let xml = read_fixture(INVOICE_XML);
    let r = send(
        &daemon,
        &[
            ("INV-1.xml", "application/xml", &xml),
            ("INV.zip", "application/zip", &zip),
        ],
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let recs = records(&cfg);
    let accepted = recs.iter().find(|m| m["status"] == "accepted").unwrap();
    let ignored = accepted["ignored"].as_array().unwrap();
    assert!(
        ignored
            .iter()
            .any(|i| i["name"] == "INV.zip" && i["reason"].as_str().unwrap().contains("encrypted")),
        "{ignored:?}"
    );
}

/// The daemon's peak resident memory (`VmHWM`), in KiB.
fn peak_kib(daemon: &Process) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_zip_bomb_is_refused_without_inflating_it() {
    let cfg = TestConfig::new();
    let daemon = Process::serve(&cfg.path);
    // Warm up: one ordinary message, so the baseline includes what any message costs.
    let xml = read_fixture(INVOICE_XML);
    let r = send(&daemon, &[("INV-1.xml", "application/xml", &xml)]);
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let before = peak_kib(&daemon);

    // 50 MB of zeros in one entry: about 50 KB deflated, a ratio of about 1000.
    let zeros = vec![0u8; 50 * 1000 * 1000];
    let bomb = zip_of(&[("zeros.xml", &zeros)]);
    drop(zeros);
    let r = send(&daemon, &[("bomb.zip", "application/zip", &bomb)]);
    assert!(r.starts_with("550 5.6.0"), "{r}");
    assert!(
        r.contains("bomb.zip") && r.contains("more than 100 times"),
        "{r}"
    );
    let grown = peak_kib(&daemon).saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "the daemon's peak memory grew by {grown} KiB for a refused bomb"
    );
    // Still serving.
    let r = send(&daemon, &[("INV-1.xml", "application/xml", &xml)]);
    assert!(r.starts_with("250 2.0.0"), "{r}");
}

#[test]
fn entry_names_that_are_paths_become_base_names() {
    let cfg = TestConfig::new();
    let daemon = Process::serve(&cfg.path);
    let xml = read_fixture(INVOICE_XML);
    let zip = zip_of(&[
        ("../../INV-1.xml", &xml),
        ("/etc/INV-1.pdf", PDF),
        ("..\\..\\evil.txt", b"x"),
    ]);
    let r = send(&daemon, &[("paths.zip", "application/zip", &zip)]);
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let recs = records(&cfg);
    let doc = &recs[0]["documents"][0];
    assert_eq!(doc["xml_name"], "INV-1.xml");
    assert_eq!(doc["xml_archive"]["entry"], "INV-1.xml");
    assert_eq!(doc["pdf_name"], "INV-1.pdf");
    let ignored = recs[0]["ignored"].as_array().unwrap();
    let names: Vec<&str> = ignored
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["evil.txt"], "{ignored:?}");
    // Nothing was written anywhere by those names: the spool holds our ids only.
    assert!(!cfg.dir.path().join("INV-1.xml").exists());
    assert!(!std::path::Path::new("/etc/INV-1.pdf").exists());
}

#[test]
fn an_archive_without_an_invoice_is_refused_and_listed_by_name() {
    let cfg = TestConfig::new();
    let daemon = Process::serve(&cfg.path);
    let zip = zip_of(&[("readme.txt", b"hello"), ("logo.png", b"\x89PNG")]);
    let r = send(&daemon, &[("docs.zip", "application/zip", &zip)]);
    // The "no invoice" sentence names what the archive held, and the archive.
    assert_eq!(
        r.trim_end(),
        "550 5.6.0 no invoice found: readme.txt: application/octet-stream, neither an invoice XML nor a PDF; logo.png: application/octet-stream, neither an invoice XML nor a PDF; docs.zip: an archive with no invoice XML in it; attach the invoice as a UBL or CII XML file"
    );
    let recs = records(&cfg);
    let ignored = recs[0]["ignored"].as_array().unwrap();
    assert!(
        ignored
            .iter()
            .any(|i| i["name"] == "docs.zip"
                && i["reason"] == "an archive with no invoice XML in it"),
        "{ignored:?}"
    );
}

/// What all archives of a message may inflate to is the configured message size limit, not a
/// constant: a gateway that takes 1 MiB messages opens 1 MiB of archives.
#[test]
fn the_archive_budget_is_the_configured_message_size() {
    let cfg = TestConfig::with_server_extra("max_message_size = \"1MiB\"");
    let config = trustgate::config::Config::load(&cfg.path).unwrap();
    let limits = trustgate::gateway::intake_limits(&config);
    assert_eq!(limits.archive.max_total_bytes, 1 << 20);
}
