//! The metadata every sink sends about a document: the webhook's JSON (with the files added),
//! the directory sink's `.json`, the NATS headers and the document-mode mail's text.
//!
//! Built from the spool's records only, so a delivery after a restart sends the same metadata
//! as the first attempt. The JSON shape is described by `docs/webhook.schema.json`.

use serde::{Deserialize, Serialize};

use crate::spool::{DocumentRecord, MessageRecord, format_time};

/// The fields of the inspection report that are sent downstream (the stored report also holds
/// internal detail, such as the embedded PDF's location, that no receiver needs).
const INSPECTION_FIELDS: &[&str] = &[
    "syntax",
    "specification",
    "customization_id",
    "profile_id",
    "document_type_code",
    "invoice_number",
    "issue_date",
    "due_date",
    "currency",
    "seller",
    "buyer",
    "totals",
    "payment_accounts",
    "buyer_reference",
    "order_reference",
    "findings",
];

/// What is known about one document, for its receivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentMeta {
    /// The gateway that accepted it: its `[server] hostname`. Ids of messages and documents
    /// are unique per gateway; this name makes the delivery id unique across gateways.
    pub gateway: String,
    /// Our id of the document: `<message id>-<index>`.
    pub document_id: String,
    /// Our id of the message that carried it.
    pub message_id: String,
    /// Position of the document in the message, from 0.
    pub index: u32,
    /// The generated address it was sent to.
    pub receiver: String,
    /// The organisation it belongs to.
    pub organisation: String,
    /// The envelope sender (MAIL FROM); empty for the null sender.
    pub envelope_sender: String,
    /// The address in the header From, if recorded.
    pub header_from: Option<String>,
    /// The Message-ID header, if any.
    pub header_message_id: Option<String>,
    /// The session's TLS version and cipher, when it ran over TLS.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tls: Option<String>,
    /// How the sender was authenticated (SPF, DKIM, DMARC, ARC, and which proved it), when
    /// the checks ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<Object>)]
    pub auth: Option<crate::policy::auth::AuthRecord>,
    /// The notice about a refused message (for the `notices` sink only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<Object>)]
    pub notice: Option<crate::spool::NoticeRecord>,
    /// When the message was received, RFC 3339 UTC.
    pub received_at: String,
    /// The syntax, e.g. `ubl-invoice` (`ubl-credit-note`, `cii`, `zugferd-1`).
    pub format: String,
    /// The specification, e.g. `si-ubl-2.0`: the value `accept_specifications` uses.
    pub specification: Option<String>,
    /// The invoice number, where found.
    pub invoice_number: Option<String>,
    /// The inspection: syntax, specification, number, type, dates, currency, seller, buyer,
    /// totals, findings with rule ids (see [`INSPECTION_FIELDS`]).
    #[schema(value_type = Object)]
    pub inspection: serde_json::Value,
    /// The XML file.
    pub xml: FileMeta,
    /// The PDF file, if one was paired.
    pub pdf: Option<FileMeta>,
}

/// One file of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileMeta {
    /// The sanitised original file name (metadata only; never used as a path).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lowercase hex (the PDF's only when known).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    /// `application/xml` or `application/pdf`.
    pub content_type: String,
    /// The archive attachment the file came out of (e.g. `INV-1.zip`), when it came inside
    /// one; the file's own name in it is `name`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub archive: Option<String>,
}

impl DocumentMeta {
    /// The metadata of a whole message delivered without documents (the forward of postmaster
    /// mail): the envelope and the authentication, no invoice.
    pub fn for_message(gateway: &str, message: &MessageRecord) -> DocumentMeta {
        DocumentMeta {
            gateway: gateway.to_owned(),
            document_id: message.id.to_string(),
            message_id: message.id.to_string(),
            index: crate::spool::WHOLE_MESSAGE,
            receiver: message.rcpt_to.join(", "),
            organisation: String::new(),
            envelope_sender: message.mail_from.clone(),
            header_from: message.header_from.clone(),
            header_message_id: message.header_message_id.clone(),
            tls: message.tls.clone(),
            auth: message.auth.clone(),
            notice: message.notice.clone(),
            received_at: format_time(message.received_at),
            format: "message".into(),
            specification: None,
            invoice_number: None,
            inspection: serde_json::Value::Null,
            xml: FileMeta {
                name: String::new(),
                size: 0,
                sha256: None,
                content_type: "message/rfc822".into(),
                archive: None,
            },
            pdf: None,
        }
    }

    /// The metadata of document `doc` of `message`, accepted by the gateway named `gateway`.
    pub fn new(gateway: &str, message: &MessageRecord, doc: &DocumentRecord) -> DocumentMeta {
        let inspection = match &doc.report {
            Some(serde_json::Value::Object(report)) => {
                let mut fields: serde_json::Map<String, serde_json::Value> = report
                    .iter()
                    .filter(|(k, _)| INSPECTION_FIELDS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                // One vocabulary, also for reports an older version stored with other names:
                // the record's fields are read as today's ids.
                fields.insert("syntax".into(), doc.format.clone().into());
                if let Some(spec) = &doc.specification {
                    fields.insert("specification".into(), spec.clone().into());
                }
                serde_json::Value::Object(fields)
            }
            _ => serde_json::Value::Null,
        };
        DocumentMeta {
            gateway: gateway.to_owned(),
            document_id: document_id(message.id.as_str(), doc.index),
            message_id: message.id.to_string(),
            index: doc.index,
            receiver: doc.receiver.clone(),
            organisation: doc.organisation.clone(),
            envelope_sender: message.mail_from.clone(),
            header_from: message.header_from.clone(),
            header_message_id: message.header_message_id.clone(),
            tls: message.tls.clone(),
            auth: message.auth.clone(),
            notice: None,
            received_at: format_time(message.received_at),
            format: doc.format.clone(),
            specification: doc.specification.clone(),
            invoice_number: doc.invoice_number.clone(),
            inspection,
            xml: FileMeta {
                name: doc.xml_name.clone(),
                size: doc.xml_size,
                sha256: Some(doc.xml_sha256.clone()),
                content_type: "application/xml".into(),
                archive: doc.xml_archive.as_ref().map(|a| a.archive.clone()),
            },
            pdf: doc.pdf_name.as_ref().map(|name| FileMeta {
                name: name.clone(),
                size: doc.pdf_size.unwrap_or(0),
                sha256: None,
                content_type: "application/pdf".into(),
                archive: doc.pdf_archive.as_ref().map(|a| a.archive.clone()),
            }),
        }
    }

    /// A string field of the inspection (e.g. `"currency"`), if present.
    pub fn inspection_str(&self, field: &str) -> Option<&str> {
        self.inspection.get(field).and_then(|v| v.as_str())
    }

    /// A one-line summary for the document-mode mail's text and logs: supplier, number,
    /// amount.
    pub fn summary(&self) -> String {
        let supplier = self
            .inspection
            .pointer("/seller/name")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown supplier");
        let number = self.invoice_number.as_deref().unwrap_or("without number");
        let amount = self
            .inspection
            .pointer("/totals/payable")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        let currency = self.inspection_str("currency").unwrap_or("");
        format!("invoice {number} from {supplier}, amount payable {amount} {currency}")
            .trim_end()
            .to_string()
    }
}

/// Our id of a document: `<message id>-<index>`, e.g. `20261122T101530Z-000001-0`. Only
/// `[0-9A-Z-]`, so it is safe as a file name.
pub fn document_id(message: &str, index: u32) -> String {
    format!("{message}-{index}")
}

/// The delivery id of (document, sink) at gateway `gateway` (its `[server] hostname`):
/// `<document id>.<sink>@<gateway>`, e.g. `20261122T101530Z-000001-0.erp@mx1.trust.example.eu`.
/// Stable across attempts and restarts; unique across the gateways that feed one receiver, as
/// long as each has its own hostname (message ids are unique per spool only). Sink names are
/// config ids and hostnames are DNS names, so the id is safe in headers.
pub fn delivery_id(gateway: &str, message: &str, index: u32, sink: &str) -> String {
    format!("{}.{sink}@{gateway}", document_id(message, index))
}
