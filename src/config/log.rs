//! `[log]`: how the daemon writes its log lines.
//!
//! The validated [`Log`] and the check that builds it from [`raw::Log`], called by
//! [`super::validate`]. `--log-format` on the command line overrides it.

use super::defaults;
use super::raw;
use super::validate::Validator;

/// `[log]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Log {
    /// How each line is written.
    pub format: LogFormat,
}

impl Default for Log {
    /// The values of a config without `[log]` (see [`defaults`]).
    fn default() -> Log {
        Log {
            format: defaults::LOG_FORMAT,
        }
    }
}

/// `log.format`: how each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (`"text"`, the default).
    Text,
    /// One JSON object per line, for log shippers (`"json"`).
    Json,
}

impl LogFormat {
    /// The config word: `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl Validator<'_> {
    pub(super) fn log(&mut self, raw: &raw::Log) -> Log {
        Log {
            format: self.choice(
                raw.format.as_ref(),
                "log",
                "format",
                &[("text", LogFormat::Text), ("json", LogFormat::Json)],
                defaults::LOG_FORMAT,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::testing::*;

    #[test]
    fn format_is_text_or_json() {
        assert_eq!(valid(HEAD).log.format, LogFormat::Text);
        assert_eq!(valid(&format!("{HEAD}[log]\n")).log, Log::default());
        let c = valid(&format!("{HEAD}[log]\nformat = \"json\"\n"));
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(
            [LogFormat::Text.as_str(), LogFormat::Json.as_str()],
            ["text", "json"]
        );
        assert_eq!(
            errors(&format!("{HEAD}[log]\nformat = \"JSON\"\n")),
            [
                "t.toml:7:10: log: unknown format \"JSON\"; did you mean \"json\"? write one of \"text\", \"json\""
            ]
        );
    }
}
