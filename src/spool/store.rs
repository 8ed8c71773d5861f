//! The database and the body files as one store: open (with repair, the lost-database check
//! and the quarantine of files no record names),
//! reopen after a failed commit, and every read.
//!
//! Shared by the [`Spool`](super::Spool) handles (reads) and the writer thread (writes). The
//! database sits behind a `RwLock` only so the writer can close and reopen it after an I/O
//! error: reads and the writer's transaction both take the read side, a reopen the write side.
//! Never builds a path from a client's string: file names come from records we wrote, and are
//! checked again before use.

use std::collections::HashSet;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::ops::Bound;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::SystemTime;

use redb::{Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::fault::{self, FaultInjector, FaultyBackend};
use super::schema::{
    self, ATTEMPTS, BODIES, DELIVERIES, DOCUMENT_PDF, DOCUMENT_XML, DUE, DUPLICATES, MESSAGES,
    META, SELLERS,
};
use super::{
    AttemptView, DeliveryView, DuplicateOf, MessageId, MessageRecord, SpoolError, from_unix_millis,
};

/// How many of a sink's queued deliveries a metrics scrape reads to find the longest waiting.
const STATS_SCAN: u64 = 20_000;

/// Where a body or document's bytes are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum Blob {
    /// In the database, in the table of its kind, under the message id (and document index).
    Database,
    /// In its own file under `<spool>/bodies/`.
    File {
        /// The file name (our id plus a suffix; never a name from the mail).
        name: String,
    },
    /// Not stored apart: a document's bytes are decoded again from the stored raw message when
    /// needed (by `intake`, from [`DocumentRecord::source`](super::DocumentRecord::source),
    /// checked against the recorded SHA-256). Keeps the spool at about the size of what was
    /// received.
    InMessage,
}

/// Which stored bytes, for reading a [`Blob::Database`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part<'a> {
    /// The raw message of a message id.
    Body(&'a str),
    /// The XML of (message id, document index).
    Xml(&'a str, u32),
    /// The PDF of (message id, document index).
    Pdf(&'a str, u32),
}

impl std::fmt::Display for Part<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Body(id) => write!(f, "body of {id}"),
            Part::Xml(id, n) => write!(f, "xml {n} of {id}"),
            Part::Pdf(id, n) => write!(f, "pdf {n} of {id}"),
        }
    }
}

/// The open database, writable (daemon) or read-only (CLI without a daemon).
pub(crate) enum Db {
    /// Opened by [`Shared::open`].
    Rw(Database),
    /// Opened by [`Shared::open_read_only`].
    Ro(ReadOnlyDatabase),
}

impl Db {
    fn begin_read(&self) -> Result<ReadTransaction, redb::TransactionError> {
        match self {
            Db::Rw(db) => db.begin_read(),
            Db::Ro(db) => db.begin_read(),
        }
    }
}

/// The writer's counters (see [`SpoolStats`](super::SpoolStats)).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) transactions: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) failed_transactions: AtomicU64,
    pub(crate) failed_messages: AtomicU64,
    pub(crate) largest_batch: AtomicU64,
    pub(crate) orphans_removed: AtomicU64,
    /// Stored files no record names, moved to `quarantine/` at start-up.
    pub(crate) quarantined: AtomicU64,
}

/// The store, shared by the handles and the writer thread.
/// The most records one page of a filtered listing reads; a page that reaches it returns what
/// it found and a cursor, so a rare match never makes one request read the whole spool.
pub(crate) const MAX_SCAN: usize = 20_000;

pub(crate) struct Shared {
    /// redb's cache (`[spool] cache_size`), kept for a reopen.
    pub(crate) cache_size: usize,
    /// The spool directory.
    pub(crate) dir: PathBuf,
    /// `<spool>/bodies`.
    pub(crate) bodies_dir: PathBuf,
    /// `<spool>/spool.redb`.
    pub(crate) db_path: PathBuf,
    /// `None` only between a failed reopen and the next successful one.
    pub(crate) db: RwLock<Option<Db>>,
    /// Test seam; `None` in the daemon.
    pub(crate) faults: Option<FaultInjector>,
    /// Counters.
    pub(crate) stats: Stats,
    /// Test seam: the writer passes through this lock after taking a request.
    #[cfg(test)]
    pub(crate) gate: std::sync::Mutex<()>,
    /// Test seam: how many times the writer reached the gate.
    #[cfg(test)]
    pub(crate) at_gate: AtomicU64,
    /// Bumped after a transaction that queued, re-offered or rescheduled deliveries, so each
    /// sink's dispatcher looks again instead of waiting out its timer (a watch, so a change
    /// between a dispatcher's look and its wait is never missed).
    pub(crate) queue_changed: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// Opens the store for writing: directories, database (repaired by redb if needed), schema,
    /// orphan removal. Returns the store and the newest stored message id.
    ///
    /// A new database (missing, empty, or never given a format) beside stored files means the
    /// database was lost, not that the spool is new: the open fails with
    /// [`SpoolError::DatabaseLost`] unless `recovering` (`trustgate spool recover`), so no
    /// start-up ever treats acknowledged messages as orphans.
    pub(crate) fn open(
        dir: &Path,
        faults: Option<FaultInjector>,
        recovering: bool,
        cache_size: u64,
    ) -> Result<(Shared, Option<String>), SpoolError> {
        let cache_size = usize::try_from(cache_size).unwrap_or(usize::MAX);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SpoolError::Io { path, source }
        };
        let bodies_dir = dir.join(schema::BODIES_DIR);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&bodies_dir)
            .map_err(io(&bodies_dir))?;
        sync_dir(dir, faults.as_ref())?;
        let db_path = dir.join(schema::DATABASE_FILE);
        let db = open_database(dir, &db_path, faults.as_ref(), cache_size)?;
        let shared = Shared {
            cache_size,
            dir: dir.to_path_buf(),
            bodies_dir,
            db_path,
            db: RwLock::new(None),
            faults,
            stats: Stats::default(),
            #[cfg(test)]
            gate: std::sync::Mutex::new(()),
            #[cfg(test)]
            at_gate: AtomicU64::new(0),
            queue_changed: tokio::sync::watch::Sender::new(0),
        };
        let txn = db.begin_write().map_err(|e| shared.db_error(e))?;
        match schema::migrate(&txn) {
            Ok(schema::Migration::Created) if !recovering => {
                let held = shared.stored_files()?;
                if held > 0 {
                    // Nothing is committed: the next start finds the same state and says the same.
                    drop(txn);
                    return Err(SpoolError::DatabaseLost {
                        dir: dir.to_path_buf(),
                        files: held,
                    });
                }
            }
            Ok(schema::Migration::FromV1) => {
                tracing::info!("spool format brought from version 1 to 2 (delivery queue added)")
            }
            Ok(migration) => tracing::debug!(?migration, "spool schema checked"),
            Err(schema::MigrateError::Database(e)) => return Err(shared.db_error(e)),
            Err(e @ schema::MigrateError::Unsupported(_)) => {
                return Err(SpoolError::Database(e.to_string()));
            }
        }
        {
            // No worker of an earlier process is alive: its claims are due again now.
            let mut tables = super::queue::Tables::open(&txn).map_err(|e| shared.db_error(e))?;
            let released = super::queue::release_leases(&mut tables, std::time::SystemTime::now())
                .map_err(|e| shared.db_error(e))?;
            if released > 0 {
                tracing::info!(
                    released,
                    "deliveries in flight at the last stop are queued again"
                );
            }
        }
        txn.commit().map_err(|e| shared.db_error(e))?;
        *shared.db.write().unwrap_or_else(PoisonError::into_inner) = Some(Db::Rw(db));
        let quarantined = shared.quarantine_orphans()?;
        if quarantined > 0 {
            tracing::warn!(
                quarantined,
                dir = %shared.dir.join(schema::QUARANTINE_DIR).display(),
                "spool files no record names were moved to quarantine (a crash before their commit, or a damaged database); `trustgate spool recover` imports them"
            );
        }
        let last = shared.last_id()?;
        Ok((shared, last))
    }

    /// Opens an existing store without changing anything.
    pub(crate) fn open_read_only(dir: &Path) -> Result<Shared, SpoolError> {
        let db_path = dir.join(schema::DATABASE_FILE);
        let shared = Shared {
            cache_size: CACHE_SIZE,
            dir: dir.to_path_buf(),
            bodies_dir: dir.join(schema::BODIES_DIR),
            db_path,
            db: RwLock::new(None),
            faults: None,
            stats: Stats::default(),
            #[cfg(test)]
            gate: std::sync::Mutex::new(()),
            #[cfg(test)]
            at_gate: AtomicU64::new(0),
            queue_changed: tokio::sync::watch::Sender::new(0),
        };
        let db = builder(shared.cache_size)
            .open_read_only(&shared.db_path)
            .map_err(|e| shared.db_error(e))?;
        *shared.db.write().unwrap_or_else(PoisonError::into_inner) = Some(Db::Ro(db));
        let version = shared.with_read(|txn| {
            let meta = match txn.open_table(META) {
                Ok(meta) => meta,
                // A database that was never initialised (a start refused a lost database
                // left it): what matters is the stored files beside it.
                Err(redb::TableError::TableDoesNotExist(_)) => {
                    let files = shared.stored_files()?;
                    return Err(if files > 0 {
                        SpoolError::DatabaseLost {
                            dir: shared.dir.clone(),
                            files,
                        }
                    } else {
                        SpoolError::Database("the spool database is empty".into())
                    });
                }
                Err(e) => return Err(shared.db_error(e)),
            };
            let v = meta
                .get(schema::FORMAT_VERSION_KEY)
                .map_err(|e| shared.db_error(e))?;
            Ok(v.map(|v| v.value()))
        })?;
        // A version 1 store reads as one with an empty queue (the daemon migrates it).
        if !matches!(version, Some(1..=schema::FORMAT_VERSION)) {
            return Err(SpoolError::Database(format!(
                "spool format version {version:?} is not supported by this trustgate (it knows {})",
                schema::FORMAT_VERSION
            )));
        }
        Ok(shared)
    }

    /// Maps a redb error of this store.
    pub(crate) fn db_error(&self, e: impl Into<redb::Error>) -> SpoolError {
        match e.into() {
            redb::Error::DatabaseAlreadyOpen => SpoolError::Locked(self.dir.clone()),
            redb::Error::RepairAborted => SpoolError::NeedsRecovery(self.dir.clone()),
            redb::Error::Io(source) => SpoolError::Io {
                path: self.db_path.clone(),
                source,
            },
            other => SpoolError::Database(other.to_string()),
        }
    }

    /// Closes the database and opens it again, which makes redb repair what a failed commit
    /// left. On failure the store stays closed until the next try.
    pub(crate) fn reopen(&self) -> Result<(), SpoolError> {
        let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
        // The old handle must be gone (and its file lock released) before the new open.
        drop(slot.take());
        let db = open_database(
            &self.dir,
            &self.db_path,
            self.faults.as_ref(),
            self.cache_size,
        )?;
        *slot = Some(Db::Rw(db));
        Ok(())
    }

    /// Reopens the database if it is still closed when the lock is taken (a reader and the
    /// writer may both try; only one opens it).
    pub(crate) fn reopen_if_closed(&self) -> Result<(), SpoolError> {
        let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() {
            return Ok(());
        }
        let db = open_database(
            &self.dir,
            &self.db_path,
            self.faults.as_ref(),
            self.cache_size,
        )?;
        *slot = Some(Db::Rw(db));
        tracing::info!("spool database reopened");
        Ok(())
    }

    /// Whether the database is closed (a reopen failed).
    pub(crate) fn is_closed(&self) -> bool {
        self.db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Opens `table` in the read transaction `txn`; `None` when the table does not exist yet
    /// (a store opened read-only from before the table was added): readers take it as empty.
    fn open_optional<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        txn: &ReadTransaction,
        table: redb::TableDefinition<K, V>,
    ) -> Result<Option<redb::ReadOnlyTable<K, V>>, SpoolError> {
        match txn.open_table(table) {
            Ok(table) => Ok(Some(table)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.db_error(e)),
        }
    }

    /// Runs `f` in a read transaction.
    pub(crate) fn with_read<T>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, SpoolError>,
    ) -> Result<T, SpoolError> {
        if self.is_closed() {
            // A failed commit closed it; a read must not wait for the next commit to reopen
            // it (the verdict reads before the message's commit, so it might never come).
            let _ = self.reopen_if_closed();
        }
        let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let db = guard.as_ref().ok_or_else(|| {
            SpoolError::Database(
                "the database is closed after an i/o error; the next commit reopens it".into(),
            )
        })?;
        let txn = db.begin_read().map_err(|e| self.db_error(e))?;
        f(&txn)
    }

    /// Every record, oldest first; undecodable ones are logged and skipped.
    pub(crate) fn list(&self) -> Result<Vec<MessageRecord>, SpoolError> {
        self.with_read(|txn| {
            let table = txn.open_table(MESSAGES).map_err(|e| self.db_error(e))?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(|e| self.db_error(e))? {
                let (key, value) = entry.map_err(|e| self.db_error(e))?;
                match serde_json::from_slice(value.value()) {
                    Ok(record) => out.push(record),
                    Err(err) => tracing::warn!(mid = key.value(), error = %err, "spool record cannot be decoded"),
                }
            }
            Ok(out)
        })
    }

    /// At most `limit` records with ids after `after`, and the next page's cursor.
    pub(crate) fn list_page(
        &self,
        after: Option<&str>,
        limit: usize,
        filter: &super::Filter,
    ) -> Result<(Vec<MessageRecord>, Option<MessageId>), SpoolError> {
        // Ids sort by time, so `since` and `until` bound the scan itself. An id is taken near
        // the message's end of data, not at it (the stamp before inspection and
        // authentication, the commit after; both within a few minutes), and across a clock
        // step ids are only nearly in time order: the bounds keep a quarter of an hour's
        // margin, and the filter checks the record's own time.
        const MARGIN: std::time::Duration = std::time::Duration::from_secs(15 * 60);
        let since_key = filter
            .since
            .map(|t| super::id::first_id_at(t.checked_sub(MARGIN).unwrap_or(t)));
        let until_key = filter.until.map(|t| super::id::first_id_at(t + MARGIN));
        let start = match (after, since_key.as_deref()) {
            (Some(a), Some(s)) if s > a => Bound::Included(s.to_owned()),
            (Some(a), _) => Bound::Excluded(a.to_owned()),
            (None, Some(s)) => Bound::Included(s.to_owned()),
            (None, None) => Bound::Unbounded,
        };
        let held_needed = filter.status == Some(super::StatusFilter::Held);
        let deliveries_needed = filter.needs_deliveries();
        let page = self.with_read(|txn| {
            let table = txn.open_table(MESSAGES).map_err(|e| self.db_error(e))?;
            let held = if held_needed {
                self.open_optional(txn, schema::HELD)?
            } else {
                None
            };
            let start_ref = match &start {
                Bound::Included(s) => Bound::Included(s.as_str()),
                Bound::Excluded(s) => Bound::Excluded(s.as_str()),
                Bound::Unbounded => Bound::Unbounded,
            };
            let range = table
                .range::<&str>((start_ref, Bound::Unbounded))
                .map_err(|e| self.db_error(e))?;
            let mut out = Vec::new();
            let mut last = None;
            for (scanned, entry) in range.enumerate() {
                if out.len() >= limit.max(1) || scanned >= MAX_SCAN {
                    return Ok((out, last));
                }
                let (key, value) = entry.map_err(|e| self.db_error(e))?;
                if until_key.as_deref().is_some_and(|u| key.value() >= u) {
                    return Ok((out, None));
                }
                last = Some(MessageId(key.value().to_owned()));
                let record: MessageRecord = match serde_json::from_slice(value.value()) {
                    Ok(record) => record,
                    Err(err) => {
                        tracing::warn!(mid = key.value(), error = %err, "spool record cannot be decoded");
                        continue;
                    }
                };
                if filter.is_empty() {
                    out.push(record);
                    continue;
                }
                let is_held = match &held {
                    Some(t) => t.get(key.value()).map_err(|e| self.db_error(e))?.is_some(),
                    None => false,
                };
                let deliveries = if deliveries_needed {
                    self.deliveries_in(txn, key.value())?
                } else {
                    Vec::new()
                };
                if filter.matches(&record, &deliveries, is_held) {
                    out.push(record);
                }
            }
            Ok((out, None))
        })?;
        Ok(page)
    }

    /// Every delivery of message `id`, in the read transaction `txn`.
    fn deliveries_in(
        &self,
        txn: &ReadTransaction,
        id: &str,
    ) -> Result<Vec<DeliveryView>, SpoolError> {
        let Some(table) = self.open_optional(txn, DELIVERIES)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in table
            .range((id, 0, "")..=(id, u32::MAX, "\u{10FFFF}"))
            .map_err(|e| self.db_error(e))?
        {
            let (key, value) = entry.map_err(|e| self.db_error(e))?;
            let (_, document, sink) = key.value();
            let record = serde_json::from_slice(value.value()).map_err(|err| {
                SpoolError::Database(format!("delivery of {id} cannot be decoded: {err}"))
            })?;
            out.push(DeliveryView {
                document,
                sink: sink.to_owned(),
                record,
            });
        }
        Ok(out)
    }

    /// Every delivery of message `id`.
    pub(crate) fn deliveries(&self, id: &str) -> Result<Vec<DeliveryView>, SpoolError> {
        self.with_read(|txn| self.deliveries_in(txn, id))
    }

    /// Every attempt at delivering message `id`'s documents.
    pub(crate) fn attempts(&self, id: &str) -> Result<Vec<AttemptView>, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, ATTEMPTS)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for entry in table
                .range((id, 0, "", 0)..=(id, u32::MAX, "\u{10FFFF}", u32::MAX))
                .map_err(|e| self.db_error(e))?
            {
                let (key, value) = entry.map_err(|e| self.db_error(e))?;
                let (_, document, sink, number) = key.value();
                let record = serde_json::from_slice(value.value()).map_err(|err| {
                    SpoolError::Database(format!("attempt of {id} cannot be decoded: {err}"))
                })?;
                out.push(AttemptView {
                    document,
                    sink: sink.to_owned(),
                    number,
                    record,
                });
            }
            Ok(out)
        })
    }

    /// The earliest due time of `sink`'s queue.
    pub(crate) fn next_due(&self, sink: &str) -> Result<Option<SystemTime>, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, DUE)? else {
                return Ok(None);
            };
            let first = table
                .range((sink, 0, "", 0)..=(sink, u64::MAX, "\u{10FFFF}", u32::MAX))
                .map_err(|e| self.db_error(e))?
                .next();
            match first {
                Some(entry) => {
                    let (key, _) = entry.map_err(|e| self.db_error(e))?;
                    Ok(Some(from_unix_millis(key.value().1)))
                }
                None => Ok(None),
            }
        })
    }

    /// One record.
    pub(crate) fn get(&self, id: &str) -> Result<Option<MessageRecord>, SpoolError> {
        self.with_read(|txn| {
            let table = txn.open_table(MESSAGES).map_err(|e| self.db_error(e))?;
            let Some(value) = table.get(id).map_err(|e| self.db_error(e))? else {
                return Ok(None);
            };
            serde_json::from_slice(value.value())
                .map(Some)
                .map_err(|err| {
                    SpoolError::Database(format!("record {id} cannot be decoded: {err}"))
                })
        })
    }

    /// The first stored document with this duplicate key. A store whose `duplicates` table does
    /// not exist yet (opened read-only, before a writable open created it) has none.
    pub(crate) fn find_duplicate(&self, key: &str) -> Result<Option<DuplicateOf>, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, DUPLICATES)? else {
                return Ok(None);
            };
            let Some(value) = table.get(key).map_err(|e| self.db_error(e))? else {
                return Ok(None);
            };
            let (message, document, received_ms) = value.value();
            Ok(Some(DuplicateOf {
                message: MessageId(message.to_owned()),
                document,
                received_at: from_unix_millis(received_ms),
            }))
        })
    }

    /// The message stored under resend key `key` ([`super::schema::resend_key`]: the same
    /// Message-ID and the same bytes), if one was.
    pub(crate) fn find_resend(&self, key: &str) -> Result<Option<MessageId>, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, super::schema::RESENDS)? else {
                return Ok(None);
            };
            Ok(table
                .get(key)
                .map_err(|e| self.db_error(e))?
                .map(|v| MessageId(v.value().to_owned())))
        })
    }

    /// The trusted-sender entry that sends for `seller` (organisation + seller identity, see
    /// [`SELLERS`]), if one has.
    pub(crate) fn seller_sender(&self, seller: &str) -> Result<Option<String>, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, SELLERS)? else {
                return Ok(None);
            };
            Ok(table
                .get(seller)
                .map_err(|e| self.db_error(e))?
                .map(|v| v.value().to_owned()))
        })
    }

    /// Documents waiting for the pull API that match `filter` (see `Spool::waiting_matching`).
    /// The organisation bounds the scan (it leads the key); the other fields are checked
    /// against each document's message record, for at most [`MAX_SCAN`] entries a page, so a
    /// filtered page may come back short with a cursor: the last entry scanned.
    pub(crate) fn waiting(
        &self,
        filter: &super::Filter,
        after: Option<&super::pull::Waiting>,
        limit: usize,
    ) -> Result<(Vec<super::pull::Waiting>, Option<super::pull::Waiting>), SpoolError> {
        use super::pull::Waiting;
        let organisation = filter.organisation.as_deref();
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, schema::PULL)? else {
                return Ok((Vec::new(), None));
            };
            let messages = if filter.needs_record() {
                Some(txn.open_table(MESSAGES).map_err(|e| self.db_error(e))?)
            } else {
                None
            };
            let start = after.map(|w| (w.organisation.clone(), w.message.clone(), w.document));
            let lower: (&str, &str, u32) = match (&start, organisation) {
                (Some((o, m, d)), _) => (o.as_str(), m.as_str(), *d),
                (None, Some(org)) => (org, "", 0),
                (None, None) => ("", "", 0),
            };
            let lower_bound = if start.is_some() {
                Bound::Excluded(lower)
            } else {
                Bound::Included(lower)
            };
            let mut out = Vec::new();
            let mut scanned_last: Option<Waiting> = None;
            for (scanned, entry) in table
                .range::<(&str, &str, u32)>((lower_bound, Bound::Unbounded))
                .map_err(|e| self.db_error(e))?
                .enumerate()
            {
                let (key, ()) = entry
                    .map(|(k, v)| (k, v.value()))
                    .map_err(|e| self.db_error(e))?;
                let (org, mid, doc) = key.value();
                if organisation.is_some_and(|want| want != org) {
                    break;
                }
                if out.len() >= limit.max(1) || scanned >= MAX_SCAN {
                    return Ok((out, scanned_last));
                }
                let waiting = Waiting {
                    organisation: org.to_owned(),
                    message: mid.to_owned(),
                    document: doc,
                };
                scanned_last = Some(waiting.clone());
                if let Some(messages) = &messages
                    && !self.waiting_matches(messages, filter, mid, doc)?
                {
                    continue;
                }
                out.push(waiting);
            }
            Ok((out, None))
        })
    }

    /// Whether document `doc` of message `mid` matches `filter`; a record that is gone or
    /// cannot be decoded does not (the listing would skip it anyway).
    fn waiting_matches(
        &self,
        messages: &redb::ReadOnlyTable<&'static str, &'static [u8]>,
        filter: &super::Filter,
        mid: &str,
        doc: u32,
    ) -> Result<bool, SpoolError> {
        let Some(value) = messages.get(mid).map_err(|e| self.db_error(e))? else {
            return Ok(false);
        };
        let Ok(record) = serde_json::from_slice::<MessageRecord>(value.value()) else {
            return Ok(false);
        };
        Ok(record
            .documents
            .iter()
            .find(|d| d.index == doc)
            .is_some_and(|d| filter.matches_document(&record, d)))
    }

    /// A document's acknowledgement.
    pub(crate) fn ack_of(
        &self,
        mid: &str,
        doc: u32,
    ) -> Result<Option<super::pull::AckRecord>, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, schema::ACKS)? else {
                return Ok(None);
            };
            let value = table.get((mid, doc)).map_err(|e| self.db_error(e))?;
            value
                .map(|v| super::pull::decode(v.value()).map_err(|e| self.db_error(e)))
                .transpose()
        })
    }

    /// One API key's record.
    pub(crate) fn api_key(
        &self,
        id: &str,
    ) -> Result<Option<super::apikeys::ApiKeyRecord>, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, schema::API_KEYS)? else {
                return Ok(None);
            };
            let value = table.get(id).map_err(|e| self.db_error(e))?;
            value
                .map(|v| super::apikeys::decode(v.value()).map_err(|e| self.db_error(e)))
                .transpose()
        })
    }

    /// Every API key's record.
    pub(crate) fn api_keys(
        &self,
    ) -> Result<Vec<(String, super::apikeys::ApiKeyRecord)>, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, schema::API_KEYS)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for entry in table.iter().map_err(|e| self.db_error(e))? {
                let (key, value) = entry.map_err(|e| self.db_error(e))?;
                out.push((
                    key.value().to_owned(),
                    super::apikeys::decode(value.value()).map_err(|e| self.db_error(e))?,
                ));
            }
            Ok(out)
        })
    }

    /// The deliveries pending or in flight for `sink`, and when the longest waiting of them was
    /// queued or last re-offered (its `offered_at`: a delivery in back-off counts from there,
    /// not from its next attempt, so a stuck sink shows). The first [`STATS_SCAN`] are read
    /// for that; a longer queue is counted in full and its age taken from those.
    pub(crate) fn queue_stats(&self, sink: &str) -> Result<(u64, Option<SystemTime>), SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, DUE)? else {
                return Ok((0, None));
            };
            let deliveries = self.open_optional(txn, schema::DELIVERIES)?;
            let mut count = 0u64;
            let mut oldest: Option<SystemTime> = None;
            for entry in table
                .range((sink, 0, "", 0)..=(sink, u64::MAX, "\u{10FFFF}", u32::MAX))
                .map_err(|e| self.db_error(e))?
            {
                let (key, ()) = entry
                    .map(|(k, v)| (k, v.value()))
                    .map_err(|e| self.db_error(e))?;
                count += 1;
                let (_, due_ms, message, doc) = key.value();
                let offered = match &deliveries {
                    Some(d) if count <= STATS_SCAN => d
                        .get((message, doc, sink))
                        .map_err(|e| self.db_error(e))?
                        .and_then(|v| {
                            serde_json::from_slice::<super::queue::DeliveryRecord>(v.value()).ok()
                        })
                        .map(|r| r.offered_at),
                    _ => None,
                };
                let since = offered.unwrap_or_else(|| from_unix_millis(due_ms));
                oldest = Some(oldest.map_or(since, |o| o.min(since)));
            }
            Ok((count, oldest))
        })
    }

    /// Whether message `id` is on hold.
    pub(crate) fn is_held(&self, id: &str) -> Result<bool, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, schema::HELD)? else {
                return Ok(false);
            };
            Ok(table.get(id).map_err(|e| self.db_error(e))?.is_some())
        })
    }

    /// One trusted sender's lifecycle record.
    pub(crate) fn sender(
        &self,
        key: &super::SenderKey,
    ) -> Result<Option<super::SenderRecord>, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, schema::SENDER_STATES)? else {
                return Ok(None);
            };
            let value = table
                .get((key.receiver.as_str(), key.contact.as_str()))
                .map_err(|e| self.db_error(e))?;
            value
                .map(|v| super::senders::decode(v.value()).map_err(|e| self.db_error(e)))
                .transpose()
        })
    }

    /// Every trusted sender's lifecycle record; undecodable ones are logged and skipped.
    pub(crate) fn senders(
        &self,
    ) -> Result<Vec<(super::SenderKey, super::SenderRecord)>, SpoolError> {
        self.with_read(|txn| {
            let Some(table) = self.open_optional(txn, schema::SENDER_STATES)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for entry in table.iter().map_err(|e| self.db_error(e))? {
                let (key, value) = entry.map_err(|e| self.db_error(e))?;
                let (receiver, contact) = key.value();
                match super::senders::decode(value.value()) {
                    Ok(record) => out.push((super::SenderKey::new(receiver, contact), record)),
                    Err(err) => {
                        tracing::warn!(receiver, contact, error = %err, "sender record cannot be decoded");
                    }
                }
            }
            Ok(out)
        })
    }

    /// Whether a record exists.
    pub(crate) fn contains(&self, id: &str) -> Result<bool, SpoolError> {
        self.with_read(|txn| {
            let table = txn.open_table(MESSAGES).map_err(|e| self.db_error(e))?;
            Ok(table.get(id).map_err(|e| self.db_error(e))?.is_some())
        })
    }

    /// The newest record's id.
    fn last_id(&self) -> Result<Option<String>, SpoolError> {
        self.with_read(|txn| {
            let table = txn.open_table(MESSAGES).map_err(|e| self.db_error(e))?;
            Ok(table
                .last()
                .map_err(|e| self.db_error(e))?
                .map(|(k, _)| k.value().to_owned()))
        })
    }

    /// The bytes of a stored body or document.
    pub(crate) fn read_blob(&self, blob: &Blob, part: Part<'_>) -> Result<Vec<u8>, SpoolError> {
        match blob {
            Blob::File { name } => {
                if !schema::is_spool_file_name(name) || name.starts_with('.') {
                    return Err(SpoolError::Database(format!(
                        "{part}: bad file name {name:?} in the record"
                    )));
                }
                let path = self.bodies_dir.join(name);
                fs::read(&path).map_err(|source| SpoolError::Io { path, source })
            }
            Blob::InMessage => Err(SpoolError::Database(format!(
                "{part} is kept in the raw message; decode it from there"
            ))),
            Blob::Database => self.with_read(|txn| {
                let found = match part {
                    Part::Body(id) => {
                        let t = txn.open_table(BODIES).map_err(|e| self.db_error(e))?;
                        t.get(id)
                            .map_err(|e| self.db_error(e))?
                            .map(|v| v.value().to_vec())
                    }
                    Part::Xml(id, n) => {
                        let t = txn.open_table(DOCUMENT_XML).map_err(|e| self.db_error(e))?;
                        t.get((id, n))
                            .map_err(|e| self.db_error(e))?
                            .map(|v| v.value().to_vec())
                    }
                    Part::Pdf(id, n) => {
                        let t = txn.open_table(DOCUMENT_PDF).map_err(|e| self.db_error(e))?;
                        t.get((id, n))
                            .map_err(|e| self.db_error(e))?
                            .map(|v| v.value().to_vec())
                    }
                };
                found.ok_or_else(|| {
                    SpoolError::Database(format!("{part} is missing from the database"))
                })
            }),
        }
    }

    /// How many stored files are in `bodies/` and `quarantine/` ([`stored_files`]).
    fn stored_files(&self) -> Result<u64, SpoolError> {
        stored_files(&self.dir)
    }

    /// Removes every `*.tmp` (staging files: never acknowledged) and moves every stored file
    /// no record references into `quarantine/`. Such a file is usually the body of a message
    /// whose commit a crash cut short (its client got no 250 and retries), but it may be the
    /// database that is wrong, so the file is kept where `trustgate spool recover` finds it.
    /// Files of a record that cannot be decoded stay where they are (we cannot tell what it
    /// references).
    pub(crate) fn quarantine_orphans(&self) -> Result<u64, SpoolError> {
        let (referenced, undecodable) = self.with_read(|txn| {
            let table = txn.open_table(MESSAGES).map_err(|e| self.db_error(e))?;
            let mut referenced = HashSet::new();
            let mut undecodable = Vec::new();
            for entry in table.iter().map_err(|e| self.db_error(e))? {
                let (key, value) = entry.map_err(|e| self.db_error(e))?;
                match serde_json::from_slice::<MessageRecord>(value.value()) {
                    Ok(record) => {
                        let blobs = std::iter::once(&record.body_store).chain(
                            record.documents.iter().flat_map(|d| {
                                std::iter::once(&d.xml_store).chain(d.pdf_store.as_ref())
                            }),
                        );
                        for blob in blobs {
                            if let Blob::File { name } = blob {
                                referenced.insert(name.clone());
                            }
                        }
                    }
                    Err(_) => undecodable.push(key.value().to_owned()),
                }
            }
            Ok((referenced, undecodable))
        })?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SpoolError::Io { path, source }
        };
        let quarantine = self.dir.join(schema::QUARANTINE_DIR);
        let entries = fs::read_dir(&self.bodies_dir).map_err(io(&self.bodies_dir))?;
        let (mut removed, mut moved) = (0u64, 0u64);
        for entry in entries {
            let entry = entry.map_err(io(&self.bodies_dir))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !schema::is_spool_file_name(&name) {
                continue;
            }
            if name.ends_with(schema::TMP_SUFFIX) {
                let path = entry.path();
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(err) => {
                        tracing::warn!(error = %err, path = %path.display(), "cannot remove spool staging file")
                    }
                }
                continue;
            }
            let owned_by_undecodable = undecodable.iter().any(|id| {
                name.strip_prefix(id.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'))
            });
            if referenced.contains(&name) || owned_by_undecodable {
                continue;
            }
            if moved == 0 {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&quarantine)
                    .map_err(io(&quarantine))?;
            }
            // A name already in quarantine is kept too: the newcomer gets a suffix.
            let mut target = quarantine.join(&name);
            let mut n = 1;
            while target.exists() {
                target = quarantine.join(format!("{name}.{n}"));
                n += 1;
            }
            fs::rename(entry.path(), &target).map_err(io(&target))?;
            moved += 1;
        }
        if moved > 0 {
            // The new names first, then the old ones gone: a crash in between leaves a file
            // in both places, never in neither.
            sync_dir(&quarantine, self.faults.as_ref())?;
        }
        if moved + removed > 0 {
            sync_dir(&self.bodies_dir, self.faults.as_ref())?;
        }
        self.stats
            .orphans_removed
            .fetch_add(removed, Ordering::Relaxed);
        self.stats.quarantined.fetch_add(moved, Ordering::Relaxed);
        Ok(moved)
    }
}

/// redb's page cache (read cache and write buffer together), instead of redb's default of
/// 1 GiB. The spool's reads are the writer's index lookups (small B-trees: ids, duplicate and
/// resend keys, whose pages stay hot) and rare admin reads; the bodies and documents are
/// written once and read back at most once. A batch dirties a few MiB (20 messages of 50 KiB
/// with their documents, copy-on-write), far below the write buffer's share. With the default
/// the daemon's memory grew with the spool to about 1 GiB under load, holding pages of bodies
/// it will not read again.
pub(crate) const CACHE_SIZE: usize = 64 * 1024 * 1024;

/// A redb builder with the spool's settings: a cache of `cache_size` bytes (`[spool]
/// cache_size`, default [`CACHE_SIZE`]).
fn builder(cache_size: usize) -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_cache_size(cache_size);
    builder
}

/// Opens (creating) the database file, through the fault seam when there is one.
fn open_database(
    dir: &Path,
    db_path: &Path,
    faults: Option<&FaultInjector>,
    cache_size: usize,
) -> Result<Database, SpoolError> {
    // Created private (0600) before redb opens it; an existing file keeps its mode.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(db_path)
        .map_err(|source| SpoolError::Io {
            path: db_path.to_path_buf(),
            source,
        })?;
    let result = match faults {
        None => builder(cache_size).create(db_path),
        Some(faults) => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(db_path)
                .map_err(|source| SpoolError::Io {
                    path: db_path.to_path_buf(),
                    source,
                })?;
            FaultyBackend::new(file, faults.clone())
                .and_then(|b| builder(cache_size).create_with_backend(b))
        }
    };
    result.map_err(|e| match redb::Error::from(e) {
        redb::Error::DatabaseAlreadyOpen => SpoolError::Locked(dir.to_path_buf()),
        redb::Error::Io(source) => SpoolError::Io {
            path: db_path.to_path_buf(),
            source,
        },
        other => SpoolError::Database(other.to_string()),
    })
}

/// Fsyncs a directory, so the names created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path, faults: Option<&FaultInjector>) -> Result<(), SpoolError> {
    let io = |source| SpoolError::Io {
        path: dir.to_path_buf(),
        source,
    };
    fault::check_sync(faults).map_err(io)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Removes files (best effort; start-up removes what is left).
pub(crate) fn remove_files(files: &[PathBuf]) {
    for path in files {
        if let Err(err) = fs::remove_file(path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %err, path = %path.display(), "cannot remove spool file");
        }
    }
}

/// How many stored files (bodies and documents, not staging files) the spool directory `dir`
/// holds in `bodies/` and `quarantine/`: what a lost database would orphan.
pub(crate) fn stored_files(dir: &Path) -> Result<u64, SpoolError> {
    let mut held = 0;
    for dir in [
        dir.join(schema::BODIES_DIR),
        dir.join(schema::QUARANTINE_DIR),
    ] {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(SpoolError::Io { path: dir, source }),
        };
        for entry in entries {
            let entry = entry.map_err(|source| SpoolError::Io {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if schema::is_spool_file_name(&name) && !name.ends_with(schema::TMP_SUFFIX) {
                held += 1;
            }
        }
    }
    Ok(held)
}
