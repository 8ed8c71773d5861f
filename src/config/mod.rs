//! The validated, immutable configuration every other module reads.
//!
//! `raw` mirrors the TOML with serde (unknown keys refused, spans kept); `validate` turns it into
//! these types and collects every error with file, line, column and a fix. Inner code never
//! re-checks strings: addresses are [`Address`], sizes are bytes, durations are [`Duration`].

pub mod defaults;
pub mod edit;
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
    /// Valid settings that are unsafe in production, located (`check-config` prints them,
    /// `serve` logs them).
    pub warnings: Vec<validate::ConfigError>,
}

/// `[notices]`: notices to the contacts of trusted senders, through `[relay]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notices {
    /// The From of every notice (replies to it are not read).
    pub from: Address,
    /// Mails one recipient gets per `rate_window`, at most; past it, the rest of that window's
    /// notices go out together as one digest at its end.
    pub rate_per_hour: u32,
    /// The window `rate_per_hour` counts over: an hour; shorter only to test the digest.
    pub rate_window: Duration,
    /// Who hears of every invoice that could not be delivered, besides the supplier's contact.
    pub admin: Option<Address>,
    /// The words of notices, digests and invitations: the built-in templates, each replaced
    /// by its file in `templates` where there is one (compiled when the config is loaded, so
    /// a broken template is a config error, not a failed notice).
    pub templates: crate::notify::render::Templates,
}

/// `[dns]`: the resolver that authenticates senders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    /// Name servers to ask, over UDP and TCP; empty: the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// How long one query may take before it is tried again or counts as a temporary failure.
    pub timeout: Duration,
    /// Answers kept in the resolver's cache, at most.
    pub cache_size: usize,
}

impl Default for Dns {
    fn default() -> Dns {
        Dns {
            nameservers: Vec::new(),
            timeout: defaults::DNS_TIMEOUT,
            cache_size: defaults::DNS_CACHE_SIZE,
        }
    }
}

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

/// `[server]`: the SMTP listener and its limits.
#[derive(Debug, Clone)]
pub struct Server {
    /// The name we announce in the banner and EHLO reply.
    pub hostname: String,
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Addresses to listen on with TLS from the first byte (implicit TLS, port 465), for ERPs
    /// that submit that way; needs `[server.tls]`.
    pub listen_tls: Vec<SocketAddr>,
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
    /// Connections one IP address may open per minute (0: no limit).
    pub max_connections_per_minute: u32,
    /// Connections one network may open per minute (0: no limit).
    pub max_connections_per_minute_per_network: u32,
    /// Messages one IP address may start per minute (0: no limit).
    pub max_messages_per_minute: u32,
    /// Messages one network may start per minute (0: no limit).
    pub max_messages_per_minute_per_network: u32,
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
    /// Where mail to `postmaster@` and `abuse@` of the served domains is forwarded (through
    /// `[relay]`, as received); `None`: it is kept in the spool for `trustgate spool list`.
    pub postmaster: Option<Address>,
    /// The domain of addresses that `trustgate receiver add` generates when `--domain` is not
    /// given; `None`: the domain the existing receivers share.
    pub receiver_domain: Option<Domain>,
    /// Characters in a generated receiver's local part.
    pub receiver_address_length: usize,
    /// Domains whose ARC seals are believed: a valid chain sealed only by them, whose first
    /// hop saw the From domain pass, counts as that pass (mail forwarded by Microsoft 365 or
    /// Google). Empty: ARC is recorded but never trusted.
    pub trusted_arc_sealers: Vec<Domain>,
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
    /// While DATA arrives, bodies up to this size stay in memory and larger ones are streamed
    /// to a staging file (every stored body is a file of its own either way).
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
    /// The names of the sinks its documents go to, in file order, each a defined sink, none
    /// twice; empty keeps them in the spool (status `ready`) for a pull API. A receiver's own
    /// list overrides it: ask [`Config::deliver_for`].
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
    /// The names of the sinks documents arriving here go to, overriding the organisation's
    /// list even when empty; `None` when `deliver` is not set, and then each document follows
    /// the list of the organisation it is routed to. Ask [`Config::deliver_for`].
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

/// `[delivery]`: how documents leave the spool for their sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The wait before the first retry of a failed attempt; later waits grow exponentially,
    /// with jitter, up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// How long a document is retried for a sink before it is dead-lettered, as MTAs bounce.
    pub max_age: Duration,
    /// Delivery attempts running at once, across all sinks.
    pub workers: usize,
}

impl Default for Delivery {
    /// The values of a config without `[delivery]` (see [`defaults`]).
    fn default() -> Delivery {
        Delivery {
            initial_backoff: defaults::INITIAL_BACKOFF,
            max_backoff: defaults::MAX_BACKOFF,
            max_age: defaults::MAX_AGE,
            workers: defaults::WORKERS,
        }
    }
}

/// `[limits]`: what one message may cost to take apart, whatever is inside it: the MIME
/// pre-scan's caps and the PDF reader's. See docs/security.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest header block of any one MIME part (the message's own included), in bytes.
    pub max_header_bytes: u64,
    /// Most header fields in the header block of any one MIME part.
    pub max_header_fields: usize,
    /// Most bytes in all header blocks of a message together, nested messages included.
    pub max_total_header_bytes: u64,
    /// Most header fields in all header blocks of a message together.
    pub max_total_header_fields: usize,
    /// Most MIME parts in a message, nested messages included.
    pub max_mime_parts: usize,
    /// Deepest multipart/message nesting.
    pub max_mime_depth: usize,
    /// Most nested messages (message/rfc822, message/global, digest entries).
    pub max_nested_messages: usize,
    /// Largest PDF searched for an embedded invoice XML.
    pub max_pdf_bytes: u64,
    /// Most objects one PDF may hold, counted as the PDF reader holds them (object streams included).
    pub max_pdf_objects: usize,
    /// Most values parsed from the objects the search for an embedded invoice reads.
    pub max_pdf_values: usize,
    /// Largest size any one PDF stream may decompress to (the embedded XML included).
    pub max_pdf_stream_bytes: u64,
    /// Most bytes one PDF may decompress in total (every stream the search reads).
    pub max_pdf_decompressed_bytes: u64,
    /// Most name-tree nodes and file specifications visited in one PDF.
    pub max_pdf_embedded_files: usize,
    /// Most bytes one PDF may decompress, as a multiple of its own size (at least 1 MiB), within max_pdf_decompressed_bytes: a small PDF cannot cost the whole budget.
    pub max_pdf_expansion: usize,
    /// Most messages taken apart (MIME, PDF, XML) at once; more wait at end of data. Inspection is CPU work, so more than a few per core only adds memory. 0: twice the number of cores.
    pub max_parallel_inspections: usize,
}

impl Default for Limits {
    /// The values of a config without `[limits]` (see [`defaults`]).
    fn default() -> Limits {
        Limits {
            max_header_bytes: defaults::MAX_HEADER_BYTES,
            max_header_fields: defaults::MAX_HEADER_FIELDS,
            max_total_header_bytes: defaults::MAX_TOTAL_HEADER_BYTES,
            max_total_header_fields: defaults::MAX_TOTAL_HEADER_FIELDS,
            max_mime_parts: defaults::MAX_MIME_PARTS,
            max_mime_depth: defaults::MAX_MIME_DEPTH,
            max_nested_messages: defaults::MAX_NESTED_MESSAGES,
            max_pdf_bytes: defaults::MAX_PDF_BYTES,
            max_pdf_objects: defaults::MAX_PDF_OBJECTS,
            max_pdf_values: defaults::MAX_PDF_VALUES,
            max_pdf_stream_bytes: defaults::MAX_PDF_STREAM_BYTES,
            max_pdf_decompressed_bytes: defaults::MAX_PDF_DECOMPRESSED_BYTES,
            max_pdf_embedded_files: defaults::MAX_PDF_EMBEDDED_FILES,
            max_pdf_expansion: defaults::MAX_PDF_EXPANSION,
            max_parallel_inspections: defaults::MAX_PARALLEL_INSPECTIONS,
        }
    }
}

/// `[relay]`: the smarthost that smtp sinks (and later notices and invitations) send through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Host name or IP address of the smarthost.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is protected.
    pub tls: RelayTls,
    /// The login, when the relay needs one (set together with `password`).
    pub username: Option<String>,
    /// The password, read from `password_file` at load (set together with `username`).
    pub password: Option<Secret>,
    /// The envelope sender (MAIL FROM) of the messages sent through the relay.
    pub mail_from: Address,
    /// The limit on one connection and its dialogue with the relay.
    pub timeout: Duration,
}

/// `relay.tls`: how the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (`"starttls"`, the default).
    StartTls,
    /// TLS from the first byte, as on port 465 (`"implicit"`).
    Implicit,
    /// No TLS at all (`"none"`), only for a relay on the same host or network.
    None,
}

impl RelayTls {
    /// The config word: `starttls`, `implicit` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayTls::StartTls => "starttls",
            RelayTls::Implicit => "implicit",
            RelayTls::None => "none",
        }
    }
}

/// `[[sink]]`: a downstream system documents are delivered to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    /// Its unique name, used in `deliver` lists and the spool (an id: `a-z 0-9 - _`).
    pub name: String,
    /// What it is, with the settings of that kind.
    pub kind: SinkKind,
    /// Attempts to this sink running at once.
    pub concurrency: usize,
    /// The limit on one attempt.
    pub timeout: Duration,
}

/// The kinds of sink, each with its own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// An HTTP POST of each document (`kind = "webhook"`).
    Webhook {
        /// The `http://` or `https://` URL posted to.
        url: String,
        /// The Standard Webhooks signing key; `None` sends unsigned requests.
        secret: Option<Secret>,
        /// How the document is sent.
        payload: WebhookPayload,
    },
    /// Files written into a directory (`kind = "directory"`).
    Directory {
        /// The directory, absolute; the daemon creates it. Never inside the spool directory.
        path: PathBuf,
        /// How files are arranged in it.
        layout: DirectoryLayout,
    },
    /// A mail through [`Config::relay`] (`kind = "smtp"`).
    Smtp {
        /// The recipient.
        to: Address,
        /// What is sent.
        mode: SmtpMode,
    },
    /// A NATS message (`kind = "nats"`).
    Nats {
        /// The `nats://` or `tls://` server URL.
        url: String,
        /// The subject published to; may hold `{organisation}` and `{receiver}`.
        subject: String,
    },
}

impl SinkKind {
    /// The config word: `webhook`, `directory`, `smtp` or `nats`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SinkKind::Webhook { .. } => "webhook",
            SinkKind::Directory { .. } => "directory",
            SinkKind::Smtp { .. } => "smtp",
            SinkKind::Nats { .. } => "nats",
        }
    }
}

/// `payload` of a webhook sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookPayload {
    /// One JSON body (`"json"`, the default).
    Json,
    /// A `multipart/form-data` body (`"multipart"`).
    Multipart,
}

impl WebhookPayload {
    /// The config word: `json` or `multipart`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookPayload::Json => "json",
            WebhookPayload::Multipart => "multipart",
        }
    }
}

/// `layout` of a directory sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryLayout {
    /// Every file in the directory itself (`"flat"`, the default).
    Flat,
    /// One subdirectory per organisation id (`"by-organisation"`).
    ByOrganisation,
}

impl DirectoryLayout {
    /// The config word: `flat` or `by-organisation`.
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryLayout::Flat => "flat",
            DirectoryLayout::ByOrganisation => "by-organisation",
        }
    }
}

/// `mode` of an smtp sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// A new message carrying the document (`"document"`, the default).
    Document,
    /// The message as the supplier sent it (`"original"`).
    Original,
}

impl SmtpMode {
    /// The config word: `document` or `original`.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpMode::Document => "document",
            SmtpMode::Original => "original",
        }
    }
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
