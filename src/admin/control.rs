//! The control socket: how `trustgate spool list|show|retry` asks the running daemon, since only
//! one process may open the database (as `postqueue -p` and `postqueue -f` ask Postfix).
//!
//! The daemon runs [`serve`] on `<spool>/control.sock` (mode 0600); the CLI calls [`request`].
//! The protocol is one JSON [`Request`] per line, answered by one JSON [`Response`] per line.
//! Each request line is bounded ([`MAX_REQUEST_LINE`]) and must arrive within
//! [`REQUEST_TIMEOUT`]; connections are capped ([`MAX_CONNECTIONS`]); database reads run in
//! `spawn_blocking`. Every request only reads, except `retry` (re-offers deliveries), `sender`
//! (disables or enables a trusted sender) and `invite` (queues an invitation), which go
//! through the spool's writer. It trusts the file mode of the socket (0600, and of the spool
//! directory) for access control.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use std::collections::BTreeMap;

use crate::delivery::stored::Stored;
use crate::spool::apikeys::ApiKeyRecord;
use crate::spool::{
    AttemptView, DeliveryView, Filter, Manage, MessageId, MessageRecord, NewMessage, NoticeRecord,
    Reoffer, SenderChange, SenderKey, SenderRecord, SenderState, Spool, SpoolError,
};

/// The longest request line the server reads (ids are short; this is generous).
pub const MAX_REQUEST_LINE: usize = 4096;

/// How long the server waits for a request line (also the idle limit of a connection).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server may take to write one response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many control connections are served at once; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 8;

/// The longest response line the client reads (a raw message, base64, fits easily).
pub const MAX_RESPONSE_LINE: u64 = 1 << 30;

/// How long the client waits for each read or write.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most messages one `list` answer holds; the client pages with the cursor.
pub const MAX_PAGE: usize = 1000;

/// A request, one JSON object per line: `{"op":"list","after":null,"limit":1000}`,
/// `{"op":"show","id":"..."}`, `{"op":"raw","id":"..."}`,
/// `{"op":"retry","selection":{"select":"failed","sink":null}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// One page of messages, oldest first.
    List {
        /// The cursor: the last id of the previous page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// At most this many (and at most [`MAX_PAGE`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
        /// Only the messages that match.
        #[serde(default, skip_serializing_if = "Filter::is_empty")]
        filter: Filter,
    },
    /// Hold, release or delete a message (`trustgate spool hold|release|delete`).
    Manage {
        /// `hold`, `release` or `delete`.
        action: ManageAction,
        /// The message id.
        id: String,
    },
    /// One document's XML and PDF (`trustgate spool export`).
    Document {
        /// The message id.
        id: String,
        /// The document's index in the message.
        index: u32,
    },
    /// Re-offer deliveries (`trustgate spool retry`). The only request that changes the spool.
    Retry {
        /// Which.
        selection: Reoffer,
    },
    /// One message's record.
    Show {
        /// The message id.
        id: String,
    },
    /// One message's raw bytes.
    Raw {
        /// The message id.
        id: String,
    },
    /// Store a new API key (`trustgate apikey create`): only its hash crosses the socket.
    ApiKeyAdd {
        /// The client id.
        client_id: String,
        /// The record (scope, hash of the secret).
        record: ApiKeyRecord,
    },
    /// Every API key (`trustgate apikey list`).
    ApiKeys,
    /// Revoke an API key (`trustgate apikey revoke`).
    ApiKeyRevoke {
        /// The client id.
        client_id: String,
    },
    /// Reload the config, its includes and the TLS certificate (`trustgate reload`).
    Reload,
    /// Every trusted sender's lifecycle record (`trustgate senders list`).
    Senders,
    /// Disable or enable a trusted sender (`trustgate sender disable|enable`).
    Sender {
        /// The receiving address.
        receiver: String,
        /// The sender's contact.
        contact: String,
        /// `true`: disable; `false`: enable.
        disable: bool,
    },
    /// Queue an invitation to a trusted sender's contact (`trustgate invite`), with
    /// everything it says (the CLI read it from the config).
    Invite {
        /// What the invitation says, to whom.
        notice: Box<NoticeRecord>,
        /// The contact's key.
        key: SenderKey,
    },
}

/// A response, one JSON object per line, tagged by `"result"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// Answer to [`Request::List`].
    List {
        /// The records, oldest first.
        messages: Vec<MessageRecord>,
        /// The deliveries of those messages, by message id.
        #[serde(default)]
        deliveries: BTreeMap<String, Vec<DeliveryView>>,
        /// The cursor of the next page; `None` at the end.
        #[serde(default)]
        next: Option<String>,
    },
    /// Answer to [`Request::Show`].
    Show {
        /// The record.
        message: Box<MessageRecord>,
        /// Its deliveries.
        #[serde(default)]
        deliveries: Vec<DeliveryView>,
        /// Every attempt at them.
        #[serde(default)]
        attempts: Vec<AttemptView>,
    },
    /// Answer to [`Request::Retry`].
    Retried {
        /// Deliveries queued or put back in the queue.
        count: u64,
    },
    /// Answer to [`Request::Raw`].
    Raw {
        /// The message id.
        id: MessageId,
        /// The raw message (base64 in the JSON).
        #[serde(with = "base64_bytes")]
        data: Vec<u8>,
    },
    /// Answer to [`Request::Manage`].
    Managed {
        /// Whether something changed (not when it was held already, not held, or deleted).
        changed: bool,
        /// Deliveries held, released or removed.
        deliveries: u64,
    },
    /// Answer to [`Request::Document`].
    Document {
        /// The XML (base64 in the JSON).
        #[serde(with = "base64_bytes")]
        xml: Vec<u8>,
        /// The PDF, if the document has one (base64 in the JSON).
        #[serde(default, skip_serializing_if = "Option::is_none", with = "base64_opt")]
        pdf: Option<Vec<u8>>,
    },
    /// Answer to [`Request::ApiKeys`].
    ApiKeys {
        /// (client id, record), never a secret.
        keys: Vec<(String, ApiKeyRecord)>,
    },
    /// Answer to [`Request::ApiKeyAdd`] and [`Request::ApiKeyRevoke`].
    KeyChanged {
        /// Whether anything changed (a revoke of an unknown or revoked key changes nothing).
        changed: bool,
    },
    /// Answer to [`Request::Reload`]: the new config is live; `notes` name changed settings
    /// that take a restart to apply.
    Reloaded {
        /// Settings that changed but need a restart.
        notes: Vec<String>,
    },
    /// Answer to [`Request::Reload`]: the daemon keeps the config it had, for these errors
    /// (`FILE:LINE:COL: …`).
    ReloadFailed {
        /// The errors.
        errors: Vec<String>,
    },
    /// Answer to [`Request::Senders`].
    Senders {
        /// Every sender something happened to (the others are `pending`).
        senders: Vec<SenderView>,
    },
    /// Answer to [`Request::Sender`] and [`Request::Invite`]: the sender's record afterwards.
    Sender {
        /// The sender.
        sender: SenderView,
        /// The invitation's message, for [`Request::Invite`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queued: Option<MessageId>,
    },
    /// No message has that id (or it is not a valid id).
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The request could not be answered.
    Error {
        /// Why, for the admin.
        message: String,
    },
}

/// The daemon's reload, handed to the control socket: `Ok(notes)` when the new config is
/// live, `Err(errors)` when the old one stays. Blocking (reads files).
pub type ReloadFn = Arc<dyn Fn() -> Result<Vec<String>, Vec<String>> + Send + Sync>;

/// What [`Request::Manage`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManageAction {
    /// `spool hold`.
    Hold,
    /// `spool release`.
    Release,
    /// `spool delete --force`.
    Delete,
}

/// One trusted sender's lifecycle, as the control socket and `senders list --json` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderView {
    /// Which sender.
    #[serde(flatten)]
    pub key: SenderKey,
    /// `pending`, `invited`, `active` or `disabled`.
    pub state: SenderState,
    /// What happened.
    #[serde(flatten)]
    pub record: SenderRecord,
}

impl SenderView {
    /// The view of `record`.
    pub fn new(key: SenderKey, record: SenderRecord) -> SenderView {
        SenderView {
            key,
            state: record.state(),
            record,
        }
    }
}

/// Answers one request from `spool` (blocking: database reads; a retry waits for the
/// writer, from inside a runtime's blocking thread or with a runtime of its own). The server
/// and the CLI's direct mode both use it, so they answer alike.
pub fn answer(spool: &Spool, req: &Request) -> Response {
    let result = match req {
        Request::List {
            after,
            limit,
            filter,
        } => list(spool, after.as_deref(), *limit, filter),
        Request::Manage { action, id } => {
            let Some(mid) = MessageId::parse(id) else {
                return Response::NotFound { id: id.clone() };
            };
            let op = match action {
                ManageAction::Hold => Manage::Hold(mid),
                ManageAction::Release => Manage::Release(mid),
                ManageAction::Delete => Manage::Delete(mid),
            };
            block_on(spool.manage(op)).map(|m| {
                if m.found {
                    Response::Managed {
                        changed: m.changed,
                        deliveries: m.deliveries,
                    }
                } else {
                    Response::NotFound { id: id.clone() }
                }
            })
        }
        Request::Document { id, index } => {
            let Some(mid) = MessageId::parse(id) else {
                return Response::NotFound { id: id.clone() };
            };
            document(spool, &mid, *index)
        }
        Request::Retry { selection } => retry(spool, selection),
        Request::ApiKeyAdd { client_id, record } => {
            block_on(spool.add_api_key(client_id.clone(), record.clone()))
                .map(|()| Response::KeyChanged { changed: true })
        }
        Request::ApiKeys => spool.api_keys().map(|keys| Response::ApiKeys { keys }),
        Request::ApiKeyRevoke { client_id } => block_on(spool.revoke_api_key(client_id.clone()))
            .map(|changed| Response::KeyChanged { changed }),
        Request::Reload => Ok(Response::Error {
            message: "no daemon runs: there is nothing to reload".into(),
        }),
        Request::Senders => spool.senders().map(|all| Response::Senders {
            senders: all
                .into_iter()
                .map(|(key, record)| SenderView::new(key, record))
                .collect(),
        }),
        Request::Sender {
            receiver,
            contact,
            disable,
        } => {
            let key = SenderKey::new(receiver, contact);
            let change = if *disable {
                SenderChange::Disable
            } else {
                SenderChange::Enable
            };
            block_on(spool.change_sender(key.clone(), change)).map(|record| Response::Sender {
                sender: SenderView::new(key, record),
                queued: None,
            })
        }
        Request::Invite { notice, key } => invite(spool, notice, key),
        Request::Show { id } | Request::Raw { id } => {
            let Some(mid) = MessageId::parse(id) else {
                return Response::NotFound { id: id.clone() };
            };
            let found = if matches!(req, Request::Show { .. }) {
                show(spool, &mid)
            } else {
                spool.raw(&mid).map(|r| {
                    r.map(|data| Response::Raw {
                        id: mid.clone(),
                        data,
                    })
                })
            };
            found.map(|r| r.unwrap_or_else(|| Response::NotFound { id: id.clone() }))
        }
    };
    result.unwrap_or_else(|err: SpoolError| Response::Error {
        message: err.to_string(),
    })
}

fn list(
    spool: &Spool,
    after: Option<&str>,
    limit: Option<usize>,
    filter: &Filter,
) -> Result<Response, SpoolError> {
    let after = match after {
        Some(a) => match MessageId::parse(a) {
            Some(id) => Some(id),
            None => {
                return Ok(Response::Error {
                    message: format!("\"{}\" is not a message id", crate::text::display_safe(a)),
                });
            }
        },
        None => None,
    };
    let limit = limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let (messages, next) = spool.list_page(after.as_ref(), limit, filter)?;
    let mut deliveries = BTreeMap::new();
    for m in &messages {
        let d = spool.deliveries(&m.id)?;
        if !d.is_empty() {
            deliveries.insert(m.id.to_string(), d);
        }
    }
    Ok(Response::List {
        messages,
        deliveries,
        next: next.map(|n| n.to_string()),
    })
}

fn show(spool: &Spool, id: &MessageId) -> Result<Option<Response>, SpoolError> {
    let Some(message) = spool.get(id)? else {
        return Ok(None);
    };
    Ok(Some(Response::Show {
        message: Box::new(message),
        deliveries: spool.deliveries(id)?,
        attempts: spool.attempts(id)?,
    }))
}

/// Runs a request to the writer to its end, from inside a runtime's blocking thread or with a
/// runtime of its own (the CLI without a daemon).
fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, SpoolError>>,
) -> Result<T, SpoolError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(future),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SpoolError::Database(format!("cannot start a runtime: {e}")))?
            .block_on(future),
    }
}

/// One document's bytes, wherever they are kept. A document kept only in the raw message is
/// found again without the intake limits: the message passed them when it was accepted, and
/// its size is bounded by what was accepted.
fn document(spool: &Spool, mid: &MessageId, index: u32) -> Result<Response, SpoolError> {
    let not_found = || Response::NotFound {
        id: format!("{mid}-{index}"),
    };
    let Some(message) = spool.get(mid)? else {
        return Ok(not_found());
    };
    let Some(doc) = message.documents.iter().find(|d| d.index == index) else {
        return Ok(not_found());
    };
    let limits = crate::intake::IntakeLimits::unbounded();
    Ok(
        match crate::delivery::stored::load(spool, &message, doc, &limits)? {
            Stored::Bytes { xml, pdf, .. } => Response::Document { xml, pdf },
            Stored::Gone => not_found(),
            Stored::Broken(why) => Response::Error { message: why },
        },
    )
}

/// Stores an invitation as an outgoing message queued for the `notices` sink, and counts it
/// in the sender's record, in one transaction.
pub fn invite(
    spool: &Spool,
    notice: &NoticeRecord,
    key: &SenderKey,
) -> Result<Response, SpoolError> {
    let mut notice = notice.clone();
    notice.kind = crate::spool::NoticeKind::Invitation;
    let mut body = spool.staging()?;
    // The words are rendered when it is sent; the stored body says what it is.
    let text = format!(
        "Invitation to <{}> to send invoices to <{}> ({}), queued by trustgate invite.\r\n",
        notice.to, notice.receiver, notice.organisation
    );
    body.write(text.as_bytes()).map_err(|e| SpoolError::Io {
        path: spool.path().to_path_buf(),
        source: e,
    })?;
    let msg = NewMessage {
        received_at: std::time::SystemTime::now(),
        peer: "local".into(),
        helo: "trustgate invite".into(),
        mail_from: String::new(),
        rcpt_to: vec![notice.to.clone()],
        header_message_id: None,
        header_from: None,
        tls: None,
        auth: None,
        notice: Some(notice),
        deliver_once: Vec::new(),
        deliver_message: vec![crate::config::validate::NOTICES_SINK.to_string()],
        senders: vec![crate::spool::SenderUpdate::Invitation(key.clone())],
        documents: Vec::new(),
        ignored: Vec::new(),
        body,
        status: crate::spool::MessageStatus::Outgoing,
    };
    let id = block_on(spool.commit(msg))?;
    let record = spool.sender(key)?.unwrap_or_default();
    Ok(Response::Sender {
        sender: SenderView::new(key.clone(), record),
        queued: Some(id),
    })
}

fn retry(spool: &Spool, selection: &Reoffer) -> Result<Response, SpoolError> {
    if let Reoffer::Message { message, .. } = selection
        && spool.get(message)?.is_none()
    {
        return Ok(Response::NotFound {
            id: message.to_string(),
        });
    }
    let count = block_on(spool.reoffer(selection.clone()))?;
    Ok(Response::Retried { count })
}

/// A bound control socket, ready for [`ControlListener::run`].
pub struct ControlListener {
    listener: UnixListener,
    path: PathBuf,
    /// The sinks a `retry` may name (`None`: any, for tests of the socket alone).
    sinks: Option<Arc<[String]>>,
    /// The daemon's reload (`None`: `reload` is refused).
    reload: Option<ReloadFn>,
}

/// Binds `path` (replacing a stale socket left by a crash) with mode 0600. A regular file at
/// `path` is not removed: that is an error. Call it inside the runtime.
///
/// # Errors
/// I/O errors binding or setting the mode.
pub fn bind(path: &Path) -> Result<ControlListener, SpoolError> {
    let io = |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        // Only one daemon can hold the spool, so a socket here is a dead one's.
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path).map_err(io)?,
        Ok(_) => {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way of the control socket",
            )));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io(err)),
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(ControlListener {
        listener,
        path: path.to_path_buf(),
        sinks: None,
        reload: None,
    })
}

/// Binds the daemon's control socket at `path`, at once (so the CLI finds it as soon as the
/// daemon says it started), for [`ControlListener::run`]: `retry` may name only `sinks`, and
/// `reload` runs the daemon's reload.
///
/// # Errors
/// Binding failed (see [`bind`]).
pub fn listen(
    path: PathBuf,
    sinks: Vec<String>,
    reload: ReloadFn,
) -> Result<ControlListener, SpoolError> {
    let mut listener = bind(&path)?.with_sinks(sinks);
    listener.reload = Some(reload);
    Ok(listener)
}

impl std::fmt::Debug for ControlListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlListener")
            .field("path", &self.path)
            .field("sinks", &self.sinks)
            .field("reload", &self.reload.is_some())
            .finish_non_exhaustive()
    }
}

impl ControlListener {
    /// Only these sinks may be named by a `retry` (the daemon's `[[sink]]` names): a re-offer
    /// to any other would queue deliveries no dispatcher ever takes.
    pub fn with_sinks(mut self, sinks: Vec<String>) -> ControlListener {
        self.sinks = Some(sinks.into());
        self
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until `shutdown`: stops accepting, closes idle connections, lets a request in
    /// progress finish, then removes the socket file.
    pub async fn run(self, spool: Spool, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => break,
                p = Arc::clone(&permits).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                a = self.listener.accept() => a,
            };
            match accepted {
                Ok((stream, _)) => {
                    let spool = spool.clone();
                    let shutdown = shutdown.clone();
                    let sinks = self.sinks.clone();
                    let reload = self.reload.clone();
                    tracker.spawn(async move {
                        if let Err(err) = handle(stream, spool, sinks, reload, shutdown).await {
                            tracing::debug!(error = %err, "control connection ended with an error");
                        }
                        drop(permit);
                    });
                }
                Err(err) => {
                    // EMFILE and the like pass; never stop serving on them.
                    tracing::warn!(error = %err, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        tracker.close();
        tracker.wait().await;
        if let Err(err) = std::fs::remove_file(&self.path) {
            tracing::debug!(error = %err, "cannot remove the control socket");
        }
    }
}

/// Serves one connection: request lines until EOF, timeout, a bad line or shutdown.
async fn handle(
    stream: UnixStream,
    spool: Spool,
    sinks: Option<Arc<[String]>>,
    reload: Option<ReloadFn>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = AsyncBufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let limited = (&mut reader).take(MAX_REQUEST_LINE as u64 + 1);
        let read = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            r = tokio::time::timeout(REQUEST_TIMEOUT, read_line(limited, &mut line)) => r,
        };
        let n = match read {
            Ok(r) => r?,
            Err(_) => return Ok(()), // idle too long
        };
        if n == 0 {
            return Ok(());
        }
        let (response, close) = if line.len() > MAX_REQUEST_LINE || !line.ends_with(b"\n") {
            (
                Response::Error {
                    message: format!("request line longer than {MAX_REQUEST_LINE} bytes"),
                },
                true,
            )
        } else {
            match serde_json::from_slice::<Request>(&line) {
                Ok(req) => match unknown_sink(&req, sinks.as_deref()) {
                    Some(sink) => (
                        Response::Error {
                            message: format!(
                                "no sink {sink:?} in the daemon's config; the sinks are: {}",
                                sinks.as_deref().unwrap_or_default().join(", ")
                            ),
                        },
                        false,
                    ),
                    None if let (Request::Reload, Some(reload)) = (&req, reload.clone()) => {
                        let answered = tokio::task::spawn_blocking(move || match reload() {
                            Ok(notes) => Response::Reloaded { notes },
                            Err(errors) => Response::ReloadFailed { errors },
                        })
                        .await;
                        (
                            answered.unwrap_or_else(|err| Response::Error {
                                message: format!("reload failed: {err}"),
                            }),
                            false,
                        )
                    }
                    None => {
                        let spool = spool.clone();
                        let answered =
                            tokio::task::spawn_blocking(move || answer(&spool, &req)).await;
                        (
                            answered.unwrap_or_else(|err| Response::Error {
                                message: format!("request failed: {err}"),
                            }),
                            false,
                        )
                    }
                },
                Err(err) => (
                    Response::Error {
                        message: format!("bad request: {err}"),
                    },
                    false,
                ),
            }
        };
        let mut out = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
        out.push(b'\n');
        tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&out))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "control response write timed out",
                )
            })??;
        if close {
            return Ok(());
        }
    }
}

/// The sink a `retry` names that is not among `sinks`, if any.
fn unknown_sink(req: &Request, sinks: Option<&[String]>) -> Option<String> {
    let (Request::Retry { selection }, Some(sinks)) = (req, sinks) else {
        return None;
    };
    let sink = selection.sink()?;
    (!sinks.iter().any(|s| s == sink)).then(|| sink.to_owned())
}

/// Reads up to and including `\n` (or EOF, or the reader's limit).
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    mut r: R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    r.read_until(b'\n', buf).await
}

/// Sends one request to the daemon at `path` and reads its response (blocking).
///
/// # Errors
/// `NotFound` or `ConnectionRefused` when no daemon listens (the CLI then opens the store
/// itself); other I/O errors, timeouts ([`CLIENT_TIMEOUT`] per read or write), or
/// `InvalidData` for a response that is not valid JSON.
pub fn request(path: &Path, req: &Request) -> std::io::Result<Response> {
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reader = BufReader::new(stream.take(MAX_RESPONSE_LINE));
    let mut response = Vec::new();
    reader.read_until(b'\n', &mut response)?;
    if !response.ends_with(b"\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the daemon closed the control connection",
        ));
    }
    serde_json::from_slice(&response)
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

/// Serde for bytes as standard base64.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// Optional bytes as base64 in the JSON.
mod base64_opt {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_some(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| {
                STANDARD
                    .decode(s.as_bytes())
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use tokio::io::AsyncBufReadExt as _;

    use super::*;
    use crate::spool::{NewMessage, SpoolOptions};

    async fn spool_with_one(dir: &Path) -> (Spool, MessageId) {
        let spool = Spool::open(&SpoolOptions::new(dir.join("spool"))).unwrap();
        let mut body = spool.staging().unwrap();
        body.write(b"Subject: hi\r\n\r\nbody\xff\r\n").unwrap();
        let msg = NewMessage {
            received_at: SystemTime::now(),
            peer: "127.0.0.1:1".into(),
            helo: "h".into(),
            mail_from: "a@b.test".into(),
            rcpt_to: vec!["c@d.test".into()],
            header_message_id: None,
            header_from: None,
            tls: None,
            auth: None,
            notice: None,
            deliver_once: Vec::new(),
            deliver_message: Vec::new(),
            senders: Vec::new(),
            documents: vec![],
            ignored: vec![],
            body,
            status: crate::spool::MessageStatus::Accepted,
        };
        let id = spool.commit(msg).await.unwrap();
        (spool, id)
    }

    /// Sends raw lines and reads one response line per request.
    async fn raw_exchange(path: &Path, bytes: &[u8]) -> Vec<String> {
        let stream = UnixStream::connect(path).await.unwrap();
        let (read, mut write) = stream.into_split();
        write.write_all(bytes).await.unwrap();
        write.shutdown().await.unwrap();
        let mut lines = AsyncBufReader::new(read).lines();
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            out.push(line);
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retry_naming_a_sink_the_daemon_does_not_have_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (spool, id) = spool_with_one(tmp.path()).await;
        let path = spool.control_socket_path();
        let listener = bind(&path).unwrap().with_sinks(vec!["erp".into()]);
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(listener.run(spool.clone(), shutdown.clone()));
        let retry = |sink: &str| {
            let req = Request::Retry {
                selection: Reoffer::Message {
                    message: id.clone(),
                    document: None,
                    sink: Some(sink.into()),
                },
            };
            let mut line = serde_json::to_vec(&req).unwrap();
            line.push(b'\n');
            line
        };
        let lines = raw_exchange(&path, &[retry("nope"), retry("erp")].concat()).await;
        let answers: Vec<Response> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            answers[0],
            Response::Error {
                message: "no sink \"nope\" in the daemon's config; the sinks are: erp".into()
            }
        );
        // A known sink goes through (the message has no documents: nothing to queue).
        assert_eq!(answers[1], Response::Retried { count: 0 });
        assert!(spool.deliveries(&id).unwrap().is_empty());
        shutdown.cancel();
        server.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn list_show_raw_round_trip_over_the_socket() {
        let tmp = tempfile::tempdir().unwrap();
        let (spool, id) = spool_with_one(tmp.path()).await;
        let path = spool.control_socket_path();
        // A stale socket from a crashed daemon is replaced.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(listener.run(spool.clone(), shutdown.clone()));

        let (p, want) = (path.clone(), id.clone());
        tokio::task::spawn_blocking(move || {
            let Response::List { messages, .. } = request(
                &p,
                &Request::List {
                    after: None,
                    limit: None,
                    filter: Filter::default(),
                },
            )
            .unwrap() else {
                panic!("not a list")
            };
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].id, want);
            let Response::Show { message, .. } = request(
                &p,
                &Request::Show {
                    id: want.to_string(),
                },
            )
            .unwrap() else {
                panic!("not a show")
            };
            assert_eq!(*message, messages[0]);
            let Response::Raw { id, data } = request(
                &p,
                &Request::Raw {
                    id: want.to_string(),
                },
            )
            .unwrap() else {
                panic!("not raw")
            };
            assert_eq!(
                (id, data.as_slice()),
                (want, &b"Subject: hi\r\n\r\nbody\xff\r\n"[..])
            );
            let missing = request(
                &p,
                &Request::Show {
                    id: "20000101T000000Z-000009".into(),
                },
            )
            .unwrap();
            assert_eq!(
                missing,
                Response::NotFound {
                    id: "20000101T000000Z-000009".into()
                }
            );
            let bad = request(
                &p,
                &Request::Raw {
                    id: "../spool.redb".into(),
                },
            )
            .unwrap();
            assert_eq!(
                bad,
                Response::NotFound {
                    id: "../spool.redb".into()
                }
            );
        })
        .await
        .unwrap();

        // Several requests on one connection; a bad one is answered and the next still served.
        let answers = raw_exchange(
            &path,
            b"{\"op\":\"list\"}\nnot json\n{\"op\":\"drop\"}\n{\"op\":\"list\"}\n",
        )
        .await;
        assert_eq!(answers.len(), 4, "{answers:?}");
        assert!(
            answers[0].starts_with("{\"result\":\"list\""),
            "{}",
            answers[0]
        );
        assert!(
            answers[1].starts_with("{\"result\":\"error\""),
            "{}",
            answers[1]
        );
        assert!(
            answers[2].starts_with("{\"result\":\"error\""),
            "{}",
            answers[2]
        );
        assert!(
            answers[3].starts_with("{\"result\":\"list\""),
            "{}",
            answers[3]
        );

        // An over-long line is refused and the connection closed.
        let mut long = vec![b' '; MAX_REQUEST_LINE + 10];
        long.extend_from_slice(b"\n{\"op\":\"list\"}\n");
        let answers = raw_exchange(&path, &long).await;
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert!(answers[0].contains("longer than"), "{}", answers[0]);

        shutdown.cancel();
        server.await.unwrap();
        assert!(!path.exists(), "the socket is removed at shutdown");
    }

    #[tokio::test]
    async fn a_regular_file_in_the_way_is_not_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("control.sock");
        std::fs::write(&path, b"precious").unwrap();
        assert!(bind(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    }

    #[test]
    fn no_daemon_is_not_found_or_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let err = request(
            &tmp.path().join("control.sock"),
            &Request::List {
                after: None,
                limit: None,
                filter: Filter::default(),
            },
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn the_wire_format_is_as_documented() {
        assert_eq!(
            serde_json::to_string(&Request::List {
                after: None,
                limit: None,
                filter: Filter::default(),
            })
            .unwrap(),
            r#"{"op":"list"}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Show { id: "x".into() }).unwrap(),
            r#"{"op":"show","id":"x"}"#
        );
        let raw = Response::Raw {
            id: MessageId("x".into()),
            data: b"hi".to_vec(),
        };
        assert_eq!(
            serde_json::to_string(&raw).unwrap(),
            r#"{"result":"raw","id":"x","data":"aGk="}"#
        );
    }
}
