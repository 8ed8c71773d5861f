//! HTTPS for the admin API (`[admin] tls_cert`/`tls_key`): an axum listener that completes
//! the TLS handshake (rustls, the SMTP side's certificate loading) before handing the stream
//! to axum. A handshake that fails or takes longer than [`HANDSHAKE_TIMEOUT`] drops that
//! connection only. Handshakes run one after another: the admin API serves a few operators and
//! batch jobs, not the internet (a non-loopback address needs TLS, and keys).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use super::http::{ApiState, router};

/// How long a client may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener whose connections are TLS.
pub struct TlsListener {
    inner: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // EMFILE and the like: wait a moment rather than spin.
                    tracing::warn!(error = %err, "admin API: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(err)) => {
                    tracing::info!(peer = %addr, error = %err, "admin API: TLS handshake failed")
                }
                Err(_) => tracing::info!(peer = %addr, "admin API: TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Serves the API on `listener`, over TLS when `tls` is set, until `stop`.
///
/// # Errors
/// The listener fails.
pub async fn serve_maybe_tls(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: ApiState,
    stop: CancellationToken,
) -> std::io::Result<()> {
    match tls {
        None => super::http::serve(listener, state, stop).await,
        Some(config) => {
            let listener = TlsListener {
                inner: listener,
                acceptor: TlsAcceptor::from(config),
            };
            axum::serve(listener, router(state).into_make_service())
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        }
    }
}
