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
        /// MAIL FROM path, empty for `<>`.
        reverse_path: String,
        /// The SIZE parameter, if given.
        declared_size: Option<u64>,
    },
    /// Ask [`super::Handler::rcpt`], then [`Session::resume`] with its answer.
    Rcpt {
        /// The transaction's MAIL FROM path.
        reverse_path: String,
        /// The RCPT TO path.
        forward_path: String,
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
    Rcpt(String),
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
                    mail_from: envelope.mail_from,
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
        let Some(reverse_path) =
            plain_path(line).filter(|p| p.is_empty() || Address::parse(p).is_ok())
        else {
            return self.error(reply::BAD_SENDER, out);
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
        let Some(forward_path) = plain_path(line).filter(|p| Address::parse(p).is_ok()) else {
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
                    mail_from: envelope.mail_from,
                    rcpt_count: envelope.rcpt_to.len(),
                    size,
                    reply: Some(r.clone()),
                    reason,
                }));
                out.push(Output::Reply(r));
            }
            None => {
                self.phase = Phase::Waiting(Pending::EndOfData {
                    mail_from: envelope.mail_from.clone(),
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
                mail_from: envelope.mail_from,
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
