//! The directory of our addresses (receivers) and their trusted senders, built once from the
//! validated config and shared read-only by every session.

use std::collections::HashMap;

use super::Refusal;
use crate::address::Address;
use crate::config::{Config, Organisation, Receiver, TrustKind};
use crate::smtp::reply;

/// Receivers indexed by address key, each with its organisation.
#[derive(Debug)]
pub struct Directory {
    receivers: Vec<Receiver>,
    organisations: Vec<Organisation>,
    by_key: HashMap<String, usize>,
    /// Sinks that take whole messages (`kind = "smtp"`, `mode = "original"`): a message goes to
    /// each once, with its first document routed there.
    per_message_sinks: Vec<String>,
    /// The domains of the receivers' addresses: where `postmaster@` and `abuse@` are ours.
    served_domains: Vec<crate::address::Domain>,
    /// Whether any trusted sender has `require_tls` (else MAIL need not look).
    any_require_tls: bool,
}

/// Which sender identity is being judged, for the refusal sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// MAIL FROM.
    EnvelopeSender,
    /// The header From.
    HeaderFrom,
}

impl Identity {
    fn describe(self) -> &'static str {
        match self {
            Identity::EnvelopeSender => "envelope sender (MAIL FROM)",
            Identity::HeaderFrom => "header From",
        }
    }
}

impl Directory {
    /// Indexes the receivers of `config`.
    pub fn new(config: &Config) -> Directory {
        let by_key = config
            .receivers
            .iter()
            .enumerate()
            .map(|(i, r)| (r.address.key(), i))
            .collect();
        let mut served_domains: Vec<crate::address::Domain> = Vec::new();
        for r in &config.receivers {
            if !served_domains.contains(r.address.domain()) {
                served_domains.push(r.address.domain().clone());
            }
        }
        let any_require_tls = config
            .receivers
            .iter()
            .flat_map(|r| &r.trusted_senders)
            .any(|t| t.require_tls);
        Directory {
            served_domains,
            any_require_tls,
            receivers: config.receivers.clone(),
            organisations: config.organisations.clone(),
            by_key,
            per_message_sinks: config
                .sinks
                .iter()
                .filter(|s| {
                    matches!(
                        s.kind,
                        crate::config::SinkKind::Smtp {
                            mode: crate::config::SmtpMode::Original,
                            ..
                        }
                    )
                })
                .map(|s| s.name.clone())
                .collect(),
        }
    }

    /// The receiver for a recipient path, or 550 5.1.1 (unknown address, or any other domain:
    /// no relaying, ever).
    ///
    /// # Errors
    /// The refusal to send.
    pub fn receiver(&self, forward_path: &str) -> Result<&Receiver, Refusal> {
        let unknown = || Refusal {
            reply: reply::unknown_recipient(forward_path),
            reason: "unknown_rcpt",
        };
        let address = Address::parse(forward_path).map_err(|_| Refusal {
            reply: reply::RELAY_DENIED,
            reason: "bad_rcpt",
        })?;
        self.by_key
            .get(&address.key())
            .map(|&i| &self.receivers[i])
            .ok_or_else(unknown)
    }

    /// Every organisation, indexed as in the config.
    pub fn organisations(&self) -> &[Organisation] {
        &self.organisations
    }

    /// The sinks a document routed to `organisation` (an index into
    /// [`Directory::organisations`]) on `receiver` goes to: the receiver's `deliver` when set,
    /// else the organisation's (as [`Config::deliver_for`]).
    pub fn deliver_for<'a>(&'a self, receiver: &'a Receiver, organisation: usize) -> &'a [String] {
        receiver.deliver_for(&self.organisations, organisation)
    }

    /// The sinks that take whole messages rather than documents (`kind = "smtp"`,
    /// `mode = "original"`).
    pub fn per_message_sinks(&self) -> &[String] {
        &self.per_message_sinks
    }

    /// Whether `sender` is trusted for `receiver`, and if so by which trusted-sender entry.
    pub fn trusted_sender<'a>(
        &'a self,
        receiver: &'a Receiver,
        sender: &Address,
    ) -> Option<&'a crate::config::TrustedSender> {
        receiver.trusted_senders.iter().find(|t| match &t.kind {
            TrustKind::Domain(d) => sender.domain() == d,
            TrustKind::Address(a) => a.key() == sender.key(),
            // On a shared address, the verified users of any of its organisations.
            TrustKind::VerifiedUsers => receiver.organisations.iter().any(|&i| {
                self.organisations
                    .get(i)
                    .is_some_and(|o| o.verified_users.iter().any(|p| p.matches(sender)))
            }),
        })
    }

    /// Whether `forward_path` is `postmaster@` or `abuse@` one of the domains we serve (the
    /// domains of the receivers' addresses). RFC 5321 4.5.1 requires accepting mail to the
    /// postmaster, and RFC 2142 names abuse: such mail is exempt from the trusted-sender
    /// policy (the limits still apply) and is stored for the admin.
    pub fn is_postmaster(&self, forward_path: &str) -> bool {
        let Ok(address) = Address::parse(forward_path) else {
            return false;
        };
        ["postmaster", "abuse"]
            .iter()
            .any(|l| address.local().eq_ignore_ascii_case(l))
            && self.served_domains.contains(address.domain())
    }

    /// Whether `sender` is a trusted sender, of any receiver, whose mail must arrive over TLS
    /// (`require_tls`): asked at MAIL, before the receivers are known.
    pub fn requires_tls(&self, sender: &str) -> bool {
        if !self.any_require_tls {
            return false;
        }
        let Ok(address) = Address::parse(sender) else {
            return false;
        };
        self.receivers.iter().any(|r| {
            r.trusted_senders.iter().any(|t| t.require_tls)
                && self
                    .trusted_sender(r, &address)
                    .is_some_and(|t| t.require_tls)
        })
    }

    /// A stable name of the trusted-sender entry that lets `sender` send to `receiver`, for
    /// keys that must not be shared between suppliers (the duplicate key): `domain:D`,
    /// `address:A`, or `user:A` for an organisation's verified user. `None` when untrusted.
    pub fn sender_key(&self, receiver: &Receiver, sender: &Address) -> Option<String> {
        self.trusted_sender(receiver, sender)
            .map(|t| match &t.kind {
                TrustKind::Domain(d) => format!("domain:{d}"),
                TrustKind::Address(a) => format!("address:{}", a.key()),
                TrustKind::VerifiedUsers => format!("user:{}", sender.key()),
            })
    }

    /// Checks one sender identity against a receiver: 550 5.7.1 naming the check that failed.
    ///
    /// # Errors
    /// The refusal to send.
    pub fn check_sender(
        &self,
        receiver: &Receiver,
        identity: Identity,
        sender: &str,
    ) -> Result<(), Refusal> {
        let rcpt = receiver.address.to_string();
        if sender.is_empty() {
            return Err(Refusal {
                reply: reply::sender_not_trusted(identity.describe(), "", &rcpt),
                reason: "null_sender",
            });
        }
        let reason = match identity {
            Identity::EnvelopeSender => "untrusted_mail_from",
            Identity::HeaderFrom => "untrusted_header_from",
        };
        let refuse = || Refusal {
            reply: reply::sender_not_trusted(identity.describe(), sender, &rcpt),
            reason,
        };
        let address = Address::parse(sender).map_err(|_| refuse())?;
        self.trusted_sender(receiver, &address)
            .map(|_| ())
            .ok_or_else(refuse)
    }
}
