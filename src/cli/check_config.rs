//! `trustgate check-config`: validates a config file the way `serve` would, and says so.
//!
//! Called by [`super::run`] with the resolved config path. It runs the same validator as `serve`
//! ([`crate::config::validate::load`]), so a file it accepts is a file `serve` accepts. It must
//! never change anything: it opens no socket, creates no spool, and writes only to stdout/stderr.

use std::io::Write;
use std::path::Path;

use crate::config::Config;

/// Exit code when the config is valid.
pub const EXIT_OK: i32 = 0;
/// Exit code when the config is invalid (see the exit codes in [`super`]).
pub const EXIT_INVALID: i32 = 1;

/// Validates `path`. On success prints each warning to stderr as `warning: FILE:LINE:COL: …`,
/// `OK: <path>: N organisations, M receivers` to stdout, and returns [`EXIT_OK`]; otherwise prints every error as `FILE:LINE:COL: problem; fix` to stderr
/// and returns [`EXIT_INVALID`].
pub fn run(path: &Path) -> i32 {
    run_to(
        path,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// [`run`] with the output streams given (for tests).
pub fn run_to(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match Config::load(path) {
        Ok(config) => {
            // Valid, but unsafe in production: said, not refused.
            for warning in &config.warnings {
                let _ = writeln!(err, "warning: {warning}");
            }
            // A closed stdout must not turn a valid config into a failure.
            let _ = writeln!(out, "{}", summary(path, &config));
            EXIT_OK
        }
        Err(errors) => {
            let _ = write!(err, "{errors}");
            EXIT_INVALID
        }
    }
}

/// The success line: `OK: <path>: N organisations, M receivers`.
pub fn summary(path: &Path, config: &Config) -> String {
    format!(
        "OK: {}: {} organisations, {} receivers",
        path.display(),
        config.organisations.len(),
        config.receivers.len()
    )
}
