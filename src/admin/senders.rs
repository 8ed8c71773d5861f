//! Trusted senders as an administrator sees them: who the config trusts, joined with what the
//! spool recorded of each (invited, active, disabled), and the invitation `trustgate invite`
//! and `POST /api/v1/senders/invite` queue. The CLI and the admin API both use these, so they
//! list and invite alike.
//!
//! The config holds who is trusted; the spool holds what happened to them
//! (`spool::senders`). Nothing here writes: the invitation is stored by the control socket's
//! `invite` (one transaction with the sender's record).

use std::collections::HashMap;

use serde::Serialize;

use crate::address::Address;
use crate::config::{Config, Receiver, TrustKind, TrustedSender};
use crate::spool::{
    InvitationFacts, NoticeKind, NoticeRecord, SenderKey, SenderRecord, SenderState,
};
use crate::text::display_safe;

/// One trusted sender of one receiver, with its lifecycle.
#[derive(Debug, Clone, Serialize)]
pub struct SenderRow {
    /// The receiving address.
    pub receiver: String,
    /// The organisations the receiver serves (one unless it is shared), by id.
    pub organisations: Vec<String>,
    /// The supplier's name.
    pub name: String,
    /// Its contact, to whom invitations and notices go.
    pub contact: String,
    /// `domain`, `address` or `verified_users`.
    pub kind: &'static str,
    /// The domain or address; `null` for verified users.
    pub value: Option<String>,
    /// The language of its notices.
    pub language: &'static str,
    /// The sender's own `auth`, `null` when it follows the receiver's.
    pub auth: Option<String>,
    /// `pending`, `invited`, `active` or `disabled` (kept in the spool).
    pub state: SenderState,
    /// What happened: `invited`, `active`, `disabled`, each when present.
    #[serde(flatten)]
    pub lifecycle: SenderRecord,
}

/// Every trusted sender of every receiver in `config`, in file order, with the record `states`
/// holds for it (entries of a receiver that share a contact share its record; none is
/// `pending`).
pub fn rows(config: &Config, states: &HashMap<SenderKey, SenderRecord>) -> Vec<SenderRow> {
    config
        .receivers
        .iter()
        .flat_map(|r| r.trusted_senders.iter().map(move |s| (r, s)))
        .map(|(r, s)| {
            let key = SenderKey::new(&r.address.to_string(), &s.contact.to_string());
            row(config, r, s, states.get(&key).cloned().unwrap_or_default())
        })
        .collect()
}

/// The row of trusted sender `sender` of `receiver`, with its record `lifecycle`.
pub fn row(
    config: &Config,
    receiver: &Receiver,
    sender: &TrustedSender,
    lifecycle: SenderRecord,
) -> SenderRow {
    let (kind, value) = match &sender.kind {
        TrustKind::Domain(d) => ("domain", Some(d.to_string())),
        TrustKind::Address(a) => ("address", Some(a.to_string())),
        TrustKind::VerifiedUsers => ("verified_users", None),
    };
    SenderRow {
        receiver: receiver.address.to_string(),
        organisations: organisation_ids(config, receiver),
        name: sender.name.clone(),
        contact: sender.contact.to_string(),
        kind,
        value,
        language: sender.language.as_str(),
        // Only a sender's own `auth`; one that follows its receiver's shows none.
        auth: sender.own_auth.then(|| sender.auth.as_str().to_string()),
        state: lifecycle.state(),
        lifecycle,
    }
}

/// The ids of the organisations `receiver` serves (one unless it is shared).
pub fn organisation_ids(config: &Config, receiver: &Receiver) -> Vec<String> {
    receiver
        .organisations
        .iter()
        .filter_map(|&i| config.organisations.get(i).map(|o| o.id.clone()))
        .collect()
}

/// Why a sender could not be found or invited, in a sentence for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The receiver at `address` and its trusted sender with `contact` (local parts in any case,
/// as the directory matches them).
///
/// # Errors
/// Either is not an address, or not in the config.
pub fn find<'a>(
    config: &'a Config,
    address: &str,
    contact: &str,
) -> Result<(&'a Receiver, &'a TrustedSender), NotFound> {
    let parsed = Address::parse(address).map_err(|e| {
        NotFound(format!(
            "{:?} is not an address: {e}",
            display_safe(address).to_string()
        ))
    })?;
    let same = |a: &Address, b: &Address| a.to_string().eq_ignore_ascii_case(&b.to_string());
    let Some(receiver) = config.receivers.iter().find(|r| same(&r.address, &parsed)) else {
        return Err(NotFound(format!(
            "no receiver {} in {}; `trustgate receiver list` shows them",
            display_safe(address),
            config.source.display()
        )));
    };
    let contact_parsed = Address::parse(contact).map_err(|e| {
        NotFound(format!(
            "{:?} is not an address: {e}",
            display_safe(contact).to_string()
        ))
    })?;
    let Some(sender) = receiver
        .trusted_senders
        .iter()
        .find(|s| same(&s.contact, &contact_parsed))
    else {
        return Err(NotFound(format!(
            "receiver {} has no trusted sender with contact {}; `trustgate senders list` shows them",
            receiver.address,
            display_safe(contact)
        )));
    };
    Ok((receiver, sender))
}

/// What an invitation to `sender` of `receiver` says, and the sender's key.
pub fn invitation(
    config: &Config,
    receiver: &Receiver,
    sender: &TrustedSender,
) -> (NoticeRecord, SenderKey) {
    let (identity, identity_value) = match &sender.kind {
        TrustKind::Domain(d) => ("domain", d.to_string()),
        TrustKind::Address(a) => ("address", a.to_string()),
        TrustKind::VerifiedUsers => ("verified-users", String::new()),
    };
    let organisation = config
        .organisations
        .get(receiver.organisation)
        .map(|o| o.name.clone())
        .unwrap_or_default();
    let notice = NoticeRecord {
        kind: NoticeKind::Invitation,
        to: sender.contact.to_string(),
        admin: None,
        language: sender.language.as_str().to_string(),
        receiver: receiver.address.to_string(),
        organisation,
        subject: None,
        in_reply_to: None,
        files: Vec::new(),
        invoice_numbers: Vec::new(),
        reply: String::new(),
        rules: Vec::new(),
        invitation: Some(InvitationFacts {
            supplier: sender.name.clone(),
            document_type: receiver.document_type.clone(),
            identity: identity.to_string(),
            identity_value,
        }),
    };
    let key = SenderKey::new(&receiver.address.to_string(), &sender.contact.to_string());
    (notice, key)
}

/// The sentence for a config without `[notices]`, where nothing can be invited.
pub fn no_notices(config: &Config) -> String {
    format!(
        "invitations are mail sent through [relay] from [notices] from; add a [notices] table to {} (see docs/config.md)",
        config.source.display()
    )
}
