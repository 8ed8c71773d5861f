//! The accept loop.
// STUB: owned by the smtp helper.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Handler;
use super::limits::Limits;

/// Connection caps for the accept loop.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Open connections in total.
    pub max_connections: usize,
    /// Open connections per IP.
    pub max_connections_per_ip: usize,
    /// How long shutdown waits for sessions.
    pub shutdown_timeout: std::time::Duration,
}

/// Bound listeners, ready to run.
pub struct Server {
    listeners: Vec<tokio::net::TcpListener>,
}

impl Server {
    /// Binds every address.
    ///
    /// # Errors
    /// The bind error, with the address.
    pub async fn bind(addrs: &[SocketAddr]) -> std::io::Result<Server> {
        let mut listeners = Vec::new();
        for a in addrs {
            listeners.push(tokio::net::TcpListener::bind(a).await?);
        }
        Ok(Server { listeners })
    }

    /// The addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// Accepts connections until `shutdown` is cancelled, then drains.
    pub async fn run<H: Handler>(
        self,
        _handler: Arc<H>,
        _limits: Limits,
        _conn_limits: ConnectionLimits,
        _tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: CancellationToken,
    ) {
        shutdown.cancelled().await;
    }
}

/// Loads a PEM certificate chain and key into a rustls server config.
///
/// # Errors
/// A readable message naming the file.
pub fn load_tls(_tls: &crate::config::Tls) -> Result<Arc<rustls::ServerConfig>, String> {
    Err("not yet implemented".into())
}
