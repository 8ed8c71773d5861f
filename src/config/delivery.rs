//! `[delivery]`, `[relay]` and `[notices]`: how documents and notices leave trustgate.
//!
//! The validated [`Delivery`] (the retry schedule), [`Relay`] (the smarthost of smtp sinks,
//! postmaster forwards and notices) and [`Notices`], and the checks that build them, called by
//! [`super::validate`]. `[[sink]]` is in [`super::sink`]. The relay password is read here,
//! never shown.

use std::time::Duration;

use toml::Spanned;

use super::raw;
use super::validate::{ConfigError, Key, Validator, key, trim_line_ends};
use super::{Secret, defaults};
use crate::address::Address;

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

/// `[delivery]`'s keys, checked by [`Validator::keys`].
const DELIVERY_KEYS: &[Key<raw::Delivery, Delivery>] = &[
    key!(duration initial_backoff, defaults::INITIAL_BACKOFF_RANGE),
    key!(duration max_backoff, defaults::MAX_BACKOFF_RANGE),
    key!(duration max_age, defaults::MAX_AGE_RANGE),
    key!(count workers, defaults::WORKERS_RANGE),
];

/// `[relay]`'s number and duration, read before the rest of a [`Relay`] is known.
struct RelayNumbers {
    port: usize,
    timeout: Duration,
}

impl Default for RelayNumbers {
    fn default() -> RelayNumbers {
        RelayNumbers {
            port: usize::from(defaults::RELAY_PORT),
            timeout: defaults::RELAY_TIMEOUT,
        }
    }
}

/// `[relay]`'s keys, checked by [`Validator::keys`].
const RELAY_KEYS: &[Key<raw::Relay, RelayNumbers>] = &[
    key!(count port, defaults::RELAY_PORT_RANGE),
    key!(duration timeout, defaults::RELAY_TIMEOUT_RANGE),
];

/// `[notices]`'s number and duration, read before the rest of [`Notices`] is known.
struct NoticeNumbers {
    rate_per_hour: u32,
    rate_window: Duration,
}

impl Default for NoticeNumbers {
    fn default() -> NoticeNumbers {
        NoticeNumbers {
            rate_per_hour: defaults::NOTICES_RATE_PER_HOUR,
            rate_window: defaults::NOTICES_RATE_WINDOW,
        }
    }
}

/// `[notices]`'s keys, checked by [`Validator::keys`].
const NOTICES_KEYS: &[Key<raw::Notices, NoticeNumbers>] = &[
    key!(count rate_per_hour as u32, defaults::NOTICES_RATE_PER_HOUR_RANGE),
    key!(duration rate_window, defaults::NOTICES_RATE_WINDOW_RANGE),
];

impl Validator<'_> {
    pub(super) fn delivery(&mut self, raw: &raw::Delivery) -> Delivery {
        let mut delivery = Delivery::default();
        self.keys("delivery.", DELIVERY_KEYS, raw, &mut delivery);
        let Delivery {
            initial_backoff,
            max_backoff,
            max_age,
            ..
        } = delivery;
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
        delivery
    }

    /// `[relay]`, or `None` after reporting a problem that leaves no usable value.
    pub(super) fn relay(&mut self, raw: &raw::Relay) -> Option<Relay> {
        let host = raw.host.get_ref().trim().to_string();
        if host.is_empty() || host.contains(char::is_whitespace) {
            self.error(
                &raw.host,
                format!("relay.host \"{host}\" is not a host name; write the smarthost's name or IP address, e.g. host = \"smtp.example.com\""),
            );
        }
        let mut numbers = RelayNumbers::default();
        self.keys("relay.", RELAY_KEYS, raw, &mut numbers);
        let port = u16::try_from(numbers.port).unwrap_or(defaults::RELAY_PORT);
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
        Some(Relay {
            host,
            port,
            tls,
            username,
            password,
            mail_from: mail_from?,
            timeout: numbers.timeout,
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

    /// `[notices]`, or `None` after reporting a problem that leaves no usable value.
    pub(super) fn notices(&mut self, n: &raw::Notices, has_relay: bool) -> Option<Notices> {
        let mut numbers = NoticeNumbers::default();
        self.keys("notices.", NOTICES_KEYS, n, &mut numbers);
        if !has_relay {
            self.error(
                &n.from,
                "notices are sent through [relay]: add [relay], or remove [notices]".into(),
            );
        }
        let admin = n.admin.as_ref().and_then(|a| match Address::parse(a.get_ref().trim()) {
            Ok(admin) => Some(admin),
            Err(e) => {
                self.error(a, format!("notices.admin {e}; write the address that hears of undeliverable invoices, e.g. \"ap-admin@acme.example\""));
                None
            }
        });
        let templates = n
            .templates
            .as_ref()
            .map_or_else(crate::notify::render::Templates::builtin, |t| {
                self.templates(t)
            });
        match Address::parse(n.from.get_ref().trim()) {
            Ok(from) => Some(Notices {
                from,
                rate_per_hour: numbers.rate_per_hour,
                rate_window: numbers.rate_window,
                admin,
                templates,
            }),
            Err(e) => {
                self.error(&n.from, format!("notices.from {e}; write the address notices come from, e.g. \"no-reply@trust.example.eu\""));
                None
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
}

/// Whether a relay host is this machine (a plain connection never leaves it).
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::config::validate::testing::*;
    use crate::config::validate::{base_dir, load_str};
    use crate::config::{DirectoryLayout, SinkKind, SmtpMode, WebhookPayload};

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
    fn every_key_of_the_tables_takes_its_range() {
        check_table(
            &format!("{HEAD}[delivery]\n@KEY@\n"),
            "delivery.",
            DELIVERY_KEYS,
        );
        check_table(&format!("{HEAD}{RELAY}@KEY@\n"), "relay.", RELAY_KEYS);
        check_table(
            &format!("{HEAD}{RELAY}[notices]\nfrom = \"n@trust.example.test\"\n@KEY@\n"),
            "notices.",
            NOTICES_KEYS,
        );
    }
}
