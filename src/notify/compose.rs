//! The notice as a message (RFC 3834): sent with `MAIL FROM:<>` (the envelope is the relay
//! side's), `Auto-Submitted: auto-replied`, `In-Reply-To` and `References` set to the refused
//! message's Message-ID, and a text and an HTML part. lettre's builder writes the header fields,
//! encoding what is not ASCII; nothing from the mail reaches a header except through
//! [`super::render`], which makes the subject one line. The original attachments are never
//! sent back.

use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

use super::render::Rendered;
use crate::address::Address;

/// The headers of a notice besides its words.
pub struct Envelope<'a> {
    /// `[notices] from`: who the notice is from (replies to it are not read).
    pub from: &'a Address,
    /// The contact.
    pub to: &'a Address,
    /// The refused message's Message-ID, with its angle brackets, if it had one.
    pub in_reply_to: Option<&'a str>,
    /// Our hostname, for our own Message-ID.
    pub hostname: &'a str,
    /// Our message id, in our own Message-ID.
    pub message_id: &'a str,
}

/// The notice as the bytes of a message.
///
/// # Errors
/// An address lettre refuses, in words.
pub fn compose(
    envelope: &Envelope<'_>,
    words: &Rendered,
    now: SystemTime,
) -> Result<Vec<u8>, String> {
    let mailbox = |a: &Address| -> Result<Mailbox, String> {
        a.to_string()
            .parse::<lettre::Address>()
            .map(|a| Mailbox::new(None, a))
            .map_err(|e| format!("notice address {a}: {e}"))
    };
    let own_id = format!(
        "<notice.{}.{:016x}@{}>",
        envelope
            .message_id
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', ""),
        rand::random::<u64>(),
        envelope.hostname
    );
    let mut builder = Message::builder()
        .from(mailbox(envelope.from)?)
        .to(mailbox(envelope.to)?)
        .subject(words.subject.clone())
        .date(now)
        .message_id(Some(own_id))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-replied".to_string(),
        ));
    // A Message-ID as received may hold anything: only a plain `<id>` is echoed.
    if let Some(original) = envelope.in_reply_to.filter(|id| is_plain_msg_id(id)) {
        builder = builder
            .in_reply_to(original.to_string())
            .references(original.to_string());
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            words.text.clone(),
            words.html.clone(),
        ))
        .map_err(|e| format!("notice cannot be built: {e}"))?;
    Ok(message.formatted())
}

/// `<left@right>` of printable ASCII without spaces, at most 998 octets (one header line).
fn is_plain_msg_id(id: &str) -> bool {
    id.len() <= 998
        && id.starts_with('<')
        && id.ends_with('>')
        && id.contains('@')
        && id[1..id.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::render::render;
    use crate::notify::{Language, Notice, NoticeKind};

    fn notice() -> Notice {
        Notice {
            kind: NoticeKind::Refused,
            language: Language::Nl,
            message_id: "20261203T170000Z-000001".into(),
            received: "Thu, 03 Dec 2026 17:00:00 +0000".into(),
            receiver: "AD64SDE@trust.example.test".into(),
            organisation: "ACME".into(),
            subject: Some(
                "=?utf-8?q?x=0D=0ABcc:_victim@example.org?=\r\nBcc: victim@example.org".into(),
            ),
            files: vec!["INV-1.xml".into()],
            invoice_numbers: vec!["1".into()],
            reply: None,
            rules: Vec::new(),
        }
    }

    #[test]
    fn a_notice_is_an_auto_reply_with_two_parts_and_no_injected_field() {
        let from = Address::parse("noreply@trust.example.test").unwrap();
        let to = Address::parse("billing@supplier.example").unwrap();
        let words = render(&notice()).unwrap();
        let bytes = compose(
            &Envelope {
                from: &from,
                to: &to,
                in_reply_to: Some("<inv-1@supplier.example>"),
                hostname: "mx.trust.example.test",
                message_id: "20261203T170000Z-000001",
            },
            &words,
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(
            parsed.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        assert_eq!(
            parsed.in_reply_to().as_text(),
            Some("inv-1@supplier.example")
        );
        assert_eq!(
            parsed.references().as_text(),
            Some("inv-1@supplier.example")
        );
        assert_eq!(parsed.text_body_count(), 1);
        assert_eq!(parsed.html_body_count(), 1);
        // The subject's CR LF and encoded CR LF stayed inside the Subject.
        assert!(parsed.header("Bcc").is_none(), "{text}");
        let header_end = text.find("\r\n\r\n").unwrap();
        assert!(
            !text[..header_end].to_ascii_lowercase().contains("\r\nbcc:"),
            "{text}"
        );
    }

    #[test]
    fn only_a_plain_message_id_is_echoed() {
        assert!(is_plain_msg_id("<a.b@c>"));
        assert!(!is_plain_msg_id("<a b@c>"));
        assert!(!is_plain_msg_id("<a@c>\r\nBcc: x@y"));
        assert!(!is_plain_msg_id("a@c"));
    }
}
