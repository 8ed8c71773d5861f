//! trustgate: an SMTP gateway that receives e-invoices from trusted suppliers.
//!
//! The flow of one message, in the order of the modules below:
//!
//! 1. [`smtp`] accepts a connection and runs the SMTP dialogue (a sans-I/O state machine in
//!    `smtp::session` driven by the socket shell in `smtp::conn`).
//! 2. At MAIL and RCPT it asks the [`policy`] whether the recipient is a known address and the
//!    envelope sender is trusted for it; refusals happen in the session.
//! 3. The body is streamed into spool staging while it arrives (size limit enforced while reading).
//! 4. At end of data [`intake`] parses the MIME tree, finds each invoice XML (recognised by
//!    [`invoice`]), pairs it with its same-named PDF, and the policy checks the header From.
//! 5. [`spool`] commits the raw message and its documents durably (group commit, fsync).
//! 6. Only then does the session answer 250; any internal failure answers 4xx. The same
//!    transaction queued one delivery per (document, sink).
//! 7. [`delivery`] claims due deliveries from the spool and sends each document to its sinks
//!    (webhook, directory, SMTP relay, NATS JetStream), retrying for days, keeping dead letters.
//!
//! [`config`] turns the admin's TOML into the typed, validated [`config::Config`] that all of
//! the above read; [`cli`] is the command line.

pub mod address;
pub mod admin;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod delivery;
pub mod gateway;
pub mod intake;
pub mod invoice;
pub mod notify;
pub mod observe;
pub mod policy;
pub mod shutdown;
pub mod smtp;
pub mod spool;
pub mod systemd;
pub mod telemetry;
pub mod text;
