//! Shutdown in order: one [`Subsystem`] (a cancellation token and a task tracker) per part of
//! the daemon, stopped one after the other by `daemon`.
//!
//! The order matters for "nothing lost": SMTP first (no new message; sessions in DATA finish
//! their commit), then delivery (dispatchers stop claiming; attempts in flight finish until
//! `[server] shutdown_timeout` from the signal, then are dropped and their leases released at
//! the next start), then the control socket, and the spool writer
//! last, after everything that may still write through it.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The token and the tasks of one part of the daemon.
#[derive(Debug, Clone, Default)]
pub struct Subsystem {
    /// Cancelled when the part is to stop.
    pub token: CancellationToken,
    /// Its tasks, waited for after the token is cancelled.
    pub tracker: TaskTracker,
}

impl Subsystem {
    /// A part that is running.
    pub fn new() -> Subsystem {
        Subsystem::default()
    }

    /// Cancels the part and waits until all its tasks have ended.
    pub async fn stop(&self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Cancels the part and waits until its tasks have ended or `deadline` passed; returns
    /// whether they all ended. Its tasks decide what cancellation means (delivery attempts in
    /// flight go on to their outcome).
    pub async fn stop_by(&self, deadline: tokio::time::Instant) -> bool {
        self.token.cancel();
        self.tracker.close();
        tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}
