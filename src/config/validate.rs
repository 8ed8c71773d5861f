//! Raw TOML to validated [`super::Config`], collecting every error with file:line:col and a fix.
//!
//! Called by [`super::Config::load`] (serve, reload) and by `trustgate check-config`; both run the
//! same checks. Parsing (syntax, types, unknown or missing keys) stops at the first error, which
//! is reported with its position and a fix; only a file that parses gets the semantic checks,
//! which report *every* problem at once.
//!
//! This module must never change anything on disk: the spool directory is checked with
//! `access(2)` (or, when it does not exist yet, its nearest existing ancestor, since `serve`
//! creates it), and TLS files are only read. Secrets (`secret_file`, `secret_env`,
//! `relay.password_file`) are read here, whatever the [`Options`], because the config holds
//! their bytes; no message ever shows them. Paths in the file are relative to the directory of
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
    AuthPolicy, BuyerCheck, Config, Delivery, DirectoryLayout, Dns, EndpointId, Language, Limits,
    Notices, Organisation, Receiver, Relay, RelayTls, Secret, SenderPattern, Server, Sink,
    SinkKind, SmtpMode, Spool, Tls, TrustKind, TrustedSender, WebhookPayload, defaults,
    normalise_identifier,
};
use crate::address::{Address, Domain};

/// The name of the built-in sink that forwards postmaster mail to `[server] postmaster`.
pub const POSTMASTER_SINK: &str = "postmaster";

/// The name of the built-in sink that sends notices to supplier contacts (`[notices]`).
pub const NOTICES_SINK: &str = "notices";

/// One config problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is the whole file (it cannot be read).
    pub line: usize,
    /// 1-based column, counted in characters; 0 when `line` is 0, or when only the line is
    /// known (a template file: shown as `FILE:LINE: message`).
    pub column: usize,
    /// What is wrong and how to fix it: `what is wrong; how to fix it`.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else if self.column == 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
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
    load_str_with(text, path, options, &Overlay::new())
}

/// Texts that stand in for included files: what an edit would write, keyed by
/// [`include_key`]. A file in the overlay is read from it rather than from disk, and counts as
/// existing for `include`'s patterns even before it is created, so a config edit that spans
/// several files is validated whole before any of them is written.
pub type Overlay = HashMap<PathBuf, String>;

/// [`load_str`], with some included files read from `overlay` instead of the disk.
///
/// # Errors
/// Every problem found, each with file, line, column and a fix.
pub fn load_str_with(
    text: &str,
    path: &Path,
    options: &Options,
    overlay: &Overlay,
) -> Result<Config, ConfigErrors> {
    // `include = ["conf.d/*.toml"]`: the included files follow the main file as one TOML
    // document (they hold only tables), and every position is mapped back to its own file.
    let (combined, segments, include_errors) = with_includes(text, path, overlay);
    let mut v = Validator::new(&combined, path, options);
    v.segments = segments;
    for (span, message) in include_errors {
        v.error_at(span, message);
    }
    if !v.errors.is_empty() {
        return Err(ConfigErrors(v.errors));
    }
    let text = combined.as_str();
    let raw: raw::Config = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            v.parse_error(e);
            return Err(ConfigErrors(v.errors));
        }
    };
    let mut config = v.config(raw);
    if v.errors.is_empty() {
        v.warnings.sort_by_key(|e| (e.line, e.column));
        config.warnings = v.warnings;
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
    /// Settings that are valid but unsafe in production (`auth = "none"`).
    warnings: Vec<ConfigError>,
    /// Where each file of the text starts (the main file, then each included one).
    segments: Vec<Segment>,
}

/// One file within the validated text.
struct Segment {
    /// Its first byte in the text.
    start: usize,
    /// Its first line in the text, 1-based.
    first_line: usize,
    /// The file.
    file: PathBuf,
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
            warnings: Vec::new(),
            segments: vec![Segment {
                start: 0,
                first_line: 1,
                file: file.to_path_buf(),
            }],
        }
    }

    /// The file, its 1-based line and the character column of a byte offset of the text.
    fn locate(&self, offset: usize) -> (PathBuf, usize, usize) {
        let (line, column) = self.global_position(offset);
        match self.segments.iter().rev().find(|s| s.start <= offset) {
            Some(s) => (s.file.clone(), line + 1 - s.first_line.min(line), column),
            None => (self.file.to_path_buf(), line, column),
        }
    }

    /// 1-based line within its own file and character column of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let (_, line, column) = self.locate(offset);
        (line, column)
    }

    /// 1-based line and character column of a byte offset, in the whole text.
    fn global_position(&self, offset: usize) -> (usize, usize) {
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
        let (file, line, column) = self.locate(span.start);
        self.errors.push(ConfigError {
            file,
            line,
            column,
            message,
        });
    }

    fn error<T>(&mut self, value: &Spanned<T>, message: String) {
        self.error_at(value.span(), message);
    }

    fn warning<T>(&mut self, value: &Spanned<T>, message: String) {
        let (file, line, column) = self.locate(value.span().start);
        self.warnings.push(ConfigError {
            file,
            line,
            column,
            message,
        });
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
            format!("{what}; add it, e.g. {}", example(path, key))
        } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
            // The path ends with the key whose value has the wrong type.
            let (table, key) = path.rsplit_once('.').unwrap_or(("", path));
            let what = if key == "secret" {
                // Never show a secret, not even one of the wrong type.
                "not a string".to_string()
            } else {
                message
                    .trim_start_matches("invalid type: ")
                    .trim_start_matches("invalid value: ")
                    .replacen(", expected ", " where the schema expects ", 1)
            };
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
        let postmaster_span = raw.server.get_ref().postmaster.as_ref().map(Spanned::span);
        let server = self.server(raw.server.into_inner());
        let spool = self.spool(raw.spool.into_inner());
        let delivery = raw
            .delivery
            .map_or_else(Delivery::default, |d| self.delivery(d.get_ref()));
        let relay = raw.relay.as_ref().and_then(|r| self.relay(r.get_ref()));
        let limits = raw
            .limits
            .as_ref()
            .map_or_else(Limits::default, |l| self.limits(l.get_ref()));
        let dns = raw
            .dns
            .as_ref()
            .map_or_else(Dns::default, |d| self.dns(d.get_ref()));
        let notices = raw.notices.as_ref().and_then(|n| {
            let n = n.get_ref();
            let rate_per_hour = u32::try_from(self.count(
                n.rate_per_hour.as_ref(),
                "notices.rate_per_hour",
                defaults::NOTICES_RATE_PER_HOUR as usize,
                defaults::NOTICES_RATE_PER_HOUR_RANGE,
                "",
            ))
            .unwrap_or(defaults::NOTICES_RATE_PER_HOUR);
            if raw.relay.is_none() {
                self.error(&n.from, "notices are sent through [relay]: add [relay], or remove [notices]".into());
            }
            let admin = n.admin.as_ref().and_then(|a| match Address::parse(a.get_ref().trim()) {
                Ok(admin) => Some(admin),
                Err(e) => {
                    self.error(a, format!("notices.admin {e}; write the address that hears of undeliverable invoices, e.g. \"ap-admin@acme.example\""));
                    None
                }
            });
            let rate_window = self.duration(
                n.rate_window.as_ref(),
                "notices.rate_window",
                defaults::NOTICES_RATE_WINDOW,
                defaults::NOTICES_RATE_WINDOW_RANGE,
            );
            let templates = n
                .templates
                .as_ref()
                .map_or_else(crate::notify::render::Templates::builtin, |t| {
                    self.templates(t)
                });
            match Address::parse(n.from.get_ref().trim()) {
                Ok(from) => Some(Notices {
                    from,
                    rate_per_hour,
                    rate_window,
                    admin,
                    templates,
                }),
                Err(e) => {
                    self.error(&n.from, format!("notices.from {e}; write the address notices come from, e.g. \"no-reply@trust.example.eu\""));
                    None
                }
            }
        });
        let sinks = self.sinks(&raw.sink, raw.relay.is_some(), &spool.path);
        if raw.notices.is_some() {
            for sink in raw
                .sink
                .iter()
                .filter(|s| s.get_ref().name.get_ref().trim() == NOTICES_SINK)
            {
                self.error(&sink.get_ref().name, format!("sink name \"{NOTICES_SINK}\" is taken by the notices of [notices]; choose another"));
            }
        }
        if let Some(span) = postmaster_span.filter(|_| server.postmaster.is_some()) {
            if raw.relay.is_none() {
                self.error_at(span, "postmaster mail is forwarded through [relay]: add [relay], or remove postmaster to keep such mail in the spool (trustgate spool list)".into());
            }
            // Its forward is a sink of its own, under this name.
            for sink in raw
                .sink
                .iter()
                .filter(|s| s.get_ref().name.get_ref().trim() == POSTMASTER_SINK)
            {
                self.error(&sink.get_ref().name, format!("sink name \"{POSTMASTER_SINK}\" is taken by the forward of [server] postmaster; choose another"));
            }
        }
        // Every name as written, so a sink whose own entry has an error is not reported again
        // where a deliver list names it.
        let mut sink_names: Vec<&str> = Vec::with_capacity(raw.sink.len());
        for sink in &raw.sink {
            let name = sink.get_ref().name.get_ref().trim();
            if !sink_names.contains(&name) {
                sink_names.push(name);
            }
        }
        let organisations = self.organisations(&raw.organisation, &sink_names);
        let receivers = self.receivers(
            &raw.receiver,
            &raw.organisation,
            &organisations,
            &sink_names,
        );
        Config {
            source: std::path::absolute(self.file).unwrap_or_else(|_| self.file.to_path_buf()),
            server,
            spool,
            organisations,
            receivers,
            delivery,
            relay,
            sinks,
            limits,
            dns,
            notices,
            warnings: Vec::new(),
        }
    }

    fn dns(&mut self, raw: &raw::Dns) -> Dns {
        let mut nameservers: Vec<SocketAddr> = Vec::new();
        for entry in raw.nameservers.iter().flat_map(|l| l.get_ref()) {
            let written = entry.get_ref().trim();
            // A bare IP means port 53.
            let parsed = written.parse::<SocketAddr>().or_else(|_| {
                written
                    .parse::<std::net::IpAddr>()
                    .map(|ip| SocketAddr::new(ip, 53))
            });
            match parsed {
                Ok(addr) if nameservers.contains(&addr) => {
                    self.error(entry, format!("dns.nameservers lists \"{addr}\" twice; remove one"));
                }
                Ok(addr) => nameservers.push(addr),
                Err(_) => self.error(
                    entry,
                    format!("dns.nameservers entry \"{written}\" is not an IP address; write e.g. \"127.0.0.1:53\" or \"::1\" (host names are not resolved)"),
                ),
            }
        }
        if let Some(list) = raw.nameservers.as_ref().filter(|l| l.get_ref().is_empty()) {
            self.error(list, "dns.nameservers is empty; list at least one, or remove the key to use the system's resolvers".into());
        }
        Dns {
            nameservers,
            timeout: self.duration(
                raw.timeout.as_ref(),
                "dns.timeout",
                defaults::DNS_TIMEOUT,
                defaults::DNS_TIMEOUT_RANGE,
            ),
            cache_size: self.count(
                raw.cache_size.as_ref(),
                "dns.cache_size",
                defaults::DNS_CACHE_SIZE,
                defaults::DNS_CACHE_SIZE_RANGE,
                "",
            ),
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

        let mut listen_tls: Vec<SocketAddr> = Vec::new();
        for entry in raw.listen_tls.iter().flat_map(|l| l.get_ref()) {
            match entry.get_ref().trim().parse::<SocketAddr>() {
                // Port 0 (any free port, for tests) may repeat.
                Ok(addr)
                    if addr.port() != 0
                        && (listen.contains(&addr) || listen_tls.contains(&addr)) =>
                {
                    self.error(entry, format!("listen_tls address \"{addr}\" is listed twice (here or in listen); remove one"));
                }
                Ok(addr) => listen_tls.push(addr),
                Err(_) => self.error(
                    entry,
                    format!(
                        "listen_tls address \"{}\" is not IP:PORT; write e.g. \"0.0.0.0:465\" (host names are not resolved)",
                        entry.get_ref()
                    ),
                ),
            }
        }
        if raw.tls.is_none()
            && let Some(l) = raw.listen_tls.as_ref().filter(|l| !l.get_ref().is_empty())
        {
            self.error(
                l,
                "listen_tls needs a certificate: add [server.tls] with certificate and key, or remove listen_tls".into(),
            );
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
        let max_connections_per_minute = u32::try_from(self.count(
            raw.max_connections_per_minute.as_ref(),
            "max_connections_per_minute",
            defaults::MAX_CONNECTIONS_PER_MINUTE as usize,
            defaults::MAX_CONNECTIONS_PER_MINUTE_RANGE,
            "",
        ))
        .unwrap_or(defaults::MAX_CONNECTIONS_PER_MINUTE);
        let max_connections_per_minute_per_network = u32::try_from(self.count(
            raw.max_connections_per_minute_per_network.as_ref(),
            "max_connections_per_minute_per_network",
            defaults::MAX_CONNECTIONS_PER_MINUTE_PER_NETWORK as usize,
            defaults::MAX_CONNECTIONS_PER_MINUTE_PER_NETWORK_RANGE,
            "",
        ))
        .unwrap_or(defaults::MAX_CONNECTIONS_PER_MINUTE_PER_NETWORK);
        let max_messages_per_minute = u32::try_from(self.count(
            raw.max_messages_per_minute.as_ref(),
            "max_messages_per_minute",
            defaults::MAX_MESSAGES_PER_MINUTE as usize,
            defaults::MAX_MESSAGES_PER_MINUTE_RANGE,
            "",
        ))
        .unwrap_or(defaults::MAX_MESSAGES_PER_MINUTE);
        let max_messages_per_minute_per_network = u32::try_from(self.count(
            raw.max_messages_per_minute_per_network.as_ref(),
            "max_messages_per_minute_per_network",
            defaults::MAX_MESSAGES_PER_MINUTE_PER_NETWORK as usize,
            defaults::MAX_MESSAGES_PER_MINUTE_PER_NETWORK_RANGE,
            "",
        ))
        .unwrap_or(defaults::MAX_MESSAGES_PER_MINUTE_PER_NETWORK);
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
        let mut trusted_arc_sealers: Vec<Domain> = Vec::new();
        for entry in raw.trusted_arc_sealers.iter().flat_map(|l| l.get_ref()) {
            match Domain::parse(entry.get_ref().trim()) {
                Ok(d) if trusted_arc_sealers.contains(&d) => {
                    self.error(entry, format!("trusted_arc_sealers lists \"{d}\" twice; remove one"));
                }
                Ok(d) => trusted_arc_sealers.push(d),
                Err(e) => self.error(
                    entry,
                    format!("trusted_arc_sealers entry \"{}\" {e}; write the sealer's domain, e.g. \"microsoft.com\"", entry.get_ref()),
                ),
            }
        }

        let postmaster = raw.postmaster.as_ref().and_then(|p| {
            match Address::parse(p.get_ref().trim()) {
                Ok(a) => Some(a),
                Err(e) => {
                    self.error(p, format!("postmaster {e}; write the admin's address, e.g. \"hostmaster@example.org\""));
                    None
                }
            }
        });

        let receiver_domain = raw.receiver_domain.as_ref().and_then(|d| {
            let written = d.get_ref().trim();
            match Domain::parse(written) {
                Ok(domain) => Some(domain),
                Err(e) => {
                    self.error(d, format!("receiver_domain {e}; write the domain of the generated addresses, e.g. \"trust.example.com\""));
                    None
                }
            }
        });
        let receiver_address_length = self.count(
            raw.receiver_address_length.as_ref(),
            "receiver_address_length",
            defaults::RECEIVER_ADDRESS_LENGTH,
            defaults::RECEIVER_ADDRESS_LENGTH_RANGE,
            " (fewer than 7 characters could be guessed)",
        );

        Server {
            receiver_domain,
            receiver_address_length,
            postmaster,
            hostname,
            listen,
            listen_tls,
            max_message_size,
            max_recipients,
            max_line_length,
            max_connections,
            max_connections_per_ip,
            max_connections_per_minute,
            max_connections_per_minute_per_network,
            max_messages_per_minute,
            max_messages_per_minute_per_network,
            max_messages_per_session,
            max_errors,
            command_timeout,
            data_timeout,
            session_timeout,
            shutdown_timeout,
            tls,
            trusted_arc_sealers,
        }
    }

    fn tls(&mut self, raw: raw::Tls) -> Tls {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};

        let certificate = self.path(&raw.certificate, "tls.certificate");
        let key = self.path(&raw.key, "tls.key");
        if self.options.check_tls_files {
            if let Some(bytes) = self.read_small(
                &raw.certificate,
                &certificate,
                "tls.certificate",
                defaults::MAX_TLS_FILE_SIZE,
            ) {
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
            if let Some(bytes) =
                self.read_small(&raw.key, &key, "tls.key", defaults::MAX_TLS_FILE_SIZE)
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

    /// Reads a small file (at most `limit` bytes) named by `value`, reporting why it cannot be
    /// read.
    fn read_small(
        &mut self,
        value: &Spanned<String>,
        path: &Path,
        key: &str,
        limit: u64,
    ) -> Option<Vec<u8>> {
        let result = std::fs::metadata(path).and_then(|m| {
            if m.len() > limit {
                Err(std::io::Error::other(format!(
                    "larger than {}",
                    show_size(limit)
                )))
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

    fn organisations(
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

    fn receivers(
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

    /// A `deliver` list: every name a defined sink (`sinks`: the names written in the file),
    /// none twice.
    fn deliver(&mut self, raw: &[Spanned<String>], label: &str, sinks: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(raw.len());
        for value in raw {
            let name = value.get_ref().trim();
            if !sinks.contains(&name) {
                let hint = match closest(name, sinks.iter().copied()) {
                    Some(best) => format!("did you mean \"{best}\"?"),
                    None if sinks.is_empty() => {
                        format!("add a [[sink]] with name = \"{name}\", or remove it")
                    }
                    None => format!("use one of {}", quoted(sinks.iter().copied())),
                };
                self.error(
                    value,
                    format!("{label}: unknown sink \"{name}\" in deliver; {hint}"),
                );
            } else if out.iter().any(|n| n == name) {
                self.error(
                    value,
                    format!("{label}: sink \"{name}\" is listed twice in deliver; remove one"),
                );
            } else {
                out.push(name.to_string());
            }
        }
        out
    }

    // ---- limits ----

    fn limits(&mut self, raw: &raw::Limits) -> Limits {
        Limits {
            max_header_bytes: self.size(
                raw.max_header_bytes.as_ref(),
                "limits.max_header_bytes",
                defaults::MAX_HEADER_BYTES,
                defaults::MAX_HEADER_BYTES_RANGE,
            ),
            max_header_fields: self.count(
                raw.max_header_fields.as_ref(),
                "limits.max_header_fields",
                defaults::MAX_HEADER_FIELDS,
                defaults::MAX_HEADER_FIELDS_RANGE,
                "",
            ),
            max_total_header_bytes: self.size(
                raw.max_total_header_bytes.as_ref(),
                "limits.max_total_header_bytes",
                defaults::MAX_TOTAL_HEADER_BYTES,
                defaults::MAX_TOTAL_HEADER_BYTES_RANGE,
            ),
            max_total_header_fields: self.count(
                raw.max_total_header_fields.as_ref(),
                "limits.max_total_header_fields",
                defaults::MAX_TOTAL_HEADER_FIELDS,
                defaults::MAX_TOTAL_HEADER_FIELDS_RANGE,
                "",
            ),
            max_mime_parts: self.count(
                raw.max_mime_parts.as_ref(),
                "limits.max_mime_parts",
                defaults::MAX_MIME_PARTS,
                defaults::MAX_MIME_PARTS_RANGE,
                "",
            ),
            max_mime_depth: self.count(
                raw.max_mime_depth.as_ref(),
                "limits.max_mime_depth",
                defaults::MAX_MIME_DEPTH,
                defaults::MAX_MIME_DEPTH_RANGE,
                "",
            ),
            max_nested_messages: self.count(
                raw.max_nested_messages.as_ref(),
                "limits.max_nested_messages",
                defaults::MAX_NESTED_MESSAGES,
                defaults::MAX_NESTED_MESSAGES_RANGE,
                "",
            ),
            max_pdf_bytes: self.size(
                raw.max_pdf_bytes.as_ref(),
                "limits.max_pdf_bytes",
                defaults::MAX_PDF_BYTES,
                defaults::MAX_PDF_BYTES_RANGE,
            ),
            max_pdf_objects: self.count(
                raw.max_pdf_objects.as_ref(),
                "limits.max_pdf_objects",
                defaults::MAX_PDF_OBJECTS,
                defaults::MAX_PDF_OBJECTS_RANGE,
                "",
            ),
            max_pdf_values: self.count(
                raw.max_pdf_values.as_ref(),
                "limits.max_pdf_values",
                defaults::MAX_PDF_VALUES,
                defaults::MAX_PDF_VALUES_RANGE,
                "",
            ),
            max_pdf_stream_bytes: self.size(
                raw.max_pdf_stream_bytes.as_ref(),
                "limits.max_pdf_stream_bytes",
                defaults::MAX_PDF_STREAM_BYTES,
                defaults::MAX_PDF_STREAM_BYTES_RANGE,
            ),
            max_pdf_decompressed_bytes: self.size(
                raw.max_pdf_decompressed_bytes.as_ref(),
                "limits.max_pdf_decompressed_bytes",
                defaults::MAX_PDF_DECOMPRESSED_BYTES,
                defaults::MAX_PDF_DECOMPRESSED_BYTES_RANGE,
            ),
            max_pdf_embedded_files: self.count(
                raw.max_pdf_embedded_files.as_ref(),
                "limits.max_pdf_embedded_files",
                defaults::MAX_PDF_EMBEDDED_FILES,
                defaults::MAX_PDF_EMBEDDED_FILES_RANGE,
                "",
            ),
            max_pdf_expansion: self.count(
                raw.max_pdf_expansion.as_ref(),
                "limits.max_pdf_expansion",
                defaults::MAX_PDF_EXPANSION,
                defaults::MAX_PDF_EXPANSION_RANGE,
                "",
            ),
            max_parallel_inspections: self.count(
                raw.max_parallel_inspections.as_ref(),
                "limits.max_parallel_inspections",
                defaults::MAX_PARALLEL_INSPECTIONS,
                defaults::MAX_PARALLEL_INSPECTIONS_RANGE,
                "",
            ),
        }
    }

    // ---- delivery ----

    fn delivery(&mut self, raw: &raw::Delivery) -> Delivery {
        let initial_backoff = self.duration(
            raw.initial_backoff.as_ref(),
            "delivery.initial_backoff",
            defaults::INITIAL_BACKOFF,
            defaults::INITIAL_BACKOFF_RANGE,
        );
        let max_backoff = self.duration(
            raw.max_backoff.as_ref(),
            "delivery.max_backoff",
            defaults::MAX_BACKOFF,
            defaults::MAX_BACKOFF_RANGE,
        );
        let max_age = self.duration(
            raw.max_age.as_ref(),
            "delivery.max_age",
            defaults::MAX_AGE,
            defaults::MAX_AGE_RANGE,
        );
        let workers = self.count(
            raw.workers.as_ref(),
            "delivery.workers",
            defaults::WORKERS,
            defaults::WORKERS_RANGE,
            "",
        );
        let show = |d: Duration| humantime::format_duration(d).to_string();
        if initial_backoff > max_backoff {
            let span = raw
                .initial_backoff
                .as_ref()
                .or(raw.max_backoff.as_ref())
                .map(Spanned::span);
            if let Some(span) = span {
                self.error_at(
                    span,
                    format!("delivery.initial_backoff ({}) is longer than delivery.max_backoff ({}); make initial_backoff at most max_backoff", show(initial_backoff), show(max_backoff)),
                );
            }
        }
        if max_age < initial_backoff {
            let span = raw
                .max_age
                .as_ref()
                .or(raw.initial_backoff.as_ref())
                .map(Spanned::span);
            if let Some(span) = span {
                self.error_at(
                    span,
                    format!("delivery.max_age ({}) is shorter than delivery.initial_backoff ({}), so a failed document would never be retried; make max_age at least initial_backoff", show(max_age), show(initial_backoff)),
                );
            }
        }
        Delivery {
            initial_backoff,
            max_backoff,
            max_age,
            workers,
        }
    }

    /// `[relay]`, or `None` after reporting a problem that leaves no usable value.
    fn relay(&mut self, raw: &raw::Relay) -> Option<Relay> {
        let host = raw.host.get_ref().trim().to_string();
        if host.is_empty() || host.contains(char::is_whitespace) {
            self.error(
                &raw.host,
                format!("relay.host \"{host}\" is not a host name; write the smarthost's name or IP address, e.g. host = \"smtp.example.com\""),
            );
        }
        let port = self.count(
            raw.port.as_ref(),
            "relay.port",
            usize::from(defaults::RELAY_PORT),
            defaults::RELAY_PORT_RANGE,
            "",
        );
        let port = u16::try_from(port).unwrap_or(defaults::RELAY_PORT);
        let tls = self.choice(
            raw.tls.as_ref(),
            "relay",
            "tls",
            &[
                ("starttls", RelayTls::StartTls),
                ("implicit", RelayTls::Implicit),
                ("none", RelayTls::None),
            ],
            defaults::RELAY_TLS,
        );
        let mut login_ok = true;
        let username = raw.username.as_ref().map(|u| {
            let name = u.get_ref().trim();
            if name.is_empty() {
                self.error(
                    u,
                    "relay.username is empty; write the login, or leave out username and password_file for a relay that needs none".to_string(),
                );
                login_ok = false;
            }
            name.to_string()
        });
        let password = match (&raw.username, &raw.password_file) {
            (Some(u), None) => {
                self.error(
                    u,
                    "relay sets username but not password_file; set both for a relay that needs a login, or neither".to_string(),
                );
                login_ok = false;
                None
            }
            (None, Some(p)) => {
                self.error(
                    p,
                    "relay sets password_file but not username; set both for a relay that needs a login, or neither".to_string(),
                );
                login_ok = false;
                None
            }
            (Some(_), Some(p)) => {
                let password = self.password_file(p);
                login_ok &= password.is_some();
                password
            }
            (None, None) => None,
        };
        // The same rule the smtp sink enforces at start: a password never crosses a network
        // in the clear.
        if tls == RelayTls::None
            && raw.username.is_some()
            && !is_loopback_host(&host)
            && let Some(t) = &raw.tls
        {
            self.error(
                t,
                format!("relay.tls = \"none\" would send the relay password in the clear to {host}; use tls = \"starttls\" or \"implicit\", or a relay on 127.0.0.1"),
            );
            login_ok = false;
        }
        let mail_from = match Address::parse(raw.mail_from.get_ref().trim()) {
            Ok(a) => Some(a),
            Err(e) => {
                self.error(
                    &raw.mail_from,
                    format!("relay.mail_from {e}; write the envelope sender for mail sent through the relay, e.g. mail_from = \"bounces@trust.example.test\""),
                );
                None
            }
        };
        let timeout = self.duration(
            raw.timeout.as_ref(),
            "relay.timeout",
            defaults::RELAY_TIMEOUT,
            defaults::RELAY_TIMEOUT_RANGE,
        );
        Some(Relay {
            host,
            port,
            tls,
            username,
            password,
            mail_from: mail_from?,
            timeout,
        })
        .filter(|_| login_ok)
    }

    /// `relay.password_file`: read now, trailing CR/LF trimmed, not empty.
    fn password_file(&mut self, value: &Spanned<String>) -> Option<Secret> {
        let path = self.file_path(
            value,
            "relay.password_file",
            "password_file = \"/etc/trustgate/relay.pass\"",
        )?;
        let mut bytes = self.read_small(
            value,
            &path,
            "relay.password_file",
            defaults::MAX_SECRET_FILE_SIZE,
        )?;
        trim_line_ends(&mut bytes);
        if bytes.is_empty() {
            self.error(
                value,
                format!(
                    "relay.password_file {} is empty; write the relay password in it (one line)",
                    path.display()
                ),
            );
            return None;
        }
        Some(Secret::new(bytes))
    }

    // ---- sinks ----

    /// `[[sink]]`: the valid ones, after reporting every problem.
    fn sinks(&mut self, raw: &[Spanned<raw::Sink>], has_relay: bool, spool: &Path) -> Vec<Sink> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for spanned in raw {
            let sink = spanned.get_ref();
            let name = sink.name.get_ref().trim().to_string();
            let mut name_ok = false;
            if !is_id(&name) {
                self.error(
                    &sink.name,
                    format!("sink name \"{name}\" is not a valid name; use 1 to 64 lower-case letters, digits, - or _, starting with a letter or digit, e.g. \"erp\""),
                );
            } else if let Some(line) = seen.get(&name) {
                self.error(
                    &sink.name,
                    format!("sink name \"{name}\" is already used on line {line}; give each sink its own name"),
                );
            } else {
                let (line, _) = self.position(sink.name.span().start);
                seen.insert(name.clone(), line);
                name_ok = true;
            }
            let label = format!("sink \"{name}\"");
            let kind = self.choice(
                Some(&sink.kind),
                &label,
                "kind",
                &[
                    ("webhook", Some(Kind::Webhook)),
                    ("directory", Some(Kind::Directory)),
                    ("smtp", Some(Kind::Smtp)),
                    ("nats", Some(Kind::Nats)),
                ],
                None,
            );
            let concurrency = self.count(
                sink.concurrency.as_ref(),
                &format!("{label}: concurrency"),
                defaults::SINK_CONCURRENCY,
                defaults::SINK_CONCURRENCY_RANGE,
                "",
            );
            let timeout = self.duration(
                sink.timeout.as_ref(),
                &format!("{label}: timeout"),
                defaults::SINK_TIMEOUT,
                defaults::SINK_TIMEOUT_RANGE,
            );
            // An unknown kind is the one error to fix first: its keys cannot be judged.
            let Some(kind) = kind else { continue };
            let foreign_ok = self.foreign_sink_keys(sink, kind, &label);
            let kind = match kind {
                Kind::Webhook => self.webhook_sink(spanned, &label),
                Kind::Directory => self.directory_sink(spanned, &label, spool),
                Kind::Smtp => self.smtp_sink(spanned, &label, has_relay),
                Kind::Nats => self.nats_sink(spanned, &label),
            };
            if let Some(kind) = kind
                && name_ok
                && foreign_ok
            {
                out.push(Sink {
                    name,
                    kind,
                    concurrency,
                    timeout,
                });
            }
        }
        out
    }

    /// Reports each key of another kind of sink; false if there was one.
    fn foreign_sink_keys(&mut self, sink: &raw::Sink, kind: Kind, label: &str) -> bool {
        // In the order of KIND_KEYS.
        let values = [
            sink.url.as_ref(),
            sink.secret.as_ref(),
            sink.secret_file.as_ref(),
            sink.secret_env.as_ref(),
            sink.payload.as_ref(),
            sink.path.as_ref(),
            sink.layout.as_ref(),
            sink.to.as_ref(),
            sink.mode.as_ref(),
            sink.subject.as_ref(),
        ];
        let mut ok = true;
        for ((key, owners), value) in KIND_KEYS.iter().zip(values) {
            let Some(value) = value else { continue };
            if owners.contains(&kind) {
                continue;
            }
            let owners = owners
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(" and ");
            self.error(
                value,
                format!("{label}: `{key}` is not a key of {} sink; it belongs to {owners} sinks; remove it, or correct kind", kind.with_article()),
            );
            ok = false;
        }
        ok
    }

    /// A key the sink's kind requires, or `None` after reporting it missing (at the header).
    fn required_sink_key<'r>(
        &mut self,
        sink: &'r Spanned<raw::Sink>,
        value: Option<&'r Spanned<String>>,
        label: &str,
        kind: Kind,
        example: &str,
    ) -> Option<&'r Spanned<String>> {
        if value.is_none() {
            let key = example.split_once(' ').map_or(example, |(k, _)| k);
            self.error(
                sink,
                format!(
                    "{label}: missing key `{key}`, which {} sink needs; add it, e.g. {example}",
                    kind.with_article()
                ),
            );
        }
        value
    }

    fn webhook_sink(&mut self, spanned: &Spanned<raw::Sink>, label: &str) -> Option<SinkKind> {
        let sink = spanned.get_ref();
        let example = "url = \"https://erp.example/hooks/invoices\"";
        let url = self
            .required_sink_key(spanned, sink.url.as_ref(), label, Kind::Webhook, example)
            .and_then(|value| {
                let url = value.get_ref().trim();
                match check_http_url(url) {
                    Ok(()) => Some(url.to_string()),
                    Err(why) => {
                        self.error(
                            value,
                            format!("{label}: url \"{url}\" {why}; write the full address of the webhook, e.g. {example}"),
                        );
                        None
                    }
                }
            });
        let secret = self.webhook_secret(sink, label);
        let payload = self.choice(
            sink.payload.as_ref(),
            label,
            "payload",
            &[
                ("json", WebhookPayload::Json),
                ("multipart", WebhookPayload::Multipart),
            ],
            defaults::WEBHOOK_PAYLOAD,
        );
        Some(SinkKind::Webhook {
            url: url?,
            secret: secret?,
            payload,
        })
    }

    /// At most one of `secret`, `secret_file` and `secret_env`, read and decoded now.
    /// `Some(None)` for none (unsigned requests); `None` after reporting a problem.
    /// No message ever shows the secret.
    fn webhook_secret(&mut self, sink: &raw::Sink, label: &str) -> Option<Option<Secret>> {
        let mut set: Vec<(&str, &Spanned<String>)> = [
            sink.secret.as_ref().map(|v| ("secret", v)),
            sink.secret_file.as_ref().map(|v| ("secret_file", v)),
            sink.secret_env.as_ref().map(|v| ("secret_env", v)),
        ]
        .into_iter()
        .flatten()
        .collect();
        set.sort_by_key(|(_, v)| v.span().start);
        let (key, value) = match set.as_slice() {
            [] => return Some(None),
            [one] => *one,
            [first, second, ..] => {
                self.error(
                    second.1,
                    format!("{label} sets both {} and {}; keep at most one of secret, secret_file and secret_env (none sends unsigned requests)", first.0, second.0),
                );
                return None;
            }
        };
        let (bytes, origin) = match key {
            "secret" => (value.get_ref().as_bytes().to_vec(), "secret".to_string()),
            "secret_file" => {
                let path = self.file_path(
                    value,
                    &format!("{label}: secret_file"),
                    "secret_file = \"/etc/trustgate/erp-webhook.secret\"",
                )?;
                let mut bytes = self.read_small(
                    value,
                    &path,
                    &format!("{label}: secret_file"),
                    defaults::MAX_SECRET_FILE_SIZE,
                )?;
                trim_line_ends(&mut bytes);
                (bytes, format!("secret_file {}", path.display()))
            }
            _ => {
                let var = value.get_ref().trim();
                if var.is_empty() || var.contains(['=', '\0']) {
                    self.error(
                        value,
                        format!("{label}: secret_env \"{}\" is not an environment variable name; write the variable's name, e.g. secret_env = \"ERP_WEBHOOK_SECRET\"", var.escape_debug()),
                    );
                    return None;
                }
                match std::env::var_os(var) {
                    Some(v) if !v.is_empty() => (
                        v.into_encoded_bytes(),
                        format!("environment variable {var}"),
                    ),
                    Some(_) => {
                        self.error(
                            value,
                            format!("{label}: environment variable {var} (secret_env) is empty; set it to the webhook secret in trustgate's environment, e.g. in the systemd unit"),
                        );
                        return None;
                    }
                    None => {
                        self.error(
                            value,
                            format!("{label}: environment variable {var} (secret_env) is not set; set it to the webhook secret in trustgate's environment, e.g. in the systemd unit, or use secret_file"),
                        );
                        return None;
                    }
                }
            }
        };
        match webhook_key(bytes) {
            Ok(key) => Some(Some(key)),
            Err(why) => {
                self.error(value, format!("{label}: {origin} {why}"));
                None
            }
        }
    }

    fn directory_sink(
        &mut self,
        spanned: &Spanned<raw::Sink>,
        label: &str,
        spool: &Path,
    ) -> Option<SinkKind> {
        let sink = spanned.get_ref();
        let example = "path = \"/var/lib/trustgate/out\"";
        let path = self
            .required_sink_key(spanned, sink.path.as_ref(), label, Kind::Directory, example)
            .and_then(|value| {
                let written = value.get_ref().trim();
                if written.is_empty() {
                    self.error(
                        value,
                        format!("{label}: path is empty; write the directory to write documents to, e.g. {example}"),
                    );
                    return None;
                }
                let path = resolve(&self.base, Path::new(written));
                let spool = lexical(spool);
                if !spool.as_os_str().is_empty() && lexical(&path).starts_with(&spool) {
                    self.error(
                        value,
                        format!("{label}: path {} is inside the spool directory {}; choose a directory outside it, e.g. {example}", path.display(), spool.display()),
                    );
                    return None;
                }
                Some(path)
            });
        let layout = self.choice(
            sink.layout.as_ref(),
            label,
            "layout",
            &[
                ("flat", DirectoryLayout::Flat),
                ("by-organisation", DirectoryLayout::ByOrganisation),
            ],
            defaults::DIRECTORY_LAYOUT,
        );
        Some(SinkKind::Directory {
            path: path?,
            layout,
        })
    }

    fn smtp_sink(
        &mut self,
        spanned: &Spanned<raw::Sink>,
        label: &str,
        has_relay: bool,
    ) -> Option<SinkKind> {
        let sink = spanned.get_ref();
        let example = "to = \"digitalemailbox@example.test\"";
        let to = self
            .required_sink_key(spanned, sink.to.as_ref(), label, Kind::Smtp, example)
            .and_then(|value| match Address::parse(value.get_ref().trim()) {
                Ok(a) => Some(a),
                Err(e) => {
                    self.error(
                        value,
                        format!(
                            "{label}: to {e}; write the recipient's plain address, e.g. {example}"
                        ),
                    );
                    None
                }
            });
        let mode = self.choice(
            sink.mode.as_ref(),
            label,
            "mode",
            &[
                ("document", SmtpMode::Document),
                ("original", SmtpMode::Original),
            ],
            defaults::SMTP_MODE,
        );
        if !has_relay {
            self.error(
                &sink.kind,
                format!("{label}: an smtp sink sends through the [relay] smarthost, but there is no [relay] section; add one with at least host and mail_from, e.g. [relay] host = \"smtp.example.com\" mail_from = \"bounces@trust.example.test\""),
            );
            return None;
        }
        Some(SinkKind::Smtp { to: to?, mode })
    }

    fn nats_sink(&mut self, spanned: &Spanned<raw::Sink>, label: &str) -> Option<SinkKind> {
        let sink = spanned.get_ref();
        let url_example = "url = \"nats://127.0.0.1:4222\"";
        let url = self
            .required_sink_key(spanned, sink.url.as_ref(), label, Kind::Nats, url_example)
            .and_then(|value| {
                let url = value.get_ref().trim();
                let rest = strip_prefix_ignore_case(url, "nats://")
                    .or_else(|| strip_prefix_ignore_case(url, "tls://"));
                match rest {
                    Some(rest) if !rest.is_empty() && !url.contains(char::is_whitespace) => {
                        Some(url.to_string())
                    }
                    Some(_) => {
                        self.error(
                            value,
                            format!("{label}: url \"{url}\" has no server after the scheme, or holds whitespace; write e.g. {url_example}"),
                        );
                        None
                    }
                    None => {
                        self.error(
                            value,
                            format!("{label}: url \"{url}\" is not a NATS URL (nats:// or tls://); write e.g. {url_example}, or tls://... for TLS"),
                        );
                        None
                    }
                }
            });
        let subject_example = "subject = \"invoices.{organisation}\"";
        let subject = self
            .required_sink_key(
                spanned,
                sink.subject.as_ref(),
                label,
                Kind::Nats,
                subject_example,
            )
            .and_then(|value| {
                let subject = value.get_ref().trim();
                match check_subject(subject) {
                    Ok(()) => Some(subject.to_string()),
                    Err(why) => {
                        self.error(
                            value,
                            format!(
                                "{label}: subject \"{subject}\" {why}; write e.g. {subject_example}"
                            ),
                        );
                        None
                    }
                }
            });
        Some(SinkKind::Nats {
            url: url?,
            subject: subject?,
        })
    }

    // ---- typed values ----

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

    /// Like [`Self::path`] for a file to read, with an example for the fix; `None` if empty.
    fn file_path(&mut self, value: &Spanned<String>, key: &str, example: &str) -> Option<PathBuf> {
        let s = value.get_ref().trim();
        if s.is_empty() {
            self.error(
                value,
                format!("{key} is empty; write the file's path, e.g. {example}"),
            );
            return None;
        }
        Some(resolve(&self.base, Path::new(s)))
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

    /// `notices.templates`: the directory's template files, compiled now. Each problem is
    /// reported at the template file and its line (`FILE:LINE: ...`); one that concerns the
    /// directory itself, at the key. The built-in templates stand in after an error.
    fn templates(&mut self, value: &Spanned<String>) -> crate::notify::render::Templates {
        use crate::notify::render::Templates;
        let Some(dir) = self.file_path(
            value,
            "notices.templates",
            "templates = \"notice-templates\"",
        ) else {
            return Templates::builtin();
        };
        match Templates::from_dir(&dir) {
            Ok(templates) => templates,
            Err(errors) => {
                for e in errors {
                    if e.line == 0 && e.file == dir {
                        self.error(
                            value,
                            format!("notices.templates {}: {}", dir.display(), e.message),
                        );
                    } else {
                        self.errors.push(ConfigError {
                            file: e.file,
                            line: e.line,
                            column: 0,
                            message: format!("notices.templates: {}", e.message),
                        });
                    }
                }
                Templates::builtin()
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
/// Whether a relay host is this machine (a plain connection never leaves it).
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Included files one config may name, at most (a platform keeps one per organisation).
const MAX_INCLUDED_FILES: usize = 100_000;

/// The main file's text followed by every file its `include` names, the segments that say
/// where each starts, and the problems found on the way (located in the main file).
/// A problem found while reading `include`: where in the main file, and what.
type IncludeError = (Range<usize>, String);

/// The `include` list of a main file's text; `None` when it has none (or does not parse,
/// which the full parse reports).
fn include_patterns(text: &str) -> Option<Spanned<Vec<Spanned<String>>>> {
    #[derive(serde::Deserialize)]
    struct Includes {
        #[serde(default)]
        include: Option<Spanned<Vec<Spanned<String>>>>,
    }
    toml::from_str::<Includes>(text).ok()?.include
}

/// The files a main file's `include` names, each as [`include_key`] names it, in the order
/// they join; a pattern that names nothing is skipped (the validator reports it).
pub fn included_files(text: &str, path: &Path) -> Vec<PathBuf> {
    let Some(patterns) = include_patterns(text) else {
        return Vec::new();
    };
    let base = base_dir(path);
    let mut files: Vec<PathBuf> = Vec::new();
    let mut seen: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for pattern in patterns.get_ref() {
        for file in
            include_matches(&base, pattern.get_ref().trim(), &Overlay::new()).unwrap_or_default()
        {
            if seen.insert(file.clone()) {
                files.push(file);
            }
        }
    }
    files
}

/// How the config names the file `written` (relative to the main file `path`'s directory, or
/// absolute), whether or not it exists: its directory made canonical, then its name. Every
/// included file is named so, and [`Overlay`] is keyed so, so one file has one name however
/// its path was written (`./conf.d`, a symlinked directory).
pub fn include_key(path: &Path, written: &Path) -> PathBuf {
    let full = base_dir(path).join(written);
    match (full.parent(), full.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .unwrap_or_else(|_| dir.to_path_buf())
            .join(name),
        _ => full,
    }
}

/// The `include` entry of the main file's `text` that names the file `key` (an
/// [`include_key`]), whether or not that file exists yet; `None` when no entry does, and
/// trustgate would not read the file.
pub fn include_covering(text: &str, path: &Path, key: &Path) -> Option<String> {
    let patterns = include_patterns(text)?;
    let base = base_dir(path);
    let (dir, name) = (key.parent()?, key.file_name()?.to_str()?);
    patterns
        .get_ref()
        .iter()
        .map(|p| p.get_ref().trim())
        .find(|pattern| {
            let relative = Path::new(pattern);
            relative
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| {
                    wildcard(n, name)
                        && pattern_dir(&base, relative).is_some_and(|d| d.as_path() == dir)
                })
        })
        .map(str::to_string)
}

/// The directory an `include` entry's files are in, canonical; `None` when it has wildcards.
fn pattern_dir(base: &Path, relative: &Path) -> Option<PathBuf> {
    let dir = base.join(relative.parent().unwrap_or(Path::new("")));
    if dir.to_string_lossy().contains(['*', '?']) {
        return None;
    }
    Some(std::fs::canonicalize(&dir).unwrap_or(dir))
}

fn with_includes(
    text: &str,
    path: &Path,
    overlay: &Overlay,
) -> (String, Vec<Segment>, Vec<IncludeError>) {
    let mut combined = text.to_string();
    let mut segments = vec![Segment {
        start: 0,
        first_line: 1,
        file: path.to_path_buf(),
    }];
    let mut errors = Vec::new();
    // A main file that does not parse is reported by the full parse.
    let Some(patterns) = include_patterns(text) else {
        return (combined, segments, errors);
    };
    let base = base_dir(path);
    let mut files: Vec<PathBuf> = Vec::new();
    let mut seen: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for pattern in patterns.get_ref() {
        match include_matches(&base, pattern.get_ref().trim(), overlay) {
            Ok(found) => {
                for file in found {
                    if seen.insert(file.clone()) {
                        files.push(file);
                    }
                }
            }
            Err(why) => errors.push((pattern.span(), why)),
        }
    }
    if files.len() > MAX_INCLUDED_FILES {
        errors.push((
            patterns.span(),
            format!(
                "include names {} files, more than {MAX_INCLUDED_FILES}; merge some",
                files.len()
            ),
        ));
        return (combined, segments, errors);
    }
    // Lines in `combined[..counted]`.
    let (mut lines, mut counted) = (0, 0);
    for file in files {
        let read = match overlay.get(&file) {
            Some(text) => Ok(Ok(text.clone())),
            None => std::fs::read(&file).map(String::from_utf8),
        };
        let included = match read {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => {
                errors.push((
                    patterns.span(),
                    format!(
                        "included file {} is not UTF-8; save it as UTF-8",
                        file.display()
                    ),
                ));
                continue;
            }
            Err(e) => {
                errors.push((
                    patterns.span(),
                    format!(
                        "cannot read included file {} ({e}); check the path and its permissions",
                        file.display()
                    ),
                ));
                continue;
            }
        };
        // Only tables: a bare key would join whatever table the text before it ended in.
        let first = included
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        if first.is_some_and(|l| !l.starts_with('[')) {
            errors.push((
                patterns.span(),
                format!(
                    "included file {} must hold only tables ([[organisation]], [[receiver]], [[sink]]); move its first key into one",
                    file.display()
                ),
            ));
            continue;
        }
        // Nor a sub-table first: [[receiver.trusted_sender]] would join the last receiver of
        // the file before, so a receiver's senders would live in another file than the
        // receiver (and the CLI, which edits the file that defines a receiver, would miss them).
        if let Some(header) = first.map(|l| l.trim_start_matches('[')).and_then(|l| {
            l.split(']')
                .next()
                .map(str::trim)
                .filter(|h| !h.starts_with(['"', '\'']) && h.contains('.'))
        }) {
            errors.push((
                patterns.span(),
                format!(
                    "included file {} starts with [{header}], which would join the last table of the file before it; put it under its parent table in this file",
                    file.display()
                ),
            ));
            continue;
        }
        if !combined.ends_with('\n') {
            combined.push('\n');
        }
        // Counted as the text grows: counting the whole text again for each file made 2,000
        // included files take seconds.
        lines += combined[counted..].matches('\n').count();
        counted = combined.len();
        segments.push(Segment {
            start: combined.len(),
            first_line: lines + 1,
            file,
        });
        combined.push_str(&included);
    }
    (combined, segments, errors)
}

/// The files one `include` entry names, sorted: a path relative to the main file's
/// directory, whose file name may hold `*` and `?`. Each is named as [`include_key`] names
/// it; the files of `overlay` count as existing.
fn include_matches(base: &Path, pattern: &str, overlay: &Overlay) -> Result<Vec<PathBuf>, String> {
    let relative = Path::new(pattern);
    let name = relative
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            format!("include \"{pattern}\" names no file; write e.g. \"conf.d/*.toml\"")
        })?;
    let dir = pattern_dir(base, relative).ok_or_else(|| {
        format!(
            "include \"{pattern}\": wildcards only in the file name; write e.g. \"conf.d/*.toml\""
        )
    })?;
    if !name.contains(['*', '?']) {
        let file = dir.join(name);
        return if overlay.contains_key(&file) || file.is_file() {
            Ok(vec![file])
        } else {
            Err(format!(
                "include \"{pattern}\": no such file {}",
                file.display()
            ))
        };
    }
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| format!("include \"{pattern}\": cannot read {} ({e})", dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard(name, n)))
        .map(|e| dir.join(e.file_name()))
        .collect();
    found.extend(
        overlay
            .keys()
            .filter(|file| {
                file.parent() == Some(dir.as_path())
                    && file
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| wildcard(name, n))
            })
            .cloned(),
    );
    found.sort();
    found.dedup();
    Ok(found)
}

/// Whether `name` matches `pattern` (`*` any run, `?` one character).
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

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
pub(crate) fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The keys of `[[sink]]` that belong to some kinds only, with those kinds.
const KIND_KEYS: [(&str, &[Kind]); 10] = [
    ("url", &[Kind::Webhook, Kind::Nats]),
    ("secret", &[Kind::Webhook]),
    ("secret_file", &[Kind::Webhook]),
    ("secret_env", &[Kind::Webhook]),
    ("payload", &[Kind::Webhook]),
    ("path", &[Kind::Directory]),
    ("layout", &[Kind::Directory]),
    ("to", &[Kind::Smtp]),
    ("mode", &[Kind::Smtp]),
    ("subject", &[Kind::Nats]),
];

/// The kind of a `[[sink]]`, before its keys are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Webhook,
    Directory,
    Smtp,
    Nats,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Directory => "directory",
            Kind::Smtp => "smtp",
            Kind::Nats => "nats",
        }
    }

    /// `a webhook`, `an smtp`.
    fn with_article(self) -> String {
        let article = if self == Kind::Smtp { "an" } else { "a" };
        format!("{article} {}", self.as_str())
    }
}

/// Removes trailing CR and LF bytes (a secret or password file's last line end).
fn trim_line_ends(bytes: &mut Vec<u8>) {
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
}

/// A webhook signing key from its configured bytes (Standard Webhooks 1.0): `whsec_<base64>`
/// is that key, base64-decoded (standard alphabet, padding optional); anything else is used as
/// it is. The error completes `secret ...` and never shows the secret.
fn webhook_key(bytes: Vec<u8>) -> Result<Secret, String> {
    use base64::Engine as _;
    use base64::alphabet;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const STANDARD: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if bytes.is_empty() {
        return Err("is empty; write the secret the webhook's receiver gave you, or leave it out to send unsigned requests".to_string());
    }
    let Some(encoded) = bytes.strip_prefix(b"whsec_") else {
        return Ok(Secret::new(bytes));
    };
    match STANDARD.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(Secret::new(key)),
        Ok(_) => Err("is whsec_ with no key after it; copy the whole secret the webhook's receiver gave you".to_string()),
        Err(_) => Err("starts with whsec_ but what follows is not valid base64 (standard alphabet); copy the whole secret exactly as the webhook's receiver gave it".to_string()),
    }
}

/// `s` without `prefix`, compared ASCII case-insensitively.
fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Checks a webhook URL: `http://` or `https://`, a host, a numeric port if any, no
/// whitespace. The error completes `url "..." {error}`.
fn check_http_url(url: &str) -> Result<(), String> {
    let Some(rest) = strip_prefix_ignore_case(url, "https://")
        .or_else(|| strip_prefix_ignore_case(url, "http://"))
    else {
        return Err("does not start with http:// or https://".to_string());
    };
    if url.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("holds whitespace".to_string());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err("has a malformed [IPv6] host".to_string()),
            },
            None => return Err("has a malformed [IPv6] host".to_string()),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err("has no host".to_string());
    }
    if let Some(port) = port
        && !(port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return Err(format!(
            "has port \"{port}\", which is not a number from 1 to 65535"
        ));
    }
    Ok(())
}

/// The placeholders a NATS subject may hold.
const SUBJECT_PLACEHOLDERS: [&str; 2] = ["organisation", "receiver"];

/// Checks a NATS subject to publish to: not empty, no whitespace, no empty token, no wildcard,
/// braces only around `{organisation}` and `{receiver}`. The error completes
/// `subject "..." {error}`.
fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        return Err("is empty".to_string());
    }
    if subject.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("holds whitespace, which a NATS subject cannot".to_string());
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    if tokens.iter().any(|t| t.is_empty()) {
        return Err(
            "has an empty token (a dot at the start or end, or two dots in a row)".to_string(),
        );
    }
    if tokens.iter().any(|t| *t == "*" || *t == ">") {
        return Err(
            "holds a wildcard (* or >), but a message is published to one subject".to_string(),
        );
    }
    let allowed = "the only placeholders are {organisation} and {receiver}";
    let mut rest = subject;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("has a }} without {{; {allowed}"));
        }
        let after = &rest[open + 1..];
        let Some(close) = after
            .find(['{', '}'])
            .filter(|&i| after[i..].starts_with('}'))
        else {
            return Err(format!("has a {{ without }}; {allowed}"));
        };
        let name = &after[..close];
        if !SUBJECT_PLACEHOLDERS.contains(&name) {
            let hint = closest(name, SUBJECT_PLACEHOLDERS.into_iter())
                .map(|best| format!(" (did you mean {{{best}}}?)"))
                .unwrap_or_default();
            return Err(format!(
                "has the placeholder {{{name}}}{hint}, but {allowed}"
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// `path` with `.` and `..` resolved lexically, to compare two paths.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
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

/// A size in the largest binary unit that divides it: `1 MiB`, `64 KiB`, `12 bytes`.
fn show_size(n: u64) -> String {
    match n {
        n if n >= defaults::GIB && n % defaults::GIB == 0 => format!("{} GiB", n / defaults::GIB),
        n if n >= defaults::MIB && n % defaults::MIB == 0 => format!("{} MiB", n / defaults::MIB),
        n if n >= defaults::KIB && n % defaults::KIB == 0 => format!("{} KiB", n / defaults::KIB),
        n => format!("{n} bytes"),
    }
}

fn size_range(range: &RangeInclusive<u64>) -> String {
    format!(
        "{} to {}",
        show_size(*range.start()),
        show_size(*range.end())
    )
}

/// How a table is written in the file: `[server]`, or `[[receiver]]` for arrays of tables.
fn table_header(path: &str) -> String {
    match path {
        "organisation" | "receiver" | "receiver.trusted_sender" | "sink" => format!("[[{path}]]"),
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

/// An example line for a required key of `table` (its path, e.g. `receiver`; empty for a
/// section), used in "missing key" fixes.
fn example(table: &str, key: &str) -> &'static str {
    match (table, key) {
        ("sink", "name") => return "name = \"erp\"",
        ("sink", "kind") => return "kind = \"webhook\"",
        ("relay", "host") => return "host = \"smtp.example.com\"",
        ("relay", "mail_from") => return "mail_from = \"bounces@trust.example.test\"",
        _ => {}
    }
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
    fn notices_need_a_relay_an_address_and_their_sink_name() {
        let text = format!(
            "{HEAD}[notices]\nfrom = \"nobody\"\nrate_per_hour = 0\n[[sink]]\nname = \"notices\"\nkind = \"directory\"\npath = \"/tmp/x\"\n"
        );
        let errs = errors(&text);
        for expected in [
            "t.toml:7:8: notices are sent through [relay]",
            "t.toml:7:8: notices.from ",
            "t.toml:8:17: notices.rate_per_hour 0 is out of range",
            "t.toml:10:8: sink name \"notices\" is taken",
        ] {
            assert!(
                errs.iter().any(|e| e.starts_with(expected)),
                "{expected}\n{errs:?}"
            );
        }
    }

    #[test]
    fn notice_templates_come_from_files_and_a_broken_one_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(base.join("tpl")).unwrap();
        std::fs::write(
            base.join("tpl/refused.en.subject"),
            "Refused: {{ message_id }}",
        )
        .unwrap();
        let path = base.join("t.toml");
        let text = |extra: &str| {
            format!(
                "{HEAD}[relay]\nhost = \"127.0.0.1\"\ntls = \"none\"\nmail_from = \"b@trust.example.test\"\n[notices]\nfrom = \"n@trust.example.test\"\n{extra}"
            )
        };
        let config = load_str(
            &text("templates = \"tpl\"\nrate_window = \"5s\"\n"),
            &path,
            &no_io(),
        )
        .unwrap();
        let notices = config.notices.unwrap();
        assert_eq!(notices.rate_window, Duration::from_secs(5));
        assert_eq!(
            notices.templates.overridden().collect::<Vec<_>>(),
            [base.join("tpl/refused.en.subject")]
        );
        // Without the key: the built-in templates, an hour.
        let config = load_str(&text(""), &path, &no_io()).unwrap();
        let notices = config.notices.unwrap();
        assert_eq!(notices.rate_window, Duration::from_secs(3600));
        assert_eq!(notices.templates.overridden().count(), 0);

        std::fs::write(
            base.join("tpl/refused.nl.txt"),
            "een\ntwee {% if subject %}\n",
        )
        .unwrap();
        std::fs::write(base.join("tpl/refused.nl.tx"), "a typo").unwrap();
        let errs = match load_str(
            &text("templates = \"tpl\"\nrate_window = \"2h\"\n"),
            &path,
            &no_io(),
        ) {
            Ok(_) => panic!("a broken template was accepted"),
            Err(e) => e.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        };
        for expected in [
            format!(
                "{}:2: notices.templates: syntax error",
                base.join("tpl/refused.nl.txt").display()
            ),
            format!(
                "{}: notices.templates: \"refused.nl.tx\" is not a template's name",
                base.join("tpl/refused.nl.tx").display()
            ),
            format!(
                "{}:13:15: notices.rate_window 2h is out of range; use 1s to 1h",
                path.display()
            ),
        ] {
            assert!(
                errs.iter().any(|e| e.starts_with(&expected)),
                "{expected}\n{errs:#?}"
            );
        }
        // A directory that is not there: at the key.
        let errs = match load_str(&text("templates = \"nope\"\n"), &path, &no_io()) {
            Ok(_) => panic!("a missing directory was accepted"),
            Err(e) => e.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        };
        let expected = format!(
            "{}:12:13: notices.templates {}: the templates directory cannot be read",
            path.display(),
            base.join("nope").display()
        );
        assert!(
            errs.iter().any(|e| e.starts_with(&expected)),
            "{expected}\n{errs:#?}"
        );
    }

    #[test]
    fn postmaster_needs_a_relay_and_its_sink_name() {
        let text = HEAD.replace(
            "listen = [\"127.0.0.1:2525\"]",
            "listen = [\"127.0.0.1:2525\"]\npostmaster = \"hostmaster@ops.example\"",
        ) + "[[sink]]\nname = \"postmaster\"\nkind = \"directory\"\npath = \"/tmp/x\"\n";
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.starts_with("t.toml:4:14: postmaster mail is forwarded through [relay]")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("t.toml:8:8: sink name \"postmaster\" is taken")),
            "{errs:?}"
        );
        let bad = HEAD.replace(
            "listen = [\"127.0.0.1:2525\"]",
            "listen = [\"127.0.0.1:2525\"]\npostmaster = \"nobody\"",
        );
        assert!(
            errors(&bad)
                .iter()
                .any(|e| e.starts_with("t.toml:4:14: postmaster ")),
            "{:?}",
            errors(&bad)
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
    fn listen_tls_needs_a_certificate_and_its_own_addresses() {
        let text = HEAD.replace(
            "listen = [\"127.0.0.1:2525\"]",
            "listen = [\"127.0.0.1:2525\"]\nlisten_tls = [\"127.0.0.1:2525\", \"127.0.0.1:465\"]",
        );
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e
                .starts_with("t.toml:4:15: listen_tls address \"127.0.0.1:2525\" is listed twice")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("t.toml:4:14: listen_tls needs a certificate")),
            "{errs:?}"
        );
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

    // ---- delivery: [delivery], [relay], [[sink]] and deliver lists ----

    /// The issue's delivery example (line numbers below refer to it).
    const DELIVERY: &str = r#"[server]
hostname = "mx.trust.example.test"
listen = ["127.0.0.1:2525"]
[spool]
path = "spool"
[delivery]
initial_backoff = "1m"
max_backoff = "4h"
max_age = "5d"
workers = 4
[relay]
host = "127.0.0.1"
port = 587
tls = "starttls"
mail_from = "bounces@trust.example.eu"
timeout = "30s"
[[sink]]
name = "erp"
kind = "webhook"
url = "https://erp.example/hooks/invoices"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
payload = "json"
concurrency = 4
timeout = "30s"
[[sink]]
name = "archive"
kind = "directory"
path = "/var/lib/trustgate/out"
layout = "flat"
[[sink]]
name = "exact"
kind = "smtp"
to = "digitalemailbox@example.test"
mode = "document"
[[sink]]
name = "platform"
kind = "nats"
url = "nats://127.0.0.1:4222"
subject = "invoices.{organisation}"
[[organisation]]
id = "acme"
name = "ACME B.V."
deliver = ["erp", "archive"]
[[receiver]]
address = "AD64SDE@trust.example.test"
organisation = "acme"
document_type = "purchase-invoice"
[[receiver]]
address = "EXACT1@trust.example.test"
organisation = "acme"
document_type = "purchase-invoice"
deliver = ["exact", "platform"]
[[receiver]]
address = "PULL1@trust.example.test"
organisation = "acme"
document_type = "purchase-invoice"
deliver = []
"#;

    /// `HEAD` plus one sink of `kind` with `keys` (the header is line 6, its keys from line 9).
    fn one_sink(kind: &str, keys: &str) -> String {
        format!("{HEAD}[[sink]]\nname = \"s\"\nkind = \"{kind}\"\n{keys}")
    }

    /// A `[relay]` that smtp sinks need.
    const RELAY: &str =
        "[relay]\nhost = \"smtp.example.com\"\nmail_from = \"b@trust.example.test\"\n";

    #[test]
    fn delivery_example_round_trips() {
        let c = valid(DELIVERY);
        assert_eq!(
            c.delivery,
            Delivery {
                initial_backoff: Duration::from_secs(60),
                max_backoff: Duration::from_secs(4 * 3600),
                max_age: Duration::from_secs(5 * 86400),
                workers: 4,
            }
        );
        let relay = c.relay.clone().unwrap();
        assert_eq!(
            relay,
            Relay {
                host: "127.0.0.1".into(),
                port: 587,
                tls: RelayTls::StartTls,
                username: None,
                password: None,
                mail_from: Address::parse("bounces@trust.example.eu").unwrap(),
                timeout: Duration::from_secs(30),
            }
        );
        assert_eq!(relay.tls.as_str(), "starttls");
        let names: Vec<(&str, &str)> = c
            .sinks
            .iter()
            .map(|s| (s.name.as_str(), s.kind.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("erp", "webhook"),
                ("archive", "directory"),
                ("exact", "smtp"),
                ("platform", "nats")
            ]
        );
        let erp = c.sink("erp").unwrap();
        assert_eq!((erp.concurrency, erp.timeout), (4, Duration::from_secs(30)));
        // whsec_ + base64 of these 24 bytes.
        let key: [u8; 24] = [
            0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a, 0xab, 0x4f, 0x08, 0xd4, 0x3c, 0x3f,
            0x08, 0x2c, 0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0,
        ];
        assert_eq!(
            erp.kind,
            SinkKind::Webhook {
                url: "https://erp.example/hooks/invoices".into(),
                secret: Some(Secret::new(key.to_vec())),
                payload: WebhookPayload::Json,
            }
        );
        assert_eq!(
            c.sink("archive").unwrap().kind,
            SinkKind::Directory {
                path: PathBuf::from("/var/lib/trustgate/out"),
                layout: DirectoryLayout::Flat,
            }
        );
        assert_eq!(
            c.sink("exact").unwrap().kind,
            SinkKind::Smtp {
                to: Address::parse("digitalemailbox@example.test").unwrap(),
                mode: SmtpMode::Document,
            }
        );
        assert_eq!(
            c.sink("platform").unwrap().kind,
            SinkKind::Nats {
                url: "nats://127.0.0.1:4222".into(),
                subject: "invoices.{organisation}".into(),
            }
        );
        assert!(c.sink("nope").is_none());
        assert_eq!(c.organisations[0].deliver, ["erp", "archive"]);
        // The receiver's list overrides the organisation's, even when empty.
        let r = &c.receivers;
        assert_eq!(r[0].deliver, None);
        assert_eq!(c.deliver_for(&r[0], 0), ["erp", "archive"]);
        assert_eq!(
            r[1].deliver.as_deref(),
            Some(&["exact".to_string(), "platform".to_string()][..])
        );
        assert_eq!(c.deliver_for(&r[1], 0), ["exact", "platform"]);
        assert_eq!(r[2].deliver, Some(Vec::new()));
        assert!(c.deliver_for(&r[2], 0).is_empty());
        assert!(c.deliver_for(&r[0], 7).is_empty());
    }

    #[test]
    fn delivery_defaults_apply() {
        // Without any of it: default schedule, no relay, no sinks, empty lists.
        let c = valid(EXAMPLE);
        assert_eq!(c.delivery, Delivery::default());
        assert_eq!(
            (
                c.delivery.initial_backoff,
                c.delivery.max_backoff,
                c.delivery.max_age,
                c.delivery.workers
            ),
            (
                defaults::INITIAL_BACKOFF,
                defaults::MAX_BACKOFF,
                defaults::MAX_AGE,
                defaults::WORKERS
            )
        );
        assert!(c.relay.is_none() && c.sinks.is_empty());
        assert!(c.organisations[0].deliver.is_empty());
        assert_eq!(c.receivers[0].deliver, None);
        assert!(c.deliver_for(&c.receivers[0], 0).is_empty());

        // Every optional key left out.
        let text = format!(
            "{HEAD}[delivery]\n{RELAY}\
             [[sink]]\nname = \"w\"\nkind = \"webhook\"\nurl = \"http://erp.example\"\n\
             [[sink]]\nname = \"d\"\nkind = \"directory\"\npath = \"out\"\n\
             [[sink]]\nname = \"m\"\nkind = \"smtp\"\nto = \"box@example.test\"\n\
             [[sink]]\nname = \"n\"\nkind = \"nats\"\nurl = \"tls://nats.example:4222\"\nsubject = \"invoices\"\n"
        );
        let c = valid(&text);
        assert_eq!(c.delivery, Delivery::default());
        let relay = c.relay.unwrap();
        assert_eq!(
            (relay.port, relay.tls, relay.timeout),
            (587, RelayTls::StartTls, Duration::from_secs(30))
        );
        assert!(relay.username.is_none() && relay.password.is_none());
        for s in &c.sinks {
            assert_eq!(
                (s.concurrency, s.timeout),
                (defaults::SINK_CONCURRENCY, defaults::SINK_TIMEOUT)
            );
        }
        assert_eq!(
            c.sinks[0].kind,
            SinkKind::Webhook {
                url: "http://erp.example".into(),
                secret: None,
                payload: WebhookPayload::Json
            }
        );
        // Relative to the config file, like [spool] path.
        let base = base_dir(Path::new("t.toml"));
        assert_eq!(
            c.sinks[1].kind,
            SinkKind::Directory {
                path: base.join("out"),
                layout: DirectoryLayout::Flat
            }
        );
        assert!(matches!(
            c.sinks[2].kind,
            SinkKind::Smtp {
                mode: SmtpMode::Document,
                ..
            }
        ));

        // The other words.
        let text = format!(
            "{HEAD}{RELAY}tls = \"implicit\"\nport = 465\n\
             [[sink]]\nname = \"w\"\nkind = \"webhook\"\nurl = \"https://[::1]:8443/x?y#z\"\npayload = \"multipart\"\nsecret = \"plain\"\nconcurrency = 256\ntimeout = \"1h\"\n\
             [[sink]]\nname = \"d\"\nkind = \"directory\"\npath = \"/srv/out\"\nlayout = \"by-organisation\"\n\
             [[sink]]\nname = \"m\"\nkind = \"smtp\"\nto = \"box@example.test\"\nmode = \"original\"\n"
        );
        let c = valid(&text);
        let relay = c.relay.unwrap();
        assert_eq!((relay.port, relay.tls), (465, RelayTls::Implicit));
        assert_eq!(
            c.sinks[0].kind,
            SinkKind::Webhook {
                url: "https://[::1]:8443/x?y#z".into(),
                secret: Some(Secret::new(b"plain".to_vec())),
                payload: WebhookPayload::Multipart
            }
        );
        assert_eq!(
            (c.sinks[0].concurrency, c.sinks[0].timeout),
            (256, Duration::from_secs(3600))
        );
        assert!(matches!(
            c.sinks[1].kind,
            SinkKind::Directory {
                layout: DirectoryLayout::ByOrganisation,
                ..
            }
        ));
        assert!(matches!(
            c.sinks[2].kind,
            SinkKind::Smtp {
                mode: SmtpMode::Original,
                ..
            }
        ));
        assert_eq!(
            [
                WebhookPayload::Multipart.as_str(),
                DirectoryLayout::ByOrganisation.as_str(),
                SmtpMode::Original.as_str(),
                RelayTls::None.as_str()
            ],
            ["multipart", "by-organisation", "original", "none"]
        );
    }

    #[test]
    fn each_sink_kind_needs_its_keys() {
        let cases = [
            (
                "webhook",
                "url = \"https://erp.example/hooks/invoices\"",
                "a webhook",
            ),
            (
                "directory",
                "path = \"/var/lib/trustgate/out\"",
                "a directory",
            ),
            ("smtp", "to = \"digitalemailbox@example.test\"", "an smtp"),
            ("nats", "url = \"nats://127.0.0.1:4222\"", "a nats"),
        ];
        for (kind, example, a_kind) in cases {
            let key = example.split(' ').next().unwrap();
            let text = format!("{}{RELAY}", one_sink(kind, ""));
            let errs = errors(&text);
            assert_eq!(
                errs[0],
                format!(
                    "t.toml:6:1: sink \"s\": missing key `{key}`, which {a_kind} sink needs; add it, e.g. {example}"
                ),
                "{kind}"
            );
        }
        let text = one_sink("nats", "url = \"nats://127.0.0.1:4222\"\n");
        assert_eq!(
            errors(&text),
            [
                "t.toml:6:1: sink \"s\": missing key `subject`, which a nats sink needs; add it, e.g. subject = \"invoices.{organisation}\""
            ]
        );
        // Missing everywhere: name and kind are required by the schema.
        let text = format!("{HEAD}[[sink]]\nname = \"s\"\nurl = \"http://a.example\"\n");
        assert_one(
            &text,
            "6:1",
            "missing key `kind` in [[sink]]; add it, e.g. kind = \"webhook\"",
        );
        let text = format!("{HEAD}[[sink]]\nkind = \"webhook\"\n");
        assert_one(
            &text,
            "6:1",
            "missing key `name` in [[sink]]; add it, e.g. name = \"erp\"",
        );
        let text = format!("{HEAD}[sink]\nname = \"s\"\n");
        assert_one(
            &text,
            "6:1",
            "write the section as [[sink]] (double brackets",
        );
        let text = one_sink("directory", "pth = \"out\"\n");
        assert_one(
            &text,
            "9:1",
            "unknown key `pth` in [[sink]]; did you mean `path`?",
        );
    }

    #[test]
    fn keys_of_another_kind_are_named_with_their_kind() {
        let text = one_sink(
            "webhook",
            "url = \"https://erp.example\"\npath = \"out\"\nsubject = \"x\"\n",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:10:8: sink \"s\": `path` is not a key of a webhook sink; it belongs to directory sinks; remove it, or correct kind",
                "t.toml:11:11: sink \"s\": `subject` is not a key of a webhook sink; it belongs to nats sinks; remove it, or correct kind",
            ]
        );
        let text = one_sink(
            "directory",
            "path = \"out\"\nurl = \"https://erp.example\"\nsecret_env = \"X\"\nmode = \"original\"\n",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:10:7: sink \"s\": `url` is not a key of a directory sink; it belongs to webhook and nats sinks; remove it, or correct kind",
                "t.toml:11:14: sink \"s\": `secret_env` is not a key of a directory sink; it belongs to webhook sinks; remove it, or correct kind",
                "t.toml:12:8: sink \"s\": `mode` is not a key of a directory sink; it belongs to smtp sinks; remove it, or correct kind",
            ]
        );
        let text = format!(
            "{}{RELAY}",
            one_sink("smtp", "to = \"a@b.example\"\nlayout = \"flat\"\n")
        );
        assert_one(
            &text,
            "10:10",
            "`layout` is not a key of an smtp sink; it belongs to directory sinks",
        );
        // concurrency and timeout belong to every kind.
        valid(&one_sink(
            "nats",
            "url = \"nats://a\"\nsubject = \"a\"\nconcurrency = 1\ntimeout = \"1s\"\n",
        ));
    }

    #[test]
    fn unknown_sink_kind_suggests_the_closest() {
        let text = one_sink("webhok", "url = \"https://erp.example\"\n");
        assert_eq!(
            errors(&text),
            [
                "t.toml:8:8: sink \"s\": unknown kind \"webhok\"; did you mean \"webhook\"? write one of \"webhook\", \"directory\", \"smtp\", \"nats\""
            ]
        );
        let text = one_sink("kafka", "");
        assert_one(
            &text,
            "8:8",
            "unknown kind \"kafka\"; write one of \"webhook\", \"directory\", \"smtp\", \"nats\"",
        );
    }

    #[test]
    fn bad_and_duplicate_sink_names() {
        let sink = |name: &str| {
            format!(
                "[[sink]]\nname = \"{name}\"\nkind = \"nats\"\nurl = \"nats://a\"\nsubject = \"a\"\n"
            )
        };
        let text = format!(
            "{HEAD}{}{}{}{}",
            sink("erp"),
            sink("ERP Hooks"),
            sink("erp"),
            sink("")
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:12:8: sink name \"ERP Hooks\" is not a valid name; use 1 to 64 lower-case letters, digits, - or _, starting with a letter or digit, e.g. \"erp\"",
                "t.toml:17:8: sink name \"erp\" is already used on line 7; give each sink its own name",
                "t.toml:22:8: sink name \"\" is not a valid name; use 1 to 64 lower-case letters, digits, - or _, starting with a letter or digit, e.g. \"erp\"",
            ]
        );
    }

    #[test]
    fn deliver_names_defined_sinks_once() {
        let text = DELIVERY.replace(
            "deliver = [\"erp\", \"archive\"]",
            "deliver = [\"erpp\", \"archive\", \"archive\", \"kafka\"]",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:43:12: organisation \"acme\": unknown sink \"erpp\" in deliver; did you mean \"erp\"?",
                "t.toml:43:31: organisation \"acme\": sink \"archive\" is listed twice in deliver; remove one",
                "t.toml:43:42: organisation \"acme\": unknown sink \"kafka\" in deliver; use one of \"erp\", \"archive\", \"exact\", \"platform\"",
            ]
        );
        let text = DELIVERY.replace(
            "deliver = [\"exact\", \"platform\"]",
            "deliver = [\"platfrom\"]",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:52:12: receiver \"EXACT1@trust.example.test\": unknown sink \"platfrom\" in deliver; did you mean \"platform\"?"
            ]
        );
        // No sinks at all.
        let text = EXAMPLE.replace(
            "document_type = \"purchase-invoice\"\n",
            "document_type = \"purchase-invoice\"\ndeliver = [\"erp\"]\n",
        );
        assert_one(
            &text,
            "19:12",
            "unknown sink \"erp\" in deliver; add a [[sink]] with name = \"erp\", or remove it",
        );
        // A sink with its own error is not reported again in deliver.
        let text = DELIVERY.replace(
            "url = \"https://erp.example/hooks/invoices\"",
            "url = \"erp.example\"",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:20:7: sink \"erp\": url \"erp.example\" does not start with http:// or https://; write the full address of the webhook, e.g. url = \"https://erp.example/hooks/invoices\""
            ]
        );
        let text = DELIVERY.replace("deliver = []", "deliver = \"erp\"");
        assert_one(&text, "57:11", "write a list in brackets");
    }

    #[test]
    fn webhook_secrets_whsec_and_raw() {
        let secret_of = |line: &str| {
            let c = valid(&one_sink(
                "webhook",
                &format!("url = \"https://erp.example\"\n{line}\n"),
            ));
            match c.sinks[0].kind.clone() {
                SinkKind::Webhook { secret, .. } => secret,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            secret_of("secret = \"whsec_aGVsbG8gd29ybGQ=\""),
            Some(Secret::new(b"hello world".to_vec()))
        );
        // Padding is optional.
        assert_eq!(
            secret_of("secret = \"whsec_aGVsbG8gd29ybGQ\""),
            Some(Secret::new(b"hello world".to_vec()))
        );
        // Anything else is its own bytes.
        assert_eq!(
            secret_of("secret = \"my shared secret\""),
            Some(Secret::new(b"my shared secret".to_vec()))
        );
        assert_eq!(
            secret_of("secret = \"WHSEC_aGVsbG8=\""),
            Some(Secret::new(b"WHSEC_aGVsbG8=".to_vec()))
        );

        // Errors point at the value and never show the secret.
        let text = one_sink(
            "webhook",
            "url = \"https://erp.example\"\nsecret = \"whsec_s3cr3t!!\"\n",
        );
        let errs = errors(&text);
        assert_eq!(
            errs,
            [
                "t.toml:10:10: sink \"s\": secret starts with whsec_ but what follows is not valid base64 (standard alphabet); copy the whole secret exactly as the webhook's receiver gave it"
            ]
        );
        let text = one_sink("webhook", "url = \"https://erp.example\"\nsecret = \"\"\n");
        assert_one(
            &text,
            "10:10",
            "sink \"s\": secret is empty; write the secret",
        );
        let text = one_sink(
            "webhook",
            "url = \"https://erp.example\"\nsecret = \"whsec_\"\n",
        );
        assert_one(&text, "10:10", "secret is whsec_ with no key after it");
        let text = one_sink(
            "webhook",
            "url = \"https://erp.example\"\nsecret = \"whsec_aGk=\"\nsecret_env = \"ERP_SECRET\"\n",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:11:14: sink \"s\" sets both secret and secret_env; keep at most one of secret, secret_file and secret_env (none sends unsigned requests)"
            ]
        );
        // A secret of the wrong type is not shown either.
        let text = one_sink(
            "webhook",
            "url = \"https://erp.example\"\nsecret = 8675309\n",
        );
        let errs = errors(&text);
        assert_eq!(
            errs,
            [
                "t.toml:10:10: wrong type for `secret` in [[sink]]: not a string; write the value in double quotes"
            ]
        );
    }

    #[test]
    fn webhook_secret_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("t.toml");
        std::fs::write(dir.path().join("whsec"), "whsec_aGVsbG8gd29ybGQ=\r\n").unwrap();
        std::fs::write(dir.path().join("raw"), "line one\nraw\n\n").unwrap();
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let load = |file: &str| {
            let text = one_sink(
                "webhook",
                &format!("url = \"https://erp.example\"\nsecret_file = \"{file}\"\n"),
            );
            load_str(&text, &cfg, &no_io())
        };
        let secret = |file: &str| match load(file).unwrap().sinks.remove(0).kind {
            SinkKind::Webhook { secret, .. } => secret.unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(secret("whsec").expose(), b"hello world");
        assert_eq!(secret("raw").expose(), b"line one\nraw");
        let errs = load("empty").unwrap_err().0;
        assert_eq!((errs[0].line, errs[0].column), (10, 15));
        assert!(
            errs[0].message.starts_with("sink \"s\": secret_file ")
                && errs[0].message.ends_with("empty is empty; write the secret the webhook's receiver gave you, or leave it out to send unsigned requests"),
            "{}",
            errs[0]
        );
        let errs = load("missing").unwrap_err().0;
        let missing = dir.path().join("missing");
        assert!(
            errs[0].message.starts_with(&format!(
                "sink \"s\": secret_file {} cannot be read (",
                std::fs::canonicalize(dir.path())
                    .unwrap()
                    .join("missing")
                    .display()
            )) || errs[0].message.contains(&missing.display().to_string()),
            "{}",
            errs[0]
        );
        let errs = load(" ").unwrap_err().0;
        assert!(
            errs[0]
                .message
                .starts_with("sink \"s\": secret_file is empty; write the file's path"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn webhook_secret_env_is_read_at_load() {
        let with_env = |var: &str| {
            one_sink(
                "webhook",
                &format!("url = \"https://erp.example\"\nsecret_env = \"{var}\"\n"),
            )
        };
        let unset = "TRUSTGATE_TEST_UNSET_SECRET_7F3A9C";
        assert!(std::env::var_os(unset).is_none());
        assert_eq!(
            errors(&with_env(unset)),
            [format!(
                "t.toml:10:14: sink \"s\": environment variable {unset} (secret_env) is not set; set it to the webhook secret in trustgate's environment, e.g. in the systemd unit, or use secret_file"
            )]
        );
        assert_one(
            &with_env(""),
            "10:14",
            "secret_env \"\" is not an environment variable name",
        );
        // Any variable that is set (the test cannot set one: that needs unsafe code).
        let (var, value) = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
            .find(|(k, v)| {
                !v.is_empty()
                    && !v.as_encoded_bytes().starts_with(b"whsec_")
                    && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
            .expect("some environment variable is set");
        match valid(&with_env(&var)).sinks.remove(0).kind {
            SinkKind::Webhook { secret, .. } => {
                assert_eq!(secret.unwrap().expose(), value.as_encoded_bytes());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn smtp_sink_needs_a_relay() {
        let text = one_sink("smtp", "to = \"digitalemailbox@example.test\"\n");
        assert_eq!(
            errors(&text),
            [
                "t.toml:8:8: sink \"s\": an smtp sink sends through the [relay] smarthost, but there is no [relay] section; add one with at least host and mail_from, e.g. [relay] host = \"smtp.example.com\" mail_from = \"bounces@trust.example.test\""
            ]
        );
        let text = format!(
            "{}{RELAY}",
            one_sink("smtp", "to = \"digitalemailbox\"\nmode = \"copy\"\n")
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:9:6: sink \"s\": to \"digitalemailbox\" is not of the form local@domain; write the recipient's plain address, e.g. to = \"digitalemailbox@example.test\"",
                "t.toml:10:8: sink \"s\": unknown mode \"copy\"; write one of \"document\", \"original\"",
            ]
        );
    }

    #[test]
    fn relay_checks() {
        let text = format!(
            "{HEAD}[relay]\nhost = \" \"\nport = 0\ntls = \"startls\"\nusername = \"trustgate\"\nmail_from = \"bounces\"\ntimeout = \"0s\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:7:8: relay.host \"\" is not a host name; write the smarthost's name or IP address, e.g. host = \"smtp.example.com\"",
                "t.toml:8:8: relay.port 0 is out of range; use 1 to 65535",
                "t.toml:9:7: relay: unknown tls \"startls\"; did you mean \"starttls\"? write one of \"starttls\", \"implicit\", \"none\"",
                "t.toml:10:12: relay sets username but not password_file; set both for a relay that needs a login, or neither",
                "t.toml:11:13: relay.mail_from \"bounces\" is not of the form local@domain; write the envelope sender for mail sent through the relay, e.g. mail_from = \"bounces@trust.example.test\"",
                "t.toml:12:11: relay.timeout 0s is out of range; use 1s to 1h",
            ]
        );
        let text = format!("{HEAD}{RELAY}password_file = \"pass\"\nport = 65536\n");
        assert_eq!(
            errors(&text),
            [
                "t.toml:9:17: relay sets password_file but not username; set both for a relay that needs a login, or neither",
                "t.toml:10:8: relay.port 65536 is out of range; use 1 to 65535",
            ]
        );
        let text = format!("{HEAD}[relay]\nhost = \"smtp.example.com\"\n");
        assert_one(
            &text,
            "6:1",
            "missing key `mail_from` in [relay]; add it, e.g. mail_from = \"bounces@trust.example.test\"",
        );
    }

    #[test]
    fn relay_password_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("t.toml");
        std::fs::write(dir.path().join("pass"), "hunter2\n").unwrap();
        std::fs::write(dir.path().join("empty"), "").unwrap();
        let load = |file: &str| {
            // On loopback: a password may go there without TLS.
            let relay = RELAY.replace("smtp.example.com", "127.0.0.1");
            let text = format!(
                "{HEAD}{relay}username = \"trustgate\"\npassword_file = \"{file}\"\ntls = \"none\"\n"
            );
            load_str(&text, &cfg, &no_io())
        };
        // Anywhere else, a password without TLS is refused where `tls` is set.
        std::fs::write(dir.path().join("pass"), "hunter2\n").unwrap();
        let text = format!(
            "{HEAD}{RELAY}username = \"trustgate\"\npassword_file = \"pass\"\ntls = \"none\"\n"
        );
        let errs = load_str(&text, &cfg, &no_io()).unwrap_err().0;
        assert!(
            errs[0]
                .message
                .starts_with("relay.tls = \"none\" would send the relay password in the clear"),
            "{errs:?}"
        );
        let relay = load("pass").unwrap().relay.unwrap();
        assert_eq!(relay.username.as_deref(), Some("trustgate"));
        assert_eq!(relay.password.as_ref().unwrap().expose(), b"hunter2");
        assert_eq!(relay.tls, RelayTls::None);
        assert!(!format!("{relay:?}").contains("hunter2"));
        let errs = load("empty").unwrap_err().0;
        assert_eq!((errs[0].line, errs[0].column), (10, 17));
        assert!(
            errs[0].message.starts_with("relay.password_file ")
                && errs[0]
                    .message
                    .ends_with("is empty; write the relay password in it (one line)"),
            "{}",
            errs[0]
        );
        let errs = load("nope").unwrap_err().0;
        assert!(
            errs[0].message.starts_with("relay.password_file ")
                && errs[0].message.contains("nope cannot be read"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn webhook_and_nats_urls() {
        let fix = "write the full address of the webhook, e.g. url = \"https://erp.example/hooks/invoices\"";
        for (url, why) in [
            (
                "ftp://erp.example",
                "does not start with http:// or https://",
            ),
            ("https:///hooks", "has no host"),
            ("https://user@:80/x", "has no host"),
            (
                "https://erp.example:http/x",
                "has port \"http\", which is not a number from 1 to 65535",
            ),
            (
                "https://erp.example:0",
                "has port \"0\", which is not a number from 1 to 65535",
            ),
            ("https://erp example", "holds whitespace"),
            ("https://[::1/x", "has a malformed [IPv6] host"),
        ] {
            let text = one_sink("webhook", &format!("url = \"{url}\"\n"));
            assert_eq!(
                errors(&text),
                [format!(
                    "t.toml:9:7: sink \"s\": url \"{url}\" {why}; {fix}"
                )],
                "{url}"
            );
        }
        for url in [
            "http://erp.example",
            "HTTPS://erp.example:8443/hooks?x=1",
            "https://u:p@erp.example/",
            "http://[::1]:80",
            "http://127.0.0.1",
        ] {
            valid(&one_sink("webhook", &format!("url = \"{url}\"\n")));
        }
        let text = one_sink("nats", "url = \"http://127.0.0.1:4222\"\nsubject = \"a\"\n");
        assert_eq!(
            errors(&text),
            [
                "t.toml:9:7: sink \"s\": url \"http://127.0.0.1:4222\" is not a NATS URL (nats:// or tls://); write e.g. url = \"nats://127.0.0.1:4222\", or tls://... for TLS"
            ]
        );
        let text = one_sink("nats", "url = \"nats://\"\nsubject = \"a\"\n");
        assert_one(&text, "9:7", "has no server after the scheme");
    }

    #[test]
    fn nats_subject_placeholders_and_tokens() {
        let subject = |s: &str| {
            errors(&one_sink(
                "nats",
                &format!("url = \"nats://127.0.0.1:4222\"\nsubject = \"{s}\"\n"),
            ))
        };
        for ok in [
            "invoices",
            "invoices.{organisation}",
            "trustgate.{organisation}.{receiver}.in",
            "in-{organisation}_x",
        ] {
            assert_eq!(subject(ok), Vec::<String>::new(), "{ok}");
        }
        let fix = "write e.g. subject = \"invoices.{organisation}\"";
        let allowed = "the only placeholders are {organisation} and {receiver}";
        for (bad, why) in [
            ("", "is empty".to_string()),
            (
                "invoices. x",
                "holds whitespace, which a NATS subject cannot".into(),
            ),
            (
                "invoices..x",
                "has an empty token (a dot at the start or end, or two dots in a row)".into(),
            ),
            (
                ".invoices",
                "has an empty token (a dot at the start or end, or two dots in a row)".into(),
            ),
            (
                "invoices.>",
                "holds a wildcard (* or >), but a message is published to one subject".into(),
            ),
            (
                "invoices.{organization}",
                format!(
                    "has the placeholder {{organization}} (did you mean {{organisation}}?), but {allowed}"
                ),
            ),
            (
                "invoices.{org}",
                format!("has the placeholder {{org}}, but {allowed}"),
            ),
            (
                "invoices.{document_id}",
                format!("has the placeholder {{document_id}}, but {allowed}"),
            ),
            (
                "invoices.{}",
                format!("has the placeholder {{}}, but {allowed}"),
            ),
            (
                "invoices.{receiver",
                format!("has a {{ without }}; {allowed}"),
            ),
            (
                "invoices.receiver}",
                format!("has a }} without {{; {allowed}"),
            ),
            ("a.{{receiver}}", format!("has a {{ without }}; {allowed}")),
        ] {
            assert_eq!(
                subject(bad),
                [format!(
                    "t.toml:10:11: sink \"s\": subject \"{bad}\" {why}; {fix}"
                )],
                "{bad}"
            );
        }
    }

    #[test]
    fn directory_sink_path_outside_the_spool() {
        let base = base_dir(Path::new("t.toml"));
        for inside in ["spool", "spool/out", "./spool/../spool/out"] {
            let text = one_sink("directory", &format!("path = \"{inside}\"\n"));
            let errs = errors(&text);
            assert_eq!(errs.len(), 1, "{inside}: {errs:?}");
            assert!(
                errs[0].starts_with("t.toml:9:8: sink \"s\": path ")
                    && errs[0].contains(&format!(
                        "is inside the spool directory {}; choose a directory outside it",
                        base.join("spool").display()
                    )),
                "{errs:?}"
            );
        }
        for outside in ["spool-out", "out", "/var/lib/trustgate/out", "spool/../out"] {
            valid(&one_sink("directory", &format!("path = \"{outside}\"\n")));
        }
        let text = one_sink("directory", "path = \"\"\nlayout = \"tree\"\n");
        assert_eq!(
            errors(&text),
            [
                "t.toml:9:8: sink \"s\": path is empty; write the directory to write documents to, e.g. path = \"/var/lib/trustgate/out\"",
                "t.toml:10:10: sink \"s\": unknown layout \"tree\"; write one of \"flat\", \"by-organisation\"",
            ]
        );
    }

    #[test]
    fn delivery_limits_and_backoff_order() {
        let text = format!(
            "{HEAD}[delivery]\ninitial_backoff = \"5h\"\nmax_backoff = \"4h\"\nworkers = 0\n"
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:7:19: delivery.initial_backoff (5h) is longer than delivery.max_backoff (4h); make initial_backoff at most max_backoff",
                "t.toml:9:11: delivery.workers 0 is out of range; use 1 to 256",
            ]
        );
        // Pointed at whichever of the two is written.
        let text = format!("{HEAD}[delivery]\nmax_backoff = \"30s\"\n");
        assert_one(
            &text,
            "7:15",
            "delivery.initial_backoff (1m) is longer than delivery.max_backoff (30s)",
        );
        let text = format!("{HEAD}[delivery]\nmax_age = \"30s\"\n");
        assert_eq!(
            errors(&text),
            [
                "t.toml:7:11: delivery.max_age (30s) is shorter than delivery.initial_backoff (1m), so a failed document would never be retried; make max_age at least initial_backoff"
            ]
        );
        let text = format!(
            "{HEAD}[delivery]\ninitial_backoff = \"0s\"\nmax_backoff = 60\nmax_age = \"0s\"\nworkers = 257\n"
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:7:19: delivery.initial_backoff 0s is out of range; use 1s to 1day",
                "t.toml:8:15: delivery.max_backoff: 60 has no unit; write e.g. \"60s\" or \"5m\"",
                "t.toml:9:11: delivery.max_age 0s is out of range; use 1s to 30days",
                "t.toml:10:11: delivery.workers 257 is out of range; use 1 to 256",
            ]
        );
        let text = one_sink(
            "nats",
            "url = \"nats://a\"\nsubject = \"a\"\nconcurrency = 0\ntimeout = \"0s\"\n",
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:11:15: sink \"s\": concurrency 0 is out of range; use 1 to 256",
                "t.toml:12:11: sink \"s\": timeout 0s is out of range; use 1s to 1h",
            ]
        );
        // Equal values are fine.
        valid(&format!(
            "{HEAD}[delivery]\ninitial_backoff = \"1h\"\nmax_backoff = \"1h\"\nmax_age = \"1h\"\n"
        ));
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_display() {
        let secret = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{secret}"), "<redacted>");
        assert_eq!(format!("{:#?}", Some(&secret)), "Some(\n    <redacted>,\n)");
        let text = one_sink(
            "webhook",
            "url = \"https://erp.example\"\nsecret = \"my-webhook-secret\"\n",
        );
        let c = valid(&text);
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("my-webhook-secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
        // The raw mirror too.
        let raw: raw::Config = toml::from_str(&text).unwrap();
        let shown = format!("{raw:?}");
        assert!(!shown.contains("my-webhook-secret") && shown.contains("<redacted>"));
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

    /// A main file with `include = ["conf.d/*.toml"]` in a temp directory with `conf.d/`.
    fn with_conf_d() -> (tempfile::TempDir, PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        let path = dir.path().join("t.toml");
        let text = format!("include = [\"conf.d/*.toml\"]\n{EXAMPLE}");
        std::fs::write(&path, &text).unwrap();
        (dir, path, text)
    }

    const BETA: &str = "[[organisation]]\nid = \"beta\"\nname = \"Beta\"\n\n[[receiver]]\naddress = \"B@trust.example.test\"\norganisation = \"beta\"\ndocument_type = \"purchase-invoice\"\n";

    #[test]
    fn an_overlay_file_is_included_before_it_exists_and_errors_name_it() {
        let (dir, path, text) = with_conf_d();
        let key = include_key(&path, Path::new("conf.d/beta.toml"));
        let overlay = Overlay::from([(key.clone(), BETA.to_string())]);
        let config = load_str_with(&text, &path, &no_io(), &overlay).unwrap();
        assert_eq!(config.receivers.len(), 2);
        assert_eq!(
            config.receivers[1].address.to_string(),
            "B@trust.example.test"
        );
        // Nothing was created on disk; without the overlay the file is not there.
        assert!(!dir.path().join("conf.d/beta.toml").exists());
        assert_eq!(load_str(&text, &path, &no_io()).unwrap().receivers.len(), 1);
        // An overlay text that is wrong is reported at its own file and line.
        let overlay =
            Overlay::from([(key.clone(), BETA.replace("\"beta\"\ndoc", "\"zeta\"\ndoc"))]);
        let errs = load_str_with(&text, &path, &no_io(), &overlay).unwrap_err();
        assert_eq!(errs.0[0].file, key, "{errs}");
        assert_eq!((errs.0[0].line, errs.0[0].column), (7, 16), "{errs}");
        // A file the patterns do not match is not read, overlay or not.
        let other = include_key(&path, Path::new("conf.d/beta.conf"));
        let overlay = Overlay::from([(other, "not toml at all".to_string())]);
        assert!(load_str_with(&text, &path, &no_io(), &overlay).is_ok());
    }

    #[test]
    fn include_keys_name_one_file_one_way_and_patterns_cover_them() {
        let (dir, path, text) = with_conf_d();
        let key = include_key(&path, Path::new("conf.d/beta.toml"));
        let canonical = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(key, canonical.join("conf.d/beta.toml"));
        assert_eq!(include_key(&path, Path::new("./conf.d/beta.toml")), key);
        assert_eq!(
            include_key(&path, &dir.path().join("conf.d/beta.toml")),
            key
        );
        std::os::unix::fs::symlink(dir.path().join("conf.d"), dir.path().join("link")).unwrap();
        assert_eq!(include_key(&path, Path::new("link/beta.toml")), key);
        assert_eq!(
            include_covering(&text, &path, &key).as_deref(),
            Some("conf.d/*.toml")
        );
        for not in ["beta.toml", "conf.d/beta.conf", "other/beta.toml"] {
            let key = include_key(&path, Path::new(not));
            assert_eq!(include_covering(&text, &path, &key), None, "{not}");
        }
        std::fs::write(dir.path().join("conf.d/beta.toml"), BETA).unwrap();
        assert_eq!(included_files(&text, &path), vec![key]);
        assert!(included_files(EXAMPLE, &path).is_empty());
    }

    #[test]
    fn an_included_file_may_not_start_with_a_sub_table() {
        // [[receiver.trusted_sender]] first would join the main file's last receiver.
        let (dir, path, text) = with_conf_d();
        let sender = "# a comment first\n[[receiver.trusted_sender]]\nname = \"S\"\ncontact = \"s@x.example\"\ndomain = \"x.example\"\n";
        std::fs::write(dir.path().join("conf.d/a.toml"), sender).unwrap();
        let errs = load_str(&text, &path, &no_io()).unwrap_err();
        assert!(
            errs.to_string()
                .contains("a.toml starts with [receiver.trusted_sender], which would join the last table of the file before it"),
            "{errs}"
        );
        std::fs::write(
            dir.path().join("conf.d/a.toml"),
            format!("{BETA}\n{sender}"),
        )
        .unwrap();
        let config = load_str(&text, &path, &no_io()).unwrap();
        assert_eq!(config.receivers[1].trusted_senders.len(), 1);
    }
}
