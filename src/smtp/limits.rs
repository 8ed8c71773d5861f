//! Typed session limits, taken from the validated config once and shared by every connection.
//!
//! Read by `smtp::session` (sizes, counts) and `smtp::conn`/`smtp::server` (times). Holds no
//! logic beyond defaults; it never reads files or the clock.

use std::time::Duration;

/// Every limit a session enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Name announced in the banner and EHLO reply.
    pub hostname: String,
    /// Largest message in bytes (SIZE at MAIL and while streaming DATA; RFC 1870).
    pub max_message_size: u64,
    /// Recipients per transaction (RFC 5321 4.5.3.1.8 asks for at least 100).
    pub max_recipients: usize,
    /// Longest command line, CRLF included (RFC 5321 4.5.3.1.4: 512). smtp-proto would accept
    /// 4096; the session enforces this limit itself while framing lines.
    pub max_line_length: usize,
    /// Transactions per session.
    pub max_messages_per_session: usize,
    /// Protocol errors before 421.
    pub max_errors: usize,
    /// Idle time between commands.
    pub command_timeout: Duration,
    /// Idle time inside DATA.
    pub data_timeout: Duration,
    /// The whole session.
    pub session_timeout: Duration,
    /// How long to wait for the client to talk before sending the banner (pregreet detection,
    /// as Postfix postscreen's greet wait). Not in the config: zero (no delay) by default; the
    /// check right before the banner is made either way.
    pub pregreet_wait: Duration,
}

impl Limits {
    /// The limits of `[server]`.
    pub fn from_config(server: &crate::config::Server) -> Limits {
        Limits {
            hostname: server.hostname.clone(),
            max_message_size: server.max_message_size,
            max_recipients: server.max_recipients,
            max_line_length: server.max_line_length,
            max_messages_per_session: server.max_messages_per_session,
            max_errors: server.max_errors,
            command_timeout: server.command_timeout,
            data_timeout: server.data_timeout,
            session_timeout: server.session_timeout,
            pregreet_wait: Duration::ZERO,
        }
    }
}

impl Default for Limits {
    /// RFC 5321 values and modest sizes; for tests and tools. The daemon uses
    /// [`Limits::from_config`].
    fn default() -> Limits {
        Limits {
            hostname: "localhost".to_string(),
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_line_length: 512,
            max_messages_per_session: 100,
            max_errors: 10,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(180),
            session_timeout: Duration::from_secs(1800),
            pregreet_wait: Duration::ZERO,
        }
    }
}
