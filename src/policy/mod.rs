//! Policy: who may send to which of our addresses.
//!
//! Asked by the [`crate::gateway`] at RCPT (envelope sender) and at end of data (header From).
//! [`directory`] indexes the receivers and their trusted senders from the config; it answers
//! with a [`Refusal`] carrying the reply for the client and a reason for the log.
//!
//! Authentication (SPF, DKIM, DMARC) slots in at end of data as a further check on the trusted
//! identity, next to the header From check, without touching the session code.

pub mod auth;
pub mod directory;
pub mod documents;

pub use directory::Directory;

use crate::smtp::Reply;

/// A refusal: the reply the client gets and the specific reason that is logged (never sent).
#[derive(Debug, Clone)]
pub struct Refusal {
    /// What the client is told.
    pub reply: Reply,
    /// A short machine-friendly reason for logs and metrics, e.g. `unknown_rcpt`.
    pub reason: &'static str,
}
