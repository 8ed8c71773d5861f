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
    /// Dutch Chamber of Commerce number, if known (used to route by buyer).
    pub kvk: Option<String>,
    /// The organisation's own verified users: addresses or whole domains.
    pub verified_users: Vec<SenderPattern>,
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
    /// Index into [`Config::organisations`].
    pub organisation: usize,
    /// What the documents are, e.g. `purchase-invoice`.
    pub document_type: String,
    /// Who may send here.
    pub trusted_senders: Vec<TrustedSender>,
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
