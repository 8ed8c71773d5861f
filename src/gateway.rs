//! The gateway: the [`Handler`] the SMTP session asks at MAIL, RCPT and end of data.
//!
//! It joins the policy (who may send to which address), the intake (MIME, pairing, invoice
//! inspection) and the spool (durable commit). It never answers 250 before the spool commit
//! returned `Ok`, and answers every internal failure with a 4xx so the sender retries.
//! CPU-heavy work (MIME parsing, XML inspection) runs on a blocking thread.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::{error, info, warn};

use crate::config::normalise_identifier;
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
}

/// The message body while DATA arrives: the spool's staging buffer.
pub struct Body(Staging);

impl BodySink for Body {
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.0.write(chunk)
    }
}

impl Gateway {
    /// A gateway over `directory` that stores into `spool`.
    pub fn new(directory: Directory, spool: Spool, min_free_space: u64) -> Gateway {
        Gateway {
            directory: Arc::new(directory),
            spool,
            intake_limits: IntakeLimits::default(),
            min_free_space,
        }
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
        let info = session.clone();
        let judged = tokio::task::spawn_blocking(move || {
            judge(&directory, &spool, &limits, &info, envelope, body.0)
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
            Judged::Accept { message, refused } => {
                let documents = message
                    .documents
                    .iter()
                    .filter(|d| d.status.is_none())
                    .count();
                match self.spool.commit(*message).await {
                    Ok(id) => {
                        info!(sid = session.id, mid = %id, documents, refused = refused.len(), "message stored");
                        if refused.is_empty() {
                            reply::queued(&id.to_string(), documents)
                        } else {
                            reply::queued_partly(&id.to_string(), documents, &refused)
                        }
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

/// What end of data decided, before the spool.
enum Judged {
    /// Store and answer 250. `refused` names documents refused under `partial = "accept"`.
    Accept {
        /// The message to store.
        message: Box<NewMessage>,
        /// Short descriptions of refused documents, for the 250 text.
        refused: Vec<String>,
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
    let paired = intake::pair(parsed.attachments);
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

    let judged = judge_documents(directory, spool, session, &receivers, paired.documents)?;
    let JudgedDocuments {
        documents,
        refused: refused_items,
        accept_partial,
    } = judged;

    let total = documents.len();
    let accepted = documents.iter().filter(|d| d.status.is_none()).count();
    if accepted == total {
        return Ok(Judged::Accept {
            message: Box::new(new_message(documents, MessageStatus::Accepted, body)),
            refused: Vec::new(),
        });
    }
    if accepted > 0 && accept_partial {
        return Ok(Judged::Accept {
            message: Box::new(new_message(documents, MessageStatus::Accepted, body)),
            refused: refused_items,
        });
    }
    let refusal = Refusal {
        reply: reply::invoices_refused(total - accepted, total, &refused_items),
        reason: "invoice_rules",
    };
    reject(refusal, documents, body)
}

/// The documents of one message as each addressed receiver judges them.
struct JudgedDocuments {
    /// One per (receiver, document); `status` is `None` for an accepted one.
    documents: Vec<NewDocument>,
    /// "number (file): reasons" for each refused document, for the reply.
    refused: Vec<String>,
    /// Whether every receiver accepts the good documents of a partly bad message.
    accept_partial: bool,
}

/// Applies each receiver's rules ([`documents::decide`]) and, where a receiver refuses
/// duplicates in the session, the duplicate lookup, to every document.
fn judge_documents(
    directory: &Directory,
    spool: &Spool,
    session: &SessionInfo,
    receivers: &[&crate::config::Receiver],
    mut paired: Vec<intake::Document>,
) -> Result<JudgedDocuments, Refusal> {
    let mut documents = Vec::with_capacity(paired.len() * receivers.len());
    let mut refused_items = Vec::new();
    let mut accept_partial = true;
    // The full report of each document, encoded once whatever the number of receivers.
    let mut reports: Vec<_> = paired
        .iter()
        .map(|d| serde_json::to_value(&*d.inspection).ok())
        .collect();
    for (r, receiver) in receivers.iter().enumerate() {
        accept_partial &= receiver.accept_partial;
        // The last receiver (usually the only one) takes the bytes instead of copying them.
        let last = r + 1 == receivers.len();
        for (source, (doc, report)) in (0u32..).zip(paired.iter_mut().zip(reports.iter_mut())) {
            let decision = documents::decide(
                receiver,
                directory.organisations(),
                &doc.inspection,
                doc.pdf.is_some(),
            );
            let number = doc
                .inspection
                .invoice_number
                .as_deref()
                .unwrap_or("without number");
            let (organisation, status) = match decision {
                Decision::Accept {
                    organisation,
                    warnings,
                } => {
                    for w in &warnings {
                        info!(sid = session.id, invoice = %display_safe(number),
                            warning = %display_safe(&w.to_string()), "invoice accepted with a warning");
                    }
                    (organisation, None)
                }
                Decision::Refuse { rules, reasons } => {
                    refused_items.push(format!(
                        "{number} ({}): {}",
                        doc.xml_name,
                        reasons.join(" ")
                    ));
                    (
                        receiver.organisation,
                        Some(DocumentStatus::Rejected { rules }),
                    )
                }
            };
            let org = &directory.organisations()[organisation];
            let duplicate_key = status
                .is_none()
                .then(|| duplicate_key(&org.id, &doc.inspection))
                .flatten();
            let mut status = status;
            if status.is_none()
                && receiver.refuse_duplicates
                && let Some(key) = &duplicate_key
            {
                match spool.find_duplicate(key) {
                    Ok(Some(earlier)) => {
                        refused_items.push(format!(
                            "{number} ({}): already received in message {} of {}",
                            doc.xml_name,
                            earlier.message,
                            crate::spool::format_time(earlier.received_at)
                        ));
                        status = Some(DocumentStatus::Rejected {
                            rules: vec!["TG-DUPLICATE".into()],
                        });
                    }
                    Ok(None) => {}
                    Err(err) => {
                        error!(sid = session.id, error = %err, "duplicate lookup failed");
                        return Err(Refusal {
                            reply: reply::LOCAL_ERROR,
                            reason: "duplicate_lookup",
                        });
                    }
                }
            }
            let deliver = if status.is_none() {
                directory.deliver_for(receiver, organisation).to_vec()
            } else {
                Vec::new()
            };
            documents.push(NewDocument {
                receiver: receiver.address.to_string(),
                deliver,
                organisation: org.id.clone(),
                xml_name: doc.xml_name.clone(),
                xml: if last {
                    std::mem::take(&mut doc.xml)
                } else {
                    doc.xml.clone()
                },
                pdf_name: doc.pdf_name.clone(),
                pdf: if last {
                    doc.pdf.take()
                } else {
                    doc.pdf.clone()
                },
                format: doc.inspection.syntax.name().to_string(),
                invoice_number: doc.inspection.invoice_number.clone(),
                duplicate_key,
                report: if last { report.take() } else { report.clone() },
                specification: Some(doc.inspection.specification.name()),
                // Not stored apart: decoded again from the raw message for delivery.
                source: Some(source),
                xml_at: doc.xml_at.map(part_at),
                pdf_at: doc.pdf_at.map(part_at),
                status,
            });
        }
    }

    Ok(JudgedDocuments {
        documents,
        refused: refused_items,
        accept_partial,
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

/// The identity of an invoice for duplicate detection: organisation, seller, number, issue
/// date and document type. `None` when there is no invoice number to compare.
fn duplicate_key(organisation: &str, inspection: &crate::invoice::Inspection) -> Option<String> {
    let number = inspection.invoice_number.as_deref()?;
    let seller = &inspection.seller;
    let ident = |i: &crate::invoice::Identifier| {
        format!(
            "{}:{}",
            i.scheme.as_deref().unwrap_or(""),
            normalise_identifier(&i.value)
        )
    };
    let seller_id = seller
        .vat_id
        .as_deref()
        .map(|v| format!("VAT:{}", normalise_identifier(v)))
        .or_else(|| seller.legal_id.as_ref().map(ident))
        .or_else(|| seller.endpoint_id.as_ref().map(ident))
        .or_else(|| {
            seller
                .name
                .as_deref()
                .map(|n| format!("NAME:{}", n.trim().to_lowercase()))
        })
        .unwrap_or_default();
    let kind = inspection
        .document_type_code
        .clone()
        .unwrap_or_else(|| inspection.syntax.name().to_string());
    Some(format!(
        "{organisation}\u{1f}{seller_id}\u{1f}{number}\u{1f}{}\u{1f}{kind}",
        inspection.issue_date.as_deref().unwrap_or("")
    ))
}

fn bad_from(why: &str) -> Refusal {
    Refusal {
        reply: reply::bad_header_from(why),
        reason: "bad_header_from",
    }
}
