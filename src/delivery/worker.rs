//! The delivery shell: one dispatcher task per sink claims due deliveries from the spool and
//! runs each as an attempt task, within the sink's `concurrency` and the total `workers`.
//!
//! Each sink has its own queue (the spool's due index is keyed by sink first), its own
//! concurrency limit and its own pause ([`Breaker`]), so a sink that is down holds back no
//! other: its dispatcher sleeps while the others go on. The backlog of a sink that is down
//! stays on disk; a dispatcher claims only as many deliveries as it can start at once.
//!
//! At least once: a claim is durable with a lease (the sink's timeout plus a margin); an
//! attempt settles its outcome durably after the downstream answered. A crash in between
//! sends the document again, with the same delivery id, after the restart (start-up releases
//! every lease). Within one process a document never goes to a sink twice at once: each
//! dispatcher keeps the deliveries it has in flight, and a claim of one of them (its lease
//! ran out while the attempt still ran) only moves the lease the attempt settles against.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::payload::{DocumentMeta, delivery_id};
use super::queue::{Allowance, Breaker, Policy};
use super::{Item, Outcome, Sink};
use crate::intake::{self, IntakeLimits};
use crate::spool::{Job, MessageId, Settlement, Spool, SpoolError};

/// SHA-256 of `bytes`, lowercase hex (as the spool records it).
fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The longest a dispatcher sleeps without looking at its queue (a safety net: it is woken
/// by new work and by its next due time).
const MAX_IDLE: Duration = Duration::from_secs(30);

/// How long to wait after the spool failed to answer a claim.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// What a lease adds to the sink's timeout: time to load the document and settle.
const LEASE_MARGIN: Duration = Duration::from_secs(60);

/// One sink as the workers run it.
#[derive(Clone)]
pub struct SinkRunner {
    /// The sink's name (`[[sink]] name`).
    pub name: String,
    /// The peer.
    pub sink: Arc<dyn Sink>,
    /// Attempts at once (`concurrency`).
    pub concurrency: usize,
    /// The limit of one attempt (`timeout`).
    pub timeout: Duration,
}

impl std::fmt::Debug for SinkRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkRunner")
            .field("name", &self.name)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Starts one dispatcher per sink on `tracker`; they stop at `shutdown` (attempts in flight
/// are dropped: their leases are released at the next start, so they are sent again).
pub fn start(
    spool: &Spool,
    sinks: Vec<SinkRunner>,
    policy: Policy,
    workers: usize,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) {
    let total = Arc::new(Semaphore::new(workers.max(1)));
    for runner in sinks {
        let dispatcher = Dispatcher {
            spool: spool.clone(),
            local: Arc::new(Semaphore::new(runner.concurrency.max(1))),
            total: Arc::clone(&total),
            runner,
            policy,
            breaker: Arc::new(Mutex::new(Breaker::default())),
            answered: Arc::new(Notify::new()),
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
        };
        let span = tracing::info_span!("sink", sink = %dispatcher.runner.name);
        tracker.spawn(dispatcher.run().instrument(span));
    }
}

/// The dispatcher of one sink.
struct Dispatcher {
    spool: Spool,
    runner: SinkRunner,
    policy: Policy,
    /// The sink's own concurrency.
    local: Arc<Semaphore>,
    /// The workers shared by every sink.
    total: Arc<Semaphore>,
    breaker: Arc<Mutex<Breaker>>,
    /// Told when an attempt has answered, so a paused dispatcher whose probe succeeded goes on
    /// at once.
    answered: Arc<Notify>,
    /// (message, document) in flight here -> the lease of its latest claim.
    in_flight: Arc<Mutex<HashMap<(MessageId, u32), u64>>>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Dispatcher {
    async fn run(self) {
        let mut changes = self.spool.queue_watch();
        let lease = self.runner.timeout + LEASE_MARGIN;
        loop {
            if self.shutdown.is_cancelled() {
                break;
            }
            // Wait for the breaker, then for a free slot of the sink and of the workers.
            let allowance = lock(&self.breaker).allowance(Instant::now());
            let probe = match allowance {
                Allowance::Open => false,
                Allowance::Probe => true,
                Allowance::PausedUntil(until) => {
                    tokio::select! {
                        () = self.sleep_until(tokio::time::Instant::from_std(until), None) => {}
                        () = self.answered.notified() => {}
                    }
                    continue;
                }
            };
            let Some(first) = self.permits().await else {
                break;
            };
            // Claim as many as can start now, so nothing claimed waits for a slot.
            let limit = if probe {
                1
            } else {
                1 + self
                    .local
                    .available_permits()
                    .min(self.total.available_permits())
            };
            changes.borrow_and_update();
            let jobs = match self.spool.claim(&self.runner.name, limit, lease).await {
                Ok(jobs) => jobs,
                Err(SpoolError::Closed) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim deliveries");
                    drop(first);
                    self.sleep_until(tokio::time::Instant::now() + ERROR_PAUSE, None)
                        .await;
                    continue;
                }
            };
            if jobs.is_empty() {
                drop(first);
                let next = self.next_due().await;
                let wake = next.map_or(tokio::time::Instant::now() + MAX_IDLE, |due| {
                    let wait = due
                        .duration_since(SystemTime::now())
                        .unwrap_or(Duration::ZERO);
                    tokio::time::Instant::now() + wait.min(MAX_IDLE)
                });
                self.sleep_until(wake, Some(&mut changes)).await;
                continue;
            }
            if probe {
                lock(&self.breaker).probe_started();
            }
            let mut permits = Some(first);
            for job in jobs {
                let permit = match permits.take() {
                    Some(p) => p,
                    None => match self.permits().await {
                        Some(p) => p,
                        None => return,
                    },
                };
                self.start_attempt(job, permit);
            }
        }
        tracing::debug!("delivery dispatcher stopped");
    }

    /// A slot of the sink and one of the workers; `None` at shutdown.
    async fn permits(&self) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        tokio::select! {
            () = self.shutdown.cancelled() => None,
            p = async {
                let local = Arc::clone(&self.local).acquire_owned().await.ok()?;
                let total = Arc::clone(&self.total).acquire_owned().await.ok()?;
                Some((local, total))
            } => p,
        }
    }

    /// Sleeps until `wake`, shutdown, or (when given) a change of the queue.
    async fn sleep_until(
        &self,
        wake: tokio::time::Instant,
        changes: Option<&mut tokio::sync::watch::Receiver<u64>>,
    ) {
        match changes {
            Some(changes) => tokio::select! {
                () = self.shutdown.cancelled() => {}
                () = tokio::time::sleep_until(wake) => {}
                _ = changes.changed() => {}
            },
            None => tokio::select! {
                () = self.shutdown.cancelled() => {}
                () = tokio::time::sleep_until(wake) => {}
            },
        }
    }

    async fn next_due(&self) -> Option<SystemTime> {
        let spool = self.spool.clone();
        let sink = self.runner.name.clone();
        match tokio::task::spawn_blocking(move || spool.next_due(&sink)).await {
            Ok(Ok(next)) => next,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot read the delivery queue");
                None
            }
            Err(_) => None,
        }
    }

    /// Runs one claimed delivery in its own task, unless this process already has it in
    /// flight (then the running attempt settles against the new claim's lease).
    fn start_attempt(&self, job: Job, permits: (OwnedSemaphorePermit, OwnedSemaphorePermit)) {
        let key = (job.message.clone(), job.document);
        {
            let mut in_flight = lock(&self.in_flight);
            if let Some(lease) = in_flight.get_mut(&key) {
                *lease = job.lease_ms;
                return;
            }
            in_flight.insert(key, job.lease_ms);
        }
        let attempt = Attempt {
            spool: self.spool.clone(),
            runner: self.runner.clone(),
            policy: self.policy,
            breaker: Arc::clone(&self.breaker),
            answered: Arc::clone(&self.answered),
            in_flight: Arc::clone(&self.in_flight),
        };
        let span = tracing::info_span!(
            "delivery",
            mid = %job.message,
            doc = job.document,
            attempt = job.attempt
        );
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(
            async move {
                tokio::select! {
                    // Dropped at shutdown: the lease is released at the next start.
                    () = shutdown.cancelled() => {}
                    () = attempt.run(job) => {}
                }
                drop(permits);
            }
            .instrument(span),
        );
    }
}

/// One attempt: load, deliver within the timeout, decide, settle.
struct Attempt {
    spool: Spool,
    runner: SinkRunner,
    policy: Policy,
    breaker: Arc<Mutex<Breaker>>,
    answered: Arc<Notify>,
    in_flight: Arc<Mutex<HashMap<(MessageId, u32), u64>>>,
}

impl Attempt {
    async fn run(&self, mut job: Job) {
        let started = Instant::now();
        let outcome = match self.load(&job).await {
            Ok(item) => {
                match tokio::time::timeout(self.runner.timeout, self.runner.sink.deliver(&item))
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => Outcome::retry(format!(
                        "no answer within {}",
                        humantime::format_duration(self.runner.timeout)
                    )),
                }
            }
            Err(outcome) => outcome,
        };
        let elapsed = started.elapsed();
        let retryable = matches!(outcome, Outcome::Retry { .. });
        lock(&self.breaker).record(retryable, Instant::now(), &self.policy);
        self.answered.notify_one();
        let settlement = self.policy.settle(
            &outcome,
            job.attempt,
            job.offered_at,
            SystemTime::now(),
            rand::random::<f64>(),
        );
        log_outcome(&job, &settlement, elapsed);
        // Settle against the latest claim of this delivery in this process.
        if let Some(lease) = lock(&self.in_flight).remove(&(job.message.clone(), job.document)) {
            job.lease_ms = lease;
        }
        if let Err(err) = self.spool.settle(job, settlement, elapsed).await {
            // The lease runs out and the delivery is tried again: sent twice, never lost.
            tracing::error!(error = %err, "cannot record a delivery attempt");
        }
    }

    /// The item of a job, from the spool; a document that cannot be read is a permanent
    /// failure of that document (a retry would read the same), a database error a retry.
    async fn load(&self, job: &Job) -> Result<Item, Outcome> {
        let spool = self.spool.clone();
        let needs_raw = self.runner.sink.needs_raw();
        let job = job.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let Some(message) = spool.get(&job.message)? else {
                return Ok(None);
            };
            let Some(doc) = message.documents.iter().find(|d| d.index == job.document) else {
                return Ok(None);
            };
            let raw_message = spool.raw(&job.message)?;
            let (xml, pdf) = match (doc.source, &raw_message) {
                // Kept in the raw message: decoded again, and checked against what was
                // accepted.
                (Some(source), Some(raw)) => {
                    match intake::document_bytes(raw, source, &IntakeLimits::default()) {
                        Ok((xml, pdf)) if hex_sha256(&xml) == doc.xml_sha256 => (xml, pdf),
                        Ok(_) => return Ok(Some(Err("the stored message yields another document than was accepted (its XML hash differs)".to_string()))),
                        Err(err) => return Ok(Some(Err(format!("the stored message no longer yields the document: {err}")))),
                    }
                }
                (Some(_), None) => return Ok(None),
                (None, _) => match spool.document(&job.message, job.document)? {
                    Some(bytes) => (bytes.xml, bytes.pdf),
                    None => return Ok(None),
                },
            };
            let raw = if needs_raw { raw_message } else { None };
            Ok::<_, SpoolError>(Some(Ok(Item {
                delivery_id: delivery_id(job.message.as_str(), job.document, &job.sink),
                attempt: job.attempt,
                meta: DocumentMeta::new(&message, doc),
                xml,
                pdf,
                raw,
            })))
        })
        .await;
        match loaded {
            Ok(Ok(Some(Ok(item)))) => Ok(item),
            Ok(Ok(Some(Err(why)))) => Err(Outcome::permanent(why)),
            Ok(Ok(None)) => Err(Outcome::permanent("the document is no longer in the spool")),
            Ok(Err(err)) => Err(Outcome::retry(format!("cannot read the spool: {err}"))),
            Err(err) => Err(Outcome::retry(format!("load task failed: {err}"))),
        }
    }
}

/// The one log line of an attempt.
fn log_outcome(job: &Job, settlement: &Settlement, elapsed: Duration) {
    let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    match settlement {
        Settlement::Delivered { answer } => {
            tracing::info!(sink = %job.sink, elapsed_ms, answer = %answer, "document delivered");
        }
        Settlement::Retry { error, next } => {
            let wait = next
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            tracing::warn!(sink = %job.sink, elapsed_ms, error = %error, retry_in = %humantime::format_duration(Duration::from_secs(wait.as_secs())), "delivery failed; will retry");
        }
        Settlement::Failed { error } => {
            tracing::error!(sink = %job.sink, elapsed_ms, error = %error, "delivery failed for good; dead letter (trustgate spool retry re-offers it)");
        }
    }
}
