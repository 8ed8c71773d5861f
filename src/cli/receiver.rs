//! `trustgate receiver add|list|remove`, `trustgate sender add|remove` and `trustgate senders
//! list`: the receiving addresses and their trusted senders, edited in the config file.
//!
//! Called by `cli::run`. Every change goes through [`crate::config::edit`]: comments and layout
//! stay, the result is validated before it is written, and the write is atomic. A new receiver
//! goes into the main file, or into the included file `--file` names; `receiver remove` and
//! `sender add|remove` edit the file that defines the receiver. Postfix habits:
//! success is quiet (`receiver add` prints only the new address), errors go to stderr with exit
//! status 1. A running daemon is told to reload ([`tell_daemon`]), and the CLI says on stderr
//! what became of it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::address::{Address, Domain};
use crate::config::edit::{self, ConfigFile, NewReceiver, NewSender, TakenAddresses, Trust};
use crate::config::{Config, Language};

/// `trustgate receiver ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ReceiverCommand {
    /// Generate a new receiving address for an organisation and one document type, write it
    /// into the config, and print it.
    Add {
        /// The id of an existing [[organisation]].
        #[arg(long, value_name = "ID")]
        organisation: String,
        /// What arrives at the address, e.g. purchase-invoice.
        #[arg(long, value_name = "TYPE")]
        document_type: String,
        /// The address's domain [default: [server] receiver_domain, else the domain of the
        /// existing receivers].
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
        /// Write the [[receiver]] into this file instead of the main config: relative to the
        /// main config's directory, created when missing, and one that an include of the main
        /// config names (e.g. conf.d/acme.toml with include = ["conf.d/*.toml"]).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
    },
    /// List the receivers: address, organisation(s), document type, number of trusted senders.
    List {
        /// Print a JSON array of objects instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a receiver, with its trusted senders.
    Remove {
        /// The receiver's address (its local part in any case).
        address: String,
    },
}

/// `trustgate sender ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SenderCommand {
    /// Trust a supplier to send to a receiver: a whole domain, one address, or the
    /// organisation's verified users.
    #[command(group(clap::ArgGroup::new("trust").required(true).args(["domain", "address", "verified_users"])))]
    Add {
        /// The receiver's address.
        receiver: String,
        /// The supplier's name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Where mail about this supplier's invoices goes.
        #[arg(long, value_name = "ADDRESS")]
        contact: String,
        /// Trust any address at this domain.
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
        /// Trust exactly this address.
        #[arg(long, value_name = "ADDRESS")]
        address: Option<String>,
        /// Trust the verified users of the receiver's organisation.
        #[arg(long)]
        verified_users: bool,
        /// The language of mail to the contact [default: nl].
        #[arg(long, value_enum)]
        language: Option<LanguageArg>,
    },
    /// Stop trusting the sender(s) of a receiver with this contact.
    Remove {
        /// The receiver's address.
        receiver: String,
        /// The contact of the trusted sender to remove.
        #[arg(long, value_name = "ADDRESS")]
        contact: String,
    },
    /// Refuse the sender with this contact (550 5.7.1, "disabled by the receiving
    /// organisation") until it is enabled again; kept in the spool, not the config.
    Disable {
        /// The receiver's address.
        receiver: String,
        /// The trusted sender's contact.
        #[arg(long, value_name = "ADDRESS")]
        contact: String,
    },
    /// Accept a disabled sender again.
    Enable {
        /// The receiver's address.
        receiver: String,
        /// The trusted sender's contact.
        #[arg(long, value_name = "ADDRESS")]
        contact: String,
    },
}

/// `trustgate senders ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SendersCommand {
    /// List every trusted sender of every receiver.
    List {
        /// Print a JSON array of objects instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `--language`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LanguageArg {
    /// Dutch.
    Nl,
    /// English.
    En,
}

impl From<LanguageArg> for Language {
    fn from(l: LanguageArg) -> Language {
        match l {
            LanguageArg::Nl => Language::Nl,
            LanguageArg::En => Language::En,
        }
    }
}

/// After an edit: tells a running daemon to reload (as `trustgate reload` does) and says on
/// stderr what became of it, so stdout stays the command's output. Without a daemon the files
/// are read at its next start.
pub fn tell_daemon(config: &Config, paths: &[PathBuf]) {
    use crate::admin::control::{Request, Response, request};
    let mut shown: Vec<String> = paths
        .iter()
        .take(3)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > 3 {
        shown.push(format!("{} more files", paths.len() - 3));
    }
    let shown = match shown.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => return,
    };
    let socket = crate::spool::control_socket_path(&config.spool.path);
    match request(&socket, &Request::Reload) {
        Ok(Response::Reloaded { notes }) => {
            eprintln!("trustgate: {shown} changed; the running daemon reloaded it");
            for note in notes {
                eprintln!("trustgate: {note}");
            }
        }
        Ok(Response::ReloadFailed { errors }) => {
            eprintln!(
                "trustgate: {shown} changed, but the running daemon refused to reload it and keeps its old config:"
            );
            for error in errors {
                eprintln!("{error}");
            }
        }
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            eprintln!(
                "trustgate: {shown} changed; no daemon is running (it reads the config when it starts)"
            );
        }
        Ok(_) | Err(_) => {
            eprintln!(
                "trustgate: {shown} changed; the daemon could not be asked to reload: run `trustgate reload`"
            );
        }
    }
}

/// The domain of new addresses: `--domain`, else `[server] receiver_domain`, else the one
/// domain every existing receiver has.
///
/// # Errors
/// `--domain` is not a domain; or none was given and the receivers have no one domain.
pub fn receiver_domain(config: &Config, given: Option<&str>) -> anyhow::Result<Domain> {
    if let Some(given) = given {
        return Domain::parse(given.trim()).map_err(|e| {
            anyhow::anyhow!(
                "--domain \"{given}\" {e}; write the domain, e.g. --domain trust.example.com"
            )
        });
    }
    if let Some(domain) = &config.server.receiver_domain {
        return Ok(domain.clone());
    }
    let mut domains: Vec<&Domain> = Vec::new();
    for r in &config.receivers {
        if !domains.contains(&r.address.domain()) {
            domains.push(r.address.domain());
        }
    }
    match domains.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "no domain for the address: pass --domain trust.example.com, or set receiver_domain in [server] of {}",
            config.source.display()
        ),
        several => bail!(
            "the receivers have several domains ({}); pass --domain with the one to use, or set receiver_domain in [server] of {}",
            several
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            config.source.display()
        ),
    }
}

/// Checks a document type as the validator does.
///
/// # Errors
/// When it is not a valid name.
pub fn document_type(written: &str) -> anyhow::Result<String> {
    let t = written.trim();
    if !crate::config::validate::is_id(t) {
        bail!(
            "document type \"{}\" is not a valid name; use lower-case letters, digits, - or _, e.g. purchase-invoice",
            t.escape_debug()
        );
    }
    Ok(t.to_string())
}

fn parse_address(what: &str, written: &str) -> anyhow::Result<Address> {
    Address::parse(written.trim()).map_err(|e| {
        anyhow::anyhow!("{what} {e}; write a plain address, e.g. billing@supplier.example")
    })
}

/// Runs `receiver ...` on the config at `path`; returns the exit code.
///
/// # Errors
/// The config cannot be read or is invalid, or the edit is refused (nothing written).
pub fn run_receiver(cmd: ReceiverCommand, path: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cmd {
        ReceiverCommand::Add {
            organisation,
            document_type: written_type,
            domain,
            file: into,
        } => {
            let mut file = ConfigFile::open(path)?;
            let config = &file.config;
            if !config.organisations.iter().any(|o| o.id == organisation) {
                bail!(
                    "no organisation \"{}\" in {}; add its [[organisation]] first (or trustgate organisation import)",
                    organisation.escape_debug(),
                    config.source.display()
                );
            }
            let document_type = document_type(&written_type)?;
            let domain = receiver_domain(config, domain.as_deref())?;
            let length = config.server.receiver_address_length;
            let address = TakenAddresses::of(config).generate(&mut rand::rng(), &domain, length)?;
            let doc = match &into {
                Some(written) => file.file_doc(written)?,
                None => &mut file.doc,
            };
            edit::add_receiver(
                doc,
                &NewReceiver {
                    address: &address,
                    organisation: &organisation,
                    document_type: &document_type,
                },
            )?;
            let (config, written) = file.save_files()?;
            writeln!(out, "{address}")?;
            tell_daemon(&config, &written);
        }
        ReceiverCommand::List { json } => {
            let file = ConfigFile::open(path)?;
            list_receivers(&file.config, json, out)?;
        }
        ReceiverCommand::Remove { address } => {
            let address = parse_address("the receiver", &address)?;
            let mut file = ConfigFile::open(path)?;
            file.remove_receiver(&address)?;
            let (config, written) = file.save_files()?;
            tell_daemon(&config, &written);
        }
    }
    out.flush()?;
    Ok(0)
}

/// One line of `receiver list --json`.
#[derive(Debug, Serialize)]
struct ReceiverRow<'a> {
    address: String,
    organisations: Vec<&'a str>,
    document_type: &'a str,
    trusted_senders: usize,
}

fn list_receivers(config: &Config, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let rows: Vec<ReceiverRow<'_>> = config
        .receivers
        .iter()
        .map(|r| ReceiverRow {
            address: r.address.to_string(),
            organisations: r
                .organisations
                .iter()
                .filter_map(|&i| config.organisations.get(i))
                .map(|o| o.id.as_str())
                .collect(),
            document_type: &r.document_type,
            trusted_senders: r.trusted_senders.len(),
        })
        .collect();
    if json {
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    let table: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.address.clone(),
                r.organisations.join(","),
                r.document_type.to_string(),
                r.trusted_senders.to_string(),
            ]
        })
        .collect();
    print_table(
        out,
        &["ADDRESS", "ORGANISATION", "DOCUMENT TYPE", "SENDERS"],
        &table,
    )
}

/// Columns padded to their widest cell, two spaces apart; control characters escaped.
fn print_table<const N: usize>(
    out: &mut dyn Write,
    header: &[&str; N],
    rows: &[[String; N]],
) -> anyhow::Result<()> {
    let clean = |s: &str| -> String {
        s.chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect()
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in &rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Runs `sender ...` on the config at `path`; returns the exit code.
///
/// # Errors
/// The config cannot be read or is invalid, the receiver or contact is unknown, or the edit is
/// refused (nothing written).
pub fn run_sender(cmd: SenderCommand, path: &Path) -> anyhow::Result<i32> {
    match cmd {
        SenderCommand::Add {
            receiver,
            name,
            contact,
            domain,
            address,
            verified_users,
            language,
        } => {
            let receiver = parse_address("the receiver", &receiver)?;
            parse_address("--contact", &contact)?;
            let trust = match (&domain, &address, verified_users) {
                (Some(d), None, false) => Trust::Domain(d.trim()),
                (None, Some(a), false) => Trust::Address(a.trim()),
                (None, None, true) => Trust::VerifiedUsers,
                // clap's group makes it exactly one; this is the message if that ever slips.
                _ => bail!("give exactly one of --domain, --address and --verified-users"),
            };
            let mut file = ConfigFile::open(path)?;
            file.add_trusted_sender(
                &receiver,
                &NewSender {
                    name: name.trim(),
                    contact: contact.trim(),
                    trust,
                    language: language.map(Language::from),
                },
            )?;
            let (config, written) = file.save_files()?;
            tell_daemon(&config, &written);
        }
        SenderCommand::Remove { receiver, contact } => {
            let receiver = parse_address("the receiver", &receiver)?;
            let contact = parse_address("--contact", &contact)?;
            let mut file = ConfigFile::open(path)?;
            file.remove_trusted_sender(&receiver, &contact)?;
            let (config, written) = file.save_files()?;
            tell_daemon(&config, &written);
        }
        SenderCommand::Disable { receiver, contact } => {
            let config = ConfigFile::open(path)?.config;
            return super::lifecycle::set_disabled(&config, &receiver, &contact, true);
        }
        SenderCommand::Enable { receiver, contact } => {
            let config = ConfigFile::open(path)?.config;
            return super::lifecycle::set_disabled(&config, &receiver, &contact, false);
        }
    }
    Ok(0)
}

/// Runs `senders list`; returns the exit code.
///
/// # Errors
/// The config cannot be read or is invalid.
pub fn run_senders(cmd: SendersCommand, path: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let SendersCommand::List { json } = cmd;
    let file = ConfigFile::open(path)?;
    let config = &file.config;
    let states = super::lifecycle::states(config)?;
    let rows = crate::admin::senders::rows(config, &states);
    if json {
        serde_json::to_writer_pretty(&mut *out, &rows).context("writing the list")?;
        writeln!(out)?;
    } else {
        let table: Vec<[String; 9]> = rows
            .into_iter()
            .map(|r| {
                [
                    r.receiver,
                    r.name,
                    r.contact,
                    r.kind.to_string(),
                    r.value.unwrap_or_else(|| "-".into()),
                    r.language.to_string(),
                    r.auth.unwrap_or_else(|| "-".into()),
                    r.state.to_string(),
                    super::lifecycle::detail(&r.lifecycle),
                ]
            })
            .collect();
        print_table(
            out,
            &[
                "RECEIVER", "NAME", "CONTACT", "KIND", "VALUE", "LANGUAGE", "AUTH", "STATE",
                "SINCE",
            ],
            &table,
        )?;
    }
    out.flush()?;
    Ok(0)
}
