//! `[[organisation]]`, `[[receiver]]` and `[[receiver.trusted_sender]]`: who receives invoices
//! at which address, and who may send them.
//!
//! The validated types (read by `policy::directory`, which indexes them) and the checks that
//! build them from the raw tables, called by [`super::validate`]. Identifiers (VAT ids, KvK
//! numbers, endpoint ids) are normalised here once, so the config's and an invoice's compare
//! with `==`.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;

use super::defaults;
use super::raw;
use super::validate::{Validator, closest, is_id, quoted};
use crate::address::{Address, Domain};

/// What must be proven about a trusted sender's mail (`auth`, per receiver and per trusted
/// sender): each requires a pass aligned with the header From's domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthPolicy {
    /// DMARC pass: SPF or DKIM aligned with the From domain, whatever policy it publishes.
    Dmarc,
    /// SPF pass for MAIL FROM, aligned with the From domain.
    Spf,
    /// A valid DKIM signature, aligned with the From domain.
    Dkim,
    /// Nothing is checked: the identities are taken as written (for tests only).
    None,
}

impl AuthPolicy {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthPolicy::Dmarc => "dmarc",
            AuthPolicy::Spf => "spf",
            AuthPolicy::Dkim => "dkim",
            AuthPolicy::None => "none",
        }
    }
}

/// `[[organisation]]`: a buyer whose invoices we receive.
#[derive(Debug, Clone)]
pub struct Organisation {
    /// Short stable id used by receivers and in the spool.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Dutch Chamber of Commerce number, if known (used to route by buyer; invoices also carry
    /// it as a legal id or an endpoint id with scheme `0106`).
    pub kvk: Option<String>,
    /// The organisation's VAT ids, normalised with [`normalise_identifier`], to route by buyer.
    pub vat_ids: Vec<String>,
    /// The organisation's electronic addresses (Peppol participant ids), to route by buyer.
    pub endpoint_ids: Vec<EndpointId>,
    /// The organisation's own verified users: addresses or whole domains.
    pub verified_users: Vec<SenderPattern>,
    /// The names of the sinks its documents go to, in file order, each a defined sink, none
    /// twice; empty keeps them in the spool (status `ready`) for a pull API. A receiver's own
    /// list overrides it: ask [`Config::deliver_for`](super::Config::deliver_for).
    pub deliver: Vec<String>,
}

/// An electronic address (Peppol participant id) as `scheme:id`, e.g. `0106:12345678`.
///
/// Both parts are normalised, so values from the config and from an invoice compare with `==`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointId {
    /// The scheme: a 4-digit ISO 6523 ICD (`0106` KvK, `0190` OIN, `0088` GLN) or a textual
    /// scheme such as `EM`, upper case.
    pub scheme: String,
    /// The identifier within the scheme, normalised with [`normalise_identifier`].
    pub id: String,
}

impl EndpointId {
    /// An endpoint id from its two parts as written (in the config or an invoice's
    /// `schemeID` attribute and text): the scheme trimmed and upper-cased, the id normalised.
    pub fn new(scheme: &str, id: &str) -> EndpointId {
        EndpointId {
            scheme: scheme.trim().to_uppercase(),
            id: normalise_identifier(id),
        }
    }
}

impl std::fmt::Display for EndpointId {
    /// `scheme:id`, the form the config uses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.scheme, self.id)
    }
}

/// An identifier (VAT id, KvK, endpoint id) in the one form used to compare them: upper case,
/// with whitespace (spaces, tabs, no-break spaces), dots and hyphens removed. So
/// `"nl 1234.56.789-b01"` and `"NL123456789B01"` are the same VAT id. Used for the config's
/// values and the invoice's alike.
pub fn normalise_identifier(s: &str) -> String {
    s.chars()
        .filter(|c| !(c.is_whitespace() || *c == '.' || *c == '-'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// An address or a whole domain that a sender may match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderPattern {
    /// Exactly this address (compared by [`Address::key`]).
    Address(Address),
    /// Any address at this domain (not its subdomains).
    Domain(Domain),
}

impl SenderPattern {
    /// Whether `sender` matches this pattern.
    pub fn matches(&self, sender: &Address) -> bool {
        match self {
            SenderPattern::Address(a) => a.key() == sender.key(),
            SenderPattern::Domain(d) => sender.domain() == d,
        }
    }
}

/// `[[receiver]]`: one generated address.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// The address suppliers send to.
    pub address: Address,
    /// Index into [`Config::organisations`](super::Config::organisations): the receiver's only organisation, or for a shared
    /// receiver the first of [`Receiver::organisations`].
    pub organisation: usize,
    /// Indexes into [`Config::organisations`](super::Config::organisations), in file order: every organisation this address
    /// serves (one element unless the receiver is shared). Documents are routed among them by
    /// the buyer's identifiers, and `verified_users = true` trusts the verified users of any.
    pub organisations: Vec<usize>,
    /// What the documents are, e.g. `purchase-invoice`.
    pub document_type: String,
    /// Who may send here.
    pub trusted_senders: Vec<TrustedSender>,
    /// For a one-organisation receiver: what to do with a buyer that clearly names another
    /// organisation.
    pub buyer_check: BuyerCheck,
    /// [`crate::invoice::Specification::id`] values accepted here; empty accepts every one.
    /// Ask [`Receiver::accepts_specification`] rather than reading it.
    pub accept_specifications: Vec<String>,
    /// Refuse a document that has no PDF visual.
    pub require_pdf: bool,
    /// Refuse a document with warning-level rule findings (`warnings = "refuse"`), not only
    /// with fatal ones.
    pub refuse_warnings: bool,
    /// In a message with several invoices where only some fail, accept the good ones
    /// (`partial = "accept"`) instead of refusing the whole message.
    pub accept_partial: bool,
    /// Refuse a duplicate invoice in the session (`duplicates = "refuse"`) instead of accepting
    /// it and marking it `duplicate`.
    pub refuse_duplicates: bool,
    /// The names of the sinks documents arriving here go to, overriding the organisation's
    /// list even when empty; `None` when `deliver` is not set, and then each document follows
    /// the list of the organisation it is routed to. Ask [`Config::deliver_for`](super::Config::deliver_for).
    pub deliver: Option<Vec<String>>,
}

impl Receiver {
    /// The language of mail to the contact of `trusted_senders[index]` (the default when the
    /// index is out of range).
    pub fn sender_language(&self, index: usize) -> Language {
        self.trusted_senders
            .get(index)
            .map_or(defaults::LANGUAGE, |t| t.language)
    }

    /// The sink names a document of `organisations[organisation]` arriving here goes to: this
    /// receiver's `deliver` when set, else the organisation's; empty when there are none (or
    /// the index is out of range).
    pub fn deliver_for<'a>(
        &'a self,
        organisations: &'a [Organisation],
        organisation: usize,
    ) -> &'a [String] {
        match &self.deliver {
            Some(list) => list,
            None => organisations
                .get(organisation)
                .map_or(&[], |o| o.deliver.as_slice()),
        }
    }

    /// Whether a document of this specification ([`crate::invoice::Specification::id`]) is
    /// accepted here: every one when `accept_specifications` is empty; `xrechnung` stands for
    /// every `xrechnung-*` and `zugferd-1` for every `zugferd-1*`; otherwise the exact id.
    pub fn accepts_specification(&self, spec_id: &str) -> bool {
        self.accept_specifications.is_empty()
            || self.accept_specifications.iter().any(|a| match a.as_str() {
                "xrechnung" => spec_id.starts_with("xrechnung-"),
                "zugferd-1" => spec_id.starts_with("zugferd-1"),
                a => a == spec_id,
            })
    }
}

/// `buyer_check`: a one-organisation receiver's answer to an invoice whose buyer clearly names
/// another organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuyerCheck {
    /// Refuse the document (`"strict"`, the default).
    Strict,
    /// Log it and accept the document (`"warn"`).
    Warn,
    /// Do not compare the buyer (`"off"`).
    Off,
}

impl BuyerCheck {
    /// The config word: `strict`, `warn` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            BuyerCheck::Strict => "strict",
            BuyerCheck::Warn => "warn",
            BuyerCheck::Off => "off",
        }
    }
}

/// `[[receiver.trusted_sender]]`.
#[derive(Debug, Clone)]
pub struct TrustedSender {
    /// The supplier's name.
    pub name: String,
    /// Where rejection notices go.
    pub contact: Address,
    /// Which senders this entry whitelists.
    pub kind: TrustKind,
    /// Its mail must arrive over TLS (STARTTLS): in clear text it is refused with 530 5.7.0.
    pub require_tls: bool,
    /// What must be proven about its mail: its own `auth`, else the receiver's.
    pub auth: AuthPolicy,
    /// Whether it sets its own `auth` (for `senders list`).
    pub own_auth: bool,
    /// The platform that sends for it (`via`): its mail may pass on SPF or DKIM for this
    /// domain instead of the From domain, when the From is exactly the trusted address.
    pub via: Option<Domain>,
    /// The language of notices and invitations to its contact (`language`).
    pub language: Language,
}

/// `language`: the language of the mail a trusted sender's contact gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Dutch (`"nl"`, the default).
    Nl,
    /// English (`"en"`).
    En,
}

impl Language {
    /// The config word: `nl` or `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Nl => "nl",
            Language::En => "en",
        }
    }
}

/// The three ways a trusted sender is whitelisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustKind {
    /// Any address at this domain.
    Domain(Domain),
    /// Exactly this address.
    Address(Address),
    /// The receiving organisation's verified users.
    VerifiedUsers,
}

impl Validator<'_> {
    pub(super) fn organisations(
        &mut self,
        raw: &[Spanned<raw::Organisation>],
        sinks: &[&str],
    ) -> Vec<Organisation> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for org in raw {
            let org = org.get_ref();
            let id = org.id.get_ref().trim().to_string();
            if !is_id(&id) {
                self.error(
                    &org.id,
                    format!("organisation id \"{id}\" is not a valid id; use 1 to 64 lower-case letters, digits, - or _, starting with a letter or digit, e.g. \"acme\""),
                );
            } else if let Some(line) = seen.get(&id) {
                self.error(
                    &org.id,
                    format!("organisation id \"{id}\" is already used on line {line}; give each organisation its own id"),
                );
            } else {
                let (line, _) = self.position(org.id.span().start);
                seen.insert(id.clone(), line);
            }
            let label = format!("organisation \"{id}\"");
            let name = self.nonempty(&org.name, &label, "name", "e.g. name = \"ACME B.V.\"");
            let kvk = org.kvk.as_ref().map(|kvk| {
                let k = kvk.get_ref().trim();
                if k.len() != 8 || !k.bytes().all(|b| b.is_ascii_digit()) {
                    self.error(
                        kvk,
                        format!("{label}: kvk \"{k}\" is not a KvK number; write its 8 digits, e.g. kvk = \"12345678\", or leave kvk out"),
                    );
                }
                k.to_string()
            });
            if let Some(reason) = &org.no_kvk_reason {
                if reason.get_ref().trim().is_empty() {
                    self.error(
                        reason,
                        format!("{label}: no_kvk_reason is empty; say why there is no KvK number, e.g. no_kvk_reason = \"no-company\", or remove the key"),
                    );
                } else if org.kvk.is_some() {
                    self.error(
                        reason,
                        format!("{label}: no_kvk_reason is set although kvk is; remove no_kvk_reason now that the KvK number is known"),
                    );
                }
            }
            let mut verified_users = Vec::with_capacity(org.verified_users.len());
            let mut seen_users: Vec<String> = Vec::new();
            for user in &org.verified_users {
                let Some(pattern) = self.sender_pattern(user, &label) else {
                    continue;
                };
                let key = pattern_key(&pattern);
                if seen_users.contains(&key) {
                    self.error(
                        user,
                        format!(
                            "{label}: verified user \"{}\" is listed twice; remove one",
                            user.get_ref()
                        ),
                    );
                } else {
                    seen_users.push(key);
                    verified_users.push(pattern);
                }
            }
            let vat_ids = self.vat_ids(&org.vat_ids, &label);
            let endpoint_ids = self.endpoint_ids(&org.endpoint_ids, &label);
            let deliver = self.deliver(&org.deliver, &label, sinks);
            out.push(Organisation {
                id,
                name,
                kvk,
                verified_users,
                vat_ids,
                endpoint_ids,
                deliver,
            });
        }
        out
    }

    /// `vat_ids`: normalised, a country prefix and a number, no duplicates.
    fn vat_ids(&mut self, raw: &[Spanned<String>], label: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(raw.len());
        for value in raw {
            let written = value.get_ref().trim();
            let vat = normalise_identifier(written);
            if !is_vat_id(&vat) {
                self.error(
                    value,
                    format!("{label}: VAT id \"{written}\" is not a VAT id; write the country code and the number, e.g. \"NL123456789B01\" (spaces, dots and hyphens are ignored)"),
                );
            } else if out.contains(&vat) {
                self.error(
                    value,
                    format!("{label}: VAT id \"{written}\" is listed twice; remove one"),
                );
            } else {
                out.push(vat);
            }
        }
        out
    }

    /// `endpoint_ids`: `scheme:id`, normalised, no duplicates.
    fn endpoint_ids(&mut self, raw: &[Spanned<String>], label: &str) -> Vec<EndpointId> {
        let mut out: Vec<EndpointId> = Vec::with_capacity(raw.len());
        for value in raw {
            let written = value.get_ref().trim();
            // Shown escaped: the one value here that may hold a control character.
            let shown = written.escape_debug();
            match parse_endpoint_id(written) {
                Ok(e) if out.contains(&e) => self.error(
                    value,
                    format!(
                        "{label}: endpoint id \"{shown}\" is listed twice (as {e}); remove one"
                    ),
                ),
                Ok(e) => out.push(e),
                Err(why) => self.error(value, format!("{label}: endpoint id \"{shown}\" {why}")),
            }
        }
        out
    }

    fn sender_pattern(&mut self, value: &Spanned<String>, label: &str) -> Option<SenderPattern> {
        let s = value.get_ref().trim();
        let parsed = match s.strip_prefix('@') {
            Some(domain) => Domain::parse(domain).map(SenderPattern::Domain),
            None => Address::parse(s).map(SenderPattern::Address),
        };
        match parsed {
            Ok(p) => Some(p),
            Err(e) => {
                self.error(
                    value,
                    format!("{label}: verified user {e}; write an address like \"ap@acme.example\" or a whole domain like \"@acme.example\""),
                );
                None
            }
        }
    }

    pub(super) fn receivers(
        &mut self,
        raw: &[Spanned<raw::Receiver>],
        raw_orgs: &[Spanned<raw::Organisation>],
        orgs: &[Organisation],
        sinks: &[&str],
    ) -> Vec<Receiver> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for spanned in raw {
            let receiver = spanned.get_ref();
            let written = receiver.address.get_ref().trim();
            let label = format!("receiver \"{written}\"");
            let address = match Address::parse(written) {
                Ok(a) => {
                    match seen.get(&a.key()) {
                        Some(line) => self.error(
                            &receiver.address,
                            format!("{label} is already defined on line {line} (local parts are compared case-insensitively); remove one or give it another address"),
                        ),
                        None => {
                            let (line, _) = self.position(receiver.address.span().start);
                            seen.insert(a.key(), line);
                        }
                    }
                    Some(a)
                }
                Err(e) => {
                    self.error(
                        &receiver.address,
                        format!("receiver address {e}; write a plain address, e.g. \"AD64SDE@trust.example.test\""),
                    );
                    None
                }
            };

            let organisations = self.receiver_organisations(spanned, &label, raw_orgs, orgs);
            let document_type = receiver.document_type.get_ref().trim().to_string();
            if !is_id(&document_type) {
                self.error(
                    &receiver.document_type,
                    format!("{label}: document_type \"{document_type}\" is not a valid name; use lower-case letters, digits, - or _, e.g. \"purchase-invoice\""),
                );
            }
            // Only when every organisation is known: otherwise that is the error to fix first.
            let served: Vec<&Organisation> = organisations
                .iter()
                .flatten()
                .filter_map(|&i| orgs.get(i))
                .collect();
            if served.len() > 1
                && let Some(list) = &receiver.organisations
            {
                self.shared_identifiers(list.get_ref(), &served, &label);
            }
            let auth = self.auth(receiver.auth.as_ref(), &label, defaults::AUTH);
            let trusted_senders =
                self.trusted_senders(&receiver.trusted_sender, &label, &served, auth);
            let buyer_check = self.choice(
                receiver.buyer_check.as_ref(),
                &label,
                "buyer_check",
                &[
                    ("strict", BuyerCheck::Strict),
                    ("warn", BuyerCheck::Warn),
                    ("off", BuyerCheck::Off),
                ],
                defaults::BUYER_CHECK,
            );
            let accept_specifications =
                self.specifications(&receiver.accept_specifications, &label);
            let require_pdf = receiver
                .require_pdf
                .as_ref()
                .map_or(defaults::REQUIRE_PDF, |v| *v.get_ref());
            let refuse_warnings = self.choice(
                receiver.warnings.as_ref(),
                &label,
                "warnings",
                &[("pass", false), ("refuse", true)],
                defaults::REFUSE_WARNINGS,
            );
            let accept_partial = self.choice(
                receiver.partial.as_ref(),
                &label,
                "partial",
                &[("refuse", false), ("accept", true)],
                defaults::ACCEPT_PARTIAL,
            );
            let refuse_duplicates = self.choice(
                receiver.duplicates.as_ref(),
                &label,
                "duplicates",
                &[("accept", false), ("refuse", true)],
                defaults::REFUSE_DUPLICATES,
            );
            let deliver = receiver
                .deliver
                .as_ref()
                .map(|list| self.deliver(list.get_ref(), &label, sinks));
            if let (Some(address), Some(organisations)) = (address, organisations)
                && let Some(&organisation) = organisations.first()
            {
                out.push(Receiver {
                    address,
                    organisation,
                    organisations,
                    document_type,
                    trusted_senders,
                    buyer_check,
                    accept_specifications,
                    require_pdf,
                    refuse_warnings,
                    accept_partial,
                    refuse_duplicates,
                    deliver,
                });
            }
        }
        out
    }

    /// The indexes of the organisations a receiver serves: exactly one of `organisation` and
    /// `organisations`, every id known, none twice. `None` after reporting any problem.
    fn receiver_organisations(
        &mut self,
        receiver: &Spanned<raw::Receiver>,
        label: &str,
        raw_orgs: &[Spanned<raw::Organisation>],
        orgs: &[Organisation],
    ) -> Option<Vec<usize>> {
        let (one, list) = {
            let r = receiver.get_ref();
            (r.organisation.as_ref(), r.organisations.as_ref())
        };
        match (one, list) {
            (None, None) => {
                self.error(
                    receiver,
                    format!("{label} sets neither organisation nor organisations; write organisation = \"acme\", or organisations = [\"acme\", \"beta\"] for an address shared by several organisations"),
                );
                None
            }
            (Some(one), Some(list)) => {
                // Point at whichever comes second, as for a trusted sender's kinds.
                let (first, second) = if one.span().start < list.span().start {
                    (("organisation", one.span()), ("organisations", list.span()))
                } else {
                    (("organisations", list.span()), ("organisation", one.span()))
                };
                self.error_at(
                    second.1,
                    format!("{label} sets both {} and {}; keep organisation = \"...\" for one organisation, or organisations = [...] for an address shared by several", first.0, second.0),
                );
                None
            }
            (Some(one), None) => self
                .organisation_index(one, label, raw_orgs, orgs)
                .map(|i| vec![i]),
            (None, Some(list)) => {
                if list.get_ref().is_empty() {
                    self.error(
                        list,
                        format!("{label}: organisations is empty; list the organisations this address serves, e.g. organisations = [\"acme\", \"beta\"], or write organisation = \"acme\""),
                    );
                    return None;
                }
                let mut out = Vec::with_capacity(list.get_ref().len());
                let mut complete = true;
                for (n, value) in list.get_ref().iter().enumerate() {
                    let id = value.get_ref().trim();
                    let earlier = list.get_ref()[..n].iter().any(|v| v.get_ref().trim() == id);
                    if earlier {
                        self.error(
                            value,
                            format!("{label}: organisation \"{id}\" is listed twice in organisations; remove one"),
                        );
                        complete = false;
                    } else if let Some(i) = self.organisation_index(value, label, raw_orgs, orgs) {
                        out.push(i);
                    } else {
                        complete = false;
                    }
                }
                complete.then_some(out)
            }
        }
    }

    /// The index of the organisation `value` names, or `None` after reporting it unknown.
    fn organisation_index(
        &mut self,
        value: &Spanned<String>,
        label: &str,
        raw_orgs: &[Spanned<raw::Organisation>],
        orgs: &[Organisation],
    ) -> Option<usize> {
        let org_id = value.get_ref().trim();
        // Match raw ids too, so a receiver of an organisation whose own entry had an error
        // does not get a second, misleading error.
        let organisation = raw_orgs
            .iter()
            .position(|o| o.get_ref().id.get_ref().trim() == org_id);
        if organisation.is_none() {
            let hint = match closest(org_id, orgs.iter().map(|o| o.id.as_str())) {
                Some(best) => format!("did you mean \"{best}\"?"),
                None if orgs.is_empty() => "add an [[organisation]] with this id".to_string(),
                None => format!("use one of {}", quoted(orgs.iter().map(|o| o.id.as_str()))),
            };
            self.error(
                value,
                format!("{label}: unknown organisation \"{org_id}\"; {hint}"),
            );
        }
        organisation
    }

    /// A shared receiver routes by the buyer's identifiers, so no two of its organisations may
    /// share one (a KvK number is also the endpoint id `0106:<kvk>`). Reports each organisation
    /// that repeats an identifier of an earlier one, at its entry in `organisations`.
    fn shared_identifiers(
        &mut self,
        list: &[Spanned<String>],
        served: &[&Organisation],
        label: &str,
    ) {
        let identifiers = |org: &Organisation| -> Vec<(String, String)> {
            let mut ids: Vec<(String, String)> = Vec::new();
            if let Some(kvk) = &org.kvk {
                ids.push((format!("endpoint 0106:{kvk}"), format!("KvK {kvk}")));
            }
            for vat in &org.vat_ids {
                ids.push((format!("vat {vat}"), format!("VAT id {vat}")));
            }
            for e in &org.endpoint_ids {
                ids.push((format!("endpoint {e}"), format!("endpoint id {e}")));
            }
            ids
        };
        for (j, (value, org)) in list.iter().zip(served).enumerate() {
            let mine = identifiers(org);
            let clash = served[..j].iter().find_map(|earlier| {
                let theirs = identifiers(earlier);
                mine.iter()
                    .find(|(key, _)| theirs.iter().any(|(k, _)| k == key))
                    .map(|(_, shown)| (earlier.id.clone(), shown.clone()))
            });
            if let Some((earlier, shown)) = clash {
                self.error(
                    value,
                    format!("{label}: organisations \"{earlier}\" and \"{}\" share {shown}, so an invoice to that buyer could not be routed; give each organisation its own identifiers, or use one receiver per organisation", org.id),
                );
            }
        }
    }

    /// `accept_specifications`: known specification ids, none twice.
    fn specifications(&mut self, raw: &[Spanned<String>], label: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(raw.len());
        for value in raw {
            let spec = value.get_ref().trim();
            if !is_specification(spec) {
                let hint = match closest(spec, defaults::SPECIFICATIONS.iter().copied()) {
                    Some(best) => format!("did you mean \"{best}\"? "),
                    None => String::new(),
                };
                self.error(
                    value,
                    format!("{label}: unknown specification \"{spec}\" in accept_specifications; {hint}write one of {}, or \"xrechnung-X.Y\" / \"xrechnung-X.Y-extension\" for one XRechnung version (e.g. \"xrechnung-3.0\")", quoted(defaults::SPECIFICATIONS.iter().copied())),
                );
            } else if out.iter().any(|s| s == spec) {
                self.error(
                    value,
                    format!("{label}: accept_specifications lists \"{spec}\" twice; remove one"),
                );
            } else {
                out.push(spec.to_string());
            }
        }
        out
    }

    fn trusted_senders(
        &mut self,
        raw: &[Spanned<raw::TrustedSender>],
        receiver: &str,
        orgs: &[&Organisation],
        receiver_auth: AuthPolicy,
    ) -> Vec<TrustedSender> {
        let mut seen: Vec<(String, usize)> = Vec::new();
        let mut out = Vec::with_capacity(raw.len());
        for (i, spanned) in raw.iter().enumerate() {
            let sender = spanned.get_ref();
            let label = format!("{receiver}: trusted_sender[{}]", i + 1);
            let name = self.nonempty(
                &sender.name,
                &label,
                "name",
                "e.g. name = \"Supplier B.V.\"",
            );
            let contact = match Address::parse(sender.contact.get_ref().trim()) {
                Ok(a) => Some(a),
                Err(e) => {
                    self.error(
                        &sender.contact,
                        format!("{label}: contact {e}; write the supplier's address for notices, e.g. \"billing@supplier.example\""),
                    );
                    None
                }
            };

            let verified = sender.verified_users.as_ref().filter(|v| *v.get_ref());
            let mut kinds: Vec<(&str, Range<usize>)> = [
                sender.domain.as_ref().map(|d| ("domain", d.span())),
                sender.address.as_ref().map(|a| ("address", a.span())),
                verified.map(|v| ("verified_users", v.span())),
            ]
            .into_iter()
            .flatten()
            .collect();
            kinds.sort_by_key(|k| k.1.start);
            let fix =
                "keep exactly one of domain = \"...\", address = \"...\", verified_users = true";
            let kind = match kinds.as_slice() {
                [] => {
                    self.error(
                        spanned,
                        format!("{label} sets none of domain, address and verified_users; {fix}"),
                    );
                    None
                }
                [_] => self.trust_kind(sender, &label, orgs),
                [first, second, rest @ ..] => {
                    let mut names = vec![first.0, second.0];
                    names.extend(rest.iter().map(|k| k.0));
                    let listed = match names.as_slice() {
                        [a, b] => format!("both {a} and {b}"),
                        _ => format!("all of {}", names.join(", ")),
                    };
                    self.error_at(second.1.clone(), format!("{label} sets {listed}; {fix}"));
                    None
                }
            };

            if let Some(kind) = &kind {
                let key = match kind {
                    TrustKind::Domain(d) => format!("domain {d}"),
                    TrustKind::Address(a) => format!("address {}", a.key()),
                    TrustKind::VerifiedUsers => "verified_users".to_string(),
                };
                let (line, _) = self.position(spanned.span().start);
                if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                    self.error(
                        spanned,
                        format!(
                            "{label} repeats {key}, already trusted on line {first}; remove one"
                        ),
                    );
                } else {
                    seen.push((key, line));
                }
            }
            let auth = self.auth(sender.auth.as_ref(), &label, receiver_auth);
            let via = sender.via.as_ref().and_then(|via| {
                let written = via.get_ref().trim();
                match Domain::parse(written) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        self.error(via, format!("{label}: via \"{written}\" {e}; write the domain of the platform that sends for this supplier, e.g. via = \"erp-platform.example\""));
                        None
                    }
                }
            });
            if let Some(via) = &sender.via
                && sender.address.is_none()
            {
                self.error(via, format!("{label}: via needs the exact sender: the From must then be one address, so write address = \"...\" instead of domain or verified_users"));
            }
            let language = self.choice(
                sender.language.as_ref(),
                &label,
                "language",
                &[("nl", Language::Nl), ("en", Language::En)],
                defaults::LANGUAGE,
            );
            if let (Some(contact), Some(kind)) = (contact, kind) {
                out.push(TrustedSender {
                    name,
                    contact,
                    kind,
                    require_tls: sender.require_tls.as_ref().is_some_and(|b| *b.get_ref()),
                    auth,
                    own_auth: sender.auth.is_some(),
                    via,
                    language,
                });
            }
        }
        out
    }

    /// The one whitelist kind of a trusted sender that sets exactly one.
    fn trust_kind(
        &mut self,
        sender: &raw::TrustedSender,
        label: &str,
        orgs: &[&Organisation],
    ) -> Option<TrustKind> {
        if let Some(domain) = &sender.domain {
            let d = domain.get_ref().trim();
            let hint = if d.starts_with('@') {
                format!(
                    "write it without @, e.g. domain = \"{}\"",
                    d.trim_start_matches('@')
                )
            } else if d.contains('@') {
                "a domain has no @; to trust one address write address = \"...\" instead"
                    .to_string()
            } else {
                "write a domain name, e.g. domain = \"supplier.example\"".to_string()
            };
            return match Domain::parse(d) {
                Ok(d) => Some(TrustKind::Domain(d)),
                Err(_) => {
                    self.error(domain, format!("{label}: \"{d}\" is not a domain; {hint}"));
                    None
                }
            };
        }
        if let Some(address) = &sender.address {
            return match Address::parse(address.get_ref().trim()) {
                Ok(a) => Some(TrustKind::Address(a)),
                Err(e) => {
                    self.error(address, format!("{label}: address {e}; write a plain address, e.g. address = \"billing@supplier.example\""));
                    None
                }
            };
        }
        let verified = sender.verified_users.as_ref()?;
        // `orgs` is empty when the receiver's organisations are in error: nothing to check.
        if !orgs.is_empty() && orgs.iter().all(|o| o.verified_users.is_empty()) {
            let message = match orgs {
                [org] => format!(
                    "{label} trusts verified_users, but organisation \"{}\" has none; add verified_users = [\"...\"] to that [[organisation]] or use domain/address here",
                    org.id
                ),
                _ => format!(
                    "{label} trusts verified_users, but none of organisations {} has any; add verified_users = [\"...\"] to one of those [[organisation]] sections or use domain/address here",
                    quoted(orgs.iter().map(|o| o.id.as_str()))
                ),
            };
            self.error(verified, message);
            return None;
        }
        Some(TrustKind::VerifiedUsers)
    }

    /// An `auth` policy (`dmarc`, `spf`, `dkim`, `none`), or `default`; `none` is warned about.
    fn auth(
        &mut self,
        value: Option<&Spanned<String>>,
        label: &str,
        default: AuthPolicy,
    ) -> AuthPolicy {
        let auth = self.choice(
            value,
            label,
            "auth",
            &[
                ("dmarc", AuthPolicy::Dmarc),
                ("spf", AuthPolicy::Spf),
                ("dkim", AuthPolicy::Dkim),
                ("none", AuthPolicy::None),
            ],
            default,
        );
        if let Some(value) = value
            && auth == AuthPolicy::None
        {
            self.warning(value, format!("{label}: auth = \"none\" takes the sender's identity as written, so anyone can forge it; use it for tests only, and write auth = \"dmarc\" in production"));
        }
        auth
    }
}

/// A normalised VAT id: a 2-letter country prefix, then 2 to 14 letters or digits (EU VAT ids
/// are at most 14 characters; Swiss `CHE123456789MWST` is 16).
pub(crate) fn is_vat_id(s: &str) -> bool {
    let b = s.as_bytes();
    (4..=16).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b.iter().all(u8::is_ascii_alphanumeric)
}

/// Parses `scheme:id` (the id may itself hold colons). The error completes
/// `endpoint id "..." {error}`.
pub(crate) fn parse_endpoint_id(s: &str) -> Result<EndpointId, String> {
    let e = "e.g. \"0106:12345678\" (KvK) or \"0190:00000001234567890000\" (OIN)";
    if s.to_ascii_lowercase().starts_with("iso6523-actorid-upis::") {
        return Err(format!(
            "starts with the Peppol prefix iso6523-actorid-upis::; write it without, {e}"
        ));
    }
    let Some((scheme, id)) = s.split_once(':') else {
        return Err(format!(
            "is not of the form scheme:id; write the scheme and the identifier, {e}"
        ));
    };
    let scheme = scheme.trim();
    let endpoint = EndpointId::new(scheme, id);
    if scheme.is_empty() {
        return Err(format!("has no scheme before the colon; write {e}"));
    }
    if endpoint.id.is_empty() {
        return Err(format!("has no identifier after the colon; write {e}"));
    }
    if scheme.bytes().all(|b| b.is_ascii_digit()) {
        if scheme.len() != 4 {
            return Err(format!(
                "has scheme \"{scheme}\", but a numeric scheme (ISO 6523 ICD) has 4 digits; write {e}"
            ));
        }
    } else if scheme.len() > 16 || !scheme.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "has scheme \"{scheme}\", which is neither a 4-digit ICD nor a word such as EM or GLN; write {e}"
        ));
    }
    if endpoint.id.chars().any(char::is_control) {
        return Err(format!(
            "holds a control character; write the identifier as printed, {e}"
        ));
    }
    Ok(endpoint)
}

/// Whether `s` is an `accept_specifications` value: one of [`defaults::SPECIFICATIONS`], or
/// `xrechnung-X.Y` / `xrechnung-X.Y-extension` with X and Y numbers (0 to 255).
fn is_specification(s: &str) -> bool {
    if defaults::SPECIFICATIONS.contains(&s) {
        return true;
    }
    let Some(version) = s.strip_prefix("xrechnung-") else {
        return false;
    };
    let version = version
        .strip_suffix("-extension")
        .or_else(|| version.strip_suffix("-cvd"))
        .unwrap_or(version);
    let number = |n: &str| n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u8>().is_ok();
    matches!(version.split_once('.'), Some((major, minor)) if number(major) && number(minor))
}

fn pattern_key(p: &SenderPattern) -> String {
    match p {
        SenderPattern::Address(a) => a.key(),
        SenderPattern::Domain(d) => format!("@{d}"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::validate::load_str;
    use crate::config::validate::testing::*;

    const AUTH_RECEIVER: &str = r#"
[[organisation]]
id = "acme"
name = "ACME"

[[receiver]]
address = "A@trust.example.test"
organisation = "acme"
document_type = "purchase-invoice"
auth = "spf"

[[receiver.trusted_sender]]
name = "S"
contact = "s@supplier.example"
domain = "supplier.example"

[[receiver.trusted_sender]]
name = "E"
contact = "e@erp.example"
address = "e@erp.example"
via = "platform.example"
auth = "none"
"#;

    #[test]
    fn auth_is_inherited_overridden_and_none_is_warned_about() {
        let text = format!("{HEAD}{AUTH_RECEIVER}");
        let config = load_str(&text, Path::new("t.toml"), &no_io()).unwrap();
        let senders = &config.receivers[0].trusted_senders;
        assert_eq!(senders[0].auth, AuthPolicy::Spf);
        assert_eq!(senders[1].auth, AuthPolicy::None);
        assert_eq!(
            senders[1].via.as_ref().map(Domain::as_str),
            Some("platform.example")
        );
        let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "t.toml:27:8: receiver \"A@trust.example.test\": trusted_sender[2]: auth = \"none\""
            ),
            "{warnings:?}"
        );
        // The default.
        let text = text.replace("auth = \"spf\"\n", "");
        let config = load_str(&text, Path::new("t.toml"), &no_io()).unwrap();
        assert_eq!(
            config.receivers[0].trusted_senders[0].auth,
            AuthPolicy::Dmarc
        );
    }

    #[test]
    fn auth_via_and_dns_mistakes_are_located() {
        let text = format!("{HEAD}{AUTH_RECEIVER}")
            .replace("auth = \"spf\"", "auth = \"dmark\"")
            .replace("address = \"e@erp.example\"", "domain = \"erp.example\"")
            + "\n[dns]\nnameservers = [\"127.0.0.1:5353\", \"resolver.example\"]\ntimeout = \"1h\"\n";
        let errs = errors(&text);
        for expected in [
            "t.toml:15:8: receiver \"A@trust.example.test\": unknown auth \"dmark\"; did you mean \"dmarc\"?",
            "t.toml:26:7: receiver \"A@trust.example.test\": trusted_sender[2]: via needs the exact sender",
            "t.toml:30:34: dns.nameservers entry \"resolver.example\" is not an IP address",
            "t.toml:31:11: dns.timeout 1h is out of range",
        ] {
            assert!(
                errs.iter().any(|e| e.starts_with(expected)),
                "{expected}\n{errs:?}"
            );
        }
    }

    #[test]
    fn the_three_trust_kinds_and_optional_keys() {
        let text = format!(
            "{HEAD}[[organisation]]\nid = \"acme\"\nname = \"A\"\nverified_users = [\"ap@acme.example\"]\n\
             [[receiver]]\naddress = \"x@trust.example.test\"\norganisation = \"acme\"\ndocument_type = \"purchase-invoice\"\n\
             [[receiver.trusted_sender]]\nname = \"a\"\ncontact = \"a@a.example\"\naddress = \"Inv@A.example\"\n\
             [[receiver.trusted_sender]]\nname = \"b\"\ncontact = \"b@b.example\"\nverified_users = true\n\
             [[receiver.trusted_sender]]\nname = \"c\"\ncontact = \"c@c.example\"\ndomain = \"C.Example\"\nverified_users = false\n"
        );
        let c = valid(&text);
        assert_eq!(c.organisations[0].kvk, None);
        let kinds: Vec<_> = c.receivers[0]
            .trusted_senders
            .iter()
            .map(|t| t.kind.clone())
            .collect();
        assert_eq!(
            kinds,
            vec![
                TrustKind::Address(Address::parse("Inv@a.example").unwrap()),
                TrustKind::VerifiedUsers,
                TrustKind::Domain(Domain::parse("c.example").unwrap()),
            ]
        );
    }

    #[test]
    fn duplicate_receiver_addresses_compare_local_part_case_insensitively() {
        let text = format!(
            "{EXAMPLE}\n[[receiver]]\naddress = \"ad64sde@TRUST.example.test\"\norganisation = \"acme\"\ndocument_type = \"purchase-invoice\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:26:11: receiver \"ad64sde@TRUST.example.test\" is already defined on line 16 (local parts are compared case-insensitively); remove one or give it another address"
            ]
        );
    }

    #[test]
    fn receiver_naming_an_unknown_organisation() {
        let text = EXAMPLE.replace("organisation = \"acme\"", "organisation = \"acne\"");
        assert_eq!(
            errors(&text),
            [
                "t.toml:17:16: receiver \"AD64SDE@trust.example.test\": unknown organisation \"acne\"; did you mean \"acme\"?"
            ]
        );
        let text = EXAMPLE.replace("organisation = \"acme\"", "organisation = \"globex\"");
        assert_one(
            &text,
            "17:16",
            "unknown organisation \"globex\"; use one of \"acme\"",
        );
    }

    #[test]
    fn trusted_sender_with_two_kinds_points_at_the_second() {
        let text = EXAMPLE.replace(
            "domain = \"supplier.example\"\n",
            "domain = \"supplier.example\"\naddress = \"a@supplier.example\"\n",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:24:11: receiver \"AD64SDE@trust.example.test\": trusted_sender[1] sets both domain and address; keep exactly one of domain = \"...\", address = \"...\", verified_users = true"
            ]
        );
        let text = text.replace(
            "address = \"a@supplier",
            "verified_users = true\naddress = \"a@supplier",
        );
        assert_one(
            &text,
            "24:18",
            "trusted_sender[1] sets all of domain, verified_users, address; keep exactly one",
        );
    }

    #[test]
    fn trusted_sender_with_no_kind_points_at_its_header() {
        let text = EXAMPLE.replace(
            "domain = \"supplier.example\"\n",
            "verified_users = false\n",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:20:1: receiver \"AD64SDE@trust.example.test\": trusted_sender[1] sets none of domain, address and verified_users; keep exactly one of domain = \"...\", address = \"...\", verified_users = true"
            ]
        );
    }

    #[test]
    fn trusted_sender_repeated() {
        let text = format!(
            "{EXAMPLE}[[receiver.trusted_sender]]\nname = \"again\"\ncontact = \"x@supplier.example\"\ndomain = \"Supplier.Example\"\n"
        );
        assert_one(
            &text,
            "24:1",
            "trusted_sender[2] repeats domain supplier.example, already trusted on line 20; remove one",
        );
    }

    #[test]
    fn malformed_addresses_and_domains() {
        let text = EXAMPLE
            .replace("\"AD64SDE@trust.example.test\"", "\"AD64SDE\"")
            .replace(
                "\"billing@supplier.example\"",
                "\"billing@@supplier.example\"",
            )
            .replace(
                "domain = \"supplier.example\"",
                "domain = \"@supplier.example\"",
            )
            .replace("\"@accountant.example\"", "\"@accountant\"");
        assert_eq!(
            errors(&text),
            [
                "t.toml:13:38: organisation \"acme\": verified user \"accountant\" is not a valid domain name; write an address like \"ap@acme.example\" or a whole domain like \"@acme.example\"",
                "t.toml:16:11: receiver address \"AD64SDE\" is not of the form local@domain; write a plain address, e.g. \"AD64SDE@trust.example.test\"",
                "t.toml:22:11: receiver \"AD64SDE\": trusted_sender[1]: contact \"billing@@supplier.example\" is not of the form local@domain; write the supplier's address for notices, e.g. \"billing@supplier.example\"",
                "t.toml:23:10: receiver \"AD64SDE\": trusted_sender[1]: \"@supplier.example\" is not a domain; write it without @, e.g. domain = \"supplier.example\"",
            ]
        );
    }

    #[test]
    fn duplicate_organisation_ids_and_bad_ids() {
        let text = format!(
            "{EXAMPLE}[[organisation]]\nid = \"acme\"\nname = \"Other\"\n[[organisation]]\nid = \"ACME Corp\"\nname = \"\"\nkvk = \"1234\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:25:6: organisation id \"acme\" is already used on line 10; give each organisation its own id",
                "t.toml:28:6: organisation id \"ACME Corp\" is not a valid id; use 1 to 64 lower-case letters, digits, - or _, starting with a letter or digit, e.g. \"acme\"",
                "t.toml:29:8: organisation \"ACME Corp\": name is empty; write one, e.g. name = \"ACME B.V.\"",
                "t.toml:30:7: organisation \"ACME Corp\": kvk \"1234\" is not a KvK number; write its 8 digits, e.g. kvk = \"12345678\", or leave kvk out",
            ]
        );
    }

    #[test]
    fn verified_users_true_needs_verified_users_in_the_organisation() {
        let text = EXAMPLE
            .replace(
                "verified_users = [\"ap@acme.example\", \"@accountant.example\"]\n",
                "",
            )
            .replace("domain = \"supplier.example\"", "verified_users = true");
        assert_eq!(
            errors(&text),
            [
                "t.toml:22:18: receiver \"AD64SDE@trust.example.test\": trusted_sender[1] trusts verified_users, but organisation \"acme\" has none; add verified_users = [\"...\"] to that [[organisation]] or use domain/address here"
            ]
        );
    }

    // ---- routing identifiers, shared receivers and receiver rules ----

    /// Two organisations and a receiver shared by both (line numbers below refer to it).
    const SHARED: &str = r#"[server]
hostname = "mx.trust.example.test"
listen = ["127.0.0.1:2525"]
[spool]
path = "spool"
[[organisation]]
id = "acme"
name = "ACME B.V."
kvk = "12345678"
[[organisation]]
id = "beta"
name = "Beta B.V."
kvk = "87654321"
verified_users = ["ap@beta.example"]
[[receiver]]
address = "SHARED1@trust.example.test"
organisations = ["beta", "acme"]
document_type = "purchase-invoice"
[[receiver.trusted_sender]]
name = "Supplier B.V."
contact = "billing@supplier.example"
verified_users = true
"#;

    #[test]
    fn normalise_identifier_removes_spaces_dots_hyphens_and_upper_cases() {
        assert_eq!(normalise_identifier("nl 1234.56.789-b01"), "NL123456789B01");
        assert_eq!(
            normalise_identifier("\tBE 0123.456.749\u{a0}"),
            "BE0123456749"
        );
        assert_eq!(normalise_identifier("ap@acme.example"), "AP@ACMEEXAMPLE");
        assert_eq!(normalise_identifier(" -. "), "");
        assert_eq!(
            EndpointId::new(" gln ", "87 1234 5678 906").to_string(),
            "GLN:8712345678906"
        );
    }

    #[test]
    fn vat_and_endpoint_ids_round_trip_normalised() {
        let text = EXAMPLE.replace(
            "\n\n[[receiver]]",
            "\nvat_ids = [\"nl 1234.56.789-b01\", \"CHE-123.456.789 MWST\"]\nendpoint_ids = [\"0106:12345678\", \"gln:87 1234 5678 906\", \"0190:0000000-1234567890000\", \"EM:ap@acme.example\", \"9944:nl123456789b01\"]\n\n[[receiver]]",
        );
        let c = valid(&text);
        let org = &c.organisations[0];
        assert_eq!(org.vat_ids, ["NL123456789B01", "CHE123456789MWST"]);
        let shown: Vec<String> = org.endpoint_ids.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "0106:12345678",
                "GLN:8712345678906",
                "0190:00000001234567890000",
                "EM:AP@ACMEEXAMPLE",
                "9944:NL123456789B01"
            ]
        );
        assert_eq!(
            org.endpoint_ids[0],
            EndpointId {
                scheme: "0106".into(),
                id: "12345678".into()
            }
        );
        // Absent: empty.
        let c = valid(EXAMPLE);
        assert!(c.organisations[0].vat_ids.is_empty());
        assert!(c.organisations[0].endpoint_ids.is_empty());
    }

    #[test]
    fn malformed_vat_ids() {
        let text = EXAMPLE.replace(
            "\n\n[[receiver]]",
            "\nvat_ids = [\"123456789\", \"NL123456789B01\", \"nl 123456789 b01\", \"NL12345678901234567\", \"NL_1\"]\n\n[[receiver]]",
        );
        let fix = "write the country code and the number, e.g. \"NL123456789B01\" (spaces, dots and hyphens are ignored)";
        assert_eq!(
            errors(&text),
            [
                format!("t.toml:14:12: organisation \"acme\": VAT id \"123456789\" is not a VAT id; {fix}"),
                "t.toml:14:43: organisation \"acme\": VAT id \"nl 123456789 b01\" is listed twice; remove one".to_string(),
                format!("t.toml:14:63: organisation \"acme\": VAT id \"NL12345678901234567\" is not a VAT id; {fix}"),
                format!("t.toml:14:86: organisation \"acme\": VAT id \"NL_1\" is not a VAT id; {fix}"),
            ]
        );
    }

    #[test]
    fn malformed_endpoint_ids() {
        let text = EXAMPLE.replace(
            "\n\n[[receiver]]",
            "\nendpoint_ids = [\"12345678\", \":123\", \"0106: \", \"106:12345678\", \"E M:x\",\n  \"iso6523-actorid-upis::0106:12345678\", \"0106:1234 5678\", \"0106:12345678\", \"EM:a\\u0007b\"]\n\n[[receiver]]",
        );
        let e = "e.g. \"0106:12345678\" (KvK) or \"0190:00000001234567890000\" (OIN)";
        let org = "organisation \"acme\": endpoint id";
        assert_eq!(
            errors(&text),
            [
                format!(
                    "t.toml:14:17: {org} \"12345678\" is not of the form scheme:id; write the scheme and the identifier, {e}"
                ),
                format!("t.toml:14:29: {org} \":123\" has no scheme before the colon; write {e}"),
                format!(
                    "t.toml:14:37: {org} \"0106:\" has no identifier after the colon; write {e}"
                ),
                format!(
                    "t.toml:14:47: {org} \"106:12345678\" has scheme \"106\", but a numeric scheme (ISO 6523 ICD) has 4 digits; write {e}"
                ),
                format!(
                    "t.toml:14:63: {org} \"E M:x\" has scheme \"E M\", which is neither a 4-digit ICD nor a word such as EM or GLN; write {e}"
                ),
                format!(
                    "t.toml:15:3: {org} \"iso6523-actorid-upis::0106:12345678\" starts with the Peppol prefix iso6523-actorid-upis::; write it without, {e}"
                ),
                format!(
                    "t.toml:15:60: {org} \"0106:12345678\" is listed twice (as 0106:12345678); remove one"
                ),
                format!(
                    "t.toml:15:77: {org} \"EM:a\\u{{7}}b\" holds a control character; write the identifier as printed, {e}"
                ),
            ]
        );
    }

    #[test]
    fn shared_receiver_round_trip() {
        let c = valid(SHARED);
        let r = &c.receivers[0];
        // In the order written; `organisation` is the first of them.
        assert_eq!(r.organisations, [1, 0]);
        assert_eq!(r.organisation, 1);
        // beta has verified users, acme none: one of them is enough.
        assert_eq!(r.trusted_senders[0].kind, TrustKind::VerifiedUsers);
        // A one-organisation receiver has a one-element list.
        let c = valid(EXAMPLE);
        assert_eq!(
            (
                c.receivers[0].organisation,
                &c.receivers[0].organisations[..]
            ),
            (0, &[0][..])
        );
        // A shared list of one is allowed.
        let c = valid(&SHARED.replace("[\"beta\", \"acme\"]", "[\"beta\"]"));
        assert_eq!(c.receivers[0].organisations, [1]);
    }

    #[test]
    fn receiver_needs_exactly_one_of_organisation_and_organisations() {
        let label = "receiver \"AD64SDE@trust.example.test\"";
        let text = EXAMPLE.replace("organisation = \"acme\"\n", "");
        assert_eq!(
            errors(&text),
            [format!(
                "t.toml:15:1: {label} sets neither organisation nor organisations; write organisation = \"acme\", or organisations = [\"acme\", \"beta\"] for an address shared by several organisations"
            )]
        );
        let keep = "keep organisation = \"...\" for one organisation, or organisations = [...] for an address shared by several";
        let text = EXAMPLE.replace(
            "organisation = \"acme\"\n",
            "organisation = \"acme\"\norganisations = [\"acme\"]\n",
        );
        assert_eq!(
            errors(&text),
            [format!(
                "t.toml:18:17: {label} sets both organisation and organisations; {keep}"
            )]
        );
        let text = EXAMPLE.replace(
            "organisation = \"acme\"\n",
            "organisations = [\"acme\"]\norganisation = \"acme\"\n",
        );
        assert_eq!(
            errors(&text),
            [format!(
                "t.toml:18:16: {label} sets both organisations and organisation; {keep}"
            )]
        );
        let text = EXAMPLE.replace("organisation = \"acme\"", "organisations = []");
        assert_eq!(
            errors(&text),
            [format!(
                "t.toml:17:17: {label}: organisations is empty; list the organisations this address serves, e.g. organisations = [\"acme\", \"beta\"], or write organisation = \"acme\""
            )]
        );
        let text = EXAMPLE.replace("organisation = \"acme\"", "organisations = \"acme\"");
        assert_one(&text, "17:17", "write a list in brackets");
    }

    #[test]
    fn shared_receiver_with_unknown_or_repeated_organisations() {
        let label = "receiver \"SHARED1@trust.example.test\"";
        let text = SHARED.replace(
            "[\"beta\", \"acme\"]",
            "[\"beta\", \"acne\", \"gamma\", \"beta\", \" acme\"]",
        );
        assert_eq!(
            errors(&text),
            [
                format!(
                    "t.toml:17:26: {label}: unknown organisation \"acne\"; did you mean \"acme\"?"
                ),
                format!(
                    "t.toml:17:34: {label}: unknown organisation \"gamma\"; use one of \"acme\", \"beta\""
                ),
                format!(
                    "t.toml:17:43: {label}: organisation \"beta\" is listed twice in organisations; remove one"
                ),
            ]
        );
    }

    #[test]
    fn shared_receiver_verified_users_need_one_organisation_with_some() {
        let text = SHARED.replace("verified_users = [\"ap@beta.example\"]\n", "");
        assert_eq!(
            errors(&text),
            [
                "t.toml:21:18: receiver \"SHARED1@trust.example.test\": trusted_sender[1] trusts verified_users, but none of organisations \"beta\", \"acme\" has any; add verified_users = [\"...\"] to one of those [[organisation]] sections or use domain/address here"
            ]
        );
    }

    #[test]
    fn shared_receiver_organisations_must_not_share_identifiers() {
        let label = "receiver \"SHARED1@trust.example.test\"";
        let fix = "so an invoice to that buyer could not be routed; give each organisation its own identifiers, or use one receiver per organisation";
        // beta's endpoint 0106 is acme's KvK number.
        let text = SHARED.replace(
            "kvk = \"87654321\"",
            "kvk = \"87654321\"\nendpoint_ids = [\"0106:1234.5678\"]",
        );
        assert_eq!(
            errors(&text),
            [format!(
                "t.toml:18:26: {label}: organisations \"beta\" and \"acme\" share KvK 12345678, {fix}"
            )]
        );
        let text = SHARED
            .replace("kvk = \"87654321\"", "vat_ids = [\"NL123456789B01\"]")
            .replace("kvk = \"12345678\"", "vat_ids = [\"nl123456789b01\"]");
        assert_eq!(
            errors(&text),
            [format!(
                "t.toml:17:26: {label}: organisations \"beta\" and \"acme\" share VAT id NL123456789B01, {fix}"
            )]
        );
        // Two receivers of one organisation each may use the same identifiers.
        let text = format!(
            "{EXAMPLE}[[organisation]]\nid = \"acme-2\"\nname = \"ACME again\"\nkvk = \"12345678\"\n"
        );
        valid(&text);
    }

    #[test]
    fn receiver_rules_round_trip_and_defaults() {
        let c = valid(EXAMPLE);
        let r = &c.receivers[0];
        assert_eq!(r.buyer_check, BuyerCheck::Strict);
        assert!(r.accept_specifications.is_empty());
        assert!(!r.require_pdf && !r.refuse_warnings && !r.accept_partial && !r.refuse_duplicates);
        assert_eq!(r.buyer_check, defaults::BUYER_CHECK);
        assert_eq!(
            (
                r.require_pdf,
                r.refuse_warnings,
                r.accept_partial,
                r.refuse_duplicates
            ),
            (
                defaults::REQUIRE_PDF,
                defaults::REFUSE_WARNINGS,
                defaults::ACCEPT_PARTIAL,
                defaults::REFUSE_DUPLICATES
            )
        );

        let text = EXAMPLE.replace(
            "document_type = \"purchase-invoice\"\n",
            "document_type = \"purchase-invoice\"\nbuyer_check = \"warn\"\naccept_specifications = [\"si-ubl-2.0\", \" peppol-bis-3 \", \"xrechnung\", \"xrechnung-2.3-extension\", \"zugferd-1\"]\nrequire_pdf = true\nwarnings = \"refuse\"\npartial = \"accept\"\nduplicates = \"refuse\"\n",
        );
        let c = valid(&text);
        let r = &c.receivers[0];
        assert_eq!(r.buyer_check, BuyerCheck::Warn);
        assert_eq!(
            r.accept_specifications,
            [
                "si-ubl-2.0",
                "peppol-bis-3",
                "xrechnung",
                "xrechnung-2.3-extension",
                "zugferd-1"
            ]
        );
        assert!(r.require_pdf && r.refuse_warnings && r.accept_partial && r.refuse_duplicates);

        let text = EXAMPLE.replace(
            "document_type = \"purchase-invoice\"\n",
            "document_type = \"purchase-invoice\"\nbuyer_check = \"off\"\nrequire_pdf = false\nwarnings = \"pass\"\npartial = \"refuse\"\nduplicates = \"accept\"\n",
        );
        let r = &valid(&text).receivers[0];
        assert_eq!(r.buyer_check, BuyerCheck::Off);
        assert_eq!(BuyerCheck::Off.as_str(), "off");
        assert!(!r.require_pdf && !r.refuse_warnings && !r.accept_partial && !r.refuse_duplicates);
    }

    #[test]
    fn unknown_receiver_rule_words() {
        let text = EXAMPLE.replace(
            "document_type = \"purchase-invoice\"\n",
            "document_type = \"purchase-invoice\"\nbuyer_check = \"Strict\"\nwarnings = \"ignore\"\npartial = \"some\"\nduplicates = \"reject\"\n",
        );
        let label = "receiver \"AD64SDE@trust.example.test\"";
        assert_eq!(
            errors(&text),
            [
                format!(
                    "t.toml:19:15: {label}: unknown buyer_check \"Strict\"; did you mean \"strict\"? write one of \"strict\", \"warn\", \"off\""
                ),
                format!(
                    "t.toml:20:12: {label}: unknown warnings \"ignore\"; write one of \"pass\", \"refuse\""
                ),
                format!(
                    "t.toml:21:11: {label}: unknown partial \"some\"; write one of \"refuse\", \"accept\""
                ),
                format!(
                    "t.toml:22:14: {label}: unknown duplicates \"reject\"; write one of \"accept\", \"refuse\""
                ),
            ]
        );
        let text = EXAMPLE.replace(
            "document_type = \"purchase-invoice\"\n",
            "document_type = \"purchase-invoice\"\nrequire_pdf = \"yes\"\n",
        );
        assert_one(&text, "19:15", "write true or false, without quotes");
    }

    #[test]
    fn unknown_or_repeated_specifications() {
        let text = EXAMPLE.replace(
            "document_type = \"purchase-invoice\"\n",
            "document_type = \"purchase-invoice\"\naccept_specifications = [\"peppol-bis3\", \"si-ubl-2.0\", \"si-ubl-2.0\", \"nlcius\", \"xrechnung-3\", \"xrechnung-3.0-ext\", \"xrechnung-300.0\"]\n",
        );
        let label = "receiver \"AD64SDE@trust.example.test\"";
        let list = "write one of \"en16931\", \"peppol-bis-3\", \"peppol-self-billing-3\", \"si-ubl-2.0\", \"si-ubl-2.0-gaccount\", \"xrechnung\", \"factur-x-minimum\", \"factur-x-basic-wl\", \"factur-x-basic\", \"factur-x-extended\", \"zugferd-1\", \"zugferd-1-basic\", \"zugferd-1-comfort\", \"zugferd-1-extended\", \"ubl-2.0\", \"other\", \"none\", or \"xrechnung-X.Y\" / \"xrechnung-X.Y-extension\" for one XRechnung version (e.g. \"xrechnung-3.0\")";
        assert_eq!(
            errors(&text),
            [
                format!(
                    "t.toml:19:26: {label}: unknown specification \"peppol-bis3\" in accept_specifications; did you mean \"peppol-bis-3\"? {list}"
                ),
                format!(
                    "t.toml:19:55: {label}: accept_specifications lists \"si-ubl-2.0\" twice; remove one"
                ),
                format!(
                    "t.toml:19:69: {label}: unknown specification \"nlcius\" in accept_specifications; {list}"
                ),
                format!(
                    "t.toml:19:79: {label}: unknown specification \"xrechnung-3\" in accept_specifications; did you mean \"xrechnung\"? {list}"
                ),
                format!(
                    "t.toml:19:94: {label}: unknown specification \"xrechnung-3.0-ext\" in accept_specifications; {list}"
                ),
                format!(
                    "t.toml:19:115: {label}: unknown specification \"xrechnung-300.0\" in accept_specifications; {list}"
                ),
            ]
        );
    }

    #[test]
    fn every_specification_id_of_the_inspector_is_allowed() {
        use crate::invoice::Specification;
        let mut all = Specification::every_unversioned();
        use crate::invoice::XRechnungFlavour::{Cius, Cvd, Extension};
        for (major, minor, flavour) in [(3, 0, Cius), (3, 0, Extension), (3, 0, Cvd), (2, 3, Cius)]
        {
            all.push(Specification::XRechnung {
                major,
                minor,
                flavour,
            });
        }
        let mut fixed: Vec<String> = Vec::new();
        for spec in all {
            assert!(is_specification(&spec.id()), "{} is refused", spec.id());
            if !matches!(spec, Specification::XRechnung { .. }) {
                fixed.push(spec.id());
            }
        }
        // And the fixed values are exactly those ids plus the family `xrechnung`.
        fixed.push("xrechnung".into());
        fixed.sort();
        let mut allowed: Vec<&str> = defaults::SPECIFICATIONS.to_vec();
        allowed.sort_unstable();
        assert_eq!(fixed, allowed);
    }

    #[test]
    fn accepts_specification_matches_families() {
        let mut r = valid(EXAMPLE).receivers.remove(0);
        assert!(r.accepts_specification("si-ubl-2.0") && r.accepts_specification("none"));
        r.accept_specifications = vec!["si-ubl-2.0".into(), "xrechnung".into(), "zugferd-1".into()];
        for yes in [
            "si-ubl-2.0",
            "xrechnung-3.0",
            "xrechnung-2.3-extension",
            "zugferd-1",
            "zugferd-1-comfort",
        ] {
            assert!(r.accepts_specification(yes), "{yes}");
        }
        for no in [
            "si-ubl-2.0-gaccount",
            "peppol-bis-3",
            "en16931",
            "xrechnung",
            "factur-x-basic",
        ] {
            assert!(!r.accepts_specification(no), "{no}");
        }
        r.accept_specifications = vec!["xrechnung-3.0".into()];
        assert!(r.accepts_specification("xrechnung-3.0"));
        assert!(!r.accepts_specification("xrechnung-3.0-extension"));
        assert!(!r.accepts_specification("xrechnung-2.3"));
    }

    #[test]
    fn receiver_generation_keys_language_and_no_kvk_reason() {
        let config = load_str(EXAMPLE, Path::new("t.toml"), &no_io()).unwrap();
        assert_eq!(config.server.receiver_domain, None);
        assert_eq!(
            config.server.receiver_address_length,
            defaults::RECEIVER_ADDRESS_LENGTH
        );
        assert_eq!(config.receivers[0].sender_language(0), Language::Nl);

        let text = EXAMPLE
            .replace(
                "max_message_size = \"35MiB\"\n",
                "receiver_domain = \"In.Example.Test\"\nreceiver_address_length = 12\n",
            )
            .replace(
                "domain = \"supplier.example\"\n",
                "domain = \"supplier.example\"\nlanguage = \"en\"\n",
            );
        let config = load_str(&text, Path::new("t.toml"), &no_io()).unwrap();
        assert_eq!(
            config.server.receiver_domain.as_ref().map(Domain::as_str),
            Some("in.example.test")
        );
        assert_eq!(config.server.receiver_address_length, 12);
        assert_eq!(config.receivers[0].sender_language(0), Language::En);

        let text = EXAMPLE
            .replace(
                "max_message_size = \"35MiB\"\n",
                "receiver_domain = \"in..example\"\nreceiver_address_length = 6\n",
            )
            .replace(
                "kvk = \"12345678\"\n",
                "kvk = \"12345678\"\nno_kvk_reason = \"test\"\n",
            )
            .replace(
                "domain = \"supplier.example\"\n",
                "domain = \"supplier.example\"\nlanguage = \"de\"\n",
            );
        let errs = errors(&text);
        for expected in [
            "t.toml:4:19: receiver_domain \"in..example\" is not a valid domain name; write the domain of the generated addresses",
            "t.toml:5:27: receiver_address_length",
            "t.toml:14:17: organisation \"acme\": no_kvk_reason is set although kvk is",
            "t.toml:26:12: receiver \"AD64SDE@trust.example.test\": trusted_sender[1]: unknown language \"de\"",
        ] {
            assert!(
                errs.iter().any(|e| e.starts_with(expected)),
                "missing {expected:?} in {errs:#?}"
            );
        }
        let text = EXAMPLE.replace("kvk = \"12345678\"\n", "no_kvk_reason = \" \"\n");
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.contains("no_kvk_reason is empty")),
            "{errs:#?}"
        );
    }
}
