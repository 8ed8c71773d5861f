//! Mail to supplier contacts (issue 11, sections 2 and 3): notices that say why an invoice was
//! refused or could not be delivered, the digest that replaces them past the rate cap, and the
//! invitation that says where to send invoices and how. This is the pure core: what a notice
//! says ([`Notice`], built from the refusal data of `policy`), what an invitation says
//! ([`Invitation`]), whether the mail that caused a notice was automatic and must get none
//! ([`suppress`], RFC 3834), the words in Dutch and English ([`render`], minijinja templates,
//! built in or from `[notices] templates`, everything from the mail escaped), the rate cap
//! and the digest as a state machine ([`digest`]: no clock, no I/O), and the message itself
//! ([`compose`]: a text and an HTML part, `Auto-Submitted`, `In-Reply-To` for a notice only).
//! Queueing and the relay are the delivery side's (`delivery::sink::notice`).
//!
//! A notice only ever goes to a registered contact of a trusted sender whose mail was proven:
//! an untrusted or unauthenticated sender is refused in the session, and its own MTA tells it.

pub mod compose;
pub mod digest;
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

/// What an invitation says: where the supplier's invoices for one organisation go from now on,
/// who must send them, what is accepted and how to set it up in an ERP (issue 11, section 2).
/// Every string comes from the config (the admin wrote it), and is escaped by [`render`] as
/// mail text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The contact's language (the trusted sender's `language`).
    pub language: Language,
    /// Who gets the invitation: the trusted sender's contact.
    pub contact: String,
    /// The trusted sender's name, e.g. `Supplier B.V.`.
    pub supplier: String,
    /// The receiving address invoices are to be sent to.
    pub receiver: String,
    /// The receiving organisation, by name.
    pub organisation: String,
    /// The receiver's document type, e.g. `purchase-invoice`.
    pub document_type: String,
    /// Which identity must send them.
    pub identity: Identity,
}

/// Which senders a trusted sender entry lets through, in the words of an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Any address at this domain.
    Domain(String),
    /// Exactly this address.
    Address(String),
    /// The receiving organisation's verified users.
    VerifiedUsers,
}

/// What a digest says: the notices that came past one recipient's rate cap, in one message.
/// Built from the notices [`digest::Ledger`] held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The language of the first notice it holds.
    pub language: Language,
    /// The notices, oldest first; at most [`digest::MAX_ITEMS`].
    pub items: Vec<Notice>,
}
