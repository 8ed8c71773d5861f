//! Logging: one tracing subscriber for the daemon and the CLI.
//!
//! `RUST_LOG` (or `TRUSTGATE_LOG`) chooses levels, default `info`. Logs go to stderr, one line
//! per event, so systemd's journal and `docker logs`-style collectors take them as they are.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call once; later calls are ignored.
pub fn init() {
    let filter = std::env::var("TRUSTGATE_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
