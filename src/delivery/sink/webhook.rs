//! The webhook sink: one HTTP POST per document, signed as Standard Webhooks prescribes
//! (<https://www.standardwebhooks.com/>, `webhook-id`, `webhook-timestamp`,
//! `webhook-signature`).
//!
//! The worker calls [`WebhookSink`] through the [`Sink`] trait; the sink builds the body from
//! the [`Item`] alone, posts it with one shared `reqwest` client (connection reuse, rustls,
//! redirects off, the sink's timeout) and reads the answer into an [`Outcome`] with the pure
//! [`classify`]. Two body shapes exist ([`WebhookPayload`]): a JSON envelope with the files in
//! base64, described by `docs/webhook.schema.json`, or `multipart/form-data` with the files as
//! file parts. Either way the bytes that are signed are the bytes that are sent: the body is
//! built in memory, multipart included, before it is signed.
//!
//! Never logs and never puts into an [`Outcome`] the secret, the URL's userinfo or query, or
//! the body; a downstream's error body is quoted only as its first 200 bytes, printable ASCII.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use lettre::message::header::{Date, Header as _};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use sha2::Sha256;

use super::{Attempt, Sink};
use crate::delivery::{Item, Outcome};

/// The Standard Webhooks event type of every delivery.
pub const EVENT_TYPE: &str = "invoice.received";

/// The longest wait a `Retry-After` may ask for; longer requests are cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// How much of a non-2xx answer's body is quoted in the error.
const MAX_ERROR_BODY: usize = 200;

/// How much of an answer's body is read at most, so that the connection can go back to the
/// pool; a longer body is dropped with its connection.
const MAX_DRAIN: usize = 64 * 1024;

/// Our `User-Agent`.
const USER_AGENT: &str = concat!("trustgate/", env!("CARGO_PKG_VERSION"));

/// The shape of the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookPayload {
    /// `application/json`: the Standard Webhooks envelope
    /// `{"type","timestamp","data":{metadata…, "xml_base64", "pdf_base64"}}`.
    #[default]
    Json,
    /// `multipart/form-data`: part `metadata` (the same JSON without the base64 fields), file
    /// part `xml` and, when paired, file part `pdf`.
    Multipart,
}

/// What a [`WebhookSink`] needs, mapped from the sink's config by the caller.
#[derive(Clone)]
pub struct WebhookOptions {
    /// The endpoint, `http://` or `https://`. Userinfo in it becomes basic auth.
    pub url: String,
    /// The HMAC key (the raw bytes, i.e. a `whsec_…` secret already base64-decoded); without
    /// one, requests are not signed.
    pub secret: Option<Vec<u8>>,
    /// JSON or multipart.
    pub payload: WebhookPayload,
    /// Limit on one attempt: connect, send, answer.
    pub timeout: Duration,
}

impl fmt::Debug for WebhookOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookOptions")
            .field("url", &redacted_url(&self.url))
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("payload", &self.payload)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Delivers documents to one HTTP endpoint. Cheap to share: one client, one connection pool.
pub struct WebhookSink {
    /// One client per sink, so that connections to the endpoint are reused across attempts.
    client: reqwest::Client,
    /// Parsed once; never logged (it may hold credentials).
    url: reqwest::Url,
    /// The HMAC key, if requests are signed.
    secret: Option<Vec<u8>>,
    /// JSON or multipart.
    payload: WebhookPayload,
    /// For the error text of a timeout.
    timeout: Duration,
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &redacted_url(self.url.as_str()))
            .field("signed", &self.secret.is_some())
            .field("payload", &self.payload)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WebhookSink {
    /// Checks the options and builds the HTTP client (no connection is made yet).
    ///
    /// # Errors
    ///
    /// A URL that does not parse or is not `http`/`https`, a zero timeout, an empty secret, or
    /// a client that cannot be built. The text never contains the URL or the secret.
    pub fn new(opts: WebhookOptions) -> Result<WebhookSink, String> {
        let url = reqwest::Url::parse(&opts.url)
            .map_err(|e| format!("webhook url is not a valid URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("webhook url must start with http:// or https://".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("webhook url has no host".into());
        }
        if opts.timeout.is_zero() {
            return Err("webhook timeout must be more than zero".into());
        }
        if opts.secret.as_ref().is_some_and(Vec::is_empty) {
            return Err("webhook secret is empty".into());
        }
        super::install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| format!("webhook client cannot be built: {}", e.without_url()))?;
        Ok(WebhookSink {
            client,
            url,
            secret: opts.secret,
            payload: opts.payload,
            timeout: opts.timeout,
        })
    }

    /// One POST and its answer.
    async fn attempt(&self, item: &Item) -> Outcome {
        let now = SystemTime::now();
        let unix = unix_seconds(now);
        let timestamp = crate::spool::format_time(now);
        let (content_type, body) = match self.payload {
            WebhookPayload::Json => ("application/json".to_string(), json_body(item, &timestamp)),
            WebhookPayload::Multipart => {
                let metadata = envelope(item, &timestamp, false);
                let (boundary, body) = multipart_body(item, metadata.to_string().as_bytes());
                (format!("multipart/form-data; boundary={boundary}"), body)
            }
        };
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, content_type)
            .header("webhook-id", item.delivery_id.as_str())
            .header("webhook-timestamp", unix.to_string())
            .header("Idempotency-Key", item.delivery_id.as_str());
        if let Some(secret) = &self.secret {
            request = request.header(
                "webhook-signature",
                sign(secret, &item.delivery_id, unix, &body),
            );
        }
        let mut response = match request.body(body).send().await {
            Ok(response) => response,
            Err(err) => return Outcome::retry(transport_error(&err, self.timeout)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let outcome = classify(status, retry_after.as_deref(), SystemTime::now());
        let head = read_head(&mut response).await;
        match outcome {
            Outcome::Delivered { .. } => outcome,
            Outcome::Retry { error, retry_after } => Outcome::Retry {
                error: with_body(error, &head),
                retry_after,
            },
            Outcome::Permanent { error } => Outcome::permanent(with_body(error, &head)),
            Outcome::Defer { .. } => outcome,
        }
    }
}

impl Sink for WebhookSink {
    fn deliver<'a>(&'a self, item: &'a Item) -> Attempt<'a> {
        Box::pin(self.attempt(item))
    }
}

/// The Standard Webhooks signature: `v1,` and the base64 of HMAC-SHA256 over
/// `{id}.{timestamp}.{body}` keyed with `secret`.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail; the fallback keeps this
    // free of a panic path all the same.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Reads an HTTP answer into an [`Outcome`]: 2xx is delivered; 408, 425, 429 and 5xx are
/// retried, after the `Retry-After` the answer gives (delta-seconds or HTTP-date, at most
/// 24 hours, ignored when unreadable); any other 1xx, 3xx or 4xx is permanent. A status outside
/// 100–599 is unknown, and unknown is retried.
pub fn classify(status: u16, retry_after: Option<&str>, now: SystemTime) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered {
            answer: format!("HTTP {status}"),
        },
        408 | 425 | 429 | 500..=599 => Outcome::Retry {
            error: format!("HTTP {status}"),
            retry_after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        100..=199 | 300..=499 => Outcome::permanent(format!("HTTP {status}")),
        _ => Outcome::retry(format!("HTTP {status} (unknown status)")),
    }
}

/// `Retry-After` (RFC 9110 10.2.3): delta-seconds or an HTTP-date, capped at
/// [`MAX_RETRY_AFTER`]; a date in the past means now. `None` for anything else.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits but too large for u64 is still a valid (huge) delay: cap it.
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    // lettre's `Date` wraps the httpdate crate, which reads all three HTTP-date forms of
    // RFC 9110 5.6.7 (IMF-fixdate, RFC 850, asctime). It also takes the mail form ending in
    // `+0000`, which HTTP does not have.
    if value.ends_with("+0000") {
        return None;
    }
    let at = SystemTime::from(Date::parse(value).ok()?);
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// Whole seconds since the epoch (0 before it).
fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The Standard Webhooks envelope: `type`, `timestamp` and `data` = the document's metadata,
/// plus the files in base64 when `with_files`.
fn envelope(item: &Item, timestamp: &str, with_files: bool) -> serde_json::Value {
    let mut data = match serde_json::to_value(&item.meta) {
        Ok(serde_json::Value::Object(map)) => map,
        // DocumentMeta is a plain struct of strings and JSON values: it always serialises to
        // an object. Should that ever change, the receiver still gets the files.
        _ => serde_json::Map::new(),
    };
    if with_files {
        data.insert(
            "xml_base64".into(),
            serde_json::Value::String(BASE64.encode(&item.xml)),
        );
        data.insert(
            "pdf_base64".into(),
            item.pdf.as_ref().map_or(serde_json::Value::Null, |pdf| {
                serde_json::Value::String(BASE64.encode(pdf))
            }),
        );
    }
    serde_json::json!({
        "type": EVENT_TYPE,
        "timestamp": timestamp,
        "data": data,
    })
}

/// The JSON payload's bytes.
fn json_body(item: &Item, timestamp: &str) -> Vec<u8> {
    envelope(item, timestamp, true).to_string().into_bytes()
}

/// A `multipart/form-data` body (RFC 7578): `(boundary, bytes)`. Built in memory, so the bytes
/// that are signed are exactly the bytes that are sent.
fn multipart_body(item: &Item, metadata: &[u8]) -> (String, Vec<u8>) {
    let pdf_name = item
        .meta
        .pdf
        .as_ref()
        .map_or("document.pdf", |f| f.name.as_str());
    let mut parts: Vec<(&str, Option<&str>, &str, &[u8])> = vec![
        ("metadata", None, "application/json", metadata),
        (
            "xml",
            Some(item.meta.xml.name.as_str()),
            "application/xml",
            &item.xml,
        ),
    ];
    if let Some(pdf) = &item.pdf {
        parts.push(("pdf", Some(pdf_name), "application/pdf", pdf));
    }
    // 128 random bits: a collision with the content is as good as impossible, but it is checked
    // all the same, since a boundary inside a part would cut it.
    let boundary = loop {
        let candidate = format!("trustgate-{:032x}", rand::random::<u128>());
        if parts
            .iter()
            .all(|(_, _, _, bytes)| memchr::memmem::find(bytes, candidate.as_bytes()).is_none())
        {
            break candidate;
        }
    };
    let size: usize = parts.iter().map(|p| p.3.len() + 200).sum();
    let mut body = Vec::with_capacity(size);
    for (name, filename, content_type, bytes) in parts {
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(name.as_bytes());
        body.push(b'"');
        if let Some(filename) = filename {
            body.extend_from_slice(b"; filename=\"");
            body.extend_from_slice(escape_filename(filename).as_bytes());
            body.push(b'"');
        }
        body.extend_from_slice(b"\r\nContent-Type: ");
        body.extend_from_slice(content_type.as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--");
    body.extend_from_slice(boundary.as_bytes());
    body.extend_from_slice(b"--\r\n");
    (boundary, body)
}

/// A file name as a quoted `filename` parameter, escaped as browsers do (WHATWG HTML,
/// multipart/form-data encoding): `"` `%22`, CR `%0D`, LF `%0A`. Other control characters
/// become `_` (names are sanitised before they get here; this is the last line).
fn escape_filename(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' => out.push_str("%22"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c if c.is_control() => out.push('_'),
            c => out.push(c),
        }
    }
    out
}

/// The first [`MAX_ERROR_BODY`] bytes of the answer's body; the rest, up to [`MAX_DRAIN`], is
/// read and dropped so that the connection can be reused. Read errors end the read quietly:
/// the status has been read already and decides.
async fn read_head(response: &mut reqwest::Response) -> Vec<u8> {
    let mut head = Vec::new();
    let mut total = 0usize;
    while total < MAX_DRAIN {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ERROR_BODY.saturating_sub(head.len());
                head.extend_from_slice(&chunk[..room.min(chunk.len())]);
                total += chunk.len();
            }
            Ok(None) | Err(_) => break,
        }
    }
    head
}

/// `error` with the quoted start of the answer's body, if there is one.
fn with_body(error: String, head: &[u8]) -> String {
    let quoted = printable(head);
    if quoted.is_empty() {
        error
    } else {
        format!("{error}: {quoted}")
    }
}

/// Bytes as printable ASCII for an error text: whitespace runs become one space, anything
/// else outside `0x21..=0x7e` becomes `?`.
fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut space = false;
    for &b in bytes {
        if b.is_ascii_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(if b.is_ascii_graphic() {
            char::from(b)
        } else {
            '?'
        });
    }
    out
}

/// A short text for a request that got no answer: a timeout, or why the connection failed.
/// reqwest's own message names the URL, so only its sources are quoted.
fn transport_error(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!(
            "webhook timed out after {}",
            humantime::format_duration(timeout)
        );
    }
    let what = if err.is_connect() {
        "webhook connection failed"
    } else if err.is_body() || err.is_request() {
        "webhook request failed"
    } else {
        "webhook error"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let mut text = what.to_string();
    // The innermost causes say the most (e.g. "Connection refused"); keep the last three.
    for cause in causes.iter().skip(causes.len().saturating_sub(3)) {
        text.push_str(": ");
        text.push_str(cause);
    }
    let mut text = printable(text.as_bytes());
    if text.len() > 300 {
        text.truncate(300);
    }
    text
}

/// The URL with userinfo and query removed, for `Debug`.
fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => "<invalid url>".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use serde_json::{Value, json};

    use super::*;
    use crate::delivery::payload::FileMeta;
    use crate::delivery::{DocumentMeta, Item, Outcome};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn item(pdf: bool) -> Item {
        Item {
            delivery_id: "20261122T101530Z-000001-0.erp".into(),
            attempt: 1,
            meta: DocumentMeta {
                gateway: "mx1.trust.example.test".into(),
                document_id: "20261122T101530Z-000001-0".into(),
                message_id: "20261122T101530Z-000001".into(),
                index: 0,
                receiver: "AD64SDE@trust.example.test".into(),
                organisation: "acme".into(),
                envelope_sender: "invoices@supplier.example".into(),
                header_from: Some("invoices@supplier.example".into()),
                tls: None,
                auth: None,
                notice: None,
                header_message_id: None,
                received_at: "2026-11-22T10:15:30.123Z".into(),
                format: "ubl-invoice".into(),
                specification: Some("si-ubl-2.0".into()),
                invoice_number: Some("INV-1".into()),
                inspection: json!({
                    "syntax": "ubl-invoice",
                    "specification": "si-ubl-2.0",
                    "invoice_number": "INV-1",
                    "currency": "EUR",
                    "seller": {"name": "Supplier BV", "identifiers": [], "legal_id": {"value": "12345678", "scheme": "0106"}},
                    "buyer": {"name": "Acme", "identifiers": []},
                    "totals": {"payable": "121.00"},
                    "payment_accounts": ["NL91ABNA0417164300"],
                    "findings": [{"rule_id": "BR-NL-10", "severity": "warning", "message": "[BR-NL-10] x"}]
                }),
                xml: FileMeta {
                    name: "INV-1.xml".into(),
                    size: 5,
                    sha256: Some("ab".repeat(32)),
                    content_type: "application/xml".into(),
                    archive: None,
                },
                pdf: pdf.then(|| FileMeta {
                    name: "INV-1.pdf".into(),
                    size: 6,
                    sha256: None,
                    content_type: "application/pdf".into(),
                    archive: None,
                }),
            },
            xml: b"<x/>\n".to_vec(),
            pdf: pdf.then(|| b"%PDF\x00\xff".to_vec()),
            raw: None,
        }
    }

    /// Standard Webhooks' own example (the spec and its reference libraries' tests).
    #[test]
    fn sign_matches_the_standard_webhooks_test_vector() {
        let secret = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn sign_depends_on_every_input() {
        let base = sign(b"k", "id", 1, b"body");
        assert_ne!(base, sign(b"K", "id", 1, b"body"));
        assert_ne!(base, sign(b"k", "iD", 1, b"body"));
        assert_ne!(base, sign(b"k", "id", 2, b"body"));
        assert_ne!(base, sign(b"k", "id", 1, b"bodY"));
    }

    #[test]
    fn classify_2xx_is_delivered() {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(
                classify(status, None, at(0)),
                Outcome::Delivered {
                    answer: format!("HTTP {status}")
                }
            );
        }
    }

    #[test]
    fn classify_retryable_statuses() {
        for status in [408, 425, 429, 500, 502, 503, 504, 599] {
            assert!(
                matches!(
                    classify(status, None, at(0)),
                    Outcome::Retry {
                        retry_after: None,
                        ..
                    }
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn classify_other_statuses_are_permanent() {
        for status in [
            100, 101, 301, 302, 304, 307, 400, 401, 403, 404, 409, 410, 413, 422,
        ] {
            assert!(
                matches!(classify(status, None, at(0)), Outcome::Permanent { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn classify_unknown_status_is_retried() {
        assert!(matches!(classify(0, None, at(0)), Outcome::Retry { .. }));
        assert!(matches!(classify(600, None, at(0)), Outcome::Retry { .. }));
    }

    fn wait(status: u16, header: &str, now: SystemTime) -> Option<Duration> {
        match classify(status, Some(header), now) {
            Outcome::Retry { retry_after, .. } => retry_after,
            other => panic!("not a retry: {other:?}"),
        }
    }

    #[test]
    fn retry_after_delta_seconds() {
        assert_eq!(wait(429, "7", at(0)), Some(Duration::from_secs(7)));
        assert_eq!(wait(503, " 120 ", at(0)), Some(Duration::from_secs(120)));
        assert_eq!(wait(503, "0", at(0)), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_is_capped_at_a_day() {
        assert_eq!(wait(503, "90000", at(0)), Some(MAX_RETRY_AFTER));
        assert_eq!(
            wait(503, "99999999999999999999999", at(0)),
            Some(MAX_RETRY_AFTER)
        );
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777; ask from two days before.
        assert_eq!(
            wait(
                503,
                "Sun, 06 Nov 1994 08:49:37 GMT",
                at(784_111_777 - 2 * 86_400)
            ),
            Some(MAX_RETRY_AFTER)
        );
    }

    /// RFC 9110 5.6.7: all three forms of the same instant.
    #[test]
    fn retry_after_http_date_in_all_three_forms() {
        let now = at(784_111_777 - 90);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                wait(503, form, now),
                Some(Duration::from_secs(90)),
                "{form}"
            );
        }
    }

    #[test]
    fn retry_after_date_in_the_past_means_now() {
        assert_eq!(
            wait(503, "Sun, 06 Nov 1994 08:49:37 GMT", at(784_111_777 + 5)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        for garbage in [
            "",
            "soon",
            "-5",
            "1.5",
            "7s",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "\u{0}",
        ] {
            assert_eq!(wait(503, garbage, at(0)), None, "{garbage:?}");
        }
    }

    #[test]
    fn retry_after_on_a_permanent_status_changes_nothing() {
        assert!(matches!(
            classify(410, Some("7"), at(0)),
            Outcome::Permanent { .. }
        ));
    }

    #[test]
    fn printable_quotes_bodies_safely() {
        assert_eq!(printable(b"  bad\r\n\trequest\x00\xff "), "bad request??");
        assert_eq!(printable(b""), "");
    }

    #[test]
    fn with_body_quotes_only_when_there_is_a_body() {
        assert_eq!(with_body("HTTP 500".into(), b""), "HTTP 500");
        assert_eq!(with_body("HTTP 500".into(), b"oops\n"), "HTTP 500: oops");
    }

    #[test]
    fn escape_filename_cannot_break_the_part_header() {
        assert_eq!(escape_filename("a\"b\r\nc\u{7}.xml"), "a%22b%0D%0Ac_.xml");
        assert_eq!(escape_filename("Rechnung-ä.xml"), "Rechnung-ä.xml");
    }

    #[test]
    fn redacted_url_drops_credentials_and_query() {
        let shown = redacted_url("https://user:hunter2@hooks.example/in?token=s3cret#x");
        assert_eq!(shown, "https://hooks.example/in");
        let opts = WebhookOptions {
            url: "https://user:hunter2@hooks.example/in?token=s3cret".into(),
            secret: Some(b"topsecret".to_vec()),
            payload: WebhookPayload::Json,
            timeout: Duration::from_secs(1),
        };
        let debug = format!("{opts:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("s3cret"));
        assert!(!debug.contains("topsecret"), "{debug}");
    }

    #[test]
    fn new_refuses_bad_options_without_echoing_them() {
        let opts = |url: &str, secret: Option<&[u8]>, timeout: u64| WebhookOptions {
            url: url.into(),
            secret: secret.map(<[u8]>::to_vec),
            payload: WebhookPayload::Json,
            timeout: Duration::from_secs(timeout),
        };
        for (bad, what) in [
            (opts("ftp://u:hunter2@h/", None, 5), "http"),
            (opts("not a url hunter2", None, 5), "valid"),
            (opts("https://h/", None, 0), "timeout"),
            (opts("https://h/", Some(b""), 5), "secret"),
        ] {
            let err = WebhookSink::new(bad).unwrap_err();
            assert!(err.contains(what), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        assert!(WebhookSink::new(opts("https://u:p@h.example/x?y", Some(b"k"), 5)).is_ok());
    }

    #[test]
    fn json_body_has_the_envelope_and_the_files() {
        let item = item(true);
        let body: Value =
            serde_json::from_slice(&json_body(&item, "2026-11-22T10:15:31.000Z")).unwrap();
        assert_eq!(body["type"], "invoice.received");
        assert_eq!(body["timestamp"], "2026-11-22T10:15:31.000Z");
        let data = &body["data"];
        assert_eq!(data["document_id"], "20261122T101530Z-000001-0");
        assert_eq!(
            BASE64.decode(data["xml_base64"].as_str().unwrap()).unwrap(),
            item.xml
        );
        assert_eq!(
            BASE64.decode(data["pdf_base64"].as_str().unwrap()).unwrap(),
            *item.pdf.as_ref().unwrap()
        );
        let without = envelope(&item, "t", false);
        assert!(without["data"].get("xml_base64").is_none());
        assert!(without["data"].get("pdf_base64").is_none());
    }

    #[test]
    fn json_body_without_pdf_has_null() {
        let body: Value = serde_json::from_slice(&json_body(&item(false), "t")).unwrap();
        assert_eq!(body["data"]["pdf_base64"], Value::Null);
        assert_eq!(body["data"]["pdf"], Value::Null);
    }

    #[test]
    fn multipart_body_frames_every_part() {
        let (boundary, body) = multipart_body(&item(true), b"{}");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
        assert_eq!(text.matches(&format!("--{boundary}\r\n")).count(), 3);
        assert!(text.contains("name=\"xml\"; filename=\"INV-1.xml\"\r\nContent-Type: application/xml\r\n\r\n<x/>\n\r\n"));
        let pdf_head = b"name=\"pdf\"; filename=\"INV-1.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\x00\xff\r\n";
        assert!(memchr::memmem::find(&body, pdf_head).is_some());
        let (_, without_pdf) = multipart_body(&item(false), b"{}");
        assert!(memchr::memmem::find(&without_pdf, b"name=\"pdf\"").is_none());
    }

    // --- docs/webhook.schema.json -------------------------------------------------------

    const SCHEMA: &str = include_str!("../../../docs/webhook.schema.json");

    /// A small validator for the subset of JSON Schema 2020-12 the document uses: `$ref` to
    /// `#/$defs/…`, `type`, `const`, `enum`, `required`, `properties`,
    /// `additionalProperties: false`, `items`, `anyOf`. Returns every violation with its path.
    fn validate(schema: &Value, root: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let target = reference
                .strip_prefix('#')
                .and_then(|pointer| root.pointer(pointer))
                .unwrap_or_else(|| panic!("unresolvable $ref {reference}"));
            validate(target, root, value, path, errors);
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                other => panic!("bad type {other}"),
            };
            let actual = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
            if !ok {
                errors.push(format!("{path}: {actual} is not {types:?}"));
                return;
            }
        }
        if let Some(expected) = schema.get("const")
            && expected != value
        {
            errors.push(format!("{path}: {value} is not {expected}"));
        }
        if let Some(Value::Array(options)) = schema.get("enum")
            && !options.contains(value)
        {
            errors.push(format!("{path}: {value} is not one of {options:?}"));
        }
        if let Some(Value::Array(options)) = schema.get("anyOf") {
            let fits = options.iter().any(|option| {
                let mut inner = Vec::new();
                validate(option, root, value, path, &mut inner);
                inner.is_empty()
            });
            if !fits {
                errors.push(format!("{path}: {value} fits none of anyOf"));
            }
        }
        if let Value::Object(object) = value {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(Value::Array(required)) = schema.get("required") {
                for key in required.iter().filter_map(Value::as_str) {
                    if !object.contains_key(key) {
                        errors.push(format!("{path}: required key {key} missing"));
                    }
                }
            }
            for (key, child) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(child_schema) => {
                        validate(child_schema, root, child, &format!("{path}/{key}"), errors)
                    }
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        errors.push(format!("{path}: key {key} is not in the schema"));
                    }
                    None => {}
                }
            }
        }
        if let (Value::Array(elements), Some(items)) = (value, schema.get("items")) {
            for (i, element) in elements.iter().enumerate() {
                validate(items, root, element, &format!("{path}/{i}"), errors);
            }
        }
    }

    fn violations(body: &Value) -> Vec<String> {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let mut errors = Vec::new();
        validate(&schema, &schema, body, "", &mut errors);
        errors
    }

    #[test]
    fn schema_is_2020_12_and_lists_every_data_key() {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["properties"]["type"]["const"], EVENT_TYPE);
        // Every key we send is required: the body has no optional top-level data keys.
        let body: Value = serde_json::from_slice(&json_body(&item(true), "t")).unwrap();
        let mut sent: Vec<&str> = body["data"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut required: Vec<&str> = schema["properties"]["data"]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        sent.sort_unstable();
        required.sort_unstable();
        assert_eq!(sent, required);
    }

    #[test]
    fn generated_bodies_validate_against_the_schema() {
        for pdf in [true, false] {
            let body: Value =
                serde_json::from_slice(&json_body(&item(pdf), "2026-11-22T10:15:31.000Z")).unwrap();
            assert_eq!(violations(&body), Vec::<String>::new(), "pdf={pdf}");
        }
        let mut bare = item(false);
        bare.meta.inspection = Value::Null;
        bare.meta.xml.sha256 = None;
        let body: Value = serde_json::from_slice(&json_body(&bare, "t")).unwrap();
        assert_eq!(violations(&body), Vec::<String>::new());
    }

    /// The validator (and the schema's lists) can fail: a missing required key, a key the
    /// schema does not know, a wrong type.
    #[test]
    fn schema_check_catches_drift() {
        let good: Value = serde_json::from_slice(&json_body(&item(true), "t")).unwrap();

        let mut missing = good.clone();
        missing["data"].as_object_mut().unwrap().remove("receiver");
        assert!(violations(&missing).iter().any(|e| e.contains("receiver")));

        let mut extra = good.clone();
        extra["data"]["surprise"] = json!(1);
        assert!(violations(&extra).iter().any(|e| e.contains("surprise")));

        let mut file = good.clone();
        file["data"]["xml"].as_object_mut().unwrap().remove("size");
        assert!(violations(&file).iter().any(|e| e.contains("size")));

        let mut wrong = good;
        wrong["data"]["index"] = json!("0");
        assert!(violations(&wrong).iter().any(|e| e.contains("/data/index")));
    }
}
