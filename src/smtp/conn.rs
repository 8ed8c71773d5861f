//! The shell that drives one [`Session`] over a byte stream: reads, feeds, asks the handler,
//! writes, and enforces the timeouts and the shutdown rules.
//!
//! Called by `smtp::server` once per accepted connection, on its own task. It is generic over
//! `AsyncRead + AsyncWrite`, so plaintext and TLS (after STARTTLS) run the same code. It streams
//! body chunks straight into the handler's [`BodySink`] and never holds a whole message; the
//! handler's `end_of_data` future is awaited to completion and never raced against cancellation.
//! It logs one info line per transaction and one per connection, never a message body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::limits::Limits;
use super::session::{Answer, Outcome, Output, Session};
use super::{BodySink, Handler, Reply, SessionInfo, reply};
use crate::text::display_safe;

/// Bytes read from the socket at once. Small, so that thousands of idle sessions stay cheap;
/// the session copies at most one partial command line out of it.
const READ_BUFFER: usize = 4096;

/// How long the final flush and close may take before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything one connection needs from the server.
pub struct ConnContext<H> {
    /// Our id for this connection (`sid` in logs).
    pub sid: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The gateway.
    pub handler: Arc<H>,
    /// Session limits.
    pub limits: Arc<Limits>,
    /// The STARTTLS acceptor, when TLS is configured.
    pub tls: Option<TlsAcceptor>,
    /// The client sent bytes before our banner (see `smtp::server`).
    pub pregreet: bool,
    /// The listener speaks TLS from the first byte (implicit TLS, `listen_tls`): the handshake
    /// comes before the banner, and STARTTLS is not offered.
    pub implicit_tls: bool,
    /// Graceful shutdown: answer 421 4.3.2 at the next command boundary.
    pub shutdown: CancellationToken,
    /// Forced close after the shutdown timeout: 421 4.3.2 wherever the session is (except while
    /// the handler judges a message).
    pub hard_stop: CancellationToken,
}

/// Runs one session to its end, inside a `session{sid, peer}` span.
///
/// # Cancel safety
/// Not cancel safe: dropping it may drop a body sink mid-message (nothing is acknowledged in
/// that case). The server lets it run to completion and uses `hard_stop` instead.
pub async fn run<S, H>(stream: S, ctx: ConnContext<H>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    let span = info_span!("session", sid = ctx.sid, peer = %ctx.peer);
    if !ctx.implicit_tls {
        run_inner(stream, ctx, None).instrument(span).await;
        return;
    }
    async {
        let Some(acceptor) = ctx.tls.clone() else {
            // Config validation requires [server.tls] for listen_tls.
            warn!("implicit TLS listener without a certificate; closing");
            return;
        };
        match timeout(ctx.limits.command_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                let params = tls_params(tls.get_ref().1);
                run_inner(tls, ctx, Some(params)).await;
            }
            Ok(Err(e)) => info!(error = %e, reason = "tls_handshake_failed", "connection closed"),
            Err(_) => info!(reason = "tls_handshake_timeout", "connection closed"),
        }
    }
    .instrument(span)
    .await;
}

/// The TLS version and cipher of a session, for the trace field and the spool:
/// `TLSv1_3 TLS13_AES_256_GCM_SHA384`.
fn tls_params(conn: &rustls::ServerConnection) -> String {
    let version = conn
        .protocol_version()
        .map_or_else(|| "TLS".to_string(), |v| format!("{v:?}"));
    match conn.negotiated_cipher_suite() {
        Some(suite) => format!("{version} {:?}", suite.suite()),
        None => version,
    }
}

async fn run_inner<S, H>(mut stream: S, ctx: ConnContext<H>, tls_params: Option<String>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    let started = Instant::now();
    crate::observe::connection();
    let ConnContext {
        sid,
        peer,
        handler,
        limits,
        tls,
        pregreet,
        implicit_tls,
        shutdown,
        hard_stop,
    } = ctx;
    debug!("connection opened");
    let mut conn = Conn {
        session: if implicit_tls {
            Session::new_over_tls(limits.clone())
        } else {
            Session::new(limits.clone(), tls.is_some())
        },
        info: SessionInfo {
            id: sid,
            peer,
            helo: String::new(),
            tls: implicit_tls,
            tls_params,
        },
        handler,
        deadline: started + limits.session_timeout,
        limits,
        shutdown,
        hard_stop,
        body: None,
        sink_error: None,
        tx_started: None,
        rbuf: vec![0; READ_BUFFER],
        start: 0,
        end: 0,
        wbuf: Vec::new(),
        out: Vec::new(),
        end_reason: "closed",
    };
    let mut out = Vec::new();
    conn.session.greet(pregreet, &mut out);
    conn.out = out;

    let flow = conn.drive(&mut stream).await;
    match (flow, tls) {
        (Flow::StartTls, Some(acceptor)) if !implicit_tls => conn.start_tls(acceptor, stream).await,
        _ => close_stream(&mut stream).await,
    }
    info!(
        sid,
        peer = %peer,
        messages = conn.session.messages(),
        errors = conn.session.errors(),
        tls = conn.session.tls_active(),
        elapsed_ms = elapsed_ms(started),
        reason = conn.end_reason,
        "connection closed"
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Close,
    StartTls,
}

struct Conn<H: Handler> {
    session: Session,
    info: SessionInfo,
    handler: Arc<H>,
    limits: Arc<Limits>,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
    /// The whole-session deadline.
    deadline: Instant,
    /// The open body sink, between open_body and end of data.
    body: Option<H::Body>,
    /// The sink failed: the message is answered 451 at its end instead of being judged.
    sink_error: Option<std::io::Error>,
    /// When the current transaction's MAIL arrived (for `elapsed_ms`).
    tx_started: Option<Instant>,
    /// Read buffer; `start..end` is not yet consumed by the session.
    rbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// Replies waiting to be flushed (RFC 2920: batched until we must wait for input).
    wbuf: Vec<u8>,
    /// Outputs not yet acted on.
    out: Vec<Output>,
    /// Why the connection ended, for the last log line.
    end_reason: &'static str,
}

impl<H: Handler> Conn<H> {
    /// Completes the STARTTLS handshake and runs the rest of the session over TLS.
    async fn start_tls<S>(&mut self, acceptor: TlsAcceptor, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        // CVE-2011-0411: the session consumed (discarded) all buffered plaintext; make sure the
        // shell's buffer is empty as well.
        self.start = 0;
        self.end = 0;
        let handshake = timeout(self.limits.command_timeout, acceptor.accept(stream)).await;
        match handshake {
            Ok(Ok(mut tls)) => {
                debug!("tls established");
                self.session.tls_started();
                self.info.tls = true;
                self.info.tls_params = Some(tls_params(tls.get_ref().1));
                self.end_reason = "closed";
                // A second STARTTLS is refused by the session, so this returns Close.
                let _ = self.drive(&mut tls).await;
                close_stream(&mut tls).await;
            }
            Ok(Err(e)) => {
                info!(error = %e, "tls handshake failed");
                self.end_reason = "tls_handshake_failed";
            }
            Err(_) => self.end_reason = "tls_handshake_timeout",
        }
    }

    /// Runs the session over `io` until it closes or asks for STARTTLS.
    async fn drive<S>(&mut self, io: &mut S) -> Flow
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        loop {
            if self.start < self.end {
                let n = self
                    .session
                    .feed(&self.rbuf[self.start..self.end], &mut self.out);
                if n == 0 && self.out.is_empty() {
                    // The session takes no input and has nothing to say: it cannot progress.
                    self.end_reason = "session_stalled";
                    return Flow::Close;
                }
                self.start += n;
            }
            if self.start >= self.end {
                self.start = 0;
                self.end = 0;
            }
            if let Some(flow) = self.act().await {
                if flow == Flow::StartTls {
                    // CVE-2011-0411: nothing read before the handshake survives it.
                    self.start = 0;
                    self.end = 0;
                }
                if self.flush(io).await.is_err() && flow == Flow::StartTls {
                    return Flow::Close;
                }
                return flow;
            }
            if self.start < self.end {
                continue; // pipelined input left after an answered ask
            }
            // RFC 2920 3.1: flush the batched replies before waiting for more input.
            if self.flush(io).await.is_err() {
                self.session.disconnected(&mut self.out);
                self.act_logs_only();
                return Flow::Close;
            }
            match self.read(io).await {
                Ok(0) => {
                    self.end_reason = "client_closed";
                    self.session.disconnected(&mut self.out);
                    self.act_logs_only();
                    return Flow::Close;
                }
                Ok(n) => self.end = n,
                Err(ReadStop::Io(e)) => {
                    debug!(error = %e, "read failed");
                    self.end_reason = "read_error";
                    self.session.disconnected(&mut self.out);
                    self.act_logs_only();
                    return Flow::Close;
                }
                Err(ReadStop::Close(reply, reason)) => {
                    self.end_reason = reason;
                    self.session.close(reply, reason, &mut self.out);
                    let _ = self.act().await;
                    let _ = self.flush(io).await;
                    return Flow::Close;
                }
            }
        }
    }

    /// Waits for input under the timeouts and the shutdown rules.
    ///
    /// # Cancel safety
    /// The read branch is cancel safe (a dropped `read` loses no bytes).
    async fn read<S>(&mut self, io: &mut S) -> Result<usize, ReadStop>
    where
        S: AsyncRead + Unpin,
    {
        let boundary = self.session.at_command_boundary();
        if boundary && self.shutdown.is_cancelled() {
            return Err(ReadStop::Close(reply::SHUTTING_DOWN, "shutdown"));
        }
        if self.hard_stop.is_cancelled() {
            return Err(ReadStop::Close(reply::SHUTTING_DOWN, "shutdown_forced"));
        }
        // RFC 5321 4.5.3.2: the DATA block timeout while a message arrives, else the command one.
        let idle = if self.session.in_data() {
            self.limits.data_timeout
        } else {
            self.limits.command_timeout
        };
        let buf = &mut self.rbuf[..];
        tokio::select! {
            biased;
            () = self.hard_stop.cancelled() => Err(ReadStop::Close(reply::SHUTTING_DOWN, "shutdown_forced")),
            () = self.shutdown.cancelled(), if boundary => Err(ReadStop::Close(reply::SHUTTING_DOWN, "shutdown")),
            () = tokio::time::sleep_until(self.deadline) => Err(ReadStop::Close(reply::TIMEOUT, "session_timeout")),
            r = timeout(idle, io.read(buf)) => match r {
                Ok(Ok(n)) => Ok(n),
                Ok(Err(e)) => Err(ReadStop::Io(e)),
                Err(_) => Err(ReadStop::Close(reply::TIMEOUT, if self.session.in_data() { "data_timeout" } else { "command_timeout" })),
            },
        }
    }

    /// Acts on queued outputs, asking the handler and resuming the session until nothing is
    /// left. Returns `Some` when the connection must close or switch to TLS.
    async fn act(&mut self) -> Option<Flow> {
        let mut flow = None;
        while !self.out.is_empty() {
            let batch = std::mem::take(&mut self.out);
            for output in batch {
                match output {
                    Output::Reply(r) => {
                        debug!(reply = %r, "reply");
                        crate::observe::reply(r.code, r.status);
                        self.wbuf.extend_from_slice(&r.to_wire());
                    }
                    Output::Lines(lines) => {
                        debug!(reply = lines.first().map(|r| r.code).unwrap_or(0), "reply");
                        if let Some(first) = lines.first() {
                            crate::observe::reply(first.code, first.status);
                        }
                        self.wbuf.extend_from_slice(&reply::lines_to_wire(&lines));
                    }
                    Output::Mail {
                        reverse_path,
                        declared_size,
                    } => {
                        self.tx_started = Some(Instant::now());
                        self.sync_info();
                        let answer =
                            self.handler
                                .mail(&self.info, reverse_path.as_ref(), declared_size);
                        debug!(mail_from = %display_safe(&super::session::path_text(reverse_path.as_ref())), accepted = answer.is_ok(), "mail");
                        self.session.resume(answer.into(), &mut self.out);
                    }
                    Output::Rcpt {
                        reverse_path,
                        forward_path,
                    } => {
                        self.sync_info();
                        let answer =
                            self.handler
                                .rcpt(&self.info, reverse_path.as_ref(), &forward_path);
                        debug!(rcpt = %display_safe(&forward_path.to_string()), accepted = answer.is_ok(), "rcpt");
                        self.session.resume(answer.into(), &mut self.out);
                    }
                    Output::OpenBody(envelope) => {
                        self.sync_info();
                        self.sink_error = None;
                        let answer = match self.handler.open_body(&self.info, &envelope) {
                            Ok(body) => {
                                self.body = Some(body);
                                Answer::Accept
                            }
                            Err(r) => Answer::Reply(r),
                        };
                        self.session.resume(answer, &mut self.out);
                    }
                    Output::Body(chunk) => {
                        if let (Some(body), None) = (&mut self.body, &self.sink_error)
                            && let Err(e) = body.write(&chunk)
                        {
                            self.sink_error = Some(e);
                            self.body = None;
                        }
                    }
                    Output::EndOfData(envelope) => {
                        let reply = self.end_of_data(envelope).await;
                        self.session.resume(Answer::Reply(reply), &mut self.out);
                    }
                    Output::DiscardBody => {
                        self.body = None;
                        self.sink_error = None;
                    }
                    Output::Transaction(outcome) => self.log_transaction(&outcome),
                    Output::StartTls => flow = Some(Flow::StartTls),
                    Output::Close => flow = Some(Flow::Close),
                }
            }
        }
        flow
    }

    /// Acts on outputs that need no I/O (after the client went away).
    fn act_logs_only(&mut self) {
        for output in std::mem::take(&mut self.out) {
            if let Output::Transaction(outcome) = output {
                self.log_transaction(&outcome);
            }
        }
        self.body = None;
    }

    /// The final dot: hand the body to the handler and wait for its verdict. Never raced
    /// against shutdown (STYLE 3.6): a commit in progress finishes.
    async fn end_of_data(&mut self, envelope: super::Envelope) -> Reply {
        self.sync_info();
        let body = self.body.take();
        if let Some(e) = self.sink_error.take() {
            warn!(error = %e, "body sink failed; message not stored");
            // SMTP-HARDENING 40: a full disk is 452 4.3.1, anything else 451 4.3.0.
            return if matches!(
                e.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) {
                reply::SPOOL_FULL
            } else {
                reply::LOCAL_ERROR
            };
        }
        match body {
            Some(body) => self.handler.end_of_data(&self.info, envelope, body).await,
            None => reply::LOCAL_ERROR,
        }
    }

    fn sync_info(&mut self) {
        if self.info.helo != self.session.helo() {
            self.info.helo = self.session.helo().to_string();
        }
        self.info.tls = self.session.tls_active();
    }

    fn log_transaction(&mut self, outcome: &Outcome) {
        let elapsed = self.tx_started.take().map(elapsed_ms).unwrap_or(0);
        let reply = outcome
            .reply
            .as_ref()
            .map(|r| format!("{} {}", r.code, r.status))
            .unwrap_or_default();
        info!(
            sid = self.info.id,
            peer = %self.info.peer,
            mail_from = %display_safe(&outcome.mail_from),
            rcpt = outcome.rcpt_count,
            size = outcome.size,
            reply = %reply,
            reason = outcome.reason,
            elapsed_ms = elapsed,
            "transaction ended"
        );
    }

    /// Writes the batched replies, under the command timeout (a client that does not read
    /// cannot hold the task forever).
    async fn flush<S>(&mut self, io: &mut S) -> std::io::Result<()>
    where
        S: AsyncWrite + Unpin,
    {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let write = async {
            io.write_all(&self.wbuf).await?;
            io.flush().await
        };
        let result = match timeout(self.limits.command_timeout, write).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write timed out",
            )),
        };
        self.wbuf.clear();
        if let Err(e) = &result {
            debug!(error = %e, "write failed");
            self.end_reason = "write_error";
        }
        result
    }
}

enum ReadStop {
    Io(std::io::Error),
    /// Close with this reply; the reason is logged.
    Close(Reply, &'static str),
}

/// Shuts the write side down (TLS close_notify, FIN), bounded in time.
async fn close_stream<S: AsyncWrite + Unpin>(io: &mut S) {
    let _ = timeout(CLOSE_TIMEOUT, io.shutdown()).await;
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
