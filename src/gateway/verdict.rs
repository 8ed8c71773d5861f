//! Stage 3 of end of data: the verdict. Pure policy over what stage 1 took apart and stage 2
//! proved: which receivers the message is for, whether its header From is a trusted sender of
//! each, and for every invoice each receiver's rules, duplicates (through [`Precedents`]) and
//! the seller claim. No socket, no disk, no clock: the gateway does the side effects with
//! what it returns, and the tests call it with a table of precedents.

use crate::address::Address;
use crate::config::Receiver;
use crate::intake::{self, HeaderFrom};
use crate::policy::auth::{self, AuthFailure, Authentication, Proof};
use crate::policy::directory::Identity;
use crate::policy::documents::{self, Decision};
use crate::policy::{Directory, Refusal, RefusalKind, RuleText};
use crate::smtp::reply;
use crate::spool::{
    DocumentStatus, IgnoredAttachment, NewDocument, SenderKey, SenderState, SenderUpdate,
};

use super::inspect::Inspected;
use super::precedents::{Precedent, Precedents};

/// What stage 3 decided.
pub(crate) enum Verdict {
    /// Refused before the sender is known to be trusted: nothing is stored.
    Refuse(Refusal),
    /// Refused for its content, from a trusted sender: stored as rejected (for the admin and
    /// for notices), and answered with `refusal`.
    Reject {
        /// What to store.
        content: Content,
        /// The answer.
        refusal: Refusal,
    },
    /// Accepted: stored, then answered with `reply`.
    Accept {
        /// What to store.
        content: Content,
        /// The 250 once stored.
        reply: reply::Queued,
    },
}

impl Verdict {
    /// The verdict with its documents' recorded places moved by `shift`: parsing found the
    /// parts in the body as it arrived, and the spool stores it with our trace fields before
    /// it. A part a left-out field cut into (none can be: those are header fields) loses its
    /// place, and delivery finds it by parsing the message again.
    pub(crate) fn with_parts_moved(mut self, shift: &crate::spool::Shift) -> Verdict {
        if let Verdict::Accept { content, .. } | Verdict::Reject { content, .. } = &mut self {
            let moved = |at: Option<crate::spool::PartAt>| {
                let at = at?;
                let (start, end) = shift.range(at.start, at.end)?;
                Some(crate::spool::PartAt { start, end, ..at })
            };
            for doc in &mut content.documents {
                doc.xml_at = moved(doc.xml_at);
                doc.pdf_at = moved(doc.pdf_at);
            }
        }
        self
    }
}

/// What the verdict hands to the side effects for the record.
pub(crate) struct Content {
    /// The header From's address (trusted for every receiver).
    pub(crate) header_from: String,
    /// The Message-ID header.
    pub(crate) message_id: Option<String>,
    /// The documents, as records to store.
    pub(crate) documents: Vec<NewDocument>,
    /// Attachments that are not documents, with the reason.
    pub(crate) ignored: Vec<IgnoredAttachment>,
    /// Warnings for the log.
    pub(crate) notes: Vec<String>,
    /// How the sender was proven, one entry per distinct proof over the receivers.
    pub(crate) proven_by: Vec<Proof>,
    /// The Subject, for a notice.
    pub(crate) subject: Option<String>,
    /// Whether the message was sent automatically (no notice then).
    pub(crate) auto: crate::notify::suppress::AutoFields,
    /// The trusted senders not yet active, which an accepted message makes active.
    pub(crate) senders: Vec<SenderUpdate>,
}

/// The verdict on a message for `rcpt_to` (the accepted recipients, in order), received over
/// TLS or not (`tls`), taken apart as `inspected`, whose sender stage 2 proved as
/// `authentication`.
pub(crate) fn verdict(
    directory: &Directory,
    rcpt_to: &[Address],
    tls: bool,
    inspected: Inspected,
    authentication: &Authentication,
    precedents: &mut dyn Precedents,
) -> Verdict {
    match judge(
        directory,
        rcpt_to,
        tls,
        inspected,
        authentication,
        precedents,
    ) {
        Ok(verdict) => verdict,
        Err(refusal) => Verdict::Refuse(refusal),
    }
}

fn judge(
    directory: &Directory,
    rcpt_to: &[Address],
    tls: bool,
    inspected: Inspected,
    authentication: &Authentication,
    precedents: &mut dyn Precedents,
) -> Result<Verdict, Refusal> {
    let mut receivers: Vec<&Receiver> = Vec::with_capacity(rcpt_to.len());
    for rcpt in rcpt_to {
        let receiver = directory.receiver(rcpt)?;
        // `RCPT TO:<a@x>` twice (or in two spellings of its case) is one receiver.
        if !receivers.iter().any(|r| r.address == receiver.address) {
            receivers.push(receiver);
        }
    }

    let header_from = match &inspected.header_from {
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
    // A sender trusted only over TLS, named in the header From of a clear-text session: the
    // envelope sender cannot dodge the requirement.
    if !tls
        && let Ok(from) = Address::parse(&header_from)
        && receivers.iter().any(|r| {
            directory
                .trusted_sender(r, &from)
                .is_some_and(|t| t.require_tls)
        })
    {
        return Err(Refusal::new(RefusalKind::TlsRequired).from_sender(&header_from));
    }
    // The identity that matched each receiver's whitelist must be the one proven (SPF, DKIM,
    // DMARC, ARC; `policy::auth`). Until it is, the sender is not trusted: nothing is stored
    // and no notice goes to the contact the forger named.
    let proven_by = prove(directory, &receivers, &header_from, authentication)?;
    // Trusted and proven: unless the receiving organisation disabled the sender. Its first
    // accepted invoice makes a sender active (the writer records it with the message).
    let senders = lifecycle(directory, &receivers, &header_from, precedents)?;

    // From here on the sender is trusted: a refusal is recorded in the spool as rejected.
    let paired = inspected.paired;
    let ignored: Vec<IgnoredAttachment> = paired
        .ignored
        .iter()
        .map(|i| IgnoredAttachment {
            name: i.name.clone(),
            reason: i.reason.clone(),
        })
        .collect();
    let content = |documents: Vec<NewDocument>, notes: Vec<String>| Content {
        header_from: header_from.clone(),
        message_id: inspected.message_id.clone(),
        documents,
        ignored: ignored.clone(),
        notes,
        proven_by: proven_by.clone(),
        subject: inspected.subject.clone(),
        auto: inspected.auto.clone(),
        senders: senders.clone(),
    };

    if let Some(refused) = paired.refused.first() {
        return Ok(Verdict::Reject {
            content: content(Vec::new(), Vec::new()),
            refusal: Refusal::new(RefusalKind::UnsafeXml {
                file: refused.name.clone(),
                why: refused.reason.clone(),
            })
            .from_sender(&header_from),
        });
    }
    if paired.documents.is_empty() {
        return Ok(Verdict::Reject {
            content: content(Vec::new(), Vec::new()),
            refusal: Refusal::new(RefusalKind::NoInvoiceXml {
                found: paired
                    .ignored
                    .iter()
                    .map(|i| format!("{}: {}", i.name, i.reason))
                    .collect(),
            })
            .from_sender(&header_from),
        });
    }

    // Trusted for every receiver (checked above), so it parses.
    let sender = Address::parse(&header_from)
        .map_err(|_| bad_from("the From header has no usable address"))?;
    let judged = judge_documents(directory, precedents, &receivers, &sender, paired.documents)?;
    let total = judged.accepted_invoices + judged.refused_invoices;
    let every_receiver_accepts_all = judged.documents.iter().all(|d| d.status.is_none());
    if judged.accepted_invoices > 0 && (every_receiver_accepts_all || judged.accept_partial) {
        let reply = reply::queued_invoices(
            &judged.accepted_numbers,
            &judged.accepted_for,
            &judged.duplicates,
            &judged.refused,
        );
        return Ok(Verdict::Accept {
            content: content(judged.documents, judged.notes),
            reply,
        });
    }
    Ok(Verdict::Reject {
        refusal: Refusal {
            rules: judged.rules.clone(),
            ..Refusal::new(RefusalKind::InvoicesRefused {
                refused: total - judged.accepted_invoices,
                total,
                details: judged.refused.clone(),
            })
            .from_sender(&header_from)
        },
        content: content(judged.documents, judged.notes),
    })
}

/// How the header From is proven for each receiver, by the policy of the trusted-sender entry
/// it matched (distinct proofs, in receiver order), or the refusal of the first that is not.
fn prove(
    directory: &Directory,
    receivers: &[&Receiver],
    header_from: &str,
    authentication: &Authentication,
) -> Result<Vec<Proof>, Refusal> {
    let from = Address::parse(header_from)
        .map_err(|_| bad_from("the From header has no usable address"))?;
    let mut proofs: Vec<Proof> = Vec::new();
    for receiver in receivers {
        // Trusted: checked just before.
        let Some(entry) = directory.trusted_sender(receiver, &from) else {
            continue;
        };
        match auth::prove(
            entry,
            &from,
            authentication,
            directory.trusted_arc_sealers(),
        ) {
            Ok(proof) => {
                if !proofs.contains(&proof) {
                    proofs.push(proof);
                }
            }
            Err(failure) => {
                return Err(auth_refusal(failure)
                    .for_receiver(&receiver.address)
                    .from_sender(&from));
            }
        }
    }
    Ok(proofs)
}

/// The lifecycle of the trusted-sender entry the header From matched at each receiver: a
/// disabled one is refused (nothing is stored: the organisation no longer trusts it), and
/// each one not yet active is returned, to become active if the message is accepted.
fn lifecycle(
    directory: &Directory,
    receivers: &[&Receiver],
    header_from: &str,
    precedents: &mut dyn Precedents,
) -> Result<Vec<SenderUpdate>, Refusal> {
    let from = Address::parse(header_from)
        .map_err(|_| bad_from("the From header has no usable address"))?;
    let mut updates = Vec::new();
    for receiver in receivers {
        let Some(entry) = directory.trusted_sender(receiver, &from) else {
            continue;
        };
        let key = SenderKey::new(&receiver.address.to_string(), &entry.contact.to_string());
        let record = precedents
            .sender(&key)
            .map_err(|()| Refusal::new(RefusalKind::Internal("sender_lookup")))?
            .unwrap_or_default();
        match record.state() {
            SenderState::Disabled => {
                let organisation = directory
                    .organisations()
                    .get(receiver.organisation)
                    .map(|o| o.name.clone())
                    .unwrap_or_default();
                return Err(Refusal::new(RefusalKind::SenderDisabled { organisation })
                    .for_receiver(&receiver.address)
                    .from_sender(&from));
            }
            SenderState::Active => {}
            SenderState::Pending | SenderState::Invited => {
                let update = SenderUpdate::Invoice(key);
                if !updates.contains(&update) {
                    updates.push(update);
                }
            }
        }
    }
    Ok(updates)
}

/// The reply for a sender that is not proven.
fn auth_refusal(failure: AuthFailure) -> Refusal {
    Refusal::new(RefusalKind::NotAuthenticated(failure))
}

/// The documents of one message as the addressed receivers judge them.
struct JudgedDocuments {
    /// One per invoice and organisation it is accepted for (the receivers of one organisation
    /// share it), and one per receiver that refuses it; `status` is `None` when accepted.
    documents: Vec<NewDocument>,
    /// "number (file): reasons" for each refused invoice, for the reply.
    refused: Vec<String>,
    /// Each rule that refused an invoice, with its text (each rule once).
    rules: Vec<RuleText>,
    /// Invoices (not invoice × receiver) accepted, and refused.
    accepted_invoices: usize,
    /// Invoices refused by at least one receiver and accepted by none.
    refused_invoices: usize,
    /// The receivers that accepted at least one invoice, for the reply.
    accepted_for: Vec<String>,
    /// The numbers of the invoices accepted as new (to be delivered), for the reply.
    accepted_numbers: Vec<String>,
    /// (number, "message M of T" or "this same message") for invoices stored but not
    /// delivered again (`duplicates = "accept"`, or a retransmission), for the reply.
    duplicates: Vec<(String, String)>,
    /// Whether every receiver accepts the good documents of a partly bad message.
    accept_partial: bool,
    /// Warnings for the log (the documents carry them too).
    notes: Vec<String>,
}

/// Applies each receiver's rules ([`documents::decide`]) to every document, folds the
/// receivers of one organisation that accept a document into one record (one invoice, the
/// union of their sinks), and checks duplicates: against the spool's index, against the
/// message's own earlier documents, and against messages in flight.
fn judge_documents(
    directory: &Directory,
    precedents: &mut dyn Precedents,
    receivers: &[&Receiver],
    sender: &Address,
    mut paired: Vec<intake::Document>,
) -> Result<JudgedDocuments, Refusal> {
    let mut out = JudgedDocuments {
        documents: Vec::with_capacity(paired.len()),
        refused: Vec::new(),
        rules: Vec::new(),
        accepted_invoices: 0,
        refused_invoices: 0,
        accepted_for: Vec::new(),
        accepted_numbers: Vec::new(),
        duplicates: Vec::new(),
        accept_partial: receivers.iter().all(|r| r.accept_partial),
        notes: Vec::new(),
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
        let mut accepted: Vec<(usize, Vec<&Receiver>, bool)> = Vec::new();
        let mut refusals: Vec<(&Receiver, Vec<String>, Vec<String>)> = Vec::new();
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
                        out.notes
                            .push(format!("invoice {number} accepted with a warning: {w}"));
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
        let mut new_document = |receiver: &Receiver,
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
                format: doc.inspection.syntax.id().to_string(),
                invoice_number: doc.inspection.invoice_number.clone(),
                duplicate_key,
                report: report
                    .take()
                    .or_else(|| serde_json::to_value(&*doc.inspection).ok()),
                specification: Some(doc.inspection.specification.id()),
                // Not stored apart: decoded again from the raw message for delivery.
                source: Some(source),
                xml_at: doc.xml_at.map(part_at),
                pdf_at: doc.pdf_at.map(part_at),
                paired_by: doc.paired_by.map(|p| p.as_str().to_string()),
                status,
                xml_archive: doc.xml_archive.clone().map(archive_entry),
                pdf_archive: doc.pdf_archive.clone().map(archive_entry),
            }
        };
        let mut stored_for_someone = false;
        let mut new_for_someone = false;
        let mut duplicate_of: Option<String> = None;
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
                let earlier_in_message = out
                    .documents
                    .iter()
                    .any(|d| d.status.is_none() && d.duplicate_key.as_deref() == Some(key));
                let seen = match precedents.precedent(key) {
                    Err(()) => {
                        return Err(Refusal::new(RefusalKind::Internal("duplicate_lookup")));
                    }
                    Ok(Precedent::InFlight) => {
                        return Err(Refusal::new(RefusalKind::DuplicateInFlight {
                            number: number.clone(),
                        }));
                    }
                    Ok(Precedent::Stored(earlier)) => Some(earlier),
                    Ok(Precedent::None) if earlier_in_message => {
                        Some("this same message".to_string())
                    }
                    Ok(Precedent::None) => None,
                };
                if let Some(seen) = seen {
                    // The same message again (its 250 was lost): answered 250, its invoices
                    // duplicates, whatever `duplicates` says; the policy is for the same
                    // invoice in a new message.
                    if refuse_duplicates && precedents.retransmission_of().is_none() {
                        out.refused.push(format!(
                            "{number} ({}): already received in {seen}",
                            doc.xml_name
                        ));
                        out.rules.push(RuleText {
                            id: DUPLICATE.into(),
                            text: format!("invoice {number} was already received in {seen}"),
                        });
                        status = Some(DocumentStatus::Rejected {
                            rules: vec![DUPLICATE.into()],
                        });
                    } else {
                        duplicate_of = Some(seen);
                    }
                } else {
                    new_for_someone = true;
                }
            } else {
                new_for_someone = true;
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
                (Some(key), None) => seller_claim_finding(precedents, key, &number),
                _ => None,
            };
            let mut record = new_document(group[0], organisation, deliver, key, status);
            if let Some(finding) = claim {
                out.notes.push(finding.message.clone());
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
            // Pushed in pairs by `policy::documents::judge`.
            for (id, text) in rules.iter().zip(&reasons) {
                if !out.rules.iter().any(|r| &r.id == id && &r.text == text) {
                    out.rules.push(RuleText {
                        id: id.clone(),
                        text: text.clone(),
                    });
                }
            }
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
            // Accepted as new for one organisation and a duplicate for another: it is
            // delivered, so the reply counts it as accepted.
            match duplicate_of {
                Some(seen) if !new_for_someone => out.duplicates.push((number.clone(), seen)),
                _ => out.accepted_numbers.push(number.clone()),
            }
        } else {
            out.refused_invoices += 1;
        }
    }
    Ok(out)
}

/// Our rule id for a duplicate refused under `duplicates = "refuse"`.
pub const DUPLICATE: &str = "TG-DUPLICATE";

/// Our rule id for an invoice whose seller has so far been sent for by another trusted sender.
pub const SELLER_CLAIM: &str = "TG-SELLER";

/// A warning when the invoice with duplicate key `key` claims a seller whose invoices have so
/// far come from another trusted sender. Not a refusal: suppliers change their ERP or mail
/// domain. But a sender trusted at the organisation that issues invoices in another
/// supplier's name (with its own bank account) is the invoice fraud the trusted-sender list
/// exists to stop, so the finding travels with the document (`spool show`, the sinks'
/// `inspection`) for whoever approves the payment.
fn seller_claim_finding(
    precedents: &mut dyn Precedents,
    key: &str,
    number: &str,
) -> Option<crate::invoice::Finding> {
    let (seller, sender) = crate::invoice::identity::seller_claim(key)?;
    let first = precedents.seller_sender(&seller)?;
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
        location: None,
        official_text: None,
        line: None,
        offset: None,
    })
}

/// Intake's archive provenance of a file, as the spool records it.
fn archive_entry(s: intake::ArchiveSource) -> crate::spool::ArchiveEntry {
    crate::spool::ArchiveEntry {
        archive: s.archive,
        entry: s.entry,
    }
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
    Refusal::new(RefusalKind::BadHeaderFrom(why.to_string()))
}

#[cfg(test)]
mod tests {
    //! The verdict alone: a config, a message taken apart by stage 1, and a table of
    //! precedents instead of a spool.

    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::config::validate::{Options, load_str};
    use crate::gateway::inspect::take_apart;
    use crate::gateway::refusal::reply_for;
    use crate::intake::IntakeLimits;

    const CONFIG: &str = r#"
[server]
hostname = "mx.trust.example.test"
listen = ["127.0.0.1:0"]

[spool]
path = "/nonexistent/spool"

[[organisation]]
id = "acme"
name = "ACME B.V."
kvk = "11111111"

[[receiver]]
address = "A@trust.example.test"
organisation = "acme"
document_type = "purchase-invoice"
auth = "none"
duplicates = "refuse"

[[receiver.trusted_sender]]
name = "Supplier B.V."
contact = "billing@supplier.example"
domain = "supplier.example"

[[receiver]]
address = "B@trust.example.test"
organisation = "acme"
document_type = "purchase-invoice"
auth = "none"

[[receiver.trusted_sender]]
name = "Secure B.V."
contact = "billing@secure.example"
domain = "secure.example"
require_tls = true

[[receiver.trusted_sender]]
name = "Supplier B.V."
contact = "billing@supplier.example"
domain = "supplier.example"

[[receiver]]
address = "D@trust.example.test"
organisation = "acme"
document_type = "purchase-invoice"

[[receiver.trusted_sender]]
name = "Supplier B.V."
contact = "billing@supplier.example"
domain = "supplier.example"
"#;

    fn directory() -> Directory {
        let options = Options {
            check_spool_writable: false,
            check_tls_files: false,
        };
        Directory::new(&load_str(CONFIG, Path::new("t.toml"), &options).unwrap())
    }

    fn mail(from: &str) -> Vec<u8> {
        use base64::Engine as _;
        let xml = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml"
        ))
        .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
        format!(
            "From: {from}\r\nTo: A@trust.example.test\r\nSubject: invoice\r\nMessage-ID: <1@x>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: application/xml; name=INV-1.xml\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {b64}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    /// Precedents from a table: a key's answer (`None` when absent), and sellers' senders.
    #[derive(Default)]
    struct Table {
        keys: HashMap<String, Precedent>,
        every_key: Option<Precedent>,
        sellers: HashMap<String, String>,
        senders: HashMap<crate::spool::SenderKey, crate::spool::SenderRecord>,
        asked: usize,
    }

    impl Precedents for Table {
        fn precedent(&mut self, key: &str) -> Result<Precedent, ()> {
            self.asked += 1;
            Ok(self
                .every_key
                .clone()
                .or_else(|| self.keys.get(key).cloned())
                .unwrap_or(Precedent::None))
        }
        fn sender(
            &mut self,
            key: &crate::spool::SenderKey,
        ) -> Result<Option<crate::spool::SenderRecord>, ()> {
            Ok(self.senders.get(key).cloned())
        }

        fn seller_sender(&mut self, seller: &str) -> Option<String> {
            self.sellers.get(seller).cloned()
        }
    }

    fn judge_with(rcpt: &[&str], from: &str, table: &mut Table) -> Verdict {
        judge_over(rcpt, from, false, table)
    }

    fn judge_over(rcpt: &[&str], from: &str, tls: bool, table: &mut Table) -> Verdict {
        judge_proven(rcpt, from, tls, &Authentication::NotRequired, table)
    }

    fn judge_proven(
        rcpt: &[&str],
        from: &str,
        tls: bool,
        authentication: &Authentication,
        table: &mut Table,
    ) -> Verdict {
        let inspected = take_apart(&mail(from), &IntakeLimits::default()).unwrap();
        let rcpt: Vec<Address> = rcpt.iter().map(|r| Address::parse(r).unwrap()).collect();
        verdict(&directory(), &rcpt, tls, inspected, authentication, table)
    }

    /// Results in which DKIM passed for `dkim_domain` (none when empty), DMARC computed
    /// without a record.
    fn results(dkim_domain: &str) -> Authentication {
        use crate::policy::auth::*;
        let aligned = auth::relaxed_aligned(dkim_domain, "supplier.example");
        Authentication::Checked(Box::new(AuthResults {
            spf_mail_from: SpfCheck {
                result: Outcome::Fail,
                domain: "bounce.example".into(),
            },
            spf_helo: SpfCheck {
                result: Outcome::None,
                domain: "h".into(),
            },
            dkim: if dkim_domain.is_empty() {
                Vec::new()
            } else {
                vec![DkimCheck {
                    result: Outcome::Pass,
                    domain: dkim_domain.into(),
                    selector: "s".into(),
                    reason: String::new(),
                }]
            },
            dmarc: DmarcCheck {
                result: Outcome::None,
                from_domain: "supplier.example".into(),
                policy: None,
                spf_aligned: false,
                dkim_aligned: aligned,
            },
            arc: ArcCheck {
                result: Outcome::None,
                sealers: Vec::new(),
                first_hop: ArcFirstHop::default(),
            },
        }))
    }

    #[test]
    fn an_unproven_trusted_from_is_refused_5_7_26_before_anything_is_stored() {
        let mut table = Table::default();
        match judge_proven(
            &["D@trust.example.test"],
            "billing@supplier.example",
            false,
            &results("elsewhere.example"),
            &mut table,
        ) {
            Verdict::Refuse(r) => {
                assert_eq!(
                    (reply_for(&r).code, reply_for(&r).status),
                    (550, "5.7.26"),
                    "{}",
                    reply_for(&r)
                );
                assert!(
                    reply_for(&r)
                        .text()
                        .contains("DKIM pass for elsewhere.example"),
                    "{}",
                    reply_for(&r)
                );
            }
            _ => panic!("not refused"),
        }
        assert_eq!(
            table.asked, 0,
            "no precedent is asked for an unproven sender"
        );
    }

    #[test]
    fn an_aligned_dkim_pass_is_accepted_and_says_how() {
        let mut table = Table::default();
        match judge_proven(
            &["D@trust.example.test"],
            "billing@supplier.example",
            false,
            &results("mail.supplier.example"),
            &mut table,
        ) {
            Verdict::Accept { content, .. } => {
                assert_eq!(content.proven_by, vec![Proof::Dmarc]);
            }
            _ => panic!("not accepted"),
        }
    }

    #[test]
    fn a_receiver_that_authenticates_never_accepts_without_a_check() {
        let mut table = Table::default();
        match judge_proven(
            &["D@trust.example.test"],
            "billing@supplier.example",
            false,
            &Authentication::NotRequired,
            &mut table,
        ) {
            Verdict::Refuse(r) => assert_eq!(reply_for(&r).code, 451, "{}", reply_for(&r)),
            _ => panic!("not refused"),
        }
    }

    #[test]
    fn an_untrusted_header_from_is_refused_before_anything_is_stored() {
        let mut table = Table::default();
        match judge_with(
            &["A@trust.example.test"],
            "evil@attacker.example",
            &mut table,
        ) {
            Verdict::Refuse(r) => assert_eq!(reply_for(&r).code, 550, "{}", reply_for(&r)),
            _ => panic!("not refused"),
        }
        assert_eq!(
            table.asked, 0,
            "no precedent is looked up for an untrusted sender"
        );
    }

    #[test]
    fn a_stored_precedent_is_refused_where_duplicates_are_refused() {
        let mut table = Table {
            every_key: Some(Precedent::Stored("message M of T".into())),
            ..Table::default()
        };
        match judge_with(
            &["A@trust.example.test"],
            "billing@supplier.example",
            &mut table,
        ) {
            Verdict::Reject { refusal, content } => {
                assert!(
                    reply_for(&refusal)
                        .to_string()
                        .contains("already received in message M of T")
                );
                // The refusal as data: the rule with its text, and the sender, for a notice.
                assert_eq!(refusal.sender.as_deref(), Some("billing@supplier.example"));
                assert!(
                    refusal
                        .rules
                        .iter()
                        .any(|r| r.text.contains("already received in message M of T")),
                    "{:?}",
                    refusal.rules
                );
                assert!(content.documents.iter().all(|d| d.status.is_some()));
            }
            _ => panic!("not rejected"),
        }
        // B accepts duplicates: stored, said so, not refused.
        match judge_with(
            &["B@trust.example.test"],
            "billing@supplier.example",
            &mut table,
        ) {
            Verdict::Accept { reply, .. } => {
                let text = reply.reply("ID").to_string();
                assert!(
                    text.contains("queued as ID: 1 duplicate of ")
                        && text.ends_with(" from message M of T (not delivered again)"),
                    "{text}"
                );
            }
            _ => panic!("not accepted"),
        }
    }

    #[test]
    fn an_invoice_in_flight_elsewhere_is_answered_451() {
        let mut table = Table {
            every_key: Some(Precedent::InFlight),
            ..Table::default()
        };
        match judge_with(
            &["A@trust.example.test"],
            "billing@supplier.example",
            &mut table,
        ) {
            Verdict::Refuse(r) => assert_eq!(reply_for(&r).code, 451, "{}", reply_for(&r)),
            _ => panic!("not refused"),
        }
    }

    #[test]
    fn receivers_of_one_organisation_share_one_record_and_one_count() {
        let mut table = Table::default();
        match judge_with(
            &["A@trust.example.test", "B@trust.example.test"],
            "billing@supplier.example",
            &mut table,
        ) {
            Verdict::Accept { content, reply } => {
                assert_eq!(content.documents.len(), 1);
                let text = reply.reply("ID").to_string();
                assert!(
                    text.contains("1 invoice accepted (")
                        && text.ends_with(") for A@trust.example.test, B@trust.example.test"),
                    "{text}"
                );
            }
            _ => panic!("not accepted"),
        }
        assert_eq!(table.asked, 1, "one invoice, one lookup");
    }

    #[test]
    fn a_seller_sent_for_by_another_sender_is_a_warning() {
        let mut table = Table::default();
        let Verdict::Accept { content, .. } = judge_with(
            &["B@trust.example.test"],
            "billing@supplier.example",
            &mut table,
        ) else {
            panic!("not accepted");
        };
        assert!(content.notes.is_empty(), "{:?}", content.notes);
        let key = content.documents[0].duplicate_key.clone().unwrap();
        let (seller, _) = crate::invoice::identity::seller_claim(&key)
            .expect("the fixture's seller has an identity");
        table.sellers.insert(seller, "domain:other.example".into());
        let Verdict::Accept { content, .. } = judge_with(
            &["B@trust.example.test"],
            "billing@supplier.example",
            &mut table,
        ) else {
            panic!("not accepted");
        };
        assert!(
            content.notes.iter().any(|n| n.contains(SELLER_CLAIM)),
            "{:?}",
            content.notes
        );
    }

    #[test]
    fn a_header_from_trusted_only_over_tls_is_refused_in_clear_text() {
        let mut table = Table::default();
        match judge_over(
            &["B@trust.example.test"],
            "billing@secure.example",
            false,
            &mut table,
        ) {
            Verdict::Refuse(r) => {
                assert_eq!((reply_for(&r).code, reply_for(&r).status), (530, "5.7.0"))
            }
            _ => panic!("not refused"),
        }
        assert!(matches!(
            judge_over(
                &["B@trust.example.test"],
                "billing@secure.example",
                true,
                &mut table
            ),
            Verdict::Accept { .. }
        ));
    }

    #[test]
    fn a_disabled_sender_is_refused_and_a_first_invoice_activates() {
        use crate::spool::{SenderChange, SenderKey, SenderRecord, SenderUpdate};
        let key = SenderKey::new("A@trust.example.test", "billing@supplier.example");
        let mut table = Table::default();
        // Pending: accepted, and the message will make the sender active.
        match judge_with(&["A@trust.example.test"], "ap@supplier.example", &mut table) {
            Verdict::Accept { content, .. } => {
                assert_eq!(content.senders, vec![SenderUpdate::Invoice(key.clone())]);
            }
            _ => panic!("not accepted"),
        }
        // Active already: nothing to record again.
        let mut active = SenderRecord::default();
        SenderChange::Accepted {
            from: "ap@supplier.example".into(),
            message: crate::spool::MessageId("m".into()),
        }
        .apply_to(&mut active, std::time::SystemTime::now());
        table.senders.insert(key.clone(), active.clone());
        match judge_with(&["A@trust.example.test"], "ap@supplier.example", &mut table) {
            Verdict::Accept { content, .. } => assert!(content.senders.is_empty()),
            _ => panic!("not accepted"),
        }
        // Disabled: refused with 550 5.7.1, nothing stored, naming the organisation.
        SenderChange::Disable.apply_to(&mut active, std::time::SystemTime::now());
        table.senders.insert(key, active);
        match judge_with(&["A@trust.example.test"], "ap@supplier.example", &mut table) {
            Verdict::Refuse(r) => {
                let reply = reply_for(&r);
                assert_eq!((reply.code, reply.status), (550, "5.7.1"));
                assert!(reply.text().contains("disabled"), "{}", reply.text());
                assert!(reply.text().contains("ACME B.V."), "{}", reply.text());
            }
            _ => panic!("not refused"),
        }
        // Another receiver's state is its own: B trusts the same sender and it is pending.
        assert!(matches!(
            judge_with(&["B@trust.example.test"], "ap@supplier.example", &mut table),
            Verdict::Accept { .. }
        ));
    }
}
