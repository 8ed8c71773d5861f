//! `[[sink]]` and the `deliver` lists that name sinks: the downstream systems documents go to.
//!
//! The validated [`Sink`] and [`SinkKind`] and the checks that build them from [`raw::Sink`]
//! (which holds the keys of every kind; which belong to which kind is checked here), called by
//! [`super::validate`]. Webhook secrets are read and decoded here, never shown.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw;
use super::validate::{Key, Validator, closest, is_id, key, quoted, resolve, trim_line_ends};
use super::{Secret, defaults};
use crate::address::Address;

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
    /// A mail through [`Config::relay`](super::Config::relay) (`kind = "smtp"`).
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

/// The keys every kind of sink has, read before its kind is known.
struct SinkCommon {
    concurrency: usize,
    timeout: Duration,
}

impl Default for SinkCommon {
    fn default() -> SinkCommon {
        SinkCommon {
            concurrency: defaults::SINK_CONCURRENCY,
            timeout: defaults::SINK_TIMEOUT,
        }
    }
}

/// `[[sink]]`'s number and duration, checked by [`Validator::keys`].
const SINK_KEYS: &[Key<raw::Sink, SinkCommon>] = &[
    key!(count concurrency, defaults::SINK_CONCURRENCY_RANGE),
    key!(duration timeout, defaults::SINK_TIMEOUT_RANGE),
];

impl Validator<'_> {
    /// A `deliver` list: every name a defined sink (`sinks`: the names written in the file),
    /// none twice.
    pub(super) fn deliver(
        &mut self,
        raw: &[Spanned<String>],
        label: &str,
        sinks: &[&str],
    ) -> Vec<String> {
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

    /// `[[sink]]`: the valid ones, after reporting every problem.
    pub(super) fn sinks(
        &mut self,
        raw: &[Spanned<raw::Sink>],
        has_relay: bool,
        spool: &Path,
    ) -> Vec<Sink> {
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
            let mut common = SinkCommon::default();
            self.keys(&format!("{label}: "), SINK_KEYS, sink, &mut common);
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
                    concurrency: common.concurrency,
                    timeout: common.timeout,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::testing::*;
    use crate::config::validate::{base_dir, load_str};

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
    fn every_key_of_the_table_takes_its_range() {
        check_table(
            &one_sink("nats", "url = \"nats://a\"\nsubject = \"a\"\n@KEY@\n"),
            "sink \"s\": ",
            SINK_KEYS,
        );
    }
}
