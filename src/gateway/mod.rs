//! The gateway: the [`Handler`] the SMTP session asks at MAIL, RCPT and end of data.
//!
//! It joins the policy (who may send to which address), the intake (MIME, pairing, invoice
//! inspection) and the spool (durable commit). It never answers 250 before the spool commit
//! returned `Ok`, and answers every internal failure with a 4xx so the sender retries.
//!
//! End of data runs in four stages:
//! 1. [`inspect`]: take the message apart (blocking, under the inspection permits);
//! 2. authenticate ([`crate::policy::auth`]; async, DNS);
//! 3. [`verdict`]: pure policy over the two, with earlier invoices seen through
//!    [`precedents`];
//! 4. the side effects here: the record, the spool commit, the log and the reply.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::{Instrument, error, info, warn};

pub mod authenticate;
mod inspect;
mod precedents;
mod refusal;
mod verdict;

use crate::address::Address;
use crate::config::validate::NOTICES_SINK;
use crate::intake::IntakeLimits;
use crate::policy::Directory;
use crate::policy::auth::{AuthRecord, Authentication};
use crate::smtp::session::path_text;
use crate::smtp::{BodySink, Envelope, Handler, Reply, SessionInfo, reply};
use crate::spool::{MessageStatus, NewMessage, Spool, SpoolError, Staging};
use crate::text::display_safe;

pub use precedents::{InFlight, Reservation};
pub use verdict::SELLER_CLAIM;

use precedents::SpoolPrecedents;
use refusal::reply_for;
use verdict::{Content, Verdict};

/// The handler behind every SMTP session.
pub struct Gateway {
    /// Receivers and trusted senders; shared with blocking intake work.
    directory: Arc<Directory>,
    /// Where accepted messages go.
    spool: Spool,
    /// Bounds on MIME parsing.
    intake_limits: IntakeLimits,
    /// Free disk space kept in reserve under the spool (`[spool] min_free_space`).
    min_free_space: u64,
    /// Duplicate keys of messages between end of data and commit.
    in_flight: Arc<InFlight>,
    /// Permits to take a message apart (`[limits] max_parallel_inspections`): inspection is
    /// CPU work, so more at once than the cores can run only adds memory.
    inspections: Arc<tokio::sync::Semaphore>,
    /// How many permits `inspections` was made with.
    inspection_permits: usize,
    /// Transactions per minute per client address and network (`[server]
    /// max_messages_per_minute*`); kept across a reload that does not change them.
    message_rate: Arc<crate::smtp::rate::RateLimit>,
    /// The rates `message_rate` was made with.
    message_rates: (u32, u32),
    /// Stage 2's resolver; `None` when no trusted sender needs authentication.
    authenticator: Option<Arc<authenticate::Authenticator>>,
    /// Our hostname, for the trace fields.
    hostname: String,
}

/// What stage 4 adds to a stored message and keeps in its record.
struct Trace {
    /// The `Authentication-Results` field, when stage 2 ran.
    auth_header: Option<String>,
    /// What stage 2 found, and how the sender was proven.
    auth: Option<AuthRecord>,
}

/// The message body while DATA arrives: the spool's staging buffer.
pub struct Body(Staging);

impl BodySink for Body {
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.0.write(chunk)
    }
}

impl Gateway {
    /// A gateway over `directory` that stores into `spool`, with the limits, rates and
    /// hostname of `config`, authenticating senders with `authenticator` (`None` when no
    /// trusted sender needs it).
    pub fn new(
        directory: Directory,
        spool: Spool,
        config: &crate::config::Config,
        authenticator: Option<authenticate::Authenticator>,
    ) -> Gateway {
        let parallel_inspections = match config.limits.max_parallel_inspections {
            0 => 2 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            n => n,
        };
        Gateway {
            directory: Arc::new(directory),
            spool,
            intake_limits: intake_limits(config),
            min_free_space: config.spool.min_free_space,
            in_flight: Arc::new(InFlight::default()),
            inspections: Arc::new(tokio::sync::Semaphore::new(parallel_inspections)),
            inspection_permits: parallel_inspections,
            message_rate: Arc::new(crate::smtp::rate::RateLimit::per_minute(
                config.server.max_messages_per_minute,
                config.server.max_messages_per_minute_per_network,
            )),
            message_rates: (
                config.server.max_messages_per_minute,
                config.server.max_messages_per_minute_per_network,
            ),
            authenticator: authenticator.map(Arc::new),
            hostname: config.server.hostname.clone(),
        }
    }

    /// The gateway a reload swaps in: `config`'s directory, limits and rates, sharing with
    /// this one what must outlive a reload: the spool, the keys of messages in flight (so a
    /// duplicate arriving across the reload is still caught), the inspection permits (unless
    /// their number changed), the rate state (unless the rates changed) and the resolver.
    ///
    /// # Errors
    /// A resolver is needed now and cannot be built.
    pub fn reconfigured(&self, config: &crate::config::Config) -> Result<Gateway, String> {
        let directory = Directory::new(config);
        let authenticator = match (&self.authenticator, directory.authenticates()) {
            (Some(a), _) => Some(Arc::clone(a)),
            (None, true) => Some(Arc::new(authenticate::Authenticator::new(
                &config.dns,
                &config.server.hostname,
            )?)),
            (None, false) => None,
        };
        let mut next = Gateway::new(directory, self.spool.clone(), config, None);
        next.authenticator = authenticator;
        next.in_flight = Arc::clone(&self.in_flight);
        if next.inspection_permits == self.inspection_permits {
            next.inspections = Arc::clone(&self.inspections);
        }
        if next.message_rates == self.message_rates {
            next.message_rate = Arc::clone(&self.message_rate);
        }
        Ok(next)
    }
}

/// The config's `[limits]` as intake's bounds (MIME pre-scan and PDF reader).
pub fn intake_limits(config: &crate::config::Config) -> IntakeLimits {
    let limits = &config.limits;
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    IntakeLimits {
        max_header_bytes: size(limits.max_header_bytes),
        max_headers: limits.max_header_fields,
        max_total_header_bytes: size(limits.max_total_header_bytes),
        max_total_headers: limits.max_total_header_fields,
        max_parts: limits.max_mime_parts,
        max_depth: limits.max_mime_depth,
        max_nested_messages: limits.max_nested_messages,
        pdf: crate::invoice::PdfLimits {
            max_bytes: size(limits.max_pdf_bytes),
            max_objects: limits.max_pdf_objects,
            max_values: limits.max_pdf_values,
            max_decompressed_bytes: size(limits.max_pdf_stream_bytes),
            max_total_decompressed_bytes: size(limits.max_pdf_decompressed_bytes),
            max_embedded_files: limits.max_pdf_embedded_files,
            max_expansion: limits.max_pdf_expansion,
        },
        xml: limits.xml(),
        // What all archives of a message may inflate to: no more than the message itself may
        // be (issue 13).
        archive: crate::intake::archive::ArchiveLimits {
            max_total_bytes: config.server.max_message_size,
            ..Default::default()
        },
    }
}

fn spool_reply(err: &SpoolError) -> Reply {
    if err.is_full() {
        reply::SPOOL_FULL
    } else {
        reply::LOCAL_ERROR
    }
}

impl Handler for Gateway {
    type Body = Body;

    fn mail(
        &self,
        session: &SessionInfo,
        reverse_path: Option<&Address>,
        declared_size: Option<u64>,
    ) -> Result<(), Reply> {
        if !session.tls && reverse_path.is_some_and(|p| self.directory.requires_tls(p)) {
            info!(sid = session.id, mail_from = %display_safe(&path_text(reverse_path)), reply = %reply::TLS_REQUIRED, "transaction refused");
            return Err(reply::TLS_REQUIRED);
        }
        // SMTP-HARDENING 19: transactions per minute per address and network.
        if let Err(exceeded) = self.message_rate.check(session.peer.ip()) {
            info!(sid = session.id, over = ?exceeded, reply = %reply::MESSAGE_RATE, "transaction refused");
            return Err(reply::MESSAGE_RATE);
        }
        // SMTP-HARDENING 40: the free-space reserve is checked before a transaction starts,
        // counting the declared size, so a full disk answers 452 and never a late failure.
        // The sender itself is judged per recipient at RCPT, where the refusal can say for
        // which address it is not trusted.
        match self.spool.free_space() {
            Ok(free)
                if free
                    < self
                        .min_free_space
                        .saturating_add(declared_size.unwrap_or(0)) =>
            {
                warn!(
                    sid = session.id,
                    free,
                    reserve = self.min_free_space,
                    "spool disk below the reserve"
                );
                Err(reply::SPOOL_FULL)
            }
            Ok(_) => Ok(()),
            Err(err) => {
                warn!(sid = session.id, error = %err, "cannot read free spool space");
                Ok(())
            }
        }
    }

    fn rcpt(
        &self,
        session: &SessionInfo,
        reverse_path: Option<&Address>,
        forward_path: &Address,
    ) -> Result<(), Reply> {
        if self.directory.is_postmaster(forward_path) {
            info!(sid = session.id, rcpt = %display_safe(&forward_path.to_string()),
                mail_from = %display_safe(&path_text(reverse_path)), "postmaster recipient accepted");
            return Ok(());
        }
        // Only what can never pass is refused here: the header From decides at end of data.
        let judged = self
            .directory
            .receiver(forward_path)
            .and_then(|receiver| self.directory.check_envelope_sender(receiver, reverse_path));
        judged.map_err(|refusal| {
            info!(sid = session.id, reason = refusal.reason(), rcpt = %display_safe(&forward_path.to_string()),
                mail_from = %display_safe(&path_text(reverse_path)), reply = %reply_for(&refusal), "recipient refused");
            reply_for(&refusal)
        })
    }

    fn open_body(&self, session: &SessionInfo, _envelope: &Envelope) -> Result<Body, Reply> {
        self.spool.staging().map(Body).map_err(|err| {
            warn!(sid = session.id, error = %err, "cannot open body staging");
            spool_reply(&err)
        })
    }

    async fn end_of_data(&self, session: &SessionInfo, envelope: Envelope, body: Body) -> Reply {
        // The queue id, given as the message arrives (Postfix's way), so that every line about
        // it carries it: this one ties it to the session (client, HELO, envelope); inspection,
        // refusal, storage and each delivery follow. `grep ID` follows a message end to end.
        // A message refused before it is stored leaves its id unused.
        let id = self.spool.new_id();
        let span = tracing::info_span!("message", mid = %id);
        async {
            info!(
                sid = session.id,
                client = %session.peer,
                helo = %display_safe(&session.helo),
                mail_from = %display_safe(&path_text(envelope.mail_from.as_ref())),
                rcpt = %display_safe(&envelope.rcpt_to.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
                size = body.0.len(),
                "message received"
            );
            self.judge_and_record(session, envelope, body.0, id).await
        }
        .instrument(span)
        .await
    }
}

impl Gateway {
    /// End of data for message `id`: take it apart, authenticate, judge, record, answer.
    async fn judge_and_record(
        &self,
        session: &SessionInfo,
        envelope: Envelope,
        body: Staging,
        id: crate::spool::MessageId,
    ) -> Reply {
        // Stage 1, under a permit: taking a message apart is CPU work, so more at once than
        // the cores can run only adds memory (the semaphore is never closed).
        let Ok(permit) = Arc::clone(&self.inspections).acquire_owned().await else {
            return reply::LOCAL_ERROR;
        };
        let limits = self.intake_limits.clone();
        let sid = session.id;
        let span = tracing::Span::current();
        let taken = tokio::task::spawn_blocking(move || {
            let _message = span.enter();
            let inspected = match body.bytes() {
                Ok(raw) => inspect::take_apart(&raw, &limits),
                Err(err) => {
                    error!(sid, error = %err, "cannot read staged body");
                    Err(crate::policy::Refusal::new(
                        crate::policy::RefusalKind::Internal("staging_read"),
                    ))
                }
            };
            drop(permit);
            (inspected, body)
        })
        .await;
        let (inspected, body) = match taken {
            Ok((Ok(inspected), body)) => (inspected, body),
            Ok((Err(refusal), _)) => {
                crate::observe::message_refused(
                    sid,
                    None,
                    refusal.reason(),
                    &reply_for(&refusal).to_string(),
                );
                return reply_for(&refusal);
            }
            Err(join_error) => {
                error!(sid, error = %join_error, "message inspection failed");
                return reply::LOCAL_ERROR;
            }
        };
        // Mail for the postmaster (or abuse) only: stored for the admin, whatever it holds.
        let (postmaster, rcpt_to): (Vec<Address>, Vec<Address>) = envelope
            .rcpt_to
            .iter()
            .cloned()
            .partition(|r| self.directory.is_postmaster(r));
        if rcpt_to.is_empty() && !postmaster.is_empty() {
            return self
                .record_for_postmaster(session, &envelope, id, body, inspected, &postmaster)
                .await;
        }
        // Stage 2: only when a trusted sender of an addressed receiver asks for it.
        let (authentication, auth_header) = match &self.authenticator {
            Some(authenticator) if self.directory.needs_authentication(&rcpt_to) => {
                let raw = match body.bytes() {
                    Ok(raw) => raw,
                    Err(err) => {
                        error!(sid, error = %err, "cannot read staged body");
                        return reply::LOCAL_ERROR;
                    }
                };
                let found = authenticator
                    .check(
                        &raw,
                        session.peer.ip(),
                        &session.helo,
                        &path_text(envelope.mail_from.as_ref()),
                    )
                    .await;
                drop(raw);
                (
                    Authentication::Checked(Box::new(found.results)),
                    Some(found.header),
                )
            }
            _ => (Authentication::NotRequired, None),
        };
        let checked = match &authentication {
            Authentication::Checked(results) => Some(results.as_ref().clone()),
            _ => None,
        };
        // Stage 3, on a blocking thread: its precedents read the spool.
        let directory = Arc::clone(&self.directory);
        let spool = self.spool.clone();
        let in_flight = Arc::clone(&self.in_flight);
        // The verdict judges the receivers; a postmaster among them gets the same message.
        let tls = session.tls;
        let span = tracing::Span::current();
        let sha256 = body.sha256();
        let judged = tokio::task::spawn_blocking(move || {
            let _message = span.enter();
            let message_id = inspected.message_id.clone();
            let mut precedents =
                SpoolPrecedents::new(&spool, &in_flight, sid, message_id.as_deref(), sha256);
            let verdict = verdict::verdict(
                &directory,
                &rcpt_to,
                tls,
                inspected,
                &authentication,
                &mut precedents,
            );
            (verdict, std::mem::take(&mut precedents.reserved))
        })
        .await;
        let (verdict, reserved) = match judged {
            Ok(judged) => judged,
            Err(join_error) => {
                error!(sid, error = %join_error, "message verdict failed");
                return reply::LOCAL_ERROR;
            }
        };
        // Stage 4: the side effects. The reserved duplicate keys are held until the commit
        // returned (then the index answers for them), whatever its outcome.
        let trace = Trace {
            auth_header,
            auth: checked.map(|results| AuthRecord {
                proven_by: match &verdict {
                    Verdict::Accept { content, .. } | Verdict::Reject { content, .. } => {
                        content.proven_by.clone()
                    }
                    Verdict::Refuse(_) => Vec::new(),
                },
                results,
            }),
        };
        let answer = self
            .record(session, &envelope, id, body, verdict, trace)
            .await;
        drop(reserved);
        answer
    }
    /// Stores a message addressed only to `postmaster` (or `abuse`) addresses: no invoice
    /// inspection, no trusted-sender policy, kept for the admin (`trustgate spool list`).
    async fn record_for_postmaster(
        &self,
        session: &SessionInfo,
        envelope: &Envelope,
        id: crate::spool::MessageId,
        body: Staging,
        inspected: inspect::Inspected,
        postmaster: &[Address],
    ) -> Reply {
        let header_from = match inspected.header_from {
            crate::intake::HeaderFrom::One(a) => Some(a),
            _ => None,
        };
        let trace = Trace {
            auth_header: None,
            auth: None,
        };
        let body = match self.stamp(session, envelope, &id, body, &trace).await {
            Ok((body, _)) => body,
            Err(reply) => return reply,
        };
        let mut message = bare_message(
            session,
            envelope,
            body,
            MessageStatus::Accepted,
            header_from,
            inspected.message_id,
        );
        // Forwarded as received to `[server] postmaster`, when set; kept either way.
        message.deliver_message = self.directory.postmaster_sinks();
        match self.spool.commit_as(id, message).await {
            Ok(id) => {
                let rcpts: Vec<String> = postmaster.iter().map(ToString::to_string).collect();
                crate::observe::postmaster_stored(
                    session.id,
                    id.as_str(),
                    &display_safe(&rcpts.join(", ")),
                );
                reply::queued_for_postmaster(&id.to_string())
            }
            Err(err) => {
                error!(sid = session.id, error = %err, "spool commit failed");
                spool_reply(&err)
            }
        }
    }

    /// The notice to the contact of the trusted sender whose message the verdict refused for
    /// its content, when `[notices]` is set and the message was not sent automatically (RFC
    /// 3834). The sender is trusted and proven by now (else the refusal came earlier and
    /// nothing is stored), so the contact is a registered one: never the MAIL FROM or the From.
    fn notice_for(
        &self,
        sid: u64,
        envelope: &Envelope,
        content: &verdict::Content,
        refusal: Option<&crate::policy::Refusal>,
    ) -> Option<crate::spool::NoticeRecord> {
        if !self.directory.sends_notices() {
            return None;
        }
        if let Some(why) =
            crate::notify::suppress::no_notice_because(envelope.mail_from.is_none(), &content.auto)
        {
            info!(sid, why, "no notice: the message was sent automatically");
            return None;
        }
        let from = Address::parse(&content.header_from).ok()?;
        // The first addressed receiver that trusts the From: one notice per message.
        let (receiver, entry) = envelope.rcpt_to.iter().find_map(|rcpt| {
            let receiver = self.directory.receiver(rcpt).ok()?;
            let entry = self.directory.trusted_sender(receiver, &from)?;
            Some((receiver, entry))
        })?;
        let organisation = self
            .directory
            .organisations()
            .get(receiver.organisation)
            .map(|o| o.name.clone())
            .unwrap_or_default();
        let mut files: Vec<String> = content
            .documents
            .iter()
            .flat_map(|d| std::iter::once(d.xml_name.clone()).chain(d.pdf_name.clone()))
            .collect();
        files.extend(content.ignored.iter().map(|i| i.name.clone()));
        files.dedup();
        let mut invoice_numbers: Vec<String> = content
            .documents
            .iter()
            .filter_map(|d| d.invoice_number.clone())
            .collect();
        invoice_numbers.dedup();
        Some(crate::spool::NoticeRecord {
            kind: if refusal.is_some() {
                crate::spool::NoticeKind::Refused
            } else {
                crate::spool::NoticeKind::Undeliverable
            },
            admin: refusal
                .is_none()
                .then(|| self.directory.notices_admin().map(ToString::to_string))
                .flatten(),
            to: entry.contact.to_string(),
            language: entry.language.as_str().to_string(),
            receiver: receiver.address.to_string(),
            organisation,
            subject: content.subject.clone(),
            in_reply_to: content.message_id.as_ref().map(|id| format!("<{id}>")),
            files,
            invoice_numbers,
            reply: refusal
                .map(|r| reply_for(r).to_string())
                .unwrap_or_default(),
            rules: refusal
                .map(|r| {
                    r.rules
                        .iter()
                        .map(|r| (r.id.clone(), r.text.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            invitation: None,
        })
    }

    /// Forgets the message rate of clients quiet for a minute (call it now and then).
    pub fn forget_idle_clients(&self) {
        self.message_rate.forget_idle();
    }

    /// Prepends our trace fields to the body (`Received:`, and `Authentication-Results:`
    /// when stage 2 ran) and leaves out incoming Authentication-Results fields that claim our
    /// hostname (RFC 8601 5), so no system downstream believes a sender's own "pass".
    async fn stamp(
        &self,
        session: &SessionInfo,
        envelope: &Envelope,
        id: &crate::spool::MessageId,
        body: Staging,
        trace: &Trace,
    ) -> Result<(Staging, crate::spool::Shift), Reply> {
        let date = crate::intake::trace::rfc5322_date(SystemTime::now());
        let for_rcpt = match envelope.rcpt_to.as_slice() {
            [one] => Some(one.to_string()),
            _ => None,
        };
        let mut prefix = crate::intake::trace::received(&crate::intake::trace::Arrival {
            helo: &session.helo,
            peer: session.peer,
            hostname: &self.hostname,
            tls: session.tls_params.as_deref(),
            id: id.as_str(),
            for_rcpt: for_rcpt.as_deref(),
            date: &date,
        });
        if let Some(header) = &trace.auth_header {
            prefix.push_str(header);
        }
        let hostname = self.hostname.clone();
        let sid = session.id;
        let stamp = move |mut body: Staging| -> std::io::Result<(Staging, crate::spool::Shift)> {
            let shift = body.rewrite(prefix.as_bytes(), |raw| {
                crate::intake::trace::own_auth_results(raw, &hostname)
            })?;
            if shift.dropped() > 0 {
                warn!(
                    sid,
                    fields = shift.dropped(),
                    "removed Authentication-Results fields that claim our hostname"
                );
            }
            Ok((body, shift))
        };
        // A body in memory is a copy (no hop to a blocking thread); one in a file is written
        // anew, which is blocking I/O.
        let stamped = if body.is_file() {
            tokio::task::spawn_blocking(move || stamp(body))
                .await
                .unwrap_or_else(|join_error| Err(std::io::Error::other(join_error.to_string())))
        } else {
            stamp(body)
        };
        stamped.map_err(|err| {
            error!(sid, error = %err, "cannot add the trace fields");
            if err.kind() == std::io::ErrorKind::StorageFull {
                reply::SPOOL_FULL
            } else {
                reply::LOCAL_ERROR
            }
        })
    }

    /// Stage 4: stores what the verdict decided and returns the answer. Never 250 before the
    /// commit returned `Ok`.
    async fn record(
        &self,
        session: &SessionInfo,
        envelope: &Envelope,
        id: crate::spool::MessageId,
        body: Staging,
        verdict: Verdict,
        trace: Trace,
    ) -> Reply {
        let sid = session.id;
        if let Verdict::Refuse(refusal) = &verdict {
            crate::observe::message_refused(
                sid,
                None,
                refusal.reason(),
                &reply_for(refusal).to_string(),
            );
            return reply_for(refusal);
        }
        let (body, shift) = match self.stamp(session, envelope, &id, body, &trace).await {
            Ok(stamped) => stamped,
            Err(reply) => return reply,
        };
        let verdict = verdict.with_parts_moved(&shift);
        match verdict {
            // Answered above.
            Verdict::Refuse(refusal) => reply_for(&refusal),
            Verdict::Accept { content, reply } => {
                log_notes(sid, &content);
                let documents = content
                    .documents
                    .iter()
                    .filter(|d| d.status.is_none())
                    .count();
                // Kept for the day a document's delivery fails for good: the spool queues it
                // then (`queue::notice_dead_letter`).
                let notice = self.notice_for(sid, envelope, &content, None);
                let mut message = new_message(
                    session,
                    envelope,
                    content,
                    &self.directory,
                    body,
                    MessageStatus::Accepted,
                );
                message.auth = trace.auth;
                message.notice = notice;
                match self.spool.commit_as(id, message).await {
                    Ok(id) => {
                        crate::observe::message_accepted(sid, id.as_str(), documents);
                        reply.reply(&id.to_string())
                    }
                    Err(err) => {
                        error!(sid, error = %err, "spool commit failed");
                        spool_reply(&err)
                    }
                }
            }
            Verdict::Reject { content, refusal } => {
                log_notes(sid, &content);
                let status = MessageStatus::Rejected {
                    reply: reply_for(&refusal).to_string(),
                    reason: refusal.reason().to_string(),
                };
                let notice = self.notice_for(sid, envelope, &content, Some(&refusal));
                let mut message =
                    new_message(session, envelope, content, &self.directory, body, status);
                message.auth = trace.auth;
                if notice.is_some() {
                    message.deliver_message = vec![NOTICES_SINK.to_string()];
                }
                message.notice = notice;
                // Kept for the admin ("why was my invoice refused?") and for notices; the
                // refusal stands whether or not the record could be written.
                match self.spool.commit_as(id, message).await {
                    Ok(id) => crate::observe::message_refused(
                        sid,
                        Some(id.as_str()),
                        refusal.reason(),
                        &reply_for(&refusal).to_string(),
                    ),
                    Err(err) => {
                        warn!(sid, error = %err, "recording a refused message failed");
                        crate::observe::message_refused(
                            sid,
                            None,
                            refusal.reason(),
                            &reply_for(&refusal).to_string(),
                        );
                    }
                }
                reply_for(&refusal)
            }
        }
    }
}

/// The record of a message the verdict accepted or rejected.
fn new_message(
    session: &SessionInfo,
    envelope: &Envelope,
    content: Content,
    directory: &Directory,
    body: Staging,
    status: MessageStatus,
) -> NewMessage {
    NewMessage {
        // Sinks that forward the whole message get it once, whatever its documents.
        deliver_once: directory.per_message_sinks().to_vec(),
        documents: content.documents,
        ignored: content.ignored,
        senders: content.senders,
        ..bare_message(
            session,
            envelope,
            body,
            status,
            Some(content.header_from),
            content.message_id,
        )
    }
}

/// The record of a message without documents and deliveries (for the postmaster, or refused
/// before the verdict could read it), received now in `session`.
fn bare_message(
    session: &SessionInfo,
    envelope: &Envelope,
    body: Staging,
    status: MessageStatus,
    header_from: Option<String>,
    header_message_id: Option<String>,
) -> NewMessage {
    NewMessage {
        received_at: SystemTime::now(),
        peer: session.peer.to_string(),
        helo: session.helo.clone(),
        mail_from: path_text(envelope.mail_from.as_ref()),
        rcpt_to: envelope.rcpt_to.iter().map(ToString::to_string).collect(),
        header_message_id,
        header_from,
        tls: session.tls_params.clone(),
        auth: None,
        notice: None,
        deliver_once: Vec::new(),
        deliver_message: Vec::new(),
        senders: Vec::new(),
        documents: Vec::new(),
        ignored: Vec::new(),
        body,
        status,
    }
}

/// Logs the verdict's warnings (text from the mail, escaped).
fn log_notes(sid: u64, content: &Content) {
    for note in &content.notes {
        warn!(sid, note = %display_safe(note), "invoice warning");
    }
}

/// One stored body judged again by `trustgate spool recover`: the message to store under its
/// original id, and what the judgement was.
pub struct Recovered {
    /// The message, with its original arrival time and client.
    pub message: NewMessage,
    /// `accepted` or `refused (<reason>)`.
    pub outcome: String,
}

/// Judges a stored body again, as end of data would under the current config, for
/// `trustgate spool recover` (the database that held its record was lost). A message the
/// current config refuses outright (an unknown address, an untrusted From) is still stored,
/// as refused, so it is never lost: the caller reports it for the admin to look at.
///
/// # Errors
/// A staging buffer could not be made.
pub fn recover(
    directory: &Directory,
    spool: &Spool,
    limits: &IntakeLimits,
    envelope: &crate::spool::envelope::StoredEnvelope,
    raw: &[u8],
) -> Result<Recovered, SpoolError> {
    let staged = || -> Result<Staging, SpoolError> {
        let mut body = spool.staging()?;
        body.write(raw).map_err(|source| SpoolError::Io {
            path: spool.path().to_path_buf(),
            source,
        })?;
        Ok(body)
    };
    let session = SessionInfo {
        id: 0,
        peer: envelope
            .peer
            .parse()
            .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
        helo: envelope.helo.clone(),
        tls: false,
        tls_params: None,
    };
    // Stored from parsed addresses, so they parse; one that does not is left out (and a
    // message left without recipients is stored as refused).
    let smtp_envelope = Envelope {
        mail_from: Address::parse(&envelope.mail_from).ok(),
        rcpt_to: envelope
            .rcpt_to
            .iter()
            .filter_map(|r| Address::parse(r).ok())
            .collect(),
        declared_size: None,
    };
    let refused = |refusal: crate::policy::Refusal| -> Result<(NewMessage, String), SpoolError> {
        let outcome = format!("refused ({})", refusal.reason());
        let status = MessageStatus::Rejected {
            reply: reply_for(&refusal).to_string(),
            reason: refusal.reason().to_string(),
        };
        let message = bare_message(&session, &smtp_envelope, staged()?, status, None, None);
        Ok((message, outcome))
    };
    // The same stages as end of data, one after the other.
    let in_flight = Arc::new(InFlight::default());
    let (mut message, outcome) = match inspect::take_apart(raw, limits) {
        Err(refusal) => refused(refusal)?,
        Ok(inspected) => {
            // Judged again as it was first judged, not as a retransmission of itself.
            let mut precedents = SpoolPrecedents::new(spool, &in_flight, 0, None, [0; 32]);
            let verdict = verdict::verdict(
                directory,
                &smtp_envelope.rcpt_to,
                // Stored because it was accepted: TLS was checked then.
                true,
                inspected,
                &Authentication::Recovered,
                &mut precedents,
            );
            match verdict {
                Verdict::Refuse(refusal) => refused(refusal)?,
                Verdict::Accept { content, .. } => (
                    new_message(
                        &session,
                        &smtp_envelope,
                        content,
                        directory,
                        staged()?,
                        MessageStatus::Accepted,
                    ),
                    "accepted".to_string(),
                ),
                Verdict::Reject { content, refusal } => {
                    let outcome = format!("refused ({})", refusal.reason());
                    let status = MessageStatus::Rejected {
                        reply: reply_for(&refusal).to_string(),
                        reason: refusal.reason().to_string(),
                    };
                    (
                        new_message(
                            &session,
                            &smtp_envelope,
                            content,
                            directory,
                            staged()?,
                            status,
                        ),
                        outcome,
                    )
                }
            }
        }
    };
    message.received_at = envelope.received_at;
    message.peer.clone_from(&envelope.peer);
    Ok(Recovered { message, outcome })
}
