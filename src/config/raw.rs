//! Serde mirror of the TOML file: the shape of the config, nothing more.
//!
//! [`super::validate`] deserialises the file into [`Config`] and then turns it into the typed
//! [`super::Config`]. Every struct refuses unknown keys, and every value that gets a semantic check
//! is a [`Spanned`], so an error can point at its line and column. This module holds no logic and
//! no defaults (those are in [`super::defaults`]); it must never check or interpret a value.
//!
//! The struct and field names are the TOML names (`[[receiver]]` is [`Receiver`], and so on).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `include`: files (globs in the file name) whose tables join this file's.
    #[serde(default)]
    pub include: Option<Spanned<Vec<Spanned<String>>>>,
    /// `[server]`.
    pub server: Spanned<Server>,
    /// `[spool]`.
    pub spool: Spanned<Spool>,
    /// `[[organisation]]`.
    #[serde(default)]
    pub organisation: Vec<Spanned<Organisation>>,
    /// `[[receiver]]`.
    #[serde(default)]
    pub receiver: Vec<Spanned<Receiver>>,
    /// `[delivery]`.
    #[serde(default)]
    pub delivery: Option<Spanned<Delivery>>,
    /// `[relay]`.
    #[serde(default)]
    pub relay: Option<Spanned<Relay>>,
    /// `[[sink]]`.
    #[serde(default)]
    pub sink: Vec<Spanned<Sink>>,
    /// `[limits]`.
    #[serde(default)]
    pub limits: Option<Spanned<Limits>>,
    /// `[dns]`.
    #[serde(default)]
    pub dns: Option<Spanned<Dns>>,
    /// `[notices]`.
    #[serde(default)]
    pub notices: Option<Spanned<Notices>>,
    /// `[admin]`.
    #[serde(default)]
    pub admin: Option<Spanned<Admin>>,
    /// `[log]`.
    #[serde(default)]
    pub log: Option<Spanned<Log>>,
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// `listen`: `IP:PORT`.
    #[serde(default)]
    pub listen: Option<Spanned<String>>,
    /// `tls_cert`: path to the PEM certificate chain.
    #[serde(default)]
    pub tls_cert: Option<Spanned<String>>,
    /// `tls_key`: path to the PEM private key.
    #[serde(default)]
    pub tls_key: Option<Spanned<String>>,
}

/// `[log]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `format`: `text` or `json`.
    #[serde(default)]
    pub format: Option<Spanned<String>>,
}

/// `[notices]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notices {
    /// `from`: an address.
    pub from: Spanned<String>,
    /// `rate_per_hour`.
    #[serde(default)]
    pub rate_per_hour: Option<Spanned<i64>>,
    /// `admin`: an address.
    #[serde(default)]
    pub admin: Option<Spanned<String>>,
    /// `rate_window`: a duration.
    #[serde(default)]
    pub rate_window: Option<Spanned<Scalar>>,
    /// `templates`: a directory of template files.
    #[serde(default)]
    pub templates: Option<Spanned<String>>,
}

/// `[dns]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// `nameservers`: `IP:PORT` strings; absent means the system's resolv.conf.
    #[serde(default)]
    pub nameservers: Option<Spanned<Vec<Spanned<String>>>>,
    /// `timeout`.
    #[serde(default)]
    pub timeout: Option<Spanned<Scalar>>,
    /// `cache_size`.
    #[serde(default)]
    pub cache_size: Option<Spanned<i64>>,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// `hostname`.
    pub hostname: Spanned<String>,
    /// `listen`.
    pub listen: Spanned<Vec<Spanned<String>>>,
    /// `listen_tls`.
    #[serde(default)]
    pub listen_tls: Option<Spanned<Vec<Spanned<String>>>>,
    /// `postmaster`: an address.
    #[serde(default)]
    pub postmaster: Option<Spanned<String>>,
    /// `receiver_domain`: the domain of generated receiver addresses.
    #[serde(default)]
    pub receiver_domain: Option<Spanned<String>>,
    /// `receiver_address_length`: characters in a generated local part.
    #[serde(default)]
    pub receiver_address_length: Option<Spanned<i64>>,
    /// `trusted_arc_sealers`: domains.
    #[serde(default)]
    pub trusted_arc_sealers: Option<Spanned<Vec<Spanned<String>>>>,
    /// `max_message_size`.
    #[serde(default)]
    pub max_message_size: Option<Spanned<Scalar>>,
    /// `max_recipients`.
    #[serde(default)]
    pub max_recipients: Option<Spanned<i64>>,
    /// `max_line_length`.
    #[serde(default)]
    pub max_line_length: Option<Spanned<i64>>,
    /// `max_connections`.
    #[serde(default)]
    pub max_connections: Option<Spanned<i64>>,
    /// `max_connections_per_ip`.
    #[serde(default)]
    pub max_connections_per_ip: Option<Spanned<i64>>,
    /// `max_connections_per_minute`.
    #[serde(default)]
    pub max_connections_per_minute: Option<Spanned<i64>>,
    /// `max_connections_per_minute_per_network`.
    #[serde(default)]
    pub max_connections_per_minute_per_network: Option<Spanned<i64>>,
    /// `max_messages_per_minute`.
    #[serde(default)]
    pub max_messages_per_minute: Option<Spanned<i64>>,
    /// `max_messages_per_minute_per_network`.
    #[serde(default)]
    pub max_messages_per_minute_per_network: Option<Spanned<i64>>,
    /// `max_messages_per_session`.
    #[serde(default)]
    pub max_messages_per_session: Option<Spanned<i64>>,
    /// `max_errors`.
    #[serde(default)]
    pub max_errors: Option<Spanned<i64>>,
    /// `command_timeout`.
    #[serde(default)]
    pub command_timeout: Option<Spanned<Scalar>>,
    /// `data_timeout`.
    #[serde(default)]
    pub data_timeout: Option<Spanned<Scalar>>,
    /// `session_timeout`.
    #[serde(default)]
    pub session_timeout: Option<Spanned<Scalar>>,
    /// `shutdown_timeout`.
    #[serde(default)]
    pub shutdown_timeout: Option<Spanned<Scalar>>,
    /// `[server.tls]`.
    #[serde(default)]
    pub tls: Option<Spanned<Tls>>,
}

/// `[server.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// `certificate`: path to the PEM certificate chain.
    pub certificate: Spanned<String>,
    /// `key`: path to the PEM private key.
    pub key: Spanned<String>,
}

/// `[spool]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spool {
    /// `path`.
    pub path: Spanned<String>,
    /// `large_body_threshold`.
    #[serde(default)]
    pub large_body_threshold: Option<Spanned<Scalar>>,
    /// `min_free_space`.
    #[serde(default)]
    pub min_free_space: Option<Spanned<Scalar>>,
    /// `retention`: a duration.
    #[serde(default)]
    pub retention: Option<Spanned<Scalar>>,
    /// `cache_size`: a size.
    #[serde(default)]
    pub cache_size: Option<Spanned<Scalar>>,
}

/// `[[organisation]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// `id`.
    pub id: Spanned<String>,
    /// `name`.
    pub name: Spanned<String>,
    /// `kvk`.
    #[serde(default)]
    pub kvk: Option<Spanned<String>>,
    /// `no_kvk_reason`: why there is no `kvk` (e.g. `test`, `no-company`).
    #[serde(default)]
    pub no_kvk_reason: Option<Spanned<String>>,
    /// `verified_users`: addresses or `@domain`.
    #[serde(default)]
    pub verified_users: Vec<Spanned<String>>,
    /// `vat_ids`.
    #[serde(default)]
    pub vat_ids: Vec<Spanned<String>>,
    /// `endpoint_ids`: `scheme:id`.
    #[serde(default)]
    pub endpoint_ids: Vec<Spanned<String>>,
    /// `deliver`: sink names.
    #[serde(default)]
    pub deliver: Vec<Spanned<String>>,
}

/// `[[receiver]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// `address`.
    pub address: Spanned<String>,
    /// `organisation`: an organisation id (exactly one of this and `organisations`).
    #[serde(default)]
    pub organisation: Option<Spanned<String>>,
    /// `organisations`: organisation ids, for an address shared by several.
    #[serde(default)]
    pub organisations: Option<Spanned<Vec<Spanned<String>>>>,
    /// `document_type`.
    pub document_type: Spanned<String>,
    /// `buyer_check`: `strict`, `warn` or `off`.
    #[serde(default)]
    pub buyer_check: Option<Spanned<String>>,
    /// `accept_specifications`: specification ids.
    #[serde(default)]
    pub accept_specifications: Vec<Spanned<String>>,
    /// `require_pdf`.
    #[serde(default)]
    pub require_pdf: Option<Spanned<bool>>,
    /// `warnings`: `pass` or `refuse`.
    #[serde(default)]
    pub warnings: Option<Spanned<String>>,
    /// `partial`: `refuse` or `accept`.
    #[serde(default)]
    pub partial: Option<Spanned<String>>,
    /// `duplicates`: `accept` or `refuse`.
    #[serde(default)]
    pub duplicates: Option<Spanned<String>>,
    /// `deliver`: sink names (absent and empty differ).
    #[serde(default)]
    pub deliver: Option<Spanned<Vec<Spanned<String>>>>,
    /// `auth`: `dmarc`, `spf`, `dkim` or `none`.
    #[serde(default)]
    pub auth: Option<Spanned<String>>,
    /// `[[receiver.trusted_sender]]`.
    #[serde(default)]
    pub trusted_sender: Vec<Spanned<TrustedSender>>,
}

/// `[[receiver.trusted_sender]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedSender {
    /// `name`.
    pub name: Spanned<String>,
    /// `contact`.
    pub contact: Spanned<String>,
    /// `domain`.
    #[serde(default)]
    pub domain: Option<Spanned<String>>,
    /// `address`.
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    /// `verified_users`.
    #[serde(default)]
    pub verified_users: Option<Spanned<bool>>,
    /// `require_tls`.
    #[serde(default)]
    pub require_tls: Option<Spanned<bool>>,
    /// `auth`: overrides the receiver's.
    #[serde(default)]
    pub auth: Option<Spanned<String>>,
    /// `via`: the domain of the platform that sends for this supplier.
    #[serde(default)]
    pub via: Option<Spanned<String>>,
    /// `language`: `nl` or `en`, of the mail sent to `contact`.
    #[serde(default)]
    pub language: Option<Spanned<String>>,
}

/// `[delivery]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// `initial_backoff`.
    #[serde(default)]
    pub initial_backoff: Option<Spanned<Scalar>>,
    /// `max_backoff`.
    #[serde(default)]
    pub max_backoff: Option<Spanned<Scalar>>,
    /// `max_age`.
    #[serde(default)]
    pub max_age: Option<Spanned<Scalar>>,
    /// `workers`.
    #[serde(default)]
    pub workers: Option<Spanned<i64>>,
}

/// `[limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// `max_header_bytes`.
    #[serde(default)]
    pub max_header_bytes: Option<Spanned<Scalar>>,
    /// `max_header_fields`.
    #[serde(default)]
    pub max_header_fields: Option<Spanned<i64>>,
    /// `max_total_header_bytes`.
    #[serde(default)]
    pub max_total_header_bytes: Option<Spanned<Scalar>>,
    /// `max_total_header_fields`.
    #[serde(default)]
    pub max_total_header_fields: Option<Spanned<i64>>,
    /// `max_mime_parts`.
    #[serde(default)]
    pub max_mime_parts: Option<Spanned<i64>>,
    /// `max_mime_depth`.
    #[serde(default)]
    pub max_mime_depth: Option<Spanned<i64>>,
    /// `max_nested_messages`.
    #[serde(default)]
    pub max_nested_messages: Option<Spanned<i64>>,
    /// `max_pdf_bytes`.
    #[serde(default)]
    pub max_pdf_bytes: Option<Spanned<Scalar>>,
    /// `max_pdf_objects`.
    #[serde(default)]
    pub max_pdf_objects: Option<Spanned<i64>>,
    /// `max_pdf_values`.
    #[serde(default)]
    pub max_pdf_values: Option<Spanned<i64>>,
    /// `max_pdf_stream_bytes`.
    #[serde(default)]
    pub max_pdf_stream_bytes: Option<Spanned<Scalar>>,
    /// `max_pdf_decompressed_bytes`.
    #[serde(default)]
    pub max_pdf_decompressed_bytes: Option<Spanned<Scalar>>,
    /// `max_pdf_embedded_files`.
    #[serde(default)]
    pub max_pdf_embedded_files: Option<Spanned<i64>>,
    /// `max_pdf_expansion`.
    #[serde(default)]
    pub max_pdf_expansion: Option<Spanned<i64>>,
    /// `max_parallel_inspections`.
    #[serde(default)]
    pub max_parallel_inspections: Option<Spanned<i64>>,
    /// `max_xml_bytes`.
    #[serde(default)]
    pub max_xml_bytes: Option<Spanned<Scalar>>,
    /// `max_xml_depth`.
    #[serde(default)]
    pub max_xml_depth: Option<Spanned<i64>>,
    /// `max_xml_elements`.
    #[serde(default)]
    pub max_xml_elements: Option<Spanned<i64>>,
    /// `max_xml_text_bytes`.
    #[serde(default)]
    pub max_xml_text_bytes: Option<Spanned<Scalar>>,
}

/// `[relay]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relay {
    /// `host`.
    pub host: Spanned<String>,
    /// `port`.
    #[serde(default)]
    pub port: Option<Spanned<i64>>,
    /// `tls`: `starttls`, `implicit` or `none`.
    #[serde(default)]
    pub tls: Option<Spanned<String>>,
    /// `username`.
    #[serde(default)]
    pub username: Option<Spanned<String>>,
    /// `password_file`: a path.
    #[serde(default)]
    pub password_file: Option<Spanned<String>>,
    /// `mail_from`.
    pub mail_from: Spanned<String>,
    /// `timeout`.
    #[serde(default)]
    pub timeout: Option<Spanned<Scalar>>,
}

/// `[[sink]]`: every key of every kind; which belong to which kind is checked later.
/// Its Debug output hides `secret`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sink {
    /// `name`.
    pub name: Spanned<String>,
    /// `kind`: `webhook`, `directory`, `smtp` or `nats`.
    pub kind: Spanned<String>,
    /// `concurrency` (any kind).
    #[serde(default)]
    pub concurrency: Option<Spanned<i64>>,
    /// `timeout` (any kind).
    #[serde(default)]
    pub timeout: Option<Spanned<Scalar>>,
    /// `url` (webhook, nats).
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// `secret` (webhook).
    #[serde(default)]
    pub secret: Option<Spanned<String>>,
    /// `secret_file` (webhook): a path.
    #[serde(default)]
    pub secret_file: Option<Spanned<String>>,
    /// `secret_env` (webhook): an environment variable's name.
    #[serde(default)]
    pub secret_env: Option<Spanned<String>>,
    /// `payload` (webhook): `json` or `multipart`.
    #[serde(default)]
    pub payload: Option<Spanned<String>>,
    /// `path` (directory).
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// `layout` (directory): `flat` or `by-organisation`.
    #[serde(default)]
    pub layout: Option<Spanned<String>>,
    /// `to` (smtp).
    #[serde(default)]
    pub to: Option<Spanned<String>>,
    /// `mode` (smtp): `document` or `original`.
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    /// `subject` (nats).
    #[serde(default)]
    pub subject: Option<Spanned<String>>,
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .field("secret_env", &self.secret_env)
            .field("payload", &self.payload)
            .field("path", &self.path)
            .field("layout", &self.layout)
            .field("to", &self.to)
            .field("mode", &self.mode)
            .field("subject", &self.subject)
            .finish()
    }
}

/// A value that may be written as an integer or a string (sizes: `1048576` or `"1 MiB"`;
/// durations: `"5m"`, where an integer is refused later with a fix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    /// Written as a TOML integer.
    Integer(i64),
    /// Written as a TOML string.
    Text(String),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Integer(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Integer)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}
