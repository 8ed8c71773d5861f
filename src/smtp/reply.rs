//! Every SMTP reply trustgate sends, with its enhanced status code (RFC 3463) and a sentence a
//! supplier's admin can act on. No reply text exists outside this file; dynamic parts are
//! filled in by the constructors below.

use std::borrow::Cow;
use std::fmt;

/// One SMTP reply: basic code, enhanced status code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The enhanced status code such as `5.1.1`.
    pub status: &'static str,
    /// Human-readable text; never contains CR or LF (multi-line replies are built by `lines`).
    pub text: Cow<'static, str>,
}

impl Reply {
    /// A reply with static text.
    pub const fn new(code: u16, status: &'static str, text: &'static str) -> Reply {
        Reply { code, status, text: Cow::Borrowed(text) }
    }

    /// A reply with dynamic text. CR, LF and other control characters are replaced by spaces so
    /// that text derived from input can never inject a reply line.
    pub fn dynamic(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        let text: String = text.into().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        Reply { code, status, text: Cow::Owned(text) }
    }

    /// Whether this is a positive completion (2xx) or intermediate (3xx) reply.
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// Whether this is a transient failure (4xx): the client should retry.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The reply as wire bytes, `CODE STATUS TEXT\r\n`.
    pub fn to_wire(&self) -> Vec<u8> {
        format!("{self}\r\n").into_bytes()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.status.is_empty() {
            write!(f, "{} {}", self.code, self.text)
        } else {
            write!(f, "{} {} {}", self.code, self.status, self.text)
        }
    }
}

// ---- Policy and content replies (used by the gateway) ----------------------------------------

/// RCPT to an address we do not serve, or to another domain (no relaying, ever).
pub fn unknown_recipient(rcpt: &str) -> Reply {
    Reply::dynamic(
        550,
        "5.1.1",
        format!("<{rcpt}>: no such invoice address here; check the address the buyer gave you"),
    )
}

/// A recipient that is not even a syntactically valid address of ours (source routes, `%`).
pub const RELAY_DENIED: Reply =
    Reply::new(550, "5.7.1", "relaying denied: this gateway only accepts mail for its own invoice addresses");

/// The envelope or header sender is not trusted for an addressed receiver.
pub fn sender_not_trusted(which: &str, sender: &str, rcpt: &str) -> Reply {
    Reply::dynamic(
        550,
        "5.7.1",
        format!(
            "{which} <{sender}> is not a trusted sender for <{rcpt}>; ask the buyer to add your address or domain"
        ),
    )
}

/// The header From is missing, duplicated or names more than one mailbox.
pub fn bad_header_from(why: &str) -> Reply {
    Reply::dynamic(550, "5.7.1", format!("{why}; send exactly one From header with one address"))
}

/// No invoice XML in the message.
pub const NO_INVOICE_XML: Reply = Reply::new(
    550,
    "5.6.0",
    "no XML e-invoice found: attach the UBL or CII file; a PDF alone is not accepted",
);

/// The message could not be parsed as MIME within our limits.
pub fn unparsable_message(why: &str) -> Reply {
    Reply::dynamic(550, "5.6.0", format!("message refused: {why}"))
}

/// An invoice XML was refused (DOCTYPE, entities, not well-formed, ...).
pub fn invoice_refused(why: &str) -> Reply {
    Reply::dynamic(550, "5.6.0", why.to_string())
}

/// The message was stored.
pub fn queued(id: &str, documents: usize) -> Reply {
    Reply::dynamic(250, "2.0.0", format!("queued as {id}: {documents} invoice document(s) accepted"))
}

/// The spool commit failed or its outcome is unknown: the client must retry.
pub const LOCAL_ERROR: Reply =
    Reply::new(451, "4.3.0", "temporary local problem storing the message; please try again later");

/// The spool cannot take more now (disk full, reserve reached).
pub const SPOOL_FULL: Reply = Reply::new(452, "4.3.1", "insufficient system storage; please try again later");

/// The header block is over the limit (SMTP-HARDENING 20).
pub const HEADERS_TOO_LARGE: Reply =
    Reply::new(552, "5.3.4", "message header too large: too many or too long header fields");
