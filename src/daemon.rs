//! The running daemon: opens the spool, binds the SMTP listeners, serves the control socket,
//! and shuts everything down in order (listeners, sessions, control socket, spool writer).
//!
//! Used by `trustgate serve` and by the in-process integration tests.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;
use crate::gateway::Gateway;
use crate::policy::Directory;
use crate::shutdown::Subsystem;
use crate::smtp::limits::Limits;
use crate::smtp::server::{self, ConnectionLimits, Server};
use crate::spool::{Spool, SpoolError, SpoolOptions};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The spool could not be opened.
    #[error("cannot open the spool at {path}")]
    Spool {
        /// The spool directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: SpoolError,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addrs:?}: {source}")]
    Bind {
        /// The configured addresses.
        addrs: Vec<SocketAddr>,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load the TLS certificate: {0}")]
    Tls(String),
    /// A sink's client could not be built.
    #[error("cannot set up delivery: {0}")]
    Sink(String),
    /// The DNS resolver for sender authentication could not be built.
    #[error("cannot set up sender authentication: {0}")]
    Dns(String),
}

/// A started daemon.
pub struct Daemon {
    /// The SMTP addresses actually bound (port 0 resolved).
    pub smtp_addrs: Vec<SocketAddr>,
    /// The spool, for in-process inspection by tests and the CLI.
    pub spool: Spool,
    /// The TLS certificate, reloaded in place by [`Daemon::reload`].
    certificate: Option<Arc<server::Certificate>>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

/// The parts of a running daemon, stopped in this order (see [`crate::shutdown`]).
struct Parts {
    smtp: Subsystem,
    delivery: Subsystem,
    control: Subsystem,
}

impl Daemon {
    /// Opens the spool, binds the listeners and starts serving.
    ///
    /// # Errors
    /// [`StartError`] naming what could not be opened.
    pub async fn start(config: &Config) -> Result<Daemon, StartError> {
        let spool_opts = SpoolOptions {
            path: config.spool.path.clone(),
            large_body_threshold: config.spool.large_body_threshold,
            min_free_space: config.spool.min_free_space,
            recovering: false,
        };
        let spool = Spool::open(&spool_opts).map_err(|source| StartError::Spool {
            path: config.spool.path.clone(),
            source,
        })?;
        Daemon::start_with_spool(config, spool).await
    }

    /// Starts on a spool opened by the caller (the fault-injection tests open it through
    /// [`Spool::open_with_faults`]).
    ///
    /// # Errors
    /// [`StartError`] naming what could not be opened.
    pub async fn start_with_spool(config: &Config, spool: Spool) -> Result<Daemon, StartError> {
        crate::delivery::sink::install_crypto_provider();
        let sinks = crate::delivery::sink::build(config).map_err(StartError::Sink)?;
        let (tls, certificate) = match &config.server.tls {
            Some(t) => {
                let (tls, certificate) = server::load_tls(t).map_err(StartError::Tls)?;
                (Some(tls), Some(certificate))
            }
            None => (None, None),
        };
        let server = Server::bind_with_tls(&config.server.listen, &config.server.listen_tls)
            .await
            .map_err(|source| StartError::Bind {
                addrs: [
                    config.server.listen.clone(),
                    config.server.listen_tls.clone(),
                ]
                .concat(),
                source,
            })?;
        let smtp_addrs = server.local_addrs();
        let smtp_tls_addrs = server.local_tls_addrs();
        let limits = Limits::from_config(&config.server);
        let conn_limits = ConnectionLimits {
            max_connections: config.server.max_connections,
            max_connections_per_ip: config.server.max_connections_per_ip,
            max_connections_per_minute: config.server.max_connections_per_minute,
            max_connections_per_minute_per_network: config
                .server
                .max_connections_per_minute_per_network,
            shutdown_timeout: config.server.shutdown_timeout,
        };
        let directory = Directory::new(config);
        // A resolver only when a trusted sender needs one: a test config of `auth = "none"`
        // asks no DNS.
        let authenticator = if directory.authenticates() {
            Some(
                crate::gateway::authenticate::Authenticator::new(
                    &config.dns,
                    &config.server.hostname,
                )
                .map_err(StartError::Dns)?,
            )
        } else {
            None
        };
        let gateway = Arc::new(Gateway::new(
            directory,
            spool.clone(),
            config,
            authenticator,
        ));
        let shutdown = CancellationToken::new();
        let parts = Parts {
            smtp: Subsystem::new(),
            delivery: Subsystem::new(),
            control: Subsystem::new(),
        };
        let control = crate::admin::control::serve(
            spool.clone(),
            spool.control_socket_path(),
            sinks.iter().map(|s| s.name.clone()).collect(),
            parts.control.token.clone(),
        );
        parts.control.tracker.spawn(async move {
            if let Err(err) = control.await {
                tracing::error!(error = %err, "control socket failed; `trustgate spool` will open the store directly");
            }
        });
        let sink_names: Vec<String> = sinks.iter().map(|s| s.name.clone()).collect();
        // Delivery on a runtime of its own, at a lower priority than acceptance.
        let delivery_runtime = crate::delivery::worker::runtime(
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
        )
        .map_err(|err| StartError::Sink(format!("cannot start the delivery runtime: {err}")))?;
        crate::delivery::worker::start(
            &spool,
            sinks,
            &crate::delivery::worker::Settings {
                gateway: config.server.hostname.clone(),
                policy: crate::delivery::queue::Policy::from_config(&config.delivery),
                workers: config.delivery.workers,
                intake_limits: crate::gateway::intake_limits(&config.limits),
            },
            delivery_runtime.handle(),
            &parts.delivery.token,
            &parts.delivery.tracker,
        );
        // Clients quiet for a minute leave the message-rate state (the server does the same
        // for connections), so a scan from many addresses does not grow memory.
        let forgetting = Arc::clone(&gateway);
        let token = parts.smtp.token.clone();
        parts.smtp.tracker.spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    biased;
                    () = token.cancelled() => return,
                    _ = every.tick() => forgetting.forget_idle_clients(),
                }
            }
        });
        parts.smtp.tracker.spawn(server.run(
            gateway,
            limits,
            conn_limits,
            tls,
            parts.smtp.token.clone(),
        ));
        let spool_for_task = spool.clone();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            stop.cancelled().await;
            // SMTP first: no new message, sessions in DATA finish their commit.
            parts.smtp.stop().await;
            parts.delivery.stop().await;
            // Its tasks are done; the runtime (and what its sinks' pools left) goes off the
            // async threads, where dropping a runtime is allowed.
            let _ = tokio::task::spawn_blocking(move || drop(delivery_runtime)).await;
            parts.control.stop().await;
            // Last: commit whatever is queued and join the writer thread.
            spool_for_task.shutdown().await;
        });
        info!(sinks = ?sink_names, "delivery started");
        info!(listen = ?smtp_addrs, listen_tls = ?smtp_tls_addrs, spool = %config.spool.path.display(), "trustgate started");
        Ok(Daemon {
            smtp_addrs,
            spool,
            certificate,
            shutdown,
            task,
        })
    }

    /// What SIGHUP does: reads the TLS certificate and key again, so a renewed certificate is
    /// used by the next handshake while sessions in progress keep theirs. On an error the old
    /// certificate stays in use. (The rest of a live reload, the config itself, is the
    /// operations issue's; it goes through this one entry point.)
    ///
    /// # Errors
    /// What is wrong with the new files, naming them.
    pub fn reload(&self) -> Result<(), String> {
        match &self.certificate {
            Some(certificate) => certificate.reload(),
            None => Ok(()),
        }
    }

    /// Begins a graceful shutdown (as SIGTERM does).
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Shuts down gracefully and waits until the spool writer has drained.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }

    /// Waits until the daemon has stopped (after [`Daemon::begin_shutdown`]).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}
