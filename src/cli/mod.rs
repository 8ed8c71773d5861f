//! The command line: `serve`, `check-config`, `inspect`, `spool ...`, and the config edits
//! `receiver ...`, `sender ...`, `senders list`, `organisation import`; `man` and
//! `completions` for packaging.
//!
//! clap types and dispatch only; each subcommand lives in its own file. This and `main.rs` are
//! the only places that use `anyhow`. Exit codes: 0 ok, 1 failure (or invalid config for
//! `check-config`), 2 usage, 78 config invalid when starting the daemon (EX_CONFIG).

pub mod apikey;
pub mod check_config;
pub mod docs;
pub mod inspect;
pub mod lifecycle;
pub mod organisation;
pub mod receiver;
mod recover;
pub mod serve;
pub mod spool;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Where the config is found when `--config` is not given and `$TRUSTGATE_CONFIG` is unset.
pub const DEFAULT_CONFIG: &str = "config/trustgate.toml";

/// trustgate: an SMTP gateway that receives e-invoices from trusted suppliers.
#[derive(Debug, Parser)]
#[command(name = "trustgate", version, about)]
pub struct Cli {
    /// The config file.
    #[command(flatten)]
    pub config: ConfigArg,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The config file option shared by every subcommand.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// Config file [default: $TRUSTGATE_CONFIG, else config/trustgate.toml]
    #[arg(long, short = 'c', value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    /// `--config`, else `$TRUSTGATE_CONFIG`, else [`DEFAULT_CONFIG`].
    pub fn path(&self) -> PathBuf {
        self.config
            .clone()
            .or_else(|| {
                std::env::var_os("TRUSTGATE_CONFIG")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the SMTP gateway daemon.
    Serve {
        /// `json`: one JSON object per log line, for log shippers [default: text].
        #[arg(long, value_enum, value_name = "FORMAT")]
        log_format: Option<crate::telemetry::LogFormat>,
    },
    /// Validate the config: exit 0 when valid, else every error as FILE:LINE:COL, exit 1.
    CheckConfig,
    /// Inspect invoice files (XML, hybrid PDF, or a whole e-mail) as the gateway would; exit 1
    /// when any fatal rule fails.
    Inspect {
        /// Files to inspect.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show what the spool holds (asks the running daemon, else opens the store directly).
    Spool {
        /// list, show or retry.
        #[command(subcommand)]
        command: spool::SpoolCommand,
    },
    /// Generated receiving addresses in the config: add, list, remove.
    Receiver {
        /// add, list or remove.
        #[command(subcommand)]
        command: receiver::ReceiverCommand,
    },
    /// A receiver's trusted senders in the config: add, remove.
    Sender {
        /// add or remove.
        #[command(subcommand)]
        command: receiver::SenderCommand,
    },
    /// Every trusted sender in the config.
    Senders {
        /// list.
        #[command(subcommand)]
        command: receiver::SendersCommand,
    },
    /// Email a trusted sender's contact an invitation: where to send invoices, from which
    /// identity, in which formats, and how to set that up in an ERP. Queued and retried like
    /// any delivery; prints the invitation's spool id.
    Invite {
        /// The receiving address.
        receiver: String,
        /// The contact of the trusted sender to invite.
        #[arg(long, value_name = "CONTACT")]
        sender: String,
    },
    /// Tell the running daemon to reload its config (with its includes) and TLS certificate,
    /// as SIGHUP does. Exits 1 with the errors (`FILE:LINE:COL: …`) when the new config is
    /// refused; the daemon then keeps running on the old one.
    Reload,
    /// API keys of the admin HTTP API: create, list, revoke.
    Apikey {
        /// create, list or revoke.
        #[command(subcommand)]
        command: apikey::ApiKeyCommand,
    },
    /// Organisations in the config: import from CSV.
    Organisation {
        /// import.
        #[command(subcommand)]
        command: organisation::OrganisationCommand,
    },
    /// Print the OpenAPI 3.1 description of the admin HTTP API (docs/openapi.json) as JSON.
    /// Needs no config.
    Openapi,
    /// Write the man pages, trustgate.8 and one per subcommand (trustgate-spool-list.8, ...),
    /// into DIR. Needs no config.
    Man {
        /// The directory to write into (created when missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Print the completion script for SHELL (bash, zsh, fish, elvish, powershell). Needs no
    /// config.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Parses the command line, runs the subcommand and returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { log_format } => serve::run(&cli.config.path(), log_format),
        Command::CheckConfig => check_config::run(&cli.config.path()),
        Command::Inspect { files, json } => {
            match inspect::run(&files, json, &mut std::io::stdout().lock()) {
                Ok(code) => code,
                Err(err) => {
                    eprintln!("trustgate: {err:#}");
                    1
                }
            }
        }
        Command::Spool { command } => with_config(&cli.config.path(), |config| {
            spool::run_with_config(command, config)
        }),
        Command::Receiver { command } => report(receiver::run_receiver(
            command,
            &cli.config.path(),
            &mut std::io::stdout().lock(),
        )),
        Command::Sender { command } => report(receiver::run_sender(command, &cli.config.path())),
        Command::Senders { command } => report(receiver::run_senders(
            command,
            &cli.config.path(),
            &mut std::io::stdout().lock(),
        )),
        Command::Invite { receiver, sender } => with_config(&cli.config.path(), |config| {
            lifecycle::invite(config, &receiver, &sender, &mut std::io::stdout().lock())
        }),
        Command::Reload => reload(&cli.config.path()),
        Command::Apikey { command } => with_config(&cli.config.path(), |config| {
            apikey::run(command, config, &mut std::io::stdout().lock())
        }),
        Command::Organisation { command } => report(organisation::run(
            command,
            &cli.config.path(),
            &mut std::io::stdout().lock(),
        )),
        Command::Openapi => openapi(&mut std::io::stdout().lock()),
        Command::Man { out } => docs::man(&out),
        Command::Completions { shell } => docs::completions(shell, &mut std::io::stdout().lock()),
    }
}

/// `trustgate openapi`: the document `docs/openapi.json` holds.
fn openapi(out: &mut impl std::io::Write) -> i32 {
    let written = crate::admin::openapi::to_json()
        .map_err(std::io::Error::other)
        .and_then(|text| out.write_all(text.as_bytes()));
    match written {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("trustgate: cannot print the OpenAPI document: {err}");
            1
        }
    }
}

/// `trustgate reload`: asks the daemon over its control socket. The daemon reads the config
/// itself and answers with what it applied or why it refused. A config with errors is sent too
/// when its `[spool] path` can still be read, so the daemon logs the refusal (and systemd
/// hears RELOADING=1) as for SIGHUP; its errors are printed here only when no daemon answers.
fn reload(path: &std::path::Path) -> i32 {
    use crate::admin::control::{Request, Response};
    let (spool, local_errors) = match crate::config::Config::load(path) {
        Ok(c) => (c.spool.path, None),
        Err(errors) => match crate::config::spool::path_in_file(path) {
            Some(spool) => (spool, Some(errors)),
            None => {
                eprint!("{errors}");
                eprintln!("trustgate: not reloaded: the daemon keeps running on its old config");
                return 1;
            }
        },
    };
    let socket = crate::spool::control_socket_path(&spool);
    match crate::admin::control::request(&socket, &Request::Reload) {
        Ok(Response::Reloaded { notes }) => {
            for note in &notes {
                eprintln!("trustgate: {note}");
            }
            eprintln!("trustgate: reloaded");
            0
        }
        Ok(Response::ReloadFailed { errors }) => {
            for error in &errors {
                eprintln!("{error}");
            }
            eprintln!("trustgate: not reloaded: the daemon keeps running on its old config");
            1
        }
        Ok(other) => {
            eprintln!("trustgate: unexpected answer from the daemon: {other:?}");
            1
        }
        Err(err) => {
            if let Some(errors) = local_errors {
                eprint!("{errors}");
                eprintln!("trustgate: not reloaded: the config has errors");
            }
            eprintln!(
                "trustgate: no daemon answers on {} ({err}): nothing to reload",
                socket.display()
            );
            1
        }
    }
}

/// The exit code of a subcommand's result: its own, or 1 after printing the error on stderr.
fn report(result: anyhow::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("trustgate: {err:#}");
            1
        }
    }
}

/// Loads the config for a subcommand that only reads it; reports errors like `check-config`.
fn with_config(
    path: &std::path::Path,
    f: impl FnOnce(&crate::config::Config) -> anyhow::Result<i32>,
) -> i32 {
    let config = match crate::config::Config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            eprint!("{errors}");
            return serve::EXIT_CONFIG;
        }
    };
    match f(&config) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("trustgate: {err:#}");
            1
        }
    }
}
