//! The gateway: the [`Handler`] the SMTP session asks at MAIL, RCPT and end of data.
//!
//! It joins the policy (who may send to which address), the intake (MIME, pairing, invoice
//! inspection) and the spool (durable commit). It never answers 250 before the spool commit
//! returned `Ok`, and answers every internal failure with a 4xx so the sender retries.
//! CPU-heavy work (MIME parsing, XML inspection) runs on a blocking thread.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::{error, info, warn};

use crate::intake::{self, HeaderFrom, IntakeError, IntakeLimits};
use crate::policy::directory::Identity;
use crate::policy::documents::{self, Decision};
use crate::policy::{Directory, Refusal};
use crate::smtp::{BodySink, Envelope, Handler, Reply, SessionInfo, reply};
use crate::spool::{
    DocumentStatus, IgnoredAttachment, MessageStatus, NewDocument, NewMessage, Spool, SpoolError,
    Staging,
};
use crate::text::display_safe;

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
}

/// The message body while DATA arrives: the spool's staging buffer.
pub struct Body(Staging);

impl BodySink for Body {
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.0.write(chunk)
    }
}

impl Gateway {
    /// A gateway over `directory` that stores into `spool`, taking messages apart within
    /// `intake_limits` (see [`intake_limits`]).
    pub fn new(
        directory: Directory,
        spool: Spool,
        min_free_space: u64,
        intake_limits: IntakeLimits,
        parallel_inspections: usize,
    ) -> Gateway {
        let parallel_inspections = if parallel_inspections == 0 {
            2 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        } else {
            parallel_inspections
        };
        Gateway {
            directory: Arc::new(directory),
            spool,
            intake_limits,
            min_free_space,
            in_flight: Arc::new(InFlight::default()),
            inspections: Arc::new(tokio::sync::Semaphore::new(parallel_inspections)),
        }
    }
}

/// The config's `[limits]` as intake's bounds (MIME pre-scan and PDF reader).
pub fn intake_limits(limits: &crate::config::Limits) -> IntakeLimits {
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
        _reverse_path: &str,
        declared_size: Option<u64>,
    ) -> Result<(), Reply> {
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
        reverse_path: &str,
        forward_path: &str,
    ) -> Result<(), Reply> {
        let judged = self.directory.receiver(forward_path).and_then(|receiver| {
            self.directory
                .check_sender(receiver, Identity::EnvelopeSender, reverse_path)
        });
        judged.map_err(|refusal| {
            info!(sid = session.id, reason = refusal.reason, rcpt = %display_safe(forward_path),
                mail_from = %display_safe(reverse_path), reply = %refusal.reply, "recipient refused");
            refusal.reply
        })
    }

    fn open_body(&self, session: &SessionInfo, _envelope: &Envelope) -> Result<Body, Reply> {
        self.spool.staging().map(Body).map_err(|err| {
            warn!(sid = session.id, error = %err, "cannot open body staging");
            spool_reply(&err)
        })
    }

    async fn end_of_data(&self, session: &SessionInfo, envelope: Envelope, body: Body) -> Reply {
        let directory = Arc::clone(&self.directory);
        let limits = self.intake_limits.clone();
        let spool = self.spool.clone();
        let in_flight = Arc::clone(&self.in_flight);
        let info = session.clone();
        // Held while the message is taken apart; the semaphore is never closed.
        let Ok(permit) = Arc::clone(&self.inspections).acquire_owned().await else {
            return reply::LOCAL_ERROR;
        };
        let judged = tokio::task::spawn_blocking(move || {
            let judged = judge(
                &directory, &spool, &in_flight, &limits, &info, envelope, body.0,
            );
            // The message's parsed parts are gone; its body and documents are owned by the
            // commit now, which takes no CPU worth bounding.
            drop(permit);
            judged
        })
        .await;
        let judged = match judged {
            Ok(Ok(judged)) => judged,
            Ok(Err(refusal)) => {
                info!(sid = session.id, reason = refusal.reason, reply = %refusal.reply, "message refused");
                return refusal.reply;
            }
            Err(join_error) => {
                error!(sid = session.id, error = %join_error, "message inspection failed");
                return reply::LOCAL_ERROR;
            }
        };
        match judged {
            Judged::Accept {
                message,
                reply,
                reserved,
            } => {
                let documents = message
                    .documents
                    .iter()
                    .filter(|d| d.status.is_none())
                    .count();
                let stored = self.spool.commit(*message).await;
                // Committed (in the index) or failed: either way the key is free again.
                drop(reserved);
                match stored {
                    Ok(id) => {
                        info!(sid = session.id, mid = %id, documents, "message stored");
                        reply.reply(&id.to_string())
                    }
                    Err(err) => {
                        error!(sid = session.id, error = %err, "spool commit failed");
                        spool_reply(&err)
                    }
                }
            }
            Judged::Reject { message, refusal } => {
                // Kept for the admin ("why was my invoice refused?") and for notices; the
                // refusal stands whether or not the record could be written.
                match self.spool.commit(*message).await {
                    Ok(id) => {
                        info!(sid = session.id, mid = %id, reason = refusal.reason, reply = %refusal.reply, "message refused and recorded")
                    }
                    Err(err) => {
                        warn!(sid = session.id, error = %err, reason = refusal.reason, reply = %refusal.reply, "message refused; recording it failed")
                    }
                }
                refusal.reply
            }
        }
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
    };
    let smtp_envelope = Envelope {
        mail_from: envelope.mail_from.clone(),
        rcpt_to: envelope.rcpt_to.clone(),
        declared_size: None,
    };
    let (mut message, outcome) = match judge(
        directory,
        spool,
        &Arc::new(InFlight::default()),
        limits,
        &session,
        smtp_envelope,
        staged()?,
    ) {
        Ok(Judged::Accept { message, .. }) => (*message, "accepted".to_string()),
        Ok(Judged::Reject { message, refusal }) => {
            (*message, format!("refused ({})", refusal.reason))
        }
        Err(refusal) => {
            let message = NewMessage {
                received_at: envelope.received_at,
                peer: envelope.peer.clone(),
                helo: envelope.helo.clone(),
                mail_from: envelope.mail_from.clone(),
                rcpt_to: envelope.rcpt_to.clone(),
                header_message_id: None,
                header_from: None,
                deliver_once: Vec::new(),
                documents: Vec::new(),
                ignored: Vec::new(),
                body: staged()?,
                status: MessageStatus::Rejected {
                    reply: refusal.reply.to_string(),
                    reason: refusal.reason.to_string(),
                },
            };
            (message, format!("refused ({})", refusal.reason))
        }
    };
    message.received_at = envelope.received_at;
    message.peer.clone_from(&envelope.peer);
    Ok(Recovered { message, outcome })
}

/// What end of data decided, before the spool.
enum Judged {
    /// Store and answer 250.
    Accept {
        /// The message to store.
        message: Box<NewMessage>,
        /// The 250 text once stored (`{id}` stands for the message id).
        reply: reply::Queued,
        /// Its duplicate keys, held until the commit returned.
        reserved: Reservation,
    },
    /// Refused for its content from a trusted sender: record it as rejected, answer `refusal`.
    Reject {
        /// The message to record, with status rejected.
        message: Box<NewMessage>,
        /// The reply and log reason.
        refusal: Refusal,
    },
}

/// Everything decided at end of data, on a blocking thread: header From, MIME, documents,
/// the receivers' rules and duplicates.
fn judge(
    directory: &Directory,
    spool: &Spool,
    in_flight: &Arc<InFlight>,
    limits: &IntakeLimits,
    session: &SessionInfo,
    envelope: Envelope,
    body: Staging,
) -> Result<Judged, Refusal> {
    let parsed = {
        let raw = body.bytes().map_err(|err| {
            error!(sid = session.id, error = %err, "cannot read staged body");
            Refusal {
                reply: reply::LOCAL_ERROR,
                reason: "staging_read",
            }
        })?;
        intake::parse_message(&raw, limits).map_err(|err| match err {
            IntakeError::HeadersTooLarge { .. } | IntakeError::AllHeadersTooLarge { .. } => {
                Refusal {
                    reply: reply::HEADERS_TOO_LARGE,
                    reason: "headers_too_large",
                }
            }
            other => Refusal {
                reply: reply::unparsable_message(&other.to_string()),
                reason: "mime_limits",
            },
        })?
    };

    let mut receivers = Vec::with_capacity(envelope.rcpt_to.len());
    for rcpt in &envelope.rcpt_to {
        let receiver = directory.receiver(rcpt)?;
        // `RCPT TO:<a@x>` twice (or in two spellings of its case) is one receiver.
        if !receivers
            .iter()
            .any(|r: &&crate::config::Receiver| r.address == receiver.address)
        {
            receivers.push(receiver);
        }
    }

    let header_from = match &parsed.header_from {
        HeaderFrom::One(address) => address.clone(),
        HeaderFrom::Missing => return Err(bad_from("the message has no From header")),
        HeaderFrom::Multiple => return Err(bad_from("the message has more than one From header")),
        // The reply quotes the field as it was sent (Reply::dynamic escapes it), never
        // mail-parser's reading of it.
        HeaderFrom::Refused { field, defect } if field.is_empty() => {
            return Err(bad_from(&format!("the From header {defect}")));
        }
        HeaderFrom::Refused { field, defect } => {
            return Err(bad_from(&format!("the From header \"{field}\" {defect}")));
        }
    };
    for receiver in &receivers {
        directory.check_sender(receiver, Identity::HeaderFrom, &header_from)?;
    }

    // From here on the sender is trusted: a refusal is recorded in the spool as rejected.
    let paired = intake::pair_with(parsed.attachments, &limits.pdf);
    let ignored: Vec<IgnoredAttachment> = paired
        .ignored
        .iter()
        .map(|i| IgnoredAttachment {
            name: i.name.clone(),
            reason: i.reason.clone(),
        })
        .collect();
    let new_message =
        |documents: Vec<NewDocument>, status: MessageStatus, body: Staging| NewMessage {
            received_at: SystemTime::now(),
            peer: session.peer.to_string(),
            helo: session.helo.clone(),
            mail_from: envelope.mail_from.clone(),
            rcpt_to: envelope.rcpt_to.clone(),
            header_message_id: parsed.message_id.clone(),
            header_from: Some(header_from.to_string()),
            // Sinks that forward the whole message get it once, whatever its documents.
            deliver_once: directory.per_message_sinks().to_vec(),
            documents,
            ignored: ignored.clone(),
            body,
            status,
        };
    let reject = |refusal: Refusal, documents: Vec<NewDocument>, body: Staging| {
        let status = MessageStatus::Rejected {
            reply: refusal.reply.to_string(),
            reason: refusal.reason.to_string(),
        };
        Ok(Judged::Reject {
            message: Box::new(new_message(documents, status, body)),
            refusal,
        })
    };

    if let Some(refused) = paired.refused.first() {
        let refusal = Refusal {
            reply: reply::invoice_refused(&format!("{}: {}", refused.name, refused.reason)),
            reason: "unsafe_xml",
        };
        return reject(refusal, Vec::new(), body);
    }
    if paired.documents.is_empty() {
        return reject(
            Refusal {
                reply: reply::NO_INVOICE_XML,
                reason: "no_invoice_xml",
            },
            Vec::new(),
            body,
        );
    }

    // Trusted for every receiver (checked above), so it parses.
    let sender = crate::address::Address::parse(&header_from)
        .map_err(|_| bad_from("the From header has no usable address"))?;
    let judged = judge_documents(
        directory,
        spool,
        in_flight,
        session,
        &receivers,
        &sender,
        paired.documents,
    )?;
    let total = judged.accepted_invoices + judged.refused_invoices;
    let every_receiver_accepts_all = judged.documents.iter().all(|d| d.status.is_none());
    if judged.accepted_invoices > 0 && (every_receiver_accepts_all || judged.accept_partial) {
        let reply = reply::queued_invoices(
            judged.accepted_invoices,
            &judged.accepted_for,
            &judged.duplicates,
            &judged.refused,
        );
        return Ok(Judged::Accept {
            message: Box::new(new_message(judged.documents, MessageStatus::Accepted, body)),
            reply,
            reserved: judged.reserved,
        });
    }
    let refusal = Refusal {
        reply: reply::invoices_refused(total - judged.accepted_invoices, total, &judged.refused),
        reason: "invoice_rules",
    };
    reject(refusal, judged.documents, body)
}

/// The documents of one message as the addressed receivers judge them.
struct JudgedDocuments {
    /// One per invoice and organisation it is accepted for (the receivers of one organisation
    /// share it), and one per receiver that refuses it; `status` is `None` when accepted.
    documents: Vec<NewDocument>,
    /// "number (file): reasons" for each refused invoice, for the reply.
    refused: Vec<String>,
    /// Invoices (not invoice × receiver) accepted, and refused.
    accepted_invoices: usize,
    /// Invoices refused by at least one receiver and accepted by none.
    refused_invoices: usize,
    /// The receivers that accepted at least one invoice, for the reply.
    accepted_for: Vec<String>,
    /// "number: duplicate of message M" for invoices stored but not delivered again
    /// (`duplicates = "accept"`), for the reply.
    duplicates: Vec<String>,
    /// Whether every receiver accepts the good documents of a partly bad message.
    accept_partial: bool,
    /// The duplicate keys this message holds until its commit returned.
    reserved: Reservation,
}

/// Duplicate keys of messages between their end of data and their commit. Two sessions that
/// carry the same invoice at once would otherwise both find the index empty and both be told
/// "accepted" (or both be refused by nobody); the second now waits for the first's outcome
/// with a 451, and its retry gets the answer the index gives. One process owns the spool, so
/// a set in memory sees every session.
#[derive(Debug, Default)]
pub struct InFlight(std::sync::Mutex<std::collections::HashSet<String>>);

/// Keys reserved in [`InFlight`] by one message; released when dropped (after its commit).
#[derive(Debug, Default)]
pub struct Reservation {
    set: Option<Arc<InFlight>>,
    keys: Vec<String>,
}

impl Reservation {
    /// Reserves `key` for this message; `false` when another message holds it.
    fn reserve(&mut self, in_flight: &Arc<InFlight>, key: &str) -> bool {
        if self.keys.iter().any(|k| k == key) {
            return true;
        }
        let mut set = in_flight
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !set.insert(key.to_string()) {
            return false;
        }
        self.set.get_or_insert_with(|| Arc::clone(in_flight));
        self.keys.push(key.to_string());
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(in_flight) = &self.set {
            let mut set = in_flight
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for key in &self.keys {
                set.remove(key);
            }
        }
    }
}

/// Applies each receiver's rules ([`documents::decide`]) to every document, folds the
/// receivers of one organisation that accept a document into one record (one invoice, the
/// union of their sinks), and checks duplicates: against the spool's index, against the
/// message's own earlier documents, and against messages in flight.
#[allow(clippy::too_many_arguments)]
fn judge_documents(
    directory: &Directory,
    spool: &Spool,
    in_flight: &Arc<InFlight>,
    session: &SessionInfo,
    receivers: &[&crate::config::Receiver],
    sender: &crate::address::Address,
    mut paired: Vec<intake::Document>,
) -> Result<JudgedDocuments, Refusal> {
    let mut out = JudgedDocuments {
        documents: Vec::with_capacity(paired.len()),
        refused: Vec::new(),
        accepted_invoices: 0,
        refused_invoices: 0,
        accepted_for: Vec::new(),
        duplicates: Vec::new(),
        accept_partial: receivers.iter().all(|r| r.accept_partial),
        reserved: Reservation::default(),
    };
    for (source, doc) in (0u32..).zip(paired.iter_mut()) {
        // The report is encoded once, the bytes are handed over once: the spool hashes them
        // for the first record of this source and reuses that for the others.
        let mut report = serde_json::to_value(&*doc.inspection).ok();
        let mut bytes = Some((std::mem::take(&mut doc.xml), doc.pdf.take()));
        let number = doc
            .inspection
            .invoice_number
            .clone()
            .unwrap_or_else(|| "without number".into());
        // (organisation, receivers, refuse duplicates) of the receivers that accept it.
        let mut accepted: Vec<(usize, Vec<&crate::config::Receiver>, bool)> = Vec::new();
        let mut refusals: Vec<(&crate::config::Receiver, Vec<String>, Vec<String>)> = Vec::new();
        for receiver in receivers {
            match documents::decide(
                receiver,
                directory.organisations(),
                &doc.inspection,
                bytes.as_ref().is_some_and(|(_, pdf)| pdf.is_some()),
            ) {
                Decision::Accept {
                    organisation,
                    warnings,
                } => {
                    for w in &warnings {
                        info!(sid = session.id, invoice = %display_safe(&number),
                            warning = %display_safe(&w.to_string()), "invoice accepted with a warning");
                    }
                    match accepted.iter_mut().find(|(o, ..)| *o == organisation) {
                        Some((_, rs, refuse)) => {
                            rs.push(receiver);
                            *refuse |= receiver.refuse_duplicates;
                        }
                        None => accepted.push((
                            organisation,
                            vec![receiver],
                            receiver.refuse_duplicates,
                        )),
                    }
                }
                Decision::Refuse { rules, reasons } => refusals.push((receiver, rules, reasons)),
            }
        }
        let mut new_document = |receiver: &crate::config::Receiver,
                                organisation: usize,
                                deliver: Vec<String>,
                                duplicate_key: Option<String>,
                                status: Option<DocumentStatus>| {
            let (xml, pdf) = bytes.take().unwrap_or_default();
            NewDocument {
                receiver: receiver.address.to_string(),
                deliver,
                organisation: directory.organisations()[organisation].id.clone(),
                xml_name: doc.xml_name.clone(),
                xml,
                pdf_name: doc.pdf_name.clone(),
                pdf,
                format: doc.inspection.syntax.name().to_string(),
                invoice_number: doc.inspection.invoice_number.clone(),
                duplicate_key,
                report: report
                    .take()
                    .or_else(|| serde_json::to_value(&*doc.inspection).ok()),
                specification: Some(doc.inspection.specification.name()),
                // Not stored apart: decoded again from the raw message for delivery.
                source: Some(source),
                xml_at: doc.xml_at.map(part_at),
                pdf_at: doc.pdf_at.map(part_at),
                status,
            }
        };
        let mut stored_for_someone = false;
        for (organisation, group, refuse_duplicates) in accepted {
            let org = &directory.organisations()[organisation];
            // The sender's trusted-sender entry at the first receiver (every receiver trusts
            // the header From, checked before): part of the key, so that no other supplier
            // can pre-empt this one's invoice.
            let sender_key = directory
                .sender_key(group[0], sender)
                .unwrap_or_else(|| format!("address:{}", sender.key()));
            let key =
                crate::invoice::identity::duplicate_key(&org.id, &sender_key, &doc.inspection);
            let mut status = None;
            if let Some(key) = &key {
                if !out.reserved.reserve(in_flight, key) {
                    info!(sid = session.id, invoice = %number, "the same invoice is being received in another session");
                    return Err(Refusal {
                        reply: reply::duplicate_in_flight(&number),
                        reason: "duplicate_in_flight",
                    });
                }
                let earlier_in_message = out
                    .documents
                    .iter()
                    .any(|d| d.status.is_none() && d.duplicate_key.as_deref() == Some(key));
                let earlier = match spool.find_duplicate(key) {
                    Ok(found) => found,
                    Err(err) => {
                        error!(sid = session.id, error = %err, "duplicate lookup failed");
                        return Err(Refusal {
                            reply: reply::LOCAL_ERROR,
                            reason: "duplicate_lookup",
                        });
                    }
                };
                let seen = match (&earlier, earlier_in_message) {
                    (Some(e), _) => Some(format!(
                        "message {} of {}",
                        e.message,
                        crate::spool::format_time(e.received_at)
                    )),
                    (None, true) => Some("this same message".to_string()),
                    (None, false) => None,
                };
                if let Some(seen) = seen {
                    if refuse_duplicates {
                        out.refused.push(format!(
                            "{number} ({}): already received in {seen}",
                            doc.xml_name
                        ));
                        status = Some(DocumentStatus::Rejected {
                            rules: vec!["TG-DUPLICATE".into()],
                        });
                    } else {
                        out.duplicates
                            .push(format!("{number} (a duplicate of {seen})"));
                    }
                }
            }
            let mut deliver: Vec<String> = Vec::new();
            if status.is_none() {
                for r in &group {
                    for sink in directory.deliver_for(r, organisation) {
                        if !deliver.contains(sink) {
                            deliver.push(sink.clone());
                        }
                    }
                }
                stored_for_someone = true;
                for r in &group {
                    let name = r.address.to_string();
                    if !out.accepted_for.contains(&name) {
                        out.accepted_for.push(name);
                    }
                }
            }
            let claim = match (&key, &status) {
                (Some(key), None) => seller_claim_finding(spool, key, &number),
                _ => None,
            };
            let mut record = new_document(group[0], organisation, deliver, key, status);
            if let Some(finding) = claim {
                warn!(sid = session.id, invoice = %display_safe(&number), finding = %display_safe(&finding.message),
                    "invoice claims a seller another trusted sender sends for");
                if let Some(findings) = record
                    .report
                    .as_mut()
                    .and_then(|r| r.get_mut("findings"))
                    .and_then(serde_json::Value::as_array_mut)
                    && let Ok(value) = serde_json::to_value(&finding)
                {
                    findings.push(value);
                }
            }
            out.documents.push(record);
        }
        for (receiver, rules, reasons) in refusals {
            let for_whom = if receivers.len() > 1 {
                format!(" for {}", receiver.address)
            } else {
                String::new()
            };
            out.refused.push(format!(
                "{number} ({}){for_whom}: {}",
                doc.xml_name,
                reasons.join(" ")
            ));
            out.documents.push(new_document(
                receiver,
                receiver.organisation,
                Vec::new(),
                None,
                Some(DocumentStatus::Rejected { rules }),
            ));
        }
        if stored_for_someone {
            out.accepted_invoices += 1;
        } else {
            out.refused_invoices += 1;
        }
    }
    Ok(out)
}

/// Our rule id for an invoice whose seller has so far been sent for by another trusted sender.
pub const SELLER_CLAIM: &str = "TG-SELLER";

/// A warning when the invoice with duplicate key `key` claims a seller whose invoices have so
/// far come from another trusted sender. Not a refusal: suppliers change their ERP or mail
/// domain. But a sender trusted at the organisation that issues invoices in another
/// supplier's name (with its own bank account) is the invoice fraud the trusted-sender list
/// exists to stop, so the finding travels with the document (`spool show`, the sinks'
/// `inspection`) for whoever approves the payment.
fn seller_claim_finding(spool: &Spool, key: &str, number: &str) -> Option<crate::invoice::Finding> {
    let (seller, sender) = crate::invoice::identity::seller_claim(key)?;
    let first = spool.seller_sender(&seller).ok().flatten()?;
    if first.eq_ignore_ascii_case(&sender) {
        return None;
    }
    let who = seller.split('\u{1f}').nth(1).unwrap_or_default();
    Some(crate::invoice::Finding {
        rule_id: SELLER_CLAIM,
        severity: crate::invoice::Severity::Warning,
        message: format!(
            "[{SELLER_CLAIM}] invoice {number} names seller {who}, whose invoices have so far come from {first}, but it was sent by {sender}; confirm it with the seller before paying"
        ),
    })
}

/// Intake's location of a part, as the spool records it.
fn part_at(l: intake::Location) -> crate::spool::PartAt {
    crate::spool::PartAt {
        start: l.start,
        end: l.end,
        base64: l.base64,
    }
}

fn bad_from(why: &str) -> Refusal {
    Refusal {
        reply: reply::bad_header_from(why),
        reason: "bad_header_from",
    }
}
