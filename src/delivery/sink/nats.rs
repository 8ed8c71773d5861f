//! The NATS sink: publishes each document to JetStream and waits for the stream's ack.
//!
//! The XML is the message body, on a subject made from a template (`{organisation}`,
//! `{receiver}`); the metadata travels in `Trustgate-*` headers, the whole
//! [`DocumentMeta`](crate::delivery::DocumentMeta) JSON in `Trustgate-Metadata`. `Nats-Msg-Id`
//! is the delivery id, so a retry within the stream's duplicate window is acked as a duplicate
//! instead of stored twice (the window, 2 minutes by default, is the stream's setting; a
//! consumer that must never see a document twice dedupes on `Nats-Msg-Id` as well).
//!
//! The PDF goes as a second message on `<subject>.pdf` with `Nats-Msg-Id` `<delivery id>.pdf`
//! and the same document headers, published and acked before the XML, so a consumer that
//! sees the XML can rely on the PDF being stored. A second message rather than the object
//! store keeps one mechanism (one stream, one ack, the same dedupe by `Nats-Msg-Id`, works on
//! nats-server 2.9). The price is the server's `max_payload` (1 MiB by default) per message,
//! headers included: a larger file is answered Permanent with an error that tells the admin
//! to raise `max_payload`.
//!
//! The sink connects lazily, on its first attempt, so that a NATS server that is down delays
//! only this sink; a failed connect is tried again on the next attempt, and once connected the
//! client reconnects by itself. Every other failure (no stream for the subject, no ack in time,
//! a lost connection) is retried. The URL may hold credentials: it is never logged and never
//! appears in an [`Outcome`].

use std::fmt;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::context::{Context, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use async_nats::{ConnectErrorKind, ConnectOptions};
use tokio::sync::OnceCell;

use super::{Attempt, Sink};
use crate::delivery::{Item, Outcome};

/// What a [`NatsSink`] needs, mapped from the sink's config by the caller.
#[derive(Clone)]
pub struct NatsOptions {
    /// The server, e.g. `nats://127.0.0.1:4222` or `tls://user:pass@nats.example:4222`.
    pub url: String,
    /// The subject template: `{organisation}` and `{receiver}` are replaced by the document's
    /// values, with every character outside `[A-Za-z0-9_-]` turned into `_`. The PDF goes to
    /// the same subject with `.pdf` appended; the stream must capture both.
    pub subject: String,
    /// Limit on the connect and on each ack.
    pub timeout: Duration,
}

impl fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &"<redacted>")
            .field("subject", &self.subject)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Publishes documents to a JetStream stream.
pub struct NatsSink {
    /// Where to connect; may hold credentials, so never shown.
    url: String,
    /// The subject template.
    subject: String,
    /// Connect and ack limit.
    timeout: Duration,
    /// The JetStream context, made on the first attempt that connects. Attempts that arrive
    /// while a connect is under way wait for it (bounded by `timeout`) instead of connecting
    /// again; a failed connect leaves the cell empty for the next attempt.
    jetstream: OnceCell<Context>,
}

impl fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSink")
            .field("subject", &self.subject)
            .field("timeout", &self.timeout)
            .field("connected", &self.jetstream.initialized())
            .finish_non_exhaustive()
    }
}

impl NatsSink {
    /// Checks the options; does not connect (see the module docs).
    ///
    /// # Errors
    ///
    /// A URL that does not parse, a subject template that cannot make a valid subject
    /// (empty tokens, whitespace, wildcards), or a zero timeout. The text never contains the
    /// URL.
    pub fn new(opts: NatsOptions) -> Result<NatsSink, String> {
        if opts.timeout.is_zero() {
            return Err("nats timeout must be more than zero".into());
        }
        opts.url
            .parse::<async_nats::ServerAddr>()
            .map_err(|_| "nats url is not a valid server address".to_string())?;
        let sample = render(&opts.subject, "org", "receiver");
        if let Err(why) = check_subject(&sample) {
            return Err(format!("nats subject {:?} {why}", opts.subject));
        }
        Ok(NatsSink {
            url: opts.url,
            subject: opts.subject,
            timeout: opts.timeout,
            jetstream: OnceCell::new(),
        })
    }

    /// The JetStream context, connecting first if need be.
    async fn context(&self) -> Result<&Context, String> {
        self.jetstream
            .get_or_try_init(|| async {
                let connect = ConnectOptions::new()
                    .name("trustgate")
                    .connection_timeout(self.timeout)
                    .connect(self.url.as_str());
                let client = match tokio::time::timeout(self.timeout, connect).await {
                    Ok(Ok(client)) => client,
                    Ok(Err(err)) => return Err(connect_error(&err)),
                    Err(_) => return Err("nats connect failed: timed out".to_string()),
                };
                tracing::debug!(sink = "nats", "connected to the nats server");
                let mut context = async_nats::jetstream::new(client);
                context.set_timeout(self.timeout);
                Ok(context)
            })
            .await
    }

    /// PDF first, then XML; both acked is delivered.
    async fn attempt(&self, item: &Item) -> Outcome {
        let context = match self.context().await {
            Ok(context) => context,
            Err(error) => return Outcome::retry(error),
        };
        let subject = render(&self.subject, &item.meta.organisation, &item.meta.receiver);
        let headers = document_headers(item);

        let mut pdf_ack = None;
        if let Some(pdf) = &item.pdf {
            let mut pdf_headers = headers.clone();
            pdf_headers.insert(NATS_MESSAGE_ID, format!("{}.pdf", item.delivery_id));
            let pdf_subject = format!("{subject}.pdf");
            match publish(context, &pdf_subject, pdf_headers, pdf, "PDF").await {
                Ok(ack) => pdf_ack = Some(ack),
                Err(outcome) => return outcome,
            }
        }
        let mut xml_headers = headers;
        xml_headers.insert(NATS_MESSAGE_ID, item.delivery_id.clone());
        let ack = match publish(context, &subject, xml_headers, &item.xml, "XML").await {
            Ok(ack) => ack,
            Err(outcome) => return outcome,
        };
        let mut answer = format!("jetstream ack stream={} seq={}", ack.stream, ack.sequence);
        if ack.duplicate {
            answer.push_str(" duplicate");
        }
        if let Some(pdf) = pdf_ack {
            answer.push_str(&format!("; pdf seq={}", pdf.sequence));
            if pdf.duplicate {
                answer.push_str(" duplicate");
            }
        }
        Outcome::Delivered { answer }
    }
}

impl Sink for NatsSink {
    fn deliver<'a>(&'a self, item: &'a Item) -> Attempt<'a> {
        Box::pin(self.attempt(item))
    }
}

/// Publishes one message and waits for its ack; a failure is already the attempt's outcome.
async fn publish(
    context: &Context,
    subject: &str,
    headers: HeaderMap,
    payload: &[u8],
    what: &str,
) -> Result<PublishAck, Outcome> {
    let sent = context
        .publish_with_headers(subject.to_string(), headers, payload.to_vec().into())
        .await;
    let result = match sent {
        Ok(ack) => ack.await,
        Err(err) => Err(err),
    };
    result.map_err(|err| {
        let kind = err.kind();
        match kind {
            PublishErrorKind::MaxPayloadExceeded => Outcome::permanent(format!(
                "the {what} ({} bytes) with its headers exceeds the NATS server's max_payload \
                 of {} bytes (1 MiB by default); raise max_payload in the nats-server \
                 configuration, then re-offer the document",
                payload.len(),
                context.client().max_payload(),
            )),
            PublishErrorKind::StreamNotFound => {
                Outcome::retry(format!("no JetStream stream captures subject {subject}"))
            }
            PublishErrorKind::TimedOut => {
                Outcome::retry(format!("no JetStream ack for the {what} in time"))
            }
            _ => Outcome::retry(format!(
                "publishing the {what} failed: {}",
                printable(&err.to_string())
            )),
        }
    })
}

/// The headers both messages carry; `Nats-Msg-Id` is added per message.
fn document_headers(item: &Item) -> HeaderMap {
    let meta = &item.meta;
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        headers.insert(name, one_line(value));
    };
    put("Trustgate-Document-Id", &meta.document_id);
    put("Trustgate-Message-Id", &meta.message_id);
    put("Trustgate-Receiver", &meta.receiver);
    put("Trustgate-Organisation", &meta.organisation);
    if let Some(number) = &meta.invoice_number {
        put("Trustgate-Invoice-Number", number);
    }
    if let Some(specification) = &meta.specification {
        put("Trustgate-Specification", specification);
    }
    put("Trustgate-Xml-Name", &meta.xml.name);
    if let Some(pdf) = &meta.pdf {
        put("Trustgate-Pdf-Name", &pdf.name);
    }
    // serde_json escapes control characters, so the compact JSON is one line.
    if let Ok(json) = serde_json::to_string(meta) {
        put("Trustgate-Metadata", &json);
    }
    headers
}

/// The subject for a document: the template with its placeholders filled.
fn render(template: &str, organisation: &str, receiver: &str) -> String {
    template
        .replace("{organisation}", &token(organisation))
        .replace("{receiver}", &token(receiver))
}

/// A value as one subject token: every character outside `[A-Za-z0-9_-]` becomes `_` (`.`
/// separates tokens, `*` and `>` are wildcards, `@` and spaces are not wanted), and an empty
/// value becomes `_`.
fn token(value: &str) -> String {
    if value.is_empty() {
        return "_".into();
    }
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether `subject` can be published to: tokens separated by `.`, none empty, no whitespace
/// or control characters, no wildcards.
fn check_subject(subject: &str) -> Result<(), &'static str> {
    if subject.is_empty() {
        return Err("is empty");
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace");
    }
    for part in subject.split('.') {
        if part.is_empty() {
            return Err("has an empty token (a leading, trailing or double '.')");
        }
        if part == "*" || part == ">" {
            return Err("contains a wildcard; a publish subject cannot");
        }
    }
    Ok(())
}

/// A connect failure in words, without the URL (a parse error may quote it).
fn connect_error(err: &async_nats::ConnectError) -> String {
    match err.kind() {
        ConnectErrorKind::ServerParse => "nats connect failed: the url is not valid".into(),
        _ => format!("nats connect failed: {}", printable(&err.to_string())),
    }
}

/// A header value on one line: control characters become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Text as printable ASCII, at most 300 bytes.
fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    out.truncate(300);
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn opts(subject: &str) -> NatsOptions {
        NatsOptions {
            url: "nats://127.0.0.1:4222".into(),
            subject: subject.into(),
            timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn render_makes_each_value_one_token() {
        assert_eq!(
            render(
                "invoices.{organisation}.{receiver}",
                "acme corp",
                "AD64SDE@trust.example.test"
            ),
            "invoices.acme_corp.AD64SDE_trust_example_test"
        );
        assert_eq!(render("in.{receiver}", "", "a.*>b"), "in.a___b");
        assert_eq!(render("in.{organisation}", "", "x"), "in._");
        assert_eq!(render("in.{organisation}", "ä-_1", "x"), "in._-_1");
    }

    #[test]
    fn new_checks_the_subject_template() {
        assert!(NatsSink::new(opts("invoices.{organisation}.{receiver}")).is_ok());
        assert!(NatsSink::new(opts("invoices")).is_ok());
        for bad in [
            "",
            "invoices..x",
            ".invoices",
            "invoices.",
            "invoices.*",
            "invoices.>",
            "in voices",
        ] {
            assert!(NatsSink::new(opts(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn new_does_not_connect_and_hides_the_url() {
        // Nothing listens on port 1; new still succeeds.
        let sink = NatsSink::new(NatsOptions {
            url: "nats://user:hunter2@127.0.0.1:1".into(),
            subject: "x".into(),
            timeout: Duration::from_secs(1),
        })
        .unwrap();
        assert!(!format!("{sink:?}").contains("hunter2"));
        let mut bad = opts("x");
        bad.url = "nats://user:hunter2@[::1".into();
        let err = NatsSink::new(bad).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let mut zero = opts("x");
        zero.timeout = Duration::ZERO;
        assert!(NatsSink::new(zero).is_err());
    }

    #[test]
    fn document_headers_carry_the_metadata_on_single_lines() {
        let meta = crate::delivery::DocumentMeta {
            gateway: "mx1.trust.example.test".into(),
            document_id: "20261122T101530Z-000001-0".into(),
            message_id: "20261122T101530Z-000001".into(),
            index: 0,
            receiver: "AD64SDE@trust.example.test".into(),
            organisation: "acme".into(),
            envelope_sender: String::new(),
            header_from: None,
            tls: None,
            auth: None,
            notice: None,
            header_message_id: None,
            received_at: "2026-11-22T10:15:30.123Z".into(),
            format: "ubl-invoice".into(),
            specification: None,
            invoice_number: Some("INV\r\n1".into()),
            inspection: serde_json::json!({"seller": {"name": "a\nb"}}),
            xml: crate::delivery::payload::FileMeta {
                name: "INV-1.xml".into(),
                size: 1,
                sha256: None,
                content_type: "application/xml".into(),
                archive: None,
            },
            pdf: None,
        };
        let item = Item {
            delivery_id: "d".into(),
            attempt: 1,
            meta,
            xml: b"<x/>".to_vec(),
            pdf: None,
            raw: None,
        };
        let headers = document_headers(&item);
        let get = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
        assert_eq!(get("Trustgate-Invoice-Number").as_deref(), Some("INV  1"));
        assert_eq!(get("Trustgate-Specification"), None);
        assert_eq!(get("Trustgate-Pdf-Name"), None);
        assert_eq!(get("Trustgate-Xml-Name").as_deref(), Some("INV-1.xml"));
        let metadata = get("Trustgate-Metadata").unwrap();
        assert!(!metadata.contains('\n'));
        let parsed: crate::delivery::DocumentMeta = serde_json::from_str(&metadata).unwrap();
        assert_eq!(parsed, item.meta);
        // Nats-Msg-Id is set per message, not here.
        assert_eq!(get("Nats-Msg-Id"), None);
    }

    #[test]
    fn one_line_values() {
        assert_eq!(one_line("a\r\nb"), "a  b");
    }
}
