//! Raw TOML to validated [`super::Config`], collecting every error with file:line:col and a fix.
//!
//! Called by [`super::Config::load`] (serve, reload) and by `trustgate check-config`; both run the
//! same checks. Parsing (syntax, types, unknown or missing keys) stops at the first error, which
//! is reported with its position and a fix; only a file that parses gets the semantic checks,
//! which report *every* problem at once.
//!
//! This module must never change anything on disk: the spool directory is checked with
//! `access(2)` (or, when it does not exist yet, its nearest existing ancestor, since `serve`
//! creates it), and TLS files are only read. Paths in the file are relative to the directory of
//! the config file and are stored absolute.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::{Range, RangeInclusive};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw::{self, Scalar};
use super::{
    BuyerCheck, Config, EndpointId, Organisation, Receiver, SenderPattern, Server, Spool, Tls,
    TrustKind, TrustedSender, defaults, normalise_identifier,
};
use crate::address::{Address, Domain};

/// One config problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is the whole file (it cannot be read).
    pub line: usize,
    /// 1-based column, counted in characters; 0 when `line` is 0.
    pub column: usize,
    /// What is wrong and how to fix it: `what is wrong; how to fix it`.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

/// All problems found in a config, in file order.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Which checks that look outside the file to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Check that the spool directory (or, if missing, its nearest existing ancestor) is a
    /// writable directory. Off only for validating a template on another machine.
    pub check_spool_writable: bool,
    /// Check that the TLS certificate and key files are readable PEM.
    pub check_tls_files: bool,
}

impl Default for Options {
    /// Every check on, as `serve` and `check-config` use it.
    fn default() -> Options {
        Options {
            check_spool_writable: true,
            check_tls_files: true,
        }
    }
}

/// Reads, parses and validates a config file with every check on.
///
/// # Errors
/// Every problem found, each with file, line, column and a fix.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, &Options::default())
}

/// Reads, parses and validates a config file with the given checks.
///
/// # Errors
/// Every problem found, each with file, line, column and a fix.
pub fn load_with(path: &Path, options: &Options) -> Result<Config, ConfigErrors> {
    let text = std::fs::read(path).map_err(|e| {
        whole_file(
            path,
            format!("cannot read the config file ({e}); check the path and its permissions"),
        )
    })?;
    let text = String::from_utf8(text)
        .map_err(|_| whole_file(path, "the file is not UTF-8; save it as UTF-8".to_string()))?;
    load_str(&text, path, options)
}

/// Parses and validates config text as if read from `path` (used in messages, and its
/// directory anchors relative paths; the file itself is not read).
///
/// # Errors
/// Every problem found, each with file, line, column and a fix.
pub fn load_str(text: &str, path: &Path, options: &Options) -> Result<Config, ConfigErrors> {
    let mut v = Validator::new(text, path, options);
    let raw: raw::Config = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            v.parse_error(e);
            return Err(ConfigErrors(v.errors));
        }
    };
    let config = v.config(raw);
    if v.errors.is_empty() {
        Ok(config)
    } else {
        v.errors.sort_by_key(|e| (e.line, e.column));
        Err(ConfigErrors(v.errors))
    }
}

fn whole_file(path: &Path, message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message,
    }])
}

/// Parses a size: an integer number of bytes, or a string like `"35MiB"`, `"35 MiB"`,
/// `"512KiB"`, `"1GiB"` (binary units) or `"100MB"` (decimal: 10^6). Units are
/// case-insensitive; `B` or no unit means bytes.
///
/// # Errors
/// A message saying what is wrong and how to write it.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let fix = "write a whole number of bytes or e.g. \"35 MiB\", \"512 KiB\", \"100 MB\"";
    if number.is_empty() {
        return Err(format!("\"{s}\" is not a size; {fix}"));
    }
    let number: u64 = number
        .parse()
        .map_err(|_| format!("\"{s}\" is too large; {fix}"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => defaults::KIB,
        "mib" => defaults::MIB,
        "gib" => defaults::GIB,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "\"{s}\" has an unknown unit; {fix} (units: B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("\"{s}\" is too large; {fix}"))
}

/// Parses a duration written for humans: `"5m"`, `"30s"`, `"1h 30m"` (humantime syntax).
///
/// # Errors
/// A message saying what is wrong and how to write it.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        format!("\"{s}\" is not a duration ({e}); write e.g. \"30s\", \"5m\" or \"1h\"")
    })
}

/// The state of one validation: the text for positions, and the errors so far.
struct Validator<'a> {
    file: &'a Path,
    text: &'a str,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    /// The directory relative paths are resolved against, absolute.
    base: PathBuf,
    options: &'a Options,
    errors: Vec<ConfigError>,
}

impl<'a> Validator<'a> {
    fn new(text: &'a str, file: &'a Path, options: &'a Options) -> Validator<'a> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Validator {
            file,
            text,
            line_starts,
            base: base_dir(file),
            options,
            errors: Vec::new(),
        }
    }

    /// 1-based line and character column of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = match self.text.get(start..offset) {
            Some(s) => s.chars().count() + 1,
            None => offset - start + 1,
        };
        (line, column)
    }

    fn error_at(&mut self, span: Range<usize>, message: String) {
        let (line, column) = self.position(span.start);
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            message,
        });
    }

    fn error<T>(&mut self, value: &Spanned<T>, message: String) {
        self.error_at(value.span(), message);
    }

    // ---- parse errors (serde stops at the first) ----

    fn parse_error(&mut self, mut e: toml::de::Error) {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        // Without the input, Display ends with "in `a.b`": the key path the error is in.
        e.set_input(None);
        let shown = e.to_string();
        let path = shown
            .lines()
            .filter_map(|l| l.strip_prefix("in `").and_then(|l| l.strip_suffix('`')))
            .next_back()
            .unwrap_or("");
        let in_table = |table: &str| {
            if table.is_empty() {
                String::new()
            } else {
                format!(" in {}", table_header(table))
            }
        };
        let text = if let Some(rest) = message.strip_prefix("unknown field `") {
            let (key, rest) = rest.split_once('`').unwrap_or((rest, ""));
            let known = backticked(rest);
            let place = in_table(path);
            match closest(key, known.iter().map(String::as_str)) {
                Some(best) => format!("unknown key `{key}`{place}; did you mean `{best}`?"),
                None => format!(
                    "unknown key `{key}`{place}; remove it, the keys here are {}",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        } else if let Some(rest) = message.strip_prefix("missing field `") {
            let key = rest.split_once('`').map_or(rest, |(k, _)| k);
            let what = if path.is_empty() {
                format!("missing section {}", table_header(key))
            } else {
                format!("missing key `{key}`{}", in_table(path))
            };
            format!("{what}; add it, e.g. {}", example(key))
        } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
            // The path ends with the key whose value has the wrong type.
            let (table, key) = path.rsplit_once('.').unwrap_or(("", path));
            let what = message
                .trim_start_matches("invalid type: ")
                .trim_start_matches("invalid value: ")
                .replacen(", expected ", " where the schema expects ", 1);
            let hint = if message.starts_with("invalid type: map") && message.contains("sequence") {
                format!(
                    "write the section as {} (double brackets: there may be several)",
                    table_header(path)
                )
            } else if message.contains("expected an integer or a string") {
                "write a whole number of bytes, or a quoted value such as \"35 MiB\" or \"5m\""
                    .to_string()
            } else if message.contains("expected a string") {
                "write the value in double quotes".to_string()
            } else if message.contains("expected a boolean") {
                "write true or false, without quotes".to_string()
            } else if message.contains("expected i64") || message.contains("expected an integer") {
                "write a whole number, without quotes".to_string()
            } else if message.contains("expected a sequence") {
                "write a list in brackets, e.g. [\"a\", \"b\"]".to_string()
            } else {
                "see docs/config.md for the type of this key".to_string()
            };
            if key.is_empty() {
                format!("wrong type: {what}; {hint}")
            } else {
                format!("wrong type for `{key}`{}: {what}; {hint}", in_table(table))
            }
        } else if message.starts_with("duplicate key") {
            let key = self.text.get(span.clone()).unwrap_or("").trim();
            format!(
                "duplicate key `{key}`{}; keep only one of them",
                in_table(path)
            )
        } else {
            let first = message.lines().collect::<Vec<_>>().join(", ");
            format!(
                "TOML syntax error: {first}; fix the syntax (strings in double quotes, tables in [brackets])"
            )
        };
        self.error_at(span, text);
    }

    // ---- semantic checks ----

    fn config(&mut self, raw: raw::Config) -> Config {
        let server = self.server(raw.server.into_inner());
        let spool = self.spool(raw.spool.into_inner());
        let organisations = self.organisations(&raw.organisation);
        let receivers = self.receivers(&raw.receiver, &raw.organisation, &organisations);
        Config {
            source: std::path::absolute(self.file).unwrap_or_else(|_| self.file.to_path_buf()),
            server,
            spool,
            organisations,
            receivers,
        }
    }

    fn server(&mut self, raw: raw::Server) -> Server {
        let mut hostname = raw.hostname.get_ref().trim().to_string();
        if let Ok(domain) = Domain::parse(&hostname) {
            // Lower case, without a trailing dot: the form announced in the banner and EHLO.
            hostname = domain.as_str().to_string();
        } else if hostname.is_empty() {
            self.error(
                &raw.hostname,
                "hostname is empty; write the public name of this host, e.g. \"mx.example.com\""
                    .into(),
            );
        } else {
            self.error(
                &raw.hostname,
                format!("hostname \"{hostname}\" is not a fully qualified domain name; write the public name of this host, e.g. \"mx.example.com\""),
            );
        }

        let mut listen: Vec<SocketAddr> = Vec::new();
        if raw.listen.get_ref().is_empty() {
            self.error(
                &raw.listen,
                "listen is empty; add at least one address, e.g. listen = [\"0.0.0.0:25\"]".into(),
            );
        }
        for entry in raw.listen.get_ref() {
            match entry.get_ref().trim().parse::<SocketAddr>() {
                Ok(addr) if listen.contains(&addr) => {
                    self.error(entry, format!("listen address \"{addr}\" is listed twice; remove one"));
                }
                Ok(addr) => listen.push(addr),
                Err(_) => self.error(
                    entry,
                    format!(
                        "listen address \"{}\" is not IP:PORT; write e.g. \"0.0.0.0:25\" or \"[::]:25\" (host names are not resolved)",
                        entry.get_ref()
                    ),
                ),
            }
        }

        let max_message_size = self.size(
            raw.max_message_size.as_ref(),
            "max_message_size",
            defaults::MAX_MESSAGE_SIZE,
            defaults::MAX_MESSAGE_SIZE_RANGE,
        );
        let max_recipients = self.count(
            raw.max_recipients.as_ref(),
            "max_recipients",
            defaults::MAX_RECIPIENTS,
            defaults::MAX_RECIPIENTS_RANGE,
            " (RFC 5321 4.5.3.1.8 requires at least 100)",
        );
        let max_line_length = self.count(
            raw.max_line_length.as_ref(),
            "max_line_length",
            defaults::MAX_LINE_LENGTH,
            defaults::MAX_LINE_LENGTH_RANGE,
            " (RFC 5321 4.5.3.1.4 requires at least 512)",
        );
        let max_connections = self.count(
            raw.max_connections.as_ref(),
            "max_connections",
            defaults::MAX_CONNECTIONS,
            defaults::MAX_CONNECTIONS_RANGE,
            "",
        );
        let max_connections_per_ip = self.count(
            raw.max_connections_per_ip.as_ref(),
            "max_connections_per_ip",
            defaults::MAX_CONNECTIONS_PER_IP,
            defaults::MAX_CONNECTIONS_PER_IP_RANGE,
            "",
        );
        if max_connections_per_ip > max_connections {
            let span = raw
                .max_connections_per_ip
                .as_ref()
                .or(raw.max_connections.as_ref())
                .map(Spanned::span);
            if let Some(span) = span {
                self.error_at(
                    span,
                    format!("max_connections_per_ip ({max_connections_per_ip}) is larger than max_connections ({max_connections}); lower it to at most {max_connections}"),
                );
            }
        }
        let max_messages_per_session = self.count(
            raw.max_messages_per_session.as_ref(),
            "max_messages_per_session",
            defaults::MAX_MESSAGES_PER_SESSION,
            defaults::MAX_MESSAGES_PER_SESSION_RANGE,
            "",
        );
        let max_errors = self.count(
            raw.max_errors.as_ref(),
            "max_errors",
            defaults::MAX_ERRORS,
            defaults::MAX_ERRORS_RANGE,
            "",
        );
        let command_timeout = self.duration(
            raw.command_timeout.as_ref(),
            "command_timeout",
            defaults::COMMAND_TIMEOUT,
            defaults::COMMAND_TIMEOUT_RANGE,
        );
        let data_timeout = self.duration(
            raw.data_timeout.as_ref(),
            "data_timeout",
            defaults::DATA_TIMEOUT,
            defaults::DATA_TIMEOUT_RANGE,
        );
        let session_timeout = self.duration(
            raw.session_timeout.as_ref(),
            "session_timeout",
            defaults::SESSION_TIMEOUT,
            defaults::SESSION_TIMEOUT_RANGE,
        );
        let shutdown_timeout = self.duration(
            raw.shutdown_timeout.as_ref(),
            "shutdown_timeout",
            defaults::SHUTDOWN_TIMEOUT,
            defaults::SHUTDOWN_TIMEOUT_RANGE,
        );
        let tls = raw.tls.map(|tls| self.tls(tls.into_inner()));

        Server {
            hostname,
            listen,
            max_message_size,
            max_recipients,
            max_line_length,
            max_connections,
            max_connections_per_ip,
            max_messages_per_session,
            max_errors,
            command_timeout,
            data_timeout,
            session_timeout,
            shutdown_timeout,
            tls,
        }
    }

    fn tls(&mut self, raw: raw::Tls) -> Tls {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};

        let certificate = self.path(&raw.certificate, "tls.certificate");
        let key = self.path(&raw.key, "tls.key");
        if self.options.check_tls_files {
            if let Some(bytes) = self.read_small(&raw.certificate, &certificate, "tls.certificate")
            {
                let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&bytes).collect();
                match certs {
                    Ok(certs) if !certs.is_empty() => {}
                    Ok(_) => self.error(
                        &raw.certificate,
                        format!("tls.certificate {} holds no PEM certificate; point it at the certificate chain (-----BEGIN CERTIFICATE-----)", certificate.display()),
                    ),
                    Err(e) => self.error(
                        &raw.certificate,
                        format!("tls.certificate {} is not valid PEM ({e}); point it at the PEM certificate chain", certificate.display()),
                    ),
                }
            }
            if let Some(bytes) = self.read_small(&raw.key, &key, "tls.key")
                && let Err(e) = PrivateKeyDer::from_pem_slice(&bytes)
            {
                self.error(
                    &raw.key,
                    format!("tls.key {} holds no PEM private key ({e}); point it at the private key (-----BEGIN PRIVATE KEY-----)", key.display()),
                );
            }
        }
        Tls { certificate, key }
    }

    /// Reads a small file named by `value`, reporting why it cannot be read.
    fn read_small(&mut self, value: &Spanned<String>, path: &Path, key: &str) -> Option<Vec<u8>> {
        let result = std::fs::metadata(path).and_then(|m| {
            if m.len() > defaults::MAX_TLS_FILE_SIZE {
                Err(std::io::Error::other("larger than 1 MiB"))
            } else {
                std::fs::read(path)
            }
        });
        match result {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.error(
                    value,
                    format!("{key} {} cannot be read ({e}); check the path (relative paths start at the config file's directory) and that trustgate's user may read it", path.display()),
                );
                None
            }
        }
    }

    fn spool(&mut self, raw: raw::Spool) -> Spool {
        let path = self.path(&raw.path, "spool.path");
        if self.options.check_spool_writable
            && !raw.path.get_ref().trim().is_empty()
            && let Err(why) = check_writable_dir(&path)
        {
            self.error(&raw.path, format!("spool.path {}: {why}", path.display()));
        }
        let large_body_threshold = self.size(
            raw.large_body_threshold.as_ref(),
            "large_body_threshold",
            defaults::LARGE_BODY_THRESHOLD,
            defaults::LARGE_BODY_THRESHOLD_RANGE,
        );
        let min_free_space = self.size(
            raw.min_free_space.as_ref(),
            "min_free_space",
            defaults::MIN_FREE_SPACE,
            0..=u64::MAX,
        );
        Spool {
            path,
            large_body_threshold,
            min_free_space,
        }
    }

    fn organisations(&mut self, raw: &[Spanned<raw::Organisation>]) -> Vec<Organisation> {
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
            out.push(Organisation {
                id,
                name,
                kvk,
                verified_users,
                vat_ids,
                endpoint_ids,
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

    fn receivers(
        &mut self,
        raw: &[Spanned<raw::Receiver>],
        raw_orgs: &[Spanned<raw::Organisation>],
        orgs: &[Organisation],
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
            let trusted_senders = self.trusted_senders(&receiver.trusted_sender, &label, &served);
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
            if let (Some(contact), Some(kind)) = (contact, kind) {
                out.push(TrustedSender {
                    name,
                    contact,
                    kind,
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

    // ---- typed values ----

    /// One of a fixed set of words (`buyer_check = "strict"`), or the default when absent.
    fn choice<T: Copy>(
        &mut self,
        value: Option<&Spanned<String>>,
        label: &str,
        key: &str,
        words: &[(&'static str, T)],
        default: T,
    ) -> T {
        let Some(value) = value else { return default };
        let written = value.get_ref().trim();
        if let Some((_, t)) = words.iter().find(|(w, _)| *w == written) {
            return *t;
        }
        let hint = match closest(written, words.iter().map(|(w, _)| *w)) {
            Some(best) => format!("did you mean \"{best}\"? "),
            None => String::new(),
        };
        self.error(
            value,
            format!(
                "{label}: unknown {key} \"{written}\"; {hint}write one of {}",
                quoted(words.iter().map(|(w, _)| *w))
            ),
        );
        default
    }

    fn nonempty(
        &mut self,
        value: &Spanned<String>,
        label: &str,
        key: &str,
        example: &str,
    ) -> String {
        let s = value.get_ref().trim();
        if s.is_empty() {
            self.error(
                value,
                format!("{label}: {key} is empty; write one, {example}"),
            );
        }
        s.to_string()
    }

    /// An absolute path from a path in the file, relative to the config file's directory.
    fn path(&mut self, value: &Spanned<String>, key: &str) -> PathBuf {
        let s = value.get_ref().trim();
        if s.is_empty() {
            self.error(
                value,
                format!("{key} is empty; write a path, e.g. \"/var/spool/trustgate\""),
            );
            return PathBuf::new();
        }
        resolve(&self.base, Path::new(s))
    }

    fn size(
        &mut self,
        value: Option<&Spanned<Scalar>>,
        key: &str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> u64 {
        let Some(value) = value else { return default };
        let parsed = match value.get_ref() {
            Scalar::Integer(n) => u64::try_from(*n)
                .map_err(|_| format!("{n} is negative; write a size such as \"35 MiB\"")),
            Scalar::Text(s) => parse_size(s),
        };
        match parsed {
            Ok(n) if range.contains(&n) => n,
            Ok(n) => {
                self.error(
                    value,
                    format!(
                        "{key} {n} bytes is out of range; use {}",
                        size_range(&range)
                    ),
                );
                default
            }
            Err(e) => {
                self.error(value, format!("{key}: {e}"));
                default
            }
        }
    }

    fn count(
        &mut self,
        value: Option<&Spanned<i64>>,
        key: &str,
        default: usize,
        range: RangeInclusive<usize>,
        why: &str,
    ) -> usize {
        let Some(value) = value else { return default };
        let n = *value.get_ref();
        match usize::try_from(n) {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.error(
                    value,
                    format!(
                        "{key} {n} is out of range{why}; use {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
        }
    }

    fn duration(
        &mut self,
        value: Option<&Spanned<Scalar>>,
        key: &str,
        default: Duration,
        range: RangeInclusive<Duration>,
    ) -> Duration {
        let Some(value) = value else { return default };
        let parsed = match value.get_ref() {
            Scalar::Integer(n) => Err(format!("{n} has no unit; write e.g. \"{n}s\" or \"5m\"")),
            Scalar::Text(s) => parse_duration(s),
        };
        match parsed {
            Ok(d) if range.contains(&d) => d,
            Ok(d) => {
                self.error(
                    value,
                    format!(
                        "{key} {} is out of range; use {} to {}",
                        humantime::format_duration(d),
                        humantime::format_duration(*range.start()),
                        humantime::format_duration(*range.end())
                    ),
                );
                default
            }
            Err(e) => {
                self.error(value, format!("{key}: {e}"));
                default
            }
        }
    }
}

/// Checks, without changing anything, that `path` is a directory trustgate could write in, or
/// does not exist yet and could be created (its nearest existing ancestor is a writable
/// directory). Uses `access(2)`, so it answers for the user running the check.
fn check_writable_dir(path: &Path) -> Result<(), String> {
    use rustix::fs::{Access, access};
    let want = Access::WRITE_OK | Access::EXEC_OK;
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => access(path, want).map_err(|e| {
            format!("the directory is not writable ({e}); make it writable by the user trustgate runs as, e.g. chown trustgate {}", path.display())
        }),
        Ok(_) => Err("is not a directory; point spool.path at a directory".to_string()),
        // A missing path, or one under a file (ENOTDIR): look for the nearest existing ancestor.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            let mut ancestor = path.parent();
            while let Some(a) = ancestor {
                match std::fs::metadata(a) {
                    Ok(m) if m.is_dir() => {
                        return access(a, want).map_err(|e| {
                            format!("does not exist, and {} is not writable to create it ({e}); create the directory, e.g. mkdir -p {} and chown it to trustgate's user", a.display(), path.display())
                        });
                    }
                    Ok(_) => {
                        return Err(format!("cannot be created because {} is not a directory; choose another path", a.display()));
                    }
                    Err(_) => ancestor = a.parent(),
                }
            }
            Err("does not exist and has no existing parent; use an absolute path".to_string())
        }
        Err(e) => Err(format!("cannot be checked ({e}); check the path and its permissions")),
    }
}

/// The absolute directory of the config file.
fn base_dir(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::canonicalize(&dir)
        .or_else(|_| std::path::absolute(&dir))
        .unwrap_or(dir)
}

/// Joins a path from the file to the (canonical) base directory. Leading `..` and any `.` are
/// resolved lexically, which is exact because the base has no symlinks.
fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let mut out = base.to_path_buf();
    let mut leading = true;
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if leading => {
                out.pop();
            }
            other => {
                leading = false;
                out.push(other.as_os_str());
            }
        }
    }
    out
}

/// An id: 1..=64 of `a-z 0-9 - _`, starting with a letter or digit.
fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A normalised VAT id: a 2-letter country prefix, then 2 to 14 letters or digits (EU VAT ids
/// are at most 14 characters; Swiss `CHE123456789MWST` is 16).
fn is_vat_id(s: &str) -> bool {
    let b = s.as_bytes();
    (4..=16).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b.iter().all(u8::is_ascii_alphanumeric)
}

/// Parses `scheme:id` (the id may itself hold colons). The error completes
/// `endpoint id "..." {error}`.
fn parse_endpoint_id(s: &str) -> Result<EndpointId, String> {
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
    let version = version.strip_suffix("-extension").unwrap_or(version);
    let number = |n: &str| n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u8>().is_ok();
    matches!(version.split_once('.'), Some((major, minor)) if number(major) && number(minor))
}

fn pattern_key(p: &SenderPattern) -> String {
    match p {
        SenderPattern::Address(a) => a.key(),
        SenderPattern::Domain(d) => format!("@{d}"),
    }
}

/// `"a", "b", "c"`.
fn quoted<'s>(words: impl Iterator<Item = &'s str>) -> String {
    words
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn size_range(range: &RangeInclusive<u64>) -> String {
    let show = |n: u64| match n {
        n if n >= defaults::GIB && n % defaults::GIB == 0 => format!("{} GiB", n / defaults::GIB),
        n if n >= defaults::MIB && n % defaults::MIB == 0 => format!("{} MiB", n / defaults::MIB),
        n if n >= defaults::KIB && n % defaults::KIB == 0 => format!("{} KiB", n / defaults::KIB),
        n => format!("{n} bytes"),
    };
    format!("{} to {}", show(*range.start()), show(*range.end()))
}

/// How a table is written in the file: `[server]`, or `[[receiver]]` for arrays of tables.
fn table_header(path: &str) -> String {
    match path {
        "organisation" | "receiver" | "receiver.trusted_sender" => format!("[[{path}]]"),
        _ => format!("[{path}]"),
    }
}

/// The names in backticks in a serde message (`expected one of `a`, `b``).
fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The candidate closest to `word` by edit distance, if close enough to be a typo.
fn closest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// An example line for a required key, used in "missing key" fixes.
fn example(key: &str) -> &'static str {
    match key {
        "server" => "[server] with hostname and listen",
        "spool" => "[spool] with path = \"/var/spool/trustgate\"",
        "hostname" => "hostname = \"mx.example.com\"",
        "listen" => "listen = [\"0.0.0.0:25\"]",
        "path" => "path = \"/var/spool/trustgate\"",
        "id" => "id = \"acme\"",
        "name" => "name = \"ACME B.V.\"",
        "address" => "address = \"AD64SDE@trust.example.test\"",
        "document_type" => "document_type = \"purchase-invoice\"",
        "contact" => "contact = \"billing@supplier.example\"",
        "certificate" => "certificate = \"/etc/trustgate/cert.pem\"",
        "key" => "key = \"/etc/trustgate/key.pem\"",
        _ => "see docs/config.md",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the issue, line for line (line numbers below refer to it).
    const EXAMPLE: &str = r#"[server]
hostname = "mx.trust.example.test"
listen = ["127.0.0.1:2525"]
max_message_size = "35MiB"

[spool]
path = "spool"

[[organisation]]
id = "acme"
name = "ACME B.V."
kvk = "12345678"
verified_users = ["ap@acme.example", "@accountant.example"]

[[receiver]]
address = "AD64SDE@trust.example.test"
organisation = "acme"
document_type = "purchase-invoice"

[[receiver.trusted_sender]]
name = "Supplier B.V."
contact = "billing@supplier.example"
domain = "supplier.example"
"#;

    /// A valid `[server]` and `[spool]` (lines 1-5), for tests that append to it.
    const HEAD: &str = r#"[server]
hostname = "mx.trust.example.test"
listen = ["127.0.0.1:2525"]
[spool]
path = "spool"
"#;

    fn no_io() -> Options {
        Options {
            check_spool_writable: false,
            check_tls_files: false,
        }
    }

    /// Every error line, as check-config prints them.
    fn errors_with(text: &str, options: &Options) -> Vec<String> {
        match load_str(text, Path::new("t.toml"), options) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    fn errors(text: &str) -> Vec<String> {
        errors_with(text, &no_io())
    }

    fn valid(text: &str) -> Config {
        match load_str(text, Path::new("t.toml"), &no_io()) {
            Ok(c) => c,
            Err(e) => panic!("expected a valid config, got:\n{e}"),
        }
    }

    /// Asserts exactly one error, at `pos` ("line:col"), whose text contains `needle`.
    fn assert_one(text: &str, pos: &str, needle: &str) {
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
        assert!(
            errs[0].starts_with(&format!("t.toml:{pos}: ")),
            "wrong position: {}",
            errs[0]
        );
        assert!(
            errs[0].contains(needle),
            "{:?} does not contain {needle:?}",
            errs[0]
        );
    }

    #[test]
    fn issue_example_is_valid_and_defaults_apply() {
        let c = valid(EXAMPLE);
        assert_eq!(c.server.hostname, "mx.trust.example.test");
        assert_eq!(
            c.server.listen,
            vec!["127.0.0.1:2525".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(c.server.max_message_size, 35 * 1024 * 1024);
        assert_eq!(c.server.max_recipients, 100);
        assert_eq!(c.server.max_line_length, 512);
        assert_eq!(c.server.max_connections, 4000);
        assert_eq!(c.server.max_connections_per_ip, 50);
        assert_eq!(c.server.max_messages_per_session, 100);
        assert_eq!(c.server.max_errors, 10);
        assert_eq!(c.server.command_timeout, Duration::from_secs(300));
        assert_eq!(c.server.data_timeout, Duration::from_secs(180));
        assert_eq!(c.server.session_timeout, Duration::from_secs(1800));
        assert_eq!(c.server.shutdown_timeout, Duration::from_secs(30));
        assert!(c.server.tls.is_none());
        assert!(c.spool.path.is_absolute() && c.spool.path.ends_with("spool"));
        assert_eq!(c.spool.large_body_threshold, 1024 * 1024);
        assert_eq!(c.spool.min_free_space, 100 * 1024 * 1024);
        assert!(c.source.is_absolute());

        let org = &c.organisations[0];
        assert_eq!(
            (org.id.as_str(), org.name.as_str(), org.kvk.as_deref()),
            ("acme", "ACME B.V.", Some("12345678"))
        );
        assert_eq!(
            org.verified_users,
            vec![
                SenderPattern::Address(Address::parse("ap@acme.example").unwrap()),
                SenderPattern::Domain(Domain::parse("accountant.example").unwrap()),
            ]
        );
        let r = &c.receivers[0];
        assert_eq!(r.address.key(), "ad64sde@trust.example.test");
        assert_eq!(r.organisation, 0);
        assert_eq!(r.document_type, "purchase-invoice");
        assert_eq!(r.trusted_senders.len(), 1);
        let t = &r.trusted_senders[0];
        assert_eq!(t.name, "Supplier B.V.");
        assert_eq!(t.contact.to_string(), "billing@supplier.example");
        assert_eq!(
            t.kind,
            TrustKind::Domain(Domain::parse("supplier.example").unwrap())
        );
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
    fn empty_lists_are_valid() {
        let c = valid(HEAD);
        assert!(c.organisations.is_empty() && c.receivers.is_empty());
    }

    // ---- parse errors: the first one, located, with a fix ----

    #[test]
    fn unknown_key_suggests_the_closest_known_key() {
        let text = "[server]\nhostname = \"mx.trust.example.test\"\nlistn = [\"127.0.0.1:2525\"]\n";
        assert_eq!(
            errors(text),
            ["t.toml:3:1: unknown key `listn` in [server]; did you mean `listen`?"]
        );
    }

    #[test]
    fn unknown_key_without_a_close_match_lists_the_keys() {
        let text = EXAMPLE.replace(
            "domain = \"supplier.example\"",
            "whitelist = \"supplier.example\"",
        );
        assert_one(
            &text,
            "23:1",
            "unknown key `whitelist` in [[receiver.trusted_sender]]; remove it, the keys here are `name`, `contact`, `domain`, `address`, `verified_users`",
        );
    }

    #[test]
    fn unknown_section_suggests_the_closest() {
        let text = EXAMPLE.replace("[spool]", "[spoll]");
        assert_one(&text, "6:2", "unknown key `spoll`; did you mean `spool`?");
    }

    #[test]
    fn missing_required_key_names_it_with_an_example() {
        let text = EXAMPLE.replace("document_type = \"purchase-invoice\"\n", "");
        assert_one(
            &text,
            "15:1",
            "missing key `document_type` in [[receiver]]; add it, e.g. document_type = \"purchase-invoice\"",
        );
    }

    #[test]
    fn missing_section() {
        let text =
            "[server]\nhostname = \"mx.trust.example.test\"\nlisten = [\"127.0.0.1:2525\"]\n";
        assert_one(text, "1:1", "missing section [spool]; add it");
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let text = EXAMPLE.replace("kvk = \"12345678\"", "kvk = 12345678");
        assert_one(
            &text,
            "12:7",
            "wrong type for `kvk` in [[organisation]]: integer `12345678` where the schema expects a string; write the value in double quotes",
        );
        let text = EXAMPLE.replace(
            "listen = [\"127.0.0.1:2525\"]",
            "listen = \"127.0.0.1:2525\"",
        );
        assert_one(&text, "3:10", "write a list in brackets");
        let text = format!("{HEAD}max_recipients = \"100\"\n")
            .replace("[spool]\npath = \"spool\"\n", "")
            + "[spool]\npath = \"spool\"\n";
        assert_one(&text, "4:18", "write a whole number, without quotes");
    }

    #[test]
    fn more_wrong_types_and_duplicate_keys() {
        let text = EXAMPLE.replace("domain = \"supplier.example\"", "verified_users = \"yes\"");
        let errs = errors(&text);
        assert_eq!(
            errs,
            [
                "t.toml:23:18: wrong type for `verified_users` in [[receiver.trusted_sender]]: string \"yes\" where the schema expects a boolean; write true or false, without quotes"
            ]
        );
        let text = EXAMPLE.replace("\"35MiB\"", "35.5");
        assert_one(&text, "4:20", "quoted value such as \"35 MiB\"");
        let text = EXAMPLE.replace(
            "name = \"ACME B.V.\"",
            "name = \"ACME B.V.\"\nname = \"ACME\"",
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("t.toml:12:1: duplicate key `name`"),
            "{errs:?}"
        );
    }

    #[test]
    fn single_brackets_for_an_array_of_tables() {
        let text = EXAMPLE.replace("[[organisation]]", "[organisation]");
        assert_one(
            &text,
            "9:1",
            "write the section as [[organisation]] (double brackets",
        );
    }

    #[test]
    fn syntax_error_is_located() {
        let text = EXAMPLE.replace("name = \"ACME B.V.\"", "name = ACME B.V.");
        assert_one(&text, "11:8", "TOML syntax error");
    }

    // ---- semantic errors: all of them, each located ----

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
    fn malformed_sizes_and_durations() {
        let text = EXAMPLE.replace("\"35MiB\"", "\"35 MiBs\"").replace(
            "path = \"spool\"",
            "path = \"spool\"\nmin_free_space = -1\nlarge_body_threshold = \"lots\"",
        ) + "";
        let text = text.replace(
            "max_message_size",
            "command_timeout = \"5 minutes and a bit\"\ndata_timeout = 300\nmax_message_size",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:4:19: command_timeout: \"5 minutes and a bit\" is not a duration (expected number at 10); write e.g. \"30s\", \"5m\" or \"1h\"",
                "t.toml:5:16: data_timeout: 300 has no unit; write e.g. \"300s\" or \"5m\"",
                "t.toml:6:20: max_message_size: \"35 MiBs\" has an unknown unit; write a whole number of bytes or e.g. \"35 MiB\", \"512 KiB\", \"100 MB\" (units: B, KiB, MiB, GiB, KB, MB, GB)",
                "t.toml:10:18: min_free_space: -1 is negative; write a size such as \"35 MiB\"",
                "t.toml:11:24: large_body_threshold: \"lots\" is not a size; write a whole number of bytes or e.g. \"35 MiB\", \"512 KiB\", \"100 MB\"",
            ]
        );
    }

    #[test]
    fn limits_out_of_range() {
        let text = HEAD.replace(
            "[spool]",
            "max_recipients = 99\nmax_message_size = 0\nmax_line_length = 100\nmax_connections = 10\nmax_connections_per_ip = 11\nshutdown_timeout = \"2h\"\ncommand_timeout = \"0s\"\n[spool]\nlarge_body_threshold = \"65MiB\"",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:4:18: max_recipients 99 is out of range (RFC 5321 4.5.3.1.8 requires at least 100); use 100 to 10000",
                "t.toml:5:20: max_message_size 0 bytes is out of range; use 1 bytes to 1 GiB",
                "t.toml:6:19: max_line_length 100 is out of range (RFC 5321 4.5.3.1.4 requires at least 512); use 512 to 4096",
                "t.toml:8:26: max_connections_per_ip (11) is larger than max_connections (10); lower it to at most 10",
                "t.toml:9:20: shutdown_timeout 2h is out of range; use 0s to 1h",
                "t.toml:10:19: command_timeout 0s is out of range; use 1s to 1h",
                "t.toml:12:24: large_body_threshold 68157440 bytes is out of range; use 0 bytes to 64 MiB",
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
    fn malformed_listen_addresses_and_hostnames() {
        let text = EXAMPLE.replace(
            "listen = [\"127.0.0.1:2525\"]",
            "listen = [\"localhost:25\", \"127.0.0.1:25\", \"127.0.0.1:25\", \"::1:25\"]",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:3:11: listen address \"localhost:25\" is not IP:PORT; write e.g. \"0.0.0.0:25\" or \"[::]:25\" (host names are not resolved)",
                "t.toml:3:43: listen address \"127.0.0.1:25\" is listed twice; remove one",
                "t.toml:3:59: listen address \"::1:25\" is not IP:PORT; write e.g. \"0.0.0.0:25\" or \"[::]:25\" (host names are not resolved)",
            ]
        );
        let text = EXAMPLE.replace("listen = [\"127.0.0.1:2525\"]", "listen = []");
        assert_one(&text, "3:10", "listen is empty; add at least one address");
        let ipv6 = valid(&EXAMPLE.replace("\"127.0.0.1:2525\"", "\"[::1]:2525\", \"0.0.0.0:25\""));
        assert_eq!(ipv6.server.listen.len(), 2);
    }

    #[test]
    fn empty_or_bad_hostname() {
        let text = EXAMPLE.replace("\"mx.trust.example.test\"", "\"\"");
        assert_eq!(
            errors(&text),
            [
                "t.toml:2:12: hostname is empty; write the public name of this host, e.g. \"mx.example.com\""
            ]
        );
        let text = EXAMPLE.replace("\"mx.trust.example.test\"", "\"mx\"");
        assert_one(
            &text,
            "2:12",
            "hostname \"mx\" is not a fully qualified domain name",
        );
        let text = EXAMPLE.replace("\"mx.trust.example.test\"", "\"MX.Trust.Example.Test.\"");
        assert_eq!(valid(&text).server.hostname, "mx.trust.example.test");
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

    #[test]
    fn all_errors_are_reported_at_once_in_file_order() {
        let text = EXAMPLE
            .replace("\"mx.trust.example.test\"", "\"\"")
            .replace("\"35MiB\"", "0")
            .replace("kvk = \"12345678\"", "kvk = \"x\"")
            .replace("organisation = \"acme\"", "organisation = \"nobody\"")
            .replace(
                "contact = \"billing@supplier.example\"",
                "contact = \"billing\"",
            )
            .replace("domain = \"supplier.example\"\n", "");
        let errs = errors(&text);
        let positions: Vec<&str> = errs
            .iter()
            .map(|e| e.split(": ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            positions,
            [
                "t.toml:2:12",
                "t.toml:4:20",
                "t.toml:12:7",
                "t.toml:17:16",
                "t.toml:20:1",
                "t.toml:22:11"
            ],
            "{errs:#?}"
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
        use crate::invoice::{FacturXProfile, Specification, Zugferd1Profile};
        let mut all = vec![
            Specification::En16931,
            Specification::PeppolBis3,
            Specification::PeppolSelfBilling,
            Specification::SiUbl2,
            Specification::SiUbl2GAccount,
            Specification::Ubl20,
            Specification::Other,
            Specification::Missing,
        ];
        for p in [
            FacturXProfile::Minimum,
            FacturXProfile::BasicWl,
            FacturXProfile::Basic,
            FacturXProfile::Extended,
        ] {
            all.push(Specification::FacturX(p));
        }
        for p in [
            Zugferd1Profile::Basic,
            Zugferd1Profile::Comfort,
            Zugferd1Profile::Extended,
            Zugferd1Profile::Other,
        ] {
            all.push(Specification::Zugferd1(p));
        }
        for (major, minor, extension) in [(3, 0, false), (3, 0, true), (2, 3, false), (1, 2, false)]
        {
            all.push(Specification::XRechnung {
                major,
                minor,
                extension,
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

    // ---- checks outside the file ----

    #[test]
    fn spool_path_must_be_a_writable_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("trustgate.toml");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let with_spool = |spool: &str| {
            let text = EXAMPLE.replace("path = \"spool\"", &format!("path = \"{spool}\""));
            match load_str(&text, &cfg, &Options::default()) {
                Ok(c) => Ok(c.spool.path),
                Err(e) => Err(e.0.iter().map(|e| e.message.clone()).collect::<Vec<_>>()),
            }
        };
        // Exists, and a directory: fine, and relative paths start at the config's directory.
        std::fs::create_dir(dir.path().join("spool")).unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(with_spool("spool").unwrap(), base.join("spool"));
        assert_eq!(
            with_spool("./sub/../spool").unwrap(),
            base.join("sub/../spool")
        );
        // Missing but creatable (serve creates it): fine, and nothing was created.
        assert_eq!(with_spool("new/deeper").unwrap(), base.join("new/deeper"));
        assert!(!dir.path().join("new").exists());
        // A file, or under a file: refused.
        let errs = with_spool("a-file").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].ends_with("a-file: is not a directory; point spool.path at a directory"),
            "{errs:?}"
        );
        let errs = with_spool("a-file/spool").unwrap_err();
        assert!(
            errs[0].contains("cannot be created because") && errs[0].contains("is not a directory"),
            "{errs:?}"
        );
        // Not writable (only observable without root's CAP_DAC_OVERRIDE, so probe first).
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        if std::fs::write(ro.join("probe"), b"").is_err() {
            let errs = with_spool("ro").unwrap_err();
            assert!(
                errs[0].contains("the directory is not writable"),
                "{errs:?}"
            );
            let errs = with_spool("ro/spool").unwrap_err();
            assert!(errs[0].contains("does not exist, and"), "{errs:?}");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn spool_check_points_at_the_path_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"").unwrap();
        let text = EXAMPLE.replace("path = \"spool\"", "path = \"f\"");
        let errs = load_str(&text, &dir.path().join("t.toml"), &Options::default()).unwrap_err();
        assert_eq!((errs.0[0].line, errs.0[0].column), (7, 8));
    }

    #[test]
    fn tls_files_must_be_readable_pem() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("trustgate.toml");
        let ck =
            rcgen::generate_simple_self_signed(vec!["mx.trust.example.test".to_string()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("junk.pem"), "not pem").unwrap();
        let options = Options {
            check_spool_writable: false,
            check_tls_files: true,
        };
        let with_tls = |cert: &str, key: &str| {
            let text = EXAMPLE.replace(
                "\n[spool]",
                &format!("\n[server.tls]\ncertificate = \"{cert}\"\nkey = \"{key}\"\n\n[spool]"),
            );
            load_str(&text, &cfg, &options)
        };
        let c = with_tls("cert.pem", "key.pem").unwrap();
        let tls = c.server.tls.unwrap();
        assert!(tls.certificate.is_absolute() && tls.certificate.ends_with("cert.pem"));
        assert!(tls.key.is_absolute() && tls.key.ends_with("key.pem"));

        let errs = with_tls("missing.pem", "junk.pem").unwrap_err().0;
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert_eq!((errs[0].line, errs[0].column), (7, 15));
        assert!(
            errs[0].message.starts_with("tls.certificate ")
                && errs[0].message.contains("cannot be read"),
            "{}",
            errs[0]
        );
        assert_eq!((errs[1].line, errs[1].column), (8, 7));
        assert!(
            errs[1].message.contains("holds no PEM private key"),
            "{}",
            errs[1]
        );
        // The key is not a certificate, and a certificate is not a key.
        let errs = with_tls("key.pem", "cert.pem").unwrap_err().0;
        assert_eq!(errs.len(), 2, "{errs:#?}");
        // Skipped when asked.
        let text = EXAMPLE.replace(
            "\n[spool]",
            "\n[server.tls]\ncertificate = \"a\"\nkey = \"b\"\n[spool]",
        );
        assert!(load_str(&text, &cfg, &no_io()).is_ok());
    }

    #[test]
    fn load_reports_an_unreadable_file_without_position() {
        let errs = load(Path::new("/nonexistent/trustgate.toml")).unwrap_err();
        assert_eq!(errs.0.len(), 1);
        assert_eq!(errs.0[0].line, 0);
        let shown = errs.to_string();
        assert!(
            shown.starts_with("/nonexistent/trustgate.toml: cannot read the config file"),
            "{shown}"
        );
    }

    // ---- units and helpers ----

    #[test]
    fn sizes() {
        for (s, n) in [
            ("0", 0),
            ("1048576", 1 << 20),
            ("35MiB", 35 << 20),
            ("35 MiB", 35 << 20),
            (" 35mib ", 35 << 20),
            ("512KiB", 512 << 10),
            ("1GiB", 1 << 30),
            ("100MB", 100_000_000),
            ("2 kB", 2000),
            ("3GB", 3_000_000_000),
            ("12 B", 12),
        ] {
            assert_eq!(parse_size(s), Ok(n), "{s}");
        }
        for s in [
            "",
            "MiB",
            "1.5MiB",
            "-1",
            "35 MiBs",
            "35 M",
            "1 TiB",
            "99999999999999999999",
            "17179869184 GiB",
        ] {
            assert!(parse_size(s).is_err(), "{s} should be refused");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for s in ["", "5", "five minutes", "5 parsecs", "-5s"] {
            assert!(parse_duration(s).is_err(), "{s} should be refused");
        }
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let text = EXAMPLE.replace("name = \"ACME B.V.\"", "name = \"ÄÇMÉ\" ; x = 1");
        assert_one(&text, "11:15", "TOML syntax error");
    }

    #[test]
    fn resolve_relative_paths() {
        let base = Path::new("/etc/trustgate");
        assert_eq!(
            resolve(base, Path::new("../spool")),
            Path::new("/etc/spool")
        );
        assert_eq!(
            resolve(base, Path::new("./tls/cert.pem")),
            Path::new("/etc/trustgate/tls/cert.pem")
        );
        assert_eq!(
            resolve(base, Path::new("/var/spool/trustgate")),
            Path::new("/var/spool/trustgate")
        );
        assert_eq!(
            resolve(base, Path::new("a/../b")),
            Path::new("/etc/trustgate/a/../b")
        );
    }

    #[test]
    fn typo_suggestions() {
        assert_eq!(edit_distance("listn", "listen"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let keys = ["hostname", "listen", "max_message_size", "max_recipients"];
        assert_eq!(
            closest("max_msg_size", keys.into_iter()),
            Some("max_message_size")
        );
        assert_eq!(closest("Listen", keys.into_iter()), Some("listen"));
        assert_eq!(closest("whitelist", keys.into_iter()), None);
    }
}
