//! The delivery queue inside the spool: one [`DeliveryRecord`] per (document, sink), a due
//! index per sink, leases for claims in flight, the dead letters and the attempt history.
//!
//! Only the writer thread changes these tables, inside its batch transaction, through the
//! functions here: [`enqueue`] (in the transaction that stores the message, so a message
//! that got its 250 always has its queued deliveries), [`claim`], [`settle`] and [`reoffer`].
//! What an answer means for the schedule (back-off, dead-letter) is decided by
//! `delivery::queue` before a [`Settlement`] reaches the spool; this module only stores it.
//!
//! States: `pending` (in `due` at its next attempt time) → `in_flight` (claimed: in `due` at
//! its lease's expiry and in `leases`) → `delivered`, or back to `pending` with a later due
//! time, or `failed` (a dead letter, in `failed`). A re-offer puts a `failed` or `delivered`
//! delivery back to `pending`, due now. A message on hold ([`hold`]) has its deliveries
//! `held`, out of `due`, until [`release`] makes them `pending` again, due now; a claim never
//! hands out a delivery of a held message (one in flight when it was held is held when its
//! attempt ends or its lease runs out).

use std::time::{Duration, SystemTime};

use redb::ReadableTable as _;
use serde::{Deserialize, Serialize};

use super::schema::{ATTEMPTS, DELIVERIES, DUE, FAILED, HELD, LEASES};
use super::{
    DocumentStatus, MessageId, MessageRecord, from_unix_millis, rfc3339, rfc3339_opt, unix_millis,
};

/// The state of one document at one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a worker until its lease expires.
    InFlight,
    /// The downstream took it.
    Delivered,
    /// Dead letter: a permanent refusal, or retried past `max_age`.
    Failed,
    /// Its message is on hold (`trustgate spool hold`): not tried until released.
    Held,
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            DeliveryState::Pending => "pending",
            DeliveryState::InFlight => "in_flight",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Held => "held",
        })
    }
}

/// The stored state of one (document, sink).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts since it was (re-)offered: the back-off counts these.
    pub attempts: u32,
    /// Attempts in all, the number of the last row in the attempt history.
    pub total_attempts: u32,
    /// When it was queued or last re-offered: `max_age` counts from here.
    #[serde(with = "rfc3339")]
    pub offered_at: SystemTime,
    /// Pending: the next attempt; in flight: the lease's expiry (its key in `due`).
    pub due_ms: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When it was delivered.
    #[serde(default, with = "rfc3339_opt")]
    pub delivered_at: Option<SystemTime>,
    /// The downstream's answer when delivered.
    pub answer: Option<String>,
}

impl DeliveryRecord {
    /// The next attempt (pending) or the lease's expiry (in flight).
    pub fn due(&self) -> SystemTime {
        from_unix_millis(self.due_ms)
    }
}

/// One attempt, as kept in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// When the attempt ended.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// `delivered`, `retry` or `failed`.
    pub outcome: String,
    /// The downstream's answer or the error.
    pub detail: String,
    /// How long the attempt took, in milliseconds.
    pub elapsed_ms: u64,
}

/// A claimed delivery, handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The message.
    pub message: MessageId,
    /// The document's index in it.
    pub document: u32,
    /// The sink's name.
    pub sink: String,
    /// The number of this attempt since the offer (1 for the first).
    pub attempt: u32,
    /// When the delivery was queued or re-offered.
    pub offered_at: SystemTime,
    /// The claim's lease expiry (ms): the settlement applies only while the claim is this one.
    pub lease_ms: u64,
}

/// What the worker decided about an attempt (`delivery::queue` made the decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered, with the downstream's answer.
    Delivered {
        /// The answer, e.g. `HTTP 200`.
        answer: String,
    },
    /// Failed; try again at `next`.
    Retry {
        /// What went wrong.
        error: String,
        /// The next attempt.
        next: SystemTime,
    },
    /// Failed for good: a dead letter.
    Failed {
        /// Why.
        error: String,
    },
}

/// Which deliveries `spool retry` re-offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "select", rename_all = "snake_case")]
pub enum Reoffer {
    /// Every delivery of a message, or of one of its documents, optionally only to one sink.
    /// With a sink, a ready document that has no delivery to it gets one.
    Message {
        /// The message.
        message: MessageId,
        /// One document, or all.
        document: Option<u32>,
        /// One sink, or all that the document has.
        sink: Option<String>,
    },
    /// Every dead letter, optionally only of one sink.
    Failed {
        /// One sink, or all.
        sink: Option<String>,
    },
    /// Every ready document of an organisation received since a time, to one sink (newly
    /// linked): queued where it has no delivery to that sink yet, re-offered where it failed.
    Organisation {
        /// The organisation id.
        organisation: String,
        /// Messages received at or after this time.
        #[serde(with = "rfc3339")]
        since: SystemTime,
        /// The sink.
        sink: String,
    },
}

impl Reoffer {
    /// The sink the selection names, if it names one.
    pub fn sink(&self) -> Option<&str> {
        match self {
            Reoffer::Message { sink, .. } | Reoffer::Failed { sink } => sink.as_deref(),
            Reoffer::Organisation { sink, .. } => Some(sink),
        }
    }
}

/// The queue's tables, open in a write transaction.
pub(crate) struct Tables<'txn> {
    pub(crate) deliveries: redb::Table<'txn, (&'static str, u32, &'static str), &'static [u8]>,
    pub(crate) due: redb::Table<'txn, (&'static str, u64, &'static str, u32), ()>,
    pub(crate) leases: redb::Table<'txn, (&'static str, u32, &'static str), u64>,
    pub(crate) failed: redb::Table<'txn, (&'static str, u32, &'static str), ()>,
    pub(crate) attempts: redb::Table<'txn, (&'static str, u32, &'static str, u32), &'static [u8]>,
    pub(crate) held: redb::Table<'txn, &'static str, u64>,
}

impl<'txn> Tables<'txn> {
    /// Opens the tables in `txn`.
    pub(crate) fn open(txn: &'txn redb::WriteTransaction) -> Result<Tables<'txn>, redb::Error> {
        Ok(Tables {
            deliveries: txn.open_table(DELIVERIES)?,
            due: txn.open_table(DUE)?,
            leases: txn.open_table(LEASES)?,
            failed: txn.open_table(FAILED)?,
            attempts: txn.open_table(ATTEMPTS)?,
            held: txn.open_table(HELD)?,
        })
    }

    fn get(&self, key: (&str, u32, &str)) -> Result<Option<DeliveryRecord>, redb::Error> {
        match self.deliveries.get(key)? {
            Some(v) => decode(v.value()).map(Some),
            None => Ok(None),
        }
    }

    fn put(&mut self, key: (&str, u32, &str), record: &DeliveryRecord) -> Result<(), redb::Error> {
        let json = serde_json::to_vec(record)
            .map_err(|e| redb::Error::Corrupted(format!("cannot encode a delivery: {e}")))?;
        self.deliveries.insert(key, json.as_slice())?;
        Ok(())
    }
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, redb::Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| redb::Error::Corrupted(format!("undecodable queue record: {e}")))
}

/// Queues document `doc` of message `mid` for `sink`, due at `now`. A delivery that exists
/// already is left as it is. Returns whether one was queued.
pub(crate) fn enqueue(
    t: &mut Tables<'_>,
    mid: &str,
    doc: u32,
    sink: &str,
    now: SystemTime,
) -> Result<bool, redb::Error> {
    if t.deliveries.get((mid, doc, sink))?.is_some() {
        return Ok(false);
    }
    let due_ms = unix_millis(now);
    let record = DeliveryRecord {
        state: DeliveryState::Pending,
        attempts: 0,
        total_attempts: 0,
        offered_at: now,
        due_ms,
        last_error: None,
        delivered_at: None,
        answer: None,
    };
    t.put((mid, doc, sink), &record)?;
    t.due.insert((sink, due_ms, mid, doc), ())?;
    Ok(true)
}

/// Claims up to `limit` deliveries of `sink` due at `now`, oldest due first: each becomes
/// in flight until `now + lease`.
pub(crate) fn claim(
    t: &mut Tables<'_>,
    sink: &str,
    now: SystemTime,
    limit: usize,
    lease: Duration,
) -> Result<Vec<Job>, redb::Error> {
    let now_ms = unix_millis(now);
    let lease_ms = unix_millis(now + lease);
    let mut keys: Vec<(u64, String, u32)> = Vec::new();
    for entry in t.due.range((sink, 0, "", 0)..(sink, now_ms + 1, "", 0))? {
        if keys.len() >= limit {
            break;
        }
        let (key, _) = entry?;
        let (_, due_ms, mid, doc) = key.value();
        keys.push((due_ms, mid.to_owned(), doc));
    }
    let mut jobs = Vec::with_capacity(keys.len());
    for (due_ms, mid, doc) in keys {
        t.due.remove((sink, due_ms, mid.as_str(), doc))?;
        let Some(mut record) = t.get((&mid, doc, sink))? else {
            // A due entry without its record cannot be delivered; dropping it is all we can do.
            tracing::warn!(mid, doc, sink, "queue entry without its delivery removed");
            continue;
        };
        if !matches!(
            record.state,
            DeliveryState::Pending | DeliveryState::InFlight
        ) {
            continue;
        }
        if t.held.get(mid.as_str())?.is_some() {
            // Held while it was due or in flight: it waits for the release, out of `due`.
            t.leases.remove((mid.as_str(), doc, sink))?;
            record.state = DeliveryState::Held;
            t.put((&mid, doc, sink), &record)?;
            continue;
        }
        record.state = DeliveryState::InFlight;
        record.due_ms = lease_ms;
        t.put((&mid, doc, sink), &record)?;
        t.due.insert((sink, lease_ms, mid.as_str(), doc), ())?;
        t.leases.insert((mid.as_str(), doc, sink), lease_ms)?;
        jobs.push(Job {
            message: MessageId(mid),
            document: doc,
            sink: sink.to_owned(),
            attempt: record.attempts + 1,
            offered_at: record.offered_at,
            lease_ms,
        });
    }
    Ok(jobs)
}

/// Stores the end of an attempt: the history row always; the state only while `job` is
/// still the delivery's claim (a re-offer or an expired lease in between leaves the state to
/// the newer claim).
pub(crate) fn settle(
    t: &mut Tables<'_>,
    job: &Job,
    settlement: &Settlement,
    at: SystemTime,
    elapsed: Duration,
) -> Result<(), redb::Error> {
    let (mid, doc, sink) = (job.message.as_str(), job.document, job.sink.as_str());
    let Some(mut record) = t.get((mid, doc, sink))? else {
        return Ok(());
    };
    record.total_attempts += 1;
    let (outcome, detail) = match settlement {
        Settlement::Delivered { answer } => ("delivered", answer.clone()),
        Settlement::Retry { error, .. } => ("retry", error.clone()),
        Settlement::Failed { error } => ("failed", error.clone()),
    };
    let row = AttemptRecord {
        at,
        outcome: outcome.into(),
        detail,
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    };
    let json = serde_json::to_vec(&row)
        .map_err(|e| redb::Error::Corrupted(format!("cannot encode an attempt: {e}")))?;
    t.attempts
        .insert((mid, doc, sink, record.total_attempts), json.as_slice())?;
    let current = record.state == DeliveryState::InFlight && record.due_ms == job.lease_ms;
    if current {
        t.due.remove((sink, record.due_ms, mid, doc))?;
        t.leases.remove((mid, doc, sink))?;
        record.attempts += 1;
        match settlement {
            Settlement::Delivered { answer } => {
                record.state = DeliveryState::Delivered;
                record.delivered_at = Some(at);
                record.answer = Some(answer.clone());
            }
            Settlement::Retry { error, next } => {
                record.last_error = Some(error.clone());
                record.due_ms = unix_millis(*next);
                if t.held.get(mid)?.is_some() {
                    record.state = DeliveryState::Held;
                } else {
                    record.state = DeliveryState::Pending;
                    t.due.insert((sink, record.due_ms, mid, doc), ())?;
                }
            }
            Settlement::Failed { error } => {
                record.state = DeliveryState::Failed;
                record.last_error = Some(error.clone());
                t.failed.insert((mid, doc, sink), ())?;
            }
        }
    }
    t.put((mid, doc, sink), &record)
}

/// After a document's delivery became a dead letter: queues the message's notice (to the
/// supplier's contact, and `[notices] admin`) when its record carries one for that case, once
/// per message. Returns whether it queued one.
pub(crate) fn notice_dead_letter(
    t: &mut Tables<'_>,
    messages: &redb::Table<'_, &'static str, &'static [u8]>,
    job: &Job,
    now: SystemTime,
) -> Result<bool, redb::Error> {
    if job.document == super::WHOLE_MESSAGE {
        return Ok(false);
    }
    let Some(value) = messages.get(job.message.as_str())? else {
        return Ok(false);
    };
    let record: MessageRecord = decode(value.value())?;
    let undeliverable = record
        .notice
        .as_ref()
        .is_some_and(|n| n.kind == super::NoticeKind::Undeliverable);
    if !undeliverable {
        return Ok(false);
    }
    enqueue(
        t,
        job.message.as_str(),
        super::WHOLE_MESSAGE,
        crate::config::validate::NOTICES_SINK,
        now,
    )
}

/// Which finished deliveries a re-offer puts back in the queue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Again {
    /// Dead letters and delivered ones (an admin asked for this document again).
    FailedOrDelivered,
    /// Dead letters only (a sink newly linked: what it already has is not sent twice).
    FailedOnly,
}

/// Puts one delivery back in the queue, due `now`, with its back-off reset; queues it when
/// the document has none to that sink. In-flight and pending ones are left alone (they are on
/// their way), and so are delivered ones unless `again` says otherwise. Returns whether it
/// was queued.
fn reoffer_one(
    t: &mut Tables<'_>,
    mid: &str,
    doc: u32,
    sink: &str,
    now: SystemTime,
    again: Again,
) -> Result<bool, redb::Error> {
    let Some(mut record) = t.get((mid, doc, sink))? else {
        return enqueue(t, mid, doc, sink, now);
    };
    let wanted = match record.state {
        DeliveryState::Failed => true,
        DeliveryState::Delivered => again == Again::FailedOrDelivered,
        // On their way, or held: a re-offer does not undo a hold.
        DeliveryState::Pending | DeliveryState::InFlight | DeliveryState::Held => false,
    };
    if !wanted {
        return Ok(false);
    }
    t.failed.remove((mid, doc, sink))?;
    record.state = DeliveryState::Pending;
    record.attempts = 0;
    record.offered_at = now;
    record.due_ms = unix_millis(now);
    t.due.insert((sink, record.due_ms, mid, doc), ())?;
    t.put((mid, doc, sink), &record)?;
    Ok(true)
}

/// Re-offers what `selection` names; returns how many deliveries were queued or re-offered.
/// `messages` is the messages table, for the documents' statuses (only ready documents are
/// ever queued).
pub(crate) fn reoffer(
    t: &mut Tables<'_>,
    messages: &redb::Table<'_, &'static str, &'static [u8]>,
    selection: &Reoffer,
    now: SystemTime,
) -> Result<u64, redb::Error> {
    let mut count = 0;
    match selection {
        Reoffer::Message {
            message,
            document,
            sink,
        } => {
            let Some(record) = messages.get(message.as_str())? else {
                return Ok(0);
            };
            let record: MessageRecord = decode(record.value())?;
            for doc in &record.documents {
                if document.is_some_and(|d| d != doc.index) || doc.status != DocumentStatus::Ready {
                    continue;
                }
                let sinks: Vec<String> = match sink {
                    Some(s) => vec![s.clone()],
                    None => existing_sinks(t, message.as_str(), doc.index)?,
                };
                for s in sinks {
                    count += u64::from(reoffer_one(
                        t,
                        message.as_str(),
                        doc.index,
                        &s,
                        now,
                        Again::FailedOrDelivered,
                    )?);
                }
            }
        }
        Reoffer::Failed { sink } => {
            let mut keys = Vec::new();
            for entry in t.failed.iter()? {
                let (key, _) = entry?;
                let (mid, doc, s) = key.value();
                if sink.as_deref().is_none_or(|want| want == s) {
                    keys.push((mid.to_owned(), doc, s.to_owned()));
                }
            }
            for (mid, doc, s) in keys {
                count += u64::from(reoffer_one(t, &mid, doc, &s, now, Again::FailedOnly)?);
            }
        }
        Reoffer::Organisation {
            organisation,
            since,
            sink,
        } => {
            // Ids start with the UTC second they were made, so they sort by time: the scan
            // starts at the first id of `since`'s second.
            let start = super::id::first_id_at(*since);
            let mut found = Vec::new();
            for entry in messages.range(start.as_str()..)? {
                let (_, value) = entry?;
                let Ok(record) = serde_json::from_slice::<MessageRecord>(value.value()) else {
                    continue;
                };
                if record.received_at < *since || record.status.is_rejected() {
                    continue;
                }
                for doc in &record.documents {
                    if doc.organisation == *organisation && doc.status == DocumentStatus::Ready {
                        found.push((record.id.0.clone(), doc.index));
                    }
                }
            }
            for (mid, doc) in found {
                count += u64::from(reoffer_one(t, &mid, doc, sink, now, Again::FailedOnly)?);
            }
        }
    }
    Ok(count)
}

/// The sinks a document has deliveries to.
fn existing_sinks(t: &Tables<'_>, mid: &str, doc: u32) -> Result<Vec<String>, redb::Error> {
    let mut out = Vec::new();
    for entry in t.deliveries.range((mid, doc, "")..(mid, doc + 1, ""))? {
        let (key, _) = entry?;
        out.push(key.value().2.to_owned());
    }
    Ok(out)
}

/// At start-up, with no worker alive: every claim of the previous process goes back to
/// pending, due `now`, so a crash delays nothing by a lease. Returns how many.
pub(crate) fn release_leases(t: &mut Tables<'_>, now: SystemTime) -> Result<u64, redb::Error> {
    let mut held = Vec::new();
    for entry in t.leases.iter()? {
        let (key, lease) = entry?;
        let (mid, doc, sink) = key.value();
        held.push((mid.to_owned(), doc, sink.to_owned(), lease.value()));
    }
    let now_ms = unix_millis(now);
    for (mid, doc, sink, lease_ms) in &held {
        let (mid, doc, sink) = (mid.as_str(), *doc, sink.as_str());
        t.leases.remove((mid, doc, sink))?;
        t.due.remove((sink, *lease_ms, mid, doc))?;
        if let Some(mut record) = t.get((mid, doc, sink))?
            && record.state == DeliveryState::InFlight
        {
            record.state = DeliveryState::Pending;
            record.due_ms = now_ms;
            t.due.insert((sink, now_ms, mid, doc), ())?;
            t.put((mid, doc, sink), &record)?;
        }
    }
    Ok(held.len() as u64)
}

/// Every delivery of message `mid`: (document, sink, record).
fn deliveries_of(
    t: &Tables<'_>,
    mid: &str,
) -> Result<Vec<(u32, String, DeliveryRecord)>, redb::Error> {
    let mut out = Vec::new();
    for entry in t.deliveries.range((mid, 0, "")..)? {
        let (key, value) = entry?;
        let (m, doc, sink) = key.value();
        if m != mid {
            break;
        }
        out.push((doc, sink.to_owned(), decode(value.value())?));
    }
    Ok(out)
}

/// Puts message `mid` on hold at `now`: its pending deliveries become `held` (out of `due`);
/// one in flight is held when its attempt ends. Returns how many were held now, or `None` if
/// it was on hold already.
pub(crate) fn hold(
    t: &mut Tables<'_>,
    mid: &str,
    now: SystemTime,
) -> Result<Option<u64>, redb::Error> {
    if t.held.get(mid)?.is_some() {
        return Ok(None);
    }
    t.held.insert(mid, unix_millis(now))?;
    let mut count = 0;
    for (doc, sink, mut record) in deliveries_of(t, mid)? {
        if record.state == DeliveryState::Pending {
            t.due.remove((sink.as_str(), record.due_ms, mid, doc))?;
            record.state = DeliveryState::Held;
            t.put((mid, doc, &sink), &record)?;
            count += 1;
        }
    }
    Ok(Some(count))
}

/// Releases message `mid` from hold: its held deliveries become `pending`, due `now`.
/// Returns how many, or `None` if it was not on hold.
pub(crate) fn release(
    t: &mut Tables<'_>,
    mid: &str,
    now: SystemTime,
) -> Result<Option<u64>, redb::Error> {
    if t.held.remove(mid)?.is_none() {
        return Ok(None);
    }
    let now_ms = unix_millis(now);
    let mut count = 0;
    for (doc, sink, mut record) in deliveries_of(t, mid)? {
        if record.state == DeliveryState::Held {
            record.state = DeliveryState::Pending;
            record.due_ms = now_ms;
            t.due.insert((sink.as_str(), now_ms, mid, doc), ())?;
            t.put((mid, doc, &sink), &record)?;
            count += 1;
        }
    }
    Ok(Some(count))
}

/// Whether every delivery of message `mid` is finished (delivered or a dead letter) and the
/// last of them ended before `cutoff`. A message without deliveries is finished.
pub(crate) fn finished_before(
    t: &Tables<'_>,
    mid: &str,
    cutoff: SystemTime,
) -> Result<bool, redb::Error> {
    if t.held.get(mid)?.is_some() {
        return Ok(false);
    }
    for (doc, sink, record) in deliveries_of(t, mid)? {
        match record.state {
            DeliveryState::Delivered | DeliveryState::Failed => {}
            DeliveryState::Pending | DeliveryState::InFlight | DeliveryState::Held => {
                return Ok(false);
            }
        }
        // The last attempt's time: the delivery's end.
        if record.total_attempts > 0
            && let Some(value) = t
                .attempts
                .get((mid, doc, sink.as_str(), record.total_attempts))?
        {
            let attempt: AttemptRecord = decode(value.value())?;
            if attempt.at >= cutoff {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Removes every delivery of message `mid` (queued, in flight, dead letters, held), for a
/// deleted or purged message; `attempts_too` also removes its attempt history. An attempt in
/// flight settles into nothing. Returns how many deliveries were removed.
pub(crate) fn forget(
    t: &mut Tables<'_>,
    mid: &str,
    attempts_too: bool,
) -> Result<u64, redb::Error> {
    t.held.remove(mid)?;
    let all = deliveries_of(t, mid)?;
    for (doc, sink, record) in &all {
        let sink = sink.as_str();
        if matches!(
            record.state,
            DeliveryState::Pending | DeliveryState::InFlight
        ) {
            t.due.remove((sink, record.due_ms, mid, *doc))?;
        }
        t.leases.remove((mid, *doc, sink))?;
        t.failed.remove((mid, *doc, sink))?;
        t.deliveries.remove((mid, *doc, sink))?;
        if attempts_too {
            for n in 1..=record.total_attempts {
                t.attempts.remove((mid, *doc, sink, n))?;
            }
        }
    }
    Ok(all.len() as u64)
}
