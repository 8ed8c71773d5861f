//! Every SMTP reply trustgate sends, with its enhanced status code (RFC 3463) and a sentence a
//! supplier's admin can act on. No reply text exists outside this file; dynamic parts are
//! filled in by the constructors below.

use std::borrow::Cow;
use std::fmt;

/// One SMTP reply: basic code, enhanced status code and text.
///
/// The text is private and only the constructors set it, so every reply line we send is
/// within RFC 5321 4.5.3.1.5 (512 octets including the code and CRLF): [`Reply::new`] checks
/// our static texts at compile time, and [`Reply::dynamic`] escapes text from the mail
/// ([`crate::text::display_safe`]) and then shortens it to [`MAX_TEXT`]. No path builds a
/// reply around them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The enhanced status code such as `5.1.1` (at most [`MAX_STATUS`] bytes).
    pub status: &'static str,
    /// Human-readable text: at most [`MAX_TEXT`] bytes, no control or invisible character.
    text: Cow<'static, str>,
}

/// Longest enhanced status code (RFC 3463: `class.subject.detail`, each up to three digits).
pub const MAX_STATUS: usize = 9;

impl Reply {
    /// A reply with static text.
    ///
    /// # Panics
    /// When `text` is longer than [`MAX_TEXT`], holds a control character or `status` is
    /// longer than [`MAX_STATUS`]: every use is a `const`, so this fails the build, never a
    /// session.
    pub const fn new(code: u16, status: &'static str, text: &'static str) -> Reply {
        assert!(text.len() <= MAX_TEXT, "reply text over MAX_TEXT");
        assert!(status.len() <= MAX_STATUS, "enhanced status code too long");
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            assert!(
                bytes[i] >= 0x20 && bytes[i] != 0x7f,
                "control character in a reply"
            );
            i += 1;
        }
        Reply {
            code,
            status,
            text: Cow::Borrowed(text),
        }
    }

    /// A reply with dynamic text. Control, bidirectional and other invisible characters are
    /// escaped (`\u{202E}`), so text derived from input can neither inject a reply line nor
    /// hide what it says, and the result is cut to [`MAX_TEXT`] bytes on a character boundary.
    pub fn dynamic(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        let text: String = text.into();
        let text = match crate::text::display_safe(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(escaped) => escaped,
        };
        let text = if text.len() > MAX_TEXT {
            shorten(&text, MAX_TEXT)
        } else {
            text
        };
        Reply {
            code,
            status: if status.len() <= MAX_STATUS {
                status
            } else {
                ""
            },
            text: Cow::Owned(text),
        }
    }

    /// The text of the reply, as sent.
    pub fn text(&self) -> &str {
        &self.text
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
pub const RELAY_DENIED: Reply = Reply::new(
    550,
    "5.7.1",
    "relaying denied: this gateway only accepts mail for its own invoice addresses",
);

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

/// The receiving organisation disabled this trusted sender (`trustgate sender disable`).
pub fn sender_disabled(sender: &str, rcpt: &str, organisation: &str) -> Reply {
    Reply::dynamic(
        550,
        "5.7.1",
        format!(
            "<{sender}> was disabled as a sender for <{rcpt}> by the receiving organisation {organisation}; contact them to be enabled again"
        ),
    )
}

/// DMARC did not pass for the header From's domain (RFC 7372: X.7.26).
pub fn dmarc_failed(why: &str) -> Reply {
    Reply::dynamic(
        550,
        "5.7.26",
        format!("{why}; sign with DKIM for your From domain or send from servers its SPF lists"),
    )
}

/// SPF did not pass, aligned, where the receiver requires SPF (RFC 7372: X.7.23).
pub fn spf_failed(why: &str) -> Reply {
    Reply::dynamic(
        550,
        "5.7.23",
        format!("{why}; send from servers your domain's SPF record lists"),
    )
}

/// No valid DKIM signature aligned with the From domain (RFC 7372: X.7.20).
pub fn dkim_failed(why: &str) -> Reply {
    Reply::dynamic(
        550,
        "5.7.20",
        format!("{why}; sign your mail with DKIM for your From domain"),
    )
}

/// A DNS lookup for SPF, DKIM or DMARC failed in a way that may have hidden a pass: the
/// sender retries (RFC 7372: X.7.24 is SPF's temporary error; the others have none of their
/// own).
pub fn auth_temporary(why: &str) -> Reply {
    Reply::dynamic(
        451,
        "4.7.24",
        format!("cannot authenticate the sender now: {why}; please try again later"),
    )
}

/// The header From is missing, duplicated or names more than one mailbox.
pub fn bad_header_from(why: &str) -> Reply {
    Reply::dynamic(
        550,
        "5.7.1",
        format!("{why}; send exactly one From header with one address"),
    )
}

/// No invoice XML in the message: says what was found instead (`found`, one "name: what it
/// is" per attachment), so the supplier's admin sees which file their ERP sent and why it is
/// not an e-invoice.
pub fn no_invoice(found: &[String]) -> Reply {
    const ADVICE: &str = "attach the invoice as a UBL or CII XML file";
    let text = if found.is_empty() {
        format!("no invoice found: the message has no attachment; {ADVICE}")
    } else {
        let head = "no invoice found: ";
        // The advice is the actionable part: the list is shortened, never the advice.
        let room = MAX_TEXT.saturating_sub(head.len() + ADVICE.len() + 2);
        let list = crate::text::display_safe(&found.join("; ")).into_owned();
        format!("{head}{}; {ADVICE}", shorten(&list, room))
    };
    Reply::dynamic(550, "5.6.0", text)
}

/// The message could not be parsed as MIME within our limits.
pub fn unparsable_message(why: &str) -> Reply {
    Reply::dynamic(550, "5.6.0", format!("message refused: {why}"))
}

/// An invoice XML was refused (DOCTYPE, entities, not well-formed, ...).
pub fn invoice_refused(why: &str) -> Reply {
    Reply::dynamic(550, "5.6.0", why.to_string())
}

/// The spool commit failed or its outcome is unknown: the client must retry.
pub const LOCAL_ERROR: Reply = Reply::new(
    451,
    "4.3.0",
    "temporary local problem storing the message; please try again later",
);

/// The spool cannot take more now (disk full, reserve reached).
pub const SPOOL_FULL: Reply = Reply::new(
    452,
    "4.3.1",
    "insufficient system storage; please try again later",
);

/// The header block is over the limit (SMTP-HARDENING 20).
pub const HEADERS_TOO_LARGE: Reply = Reply::new(
    552,
    "5.3.4",
    "message header too large: too many or too long header fields",
);

// ---- Protocol replies (used by `smtp::session` and `smtp::conn`) --------------------------------
//
// RFC 2034 3: the greeting and the replies to EHLO/HELO carry no enhanced status code, and
// RFC 3463 defines no class for 3xx, so those replies have an empty `status`. Every other reply
// we send has one.

/// Writes a multi-line reply (RFC 5321 4.2.1): every line but the last uses `CODE-`.
/// All lines are expected to share the code of the first.
pub fn lines_to_wire(lines: &[Reply]) -> Vec<u8> {
    let mut wire = Vec::new();
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        let sep = if i == last { ' ' } else { '-' };
        let text: &str = &line.text;
        let line = if line.status.is_empty() {
            format!("{}{sep}{text}\r\n", line.code)
        } else {
            format!("{}{sep}{} {text}\r\n", line.code, line.status)
        };
        wire.extend_from_slice(line.as_bytes());
    }
    wire
}

/// The 220 greeting (RFC 5321 4.3.1; RFC 2034 3: no enhanced code).
pub fn banner(hostname: &str) -> Reply {
    Reply::dynamic(220, "", format!("{hostname} ESMTP trustgate"))
}

/// The client talked before the greeting (Postfix postscreen "pregreet").
pub const PREGREET: Reply = Reply::new(
    554,
    "5.5.0",
    "protocol error: you sent data before the 220 greeting; wait for the greeting",
);

/// The first line of the EHLO reply, and the whole HELO reply (RFC 2034 3: no enhanced code).
pub fn greets(hostname: &str) -> Reply {
    Reply::dynamic(250, "", hostname.to_string())
}

/// One EHLO keyword line (`PIPELINING`, `SIZE 1000`, ...), part of a multi-line 250.
pub fn ehlo_keyword(keyword: impl Into<String>) -> Reply {
    Reply::dynamic(250, "", keyword)
}

/// Generic success (RSET, NOOP).
pub const OK: Reply = Reply::new(250, "2.0.0", "ok");

/// MAIL accepted by the handler.
pub const SENDER_OK: Reply = Reply::new(250, "2.1.0", "sender ok");

/// RCPT accepted by the handler.
pub const RECIPIENT_OK: Reply = Reply::new(250, "2.1.5", "recipient ok");

/// DATA accepted: send the message.
pub const START_DATA: Reply =
    Reply::new(354, "", "send the message; end it with <CR><LF>.<CR><LF>");

/// QUIT.
pub const BYE: Reply = Reply::new(221, "2.0.0", "bye");

/// VRFY is answered without looking anything up, so addresses cannot be enumerated.
pub const VRFY_CANNOT: Reply = Reply::new(
    252,
    "2.5.0",
    "cannot verify addresses; send the message and it will be judged then",
);

/// EXPN is never available (no lists to expand, nothing to enumerate).
pub const EXPN_DISABLED: Reply = Reply::new(502, "5.5.1", "EXPN is not available");

/// HELP.
pub const HELP: Reply = Reply::new(
    214,
    "2.0.0",
    "commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS; see RFC 5321",
);

/// STARTTLS accepted: the TLS handshake follows (RFC 3207 4).
pub const READY_FOR_TLS: Reply = Reply::new(220, "2.0.0", "ready to start TLS");

/// STARTTLS when TLS is already active (RFC 3207 4.2).
pub const TLS_ALREADY_ACTIVE: Reply = Reply::new(503, "5.5.1", "TLS is already active");

/// STARTTLS when no certificate is configured.
pub const TLS_NOT_AVAILABLE: Reply = Reply::new(502, "5.5.1", "STARTTLS is not available here");

/// STARTTLS while a mail transaction is open (RFC 3207 4: only outside a transaction).
pub const TRANSACTION_IN_PROGRESS: Reply = Reply::new(
    503,
    "5.5.1",
    "a mail transaction is in progress; send RSET first",
);

/// MAIL (or STARTTLS) before EHLO/HELO.
pub const NEED_HELO: Reply = Reply::new(
    503,
    "5.5.1",
    "bad sequence of commands: send EHLO or HELO first",
);

/// A second MAIL inside a transaction.
pub const NESTED_MAIL: Reply = Reply::new(
    503,
    "5.5.1",
    "bad sequence of commands: a transaction is already open; send RSET first",
);

/// RCPT or DATA before MAIL.
pub const NEED_MAIL: Reply = Reply::new(
    503,
    "5.5.1",
    "bad sequence of commands: send MAIL FROM first",
);

/// DATA before any accepted RCPT.
pub const NEED_RCPT: Reply = Reply::new(
    503,
    "5.5.1",
    "bad sequence of commands: no recipient accepted; send RCPT TO first",
);

/// Unknown verb, garbage, NUL bytes, empty line.
pub const UNKNOWN_COMMAND: Reply = Reply::new(500, "5.5.1", "command not recognised");

/// A verb we know but do not offer (AUTH, ETRN, ATRN, BURL, LHLO, BDAT).
pub const NOT_IMPLEMENTED: Reply = Reply::new(502, "5.5.1", "command not implemented");

/// A command line with a bare CR or LF (CVE-2023-51764/51765/51766: one bad line, never two commands).
pub const BARE_LINE_ENDING: Reply = Reply::new(
    500,
    "5.5.2",
    "syntax error: bare CR or LF in command line; end lines with CRLF",
);

/// A command line over the limit (RFC 5321 4.5.3.1.4).
pub fn line_too_long(max: usize) -> Reply {
    Reply::dynamic(
        500,
        "5.5.2",
        format!("line too long: at most {max} octets including CRLF"),
    )
}

/// Syntax error in the arguments of a command; `usage` is the expected form.
pub fn syntax(usage: &str) -> Reply {
    Reply::dynamic(501, "5.5.2", format!("syntax error; use {usage}"))
}

/// A MAIL FROM path that is not a plain `local@domain` (or `<>`).
pub const BAD_SENDER: Reply = Reply::new(
    501,
    "5.1.3",
    "bad sender address syntax; use MAIL FROM:<local@domain> or MAIL FROM:<>",
);

/// A RCPT TO path that is not a plain `local@domain`.
pub const BAD_RECIPIENT: Reply = Reply::new(
    501,
    "5.1.3",
    "bad recipient address syntax; use RCPT TO:<local@domain>",
);

/// A parameter with an invalid value (`SIZE=abc`, `BODY=X`).
pub fn invalid_parameter(param: &str) -> Reply {
    Reply::dynamic(
        501,
        "5.5.4",
        format!("invalid value for the {param} parameter"),
    )
}

/// A MAIL/RCPT parameter we did not advertise (RFC 5321 4.1.1.11).
pub const UNSUPPORTED_PARAMETER: Reply = Reply::new(
    555,
    "5.5.4",
    "MAIL FROM/RCPT TO parameter not recognised or not implemented",
);

/// SIZE over the limit at MAIL, or a body over the limit (RFC 1870).
pub fn message_too_big(max: u64) -> Reply {
    Reply::dynamic(
        552,
        "5.3.4",
        format!("message too big: at most {max} bytes accepted"),
    )
}

/// More recipients than `max_recipients` (RFC 5321 4.5.3.1.10).
pub const TOO_MANY_RECIPIENTS: Reply = Reply::new(
    452,
    "4.5.3",
    "too many recipients; send the rest in another message",
);

/// More transactions than `max_messages_per_session`.
pub const TOO_MANY_MESSAGES: Reply = Reply::new(
    452,
    "4.4.5",
    "too many messages in this session; reconnect to send more",
);

/// `max_errors` reached.
pub const TOO_MANY_ERRORS: Reply =
    Reply::new(421, "4.7.0", "too many errors; closing the connection");

/// Bare LF or CR inside DATA (CVE-2023-51764/51765/51766).
pub const BARE_LF_IN_MESSAGE: Reply = Reply::new(
    554,
    "5.6.0",
    "message refused: bare LF or CR in message; send CRLF line endings",
);

/// Message bytes sent together with DATA, before our 354 (RFC 2920 3.1; Postfix
/// reject_unauth_pipelining).
pub const PIPELINING_BEFORE_354: Reply = Reply::new(
    554,
    "5.5.0",
    "pipelining not allowed before 354: wait for the 354 reply before sending the message",
);

/// BDAT without CHUNKING being advertised: the chunk that follows cannot be framed, so we close.
pub const BDAT_NOT_SUPPORTED: Reply = Reply::new(
    502,
    "5.5.1",
    "BDAT is not supported (CHUNKING was not advertised); closing",
);

/// A command or DATA timeout, or the whole-session deadline (RFC 5321 4.5.3.2).
pub const TIMEOUT: Reply = Reply::new(421, "4.4.2", "timeout; closing the connection");

/// Shutting down: the client should retry later.
pub const SHUTTING_DOWN: Reply = Reply::new(
    421,
    "4.3.2",
    "service shutting down; please try again later",
);

/// Too many new connections from the client's address or network in the last minute
/// (SMTP-HARDENING 19): sent instead of the banner, then the connection is closed; a
/// transient code, so the client retries later.
pub const CONNECTION_RATE: Reply = Reply::new(
    451,
    "4.7.1",
    "too many connections from your address or network in the last minute; please try again later",
);

/// Too many transactions from the client's address or network in the last minute: answered
/// at MAIL, the client retries the message later.
pub const MESSAGE_RATE: Reply = Reply::new(
    451,
    "4.7.1",
    "too many messages from your address or network in the last minute; please try again later",
);

/// The sender is trusted only over TLS (`require_tls`) and the session is in clear text
/// (RFC 3207: 530 5.7.0 "Must issue a STARTTLS command first").
pub const TLS_REQUIRED: Reply = Reply::new(
    530,
    "5.7.0",
    "this sender must send over TLS: issue STARTTLS first",
);

/// Over the total or per-IP connection cap.
pub const TOO_MANY_CONNECTIONS: Reply =
    Reply::new(421, "4.7.0", "too many connections; please try again later");

/// Longest reply text we send: RFC 5321 4.5.3.1.5 allows 512 octets per reply line including
/// the code and CRLF; keep a margin for the code and the enhanced status.
pub const MAX_TEXT: usize = 480;

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(4);
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ...", &text[..end])
}

/// Invoices refused for their content (rule findings, routing, specification): each item
/// names the invoice and its rules. The full report is kept in the spool.
pub fn invoices_refused(refused: usize, total: usize, items: &[String]) -> Reply {
    let head = if total == 1 {
        "invoice refused".to_string()
    } else {
        format!("{refused} of {total} invoices refused")
    };
    Reply::dynamic(
        550,
        "5.6.0",
        shorten(&format!("{head}: {}", items.join("; ")), MAX_TEXT),
    )
}

/// The 250 for a stored message, waiting for its id: what was accepted, counted in
/// invoices (not invoices × receivers), for which receivers, and what was not.
#[derive(Debug, Clone)]
pub struct Queued {
    text: String,
}

impl Queued {
    /// The reply for the message stored as `id`.
    pub fn reply(&self, id: &str) -> Reply {
        Reply::dynamic(
            250,
            "2.0.0",
            shorten(&format!("queued as {id}: {}", self.text), MAX_TEXT),
        )
    }
}

/// What a 250 says, document by document: the invoices `accepted` as new (their numbers)
/// for `receivers`; the `duplicates` stored but not delivered again, each with where it was
/// received before (`duplicates = "accept"`, or a retransmission); the invoices `refused`
/// (under `partial = "accept"`). For example `2 invoices accepted (INV-1, INV-2) for
/// AD64SDE@trust.example.eu, 1 duplicate of INV-0 from message X of T (not delivered again)`.
pub fn queued_invoices(
    accepted: &[String],
    receivers: &[String],
    duplicates: &[(String, String)],
    refused: &[String],
) -> Queued {
    let mut parts: Vec<String> = Vec::new();
    if !accepted.is_empty() || duplicates.is_empty() {
        parts.push(format!(
            "{} invoice{} accepted ({}) for {}",
            accepted.len(),
            plural(accepted.len()),
            at_most(accepted, 5),
            at_most(receivers, 3)
        ));
    }
    match duplicates {
        [] => {}
        [(number, seen)] => parts.push(format!(
            "1 duplicate of {number} from {seen} (not delivered again)"
        )),
        many => {
            let items: Vec<String> = many
                .iter()
                .map(|(number, seen)| format!("{number} from {seen}"))
                .collect();
            parts.push(format!(
                "{} duplicates (not delivered again): {}",
                many.len(),
                at_most(&items, 3)
            ));
        }
    }
    let mut text = parts.join(", ");
    if !refused.is_empty() {
        text.push_str(&format!(
            "; {} refused: {}",
            refused.len(),
            refused.join("; ")
        ));
    }
    Queued { text }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The first `max` items joined, then how many more: a long list would push the rest of the
/// answer past the line limit.
fn at_most(items: &[String], max: usize) -> String {
    if items.len() > max {
        format!("{} and {} more", items[..max].join(", "), items.len() - max)
    } else {
        items.join(", ")
    }
}

/// A message for the postmaster (or abuse) stored for the admin.
pub fn queued_for_postmaster(id: &str) -> Reply {
    Reply::dynamic(
        250,
        "2.0.0",
        format!("queued as {id}: stored for the postmaster"),
    )
}

/// The same invoice is in another message being stored at this moment: the answer depends
/// on that message's outcome, so the client asks again shortly.
pub fn duplicate_in_flight(invoice: &str) -> Reply {
    Reply::dynamic(
        451,
        "4.5.0",
        shorten(
            &format!(
                "invoice {invoice} is being received in another message at this moment; please try again in a few minutes"
            ),
            MAX_TEXT,
        ),
    )
}

/// Every reply this file builds, by the name of its constant or constructor, with the parts
/// the mail or the moment fills in written as placeholders (`{address}`, `{ID}`). docs/replies.md
/// shows each exactly as rendered here, and a test holds the two together: a reply added,
/// changed or removed here without the docs fails it, and so does a reply in the docs that
/// trustgate cannot send.
#[doc(hidden)]
pub fn catalogue() -> Vec<(&'static str, Reply)> {
    // Numbers cannot be placeholders: built with a sentinel, then written as one.
    fn numbered(reply: Reply, sentinel: &str, placeholder: &str) -> Reply {
        let text = reply.text().replace(sentinel, placeholder);
        Reply::dynamic(reply.code, reply.status, text)
    }
    let n = |s: &str| s.to_string();
    let duplicate = (n("{number}"), n("message {ID} of {time}"));
    vec![
        ("unknown_recipient", unknown_recipient("{address}")),
        ("RELAY_DENIED", RELAY_DENIED),
        (
            "sender_not_trusted",
            sender_not_trusted("envelope sender (MAIL FROM)", "{sender}", "{address}"),
        ),
        (
            "sender_not_trusted",
            sender_not_trusted("header From", "{sender}", "{address}"),
        ),
        (
            "sender_disabled",
            sender_disabled("{sender}", "{address}", "{organisation}"),
        ),
        ("dmarc_failed", dmarc_failed("{what was found}")),
        ("spf_failed", spf_failed("{what was found}")),
        ("dkim_failed", dkim_failed("{what was found}")),
        ("auth_temporary", auth_temporary("{lookup}")),
        ("bad_header_from", bad_header_from("{defect}")),
        ("no_invoice", no_invoice(&[])),
        ("no_invoice", no_invoice(&[n("{file}: {what it is}")])),
        ("unparsable_message", unparsable_message("{why}")),
        ("invoice_refused", invoice_refused("{file}: {why}")),
        ("LOCAL_ERROR", LOCAL_ERROR),
        ("SPOOL_FULL", SPOOL_FULL),
        ("HEADERS_TOO_LARGE", HEADERS_TOO_LARGE),
        ("banner", banner("{hostname}")),
        ("PREGREET", PREGREET),
        ("greets", greets("{hostname}")),
        ("ehlo_keyword", ehlo_keyword("{keyword}")),
        ("OK", OK),
        ("SENDER_OK", SENDER_OK),
        ("RECIPIENT_OK", RECIPIENT_OK),
        ("START_DATA", START_DATA),
        ("BYE", BYE),
        ("VRFY_CANNOT", VRFY_CANNOT),
        ("EXPN_DISABLED", EXPN_DISABLED),
        ("HELP", HELP),
        ("READY_FOR_TLS", READY_FOR_TLS),
        ("TLS_ALREADY_ACTIVE", TLS_ALREADY_ACTIVE),
        ("TLS_NOT_AVAILABLE", TLS_NOT_AVAILABLE),
        ("TRANSACTION_IN_PROGRESS", TRANSACTION_IN_PROGRESS),
        ("NEED_HELO", NEED_HELO),
        ("NESTED_MAIL", NESTED_MAIL),
        ("NEED_MAIL", NEED_MAIL),
        ("NEED_RCPT", NEED_RCPT),
        ("UNKNOWN_COMMAND", UNKNOWN_COMMAND),
        ("NOT_IMPLEMENTED", NOT_IMPLEMENTED),
        ("BARE_LINE_ENDING", BARE_LINE_ENDING),
        (
            "line_too_long",
            numbered(line_too_long(987_654_321), "987654321", "{max_line_length}"),
        ),
        ("syntax", syntax("{usage}")),
        ("BAD_SENDER", BAD_SENDER),
        ("BAD_RECIPIENT", BAD_RECIPIENT),
        ("invalid_parameter", invalid_parameter("{parameter}")),
        ("UNSUPPORTED_PARAMETER", UNSUPPORTED_PARAMETER),
        (
            "message_too_big",
            numbered(
                message_too_big(987_654_321),
                "987654321",
                "{max_message_size}",
            ),
        ),
        ("TOO_MANY_RECIPIENTS", TOO_MANY_RECIPIENTS),
        ("TOO_MANY_MESSAGES", TOO_MANY_MESSAGES),
        ("TOO_MANY_ERRORS", TOO_MANY_ERRORS),
        ("BARE_LF_IN_MESSAGE", BARE_LF_IN_MESSAGE),
        ("PIPELINING_BEFORE_354", PIPELINING_BEFORE_354),
        ("BDAT_NOT_SUPPORTED", BDAT_NOT_SUPPORTED),
        ("TIMEOUT", TIMEOUT),
        ("SHUTTING_DOWN", SHUTTING_DOWN),
        ("CONNECTION_RATE", CONNECTION_RATE),
        ("MESSAGE_RATE", MESSAGE_RATE),
        ("TLS_REQUIRED", TLS_REQUIRED),
        ("TOO_MANY_CONNECTIONS", TOO_MANY_CONNECTIONS),
        (
            "invoices_refused",
            invoices_refused(1, 1, &[n("{number} ({file}): {reasons}")]),
        ),
        (
            "invoices_refused",
            numbered(
                numbered(
                    invoices_refused(
                        987_654_321,
                        123_456_789,
                        &[n("{number} ({file}): {reasons}")],
                    ),
                    "987654321",
                    "{refused}",
                ),
                "123456789",
                "{total}",
            ),
        ),
        (
            "queued_invoices",
            queued_invoices(&[n("{number}")], &[n("{address}")], &[], &[]).reply("{ID}"),
        ),
        (
            "queued_invoices",
            queued_invoices(
                &[n("{number}"), n("{number}")],
                &[n("{address}"), n("{address}")],
                &[],
                &[],
            )
            .reply("{ID}"),
        ),
        (
            "queued_invoices",
            queued_invoices(
                &[n("{number}")],
                &[n("{address}")],
                std::slice::from_ref(&duplicate),
                &[],
            )
            .reply("{ID}"),
        ),
        (
            "queued_invoices",
            queued_invoices(
                &[],
                &[n("{address}")],
                std::slice::from_ref(&duplicate),
                &[],
            )
            .reply("{ID}"),
        ),
        (
            "queued_invoices",
            queued_invoices(
                &[n("{number}")],
                &[n("{address}")],
                &[],
                &[n("{number} ({file}): {reasons}")],
            )
            .reply("{ID}"),
        ),
        ("queued_for_postmaster", queued_for_postmaster("{ID}")),
        ("duplicate_in_flight", duplicate_in_flight("{number}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/replies.md shows every reply as it is sent, and only replies trustgate sends.
    #[test]
    fn docs_replies_lists_every_reply_as_sent() {
        const DOCS: &str = include_str!("../../docs/replies.md");
        const SOURCE: &str = include_str!("reply.rs");
        let catalogue = catalogue();
        // Every reply constant and constructor of this file is in the catalogue.
        for line in SOURCE.lines() {
            let name = if let Some(rest) = line.strip_prefix("pub const ") {
                rest.split_once(": Reply").map(|(name, _)| name)
            } else if let Some(rest) = line.strip_prefix("pub fn ") {
                let returns_reply = SOURCE[SOURCE.find(line).unwrap_or(0)..]
                    .split_once('{')
                    .is_some_and(|(signature, _)| {
                        signature.contains("-> Reply") || signature.contains("-> Queued")
                    });
                rest.split_once('(')
                    .map(|(name, _)| name)
                    .filter(|_| returns_reply)
            } else {
                None
            };
            if let Some(name) = name {
                assert!(
                    catalogue.iter().any(|(n, _)| *n == name),
                    "{name} is not in reply::catalogue() (nor, then, in docs/replies.md)"
                );
            }
        }
        // Every reply of the catalogue is in the docs, as sent.
        let documented: Vec<&str> = DOCS
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|span| {
                span.len() > 4
                    && span.as_bytes()[..3].iter().all(u8::is_ascii_digit)
                    && span.as_bytes()[3] == b' '
            })
            .collect();
        for (name, reply) in &catalogue {
            let sent = reply.to_string();
            assert!(
                documented.contains(&sent.as_str()),
                "docs/replies.md does not show {name} as sent: `{sent}`"
            );
        }
        // And every reply the docs show is one trustgate sends.
        for span in documented {
            assert!(
                catalogue.iter().any(|(_, r)| r.to_string() == span),
                "docs/replies.md shows `{span}`, which no reply in reply.rs sends"
            );
        }
    }

    /// RFC 5321 4.5.3.1.5: 512 octets per reply line, CRLF included.
    fn assert_within_rfc(r: &Reply) {
        for wire in [r.to_wire(), lines_to_wire(std::slice::from_ref(r))] {
            assert!(wire.len() <= 512, "{} octets: {r}", wire.len());
            assert!(
                !wire[..wire.len() - 2].contains(&b'\n')
                    && !wire[..wire.len() - 2].contains(&b'\r'),
                "{r}"
            );
        }
    }

    #[test]
    fn every_dynamic_reply_is_one_short_line() {
        let huge = format!("<{}>", "a".repeat(1 << 20));
        let hostile = format!("x\r\n250 ok\u{202E}{}", "é".repeat(100_000));
        for text in [&huge, &hostile] {
            for r in [
                invoice_refused(text),
                no_invoice(std::slice::from_ref(text)),
                unparsable_message(text),
                bad_header_from(text),
                unknown_recipient(text),
                sender_not_trusted("header From", text, text),
                invoices_refused(1, 2, std::slice::from_ref(text)),
                queued_invoices(
                    std::slice::from_ref(text),
                    std::slice::from_ref(text),
                    &[(text.clone(), text.clone())],
                    std::slice::from_ref(text),
                )
                .reply(text),
                duplicate_in_flight(text),
                banner(text),
                greets(text),
                syntax(text),
                invalid_parameter(text),
                Reply::dynamic(550, "5.6.0", text.clone()),
            ] {
                assert_within_rfc(&r);
                assert!(!r.text().chars().any(crate::text::is_invisible), "{r}");
            }
        }
    }

    #[test]
    fn mail_text_is_escaped_not_dropped() {
        let r = invoice_refused("INV\u{202E}fdp.xml: not well-formed");
        assert_eq!(r.text(), "INV\\u{202E}fdp.xml: not well-formed");
        let r = Reply::dynamic(550, "5.1.1", "a\r\nb");
        assert_eq!(r.to_string(), "550 5.1.1 a\\u{D}\\u{A}b");
    }
}
