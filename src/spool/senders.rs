//! The lifecycle of trusted senders (issue 11, section 2): what happened to each one, kept in
//! the spool because the config holds intent and the spool holds what happened.
//!
//! A trusted sender is known here by its receiver and its contact ([`SenderKey`]), the two
//! things an admin types (`trustgate invite RECEIVER --sender CONTACT`,
//! `trustgate sender disable RECEIVER --contact C`). Its [`SenderRecord`] says when it was
//! invited (and how often), when it became active (its first accepted invoice: when, from which
//! exact address, in which message) and whether the receiving organisation disabled it. A sender
//! with no record is `pending`. Entries of one receiver that share a contact share a state.
//!
//! Only the writer changes the table ([`apply`]), in the transaction that stores the message
//! that caused the change (an invitation, a first invoice), or alone for a disable or enable.

use std::time::SystemTime;

use redb::ReadableTable as _;
use serde::{Deserialize, Serialize};

use super::{MessageId, rfc3339};

/// Which trusted sender: its receiving address and its contact, both lowercased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SenderKey {
    /// The receiving address.
    pub receiver: String,
    /// The trusted sender's contact address.
    pub contact: String,
}

impl SenderKey {
    /// The key of the sender with `contact` at `receiver` (case is not significant).
    pub fn new(receiver: &str, contact: &str) -> SenderKey {
        SenderKey {
            receiver: receiver.to_ascii_lowercase(),
            contact: contact.to_ascii_lowercase(),
        }
    }
}

/// What happened to one trusted sender.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderRecord {
    /// Its invitations, if any was queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited: Option<Invited>,
    /// Its first accepted invoice, if one arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Active>,
    /// Set while the receiving organisation has disabled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Disabled>,
}

/// The invitations of a sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invited {
    /// When the first was queued.
    #[serde(with = "rfc3339")]
    pub first: SystemTime,
    /// When the last was queued.
    #[serde(with = "rfc3339")]
    pub last: SystemTime,
    /// How many were queued.
    pub count: u32,
    /// The spool message of the last one (its delivery says whether it went out).
    pub message: MessageId,
}

/// A sender's first accepted invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Active {
    /// When it was stored.
    #[serde(with = "rfc3339")]
    pub since: SystemTime,
    /// The exact header From address it came from.
    pub from: String,
    /// Its message.
    pub message: MessageId,
}

/// A sender disabled by the receiving organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    /// Since when.
    #[serde(with = "rfc3339")]
    pub since: SystemTime,
}

/// The state `senders list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderState {
    /// Configured; nothing happened yet.
    Pending,
    /// Invited; no invoice yet.
    Invited,
    /// Its first invoice was accepted.
    Active,
    /// Refused by the receiving organisation's wish, whatever came before.
    Disabled,
}

impl SenderRecord {
    /// The state: disabled over active over invited over pending.
    pub fn state(&self) -> SenderState {
        if self.disabled.is_some() {
            SenderState::Disabled
        } else if self.active.is_some() {
            SenderState::Active
        } else if self.invited.is_some() {
            SenderState::Invited
        } else {
            SenderState::Pending
        }
    }
}

impl SenderState {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SenderState::Pending => "pending",
            SenderState::Invited => "invited",
            SenderState::Active => "active",
            SenderState::Disabled => "disabled",
        }
    }
}

impl std::fmt::Display for SenderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change to one sender's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderChange {
    /// An invitation was queued as `message`.
    Invited {
        /// Its spool message.
        message: MessageId,
    },
    /// An invoice from `from` was accepted in `message`: the first makes the sender active.
    Accepted {
        /// The header From address.
        from: String,
        /// Its message.
        message: MessageId,
    },
    /// The receiving organisation disabled the sender.
    Disable,
    /// The receiving organisation enabled it again.
    Enable,
}

impl SenderChange {
    /// Applies the change at `now`; returns whether the record changed.
    pub fn apply_to(&self, record: &mut SenderRecord, now: SystemTime) -> bool {
        match self {
            SenderChange::Invited { message } => {
                let invited = record.invited.get_or_insert(Invited {
                    first: now,
                    last: now,
                    count: 0,
                    message: message.clone(),
                });
                invited.last = now;
                invited.count = invited.count.saturating_add(1);
                invited.message = message.clone();
                true
            }
            SenderChange::Accepted { from, message } => {
                if record.active.is_some() {
                    return false;
                }
                record.active = Some(Active {
                    since: now,
                    from: from.clone(),
                    message: message.clone(),
                });
                true
            }
            SenderChange::Disable => {
                if record.disabled.is_some() {
                    return false;
                }
                record.disabled = Some(Disabled { since: now });
                true
            }
            SenderChange::Enable => record.disabled.take().is_some(),
        }
    }
}

/// The `sender_states` table, open in a write transaction.
pub(crate) type Table<'txn> = redb::Table<'txn, (&'static str, &'static str), &'static [u8]>;

/// Applies `change` to the record of `key` in the writer's transaction. Returns the record
/// as it is afterwards.
pub(crate) fn apply(
    table: &mut Table<'_>,
    key: &SenderKey,
    change: &SenderChange,
    now: SystemTime,
) -> Result<SenderRecord, redb::Error> {
    let k = (key.receiver.as_str(), key.contact.as_str());
    let mut record = match table.get(k)? {
        Some(value) => decode(value.value())?,
        None => SenderRecord::default(),
    };
    if change.apply_to(&mut record, now) {
        let json = serde_json::to_vec(&record)
            .map_err(|e| redb::Error::Corrupted(format!("sender record: {e}")))?;
        table.insert(k, json.as_slice())?;
    }
    Ok(record)
}

/// Decodes a stored record.
pub(crate) fn decode(bytes: &[u8]) -> Result<SenderRecord, redb::Error> {
    serde_json::from_slice(bytes).map_err(|e| redb::Error::Corrupted(format!("sender record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn id(s: &str) -> MessageId {
        MessageId(s.to_owned())
    }

    #[test]
    fn the_state_follows_what_happened() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let t1 = t0 + Duration::from_secs(60);
        let mut r = SenderRecord::default();
        assert_eq!(r.state(), SenderState::Pending);
        assert!(SenderChange::Invited { message: id("a") }.apply_to(&mut r, t0));
        assert!(SenderChange::Invited { message: id("b") }.apply_to(&mut r, t1));
        let invited = r.invited.clone().unwrap();
        assert_eq!(
            (invited.first, invited.last, invited.count, invited.message),
            (t0, t1, 2, id("b"))
        );
        assert_eq!(r.state(), SenderState::Invited);
        let first = SenderChange::Accepted {
            from: "Billing@Supplier.example".into(),
            message: id("c"),
        };
        assert!(first.apply_to(&mut r, t1));
        // Only the first invoice makes it active; later ones change nothing.
        let later = SenderChange::Accepted {
            from: "other@supplier.example".into(),
            message: id("d"),
        };
        assert!(!later.apply_to(&mut r, t1 + Duration::from_secs(5)));
        assert_eq!(r.active.as_ref().unwrap().from, "Billing@Supplier.example");
        assert_eq!(r.state(), SenderState::Active);
        assert!(SenderChange::Disable.apply_to(&mut r, t1));
        assert!(!SenderChange::Disable.apply_to(&mut r, t1));
        assert_eq!(r.state(), SenderState::Disabled);
        assert!(SenderChange::Enable.apply_to(&mut r, t1));
        assert!(!SenderChange::Enable.apply_to(&mut r, t1));
        assert_eq!(r.state(), SenderState::Active);
    }

    #[test]
    fn keys_ignore_case() {
        assert_eq!(
            SenderKey::new("AD64SDE@Trust.example", "Ap@Supplier.EXAMPLE"),
            SenderKey::new("ad64sde@trust.example", "ap@supplier.example")
        );
    }
}
