//! The directory of our addresses (receivers) and their trusted senders, built once from the
//! validated config and shared read-only by every session.

use std::collections::HashMap;

use super::{Refusal, RefusalKind};
use crate::address::Address;
use crate::config::{AuthPolicy, Config, Organisation, Receiver, SenderPattern, TrustKind};

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
    /// `[server] trusted_arc_sealers`.
    trusted_arc_sealers: Vec<crate::address::Domain>,
    /// Whether postmaster mail is forwarded (`[server] postmaster` with `[relay]`).
    forwards_postmaster: bool,
    /// Whether notices go to supplier contacts (`[notices]`).
    sends_notices: bool,
    /// `[notices] admin`.
    notices_admin: Option<Address>,
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
    /// The identity in words, for replies and notices.
    pub fn describe(self) -> &'static str {
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
            trusted_arc_sealers: config.server.trusted_arc_sealers.clone(),
            forwards_postmaster: config.server.postmaster.is_some() && config.relay.is_some(),
            sends_notices: config.notices.is_some() && config.relay.is_some(),
            notices_admin: config.notices.as_ref().and_then(|n| n.admin.clone()),
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

    /// The receiver for a recipient, or 550 5.1.1 (unknown address, or any other domain: no
    /// relaying, ever).
    ///
    /// # Errors
    /// The refusal to send.
    pub fn receiver(&self, forward_path: &Address) -> Result<&Receiver, Refusal> {
        self.by_key
            .get(&forward_path.key())
            .map(|&i| &self.receivers[i])
            .ok_or_else(|| Refusal::new(RefusalKind::UnknownRecipient).for_receiver(forward_path))
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
    pub fn is_postmaster(&self, address: &Address) -> bool {
        ["postmaster", "abuse"]
            .iter()
            .any(|l| address.local().eq_ignore_ascii_case(l))
            && self.served_domains.contains(address.domain())
    }

    /// Whether `sender` is a trusted sender, of any receiver, whose mail must arrive over TLS
    /// (`require_tls`): asked at MAIL, before the receivers are known.
    pub fn requires_tls(&self, sender: &Address) -> bool {
        if !self.any_require_tls {
            return false;
        }
        self.receivers.iter().any(|r| {
            r.trusted_senders.iter().any(|t| t.require_tls)
                && self
                    .trusted_sender(r, sender)
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

    /// The sinks mail for the postmaster goes to as a whole: the built-in forward to
    /// `[server] postmaster`, when set.
    pub fn postmaster_sinks(&self) -> Vec<String> {
        if self.forwards_postmaster {
            vec![crate::config::validate::POSTMASTER_SINK.to_string()]
        } else {
            Vec::new()
        }
    }

    /// Whether notices go to supplier contacts (`[notices]`).
    pub fn sends_notices(&self) -> bool {
        self.sends_notices
    }

    /// Who hears of undeliverable invoices besides the contact (`[notices] admin`).
    pub fn notices_admin(&self) -> Option<&Address> {
        self.notices_admin.as_ref()
    }

    /// The ARC sealers whose chains are believed (`[server] trusted_arc_sealers`).
    pub fn trusted_arc_sealers(&self) -> &[crate::address::Domain] {
        &self.trusted_arc_sealers
    }

    /// Whether any of the receivers addressed by `rcpt_to` has a trusted sender whose mail
    /// must be authenticated (an `auth` other than `none`): else stage 2 need not ask DNS.
    pub fn needs_authentication(&self, rcpt_to: &[Address]) -> bool {
        rcpt_to.iter().any(|rcpt| {
            self.receiver(rcpt)
                .is_ok_and(|r| r.trusted_senders.iter().any(|t| t.auth != AuthPolicy::None))
        })
    }

    /// Whether any receiver at all authenticates (the daemon then builds a resolver).
    pub fn authenticates(&self) -> bool {
        self.receivers
            .iter()
            .flat_map(|r| &r.trusted_senders)
            .any(|t| t.auth != AuthPolicy::None)
    }

    /// The envelope sender at RCPT: refused only when no trusted sender of `receiver` could
    /// accept the message at end of data, where the header From decides. A sender with
    /// `auth = "dmarc"` or `"dkim"` may be proven by a DKIM signature whatever the envelope
    /// (ERP platforms and mail services use bounce addresses of their own, VERP); one with
    /// `"spf"` needs an envelope domain aligned with its own domain or its `via`; one with
    /// `"none"` (tests) takes the envelope as written, so it must be trusted itself. The null
    /// sender is never an invoice.
    ///
    /// # Errors
    /// The refusal to send (550 5.7.1).
    pub fn check_envelope_sender(
        &self,
        receiver: &Receiver,
        reverse_path: Option<&Address>,
    ) -> Result<(), Refusal> {
        let Some(sender) = reverse_path else {
            return Err(Refusal::new(RefusalKind::NullSender)
                .for_receiver(&receiver.address)
                .from_sender(""));
        };
        let refuse = || {
            Refusal::new(RefusalKind::UntrustedSender(Identity::EnvelopeSender))
                .for_receiver(&receiver.address)
                .from_sender(sender)
        };
        let trusted_as_written = self.trusted_sender(receiver, sender).is_some();
        let could_match = |t: &crate::config::TrustedSender| match t.auth {
            AuthPolicy::Dmarc | AuthPolicy::Dkim => true,
            AuthPolicy::None => trusted_as_written,
            AuthPolicy::Spf => {
                let domain = sender.domain().as_str();
                let aligned = |d: &str| super::auth::relaxed_aligned(domain, d);
                t.via.as_ref().is_some_and(|v| aligned(v.as_str()))
                    || match &t.kind {
                        TrustKind::Domain(d) => aligned(d.as_str()),
                        TrustKind::Address(a) => aligned(a.domain().as_str()),
                        TrustKind::VerifiedUsers => receiver.organisations.iter().any(|&i| {
                            self.organisations.get(i).is_some_and(|o| {
                                o.verified_users.iter().any(|p| match p {
                                    SenderPattern::Address(a) => aligned(a.domain().as_str()),
                                    SenderPattern::Domain(d) => aligned(d.as_str()),
                                })
                            })
                        }),
                    }
            }
        };
        if receiver.trusted_senders.iter().any(could_match) {
            Ok(())
        } else {
            Err(refuse())
        }
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
        if sender.is_empty() {
            return Err(Refusal::new(RefusalKind::NullSender)
                .for_receiver(&receiver.address)
                .from_sender(""));
        }
        let refuse = || {
            Refusal::new(RefusalKind::UntrustedSender(identity))
                .for_receiver(&receiver.address)
                .from_sender(sender)
        };
        let address = Address::parse(sender).map_err(|_| refuse())?;
        self.trusted_sender(receiver, &address)
            .map(|_| ())
            .ok_or_else(refuse)
    }
}
