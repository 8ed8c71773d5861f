//! Delivery: every accepted document leaves the spool for its sinks, at least once, with
//! retries for days and dead letters kept for re-offer.
//!
//! - [`queue`]: the queue policy, pure: back-off with jitter, the retry decision per answer,
//!   the per-sink pause after repeated failures. No I/O, no clock: tested alone.
//! - [`payload`]: the metadata every sink sends about a document (the webhook's JSON, the
//!   directory sink's `.json`, the NATS headers), built from the spool's records.
//! - [`sink`]: the [`Sink`] trait and one file per peer (webhook, directory, smtp, nats).
//! - [`worker`]: the shell: claims due jobs from the spool, runs them on the sinks with a
//!   concurrency limit per sink and a total, records every attempt, honours shutdown.
//!
//! The queue itself lives in the spool (`spool::queue`): one record per (document, sink) and
//! a due index, written by the spool's writer thread in the same transaction as the message,
//! so a crash at any point loses no queued delivery.

pub mod payload;
pub mod queue;
pub mod sink;
pub mod stored;
pub mod worker;

use std::time::{Duration, SystemTime};

pub use payload::DocumentMeta;
pub use sink::Sink;

/// One document (or, for a sink that forwards whole messages, one message) on its way to one
/// sink: what a [`Sink`] is given.
#[derive(Debug, Clone)]
pub struct Item {
    /// Stable per (document, sink), the same on every attempt and after a restart: the
    /// webhook's `webhook-id` and `Idempotency-Key`, the NATS `Nats-Msg-Id`, the directory
    /// sink's file stem is the document id instead.
    pub delivery_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// What the document is, for the payload.
    pub meta: DocumentMeta,
    /// The invoice XML, as received (decoded from its transfer encoding).
    pub xml: Vec<u8>,
    /// The paired PDF, if any.
    pub pdf: Option<Vec<u8>>,
    /// The message as received, only for sinks whose [`Sink::needs_raw`] is true.
    pub raw: Option<Vec<u8>>,
}

/// What one attempt came to, as the sink read the downstream's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The downstream took it: its answer, e.g. `HTTP 200` or `250 2.0.0 queued as X`.
    Delivered {
        /// The downstream's answer, short, for `spool show`.
        answer: String,
    },
    /// Try again later (a 5xx webhook answer, a 4xx relay reply, a timeout, a refused
    /// connection).
    Retry {
        /// What went wrong, for `spool show` and the log.
        error: String,
        /// The downstream asked for this wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Never going to work as it is (a 4xx webhook answer other than 408/425/429, a 5xx relay
    /// reply): dead-letter at once.
    Permanent {
        /// Why.
        error: String,
    },
    /// Not attempted, by the sink's own rule, until `until`: the notices' rate cap defers a
    /// notice to the digest at the end of its contact's hour. Not a failure: the delivery stays
    /// pending with this due time (so a crash loses nothing), the time is not cut to
    /// `max_backoff` nor lost to `max_age`, and the sink is not paused for it.
    Defer {
        /// When to try again.
        until: SystemTime,
        /// Why, for `spool show` and the log.
        reason: String,
    },
}

impl Outcome {
    /// A retryable failure without a requested wait.
    pub fn retry(error: impl Into<String>) -> Outcome {
        Outcome::Retry {
            error: error.into(),
            retry_after: None,
        }
    }

    /// A permanent failure.
    pub fn permanent(error: impl Into<String>) -> Outcome {
        Outcome::Permanent {
            error: error.into(),
        }
    }
}
