//! The `notices` sink: sends the notice kept with a refused message ([`NoticeRecord`]) to the
//! supplier's contact through `[relay]`, as an automatic reply (RFC 3834: `MAIL FROM:<>`,
//! `Auto-Submitted: auto-replied`). The words come from [`crate::notify`]. At most
//! `[notices] rate_per_hour` notices per contact in any hour: past it a notice is not sent,
//! and its delivery says so (it stays in the spool).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::smtp::SmtpSink;
use super::{Attempt, Item, Sink};
use crate::address::Address;
use crate::delivery::Outcome;
use crate::notify::{Language, Notice, NoticeKind, compose, render};
use crate::policy::RuleText;
use crate::spool::NoticeRecord;

/// The window of the rate cap.
const HOUR: Duration = Duration::from_secs(3600);

/// Contacts remembered by the rate cap at most; the oldest are forgotten first. Bounds the
/// memory a flood of distinct contacts could take (each is a configured contact anyway).
const MAX_CONTACTS: usize = 100_000;

/// The notices sink.
pub struct NoticeSink {
    relay: SmtpSink,
    from: Address,
    rate_per_hour: usize,
    /// When each contact was last sent notices, within the hour.
    sent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl NoticeSink {
    /// Notices from `from` through `relay`, at most `rate_per_hour` per contact.
    pub fn new(relay: SmtpSink, from: Address, rate_per_hour: u32) -> NoticeSink {
        NoticeSink {
            relay,
            from,
            rate_per_hour: usize::try_from(rate_per_hour).unwrap_or(usize::MAX),
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one place under the contact's hourly cap, or says it is full.
    fn take_place(&self, contact: &str, now: Instant) -> bool {
        let mut sent = self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sent.len() >= MAX_CONTACTS && !sent.contains_key(contact) {
            sent.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < HOUR));
        }
        let times = sent.entry(contact.to_ascii_lowercase()).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= HOUR)
        {
            times.pop_front();
        }
        if times.len() >= self.rate_per_hour {
            return false;
        }
        times.push_back(now);
        true
    }

    async fn attempt(&self, item: &Item) -> Outcome {
        let Some(record) = &item.meta.notice else {
            return Outcome::permanent("the message has no notice");
        };
        // The contact, and for a dead letter `[notices] admin` too. A retry sends to both
        // again (the cap still holds for each).
        let mut answers = Vec::new();
        for to in std::iter::once(&record.to).chain(record.admin.as_ref()) {
            match self.send_one(item, record, to).await {
                Outcome::Delivered { answer } => answers.push(format!("<{to}>: {answer}")),
                other => return other,
            }
        }
        Outcome::Delivered {
            answer: answers.join("; "),
        }
    }

    async fn send_one(&self, item: &Item, record: &NoticeRecord, to: &str) -> Outcome {
        let to = match Address::parse(to) {
            Ok(to) => to,
            Err(e) => return Outcome::permanent(format!("notice recipient: {e}")),
        };
        if record.kind == crate::spool::NoticeKind::Invitation {
            // Wired to notify's invitation words once they land (issue 11, section 2).
            return Outcome::permanent("invitations cannot be rendered yet");
        }
        let notice = notice(record, &item.meta.message_id, &item.meta.received_at);
        let words = match render::render(&notice) {
            Ok(words) => words,
            Err(e) => return Outcome::permanent(e),
        };
        let message = match compose::compose(
            &compose::Envelope {
                from: &self.from,
                to: &to,
                in_reply_to: record.in_reply_to.as_deref(),
                hostname: self.relay.hostname(),
                message_id: &item.meta.message_id,
            },
            &words,
            SystemTime::now(),
        ) {
            Ok(message) => message,
            Err(e) => return Outcome::permanent(e),
        };
        // Counted when an attempt is made (a retry of a failed one counts again: the cap is
        // on what the contact may receive, and a failed attempt may have arrived).
        let to = to.to_string();
        if !self.take_place(&to, Instant::now()) {
            return Outcome::Delivered {
                answer: format!(
                    "not sent: {} notices to {to} in the last hour already (notices.rate_per_hour)",
                    self.rate_per_hour
                ),
            };
        }
        self.relay.send_null_sender(&to, &message).await
    }
}

/// What the notice says, from what the spool kept.
fn notice(record: &NoticeRecord, message_id: &str, received: &str) -> Notice {
    Notice {
        kind: match record.kind {
            crate::spool::NoticeKind::Refused => NoticeKind::Refused,
            crate::spool::NoticeKind::Undeliverable | crate::spool::NoticeKind::Invitation => {
                NoticeKind::Undeliverable
            }
        },
        language: if record.language == "en" {
            Language::En
        } else {
            Language::Nl
        },
        message_id: message_id.to_string(),
        received: received.to_string(),
        receiver: record.receiver.clone(),
        organisation: record.organisation.clone(),
        subject: record.subject.clone(),
        files: record.files.clone(),
        invoice_numbers: record.invoice_numbers.clone(),
        reply: Some(record.reply.clone()).filter(|r| !r.is_empty()),
        rules: record
            .rules
            .iter()
            .map(|(id, text)| RuleText {
                id: id.clone(),
                text: text.clone(),
            })
            .collect(),
    }
}

impl Sink for NoticeSink {
    fn deliver<'a>(&'a self, item: &'a Item) -> Attempt<'a> {
        Box::pin(self.attempt(item))
    }
}
