//! `trustgate spool list|show|retry`: inspect the spool, as `postqueue -p` inspects Postfix's
//! queue, and re-offer deliveries, as `postqueue -f` flushes it.
//!
//! Called by `cli::run` with the configured spool directory. It asks the running daemon over
//! `<spool>/control.sock`; when no daemon answers (no socket, or connection refused) it opens
//! the store itself, read-only when redb allows (a store left by a crash needs the repair of a
//! writable open). Only `retry` changes the spool (through the daemon's writer, or its own
//! when no daemon runs). It escapes control characters from mail before printing them on a
//! terminal.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, bail};

use crate::admin::control::{self, ManageAction, Request, Response};
use crate::admin::http::export;
use crate::spool::{
    AttemptView, DeliveryState, DeliveryView, DocumentRecord, DocumentStatus, Filter, MessageId,
    MessageRecord, MessageStatus, Reoffer, Spool, SpoolError, SpoolOptions, StatusFilter,
    control_socket_path, format_time, schema,
};

/// `trustgate spool ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SpoolCommand {
    /// List the stored messages, oldest first.
    List {
        /// Print one JSON object per line (NDJSON): a summary of each message, or with
        /// `--full` its whole record (with its `deliveries`).
        #[arg(long)]
        json: bool,
        /// With `--json`: the whole records.
        #[arg(long, requires = "json")]
        full: bool,
        /// Only messages with this status, or with deliveries in this state.
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        /// Only messages with a document of this organisation (its id).
        #[arg(long, value_name = "ID")]
        organisation: Option<String>,
        /// Only messages sent to this receiving address.
        #[arg(long, value_name = "ADDRESS")]
        receiver: Option<String>,
        /// Only messages from this address (envelope or header From), or from this domain
        /// (`example.nl` or `@example.nl`).
        #[arg(long, value_name = "ADDRESS|DOMAIN")]
        sender: Option<String>,
        /// Only messages received at or after this time: `2026-11-01` or RFC 3339.
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Only messages received before this time: `2026-11-01` or RFC 3339.
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// Start after this message id (the cursor printed at the end of a page).
        #[arg(long, value_name = "ID")]
        after: Option<String>,
        /// Print one page of at most this many messages (default: every message, fetched
        /// page by page), and the cursor of the next if there is one: after the table,
        /// `more: trustgate spool list --after ID`; with `--json`, `more: --after ID` on
        /// stderr, so stdout stays NDJSON.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Show one message: envelope, status, documents, ignored attachments, event log.
    Show {
        /// The message id, as shown by `list` and in the 250 reply.
        id: String,
        /// Print the raw message bytes instead.
        #[arg(long)]
        raw: bool,
    },
    /// Re-offer deliveries: a message or document again (`ID`), every dead letter
    /// (`--failed`), or an organisation's older documents to a newly linked sink
    /// (`--organisation ORG --since DATE --sink NAME`). Works while the daemon runs.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["id", "failed", "organisation"])))]
    Retry {
        /// A message id (all its documents) or a document id (`<message id>-<n>`).
        id: Option<String>,
        /// Every dead letter.
        #[arg(long)]
        failed: bool,
        /// The organisation whose documents to queue (with `--since` and `--sink`).
        #[arg(long, value_name = "ID", requires_all = ["since", "sink"])]
        organisation: Option<String>,
        /// Documents received at or after this time: `2026-11-01` or RFC 3339.
        #[arg(long, value_name = "DATE", requires = "organisation")]
        since: Option<String>,
        /// Only this sink (with an id or `--failed`); the sink to queue for (with
        /// `--organisation`).
        #[arg(long, value_name = "NAME")]
        sink: Option<String>,
    },
    /// Keep a message's deliveries from being tried until it is released (`postsuper -h`).
    Hold {
        /// The message id.
        id: String,
    },
    /// Release a held message: its deliveries are due now (`postsuper -H`).
    Release {
        /// The message id.
        id: String,
    },
    /// Delete a message's body, documents and queued deliveries (`postsuper -d`). The record
    /// stays, with the deletion in its event log. Needs `--force`.
    Delete {
        /// The message id.
        id: String,
        /// Really delete: it cannot be undone.
        #[arg(long)]
        force: bool,
    },
    /// Write a message's documents (`<id>-<n>.xml`, `.pdf`, `.json` with the inspection
    /// report) and its raw message (`<id>.eml`) into a directory. File names are our ids,
    /// never names from the mail.
    Export {
        /// The message id.
        id: String,
        /// The directory (created if missing; existing files are not overwritten).
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
    /// Rebuild the spool's records from its stored message files after its database was lost
    /// (the daemon refuses to start then, and says so). Run it with the daemon stopped: every
    /// file no record names is moved to `<spool>/quarantine/`, and each message there is
    /// judged again under the current config and stored under its original id.
    Recover,
}

/// Runs a spool subcommand with the loaded config: checks what `retry` names (sink,
/// organisation) against it first, then [`run`]s it against the configured spool.
///
/// # Errors
/// As [`run`]; a sink or organisation the config does not have.
pub fn run_with_config(cmd: SpoolCommand, config: &crate::config::Config) -> anyhow::Result<i32> {
    if let SpoolCommand::Retry {
        sink, organisation, ..
    } = &cmd
    {
        if let Some(sink) = sink
            && config.sink(sink).is_none()
        {
            let names: Vec<&str> = config.sinks.iter().map(|s| s.name.as_str()).collect();
            bail!(
                "no sink {:?} in {}; the sinks are: {}",
                clean(sink),
                config.source.display(),
                if names.is_empty() {
                    "(none)".to_string()
                } else {
                    names.join(", ")
                }
            );
        }
        if let Some(org) = organisation
            && !config.organisations.iter().any(|o| &o.id == org)
        {
            bail!(
                "no organisation {:?} in {}",
                clean(org),
                config.source.display()
            );
        }
    }
    if let SpoolCommand::Recover = cmd {
        return super::recover::run(config, &mut std::io::stdout().lock());
    }
    run(cmd, &config.spool.path)
}

/// Runs a spool subcommand against the spool at `spool_dir`, printing to stdout; returns the
/// exit code (0 ok, 1 no such message).
///
/// # Errors
/// No daemon answers and the store cannot be opened (missing, or held by a process that does
/// not answer on the control socket), or the daemon answered with an error.
pub fn run(cmd: SpoolCommand, spool_dir: &Path) -> anyhow::Result<i32> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    run_to(cmd, spool_dir, &mut out)
}

/// [`run`], printing to `out`.
///
/// # Errors
/// As [`run`], and errors writing to `out`.
pub fn run_to(cmd: SpoolCommand, spool_dir: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let request = match &cmd {
        SpoolCommand::List {
            after,
            limit,
            json,
            full,
            status,
            organisation,
            receiver,
            sender,
            since,
            until,
        } => {
            let filter = Filter {
                status: *status,
                organisation: organisation.clone(),
                receiver: receiver.clone(),
                sender: sender.clone(),
                since: since.as_deref().map(parse_since).transpose()?,
                until: until.as_deref().map(parse_since).transpose()?,
            };
            let format = match (json, full) {
                (false, _) => Format::Table,
                (true, false) => Format::Summary,
                (true, true) => Format::Full,
            };
            return list(spool_dir, after.clone(), *limit, &filter, format, out);
        }
        SpoolCommand::Export { id, out: dir } => return export(spool_dir, id, dir, out),
        SpoolCommand::Delete { force: false, .. } => {
            bail!("`spool delete` removes the message and its documents for good: add --force")
        }
        SpoolCommand::Hold { id } => Request::Manage {
            action: ManageAction::Hold,
            id: id.clone(),
        },
        SpoolCommand::Release { id } => Request::Manage {
            action: ManageAction::Release,
            id: id.clone(),
        },
        SpoolCommand::Delete { id, force: true } => Request::Manage {
            action: ManageAction::Delete,
            id: id.clone(),
        },
        SpoolCommand::Show { id, raw: false } => Request::Show { id: id.clone() },
        SpoolCommand::Show { id, raw: true } => Request::Raw { id: id.clone() },
        SpoolCommand::Recover => bail!("`spool recover` needs the config: run it through the CLI"),
        SpoolCommand::Retry {
            id,
            failed,
            organisation,
            since,
            sink,
        } => Request::Retry {
            selection: retry_selection(
                id.as_deref(),
                *failed,
                organisation.as_deref(),
                since.as_deref(),
                sink.as_deref(),
            )?,
        },
    };
    let response = ask(spool_dir, &request)?;
    match (cmd, response) {
        (
            SpoolCommand::Show { .. },
            Response::Show {
                message,
                deliveries,
                attempts,
            },
        ) => {
            print_message(out, &message)?;
            print_deliveries(out, &deliveries, &attempts)?;
        }
        (SpoolCommand::Show { .. }, Response::Raw { data, .. }) => out.write_all(&data)?,
        (SpoolCommand::Retry { .. }, Response::Retried { count }) => {
            if count == 0 {
                writeln!(
                    out,
                    "nothing to re-offer (pending and in-flight deliveries are already on their way)"
                )?;
            } else {
                writeln!(
                    out,
                    "re-offered {count} deliver{}",
                    if count == 1 { "y" } else { "ies" }
                )?;
            }
        }
        (
            cmd,
            Response::Managed {
                changed,
                deliveries,
            },
        ) => {
            let (done, unchanged) = match cmd {
                SpoolCommand::Hold { .. } => ("held", "was on hold already"),
                SpoolCommand::Release { .. } => ("released", "was not on hold"),
                _ => ("deleted", "was deleted already"),
            };
            if changed {
                writeln!(
                    out,
                    "{done}: {deliveries} deliver{}",
                    if deliveries == 1 { "y" } else { "ies" }
                )?;
            } else {
                writeln!(out, "nothing to do: the message {unchanged}")?;
            }
        }
        (_, Response::NotFound { id }) => {
            eprintln!("trustgate: no message {} in the spool", clean(&id));
            return Ok(1);
        }
        (_, Response::Error { message }) => {
            bail!("the spool answered with an error: {}", clean(&message))
        }
        (_, other) => bail!("unexpected answer from the spool: {other:?}"),
    }
    out.flush()?;
    Ok(0)
}

/// How `list` prints.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// A table for people.
    Table,
    /// `--json`: one summary object per line.
    Summary,
    /// `--json --full`: one whole record per line.
    Full,
}

/// One line of `spool list --json`: what a script needs to pick messages, without their
/// whole records.
#[derive(serde::Serialize)]
struct Summary<'a> {
    id: &'a MessageId,
    #[serde(with = "crate::spool::rfc3339")]
    received_at: std::time::SystemTime,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_at: Option<String>,
    mail_from: &'a str,
    header_from: Option<&'a str>,
    rcpt_to: &'a [String],
    size: u64,
    documents: usize,
    invoice_numbers: Vec<&'a str>,
    deliveries: Vec<DeliverySummary<'a>>,
}

#[derive(serde::Serialize)]
struct DeliverySummary<'a> {
    document: u32,
    sink: &'a str,
    state: DeliveryState,
}

/// `list`: page through the spool with the cursor (or print one page with `--limit`).
fn list(
    spool_dir: &Path,
    mut after: Option<String>,
    limit: Option<usize>,
    filter: &Filter,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let mut messages = Vec::new();
    let mut deliveries = std::collections::BTreeMap::new();
    let next = loop {
        let request = Request::List {
            after: after.clone(),
            limit: Some(limit.unwrap_or(control::MAX_PAGE)),
            filter: filter.clone(),
        };
        match ask(spool_dir, &request)? {
            Response::List {
                messages: page,
                deliveries: d,
                next,
            } => {
                messages.extend(page);
                deliveries.extend(d);
                // A filtered page may come back short after a bounded scan: with `--limit`,
                // keep asking until it is full or the spool ends.
                let full = limit.is_some_and(|l| messages.len() >= l);
                if next.is_none() || full {
                    break next;
                }
                after = next;
            }
            Response::Error { message } => bail!("the spool answered with an error: {message}"),
            other => bail!("unexpected answer from the spool: {other:?}"),
        }
    };
    match format {
        Format::Full => {
            for m in &messages {
                let mut v = serde_json::to_value(m).unwrap_or_default();
                if let Some(obj) = v.as_object_mut() {
                    let d = deliveries.get(m.id.as_str()).cloned().unwrap_or_default();
                    obj.insert(
                        "deliveries".into(),
                        serde_json::to_value(d).unwrap_or_default(),
                    );
                }
                serde_json::to_writer(&mut *out, &v)?;
                writeln!(out)?;
            }
        }
        Format::Summary => {
            for m in &messages {
                let d: &[DeliveryView] = deliveries.get(m.id.as_str()).map_or(&[], Vec::as_slice);
                let summary = Summary {
                    id: &m.id,
                    received_at: m.received_at,
                    status: m.status.to_string(),
                    deleted_at: m.deleted_at.map(format_time),
                    mail_from: &m.mail_from,
                    header_from: m.header_from.as_deref(),
                    rcpt_to: &m.rcpt_to,
                    size: m.size,
                    documents: m.documents.len(),
                    invoice_numbers: m
                        .documents
                        .iter()
                        .filter_map(|doc| doc.invoice_number.as_deref())
                        .collect(),
                    deliveries: d
                        .iter()
                        .map(|v| DeliverySummary {
                            document: v.document,
                            sink: &v.sink,
                            state: v.record.state,
                        })
                        .collect(),
                };
                serde_json::to_writer(&mut *out, &summary)?;
                writeln!(out)?;
            }
        }
        Format::Table => {
            print_table(out, &messages, &deliveries)?;
            if let Some(next) = &next {
                writeln!(out, "more: trustgate spool list --after {next}")?;
            }
        }
    }
    out.flush()?;
    if format != Format::Table
        && let Some(next) = next
    {
        // Stdout stays pure NDJSON, one record a line, for `jq` and scripts; the cursor of
        // the next page goes to stderr, where a script that pages can still read it.
        eprintln!("more: --after {next}");
    }
    Ok(0)
}

/// `export`: the documents and the raw message of one message into `dir`, under our own ids.
/// Never overwrites a file: an export into a directory that has one fails before writing.
fn export(spool_dir: &Path, id: &str, dir: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let message = match ask(spool_dir, &Request::Show { id: id.to_string() })? {
        Response::Show { message, .. } => message,
        Response::NotFound { id } => {
            eprintln!("trustgate: no message {} in the spool", clean(&id));
            return Ok(1);
        }
        Response::Error { message } => {
            bail!("the spool answered with an error: {}", clean(&message))
        }
        other => bail!("unexpected answer from the spool: {other:?}"),
    };
    if message.deleted_at.is_some() {
        bail!("message {} was deleted: nothing to export", message.id);
    }
    // Our ids only: `MessageId` is `[A-Za-z0-9-]`, checked by the spool's answer.
    let mid = message.id.as_str();
    if MessageId::parse(mid).is_none() {
        bail!("the spool answered with a bad id");
    }
    // The same files under the same names as the admin API's export.
    let files = export::files(
        &message,
        |index| match ask(
            spool_dir,
            &Request::Document {
                id: mid.to_string(),
                index,
            },
        )? {
            Response::Document { xml, pdf } => Ok((xml, pdf)),
            Response::Error { message } => {
                bail!("the spool answered with an error: {}", clean(&message))
            }
            other => bail!("unexpected answer from the spool: {other:?}"),
        },
        || match ask(
            spool_dir,
            &Request::Raw {
                id: mid.to_string(),
            },
        )? {
            Response::Raw { data, .. } => Ok(data),
            Response::Error { message } => {
                bail!("the spool answered with an error: {}", clean(&message))
            }
            other => bail!("unexpected answer from the spool: {other:?}"),
        },
    )?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, _) in &files {
        if dir.join(name).exists() {
            bail!(
                "{} exists already; export into an empty directory",
                dir.join(name).display()
            );
        }
    }
    for (name, bytes) in &files {
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(out, "{}", path.display())?;
    }
    out.flush()?;
    Ok(0)
}

/// The re-offer a `retry` command line names.
fn retry_selection(
    id: Option<&str>,
    failed: bool,
    organisation: Option<&str>,
    since: Option<&str>,
    sink: Option<&str>,
) -> anyhow::Result<Reoffer> {
    let sink = sink.map(str::to_owned);
    if let Some(id) = id {
        let (message, document) = parse_message_or_document(id).with_context(|| {
            format!("{:?} is neither a message id nor a document id", clean(id))
        })?;
        return Ok(Reoffer::Message {
            message,
            document,
            sink,
        });
    }
    if failed {
        return Ok(Reoffer::Failed { sink });
    }
    match (organisation, since, sink) {
        (Some(organisation), Some(since), Some(sink)) => Ok(Reoffer::Organisation {
            organisation: organisation.to_owned(),
            since: parse_since(since)?,
            sink,
        }),
        _ => bail!(
            "give a message or document id, --failed, or --organisation ORG --since DATE --sink NAME"
        ),
    }
}

/// `20261122T101530Z-000001` (a message) or `20261122T101530Z-000001-0` (its document 0).
fn parse_message_or_document(id: &str) -> Option<(MessageId, Option<u32>)> {
    if id.matches('-').count() == 2 {
        let (message, index) = id.rsplit_once('-')?;
        let index = index.parse().ok()?;
        return Some((MessageId::parse(message)?, Some(index)));
    }
    Some((MessageId::parse(id)?, None))
}

/// `2026-11-01` (midnight UTC) or an RFC 3339 time.
fn parse_since(s: &str) -> anyhow::Result<std::time::SystemTime> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    humantime::parse_rfc3339_weak(&full).with_context(|| {
        format!(
            "--since {:?}: write a date as 2026-11-01 or a time as 2026-11-01T08:00:00Z",
            clean(s)
        )
    })
}

/// `show`: each delivery's state, then every attempt.
fn print_deliveries(
    out: &mut dyn Write,
    deliveries: &[DeliveryView],
    attempts: &[AttemptView],
) -> std::io::Result<()> {
    if deliveries.is_empty() {
        writeln!(out, "Deliveries:  none (documents wait in the spool)")?;
        return Ok(());
    }
    writeln!(out, "Deliveries:")?;
    for d in deliveries {
        let r = &d.record;
        let detail = match r.state {
            DeliveryState::Delivered => format!(
                "at {}: {}",
                r.delivered_at.map(format_time).unwrap_or_default(),
                clean(r.answer.as_deref().unwrap_or(""))
            ),
            DeliveryState::Pending => format!("next attempt at {}", format_time(r.due())),
            DeliveryState::InFlight => format!("lease until {}", format_time(r.due())),
            DeliveryState::Failed => "dead letter (trustgate spool retry re-offers it)".to_string(),
            DeliveryState::Held => "on hold (trustgate spool release sends it on)".to_string(),
        };
        writeln!(
            out,
            "  [{}] {:<12} {:<10} {} attempt(s)  {}",
            index_label(d.document),
            clean(&d.sink),
            r.state,
            r.total_attempts,
            detail
        )?;
        if r.state != DeliveryState::Delivered
            && let Some(err) = &r.last_error
        {
            writeln!(out, "      last error: {}", clean(err))?;
        }
    }
    if !attempts.is_empty() {
        writeln!(out, "Attempts:")?;
        for a in attempts {
            writeln!(
                out,
                "  [{}] {:<12} #{:<3} {}  {:<9} {} ms  {}",
                index_label(a.document),
                clean(&a.sink),
                a.number,
                format_time(a.record.at),
                a.record.outcome,
                a.record.elapsed_ms,
                clean(&a.record.detail)
            )?;
        }
    }
    Ok(())
}

/// Asks the daemon, or else the store itself.
pub(crate) fn ask(spool_dir: &Path, request: &Request) -> anyhow::Result<Response> {
    let socket = control_socket_path(spool_dir);
    match control::request(&socket, request) {
        Ok(response) => return Ok(response),
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) => {}
        Err(err) => {
            return Err(err).with_context(|| {
                format!("cannot ask the trustgate daemon on {}", socket.display())
            });
        }
    }
    if matches!(
        request,
        Request::Retry { .. }
            | Request::Sender { .. }
            | Request::Invite { .. }
            | Request::Manage { .. }
            | Request::ApiKeyAdd { .. }
            | Request::ApiKeyRevoke { .. }
    ) {
        // A change needs the writer: open the store as the daemon would.
        let spool = Spool::open(&SpoolOptions::new(spool_dir))
            .with_context(|| format!("cannot open the spool at {}", spool_dir.display()))?;
        let response = control::answer(&spool, request);
        spool.shutdown_blocking();
        return Ok(response);
    }
    let spool = open_direct(spool_dir)?;
    Ok(control::answer(&spool, request))
}

/// Opens the store without a daemon: read-only, or writable when it needs recovery.
fn open_direct(spool_dir: &Path) -> anyhow::Result<Spool> {
    if !spool_dir.join(schema::DATABASE_FILE).exists() {
        // Stored messages without their database: say how to get them back.
        if crate::spool::stored_file_count(spool_dir).is_ok_and(|n| n > 0) {
            bail!(
                "the spool at {} holds stored messages but no {}: with the daemon stopped, run `trustgate spool recover` to rebuild it",
                spool_dir.display(),
                schema::DATABASE_FILE
            );
        }
        bail!(
            "no spool at {} (no {} there, and no daemon answers)",
            spool_dir.display(),
            schema::DATABASE_FILE
        );
    }
    let locked = |dir: &Path| {
        anyhow::anyhow!(
            "the spool at {} is in use by another process that does not answer on {}: \
             is the daemon starting, or hung? Try again, or check `systemctl status trustgate`",
            dir.display(),
            control_socket_path(dir).display()
        )
    };
    match Spool::open_read_only(spool_dir) {
        Ok(spool) => Ok(spool),
        Err(SpoolError::Locked(dir)) => Err(locked(&dir)),
        // Left by a crash: only a writable open repairs it (what the daemon would do at start).
        Err(SpoolError::NeedsRecovery(_)) => match Spool::open(&SpoolOptions::new(spool_dir)) {
            Ok(spool) => Ok(spool),
            Err(SpoolError::Locked(dir)) => Err(locked(&dir)),
            Err(err) => Err(err)
                .with_context(|| format!("cannot recover the spool at {}", spool_dir.display())),
        },
        Err(err) => {
            Err(err).with_context(|| format!("cannot open the spool at {}", spool_dir.display()))
        }
    }
}

/// `list`: one line per message.
fn print_table(
    out: &mut dyn Write,
    messages: &[MessageRecord],
    deliveries: &std::collections::BTreeMap<String, Vec<DeliveryView>>,
) -> std::io::Result<()> {
    let header = ["ID", "RECEIVED", "FROM", "TO", "STATUS", "DOCS", "DELIVERY"].map(String::from);
    let rows: Vec<[String; 7]> = messages
        .iter()
        .map(|m| {
            let to = match m.rcpt_to.as_slice() {
                [] => String::new(),
                [one] => clean(one),
                [first, rest @ ..] => format!("{} (+{})", clean(first), rest.len()),
            };
            let from = if m.mail_from.is_empty() {
                "<>".to_string()
            } else {
                clean(&m.mail_from)
            };
            let received = format_time(m.received_at);
            // Seconds are enough in a table; `show` has the milliseconds.
            let received = received
                .split('.')
                .next()
                .map_or(received.clone(), |s| format!("{s}Z"));
            let status = match &m.resend_of {
                Some(_) => format!("{} (resend)", m.status),
                None => m.status.to_string(),
            };
            [
                m.id.to_string(),
                received,
                from,
                to,
                status,
                document_counts(&m.documents),
                delivery_summary(deliveries.get(m.id.as_str()).map_or(&[], Vec::as_slice)),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    if rows.is_empty() {
        writeln!(out, "(the spool is empty)")?;
    } else {
        let rejected = messages.iter().filter(|m| m.status.is_rejected()).count();
        let resends = messages.iter().filter(|m| m.resend_of.is_some()).count();
        let documents: Vec<DocumentRecord> =
            messages.iter().flat_map(|m| m.documents.clone()).collect();
        writeln!(
            out,
            "{} message(s): {} accepted ({resends} resend), {rejected} rejected; document(s): {}",
            messages.len(),
            messages.len() - rejected,
            document_counts(&documents)
        )?;
    }
    Ok(())
}

/// The state of each delivery: `erp=delivered archive=pending` for a message with one
/// document, `0:erp=delivered 1:erp=failed` with several; `-` when there are none.
fn delivery_summary(deliveries: &[DeliveryView]) -> String {
    if deliveries.is_empty() {
        return "-".into();
    }
    // One document: `erp=delivered archive=pending`; several: each document's state per
    // sink, `0:erp=delivered 1:erp=pending`.
    let several = deliveries
        .iter()
        .any(|d| d.document != deliveries[0].document);
    deliveries
        .iter()
        .map(|d| {
            if several {
                format!("{}:{}={}", d.document, clean(&d.sink), d.record.state)
            } else {
                format!("{}={}", clean(&d.sink), d.record.state)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `3`, or with any document not ready, `3 (1 duplicate, 1 rejected)`.
fn document_counts(documents: &[DocumentRecord]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for d in documents.iter().filter(|d| !d.status.is_ready()) {
        let name = d.status.to_string();
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    if counts.is_empty() {
        return documents.len().to_string();
    }
    let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{c} {n}")).collect();
    format!("{} ({})", documents.len(), parts.join(", "))
}

/// A delivery's document index, or `message` for a delivery of the whole message.
fn index_label(document: u32) -> String {
    if document == crate::spool::WHOLE_MESSAGE {
        "message".to_string()
    } else {
        document.to_string()
    }
}

/// The authentication lines of `spool show`: how the sender was proven, and each check.
fn show_auth(
    out: &mut dyn std::io::Write,
    auth: Option<&crate::policy::auth::AuthRecord>,
) -> std::io::Result<()> {
    let Some(a) = auth else {
        return writeln!(out, "Auth:        not checked");
    };
    let proven: Vec<String> = a.proven_by.iter().map(ToString::to_string).collect();
    let proven = if proven.is_empty() {
        "not proven".to_string()
    } else {
        proven.join(", ")
    };
    writeln!(out, "Auth:        {proven}")?;
    let r = &a.results;
    writeln!(
        out,
        "  spf:       {} (mail from {}), {} (helo {})",
        r.spf_mail_from.result,
        clean(&r.spf_mail_from.domain),
        r.spf_helo.result,
        clean(&r.spf_helo.domain)
    )?;
    if r.dkim.is_empty() {
        writeln!(out, "  dkim:      none (no signature)")?;
    }
    for d in &r.dkim {
        let reason = if d.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", clean(&d.reason))
        };
        writeln!(
            out,
            "  dkim:      {} (d={} s={}){reason}",
            d.result,
            clean(&d.domain),
            clean(&d.selector)
        )?;
    }
    let policy = r
        .dmarc
        .policy
        .as_deref()
        .map_or_else(|| "no record".to_string(), |p| format!("p={}", clean(p)));
    writeln!(
        out,
        "  dmarc:     {} (from {}, {policy}; aligned: spf {}, dkim {})",
        r.dmarc.result,
        clean(&r.dmarc.from_domain),
        if r.dmarc.spf_aligned { "yes" } else { "no" },
        if r.dmarc.dkim_aligned { "yes" } else { "no" }
    )?;
    if r.arc.result != crate::policy::auth::Outcome::None {
        let sealers: Vec<String> = r.arc.sealers.iter().map(|s| clean(s)).collect();
        writeln!(
            out,
            "  arc:       {} (sealed by {})",
            r.arc.result,
            sealers.join(", ")
        )?;
    }
    Ok(())
}

/// `show`: everything about one message.
fn print_message(out: &mut dyn Write, m: &MessageRecord) -> std::io::Result<()> {
    writeln!(out, "Message:     {}", m.id)?;
    writeln!(out, "Received:    {}", format_time(m.received_at))?;
    writeln!(out, "Status:      {}", m.status)?;
    if let MessageStatus::Rejected { reply, reason } = &m.status {
        writeln!(out, "Reply:       {}", clean(reply))?;
        writeln!(out, "Reason:      {}", clean(reason))?;
    }
    if let Some(earlier) = &m.resend_of {
        writeln!(out, "Resend of:   {earlier}")?;
    }
    writeln!(out, "Peer:        {}", clean(&m.peer))?;
    writeln!(out, "HELO:        {}", clean(&m.helo))?;
    writeln!(out, "Mail from:   <{}>", clean(&m.mail_from))?;
    for rcpt in &m.rcpt_to {
        writeln!(out, "Rcpt to:     <{}>", clean(rcpt))?;
    }
    if let Some(mid) = &m.header_message_id {
        writeln!(out, "Message-ID:  {}", clean(mid))?;
    }
    if let Some(from) = &m.header_from {
        writeln!(out, "Header From: <{}>", clean(from))?;
    }
    writeln!(
        out,
        "TLS:         {}",
        m.tls.as_deref().map_or_else(|| "none".to_string(), clean)
    )?;
    show_auth(out, m.auth.as_ref())?;
    if let Some(notice) = &m.notice {
        writeln!(
            out,
            "Notice:      to <{}> ({}), delivery [message] notices",
            clean(&notice.to),
            clean(&notice.language)
        )?;
    }
    writeln!(out, "Size:        {} bytes", m.size)?;
    writeln!(out, "SHA-256:     {}", m.sha256)?;
    writeln!(out, "Documents:   {}", m.documents.len())?;
    for d in &m.documents {
        let number = d
            .invoice_number
            .as_deref()
            .map_or_else(|| "no invoice number".to_string(), clean);
        writeln!(
            out,
            "  [{}] {}  {}  {}",
            d.index,
            d.status,
            clean(&d.format),
            number
        )?;
        if let DocumentStatus::Rejected { rules } = &d.status {
            let rules: Vec<String> = rules.iter().map(|r| clean(r)).collect();
            writeln!(out, "      rejected for: {}", rules.join(", "))?;
        }
        if let Some(of) = &d.duplicate_of {
            writeln!(
                out,
                "      duplicate of: {} document {}, received {}",
                of.message,
                of.document,
                format_time(of.received_at)
            )?;
        }
        if let Some(spec) = &d.specification {
            writeln!(out, "      specification: {}", clean(spec))?;
        }
        writeln!(
            out,
            "      receiver: {}  organisation: {}",
            clean(&d.receiver),
            clean(&d.organisation)
        )?;
        // A file taken from a zip or gzip attachment: `in INV-1.zip`.
        let within = |a: &Option<crate::spool::ArchiveEntry>| {
            a.as_ref()
                .map(|a| format!(" in {}", clean(&a.archive)))
                .unwrap_or_default()
        };
        writeln!(
            out,
            "      xml: {}{} ({} bytes)",
            clean(&d.xml_name),
            within(&d.xml_archive),
            d.xml_size
        )?;
        let by = d
            .paired_by
            .as_deref()
            .map(|p| format!(", paired by {}", clean(p)))
            .unwrap_or_default();
        let pdf_in = within(&d.pdf_archive);
        match (&d.pdf_name, d.pdf_size) {
            (Some(name), Some(size)) => {
                writeln!(out, "      pdf: {}{pdf_in} ({size} bytes{by})", clean(name))?;
            }
            (Some(name), None) => writeln!(out, "      pdf: {}{pdf_in}{by}", clean(name))?,
            _ => writeln!(out, "      pdf: none")?,
        }
        print_findings(out, d.report.as_ref())?;
    }
    writeln!(out, "Ignored:     {}", m.ignored.len())?;
    for i in &m.ignored {
        writeln!(out, "  {}: {}", clean(&i.name), clean(&i.reason))?;
    }
    writeln!(out, "Events:")?;
    for e in &m.events {
        writeln!(out, "  {}  {}", format_time(e.at), clean(&e.what))?;
    }
    Ok(())
}

/// The `findings` of an inspection report (`[{rule_id, severity, message}]`, as the invoice
/// module serialises them), one per line; nothing when the report has none.
fn print_findings(out: &mut dyn Write, report: Option<&serde_json::Value>) -> std::io::Result<()> {
    let Some(findings) = report
        .and_then(|r| r.get("findings"))
        .and_then(serde_json::Value::as_array)
        .filter(|f| !f.is_empty())
    else {
        return Ok(());
    };
    writeln!(out, "      findings:")?;
    let text = |f: &serde_json::Value, key: &str| {
        clean(
            f.get(key)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?"),
        )
    };
    for f in findings {
        writeln!(
            out,
            "        {:<8} {:<10} {}",
            text(f, "severity"),
            text(f, "rule_id"),
            text(f, "message")
        )?;
    }
    Ok(())
}

/// `s` as it may be shown ([`crate::text::display_safe`]): text from mail can neither drive the
/// terminal nor reorder or hide what the admin reads.
pub(crate) fn clean(s: &str) -> String {
    crate::text::display_safe(s).into_owned()
}

/// `spool list`, or `spool list --json --full` (for tests).
#[cfg(test)]
pub(crate) fn list_cmd(json: bool) -> SpoolCommand {
    SpoolCommand::List {
        json,
        full: json,
        after: None,
        limit: None,
        status: None,
        organisation: None,
        receiver: None,
        sender: None,
        since: None,
        until: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::spool::{IgnoredAttachment, MessageId, MessageStatus, NewDocument, NewMessage};

    async fn store_one(spool: &Spool) -> MessageId {
        let mut body = spool.staging().unwrap();
        body.write(b"Subject: invoice\r\n\r\nsee attached\r\n")
            .unwrap();
        let msg = NewMessage {
            received_at: SystemTime::now(),
            peer: "127.0.0.1:40000".into(),
            helo: "mail.acme.test".into(),
            mail_from: "billing@acme.test".into(),
            rcpt_to: vec!["ad64sde@gw.test".into(), "other@gw.test".into()],
            header_message_id: Some("<1@acme.test>".into()),
            header_from: None,
            tls: None,
            auth: None,
            notice: None,
            deliver_once: Vec::new(),
            deliver_message: Vec::new(),
            senders: Vec::new(),
            documents: vec![NewDocument {
                deliver: Vec::new(),
                receiver: "ad64sde@gw.test".into(),
                organisation: "acme-buyer".into(),
                xml_name: "INV-1.xml".into(),
                xml: b"<Invoice/>".to_vec(),
                pdf_name: Some("INV-1.pdf".into()),
                pdf: Some(b"%PDF".to_vec()),
                format: "ubl-invoice".into(),
                invoice_number: Some("INV-1".into()),
                duplicate_key: None,
                report: None,
                specification: None,
                source: None,
                xml_at: None,
                pdf_at: None,
                paired_by: None,
                status: None,
                xml_archive: None,
                pdf_archive: None,
            }],
            ignored: vec![IgnoredAttachment {
                name: "logo\u{1b}[31m.png".into(),
                reason: "not an invoice".into(),
            }],
            body,
            status: MessageStatus::Accepted,
        };
        spool.commit(msg).await.unwrap()
    }

    fn run_cli(cmd: SpoolCommand, dir: &Path) -> (i32, String) {
        let mut out = Vec::new();
        let code = run_to(cmd, dir, &mut out).unwrap();
        (code, String::from_utf8(out).unwrap())
    }

    fn check_outputs(dir: &Path, id: &MessageId) {
        let (code, table) = run_cli(list_cmd(false), dir);
        assert_eq!(code, 0);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ID "), "{table}");
        assert!(lines[1].starts_with(id.as_str()), "{table}");
        assert!(
            lines[1].contains("billing@acme.test") && lines[1].contains("ad64sde@gw.test (+1)"),
            "{table}"
        );
        assert!(
            lines[1].contains("accepted")
                && lines[1].trim_end_matches('-').trim_end().ends_with('1'),
            "{table}"
        );

        let (code, json) = run_cli(list_cmd(true), dir);
        assert_eq!(code, 0);
        let records: Vec<MessageRecord> = json
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 1);
        assert_eq!(&records[0].id, id);

        let (code, show) = run_cli(
            SpoolCommand::Show {
                id: id.to_string(),
                raw: false,
            },
            dir,
        );
        assert_eq!(code, 0);
        for expected in [
            format!("Message:     {id}"),
            "Mail from:   <billing@acme.test>".into(),
            "Rcpt to:     <other@gw.test>".into(),
            "[0] ready  ubl-invoice  INV-1".into(),
            "xml: INV-1.xml (10 bytes)".into(),
            "pdf: INV-1.pdf (4 bytes)".into(),
            "logo\\u{1B}[31m.png: not an invoice".into(),
            "stored".into(),
        ] {
            assert!(show.contains(&expected), "missing {expected:?} in\n{show}");
        }
        assert!(
            !show.contains('\u{1b}'),
            "a control character reached the terminal"
        );

        let (code, raw) = run_cli(
            SpoolCommand::Show {
                id: id.to_string(),
                raw: true,
            },
            dir,
        );
        assert_eq!(
            (code, raw.as_str()),
            (0, "Subject: invoice\r\n\r\nsee attached\r\n")
        );

        let (code, out) = run_cli(
            SpoolCommand::Show {
                id: "20000101T000000Z-000001".into(),
                raw: false,
            },
            dir,
        );
        assert_eq!((code, out.as_str()), (1, ""));
        let (code, _) = run_cli(
            SpoolCommand::Show {
                id: "../../etc/passwd".into(),
                raw: true,
            },
            dir,
        );
        assert_eq!(code, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_daemon_the_cli_opens_the_store_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        let id = {
            let spool = Spool::open(&SpoolOptions::new(&dir)).unwrap();
            store_one(&spool).await
        };
        // A socket file left by a dead daemon: connecting is refused, so the CLI falls back.
        drop(std::os::unix::net::UnixListener::bind(control_socket_path(&dir)).unwrap());
        let dir2 = dir.clone();
        tokio::task::spawn_blocking(move || check_outputs(&dir2, &id))
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_a_daemon_the_cli_asks_it_over_the_socket() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        let spool = Spool::open(&SpoolOptions::new(&dir)).unwrap();
        let id = store_one(&spool).await;
        let listener = control::bind(&control_socket_path(&dir)).unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(listener.run(spool.clone(), shutdown.clone()));
        // The daemon holds the database: a direct open would fail, so these answers came
        // over the socket.
        let dir2 = dir.clone();
        tokio::task::spawn_blocking(move || check_outputs(&dir2, &id))
            .await
            .unwrap();
        shutdown.cancel();
        server.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_spool_without_a_socket_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        let _spool = Spool::open(&SpoolOptions::new(&dir)).unwrap();
        let dir2 = dir.clone();
        let err =
            tokio::task::spawn_blocking(move || run_to(list_cmd(false), &dir2, &mut Vec::new()))
                .await
                .unwrap()
                .unwrap_err();
        assert!(
            format!("{err:#}").contains("in use by another process"),
            "{err:#}"
        );
    }

    #[test]
    fn a_missing_spool_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = run_to(list_cmd(false), &tmp.path().join("none"), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("no spool at"), "{err:#}");
    }

    /// A message with one document under duplicate key `key`.
    fn keyed_message(
        spool: &Spool,
        raw: &[u8],
        key: &str,
        doc_status: Option<DocumentStatus>,
        status: MessageStatus,
    ) -> NewMessage {
        let mut body = spool.staging().unwrap();
        body.write(raw).unwrap();
        let report = serde_json::json!({"findings": [
            {"rule_id": "BR-NL-10", "severity": "fatal", "message": "[BR-NL-10] no buyer KvK\u{7}"},
            {"rule_id": "BR-CO-15", "severity": "warning", "message": "[BR-CO-15] totals"}
        ]});
        NewMessage {
            received_at: SystemTime::now(),
            peer: "127.0.0.1:40000".into(),
            helo: "mail.acme.test".into(),
            mail_from: "billing@acme.test".into(),
            rcpt_to: vec!["ad64sde@gw.test".into()],
            header_message_id: Some("<7@acme.test>".into()),
            header_from: None,
            tls: None,
            auth: None,
            notice: None,
            deliver_once: Vec::new(),
            deliver_message: Vec::new(),
            senders: Vec::new(),
            documents: vec![NewDocument {
                deliver: Vec::new(),
                receiver: "ad64sde@gw.test".into(),
                organisation: "acme-buyer".into(),
                xml_name: "INV-7.xml".into(),
                xml: b"<Invoice/>".to_vec(),
                pdf_name: None,
                pdf: None,
                format: "ubl-invoice".into(),
                invoice_number: Some("INV-7".into()),
                duplicate_key: Some(key.into()),
                report: Some(report),
                specification: Some("si-ubl-2.0".into()),
                source: None,
                xml_at: None,
                pdf_at: None,
                paired_by: None,
                status: doc_status,
                xml_archive: None,
                pdf_archive: None,
            }],
            ignored: vec![],
            body,
            status,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn list_and_show_explain_rejections_duplicates_and_resends() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        let (refused, first, second) = {
            let spool = Spool::open(&SpoolOptions::new(&dir)).unwrap();
            let refused = keyed_message(
                &spool,
                b"bad",
                "k",
                Some(DocumentStatus::Rejected {
                    rules: vec!["BR-NL-10".into()],
                }),
                MessageStatus::Rejected {
                    reply: "550 5.6.0 Invoice INV-7 was refused: [BR-NL-10]".into(),
                    reason: "invoice_invalid".into(),
                },
            );
            let refused = spool.commit(refused).await.unwrap();
            let first = keyed_message(&spool, b"good", "k", None, MessageStatus::Accepted);
            let first = spool.commit(first).await.unwrap();
            let second = keyed_message(&spool, b"good", "k", None, MessageStatus::Accepted);
            let second = spool.commit(second).await.unwrap();
            (refused, first, second)
        };
        let dir2 = dir.clone();
        let (list, show_refused, show_second, json) = tokio::task::spawn_blocking(move || {
            let show = |id: &MessageId| {
                run_cli(
                    SpoolCommand::Show {
                        id: id.to_string(),
                        raw: false,
                    },
                    &dir2,
                )
                .1
            };
            (
                run_cli(list_cmd(false), &dir2).1,
                show(&refused),
                show(&second),
                run_cli(list_cmd(true), &dir2).1,
            )
        })
        .await
        .unwrap();

        let lines: Vec<&str> = list.lines().collect();
        assert!(
            lines[1].contains(" rejected ")
                && lines[1]
                    .trim_end_matches('-')
                    .trim_end()
                    .ends_with("1 (1 rejected)"),
            "{list}"
        );
        assert!(
            lines[2].contains(" accepted ")
                && lines[2].trim_end_matches('-').trim_end().ends_with('1'),
            "{list}"
        );
        assert!(
            lines[3].contains(" accepted (resend) ")
                && lines[3]
                    .trim_end_matches('-')
                    .trim_end()
                    .ends_with("1 (1 duplicate)"),
            "{list}"
        );
        assert_eq!(
            lines[4],
            "3 message(s): 2 accepted (1 resend), 1 rejected; document(s): 3 (1 rejected, 1 duplicate)"
        );

        for expected in [
            "Status:      rejected",
            "Reply:       550 5.6.0 Invoice INV-7 was refused: [BR-NL-10]",
            "Reason:      invoice_invalid",
            "[0] rejected  ubl-invoice  INV-7",
            "rejected for: BR-NL-10",
            "specification: si-ubl-2.0",
            "findings:",
            "fatal    BR-NL-10   [BR-NL-10] no buyer KvK\\u{7}",
            "warning  BR-CO-15   [BR-CO-15] totals",
        ] {
            assert!(
                show_refused.contains(expected),
                "missing {expected:?} in\n{show_refused}"
            );
        }
        for expected in [
            format!("Resend of:   {first}"),
            "[0] duplicate  ubl-invoice  INV-7".into(),
            format!("duplicate of: {first} document 0, received "),
            format!("resend of {first}"),
            format!("document 0: duplicate of {first} document 0"),
        ] {
            assert!(
                show_second.contains(&expected),
                "missing {expected:?} in\n{show_second}"
            );
        }
        assert!(!show_refused.contains('\u{7}'));

        let records: Vec<MessageRecord> = json
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(records[0].status.is_rejected());
        assert_eq!(records[2].resend_of.as_ref(), Some(&first));
        let doc = &records[2].documents[0];
        assert_eq!(doc.status, DocumentStatus::Duplicate);
        assert_eq!(doc.duplicate_of.as_ref().map(|d| &d.message), Some(&first));
        assert_eq!(doc.duplicate_key.as_deref(), Some("k"));
        assert_eq!(
            doc.report.as_ref().unwrap()["findings"][1]["rule_id"],
            "BR-CO-15"
        );
    }

    #[test]
    fn retry_takes_a_message_a_document_the_dead_letters_or_an_organisation() {
        let mid = MessageId("20261122T101530Z-000001".into());
        assert_eq!(
            retry_selection(Some(mid.as_str()), false, None, None, Some("erp")).unwrap(),
            Reoffer::Message {
                message: mid.clone(),
                document: None,
                sink: Some("erp".into())
            }
        );
        assert_eq!(
            retry_selection(Some("20261122T101530Z-000001-3"), false, None, None, None).unwrap(),
            Reoffer::Message {
                message: mid,
                document: Some(3),
                sink: None
            }
        );
        for bad in ["20261122T101530Z-000001-x", "../etc", ""] {
            assert!(
                retry_selection(Some(bad), false, None, None, None).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(
            retry_selection(None, true, None, None, None).unwrap(),
            Reoffer::Failed { sink: None }
        );
        let Reoffer::Organisation { since, .. } =
            retry_selection(None, false, Some("acme"), Some("2026-11-01"), Some("erp")).unwrap()
        else {
            panic!("not an organisation re-offer");
        };
        assert_eq!(format_time(since), "2026-11-01T00:00:00.000Z");
        let err = retry_selection(None, false, Some("acme"), Some("yesterday"), Some("erp"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("write a date as 2026-11-01"), "{err}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\u{1b}[2Jb\r\n"), "a\\u{1B}[2Jb\\u{D}\\u{A}");
        assert_eq!(clean("INV\u{202e}fdp.xml"), "INV\\u{202E}fdp.xml");
        assert_eq!(clean("plain"), "plain");
    }
}
