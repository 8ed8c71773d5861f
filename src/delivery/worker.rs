//! The delivery shell: one dispatcher task per sink claims due deliveries from the spool and
//! runs each as an attempt task, within the sink's `concurrency` and the total `workers`.
//!
//! Each sink has its own queue (the spool's due index is keyed by sink first), its own
//! concurrency limit and its own pause ([`Breaker`]), so a sink that is down holds back no
//! other: its dispatcher sleeps while the others go on. The backlog of a sink that is down
//! stays on disk; a dispatcher claims only as many deliveries as it can start at once.
//!
//! Throughput: a dispatcher claims ahead (a few times the sink's concurrency, so a slot never
//! waits for the spool's writer), and an attempt frees its slot as soon as the downstream has
//! answered; its settlement then waits for the writer's next group commit together with the
//! others (bounded by [`MAX_SETTLING`]). So the sink's concurrency bounds requests in flight at
//! the downstream, not fsyncs, and many settlements share one fsync.
//!
//! At least once: a claim holds a lease (the sink's timeout plus a margin); an attempt
//! settles its outcome durably after the downstream answered. A crash in between sends the
//! document again, with the same delivery id, after the restart (start-up releases every
//! lease). Within one process a document never goes to a sink twice: each dispatcher keeps
//! the deliveries it has claimed (waiting or running), and a claim of one of them (its lease
//! ran out meanwhile) only moves the lease it settles against.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::payload::{DocumentMeta, delivery_id};
use super::queue::{Allowance, Breaker, Policy};
use super::{Item, Outcome, Sink};
use crate::intake::IntakeLimits;
use crate::spool::{Job, MessageId, Settlement, Spool, SpoolError};

/// The longest a dispatcher sleeps without looking at its queue (a safety net: it is woken
/// by new work and by its next due time).
const MAX_IDLE: Duration = Duration::from_secs(30);

/// How long to wait after the spool failed to answer a claim.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// What a lease adds to the sink's timeout: time to load the document and settle.
const LEASE_MARGIN: Duration = Duration::from_secs(60);

/// Claims a dispatcher holds ahead, per unit of the sink's concurrency.
const PREFETCH_PER_SLOT: usize = 8;

/// Attempts of one sink loading their document at once, per unit of its concurrency: loading
/// (reading and decoding the document) happens before an attempt takes one of the sink's
/// slots, so the slots are spent on the downstream's answers only.
const PREPARING_PER_SLOT: usize = 2;

/// Settlements of one sink waiting for the writer at once; past it, attempts wait before
/// freeing their slot (back-pressure from a slow disk to the downstream requests).
pub const MAX_SETTLING: usize = 512;

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

/// What every dispatcher needs besides its sink.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This gateway's name (`[server] hostname`), in every delivery id.
    pub gateway: String,
    /// The schedule.
    pub policy: Policy,
    /// Attempts at once across all sinks (`[delivery] workers`).
    pub workers: usize,
    /// The bounds a stored message is parsed within again when its document must be found by
    /// a full parse (`[limits]`, as at acceptance).
    pub intake_limits: IntakeLimits,
}

/// How much lower than acceptance the delivery threads run (their nice value).
///
/// Delivering a document costs about as much CPU as accepting a message (BENCHMARKS.md,
/// "Delivery"). On a busy machine the two compete for the cores, and acceptance must win: a
/// sender waits for its 250, a sink does not. So delivery runs on a runtime of its own whose
/// threads the kernel schedules after the SMTP sessions' whenever both want a core (nice 10
/// weighs about a tenth of nice 0); on an idle machine delivery has every core. A backlog built
/// during a burst drains after it, from disk.
pub const DELIVERY_NICE: i32 = 10;

/// The runtime delivery runs on: `threads` worker threads (and its blocking pool), each at
/// [`DELIVERY_NICE`]. A thread that cannot lower its priority runs at the daemon's (logged).
///
/// # Errors
/// The runtime cannot be built.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("delivery")
        .enable_all()
        .on_thread_start(|| {
            // The calling thread only: on Linux a thread id names one thread for setpriority.
            let tid = rustix::thread::gettid();
            if let Err(err) = rustix::process::setpriority_process(Some(tid), DELIVERY_NICE) {
                tracing::debug!(error = %err, "delivery thread keeps the daemon's priority");
            }
        })
        .build()
}

/// Starts one dispatcher per sink on `tracker`, on the runtime of `runtime` (see
/// [`runtime`]). At `shutdown` they stop claiming and starting attempts; attempts in flight
/// go on until they settle or `abort` is cancelled, when they are dropped (their leases are
/// released at the next start, so they are sent again).
pub fn start(
    spool: &Spool,
    sinks: Vec<SinkRunner>,
    settings: &Settings,
    runtime: &tokio::runtime::Handle,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
    tracker: &TaskTracker,
) {
    let total = Arc::new(Semaphore::new(settings.workers.max(1)));
    for runner in sinks {
        let span = tracing::info_span!("sink", sink = %runner.name);
        let dispatcher = Dispatcher {
            shared: Arc::new(Shared {
                spool: spool.clone(),
                policy: settings.policy,
                gateway: settings.gateway.clone(),
                intake_limits: settings.intake_limits.clone(),
                breaker: Mutex::new(Breaker::default()),
                answered: Notify::new(),
                claimed: Mutex::new(HashMap::new()),
                settling: Arc::new(Semaphore::new(MAX_SETTLING)),
                slots: Arc::new(Semaphore::new(runner.concurrency.max(1))),
                total: Arc::clone(&total),
                runner,
            }),
            shutdown: shutdown.clone(),
            abort: abort.clone(),
            tracker: tracker.clone(),
        };
        tracker.spawn_on(dispatcher.run().instrument(span), runtime);
    }
}

/// What a dispatcher shares with its attempts.
struct Shared {
    spool: Spool,
    runner: SinkRunner,
    policy: Policy,
    gateway: String,
    /// See [`Settings::intake_limits`].
    intake_limits: IntakeLimits,
    breaker: Mutex<Breaker>,
    /// Told when an attempt has answered, so a paused dispatcher whose probe succeeded goes on
    /// at once.
    answered: Notify,
    /// (message, document) claimed here, waiting or running -> the lease of its latest claim.
    claimed: Mutex<HashMap<(MessageId, u32), u64>>,
    /// Settlements waiting for the writer.
    settling: Arc<Semaphore>,
    /// The sink's slots (`concurrency`): requests at the downstream.
    slots: Arc<Semaphore>,
    /// The workers shared by every sink (`[delivery] workers`).
    total: Arc<Semaphore>,
}

/// The dispatcher of one sink.
struct Dispatcher {
    shared: Arc<Shared>,
    /// Stop claiming and starting attempts.
    shutdown: CancellationToken,
    /// Drop the attempts still in flight.
    abort: CancellationToken,
    tracker: TaskTracker,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Dispatcher {
    async fn run(self) {
        let shared = &self.shared;
        let runner = &shared.runner;
        let preparing = Arc::new(Semaphore::new(
            runner.concurrency.max(1) * PREPARING_PER_SLOT,
        ));
        let prefetch = runner.concurrency.max(1) * PREFETCH_PER_SLOT;
        let mut changes = shared.spool.queue_watch();
        let lease = runner.timeout + LEASE_MARGIN;
        let mut ready: VecDeque<Job> = VecDeque::new();
        loop {
            if self.shutdown.is_cancelled() {
                break;
            }
            let allowance = lock(&shared.breaker).allowance(Instant::now());
            let probe = match allowance {
                Allowance::Open => false,
                Allowance::Probe => true,
                Allowance::PausedUntil(until) => {
                    // Claims already held wait here (a claim of one of them after its lease
                    // ran out only refreshes the lease), so the sink resumes with them at once.
                    tokio::select! {
                        () = self.sleep_until(tokio::time::Instant::from_std(until), None) => {}
                        () = shared.answered.notified() => {}
                    }
                    continue;
                }
            };
            if ready.is_empty() {
                let limit = if probe { 1 } else { prefetch };
                changes.borrow_and_update();
                match shared.spool.claim(&runner.name, limit, lease).await {
                    Ok(jobs) => {
                        let mut claimed = lock(&shared.claimed);
                        for job in jobs {
                            let key = (job.message.clone(), job.document);
                            match claimed.get_mut(&key) {
                                // Already ours (its lease ran out while it waited or ran):
                                // the new lease is the one to settle against.
                                Some(held) => *held = job.lease_ms,
                                None => {
                                    claimed.insert(key, job.lease_ms);
                                    ready.push_back(job);
                                }
                            }
                        }
                    }
                    Err(SpoolError::Closed) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot claim deliveries");
                        self.sleep_until(tokio::time::Instant::now() + ERROR_PAUSE, None)
                            .await;
                        continue;
                    }
                }
                if ready.is_empty() {
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
            }
            let permit = tokio::select! {
                () = self.shutdown.cancelled() => break,
                p = Arc::clone(&preparing).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let Some(job) = ready.pop_front() else {
                continue;
            };
            if probe {
                lock(&shared.breaker).probe_started();
            }
            self.start_attempt(job, permit);
        }
        self.forget(&mut ready);
        tracing::debug!("delivery dispatcher stopped");
    }

    /// Drops claims that were never started (their leases bring them back).
    fn forget(&self, ready: &mut VecDeque<Job>) {
        let mut claimed = lock(&self.shared.claimed);
        for job in ready.drain(..) {
            claimed.remove(&(job.message, job.document));
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
        let spool = self.shared.spool.clone();
        let sink = self.shared.runner.name.clone();
        match tokio::task::spawn_blocking(move || spool.next_due(&sink)).await {
            Ok(Ok(next)) => next,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot read the delivery queue");
                None
            }
            Err(_) => None,
        }
    }

    /// Runs one claimed delivery in its own task.
    fn start_attempt(&self, job: Job, preparing: OwnedSemaphorePermit) {
        let shared = Arc::clone(&self.shared);
        let span = tracing::info_span!(
            "delivery",
            mid = %job.message,
            doc = job.document,
            attempt = job.attempt
        );
        let abort = self.abort.clone();
        self.tracker.spawn(
            async move {
                tokio::select! {
                    // Dropped when the shutdown's grace is over: the lease is released at the
                    // next start.
                    () = abort.cancelled() => {}
                    () = attempt(&shared, job, preparing) => {}
                }
            }
            .instrument(span),
        );
    }
}

/// One attempt: load, take a slot, deliver within the timeout, free the slot, decide, settle.
async fn attempt(shared: &Shared, mut job: Job, preparing: OwnedSemaphorePermit) {
    let runner = &shared.runner;
    let loaded = load(shared, &job).await;
    // A slot of the sink and one of the workers, only for the request itself.
    let (Ok(slot), Ok(worker)) = (
        Arc::clone(&shared.slots).acquire_owned().await,
        Arc::clone(&shared.total).acquire_owned().await,
    ) else {
        // The semaphores are never closed; were they, the lease brings the job back.
        lock(&shared.claimed).remove(&(job.message.clone(), job.document));
        return;
    };
    drop(preparing);
    let started = Instant::now();
    let outcome = match loaded {
        Ok(item) => match tokio::time::timeout(runner.timeout, runner.sink.deliver(&item)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::retry(format!(
                "no answer within {}",
                humantime::format_duration(runner.timeout)
            )),
        },
        Err(outcome) => outcome,
    };
    let elapsed = started.elapsed();
    let deferred = matches!(outcome, Outcome::Defer { .. });
    if deferred {
        lock(&shared.breaker).record_deferred();
    } else {
        let retryable = matches!(outcome, Outcome::Retry { .. });
        lock(&shared.breaker).record(retryable, Instant::now(), &shared.policy);
    }
    shared.answered.notify_one();
    // The downstream has answered: its slot is free while the settlement waits for the
    // writer (at most MAX_SETTLING of them; past it the slot waits too).
    let settling = Arc::clone(&shared.settling).acquire_owned().await;
    drop((slot, worker));
    let settlement = shared.policy.settle(
        &outcome,
        job.attempt,
        job.offered_at,
        SystemTime::now(),
        rand::random::<f64>(),
    );
    if deferred {
        if let Settlement::Retry { error, .. } = &settlement {
            tracing::info!(sink = %job.sink, reason = %error, "delivery deferred by the sink");
        }
    } else {
        crate::observe::delivery_attempt(&job, &settlement, elapsed);
    }
    let key = (job.message.clone(), job.document);
    // Settle against the latest claim of this delivery in this process.
    if let Some(lease) = lock(&shared.claimed).get(&key) {
        job.lease_ms = *lease;
    }
    if let Err(err) = shared.spool.settle(job, settlement, elapsed).await {
        // The lease runs out and the delivery is tried again: sent twice, never lost.
        tracing::error!(error = %err, "cannot record a delivery attempt");
    }
    lock(&shared.claimed).remove(&key);
    drop(settling);
}

/// The item of a job, from the spool; a document that cannot be read is a permanent failure
/// of that document (a retry would read the same), a database error a retry.
async fn load(shared: &Shared, job: &Job) -> Result<Item, Outcome> {
    let spool = shared.spool.clone();
    let needs_raw = shared.runner.sink.needs_raw();
    let gateway = shared.gateway.clone();
    let limits = shared.intake_limits.clone();
    let job = job.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let Some(message) = spool.get(&job.message)? else {
            return Ok(None);
        };
        if job.document == crate::spool::WHOLE_MESSAGE {
            // The message itself (postmaster mail): its raw bytes, no document.
            let Some(raw) = spool.raw(&job.message)? else {
                return Ok(None);
            };
            return Ok(Some(Ok(Item {
                delivery_id: delivery_id(&gateway, job.message.as_str(), job.document, &job.sink),
                attempt: job.attempt,
                meta: DocumentMeta::for_message(&gateway, &message),
                xml: Vec::new(),
                pdf: None,
                raw: Some(raw),
            })));
        }
        let Some(doc) = message.documents.iter().find(|d| d.index == job.document) else {
            return Ok(None);
        };
        let (xml, pdf, raw_message) = match super::stored::load(&spool, &message, doc, &limits)? {
            super::stored::Stored::Bytes { xml, pdf, raw } => (xml, pdf, raw),
            super::stored::Stored::Gone => return Ok(None),
            super::stored::Stored::Broken(why) => return Ok(Some(Err(why))),
        };
        // A sink that sends the whole message as well (smtp in original mode) gets it.
        let raw_message = match raw_message {
            Some(raw) => Some(raw),
            None if needs_raw => spool.raw(&job.message)?,
            None => None,
        };
        let raw = if needs_raw { raw_message } else { None };
        Ok::<_, SpoolError>(Some(Ok(Item {
            delivery_id: delivery_id(&gateway, job.message.as_str(), job.document, &job.sink),
            attempt: job.attempt,
            meta: DocumentMeta::new(&gateway, &message, doc),
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
