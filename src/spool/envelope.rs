//! The envelope trailer: what a body file says about itself, so the spool can be rebuilt from
//! its files alone (`trustgate spool recover`) when the database is lost.
//!
//! A body file is the raw message as received, then this trailer:
//!
//! ```text
//! <raw message: MessageRecord::size bytes> <envelope JSON> "\ntrustgate-envelope-v1 " <10 digits: JSON length> "\n"
//! ```
//!
//! The trailer goes after the message, not before it, so every byte offset into the raw
//! message (the documents' [`super::PartAt`]) is an offset into the file as well, and readers
//! stop at the record's size. It is written in the same `write` and the same fsync as the
//! body, so it costs no extra I/O on the acceptance path. Postfix keeps the envelope in its
//! queue files for the same reason.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{MessageId, MessageStatus};

/// The footer's fixed prefix; after it come ten ASCII digits and a newline.
const MAGIC: &[u8] = b"\ntrustgate-envelope-v1 ";
/// Length of the footer: the magic, ten digits, a newline.
const FOOTER_LEN: usize = MAGIC.len() + 10 + 1;
/// The longest envelope JSON read back (100 recipients of 256 octets and the rest fit easily).
const MAX_JSON: usize = 1 << 20;

/// The SMTP envelope and the answer given, as stored with the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEnvelope {
    /// Our id of the message.
    pub id: MessageId,
    /// When DATA ended.
    #[serde(with = "super::rfc3339")]
    pub received_at: SystemTime,
    /// Client IP:port.
    pub peer: String,
    /// EHLO/HELO argument.
    pub helo: String,
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt_to: Vec<String>,
    /// The answer the client got: accepted (250) or refused for its content.
    pub status: MessageStatus,
}

impl StoredEnvelope {
    /// The trailer bytes to append after the raw message.
    pub fn trailer(&self) -> Vec<u8> {
        // Serialising plain strings and a time cannot fail; an empty JSON would only make the
        // trailer unreadable, never the message.
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(json.len() + FOOTER_LEN);
        out.extend_from_slice(&json);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(format!("{:010}\n", json.len()).as_bytes());
        out
    }
}

/// Splits a body file into the raw message and its envelope. A file without a readable
/// trailer (written before trailers existed, or cut short) is all message, with `None`.
pub fn split(file: &[u8]) -> (&[u8], Option<StoredEnvelope>) {
    let Some(footer_at) = file.len().checked_sub(FOOTER_LEN) else {
        return (file, None);
    };
    let footer = &file[footer_at..];
    if !footer.starts_with(MAGIC) || footer.last() != Some(&b'\n') {
        return (file, None);
    }
    let digits = &footer[MAGIC.len()..FOOTER_LEN - 1];
    let Some(len) = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
        .filter(|&l| l <= MAX_JSON && l <= footer_at)
    else {
        return (file, None);
    };
    let json_at = footer_at - len;
    match serde_json::from_slice(&file[json_at..footer_at]) {
        Ok(envelope) => (&file[..json_at], Some(envelope)),
        Err(_) => (file, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> StoredEnvelope {
        StoredEnvelope {
            id: MessageId("20261203T101530Z-000001".into()),
            received_at: SystemTime::UNIX_EPOCH
                + std::time::Duration::from_millis(1_764_756_930_123),
            peer: "127.0.0.1:4242".into(),
            helo: "erp.supplier.example".into(),
            mail_from: "billing@supplier.example".into(),
            rcpt_to: vec![
                "AD64SDE@trust.example.eu".into(),
                "B@trust.example.eu".into(),
            ],
            status: MessageStatus::Accepted,
        }
    }

    #[test]
    fn a_body_with_its_trailer_splits_back_into_both() {
        let raw = b"From: a@b\r\n\r\nhello\r\n";
        let mut file = raw.to_vec();
        file.extend_from_slice(&envelope().trailer());
        let (message, found) = split(&file);
        assert_eq!(message, raw);
        assert_eq!(found, Some(envelope()));
    }

    #[test]
    fn a_file_without_a_trailer_is_all_message() {
        for file in [
            &b""[..],
            b"short",
            b"From: a@b\r\n\r\nhello\r\n",
            // The footer alone, naming more JSON than there is.
            b"\ntrustgate-envelope-v1 0000000099\n",
            // A footer over JSON that does not parse.
            b"xx{nope\ntrustgate-envelope-v1 0000000005\n",
        ] {
            let (message, found) = split(file);
            assert_eq!(message, file);
            assert_eq!(found, None);
        }
    }

    #[test]
    fn a_message_that_itself_ends_like_a_trailer_keeps_its_bytes() {
        // A sender cannot make its message read as a different envelope: the trailer written
        // after it is the last one, and the split takes only the last.
        let mut hostile = b"From: a@b\r\n\r\n".to_vec();
        let forged = StoredEnvelope {
            rcpt_to: vec!["victim@trust.example.eu".into()],
            ..envelope()
        };
        hostile.extend_from_slice(&forged.trailer());
        let mut file = hostile.clone();
        file.extend_from_slice(&envelope().trailer());
        let (message, found) = split(&file);
        assert_eq!(message, &hostile[..]);
        assert_eq!(found, Some(envelope()));
    }
}
