//! A notice, a digest or an invitation as a message (RFC 3834). A notice is an automatic
//! reply: `Auto-Submitted: auto-replied`, `In-Reply-To` and `References` set to the refused
//! message's Message-ID. A digest answers several messages at once: `auto-replied`, with no
//! `In-Reply-To`. An invitation answers nothing: `Auto-Submitted: auto-generated`, never an
//! `In-Reply-To`. Each has a text and an HTML part; the envelope (`MAIL FROM:<>`) is the relay
//! side's. lettre's builder writes the header fields, encoding what is not ASCII; nothing from
//! the mail or the config reaches a header except through [`super::render`], which makes the
//! subject one line. The original attachments are never sent back.

use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

use super::render::Words;
use crate::address::Address;

/// What the message is, for `Auto-Submitted`, `In-Reply-To` and our Message-ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A notice about one message: a reply to it.
    Notice,
    /// The notices past a rate cap, in one message: a reply to several, so to none of them.
    Digest,
    /// An invitation: not a reply.
    Invitation,
}

impl Purpose {
    /// The `Auto-Submitted` value (RFC 3834 5).
    fn auto_submitted(self) -> &'static str {
        match self {
            Purpose::Notice | Purpose::Digest => "auto-replied",
            Purpose::Invitation => "auto-generated",
        }
    }

    /// The first word of our Message-ID.
    fn id_prefix(self) -> &'static str {
        match self {
            Purpose::Notice => "notice",
            Purpose::Digest => "digest",
            Purpose::Invitation => "invitation",
        }
    }
}

/// A composed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The message, ready for DATA.
    pub bytes: Vec<u8>,
    /// Its Message-ID, with angle brackets: what a delivery's answer names it by.
    pub message_id: String,
}

/// The headers of a message besides its words.
pub struct Envelope<'a> {
    /// What it is.
    pub purpose: Purpose,
    /// `[notices] from`: who the notice is from (replies to it are not read).
    pub from: &'a Address,
    /// The contact.
    pub to: &'a Address,
    /// The refused message's Message-ID, with its angle brackets, if it had one (a notice
    /// only: ignored for a digest or an invitation).
    pub in_reply_to: Option<&'a str>,
    /// Our hostname, for our own Message-ID.
    pub hostname: &'a str,
    /// Our message id, in our own Message-ID (may be empty).
    pub message_id: &'a str,
}

/// The message, with a fresh Message-ID of ours.
///
/// # Errors
/// An address lettre refuses, in words.
pub fn compose(
    envelope: &Envelope<'_>,
    words: &Words,
    now: SystemTime,
) -> Result<Composed, String> {
    let mailbox = |a: &Address| -> Result<Mailbox, String> {
        a.to_string()
            .parse::<lettre::Address>()
            .map(|a| Mailbox::new(None, a))
            .map_err(|e| format!("notice address {a}: {e}"))
    };
    let ours = envelope
        .message_id
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "");
    let own_id = format!(
        "<{}.{}{}{:016x}@{}>",
        envelope.purpose.id_prefix(),
        ours,
        if ours.is_empty() { "" } else { "." },
        rand::random::<u64>(),
        envelope.hostname
    );
    let mut builder = Message::builder()
        .from(mailbox(envelope.from)?)
        .to(mailbox(envelope.to)?)
        .subject(words.subject.clone())
        .date(now)
        .message_id(Some(own_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            envelope.purpose.auto_submitted().to_string(),
        ));
    // A Message-ID as received may hold anything: only a plain `<id>` is echoed, and only by
    // a notice (a reply to that one message).
    if let Some(original) = envelope
        .in_reply_to
        .filter(|id| envelope.purpose == Purpose::Notice && is_plain_msg_id(id))
    {
        builder = builder
            .in_reply_to(original.to_string())
            .references(original.to_string());
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            words.text.clone(),
            words.html.clone(),
        ))
        .map_err(|e| format!("the message cannot be built: {e}"))?;
    Ok(Composed {
        bytes: message.formatted(),
        message_id: own_id,
    })
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
    use crate::notify::render::{render, render_invitation};
    use crate::notify::{Identity, Invitation, Language, Notice, NoticeKind};

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
        let composed = compose(
            &Envelope {
                purpose: Purpose::Notice,
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
        let bytes = composed.bytes;
        let text = String::from_utf8_lossy(&bytes);
        let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(
            parsed.message_id().map(|id| format!("<{id}>")),
            Some(composed.message_id.clone())
        );
        assert!(
            composed
                .message_id
                .starts_with("<notice.20261203T170000Z-000001."),
            "{}",
            composed.message_id
        );
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

    fn parse_headers(bytes: &[u8]) -> (String, mail_parser::Message<'_>) {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let parsed = mail_parser::MessageParser::default().parse(bytes).unwrap();
        (text, parsed)
    }

    #[test]
    fn an_invitation_is_auto_generated_not_a_reply_and_a_name_adds_no_field() {
        let from = Address::parse("noreply@trust.example.test").unwrap();
        let to = Address::parse("billing@supplier.example").unwrap();
        let invitation = Invitation {
            language: Language::En,
            contact: "billing@supplier.example".into(),
            supplier: "Supplier B.V.\r\nBcc: victim@example.org".into(),
            receiver: "AD64SDE@trust.example.test".into(),
            organisation: "ACME\r\nBcc: victim@example.org\r\n\r\nforged body".into(),
            document_type: "purchase-invoice".into(),
            identity: Identity::Domain("supplier.example".into()),
        };
        let words = render_invitation(&invitation).unwrap();
        let composed = compose(
            &Envelope {
                purpose: Purpose::Invitation,
                from: &from,
                to: &to,
                // Ignored: an invitation answers nothing.
                in_reply_to: Some("<inv-1@supplier.example>"),
                hostname: "mx.trust.example.test",
                message_id: "",
            },
            &words,
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        assert!(
            composed.message_id.starts_with("<invitation."),
            "{}",
            composed.message_id
        );
        let (text, parsed) = parse_headers(&composed.bytes);
        assert_eq!(
            parsed.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-generated")
        );
        assert!(parsed.header("In-Reply-To").is_none(), "{text}");
        assert!(parsed.header("References").is_none(), "{text}");
        assert!(parsed.header("Bcc").is_none(), "{text}");
        let header_end = text.find("\r\n\r\n").unwrap();
        assert!(
            !text[..header_end].to_ascii_lowercase().contains("\r\nbcc:"),
            "{text}"
        );
        assert!(
            parsed
                .subject()
                .unwrap()
                .contains("AD64SDE@trust.example.test")
        );
        assert_eq!(
            parsed
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address()),
            Some("billing@supplier.example")
        );
        assert_eq!(parsed.text_body_count(), 1);
        assert_eq!(parsed.html_body_count(), 1);
    }

    #[test]
    fn a_digest_is_an_auto_reply_to_no_one_message() {
        let from = Address::parse("noreply@trust.example.test").unwrap();
        let to = Address::parse("billing@supplier.example").unwrap();
        let composed = compose(
            &Envelope {
                purpose: Purpose::Digest,
                from: &from,
                to: &to,
                in_reply_to: Some("<inv-1@supplier.example>"),
                hostname: "mx.trust.example.test",
                message_id: "",
            },
            &render(&notice()).unwrap(),
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        assert!(
            composed.message_id.starts_with("<digest."),
            "{}",
            composed.message_id
        );
        let (text, parsed) = parse_headers(&composed.bytes);
        assert_eq!(
            parsed.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        assert!(parsed.header("In-Reply-To").is_none(), "{text}");
    }

    #[test]
    fn only_a_plain_message_id_is_echoed() {
        assert!(is_plain_msg_id("<a.b@c>"));
        assert!(!is_plain_msg_id("<a b@c>"));
        assert!(!is_plain_msg_id("<a@c>\r\nBcc: x@y"));
        assert!(!is_plain_msg_id("a@c"));
    }
}
