//! Disk faults under a running daemon: while fsync fails the client gets 451 4.3.0, while the
//! disk is full 452 4.3.1, never a 250; once the fault clears, the client's retry is accepted.
//! A commit whose fsync failed is "maybe durable" (redb's `commit()` docs): it may turn up
//! after the writer reopens the store, so the retry must be recognised as a resend of it.
//! The faults are injected through redb's `StorageBackend` seam (`Spool::open_with_faults`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{RECEIVER, SUPPLIER, Smtp, TestConfig, invoice_mail};
use trustgate::daemon::Daemon;
use trustgate::spool::{FaultInjector, Spool, SpoolOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_fsync_answers_451_and_full_disk_452_never_250() {
    let cfg = TestConfig::new();
    let config = cfg.load();
    let faults = FaultInjector::new();
    let spool =
        Spool::open_with_faults(&SpoolOptions::new(config.spool.path.clone()), &faults).unwrap();
    let daemon = Daemon::start_with_spool(&config, spool).await.unwrap();
    let addr = daemon.smtp_addrs[0];
    let send = move || {
        tokio::task::spawn_blocking(move || {
            Smtp::connect(addr).transaction(SUPPLIER, RECEIVER, &invoice_mail(SUPPLIER))
        })
    };

    faults.fail_syncs(true);
    let r = send().await.unwrap();
    assert!(r.starts_with("451 4.3.0"), "fsync failed, yet: {r}");

    faults.clear();
    faults.fail_writes(true);
    let r = send().await.unwrap();
    assert!(r.starts_with("452 4.3.1"), "disk full, yet: {r}");

    faults.clear();
    let r = send().await.unwrap();
    assert!(r.starts_with("250 2.0.0"), "after the fault cleared: {r}");

    let spool = daemon.spool.clone();
    let stored = tokio::task::spawn_blocking(move || spool.list().unwrap())
        .await
        .unwrap();
    let acked = stored
        .iter()
        .find(|m| r.contains(&m.id.to_string()))
        .expect("the 250'd message is stored");
    for other in stored.iter().filter(|m| m.id != acked.id) {
        // Only a complete copy of the same message may exist, and the retry names it.
        assert_eq!(other.sha256, acked.sha256);
        assert!(other.id < acked.id);
        assert!(
            acked.resend_of.is_some(),
            "the retry of a maybe-stored message is a resend"
        );
    }
    assert!(
        stored.len() <= 2,
        "at most the maybe-durable copy and the retry: {}",
        stored.len()
    );
    daemon.stop().await;
}
