//! systemd's notify protocol (`Type=notify`, sd-notify): READY=1 once the listeners and the
//! control socket are up, RELOADING=1 with MONOTONIC_USEC while a reload runs (systemd 253
//! requires the time), STOPPING=1 at SIGTERM, STATUS= lines for `systemctl status`, and the
//! watchdog when the unit sets `WatchdogSec=`. Every call is a no-op without `NOTIFY_SOCKET`,
//! so the daemon runs the same outside systemd.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::debug!(error = %err, "systemd notification not sent");
    }
}

/// Start-up is done: the daemon accepts mail.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload begins.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(err) => tracing::debug!(error = %err, "no monotonic clock for RELOADING=1"),
    }
}

/// Shutdown begins.
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: finishing sessions in progress"),
    ]);
}

/// A status line for `systemctl status`.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// How often to ping the watchdog: half its interval, when the unit sets one.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

/// Pings the watchdog: the daemon's runtime is alive.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}
