//! The `notices` sink: sends the notice kept with a refused message ([`NoticeRecord`]) to the
//! supplier's contact (and, for a dead letter, to `[notices] admin`) through `[relay]`, as an
//! automatic reply (RFC 3834: `MAIL FROM:<>`, `Auto-Submitted: auto-replied`). The words come
//! from [`crate::notify`], with the templates of `[notices]`.
//!
//! The rate cap and the digest are [`crate::notify::digest`]'s (its module comment has the
//! design): at most `[notices] rate_per_hour` mails per recipient in any window
//! (`rate_window`, an hour); past it a notice's delivery is deferred ([`Outcome::Defer`]) to
//! the end of the recipient's window, and when the deferred deliveries come due ONE digest
//! lists them all; each is then settled delivered with an answer naming the digest. The
//! deferral is the spool's due time, so a crash loses no notice.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::smtp::SmtpSink;
use super::{Attempt, Item, Sink};
use crate::address::Address;
use crate::delivery::Outcome;
use crate::notify::compose::{self, Purpose};
use crate::notify::digest::{Ledger, Plan};
use crate::notify::render::{Templates, Words};
use crate::notify::{Language, Notice, NoticeKind};
use crate::policy::RuleText;
use crate::spool::NoticeRecord;

/// The notices sink.
pub struct NoticeSink {
    relay: SmtpSink,
    from: Address,
    /// `[notices] templates`, compiled when the config was loaded.
    templates: Templates,
    /// The cap and the digests (short critical sections, no await inside).
    ledger: Mutex<Ledger>,
}

impl NoticeSink {
    /// Notices from `from` through `relay` in the words of `templates`, at most
    /// `rate_per_hour` per recipient within `window`.
    pub fn new(
        relay: SmtpSink,
        from: Address,
        templates: Templates,
        rate_per_hour: u32,
        window: Duration,
    ) -> NoticeSink {
        NoticeSink {
            relay,
            from,
            templates,
            ledger: Mutex::new(Ledger::new(rate_per_hour, window)),
        }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn attempt(&self, item: &Item) -> Outcome {
        let Some(record) = &item.meta.notice else {
            return Outcome::permanent("the message has no notice");
        };
        if record.kind == crate::spool::NoticeKind::Invitation {
            // An admin's deliberate invitation: not an automatic reply, so neither under the
            // cap nor in a digest.
            return self.send_invitation(item, record).await;
        }
        let notice = notice(record, &item.meta.message_id, &item.meta.received_at);
        // The contact, and for a dead letter `[notices] admin` too, each under its own cap.
        let mut recipients = Vec::with_capacity(2);
        for to in std::iter::once(&record.to).chain(record.admin.as_ref()) {
            match Address::parse(to) {
                Ok(to) => recipients.push(to.to_string()),
                Err(e) => return Outcome::permanent(format!("notice recipient: {e}")),
            }
        }
        let mut answers = Vec::new();
        let mut defer: Option<(SystemTime, String)> = None;
        for to in &recipients {
            let plan = self.ledger().plan(
                to,
                &item.delivery_id,
                &notice,
                Instant::now(),
                SystemTime::now(),
            );
            let answer = match plan {
                Plan::Done { answer } => answer,
                Plan::Send => match self.send_notice(item, record, &notice, to).await {
                    Outcome::Delivered { answer } => {
                        self.ledger()
                            .sent(to, &item.delivery_id, &answer, Instant::now());
                        answer
                    }
                    other => return other,
                },
                Plan::Digest(digest) => {
                    // Should the attempt be dropped (its timeout, shutdown) the digest must not
                    // stay marked as being sent: the guard hands it back.
                    let mut guard = Sending {
                        sink: self,
                        to,
                        done: false,
                    };
                    match self.send_digest(&digest, to).await {
                        Ok(sent) => {
                            guard.done = true;
                            let mut ledger = self.ledger();
                            ledger.digest_sent(to, &sent.0, &sent.1, Instant::now());
                            // Listed in it, so this delivery is done like the others.
                            match ledger.plan(
                                to,
                                &item.delivery_id,
                                &notice,
                                Instant::now(),
                                SystemTime::now(),
                            ) {
                                Plan::Done { answer } => answer,
                                _ => format!("in digest {} to {to}: {}", sent.0, sent.1),
                            }
                        }
                        Err(outcome) => return outcome,
                    }
                }
                Plan::Defer { until, reason } => {
                    if defer.as_ref().is_none_or(|(t, _)| until < *t) {
                        defer = Some((until, reason));
                    }
                    continue;
                }
            };
            answers.push(format!("<{to}>: {answer}"));
        }
        if let Some((until, reason)) = defer {
            return Outcome::Defer { until, reason };
        }
        let mut ledger = self.ledger();
        for to in &recipients {
            ledger.settled(to, &item.delivery_id, Instant::now());
        }
        Outcome::Delivered {
            answer: answers.join("; "),
        }
    }

    async fn send_notice(
        &self,
        item: &Item,
        record: &NoticeRecord,
        notice: &Notice,
        to: &str,
    ) -> Outcome {
        let words = match self.templates.notice(notice) {
            Ok(words) => words,
            Err(e) => return Outcome::permanent(e),
        };
        match self.compose(
            Purpose::Notice,
            record.in_reply_to.as_deref(),
            &item.meta.message_id,
            to,
            &words,
        ) {
            Ok(message) => {
                let kind = match notice.kind {
                    NoticeKind::Refused => "refused",
                    NoticeKind::Undeliverable => "undeliverable",
                };
                self.send(kind, to, &message.bytes).await
            }
            Err(e) => Outcome::permanent(e),
        }
    }

    /// Sends the invitation kept in `record` to its contact.
    async fn send_invitation(&self, item: &Item, record: &NoticeRecord) -> Outcome {
        let Some(invitation) = invitation(record) else {
            return Outcome::permanent("the invitation record is incomplete");
        };
        let words = match self.templates.invitation(&invitation) {
            Ok(words) => words,
            Err(e) => return Outcome::permanent(e),
        };
        match self.compose(
            Purpose::Invitation,
            None,
            &item.meta.message_id,
            &record.to,
            &words,
        ) {
            Ok(message) => self.send("invitation", &record.to, &message.bytes).await,
            Err(e) => Outcome::permanent(e),
        }
    }

    /// Sends `bytes` to `to` through the relay with `MAIL FROM:<>`, and counts what went out.
    async fn send(&self, kind: &str, to: &str, bytes: &[u8]) -> Outcome {
        let outcome = self.relay.send_null_sender(to, bytes).await;
        if matches!(outcome, Outcome::Delivered { .. }) {
            crate::observe::notice_sent(kind, to);
        }
        outcome
    }

    /// Sends `digest` to `to`: its Message-ID and the relay's answer, or the failed outcome.
    async fn send_digest(
        &self,
        digest: &crate::notify::Digest,
        to: &str,
    ) -> Result<(String, String), Outcome> {
        let words = self.templates.digest(digest).map_err(Outcome::permanent)?;
        let message = self
            .compose(Purpose::Digest, None, "", to, &words)
            .map_err(Outcome::permanent)?;
        match self.send("digest", to, &message.bytes).await {
            Outcome::Delivered { answer } => Ok((message.message_id, answer)),
            other => Err(other),
        }
    }

    fn compose(
        &self,
        purpose: Purpose,
        in_reply_to: Option<&str>,
        message_id: &str,
        to: &str,
        words: &Words,
    ) -> Result<compose::Composed, String> {
        let to = Address::parse(to).map_err(|e| format!("notice recipient: {e}"))?;
        compose::compose(
            &compose::Envelope {
                purpose,
                from: &self.from,
                to: &to,
                in_reply_to,
                hostname: self.relay.hostname(),
                message_id,
            },
            words,
            SystemTime::now(),
        )
    }
}

/// A digest being sent; dropped before it was sent, it is handed back to the ledger.
struct Sending<'a> {
    sink: &'a NoticeSink,
    to: &'a str,
    done: bool,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.sink.ledger().digest_failed(self.to, Instant::now());
        }
    }
}

/// What the invitation says, from what the spool kept.
fn invitation(record: &NoticeRecord) -> Option<crate::notify::Invitation> {
    let facts = record.invitation.as_ref()?;
    Some(crate::notify::Invitation {
        language: if record.language == "en" {
            Language::En
        } else {
            Language::Nl
        },
        contact: record.to.clone(),
        supplier: facts.supplier.clone(),
        receiver: record.receiver.clone(),
        organisation: record.organisation.clone(),
        document_type: facts.document_type.clone(),
        identity: match facts.identity.as_str() {
            "domain" => crate::notify::Identity::Domain(facts.identity_value.clone()),
            "address" => crate::notify::Identity::Address(facts.identity_value.clone()),
            _ => crate::notify::Identity::VerifiedUsers,
        },
    })
}

/// What the notice says, from what the spool kept.
fn notice(record: &NoticeRecord, message_id: &str, received: &str) -> Notice {
    Notice {
        kind: match record.kind {
            crate::spool::NoticeKind::Refused => NoticeKind::Refused,
            // Invitations never get here (`send_invitation`).
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
