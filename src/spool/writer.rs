//! The commit path: file work in the committing task, then the group-commit writer thread.
//!
//! [`commit`] runs in a task of its own (spawned by `Spool::commit`): in `spawn_blocking` it
//! fsyncs and renames large files into place, builds the record and encodes its JSON
//! ([`prepare`]), then queues a [`Request`] on the bounded channel and waits for its oneshot
//! ticket. [`run`] is the body of the one writer thread: it takes every request waiting at that
//! moment into one redb write transaction, commits it (fsync), and answers each ticket.
//!
//! The writer's cycle is the spool's throughput limit (every message waits for it), so it does
//! only what needs the transaction: the index lookups, writing the batch's time into each
//! ready-made record (a fixed-width patch of its "stored" event), inserting ready-made bytes,
//! one fsync of `bodies/` when the batch made files (for all of them), and the commit. Only a
//! record that the indexes change (a resend or a duplicate) is encoded again there. It never
//! writes body files, and removes only those of messages that a failed commit did not store, and it never answers `Ok` for a message whose transaction did not
//! commit.

use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use redb::ReadableTable as _;
use tokio::sync::{mpsc, oneshot};

use std::time::Duration;

use super::fault;
use super::queue::{self, Job, Reoffer, Settlement};
use super::schema::{
    self, BODIES, DOCUMENT_PDF, DOCUMENT_XML, DUPLICATES, MESSAGES, RESENDS, SELLERS,
};
use super::senders::{self, SenderChange, SenderKey, SenderRecord};
use super::staging::{Content, Finished, create_tmp};
use super::store::{Blob, Db, Shared, remove_files, sync_dir};
use super::{
    DocumentRecord, DocumentStatus, DuplicateOf, Event, MessageId, MessageRecord, MessageStatus,
    NewMessage, SpoolError, format_time, from_unix_millis, hex, sha256_hex, unix_millis,
};

/// What the writer is asked to do: the one type of its requests. Commits come on a channel of
/// their own so the writer can serve them first (see [`run`]); the queue's operations share
/// the batch transaction with the commits, after them.
pub(crate) enum Request {
    /// Store a message (and queue its deliveries).
    Commit(Box<CommitRequest>),
    /// Change the delivery queue.
    Queue(QueueOp),
}

/// One message for the writer, with its ticket.
pub(crate) struct CommitRequest {
    prepared: Prepared,
    reply: oneshot::Sender<Result<MessageId, SpoolError>>,
}

/// A change to the delivery queue, with its ticket.
pub(crate) enum QueueOp {
    /// Claim due deliveries of one sink.
    Claim {
        sink: String,
        now: SystemTime,
        limit: usize,
        lease: Duration,
        reply: oneshot::Sender<Result<Vec<Job>, SpoolError>>,
    },
    /// Store the end of an attempt.
    Settle {
        job: Job,
        settlement: Settlement,
        at: SystemTime,
        elapsed: Duration,
        reply: oneshot::Sender<Result<(), SpoolError>>,
    },
    /// Put deliveries back in the queue.
    Reoffer {
        selection: Reoffer,
        now: SystemTime,
        reply: oneshot::Sender<Result<u64, SpoolError>>,
    },
    /// Record an ERP's acknowledgement of a pulled document (the pull API's `ack`), or a later
    /// status (`status`: only an event in the message's log).
    Pull {
        op: PullOp,
        now: SystemTime,
        reply: oneshot::Sender<Result<super::pull::Acked, SpoolError>>,
    },
    /// Add or revoke an API key (`trustgate apikey create|revoke`); answers whether it
    /// changed anything.
    ApiKey {
        op: KeyOp,
        now: SystemTime,
        reply: oneshot::Sender<Result<bool, SpoolError>>,
    },
    /// Purge messages past their retention (the retention task), in one small transaction.
    Purge {
        cutoff: SystemTime,
        after: Option<String>,
        max_scan: usize,
        reply: oneshot::Sender<Result<Purged, SpoolError>>,
    },
    /// Hold, release or delete a message (`trustgate spool hold|release|delete`).
    Manage {
        op: Manage,
        now: SystemTime,
        reply: oneshot::Sender<Result<Managed, SpoolError>>,
    },
    /// Change a trusted sender's lifecycle alone (disable, enable): small, and batched with
    /// the queue's requests.
    Sender {
        key: SenderKey,
        change: SenderChange,
        now: SystemTime,
        reply: oneshot::Sender<Result<SenderRecord, SpoolError>>,
    },
}

/// The most queue requests one transaction takes, so a burst of settlements never makes the
/// commits of waiting sessions wait for a long transaction.
const MAX_QUEUE_REQUESTS: usize = 512;

/// The last event of every record: added before the request is queued, its time set by the
/// writer to the batch's time.
const STORED_EVENT: &str = "stored";

/// A message whose files are already durable, ready for the transaction.
struct Prepared {
    /// The record, its last event [`STORED_EVENT`]; kept for the index lookups (and to encode
    /// again the few records they change).
    record: MessageRecord,
    /// The record's JSON, encoded before queuing.
    json: Vec<u8>,
    /// Where the time of the [`STORED_EVENT`] is in `json` (an RFC 3339 string of fixed
    /// width), for the writer to overwrite; `None` if it could not be found, then the writer
    /// encodes the record again.
    stored_time: Option<Range<usize>>,
    /// The raw message, when it goes into the database.
    inline_body: Option<Vec<u8>>,
    /// (document index, bytes) of XML kept in the database.
    inline_xml: Vec<(u32, Vec<u8>)>,
    /// (document index, bytes) of PDF kept in the database.
    inline_pdf: Vec<(u32, Vec<u8>)>,
    /// The files this message owns, removed if it turns out not to be stored.
    files: Vec<PathBuf>,
    /// (document index, sinks) to queue if the document is still ready after the indexes.
    deliver: Vec<(u32, Vec<String>)>,
    /// Sinks among those queued once per message (see `NewMessage::deliver_once`).
    deliver_once: Vec<String>,
    /// The senders' lifecycle changes (see `NewMessage::senders`).
    senders: Vec<super::SenderUpdate>,
}

/// Stores one message; the body of the task `Spool::commit` spawns.
pub(crate) async fn commit(
    shared: Arc<Shared>,
    tx: mpsc::Sender<Request>,
    id: MessageId,
    msg: NewMessage,
    threshold: u64,
    note: Option<String>,
) -> Result<MessageId, SpoolError> {
    let span = tracing::Span::current();
    let prep_shared = Arc::clone(&shared);
    let prepared = tokio::task::spawn_blocking(move || {
        span.in_scope(|| prepare(&prep_shared, id, msg, threshold, note))
    })
    .await
    .map_err(|err| SpoolError::Database(format!("commit preparation failed: {err}")))??;
    let files = prepared.files.clone();
    let (reply, answer) = oneshot::channel();
    let req = Request::Commit(Box::new(CommitRequest { prepared, reply }));
    if tx.send(req).await.is_err() {
        // The writer is gone and never saw the message: its files are ours to remove.
        remove_files(&files);
        return Err(SpoolError::Closed);
    }
    drop(tx);
    // A writer that drops the ticket unanswered died mid-batch: the outcome is unknown.
    answer.await.unwrap_or(Err(SpoolError::Closed))
}

/// Makes the message's large files durable under their final names and builds its record,
/// with `note` as an event after the arrival (e.g. how it was recovered). On error, removes
/// every file it made.
fn prepare(
    shared: &Shared,
    id: MessageId,
    msg: NewMessage,
    threshold: u64,
    note: Option<String>,
) -> Result<Prepared, SpoolError> {
    let mut files = Files {
        shared,
        threshold,
        made: Vec::new(),
    };
    match files.prepare(id, msg, note) {
        Ok(prepared) => Ok(prepared),
        Err(err) => {
            remove_files(&files.made);
            Err(err)
        }
    }
}

/// The files one commit makes.
struct Files<'a> {
    shared: &'a Shared,
    threshold: u64,
    /// Final paths made so far.
    made: Vec<PathBuf>,
}

impl Files<'_> {
    fn prepare(
        &mut self,
        id: MessageId,
        msg: NewMessage,
        note: Option<String>,
    ) -> Result<Prepared, SpoolError> {
        let NewMessage {
            received_at,
            peer,
            helo,
            mail_from,
            rcpt_to,
            header_message_id,
            header_from,
            tls,
            auth,
            notice,
            deliver_once,
            deliver_message,
            senders,
            documents,
            ignored,
            body,
            status,
        } = msg;
        let finished = body.finish();
        let (size, sha256) = (finished.len, hex(&finished.sha256));
        // The envelope travels with the body, so the spool can be rebuilt from its files.
        let trailer = super::envelope::StoredEnvelope {
            id: id.clone(),
            received_at,
            peer: peer.clone(),
            helo: helo.clone(),
            mail_from: mail_from.clone(),
            rcpt_to: rcpt_to.clone(),
            status: status.clone(),
        }
        .trailer();
        let (body_store, inline_body) = self.store_body(&id, finished, &trailer)?;
        let mut records = Vec::with_capacity(documents.len());
        let mut deliver = Vec::new();
        let (mut inline_xml, mut inline_pdf) = (Vec::new(), Vec::new());
        // Size and hash of each source's bytes, computed once: the gateway hands a document's
        // bytes over with its first record only (one invoice for several receivers or
        // organisations is one copy, whatever the number of records).
        let mut digests: Vec<(u32, Digests)> = Vec::new();
        for (index, doc) in (0u32..).zip(documents) {
            let known = doc
                .source
                .and_then(|s| digests.iter().find(|(source, _)| *source == s))
                .map(|(_, d)| d.clone());
            let digest = known.unwrap_or_else(|| Digests {
                xml_size: doc.xml.len() as u64,
                xml_sha256: sha256_hex(&doc.xml),
                pdf_size: doc.pdf.as_ref().map(|p| p.len() as u64),
                pdf_sha256: doc.pdf.as_deref().map(sha256_hex),
            });
            if let Some(source) = doc.source
                && !digests.iter().any(|(s, _)| *s == source)
            {
                digests.push((source, digest.clone()));
            }
            let Digests {
                xml_size,
                xml_sha256,
                pdf_size,
                pdf_sha256,
            } = digest;
            let (xml_store, pdf_store) = if doc.source.is_some() {
                // Decoded again from the raw message when needed: stored once, as received.
                (Blob::InMessage, pdf_size.map(|_| Blob::InMessage))
            } else {
                let xml_store =
                    match self.store_bytes(schema::xml_file_name(id.as_str(), index), doc.xml)? {
                        (blob, Some(bytes)) => {
                            inline_xml.push((index, bytes));
                            blob
                        }
                        (blob, None) => blob,
                    };
                let pdf_store = match doc.pdf {
                    Some(pdf) => Some(
                        match self.store_bytes(schema::pdf_file_name(id.as_str(), index), pdf)? {
                            (blob, Some(bytes)) => {
                                inline_pdf.push((index, bytes));
                                blob
                            }
                            (blob, None) => blob,
                        },
                    ),
                    None => None,
                };
                (xml_store, pdf_store)
            };
            if !doc.deliver.is_empty() {
                deliver.push((index, doc.deliver));
            }
            records.push(DocumentRecord {
                index,
                receiver: doc.receiver,
                organisation: doc.organisation,
                format: doc.format,
                invoice_number: doc.invoice_number,
                xml_name: doc.xml_name,
                xml_size,
                xml_sha256,
                pdf_name: doc.pdf_name,
                paired_by: doc.paired_by,
                pdf_size,
                status: document_status(&status, doc.status),
                xml_store,
                pdf_store,
                specification: doc.specification,
                duplicate_key: doc.duplicate_key,
                duplicate_of: None,
                report: doc.report,
                source: doc.source,
                pdf_sha256,
                xml_at: doc.xml_at,
                pdf_at: doc.pdf_at,
                xml_archive: doc.xml_archive,
                pdf_archive: doc.pdf_archive,
            });
        }
        // Whole-message deliveries (the postmaster's forward, a notice about a refused message)
        // go under an index no document has.
        if !deliver_message.is_empty() {
            deliver.push((super::WHOLE_MESSAGE, deliver_message));
        }
        // The renames above are made durable by the writer, with one fsync of `bodies/` for
        // the whole batch, before the transaction that names the files commits.
        let rcpts: Vec<String> = rcpt_to.iter().map(|r| format!("<{r}>")).collect();
        let received = Event {
            at: received_at,
            what: format!(
                "received from {peer} (helo {helo}): mail from <{mail_from}> to {}; {size} bytes, {} document(s), {} ignored",
                rcpts.join(", "),
                records.len(),
                ignored.len()
            ),
        };
        let mut events = vec![received];
        if let Some(note) = note {
            events.push(Event {
                at: SystemTime::now(),
                what: note,
            });
        }
        if let MessageStatus::Rejected { reply, reason } = &status {
            events.push(Event {
                at: received_at,
                what: format!("refused ({reason}): {reply}"),
            });
        }
        // The writer overwrites this time with the batch's (see `Prepared::stored_time`).
        events.push(Event {
            at: SystemTime::now(),
            what: STORED_EVENT.into(),
        });
        let record = MessageRecord {
            id,
            received_at,
            peer,
            helo,
            mail_from,
            rcpt_to,
            header_message_id,
            header_from,
            tls,
            auth,
            notice,
            size,
            sha256,
            status,
            resend_of: None,
            body_store,
            documents: records,
            ignored,
            events,
            deleted_at: None,
        };
        let json = encode(&record)?;
        let stored_time = stored_time_range(&record, &json);
        Ok(Prepared {
            record,
            json,
            stored_time,
            inline_body,
            inline_xml,
            inline_pdf,
            files: std::mem::take(&mut self.made),
            deliver,
            deliver_once,
            senders,
        })
    }

    /// A staged body and its envelope `trailer`: a staging file gets the trailer appended, is
    /// fsynced and renamed to `<id>.eml`.
    fn store_body(
        &mut self,
        id: &MessageId,
        finished: Finished,
        trailer: &[u8],
    ) -> Result<(Blob, Option<Vec<u8>>), SpoolError> {
        match finished.content {
            // Every body is a file of its own, as Postfix keeps a queue file per message: the
            // database keeps records, indexes and the queue, and stays small as the spool
            // grows (BENCHMARKS.md, "Cost as the spool grows").
            Content::Memory(bytes) => {
                self.write_file(schema::body_file_name(id.as_str()), &[&bytes, trailer])
            }
            Content::File(mut spill) => {
                let name = schema::body_file_name(id.as_str());
                let target = self.shared.bodies_dir.join(&name);
                let faults = self.shared.faults.as_ref();
                // The staging file's cursor is at its end: DATA only ever appended to it.
                let synced = fault::check_write(faults)
                    .and_then(|()| spill.file.write_all(trailer))
                    .and_then(|()| fault::check_sync(faults))
                    .and_then(|()| spill.file.sync_all())
                    .and_then(|()| std::fs::rename(&spill.path, &target));
                if let Err(source) = synced {
                    let path = spill.path.clone();
                    spill.remove();
                    return Err(SpoolError::Io { path, source });
                }
                self.made.push(target);
                Ok((Blob::File { name }, None))
            }
        }
    }

    /// Document bytes: over the threshold into their own fsynced file, else returned to be
    /// stored in the database.
    fn store_bytes(
        &mut self,
        name: String,
        bytes: Vec<u8>,
    ) -> Result<(Blob, Option<Vec<u8>>), SpoolError> {
        if bytes.len() as u64 <= self.threshold {
            return Ok((Blob::Database, Some(bytes)));
        }
        self.write_file(name, &[&bytes])
    }

    /// `pieces`, one after the other, into their own fsynced file `name` under `bodies/` (the
    /// writer fsyncs the folder for the batch).
    fn write_file(
        &mut self,
        name: String,
        pieces: &[&[u8]],
    ) -> Result<(Blob, Option<Vec<u8>>), SpoolError> {
        let dir = &self.shared.bodies_dir;
        let faults = self.shared.faults.as_ref();
        let (tmp, mut file) = create_tmp(dir).map_err(|source| SpoolError::Io {
            path: dir.clone(),
            source,
        })?;
        let target = dir.join(&name);
        let written = fault::check_write(faults)
            .and_then(|()| pieces.iter().try_for_each(|p| file.write_all(p)))
            .and_then(|()| fault::check_sync(faults))
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &target));
        drop(file);
        if let Err(source) = written {
            remove_files(std::slice::from_ref(&tmp));
            return Err(SpoolError::Io { path: tmp, source });
        }
        self.made.push(target);
        Ok((Blob::File { name }, None))
    }
}

/// The size and SHA-256 of a document's bytes.
#[derive(Clone)]
struct Digests {
    xml_size: u64,
    xml_sha256: String,
    pdf_size: Option<u64>,
    pdf_sha256: Option<String>,
}

/// A record's JSON.
fn encode(record: &MessageRecord) -> Result<Vec<u8>, SpoolError> {
    serde_json::to_vec(record)
        .map_err(|err| SpoolError::Database(format!("cannot encode the record: {err}")))
}

/// Where the time of the record's last event, [`STORED_EVENT`], is in its JSON: the record
/// ends with it (`events` is the last field and `what` follows `at`). `None` if the JSON does
/// not end as expected, so the writer never patches the wrong bytes.
fn stored_time_range(record: &MessageRecord, json: &[u8]) -> Option<Range<usize>> {
    let last = record.events.last().filter(|e| e.what == STORED_EVENT)?;
    let time = format_time(last.at);
    let tail = format!("\"{time}\",\"what\":\"{STORED_EVENT}\"}}]}}");
    if !json.ends_with(tail.as_bytes()) {
        return None;
    }
    let start = json.len() - tail.len() + 1;
    Some(start..start + time.len())
}

impl Prepared {
    /// Writes the batch's time `now_text` (`format_time(now)`, already set in the record by
    /// [`Prepared::set_stored_time`]) into the JSON's [`STORED_EVENT`], or encodes the record
    /// again if `changed` (by the indexes) or if its JSON cannot be patched in place.
    fn finish(&mut self, now_text: &str, changed: bool) -> Result<(), SpoolError> {
        match self
            .stored_time
            .as_ref()
            .and_then(|r| self.json.get_mut(r.clone()))
        {
            Some(slot) if !changed && slot.len() == now_text.len() => {
                slot.copy_from_slice(now_text.as_bytes());
            }
            _ => {
                // It encoded before, with the same kinds of values, so this cannot fail in
                // practice; if it did, the batch fails and every client retries.
                self.json = encode(&self.record)?;
                self.stored_time = None;
            }
        }
        Ok(())
    }

    /// Sets the record's [`STORED_EVENT`] time (before the index lookups, which add their
    /// events before it, at its time).
    fn set_stored_time(&mut self, now: SystemTime) {
        if let Some(last) = self.record.events.last_mut() {
            last.at = now;
        }
    }
}

/// The stored status of a document: the gateway's, or [`DocumentStatus::Ready`] (which the
/// transaction may still turn into [`DocumentStatus::Duplicate`]). In a rejected message
/// nothing is ready: what the gateway did not reject is [`DocumentStatus::Withheld`].
fn document_status(message: &MessageStatus, given: Option<DocumentStatus>) -> DocumentStatus {
    let status = given.unwrap_or(DocumentStatus::Ready);
    if message.is_rejected() && status.is_ready() {
        DocumentStatus::Withheld
    } else {
        status
    }
}

/// The writer thread: group commit until the commit channel closes (shutdown), then return.
///
/// Acceptance comes first: the thread waits on both channels but prefers commits, and each
/// transaction takes every commit waiting and at most [`MAX_QUEUE_REQUESTS`] queue requests,
/// applied after the commits. So delivery shares the commits' fsync instead of competing for
/// it, and a settlement burst never delays a session's 250 by more than a bounded batch.
pub(crate) fn run(
    shared: &Shared,
    mut rx: mpsc::Receiver<Request>,
    mut queue_rx: mpsc::Receiver<Request>,
) {
    // A small runtime of the thread's own, only to wait on two channels at once.
    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!(error = %err, "spool writer cannot start");
            return;
        }
    };
    let mut queue_open = true;
    loop {
        let first = rt.block_on(async {
            tokio::select! {
                biased;
                r = rx.recv() => Woken::Commits(r),
                q = queue_rx.recv(), if queue_open => Woken::Queue(q),
            }
        });
        let mut batch = Vec::new();
        let mut queue = Vec::new();
        match first {
            Woken::Commits(Some(req)) | Woken::Queue(Some(req)) => {
                take(req, &mut batch, &mut queue);
            }
            // Every commit sender is gone (commits still preparing their files hold one, so
            // they are all in): the writer is done.
            Woken::Commits(None) => break,
            // The queue closed first: go on serving commits until they are all in.
            Woken::Queue(None) => {
                queue_open = false;
                continue;
            }
        }
        #[cfg(test)]
        {
            shared.at_gate.fetch_add(1, Ordering::SeqCst);
            drop(shared.gate.lock().unwrap_or_else(PoisonError::into_inner));
        }
        while let Ok(req) = rx.try_recv() {
            take(req, &mut batch, &mut queue);
        }
        while queue.len() < MAX_QUEUE_REQUESTS
            && let Ok(req) = queue_rx.try_recv()
        {
            take(req, &mut batch, &mut queue);
        }
        commit_batch(shared, batch, queue);
    }
    // Shutdown: what is still queued gets an answer rather than a dropped ticket.
    queue_rx.close();
    while let Ok(req) = queue_rx.try_recv() {
        req.fail(&SpoolError::Closed);
    }
    tracing::debug!("spool writer stopped");
}

/// Which channel woke the writer, with what it gave.
enum Woken {
    Commits(Option<Request>),
    Queue(Option<Request>),
}

/// Sorts a request into the batch's commits or queue operations (either channel may carry
/// either kind; the channels only decide who is served first).
fn take(req: Request, batch: &mut Vec<CommitRequest>, queue: &mut Vec<QueueOp>) {
    match req {
        Request::Commit(c) => batch.push(*c),
        Request::Queue(q) => queue.push(q),
    }
}

impl Request {
    /// Answers the request with `err`.
    fn fail(self, err: &SpoolError) {
        match self {
            Request::Commit(c) => drop(c.reply.send(Err(err.duplicate()))),
            Request::Queue(q) => q.fail(err),
        }
    }
}

impl QueueOp {
    /// Answers the request with `err`.
    fn fail(self, err: &SpoolError) {
        match self {
            QueueOp::Claim { reply, .. } => drop(reply.send(Err(err.duplicate()))),
            QueueOp::Settle { reply, .. } => drop(reply.send(Err(err.duplicate()))),
            QueueOp::Reoffer { reply, .. } => drop(reply.send(Err(err.duplicate()))),
            QueueOp::Sender { reply, .. } => drop(reply.send(Err(err.duplicate()))),
            QueueOp::Manage { reply, .. } => drop(reply.send(Err(err.duplicate()))),
            QueueOp::ApiKey { reply, .. } => drop(reply.send(Err(err.duplicate()))),
            QueueOp::Pull { reply, .. } => drop(reply.send(Err(err.duplicate()))),
            QueueOp::Purge { reply, .. } => drop(reply.send(Err(err.duplicate()))),
        }
    }
}

/// The answer to a queue request, sent once its transaction committed.
enum QueueAnswer {
    Claimed(oneshot::Sender<Result<Vec<Job>, SpoolError>>, Vec<Job>),
    Settled(oneshot::Sender<Result<(), SpoolError>>),
    Reoffered(oneshot::Sender<Result<u64, SpoolError>>, u64),
    Sender(
        oneshot::Sender<Result<SenderRecord, SpoolError>>,
        SenderRecord,
    ),
    Managed(oneshot::Sender<Result<Managed, SpoolError>>, Managed),
    Key(oneshot::Sender<Result<bool, SpoolError>>, bool),
    Purged(oneshot::Sender<Result<Purged, SpoolError>>, Purged),
    Pulled(
        oneshot::Sender<Result<super::pull::Acked, SpoolError>>,
        super::pull::Acked,
    ),
    Failed(QueueFailed),
}

/// A queue request that failed on its own (a record that cannot be decoded), answered
/// without failing the batch.
enum QueueFailed {
    Claim(oneshot::Sender<Result<Vec<Job>, SpoolError>>, SpoolError),
    Settle(oneshot::Sender<Result<(), SpoolError>>, SpoolError),
    Reoffer(oneshot::Sender<Result<u64, SpoolError>>, SpoolError),
    Sender(
        oneshot::Sender<Result<SenderRecord, SpoolError>>,
        SpoolError,
    ),
    Managed(oneshot::Sender<Result<Managed, SpoolError>>, SpoolError),
    Key(oneshot::Sender<Result<bool, SpoolError>>, SpoolError),
    Purged(oneshot::Sender<Result<Purged, SpoolError>>, SpoolError),
    Pulled(
        oneshot::Sender<Result<super::pull::Acked, SpoolError>>,
        SpoolError,
    ),
}

impl QueueAnswer {
    fn send(self) {
        match self {
            QueueAnswer::Claimed(reply, jobs) => drop(reply.send(Ok(jobs))),
            QueueAnswer::Settled(reply) => drop(reply.send(Ok(()))),
            QueueAnswer::Reoffered(reply, n) => drop(reply.send(Ok(n))),
            QueueAnswer::Sender(reply, record) => drop(reply.send(Ok(record))),
            QueueAnswer::Managed(reply, managed) => drop(reply.send(Ok(managed))),
            QueueAnswer::Key(reply, changed) => drop(reply.send(Ok(changed))),
            QueueAnswer::Pulled(reply, acked) => drop(reply.send(Ok(acked))),
            QueueAnswer::Purged(reply, purged) => drop(reply.send(Ok(purged))),
            QueueAnswer::Failed(QueueFailed::Purged(reply, e)) => drop(reply.send(Err(e))),
            QueueAnswer::Failed(QueueFailed::Pulled(reply, e)) => drop(reply.send(Err(e))),
            QueueAnswer::Failed(QueueFailed::Key(reply, e)) => drop(reply.send(Err(e))),
            QueueAnswer::Failed(QueueFailed::Managed(reply, e)) => drop(reply.send(Err(e))),
            QueueAnswer::Failed(QueueFailed::Sender(reply, e)) => drop(reply.send(Err(e))),
            QueueAnswer::Failed(QueueFailed::Claim(reply, e)) => drop(reply.send(Err(e))),
            QueueAnswer::Failed(QueueFailed::Settle(reply, e)) => drop(reply.send(Err(e))),
            QueueAnswer::Failed(QueueFailed::Reoffer(reply, e)) => drop(reply.send(Err(e))),
        }
    }
}

/// One transaction for the whole batch, then one answer per ticket.
fn commit_batch(shared: &Shared, mut entries: Vec<CommitRequest>, queue: Vec<QueueOp>) {
    let count = entries.len() as u64;
    let stats = &shared.stats;
    match write_batch(shared, &mut entries, queue, SystemTime::now()) {
        Ok((answers, queue_changed)) => {
            if count > 0 {
                stats.transactions.fetch_add(1, Ordering::Relaxed);
                stats.messages.fetch_add(count, Ordering::Relaxed);
                stats.largest_batch.fetch_max(count, Ordering::Relaxed);
                tracing::debug!(messages = count, "spool transaction committed");
            }
            for req in entries {
                crate::observe::message_committed(&req.prepared.record);
                // A caller that went away still had its message stored; nothing to undo.
                let _ = req.reply.send(Ok(req.prepared.record.id));
            }
            for answer in answers {
                answer.send();
            }
            if queue_changed {
                shared.queue_changed.send_modify(|v| *v = v.wrapping_add(1));
            }
        }
        Err(err) => {
            // The queue requests' tickets were dropped with the transaction: each caller sees
            // an error and tries again later.
            stats.failed_transactions.fetch_add(1, Ordering::Relaxed);
            stats.failed_messages.fetch_add(count, Ordering::Relaxed);
            tracing::error!(error = %err, messages = count, "spool commit failed; reopening the database");
            let unknown: Vec<(MessageId, Vec<PathBuf>)> = entries
                .into_iter()
                .map(|req| {
                    let _ = req.reply.send(Err(err.duplicate()));
                    (req.prepared.record.id, req.prepared.files)
                })
                .collect();
            recover(shared, unknown);
        }
    }
}

/// After a failed commit: reopen (redb repairs), then remove the files of the messages that
/// the reopened database does not have. If the reopen fails, leave everything for the next
/// batch and for start-up.
fn recover(shared: &Shared, unknown: Vec<(MessageId, Vec<PathBuf>)>) {
    if let Err(err) = shared.reopen() {
        tracing::error!(error = %err, "spool database cannot be reopened; retrying at the next commit");
        return;
    }
    for (id, files) in unknown {
        match shared.contains(id.as_str()) {
            Ok(false) => remove_files(&files),
            Ok(true) => {
                tracing::warn!(mid = %id, "message stored although its commit reported an error")
            }
            Err(err) => {
                tracing::warn!(mid = %id, error = %err, "cannot check a message after a failed commit")
            }
        }
    }
}

/// The write transaction of one batch. Each message, in batch order, is first checked
/// against the duplicate and resend indexes ([`check_indexes`]), so of two identical
/// invoices, in one batch or in two, exactly one is first.
/// `now` is the batch's time, of each record's "stored" event.
fn write_batch(
    shared: &Shared,
    entries: &mut [CommitRequest],
    queue: Vec<QueueOp>,
    now: SystemTime,
) -> Result<(Vec<QueueAnswer>, bool), SpoolError> {
    let now_text = format_time(now);
    if shared.is_closed() {
        shared.reopen()?;
    }
    let guard = shared.db.read().unwrap_or_else(PoisonError::into_inner);
    let Some(Db::Rw(db)) = guard.as_ref() else {
        return Err(SpoolError::Database(
            "the database is not open for writing".into(),
        ));
    };
    let e = |err| shared.db_error(err);
    // Default durability: the commit returns after redb's fsync.
    let mut txn = db.begin_write().map_err(e)?;
    if entries.is_empty() && queue.iter().all(|q| matches!(q, QueueOp::Claim { .. })) {
        // Claims alone need no fsync: a claim lost in a crash is released at start-up all the
        // same (every lease is), and within the process the dispatcher's own bookkeeping keeps
        // a document from going to a sink twice. The next durable commit persists it anyway.
        // So a delivery costs one fsync (its settlement, shared with whatever else commits),
        // not two.
        txn.set_durability(redb::Durability::None).map_err(|err| {
            SpoolError::Database(format!("cannot skip the fsync of a claim: {err}"))
        })?;
    }
    let mut answers = Vec::with_capacity(queue.len());
    let mut queue_changed = false;
    // Files of deleted messages: removed once the transaction that forgets them committed.
    let mut removed_files: Vec<String> = Vec::new();
    {
        let e = |err: redb::StorageError| shared.db_error(err);
        let mut messages = txn
            .open_table(MESSAGES)
            .map_err(|err| shared.db_error(err))?;
        let mut bodies = txn.open_table(BODIES).map_err(|err| shared.db_error(err))?;
        let mut xml = txn
            .open_table(DOCUMENT_XML)
            .map_err(|err| shared.db_error(err))?;
        let mut pdf = txn
            .open_table(DOCUMENT_PDF)
            .map_err(|err| shared.db_error(err))?;
        let mut indexes = Indexes {
            duplicates: txn
                .open_table(DUPLICATES)
                .map_err(|err| shared.db_error(err))?,
            resends: txn
                .open_table(RESENDS)
                .map_err(|err| shared.db_error(err))?,
            sellers: txn
                .open_table(SELLERS)
                .map_err(|err| shared.db_error(err))?,
        };
        let mut tables = queue::Tables::open(&txn).map_err(|err| shared.db_error(err))?;
        let mut sender_states = txn
            .open_table(schema::SENDER_STATES)
            .map_err(|err| shared.db_error(err))?;
        let mut api_keys = txn
            .open_table(schema::API_KEYS)
            .map_err(|err| shared.db_error(err))?;
        let mut pull = txn
            .open_table(schema::PULL)
            .map_err(|err| shared.db_error(err))?;
        let mut acks = txn
            .open_table(schema::ACKS)
            .map_err(|err| shared.db_error(err))?;
        for req in entries.iter_mut() {
            let p = &mut req.prepared;
            p.set_stored_time(now);
            // Only a found duplicate or resend changes the record: then it is encoded again.
            let changed = check_indexes(&mut indexes, &mut p.record).map_err(e)?;
            p.finish(&now_text, changed)?;
            let id = p.record.id.as_str();
            if messages.insert(id, p.json.as_slice()).map_err(e)?.is_some() {
                // Ids never repeat; if one did, abort rather than overwrite a stored message.
                return Err(SpoolError::Database(format!(
                    "message id {id} is already stored"
                )));
            }
            if let Some(body) = &p.inline_body {
                bodies.insert(id, body.as_slice()).map_err(e)?;
            }
            for (index, bytes) in &p.inline_xml {
                xml.insert((id, *index), bytes.as_slice()).map_err(e)?;
            }
            for (index, bytes) in &p.inline_pdf {
                pdf.insert((id, *index), bytes.as_slice()).map_err(e)?;
            }
            // Queued with the message: a 250 never leaves a document without its deliveries.
            // Only documents still ready after the indexes (a duplicate is not delivered).
            let mut once_queued: Vec<&str> = Vec::new();
            for (index, sinks) in &p.deliver {
                let ready = *index == super::WHOLE_MESSAGE
                    || p.record
                        .documents
                        .iter()
                        .any(|d| d.index == *index && d.status.is_ready());
                if !ready {
                    continue;
                }
                for sink in sinks {
                    if p.deliver_once.contains(sink) {
                        if once_queued.contains(&sink.as_str()) {
                            continue;
                        }
                        once_queued.push(sink);
                    }
                    queue_changed |= queue::enqueue(&mut tables, id, *index, sink, now)
                        .map_err(|err| shared.db_error(err))?;
                }
            }
            // A ready document with no sink waits for the pull API (after the indexes: a
            // duplicate does not wait).
            for doc in &p.record.documents {
                let has_sink = p
                    .deliver
                    .iter()
                    .any(|(i, sinks)| *i == doc.index && !sinks.is_empty());
                if doc.status.is_ready() && !has_sink && p.record.status == MessageStatus::Accepted
                {
                    pull.insert((doc.organisation.as_str(), id, doc.index), ())
                        .map_err(|err| shared.db_error(err))?;
                }
            }
            for update in &p.senders {
                let (key, change) = match update {
                    super::SenderUpdate::Invitation(key) => (
                        key,
                        SenderChange::Invited {
                            message: p.record.id.clone(),
                        },
                    ),
                    // Only an accepted invoice activates: a refused one proves nothing.
                    super::SenderUpdate::Invoice(key)
                        if p.record.status == MessageStatus::Accepted =>
                    {
                        (
                            key,
                            SenderChange::Accepted {
                                from: p.record.header_from.clone().unwrap_or_default(),
                                message: p.record.id.clone(),
                            },
                        )
                    }
                    super::SenderUpdate::Invoice(_) => continue,
                };
                senders::apply(&mut sender_states, key, &change, now)
                    .map_err(|err| shared.db_error(err))?;
            }
        }
        for req in queue {
            if let QueueOp::Purge {
                cutoff,
                after,
                max_scan,
                reply,
            } = req
            {
                let mut stores = Stores {
                    messages: &mut messages,
                    bodies: &mut bodies,
                    xml: &mut xml,
                    pdf: &mut pdf,
                    pull: &mut pull,
                };
                let answer = match purge(
                    &mut tables,
                    &mut stores,
                    &mut indexes,
                    &mut acks,
                    cutoff,
                    after.as_deref(),
                    max_scan,
                ) {
                    // Its files are removed by the caller after the commit, off the writer
                    // thread: hundreds of unlinks must not hold up the next acceptance.
                    Ok(purged) => QueueAnswer::Purged(reply, purged),
                    Err(e) => QueueAnswer::Failed(QueueFailed::Purged(
                        reply,
                        SpoolError::Database(format!("retention: {e}")),
                    )),
                };
                answers.push(answer);
                continue;
            }
            if let QueueOp::Pull { op, now, reply } = req {
                let answer =
                    match pull_op(&mut messages, &mut pull, &mut acks, &mut tables, &op, now) {
                        Ok((acked, noticed)) => {
                            queue_changed |= noticed;
                            QueueAnswer::Pulled(reply, acked)
                        }
                        Err(e) => QueueAnswer::Failed(QueueFailed::Pulled(
                            reply,
                            SpoolError::Database(format!("pull: {e}")),
                        )),
                    };
                answers.push(answer);
                continue;
            }
            let answer = if let QueueOp::Manage { op, now, reply } = req {
                let mut stores = Stores {
                    messages: &mut messages,
                    bodies: &mut bodies,
                    xml: &mut xml,
                    pdf: &mut pdf,
                    pull: &mut pull,
                };
                match manage(&mut tables, &mut stores, &op, now) {
                    Ok(managed) => {
                        queue_changed |= managed.deliveries > 0;
                        removed_files.extend(managed.files.iter().cloned());
                        QueueAnswer::Managed(reply, managed)
                    }
                    Err(e) => QueueAnswer::Failed(QueueFailed::Managed(
                        reply,
                        SpoolError::Database(format!("{op}: {e}")),
                    )),
                }
            } else {
                apply_queue_request(
                    &mut tables,
                    &mut sender_states,
                    &mut api_keys,
                    &messages,
                    req,
                )
            };
            if let Some(changed) = answer.changes_queue() {
                queue_changed |= changed;
            }
            answers.push(answer);
        }
    }
    if entries.iter().any(|r| !r.prepared.files.is_empty()) {
        // The files' renames must be durable before any record names them: one fsync of the
        // folder for every file of the batch.
        sync_dir(&shared.bodies_dir, shared.faults.as_ref())?;
    }
    txn.commit().map_err(|err| shared.db_error(err))?;
    // After the commit: a crash before this leaves files no record names, which start-up
    // moves to quarantine (never a record that names a missing file).
    let paths: Vec<PathBuf> = removed_files
        .iter()
        .filter(|name| schema::is_spool_file_name(name))
        .map(|name| shared.bodies_dir.join(name))
        .collect();
    remove_files(&paths);
    Ok((answers, queue_changed))
}

/// What one retention round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// Messages removed.
    pub messages: u64,
    /// The last id looked at: the next round starts after it (`None`: start over, every
    /// message old enough was looked at).
    pub next: Option<String>,
    /// Files no record names any more: [`super::Spool::purge`] removes them after the commit.
    pub(crate) files: Vec<String>,
}

/// Removes messages whose last delivery, acknowledgement or refusal is older than `cutoff`, looking at most at
/// `max_scan` records after `after`, oldest first (ids sort by time). A message with a
/// delivery pending, in flight or held, or a document waiting for the pull API, is kept,
/// whatever its age: only what is finished is purged. Purged with it: its body and documents,
/// its deliveries and attempts, its acknowledgements, and the index entries that point at it
/// (so the indexes stay as small as the spool).
fn purge(
    tables: &mut queue::Tables<'_>,
    stores: &mut Stores<'_, '_>,
    indexes: &mut Indexes<'_>,
    acks: &mut super::pull::AckTable<'_>,
    cutoff: SystemTime,
    after: Option<&str>,
    max_scan: usize,
) -> Result<Purged, redb::Error> {
    use std::ops::Bound;
    // Received after the cutoff: nothing from here on can be due (ids sort by time; a quarter
    // of an hour's margin for the id being taken after end of data).
    let stop = super::id::first_id_at(cutoff + std::time::Duration::from_secs(15 * 60));
    let lower = match after {
        Some(a) => Bound::Excluded(a),
        None => Bound::Unbounded,
    };
    let mut candidates: Vec<(String, MessageRecord)> = Vec::new();
    let mut next = None;
    for entry in stores.messages.range::<&str>((lower, Bound::Unbounded))? {
        let (key, value) = entry?;
        let id = key.value();
        if id >= stop.as_str() {
            break;
        }
        if candidates.len() >= max_scan {
            break;
        }
        next = Some(id.to_owned());
        let Ok(record) = serde_json::from_slice::<MessageRecord>(value.value()) else {
            continue;
        };
        candidates.push((id.to_owned(), record));
    }
    let scanned_all = candidates.len() < max_scan;
    let mut purged = Purged::default();
    for (id, record) in candidates {
        let mid = id.as_str();
        if !queue::finished_before(tables, mid, cutoff)? || record.received_at >= cutoff {
            continue;
        }
        if record.documents.iter().any(|d| {
            stores
                .pull
                .get((d.organisation.as_str(), mid, d.index))
                .ok()
                .flatten()
                .is_some()
        }) {
            continue;
        }
        // A document fetched by the pull API counts as delivered when the ERP acknowledged
        // it: an acknowledgement after the cutoff keeps the message its retention period.
        let acked_lately = record.documents.iter().any(|d| {
            acks.get((mid, d.index))
                .ok()
                .flatten()
                .and_then(|v| serde_json::from_slice::<super::pull::AckRecord>(v.value()).ok())
                .is_some_and(|ack| ack.at >= cutoff)
        });
        if acked_lately {
            continue;
        }
        queue::forget(tables, mid, true)?;
        if let Blob::File { name } = &record.body_store {
            purged.files.push(name.clone());
        }
        stores.bodies.remove(mid)?;
        for doc in &record.documents {
            for blob in std::iter::once(&doc.xml_store).chain(doc.pdf_store.as_ref()) {
                if let Blob::File { name } = blob {
                    purged.files.push(name.clone());
                }
            }
            stores.xml.remove((mid, doc.index))?;
            stores.pdf.remove((mid, doc.index))?;
            acks.remove((mid, doc.index))?;
            if let Some(key) = &doc.duplicate_key {
                let points_here = indexes
                    .duplicates
                    .get(key.as_str())?
                    .is_some_and(|v| v.value().0 == mid);
                if points_here {
                    indexes.duplicates.remove(key.as_str())?;
                }
            }
        }
        if let Some(header_id) = &record.header_message_id {
            let key = schema::resend_key(header_id, &record.sha256);
            let points_here = indexes
                .resends
                .get(key.as_str())?
                .is_some_and(|v| v.value() == mid);
            if points_here {
                indexes.resends.remove(key.as_str())?;
            }
        }
        stores.messages.remove(mid)?;
        purged.messages += 1;
    }
    if scanned_all {
        purged.next = None;
    } else {
        purged.next = next;
    }
    Ok(purged)
}

/// What an ERP reports about a pulled document.
#[derive(Debug, Clone)]
pub(crate) enum PullOp {
    /// `ack`: imported or failed; removes the document from the pull queue.
    Ack {
        message: MessageId,
        document: u32,
        record: super::pull::AckRecord,
    },
    /// `status`: a later status from the ERP (booked, paid, disputed …), an event only.
    Status {
        message: MessageId,
        document: u32,
        status: String,
        by: String,
    },
}

/// Applies a [`PullOp`]: the acknowledgement (or the status) and an event in the message's
/// log, in the batch's transaction.
///
/// A first `failed` acknowledgement queues the message's notice to the supplier's contact,
/// when it has one (`[notices]` set, the message not sent automatically): the same notice a
/// delivery that failed for good sends, with the ERP's reason as the receiver's answer. The
/// second value says whether it was queued.
fn pull_op(
    messages: &mut redb::Table<'_, &'static str, &'static [u8]>,
    pull: &mut super::pull::PullTable<'_>,
    acks: &mut super::pull::AckTable<'_>,
    tables: &mut queue::Tables<'_>,
    op: &PullOp,
    now: SystemTime,
) -> Result<(super::pull::Acked, bool), redb::Error> {
    use super::pull::Acked;
    let (mid, document) = match op {
        PullOp::Ack {
            message, document, ..
        }
        | PullOp::Status {
            message, document, ..
        } => (message.as_str(), *document),
    };
    let Some(value) = messages.get(mid)? else {
        return Ok((Acked::NotPullable, false));
    };
    let mut record: MessageRecord = serde_json::from_slice(value.value())
        .map_err(|e| redb::Error::Corrupted(format!("message {mid}: {e}")))?;
    drop(value);
    let Some(doc) = record.documents.iter().find(|d| d.index == document) else {
        return Ok((Acked::NotPullable, false));
    };
    let organisation = doc.organisation.clone();
    let (acked, what) = match op {
        PullOp::Ack { record: ack, .. } => {
            let acked = super::pull::ack(pull, acks, &organisation, mid, document, ack)?;
            if !matches!(acked, Acked::Recorded(_)) {
                return Ok((acked, false));
            }
            let why = ack
                .reason
                .as_deref()
                .map(|r| format!(": {}", crate::text::display_safe(r)))
                .unwrap_or_default();
            (
                acked,
                format!(
                    "document {document} {} by the ERP (API key {}){why}",
                    ack.status.as_str(),
                    ack.by
                ),
            )
        }
        PullOp::Status { status, by, .. } => {
            // Only for a document that was acknowledged (it reached the ERP).
            let Some(value) = acks.get((mid, document))? else {
                return Ok((Acked::NotPullable, false));
            };
            let before = super::pull::decode(value.value())?;
            drop(value);
            (
                Acked::Again(before),
                format!(
                    "document {document}: the ERP says {} (API key {by})",
                    crate::text::display_safe(status)
                ),
            )
        }
    };
    record.events.push(Event { at: now, what });
    let mut noticed = false;
    if let PullOp::Ack { record: ack, .. } = op
        && ack.status == super::pull::AckStatus::Failed
        && let Some(notice) = record.notice.as_mut()
        && notice.kind == super::NoticeKind::Undeliverable
    {
        // Once per message: a notice queued before (another document's failure, a dead
        // letter) keeps the words it was queued with.
        noticed = queue::enqueue(
            tables,
            mid,
            super::WHOLE_MESSAGE,
            crate::config::validate::NOTICES_SINK,
            now,
        )?;
        if noticed {
            notice.reply = format!(
                "the receiver's accounts system could not import the invoice: {}",
                crate::text::display_safe(ack.reason.as_deref().unwrap_or("no reason given"))
            );
            record.events.push(Event {
                at: now,
                what: format!("notice to {} queued: the import failed", notice.to),
            });
        }
    }
    let json = encode(&record).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
    messages.insert(mid, json.as_slice())?;
    Ok((acked, noticed))
}

/// A change to the API keys.
#[derive(Debug, Clone)]
pub(crate) enum KeyOp {
    /// A new key: its client id and record.
    Add(String, super::apikeys::ApiKeyRecord),
    /// Revoke the key with this client id.
    Revoke(String),
}

/// Adds or revokes a key. `Ok(Err(..))`: refused (a client id in use).
fn api_key(
    table: &mut super::apikeys::Table<'_>,
    op: &KeyOp,
    now: SystemTime,
) -> Result<Result<bool, SpoolError>, redb::Error> {
    use super::apikeys::{decode, encode};
    match op {
        KeyOp::Add(id, record) => {
            if table.get(id.as_str())?.is_some() {
                return Ok(Err(SpoolError::Database(format!(
                    "the API key client id {id} is in use"
                ))));
            }
            table.insert(id.as_str(), encode(record)?.as_slice())?;
            Ok(Ok(true))
        }
        KeyOp::Revoke(id) => {
            let Some(value) = table.get(id.as_str())? else {
                return Ok(Ok(false));
            };
            let mut record = decode(value.value())?;
            drop(value);
            if record.revoked_at.is_some() {
                return Ok(Ok(false));
            }
            record.revoked_at = Some(now);
            table.insert(id.as_str(), encode(&record)?.as_slice())?;
            Ok(Ok(true))
        }
    }
}

/// What an admin does to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manage {
    /// Keep its deliveries from being tried (`spool hold`).
    Hold(MessageId),
    /// Let them be tried again, now (`spool release`).
    Release(MessageId),
    /// Remove its body, documents and deliveries, keeping the record with the event
    /// (`spool delete --force`).
    Delete(MessageId),
}

impl std::fmt::Display for Manage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Manage::Hold(id) => write!(f, "hold {id}"),
            Manage::Release(id) => write!(f, "release {id}"),
            Manage::Delete(id) => write!(f, "delete {id}"),
        }
    }
}

/// What [`Manage`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Managed {
    /// The message exists.
    pub found: bool,
    /// Something changed (false: held already, not held, deleted already).
    pub changed: bool,
    /// Deliveries held, released or removed.
    pub deliveries: u64,
    /// Files removed after the commit (our own names under `bodies/`).
    pub(crate) files: Vec<String>,
}

/// The tables of stored messages, open in the batch's transaction.
struct Stores<'a, 'txn> {
    messages: &'a mut redb::Table<'txn, &'static str, &'static [u8]>,
    bodies: &'a mut redb::Table<'txn, &'static str, &'static [u8]>,
    xml: &'a mut redb::Table<'txn, (&'static str, u32), &'static [u8]>,
    pdf: &'a mut redb::Table<'txn, (&'static str, u32), &'static [u8]>,
    pull: &'a mut super::pull::PullTable<'txn>,
}

/// Holds, releases or deletes one message in the batch's transaction; each adds an event to
/// its record.
fn manage(
    tables: &mut queue::Tables<'_>,
    stores: &mut Stores<'_, '_>,
    op: &Manage,
    now: SystemTime,
) -> Result<Managed, redb::Error> {
    let id = match op {
        Manage::Hold(id) | Manage::Release(id) | Manage::Delete(id) => id.as_str(),
    };
    let Some(value) = stores.messages.get(id)? else {
        return Ok(Managed::default());
    };
    let mut record: MessageRecord = serde_json::from_slice(value.value())
        .map_err(|e| redb::Error::Corrupted(format!("message {id}: {e}")))?;
    drop(value);
    let mut managed = Managed {
        found: true,
        ..Managed::default()
    };
    if record.deleted_at.is_some() {
        return Ok(managed);
    }
    let what = match op {
        Manage::Hold(_) => match queue::hold(tables, id, now)? {
            None => return Ok(managed),
            Some(n) => {
                managed.deliveries = n;
                format!("held by an admin (trustgate spool hold): {n} delivery(ies) wait")
            }
        },
        Manage::Release(_) => match queue::release(tables, id, now)? {
            None => return Ok(managed),
            Some(n) => {
                managed.deliveries = n;
                format!("released by an admin (trustgate spool release): {n} delivery(ies) due now")
            }
        },
        Manage::Delete(_) => {
            managed.deliveries = queue::forget(tables, id, false)?;
            if let Blob::File { name } = &record.body_store {
                managed.files.push(name.clone());
            }
            stores.bodies.remove(id)?;
            for doc in &record.documents {
                for blob in std::iter::once(&doc.xml_store).chain(doc.pdf_store.as_ref()) {
                    if let Blob::File { name } = blob {
                        managed.files.push(name.clone());
                    }
                }
                stores.xml.remove((id, doc.index))?;
                stores.pdf.remove((id, doc.index))?;
                stores
                    .pull
                    .remove((doc.organisation.as_str(), id, doc.index))?;
            }
            record.deleted_at = Some(now);
            format!(
                "deleted by an admin (trustgate spool delete): the message and its documents removed, {} delivery(ies) dropped",
                managed.deliveries
            )
        }
    };
    record.events.push(Event { at: now, what });
    let json = encode(&record).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
    stores.messages.insert(id, json.as_slice())?;
    managed.changed = true;
    Ok(managed)
}

/// Applies one queue request in the batch's transaction. An error of its own (a record that
/// cannot be decoded) answers that request only.
fn apply_queue_request(
    tables: &mut queue::Tables<'_>,
    sender_states: &mut senders::Table<'_>,
    api_keys: &mut super::apikeys::Table<'_>,
    messages: &redb::Table<'_, &'static str, &'static [u8]>,
    req: QueueOp,
) -> QueueAnswer {
    let err = |e: redb::Error| SpoolError::Database(format!("delivery queue: {e}"));
    match req {
        QueueOp::Claim {
            sink,
            now,
            limit,
            lease,
            reply,
        } => match queue::claim(tables, &sink, now, limit, lease) {
            Ok(jobs) => QueueAnswer::Claimed(reply, jobs),
            Err(e) => QueueAnswer::Failed(QueueFailed::Claim(reply, err(e))),
        },
        QueueOp::Settle {
            job,
            settlement,
            at,
            elapsed,
            reply,
        } => match queue::settle(tables, &job, &settlement, at, elapsed).and_then(|()| {
            if matches!(settlement, queue::Settlement::Failed { .. }) {
                queue::notice_dead_letter(tables, messages, &job, at).map(|_| ())
            } else {
                Ok(())
            }
        }) {
            Ok(()) => QueueAnswer::Settled(reply),
            Err(e) => QueueAnswer::Failed(QueueFailed::Settle(reply, err(e))),
        },
        QueueOp::Reoffer {
            selection,
            now,
            reply,
        } => match queue::reoffer(tables, messages, &selection, now) {
            Ok(n) => QueueAnswer::Reoffered(reply, n),
            Err(e) => QueueAnswer::Failed(QueueFailed::Reoffer(reply, err(e))),
        },
        QueueOp::Sender {
            key,
            change,
            now,
            reply,
        } => match senders::apply(sender_states, &key, &change, now) {
            Ok(record) => QueueAnswer::Sender(reply, record),
            Err(e) => QueueAnswer::Failed(QueueFailed::Sender(reply, err(e))),
        },
        QueueOp::ApiKey { op, now, reply } => match api_key(api_keys, &op, now) {
            Ok(Ok(changed)) => QueueAnswer::Key(reply, changed),
            Ok(Err(refused)) => QueueAnswer::Failed(QueueFailed::Key(reply, refused)),
            Err(e) => QueueAnswer::Failed(QueueFailed::Key(reply, err(e))),
        },
        // Handled by the batch with the message tables it needs (see `write_batch`).
        QueueOp::Purge { reply, .. } => QueueAnswer::Failed(QueueFailed::Purged(
            reply,
            SpoolError::Database("a purge request reached the queue's dispatch".into()),
        )),
        QueueOp::Pull { reply, .. } => QueueAnswer::Failed(QueueFailed::Pulled(
            reply,
            SpoolError::Database("a pull request reached the queue's dispatch".into()),
        )),
        QueueOp::Manage { reply, .. } => QueueAnswer::Failed(QueueFailed::Managed(
            reply,
            SpoolError::Database("a manage request reached the queue's dispatch".into()),
        )),
    }
}

impl QueueAnswer {
    /// Whether the answer put something in the queue that a waiting dispatcher should see
    /// (`None`: nothing to tell).
    fn changes_queue(&self) -> Option<bool> {
        match self {
            QueueAnswer::Reoffered(_, n) => Some(*n > 0),
            QueueAnswer::Settled(_) => Some(true),
            _ => None,
        }
    }
}

/// The index tables, open in the batch's write transaction.
struct Indexes<'txn> {
    duplicates: redb::Table<'txn, &'static str, (&'static str, u32, u64)>,
    resends: redb::Table<'txn, &'static str, &'static str>,
    sellers: redb::Table<'txn, &'static str, &'static str>,
}

/// Looks the message up in the resend index and each of its ready documents in the
/// duplicate index, marking what is found and inserting what is new. Rejected messages and
/// documents are neither looked up nor inserted. Returns whether the record changed.
fn check_indexes(
    indexes: &mut Indexes<'_>,
    record: &mut MessageRecord,
) -> Result<bool, redb::StorageError> {
    if record.status.is_rejected() {
        return Ok(false);
    }
    let id = record.id.as_str();
    let mut found = Vec::new();
    if let Some(header) = &record.header_message_id {
        let key = schema::resend_key(header, &record.sha256);
        let earlier = indexes
            .resends
            .get(key.as_str())?
            .map(|v| v.value().to_owned());
        match earlier {
            Some(earlier) => {
                found.push(format!("resend of {earlier}"));
                record.resend_of = Some(MessageId(earlier));
            }
            None => {
                indexes.resends.insert(key.as_str(), id)?;
            }
        }
    }
    let received_ms = unix_millis(record.received_at);
    for doc in &mut record.documents {
        let Some(key) = doc.duplicate_key.as_deref() else {
            continue;
        };
        if !doc.status.is_ready() {
            continue;
        }
        let first = indexes.duplicates.get(key)?.map(|v| {
            let (message, document, ms) = v.value();
            DuplicateOf {
                message: MessageId(message.to_owned()),
                document,
                received_at: from_unix_millis(ms),
            }
        });
        match first {
            Some(first) => {
                found.push(format!(
                    "document {}: duplicate of {} document {}",
                    doc.index, first.message, first.document
                ));
                doc.status = DocumentStatus::Duplicate;
                doc.duplicate_of = Some(first);
            }
            None => {
                indexes
                    .duplicates
                    .insert(key, (id, doc.index, received_ms))?;
                // The first sender of a seller's invoices is the one others are compared with
                // (the gateway's seller-claim finding); later ones do not replace it.
                if let Some((seller, sender)) = crate::invoice::identity::seller_claim(key)
                    && indexes.sellers.get(seller.as_str())?.is_none()
                {
                    indexes.sellers.insert(seller.as_str(), sender.as_str())?;
                }
            }
        }
    }
    if found.is_empty() {
        return Ok(false);
    }
    // Before the last event, "stored", added before queuing (its time is the batch's).
    let at = record.events.last().map_or(record.received_at, |e| e.at);
    let stored = record.events.pop();
    record
        .events
        .extend(found.into_iter().map(|what| Event { at, what }));
    record.events.extend(stored);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// A record as `prepare` builds it, its last event [`STORED_EVENT`] at `at`.
    fn record(at: SystemTime) -> MessageRecord {
        MessageRecord {
            id: MessageId("20261122T101530Z-000001".into()),
            received_at: at,
            peer: "127.0.0.1:1".into(),
            helo: "h\"\\}]".into(),
            mail_from: "a@b.test".into(),
            rcpt_to: vec!["c@d.test".into()],
            header_message_id: Some("<1@b.test>".into()),
            header_from: None,
            tls: None,
            auth: None,
            notice: None,
            size: 4,
            sha256: "00".into(),
            status: MessageStatus::Accepted,
            resend_of: None,
            body_store: Blob::Database,
            documents: Vec::new(),
            ignored: Vec::new(),
            events: vec![
                Event {
                    at,
                    what: "received".into(),
                },
                Event {
                    at,
                    what: STORED_EVENT.into(),
                },
            ],
            deleted_at: None,
        }
    }

    fn prepared(record: MessageRecord) -> Prepared {
        let json = encode(&record).unwrap();
        let stored_time = stored_time_range(&record, &json);
        Prepared {
            record,
            json,
            stored_time,
            inline_body: None,
            inline_xml: Vec::new(),
            inline_pdf: Vec::new(),
            files: Vec::new(),
            deliver: Vec::new(),
            deliver_once: Vec::new(),
            senders: Vec::new(),
        }
    }

    #[test]
    fn the_patched_stored_time_gives_the_same_bytes_as_encoding_again() {
        let queued = UNIX_EPOCH + Duration::from_millis(1_795_342_530_123);
        let mut p = prepared(record(queued));
        assert!(p.stored_time.is_some());
        for now in [
            queued + Duration::from_millis(4),
            UNIX_EPOCH + Duration::from_millis(1_999_999_999_999),
        ] {
            p.set_stored_time(now);
            p.finish(&format_time(now), false).unwrap();
            assert_eq!(p.json, encode(&p.record).unwrap());
            let back: MessageRecord = serde_json::from_slice(&p.json).unwrap();
            assert_eq!(back.events[1].at, now);
            assert_eq!(back, p.record);
        }
    }

    #[test]
    fn a_changed_record_is_encoded_again() {
        let queued = UNIX_EPOCH + Duration::from_secs(1_795_342_530);
        let mut p = prepared(record(queued));
        let now = queued + Duration::from_millis(7);
        p.set_stored_time(now);
        p.record.resend_of = Some(MessageId("20261122T101529Z-000001".into()));
        p.finish(&format_time(now), true).unwrap();
        assert_eq!(p.json, encode(&p.record).unwrap());
        assert_eq!(p.stored_time, None);
    }

    #[test]
    fn a_record_not_ending_in_the_stored_event_is_never_patched() {
        let mut r = record(UNIX_EPOCH);
        r.events.pop();
        let json = encode(&r).unwrap();
        assert_eq!(stored_time_range(&r, &json), None);
    }
}
