//! The validated, immutable configuration every other module reads.
//!
//! `raw` mirrors the TOML with serde (unknown keys refused, spans kept); `validate` turns it into
//! these types and collects every error with file, line, column and a fix. Inner code never
//! re-checks strings: addresses are [`Address`], sizes are bytes, durations are [`Duration`].

pub mod defaults;
pub mod raw;
pub mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::address::{Address, Domain};

pub use validate::{ConfigError, ConfigErrors};

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from (for messages and relative paths).
    pub source: PathBuf,
    /// `[server]`.
    pub server: Server,
    /// `[spool]`.
    pub spool: Spool,
    /// `[[organisation]]`, in file order.
    pub organisations: Vec<Organisation>,
    /// `[[receiver]]`, in file order.
    pub receivers: Vec<Receiver>,
}

/// `[server]`: the SMTP listener and its limits.
#[derive(Debug, Clone)]
pub struct Server {
    /// The name we announce in the banner and EHLO reply.
    pub hostname: String,
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Largest message accepted, in bytes (SIZE and while streaming).
    pub max_message_size: u64,
    /// Recipients accepted per transaction (RFC 5321 asks for at least 100).
    pub max_recipients: usize,
    /// Longest command line in octets, CRLF included (RFC 5321 4.5.3.1.4: 512).
    pub max_line_length: usize,
    /// Connections open at once, in total.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Transactions per session before 452 4.4.5.
    pub max_messages_per_session: usize,
    /// Protocol errors per session before 421 and close.
    pub max_errors: usize,
    /// Waiting for the next command (RFC 5321 4.5.3.2.7: at least 5 minutes).
    pub command_timeout: Duration,
    /// Waiting for the next chunk of DATA (RFC 5321 4.5.3.2.5: 3 minutes).
    pub data_timeout: Duration,
    /// The whole session, whatever happens in it.
    pub session_timeout: Duration,
    /// How long a SIGTERM waits for sessions to finish before closing them.
    pub shutdown_timeout: Duration,
    /// STARTTLS certificate and key; STARTTLS is advertised only when set.
    pub tls: Option<Tls>,
}

/// `[server.tls]`.
#[derive(Debug, Clone)]
pub struct Tls {
    /// PEM certificate chain.
    pub certificate: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `[spool]`.
#[derive(Debug, Clone)]
pub struct Spool {
    /// The spool directory (database, body files, control socket), absolute.
    pub path: PathBuf,
    /// Bodies larger than this go to their own fsynced file instead of the database record.
    pub large_body_threshold: u64,
    /// Free disk space kept in reserve: below it, new messages get 452 4.3.1.
    pub min_free_space: u64,
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
    /// Index into [`Config::organisations`]: the receiver's only organisation, or for a shared
    /// receiver the first of [`Receiver::organisations`].
    pub organisation: usize,
    /// Indexes into [`Config::organisations`], in file order: every organisation this address
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
}

impl Receiver {
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

impl Config {
    /// Loads and validates a config file.
    ///
    /// # Errors
    /// Every problem found, each with file, line, column and a fix.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        validate::load(path)
    }
}
