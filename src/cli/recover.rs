//! `trustgate spool recover`: rebuilds the spool's records from its stored bodies after the
//! database was lost (deleted, emptied, replaced), as Postfix's `postsuper -s` rebuilds its
//! queue from the queue files.
//!
//! With the daemon stopped it opens the spool in recovery mode, which creates a database if
//! needed and moves every stored file that no record names into `quarantine/`. Then each
//! quarantined body (`<id>.eml`) is judged again under the current config, as end of data
//! would, and stored under its original id, with its original envelope and arrival time read
//! from the body's envelope trailer (`spool::envelope`). Its file is removed only after the
//! new record is durable, so a crash during recovery loses nothing: run it again. Documents
//! ready to deliver are queued as at acceptance, with the same delivery ids as before, so a
//! downstream that already had one deduplicates it (webhook-id, Nats-Msg-Id).

use std::path::Path;

use anyhow::{Context as _, bail};

use crate::config::Config;
use crate::gateway;
use crate::policy::Directory;
use crate::spool::envelope::{self, StoredEnvelope};
use crate::spool::{MessageId, MessageStatus, Spool, SpoolError, SpoolOptions, schema};

/// Runs the recovery against the configured spool; prints one line per message and a
/// summary. Exit code 0 when every body was imported, 1 when some stay in quarantine.
///
/// # Errors
/// The spool cannot be opened (a daemon holds it, an I/O error).
pub fn run(config: &Config, out: &mut impl std::io::Write) -> anyhow::Result<i32> {
    let dir = &config.spool.path;
    if std::os::unix::net::UnixStream::connect(crate::spool::control_socket_path(dir)).is_ok() {
        bail!(
            "a trustgate daemon is running on the spool at {}: stop it first (`systemctl stop trustgate`)",
            dir.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let opts = SpoolOptions {
        path: dir.clone(),
        large_body_threshold: config.spool.large_body_threshold,
        min_free_space: 0,
        recovering: true,
        cache_size: config.spool.cache_size,
    };
    let spool = match Spool::open(&opts) {
        Ok(spool) => spool,
        Err(SpoolError::Locked(dir)) => bail!(
            "the spool at {} is in use by another process: stop the daemon first",
            dir.display()
        ),
        Err(err) => {
            return Err(err).with_context(|| format!("cannot open the spool at {}", dir.display()));
        }
    };
    let directory = Directory::new(config);
    let limits = gateway::intake_limits(config);
    let result = runtime.block_on(import(&spool, &directory, &limits, out));
    runtime.block_on(spool.shutdown());
    result
}

/// Imports every quarantined body.
async fn import(
    spool: &Spool,
    directory: &Directory,
    limits: &crate::intake::IntakeLimits,
    out: &mut impl std::io::Write,
) -> anyhow::Result<i32> {
    let files = spool.quarantined()?;
    let (mut imported, mut kept, mut changed) = (0usize, 0usize, Vec::new());
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(stem) = name.strip_suffix(".eml") else {
            // A document file of format 1: its bytes are found again in its message's body.
            kept += 1;
            continue;
        };
        match import_one(spool, directory, limits, path, stem).await {
            Ok((id, outcome, was)) => {
                imported += 1;
                writeln!(out, "{id}: recovered, {outcome}")?;
                if was == Some(true) && outcome != "accepted" {
                    changed.push(id);
                }
            }
            Err(err) => {
                kept += 1;
                writeln!(
                    out,
                    "{}: left in quarantine: {err:#}",
                    crate::cli::spool::clean(&name)
                )?;
            }
        }
    }
    if imported > 0 {
        // The removals of the imported files are durable (their records already are).
        let quarantine = spool.path().join(schema::QUARANTINE_DIR);
        std::fs::File::open(&quarantine)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", quarantine.display()))?;
    }
    writeln!(
        out,
        "{imported} message(s) recovered, {kept} file(s) left in {}",
        spool.path().join(schema::QUARANTINE_DIR).display()
    )?;
    if !changed.is_empty() {
        writeln!(
            out,
            "answered 250 when received but refused under the current config (see `trustgate spool show ID`): {}",
            changed.join(", ")
        )?;
    }
    Ok(if kept == 0 { 0 } else { 1 })
}

/// Imports one body file; returns its id, the new judgement, and whether it had been
/// accepted (`None` when its envelope was not stored with it).
async fn import_one(
    spool: &Spool,
    directory: &Directory,
    limits: &crate::intake::IntakeLimits,
    path: &Path,
    stem: &str,
) -> anyhow::Result<(String, String, Option<bool>)> {
    let file = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (raw, stored) = envelope::split(&file);
    let was_accepted = stored.as_ref().map(|e| !e.status.is_rejected());
    let (envelope, note) = match stored {
        Some(envelope) => {
            let note = format!(
                "recovered by `trustgate spool recover` from its body file (originally {})",
                if envelope.status.is_rejected() {
                    "refused"
                } else {
                    "accepted"
                }
            );
            (envelope, note)
        }
        None => {
            let Some(id) = MessageId::parse(stem) else {
                bail!("not a spool message id");
            };
            (guessed_envelope(directory, id, path, raw), "recovered by `trustgate spool recover` from a body file without its envelope: recipients from its To/Cc headers, sender unknown".to_string())
        }
    };
    let id = envelope.id.clone();
    let recovered = gateway::recover(directory, spool, limits, &envelope, raw)?;
    let outcome = recovered.outcome;
    spool
        .commit_recovered(id.clone(), recovered.message, note)
        .await
        .with_context(|| format!("cannot store {id}"))?;
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    Ok((id.to_string(), outcome, was_accepted))
}

/// The envelope of a body written before bodies kept theirs: recipients from the header
/// fields that name a known receiver, the arrival time from the file.
fn guessed_envelope(
    directory: &Directory,
    id: MessageId,
    path: &Path,
    raw: &[u8],
) -> StoredEnvelope {
    let rcpt_to = crate::intake::header_recipients(raw)
        .into_iter()
        .filter(|a| crate::address::Address::parse(a).is_ok_and(|a| directory.receiver(&a).is_ok()))
        .collect();
    let received_at = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| std::time::SystemTime::now());
    StoredEnvelope {
        id,
        received_at,
        peer: "unknown".into(),
        helo: "unknown".into(),
        mail_from: String::new(),
        rcpt_to,
        status: MessageStatus::Accepted,
    }
}
