//! Raw TOML to validated [`super::Config`], collecting every error with file:line:col and a fix.
//!
//! Called by [`super::Config::load`] (serve, reload) and by `trustgate check-config`; both run the
//! same checks. Parsing (syntax, types, unknown or missing keys) stops at the first error, which
//! is reported with its position and a fix; only a file that parses gets the semantic checks,
//! which report *every* problem at once.
//!
//! This module is the driver. It joins the included files to the main one (keeping where each
//! starts, so every position is reported in its own file and line), parses, turns serde's
//! errors into located fixes, and calls each section's checks, which live beside the section's
//! types: [`super::server`], [`super::spool`], [`super::directory`], [`super::delivery`],
//! [`super::sink`], [`super::limits`], [`super::dns`], [`super::admin`], [`super::log`]. It
//! also holds the shared checker: every number, size and duration of the schema is one row of
//! its section's table of `Key`s, read and checked here with one set of sentences.
//!
//! No check may change anything on disk: the spool directory is checked with `access(2)` (or,
//! when it does not exist yet, its nearest existing ancestor, since `serve` creates it), and TLS
//! files are only read. Secrets (`secret_file`, `secret_env`, `relay.password_file`) are read
//! whatever the [`Options`], because the config holds their bytes; no message ever shows them.
//! Paths in the file are relative to the directory of the config file and are stored absolute.

use std::collections::HashMap;
use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw::{self, Scalar};
use super::{Config, Delivery, Dns, Limits, Log, defaults};

pub(crate) use super::directory::{is_vat_id, parse_endpoint_id};

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

pub(super) struct Validator<'a> {
    file: &'a Path,
    text: &'a str,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    /// The directory relative paths are resolved against, absolute.
    pub(super) base: PathBuf,
    /// Which checks outside the file to run.
    pub(super) options: &'a Options,
    /// Every problem found so far.
    pub(super) errors: Vec<ConfigError>,
    /// Settings that are valid but unsafe in production (`auth = "none"`).
    pub(super) warnings: Vec<ConfigError>,
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
    pub(super) fn position(&self, offset: usize) -> (usize, usize) {
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

    pub(super) fn error_at(&mut self, span: Range<usize>, message: String) {
        let (file, line, column) = self.locate(span.start);
        self.errors.push(ConfigError {
            file,
            line,
            column,
            message,
        });
    }

    /// Reports a problem at a value.
    pub(super) fn error<T>(&mut self, value: &Spanned<T>, message: String) {
        self.error_at(value.span(), message);
    }

    /// Reports a setting that is valid but unsafe in production.
    pub(super) fn warning<T>(&mut self, value: &Spanned<T>, message: String) {
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

    // ---- semantic checks: each section in its own module, then what spans sections ----

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
        let notices = raw
            .notices
            .as_ref()
            .and_then(|n| self.notices(n.get_ref(), raw.relay.is_some()));
        let smtp: Vec<_> = server
            .listen
            .iter()
            .chain(&server.listen_tls)
            .copied()
            .collect();
        let admin = raw.admin.as_ref().map(|a| self.admin(a.get_ref(), &smtp));
        let log = raw
            .log
            .as_ref()
            .map_or_else(Log::default, |l| self.log(l.get_ref()));
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
            admin,
            log,
            warnings: Vec::new(),
        }
    }

    // ---- the shared checker ----

    /// Checks the keys of one table that `keys` lists, writing each valid value into `out`. A
    /// key that is absent, or wrong (then reported), leaves what `out` holds: its default.
    /// `prefix` comes before each key's name in messages: `"limits."`, `"sink \"erp\": "`.
    pub(super) fn keys<R, T>(&mut self, prefix: &str, keys: &[Key<R, T>], raw: &R, out: &mut T) {
        for key in keys {
            let name = format!("{prefix}{}", key.name);
            match &key.rule {
                Rule::Count {
                    raw: get,
                    range,
                    why,
                    set,
                } => {
                    if let Some(n) = get(raw).and_then(|v| self.count(v, &name, range, why)) {
                        set(out, n);
                    }
                }
                Rule::Size {
                    raw: get,
                    range,
                    set,
                } => {
                    if let Some(n) = get(raw).and_then(|v| self.size(v, &name, range)) {
                        set(out, n);
                    }
                }
                Rule::Duration {
                    raw: get,
                    range,
                    set,
                } => {
                    if let Some(d) = get(raw).and_then(|v| self.duration(v, &name, range)) {
                        set(out, d);
                    }
                }
            }
        }
    }

    /// A whole number within `range`, or `None` after reporting it; `why` follows "out of
    /// range" (e.g. the RFC that sets the minimum).
    fn count(
        &mut self,
        value: &Spanned<i64>,
        key: &str,
        range: &RangeInclusive<usize>,
        why: &str,
    ) -> Option<usize> {
        let n = *value.get_ref();
        match usize::try_from(n) {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.error(
                    value,
                    format!(
                        "{key} {n} is out of range{why}; use {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// A size (bytes, or `"35 MiB"`) within `range`, or `None` after reporting it.
    fn size(
        &mut self,
        value: &Spanned<Scalar>,
        key: &str,
        range: &RangeInclusive<u64>,
    ) -> Option<u64> {
        let parsed = match value.get_ref() {
            Scalar::Integer(n) => u64::try_from(*n)
                .map_err(|_| format!("{n} is negative; write a size such as \"35 MiB\"")),
            Scalar::Text(s) => parse_size(s),
        };
        match parsed {
            Ok(n) if range.contains(&n) => Some(n),
            Ok(n) => {
                self.error(
                    value,
                    format!("{key} {n} bytes is out of range; use {}", size_range(range)),
                );
                None
            }
            Err(e) => {
                self.error(value, format!("{key}: {e}"));
                None
            }
        }
    }

    /// A duration (`"5m"`) within `range`, or `None` after reporting it.
    fn duration(
        &mut self,
        value: &Spanned<Scalar>,
        key: &str,
        range: &RangeInclusive<Duration>,
    ) -> Option<Duration> {
        let parsed = match value.get_ref() {
            Scalar::Integer(n) => Err(format!("{n} has no unit; write e.g. \"{n}s\" or \"5m\"")),
            Scalar::Text(s) => parse_duration(s),
        };
        match parsed {
            Ok(d) if range.contains(&d) => Some(d),
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
                None
            }
            Err(e) => {
                self.error(value, format!("{key}: {e}"));
                None
            }
        }
    }

    /// One of a fixed set of words (`buyer_check = "strict"`), or the default when absent.
    pub(super) fn choice<T: Copy>(
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

    /// A string that must not be empty (only spaces count as empty), trimmed.
    pub(super) fn nonempty(
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
    pub(super) fn path(&mut self, value: &Spanned<String>, key: &str) -> PathBuf {
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
    pub(super) fn file_path(
        &mut self,
        value: &Spanned<String>,
        key: &str,
        example: &str,
    ) -> Option<PathBuf> {
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

    /// Reads a small file (at most `limit` bytes) named by `value`, reporting why it cannot be
    /// read.
    pub(super) fn read_small(
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
}

/// One key of a table whose value is a number, a size or a duration with a range: the shape
/// most keys of the schema share. A section lists them in a `const` table, and
/// [`Validator::keys`] reads and checks them all with the same sentences, so such a key is one
/// row of data, not code. The defaults are not here: they are the section struct's `Default`
/// (from [`super::defaults`]), which a key left out or written wrong keeps.
pub(super) struct Key<R, T> {
    /// The TOML key, e.g. `max_recipients`.
    pub(super) name: &'static str,
    /// Its kind of value, its range, and where the value is read and written.
    pub(super) rule: Rule<R, T>,
}

/// How one [`Key`] of raw table `R` is checked and stored into `T`.
pub(super) enum Rule<R, T> {
    /// A whole number (`max_recipients = 100`).
    Count {
        /// The value in the raw table.
        raw: fn(&R) -> Option<&Spanned<i64>>,
        /// The values allowed.
        range: RangeInclusive<usize>,
        /// Said after "out of range", e.g. " (RFC 5321 4.5.3.1.8 requires at least 100)".
        why: &'static str,
        /// Stores a valid value.
        set: fn(&mut T, usize),
    },
    /// A size: a number of bytes, or a string such as `"35 MiB"`.
    Size {
        /// The value in the raw table.
        raw: fn(&R) -> Option<&Spanned<Scalar>>,
        /// The values allowed.
        range: RangeInclusive<u64>,
        /// Stores a valid value.
        set: fn(&mut T, u64),
    },
    /// A duration: a string such as `"5m"`.
    Duration {
        /// The value in the raw table.
        raw: fn(&R) -> Option<&Spanned<Scalar>>,
        /// The values allowed.
        range: RangeInclusive<Duration>,
        /// Stores a valid value.
        set: fn(&mut T, Duration),
    },
}

/// A row of a table of [`Key`]s whose raw and validated fields are both named as the key:
/// `key!(size max_pdf_bytes, RANGE)`, `key!(duration data_timeout, RANGE)`,
/// `key!(count max_errors, RANGE)`, with the reason for the range after it when there is one
/// (`key!(count max_recipients, RANGE, " (RFC 5321 ...)")`), and `count NAME as u32` for a
/// `u32` field (its range keeps the value within `u32`).
macro_rules! key {
    (count $field:ident as u32, $range:expr $(, $why:literal)?) => {
        $crate::config::validate::Key {
            name: stringify!($field),
            rule: $crate::config::validate::Rule::Count {
                raw: |raw| raw.$field.as_ref(),
                range: $range,
                why: concat!("" $(, $why)?),
                set: |out, n| out.$field = u32::try_from(n).unwrap_or(u32::MAX),
            },
        }
    };
    (count $field:ident, $range:expr $(, $why:literal)?) => {
        $crate::config::validate::Key {
            name: stringify!($field),
            rule: $crate::config::validate::Rule::Count {
                raw: |raw| raw.$field.as_ref(),
                range: $range,
                why: concat!("" $(, $why)?),
                set: |out, n| out.$field = n,
            },
        }
    };
    (size $field:ident, $range:expr) => {
        $crate::config::validate::Key {
            name: stringify!($field),
            rule: $crate::config::validate::Rule::Size {
                raw: |raw| raw.$field.as_ref(),
                range: $range,
                set: |out, n| out.$field = n,
            },
        }
    };
    (duration $field:ident, $range:expr) => {
        $crate::config::validate::Key {
            name: stringify!($field),
            rule: $crate::config::validate::Rule::Duration {
                raw: |raw| raw.$field.as_ref(),
                range: $range,
                set: |out, d| out.$field = d,
            },
        }
    };
}
pub(super) use key;

/// Removes trailing CR and LF bytes (a secret or password file's last line end).
pub(super) fn trim_line_ends(bytes: &mut Vec<u8>) {
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
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

/// The absolute directory of the config file.
pub(super) fn base_dir(file: &Path) -> PathBuf {
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
pub(super) fn resolve(base: &Path, path: &Path) -> PathBuf {
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

/// `"a", "b", "c"`.
pub(super) fn quoted<'s>(words: impl Iterator<Item = &'s str>) -> String {
    words
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A size in the largest binary unit that divides it: `1 MiB`, `64 KiB`, `12 bytes`.
pub(super) fn show_size(n: u64) -> String {
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
pub(super) fn closest<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
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
/// What the tests of every section share: example configs to change, and the error lines of a
/// text as `check-config` prints them.
pub(super) mod testing {
    use std::path::Path;
    use std::time::Duration;

    use super::{Key, Options, Rule, load_str};
    use crate::config::Config;

    /// The example of the issue, line for line (line numbers below refer to it).
    pub(crate) const EXAMPLE: &str = r#"[server]
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
    pub(crate) const HEAD: &str = r#"[server]
hostname = "mx.trust.example.test"
listen = ["127.0.0.1:2525"]
[spool]
path = "spool"
"#;

    /// The issue's delivery example (line numbers below refer to it).
    pub(crate) const DELIVERY: &str = r#"[server]
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

    /// A `[relay]` that smtp sinks need.
    pub(crate) const RELAY: &str =
        "[relay]\nhost = \"smtp.example.com\"\nmail_from = \"b@trust.example.test\"\n";

    /// `HEAD` plus one sink of `kind` with `keys` (the header is line 6, its keys from line 9).
    pub(crate) fn one_sink(kind: &str, keys: &str) -> String {
        format!("{HEAD}[[sink]]\nname = \"s\"\nkind = \"{kind}\"\n{keys}")
    }

    pub(crate) fn no_io() -> Options {
        Options {
            check_spool_writable: false,
            check_tls_files: false,
        }
    }

    /// Every error line, as check-config prints them.
    pub(crate) fn errors_with(text: &str, options: &Options) -> Vec<String> {
        match load_str(text, Path::new("t.toml"), options) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    pub(crate) fn errors(text: &str) -> Vec<String> {
        errors_with(text, &no_io())
    }

    pub(crate) fn valid(text: &str) -> Config {
        match load_str(text, Path::new("t.toml"), &no_io()) {
            Ok(c) => c,
            Err(e) => panic!("expected a valid config, got:\n{e}"),
        }
    }

    /// Asserts exactly one error, at `pos` ("line:col"), whose text contains `needle`.
    pub(crate) fn assert_one(text: &str, pos: &str, needle: &str) {
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

    /// Checks a table of keys through the validator: each key written at either end of its
    /// range gets no "out of range" error, and written just past either end it gets one,
    /// named `{prefix}{key}`. `text` holds the line `@KEY@`, where each key is written.
    pub(crate) fn check_table<R, T>(text: &str, prefix: &str, keys: &[Key<R, T>]) {
        assert!(!keys.is_empty());
        assert!(text.contains("@KEY@\n"), "{text}");
        for key in keys {
            let ms = |d: Duration| format!("\"{}ms\"", d.as_millis());
            let (inside, outside): (Vec<String>, Vec<String>) = match &key.rule {
                Rule::Count { range, .. } => (
                    vec![range.start().to_string(), range.end().to_string()],
                    [range.start().checked_sub(1), range.end().checked_add(1)]
                        .into_iter()
                        .flatten()
                        .map(|n| n.to_string())
                        .collect(),
                ),
                // Written as a number of bytes, which TOML holds as an i64.
                Rule::Size { range, .. } => (
                    [*range.start(), *range.end()]
                        .into_iter()
                        .filter(|&n| i64::try_from(n).is_ok())
                        .map(|n| n.to_string())
                        .collect(),
                    [range.start().checked_sub(1), range.end().checked_add(1)]
                        .into_iter()
                        .flatten()
                        .filter(|&n| i64::try_from(n).is_ok())
                        .map(|n| n.to_string())
                        .collect(),
                ),
                Rule::Duration { range, .. } => (
                    vec![ms(*range.start()), ms(*range.end())],
                    [
                        range.start().checked_sub(Duration::from_millis(1)),
                        range.end().checked_add(Duration::from_millis(1)),
                    ]
                    .into_iter()
                    .flatten()
                    .map(ms)
                    .collect(),
                ),
            };
            let name = format!("{prefix}{} ", key.name);
            let out_of_range = |errs: &[String]| {
                errs.iter()
                    .any(|e| e.contains(&name) && e.contains(" is out of range"))
            };
            for value in inside {
                let errs = errors(&text.replace("@KEY@", &format!("{} = {value}", key.name)));
                assert!(!out_of_range(&errs), "{name}= {value}: {errs:#?}");
            }
            for value in outside {
                let errs = errors(&text.replace("@KEY@", &format!("{} = {value}", key.name)));
                assert!(out_of_range(&errs), "{name}= {value}: {errs:#?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::testing::*;
    use super::*;
    use crate::address::{Address, Domain};
    use crate::config::{SenderPattern, TrustKind};

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
