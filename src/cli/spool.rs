//! `trustgate spool list|show`: inspect the spool, as `postqueue -p` inspects Postfix's queue.
//!
//! Called by `cli::run` with the configured spool directory. It asks the running daemon over
//! `<spool>/control.sock`; when no daemon answers (no socket, or connection refused) it opens
//! the store itself, read-only when redb allows (a store left by a crash needs the repair of a
//! writable open). It never changes a record, and it escapes control characters from mail
//! before printing them on a terminal.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, bail};

use crate::spool::control::{self, Request, Response};
use crate::spool::{
    DocumentRecord, DocumentStatus, MessageRecord, MessageStatus, Spool, SpoolError, SpoolOptions,
    control_socket_path, format_time, schema,
};

/// `trustgate spool ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SpoolCommand {
    /// List the stored messages, oldest first.
    List {
        /// Print a JSON array of the full records instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one message: envelope, status, documents, ignored attachments, event log.
    Show {
        /// The message id, as shown by `list` and in the 250 reply.
        id: String,
        /// Print the raw message bytes instead.
        #[arg(long)]
        raw: bool,
    },
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
        SpoolCommand::List { .. } => Request::List,
        SpoolCommand::Show { id, raw: false } => Request::Show { id: id.clone() },
        SpoolCommand::Show { id, raw: true } => Request::Raw { id: id.clone() },
    };
    let response = ask(spool_dir, &request)?;
    match (cmd, response) {
        (SpoolCommand::List { json: true }, Response::List { messages }) => {
            serde_json::to_writer_pretty(&mut *out, &messages)?;
            writeln!(out)?;
        }
        (SpoolCommand::List { json: false }, Response::List { messages }) => {
            print_table(out, &messages)?
        }
        (SpoolCommand::Show { .. }, Response::Show { message }) => print_message(out, &message)?,
        (SpoolCommand::Show { .. }, Response::Raw { data, .. }) => out.write_all(&data)?,
        (_, Response::NotFound { id }) => {
            eprintln!("trustgate: no message {} in the spool", clean(&id));
            return Ok(1);
        }
        (_, Response::Error { message }) => bail!("the spool answered with an error: {message}"),
        (_, other) => bail!("unexpected answer from the spool: {other:?}"),
    }
    out.flush()?;
    Ok(0)
}

/// Asks the daemon, or else the store itself.
fn ask(spool_dir: &Path, request: &Request) -> anyhow::Result<Response> {
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
    let spool = open_direct(spool_dir)?;
    Ok(control::answer(&spool, request))
}

/// Opens the store without a daemon: read-only, or writable when it needs recovery.
fn open_direct(spool_dir: &Path) -> anyhow::Result<Spool> {
    if !spool_dir.join(schema::DATABASE_FILE).exists() {
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
fn print_table(out: &mut dyn Write, messages: &[MessageRecord]) -> std::io::Result<()> {
    let header = ["ID", "RECEIVED", "FROM", "TO", "STATUS", "DOCS"].map(String::from);
    let rows: Vec<[String; 6]> = messages
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
        writeln!(
            out,
            "      xml: {} ({} bytes)",
            clean(&d.xml_name),
            d.xml_size
        )?;
        match (&d.pdf_name, d.pdf_size) {
            (Some(name), Some(size)) => writeln!(out, "      pdf: {} ({size} bytes)", clean(name))?,
            (Some(name), None) => writeln!(out, "      pdf: {}", clean(name))?,
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

/// `s` with control characters escaped, so text from mail cannot drive the terminal.
fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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
            documents: vec![NewDocument {
                receiver: "ad64sde@gw.test".into(),
                organisation: "acme-buyer".into(),
                xml_name: "INV-1.xml".into(),
                xml: b"<Invoice/>".to_vec(),
                pdf_name: Some("INV-1.pdf".into()),
                pdf: Some(b"%PDF".to_vec()),
                format: "UBL Invoice".into(),
                invoice_number: Some("INV-1".into()),
                duplicate_key: None,
                report: None,
                specification: None,
                status: None,
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
        let (code, table) = run_cli(SpoolCommand::List { json: false }, dir);
        assert_eq!(code, 0);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ID "), "{table}");
        assert!(lines[1].starts_with(id.as_str()), "{table}");
        assert!(
            lines[1].contains("billing@acme.test") && lines[1].contains("ad64sde@gw.test (+1)"),
            "{table}"
        );
        assert!(
            lines[1].contains("accepted") && lines[1].ends_with('1'),
            "{table}"
        );

        let (code, json) = run_cli(SpoolCommand::List { json: true }, dir);
        assert_eq!(code, 0);
        let records: Vec<MessageRecord> = serde_json::from_str(&json).unwrap();
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
            "[0] ready  UBL Invoice  INV-1".into(),
            "xml: INV-1.xml (10 bytes)".into(),
            "pdf: INV-1.pdf (4 bytes)".into(),
            "logo\\u{1b}[31m.png: not an invoice".into(),
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
        let err = tokio::task::spawn_blocking(move || {
            run_to(SpoolCommand::List { json: false }, &dir2, &mut Vec::new())
        })
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
        let err = run_to(
            SpoolCommand::List { json: false },
            &tmp.path().join("none"),
            &mut Vec::new(),
        )
        .unwrap_err();
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
            documents: vec![NewDocument {
                receiver: "ad64sde@gw.test".into(),
                organisation: "acme-buyer".into(),
                xml_name: "INV-7.xml".into(),
                xml: b"<Invoice/>".to_vec(),
                pdf_name: None,
                pdf: None,
                format: "UBL Invoice".into(),
                invoice_number: Some("INV-7".into()),
                duplicate_key: Some(key.into()),
                report: Some(report),
                specification: Some("SI-UBL 2.0 (NLCIUS)".into()),
                status: doc_status,
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
                run_cli(SpoolCommand::List { json: false }, &dir2).1,
                show(&refused),
                show(&second),
                run_cli(SpoolCommand::List { json: true }, &dir2).1,
            )
        })
        .await
        .unwrap();

        let lines: Vec<&str> = list.lines().collect();
        assert!(
            lines[1].contains(" rejected ") && lines[1].ends_with("1 (1 rejected)"),
            "{list}"
        );
        assert!(
            lines[2].contains(" accepted ") && lines[2].ends_with('1'),
            "{list}"
        );
        assert!(
            lines[3].contains(" accepted (resend) ") && lines[3].ends_with("1 (1 duplicate)"),
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
            "[0] rejected  UBL Invoice  INV-7",
            "rejected for: BR-NL-10",
            "specification: SI-UBL 2.0 (NLCIUS)",
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
            "[0] duplicate  UBL Invoice  INV-7".into(),
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

        let records: Vec<MessageRecord> = serde_json::from_str(&json).unwrap();
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
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\u{1b}[2Jb\r\n"), "a\\u{1b}[2Jb\\r\\n");
        assert_eq!(clean("plain"), "plain");
    }
}
