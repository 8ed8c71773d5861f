//! The running daemon: opens the spool, binds the SMTP listeners, serves the control socket,
//! and shuts everything down in order (listeners, sessions, control socket, spool writer).
//!
//! Used by `trustgate serve` and by the in-process integration tests.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;
use crate::gateway::Gateway;
use crate::policy::Directory;
use crate::shutdown::Subsystem;
use crate::smtp::limits::Limits;
use crate::smtp::server::{self, ConnectionLimits, Live, Server};
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
    /// The admin HTTP API's address, when `[admin]` is set (port 0 resolved).
    pub admin_addr: Option<SocketAddr>,
    /// The spool, for in-process inspection by tests and the CLI.
    pub spool: Spool,
    /// What a reload swaps.
    reloader: Arc<Reloader>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

/// What a reload changes: the gateway and session limits sessions start with (swapped whole;
/// sessions in progress keep theirs), the config kept for the next comparison, and the TLS
/// certificate (re-read in place). One reload at a time.
pub struct Reloader {
    live: Arc<ArcSwap<Live<Gateway>>>,
    config: Arc<ArcSwap<Config>>,
    certificate: Option<Arc<server::Certificate>>,
    lock: std::sync::Mutex<()>,
}

impl Reloader {
    /// Reads the config from the file the running one came from, and applies it.
    fn reload_from_disk(&self) -> Result<Vec<String>, Vec<String>> {
        crate::systemd::reloading();
        let result = self.load_and_apply();
        match &result {
            Ok(_) => crate::systemd::ready("accepting mail; config reloaded"),
            Err(errors) => crate::systemd::ready(&format!(
                "accepting mail on the previous config; reload refused: {}",
                errors.first().map(String::as_str).unwrap_or("errors")
            )),
        }
        result
    }

    fn load_and_apply(&self) -> Result<Vec<String>, Vec<String>> {
        let path = self.config.load().source.clone();
        match Config::load(&path) {
            Ok(config) => self.apply(config),
            Err(errors) => {
                let errors: Vec<String> = errors
                    .to_string()
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned)
                    .collect();
                tracing::warn!(
                    errors = errors.len(),
                    first = errors.first().map(String::as_str).unwrap_or_default(),
                    "reload refused: the config has errors; still running on the old one"
                );
                Err(errors)
            }
        }
    }

    /// Swaps in `config`: receivers, trusted senders, organisations, policies, `[limits]`, the
    /// message rates and the session limits take effect for sessions that start from now on.
    /// Settings bound at start-up (listeners, spool, sinks, relay, delivery, notices, DNS,
    /// connection caps, admin API, log format) are compared and named in the notes when they
    /// changed: they take a restart, and keep their running values meanwhile
    /// ([`with_running`]).
    fn apply(&self, config: Config) -> Result<Vec<String>, Vec<String>> {
        let _one = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(certificate) = &self.certificate {
            certificate.reload().map_err(|e| vec![e])?;
        }
        let old = self.config.load_full();
        let notes = restart_only_changes(&old, &config);
        let config = with_running(&old, config)?;
        let current = self.live.load_full();
        let gateway = current.handler.reconfigured(&config).map_err(|e| vec![e])?;
        for warning in &config.warnings {
            tracing::warn!(%warning, "config warning");
        }
        self.live.store(Arc::new(Live {
            handler: Arc::new(gateway),
            limits: Arc::new(Limits::from_config(&config.server)),
        }));
        for note in &notes {
            tracing::warn!(note = %note, "reloaded, but this change takes a restart");
        }
        tracing::info!(
            receivers = config.receivers.len(),
            organisations = config.organisations.len(),
            "config reloaded; new sessions use it"
        );
        self.config.store(Arc::new(config));
        Ok(notes)
    }
}

/// `new` with the settings bound at start-up put back to the running ones (`running`'s), so
/// that what the reload stores is what runs: the admin API's `/ready` and `/metrics`, the
/// invitations and the queue all see the sinks, relay, notices and spool that are really
/// there until a restart. A `deliver` list that names a sink not running (added by this edit)
/// refuses the reload: documents queued for it would wait for a worker that never comes.
///
/// # Errors
/// One sentence per organisation or receiver that delivers to a sink that is not running.
fn with_running(running: &Config, mut new: Config) -> Result<Config, Vec<String>> {
    new.server.listen = running.server.listen.clone();
    new.server.listen_tls = running.server.listen_tls.clone();
    new.server.hostname = running.server.hostname.clone();
    new.server.tls = running.server.tls.clone();
    new.server.max_connections = running.server.max_connections;
    new.server.max_connections_per_ip = running.server.max_connections_per_ip;
    new.server.max_connections_per_minute = running.server.max_connections_per_minute;
    new.server.max_connections_per_minute_per_network =
        running.server.max_connections_per_minute_per_network;
    new.server.shutdown_timeout = running.server.shutdown_timeout;
    new.server.postmaster = running.server.postmaster.clone();
    new.spool = running.spool.clone();
    new.sinks = running.sinks.clone();
    new.relay = running.relay.clone();
    new.delivery = running.delivery;
    new.notices = running.notices.clone();
    new.dns = running.dns.clone();
    new.admin = running.admin.clone();
    new.log = running.log;
    let running_sink = |name: &String| new.sinks.iter().any(|s| &s.name == name);
    let file = new.source.display();
    let mut errors = Vec::new();
    for org in &new.organisations {
        for name in org.deliver.iter().filter(|n| !running_sink(n)) {
            errors.push(format!(
                "{file}: organisation {} delivers to sink {name:?}, which is not running: a new \
                 [[sink]] takes a restart (`systemctl restart trustgate`); the reload was not applied",
                org.id
            ));
        }
    }
    for receiver in &new.receivers {
        for name in receiver
            .deliver
            .iter()
            .flatten()
            .filter(|n| !running_sink(n))
        {
            errors.push(format!(
                "{file}: receiver {} delivers to sink {name:?}, which is not running: a new \
                 [[sink]] takes a restart (`systemctl restart trustgate`); the reload was not applied",
                receiver.address
            ));
        }
    }
    if errors.is_empty() {
        Ok(new)
    } else {
        Err(errors)
    }
}

/// The settings a reload cannot apply that differ between `old` and `new`, each as a sentence.
/// Compared by their debug form: every field of these sections counts.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<String> {
    let mut notes = Vec::new();
    let mut check = |what: &str, a: String, b: String| {
        if a != b {
            notes.push(format!("{what} changed: restart trustgate to apply it"));
        }
    };
    check(
        "[server] listen/listen_tls",
        format!("{:?}{:?}", old.server.listen, old.server.listen_tls),
        format!("{:?}{:?}", new.server.listen, new.server.listen_tls),
    );
    check(
        "[server] hostname",
        old.server.hostname.clone(),
        new.server.hostname.clone(),
    );
    check(
        "[server] postmaster",
        format!("{:?}", old.server.postmaster),
        format!("{:?}", new.server.postmaster),
    );
    check(
        "[server] tls (certificate paths)",
        format!("{:?}", old.server.tls),
        format!("{:?}", new.server.tls),
    );
    check(
        "[server] connection caps and rates",
        format!(
            "{} {} {} {} {:?}",
            old.server.max_connections,
            old.server.max_connections_per_ip,
            old.server.max_connections_per_minute,
            old.server.max_connections_per_minute_per_network,
            old.server.shutdown_timeout
        ),
        format!(
            "{} {} {} {} {:?}",
            new.server.max_connections,
            new.server.max_connections_per_ip,
            new.server.max_connections_per_minute,
            new.server.max_connections_per_minute_per_network,
            new.server.shutdown_timeout
        ),
    );
    check(
        "[spool]",
        format!("{:?}", old.spool),
        format!("{:?}", new.spool),
    );
    check(
        "[[sink]]",
        format!("{:?}", old.sinks),
        format!("{:?}", new.sinks),
    );
    check(
        "[relay]",
        format!("{:?}", old.relay),
        format!("{:?}", new.relay),
    );
    check(
        "[delivery]",
        format!("{:?}", old.delivery),
        format!("{:?}", new.delivery),
    );
    check(
        "[notices]",
        format!("{:?}", old.notices),
        format!("{:?}", new.notices),
    );
    check("[dns]", format!("{:?}", old.dns), format!("{:?}", new.dns));
    check(
        "[admin]",
        format!("{:?}", old.admin),
        format!("{:?}", new.admin),
    );
    check("[log]", format!("{:?}", old.log), format!("{:?}", new.log));
    notes
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
            cache_size: config.spool.cache_size,
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
        let live = Live::new(gateway, limits);
        let reloader = Arc::new(Reloader {
            live: Arc::clone(&live),
            config: Arc::new(ArcSwap::from_pointee(config.clone())),
            certificate,
            lock: std::sync::Mutex::new(()),
        });
        let shutdown = CancellationToken::new();
        let parts = Parts {
            smtp: Subsystem::new(),
            delivery: Subsystem::new(),
            control: Subsystem::new(),
        };
        let reload: crate::admin::control::ReloadFn = {
            let reloader = Arc::clone(&reloader);
            Arc::new(move || reloader.reload_from_disk())
        };
        // Bound before the daemon says it started, so a CLI call right after finds it.
        match crate::admin::control::listen(
            spool.control_socket_path(),
            sinks.iter().map(|s| s.name.clone()).collect(),
            reload,
        ) {
            Ok(control) => {
                parts
                    .control
                    .tracker
                    .spawn(control.run(spool.clone(), parts.control.token.clone()));
            }
            Err(err) => {
                tracing::error!(error = %err, "control socket failed; `trustgate spool` and `trustgate reload` cannot reach the daemon");
            }
        }
        // The admin HTTP API, when `[admin]` is set: bound now, so a bad address fails the
        // start instead of a later request.
        let admin_addr = match &config.admin {
            Some(admin) => {
                let listener =
                    tokio::net::TcpListener::bind(admin.listen)
                        .await
                        .map_err(|source| StartError::Bind {
                            addrs: vec![admin.listen],
                            source,
                        })?;
                let addr = listener.local_addr().ok();
                let tls = match &admin.tls {
                    Some(t) => Some(server::load_tls(t).map_err(StartError::Tls)?.0),
                    None => None,
                };
                let state = crate::admin::http::ApiState {
                    spool: spool.clone(),
                    config: Arc::clone(&reloader.config),
                };
                let token = parts.control.token.clone();
                parts.control.tracker.spawn(async move {
                    if let Err(err) =
                        crate::admin::tls::serve_maybe_tls(listener, tls, state, token).await
                    {
                        tracing::error!(error = %err, "admin API stopped");
                    }
                });
                addr
            }
            None => None,
        };
        // Retention: finished messages older than `[spool] retention` are purged in the
        // background, in small transactions behind acceptance.
        parts.control.tracker.spawn(crate::spool::retention::run(
            spool.clone(),
            config.spool.retention,
            parts.control.token.clone(),
        ));
        let sink_names: Vec<String> = sinks.iter().map(|s| s.name.clone()).collect();
        // Delivery on a runtime of its own, at a lower priority than acceptance.
        let abort_deliveries = CancellationToken::new();
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
                intake_limits: crate::gateway::intake_limits(config),
            },
            delivery_runtime.handle(),
            &parts.delivery.token,
            &abort_deliveries,
            &parts.delivery.tracker,
        );
        // Clients quiet for a minute leave the message-rate state (the server does the same
        // for connections), so a scan from many addresses does not grow memory.
        let forgetting = Arc::clone(&live);
        let token = parts.smtp.token.clone();
        parts.smtp.tracker.spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    biased;
                    () = token.cancelled() => return,
                    _ = every.tick() => forgetting.load().handler.forget_idle_clients(),
                }
            }
        });
        parts
            .smtp
            .tracker
            .spawn(server.run(live, conn_limits, tls, parts.smtp.token.clone()));
        let spool_for_task = spool.clone();
        let stop = shutdown.clone();
        let grace = config.server.shutdown_timeout;
        let task = tokio::spawn(async move {
            stop.cancelled().await;
            let deadline = tokio::time::Instant::now() + grace;
            // SMTP first: no new message, sessions in DATA finish their commit.
            parts.smtp.stop().await;
            // Then delivery: no new claim or attempt; attempts in flight finish and record
            // their outcome until the same deadline, then are dropped (their leases bring them
            // back at the next start). Deliveries keep running while SMTP drains.
            if !parts.delivery.stop_by(deadline).await {
                tracing::warn!(
                    "deliveries still in flight at the shutdown timeout: dropped; they are sent again after the restart"
                );
                abort_deliveries.cancel();
                parts.delivery.tracker.wait().await;
            }
            // Its tasks are done; the runtime (and what its sinks' pools left) goes off the
            // async threads, where dropping a runtime is allowed.
            let _ = tokio::task::spawn_blocking(move || drop(delivery_runtime)).await;
            parts.control.stop().await;
            // Last: commit whatever is queued and join the writer thread.
            spool_for_task.shutdown().await;
        });
        info!(sinks = ?sink_names, "delivery started");
        if let Some(addr) = admin_addr {
            info!(admin = %addr, "admin API started");
        }
        info!(listen = ?smtp_addrs, listen_tls = ?smtp_tls_addrs, spool = %config.spool.path.display(), "trustgate started");
        Ok(Daemon {
            smtp_addrs,
            admin_addr,
            spool,
            reloader,
            shutdown,
            task,
        })
    }

    /// What SIGHUP, `trustgate reload` and `systemctl reload` do: read the config (with its
    /// includes) and the TLS certificate again, and swap them in whole; see [`Reloader`].
    ///
    /// # Errors
    /// The errors of the new config or certificate (`FILE:LINE:COL: …`); the old ones stay.
    pub fn reload(&self) -> Result<Vec<String>, Vec<String>> {
        self.reloader.reload_from_disk()
    }

    /// Applies `config` as a reload would (for tests that build the config in memory).
    ///
    /// # Errors
    /// As [`Daemon::reload`].
    pub fn reload_with(&self, config: Config) -> Result<Vec<String>, Vec<String>> {
        self.reloader.apply(config)
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
