//! The pull API's queue (issue 12, section 2): documents with no sink wait in the spool,
//! `ready`, until an ERP batch job fetches them and acknowledges each.
//!
//! `pull` holds one entry per waiting document, keyed by its organisation first, so a job's
//! poll is a range scan of its own organisation. The writer inserts the entry in the
//! transaction that stores the message (a ready document whose `deliver` list is empty, still
//! ready after the duplicate index), and removes it when the document is acknowledged
//! ([`ack`]), recording the answer in `acks` and the message's event log. A fetch changes
//! nothing: a document fetched but not acknowledged stays ready, so a job that crashes between
//! the two sees it again. An acknowledgement is idempotent: the same answer again changes
//! nothing and says so; a different one after the first is refused.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::rfc3339;

/// What the ERP says it did with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// Imported into the ERP.
    Imported,
    /// The ERP could not import it (the reason says why).
    Failed,
}

impl AckStatus {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            AckStatus::Imported => "imported",
            AckStatus::Failed => "failed",
        }
    }
}

/// The stored acknowledgement of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AckRecord {
    /// What the ERP did.
    pub status: AckStatus,
    /// Why it failed, for `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: SystemTime,
    /// The API key's client id that acknowledged it.
    pub by: String,
}

/// What [`ack`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acked {
    /// Recorded now.
    Recorded(AckRecord),
    /// The same answer was recorded before: nothing changed.
    Again(AckRecord),
    /// Another answer was recorded before: refused.
    Conflict(AckRecord),
    /// No such document waits for the pull API (unknown, delivered by sinks, or not ready).
    NotPullable,
}

/// One document waiting for the pull API, as a listing gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// The organisation's id.
    pub organisation: String,
    /// The message.
    pub message: String,
    /// The document's index in it.
    pub document: u32,
}

/// The `pull` table: (organisation, message id, document index) -> nothing.
pub(crate) type PullTable<'txn> = redb::Table<'txn, (&'static str, &'static str, u32), ()>;

/// The `acks` table: (message id, document index) -> the JSON of an [`AckRecord`].
pub(crate) type AckTable<'txn> = redb::Table<'txn, (&'static str, u32), &'static [u8]>;

/// Decodes a stored acknowledgement.
pub(crate) fn decode(bytes: &[u8]) -> Result<AckRecord, redb::Error> {
    serde_json::from_slice(bytes).map_err(|e| redb::Error::Corrupted(format!("ack: {e}")))
}

/// Records `record` for document `doc` of `mid` (of `organisation`), unless answered before.
pub(crate) fn ack(
    pull: &mut PullTable<'_>,
    acks: &mut AckTable<'_>,
    organisation: &str,
    mid: &str,
    doc: u32,
    record: &AckRecord,
) -> Result<Acked, redb::Error> {
    use redb::ReadableTable as _;
    if let Some(value) = acks.get((mid, doc))? {
        let before = decode(value.value())?;
        return Ok(if before.status == record.status {
            Acked::Again(before)
        } else {
            Acked::Conflict(before)
        });
    }
    if pull.remove((organisation, mid, doc))?.is_none() {
        return Ok(Acked::NotPullable);
    }
    let json =
        serde_json::to_vec(record).map_err(|e| redb::Error::Corrupted(format!("ack: {e}")))?;
    acks.insert((mid, doc), json.as_slice())?;
    Ok(Acked::Recorded(record.clone()))
}
