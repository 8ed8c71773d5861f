//! `trustgate spool list|show`: inspect the spool (work in progress by the spool helper).

use std::path::Path;

/// `trustgate spool ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SpoolCommand {
    /// List the stored messages, oldest first.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one message.
    Show {
        /// The message id, as shown by `list` and in the 250 reply.
        id: String,
        /// Print the raw message bytes instead.
        #[arg(long)]
        raw: bool,
    },
}

/// Runs a spool subcommand against the spool at `spool_dir`; returns the exit code.
///
/// # Errors
/// Not yet implemented.
pub fn run(_cmd: SpoolCommand, _spool_dir: &Path) -> anyhow::Result<i32> {
    anyhow::bail!("not implemented yet")
}
