//! The SMTP side of the gateway: accept loop, one task per connection, and the sans-I/O session.
//!
//! `smtp` knows nothing of invoices or storage. It asks a [`Handler`] at MAIL, RCPT and end of
//! data and answers with the [`Reply`] it is told. The handler (the [`crate::gateway`]) owns the
//! policy, intake and spool.
//!
//! - [`session`]: the protocol state machine around smtp-proto; bytes in, outputs out, no I/O.
//! - [`conn`]: the shell that drives one session over a socket (timeouts, TLS, body streaming).
//! - [`server`]: the accept loop, connection limits, TLS acceptor, graceful shutdown.
//! - [`reply`]: every reply we send, as named constants.
//! - [`limits`]: typed session limits.

pub mod conn;
pub mod limits;
pub mod rate;
pub mod reply;
pub mod server;
pub mod session;

use std::future::Future;
use std::net::SocketAddr;

pub use reply::Reply;

use crate::address::Address;

/// What the session knows about the client when it asks the handler.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Our id for this connection, as logged (`sid`).
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The EHLO/HELO argument.
    pub helo: String,
    /// Whether the session is running over TLS (after STARTTLS).
    pub tls: bool,
    /// The TLS version and cipher (`TLSv1_3 TLS13_AES_256_GCM_SHA384`) once TLS runs.
    pub tls_params: Option<String>,
}

/// The envelope of one transaction, handed over at end of data. The session parses each path
/// once ([`Address`]); nothing after it parses them again.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// MAIL FROM; `None` for the null sender `<>`.
    pub mail_from: Option<Address>,
    /// Accepted RCPT TO forward paths, in the order given.
    pub rcpt_to: Vec<Address>,
    /// The SIZE parameter the client declared, if any.
    pub declared_size: Option<u64>,
}

/// Where the shell streams the (dot-unstuffed) message body while DATA arrives.
///
/// Implemented by the spool's staging buffer: memory up to a threshold, then a file.
pub trait BodySink: Send + 'static {
    /// Appends a chunk of the body.
    ///
    /// # Errors
    /// An I/O error (disk full, ...): the session answers 4xx and discards the message.
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()>;
}

/// The gateway side of the session: asked at each stage of a transaction.
///
/// Each method returns the reply to send. A refusal is a `Reply` with a 4xx/5xx code.
pub trait Handler: Send + Sync + 'static {
    /// The body buffer type handed out at DATA.
    type Body: BodySink;

    /// MAIL FROM. `reverse_path` is `None` for the null sender.
    ///
    /// # Errors
    /// The refusal to send instead of 250.
    fn mail(
        &self,
        session: &SessionInfo,
        reverse_path: Option<&Address>,
        declared_size: Option<u64>,
    ) -> Result<(), Reply>;

    /// RCPT TO, after a successful MAIL.
    ///
    /// # Errors
    /// The refusal to send instead of 250.
    fn rcpt(
        &self,
        session: &SessionInfo,
        reverse_path: Option<&Address>,
        forward_path: &Address,
    ) -> Result<(), Reply>;

    /// DATA was accepted: a fresh body buffer for this transaction.
    ///
    /// # Errors
    /// A refusal (e.g. 452 4.3.1 when the spool cannot take a message now).
    fn open_body(&self, session: &SessionInfo, envelope: &Envelope) -> Result<Self::Body, Reply>;

    /// The final dot arrived and the body is complete and within limits: judge, store, and
    /// answer. The 250 must only be returned once the message is durable.
    fn end_of_data(
        &self,
        session: &SessionInfo,
        envelope: Envelope,
        body: Self::Body,
    ) -> impl Future<Output = Reply> + Send;
}
