//! The sans-I/O SMTP session: bytes and the handler's answers in, [`Output`]s out.
//!
//! Driven by `smtp::conn` (and by the unit tests and the fuzz target). It frames command lines
//! itself (`line`), parses each complete line with `smtp_proto::Request::parse`, keeps the
//! RFC 5321 state (EHLO, transaction, DATA), decodes DATA (`data`), and decides every reply.
//! It asks the shell to consult the [`super::Handler`] at MAIL, RCPT, DATA and end of data, and
//! waits for the answer before reading on (pipelined commands stay in the shell's buffer).
//!
//! It never does I/O, never reads a clock, never holds more than `max_line_length` bytes of
//! input, and never buffers a message body: body bytes leave as [`Output::Body`] chunks.

mod data;
mod line;

use std::sync::Arc;

use smtp_proto::{
    Error as ProtoError, MAIL_BODY_7BIT, MAIL_BODY_8BITMIME, MAIL_SMTPUTF8, MailFrom, RcptTo,
    Request,
};
use tracing::debug;

use self::data::DataDecoder;
use self::line::{Line, LineReader};
use super::limits::Limits;
use super::{Envelope, Reply, reply};
use crate::address::Address;

/// What the shell must do next, in order.
#[derive(Debug, Clone)]
pub enum Output {
    /// Write this reply (it may be batched with the following ones; RFC 2920).
    Reply(Reply),
    /// Write this multi-line reply (EHLO).
    Lines(Vec<Reply>),
    /// Ask [`super::Handler::mail`], then [`Session::resume`] with its answer.
    Mail {
        /// MAIL FROM, `None` for `<>`.
        reverse_path: Option<Address>,
        /// The SIZE parameter, if given.
        declared_size: Option<u64>,
    },
    /// Ask [`super::Handler::rcpt`], then [`Session::resume`] with its answer.
    Rcpt {
        /// The transaction's MAIL FROM.
        reverse_path: Option<Address>,
        /// The RCPT TO path.
        forward_path: Address,
    },
    /// Ask [`super::Handler::open_body`] for this envelope, then [`Session::resume`]. On
    /// [`Answer::Accept`] the session sends 354 and the body follows as [`Output::Body`].
    OpenBody(Envelope),
    /// A chunk of the dot-unstuffed body, for the body sink.
    Body(Vec<u8>),
    /// The final dot arrived and the message is within limits: call
    /// [`super::Handler::end_of_data`] and [`Session::resume`] with [`Answer::Reply`].
    EndOfData(Envelope),
    /// The message was refused by the session (size, bare LF/CR): drop the body sink unused.
    DiscardBody,
    /// A transaction ended (for the one log line per transaction).
    Transaction(Outcome),
    /// 220 was queued: flush it, discard all buffered input (CVE-2011-0411), run the TLS
    /// handshake, then call [`Session::tls_started`].
    StartTls,
    /// Flush and close the connection.
    Close,
}

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// MAIL FROM path (empty for `<>`).
    pub mail_from: String,
    /// Recipients accepted.
    pub rcpt_count: usize,
    /// Body bytes received (0 before DATA).
    pub size: u64,
    /// The reply that ended it, if one did (none for RSET, QUIT, disconnects).
    pub reply: Option<Reply>,
    /// Short fixed reason code for the log: `accepted`, `mail_refused`, `size_limit`, ...
    pub reason: &'static str,
}

/// The handler's answer to an ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// MAIL, RCPT or open_body accepted.
    Accept,
    /// A refusal at MAIL, RCPT or open_body, or the reply of end_of_data; sent as is.
    Reply(Reply),
}

impl From<Result<(), Reply>> for Answer {
    fn from(r: Result<(), Reply>) -> Answer {
        match r {
            Ok(()) => Answer::Accept,
            Err(reply) => Answer::Reply(reply),
        }
    }
}

/// What the session is waiting for.
#[derive(Debug)]
enum Pending {
    Mail(Envelope),
    Rcpt(Address),
    OpenBody,
    EndOfData {
        mail_from: String,
        rcpt_count: usize,
        size: u64,
    },
    StartTls,
}

#[derive(Debug)]
enum Phase {
    /// Before [`Session::greet`].
    Greeting,
    /// Reading command lines.
    Command,
    /// An ask is out; input waits in the shell.
    Waiting(Pending),
    /// Reading the message after 354.
    Data(DataDecoder),
    /// Nothing more is read.
    Closed,
}

/// A reverse path as text for logs: empty for the null sender.
pub fn path_text(path: Option<&Address>) -> String {
    path.map(ToString::to_string).unwrap_or_default()
}

/// One SMTP session's protocol state.
#[derive(Debug)]
pub struct Session {
    limits: Arc<Limits>,
    /// A TLS acceptor is configured (STARTTLS is offered while not yet active).
    tls_available: bool,
    tls_active: bool,
    phase: Phase,
    /// The EHLO/HELO argument; `None` until EHLO/HELO and again after STARTTLS.
    helo: Option<String>,
    /// The open transaction, from an accepted MAIL to the end of data.
    tx: Option<Envelope>,
    lines: LineReader,
    /// Negative replies to commands so far (for `max_errors`).
    errors: usize,
    /// Messages that reached the final dot (for `max_messages_per_session`).
    messages: usize,
}

impl Session {
    /// A session whose connection is already TLS (implicit TLS): STARTTLS is not offered.
    pub fn new_over_tls(limits: Arc<Limits>) -> Session {
        Session {
            tls_active: true,
            ..Session::new(limits, false)
        }
    }

    /// A session before its greeting. `tls_available` says whether STARTTLS can be offered.
    pub fn new(limits: Arc<Limits>, tls_available: bool) -> Session {
        Session {
            limits,
            tls_available,
            tls_active: false,
            phase: Phase::Greeting,
            helo: None,
            tx: None,
            lines: LineReader::default(),
            errors: 0,
            messages: 0,
        }
    }

    /// Queues the 220 banner, or, when the client talked first (`pregreet`), 554 and close
    /// (Postfix postscreen "pregreet"; SMTP-HARDENING 1).
    pub fn greet(&mut self, pregreet: bool, out: &mut Vec<Output>) {
        if !matches!(self.phase, Phase::Greeting) {
            return;
        }
        if pregreet {
            self.phase = Phase::Closed;
            out.push(Output::Reply(reply::PREGREET));
            out.push(Output::Close);
        } else {
            self.phase = Phase::Command;
            out.push(Output::Reply(reply::banner(&self.limits.hostname)));
        }
    }

    /// Consumes input and pushes outputs. Returns how many bytes were consumed: all of them,
    /// unless the session stopped to wait for an answer (or closed); the shell keeps the rest
    /// and feeds it again after [`Session::resume`]. After STARTTLS everything is consumed
    /// (and discarded).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Output>) -> usize {
        let mut pos = 0;
        while pos < input.len() {
            match &mut self.phase {
                Phase::Command => {
                    let (n, line) = self.lines.push(&input[pos..], self.limits.max_line_length);
                    pos += n;
                    if let Some(line) = line {
                        self.on_line(line, pos < input.len(), out);
                        if matches!(self.phase, Phase::Waiting(Pending::StartTls)) {
                            // CVE-2011-0411, RFC 3207 4.2: plaintext sent after STARTTLS is
                            // discarded, never executed inside the TLS session.
                            return input.len();
                        }
                    }
                }
                Phase::Data(decoder) => {
                    let mut chunk = Vec::new();
                    let (n, done) = decoder.decode(&input[pos..], &mut chunk);
                    pos += n;
                    if !chunk.is_empty() {
                        out.push(Output::Body(chunk));
                    }
                    if done {
                        self.finish_data(out);
                    }
                }
                Phase::Greeting | Phase::Waiting(_) | Phase::Closed => break,
            }
        }
        pos
    }

    /// Resumes after an ask with the handler's answer. Ignored when nothing was asked.
    pub fn resume(&mut self, answer: Answer, out: &mut Vec<Output>) {
        let phase = std::mem::replace(&mut self.phase, Phase::Command);
        let Phase::Waiting(pending) = phase else {
            self.phase = phase;
            return;
        };
        match (pending, answer) {
            (Pending::Mail(envelope), Answer::Accept) => {
                self.tx = Some(envelope);
                out.push(Output::Reply(reply::SENDER_OK));
            }
            (Pending::Mail(envelope), Answer::Reply(r)) => {
                out.push(Output::Transaction(Outcome {
                    mail_from: path_text(envelope.mail_from.as_ref()),
                    rcpt_count: 0,
                    size: 0,
                    reply: Some(r.clone()),
                    reason: "mail_refused",
                }));
                self.error(r, out);
            }
            (Pending::Rcpt(forward_path), Answer::Accept) => {
                if let Some(tx) = &mut self.tx {
                    tx.rcpt_to.push(forward_path);
                }
                out.push(Output::Reply(reply::RECIPIENT_OK));
            }
            (Pending::Rcpt(_), Answer::Reply(r)) => self.error(r, out),
            (Pending::OpenBody, Answer::Accept) => {
                self.phase = Phase::Data(DataDecoder::new(self.limits.max_message_size));
                out.push(Output::Reply(reply::START_DATA));
            }
            (Pending::OpenBody, Answer::Reply(r)) => {
                self.end_tx(Some(r.clone()), "data_refused", out);
                self.error(r, out);
            }
            (
                Pending::EndOfData {
                    mail_from,
                    rcpt_count,
                    size,
                },
                answer,
            ) => {
                // A shell that answers end of data without a reply has not stored anything.
                let r = match answer {
                    Answer::Reply(r) => r,
                    Answer::Accept => reply::LOCAL_ERROR,
                };
                let reason = if r.is_positive() {
                    "accepted"
                } else {
                    "refused_at_end_of_data"
                };
                out.push(Output::Transaction(Outcome {
                    mail_from,
                    rcpt_count,
                    size,
                    reply: Some(r.clone()),
                    reason,
                }));
                out.push(Output::Reply(r));
            }
            (Pending::StartTls, _) => self.phase = Phase::Waiting(Pending::StartTls),
        }
    }

    /// The TLS handshake after STARTTLS succeeded: the session starts over and the client must
    /// send EHLO again (RFC 3207 4.2). No new banner is sent.
    pub fn tls_started(&mut self) {
        if matches!(self.phase, Phase::Waiting(Pending::StartTls)) {
            self.tls_active = true;
            self.helo = None;
            self.tx = None;
            self.lines.clear();
            self.phase = Phase::Command;
        }
    }

    /// Ends the session with `reply` (timeout 421 4.4.2, shutdown 421 4.3.2, ...): an open
    /// transaction is reported with `reason`, then the reply and [`Output::Close`] follow.
    pub fn close(&mut self, reply: Reply, reason: &'static str, out: &mut Vec<Output>) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.end_tx(Some(reply.clone()), reason, out);
        self.phase = Phase::Closed;
        out.push(Output::Reply(reply));
        out.push(Output::Close);
    }

    /// The client went away: an open transaction is reported as `disconnected`.
    pub fn disconnected(&mut self, out: &mut Vec<Output>) {
        self.end_tx(None, "disconnected", out);
        self.phase = Phase::Closed;
    }

    /// The EHLO/HELO argument, empty before EHLO/HELO.
    pub fn helo(&self) -> &str {
        self.helo.as_deref().unwrap_or("")
    }

    /// Whether the session runs over TLS.
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }

    /// Whether a message is being received or judged (DATA timeout applies; shutdown waits).
    pub fn in_data(&self) -> bool {
        matches!(
            self.phase,
            Phase::Data(_) | Phase::Waiting(Pending::EndOfData { .. })
        )
    }

    /// Whether the session waits for the next command (where shutdown may answer 421 4.3.2).
    pub fn at_command_boundary(&self) -> bool {
        matches!(self.phase, Phase::Command)
    }

    /// Whether the session ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether an ask is out (the shell must answer before feeding more).
    pub fn is_waiting(&self) -> bool {
        matches!(self.phase, Phase::Waiting(_))
    }

    /// Input bytes held by the session (a partial command line); at most `max_line_length`.
    pub fn buffered_bytes(&self) -> usize {
        self.lines.buffered()
    }

    /// Messages that reached the final dot.
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// Negative replies to commands so far.
    pub fn errors(&self) -> usize {
        self.errors
    }

    // ---- commands --------------------------------------------------------------------------

    fn on_line(&mut self, line: Line, more_input: bool, out: &mut Vec<Output>) {
        match line {
            // RFC 5321 4.5.3.1.4
            Line::TooLong => self.error(reply::line_too_long(self.limits.max_line_length), out),
            // CVE-2023-51764/51765/51766: one bad line, never two commands.
            Line::BareLineEnding => self.error(reply::BARE_LINE_ENDING, out),
            Line::Complete => {
                let buf = self.lines.take();
                self.command(&buf, more_input, out);
                self.lines.restore(buf);
            }
        }
    }

    fn command(&mut self, line: &[u8], more_input: bool, out: &mut Vec<Output>) {
        if line.contains(&0) {
            return self.error(reply::UNKNOWN_COMMAND, out);
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(e) => {
                debug!(error = %e, "command refused");
                return self.error(parse_error_reply(&e), out);
            }
        };
        debug!(command = request.name(), "command");
        match request {
            Request::Ehlo { host } => self.hello(&host, true, out),
            Request::Helo { host } => self.hello(&host, false, out),
            Request::Mail { from } => self.mail(line, from, out),
            Request::Rcpt { to } => self.rcpt(line, to, out),
            Request::Data => self.data(more_input, out),
            Request::Rset => {
                self.end_tx(None, "rset", out);
                out.push(Output::Reply(reply::OK));
            }
            Request::Noop { .. } => out.push(Output::Reply(reply::OK)),
            Request::Quit => {
                self.end_tx(None, "quit", out);
                self.phase = Phase::Closed;
                out.push(Output::Reply(reply::BYE));
                out.push(Output::Close);
            }
            // SMTP-HARDENING 10: nothing to enumerate.
            Request::Vrfy { .. } => out.push(Output::Reply(reply::VRFY_CANNOT)),
            Request::Expn { .. } => self.error(reply::EXPN_DISABLED, out),
            Request::Help { .. } => out.push(Output::Reply(reply::HELP)),
            Request::StartTls => self.starttls(out),
            // CHUNKING is not advertised; the binary chunk after BDAT cannot be framed as
            // commands safely, so the session ends here.
            Request::Bdat { .. } => self.close(reply::BDAT_NOT_SUPPORTED, "bdat", out),
            Request::Lhlo { .. }
            | Request::Auth { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.error(reply::NOT_IMPLEMENTED, out),
        }
    }

    fn hello(&mut self, host: &str, extended: bool, out: &mut Vec<Output>) {
        // RFC 5321 4.1.4: EHLO/HELO inside a transaction resets it.
        self.end_tx(None, "helo_reset", out);
        self.helo = Some(host.to_string());
        let greets = reply::greets(&self.limits.hostname);
        if !extended {
            out.push(Output::Reply(greets));
            return;
        }
        let mut lines = vec![
            greets,
            reply::ehlo_keyword("PIPELINING"), // RFC 2920
            reply::ehlo_keyword(format!("SIZE {}", self.limits.max_message_size)), // RFC 1870
            reply::ehlo_keyword("8BITMIME"),   // RFC 6152
            reply::ehlo_keyword("ENHANCEDSTATUSCODES"), // RFC 2034
            reply::ehlo_keyword("SMTPUTF8"),   // RFC 6531
        ];
        if self.tls_available && !self.tls_active {
            lines.push(reply::ehlo_keyword("STARTTLS")); // RFC 3207
        }
        out.push(Output::Lines(lines));
    }

    fn mail(
        &mut self,
        line: &[u8],
        from: MailFrom<std::borrow::Cow<'_, str>>,
        out: &mut Vec<Output>,
    ) {
        if self.helo.is_none() {
            return self.error(reply::NEED_HELO, out);
        }
        if self.tx.is_some() {
            return self.error(reply::NESTED_MAIL, out);
        }
        if self.messages >= self.limits.max_messages_per_session {
            return self.error(reply::TOO_MANY_MESSAGES, out);
        }
        // Parsed once, here: the handler and everything after it get the address.
        let reverse_path = match plain_path(line) {
            Some(p) if p.is_empty() => None,
            Some(p) => match Address::parse(&p) {
                Ok(address) => Some(address),
                Err(_) => return self.error(reply::BAD_SENDER, out),
            },
            None => return self.error(reply::BAD_SENDER, out),
        };
        // Only the parameters we advertise (RFC 5321 4.1.1.11 / 555).
        let supported = MAIL_BODY_7BIT | MAIL_BODY_8BITMIME | MAIL_SMTPUTF8;
        if from.flags & !supported != 0
            || from.trans_id.is_some()
            || from.env_id.is_some()
            || from.solicit.is_some()
            || from.mtrk.is_some()
            || from.auth.is_some()
            || from.by != 0
            || from.hold_for != 0
            || from.hold_until != 0
            || from.mt_priority != 0
        {
            return self.error(reply::UNSUPPORTED_PARAMETER, out);
        }
        let declared_size = (from.size > 0).then_some(from.size as u64);
        // RFC 1870 6.1: refuse at MAIL when the declared size is over the limit.
        if declared_size.is_some_and(|s| s > self.limits.max_message_size) {
            return self.error(reply::message_too_big(self.limits.max_message_size), out);
        }
        out.push(Output::Mail {
            reverse_path: reverse_path.clone(),
            declared_size,
        });
        self.phase = Phase::Waiting(Pending::Mail(Envelope {
            mail_from: reverse_path,
            rcpt_to: Vec::new(),
            declared_size,
        }));
    }

    fn rcpt(&mut self, line: &[u8], to: RcptTo<std::borrow::Cow<'_, str>>, out: &mut Vec<Output>) {
        let Some(tx) = &self.tx else {
            return self.error(reply::NEED_MAIL, out);
        };
        // RFC 5321 4.5.3.1.10
        if tx.rcpt_to.len() >= self.limits.max_recipients {
            return self.error(reply::TOO_MANY_RECIPIENTS, out);
        }
        let reverse_path = tx.mail_from.clone();
        let Some(forward_path) = plain_path(line).and_then(|p| Address::parse(&p).ok()) else {
            return self.error(reply::BAD_RECIPIENT, out);
        };
        if to.flags != 0 || to.orcpt.is_some() || to.rrvs != 0 {
            return self.error(reply::UNSUPPORTED_PARAMETER, out);
        }
        out.push(Output::Rcpt {
            reverse_path,
            forward_path: forward_path.clone(),
        });
        self.phase = Phase::Waiting(Pending::Rcpt(forward_path));
    }

    fn data(&mut self, more_input: bool, out: &mut Vec<Output>) {
        let Some(tx) = &self.tx else {
            return self.error(reply::NEED_MAIL, out);
        };
        if tx.rcpt_to.is_empty() {
            return self.error(reply::NEED_RCPT, out);
        }
        // RFC 2920 3.1: DATA ends a command group. Bytes already sent after it were sent before
        // our 354 (Postfix reject_unauth_pipelining): refuse and close, so that none of them is
        // read as a message or as commands.
        if more_input {
            return self.close(reply::PIPELINING_BEFORE_354, "pipelining_before_354", out);
        }
        out.push(Output::OpenBody(tx.clone()));
        self.phase = Phase::Waiting(Pending::OpenBody);
    }

    fn starttls(&mut self, out: &mut Vec<Output>) {
        if self.tls_active {
            // RFC 3207 4.2
            return self.error(reply::TLS_ALREADY_ACTIVE, out);
        }
        if !self.tls_available {
            return self.error(reply::TLS_NOT_AVAILABLE, out);
        }
        if self.helo.is_none() {
            return self.error(reply::NEED_HELO, out);
        }
        if self.tx.is_some() {
            return self.error(reply::TRANSACTION_IN_PROGRESS, out);
        }
        self.phase = Phase::Waiting(Pending::StartTls);
        out.push(Output::Reply(reply::READY_FOR_TLS));
        out.push(Output::StartTls);
    }

    // ---- helpers ---------------------------------------------------------------------------

    fn finish_data(&mut self, out: &mut Vec<Output>) {
        let phase = std::mem::replace(&mut self.phase, Phase::Command);
        let Phase::Data(decoder) = phase else {
            self.phase = phase;
            return;
        };
        self.messages += 1;
        let size = decoder.size();
        let refusal = if decoder.too_big() {
            // RFC 1870; SMTP-HARDENING 15: the rest was discarded as a stream.
            Some((
                reply::message_too_big(self.limits.max_message_size),
                "size_limit",
            ))
        } else if decoder.bare_line_ending() {
            // CVE-2023-51764/51765/51766: refused whole, answered once at the real end.
            Some((reply::BARE_LF_IN_MESSAGE, "bare_lf_or_cr"))
        } else {
            None
        };
        let Some(envelope) = self.tx.take() else {
            return;
        };
        match refusal {
            Some((r, reason)) => {
                out.push(Output::DiscardBody);
                out.push(Output::Transaction(Outcome {
                    mail_from: path_text(envelope.mail_from.as_ref()),
                    rcpt_count: envelope.rcpt_to.len(),
                    size,
                    reply: Some(r.clone()),
                    reason,
                }));
                out.push(Output::Reply(r));
            }
            None => {
                self.phase = Phase::Waiting(Pending::EndOfData {
                    mail_from: path_text(envelope.mail_from.as_ref()),
                    rcpt_count: envelope.rcpt_to.len(),
                    size,
                });
                out.push(Output::EndOfData(envelope));
            }
        }
    }

    /// Ends an open transaction (if any) and reports it.
    fn end_tx(&mut self, reply: Option<Reply>, reason: &'static str, out: &mut Vec<Output>) {
        let (in_data, size) = match &self.phase {
            Phase::Data(decoder) => (true, decoder.size()),
            _ => (false, 0),
        };
        if let Some(envelope) = self.tx.take() {
            if in_data {
                out.push(Output::DiscardBody);
            }
            out.push(Output::Transaction(Outcome {
                mail_from: path_text(envelope.mail_from.as_ref()),
                rcpt_count: envelope.rcpt_to.len(),
                size,
                reply,
                reason,
            }));
        }
    }

    /// Sends a negative reply to a command and counts it; at `max_errors`, 421 and close.
    fn error(&mut self, r: Reply, out: &mut Vec<Output>) {
        out.push(Output::Reply(r));
        self.errors += 1;
        if self.errors >= self.limits.max_errors {
            self.close(reply::TOO_MANY_ERRORS, "too_many_errors", out);
        }
    }
}

/// The path between the first `<` and the next `>` exactly as sent, or `None` when it is not a
/// plain path. smtp-proto silently strips source routes (`<@a:b@c>`) and quotes, which we refuse
/// instead (SMTP-HARDENING 5 and 31; CVE-2020-7247).
fn plain_path(line: &[u8]) -> Option<String> {
    let open = line.iter().position(|&b| b == b'<')?;
    let rest = &line[open + 1..];
    let close = rest.iter().position(|&b| b == b'>')?;
    let raw = &rest[..close];
    if raw.first() == Some(&b'@')
        || raw
            .iter()
            .any(|&b| b == b'"' || b == b'\\' || b.is_ascii_control())
    {
        return None;
    }
    std::str::from_utf8(raw).ok().map(str::to_string)
}

fn parse_error_reply(e: &ProtoError) -> Reply {
    match e {
        ProtoError::InvalidSenderAddress => reply::BAD_SENDER,
        ProtoError::InvalidRecipientAddress => reply::BAD_RECIPIENT,
        ProtoError::SyntaxError { syntax } => reply::syntax(syntax),
        ProtoError::InvalidParameter { param } => reply::invalid_parameter(param),
        ProtoError::UnsupportedParameter { .. } => reply::UNSUPPORTED_PARAMETER,
        // UnknownCommand, and NeedsMoreData on a complete line (an empty line).
        _ => reply::UNKNOWN_COMMAND,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            hostname: "mx.gw.test".to_string(),
            ..Limits::default()
        }
    }

    /// A handler emulation: every sender is accepted except `refuse@...`, recipients `@gw.test`
    /// are accepted, bodies are collected, end of data answers 250.
    #[derive(Debug, Default, Clone, PartialEq)]
    struct Emu {
        mails: Vec<String>,
        rcpts: Vec<String>,
        messages: Vec<(String, Vec<String>, Vec<u8>)>,
        body: Option<Vec<u8>>,
        /// Body bytes handed out for the current message (bounded by max_message_size).
        body_bytes: u64,
        tls_starts: usize,
        closed: bool,
    }

    impl Emu {
        fn handle(&mut self, s: &mut Session, out: &mut Vec<Output>, replies: &mut Vec<String>) {
            while !out.is_empty() {
                for o in std::mem::take(out) {
                    assert!(!self.closed, "output after Close: {o:?}");
                    match o {
                        Output::Reply(r) => replies.push(r.to_string()),
                        Output::Lines(l) => {
                            let wire = String::from_utf8(reply::lines_to_wire(&l)).unwrap();
                            replies.push(wire.trim_end().to_string());
                        }
                        Output::Mail { reverse_path, .. } => {
                            let reverse_path = path_text(reverse_path.as_ref());
                            self.mails.push(reverse_path.clone());
                            let answer = if reverse_path.starts_with("refuse@") {
                                Answer::Reply(Reply::new(
                                    550,
                                    "5.7.1",
                                    "custom refusal from the handler",
                                ))
                            } else {
                                Answer::Accept
                            };
                            s.resume(answer, out);
                        }
                        Output::Rcpt { forward_path, .. } => {
                            let forward_path = forward_path.to_string();
                            self.rcpts.push(forward_path.clone());
                            let answer = if forward_path.ends_with("@gw.test") {
                                Answer::Accept
                            } else {
                                Answer::Reply(reply::unknown_recipient(&forward_path))
                            };
                            s.resume(answer, out);
                        }
                        Output::OpenBody(_) => {
                            self.body = Some(Vec::new());
                            self.body_bytes = 0;
                            s.resume(Answer::Accept, out);
                        }
                        Output::Body(chunk) => {
                            self.body_bytes += chunk.len() as u64;
                            assert!(
                                self.body_bytes <= s.limits.max_message_size,
                                "body over the limit handed out"
                            );
                            self.body
                                .as_mut()
                                .expect("body chunk without open body")
                                .extend_from_slice(&chunk);
                        }
                        Output::EndOfData(env) => {
                            let body = self.body.take().expect("end of data without body");
                            self.messages.push((
                                path_text(env.mail_from.as_ref()),
                                env.rcpt_to.iter().map(ToString::to_string).collect(),
                                body,
                            ));
                            s.resume(
                                Answer::Reply(
                                    reply::queued_invoices(
                                        &["T-1".into()],
                                        &["a@b.test".into()],
                                        &[],
                                        &[],
                                    )
                                    .reply("test"),
                                ),
                                out,
                            );
                        }
                        Output::DiscardBody => self.body = None,
                        Output::Transaction(_) => {}
                        Output::StartTls => {
                            self.tls_starts += 1;
                            s.tls_started();
                        }
                        Output::Close => self.closed = true,
                    }
                }
            }
        }
    }

    /// Feeds one read the way `conn` does: feed, act on the outputs, feed the rest.
    fn feed_read(s: &mut Session, emu: &mut Emu, read: &[u8], replies: &mut Vec<String>) {
        let mut out = Vec::new();
        let mut rest = read;
        while !rest.is_empty() && !s.is_closed() {
            let n = s.feed(rest, &mut out);
            assert!(s.buffered_bytes() <= s.limits.max_line_length);
            rest = &rest[n..];
            let progressed = n > 0 || !out.is_empty();
            emu.handle(s, &mut out, replies);
            assert!(progressed, "session stalled");
        }
    }

    /// Feeds `chunks` as successive reads; returns the replies.
    fn run(limits: &Limits, tls: bool, chunks: &[&[u8]]) -> (Vec<String>, Emu) {
        let mut s = Session::new(Arc::new(limits.clone()), tls);
        let mut emu = Emu::default();
        let mut replies = Vec::new();
        let mut out = Vec::new();
        s.greet(false, &mut out);
        emu.handle(&mut s, &mut out, &mut replies);
        for chunk in chunks {
            feed_read(&mut s, &mut emu, chunk, &mut replies);
        }
        (replies, emu)
    }

    fn assert_replies(replies: &[String], expected: &[&str], context: &str) {
        let got: Vec<&str> = replies.iter().map(String::as_str).collect();
        assert_eq!(replies.len(), expected.len(), "{context}: got {got:#?}");
        for (r, e) in replies.iter().zip(expected) {
            assert!(
                r.starts_with(e),
                "{context}: {r:?} does not start with {e:?}; all: {got:#?}"
            );
        }
    }

    /// Runs a transcript with each turn as one read, then again with each turn split in two
    /// at every byte offset, then byte by byte; all must give the same replies and messages.
    fn transcript_with(limits: &Limits, tls: bool, turns: &[&[u8]], expected: &[&str]) -> Emu {
        let (replies, emu) = run(limits, tls, turns);
        assert_replies(&replies, expected, "whole turns");
        for t in 0..turns.len() {
            for k in 1..turns[t].len() {
                let mut chunks: Vec<&[u8]> = Vec::new();
                chunks.extend_from_slice(&turns[..t]);
                chunks.push(&turns[t][..k]);
                chunks.push(&turns[t][k..]);
                chunks.extend_from_slice(&turns[t + 1..]);
                let (r, e) = run(limits, tls, &chunks);
                assert_replies(&r, expected, &format!("turn {t} split at {k}"));
                assert_eq!(e.messages, emu.messages, "turn {t} split at {k}");
                assert_eq!(e.mails, emu.mails, "turn {t} split at {k}");
            }
        }
        let bytes: Vec<Vec<u8>> = turns
            .iter()
            .flat_map(|t| t.iter().map(|b| vec![*b]))
            .collect();
        let single: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        // Byte by byte keeps turn boundaries intact only where DATA is the last byte of a read,
        // which holds for every transcript that passes the split runs above.
        let (r, e) = run(limits, tls, &single);
        assert_replies(&r, expected, "byte by byte");
        assert_eq!(e.messages, emu.messages, "byte by byte");
        emu
    }

    fn transcript(turns: &[&str], expected: &[&str]) -> Emu {
        let turns: Vec<&[u8]> = turns.iter().map(|t| t.as_bytes()).collect();
        transcript_with(&limits(), false, &turns, expected)
    }

    const TX: &str = "EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<x@gw.test>\r\nDATA\r\n";

    #[test]
    fn ehlo_advertises_extensions_without_starttls_when_tls_is_not_configured() {
        let (r, _) = run(&limits(), false, &[b"EHLO c.test\r\n"]);
        let ehlo = &r[1];
        for kw in [
            "250-mx.gw.test",
            "PIPELINING",
            "SIZE 26214400",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "SMTPUTF8",
        ] {
            assert!(ehlo.contains(kw), "{kw} missing in {ehlo}");
        }
        assert!(!ehlo.contains("STARTTLS"));
        let (r, _) = run(&limits(), true, &[b"EHLO c.test\r\n"]);
        assert!(r[1].ends_with("250 STARTTLS"), "{}", r[1]);
        assert!(r[0].starts_with("220 mx.gw.test ESMTP"));
    }

    #[test]
    fn one_transaction_with_dot_stuffing_undone() {
        let emu = transcript(
            &[TX, "Subject: t\r\n\r\n..leading dot\r\n.\r\n", "QUIT\r\n"],
            &[
                "220",
                "250-",
                "250 2.1.0",
                "250 2.1.5",
                "354",
                "250 2.0.0",
                "221 2.0.0",
            ],
        );
        assert_eq!(emu.messages.len(), 1);
        assert_eq!(emu.messages[0].0, "a@s.test");
        assert_eq!(emu.messages[0].1, vec!["x@gw.test".to_string()]);
        assert_eq!(emu.messages[0].2, b"Subject: t\r\n\r\n.leading dot\r\n");
        assert!(emu.closed);
    }

    #[test]
    fn helo_is_enough_and_empty_message_is_accepted() {
        let emu = transcript(
            &[
                "HELO c.test\r\nMAIL FROM:<>\r\nRCPT TO:<x@gw.test>\r\nDATA\r\n",
                ".\r\n",
            ],
            &[
                "220",
                "250 mx.gw.test",
                "250 2.1.0",
                "250 2.1.5",
                "354",
                "250 2.0.0",
            ],
        );
        assert_eq!(emu.messages[0].0, "");
        assert!(emu.messages[0].2.is_empty());
    }

    #[test]
    fn pipelined_transaction_gets_one_reply_per_command_in_order_rfc_2920() {
        let emu = transcript(
            &[
                "EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<x@gw.test>\r\nRCPT TO:<nobody@other.test>\r\nRCPT TO:<y@gw.test>\r\nDATA\r\n",
                "hello\r\n.\r\nQUIT\r\n",
            ],
            &[
                "220",
                "250-",
                "250 2.1.0",
                "250 2.1.5",
                "550 5.1.1",
                "250 2.1.5",
                "354",
                "250 2.0.0",
                "221",
            ],
        );
        assert_eq!(
            emu.messages[0].1,
            vec!["x@gw.test".to_string(), "y@gw.test".to_string()]
        );
    }

    #[test]
    fn bad_sequences_are_503() {
        transcript(&["MAIL FROM:<a@s.test>\r\n"], &["220", "503 5.5.1"]);
        transcript(
            &["EHLO c.test\r\nRCPT TO:<x@gw.test>\r\n"],
            &["220", "250", "503 5.5.1"],
        );
        transcript(&["EHLO c.test\r\nDATA\r\n"], &["220", "250", "503 5.5.1"]);
        transcript(
            &["EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nDATA\r\n"],
            &["220", "250", "250", "503 5.5.1"],
        );
        transcript(
            &["EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nMAIL FROM:<b@s.test>\r\n"],
            &["220", "250", "250", "503 5.5.1"],
        );
        // RSET and EHLO end the transaction (RFC 5321 4.1.4).
        transcript(
            &["EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nRSET\r\nRCPT TO:<x@gw.test>\r\n"],
            &["220", "250", "250", "250 2.0.0", "503 5.5.1"],
        );
        transcript(
            &["EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nEHLO c.test\r\nRCPT TO:<x@gw.test>\r\n"],
            &["220", "250", "250", "250", "503 5.5.1"],
        );
    }

    #[test]
    fn unknown_verbs_garbage_and_nul_are_500() {
        transcript(
            &["FOO bar\r\n\r\nEH\0LO x\r\n\x01\x02\x03\r\nNOOP\r\n"],
            &[
                "220",
                "500 5.5.1",
                "500 5.5.1",
                "500 5.5.1",
                "500 5.5.1",
                "250 2.0.0",
            ],
        );
    }

    #[test]
    fn argument_syntax_errors_are_501() {
        transcript(
            &[
                "EHLO\r\nEHLO c.test\r\nMAIL FROM:a@s.test\r\nMAIL FROM:<a@s.test> SIZE=abc\r\nMAIL FROM:<a@s.test> BODY=X\r\n",
            ],
            &[
                "220",
                "501 5.5.2",
                "250",
                "501 5.5.2",
                "501 5.5.4",
                "501 5.5.4",
            ],
        );
    }

    #[test]
    fn too_many_errors_close_with_421() {
        let l = Limits {
            max_errors: 3,
            ..limits()
        };
        let turns: &[&[u8]] = &[b"FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n"];
        let emu = transcript_with(&l, false, turns, &["220", "500", "500", "500", "421 4.7.0"]);
        assert!(emu.closed);
    }

    #[test]
    fn long_command_line_is_500_and_memory_bounded_rfc_5321_4_5_3_1_4() {
        let mut line = b"EHLO ".to_vec();
        line.extend(std::iter::repeat_n(b'a', 100_000));
        line.extend_from_slice(b"\r\nNOOP\r\n");
        // `run` asserts buffered_bytes() <= max_line_length after every feed.
        let (r, _) = run(&limits(), false, &[&line]);
        assert_replies(&r, &["220", "500 5.5.2", "250 2.0.0"], "one read");
        let chunks: Vec<&[u8]> = line.chunks(1000).collect();
        let (r, _) = run(&limits(), false, &chunks);
        assert_replies(&r, &["220", "500 5.5.2", "250 2.0.0"], "1000-byte reads");
        // Exactly at the limit is fine.
        let arg = "h".repeat(512 - "NOOP \r\n".len());
        transcript(&[&format!("NOOP {arg}\r\n")], &["220", "250"]);
        transcript(&[&format!("NOOP {arg}x\r\n")], &["220", "500 5.5.2"]);
    }

    #[test]
    fn bare_lf_in_command_line_is_one_bad_line_cve_2023_51764() {
        let emu = transcript(
            &["EHLO c.test\r\nMAIL FROM:<a@s.test>\nRCPT TO:<x@gw.test>\r\nNOOP\r\n"],
            &["220", "250", "500 5.5.2", "250 2.0.0"],
        );
        assert!(emu.mails.is_empty() && emu.rcpts.is_empty());
        transcript(&["NO\rOP\r\n"], &["220", "500 5.5.2"]);
        transcript(&["NOOP\n"], &["220"]); // a bare LF never ends a line
    }

    /// SMTP-HARDENING 11: each smuggling payload followed by a second envelope must yield at
    /// most the first message, never the second; ours refuses the message once, at the real end.
    #[test]
    fn smuggling_payloads_never_yield_a_second_envelope_cve_2023_51764() {
        for payload in ["\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r\n.\r\r\n"] {
            let body = format!(
                "Subject: one\r\n\r\nfirst{payload}MAIL FROM:<evil@s.test>\r\nRCPT TO:<victim@gw.test>\r\nDATA\r\n\r\nsmuggled\r\n.\r\n"
            );
            let emu = transcript(
                &[TX, &body, "QUIT\r\n"],
                &["220", "250", "250", "250", "354", "554 5.6.0", "221"],
            );
            assert!(emu.messages.is_empty(), "{payload:?}");
            assert_eq!(emu.mails, vec!["a@s.test".to_string()], "{payload:?}");
            assert!(
                !emu.rcpts.iter().any(|r| r.starts_with("victim")),
                "{payload:?}"
            );
        }
    }

    #[test]
    fn bare_lf_in_data_is_refused_after_the_real_end() {
        let emu = transcript(
            &[
                TX,
                "line one\nline two\r\n.\r\n",
                "MAIL FROM:<a@s.test>\r\nRCPT TO:<x@gw.test>\r\nDATA\r\n",
                "ok\r\n.\r\n",
            ],
            &[
                "220",
                "250",
                "250",
                "250",
                "354",
                "554 5.6.0",
                "250",
                "250",
                "354",
                "250 2.0.0",
            ],
        );
        assert_eq!(emu.messages.len(), 1);
        assert_eq!(emu.messages[0].2, b"ok\r\n");
    }

    #[test]
    fn bytes_after_data_before_354_are_refused_and_close() {
        // Not split: a split right after DATA\r\n is legitimate pipelining.
        let (r, emu) = run(
            &limits(),
            false,
            &[format!("{TX}Subject: x\r\n\r\nhi\r\n.\r\n").as_bytes()],
        );
        assert_replies(&r, &["220", "250", "250", "250", "554 5.5.0"], "one write");
        assert!(emu.closed);
        assert!(emu.messages.is_empty() && emu.body.is_none());
    }

    #[test]
    fn starttls_resets_the_session_and_requires_ehlo_rfc_3207() {
        let l = limits();
        let turns: &[&[u8]] = &[
            b"EHLO c.test\r\n",
            b"STARTTLS\r\n",
            b"MAIL FROM:<a@s.test>\r\nEHLO c.test\r\nSTARTTLS\r\n",
        ];
        let emu = transcript_with(
            &l,
            true,
            turns,
            &["220", "250", "220 2.0.0", "503 5.5.1", "250-", "503 5.5.1"],
        );
        assert_eq!(emu.tls_starts, 1);
        let (r, _) = run(&l, true, turns);
        assert!(
            !r[4].contains("STARTTLS"),
            "STARTTLS offered inside TLS: {}",
            r[4]
        );
    }

    #[test]
    fn plaintext_after_starttls_is_discarded_cve_2011_0411() {
        // Not split: what arrives in a later read would be TLS records, not plaintext.
        let (r, emu) = run(
            &limits(),
            true,
            &[
                b"EHLO c.test\r\n",
                b"STARTTLS\r\nMAIL FROM:<inj@s.test>\r\nRCPT TO:<x@gw.test>\r\n",
                b"EHLO c.test\r\nRCPT TO:<x@gw.test>\r\n",
            ],
        );
        assert_replies(
            &r,
            &["220", "250", "220 2.0.0", "250", "503 5.5.1"],
            "injection",
        );
        assert!(emu.mails.is_empty());
    }

    #[test]
    fn starttls_refusals() {
        transcript(
            &["EHLO c.test\r\nSTARTTLS\r\n"],
            &["220", "250", "502 5.5.1"],
        );
        let turns: &[&[u8]] = &[b"STARTTLS\r\nEHLO c.test\r\nMAIL FROM:<a@s.test>\r\nSTARTTLS\r\n"];
        transcript_with(
            &limits(),
            true,
            turns,
            &["220", "503 5.5.1", "250", "250", "503 5.5.1"],
        );
    }

    #[test]
    fn declared_size_over_the_limit_is_552_at_mail_rfc_1870() {
        let emu = transcript(
            &[
                "EHLO c.test\r\nMAIL FROM:<a@s.test> SIZE=1000000000000\r\nMAIL FROM:<a@s.test> SIZE=1000 BODY=8BITMIME\r\n",
            ],
            &["220", "250", "552 5.3.4", "250 2.1.0"],
        );
        assert_eq!(emu.mails, vec!["a@s.test".to_string()]);
    }

    #[test]
    fn body_over_the_limit_is_discarded_as_a_stream_and_552() {
        let l = Limits {
            max_message_size: 100,
            ..limits()
        };
        let big = format!("{}\r\n.\r\n", "a".repeat(1000));
        let turns: &[&[u8]] = &[TX.as_bytes(), big.as_bytes(), b"NOOP\r\n"];
        // `Emu` asserts that no more than 100 body bytes were handed out.
        let emu = transcript_with(
            &l,
            false,
            turns,
            &["220", "250", "250", "250", "354", "552 5.3.4", "250"],
        );
        assert!(emu.messages.is_empty() && emu.body.is_none());
    }

    #[test]
    fn recipients_up_to_the_cap_then_452() {
        let mut tx = "EHLO c.test\r\nMAIL FROM:<a@s.test>\r\n".to_string();
        let mut expected = vec!["220", "250", "250"];
        for i in 0..101 {
            tx.push_str(&format!("RCPT TO:<r{i}@gw.test>\r\n"));
            expected.push(if i < 100 { "250 2.1.5" } else { "452 4.5.3" });
        }
        let (r, emu) = run(&limits(), false, &[tx.as_bytes()]);
        assert_replies(&r, &expected, "101 recipients");
        assert_eq!(emu.rcpts.len(), 100);
    }

    #[test]
    fn messages_per_session_cap_is_452() {
        let l = Limits {
            max_messages_per_session: 2,
            ..limits()
        };
        let mail = b"MAIL FROM:<a@s.test>\r\nRCPT TO:<x@gw.test>\r\nDATA\r\n";
        let turns: &[&[u8]] = &[
            b"EHLO c.test\r\n",
            mail,
            b"one\r\n.\r\n",
            mail,
            b"two\r\n.\r\n",
            b"MAIL FROM:<a@s.test>\r\n",
        ];
        let emu = transcript_with(
            &l,
            false,
            turns,
            &[
                "220",
                "250",
                "250",
                "250",
                "354",
                "250",
                "250",
                "250",
                "354",
                "250",
                "452 4.4.5",
            ],
        );
        assert_eq!(emu.messages.len(), 2);
    }

    #[test]
    fn addresses_are_parsed_strictly() {
        let l = Limits {
            max_errors: 100,
            ..limits()
        };
        transcript_with(
            &l,
            false,
            &[concat!(
                "EHLO c.test\r\n",
                "MAIL FROM:<u%ext@s.test>\r\n",
                "MAIL FROM:<@relay.test:a@s.test>\r\n",
                "MAIL FROM:<\"a b\"@s.test>\r\n",
                "MAIL FROM:<a@s.test> FOO=bar\r\n",
                "MAIL FROM:<a@s.test> RET=FULL\r\n",
                "MAIL FROM:<a@s.test>\r\n",
                "RCPT TO:<>\r\n",
                "RCPT TO:<@a.test:b@gw.test>\r\n",
                "RCPT TO:<\"x@ext.test\"@gw.test>\r\n",
                "RCPT TO:<x@gw.test> NOTIFY=NEVER\r\n",
                "RCPT TO:<nodomain>\r\n",
                "RSET\r\n",
            )
            .as_bytes()],
            &[
                "220",
                "250",
                "501 5.1.3",
                "501 5.1.3",
                "501 5.1.3",
                "555 5.5.4",
                "555 5.5.4",
                "250 2.1.0",
                "501 5.1.3",
                "501 5.1.3",
                "501 5.1.3",
                "555 5.5.4",
                "501 5.1.3",
                "250",
            ],
        );
        let long = format!("EHLO c.test\r\nMAIL FROM:<{}@s.test>\r\n", "a".repeat(65));
        transcript(&[&long], &["220", "250", "501 5.1.3"]);
    }

    #[test]
    fn handler_replies_are_sent_as_is() {
        let (r, _) = run(
            &limits(),
            false,
            &[b"EHLO c.test\r\nMAIL FROM:<refuse@s.test>\r\nMAIL FROM:<a@s.test>\r\n"],
        );
        assert_eq!(r[2], "550 5.7.1 custom refusal from the handler");
        assert!(r[3].starts_with("250 2.1.0"));
    }

    #[test]
    fn informational_verbs() {
        transcript(
            &["VRFY postmaster\r\nEXPN list\r\nHELP\r\nNOOP\r\nRSET\r\nQUIT\r\nNOOP\r\n"],
            &[
                "220",
                "252 2.5.0",
                "502 5.5.1",
                "214 2.0.0",
                "250 2.0.0",
                "250 2.0.0",
                "221 2.0.0",
            ],
        );
    }

    #[test]
    fn bdat_is_refused_and_closes() {
        let emu = transcript(
            &["EHLO c.test\r\nBDAT 10 LAST\r\n0123456789"],
            &["220", "250", "502 5.5.1"],
        );
        assert!(emu.closed);
    }

    #[test]
    fn pregreet_is_554_and_close() {
        let mut s = Session::new(Arc::new(limits()), false);
        let mut out = Vec::new();
        s.greet(true, &mut out);
        assert!(matches!(&out[0], Output::Reply(r) if r.code == 554 && r.status == "5.5.0"));
        assert!(matches!(out[1], Output::Close));
        assert!(s.is_closed());
        assert_eq!(s.feed(b"EHLO c.test\r\n", &mut out), 0);
    }

    #[test]
    fn close_inside_data_discards_and_reports() {
        let mut s = Session::new(Arc::new(limits()), false);
        let mut emu = Emu::default();
        let (mut out, mut replies) = (Vec::new(), Vec::new());
        s.greet(false, &mut out);
        feed_read(&mut s, &mut emu, TX.as_bytes(), &mut replies);
        feed_read(&mut s, &mut emu, b"partial body", &mut replies);
        assert!(s.in_data() && !s.at_command_boundary());
        s.close(reply::TIMEOUT, "data_timeout", &mut out);
        assert!(out.iter().any(|o| matches!(o, Output::DiscardBody)));
        assert!(out.iter().any(
            |o| matches!(o, Output::Transaction(t) if t.reason == "data_timeout" && t.size == 12)
        ));
        emu.handle(&mut s, &mut out, &mut replies);
        assert_eq!(
            replies.last().map(String::as_str),
            Some("421 4.4.2 timeout; closing the connection")
        );
        assert!(emu.closed && emu.messages.is_empty());
    }

    proptest::proptest! {
        /// Arbitrary bytes, in arbitrary reads, never panic, never stall, never hold more than
        /// one line, never hand out more body than the limit (asserted inside `run`/`Emu`).
        #[test]
        fn arbitrary_input_is_bounded(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 0..20),
            prefix in proptest::sample::select(vec!["", "EHLO c.test\r\n", TX]),
        ) {
            let l = Limits { max_line_length: 64, max_message_size: 200, max_errors: 1000, ..limits() };
            let mut all: Vec<&[u8]> = vec![prefix.as_bytes()];
            all.extend(chunks.iter().map(Vec::as_slice));
            let (_, emu) = run(&l, true, &all);
            for m in &emu.messages {
                proptest::prop_assert!(m.2.len() <= 200);
            }
        }
    }
}
