//! The SMTP sink: hands each document (or each message as received) to a relay for one fixed
//! recipient, through lettre's pooled `AsyncSmtpTransport`.
//!
//! Two modes ([`SmtpMode`]):
//! - **Original** forwards the message exactly as it was received, with one `Received:` trace
//!   line prepended (RFC 5321 4.4) and every other byte unchanged, so the sender's DKIM
//!   signature still verifies downstream.
//! - **Document** writes a fresh message per document: a short text part, the XML and the PDF
//!   as base64 attachments (bytes unchanged), and `Trustgate-Document-Id`.
//!
//! The relay's reply decides: 2xx is delivered (the reply is the answer), 4xx and every
//! connection, TLS or timeout failure is retried, 5xx is permanent. The relay password and the
//! message are never logged and never appear in an [`Outcome`].
//!
//! lettre's pool spawns its housekeeping on the Tokio runtime, so the transport is built on
//! the first attempt (inside the runtime) rather than in [`SmtpSink::new`]; once it has
//! delivered, a sink must be dropped inside the runtime too.

use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use lettre::address::{Address, Envelope};
use lettre::message::header::{
    ContentTransferEncoding, ContentType, Date, HeaderName, HeaderValue, Headers,
};
use lettre::message::{Attachment, Body, Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::{AsyncSmtpTransport, AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncTransport, Tokio1Executor};

use super::{Attempt, Sink};
use crate::delivery::{Item, Outcome};

/// How much of the relay's reply is kept as the answer.
const MAX_ANSWER: usize = 200;

/// How much of an error text is kept.
const MAX_ERROR: usize = 300;

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelayTls {
    /// Plain connect, then `STARTTLS`, required (RFC 3207); usually port 587.
    #[default]
    StartTls,
    /// TLS from the first byte (RFC 8314); usually port 465.
    Implicit,
    /// No TLS at all: only for a relay on loopback or a trusted private network. Credentials
    /// are refused unless the relay is on loopback.
    None,
}

/// The relay that an SMTP sink sends through (shared by the SMTP sinks that use it; each sink
/// still keeps its own connection pool).
#[derive(Clone)]
pub struct RelayOptions {
    /// Host name (also the name its TLS certificate must carry) or IP address.
    pub host: String,
    /// Port, e.g. 587 for STARTTLS, 465 for implicit TLS, 25.
    pub port: u16,
    /// How the connection is secured.
    pub tls: RelayTls,
    /// User name and password for `AUTH`, if the relay wants them. The password must be
    /// UTF-8 (lettre's `AUTH PLAIN`/`LOGIN` send text).
    pub credentials: Option<(String, Vec<u8>)>,
    /// The envelope sender (MAIL FROM) and, in document mode, the From header. Empty means the
    /// null sender, which only original mode may use.
    pub mail_from: String,
    /// Limit on each command's answer (connect, TLS, every SMTP command).
    pub timeout: Duration,
    /// Our name in EHLO and in the `Received:` line.
    pub hostname: String,
}

impl fmt::Debug for RelayOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(user, _)| (user, "<redacted>")),
            )
            .field("mail_from", &self.mail_from)
            .field("timeout", &self.timeout)
            .field("hostname", &self.hostname)
            .finish()
    }
}

/// What an SMTP sink sends where.
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    /// The one recipient (RCPT TO and, in document mode, the To header).
    pub to: String,
    /// Forward the message as received, or write one message per document.
    pub mode: SmtpMode,
}

/// What an SMTP sink sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpMode {
    /// One fresh message per document, with the XML and PDF attached.
    #[default]
    Document,
    /// The message as received, with a `Received:` line prepended; one per message.
    Original,
}

/// Delivers documents or messages to one recipient through one relay.
pub struct SmtpSink {
    /// Everything needed to build the transport; kept for the first attempt.
    builder: AsyncSmtpTransportBuilder,
    /// Built once, on the first attempt, and reused: its pool keeps connections open.
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    /// MAIL FROM (None = null sender) to RCPT TO.
    envelope: Envelope,
    /// The From header of document-mode messages.
    from: Option<Mailbox>,
    /// The recipient.
    to: Address,
    /// What is sent.
    mode: SmtpMode,
    /// Our name, for the `Received:` line and Message-IDs.
    hostname: String,
}

impl fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSink")
            .field("to", &self.to)
            .field("mode", &self.mode)
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

impl SmtpSink {
    /// Checks the options and prepares the transport; no connection is made until the first
    /// attempt.
    ///
    /// # Errors
    ///
    /// An empty host, port 0 or zero timeout, an EHLO name that is not a host name, an address
    /// that does not parse, the null sender in document mode, credentials over an unencrypted
    /// connection to a relay not on loopback, a password that is not UTF-8, or TLS settings
    /// that cannot be built. The text never contains the password.
    pub fn new(relay: &RelayOptions, opts: SmtpOptions) -> Result<SmtpSink, String> {
        if relay.host.trim().is_empty() {
            return Err("smtp relay host is empty".into());
        }
        if relay.port == 0 {
            return Err("smtp relay port must not be 0".into());
        }
        if relay.timeout.is_zero() {
            return Err("smtp relay timeout must be more than zero".into());
        }
        if !is_hostname(&relay.hostname) {
            return Err(format!(
                "smtp hostname {:?} is not a host name (letters, digits, '-' and '.')",
                relay.hostname
            ));
        }
        let to: Address = opts
            .to
            .parse()
            .map_err(|e| format!("smtp recipient {:?} is not an address: {e}", opts.to))?;
        let from: Option<Address> = if relay.mail_from.is_empty() {
            None
        } else {
            Some(relay.mail_from.parse().map_err(|e| {
                format!(
                    "smtp mail_from {:?} is not an address: {e}",
                    relay.mail_from
                )
            })?)
        };
        if from.is_none() && opts.mode == SmtpMode::Document {
            return Err(
                "smtp mail_from must be an address in document mode (it is the From header)".into(),
            );
        }
        let envelope = Envelope::new(from.clone(), vec![to.clone()])
            .map_err(|e| format!("smtp envelope: {e}"))?;

        super::install_crypto_provider();
        let tls = match relay.tls {
            RelayTls::None => Tls::None,
            RelayTls::StartTls => Tls::Required(tls_parameters(&relay.host)?),
            RelayTls::Implicit => Tls::Wrapper(tls_parameters(&relay.host)?),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(relay.host.trim())
                .port(relay.port)
                .tls(tls)
                .timeout(Some(relay.timeout))
                .hello_name(ClientId::Domain(relay.hostname.clone()))
                .pool_config(PoolConfig::new());
        if let Some((user, password)) = &relay.credentials {
            if relay.tls == RelayTls::None && !is_loopback(&relay.host) {
                return Err(
                    "smtp relay credentials are refused over an unencrypted connection; use tls = starttls or implicit"
                        .into(),
                );
            }
            let password = String::from_utf8(password.clone())
                .map_err(|_| "smtp relay password is not valid UTF-8".to_string())?;
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(SmtpSink {
            builder,
            transport: OnceLock::new(),
            envelope,
            from: from.map(|address| Mailbox::new(None, address)),
            to,
            mode: opts.mode,
            hostname: relay.hostname.clone(),
        })
    }

    /// One transaction with the relay.
    async fn attempt(&self, item: &Item) -> Outcome {
        let now = SystemTime::now();
        let message = match self.mode {
            SmtpMode::Original => match &item.raw {
                Some(raw) => self.traced(raw, now),
                // The worker loads the raw message for sinks that need it; without it there is
                // nothing to send yet. Internal, so transient.
                None => return Outcome::retry("the message as received was not loaded"),
            },
            SmtpMode::Document => match self.document(item, now) {
                Ok(message) => message,
                Err(error) => return Outcome::retry(error),
            },
        };
        let transport = self
            .transport
            .get_or_init(|| self.builder.clone().build::<Tokio1Executor>());
        match transport.send_raw(&self.envelope, data(&message)).await {
            Ok(response) => Outcome::Delivered {
                answer: reply_text(&response),
            },
            Err(err) => classify_error(&err),
        }
    }

    /// The message as received with our trace line on top.
    fn traced(&self, raw: &[u8], now: SystemTime) -> Vec<u8> {
        let line = received_line(&self.hostname, &self.to, now);
        let mut message = Vec::with_capacity(line.len() + raw.len());
        message.extend_from_slice(line.as_bytes());
        message.extend_from_slice(raw);
        message
    }

    /// A fresh message for one document.
    fn document(&self, item: &Item, now: SystemTime) -> Result<Vec<u8>, String> {
        let meta = &item.meta;
        let from = self
            .from
            .clone()
            .ok_or_else(|| "document mode needs a sender address".to_string())?;
        let supplier = meta
            .inspection
            .pointer("/seller/name")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown supplier");
        let number = meta.invoice_number.as_deref().unwrap_or("without number");
        let subject = one_line(&format!("Invoice {number} from {supplier}"));

        let mut files = meta.xml.name.clone();
        if let Some(pdf) = &meta.pdf {
            files.push_str(", ");
            files.push_str(&pdf.name);
        }
        let text = format!(
            "trustgate received an e-invoice: {summary}.\n\n\
             Receiver:     {receiver}\n\
             Organisation: {organisation}\n\
             Document:     {document}\n\
             Files:        {files}\n",
            summary = meta.summary(),
            receiver = meta.receiver,
            organisation = meta.organisation,
            document = meta.document_id,
        );

        let mut parts = MultiPart::mixed()
            .singlepart(SinglePart::plain(text))
            .singlepart(attachment(&meta.xml.name, &item.xml, "application/xml")?);
        if let Some(pdf) = &item.pdf {
            let name = meta
                .pdf
                .as_ref()
                .map_or("document.pdf", |f| f.name.as_str());
            parts = parts.singlepart(attachment(name, pdf, "application/pdf")?);
        }
        let message_id = format!(
            "<{:032x}.{}@{}>",
            rand::random::<u128>(),
            meta.document_id,
            self.hostname
        );
        let message: Message = Message::builder()
            .from(from)
            .to(Mailbox::new(None, self.to.clone()))
            .subject(subject)
            .date(now)
            .message_id(Some(message_id))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Trustgate-Document-Id"),
                one_line(&meta.document_id),
            ))
            .multipart(parts)
            .map_err(|e| format!("document message cannot be built: {e}"))?;
        Ok(message.formatted())
    }
}

impl SmtpSink {
    /// Sends `message` to `to` with the null reverse path (`MAIL FROM:<>`, RFC 3834 for
    /// automatic replies), over this sink's relay connection pool.
    pub(crate) async fn send_null_sender(&self, to: &str, message: &[u8]) -> Outcome {
        let to: Address = match to.parse() {
            Ok(to) => to,
            Err(e) => return Outcome::permanent(format!("notice recipient {to:?}: {e}")),
        };
        let envelope = match Envelope::new(None, vec![to]) {
            Ok(envelope) => envelope,
            Err(e) => return Outcome::permanent(format!("notice envelope: {e}")),
        };
        let transport = self
            .transport
            .get_or_init(|| self.builder.clone().build::<Tokio1Executor>());
        match transport.send_raw(&envelope, message).await {
            Ok(response) => Outcome::Delivered {
                answer: reply_text(&response),
            },
            Err(err) => classify_error(&err),
        }
    }

    /// Our hostname.
    pub(crate) fn hostname(&self) -> &str {
        &self.hostname
    }
}

impl Sink for SmtpSink {
    fn needs_raw(&self) -> bool {
        self.mode == SmtpMode::Original
    }

    fn deliver<'a>(&'a self, item: &'a Item) -> Attempt<'a> {
        Box::pin(self.attempt(item))
    }
}

/// rustls parameters that verify the relay's certificate for `host`.
fn tls_parameters(host: &str) -> Result<TlsParameters, String> {
    TlsParameters::new_rustls(host.trim().to_string())
        .map_err(|e| format!("smtp relay TLS settings: {e}"))
}

/// An attachment whose bytes survive unchanged: base64, never line-ending conversion (a
/// `Vec<u8>` body is binary to lettre).
fn attachment(name: &str, bytes: &[u8], content_type: &str) -> Result<SinglePart, String> {
    let content_type = ContentType::parse(content_type)
        .map_err(|e| format!("content type {content_type}: {e}"))?;
    let body = Body::new_with_encoding(bytes.to_vec(), ContentTransferEncoding::Base64)
        .map_err(|_| "attachment cannot be base64-encoded".to_string())?;
    Ok(Attachment::new(one_line(name)).body(body, content_type))
}

/// Our trace line (RFC 5321 4.4, RFC 5322 3.6.7): `Received: by <hostname> (trustgate) for
/// <to>; <date>` and CRLF.
fn received_line(hostname: &str, to: &Address, now: SystemTime) -> String {
    let mut headers = Headers::new();
    headers.set(Date::new(now));
    let date = headers.get_raw("Date").unwrap_or_default().to_string();
    format!("Received: by {hostname} (trustgate) for <{to}>; {date}\r\n")
}

/// What goes between DATA and the final dot. lettre always ends the data with CRLF `.` CRLF,
/// and that first CRLF ends the message's last line (RFC 5321 4.1.1.4); a message that already
/// ends with CRLF would otherwise gain an empty line.
fn data(message: &[u8]) -> &[u8] {
    message.strip_suffix(b"\r\n").unwrap_or(message)
}

/// The relay's reply as the answer: code and text, printable, at most 200 bytes.
fn reply_text(response: &Response) -> String {
    let mut text = response.code().to_string();
    for line in response.message() {
        text.push(' ');
        text.push_str(line);
    }
    limit(printable(&text), MAX_ANSWER)
}

/// 5xx is permanent; 4xx, connection, TLS, timeout and anything unknown is retried.
fn classify_error(err: &lettre::transport::smtp::Error) -> Outcome {
    let text = limit(printable(&format!("relay: {err}")), MAX_ERROR);
    if err.is_permanent() {
        Outcome::permanent(text)
    } else {
        Outcome::retry(text)
    }
}

/// Text as printable ASCII: whitespace runs become one space, anything else outside
/// `0x21..=0x7e` becomes `?`.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(if c.is_ascii_graphic() { c } else { '?' });
    }
    out
}

/// ASCII `text` cut to `max` bytes.
fn limit(mut text: String, max: usize) -> String {
    if text.len() > max {
        // `printable` leaves only ASCII, so every index is a char boundary.
        text.truncate(max);
    }
    text
}

/// A header value on one line: control characters become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A name for EHLO and the trace line: a host name (letters, digits, `-`, `.`) or an address
/// literal in brackets.
fn is_hostname(name: &str) -> bool {
    if let Some(literal) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        let literal = literal.strip_prefix("IPv6:").unwrap_or(literal);
        return literal.parse::<IpAddr>().is_ok();
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Whether the relay is on this machine, where a plain connection never leaves it.
fn is_loopback(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn relay() -> RelayOptions {
        RelayOptions {
            host: "127.0.0.1".into(),
            port: 2525,
            tls: RelayTls::None,
            credentials: None,
            mail_from: "gateway@trust.example.test".into(),
            timeout: Duration::from_secs(5),
            hostname: "gw.trust.example.test".into(),
        }
    }

    fn opts(mode: SmtpMode) -> SmtpOptions {
        SmtpOptions {
            to: "ap@acme.example".into(),
            mode,
        }
    }

    #[test]
    fn received_line_has_the_rfc_5322_date() {
        let to: Address = "ap@acme.example".parse().unwrap();
        let line = received_line(
            "gw.example",
            &to,
            UNIX_EPOCH + Duration::from_secs(784_111_777),
        );
        assert_eq!(
            line,
            "Received: by gw.example (trustgate) for <ap@acme.example>; Sun, 06 Nov 1994 08:49:37 +0000\r\n"
        );
    }

    #[test]
    fn data_drops_only_one_final_crlf() {
        assert_eq!(data(b"a\r\nb\r\n"), b"a\r\nb");
        assert_eq!(data(b"a\r\nb\r\n\r\n"), b"a\r\nb\r\n");
        assert_eq!(data(b"a\r\nb"), b"a\r\nb");
    }

    #[test]
    fn needs_raw_only_in_original_mode() {
        assert!(
            SmtpSink::new(&relay(), opts(SmtpMode::Original))
                .unwrap()
                .needs_raw()
        );
        assert!(
            !SmtpSink::new(&relay(), opts(SmtpMode::Document))
                .unwrap()
                .needs_raw()
        );
    }

    #[test]
    fn new_checks_the_options() {
        let mut r = relay();
        r.hostname = "bad name\r\nX-Injected: 1".into();
        assert!(
            SmtpSink::new(&r, opts(SmtpMode::Document))
                .unwrap_err()
                .contains("hostname")
        );

        let mut r = relay();
        r.mail_from = String::new();
        assert!(
            SmtpSink::new(&r, opts(SmtpMode::Document))
                .unwrap_err()
                .contains("mail_from")
        );
        assert!(SmtpSink::new(&r, opts(SmtpMode::Original)).is_ok());

        let mut o = opts(SmtpMode::Document);
        o.to = "not an address".into();
        assert!(
            SmtpSink::new(&relay(), o)
                .unwrap_err()
                .contains("recipient")
        );

        let mut r = relay();
        r.port = 0;
        assert!(SmtpSink::new(&r, opts(SmtpMode::Document)).is_err());
    }

    #[test]
    fn credentials_need_tls_unless_on_loopback() {
        let mut r = relay();
        r.credentials = Some(("user".into(), b"hunter2".to_vec()));
        assert!(SmtpSink::new(&r, opts(SmtpMode::Document)).is_ok());

        r.host = "relay.example".into();
        let err = SmtpSink::new(&r, opts(SmtpMode::Document)).unwrap_err();
        assert!(
            err.contains("unencrypted") && !err.contains("hunter2"),
            "{err}"
        );

        r.tls = RelayTls::StartTls;
        assert!(SmtpSink::new(&r, opts(SmtpMode::Document)).is_ok());

        r.credentials = Some(("user".into(), vec![0xff, 0xfe]));
        let err = SmtpSink::new(&r, opts(SmtpMode::Document)).unwrap_err();
        assert!(err.contains("UTF-8"), "{err}");

        let debug = format!("{r:?}");
        assert!(
            !debug.contains("255") && debug.contains("<redacted>"),
            "{debug}"
        );
    }

    #[test]
    fn hostnames_and_loopback() {
        assert!(is_hostname("gw.trust.example.test"));
        assert!(is_hostname("localhost"));
        assert!(is_hostname("[127.0.0.1]"));
        assert!(is_hostname("[IPv6:::1]"));
        assert!(!is_hostname(""));
        assert!(!is_hostname("a..b"));
        assert!(!is_hostname("a b"));
        assert!(!is_hostname("(trustgate)"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("127.0.0.2"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("relay.example"));
        assert!(!is_loopback("10.0.0.1"));
    }

    #[test]
    fn printable_and_limit() {
        assert_eq!(printable(" 250 2.0.0\r\n Ok: é "), "250 2.0.0 Ok: ?");
        assert_eq!(limit("x".repeat(300), 200).len(), 200);
        assert_eq!(one_line("a\r\nb"), "a  b");
    }
}
