//! A lost, emptied or corrupt spool database, against a real spool directory and the built
//! binary: the daemon refuses to start (exit 78, so systemd's RestartPreventExitStatus=78
//! stops the restart loop), deletes nothing, and `trustgate spool recover` rebuilds every
//! acknowledged message under its own id. Loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Process, RECEIVER, SUPPLIER, Smtp, TestConfig, cli, invoice_mail};

/// `trustgate serve` that must exit on its own: (exit code, stderr).
fn serve_expecting_exit(config: &Path) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .args(["serve", "--config"])
        .arg(config)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon started on a spool it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (id, status, document statuses) of every stored message, from `spool list --json`.
fn spool_state(cfg: &TestConfig) -> Vec<(String, String, Vec<String>)> {
    let (code, out, err) = cli(&cfg.path, &["spool", "list", "--json", "--full"]);
    assert_eq!(code, 0, "spool list failed: {err}");
    let list = common::ndjson(&out);
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let docs = m["documents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["status"].to_string())
                .collect();
            (
                m["id"].as_str().unwrap().to_string(),
                m["status"].to_string(),
                docs,
            )
        })
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Three acknowledged messages (the second and third are duplicates of the first invoice)
/// and one refused for its content, then the daemon stopped.
fn spool_with_messages(cfg: &TestConfig) -> Vec<(String, String, Vec<String>)> {
    let daemon = Process::serve(&cfg.path);
    for _ in 0..3 {
        let r = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &invoice_mail(SUPPLIER));
        assert!(r.starts_with("250 2.0.0"), "{r}");
    }
    let no_invoice = common::mail(SUPPLIER, RECEIVER, &[("notes.txt", "text/plain", b"hi")]);
    let r = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &no_invoice);
    assert!(r.starts_with("550"), "{r}");
    assert_eq!(daemon.terminate(), Some(0));
    let state = spool_state(cfg);
    assert_eq!(state.len(), 4, "{state:?}");
    state
}

#[test]
fn a_missing_or_empty_database_refuses_to_start_and_recover_rebuilds_every_message() {
    for how in ["missing", "empty"] {
        let cfg = TestConfig::new();
        let before = spool_with_messages(&cfg);
        let db = cfg.spool_dir().join("spool.redb");
        let bodies = cfg.spool_dir().join("bodies");
        let files = files_in(&bodies);
        assert_eq!(files.len(), 4, "{files:?}");
        match how {
            "missing" => std::fs::remove_file(&db).unwrap(),
            _ => std::fs::write(&db, b"").unwrap(),
        }

        // Twice: the refusal itself must not leave a state the next start accepts.
        for _ in 0..2 {
            let (code, err) = serve_expecting_exit(&cfg.path);
            assert_eq!(code, 78, "{how}: {err}");
            assert!(
                err.contains("trustgate spool recover") && err.contains("4 stored file(s)"),
                "{how}: the refusal says what to do: {err}"
            );
            assert_eq!(files_in(&bodies), files, "{how}: nothing deleted");
        }

        if how == "missing" {
            // The CLI points the admin to the recovery too.
            let (code, _, err) = cli(&cfg.path, &["spool", "list"]);
            assert_eq!(code, 1);
            assert!(err.contains("trustgate spool recover"), "{err}");
        }
        let (code, out, err) = cli(&cfg.path, &["spool", "recover"]);
        assert_eq!(code, 0, "{how}: recover failed: {out}{err}");
        assert!(out.contains("4 message(s) recovered"), "{out}");
        let after = spool_state(&cfg);
        assert_eq!(after, before, "{how}: the same ids, statuses and documents");
        let (_, show, _) = cli(&cfg.path, &["spool", "show", &after[0].0]);
        assert!(
            show.contains("recovered by `trustgate spool recover`"),
            "{show}"
        );
        assert!(files_in(&cfg.spool_dir().join("quarantine")).is_empty());

        // The daemon starts again, keeps them, and accepts new mail.
        let daemon = Process::serve(&cfg.path);
        let r = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &invoice_mail(SUPPLIER));
        assert!(r.starts_with("250 2.0.0"), "{r}");
        assert_eq!(daemon.terminate(), Some(0));
        assert_eq!(spool_state(&cfg).len(), 5);
    }
}

#[test]
fn a_corrupt_database_exits_78_and_keeps_the_files() {
    let cfg = TestConfig::new();
    spool_with_messages(&cfg);
    let db = cfg.spool_dir().join("spool.redb");
    let bodies = cfg.spool_dir().join("bodies");
    let files = files_in(&bodies);
    // Garbage over the whole file: no redb header, no commit slot.
    let len = std::fs::metadata(&db).unwrap().len() as usize;
    std::fs::write(&db, vec![0xA5u8; len]).unwrap();
    let (code, err) = serve_expecting_exit(&cfg.path);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("spool"), "{err}");
    assert_eq!(files_in(&bodies), files);
}

#[test]
fn files_no_record_names_go_to_quarantine_and_recover_imports_them() {
    let cfg = TestConfig::new();
    let before = spool_with_messages(&cfg);
    // A body the database does not know (here: one taken out of a copy of the spool, as
    // after restoring an older spool.redb from a backup): moved aside, never deleted.
    let bodies = cfg.spool_dir().join("bodies");
    let copy = tempfile::tempdir().unwrap();
    let name = format!("{}.eml", before[0].0);
    std::fs::copy(bodies.join(&name), copy.path().join(&name)).unwrap();
    let (code, out, err) = cli(&cfg.path, &["spool", "recover"]);
    assert_eq!(
        (code, out.contains("0 message(s) recovered")),
        (0, true),
        "{out}{err}"
    );
    // Drop the record by rebuilding the database without it: the body alone comes back.
    std::fs::remove_file(cfg.spool_dir().join("spool.redb")).unwrap();
    for f in files_in(&bodies) {
        std::fs::remove_file(bodies.join(f)).unwrap();
    }
    std::fs::copy(copy.path().join(&name), bodies.join(&name)).unwrap();
    let (code, err) = serve_expecting_exit(&cfg.path);
    assert_eq!(code, 78, "{err}");
    let (code, out, err) = cli(&cfg.path, &["spool", "recover"]);
    assert_eq!(code, 0, "{out}{err}");
    let after = spool_state(&cfg);
    assert_eq!(after, before[..1].to_vec());
}
