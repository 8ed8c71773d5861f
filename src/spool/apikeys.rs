//! API keys of the admin HTTP API (issue 12, section 2): who may call it, for which
//! organisation. A key is `<client id>.<secret>`, the form ERP connectors ask for as a "client
//! key" and a "client secret". Only the SHA-256 of the secret is stored: the secret is 256
//! random bits, so a plain hash cannot be reversed or guessed, and a stolen spool gives no key.
//!
//! [`generate`] makes a key (the CLI prints it once); the writer stores its [`ApiKeyRecord`]
//! and revokes it; [`check`] says whom a presented key belongs to, comparing hashes in constant
//! time.

use std::time::SystemTime;

use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{rfc3339, rfc3339_opt};

/// Characters of a client id: lower-case letters and digits.
const CLIENT_ID_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Length of a client id (about 82 bits: unique, and safe to show in lists and logs).
pub const CLIENT_ID_LEN: usize = 16;

/// Bytes of randomness in a secret.
const SECRET_BYTES: usize = 32;

/// Whom a key speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope {
    /// Everything, every organisation.
    Admin,
    /// One organisation's documents, messages and senders only.
    Organisation {
        /// Its id.
        organisation: String,
    },
}

/// A stored key: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Its scope.
    #[serde(flatten)]
    pub scope: Scope,
    /// A label for people (`--name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// SHA-256 of the secret, lowercase hex.
    pub secret_sha256: String,
    /// When it was created.
    #[serde(with = "rfc3339")]
    pub created_at: SystemTime,
    /// When it was revoked; a revoked key is refused.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub revoked_at: Option<SystemTime>,
}

/// A new key: what to store, and the whole key to print once.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The client id (the key's public half).
    pub client_id: String,
    /// `<client id>.<secret>`.
    pub key: String,
    /// What to store.
    pub record: ApiKeyRecord,
}

/// Makes a key for `scope` from the operating system's CSPRNG.
pub fn generate(scope: Scope, name: Option<String>, now: SystemTime) -> NewKey {
    let mut rng = rand::rng();
    let client_id: String = (0..CLIENT_ID_LEN)
        .map(|_| char::from(CLIENT_ID_CHARS[rng.random_range(0..CLIENT_ID_CHARS.len())]))
        .collect();
    let mut secret = [0u8; SECRET_BYTES];
    rng.fill(&mut secret[..]);
    let secret = hex(&secret);
    NewKey {
        key: format!("{client_id}.{secret}"),
        record: ApiKeyRecord {
            scope,
            name,
            secret_sha256: sha256_hex(secret.as_bytes()),
            created_at: now,
            revoked_at: None,
        },
        client_id,
    }
}

/// Splits a presented key into (client id, secret); `None` unless it has the form.
pub fn split(key: &str) -> Option<(&str, &str)> {
    let (id, secret) = key.split_once('.')?;
    let ok_id = id.len() == CLIENT_ID_LEN && id.bytes().all(|b| CLIENT_ID_CHARS.contains(&b));
    let ok_secret = !secret.is_empty() && secret.len() <= 256;
    (ok_id && ok_secret).then_some((id, secret))
}

/// Whether `secret` is the one `record` was made with and the key is not revoked.
pub fn check(record: &ApiKeyRecord, secret: &str) -> bool {
    let presented = sha256_hex(secret.as_bytes());
    // Constant time over the (equal-length) hex strings, so the comparison tells nothing.
    let a = presented.as_bytes();
    let b = record.secret_sha256.as_bytes();
    let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    same && record.revoked_at.is_none()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The `api_keys` table, open in a write transaction.
pub(crate) type Table<'txn> = redb::Table<'txn, &'static str, &'static [u8]>;

/// Decodes a stored record.
pub(crate) fn decode(bytes: &[u8]) -> Result<ApiKeyRecord, redb::Error> {
    serde_json::from_slice(bytes).map_err(|e| redb::Error::Corrupted(format!("api key: {e}")))
}

/// Encodes a record.
pub(crate) fn encode(record: &ApiKeyRecord) -> Result<Vec<u8>, redb::Error> {
    serde_json::to_vec(record).map_err(|e| redb::Error::Corrupted(format!("api key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_checks_against_its_record_only_until_revoked() {
        let new = generate(
            Scope::Organisation {
                organisation: "acme".into(),
            },
            None,
            SystemTime::now(),
        );
        let (id, secret) = split(&new.key).expect("the form <client id>.<secret>");
        assert_eq!(id, new.client_id);
        assert_eq!(secret.len(), 64);
        assert!(!new.record.secret_sha256.contains(secret));
        assert!(check(&new.record, secret));
        assert!(!check(&new.record, &secret[1..]));
        let other = generate(Scope::Admin, None, SystemTime::now());
        assert_ne!(other.client_id, new.client_id);
        assert!(!check(&new.record, split(&other.key).unwrap().1));
        let mut revoked = new.record.clone();
        revoked.revoked_at = Some(SystemTime::now());
        assert!(!check(&revoked, secret));
    }

    #[test]
    fn only_the_form_is_split() {
        assert!(split("abc").is_none());
        assert!(split("short.secret").is_none());
        assert!(split("ABCDEFGHIJKLMNOP.secret").is_none());
        assert!(split("abcdefghijklmnop.").is_none());
        assert!(split("abcdefghijklmnop.s").is_some());
    }
}
