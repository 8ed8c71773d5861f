//! Logging: one tracing subscriber for the daemon and the CLI.
//!
//! `RUST_LOG` (or `TRUSTGATE_LOG`) chooses levels, default `info`. Logs go to stderr, one line
//! per event, so systemd's journal and `docker logs`-style collectors take them as they are.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line, for log shippers (Loki, Elasticsearch, Vector …): the fields,
    /// the message, the level, the time and the span's fields (`sid`, `peer`).
    Json,
}

/// Installs the global subscriber, human-readable. Safe to call once; later calls are ignored.
pub fn init() {
    init_with(LogFormat::Text);
}

/// Installs the global subscriber in `format`. Safe to call once; later calls are ignored.
pub fn init_with(format: LogFormat) {
    let filter = std::env::var("TRUSTGATE_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
