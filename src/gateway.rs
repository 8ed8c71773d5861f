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
use crate::policy::{Directory, Refusal};
use crate::smtp::{BodySink, Envelope, Handler, Reply, SessionInfo, reply};
use crate::spool::{IgnoredAttachment, NewDocument, NewMessage, Spool, SpoolError, Staging};

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
        Gateway { directory: Arc::new(directory), spool, intake_limits: IntakeLimits::default(), min_free_space }
    }
}

fn spool_reply(err: &SpoolError) -> Reply {
    match err {
        SpoolError::Full => reply::SPOOL_FULL,
        SpoolError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => reply::SPOOL_FULL,
        _ => reply::LOCAL_ERROR,
    }
}

impl Handler for Gateway {
    type Body = Body;

    fn mail(&self, session: &SessionInfo, _reverse_path: &str, declared_size: Option<u64>) -> Result<(), Reply> {
        // SMTP-HARDENING 40: the free-space reserve is checked before a transaction starts,
        // counting the declared size, so a full disk answers 452 and never a late failure.
        // The sender itself is judged per recipient at RCPT, where the refusal can say for
        // which address it is not trusted.
        match self.spool.free_space() {
            Ok(free) if free < self.min_free_space.saturating_add(declared_size.unwrap_or(0)) => {
                warn!(sid = session.id, free, reserve = self.min_free_space, "spool disk below the reserve");
                Err(reply::SPOOL_FULL)
            }
            Ok(_) => Ok(()),
            Err(err) => {
                warn!(sid = session.id, error = %err, "cannot read free spool space");
                Ok(())
            }
        }
    }

    fn rcpt(&self, session: &SessionInfo, reverse_path: &str, forward_path: &str) -> Result<(), Reply> {
        let judged = self.directory.receiver(forward_path).and_then(|receiver| {
            self.directory
                .check_sender(receiver, Identity::EnvelopeSender, reverse_path)
        });
        judged.map_err(|refusal| {
            info!(sid = session.id, reason = refusal.reason, rcpt = forward_path, mail_from = reverse_path,
                reply = %refusal.reply, "recipient refused");
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
        let info = session.clone();
        let judged = tokio::task::spawn_blocking(move || judge(&directory, &limits, &info, envelope, body.0)).await;
        let message = match judged {
            Ok(Ok(message)) => message,
            Ok(Err(refusal)) => {
                info!(sid = session.id, reason = refusal.reason, reply = %refusal.reply, "message refused");
                return refusal.reply;
            }
            Err(join_error) => {
                error!(sid = session.id, error = %join_error, "message inspection failed");
                return reply::LOCAL_ERROR;
            }
        };
        let documents = message.documents.len();
        match self.spool.commit(message).await {
            Ok(id) => {
                info!(sid = session.id, mid = %id, documents, "message stored");
                reply::queued(&id.to_string(), documents)
            }
            Err(err) => {
                error!(sid = session.id, error = %err, "spool commit failed");
                spool_reply(&err)
            }
        }
    }
}

/// Everything decided at end of data, on a blocking thread: header From, MIME, documents.
fn judge(
    directory: &Directory,
    limits: &IntakeLimits,
    session: &SessionInfo,
    envelope: Envelope,
    body: Staging,
) -> Result<NewMessage, Refusal> {
    let parsed = {
        let raw = body.bytes().map_err(|err| {
            error!(sid = session.id, error = %err, "cannot read staged body");
            Refusal { reply: reply::LOCAL_ERROR, reason: "staging_read" }
        })?;
        intake::parse_message(&raw, limits).map_err(|err| match err {
            IntakeError::HeadersTooLarge { .. } => Refusal { reply: reply::HEADERS_TOO_LARGE, reason: "headers_too_large" },
            other => Refusal { reply: reply::unparsable_message(&other.to_string()), reason: "mime_limits" },
        })?
    };

    let receivers = envelope
        .rcpt_to
        .iter()
        .map(|r| directory.receiver(r))
        .collect::<Result<Vec<_>, _>>()?;

    let header_from = match &parsed.header_from {
        HeaderFrom::One(address) => address.clone(),
        HeaderFrom::Missing => return Err(bad_from("the message has no From header")),
        HeaderFrom::Multiple => return Err(bad_from("the message has more than one From header")),
        HeaderFrom::SeveralMailboxes => return Err(bad_from("the From header names more than one mailbox")),
        HeaderFrom::Unusable => return Err(bad_from("the From header has no usable address")),
    };
    for receiver in &receivers {
        directory.check_sender(receiver, Identity::HeaderFrom, &header_from)?;
    }

    let paired = intake::pair(parsed.attachments);
    if let Some(refused) = paired.refused.first() {
        return Err(Refusal {
            reply: reply::invoice_refused(&format!("{}: {}", refused.name, refused.reason)),
            reason: "unsafe_xml",
        });
    }
    if paired.documents.is_empty() {
        return Err(Refusal { reply: reply::NO_INVOICE_XML, reason: "no_invoice_xml" });
    }

    let mut documents = Vec::with_capacity(paired.documents.len() * receivers.len());
    for receiver in &receivers {
        let organisation = directory.organisation(receiver);
        for doc in &paired.documents {
            documents.push(NewDocument {
                receiver: receiver.address.to_string(),
                organisation: organisation.id.clone(),
                xml_name: doc.xml_name.clone(),
                xml: doc.xml.clone(),
                pdf_name: doc.pdf_name.clone(),
                pdf: doc.pdf.clone(),
                format: doc.inspection.syntax.name().to_string(),
                invoice_number: doc.inspection.invoice_number.clone(),
                duplicate_key: None,
                report: None,
                specification: None,
                status: None,
            });
        }
    }
    let ignored = paired
        .ignored
        .into_iter()
        .map(|i| IgnoredAttachment { name: i.name, reason: i.reason })
        .collect();

    Ok(NewMessage {
        received_at: SystemTime::now(),
        peer: session.peer.to_string(),
        helo: session.helo.clone(),
        mail_from: envelope.mail_from,
        rcpt_to: envelope.rcpt_to,
        header_message_id: parsed.message_id,
        documents,
        ignored,
        body,
        status: crate::spool::MessageStatus::Accepted,
    })
}

fn bad_from(why: &str) -> Refusal {
    Refusal { reply: reply::bad_header_from(why), reason: "bad_header_from" }
}

