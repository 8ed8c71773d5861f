//! The validated, immutable configuration every other module reads.
//!
//! `raw` mirrors the TOML with serde (unknown keys refused, spans kept); `validate` turns it into
//! these types and collects every error with file, line, column and a fix. Inner code never
//! re-checks strings: addresses are [`Address`], sizes are bytes, durations are [`Duration`].
//!
//! One module per section holds its validated types and the checks that produce them:
//! [`server`] (`[server]`, `[server.tls]`), [`spool`], [`directory`] (`[[organisation]]`,
//! `[[receiver]]` and their trusted senders), [`delivery`] (`[delivery]`, `[relay]`,
//! `[notices]`), [`sink`] (`[[sink]]` and `deliver` lists), [`limits`], [`dns`], [`admin`]
//! and [`log`].
//! [`validate`] drives them: includes, positions, error reporting, and the shared checker that
//! reads every number, size and duration from a section's table of keys.
//! [`defaults`] holds every default and range.
//!
//! [`Address`]: crate::address::Address
//! [`Duration`]: std::time::Duration

pub mod admin;
pub mod defaults;
pub mod delivery;
pub mod directory;
pub mod dns;
pub mod edit;
pub mod limits;
pub mod log;
pub mod raw;
pub mod server;
pub mod sink;
pub mod spool;
pub mod validate;

use std::path::{Path, PathBuf};

pub use admin::Admin;
pub use delivery::{Delivery, Notices, Relay, RelayTls};
pub use directory::{
    AuthPolicy, BuyerCheck, EndpointId, Language, Organisation, Receiver, SenderPattern, TrustKind,
    TrustedSender, normalise_identifier,
};
pub use dns::Dns;
pub use limits::Limits;
pub use log::{Log, LogFormat};
pub use server::{Server, Tls};
pub use sink::{DirectoryLayout, Sink, SinkKind, SmtpMode, WebhookPayload};
pub use spool::Spool;
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
    /// `[delivery]`: the retry schedule and the worker pool (defaults when absent).
    pub delivery: Delivery,

    /// `[relay]`: the smarthost for smtp sinks, if configured.
    pub relay: Option<Relay>,
    /// `[[sink]]`, in file order; names are unique.
    pub sinks: Vec<Sink>,
    /// `[limits]`: the bounds on taking one message apart (defaults when absent).
    pub limits: Limits,
    /// `[dns]`: the resolver for SPF, DKIM, DMARC and ARC (defaults when absent).
    pub dns: Dns,
    /// `[notices]`: mail to supplier contacts about refused invoices; `None`: none is sent.
    pub notices: Option<Notices>,
    /// `[admin]`: the admin HTTP API; `None` (the table absent): no HTTP API.
    pub admin: Option<Admin>,
    /// `[log]`: how log lines are written (defaults when absent).
    pub log: Log,
    /// Valid settings that are unsafe in production, located (`check-config` prints them,
    /// `serve` logs them).
    pub warnings: Vec<validate::ConfigError>,
}

/// A secret's bytes (a webhook signing key, the relay password). Debug and Display print
/// `<redacted>`, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret holding these bytes.
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// The bytes, for the one place that uses them (signing, logging in).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    /// `<redacted>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    /// `<redacted>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Config {
    /// Loads and validates a config file.
    ///
    /// # Errors
    /// Every problem found, each with file, line, column and a fix.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        validate::load(path)
    }

    /// The sink with this name.
    pub fn sink(&self, name: &str) -> Option<&Sink> {
        self.sinks.iter().find(|s| s.name == name)
    }

    /// The sink names a document of `organisation` (an index into
    /// [`Config::organisations`]) arriving on `receiver` goes to: the receiver's list when set,
    /// else the organisation's. Empty when there are none (or the index is out of range): the
    /// document then waits in the spool.
    pub fn deliver_for<'a>(&'a self, receiver: &'a Receiver, organisation: usize) -> &'a [String] {
        receiver.deliver_for(&self.organisations, organisation)
    }
}
