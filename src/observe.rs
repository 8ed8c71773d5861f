//! What the daemon counts, for Prometheus (issue 12, section 2): one registry
//! (prometheus-client), and one function per event that both logs it and counts it, so the
//! logs and the metrics cannot disagree. The counters are process-wide (`metrics()`); the
//! gauges of the queue and the spool are read from the spool when `/metrics` is scraped
//! ([`Metrics::encode`]).

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `code` and `enhanced` of an SMTP reply.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplyLabels {
    /// e.g. `250`.
    pub code: String,
    /// e.g. `2.0.0`; empty when the reply has none.
    pub enhanced: String,
}

/// A message's outcome and why.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// `accepted`, `refused`, or `postmaster` (mail for postmaster@ or abuse@, forwarded).
    pub outcome: String,
    /// The refusal's reason code (`policy::Refusal::reason`), `none` when accepted.
    pub reason: String,
}

/// A stored document.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DocumentLabels {
    /// `ready`, `duplicate`, `rejected`, `withheld`.
    pub status: String,
    /// The specification, e.g. `si-ubl-2.0`, or `unknown`.
    pub specification: String,
    /// The organisation id.
    pub organisation: String,
}

/// A delivery attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// The sink.
    pub sink: String,
    /// `delivered`, `retry`, `failed`.
    pub outcome: String,
}

/// One sink.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    /// The sink.
    pub sink: String,
}

/// A connection refused before its session started.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    /// `too_many_connections` (421 4.7.0) or `connection_rate` (451 4.7.1).
    pub reason: String,
}

/// A notice sent.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NoticeLabels {
    /// `refused`, `undeliverable`, `invitation`, `digest`.
    pub kind: String,
}

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    connections: Counter,
    connections_refused: Family<RefusedLabels, Counter>,
    replies: Family<ReplyLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    documents: Family<DocumentLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    attempt_seconds: Family<SinkLabels, Histogram>,
    commit_seconds: Histogram,
    notices: Family<NoticeLabels, Counter>,
    queue_depth: Family<SinkLabels, Gauge>,
    queue_oldest_seconds: Family<SinkLabels, Gauge>,
    spool_bytes: Gauge,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 65 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("trustgate");
        let connections = Counter::default();
        registry.register(
            "smtp_connections",
            "SMTP connections accepted",
            connections.clone(),
        );
        let connections_refused = Family::<RefusedLabels, Counter>::default();
        registry.register(
            "smtp_connections_refused",
            "SMTP connections refused before the session (caps and connection rates), by reason",
            connections_refused.clone(),
        );
        let replies = Family::<ReplyLabels, Counter>::default();
        registry.register(
            "smtp_replies",
            "SMTP replies sent, by code and enhanced status code",
            replies.clone(),
        );
        let messages = Family::<MessageLabels, Counter>::default();
        registry.register(
            "messages",
            "Messages at end of data, accepted or refused, by reason",
            messages.clone(),
        );
        let documents = Family::<DocumentLabels, Counter>::default();
        registry.register(
            "documents",
            "Invoice documents stored, by status, specification and organisation",
            documents.clone(),
        );
        let attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "delivery_attempts",
            "Delivery attempts, by sink and outcome",
            attempts.clone(),
        );
        let attempt_seconds = Family::<SinkLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "delivery_attempt_seconds",
            "How long a delivery attempt took, by sink",
            attempt_seconds.clone(),
        );
        let commit_seconds = latency_histogram();
        registry.register(
            "spool_commit_seconds",
            "From a message's commit request to its durable commit (the wait before the 250)",
            commit_seconds.clone(),
        );
        let notices = Family::<NoticeLabels, Counter>::default();
        registry.register(
            "notices_sent",
            "Mail sent to supplier contacts and admins, by kind",
            notices.clone(),
        );
        let queue_depth = Family::<SinkLabels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Deliveries pending or in flight, by sink (read at scrape time)",
            queue_depth.clone(),
        );
        let queue_oldest_seconds = Family::<SinkLabels, Gauge>::default();
        registry.register(
            "queue_oldest_pending_seconds",
            "Seconds since the longest waiting delivery was queued or re-offered, by sink (read at scrape time)",
            queue_oldest_seconds.clone(),
        );
        let spool_bytes = Gauge::default();
        registry.register(
            "spool_bytes",
            "Bytes on disk in the spool directory (database and files)",
            spool_bytes.clone(),
        );
        Metrics {
            registry,
            connections,
            connections_refused,
            replies,
            messages,
            documents,
            attempts,
            attempt_seconds,
            commit_seconds,
            notices,
            queue_depth,
            queue_oldest_seconds,
            spool_bytes,
        }
    }

    /// The text exposition, after reading the queue and spool gauges from `spool` for
    /// `sinks`.
    ///
    /// # Errors
    /// A spool read failed.
    pub fn encode(
        &self,
        spool: &crate::spool::Spool,
        sinks: &[String],
    ) -> Result<String, crate::spool::SpoolError> {
        let now = std::time::SystemTime::now();
        for sink in sinks {
            let (depth, oldest) = spool.queue_stats(sink)?;
            let label = SinkLabels { sink: sink.clone() };
            self.queue_depth
                .get_or_create(&label)
                .set(i64::try_from(depth).unwrap_or(i64::MAX));
            let age = oldest
                .and_then(|t| now.duration_since(t).ok())
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            self.queue_oldest_seconds.get_or_create(&label).set(age);
        }
        self.spool_bytes
            .set(i64::try_from(dir_bytes(spool.path())).unwrap_or(i64::MAX));
        self.text()
            .map_err(|e| crate::spool::SpoolError::Database(format!("metrics: {e}")))
    }

    /// The text exposition as it stands, the gauges read at the last [`Metrics::encode`].
    ///
    /// # Errors
    /// Formatting failed.
    pub fn text(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Bytes of the files in `dir` and one level of subdirectories (the spool's layout:
/// `spool.redb`, `bodies/`, `quarantine/`).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if let Ok(inner) = std::fs::read_dir(entry.path()) {
                total += inner
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .filter(std::fs::Metadata::is_file)
                    .map(|m| m.len())
                    .sum::<u64>();
            }
        } else {
            total += meta.len();
        }
    }
    total
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// A connection was accepted.
pub fn connection() {
    metrics().connections.inc();
}

/// A connection from `peer` refused before its session with `reply` (`"421 4.7.0"`) for
/// `reason` (`too_many_connections`, `connection_rate`): logged and counted here, its reply
/// too.
pub fn connection_refused(sid: u64, peer: std::net::SocketAddr, reason: &str, reply: (u16, &str)) {
    tracing::info!(sid, peer = %peer, reply = %format!("{} {}", reply.0, reply.1), reason, "connection refused");
    metrics()
        .connections_refused
        .get_or_create(&RefusedLabels {
            reason: reason.into(),
        })
        .inc();
    self::reply(reply.0, reply.1);
}

/// A message for the postmaster (`rcpts`) stored as `mid`, to be forwarded: logged and counted
/// here (`trustgate_messages_total{outcome="postmaster"}`).
pub fn postmaster_stored(sid: u64, mid: &str, rcpts: &str) {
    tracing::info!(sid, mid, rcpt = rcpts, "message for the postmaster stored");
    metrics()
        .messages
        .get_or_create(&MessageLabels {
            outcome: "postmaster".into(),
            reason: "none".into(),
        })
        .inc();
}

/// An SMTP reply was sent.
pub fn reply(code: u16, enhanced: &str) {
    metrics()
        .replies
        .get_or_create(&ReplyLabels {
            code: code.to_string(),
            enhanced: enhanced.to_string(),
        })
        .inc();
}

/// A message was stored and accepted: logged and counted here.
pub fn message_accepted(sid: u64, mid: &str, documents: usize) {
    tracing::info!(sid, mid, documents, "message stored");
    metrics()
        .messages
        .get_or_create(&MessageLabels {
            outcome: "accepted".into(),
            reason: "none".into(),
        })
        .inc();
}

/// A message was refused at end of data for `reason` with `reply`, and recorded in the spool
/// (`mid`) or not: logged and counted here.
pub fn message_refused(sid: u64, mid: Option<&str>, reason: &str, reply: &str) {
    match mid {
        Some(mid) => {
            tracing::info!(sid, mid, reason, reply, "message refused and recorded");
        }
        None => tracing::info!(sid, reason, reply, "message refused; not stored"),
    }
    metrics()
        .messages
        .get_or_create(&MessageLabels {
            outcome: "refused".into(),
            reason: reason.into(),
        })
        .inc();
}

/// A message the spool stored: the statuses it gave its documents are counted, and what only
/// the spool's indexes know (a resend of an earlier message, a duplicate invoice) is logged
/// with the message's id.
pub fn message_committed(record: &crate::spool::MessageRecord) {
    let mid = record.id.as_str();
    if let Some(earlier) = &record.resend_of {
        tracing::info!(
            mid,
            resend_of = earlier.as_str(),
            "resend: the same message was received before; its invoices are not delivered again"
        );
    }
    for d in &record.documents {
        if let Some(first) = &d.duplicate_of {
            tracing::info!(
                mid,
                doc = d.index,
                duplicate_of = first.message.as_str(),
                duplicate_of_doc = first.document,
                invoice = d.invoice_number.as_deref().unwrap_or_default(),
                "duplicate invoice: received before; not delivered again"
            );
        }
    }
    count_documents(&record.documents);
}

/// The documents of a message the spool stored, with the statuses it gave them (a duplicate
/// is known only there).
fn count_documents(documents: &[crate::spool::DocumentRecord]) {
    let m = metrics();
    for d in documents {
        m.documents
            .get_or_create(&DocumentLabels {
                status: d.status.to_string(),
                specification: d.specification.clone().unwrap_or_else(|| "unknown".into()),
                organisation: d.organisation.clone(),
            })
            .inc();
    }
}

/// A spool commit took `elapsed`.
pub fn commit(elapsed: Duration) {
    metrics().commit_seconds.observe(elapsed.as_secs_f64());
}

/// A delivery attempt ended: logged and counted here.
pub fn delivery_attempt(
    job: &crate::spool::Job,
    settlement: &crate::spool::Settlement,
    elapsed: Duration,
) {
    use crate::spool::Settlement;
    let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let outcome = match settlement {
        Settlement::Delivered { answer } => {
            tracing::info!(mid = %job.message, doc = job.document, sink = %job.sink, elapsed_ms, answer = %answer, "document delivered");
            "delivered"
        }
        Settlement::Retry { error, next } => {
            let wait = next
                .duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO);
            tracing::warn!(mid = %job.message, doc = job.document, sink = %job.sink, elapsed_ms, error = %error, retry_in = %humantime::format_duration(Duration::from_secs(wait.as_secs())), "delivery failed; will retry");
            "retry"
        }
        Settlement::Failed { error } => {
            tracing::error!(mid = %job.message, doc = job.document, sink = %job.sink, elapsed_ms, error = %error, "delivery failed for good; dead letter (trustgate spool retry re-offers it)");
            "failed"
        }
    };
    let m = metrics();
    m.attempts
        .get_or_create(&AttemptLabels {
            sink: job.sink.clone(),
            outcome: outcome.into(),
        })
        .inc();
    m.attempt_seconds
        .get_or_create(&SinkLabels {
            sink: job.sink.clone(),
        })
        .observe(elapsed.as_secs_f64());
}

/// A notice (or digest, or invitation) went out to `to`: logged and counted here.
pub fn notice_sent(kind: &str, to: &str) {
    tracing::info!(kind, to, "notice sent");
    metrics()
        .notices
        .get_or_create(&NoticeLabels { kind: kind.into() })
        .inc();
}
