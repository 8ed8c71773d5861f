//! The accept loop: listeners, connection caps, pregreet check, TLS acceptor, graceful drain.
//!
//! Called by the daemon (`Server::bind`, then `Server::run`). Spawns one task per connection
//! (`smtp::conn`) on a [`TaskTracker`]. It never exits on a transient accept error (EMFILE,
//! ECONNABORTED): it backs off and goes on (STYLE 3.6). It never blocks the accept loop on a
//! client: refusals are written from their own short task.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::Handler;
use super::conn::{self, ConnContext};
use arc_swap::ArcSwap;

use super::limits::Limits;
use super::reply;

/// Back-off after an accept error that is not about one connection (EMFILE, ENFILE, ENOBUFS):
/// it starts here and doubles up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How long writing the 421 "too many connections" may take.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection caps for the accept loop.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Open connections in total.
    pub max_connections: usize,
    /// Open connections per IP.
    pub max_connections_per_ip: usize,
    /// New connections per minute from one IP address (0: no limit).
    pub max_connections_per_minute: u32,
    /// New connections per minute from one /24 (IPv4) or /64 (IPv6) (0: no limit).
    pub max_connections_per_minute_per_network: u32,
    /// How long shutdown waits for sessions.
    pub shutdown_timeout: std::time::Duration,
}

/// Bound listeners, ready to run.
pub struct Server {
    /// Each listener, and whether it speaks TLS from the first byte (implicit TLS).
    listeners: Vec<(TcpListener, bool)>,
}

impl Server {
    /// Binds every address.
    ///
    /// # Errors
    /// The bind error, with the address.
    pub async fn bind(addrs: &[SocketAddr]) -> std::io::Result<Server> {
        Server::bind_with_tls(addrs, &[]).await
    }

    /// Binds every address of `addrs` (plain SMTP, STARTTLS offered when TLS is configured)
    /// and of `tls_addrs` (implicit TLS: the handshake comes first).
    ///
    /// # Errors
    /// The bind error, with the address.
    pub async fn bind_with_tls(
        addrs: &[SocketAddr],
        tls_addrs: &[SocketAddr],
    ) -> std::io::Result<Server> {
        let mut listeners = Vec::new();
        for (a, implicit) in addrs
            .iter()
            .map(|a| (a, false))
            .chain(tls_addrs.iter().map(|a| (a, true)))
        {
            let listener = TcpListener::bind(a)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {a}: {e}")))?;
            listeners.push((listener, implicit));
        }
        Ok(Server { listeners })
    }

    /// The plain addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(false)
    }

    /// The implicit-TLS addresses actually bound.
    pub fn local_tls_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(true)
    }

    fn addrs(&self, implicit: bool) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter(|(_, i)| *i == implicit)
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// Accepts connections until `shutdown` is cancelled, then drains: listeners close at once,
    /// each session answers 421 4.3.2 at its next command boundary (one inside DATA finishes
    /// its message first), and after `shutdown_timeout` the remaining sessions are told 421 and
    /// closed wherever they are, except a handler still judging a message, which gets one more
    /// `shutdown_timeout`. Returns when every session has ended (or that last grace is over).
    pub async fn run<H: Handler>(
        self,
        live: Arc<ArcSwap<Live<H>>>,
        conn_limits: ConnectionLimits,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: CancellationToken,
    ) {
        let shared = Arc::new(Shared {
            live,
            tls: tls.map(TlsAcceptor::from),
            counts: Mutex::new(Counts::default()),
            conn_limits: conn_limits.clone(),
            connection_rate: super::rate::RateLimit::per_minute(
                conn_limits.max_connections_per_minute,
                conn_limits.max_connections_per_minute_per_network,
            ),
            next_sid: AtomicU64::new(1),
            shutdown: shutdown.clone(),
            hard_stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
        });
        let mut accept_tasks = Vec::new();
        for (listener, implicit) in self.listeners {
            accept_tasks.push(tokio::spawn(accept_loop(
                listener,
                implicit,
                shared.clone(),
            )));
        }
        // Clients quiet for a minute are forgotten, so the rate state stays small.
        let forgetting = shared.clone();
        let forget = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    biased;
                    () = forgetting.shutdown.cancelled() => return,
                    _ = every.tick() => forgetting.connection_rate.forget_idle(),
                }
            }
        });
        shutdown.cancelled().await;
        let _ = forget.await;
        for task in accept_tasks {
            let _ = task.await;
        }
        info!(
            sessions = shared.tracker.len(),
            "listeners closed; draining sessions"
        );
        shared.tracker.close();
        let grace = conn_limits.shutdown_timeout;
        if timeout(grace, shared.tracker.wait()).await.is_err() {
            warn!(
                sessions = shared.tracker.len(),
                "shutdown timeout reached; closing remaining sessions"
            );
            shared.hard_stop.cancel();
            if timeout(grace, shared.tracker.wait()).await.is_err() {
                warn!(
                    sessions = shared.tracker.len(),
                    "sessions still busy after the shutdown timeout; abandoning them"
                );
            }
        }
        info!("smtp server stopped");
    }
}

/// What a session runs on: the handler and the limits, swapped whole by a reload
/// ([`ArcSwap`]). A session takes the current one when it starts and keeps it to its end, so
/// sessions in progress finish on the config they started with.
pub struct Live<H> {
    /// The handler (the gateway).
    pub handler: Arc<H>,
    /// The session limits.
    pub limits: Arc<Limits>,
}

impl<H> Live<H> {
    /// A live pair, ready to be swapped in.
    pub fn new(handler: Arc<H>, limits: Limits) -> Arc<ArcSwap<Live<H>>> {
        Arc::new(ArcSwap::from_pointee(Live {
            handler,
            limits: Arc::new(limits),
        }))
    }
}

/// State shared by the accept loops and counted by the sessions.
struct Shared<H> {
    live: Arc<ArcSwap<Live<H>>>,
    tls: Option<TlsAcceptor>,
    /// Open connections, in total and per IP, guarded by a short std mutex (no await inside).
    counts: Mutex<Counts>,
    conn_limits: ConnectionLimits,
    /// New connections per minute, per IP and per network.
    connection_rate: super::rate::RateLimit,
    next_sid: AtomicU64,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
    tracker: TaskTracker,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A counted connection; dropping it frees the slot.
struct Slot<H> {
    shared: Arc<Shared<H>>,
    ip: IpAddr,
}

impl<H> Drop for Slot<H> {
    fn drop(&mut self) {
        let mut counts = self
            .shared
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

impl<H> Shared<H> {
    /// Takes a connection slot, or `None` when over a cap (SMTP-HARDENING 18).
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot<H>> {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let for_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.conn_limits.max_connections
            || for_ip >= self.conn_limits.max_connections_per_ip
        {
            return None;
        }
        counts.total += 1;
        counts.per_ip.insert(ip, for_ip + 1);
        Some(Slot {
            shared: self.clone(),
            ip,
        })
    }
}

async fn accept_loop<H: Handler>(
    listener: TcpListener,
    implicit_tls: bool,
    shared: Arc<Shared<H>>,
) {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        let accepted = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                start_session(&shared, stream, peer, implicit_tls);
            }
            Err(e) if is_per_connection_error(&e) => {
                debug!(error = %e, "accept failed for one connection")
            }
            Err(e) => {
                // EMFILE, ENFILE, ENOBUFS, ENOMEM: back off and go on; never exit.
                warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                tokio::select! {
                    biased;
                    () = shared.shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// Errors that concern only the connection being accepted; the next accept may succeed at once.
fn is_per_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}

fn start_session<H: Handler>(
    shared: &Arc<Shared<H>>,
    stream: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
) {
    let sid = shared.next_sid.fetch_add(1, Ordering::Relaxed);
    if let Err(exceeded) = shared.connection_rate.check(peer.ip()) {
        tracing::debug!(sid, over = ?exceeded, "connection rate exceeded");
        crate::observe::connection_refused(
            sid,
            peer,
            "connection_rate",
            (reply::CONNECTION_RATE.code, reply::CONNECTION_RATE.status),
        );
        shared
            .tracker
            .spawn(refuse_with(stream, reply::CONNECTION_RATE));
        return;
    }
    let Some(slot) = shared.admit(peer.ip()) else {
        crate::observe::connection_refused(
            sid,
            peer,
            "too_many_connections",
            (
                reply::TOO_MANY_CONNECTIONS.code,
                reply::TOO_MANY_CONNECTIONS.status,
            ),
        );
        shared.tracker.spawn(refuse(stream));
        return;
    };
    let shared2 = shared.clone();
    // The config of the moment, for the whole session.
    let live = shared.live.load_full();
    shared.tracker.spawn(async move {
        let _slot = slot;
        let _ = stream.set_nodelay(true);
        // A TLS client speaks first (its ClientHello): pregreeting is an SMTP notion.
        let (stream, pregreet) = if implicit_tls {
            (stream, false)
        } else {
            let Some(checked) = check_pregreet(stream, live.limits.pregreet_wait).await else {
                return;
            };
            checked
        };
        let ctx = ConnContext {
            sid,
            peer,
            handler: live.handler.clone(),
            limits: live.limits.clone(),
            tls: shared2.tls.clone(),
            pregreet,
            implicit_tls,
            shutdown: shared2.shutdown.clone(),
            hard_stop: shared2.hard_stop.clone(),
        };
        conn::run(stream, ctx).await;
    });
}

/// 421 4.7.0 and close, for a connection over the caps.
async fn refuse(stream: TcpStream) {
    refuse_with(stream, reply::TOO_MANY_CONNECTIONS).await;
}

/// Greets with `reply` instead of the banner, and closes.
async fn refuse_with(mut stream: TcpStream, reply: super::Reply) {
    let _ = timeout(REFUSAL_WRITE_TIMEOUT, async {
        stream.write_all(&reply.to_wire()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Pregreet detection (Postfix postscreen; SMTP-HARDENING 1): whether the client has sent bytes
/// before our banner. Waits up to `wait` for input (zero by default), then checks the socket
/// once more with a non-blocking `MSG_PEEK` through the std socket, so that bytes already
/// queued are seen even when the runtime has not polled the socket yet. Nothing is consumed.
/// Returns `None` when the socket is unusable.
async fn check_pregreet(stream: TcpStream, wait: Duration) -> Option<(TcpStream, bool)> {
    let mut probe = [0u8; 1];
    if !wait.is_zero()
        && let Ok(Ok(n)) = timeout(wait, stream.peek(&mut probe)).await
    {
        return Some((stream, n > 0));
    }
    // tokio sockets are non-blocking, and `into_std` keeps them so: `peek` returns WouldBlock
    // when nothing is queued.
    let std = stream.into_std().ok()?;
    let pregreet = matches!(std.peek(&mut probe), Ok(n) if n > 0);
    let stream = TcpStream::from_std(std).ok()?;
    Some((stream, pregreet))
}

/// The STARTTLS and implicit-TLS certificate, reloaded in place (SIGHUP): new handshakes get
/// the new one, and sessions already running keep theirs, so a renewed certificate never
/// drops a session.
#[derive(Debug)]
pub struct Certificate {
    files: crate::config::Tls,
    current: std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>,
}

impl Certificate {
    /// Reads the certificate and key files again; on any error the old pair stays in use.
    ///
    /// # Errors
    /// What is wrong with the files, naming them.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = read_certified_key(&self.files)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }
}

impl rustls::server::ResolvesServerCert for Certificate {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// The certificate chain and key of `tls`, checked to belong together.
fn read_certified_key(tls: &crate::config::Tls) -> Result<rustls::sign::CertifiedKey, String> {
    let cert_pem = std::fs::read(&tls.certificate)
        .map_err(|e| format!("cannot read certificate {}: {e}", tls.certificate.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "cannot parse certificate {}: {e}",
                tls.certificate.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "no PEM certificate found in {}",
            tls.certificate.display()
        ));
    }
    let key_pem = std::fs::read(&tls.key)
        .map_err(|e| format!("cannot read private key {}: {e}", tls.key.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("cannot parse private key {}: {e}", tls.key.display()))?;
    let mismatch = |e: &dyn std::fmt::Display| {
        format!(
            "certificate {} and key {} do not form a usable pair: {e}",
            tls.certificate.display(),
            tls.key.display()
        )
    };
    let certified =
        rustls::sign::CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider())
            .map_err(|e| mismatch(&e))?;
    Ok(certified)
}

/// The TLS server config for `[server.tls]` (TLS 1.2 and 1.3 only), and its certificate,
/// which [`Certificate::reload`] replaces in place.
///
/// # Errors
/// A file cannot be read or parsed, or the key does not match the certificate.
pub fn load_tls(
    tls: &crate::config::Tls,
) -> Result<(Arc<rustls::ServerConfig>, Arc<Certificate>), String> {
    let certificate = Arc::new(Certificate {
        current: std::sync::RwLock::new(Arc::new(read_certified_key(tls)?)),
        files: tls.clone(),
    });
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("tls setup: {e}"))?
    .with_no_client_auth()
    .with_cert_resolver(Arc::clone(&certificate) as Arc<dyn rustls::server::ResolvesServerCert>);
    Ok((Arc::new(config), certificate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_are_classified() {
        use std::io::{Error, ErrorKind};
        assert!(is_per_connection_error(&Error::from(
            ErrorKind::ConnectionAborted
        )));
        // EMFILE
        assert!(!is_per_connection_error(&Error::from_raw_os_error(24)));
    }

    #[test]
    fn load_tls_names_the_missing_file() {
        let tls = crate::config::Tls {
            certificate: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let err = load_tls(&tls).err().unwrap_or_default();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }
}
