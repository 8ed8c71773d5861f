//! The queue policy, pure: what an attempt's [`Outcome`] means for the schedule, the back-off
//! with jitter, and the pause of a sink that keeps failing. No I/O, no clock: the caller
//! passes `now` and the jitter, so every rule is tested alone.
//!
//! - 2xx / 250: delivered.
//! - A retryable failure: the next attempt after `initial_backoff × 2^(n−1)`, at most
//!   `max_backoff`, "equal jitter" (a random point in the upper half of that delay, so a
//!   thousand documents that failed together do not come back together); a `Retry-After`
//!   from the downstream replaces the computed delay (within `max_backoff`). Once the
//!   delivery has been offered for `max_age` a failure is final (dead letter), as an MTA gives
//!   up on a message after its queue lifetime; the last attempt is scheduled at `max_age`, so
//!   a long back-off never skips it.
//! - A permanent failure: dead letter at once.
//! - A deferral by the sink's own rule (the notices' rate cap): pending again at the time the
//!   sink named, at most [`MAX_DEFER`] ahead; it is neither a failure nor bound by `max_age`.

use std::time::{Duration, Instant, SystemTime};

use super::Outcome;
use crate::spool::Settlement;

/// Consecutive failed attempts after which a sink is paused.
pub const PAUSE_AFTER_FAILURES: u32 = 5;

/// The furthest a sink may defer a delivery ([`Outcome::Defer`]): a bound on a sink's mistake,
/// far beyond the notices' hour.
pub const MAX_DEFER: Duration = Duration::from_secs(24 * 3600);

/// The schedule's settings, from `[delivery]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The delay before the first retry.
    pub initial_backoff: Duration,
    /// The longest delay between two attempts.
    pub max_backoff: Duration,
    /// How long a delivery is tried before it becomes a dead letter.
    pub max_age: Duration,
}

impl Policy {
    /// The policy of `[delivery]`.
    pub fn from_config(delivery: &crate::config::Delivery) -> Policy {
        Policy {
            initial_backoff: delivery.initial_backoff,
            max_backoff: delivery.max_backoff,
            max_age: delivery.max_age,
        }
    }

    /// The delay after `failures` failed attempts in a row (1 for the first failure), before
    /// jitter: `initial_backoff × 2^(failures−1)`, at most `max_backoff`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        self.initial_backoff
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// [`Policy::backoff`] with equal jitter: `jitter` in `[0, 1)` picks a point in the upper
    /// half of the delay.
    pub fn jittered_backoff(&self, failures: u32, jitter: f64) -> Duration {
        let full = self.backoff(failures);
        let half = full / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// What attempt number `attempt` (since the delivery was offered at `offered_at`) that
    /// ended at `now` with `outcome` means for the delivery.
    pub fn settle(
        &self,
        outcome: &Outcome,
        attempt: u32,
        offered_at: SystemTime,
        now: SystemTime,
        jitter: f64,
    ) -> Settlement {
        match outcome {
            Outcome::Delivered { answer } => Settlement::Delivered {
                answer: answer.clone(),
            },
            Outcome::Permanent { error } => Settlement::Failed {
                error: error.clone(),
            },
            Outcome::Defer { until, reason } => Settlement::Retry {
                error: format!("deferred: {reason}"),
                next: (*until).clamp(now, now + MAX_DEFER),
            },
            Outcome::Retry { error, retry_after } => {
                let deadline = offered_at + self.max_age;
                if now >= deadline {
                    return Settlement::Failed {
                        error: format!(
                            "gave up after {attempt} attempt(s) over {}: {error}",
                            humantime::format_duration(self.max_age)
                        ),
                    };
                }
                let delay = match retry_after {
                    Some(wait) => (*wait).min(self.max_backoff),
                    None => self.jittered_backoff(attempt, jitter),
                };
                Settlement::Retry {
                    error: error.clone(),
                    next: (now + delay).min(deadline),
                }
            }
        }
    }
}

/// Whether a sink may be given work now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// As much as its concurrency allows.
    Open,
    /// One attempt, to see whether the sink is back.
    Probe,
    /// Nothing until then.
    PausedUntil(Instant),
}

/// The pause of one sink after repeated failures (a circuit breaker): after
/// [`PAUSE_AFTER_FAILURES`] failed attempts in a row the sink gets no work for a back-off
/// that grows with each failed probe, then one probe; a success opens it again. A sink that
/// is down is not hammered, and the documents wait on disk, not in memory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Breaker {
    /// Failed attempts in a row.
    failures: u32,
    /// Paused until then, if paused.
    paused_until: Option<Instant>,
    /// A probe is out.
    probing: bool,
}

impl Breaker {
    /// What the sink may do at `now`.
    pub fn allowance(&self, now: Instant) -> Allowance {
        match self.paused_until {
            Some(until) if now < until => Allowance::PausedUntil(until),
            Some(_) if self.probing => Allowance::PausedUntil(now + Duration::from_secs(1)),
            Some(_) => Allowance::Probe,
            None => Allowance::Open,
        }
    }

    /// A probe was handed out.
    pub fn probe_started(&mut self) {
        self.probing = true;
    }

    /// An attempt ended: `failed` for a retryable failure (a permanent refusal is about the
    /// document, not the sink, and counts as an answer).
    pub fn record(&mut self, failed: bool, now: Instant, policy: &Policy) {
        self.probing = false;
        if !failed {
            *self = Breaker::default();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures >= PAUSE_AFTER_FAILURES {
            let pause = policy.backoff(self.failures - PAUSE_AFTER_FAILURES + 1);
            self.paused_until = Some(now + pause);
        }
    }

    /// An attempt ended without reaching the downstream (the sink deferred it): neither a
    /// failure nor a success, but a probe it was is over.
    pub fn record_deferred(&mut self) {
        self.probing = false;
    }

    /// Whether the sink is paused (for status output and metrics).
    pub fn is_paused(&self) -> bool {
        self.paused_until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn policy() -> Policy {
        Policy {
            initial_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(4 * 3600),
            max_age: Duration::from_secs(5 * 86400),
        }
    }

    fn retry(after: Option<u64>) -> Outcome {
        Outcome::Retry {
            error: "HTTP 500".into(),
            retry_after: after.map(Duration::from_secs),
        }
    }

    #[test]
    fn backoff_doubles_from_the_initial_delay_up_to_the_maximum() {
        let p = policy();
        let secs: Vec<u64> = (1..=10).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(
            secs,
            [60, 120, 240, 480, 960, 1920, 3840, 7680, 14400, 14400]
        );
        assert_eq!(p.backoff(u32::MAX), p.max_backoff);
        assert_eq!(p.backoff(0), p.initial_backoff);
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let p = policy();
        assert_eq!(p.jittered_backoff(3, 0.0), Duration::from_secs(120));
        assert_eq!(p.jittered_backoff(3, 0.5), Duration::from_secs(180));
        assert!(p.jittered_backoff(3, 0.999_999) <= Duration::from_secs(240));
        assert_eq!(p.jittered_backoff(3, 7.0), Duration::from_secs(240));
    }

    #[test]
    fn delivered_and_permanent_answers() {
        let p = policy();
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            p.settle(
                &Outcome::Delivered {
                    answer: "HTTP 200".into()
                },
                1,
                t,
                t,
                0.5
            ),
            Settlement::Delivered {
                answer: "HTTP 200".into()
            }
        );
        assert_eq!(
            p.settle(&Outcome::permanent("HTTP 410"), 1, t, t, 0.5),
            Settlement::Failed {
                error: "HTTP 410".into()
            }
        );
    }

    #[test]
    fn a_retry_is_scheduled_by_backoff_or_by_retry_after() {
        let p = policy();
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let Settlement::Retry { next, .. } = p.settle(&retry(None), 2, t, t, 0.0) else {
            panic!("not a retry");
        };
        assert_eq!(next, t + Duration::from_secs(60));
        let Settlement::Retry { next, .. } = p.settle(&retry(Some(7)), 2, t, t, 0.0) else {
            panic!("not a retry");
        };
        assert_eq!(next, t + Duration::from_secs(7));
        // A Retry-After beyond max_backoff is cut to it.
        let Settlement::Retry { next, .. } = p.settle(&retry(Some(86400)), 1, t, t, 0.0) else {
            panic!("not a retry");
        };
        assert_eq!(next, t + p.max_backoff);
    }

    #[test]
    fn a_deferral_is_pending_at_its_own_time_even_past_max_backoff_and_max_age() {
        let p = policy();
        let offered = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let now = offered + p.max_age;
        let defer = |secs: u64| Outcome::Defer {
            until: now + Duration::from_secs(secs),
            reason: "past notices.rate_per_hour".into(),
        };
        assert_eq!(
            p.settle(&defer(5 * 3600), 40, offered, now, 0.5),
            Settlement::Retry {
                error: "deferred: past notices.rate_per_hour".into(),
                next: now + Duration::from_secs(5 * 3600),
            }
        );
        let Settlement::Retry { next, .. } = p.settle(&defer(90 * 86400), 1, offered, now, 0.5)
        else {
            panic!("not pending");
        };
        assert_eq!(next, now + MAX_DEFER);
        // A deferral ends a probe without counting as a failure or a success.
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..PAUSE_AFTER_FAILURES {
            b.record(true, t0, &p);
        }
        let later = t0 + Duration::from_secs(61);
        b.probe_started();
        b.record_deferred();
        assert_eq!(b.allowance(later), Allowance::Probe);
    }

    #[test]
    fn max_age_makes_the_last_attempt_at_the_deadline_and_then_a_dead_letter() {
        let p = policy();
        let offered = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let deadline = offered + p.max_age;
        let near = deadline - Duration::from_secs(10);
        let Settlement::Retry { next, .. } = p.settle(&retry(None), 30, offered, near, 0.5) else {
            panic!("not a retry");
        };
        assert_eq!(next, deadline);
        match p.settle(&retry(None), 31, offered, deadline, 0.5) {
            Settlement::Failed { error } => {
                assert!(
                    error.starts_with("gave up after 31 attempt(s) over 5days"),
                    "{error}"
                );
                assert!(error.ends_with("HTTP 500"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failing_sink_is_paused_then_probed_then_opened() {
        let p = policy();
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..PAUSE_AFTER_FAILURES - 1 {
            b.record(true, t0, &p);
            assert_eq!(b.allowance(t0), Allowance::Open);
        }
        b.record(true, t0, &p);
        assert_eq!(
            b.allowance(t0),
            Allowance::PausedUntil(t0 + Duration::from_secs(60))
        );
        let later = t0 + Duration::from_secs(61);
        assert_eq!(b.allowance(later), Allowance::Probe);
        b.probe_started();
        assert!(matches!(b.allowance(later), Allowance::PausedUntil(_)));
        // The probe fails: a longer pause.
        b.record(true, later, &p);
        assert_eq!(
            b.allowance(later),
            Allowance::PausedUntil(later + Duration::from_secs(120))
        );
        // A permanent refusal or a success is an answer: open again.
        b.record(false, later + Duration::from_secs(200), &p);
        assert_eq!(b.allowance(later), Allowance::Open);
        assert!(!b.is_paused());
    }
}
