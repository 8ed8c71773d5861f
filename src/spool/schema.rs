//! The spool's on-disk layout: redb table definitions, key encodings, the format version and
//! the names of the files beside the database.
//!
//! Used only inside `spool`. Every key that holds a [`MessageId`](super::MessageId) uses its
//! string form, which sorts by time, so a table scan is oldest first. Never builds a path from
//! anything a client sent: file names come from our own ids.

use redb::{ReadableTable, TableDefinition};

/// The format of the tables below. Bump it, and add a migration in [`migrate`], whenever a
/// table or the JSON of a record changes incompatibly.
///
/// Compatible additions keep the version: a new table is created by [`migrate`] when missing
/// (and readers treat a missing one as empty), and a new record field is `#[serde(default)]`
/// so older records still read. [`DUPLICATES`] and [`RESENDS`] came that way.
pub const FORMAT_VERSION: u64 = 2;

/// `meta`: small settings of the store itself. Holds [`FORMAT_VERSION_KEY`].
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The `meta` key of the format version.
pub const FORMAT_VERSION_KEY: &str = "format_version";

/// `messages`: message id -> the JSON of its [`MessageRecord`](super::MessageRecord).
pub const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("messages");

/// `bodies`: message id -> raw message, for bodies kept inline (at most the threshold).
pub const BODIES: TableDefinition<&str, &[u8]> = TableDefinition::new("bodies");

/// `document_xml`: (message id, document index) -> XML bytes kept inline.
pub const DOCUMENT_XML: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("document_xml");

/// `document_pdf`: (message id, document index) -> PDF bytes kept inline.
pub const DOCUMENT_PDF: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("document_pdf");

/// `duplicates`: an invoice's duplicate key (built by the gateway: seller, invoice number,
/// issue date, document type, organisation) -> where it was first stored: (message id,
/// document index, received time in milliseconds since the Unix epoch).
///
/// Written only by the writer, in the transaction that stores the message, so of two
/// identical invoices exactly one is first. Rejected documents and documents of rejected
/// messages are never inserted, so a corrected resend is not a duplicate.
pub const DUPLICATES: TableDefinition<&str, (&str, u32, u64)> = TableDefinition::new("duplicates");

/// `resends`: [`resend_key`] of a message (its Message-ID header and content hash) -> the id
/// of the first message stored with it. Rejected messages and messages without a Message-ID
/// header are never inserted.
pub const RESENDS: TableDefinition<&str, &str> = TableDefinition::new("resends");

/// Who sends for a seller: organisation + seller identity (from a duplicate key, see
/// `invoice::identity::seller_claim`) → the trusted-sender entry of the first ready invoice
/// that claimed it. Added in place in format 2 (created when missing), like the two above.
pub const SELLERS: TableDefinition<&str, &str> = TableDefinition::new("sellers");

/// `deliveries` (since version 2): (message id, document index, sink name) -> the JSON of its
/// [`DeliveryRecord`](super::DeliveryRecord): the state of that document at that sink. Queued
/// in the transaction that stores the message; attempts never grow the message record.
pub const DELIVERIES: TableDefinition<(&str, u32, &str), &[u8]> =
    TableDefinition::new("deliveries");

/// `due` (since version 2): (sink name, due time in ms since the Unix epoch, message id,
/// document index) -> nothing. One entry per delivery that is pending (at its next attempt
/// time) or in flight (at its lease's expiry, so a crashed worker's claim comes due again).
/// Keyed by sink first, so each sink is its own queue: claiming for one sink is a range scan
/// that never walks another sink's backlog, and a paused sink costs nothing.
pub const DUE: TableDefinition<(&str, u64, &str, u32), ()> = TableDefinition::new("due");

/// `leases` (since version 2): (message id, document index, sink) -> lease expiry (ms) of
/// every delivery in flight. Small (at most the workers' claims); start-up puts every entry
/// back in the queue at once, since no worker of a previous process is alive.
pub const LEASES: TableDefinition<(&str, u32, &str), u64> = TableDefinition::new("leases");

/// `failed` (since version 2): (message id, document index, sink) -> nothing, for every dead
/// letter, so `spool retry --failed` does not scan every delivery.
pub const FAILED: TableDefinition<(&str, u32, &str), ()> = TableDefinition::new("failed");

/// `attempts` (since version 2): (message id, document index, sink, attempt number from 1) ->
/// the JSON of its [`AttemptRecord`](super::AttemptRecord). Append-only history for
/// `spool show`.
pub const ATTEMPTS: TableDefinition<(&str, u32, &str, u32), &[u8]> =
    TableDefinition::new("attempts");

/// `sender_states`: (receiver address, contact address), both lowercase -> the JSON of the
/// trusted sender's [`SenderRecord`](super::senders::SenderRecord): invited, active since its
/// first invoice, disabled. Added in place in format 2 (created when missing; readers treat a
/// missing table as empty: every sender is then `pending`).
pub const SENDER_STATES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("sender_states");

/// `held`: message id -> when an admin put it on hold (ms since the Unix epoch)
/// (`trustgate spool hold`). Its deliveries are `held`, out of `due`, until it is released.
/// Added in place in format 2 (created when missing).
pub const HELD: TableDefinition<&str, u64> = TableDefinition::new("held");

/// `api_keys`: client id -> the JSON of its [`ApiKeyRecord`](super::apikeys::ApiKeyRecord)
/// (scope, the SHA-256 of the secret, created, revoked). Added in place in format 2.
pub const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");

/// `pull`: (organisation id, message id, document index) -> nothing, for every document that
/// waits for the pull API (ready, no sink); removed when the ERP acknowledges it. Added in
/// place in format 2.
pub const PULL: TableDefinition<(&str, &str, u32), ()> = TableDefinition::new("pull");

/// `acks`: (message id, document index) -> the JSON of its
/// [`AckRecord`](super::pull::AckRecord). Added in place in format 2.
pub const ACKS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("acks");

/// The key of [`RESENDS`]: the Message-ID header, a NUL, the SHA-256 of the raw message
/// (lowercase hex). NUL cannot occur in a header, so two different pairs never collide.
pub fn resend_key(header_message_id: &str, sha256_hex: &str) -> String {
    format!("{header_message_id}\0{sha256_hex}")
}

/// The database file inside the spool directory.
pub const DATABASE_FILE: &str = "spool.redb";

/// The directory, inside the spool directory, of bodies and documents stored as files, and of
/// staging files while DATA arrives.
pub const BODIES_DIR: &str = "bodies";

/// The directory, inside the spool directory, of stored files that no record names (moved
/// there at start-up instead of being deleted; `trustgate spool recover` imports them).
pub const QUARANTINE_DIR: &str = "quarantine";

/// The control socket inside the spool directory.
pub const CONTROL_SOCKET: &str = "control.sock";

/// Suffix of a staging file (not yet committed; removed at start-up).
pub const TMP_SUFFIX: &str = ".tmp";

/// File name of a message body stored as a file.
pub fn body_file_name(id: &str) -> String {
    format!("{id}.eml")
}

/// File name of a document's XML stored as a file.
pub fn xml_file_name(id: &str, index: u32) -> String {
    format!("{id}-{index}.xml")
}

/// File name of a document's PDF stored as a file.
pub fn pdf_file_name(id: &str, index: u32) -> String {
    format!("{id}-{index}.pdf")
}

/// Whether `name` looks like a file the spool writes into [`BODIES_DIR`] (and so may remove
/// when nothing references it). Anything else there is left alone.
pub fn is_spool_file_name(name: &str) -> bool {
    [".eml", ".xml", ".pdf", TMP_SUFFIX]
        .iter()
        .any(|s| name.ends_with(s))
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// What [`migrate`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migration {
    /// A new, empty store: the version was written.
    Created,
    /// Already at [`FORMAT_VERSION`].
    Current,
    /// Brought from version 1 to 2: the delivery tables were created. Messages stored before
    /// have no deliveries (there were no sinks); `spool retry --organisation` queues them.
    FromV1,
}

/// Creates the tables and the version key on a new store, checks it on an existing one.
///
/// # Errors
/// Database errors, or a store written by a newer trustgate (`Err(Some(version))`).
pub fn migrate(txn: &redb::WriteTransaction) -> Result<Migration, MigrateError> {
    let mut meta = txn.open_table(META)?;
    let found = meta.get(FORMAT_VERSION_KEY)?.map(|v| v.value());
    let outcome = match found {
        None => {
            meta.insert(FORMAT_VERSION_KEY, FORMAT_VERSION)?;
            Migration::Created
        }
        Some(v) if v == FORMAT_VERSION => Migration::Current,
        // One step at a time: each arm brings the store one version up.
        Some(1) => {
            meta.insert(FORMAT_VERSION_KEY, 2)?;
            Migration::FromV1
        }
        Some(v) => return Err(MigrateError::Unsupported(v)),
    };
    drop(meta);
    txn.open_table(MESSAGES)?;
    txn.open_table(BODIES)?;
    txn.open_table(DOCUMENT_XML)?;
    txn.open_table(DOCUMENT_PDF)?;
    // Added in place at version 1 (see FORMAT_VERSION): created here when missing. Messages
    // stored before they existed are not in them; no deployment predates them.
    txn.open_table(DUPLICATES)?;
    txn.open_table(RESENDS)?;
    txn.open_table(SELLERS)?;
    // Version 2: the delivery queue.
    txn.open_table(DELIVERIES)?;
    txn.open_table(DUE)?;
    txn.open_table(LEASES)?;
    txn.open_table(FAILED)?;
    txn.open_table(ATTEMPTS)?;
    // Added in place in version 2: the senders' lifecycle.
    txn.open_table(SENDER_STATES)?;
    txn.open_table(HELD)?;
    txn.open_table(API_KEYS)?;
    txn.open_table(PULL)?;
    txn.open_table(ACKS)?;
    Ok(outcome)
}

/// Why [`migrate`] failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] redb::Error),
    /// The store has a format this build does not know.
    #[error(
        "spool format version {0} is not supported by this trustgate (it knows {FORMAT_VERSION})"
    )]
    Unsupported(u64),
}

impl From<redb::TableError> for MigrateError {
    fn from(e: redb::TableError) -> Self {
        MigrateError::Database(e.into())
    }
}

impl From<redb::StorageError> for MigrateError {
    fn from(e: redb::StorageError) -> Self {
        MigrateError::Database(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_file_names_are_recognised_and_others_are_not() {
        assert!(is_spool_file_name(&body_file_name(
            "20261122T101530Z-000001"
        )));
        assert!(is_spool_file_name(&xml_file_name(
            "20261122T101530Z-000001",
            3
        )));
        assert!(is_spool_file_name(&pdf_file_name(
            "20261122T101530Z-000001",
            0
        )));
        assert!(is_spool_file_name("123-4.tmp"));
        assert!(!is_spool_file_name("notes.txt"));
        assert!(!is_spool_file_name("a b.eml"));
    }
}
