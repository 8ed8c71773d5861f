//! Policy: who may send to which of our addresses.
//!
//! Asked by the [`crate::gateway`] at RCPT (envelope sender) and at end of data (header From).
//! [`directory`] indexes the receivers and their trusted senders from the config; it answers
//! with a [`Refusal`]: data saying what failed, which the gateway turns into a reply. Policy
//! knows nothing of SMTP.
//!
//! [`auth`] is the authentication policy (SPF, DKIM, DMARC, ARC) at end of data, a further
//! check on the trusted identity next to the header From check.

pub mod auth;
pub mod directory;
pub mod documents;

pub use directory::Directory;

use directory::Identity;

/// Why a recipient or a message is refused, as data: what failed ([`RefusalKind`]), whom it
/// concerns, and the rules with their text. Policy never builds an SMTP reply: the gateway maps
/// a refusal to one (`gateway::refusal`), and notices, the spool record and the admin API read
/// the same data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What failed.
    pub kind: RefusalKind,
    /// The receiver address it concerns, when one.
    pub receiver: Option<String>,
    /// The sender identity it concerns (the envelope sender or the header From), when one.
    pub sender: Option<String>,
    /// The rules that refused it, each with its text (content refusals).
    pub rules: Vec<RuleText>,
}

/// A rule id with its text, e.g. `BR-NL-1` and what it requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleText {
    /// The official id (`BR-NL-1`) or ours (`TG-BUYER`).
    pub id: String,
    /// What the rule says, or why it fired.
    pub text: String,
}

/// What failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalKind {
    /// RCPT to an address we do not serve (or another domain: never relayed).
    UnknownRecipient,
    /// The null sender `<>`: never an invoice.
    NullSender,
    /// The identity is not a trusted sender of the receiver.
    UntrustedSender(Identity),
    /// The header From is missing, repeated or ambiguous; the words say how.
    BadHeaderFrom(String),
    /// A sender trusted only over TLS, in clear text.
    TlsRequired,
    /// A trusted sender the receiving organisation disabled (by its name).
    SenderDisabled {
        /// The organisation's name.
        organisation: String,
    },
    /// The trusted identity is not proven (SPF, DKIM, DMARC).
    NotAuthenticated(auth::AuthFailure),
    /// The message cannot be taken apart within the limits; the words say why.
    Unparsable(String),
    /// A header block over the limits.
    HeadersTooLarge,
    /// An invoice file is unsafe to read (DOCTYPE, entities, not well-formed).
    UnsafeXml {
        /// The file name (from the mail: escape it where shown).
        file: String,
        /// Why.
        why: String,
    },
    /// No invoice XML in the message: what was found instead, one "name: what it is" per
    /// attachment (none: the message has no attachment).
    NoInvoiceXml {
        /// The attachments, each with why it is no invoice.
        found: Vec<String>,
    },
    /// Invoices refused by the receivers' rules.
    InvoicesRefused {
        /// Invoices refused.
        refused: usize,
        /// Invoices in the message.
        total: usize,
        /// "number (file): reasons" for each refused invoice.
        details: Vec<String>,
    },
    /// The same invoice is being stored from another session right now (retry).
    DuplicateInFlight {
        /// Its invoice number.
        number: String,
    },
    /// Our own failure (the staged body unreadable, the duplicate index unreadable): retry.
    Internal(&'static str),
}

impl Refusal {
    /// A refusal of `kind` that concerns nobody in particular.
    pub fn new(kind: RefusalKind) -> Refusal {
        Refusal {
            kind,
            receiver: None,
            sender: None,
            rules: Vec::new(),
        }
    }

    /// The same, concerning `receiver`.
    #[must_use]
    pub fn for_receiver(mut self, receiver: impl ToString) -> Refusal {
        self.receiver = Some(receiver.to_string());
        self
    }

    /// The same, concerning `sender`.
    #[must_use]
    pub fn from_sender(mut self, sender: impl ToString) -> Refusal {
        self.sender = Some(sender.to_string());
        self
    }

    /// A short machine-friendly code for logs and metrics, e.g. `unknown_rcpt` (never sent).
    pub fn reason(&self) -> &'static str {
        match &self.kind {
            RefusalKind::UnknownRecipient => "unknown_rcpt",
            RefusalKind::NullSender => "null_sender",
            RefusalKind::UntrustedSender(Identity::EnvelopeSender) => "untrusted_mail_from",
            RefusalKind::UntrustedSender(Identity::HeaderFrom) => "untrusted_header_from",
            RefusalKind::BadHeaderFrom(_) => "bad_header_from",
            RefusalKind::TlsRequired => "tls_required",
            RefusalKind::SenderDisabled { .. } => "sender_disabled",
            RefusalKind::NotAuthenticated(auth::AuthFailure::Dmarc(_)) => "dmarc_failed",
            RefusalKind::NotAuthenticated(auth::AuthFailure::Spf(_)) => "spf_failed",
            RefusalKind::NotAuthenticated(auth::AuthFailure::Dkim(_)) => "dkim_failed",
            RefusalKind::NotAuthenticated(auth::AuthFailure::Temporary(_)) => "auth_temporary",
            RefusalKind::Unparsable(_) => "mime_limits",
            RefusalKind::HeadersTooLarge => "headers_too_large",
            RefusalKind::UnsafeXml { .. } => "unsafe_xml",
            RefusalKind::NoInvoiceXml { .. } => "no_invoice_xml",
            RefusalKind::InvoicesRefused { .. } => "invoice_rules",
            RefusalKind::DuplicateInFlight { .. } => "duplicate_in_flight",
            RefusalKind::Internal(what) => what,
        }
    }
}
