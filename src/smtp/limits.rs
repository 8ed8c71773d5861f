//! Typed session limits, taken from the validated config once per connection.
// STUB: owned by the smtp helper.

use std::time::Duration;

/// Every limit a session enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Name announced in the banner and EHLO reply.
    pub hostname: String,
    /// Largest message in bytes.
    pub max_message_size: u64,
    /// Recipients per transaction.
    pub max_recipients: usize,
    /// Longest command line, CRLF included.
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
        }
    }
}
