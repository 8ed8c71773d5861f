//! The command line: `serve`, `check-config`, `spool list|show`.
//!
//! clap types and dispatch only; each subcommand lives in its own file. This and `main.rs` are
//! the only places that use `anyhow`. Exit codes: 0 ok, 1 failure (or invalid config for
//! `check-config`), 2 usage, 78 config invalid when starting the daemon (EX_CONFIG).

pub mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Where the config is found when `--config` is not given and `$TRUSTGATE_CONFIG` is unset.
pub const DEFAULT_CONFIG: &str = "config/trustgate.toml";

/// trustgate: an SMTP gateway that receives e-invoices from trusted suppliers.
#[derive(Debug, Parser)]
#[command(name = "trustgate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The config file option shared by every subcommand.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// Config file [default: $TRUSTGATE_CONFIG, else config/trustgate.toml]
    #[arg(long, short = 'c', value_name = "PATH")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    /// `--config`, else `$TRUSTGATE_CONFIG`, else [`DEFAULT_CONFIG`].
    pub fn path(&self) -> PathBuf {
        self.config
            .clone()
            .or_else(|| std::env::var_os("TRUSTGATE_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the SMTP gateway daemon.
    Serve {
        /// The config file.
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// Parses the command line, runs the subcommand and returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve::run(&config.path()),
    }
}
