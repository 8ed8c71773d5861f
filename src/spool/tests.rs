//! Tests of the spool handle: commit and read back, group commit, large bodies and documents,
//! orphan removal, dropped stagings, the free-space reserve, locking, shutdown, and injected
//! disk faults.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;

fn options(dir: &Path) -> SpoolOptions {
    SpoolOptions {
        path: dir.join("spool"),
        large_body_threshold: 1024,
        min_free_space: 0,
        recovering: false,
        cache_size: 4 * 1024 * 1024,
    }
}

fn body(spool: &Spool, bytes: &[u8]) -> Staging {
    let mut staging = spool.staging().unwrap();
    for chunk in bytes.chunks(300) {
        staging.write(chunk).unwrap();
    }
    staging
}

fn message(spool: &Spool, raw: &[u8], documents: Vec<NewDocument>) -> NewMessage {
    NewMessage {
        received_at: SystemTime::now(),
        peer: "127.0.0.1:40000".into(),
        helo: "mail.acme.test".into(),
        mail_from: "billing@acme.test".into(),
        rcpt_to: vec!["ad64sde@gw.test".into()],
        header_message_id: Some("<1@acme.test>".into()),
        header_from: None,
        tls: None,
        auth: None,
        notice: None,
        deliver_once: Vec::new(),
        deliver_message: Vec::new(),
        senders: Vec::new(),
        documents,
        ignored: vec![IgnoredAttachment {
            name: "logo.png".into(),
            reason: "not an invoice".into(),
        }],
        body: body(spool, raw),
        status: MessageStatus::Accepted,
    }
}

fn document(xml: &[u8], pdf: Option<&[u8]>) -> NewDocument {
    NewDocument {
        deliver: Vec::new(),
        receiver: "ad64sde@gw.test".into(),
        organisation: "acme-buyer".into(),
        xml_name: "INV-1.xml".into(),
        xml: xml.to_vec(),
        pdf_name: pdf.map(|_| "INV-1.pdf".into()),
        pdf: pdf.map(<[u8]>::to_vec),
        format: "ubl-invoice".into(),
        invoice_number: Some("INV-1".into()),
        duplicate_key: None,
        report: None,
        specification: None,
        source: None,
        xml_at: None,
        pdf_at: None,
        paired_by: None,
        status: None,
        xml_archive: None,
        pdf_archive: None,
    }
}

/// Names in `<spool>/bodies`.
fn body_files(spool: &Spool) -> HashSet<String> {
    fs::read_dir(spool.path().join(schema::BODIES_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// Every file name any record references.
fn referenced_files(spool: &Spool) -> HashSet<String> {
    let mut names = HashSet::new();
    for record in spool.list().unwrap() {
        let blobs = std::iter::once(record.body_store.clone()).chain(
            record
                .documents
                .iter()
                .flat_map(|d| std::iter::once(d.xml_store.clone()).chain(d.pdf_store.clone())),
        );
        for blob in blobs {
            if let Blob::File { name } = blob {
                names.insert(name);
            }
        }
    }
    names
}

/// Waits (bounded) until `cond` holds.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting until {what}");
}

#[tokio::test]
async fn a_committed_message_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let raw = b"From: billing@acme.test\r\nSubject: invoice\r\n\r\nhello\r\n";
    let msg = message(
        &spool,
        raw,
        vec![document(b"<Invoice/>", Some(b"%PDF-1.7"))],
    );
    let id = spool.commit(msg).await.unwrap();
    assert!(MessageId::parse(id.as_str()).is_some(), "{id}");

    let record = spool.get(&id).unwrap().unwrap();
    assert_eq!(record.id, id);
    assert_eq!(record.peer, "127.0.0.1:40000");
    assert_eq!(record.helo, "mail.acme.test");
    assert_eq!(record.mail_from, "billing@acme.test");
    assert_eq!(record.rcpt_to, vec!["ad64sde@gw.test".to_string()]);
    assert_eq!(record.header_message_id.as_deref(), Some("<1@acme.test>"));
    assert_eq!(record.size, raw.len() as u64);
    assert_eq!(
        record.sha256,
        hex(&<sha2::Sha256 as sha2::Digest>::digest(raw))
    );
    assert_eq!(record.status, MessageStatus::Accepted);
    // Every body is a file of its own, named after our id.
    assert_eq!(
        record.body_store,
        Blob::File {
            name: schema::body_file_name(record.id.as_str())
        }
    );
    assert_eq!(
        record.ignored,
        vec![IgnoredAttachment {
            name: "logo.png".into(),
            reason: "not an invoice".into()
        }]
    );
    let doc = &record.documents[0];
    assert_eq!(
        (
            doc.index,
            doc.xml_name.as_str(),
            doc.pdf_name.as_deref(),
            doc.format.as_str()
        ),
        (0, "INV-1.xml", Some("INV-1.pdf"), "ubl-invoice")
    );
    assert_eq!(
        (doc.invoice_number.as_deref(), &doc.status),
        (Some("INV-1"), &DocumentStatus::Ready)
    );
    assert_eq!(
        (doc.receiver.as_str(), doc.organisation.as_str()),
        ("ad64sde@gw.test", "acme-buyer")
    );
    assert_eq!((doc.xml_size, doc.pdf_size), (10, Some(8)));
    let events: Vec<&str> = record.events.iter().map(|e| e.what.as_str()).collect();
    assert!(
        events[0].starts_with("received from 127.0.0.1:40000"),
        "{events:?}"
    );
    assert_eq!(events[1], "stored");

    assert_eq!(spool.raw(&id).unwrap().unwrap(), raw);
    let stored = spool.document(&id, 0).unwrap().unwrap();
    assert_eq!(
        stored,
        StoredDocument {
            xml: b"<Invoice/>".to_vec(),
            pdf: Some(b"%PDF-1.7".to_vec())
        }
    );
    assert_eq!(spool.document(&id, 1).unwrap(), None);
    assert_eq!(spool.list().unwrap(), vec![record]);
    // The body's file, and nothing else: small documents stay in the database.
    assert_eq!(
        body_files(&spool),
        HashSet::from([schema::body_file_name(id.as_str())])
    );

    let unknown = MessageId("20000101T000000Z-000001".into());
    assert_eq!(spool.get(&unknown).unwrap(), None);
    assert_eq!(spool.raw(&unknown).unwrap(), None);
}

#[tokio::test]
async fn list_is_oldest_first_and_ids_resume_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    {
        let spool = Spool::open(&options(dir.path())).unwrap();
        for i in 0..3 {
            ids.push(
                spool
                    .commit(message(&spool, format!("m{i}").as_bytes(), vec![]))
                    .await
                    .unwrap(),
            );
        }
    }
    // Every handle is gone: the database is closed and can be opened again.
    let spool = Spool::open(&options(dir.path())).unwrap();
    ids.push(spool.commit(message(&spool, b"m3", vec![])).await.unwrap());
    let listed: Vec<MessageId> = spool.list().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(listed, ids);
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "ids increase and never repeat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // the held gate is the point: it stops the writer thread
async fn queued_commits_share_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let n = 20;
    let gate = spool.hold_writer();
    let mut tasks = Vec::new();
    for i in 0..n {
        let spool = spool.clone();
        let msg = message(&spool, format!("message {i}").as_bytes(), vec![]);
        tasks.push(tokio::spawn(async move { spool.commit(msg).await }));
    }
    // The writer took one request and waits at the gate (before it looks for more); the
    // others queue up behind it.
    wait_until(
        "the writer holds one commit and the others are queued",
        || spool.writer_at_gate() == 1 && spool.queued() == n - 1,
    )
    .await;
    drop(gate);
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().unwrap());
    }
    assert_eq!(ids.len(), n);
    let stats = spool.stats();
    assert_eq!(stats.messages, n as u64);
    // The held request and the queued ones went into one transaction: one fsync for all.
    assert_eq!(stats.transactions, 1, "{stats:?}");
    assert_eq!(stats.largest_batch, n as u64);
    assert_eq!(spool.list().unwrap().len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_commits_all_succeed_with_at_most_one_fsync_each() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let n = 64;
    let mut tasks = Vec::new();
    for i in 0..n {
        let spool = spool.clone();
        tasks.push(tokio::spawn(async move {
            let big = vec![b'x'; if i % 8 == 0 { 5000 } else { 100 }];
            let msg = message(&spool, &big, vec![]);
            spool.commit(msg).await
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().unwrap());
    }
    assert_eq!(ids.len(), n);
    let stats = spool.stats();
    assert_eq!(stats.messages, n as u64);
    assert!(stats.transactions <= stats.messages, "{stats:?}");
    assert_eq!(spool.list().unwrap().len(), n);
    assert_eq!(body_files(&spool), referenced_files(&spool));
}

#[tokio::test]
async fn large_bodies_and_documents_get_their_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let raw: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let big_xml = vec![b'<'; 2000];
    let msg = message(&spool, &raw, vec![document(&big_xml, Some(b"%PDF small"))]);
    assert!(msg.body.is_file());
    assert_eq!(&*msg.body.bytes().unwrap(), raw.as_slice());
    let id = spool.commit(msg).await.unwrap();

    let record = spool.get(&id).unwrap().unwrap();
    let body_name = schema::body_file_name(id.as_str());
    let xml_name = schema::xml_file_name(id.as_str(), 0);
    assert_eq!(
        record.body_store,
        Blob::File {
            name: body_name.clone()
        }
    );
    assert_eq!(
        record.documents[0].xml_store,
        Blob::File {
            name: xml_name.clone()
        }
    );
    assert_eq!(record.documents[0].pdf_store, Some(Blob::Database));
    assert_eq!(
        body_files(&spool),
        HashSet::from([body_name.clone(), xml_name])
    );
    let file = fs::read(spool.path().join("bodies").join(&body_name)).unwrap();
    let (stored, envelope) = envelope::split(&file);
    assert_eq!(stored, raw, "the message as received, then its envelope");
    assert_eq!(envelope.unwrap().id, id);
    assert_eq!(spool.raw(&id).unwrap().unwrap(), raw);
    let doc = spool.document(&id, 0).unwrap().unwrap();
    assert_eq!((doc.xml, doc.pdf), (big_xml, Some(b"%PDF small".to_vec())));
}

#[tokio::test]
async fn start_up_removes_staging_files_and_quarantines_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let id = {
        let spool = Spool::open(&opts).unwrap();
        spool
            .commit(message(&spool, &[b'a'; 5000], vec![]))
            .await
            .unwrap()
    };
    let bodies = opts.path.join("bodies");
    for name in [
        "20200101T000000Z-000001.eml",
        "20200101T000000Z-000001-0.pdf",
        "123-456-7.tmp",
        "notes.txt",
    ] {
        fs::write(bodies.join(name), b"left over").unwrap();
    }
    let spool = Spool::open(&opts).unwrap();
    assert_eq!(spool.stats().orphans_removed, 1, "the staging file");
    assert_eq!(spool.stats().quarantined, 2);
    assert_eq!(
        body_files(&spool),
        HashSet::from([schema::body_file_name(id.as_str()), "notes.txt".to_string()])
    );
    let quarantined: HashSet<String> = fs::read_dir(opts.path.join(schema::QUARANTINE_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        quarantined,
        HashSet::from([
            "20200101T000000Z-000001.eml".to_string(),
            "20200101T000000Z-000001-0.pdf".to_string()
        ])
    );
    assert_eq!(spool.raw(&id).unwrap().unwrap(), vec![b'a'; 5000]);
}

#[tokio::test]
async fn a_lost_database_beside_stored_bodies_refuses_to_open_and_deletes_nothing() {
    for how in ["missing", "empty"] {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path());
        let id = {
            let spool = Spool::open(&opts).unwrap();
            let id = spool
                .commit(message(&spool, &[b'a'; 5000], vec![]))
                .await
                .unwrap();
            spool.shutdown().await;
            id
        };
        let db = opts.path.join(schema::DATABASE_FILE);
        match how {
            "missing" => fs::remove_file(&db).unwrap(),
            _ => fs::write(&db, b"").unwrap(),
        }
        let body = opts
            .path
            .join("bodies")
            .join(schema::body_file_name(id.as_str()));
        let before = fs::read(&body).unwrap();
        for _ in 0..2 {
            // Twice: a refused start must not leave a state the next start accepts.
            let err = Spool::open(&opts).unwrap_err();
            assert!(
                matches!(err, SpoolError::DatabaseLost { files: 1, .. }) && err.needs_admin(),
                "{how}: {err}"
            );
            assert!(err.to_string().contains("trustgate spool recover"), "{err}");
            assert_eq!(
                fs::read(&body).unwrap(),
                before,
                "{how}: the body is untouched"
            );
        }
        // The recovery open accepts it, and keeps the file (in quarantine).
        let spool = Spool::open(&SpoolOptions {
            recovering: true,
            ..opts.clone()
        })
        .unwrap();
        assert_eq!(spool.stats().quarantined, 1);
        let kept = opts
            .path
            .join(schema::QUARANTINE_DIR)
            .join(schema::body_file_name(id.as_str()));
        assert_eq!(fs::read(&kept).unwrap(), before);
        let (raw, envelope) = envelope::split(&before);
        assert_eq!(raw, vec![b'a'; 5000]);
        assert_eq!(envelope.unwrap().id, id);
    }
}

#[tokio::test]
async fn a_new_database_in_an_empty_spool_opens() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    Spool::open(&opts).unwrap().shutdown().await;
    fs::remove_file(opts.path.join(schema::DATABASE_FILE)).unwrap();
    // Only staging files left (never acknowledged): a new database is fine.
    fs::write(opts.path.join("bodies").join("1-2-3.tmp"), b"x").unwrap();
    let spool = Spool::open(&opts).unwrap();
    assert_eq!(spool.stats().orphans_removed, 1);
}

#[tokio::test]
async fn a_dropped_staging_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&SpoolOptions {
        large_body_threshold: 0,
        ..options(dir.path())
    })
    .unwrap();
    let staging = body(&spool, b"aborted transaction");
    let path = staging.file_path().unwrap().to_path_buf();
    assert!(path.exists());
    drop(staging);
    assert!(!path.exists());
    assert!(body_files(&spool).is_empty());
}

#[tokio::test]
async fn staging_is_refused_below_the_free_space_reserve() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&SpoolOptions {
        min_free_space: u64::MAX,
        ..options(dir.path())
    })
    .unwrap();
    let err = spool.staging().unwrap_err();
    assert!(matches!(err, SpoolError::Full) && err.is_full(), "{err}");
    assert!(spool.free_space().unwrap() > 0);
}

#[tokio::test]
async fn a_second_open_is_refused_while_the_spool_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let spool = Spool::open(&opts).unwrap();
    let id = spool.commit(message(&spool, b"x", vec![])).await.unwrap();
    assert!(matches!(Spool::open(&opts), Err(SpoolError::Locked(_))));
    assert!(matches!(
        Spool::open_read_only(&opts.path),
        Err(SpoolError::Locked(_))
    ));
    drop(spool);

    let ro = Spool::open_read_only(&opts.path).unwrap();
    assert_eq!(ro.list().unwrap().len(), 1);
    assert_eq!(ro.raw(&id).unwrap().unwrap(), b"x");
    assert!(matches!(ro.staging(), Err(SpoolError::Closed)));
    drop(ro);
    let missing = Spool::open_read_only(&dir.path().join("nowhere")).unwrap_err();
    assert!(
        matches!(&missing, SpoolError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_commits_what_is_queued_then_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let spool = spool.clone();
        let msg = message(&spool, format!("m{i}").as_bytes(), vec![]);
        tasks.push(tokio::spawn(async move { spool.commit(msg).await }));
    }
    // Commits that got a sender before the shutdown complete; later ones get Closed.
    wait_until("every commit is under way", || {
        spool.queued() > 0 || spool.stats().messages > 0
    })
    .await;
    spool.shutdown().await;
    let mut stored = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => stored += 1,
            Err(err) => assert!(matches!(err, SpoolError::Closed), "{err}"),
        }
    }
    assert_eq!(spool.list().unwrap().len(), stored);
    assert_eq!(spool.stats().messages, stored as u64);
    assert!(matches!(spool.staging(), Err(SpoolError::Closed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // the held gate is the point: it stops the writer thread
async fn a_dropped_commit_future_still_stores_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let msg = message(&spool, &[b'z'; 4000], vec![]);
    // Polled once (which starts the commit task), then dropped while the writer is held.
    let gate = spool.hold_writer();
    let outcome = tokio::time::timeout(Duration::ZERO, spool.commit(msg)).await;
    assert!(
        outcome.is_err(),
        "the commit cannot finish while the writer is held"
    );
    drop(gate);
    wait_until("the abandoned commit is stored", || {
        spool.stats().messages == 1
    })
    .await;
    let records = spool.list().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        spool.raw(&records[0].id).unwrap().unwrap(),
        vec![b'z'; 4000]
    );
    assert_eq!(body_files(&spool), referenced_files(&spool));
}

#[tokio::test]
async fn failing_fsync_never_yields_ok_and_the_spool_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let spool = Spool::open_with_faults(&options(dir.path()), &faults).unwrap();
    let before = spool
        .commit(message(&spool, b"before", vec![]))
        .await
        .unwrap();

    faults.fail_syncs(true);
    let small = spool
        .commit(message(&spool, b"small during fault", vec![]))
        .await;
    assert!(small.is_err(), "commit returned Ok while fsync fails");
    let large = spool.commit(message(&spool, &[b'L'; 4000], vec![])).await;
    assert!(large.is_err(), "large commit returned Ok while fsync fails");
    // Reads keep working or fail cleanly while the disk is bad.
    let _ = spool.list();

    faults.clear();
    let after = spool
        .commit(message(&spool, b"after", vec![]))
        .await
        .unwrap();
    assert!(after > before);
    let listed: Vec<MessageId> = spool.list().unwrap().into_iter().map(|r| r.id).collect();
    assert!(
        listed.contains(&before) && listed.contains(&after),
        "{listed:?}"
    );
    assert_eq!(spool.raw(&after).unwrap().unwrap(), b"after");
    // (The body file's own fsync fails first now, before the writer: the database's failed
    // commit and reopen are covered by spool_faults.rs and the fsync tests through redb.)
    // No file is left that no record references.
    assert_eq!(body_files(&spool), referenced_files(&spool));
}

#[tokio::test]
async fn failing_writes_never_yield_ok_and_report_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let spool = Spool::open_with_faults(&options(dir.path()), &faults).unwrap();

    faults.fail_writes(true);
    let err = spool
        .commit(message(&spool, b"during fault", vec![]))
        .await
        .unwrap_err();
    assert!(
        err.is_full(),
        "ENOSPC from the database should read as full: {err}"
    );
    let mut staging = spool.staging().unwrap();
    let err = staging.write(&[b'x'; 5000]).unwrap_err();
    assert!(is_disk_full(&err), "{err}");
    drop(staging);

    faults.clear();
    let id = spool
        .commit(message(&spool, &[b'y'; 5000], vec![]))
        .await
        .unwrap();
    assert_eq!(spool.raw(&id).unwrap().unwrap(), vec![b'y'; 5000]);
    assert_eq!(body_files(&spool), referenced_files(&spool));
}

#[tokio::test]
async fn a_spool_whose_commit_failed_reopens_after_the_process_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let faults = FaultInjector::new();
    let id = {
        let spool = Spool::open_with_faults(&opts, &faults).unwrap();
        let id = spool
            .commit(message(&spool, b"kept", vec![]))
            .await
            .unwrap();
        faults.fail_syncs(true);
        assert!(
            spool
                .commit(message(&spool, &[b'q'; 3000], vec![]))
                .await
                .is_err()
        );
        // The process "dies" with the disk still failing: no clean close.
        id
    };
    faults.clear();
    let spool = Spool::open(&opts).unwrap();
    assert_eq!(spool.raw(&id).unwrap().unwrap(), b"kept");
    assert_eq!(body_files(&spool), referenced_files(&spool));
    spool
        .commit(message(&spool, b"next", vec![]))
        .await
        .unwrap();
}

/// The environment variable that turns [`crash_child_commits_until_killed`] on.
const CRASH_DIR_ENV: &str = "TRUSTGATE_SPOOL_CRASH_DIR";

/// Child side of the kill -9 test: commits from several tasks until killed, printing each id
/// only after its commit returned `Ok`. Without the variable it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_commits_until_killed() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let spool = Spool::open(&options(Path::new(&dir))).unwrap();
    let mut tasks = Vec::new();
    for t in 0..4u32 {
        let spool = spool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10_000u32 {
                let size = if i % 3 == 0 { 3000 } else { 200 };
                let fill = b'a' + u8::try_from((t * 7 + i) % 26).unwrap();
                let xml = vec![fill; if i % 4 == 0 { 2000 } else { 50 }];
                let msg = message(
                    &spool,
                    &vec![fill; size],
                    vec![document(&xml, Some(b"%PDF"))],
                );
                let id = spool.commit(msg).await.unwrap();
                println!("committed {id} {size} {}", fill as char);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[test]
fn kill_9_during_commits_loses_nothing_acknowledged() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "spool::tests::crash_child_commits_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let mut killed = false;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("committed ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split(' ').collect();
        acked.push((
            MessageId(fields[0].to_string()),
            fields[1].parse::<usize>().unwrap(),
            fields[2].as_bytes()[0],
        ));
        if acked.len() == 40 && !killed {
            // SIGKILL in the middle of further commits; lines already printed still count.
            child.kill().unwrap();
            killed = true;
        }
    }
    child.wait().unwrap();
    assert!(killed, "the child stopped after {} commits", acked.len());

    // A crashed store needs redb's repair, which only a writable open does; the CLI (no
    // daemon here) falls back to it and lists every acknowledged message.
    let spool_dir = options(dir.path()).path;
    let ro = Spool::open_read_only(&spool_dir);
    assert!(matches!(ro, Err(SpoolError::NeedsRecovery(_))), "{ro:?}");
    let mut out = Vec::new();
    let code = crate::cli::spool::run_to(crate::cli::spool::list_cmd(true), &spool_dir, &mut out);
    assert_eq!(code.unwrap(), 0);
    let listed: Vec<MessageRecord> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        acked
            .iter()
            .all(|(id, _, _)| listed.iter().any(|r| r.id == *id))
    );

    let spool = Spool::open(&options(dir.path())).unwrap();
    for (id, size, fill) in &acked {
        let raw = spool
            .raw(id)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged {id} was lost"));
        assert_eq!(raw, vec![*fill; *size], "{id}");
        assert!(spool.document(id, 0).unwrap().is_some(), "{id}");
    }
    assert!(spool.list().unwrap().len() >= acked.len());
    assert_eq!(
        body_files(&spool),
        referenced_files(&spool),
        "orphans left after recovery"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let id = runtime
        .block_on(spool.commit(message(&spool, b"after the crash", vec![])))
        .unwrap();
    assert!(
        acked.iter().all(|(old, _, _)| *old < id),
        "ids resume after the newest stored one"
    );
}

/// A document carrying duplicate key `key`.
fn keyed(key: &str) -> NewDocument {
    NewDocument {
        deliver: Vec::new(),
        duplicate_key: Some(key.into()),
        specification: Some("si-ubl-2.0".into()),
        ..document(b"<Invoice/>", None)
    }
}

/// `message` received at a fixed millisecond, so index times compare exactly.
fn message_at(spool: &Spool, ms: u64, raw: &[u8], documents: Vec<NewDocument>) -> NewMessage {
    NewMessage {
        received_at: from_unix_millis(ms),
        ..message(spool, raw, documents)
    }
}

fn rejected(reason: &str) -> MessageStatus {
    MessageStatus::Rejected {
        reply: "550 5.6.0 Invoice INV-1 is invalid: [BR-NL-10] ...".into(),
        reason: reason.into(),
    }
}

fn statuses(record: &MessageRecord) -> Vec<DocumentStatus> {
    record.documents.iter().map(|d| d.status.clone()).collect()
}

#[tokio::test]
async fn a_duplicate_invoice_is_marked_across_commits_and_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let key = "org|NL123|INV-1|2026-01-31|380";
    let first_ms = 1_790_000_000_123;
    let (first, second) = {
        let spool = Spool::open(&opts).unwrap();
        assert_eq!(spool.find_duplicate(key).unwrap(), None);
        let first = spool
            .commit(message_at(&spool, first_ms, b"one", vec![keyed(key)]))
            .await
            .unwrap();
        let second = spool
            .commit(message(
                &spool,
                b"two",
                vec![keyed("org|NL123|INV-2|2026-01-31|380"), keyed(key)],
            ))
            .await
            .unwrap();
        (first, second)
    };
    let earlier = DuplicateOf {
        message: first.clone(),
        document: 0,
        received_at: from_unix_millis(first_ms),
    };
    let spool = Spool::open(&opts).unwrap();
    let third = spool
        .commit(message(&spool, b"three", vec![keyed(key)]))
        .await
        .unwrap();

    let first_record = spool.get(&first).unwrap().unwrap();
    assert_eq!(statuses(&first_record), vec![DocumentStatus::Ready]);
    assert_eq!(first_record.documents[0].duplicate_of, None);
    assert_eq!(
        first_record.documents[0].duplicate_key.as_deref(),
        Some(key)
    );
    assert_eq!(
        first_record.documents[0].specification.as_deref(),
        Some("si-ubl-2.0")
    );
    let second_record = spool.get(&second).unwrap().unwrap();
    assert_eq!(
        statuses(&second_record),
        vec![DocumentStatus::Ready, DocumentStatus::Duplicate]
    );
    assert_eq!(
        second_record.documents[1].duplicate_of,
        Some(earlier.clone())
    );
    let events: Vec<&str> = second_record
        .events
        .iter()
        .map(|e| e.what.as_str())
        .collect();
    assert_eq!(
        events[1..],
        [
            format!("document 1: duplicate of {first} document 0").as_str(),
            "stored"
        ],
        "{events:?}"
    );
    let third_record = spool.get(&third).unwrap().unwrap();
    assert_eq!(statuses(&third_record), vec![DocumentStatus::Duplicate]);
    assert_eq!(
        third_record.documents[0].duplicate_of,
        Some(earlier.clone())
    );

    assert_eq!(spool.find_duplicate(key).unwrap(), Some(earlier));
    assert_eq!(
        spool
            .find_duplicate("org|NL123|INV-2|2026-01-31|380")
            .unwrap()
            .map(|d| (d.message, d.document)),
        Some((second, 0))
    );
    assert_eq!(
        spool
            .find_duplicate("org|NL123|INV-9|2026-01-31|380")
            .unwrap(),
        None
    );
    // A read-only open (the CLI) answers too.
    drop(spool);
    let ro = Spool::open_read_only(&opts.path).unwrap();
    assert_eq!(
        ro.find_duplicate(key).unwrap().map(|d| d.message),
        Some(first)
    );
}

#[tokio::test]
async fn documents_without_a_key_are_never_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    for raw in [b"a", b"b"] {
        let id = spool
            .commit(message(&spool, raw, vec![document(b"<Invoice/>", None)]))
            .await
            .unwrap();
        let record = spool.get(&id).unwrap().unwrap();
        assert_eq!(statuses(&record), vec![DocumentStatus::Ready]);
    }
}

#[tokio::test]
async fn the_same_invoice_twice_in_one_message_is_a_duplicate_of_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let id = spool
        .commit(message(&spool, b"x", vec![keyed("k"), keyed("k")]))
        .await
        .unwrap();
    let record = spool.get(&id).unwrap().unwrap();
    assert_eq!(
        statuses(&record),
        vec![DocumentStatus::Ready, DocumentStatus::Duplicate]
    );
    let of = record.documents[1].duplicate_of.clone().unwrap();
    assert_eq!((of.message, of.document), (id, 0));
}

/// Counts (ready, duplicate) documents, and checks every duplicate points at the ready one.
fn exactly_one_first(spool: &Spool, ids: &[MessageId]) {
    let records: Vec<MessageRecord> = ids
        .iter()
        .map(|id| spool.get(id).unwrap().unwrap())
        .collect();
    let ready: Vec<&MessageRecord> = records
        .iter()
        .filter(|r| r.documents[0].status == DocumentStatus::Ready)
        .collect();
    assert_eq!(
        ready.len(),
        1,
        "{:?}",
        records.iter().map(statuses).collect::<Vec<_>>()
    );
    let first = &ready[0].id;
    for r in records.iter().filter(|r| r.id != *first) {
        assert_eq!(r.documents[0].status, DocumentStatus::Duplicate, "{}", r.id);
        let of = r.documents[0].duplicate_of.as_ref().unwrap();
        assert_eq!((&of.message, of.document), (first, 0), "{}", r.id);
    }
    assert_eq!(
        spool.find_duplicate("same").unwrap().unwrap().message,
        *first
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_invoices_have_exactly_one_first() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let spool = spool.clone();
        tasks.push(tokio::spawn(async move {
            // Different bodies: not resends, only the same invoice.
            let msg = message(&spool, format!("copy {i}").as_bytes(), vec![keyed("same")]);
            spool.commit(msg).await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap());
    }
    exactly_one_first(&spool, &ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // the held gate is the point: it stops the writer thread
async fn identical_invoices_in_one_batch_have_exactly_one_first() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let n = 8;
    let gate = spool.hold_writer();
    let mut tasks = Vec::new();
    for i in 0..n {
        let spool = spool.clone();
        let msg = message(&spool, format!("copy {i}").as_bytes(), vec![keyed("same")]);
        tasks.push(tokio::spawn(async move { spool.commit(msg).await }));
    }
    wait_until("one commit is held and the others are queued", || {
        spool.writer_at_gate() == 1 && spool.queued() == n - 1
    })
    .await;
    drop(gate);
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap());
    }
    assert_eq!(spool.stats().transactions, 1, "{:?}", spool.stats());
    exactly_one_first(&spool, &ids);
}

#[tokio::test]
async fn a_resend_is_recognised_by_message_id_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let first = {
        let spool = Spool::open(&opts).unwrap();
        spool
            .commit(message(&spool, b"same bytes", vec![]))
            .await
            .unwrap()
    };
    let spool = Spool::open(&opts).unwrap();
    let again = spool
        .commit(message(&spool, b"same bytes", vec![]))
        .await
        .unwrap();
    let changed = spool
        .commit(message(&spool, b"other bytes", vec![]))
        .await
        .unwrap();
    let other_header = spool
        .commit(NewMessage {
            header_message_id: Some("<2@acme.test>".into()),
            header_from: None,
            tls: None,
            auth: None,
            notice: None,
            deliver_once: Vec::new(),
            deliver_message: Vec::new(),
            senders: Vec::new(),
            ..message(&spool, b"same bytes", vec![])
        })
        .await
        .unwrap();
    let mut no_header = Vec::new();
    for _ in 0..2 {
        let msg = NewMessage {
            header_message_id: None,
            header_from: None,
            tls: None,
            auth: None,
            notice: None,
            deliver_once: Vec::new(),
            deliver_message: Vec::new(),
            senders: Vec::new(),
            ..message(&spool, b"same bytes", vec![])
        };
        no_header.push(spool.commit(msg).await.unwrap());
    }

    let get = |id: &MessageId| spool.get(id).unwrap().unwrap();
    assert_eq!(get(&first).resend_of, None);
    let resent = get(&again);
    assert_eq!(resent.resend_of, Some(first.clone()));
    assert_eq!(resent.status, MessageStatus::Accepted);
    let events: Vec<&str> = resent.events.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(
        events[1..],
        [format!("resend of {first}").as_str(), "stored"],
        "{events:?}"
    );
    for id in [&changed, &other_header, &no_header[0], &no_header[1]] {
        assert_eq!(get(id).resend_of, None, "{id}");
    }
}

#[tokio::test]
async fn rejected_messages_are_stored_but_stay_out_of_both_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let bad = NewDocument {
        deliver: Vec::new(),
        status: Some(DocumentStatus::Rejected {
            rules: vec!["BR-NL-10".into()],
        }),
        report: Some(serde_json::json!({"findings": [
            {"rule_id": "BR-NL-10", "severity": "fatal", "message": "[BR-NL-10] no buyer KvK"}
        ]})),
        ..keyed("bad")
    };
    let refused = spool
        .commit(NewMessage {
            status: rejected("invoice_invalid"),
            ..message(&spool, b"refused bytes", vec![bad, keyed("good")])
        })
        .await
        .unwrap();
    let record = spool.get(&refused).unwrap().unwrap();
    assert_eq!(record.status, rejected("invoice_invalid"));
    assert_eq!(
        statuses(&record),
        vec![
            DocumentStatus::Rejected {
                rules: vec!["BR-NL-10".into()]
            },
            // Not refused itself, but its message was: never delivered.
            DocumentStatus::Withheld,
        ]
    );
    assert_eq!(
        record.documents[0].report.as_ref().unwrap()["findings"][0]["rule_id"],
        "BR-NL-10"
    );
    assert!(
        record.events.iter().any(|e| e.what
            == "refused (invoice_invalid): 550 5.6.0 Invoice INV-1 is invalid: [BR-NL-10] ..."),
        "{:?}",
        record.events
    );
    assert_eq!(spool.raw(&refused).unwrap().unwrap(), b"refused bytes");
    assert!(spool.document(&refused, 1).unwrap().is_some());
    assert_eq!(spool.find_duplicate("bad").unwrap(), None);
    assert_eq!(spool.find_duplicate("good").unwrap(), None);

    // The corrected resend (same Message-ID; here even the same bytes) is neither a resend
    // nor a duplicate.
    let corrected = spool
        .commit(message(
            &spool,
            b"refused bytes",
            vec![keyed("bad"), keyed("good")],
        ))
        .await
        .unwrap();
    let record = spool.get(&corrected).unwrap().unwrap();
    assert_eq!(record.resend_of, None);
    assert_eq!(
        statuses(&record),
        vec![DocumentStatus::Ready, DocumentStatus::Ready]
    );
}

#[tokio::test]
async fn a_rejected_document_of_an_accepted_message_is_not_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let bad = NewDocument {
        deliver: Vec::new(),
        status: Some(DocumentStatus::Rejected {
            rules: vec!["buyer".into()],
        }),
        ..keyed("bad")
    };
    let id = spool
        .commit(message(&spool, b"partly", vec![bad, keyed("good")]))
        .await
        .unwrap();
    let record = spool.get(&id).unwrap().unwrap();
    assert_eq!(record.status, MessageStatus::Accepted);
    assert_eq!(record.documents[1].status, DocumentStatus::Ready);
    assert_eq!(spool.find_duplicate("bad").unwrap(), None);
    assert_eq!(spool.find_duplicate("good").unwrap().unwrap().message, id);
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap()
}

#[test]
fn statuses_serialise_to_the_documented_json() {
    assert_eq!(json(&MessageStatus::Accepted), r#""accepted""#);
    assert_eq!(
        json(&rejected("buyer")),
        r#"{"rejected":{"reply":"550 5.6.0 Invoice INV-1 is invalid: [BR-NL-10] ...","reason":"buyer"}}"#
    );
    assert_eq!(json(&DocumentStatus::Ready), r#""ready""#);
    assert_eq!(json(&DocumentStatus::Duplicate), r#""duplicate""#);
    assert_eq!(json(&DocumentStatus::Withheld), r#""withheld""#);
    assert_eq!(
        json(&DocumentStatus::Rejected {
            rules: vec!["BR-01".into()]
        }),
        r#"{"rejected":{"rules":["BR-01"]}}"#
    );
    for (status, text) in [
        (MessageStatus::Accepted, "accepted"),
        (rejected("x"), "rejected"),
    ] {
        assert_eq!(status.to_string(), text);
    }
    for (status, text) in [
        (DocumentStatus::Ready, "ready"),
        (DocumentStatus::Duplicate, "duplicate"),
        (DocumentStatus::Rejected { rules: vec![] }, "rejected"),
        (DocumentStatus::Withheld, "withheld"),
    ] {
        assert_eq!(status.to_string(), text);
    }
}

/// A record as the first spool format wrote it, before statuses other than accepted/ready,
/// duplicates, resends, specifications and reports.
const OLD_RECORD: &str = r#"{"id":"20250101T000000Z-000001","received_at":"2025-01-01T00:00:00.000Z",
"peer":"127.0.0.1:1","helo":"h","mail_from":"a@b.test","rcpt_to":["c@d.test"],
"header_message_id":"<1@b.test>","size":4,"sha256":"00","status":"accepted",
"body_store":{"in":"database"},"documents":[{"index":0,"receiver":"c@d.test",
"organisation":"org","format":"UBL Invoice","invoice_number":"INV-1","xml_name":"INV-1.xml",
"xml_size":10,"xml_sha256":"00","pdf_name":null,"pdf_size":null,"status":"ready",
"xml_store":{"in":"database"},"pdf_store":null}],"ignored":[],
"events":[{"at":"2025-01-01T00:00:00.000Z","what":"stored"}]}"#;

#[test]
fn an_old_record_without_the_new_fields_still_reads() {
    let record: MessageRecord = serde_json::from_str(OLD_RECORD).unwrap();
    assert_eq!(
        (&record.status, &record.resend_of),
        (&MessageStatus::Accepted, &None)
    );
    let doc = &record.documents[0];
    assert_eq!(doc.status, DocumentStatus::Ready);
    // Written with the display name; read with the one vocabulary's id.
    assert_eq!(doc.format, "ubl-invoice");
    assert_eq!(
        (
            &doc.specification,
            &doc.duplicate_key,
            &doc.duplicate_of,
            &doc.report
        ),
        (&None, &None, &None, &None)
    );
}

#[tokio::test]
async fn a_store_without_the_index_tables_reads_and_gets_them_at_a_writable_open() {
    use redb::ReadableDatabase as _;

    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    fs::create_dir_all(&opts.path).unwrap();
    {
        // The first format: no `duplicates`, no `resends`.
        let db = redb::Database::create(opts.path.join(schema::DATABASE_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(schema::META).unwrap();
            meta.insert(schema::FORMAT_VERSION_KEY, 1).unwrap();
            let mut messages = txn.open_table(schema::MESSAGES).unwrap();
            messages
                .insert("20250101T000000Z-000001", OLD_RECORD.as_bytes())
                .unwrap();
            let mut bodies = txn.open_table(schema::BODIES).unwrap();
            bodies
                .insert("20250101T000000Z-000001", b"body".as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        assert!(read.open_table(schema::DUPLICATES).is_err());
    }
    let old = MessageId("20250101T000000Z-000001".into());
    {
        let ro = Spool::open_read_only(&opts.path).unwrap();
        assert_eq!(ro.list().unwrap().len(), 1);
        assert_eq!(ro.find_duplicate("k").unwrap(), None);
    }
    let spool = Spool::open(&opts).unwrap();
    assert_eq!(spool.raw(&old).unwrap().unwrap(), b"body");
    let ids = [
        spool
            .commit(message(&spool, b"1", vec![keyed("k")]))
            .await
            .unwrap(),
        spool
            .commit(message(&spool, b"2", vec![keyed("k")]))
            .await
            .unwrap(),
    ];
    assert_eq!(
        spool.get(&ids[1]).unwrap().unwrap().documents[0].status,
        DocumentStatus::Duplicate
    );
    assert_eq!(spool.find_duplicate("k").unwrap().unwrap().message, ids[0]);
    assert_eq!(spool.list().unwrap().len(), 3);
    // Migrated to the current format: the delivery tables exist, the old message has none.
    assert!(spool.deliveries(&old).unwrap().is_empty());
    spool.shutdown().await;
    drop(spool);
    let ro = Spool::open_read_only(&opts.path).unwrap();
    let version = ro
        .inner
        .shared
        .with_read(|txn| {
            let meta = txn.open_table(schema::META).unwrap();
            Ok(meta
                .get(schema::FORMAT_VERSION_KEY)
                .unwrap()
                .map(|v| v.value()))
        })
        .unwrap();
    assert_eq!(version, Some(schema::FORMAT_VERSION));
}

// ---- the delivery queue ----

fn delivered_to(sinks: &[&str]) -> NewDocument {
    let mut doc = document(b"<Invoice/>", Some(b"%PDF-1.4"));
    doc.deliver = sinks.iter().map(|s| (*s).to_string()).collect();
    doc
}

fn state_of(spool: &Spool, id: &MessageId, sink: &str) -> Option<DeliveryRecord> {
    spool
        .deliveries(id)
        .unwrap()
        .into_iter()
        .find(|d| d.sink == sink)
        .map(|d| d.record)
}

const LEASE: Duration = Duration::from_secs(90);

#[tokio::test]
async fn deliveries_are_queued_with_the_message_and_walk_their_states() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let id = spool
        .commit(message(
            &spool,
            b"x",
            vec![delivered_to(&["erp", "archive"])],
        ))
        .await
        .unwrap();
    let erp = state_of(&spool, &id, "erp").unwrap();
    assert_eq!((erp.state, erp.attempts), (DeliveryState::Pending, 0));
    assert!(state_of(&spool, &id, "archive").is_some());
    assert!(spool.next_due("erp").unwrap().unwrap() <= SystemTime::now());

    // Each sink is its own queue.
    let jobs = spool.claim("erp", 10, LEASE).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].sink.as_str(), jobs[0].attempt), ("erp", 1));
    assert_eq!(
        state_of(&spool, &id, "erp").unwrap().state,
        DeliveryState::InFlight
    );
    // Claimed once: no second claim while the lease runs.
    assert!(spool.claim("erp", 10, LEASE).await.unwrap().is_empty());
    assert_eq!(spool.claim("archive", 10, LEASE).await.unwrap().len(), 1);

    // A retry comes due at its time, as attempt 2.
    let soon = SystemTime::now() + Duration::from_millis(30);
    spool
        .settle(
            jobs[0].clone(),
            Settlement::Retry {
                error: "HTTP 500".into(),
                next: soon,
            },
            Duration::from_millis(5),
        )
        .await
        .unwrap();
    let erp = state_of(&spool, &id, "erp").unwrap();
    assert_eq!(
        (erp.state, erp.attempts, erp.last_error.as_deref()),
        (DeliveryState::Pending, 1, Some("HTTP 500"))
    );
    tokio::time::sleep(Duration::from_millis(40)).await;
    let again = spool.claim("erp", 10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);
    spool
        .settle(
            again[0].clone(),
            Settlement::Delivered {
                answer: "HTTP 200".into(),
            },
            Duration::from_millis(5),
        )
        .await
        .unwrap();
    let erp = state_of(&spool, &id, "erp").unwrap();
    assert_eq!(
        (erp.state, erp.total_attempts, erp.answer.as_deref()),
        (DeliveryState::Delivered, 2, Some("HTTP 200"))
    );
    assert!(erp.delivered_at.is_some());
    let attempts: Vec<(String, u32, String)> = spool
        .attempts(&id)
        .unwrap()
        .into_iter()
        .filter(|a| a.sink == "erp")
        .map(|a| (a.record.outcome, a.number, a.record.detail))
        .collect();
    assert_eq!(
        attempts,
        [
            ("retry".to_string(), 1, "HTTP 500".to_string()),
            ("delivered".to_string(), 2, "HTTP 200".to_string())
        ]
    );
    assert_eq!(spool.next_due("erp").unwrap(), None);
    // The message record is a record of what arrived: attempts never changed it.
    let record = spool.get(&id).unwrap().unwrap();
    assert_eq!(record.events.len(), 2, "{:?}", record.events);
}

#[tokio::test]
async fn queue_stats_count_a_delivery_in_back_off_from_when_it_was_queued() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    assert_eq!(spool.queue_stats("erp").unwrap(), (0, None));
    let id = spool
        .commit(message(&spool, b"x", vec![delivered_to(&["erp"])]))
        .await
        .unwrap();
    let queued = state_of(&spool, &id, "erp").unwrap().offered_at;
    let job = spool.claim("erp", 1, LEASE).await.unwrap().remove(0);
    // Its next attempt an hour away: the metric still counts from when it was queued, so a
    // sink that fails every attempt shows a growing age, not zero.
    let later = SystemTime::now() + Duration::from_secs(3600);
    spool
        .settle(
            job,
            Settlement::Retry {
                error: "HTTP 503".into(),
                next: later,
            },
            Duration::from_millis(5),
        )
        .await
        .unwrap();
    let (depth, oldest) = spool.queue_stats("erp").unwrap();
    assert_eq!(depth, 1);
    assert_eq!(oldest, Some(queued));
    assert_eq!(spool.queue_stats("archive").unwrap(), (0, None));
}

#[tokio::test]
async fn duplicates_and_rejected_documents_are_never_queued() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let mut first = delivered_to(&["erp"]);
    first.duplicate_key = Some("k".into());
    let mut second = delivered_to(&["erp"]);
    second.duplicate_key = Some("k".into());
    let a = spool
        .commit(message(&spool, b"a", vec![first]))
        .await
        .unwrap();
    let b = spool
        .commit(message(&spool, b"b", vec![second]))
        .await
        .unwrap();
    assert!(state_of(&spool, &a, "erp").is_some());
    assert!(spool.deliveries(&b).unwrap().is_empty());
    let mut rejected = message(&spool, b"c", vec![delivered_to(&["erp"])]);
    rejected.status = MessageStatus::Rejected {
        reply: "550".into(),
        reason: "x".into(),
    };
    let c = spool.commit(rejected).await.unwrap();
    assert!(spool.deliveries(&c).unwrap().is_empty());
}

#[tokio::test]
async fn dead_letters_are_re_offered_and_older_documents_queued_for_a_new_sink() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let start = SystemTime::now() - Duration::from_secs(1);
    let id = spool
        .commit(message(&spool, b"x", vec![delivered_to(&["erp"])]))
        .await
        .unwrap();
    let job = spool.claim("erp", 1, LEASE).await.unwrap().remove(0);
    spool
        .settle(
            job,
            Settlement::Failed {
                error: "HTTP 410".into(),
            },
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(
        state_of(&spool, &id, "erp").unwrap().state,
        DeliveryState::Failed
    );
    assert!(spool.claim("erp", 1, LEASE).await.unwrap().is_empty());

    // Only the failed sink's dead letters, when a sink is named.
    assert_eq!(
        spool
            .reoffer(Reoffer::Failed {
                sink: Some("other".into())
            })
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        spool.reoffer(Reoffer::Failed { sink: None }).await.unwrap(),
        1
    );
    let erp = state_of(&spool, &id, "erp").unwrap();
    assert_eq!((erp.state, erp.attempts), (DeliveryState::Pending, 0));
    // Pending already: nothing more to re-offer.
    assert_eq!(
        spool.reoffer(Reoffer::Failed { sink: None }).await.unwrap(),
        0
    );
    let job = spool.claim("erp", 1, LEASE).await.unwrap().remove(0);
    assert_eq!(job.attempt, 1);

    // A sink linked later gets the organisation's older documents, once.
    let org = |since| Reoffer::Organisation {
        organisation: "acme-buyer".into(),
        since,
        sink: "archive".into(),
    };
    assert_eq!(
        spool
            .reoffer(org(SystemTime::now() + Duration::from_secs(5)))
            .await
            .unwrap(),
        0
    );
    assert_eq!(spool.reoffer(org(start)).await.unwrap(), 1);
    assert_eq!(spool.reoffer(org(start)).await.unwrap(), 0);
    assert_eq!(spool.claim("archive", 5, LEASE).await.unwrap().len(), 1);

    // A message (or one document) to a named sink.
    let one = Reoffer::Message {
        message: id.clone(),
        document: Some(0),
        sink: Some("copy".into()),
    };
    assert_eq!(spool.reoffer(one).await.unwrap(), 1);
    assert!(state_of(&spool, &id, "copy").is_some());
}

#[tokio::test]
async fn a_stale_claim_settles_only_into_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let id = spool
        .commit(message(&spool, b"x", vec![delivered_to(&["erp"])]))
        .await
        .unwrap();
    let old = spool
        .claim("erp", 1, Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    // The lease ran out: claimed again.
    let new = spool.claim("erp", 1, LEASE).await.unwrap().remove(0);
    spool
        .settle(
            old,
            Settlement::Failed {
                error: "late".into(),
            },
            Duration::ZERO,
        )
        .await
        .unwrap();
    let erp = state_of(&spool, &id, "erp").unwrap();
    assert_eq!(
        (erp.state, erp.total_attempts),
        (DeliveryState::InFlight, 1)
    );
    spool
        .settle(
            new,
            Settlement::Delivered {
                answer: "ok".into(),
            },
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(
        state_of(&spool, &id, "erp").unwrap().state,
        DeliveryState::Delivered
    );
}

#[tokio::test]
async fn claims_of_a_stopped_process_are_due_again_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let id = {
        let spool = Spool::open(&opts).unwrap();
        let id = spool
            .commit(message(&spool, b"x", vec![delivered_to(&["erp"])]))
            .await
            .unwrap();
        assert_eq!(spool.claim("erp", 1, LEASE).await.unwrap().len(), 1);
        spool.shutdown().await;
        id
    };
    let spool = Spool::open(&opts).unwrap();
    let erp = state_of(&spool, &id, "erp").unwrap();
    assert_eq!(erp.state, DeliveryState::Pending);
    assert!(erp.due() <= SystemTime::now());
    let jobs = spool.claim("erp", 1, LEASE).await.unwrap();
    assert_eq!(jobs.len(), 1);
    // The claim that never settled does not count as an attempt.
    assert_eq!(jobs[0].attempt, 1);
}

#[tokio::test]
async fn list_pages_with_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let mut ids = Vec::new();
    for i in 0..5u8 {
        ids.push(spool.commit(message(&spool, &[i], vec![])).await.unwrap());
    }
    let (page, next) = spool.list_page(None, 2, &Filter::default()).unwrap();
    assert_eq!(
        page.iter().map(|m| &m.id).collect::<Vec<_>>(),
        [&ids[0], &ids[1]]
    );
    assert_eq!(next.as_ref(), Some(&ids[1]));
    let (page, next) = spool
        .list_page(next.as_ref(), 2, &Filter::default())
        .unwrap();
    assert_eq!(
        page.iter().map(|m| &m.id).collect::<Vec<_>>(),
        [&ids[2], &ids[3]]
    );
    let (page, next) = spool
        .list_page(next.as_ref(), 2, &Filter::default())
        .unwrap();
    assert_eq!(page.iter().map(|m| &m.id).collect::<Vec<_>>(), [&ids[4]]);
    assert_eq!(next, None);
}

#[tokio::test]
async fn a_whole_message_sink_is_queued_once_even_when_the_first_document_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let mut seen = delivered_to(&["fwd", "erp"]);
    seen.duplicate_key = Some("seen".into());
    spool
        .commit(message(&spool, b"a", vec![seen]))
        .await
        .unwrap();
    let mut again = delivered_to(&["fwd", "erp"]);
    again.duplicate_key = Some("seen".into());
    let mut new = delivered_to(&["fwd", "erp"]);
    new.duplicate_key = Some("new".into());
    let third = delivered_to(&["fwd", "erp"]);
    let mut msg = message(&spool, b"b", vec![again, new, third]);
    msg.deliver_once = vec!["fwd".into()];
    let id = spool.commit(msg).await.unwrap();
    let queued: Vec<(u32, String)> = spool
        .deliveries(&id)
        .unwrap()
        .into_iter()
        .map(|d| (d.document, d.sink))
        .collect();
    assert_eq!(
        queued,
        [
            (1, "erp".to_string()),
            (1, "fwd".to_string()),
            (2, "erp".to_string())
        ]
    );
}

#[tokio::test]
async fn a_held_message_is_never_claimed_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let held = spool
        .commit(message(
            &spool,
            b"x",
            vec![delivered_to(&["erp", "archive"])],
        ))
        .await
        .unwrap();
    let other = spool
        .commit(message(&spool, b"y", vec![delivered_to(&["erp"])]))
        .await
        .unwrap();
    // `archive` is in flight when the hold comes: it is held when its attempt ends.
    let archive = spool.claim("archive", 10, LEASE).await.unwrap();
    assert_eq!(archive.len(), 1);
    let m = spool.manage(Manage::Hold(held.clone())).await.unwrap();
    assert!(m.found && m.changed);
    assert_eq!(m.deliveries, 1, "the pending erp delivery");
    assert!(spool.is_held(&held).unwrap());
    assert!(
        !spool
            .manage(Manage::Hold(held.clone()))
            .await
            .unwrap()
            .changed
    );
    let jobs = spool.claim("erp", 10, LEASE).await.unwrap();
    assert_eq!(
        jobs.iter().map(|j| &j.message).collect::<Vec<_>>(),
        [&other],
        "only the message not on hold"
    );
    spool
        .settle(
            archive[0].clone(),
            Settlement::Retry {
                error: "HTTP 503".into(),
                next: SystemTime::now(),
            },
            Duration::from_millis(1),
        )
        .await
        .unwrap();
    assert_eq!(
        state_of(&spool, &held, "archive").unwrap().state,
        DeliveryState::Held
    );
    assert!(spool.claim("archive", 10, LEASE).await.unwrap().is_empty());
    // A re-offer does not undo a hold.
    spool
        .reoffer(Reoffer::Message {
            message: held.clone(),
            document: None,
            sink: None,
        })
        .await
        .unwrap();
    assert!(spool.claim("erp", 10, LEASE).await.unwrap().is_empty());

    let filter = Filter {
        status: Some(StatusFilter::Held),
        ..Filter::default()
    };
    let (page, _) = spool.list_page(None, 10, &filter).unwrap();
    assert_eq!(page.iter().map(|m| &m.id).collect::<Vec<_>>(), [&held]);

    let m = spool.manage(Manage::Release(held.clone())).await.unwrap();
    assert_eq!((m.changed, m.deliveries), (true, 2));
    assert!(
        !spool
            .manage(Manage::Release(held.clone()))
            .await
            .unwrap()
            .changed
    );
    assert_eq!(spool.claim("erp", 10, LEASE).await.unwrap().len(), 1);
    assert_eq!(spool.claim("archive", 10, LEASE).await.unwrap().len(), 1);
    let events: Vec<String> = spool
        .get(&held)
        .unwrap()
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.what)
        .collect();
    assert!(
        events.iter().any(|e| e.starts_with("held by an admin")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.starts_with("released by an admin")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_deleted_message_keeps_its_record_and_loses_its_bytes_and_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    // Large enough for files of their own, and a small one kept in the database.
    let big = vec![b'a'; 2 * 1024 * 1024];
    let mut doc = delivered_to(&["erp"]);
    doc.xml = big.clone();
    let id = spool
        .commit(message(&spool, &big, vec![doc]))
        .await
        .unwrap();
    let small = spool
        .commit(message(&spool, b"small", vec![delivered_to(&["erp"])]))
        .await
        .unwrap();
    assert!(!body_files(&spool).is_empty());
    assert!(
        spool
            .manage(Manage::Delete(MessageId("20990101T000000Z-000001".into())))
            .await
            .map(|m| !m.found)
            .unwrap()
    );
    for victim in [&id, &small] {
        let m = spool.manage(Manage::Delete(victim.clone())).await.unwrap();
        assert_eq!((m.found, m.changed, m.deliveries), (true, true, 1));
        assert!(
            !spool
                .manage(Manage::Delete(victim.clone()))
                .await
                .unwrap()
                .changed
        );
        let record = spool.get(victim).unwrap().expect("the record stays");
        assert!(record.deleted_at.is_some());
        assert!(
            record
                .events
                .last()
                .unwrap()
                .what
                .starts_with("deleted by an admin")
        );
        assert_eq!(spool.raw(victim).unwrap(), None);
        assert_eq!(spool.document(victim, 0).unwrap(), None);
        assert!(spool.deliveries(victim).unwrap().is_empty());
    }
    assert!(body_files(&spool).is_empty(), "{:?}", body_files(&spool));
    assert!(spool.claim("erp", 10, LEASE).await.unwrap().is_empty());
    let deleted = Filter {
        status: Some(StatusFilter::Deleted),
        ..Filter::default()
    };
    assert_eq!(spool.list_page(None, 10, &deleted).unwrap().0.len(), 2);
    let accepted = Filter {
        status: Some(StatusFilter::Accepted),
        ..Filter::default()
    };
    assert!(spool.list_page(None, 10, &accepted).unwrap().0.is_empty());
    // Nothing is quarantined at the next start: no file was left behind.
    drop(spool);
    let spool = Spool::open(&options(dir.path())).unwrap();
    assert_eq!(spool.stats().quarantined, 0);
}

#[tokio::test]
async fn a_filtered_page_scans_from_the_since_time_and_pages_on() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let mut ids = Vec::new();
    for (i, ms) in [1_000u64, 2_000_000, 3_000_000, 4_000_000]
        .into_iter()
        .enumerate()
    {
        let mut doc = delivered_to(&["erp"]);
        doc.organisation = if i % 2 == 0 { "acme" } else { "beta" }.into();
        // Ids as the daemon gives them: from the time the message arrived.
        let id =
            MessageId(super::id::first_id_at(from_unix_millis(ms)).replace("-000000", "-000001"));
        ids.push(
            spool
                .commit_as(id, message_at(&spool, ms, &[i as u8], vec![doc]))
                .await
                .unwrap(),
        );
    }
    let acme = Filter {
        organisation: Some("acme".into()),
        ..Filter::default()
    };
    let (page, next) = spool.list_page(None, 1, &acme).unwrap();
    assert_eq!(page.iter().map(|m| &m.id).collect::<Vec<_>>(), [&ids[0]]);
    let (page, _) = spool.list_page(next.as_ref(), 10, &acme).unwrap();
    assert_eq!(page.iter().map(|m| &m.id).collect::<Vec<_>>(), [&ids[2]]);
    let recent = Filter {
        since: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(2_000_000)),
        until: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(4_000_000)),
        ..Filter::default()
    };
    let (page, _) = spool.list_page(None, 10, &recent).unwrap();
    assert_eq!(
        page.iter().map(|m| &m.id).collect::<Vec<_>>(),
        [&ids[1], &ids[2]]
    );
}

#[tokio::test]
async fn only_ready_documents_without_a_sink_wait_for_the_pull_api() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    let pulled = spool
        .commit(message(&spool, b"a", vec![keyed("k1")]))
        .await
        .unwrap();
    let mut with_sink = keyed("k2");
    with_sink.deliver = vec!["erp".into()];
    spool
        .commit(message(&spool, b"b", vec![with_sink]))
        .await
        .unwrap();
    // The same invoice again: a duplicate does not wait.
    spool
        .commit(message(&spool, b"c", vec![keyed("k1")]))
        .await
        .unwrap();
    spool
        .commit(NewMessage {
            status: rejected("invoice_invalid"),
            ..message(&spool, b"d", vec![keyed("k3")])
        })
        .await
        .unwrap();
    let (waiting, next) = spool.waiting(None, None, 10).unwrap();
    assert_eq!(next, None);
    assert_eq!(
        waiting
            .iter()
            .map(|w| (w.message.as_str(), w.document))
            .collect::<Vec<_>>(),
        [(pulled.as_str(), 0)]
    );
    assert!(spool.waiting(Some("other"), None, 10).unwrap().0.is_empty());
    let ack = |status| pull::AckRecord {
        status,
        reason: None,
        at: SystemTime::now(),
        by: "k".into(),
    };
    assert!(matches!(
        spool
            .ack(pulled.clone(), 0, ack(pull::AckStatus::Imported))
            .await
            .unwrap(),
        pull::Acked::Recorded(_)
    ));
    assert!(spool.waiting(None, None, 10).unwrap().0.is_empty());
    assert!(matches!(
        spool
            .ack(pulled.clone(), 0, ack(pull::AckStatus::Imported))
            .await
            .unwrap(),
        pull::Acked::Again(_)
    ));
    assert!(matches!(
        spool
            .ack(pulled.clone(), 0, ack(pull::AckStatus::Failed))
            .await
            .unwrap(),
        pull::Acked::Conflict(_)
    ));
    // Survives a restart.
    drop(spool);
    let spool = Spool::open(&options(dir.path())).unwrap();
    assert_eq!(
        spool.ack_of(&pulled, 0).unwrap().map(|a| a.status),
        Some(pull::AckStatus::Imported)
    );
}

#[tokio::test]
async fn retention_purges_only_what_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&options(dir.path())).unwrap();
    // Delivered: purged. Pending: kept. Waiting for the pull API: kept. Refused: purged.
    let delivered = spool
        .commit(message(&spool, b"a", vec![delivered_to(&["erp"])]))
        .await
        .unwrap();
    let jobs = spool.claim("erp", 10, LEASE).await.unwrap();
    spool
        .settle(
            jobs[0].clone(),
            Settlement::Delivered {
                answer: "HTTP 200".into(),
            },
            Duration::from_millis(1),
        )
        .await
        .unwrap();
    let pending = spool
        .commit(message(&spool, b"b", vec![delivered_to(&["archive"])]))
        .await
        .unwrap();
    let waiting = spool
        .commit(message(&spool, b"c", vec![keyed("w")]))
        .await
        .unwrap();
    let refused = spool
        .commit(NewMessage {
            status: rejected("invoice_invalid"),
            ..message(&spool, b"d", vec![keyed("r")])
        })
        .await
        .unwrap();
    // Nothing is old enough yet.
    let purged = spool
        .purge(SystemTime::now() - Duration::from_secs(3600), None, 100)
        .await
        .unwrap();
    assert_eq!(purged.messages, 0);
    // Everything is, an hour from now: only the finished ones go, with their bytes.
    let later = SystemTime::now() + Duration::from_secs(3600);
    let purged = spool.purge(later, None, 100).await.unwrap();
    assert_eq!((purged.messages, purged.next), (2, None));
    assert!(spool.get(&delivered).unwrap().is_none());
    assert!(spool.get(&refused).unwrap().is_none());
    assert!(spool.deliveries(&delivered).unwrap().is_empty());
    assert!(spool.attempts(&delivered).unwrap().is_empty());
    assert!(spool.get(&pending).unwrap().is_some());
    assert!(spool.get(&waiting).unwrap().is_some());
    // A small round pages on with its cursor.
    let first = spool.purge(later, None, 1).await.unwrap();
    assert_eq!(first.next.as_deref(), Some(pending.as_str()));
    // Fetched and acknowledged by the ERP: retention counts from the acknowledgement, so a
    // cutoff after the message arrived but before the ack keeps it; a later one purges it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before_ack = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    spool
        .ack(
            waiting.clone(),
            0,
            pull::AckRecord {
                status: pull::AckStatus::Imported,
                reason: None,
                at: SystemTime::now(),
                by: "erp-job".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        spool.purge(before_ack, None, 100).await.unwrap().messages,
        0
    );
    assert!(spool.get(&waiting).unwrap().is_some());
    let purged = spool.purge(later, None, 100).await.unwrap();
    assert_eq!(purged.messages, 1);
    assert!(spool.get(&waiting).unwrap().is_none());
    // Bodies on disk go too: no file is left that no record names.
    drop(spool);
    let spool = Spool::open(&options(dir.path())).unwrap();
    assert_eq!(spool.stats().quarantined, 0);
}
