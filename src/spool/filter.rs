//! Which messages a listing shows (`trustgate spool list --status … --organisation …`, and the
//! admin API's message list): a [`Filter`] over a record, its deliveries and its hold; and
//! which documents the admin API's document list shows, by the same fields. Pure; the store
//! applies it while it pages through the messages (`Shared::list_page`) or the pull queue
//! (`Shared::waiting`), so a filtered page costs at most a bounded scan, never the whole spool.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{
    DeliveryState, DeliveryView, DocumentRecord, MessageRecord, MessageStatus, rfc3339_opt,
};

/// What the messages listed must match; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// The message's status, or the state of its deliveries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusFilter>,
    /// An organisation id that one of its documents belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// A receiving address it was sent to (any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// The sender: an address (envelope or header From, any case), or a domain (`example.nl`
    /// or `@example.nl`) that either is at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Received at or after.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub since: Option<SystemTime>,
    /// Received before.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub until: Option<SystemTime>,
}

/// `--status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    /// Accepted (answered 250).
    Accepted,
    /// Refused for its content, kept for the admin.
    Rejected,
    /// Written by trustgate (invitations).
    Outgoing,
    /// Deleted by an admin (the record remains).
    Deleted,
    /// On hold.
    Held,
    /// With a delivery waiting or in flight.
    Pending,
    /// With a dead letter.
    Failed,
    /// With deliveries, all delivered.
    Delivered,
}

impl Filter {
    /// Whether the filter sets nothing.
    pub fn is_empty(&self) -> bool {
        self == &Filter::default()
    }

    /// Whether a status filter needs the message's deliveries or hold to decide.
    pub fn needs_deliveries(&self) -> bool {
        matches!(
            self.status,
            Some(StatusFilter::Pending | StatusFilter::Failed | StatusFilter::Delivered)
        )
    }

    /// Whether a document listing must read each document's message record to decide (the
    /// organisation alone is in the pull queue's key).
    pub fn needs_record(&self) -> bool {
        self.receiver.is_some()
            || self.sender.is_some()
            || self.since.is_some()
            || self.until.is_some()
    }

    /// Whether document `doc` of `record` is listed (the admin API's document list): the time
    /// and sender are the message's, the organisation and receiver the document's own, since a
    /// message may carry documents for several. The status is not looked at: a document
    /// listing chooses its documents by status itself.
    pub fn matches_document(&self, record: &MessageRecord, doc: &DocumentRecord) -> bool {
        if !self.matches_time_and_sender(record) {
            return false;
        }
        if self
            .organisation
            .as_ref()
            .is_some_and(|org| &doc.organisation != org)
        {
            return false;
        }
        self.receiver.as_deref().is_none_or(|rcpt| {
            doc.receiver
                .eq_ignore_ascii_case(rcpt.trim_matches(['<', '>']))
        })
    }

    /// Whether `record` was received within `since..until` and from `sender`.
    fn matches_time_and_sender(&self, record: &MessageRecord) -> bool {
        if let Some(since) = self.since
            && record.received_at < since
        {
            return false;
        }
        if let Some(until) = self.until
            && record.received_at >= until
        {
            return false;
        }
        self.sender
            .as_deref()
            .is_none_or(|sender| sender_matches(sender, record))
    }

    /// Whether `record`, with `deliveries` and on hold or not, is listed.
    pub fn matches(&self, record: &MessageRecord, deliveries: &[DeliveryView], held: bool) -> bool {
        if !self.matches_time_and_sender(record) {
            return false;
        }
        if let Some(org) = &self.organisation
            && !record.documents.iter().any(|d| &d.organisation == org)
        {
            return false;
        }
        if let Some(rcpt) = &self.receiver {
            let rcpt = rcpt.trim_matches(['<', '>']);
            let named = record.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(rcpt))
                || record
                    .documents
                    .iter()
                    .any(|d| d.receiver.eq_ignore_ascii_case(rcpt));
            if !named {
                return false;
            }
        }
        let Some(status) = self.status else {
            return true;
        };
        let deleted = record.deleted_at.is_some();
        match status {
            StatusFilter::Deleted => deleted,
            _ if deleted => false,
            StatusFilter::Accepted => record.status == MessageStatus::Accepted,
            StatusFilter::Rejected => record.status.is_rejected(),
            StatusFilter::Outgoing => record.status == MessageStatus::Outgoing,
            StatusFilter::Held => held,
            StatusFilter::Pending => deliveries.iter().any(|d| {
                matches!(
                    d.record.state,
                    DeliveryState::Pending | DeliveryState::InFlight
                )
            }),
            StatusFilter::Failed => deliveries
                .iter()
                .any(|d| d.record.state == DeliveryState::Failed),
            StatusFilter::Delivered => {
                !deliveries.is_empty()
                    && deliveries
                        .iter()
                        .all(|d| d.record.state == DeliveryState::Delivered)
            }
        }
    }
}

/// An address equal to the envelope sender or the header From, or a domain either is at.
fn sender_matches(want: &str, record: &MessageRecord) -> bool {
    let want = want.trim_matches(['<', '>']);
    let candidates = std::iter::once(record.mail_from.as_str())
        .chain(record.header_from.as_deref())
        .filter(|a| !a.is_empty());
    match want
        .strip_prefix('@')
        .or((!want.contains('@')).then_some(want))
    {
        Some(domain) => candidates.into_iter().any(|a| {
            a.rsplit_once('@')
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
        }),
        None => candidates.into_iter().any(|a| a.eq_ignore_ascii_case(want)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::{Blob, DeliveryRecord, MessageId};
    use std::time::Duration;

    fn record() -> MessageRecord {
        MessageRecord {
            id: MessageId("20261203T100000Z-000001".into()),
            received_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
            peer: "127.0.0.1:1".into(),
            helo: "h".into(),
            mail_from: "bounce@esp.example".into(),
            rcpt_to: vec!["AD64SDE@trust.example".into()],
            header_message_id: None,
            header_from: Some("Billing@Supplier.example".into()),
            tls: None,
            auth: None,
            notice: None,
            size: 1,
            sha256: String::new(),
            status: MessageStatus::Accepted,
            resend_of: None,
            body_store: Blob::Database,
            documents: Vec::new(),
            ignored: Vec::new(),
            events: Vec::new(),
            deleted_at: None,
        }
    }

    fn delivery(state: DeliveryState) -> DeliveryView {
        DeliveryView {
            document: 0,
            sink: "erp".into(),
            record: DeliveryRecord {
                state,
                attempts: 0,
                total_attempts: 0,
                offered_at: SystemTime::UNIX_EPOCH,
                due_ms: 0,
                last_error: None,
                delivered_at: None,
                answer: None,
            },
        }
    }

    #[test]
    fn each_field_narrows_and_senders_match_by_address_or_domain() {
        let r = record();
        assert!(Filter::default().matches(&r, &[], false));
        let with = |f: Filter| f.matches(&r, &[], false);
        assert!(with(Filter {
            sender: Some("billing@supplier.example".into()),
            ..Filter::default()
        }));
        assert!(with(Filter {
            sender: Some("@esp.example".into()),
            ..Filter::default()
        }));
        assert!(with(Filter {
            sender: Some("supplier.example".into()),
            ..Filter::default()
        }));
        assert!(!with(Filter {
            sender: Some("other@supplier.example".into()),
            ..Filter::default()
        }));
        assert!(with(Filter {
            receiver: Some("<ad64sde@trust.example>".into()),
            ..Filter::default()
        }));
        assert!(!with(Filter {
            receiver: Some("x@trust.example".into()),
            ..Filter::default()
        }));
        assert!(!with(Filter {
            organisation: Some("acme".into()),
            ..Filter::default()
        }));
        assert!(with(Filter {
            since: Some(r.received_at),
            until: Some(r.received_at + Duration::from_secs(1)),
            ..Filter::default()
        }));
        assert!(!with(Filter {
            until: Some(r.received_at),
            ..Filter::default()
        }));
    }

    fn document(organisation: &str, receiver: &str) -> DocumentRecord {
        serde_json::from_value(serde_json::json!({
            "index": 0, "receiver": receiver, "organisation": organisation,
            "format": "ubl-invoice", "invoice_number": null, "xml_name": "a.xml",
            "xml_size": 1, "xml_sha256": "", "pdf_name": null, "pdf_size": null,
            "status": "ready", "xml_store": {"in": "database"}, "pdf_store": null,
        }))
        .unwrap()
    }

    #[test]
    fn documents_match_by_their_own_organisation_and_receiver_and_their_messages_time_and_sender() {
        let mut r = record();
        r.rcpt_to.push("shared@trust.example".into());
        let acme = document("acme", "AD64SDE@trust.example");
        let beta = document("beta", "shared@trust.example");
        r.documents = vec![acme.clone(), beta.clone()];
        let organisation = Filter {
            organisation: Some("acme".into()),
            ..Filter::default()
        };
        assert!(organisation.matches_document(&r, &acme));
        assert!(!organisation.matches_document(&r, &beta));
        // The message was sent to both receivers; each document came in on one.
        let receiver = Filter {
            receiver: Some("<ad64sde@trust.example>".into()),
            ..Filter::default()
        };
        assert!(receiver.matches_document(&r, &acme));
        assert!(!receiver.matches_document(&r, &beta));
        let sender = |s: &str| Filter {
            sender: Some(s.into()),
            ..Filter::default()
        };
        assert!(sender("supplier.example").matches_document(&r, &beta));
        assert!(!sender("other.example").matches_document(&r, &beta));
        let until = Filter {
            until: Some(r.received_at),
            ..Filter::default()
        };
        assert!(!until.matches_document(&r, &acme));
        assert!(!Filter::default().needs_record());
        assert!(!organisation.needs_record());
        assert!(receiver.needs_record() && until.needs_record());
    }

    #[test]
    fn statuses_read_the_record_the_deliveries_and_the_hold() {
        let r = record();
        let status = |s| Filter {
            status: Some(s),
            ..Filter::default()
        };
        let failed = [
            delivery(DeliveryState::Delivered),
            delivery(DeliveryState::Failed),
        ];
        assert!(status(StatusFilter::Failed).matches(&r, &failed, false));
        assert!(!status(StatusFilter::Delivered).matches(&r, &failed, false));
        assert!(status(StatusFilter::Delivered).matches(&r, &failed[..1], false));
        assert!(!status(StatusFilter::Delivered).matches(&r, &[], false));
        assert!(status(StatusFilter::Pending).matches(
            &r,
            &[delivery(DeliveryState::InFlight)],
            false
        ));
        assert!(status(StatusFilter::Held).matches(&r, &[], true));
        assert!(!status(StatusFilter::Held).matches(&r, &[], false));
        assert!(status(StatusFilter::Accepted).matches(&r, &[], false));
        let mut deleted = r.clone();
        deleted.deleted_at = Some(SystemTime::now());
        assert!(status(StatusFilter::Deleted).matches(&deleted, &[], false));
        assert!(!status(StatusFilter::Accepted).matches(&deleted, &[], false));
    }
}
