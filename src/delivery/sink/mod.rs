//! The [`Sink`] trait and its peers, one file each, built from `[[sink]]` tables.
//!
//! A sink turns one [`Item`] into one attempt at its downstream and reads the answer into an
//! [`Outcome`]. It knows nothing of the queue: the worker decides what an outcome means for
//! the schedule (`delivery::queue`), enforces the sink's timeout around [`Sink::deliver`],
//! and limits its concurrency. A sink must be safe to call concurrently.

pub mod directory;
pub mod nats;
pub mod notice;
pub mod smtp;
pub mod webhook;

use std::future::Future;
use std::pin::Pin;

use super::{Item, Outcome};

/// A boxed future of one attempt.
pub type Attempt<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// A downstream system that documents are delivered to.
pub trait Sink: Send + Sync {
    /// Whether [`Item::raw`] must be loaded (a sink that forwards the message as received).
    fn needs_raw(&self) -> bool {
        false
    }

    /// One attempt. Never panics on any answer; every failure is an [`Outcome`].
    fn deliver<'a>(&'a self, item: &'a Item) -> Attempt<'a>;
}

/// Makes ring the process's rustls crypto provider, once. reqwest is built without a provider
/// of its own and lettre and async-nats bring ring too; a process with two providers compiled
/// in panics in `ClientConfig::builder()` unless one is installed. Idempotent; call it before
/// building any client (the daemon calls it at start, tests through the sinks' constructors).
pub fn install_crypto_provider() {
    // Err means another provider was installed first, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The `[relay]` as the SMTP sink's options.
fn relay_options(
    config: &crate::config::Config,
    relay: &crate::config::Relay,
) -> smtp::RelayOptions {
    use crate::config::RelayTls;
    smtp::RelayOptions {
        host: relay.host.clone(),
        port: relay.port,
        tls: match relay.tls {
            RelayTls::StartTls => smtp::RelayTls::StartTls,
            RelayTls::Implicit => smtp::RelayTls::Implicit,
            RelayTls::None => smtp::RelayTls::None,
        },
        credentials: relay
            .username
            .clone()
            .zip(relay.password.as_ref().map(|p| p.expose().to_vec())),
        mail_from: relay.mail_from.to_string(),
        timeout: relay.timeout,
        hostname: config.server.hostname.clone(),
    }
}

/// Builds the peer of every `[[sink]]`, in config order, and the forward of `[server]
/// postmaster` when set.
///
/// # Errors
/// A sink whose client cannot be built (a TLS setup failure), naming the sink.
pub fn build(config: &crate::config::Config) -> Result<Vec<super::worker::SinkRunner>, String> {
    use std::sync::Arc;

    use crate::config::{DirectoryLayout, SinkKind, SmtpMode, WebhookPayload};

    let mut out = Vec::with_capacity(config.sinks.len());
    for s in &config.sinks {
        let sink: Arc<dyn Sink> = match &s.kind {
            SinkKind::Webhook {
                url,
                secret,
                payload,
            } => Arc::new(
                webhook::WebhookSink::new(webhook::WebhookOptions {
                    url: url.clone(),
                    secret: secret.as_ref().map(|s| s.expose().to_vec()),
                    payload: match payload {
                        WebhookPayload::Json => webhook::WebhookPayload::Json,
                        WebhookPayload::Multipart => webhook::WebhookPayload::Multipart,
                    },
                    timeout: s.timeout,
                })
                .map_err(|e| format!("sink {}: {e}", s.name))?,
            ),
            SinkKind::Directory { path, layout } => Arc::new(directory::DirectorySink::new(
                path.clone(),
                match layout {
                    DirectoryLayout::Flat => directory::Layout::Flat,
                    DirectoryLayout::ByOrganisation => directory::Layout::ByOrganisation,
                },
            )),
            SinkKind::Smtp { to, mode } => {
                let relay = config.relay.as_ref().ok_or_else(|| {
                    format!("sink {}: an smtp sink needs a [relay] section", s.name)
                })?;
                let relay = relay_options(config, relay);
                Arc::new(
                    smtp::SmtpSink::new(
                        &relay,
                        smtp::SmtpOptions {
                            to: to.to_string(),
                            mode: match mode {
                                SmtpMode::Document => smtp::SmtpMode::Document,
                                SmtpMode::Original => smtp::SmtpMode::Original,
                            },
                        },
                    )
                    .map_err(|e| format!("sink {}: {e}", s.name))?,
                )
            }
            SinkKind::Nats { url, subject } => Arc::new(
                nats::NatsSink::new(nats::NatsOptions {
                    url: url.clone(),
                    subject: subject.clone(),
                    timeout: s.timeout,
                })
                .map_err(|e| format!("sink {}: {e}", s.name))?,
            ),
        };
        out.push(super::worker::SinkRunner {
            name: s.name.clone(),
            sink,
            concurrency: s.concurrency,
            timeout: s.timeout,
        });
    }
    // Mail for postmaster@ and abuse@ of the served domains, forwarded as received.
    if let (Some(to), Some(relay)) = (&config.server.postmaster, &config.relay) {
        let sink = smtp::SmtpSink::new(
            &relay_options(config, relay),
            smtp::SmtpOptions {
                to: to.to_string(),
                mode: smtp::SmtpMode::Original,
            },
        )
        .map_err(|e| format!("[server] postmaster: {e}"))?;
        out.push(super::worker::SinkRunner {
            name: crate::config::validate::POSTMASTER_SINK.to_string(),
            sink: Arc::new(sink),
            concurrency: 1,
            timeout: relay.timeout,
        });
    }
    // Notices to supplier contacts about refused messages.
    if let (Some(notices), Some(relay)) = (&config.notices, &config.relay) {
        // The relay side of a notice: its own pool; the recipient is each notice's contact.
        let smtp = smtp::SmtpSink::new(
            &relay_options(config, relay),
            smtp::SmtpOptions {
                to: notices.from.to_string(),
                mode: smtp::SmtpMode::Original,
            },
        )
        .map_err(|e| format!("[notices]: {e}"))?;
        let replaced = notices.templates.overridden().count();
        if replaced > 0 {
            tracing::info!(
                replaced,
                "notice templates: built-in ones replaced from notices.templates"
            );
        }
        out.push(super::worker::SinkRunner {
            name: crate::config::validate::NOTICES_SINK.to_string(),
            sink: Arc::new(notice::NoticeSink::new(
                smtp,
                notices.from.clone(),
                notices.templates.clone(),
                notices.rate_per_hour,
                notices.rate_window,
            )),
            concurrency: 2,
            timeout: relay.timeout,
        });
    }
    Ok(out)
}
