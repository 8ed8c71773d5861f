//! The embedded, durable spool: the only module that opens the database.
//!
//! The gateway streams each body into a [`Staging`], then hands a [`NewMessage`] to
//! [`Spool::commit`] and answers 250 only once that returned `Ok`. The CLI, the control socket
//! ([`control`]) and later delivery read typed [`MessageRecord`]s back. Nothing else in the
//! crate touches redb or the spool directory, and nothing here parses mail or knows SMTP.
//!
//! # Durability: what is fsynced when
//! Layout of `<spool>/`: `spool.redb` (redb 4: records, small bodies and documents),
//! `bodies/` (bodies and documents over `large_body_threshold`, and `*.tmp` staging files),
//! `control.sock`.
//!
//! 1. While DATA arrives a large body is appended to `bodies/<unique>.tmp`; nothing is synced.
//! 2. `commit` first, in its own blocking task (never in the shared writer), fsyncs each large
//!    file and renames it to its final name (`<id>.eml`, `<id>-<n>.xml|pdf`); the writer then
//!    fsyncs `bodies/` once for every file of its batch, before the transaction commits.
//!    So a file is complete and named on disk before any record can point at it.
//! 3. The request goes to the single writer thread, which takes every request waiting at that
//!    moment into one write transaction and commits it with redb's default durability: redb
//!    writes the pages, fsyncs, flips its commit slot and fsyncs again (redb `docs/design.md`).
//!    One fsync pair serves the whole batch (group commit, [`Spool::stats`] counts it).
//! 4. Only after `commit()` returned does each caller get `Ok(id)` and answer 250.
//!
//! Why 250 is safe: after step 3 the record and everything it references are on stable storage,
//! assuming, as redb does, that an fsync that returned means the data survives power loss.
//! A kill -9 or power cut before step 3 completes leaves the previous commit as the state
//! (redb's copy-on-write commit slots are never half-applied); the client got no 250 and
//! retries. Files renamed in step 2 whose record never committed are orphans: start-up removes
//! every `*.tmp` and moves every stored file no record references to `quarantine/`, never
//! deleting it, because it may be the database that is wrong. A new database beside stored
//! files is a lost database, not a new spool: the open fails ([`SpoolError::DatabaseLost`])
//! and `trustgate spool recover` rebuilds the records from the bodies, each of which ends
//! with its envelope ([`envelope`]).
//!
//! "Maybe durable": when `commit()` fails, redb says the transaction may or may not have
//! reached the disk. We answer `Err` (the session sends 451 4.3.0, never 250); the client's retry
//! may then store the message twice, which the indexes below make harmless: the copy is marked
//! a resend and its invoices duplicates, so nothing is delivered twice. After a failed commit redb refuses further writes
//! until reopened, so the writer closes and reopens the database (redb repairs it) and removes
//! the files of messages that turned out not to be stored; if the reopen fails, the next batch
//! retries it, so the spool resumes by itself once the disk recovers.
//!
//! Large documents (XML or PDF over the threshold) take the same path as large bodies: their own
//! fsynced file, so one big attachment never enlarges the shared transaction's fsync.
//!
//! # Duplicates, resends and rejected messages
//! Two indexes live in the same database ([`schema::DUPLICATES`], [`schema::RESENDS`]) and are
//! read and written only by the writer thread, inside the transaction that stores the message,
//! in batch order. So they commit atomically with the record, survive restarts, and of two
//! identical invoices committed at the same moment exactly one is first:
//! - each document with a [`NewDocument::duplicate_key`] and status ready is looked up: found,
//!   it becomes [`DocumentStatus::Duplicate`] with [`DocumentRecord::duplicate_of`] (never
//!   delivered again); not found, the key is inserted. [`Spool::find_duplicate`] reads the same
//!   index before a commit, for receivers that refuse duplicates in the session.
//! - a message with a Message-ID header is looked up by that header and its content hash:
//!   found, it gets [`MessageRecord::resend_of`] and the event `resend of <id>`; else inserted.
//!
//! A message the gateway refused for its content ([`MessageStatus::Rejected`], from a trusted
//! sender) is stored whole, for the admin, but enters neither index, so a corrected resend is
//! neither a resend nor a duplicate; its documents are [`DocumentStatus::Rejected`] or
//! [`DocumentStatus::Withheld`], never ready.
//!
//! Only one process may open the database (redb locks the file), so `trustgate spool` asks the
//! running daemon over `control.sock` and opens the store itself only when no daemon answers.

pub mod apikeys;
pub mod envelope;
mod fault;
pub mod filter;
mod id;
pub mod pull;
mod queue;
pub mod retention;
pub mod schema;
pub mod senders;
mod staging;
mod store;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub use fault::FaultInjector;
pub use filter::{Filter, StatusFilter};
pub use queue::{AttemptRecord, DeliveryRecord, DeliveryState, Job, Reoffer, Settlement};
pub use senders::{SenderChange, SenderKey, SenderRecord, SenderState};
pub use staging::{Shift, Staging};
pub use store::Blob;
pub use writer::{Manage, Managed, Purged};

use id::IdGen;
use store::Shared;

/// How many commit requests may wait for the writer; a full queue makes `commit` wait.
const COMMIT_QUEUE: usize = 256;

/// How many delivery-queue requests may wait for the writer.
const QUEUE_REQUESTS: usize = 1024;

/// Errors of the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// An I/O error on a spool file.
    #[error("spool i/o error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database reported an error.
    #[error("spool database error: {0}")]
    Database(String),
    /// Another process holds the database.
    #[error("the spool at {0} is in use by another process")]
    Locked(PathBuf),
    /// A read-only open found a database that must be repaired first (after a crash); a
    /// writable open ([`Spool::open`]) repairs it.
    #[error("the spool at {0} needs recovery, which a writable open does")]
    NeedsRecovery(PathBuf),
    /// The disk is too full to accept more.
    #[error("spool disk space below the reserve")]
    Full,
    /// The writer is gone (shutting down).
    #[error("spool writer stopped")]
    Closed,
    /// The database is new (missing, empty, or never initialised) but the spool holds stored
    /// messages: the database was lost, and starting would orphan acknowledged mail.
    #[error(
        "the spool database {}/spool.redb is missing or empty, but the spool holds {files} stored file(s) in bodies/ or quarantine/; \
         refusing to start so that no accepted message is lost. With the daemon stopped, run \
         `trustgate spool recover --config <your config>` to rebuild the database from those files \
         (or restore spool.redb from a backup)",
        dir.display()
    )]
    DatabaseLost {
        /// The spool directory.
        dir: PathBuf,
        /// How many stored files it holds.
        files: u64,
    },
}

impl SpoolError {
    /// Whether the cause is a full disk (the reserve, or ENOSPC/EDQUOT on a write): answer
    /// `452 4.3.1` rather than `451 4.3.0`.
    pub fn is_full(&self) -> bool {
        match self {
            SpoolError::Full => true,
            SpoolError::Io { source, .. } => is_disk_full(source),
            _ => false,
        }
    }

    /// Whether this error at start-up needs an administrator (a damaged or lost database, an
    /// unsupported format): restarting cannot help, so the daemon exits with EX_CONFIG (78)
    /// and systemd does not restart it (`RestartPreventExitStatus=78`).
    pub fn needs_admin(&self) -> bool {
        match self {
            SpoolError::Database(_)
            | SpoolError::DatabaseLost { .. }
            | SpoolError::NeedsRecovery(_) => true,
            // redb reports a file that is not (or no longer) a database as invalid data.
            SpoolError::Io { source, .. } => source.kind() == std::io::ErrorKind::InvalidData,
            _ => false,
        }
    }

    /// A copy of this error, for answering every ticket of a failed batch.
    fn duplicate(&self) -> SpoolError {
        match self {
            SpoolError::Io { path, source } => {
                let source = match source.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(source.kind(), source.to_string()),
                };
                SpoolError::Io {
                    path: path.clone(),
                    source,
                }
            }
            SpoolError::Database(s) => SpoolError::Database(s.clone()),
            SpoolError::Locked(p) => SpoolError::Locked(p.clone()),
            SpoolError::NeedsRecovery(p) => SpoolError::NeedsRecovery(p.clone()),
            SpoolError::Full => SpoolError::Full,
            SpoolError::Closed => SpoolError::Closed,
            SpoolError::DatabaseLost { dir, files } => SpoolError::DatabaseLost {
                dir: dir.clone(),
                files: *files,
            },
        }
    }
}

/// Whether an I/O error means the disk (or the quota) is full: a [`Staging::write`] error for
/// which the session answers `452 4.3.1`.
pub fn is_disk_full(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// How to open the spool.
#[derive(Debug, Clone)]
pub struct SpoolOptions {
    /// The spool directory.
    pub path: PathBuf,
    /// Bodies larger than this are written to their own file.
    pub large_body_threshold: u64,
    /// Free space reserve in bytes.
    pub min_free_space: u64,
    /// Open a spool whose database was lost, to rebuild it (`trustgate spool recover`):
    /// a new database beside stored files is not an error, and every file no record names is
    /// moved to `quarantine/`.
    pub recovering: bool,
    /// redb's page cache in bytes (`[spool] cache_size`).
    pub cache_size: u64,
}

impl SpoolOptions {
    /// The defaults (1 MiB threshold, no reserve) for the spool at `path`; used by the CLI,
    /// which only reads.
    pub fn new(path: impl Into<PathBuf>) -> SpoolOptions {
        SpoolOptions {
            path: path.into(),
            large_body_threshold: 1024 * 1024,
            min_free_space: 0,
            recovering: false,
            cache_size: store::CACHE_SIZE as u64,
        }
    }
}

/// Our id of a stored message (not the Message-ID header): `20261122T101530Z-000001`.
///
/// Sorts by time as a string, unique across restarts, only `[A-Za-z0-9-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(pub String);

impl MessageId {
    /// The longest id [`MessageId::parse`] accepts.
    pub const MAX_LEN: usize = 64;

    /// An id typed by an admin or sent over the control socket: `None` unless it is 1 to
    /// [`MessageId::MAX_LEN`] characters of `[A-Za-z0-9-]`. (It need not exist.)
    pub fn parse(s: &str) -> Option<MessageId> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ok.then(|| MessageId(s.to_owned()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message to store.
pub struct NewMessage {
    /// When DATA ended.
    pub received_at: SystemTime,
    /// Client IP:port.
    pub peer: String,
    /// EHLO argument.
    pub helo: String,
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt_to: Vec<String>,
    /// The Message-ID header, if any.
    pub header_message_id: Option<String>,
    /// The address of the header From (checked against the trusted senders), if known.
    pub header_from: Option<String>,
    /// The session's TLS version and cipher, when it ran over TLS.
    pub tls: Option<String>,
    /// What authenticated the sender (SPF, DKIM, DMARC, ARC), when the checks ran.
    pub auth: Option<crate::policy::auth::AuthRecord>,
    /// The notice to the supplier's contact about this message, if one goes out (queued for
    /// the `notices` sink through `deliver_message`).
    pub notice: Option<NoticeRecord>,
    /// Sinks that take the whole message: a document's `deliver` may name them, but each is
    /// queued once per message, at the first document that lists it and is still ready after
    /// the duplicate index (so a duplicate first document does not cost the message its
    /// forward).
    pub deliver_once: Vec<String>,
    /// Sinks that get the whole message without any document (the forward of postmaster
    /// mail), queued under the index [`WHOLE_MESSAGE`].
    pub deliver_message: Vec<String>,
    /// What storing the message does to trusted senders' lifecycles: an invitation queued, an
    /// invoice accepted (the first makes its sender active). Applied by the writer in the
    /// transaction that stores the message, with its id.
    pub senders: Vec<SenderUpdate>,
    /// The invoice documents found.
    pub documents: Vec<NewDocument>,
    /// Attachments that are not documents, with the reason.
    pub ignored: Vec<IgnoredAttachment>,
    /// The raw message.
    pub body: Staging,
    /// Whether the gateway accepted the message (answered 250) or refused its content (a
    /// trusted sender's invalid invoice, kept so an admin can answer "why was it refused?").
    pub status: MessageStatus,
}

/// What storing a message means for one trusted sender (see [`NewMessage::senders`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderUpdate {
    /// The message is an invitation to the sender's contact.
    Invitation(SenderKey),
    /// The message brought an invoice from the sender; counts only if the message is accepted.
    Invoice(SenderKey),
}

/// One invoice document to store: an XML and its PDF.
pub struct NewDocument {
    /// The receiver address it came in on.
    pub receiver: String,
    /// The sinks it goes to (from the config's `deliver` lists): a delivery per sink is queued
    /// in the transaction that stores the message, if the document is ready (not a
    /// duplicate, not rejected). Empty: it waits in the spool, `ready`, for the pull API.
    pub deliver: Vec<String>,
    /// The organisation id.
    pub organisation: String,
    /// Sanitised XML file name.
    pub xml_name: String,
    /// The XML bytes. A document kept in the raw message (`source` set) may leave them, and
    /// `pdf`, empty in every record after the first of its source: they are sized and hashed
    /// once per source.
    pub xml: Vec<u8>,
    /// Sanitised PDF file name.
    pub pdf_name: Option<String>,
    /// The PDF bytes.
    pub pdf: Option<Vec<u8>>,
    /// The syntax's id, e.g. `ubl-invoice` ([`crate::invoice::Syntax::id`]).
    pub format: String,
    /// Invoice number, where found.
    pub invoice_number: Option<String>,
    /// The invoice's duplicate key (seller + number + issue date + document type, for the
    /// organisation), built by the gateway; `None` when it cannot be checked (e.g. no invoice
    /// number). See [`Spool::find_duplicate`].
    pub duplicate_key: Option<String>,
    /// The full inspection report (JSON), kept with the record so `spool show` can print the
    /// rule findings.
    pub report: Option<serde_json::Value>,
    /// The specification's id, e.g. `si-ubl-2.0` ([`crate::invoice::Specification::id`]).
    pub specification: Option<String>,
    /// The document's position among the documents intake finds in the raw message. When set,
    /// the XML and PDF are not stored apart ([`Blob::InMessage`]): `xml` and `pdf` are used
    /// only for their sizes and hashes, and the bytes are decoded again from the raw message
    /// when needed. `None` stores them (documents that do not come from the message as is).
    pub source: Option<u32>,
    /// Where the XML is in the raw message, when it is a part of its own there (kept with the
    /// record so delivery can decode it without parsing the message).
    pub xml_at: Option<PartAt>,
    /// Where the PDF is in the raw message, likewise.
    pub pdf_at: Option<PartAt>,
    /// Which pairing rule gave the XML its PDF (`same-name`, `invoice-number`, `only-pair`,
    /// `embedded-in-xml`, `hybrid-pdf`), when it has one.
    pub paired_by: Option<String>,
    /// A status decided by the gateway (e.g. [`DocumentStatus::Rejected`]); `None` lets the
    /// spool decide between [`DocumentStatus::Ready`] and [`DocumentStatus::Duplicate`].
    pub status: Option<DocumentStatus>,
    /// The zip or gzip attachment the XML was taken from, if any.
    pub xml_archive: Option<ArchiveEntry>,
    /// The zip or gzip attachment the PDF was taken from, if any.
    pub pdf_archive: Option<ArchiveEntry>,
}

/// Where a document's file was in the message when it came inside an archive: the archive
/// attachment's name and the file's name in it, both sanitised (metadata, never paths).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveEntry {
    /// The archive's name, e.g. `INV-1.zip`.
    pub archive: String,
    /// The file's base name inside it, e.g. `INV-1.xml`.
    pub entry: String,
}

/// An attachment kept only in the raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredAttachment {
    /// Sanitised name.
    pub name: String,
    /// Why it is not a document.
    pub reason: String,
}

/// The state of a stored message. In JSON: `"accepted"`, or
/// `{"rejected": {"reply": ..., "reason": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Stored and answered 250.
    Accepted,
    /// Refused for its content (answered with `reply`) but stored, with its body and
    /// documents, so an admin can see why. Never delivered; never in the resend index.
    Rejected {
        /// The SMTP reply text sent to the client.
        reply: String,
        /// The specific reason (logged, never sent), e.g. `invoice_invalid`.
        reason: String,
    },
    /// Written by trustgate itself, not received: an invitation to a supplier contact
    /// (`trustgate invite`), queued for the built-in `notices` sink.
    Outgoing,
}

impl MessageStatus {
    /// Whether the message was refused.
    pub fn is_rejected(&self) -> bool {
        matches!(self, MessageStatus::Rejected { .. })
    }
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MessageStatus::Accepted => "accepted",
            MessageStatus::Rejected { .. } => "rejected",
            MessageStatus::Outgoing => "outgoing",
        })
    }
}

/// The state of a stored document. In JSON: `"ready"`, `"duplicate"`, or
/// `{"rejected": {"rules": [...]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// Stored, waiting for delivery.
    Ready,
    /// The same invoice was received before ([`DocumentRecord::duplicate_of`]); not delivered
    /// again.
    Duplicate,
    /// Refused: the rule ids (or reasons) it failed. Never delivered, never in the duplicate
    /// index, so a corrected resend is not called a duplicate.
    Rejected {
        /// The failed rule ids, e.g. `["BR-NL-10"]`, or a short reason such as `buyer`.
        rules: Vec<String>,
    },
    /// Not refused itself, but its message was ([`MessageStatus::Rejected`]): kept for the
    /// record, never delivered, never in the duplicate index. The spool gives this status to
    /// every document of a rejected message that the gateway did not mark rejected, so
    /// [`DocumentStatus::Ready`] always means "to be delivered".
    Withheld,
}

impl DocumentStatus {
    /// Whether the document is to be delivered.
    pub fn is_ready(&self) -> bool {
        matches!(self, DocumentStatus::Ready)
    }
}

impl std::fmt::Display for DocumentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DocumentStatus::Ready => "ready",
            DocumentStatus::Duplicate => "duplicate",
            DocumentStatus::Rejected { .. } => "rejected",
            DocumentStatus::Withheld => "withheld",
        })
    }
}

/// Where an invoice was first received: the answer of [`Spool::find_duplicate`], and
/// [`DocumentRecord::duplicate_of`] of a later copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateOf {
    /// The message that first carried the invoice.
    pub message: MessageId,
    /// The document's index in that message.
    pub document: u32,
    /// When that message was received.
    #[serde(with = "rfc3339")]
    pub received_at: SystemTime,
}

/// Reads a stored syntax as its id, whatever name the record was written with.
fn stored_syntax<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let stored = String::deserialize(d)?;
    Ok(crate::invoice::Syntax::id_of_stored(&stored))
}

/// Reads a stored specification as its id, whatever name the record was written with.
fn stored_specification<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let stored = Option::<String>::deserialize(d)?;
    Ok(stored.map(|s| crate::invoice::Specification::id_of_stored(&s)))
}

/// One document of a stored message (its bytes: [`Spool::document`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// Position in the message, from 0; with the message id it names the document.
    pub index: u32,
    /// The receiver address it came in on.
    pub receiver: String,
    /// The organisation id.
    pub organisation: String,
    /// The syntax's id, e.g. `ubl-invoice` ([`crate::invoice::Syntax::id`]; a record written
    /// with the display name reads as the id).
    #[serde(deserialize_with = "stored_syntax")]
    pub format: String,
    /// Invoice number, where found.
    pub invoice_number: Option<String>,
    /// Sanitised XML file name (metadata only, never a path).
    pub xml_name: String,
    /// XML size in bytes.
    pub xml_size: u64,
    /// SHA-256 of the XML, lowercase hex.
    pub xml_sha256: String,
    /// Sanitised PDF file name, if a PDF was paired.
    pub pdf_name: Option<String>,
    /// PDF size in bytes, if any.
    pub pdf_size: Option<u64>,
    /// Delivery state.
    pub status: DocumentStatus,
    /// Where the XML bytes are stored ([`Blob::InMessage`]: decoded from the raw message).
    pub xml_store: Blob,
    /// Where the PDF bytes are stored, if any.
    pub pdf_store: Option<Blob>,
    /// The specification's id, e.g. `si-ubl-2.0`, the value `accept_specifications` uses
    /// ([`crate::invoice::Specification::id`]; a record written with the display name reads
    /// as the id).
    #[serde(default, deserialize_with = "stored_specification")]
    pub specification: Option<String>,
    /// The duplicate key the gateway built, if the invoice could be checked; kept so the
    /// index can be explained (and rebuilt) from the records.
    #[serde(default)]
    pub duplicate_key: Option<String>,
    /// Where the same invoice was first stored, when [`DocumentStatus::Duplicate`].
    #[serde(default)]
    pub duplicate_of: Option<DuplicateOf>,
    /// The full inspection report (findings under `findings`), for "why was it refused?".
    #[serde(default)]
    pub report: Option<serde_json::Value>,
    /// The document's position among the documents intake finds in the raw message, when its
    /// bytes are kept there ([`Blob::InMessage`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<u32>,
    /// SHA-256 of the PDF, lowercase hex, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf_sha256: Option<String>,
    /// Where the XML is in the raw message, when it is a part of its own there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml_at: Option<PartAt>,
    /// Where the PDF is in the raw message, when it is a part of its own there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf_at: Option<PartAt>,
    /// Which pairing rule gave the XML its PDF, when it has one (see `intake::PairedBy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired_by: Option<String>,
    /// The archive the XML came in, when it was taken from a zip or gzip attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml_archive: Option<ArchiveEntry>,
    /// The archive the PDF came in, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf_archive: Option<ArchiveEntry>,
}

/// Where a document's part is in the stored raw message: its body's byte range and whether
/// it is base64. Only a hint for a faster decode: the bytes are checked against the hash
/// recorded at acceptance before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartAt {
    /// Offset of the part's body.
    pub start: u32,
    /// Offset just past it.
    pub end: u32,
    /// Base64 (else the bytes as they are).
    pub base64: bool,
}

/// One line of a message's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// When it happened.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: SystemTime,
    /// What happened, as a short sentence.
    pub what: String,
}

/// A notice to a supplier contact, kept with the message it is about and sent by the
/// built-in `notices` sink (everything it says, so the sink needs nothing else).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeRecord {
    /// Why: a refusal (queued with the message), or a dead letter (queued when a document's
    /// delivery fails for good).
    #[serde(default)]
    pub kind: NoticeKind,
    /// The contact.
    pub to: String,
    /// Who else hears of a dead letter (`[notices] admin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
    /// `nl` or `en`.
    pub language: String,
    /// The receiving address.
    pub receiver: String,
    /// The organisation's name.
    pub organisation: String,
    /// The Subject of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The message's Message-ID, with angle brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// The attachment names.
    #[serde(default)]
    pub files: Vec<String>,
    /// The invoice numbers found.
    #[serde(default)]
    pub invoice_numbers: Vec<String>,
    /// The reply given in the session.
    pub reply: String,
    /// Each rule that refused it: id and text.
    #[serde(default)]
    pub rules: Vec<(String, String)>,
    /// For an invitation: what it invites to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation: Option<InvitationFacts>,
}

/// What an invitation says besides the receiver and the organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationFacts {
    /// The trusted sender's name (the supplier).
    pub supplier: String,
    /// The receiver's document type, e.g. `purchase-invoice`.
    pub document_type: String,
    /// Who must send: `domain`, `address` or `verified-users`.
    pub identity: String,
    /// The domain or address (empty for `verified-users`).
    #[serde(default)]
    pub identity_value: String,
}

/// What a [`NoticeRecord`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The message was refused for its content.
    #[default]
    Refused,
    /// An invoice was accepted but could not be delivered.
    Undeliverable,
    /// An invitation to a supplier contact (`trustgate invite`).
    Invitation,
}

/// The document index of a delivery of the whole message, not of a document (the forward of
/// postmaster mail): no document has it.
pub const WHOLE_MESSAGE: u32 = u32::MAX;

/// A stored message as shown by `spool list/show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Our id.
    pub id: MessageId,
    /// When DATA ended.
    #[serde(with = "rfc3339")]
    pub received_at: SystemTime,
    /// Client IP:port.
    pub peer: String,
    /// EHLO/HELO argument.
    pub helo: String,
    /// Envelope sender (empty for the null sender).
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt_to: Vec<String>,
    /// The Message-ID header, if any.
    pub header_message_id: Option<String>,
    /// The address of the header From, as the gateway read it (absent in records of spool
    /// format 1).
    #[serde(default)]
    pub header_from: Option<String>,
    /// The session's TLS version and cipher; absent in clear text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// What authenticated the sender; absent when no check ran (and in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<crate::policy::auth::AuthRecord>,
    /// The notice to the supplier's contact, if one was queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<NoticeRecord>,
    /// Size of the message as stored, our trace fields included, in bytes.
    pub size: u64,
    /// SHA-256 of the message as it arrived (before our trace fields), lowercase hex.
    pub sha256: String,
    /// The message state.
    pub status: MessageStatus,
    /// The earlier message with the same Message-ID header and the same content, when this
    /// one is a resend of it (the client sent it again).
    #[serde(default)]
    pub resend_of: Option<MessageId>,
    /// Where the raw message is stored.
    pub body_store: Blob,
    /// The invoice documents, in message order.
    pub documents: Vec<DocumentRecord>,
    /// Attachments that are not documents, with the reason.
    pub ignored: Vec<IgnoredAttachment>,
    /// What happened to the message, oldest first.
    pub events: Vec<Event>,
    /// When an admin deleted it (`trustgate spool delete`): its body, documents and
    /// deliveries are gone; the record stays, with the event.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub deleted_at: Option<SystemTime>,
}

/// One delivery of a message, for `spool list/show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// The document's index in the message.
    pub document: u32,
    /// The sink's name.
    pub sink: String,
    /// Its state.
    #[serde(flatten)]
    pub record: DeliveryRecord,
}

/// One attempt of a delivery, for `spool show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptView {
    /// The document's index in the message.
    pub document: u32,
    /// The sink's name.
    pub sink: String,
    /// The attempt's number, from 1.
    pub number: u32,
    /// What happened.
    #[serde(flatten)]
    pub record: AttemptRecord,
}

/// The bytes of one stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// The XML.
    pub xml: Vec<u8>,
    /// The paired PDF, if any.
    pub pdf: Option<Vec<u8>>,
}

/// Counters of the writer, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Write transactions committed (each one fsync pair).
    pub transactions: u64,
    /// Messages those transactions stored.
    pub messages: u64,
    /// Write transactions that failed (their messages answered `Err`).
    pub failed_transactions: u64,
    /// Messages answered `Err` by the writer.
    pub failed_messages: u64,
    /// The most messages one transaction stored.
    pub largest_batch: u64,
    /// Staging files (`*.tmp`, never acknowledged) removed at open.
    pub orphans_removed: u64,
    /// Stored files no record names, moved to `quarantine/` at start-up.
    pub quarantined: u64,
}

/// The spool handle; cheap to clone. The writer stops when the last clone is dropped or
/// [`Spool::shutdown`] is called.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

/// What the clones of a [`Spool`] share.
struct Inner {
    /// The database and files, also held by the writer thread.
    shared: Arc<Shared>,
    /// How it was opened.
    opts: SpoolOptions,
    /// Requests to the writer; `None` once shut down or when read-only.
    tx: Mutex<Option<mpsc::Sender<writer::Request>>>,
    /// Delivery-queue requests to the writer; `None` once shut down or when read-only.
    queue_tx: Mutex<Option<mpsc::Sender<writer::Request>>>,
    /// The writer thread, joined at shutdown.
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Ids for new messages.
    ids: Mutex<IdGen>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone, so no commit task is left (each holds a handle): the writer
        // only finishes the batch it has, without needing the runtime; then join it.
        drop(lock(&self.tx).take());
        drop(lock(&self.queue_tx).take());
        if let Some(handle) = lock(&self.writer).take()
            && handle.join().is_err()
        {
            tracing::error!("spool writer thread panicked");
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.inner.opts.path)
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// Opens (creating) the spool and starts its writer: creates the directory (mode 0700),
    /// opens or repairs the database, checks its format version, removes staging files and
    /// moves stored files no record names to `quarantine/`. A new database beside stored files
    /// is refused ([`SpoolError::DatabaseLost`]) unless [`SpoolOptions::recovering`].
    ///
    /// Blocking (file system work); fine at daemon start.
    ///
    /// # Errors
    /// I/O or database errors, or [`SpoolError::Locked`].
    pub fn open(opts: &SpoolOptions) -> Result<Spool, SpoolError> {
        Spool::open_inner(opts, None)
    }

    /// Like [`Spool::open`], with the database and body files behind a [`FaultInjector`], so a
    /// test can make writes and fsyncs fail and see that no commit returns `Ok` meanwhile.
    ///
    /// # Errors
    /// As [`Spool::open`].
    pub fn open_with_faults(
        opts: &SpoolOptions,
        faults: &FaultInjector,
    ) -> Result<Spool, SpoolError> {
        Spool::open_inner(opts, Some(faults.clone()))
    }

    fn open_inner(opts: &SpoolOptions, faults: Option<FaultInjector>) -> Result<Spool, SpoolError> {
        let (shared, last_id) = Shared::open(&opts.path, faults, opts.recovering, opts.cache_size)?;
        let shared = Arc::new(shared);
        let (tx, rx) = mpsc::channel(COMMIT_QUEUE);
        let (queue_tx, queue_rx) = mpsc::channel(QUEUE_REQUESTS);
        let writer_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || writer::run(&writer_shared, rx, queue_rx))
            .map_err(|source| SpoolError::Io {
                path: opts.path.clone(),
                source,
            })?;
        Ok(Spool {
            inner: Arc::new(Inner {
                shared,
                opts: opts.clone(),
                tx: Mutex::new(Some(tx)),
                queue_tx: Mutex::new(Some(queue_tx)),
                writer: Mutex::new(Some(handle)),
                ids: Mutex::new(IdGen::resume(last_id.as_deref(), SystemTime::now())),
            }),
        })
    }

    /// Opens an existing spool for reading only, without a writer and without changing any
    /// file (for the CLI when no daemon runs). While it is open a daemon cannot start.
    ///
    /// # Errors
    /// [`SpoolError::Locked`] when a daemon has it open, [`SpoolError::NeedsRecovery`] after a
    /// crash (then use [`Spool::open`]), I/O errors (`NotFound` when there is no spool).
    pub fn open_read_only(path: &Path) -> Result<Spool, SpoolError> {
        let shared = Shared::open_read_only(path)?;
        Ok(Spool {
            inner: Arc::new(Inner {
                shared: Arc::new(shared),
                opts: SpoolOptions::new(path),
                tx: Mutex::new(None),
                queue_tx: Mutex::new(None),
                writer: Mutex::new(None),
                ids: Mutex::new(IdGen::after(None)),
            }),
        })
    }

    /// The spool directory.
    pub fn path(&self) -> &Path {
        &self.inner.opts.path
    }

    /// Where the daemon's control socket lives: `<spool>/control.sock`.
    pub fn control_socket_path(&self) -> PathBuf {
        control_socket_path(self.path())
    }

    /// A fresh staging buffer.
    ///
    /// # Errors
    /// [`SpoolError::Full`] below the reserve, [`SpoolError::Closed`] after shutdown or on a
    /// read-only spool, an I/O error if free space cannot be read.
    pub fn staging(&self) -> Result<Staging, SpoolError> {
        if lock(&self.inner.tx).is_none() {
            return Err(SpoolError::Closed);
        }
        if self.free_space()? < self.inner.opts.min_free_space {
            return Err(SpoolError::Full);
        }
        Ok(Staging::new(
            self.inner.shared.bodies_dir.clone(),
            self.inner.opts.large_body_threshold,
            self.inner.shared.faults.clone(),
        ))
    }

    /// Free bytes in the spool's file system for an unprivileged writer.
    ///
    /// # Errors
    /// The `statvfs` error.
    pub fn free_space(&self) -> Result<u64, SpoolError> {
        let path = self.path();
        let stat = rustix::fs::statvfs(path).map_err(|e| SpoolError::Io {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// Stores a message durably; returns its id once the record, the body and the documents
    /// are fsynced (see the module docs).
    ///
    /// Needs a tokio runtime. The work runs in a task of its own, so dropping this future does
    /// not stop it: the message is then stored (or not) all the same, only the answer is lost.
    ///
    /// # Errors
    /// Any failure: the outcome is unknown ("maybe durable"), answer 4xx
    /// ([`SpoolError::is_full`] tells 452 from 451).
    ///
    /// # Cancel safety
    /// Safe to drop, as above; never race it against shutdown in a `select!`, or the client
    /// misses a 250 for a stored message.
    pub async fn commit(&self, msg: NewMessage) -> Result<MessageId, SpoolError> {
        let id = self.new_id();
        self.commit_as(id, msg).await
    }

    /// A fresh message id, for a message whose trace fields name it before it is committed
    /// with [`Spool::commit_as`].
    pub fn new_id(&self) -> MessageId {
        lock(&self.inner.ids).next(SystemTime::now())
    }

    /// [`Spool::commit`] under an id from [`Spool::new_id`].
    ///
    /// # Errors
    /// As [`Spool::commit`].
    pub async fn commit_as(&self, id: MessageId, msg: NewMessage) -> Result<MessageId, SpoolError> {
        let tx = lock(&self.inner.tx).clone().ok_or(SpoolError::Closed)?;
        let shared = Arc::clone(&self.inner.shared);
        let threshold = self.inner.opts.large_body_threshold;
        let span = tracing::Span::current();
        // The task holds a handle, so the last handle is never dropped (and the writer never
        // joined) while a commit still needs the runtime to reach the writer.
        let handle = self.clone();
        let task = tokio::spawn(tracing::Instrument::instrument(
            async move {
                let started = std::time::Instant::now();
                let result = writer::commit(shared, tx, id, msg, threshold, None).await;
                if result.is_ok() {
                    crate::observe::commit(started.elapsed());
                }
                drop(handle);
                result
            },
            span,
        ));
        task.await
            .map_err(|err| SpoolError::Database(format!("commit task failed: {err}")))?
    }

    /// Stores a message rebuilt by `trustgate spool recover` under its original `id`, with
    /// `note` in its event log. The caller removes the file it came from only after this
    /// returned `Ok`, so a crash during recovery loses nothing either.
    ///
    /// # Errors
    /// As [`Spool::commit`]; [`SpoolError::Database`] when a record with this id exists.
    pub async fn commit_recovered(
        &self,
        id: MessageId,
        msg: NewMessage,
        note: String,
    ) -> Result<MessageId, SpoolError> {
        if self.get(&id)?.is_some() {
            return Err(SpoolError::Database(format!(
                "a message {id} is already stored"
            )));
        }
        let tx = lock(&self.inner.tx).clone().ok_or(SpoolError::Closed)?;
        let shared = Arc::clone(&self.inner.shared);
        let threshold = self.inner.opts.large_body_threshold;
        writer::commit(shared, tx, id, msg, threshold, Some(note)).await
    }

    /// The files in `<spool>/quarantine/` (stored files no record named at start-up), by
    /// name.
    ///
    /// # Errors
    /// I/O errors other than a missing folder.
    pub fn quarantined(&self) -> Result<Vec<PathBuf>, SpoolError> {
        let dir = self.path().join(schema::QUARANTINE_DIR);
        let mut files = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(|source| SpoolError::Io {
                        path: dir.clone(),
                        source,
                    })?;
                    if entry.file_type().is_ok_and(|t| t.is_file()) {
                        files.push(entry.path());
                    }
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(SpoolError::Io { path: dir, source }),
        }
        files.sort();
        Ok(files)
    }

    /// All messages, oldest first. Records that cannot be decoded are skipped with a warning.
    ///
    /// Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// Database errors.
    pub fn list(&self) -> Result<Vec<MessageRecord>, SpoolError> {
        self.inner.shared.list()
    }

    /// One message.
    ///
    /// Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// Database errors, or a record that cannot be decoded.
    pub fn get(&self, id: &MessageId) -> Result<Option<MessageRecord>, SpoolError> {
        self.inner.shared.get(id.as_str())
    }

    /// Where the invoice with this duplicate key was first stored, if it was: for a receiver
    /// that refuses duplicates in the session, asked before [`Spool::commit`].
    ///
    /// A read, so it races with concurrent commits: two identical invoices sent at the same
    /// moment may both find nothing here. The commit itself decides atomically which one is
    /// first, so the later one is then stored with [`DocumentStatus::Duplicate`] (and answered
    /// 250) instead of being refused: never delivered twice, only not refused.
    ///
    /// Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// Database errors.
    pub fn find_duplicate(&self, key: &str) -> Result<Option<DuplicateOf>, SpoolError> {
        self.inner.shared.find_duplicate(key)
    }

    /// The message stored earlier with this Message-ID header and these bytes as received
    /// (`sha256` of the body before our trace fields): a client sending again a message whose
    /// 250 it never saw.
    ///
    /// # Errors
    /// Database errors.
    pub fn find_resend(
        &self,
        header_message_id: &str,
        sha256: &[u8; 32],
    ) -> Result<Option<MessageId>, SpoolError> {
        self.inner
            .shared
            .find_resend(&schema::resend_key(header_message_id, &hex(sha256)))
    }

    /// The trusted-sender entry that has sent for a seller so far (`seller`: the first part of
    /// `invoice::identity::seller_claim`), recorded with the first ready invoice that claimed
    /// it.
    ///
    /// # Errors
    /// Database errors.
    pub fn seller_sender(&self, seller: &str) -> Result<Option<String>, SpoolError> {
        self.inner.shared.seller_sender(seller)
    }

    /// The raw message bytes, from the database or from their file.
    ///
    /// Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// Database or I/O errors (including a body file that is missing).
    pub fn raw(&self, id: &MessageId) -> Result<Option<Vec<u8>>, SpoolError> {
        match self.get(id)? {
            Some(record) if record.deleted_at.is_some() => Ok(None),
            Some(record) => {
                let mut raw = self
                    .inner
                    .shared
                    .read_blob(&record.body_store, store::Part::Body(id.as_str()))?;
                // A body file ends with its envelope trailer (`envelope`): the message is the
                // record's `size` bytes before it.
                let size = usize::try_from(record.size).unwrap_or(usize::MAX);
                if raw.len() < size {
                    return Err(SpoolError::Database(format!(
                        "the body of {id} is {} bytes on disk, shorter than the {size} received",
                        raw.len()
                    )));
                }
                raw.truncate(size);
                Ok(Some(raw))
            }
            None => Ok(None),
        }
    }

    /// The XML and PDF bytes of document `index` of message `id`.
    ///
    /// Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// Database or I/O errors.
    pub fn document(
        &self,
        id: &MessageId,
        index: u32,
    ) -> Result<Option<StoredDocument>, SpoolError> {
        let Some(record) = self.get(id)?.filter(|r| r.deleted_at.is_none()) else {
            return Ok(None);
        };
        let Some(doc) = record.documents.iter().find(|d| d.index == index) else {
            return Ok(None);
        };
        let shared = &self.inner.shared;
        let xml = shared.read_blob(&doc.xml_store, store::Part::Xml(id.as_str(), index))?;
        let pdf = match &doc.pdf_store {
            Some(blob) => Some(shared.read_blob(blob, store::Part::Pdf(id.as_str(), index))?),
            None => None,
        };
        Ok(Some(StoredDocument { xml, pdf }))
    }

    /// One page of messages, oldest first: at most `limit` records that match `filter` with
    /// ids after `after` (from the start when `None`), and the cursor of the next page (`None`
    /// at the end). A page reads at most [`store::MAX_SCAN`] records, so a filtered page may
    /// hold fewer than `limit` and still have a next one. Records that cannot be decoded are
    /// skipped with a warning.
    ///
    /// Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// Database errors.
    pub fn list_page(
        &self,
        after: Option<&MessageId>,
        limit: usize,
        filter: &Filter,
    ) -> Result<(Vec<MessageRecord>, Option<MessageId>), SpoolError> {
        self.inner
            .shared
            .list_page(after.map(MessageId::as_str), limit, filter)
    }

    /// Every delivery of message `id`: (document index, sink, state), by document then sink.
    ///
    /// Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// Database errors.
    pub fn deliveries(&self, id: &MessageId) -> Result<Vec<DeliveryView>, SpoolError> {
        self.inner.shared.deliveries(id.as_str())
    }

    /// Every attempt at delivering message `id`'s documents, by document, sink and number.
    ///
    /// Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// Database errors.
    pub fn attempts(&self, id: &MessageId) -> Result<Vec<AttemptView>, SpoolError> {
        self.inner.shared.attempts(id.as_str())
    }

    /// When the earliest delivery of `sink` is due (pending, or in flight until its lease
    /// expires), if it has any.
    ///
    /// Blocking: call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// Database errors.
    pub fn next_due(&self, sink: &str) -> Result<Option<SystemTime>, SpoolError> {
        self.inner.shared.next_due(sink)
    }

    /// Claims up to `limit` deliveries of `sink` that are due now; each is in flight until
    /// `lease` has passed (then it is due again, for a worker that died).
    ///
    /// # Errors
    /// [`SpoolError::Closed`] after shutdown; database errors.
    pub async fn claim(
        &self,
        sink: &str,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<Job>, SpoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue_request(writer::QueueOp::Claim {
            sink: sink.to_owned(),
            now: SystemTime::now(),
            limit,
            lease,
            reply,
        })
        .await?;
        answer.await.unwrap_or(Err(SpoolError::Closed))
    }

    /// Stores how an attempt of `job` ended (durably, before returning).
    ///
    /// # Errors
    /// [`SpoolError::Closed`] after shutdown; database errors. Then the claim's lease runs
    /// out and the delivery is tried again: at least once, never lost.
    pub async fn settle(
        &self,
        job: Job,
        settlement: Settlement,
        elapsed: std::time::Duration,
    ) -> Result<(), SpoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue_request(writer::QueueOp::Settle {
            job,
            settlement,
            at: SystemTime::now(),
            elapsed,
            reply,
        })
        .await?;
        answer.await.unwrap_or(Err(SpoolError::Closed))
    }

    /// Re-offers the deliveries `selection` names (`spool retry`); returns how many were
    /// queued or put back in the queue.
    ///
    /// # Errors
    /// [`SpoolError::Closed`] after shutdown or on a read-only spool; database errors.
    pub async fn reoffer(&self, selection: Reoffer) -> Result<u64, SpoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let logged = match &selection {
            Reoffer::Message { message, .. } => Some(message.clone()),
            Reoffer::Failed { .. } | Reoffer::Organisation { .. } => None,
        };
        self.queue_request(writer::QueueOp::Reoffer {
            selection,
            now: SystemTime::now(),
            reply,
        })
        .await?;
        let offered = answer.await.unwrap_or(Err(SpoolError::Closed))?;
        match logged {
            Some(mid) => tracing::info!(mid = %mid, deliveries = offered, "deliveries re-offered"),
            None => tracing::info!(deliveries = offered, "deliveries re-offered"),
        }
        Ok(offered)
    }

    /// Changes a trusted sender's lifecycle on its own (`Disable`, `Enable`), durably before
    /// returning; returns its record afterwards. Invitations and first invoices change it in
    /// the transaction that stores their message instead ([`NewMessage::senders`]).
    ///
    /// # Errors
    /// [`SpoolError::Closed`] after shutdown or on a read-only spool; database errors.
    pub async fn change_sender(
        &self,
        key: SenderKey,
        change: SenderChange,
    ) -> Result<SenderRecord, SpoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue_request(writer::QueueOp::Sender {
            key,
            change,
            now: SystemTime::now(),
            reply,
        })
        .await?;
        answer.await.unwrap_or(Err(SpoolError::Closed))
    }

    /// Holds, releases or deletes a message (`trustgate spool hold|release|delete`), durably
    /// before returning. A deleted message keeps its record (with the event); its body,
    /// documents and deliveries are gone.
    ///
    /// # Errors
    /// [`SpoolError::Closed`] after shutdown or on a read-only spool; database errors.
    pub async fn manage(&self, op: Manage) -> Result<Managed, SpoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (mid, what) = match &op {
            Manage::Hold(id) => (id.clone(), "held"),
            Manage::Release(id) => (id.clone(), "released"),
            Manage::Delete(id) => (id.clone(), "deleted"),
        };
        self.queue_request(writer::QueueOp::Manage {
            op,
            now: SystemTime::now(),
            reply,
        })
        .await?;
        let managed = answer.await.unwrap_or(Err(SpoolError::Closed))?;
        if managed.changed {
            tracing::info!(mid = %mid, "message {what} by the admin");
        }
        Ok(managed)
    }

    /// Records an ERP's acknowledgement of document `document` of `message` (the pull API's
    /// `ack`), durably before returning: the document leaves the pull queue and the message's
    /// event log says so. Idempotent (see [`pull::Acked`]).
    ///
    /// # Errors
    /// [`SpoolError::Closed`] after shutdown or on a read-only spool; database errors.
    pub async fn ack(
        &self,
        message: MessageId,
        document: u32,
        record: pull::AckRecord,
    ) -> Result<pull::Acked, SpoolError> {
        self.pull_request(writer::PullOp::Ack {
            message,
            document,
            record,
        })
        .await
    }

    /// Records a later status from the ERP (booked, paid, disputed …) in the message's event
    /// log, for an acknowledged document; [`pull::Acked::NotPullable`] for any other.
    ///
    /// # Errors
    /// [`SpoolError::Closed`] after shutdown or on a read-only spool; database errors.
    pub async fn erp_status(
        &self,
        message: MessageId,
        document: u32,
        status: String,
        by: String,
    ) -> Result<pull::Acked, SpoolError> {
        self.pull_request(writer::PullOp::Status {
            message,
            document,
            status,
            by,
        })
        .await
    }

    async fn pull_request(&self, op: writer::PullOp) -> Result<pull::Acked, SpoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue_request(writer::QueueOp::Pull {
            op,
            now: SystemTime::now(),
            reply,
        })
        .await?;
        answer.await.unwrap_or(Err(SpoolError::Closed))
    }

    /// Documents waiting for the pull API, by organisation and oldest first within one: of
    /// `organisation`, or of all; after
    /// the cursor `after` (organisation, message, document); at most `limit`. Returns them and
    /// the cursor of the next page.
    ///
    /// # Errors
    /// Database errors.
    pub fn waiting(
        &self,
        organisation: Option<&str>,
        after: Option<&pull::Waiting>,
        limit: usize,
    ) -> Result<(Vec<pull::Waiting>, Option<pull::Waiting>), SpoolError> {
        let filter = Filter {
            organisation: organisation.map(str::to_owned),
            ..Filter::default()
        };
        self.waiting_matching(&filter, after, limit)
    }

    /// [`Spool::waiting`] narrowed by `filter` (the admin API's document list): its
    /// organisation as there; its receiver, sender and time range checked against each
    /// document and its message ([`Filter::matches_document`]); its status ignored. A page
    /// scans a bounded number of entries, so a filtered one may hold fewer than `limit` and
    /// still return a cursor.
    ///
    /// # Errors
    /// Database errors.
    pub fn waiting_matching(
        &self,
        filter: &Filter,
        after: Option<&pull::Waiting>,
        limit: usize,
    ) -> Result<(Vec<pull::Waiting>, Option<pull::Waiting>), SpoolError> {
        self.inner.shared.waiting(filter, after, limit)
    }

    /// The ERP's acknowledgement of a document, if any.
    ///
    /// # Errors
    /// Database errors.
    pub fn ack_of(
        &self,
        message: &MessageId,
        document: u32,
    ) -> Result<Option<pull::AckRecord>, SpoolError> {
        self.inner.shared.ack_of(message.as_str(), document)
    }

    /// Stores a new API key (made by [`apikeys::generate`]), durably before returning.
    ///
    /// # Errors
    /// [`SpoolError::Closed`] after shutdown or on a read-only spool; a client id in use;
    /// database errors.
    pub async fn add_api_key(
        &self,
        client_id: String,
        record: apikeys::ApiKeyRecord,
    ) -> Result<(), SpoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue_request(writer::QueueOp::ApiKey {
            op: writer::KeyOp::Add(client_id, record),
            now: SystemTime::now(),
            reply,
        })
        .await?;
        answer.await.unwrap_or(Err(SpoolError::Closed)).map(|_| ())
    }

    /// Revokes an API key; returns whether there was one not yet revoked.
    ///
    /// # Errors
    /// [`SpoolError::Closed`] after shutdown or on a read-only spool; database errors.
    pub async fn revoke_api_key(&self, client_id: String) -> Result<bool, SpoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue_request(writer::QueueOp::ApiKey {
            op: writer::KeyOp::Revoke(client_id),
            now: SystemTime::now(),
            reply,
        })
        .await?;
        answer.await.unwrap_or(Err(SpoolError::Closed))
    }

    /// Every API key's record, by client id (never a secret: only hashes are kept).
    ///
    /// # Errors
    /// Database errors.
    pub fn api_keys(&self) -> Result<Vec<(String, apikeys::ApiKeyRecord)>, SpoolError> {
        self.inner.shared.api_keys()
    }

    /// Whom a presented key `<client id>.<secret>` speaks for: (client id, scope), or `None`
    /// for a key of the wrong form, unknown, revoked, or with the wrong secret.
    ///
    /// # Errors
    /// Database errors.
    pub fn authenticate_key(
        &self,
        key: &str,
    ) -> Result<Option<(String, apikeys::Scope)>, SpoolError> {
        let Some((id, secret)) = apikeys::split(key) else {
            return Ok(None);
        };
        let Some(record) = self.inner.shared.api_key(id)? else {
            return Ok(None);
        };
        Ok(apikeys::check(&record, secret).then(|| (id.to_owned(), record.scope)))
    }

    /// The deliveries pending or in flight for `sink`, and the earliest due time among them
    /// (for the metrics).
    ///
    /// # Errors
    /// Database errors.
    pub fn queue_stats(&self, sink: &str) -> Result<(u64, Option<SystemTime>), SpoolError> {
        self.inner.shared.queue_stats(sink)
    }

    /// One retention round: removes the messages whose last delivery or refusal ended before
    /// `cutoff`, looking at most at `max_scan` records after `after` in one small transaction
    /// (see [`Purged::next`] for the next round). Pending deliveries and documents waiting
    /// for the pull API are never purged.
    ///
    /// # Errors
    /// [`SpoolError::Closed`] after shutdown or on a read-only spool; database errors.
    pub async fn purge(
        &self,
        cutoff: SystemTime,
        after: Option<String>,
        max_scan: usize,
    ) -> Result<Purged, SpoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue_request(writer::QueueOp::Purge {
            cutoff,
            after,
            max_scan,
            reply,
        })
        .await?;
        let purged = answer.await.unwrap_or(Err(SpoolError::Closed))?;
        // Committed: the files are no record's now. Removed here, on a blocking thread, not on
        // the writer's; a crash before leaves them to start-up's quarantine of unnamed files.
        let paths: Vec<std::path::PathBuf> = purged
            .files
            .iter()
            .filter(|name| schema::is_spool_file_name(name))
            .map(|name| self.inner.shared.bodies_dir.join(name))
            .collect();
        if !paths.is_empty() {
            let _ = tokio::task::spawn_blocking(move || store::remove_files(&paths)).await;
        }
        Ok(purged)
    }

    /// Whether message `id` is on hold.
    ///
    /// # Errors
    /// Database errors.
    pub fn is_held(&self, id: &MessageId) -> Result<bool, SpoolError> {
        self.inner.shared.is_held(id.as_str())
    }

    /// The record of one trusted sender (`None`: pending, nothing happened yet).
    ///
    /// # Errors
    /// Database errors.
    pub fn sender(&self, key: &SenderKey) -> Result<Option<SenderRecord>, SpoolError> {
        self.inner.shared.sender(key)
    }

    /// Every sender record, by key.
    ///
    /// # Errors
    /// Database errors.
    pub fn senders(&self) -> Result<Vec<(SenderKey, SenderRecord)>, SpoolError> {
        self.inner.shared.senders()
    }

    /// A watch that changes whenever a transaction queued, re-offered or rescheduled
    /// deliveries: each sink's dispatcher waits on its own receiver.
    pub fn queue_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.shared.queue_changed.subscribe()
    }

    async fn queue_request(&self, op: writer::QueueOp) -> Result<(), SpoolError> {
        let tx = lock(&self.inner.queue_tx)
            .clone()
            .ok_or(SpoolError::Closed)?;
        tx.send(writer::Request::Queue(op))
            .await
            .map_err(|_| SpoolError::Closed)
    }

    /// The writer's counters.
    pub fn stats(&self) -> SpoolStats {
        let s = &self.inner.shared.stats;
        SpoolStats {
            transactions: s.transactions.load(Ordering::Relaxed),
            messages: s.messages.load(Ordering::Relaxed),
            failed_transactions: s.failed_transactions.load(Ordering::Relaxed),
            failed_messages: s.failed_messages.load(Ordering::Relaxed),
            largest_batch: s.largest_batch.load(Ordering::Relaxed),
            orphans_removed: s.orphans_removed.load(Ordering::Relaxed),
            quarantined: s.quarantined.load(Ordering::Relaxed),
        }
    }

    /// Commit requests waiting for the writer right now (a gauge for metrics).
    pub fn queued(&self) -> usize {
        lock(&self.inner.tx)
            .as_ref()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity())
    }

    /// Stops taking commits, lets the writer commit everything already queued (including
    /// commits still preparing their files), and waits for it to finish. Reads keep working
    /// until the last handle is dropped. Later `commit`/`staging` calls get
    /// [`SpoolError::Closed`]. Idempotent.
    pub async fn shutdown(&self) {
        let spool = self.clone();
        let joined = tokio::task::spawn_blocking(move || spool.shutdown_blocking()).await;
        if joined.is_err() {
            tracing::error!("spool shutdown task failed");
        }
    }

    /// [`Spool::shutdown`] for code outside the async runtime. Never call it on a runtime
    /// thread while commits are in flight: they need the runtime to reach the writer.
    pub fn shutdown_blocking(&self) {
        drop(lock(&self.inner.tx).take());
        drop(lock(&self.inner.queue_tx).take());
        let handle = lock(&self.inner.writer).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("spool writer thread panicked");
        }
    }

    /// Test seam: while the returned guard lives, the writer stops after taking one request, so
    /// a test can queue more and see them committed together.
    #[cfg(test)]
    fn hold_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        lock(&self.inner.shared.gate)
    }

    /// Test seam: how many times the writer reached the gate of [`Spool::hold_writer`].
    #[cfg(test)]
    fn writer_at_gate(&self) -> u64 {
        self.inner.shared.at_gate.load(Ordering::SeqCst)
    }
}

/// How many stored messages and documents the spool directory `spool_dir` holds on disk,
/// whether or not a database names them (for telling a lost database from a new spool).
///
/// # Errors
/// I/O errors reading the directories.
pub fn stored_file_count(spool_dir: &Path) -> Result<u64, SpoolError> {
    store::stored_files(spool_dir)
}

/// `<spool>/control.sock`: where the daemon listens and the CLI asks.
pub fn control_socket_path(spool_dir: &Path) -> PathBuf {
    spool_dir.join(schema::CONTROL_SOCKET)
}

/// `t` as milliseconds since the Unix epoch (0 before it), for index values.
fn unix_millis(t: SystemTime) -> u64 {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The inverse of [`unix_millis`].
fn from_unix_millis(ms: u64) -> SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)
}

/// SHA-256 of `bytes` as the spool records it (lowercase hex): the form of
/// [`DocumentRecord::xml_sha256`] and [`MessageRecord::sha256`], for whoever checks bytes
/// against them.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes))
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The last second humantime can format (9999-12-31T23:59:59Z).
const MAX_UNIX_SECOND: u64 = 253_402_300_799;

/// `t` as RFC 3339 UTC with milliseconds, clamped to the years 1970 to 9999 (humantime panics
/// outside them).
pub fn format_time(t: SystemTime) -> String {
    use std::time::{Duration, UNIX_EPOCH};
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let clamped = since.min(Duration::from_secs(MAX_UNIX_SECOND));
    humantime::format_rfc3339_millis(UNIX_EPOCH + clamped).to_string()
}

/// Serde for times as RFC 3339 UTC with milliseconds, e.g. `2026-11-22T10:15:30.123Z`.
/// Serde for optional times as RFC 3339.
pub(crate) mod rfc3339_opt {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&super::format_time(*t)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| humantime::parse_rfc3339_weak(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
