//! `trustgate invite`, `trustgate sender disable|enable` and the lifecycle states that
//! `trustgate senders list` shows: what happened to a trusted sender, kept in the spool
//! (`spool::senders`), while the config holds only who is trusted.
//!
//! These ask the running daemon over the control socket, as `trustgate spool` does; without a
//! daemon they open the spool themselves. They never edit the config.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context as _, bail};

use crate::admin::control::{Request, Response, SenderView};
use crate::admin::senders;
use crate::config::{Config, Receiver, TrustedSender};
use crate::spool::{SenderKey, SenderRecord};

use super::spool::{ask, clean};

/// `trustgate invite RECEIVER --sender CONTACT`: queues an invitation to the contact of the
/// receiver's trusted sender, and prints the spool id of the invitation.
///
/// # Errors
/// An unknown receiver or contact, no `[notices]`, or the spool cannot be reached.
pub fn invite(
    config: &Config,
    receiver: &str,
    contact: &str,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let (receiver, sender) = find(config, receiver, contact)?;
    if config.notices.is_none() {
        bail!("{}", senders::no_notices(config));
    }
    let (notice, key) = senders::invitation(config, receiver, sender);
    match ask(
        &config.spool.path,
        &Request::Invite {
            notice: Box::new(notice),
            key,
        },
    )? {
        Response::Sender {
            sender,
            queued: Some(id),
        } => {
            let count = sender.record.invited.as_ref().map_or(0, |i| i.count);
            eprintln!(
                "trustgate: invitation to <{}> queued (invitation {count} to this contact); `trustgate spool show {id}` shows its delivery",
                clean(&sender.key.contact)
            );
            writeln!(out, "{id}")?;
            Ok(0)
        }
        Response::Error { message } => bail!("{message}"),
        other => bail!("unexpected answer from the spool: {other:?}"),
    }
}

/// `trustgate sender disable|enable RECEIVER --contact C`: the sender is refused (550 5.7.1)
/// while disabled, whatever its state was; enabled, it is back where it was.
///
/// # Errors
/// An unknown receiver or contact, or the spool cannot be reached.
pub fn set_disabled(
    config: &Config,
    receiver: &str,
    contact: &str,
    disable: bool,
) -> anyhow::Result<i32> {
    let (receiver, sender) = find(config, receiver, contact)?;
    let request = Request::Sender {
        receiver: receiver.address.to_string(),
        contact: sender.contact.to_string(),
        disable,
    };
    match ask(&config.spool.path, &request)? {
        Response::Sender { sender, .. } => {
            eprintln!(
                "trustgate: <{}> at <{}> is {}",
                clean(&sender.key.contact),
                clean(&sender.key.receiver),
                sender.state
            );
            Ok(0)
        }
        Response::Error { message } => bail!("{message}"),
        other => bail!("unexpected answer from the spool: {other:?}"),
    }
}

/// Every sender record in the spool, by key, for `senders list`. A spool that does not exist
/// yet has none: every sender is then `pending`.
///
/// # Errors
/// The spool exists but cannot be read.
pub fn states(config: &Config) -> anyhow::Result<HashMap<SenderKey, SenderRecord>> {
    let dir = &config.spool.path;
    if !dir.join(crate::spool::schema::DATABASE_FILE).exists()
        && !crate::spool::control_socket_path(dir).exists()
    {
        return Ok(HashMap::new());
    }
    match ask(dir, &Request::Senders).context("reading the senders' states from the spool")? {
        Response::Senders { senders } => Ok(senders
            .into_iter()
            .map(|SenderView { key, record, .. }| (key, record))
            .collect()),
        Response::Error { message } => bail!("{message}"),
        other => bail!("unexpected answer from the spool: {other:?}"),
    }
}

/// The receiver at `address` and its trusted sender with `contact`.
fn find<'a>(
    config: &'a Config,
    address: &str,
    contact: &str,
) -> anyhow::Result<(&'a Receiver, &'a TrustedSender)> {
    senders::find(config, address, contact).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The words `senders list` shows for a record beside its state.
pub fn detail(record: &SenderRecord) -> String {
    use crate::spool::format_time;
    let mut parts = Vec::new();
    if let Some(d) = &record.disabled {
        parts.push(format!("disabled {}", format_time(d.since)));
    }
    if let Some(a) = &record.active {
        parts.push(format!(
            "active since {} from {} ({})",
            format_time(a.since),
            clean(&a.from),
            a.message
        ));
    }
    if let Some(i) = &record.invited {
        parts.push(format!(
            "invited {}x, last {} ({})",
            i.count,
            format_time(i.last),
            i.message
        ));
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join("; ")
    }
}
