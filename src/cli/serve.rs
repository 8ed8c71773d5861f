//! `trustgate serve`: load and validate the config, start the daemon, stop on SIGTERM/SIGINT.

use std::path::Path;

use anyhow::Context;
use tracing::{error, info};

use crate::config::Config;
use crate::daemon::{Daemon, StartError};

/// EX_CONFIG from sysexits.h: the config is invalid.
pub const EXIT_CONFIG: i32 = 78;

/// Runs the daemon until a signal; returns the exit code.
pub fn run(config_path: &Path, log_format: Option<crate::telemetry::LogFormat>) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("trustgate: cannot start the async runtime: {err}");
            return 1;
        }
    };
    // Listened for before anything else: a SIGHUP from `systemctl reload` or a log rotation
    // while the config loads or the spool opens must not kill the daemon (the default
    // action), and a SIGTERM then stops it cleanly once started. Each is kept until read.
    let signals = {
        let _in_runtime = runtime.enter();
        match Signals::listen() {
            Ok(signals) => signals,
            Err(err) => {
                eprintln!("trustgate: {err:#}");
                return 1;
            }
        }
    };
    let loaded = Config::load(config_path);
    // `--log-format` wins over `[log] format`; a config that does not load logs as text.
    let format = log_format.unwrap_or(match &loaded {
        Ok(config) => match config.log.format {
            crate::config::LogFormat::Json => crate::telemetry::LogFormat::Json,
            crate::config::LogFormat::Text => crate::telemetry::LogFormat::Text,
        },
        Err(_) => crate::telemetry::LogFormat::Text,
    });
    crate::telemetry::init_with(format);
    let config = match loaded {
        Ok(c) => c,
        Err(errors) => {
            eprint!("{errors}");
            eprintln!(
                "trustgate: refusing to start: {} has errors (run `trustgate check-config`)",
                config_path.display()
            );
            return EXIT_CONFIG;
        }
    };
    match runtime.block_on(serve(config, signals)) {
        Ok(()) => 0,
        Err(err) => {
            error!(
                error = format!("{err:#}"),
                "trustgate stopped with an error"
            );
            eprintln!("trustgate: {err:#}");
            let code = exit_code(&err);
            if code == EXIT_CONFIG {
                eprintln!(
                    "trustgate: the spool needs an administrator: restore spool.redb from a backup, \
                     or move the damaged file aside and run `trustgate spool recover` (it rebuilds \
                     the records from the stored messages); restarting alone will not help"
                );
            }
            code
        }
    }
}

/// The exit code for a daemon that stopped with `err`: EX_CONFIG (78) when only an
/// administrator can fix it (a damaged or lost spool database), so systemd's
/// `RestartPreventExitStatus=78` stops the restart loop; 1 otherwise (worth a restart).
fn exit_code(err: &anyhow::Error) -> i32 {
    match err.downcast_ref::<StartError>() {
        Some(StartError::Spool { source, .. }) if source.needs_admin() => EXIT_CONFIG,
        _ => 1,
    }
}

async fn serve(config: Config, signals: Signals) -> anyhow::Result<()> {
    for warning in &config.warnings {
        tracing::warn!(%warning, "config warning");
    }
    let daemon = Daemon::start(&config).await.context("cannot start")?;
    crate::systemd::ready(&format!(
        "accepting mail on {}",
        daemon
            .smtp_addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    // The watchdog is pinged from the runtime the sessions run on: a wedged runtime stops the
    // pings and systemd restarts the daemon.
    let watchdog = crate::systemd::watchdog_interval().map(|every| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                crate::systemd::watchdog();
            }
        })
    });
    signals.wait(&daemon).await;
    crate::systemd::stopping();
    info!("shutting down: finishing sessions in progress");
    daemon.stop().await;
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    info!("stopped");
    Ok(())
}

/// The signals the daemon answers, listened for from the start.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
        })
    }

    /// Waits for SIGTERM or SIGINT; SIGHUP reloads the config and the TLS certificate
    /// meanwhile (a broken config is refused and logged; the daemon keeps running on the old
    /// one).
    async fn wait(mut self, daemon: &Daemon) {
        loop {
            tokio::select! {
                _ = self.term.recv() => {
                    info!(signal = "SIGTERM", "signal received");
                    return;
                }
                _ = self.int.recv() => {
                    info!(signal = "SIGINT", "signal received");
                    return;
                }
                _ = self.hup.recv() => {
                    info!(signal = "SIGHUP", "signal received: reloading");
                    // Reads files: off the async threads' duty, on this one.
                    if let Err(errors) = tokio::task::block_in_place(|| daemon.reload()) {
                        for error in &errors {
                            tracing::warn!(signal = "SIGHUP", %error, "reload refused; still running on the old config");
                        }
                    }
                }
            }
        }
    }
}
