//! `trustgate apikey create|list|revoke`: the keys of the admin HTTP API (issue 12). A key is
//! made here, from the CSPRNG, and printed once; only the hash of its secret goes to the spool
//! (over the control socket when the daemon runs), so the secret is never stored or logged.

use std::io::Write;

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::admin::control::{Request, Response};
use crate::config::Config;
use crate::spool::apikeys::{self, Scope};
use crate::spool::format_time;

use super::spool::{ask, clean};

/// `trustgate apikey ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Make a key and print it once, alone on the last line, as `<client id>.<secret>` (an
    /// ERP connector's "client key" and "client secret").
    #[command(group(clap::ArgGroup::new("scope").required(true).args(["organisation", "admin"])))]
    Create {
        /// The key sees this organisation's data only.
        #[arg(long, value_name = "ID")]
        organisation: Option<String>,
        /// The key sees everything.
        #[arg(long)]
        admin: bool,
        /// A label for people, e.g. "ECI import job".
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// List the keys: client id, scope, name, created, revoked (never a secret).
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it is refused from now on.
    Revoke {
        /// The key's client id (the part before the dot).
        client_id: String,
    },
}

#[derive(Serialize)]
struct Row<'a> {
    client_id: &'a str,
    #[serde(flatten)]
    record: &'a apikeys::ApiKeyRecord,
}

/// Runs `apikey ...`; returns the exit code.
///
/// # Errors
/// An unknown organisation, or the spool cannot be reached.
pub fn run(cmd: ApiKeyCommand, config: &Config, out: &mut dyn Write) -> anyhow::Result<i32> {
    let spool = &config.spool.path;
    match cmd {
        ApiKeyCommand::Create {
            organisation,
            admin,
            name,
        } => {
            let scope = match (organisation, admin) {
                (Some(org), false) => {
                    if !config.organisations.iter().any(|o| o.id == org) {
                        bail!(
                            "no organisation {:?} in {}",
                            clean(&org),
                            config.source.display()
                        );
                    }
                    Scope::Organisation { organisation: org }
                }
                (None, true) => Scope::Admin,
                _ => bail!("give exactly one of --organisation and --admin"),
            };
            let new = apikeys::generate(scope, name, std::time::SystemTime::now());
            match ask(
                spool,
                &Request::ApiKeyAdd {
                    client_id: new.client_id.clone(),
                    record: new.record,
                },
            )
            .context("storing the key in the spool")?
            {
                Response::KeyChanged { .. } => {}
                Response::Error { message } => bail!("{}", clean(&message)),
                other => bail!("unexpected answer from the spool: {other:?}"),
            }
            eprintln!(
                "trustgate: key {} created; it is shown once, only its hash is kept",
                new.client_id
            );
            writeln!(out, "{}", new.key)?;
        }
        ApiKeyCommand::List { json } => {
            let keys = match ask(spool, &Request::ApiKeys)? {
                Response::ApiKeys { keys } => keys,
                Response::Error { message } => bail!("{}", clean(&message)),
                other => bail!("unexpected answer from the spool: {other:?}"),
            };
            if json {
                for (id, record) in &keys {
                    serde_json::to_writer(
                        &mut *out,
                        &Row {
                            client_id: id,
                            record,
                        },
                    )?;
                    writeln!(out)?;
                }
            } else {
                writeln!(
                    out,
                    "{:<16}  {:<24}  {:<20}  {:<20}  NAME",
                    "CLIENT ID", "SCOPE", "CREATED", "REVOKED"
                )?;
                for (id, record) in &keys {
                    let scope = match &record.scope {
                        Scope::Admin => "admin".to_string(),
                        Scope::Organisation { organisation } => {
                            format!("organisation {}", clean(organisation.as_str()))
                        }
                    };
                    writeln!(
                        out,
                        "{id:<16}  {scope:<24}  {:<20}  {:<20}  {}",
                        format_time(record.created_at),
                        record.revoked_at.map_or_else(|| "-".into(), format_time),
                        clean(record.name.as_deref().unwrap_or("-"))
                    )?;
                }
            }
        }
        ApiKeyCommand::Revoke { client_id } => {
            match ask(
                spool,
                &Request::ApiKeyRevoke {
                    client_id: client_id.clone(),
                },
            )? {
                Response::KeyChanged { changed: true } => {
                    eprintln!("trustgate: key {} revoked", clean(&client_id));
                }
                Response::KeyChanged { changed: false } => {
                    eprintln!(
                        "trustgate: no key {} that is not revoked already",
                        clean(&client_id)
                    );
                    return Ok(1);
                }
                Response::Error { message } => bail!("{}", clean(&message)),
                other => bail!("unexpected answer from the spool: {other:?}"),
            }
        }
    }
    out.flush()?;
    Ok(0)
}
