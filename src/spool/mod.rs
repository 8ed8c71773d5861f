//! The embedded, durable spool: the only module that opens the database.
// STUB API: owned by the spool helper, who replaces the bodies and may add files.

use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

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
    /// The disk is too full to accept more.
    #[error("spool disk space below the reserve")]
    Full,
    /// The writer is gone (shutting down).
    #[error("spool writer stopped")]
    Closed,
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
}

/// Our id of a stored message (not the Message-ID header).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(pub String);

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The body of a message while it arrives.
pub struct Staging {}

impl Staging {
    /// Appends a chunk.
    ///
    /// # Errors
    /// Disk errors.
    pub fn write(&mut self, _chunk: &[u8]) -> std::io::Result<()> {
        todo!()
    }
    /// Bytes so far.
    pub fn len(&self) -> u64 {
        todo!()
    }
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The whole body (for parsing).
    ///
    /// # Errors
    /// Disk errors.
    pub fn bytes(&self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        todo!()
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
    /// The invoice documents found.
    pub documents: Vec<NewDocument>,
    /// Attachments that are not documents, with the reason.
    pub ignored: Vec<IgnoredAttachment>,
    /// The raw message.
    pub body: Staging,
}

/// One invoice document to store: an XML and its PDF.
pub struct NewDocument {
    /// The receiver address it came in on.
    pub receiver: String,
    /// The organisation id.
    pub organisation: String,
    /// Sanitised XML file name.
    pub xml_name: String,
    /// The XML bytes.
    pub xml: Vec<u8>,
    /// Sanitised PDF file name.
    pub pdf_name: Option<String>,
    /// The PDF bytes.
    pub pdf: Option<Vec<u8>>,
    /// Detected format, e.g. `UBL Invoice`.
    pub format: String,
    /// Invoice number, where found.
    pub invoice_number: Option<String>,
}

/// An attachment kept only in the raw message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IgnoredAttachment {
    /// Sanitised name.
    pub name: String,
    /// Why it is not a document.
    pub reason: String,
}

/// A stored message as shown by `spool list/show`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Our id.
    pub id: MessageId,
}

/// The spool handle.
#[derive(Clone)]
pub struct Spool {}

impl Spool {
    /// Opens (creating) the spool and starts its writer.
    ///
    /// # Errors
    /// I/O or database errors, or [`SpoolError::Locked`].
    pub fn open(_opts: &SpoolOptions) -> Result<Spool, SpoolError> {
        todo!()
    }
    /// A fresh staging buffer.
    ///
    /// # Errors
    /// [`SpoolError::Full`] below the reserve.
    pub fn staging(&self) -> Result<Staging, SpoolError> {
        todo!()
    }
    /// Stores a message durably; returns once fsynced.
    ///
    /// # Errors
    /// Any failure: the outcome is unknown, answer 4xx.
    pub async fn commit(&self, _msg: NewMessage) -> Result<MessageId, SpoolError> {
        todo!()
    }
    /// All messages, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub fn list(&self) -> Result<Vec<MessageRecord>, SpoolError> {
        todo!()
    }
    /// One message.
    ///
    /// # Errors
    /// Database errors.
    pub fn get(&self, _id: &MessageId) -> Result<Option<MessageRecord>, SpoolError> {
        todo!()
    }
    /// The raw message bytes.
    ///
    /// # Errors
    /// Database or I/O errors.
    pub fn raw(&self, _id: &MessageId) -> Result<Option<Vec<u8>>, SpoolError> {
        todo!()
    }
}
