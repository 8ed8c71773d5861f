//! The rate cap per recipient and the digest past it ("A rate cap per contact (default 10 an
//! hour). Past it, one digest."), as a state machine: no clock, no I/O. The `notices` sink
//! (`delivery::sink::notice`) asks [`Ledger::plan`] what to do with each recipient of each
//! notice delivery and reports back what it sent.
//!
//! # Design
//!
//! A notice is a delivery in the spool's queue like any other (one per message, to the built-in
//! `notices` sink), so nothing about it lives only in memory:
//!
//! 1. Under the cap (fewer than `rate_per_hour` mails to that recipient within the window,
//!    `rate_window`, one hour), the notice is sent at once: [`Plan::Send`].
//! 2. Past the cap, it is not sent: the delivery is *deferred* ([`Plan::Defer`], which the sink
//!    answers as `Outcome::Defer`) to the end of the recipient's window, the moment the oldest
//!    mail in it is a window old. The delivery stays `pending` in the spool with that due time,
//!    so a crash loses nothing: it comes due after the restart as before. In memory the notice
//!    joins the recipient's pending digest (at most [`MAX_ITEMS`] notices; one more is deferred
//!    to the same time without joining, and is a new notice then). Every later notice to that
//!    recipient joins the same digest until it is sent, so the digest keeps their order.
//! 3. When the first deferred delivery comes due, it gets [`Plan::Digest`]: the sink sends
//!    ONE message listing every notice of the digest (message id, received, subject, files,
//!    reason) and reports [`Ledger::digest_sent`]. The other deliveries of that digest come due
//!    at the same moment (they were deferred to it); each finds itself covered
//!    ([`Plan::Done`]) and is settled delivered with an answer that names the digest's
//!    Message-ID. While the digest is being sent, another of its deliveries waits a few
//!    seconds ([`SENDING_WAIT`]) rather than sending it twice; if sending fails, the digest
//!    stays and the next of its deliveries to come due sends it.
//! 4. A notice of two recipients (a dead letter: the contact and `[notices] admin`) is planned
//!    per recipient; what one of them was already sent is remembered ([`Ledger::sent`]) until
//!    the delivery settles, so a retry or a deferral for the other does not send it twice.
//!
//! What memory holds is a shortcut, never the only copy: after a restart the ledger is empty, the
//! deferred deliveries come due at their time and are planned anew (under the cap sent one by
//! one, past it gathered into a new digest), and one covered by a digest sent just before the
//! crash is sent again: at least once, like every delivery. Memory is bounded: per recipient,
//! the send times within the window (at most the cap and a digest), one digest of at most
//! [`MAX_ITEMS`] notices, and at most [`MAX_REMEMBERED`] answers awaiting their settlement;
//! recipients are configured contacts (and the admin), and idle ones are dropped once
//! [`MAX_RECIPIENTS`] are known.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use super::{Digest, Notice};

/// Notices one digest lists, at most; more are deferred to the next one.
pub const MAX_ITEMS: usize = 100;

/// Answers kept per recipient for deliveries not settled yet (sent to this recipient, or
/// covered by a digest); the oldest are forgotten first (that delivery would send again).
pub const MAX_REMEMBERED: usize = 4 * MAX_ITEMS;

/// Recipients remembered before idle ones are dropped.
pub const MAX_RECIPIENTS: usize = 100_000;

/// How long a delivery of a digest that is being sent waits before it looks again.
pub const SENDING_WAIT: Duration = Duration::from_secs(2);

/// What to do about one recipient of one notice delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Already done for this delivery (sent on an earlier attempt, or listed in a digest that
    /// was sent): this answer says so.
    Done {
        /// The answer to record, e.g. `in digest <digest.x@gw> (3 notices): 250 ok`.
        answer: String,
    },
    /// Send the notice now (a place under the cap is taken); report [`Ledger::sent`].
    Send,
    /// Send this digest now; report [`Ledger::digest_sent`] or [`Ledger::digest_failed`].
    Digest(Digest),
    /// Not now: try the delivery again at `until`.
    Defer {
        /// When.
        until: SystemTime,
        /// Why, for `spool show`.
        reason: String,
    },
}

/// The cap's and the digests' memory, for every recipient.
#[derive(Debug)]
pub struct Ledger {
    rate: usize,
    window: Duration,
    recipients: HashMap<String, Recipient>,
}

/// One recipient's state.
#[derive(Debug, Default)]
struct Recipient {
    /// When each mail within the window went out, oldest first.
    sent: VecDeque<Instant>,
    /// The digest gathering notices past the cap.
    pending: Option<Pending>,
    /// (delivery, answer) for deliveries done for this recipient but not settled yet.
    done: VecDeque<(String, String)>,
}

/// A digest not sent yet.
#[derive(Debug)]
struct Pending {
    /// When it goes out: the end of the recipient's window.
    due: SystemTime,
    /// (delivery, notice), in the order they came.
    items: Vec<(String, Notice)>,
    /// A delivery is sending it now.
    sending: bool,
}

impl Recipient {
    fn is_idle(&self, now: Instant, window: Duration) -> bool {
        self.pending.is_none()
            && self.done.is_empty()
            && self
                .sent
                .back()
                .is_none_or(|t| now.saturating_duration_since(*t) >= window)
    }

    fn remember(&mut self, delivery: &str, answer: String) {
        self.done.retain(|(d, _)| d != delivery);
        if self.done.len() >= MAX_REMEMBERED {
            self.done.pop_front();
        }
        self.done.push_back((delivery.to_string(), answer));
    }
}

impl Ledger {
    /// At most `rate` mails to one recipient within any `window`.
    pub fn new(rate: u32, window: Duration) -> Ledger {
        Ledger {
            rate: usize::try_from(rate).unwrap_or(usize::MAX).max(1),
            window,
            recipients: HashMap::new(),
        }
    }

    fn recipient(&mut self, to: &str, now: Instant) -> &mut Recipient {
        let key = to.to_ascii_lowercase();
        if self.recipients.len() >= MAX_RECIPIENTS && !self.recipients.contains_key(&key) {
            let window = self.window;
            self.recipients.retain(|_, r| !r.is_idle(now, window));
        }
        let window = self.window;
        let r = self.recipients.entry(key).or_default();
        while r
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            r.sent.pop_front();
        }
        r
    }

    /// What to do about recipient `to` of the notice delivery `delivery` (its stable id),
    /// which says `notice`, at `now` (monotonic, for the cap) and `wall` (the spool's clock,
    /// for due times).
    pub fn plan(
        &mut self,
        to: &str,
        delivery: &str,
        notice: &Notice,
        now: Instant,
        wall: SystemTime,
    ) -> Plan {
        let rate = self.rate;
        let window = self.window;
        let r = self.recipient(to, now);
        if let Some((_, answer)) = r.done.iter().find(|(d, _)| d == delivery) {
            return Plan::Done {
                answer: answer.clone(),
            };
        }
        if let Some(pending) = &mut r.pending {
            if pending.sending {
                return Plan::Defer {
                    until: wall + SENDING_WAIT,
                    reason: format!("past notices.rate_per_hour for {to}: a digest is being sent"),
                };
            }
            let listed = pending.items.iter().any(|(d, _)| d == delivery);
            if !listed && pending.items.len() >= MAX_ITEMS {
                return Plan::Defer {
                    until: pending.due,
                    reason: format!(
                        "past notices.rate_per_hour for {to}, and its digest is full ({MAX_ITEMS} notices): after it"
                    ),
                };
            }
            if !listed {
                pending.items.push((delivery.to_string(), notice.clone()));
            }
            if wall >= pending.due {
                pending.sending = true;
                return Plan::Digest(Digest {
                    language: pending
                        .items
                        .first()
                        .map_or(notice.language, |(_, n)| n.language),
                    items: pending.items.iter().map(|(_, n)| n.clone()).collect(),
                });
            }
            return Plan::Defer {
                until: pending.due,
                reason: deferred(to, pending.due),
            };
        }
        if r.sent.len() < rate {
            // Counted when the attempt is made: a failed attempt may have arrived.
            r.sent.push_back(now);
            return Plan::Send;
        }
        // Past the cap: a digest at the end of the window, when its oldest mail is a window old.
        let free_in = r.sent.front().map_or(Duration::ZERO, |t| {
            window.saturating_sub(now.saturating_duration_since(*t))
        });
        let due = wall + free_in;
        r.pending = Some(Pending {
            due,
            items: vec![(delivery.to_string(), notice.clone())],
            sending: false,
        });
        Plan::Defer {
            until: due,
            reason: deferred(to, due),
        }
    }

    /// The notice of `delivery` reached `to` with `answer` ([`Plan::Send`] succeeded).
    pub fn sent(&mut self, to: &str, delivery: &str, answer: &str, now: Instant) {
        self.recipient(to, now)
            .remember(delivery, answer.to_string());
    }

    /// The digest of `to` ([`Plan::Digest`]) went out as `message_id` with the relay's
    /// `answer`: each delivery it lists is done, and it takes a place under the cap.
    pub fn digest_sent(&mut self, to: &str, message_id: &str, answer: &str, now: Instant) {
        let r = self.recipient(to, now);
        let Some(pending) = r.pending.take() else {
            return;
        };
        let n = pending.items.len();
        let answer = format!("in digest {message_id} to {to} ({n} notices): {answer}");
        for (delivery, _) in &pending.items {
            r.remember(delivery, answer.clone());
        }
        r.sent.push_back(now);
    }

    /// Sending the digest of `to` failed (or was dropped): it stays, for the next of its
    /// deliveries to come due.
    pub fn digest_failed(&mut self, to: &str, now: Instant) {
        if let Some(pending) = &mut self.recipient(to, now).pending {
            pending.sending = false;
        }
    }

    /// `delivery` is settled: what was remembered for it is no longer needed.
    pub fn settled(&mut self, to: &str, delivery: &str, now: Instant) {
        self.recipient(to, now).done.retain(|(d, _)| d != delivery);
    }
}

fn deferred(to: &str, due: SystemTime) -> String {
    format!(
        "past notices.rate_per_hour for {to}: in the digest at {}",
        crate::spool::format_time(due)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Language, NoticeKind};

    const HOUR: Duration = Duration::from_secs(3600);

    fn notice(id: &str) -> Notice {
        Notice {
            kind: NoticeKind::Refused,
            language: Language::En,
            message_id: id.into(),
            received: "Thu, 03 Dec 2026 17:00:00 +0000".into(),
            receiver: "AD64SDE@trust.example.test".into(),
            organisation: "ACME".into(),
            subject: Some(format!("Invoice {id}")),
            files: vec![format!("{id}.xml")],
            invoice_numbers: Vec::new(),
            reply: None,
            rules: Vec::new(),
        }
    }

    const TO: &str = "billing@supplier.example";

    #[test]
    fn past_the_cap_notices_gather_into_one_digest_at_the_end_of_the_hour() {
        let mut ledger = Ledger::new(2, HOUR);
        let t0 = Instant::now();
        let w0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |s: u64| (t0 + Duration::from_secs(s), w0 + Duration::from_secs(s));
        // Two under the cap, a minute apart.
        let (t, w) = at(0);
        assert_eq!(ledger.plan(TO, "d1", &notice("m1"), t, w), Plan::Send);
        ledger.sent(TO, "d1", "250 ok", t);
        ledger.settled(TO, "d1", t);
        let (t, w) = at(60);
        assert_eq!(ledger.plan(TO, "d2", &notice("m2"), t, w), Plan::Send);
        // Three past it: deferred to when the first is an hour old, all to the same moment.
        let due = w0 + HOUR;
        for (s, d, m) in [(120, "d3", "m3"), (180, "d4", "m4"), (240, "d5", "m5")] {
            let (t, w) = at(s);
            match ledger.plan(TO, d, &notice(m), t, w) {
                Plan::Defer { until, reason } => {
                    assert_eq!(until, due);
                    assert!(
                        reason.starts_with("past notices.rate_per_hour for "),
                        "{reason}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        // Coming back early (a re-offer): deferred again, not listed twice.
        let (t, w) = at(300);
        assert!(
            matches!(ledger.plan(TO, "d3", &notice("m3"), t, w), Plan::Defer { until, .. } if until == due)
        );
        // Due: the first to come sends one digest of the three, in their order.
        let (t, w) = at(3600);
        let Plan::Digest(digest) = ledger.plan(TO, "d4", &notice("m4"), t, w) else {
            panic!("no digest");
        };
        let ids: Vec<&str> = digest.items.iter().map(|n| n.message_id.as_str()).collect();
        assert_eq!(ids, ["m3", "m4", "m5"]);
        // Another comes due while it is sent: it waits, it does not send it again.
        assert!(
            matches!(ledger.plan(TO, "d5", &notice("m5"), t, w), Plan::Defer { until, .. } if until == w + SENDING_WAIT)
        );
        ledger.digest_sent(TO, "<digest.1@gw>", "250 ok", t);
        // Each delivery of the digest is done, and says which digest.
        for d in ["d3", "d4", "d5"] {
            let Plan::Done { answer } = ledger.plan(TO, d, &notice("x"), t, w) else {
                panic!("{d} not done");
            };
            assert_eq!(
                answer,
                format!("in digest <digest.1@gw> to {TO} (3 notices): 250 ok")
            );
            ledger.settled(TO, d, t);
        }
        // The digest took a place: d2 (60 s) and the digest fill the cap again.
        let (t, w) = at(3610);
        assert!(
            matches!(ledger.plan(TO, "d6", &notice("m6"), t, w), Plan::Defer { until, .. } if until == w0 + Duration::from_secs(3660))
        );
        // Other recipients have caps of their own; case does not matter.
        assert_eq!(
            ledger.plan("admin@acme.example", "d6", &notice("m6"), t, w),
            Plan::Send
        );
        assert!(matches!(
            ledger.plan("BILLING@supplier.example", "d7", &notice("m7"), t, w),
            Plan::Defer { .. }
        ));
    }

    #[test]
    fn a_failed_digest_is_sent_by_the_next_delivery_and_a_full_one_waits() {
        let mut ledger = Ledger::new(1, HOUR);
        let t = Instant::now();
        let w = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(ledger.plan(TO, "d0", &notice("m0"), t, w), Plan::Send);
        for i in 0..MAX_ITEMS {
            let d = format!("d{}", i + 1);
            assert!(matches!(
                ledger.plan(TO, &d, &notice(&d), t, w),
                Plan::Defer { .. }
            ));
        }
        // The digest is full: one more waits for it without joining.
        let Plan::Defer { reason, .. } = ledger.plan(TO, "late", &notice("late"), t, w) else {
            panic!("not deferred");
        };
        assert!(reason.contains("digest is full"), "{reason}");
        let (t, w) = (t + HOUR, w + HOUR);
        let Plan::Digest(first) = ledger.plan(TO, "d1", &notice("d1"), t, w) else {
            panic!("no digest");
        };
        assert_eq!(first.items.len(), MAX_ITEMS);
        ledger.digest_failed(TO, t);
        // Another of its deliveries sends the same digest.
        let Plan::Digest(again) = ledger.plan(TO, "d2", &notice("d2"), t, w) else {
            panic!("no digest");
        };
        assert_eq!(again, first);
        ledger.digest_sent(TO, "<digest.2@gw>", "250 ok", t);
        // The one that waited is a new notice now: the digest filled the cap, so it begins the
        // next digest.
        assert!(
            matches!(ledger.plan(TO, "late", &notice("late"), t, w), Plan::Defer { until, .. } if until == w + HOUR)
        );
    }

    #[test]
    fn what_one_recipient_got_is_not_sent_again_while_the_other_waits() {
        let mut ledger = Ledger::new(1, HOUR);
        let t = Instant::now();
        let w = SystemTime::UNIX_EPOCH;
        assert_eq!(
            ledger.plan("a@x.example", "d1", &notice("m1"), t, w),
            Plan::Send
        );
        ledger.sent("a@x.example", "d1", "250 ok", t);
        // The delivery is retried (its other recipient failed): the first is done.
        assert_eq!(
            ledger.plan("a@x.example", "d1", &notice("m1"), t, w),
            Plan::Done {
                answer: "250 ok".into()
            }
        );
        ledger.settled("a@x.example", "d1", t);
        // Settled and forgotten: a new delivery is under the cap again after the window.
        assert_eq!(
            ledger.plan("a@x.example", "d2", &notice("m2"), t + HOUR, w + HOUR),
            Plan::Send
        );
    }

    #[test]
    fn memory_per_recipient_is_bounded() {
        let mut ledger = Ledger::new(1, HOUR);
        let t = Instant::now();
        for i in 0..MAX_REMEMBERED + 10 {
            ledger.sent(TO, &format!("d{i}"), "250 ok", t);
        }
        let r = &ledger.recipients[TO];
        assert_eq!(r.done.len(), MAX_REMEMBERED);
        assert_eq!(r.done.front().map(|(d, _)| d.as_str()), Some("d10"));
    }
}
