//! Notices to supplier contacts (issue 11, section 3): why an invoice was refused, or could not
//! be delivered. This is the pure core: what a notice says ([`Notice`], built from the
//! refusal data of `policy`), whether the mail that caused it was automatic and must get none
//! ([`suppress`], RFC 3834), the words in Dutch and English ([`render`], minijinja templates,
//! everything from the mail escaped), and the message itself ([`compose`]: `MAIL FROM:<>`,
//! `Auto-Submitted: auto-replied`, a text and an HTML part). Queueing, the rate cap and the
//! relay are the delivery side's.
//!
//! A notice only ever goes to a registered contact of a trusted sender whose mail was proven:
//! an untrusted or unauthenticated sender is refused in the session, and its own MTA tells it.

pub mod compose;
pub mod render;
pub mod suppress;

pub use crate::config::Language;
use crate::policy::RuleText;

/// Why a notice goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// The message was refused for its content in the session.
    Refused,
    /// The invoice was received but could not be delivered (a dead letter).
    Undeliverable,
}

/// Everything a notice says. Text from the mail (subject, file names, invoice numbers) is kept
/// as received here and escaped by [`render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Why it goes out.
    pub kind: NoticeKind,
    /// The contact's language.
    pub language: Language,
    /// Our message id, which the supplier can quote.
    pub message_id: String,
    /// When the message arrived, RFC 5322 date-time.
    pub received: String,
    /// The receiving address.
    pub receiver: String,
    /// The organisation it belongs to, by name.
    pub organisation: String,
    /// The Subject of the message, if any.
    pub subject: Option<String>,
    /// The attachment file names.
    pub files: Vec<String>,
    /// The invoice numbers found.
    pub invoice_numbers: Vec<String>,
    /// The reply given in the session, for a refusal (the words the supplier's MTA saw).
    pub reply: Option<String>,
    /// Each rule that refused it, with its text.
    pub rules: Vec<RuleText>,
}
