//! The admin HTTP API (issue 12, section 2), on axum: health, readiness, the messages and
//! documents of the spool, the queue operations of `trustgate spool`, the senders, and the
//! pull API for ERP batch jobs (list the documents that wait, fetch one, acknowledge it).
//!
//! Every route but `/health` needs an API key (`trustgate apikey create`), as
//! `Authorization: Bearer <client id>.<secret>` or as HTTP Basic with the two halves. A key of
//! one organisation sees that organisation's documents and messages only; everything else is
//! answered 404, as if it did not exist. Admin keys see everything and alone may hold, release
//! or delete. JSON under `/api/v1`. Spool reads and writes run in `spawn_blocking` (redb is
//! blocking); the writer's operations are the same ones the control socket uses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::delivery::payload::DocumentMeta;
use crate::delivery::stored::{self, Stored};
use crate::intake::IntakeLimits;
use crate::spool::apikeys::Scope;
use crate::spool::pull::{AckRecord, AckStatus, Acked, Waiting};
use crate::spool::{
    DocumentRecord, Filter, Manage, MessageId, MessageRecord, Reoffer, Spool, SpoolError,
    StatusFilter,
};

/// The most items one list answer holds; the client pages with `next`.
pub const MAX_PAGE: usize = 500;

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The spool.
    pub spool: Spool,
    /// The config the daemon runs on.
    pub config: Arc<Config>,
}

/// Serves the API on `listener` until `stop` is cancelled.
///
/// # Errors
/// The listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    stop: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { stop.cancelled().await })
    .await
}

/// The routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/documents", get(list_documents))
        .route("/api/v1/documents/{id}", get(document_json))
        .route("/api/v1/documents/{id}/json", get(document_json))
        .route("/api/v1/documents/{id}/xml", get(document_xml))
        .route("/api/v1/documents/{id}/pdf", get(document_pdf))
        .route("/api/v1/documents/{id}/ack", post(ack))
        .route("/api/v1/documents/{id}/status", post(erp_status))
        .route("/api/v1/documents/{id}/reoffer", post(reoffer))
        .route("/api/v1/messages", get(list_messages))
        .route("/api/v1/messages/{id}", get(message).delete(delete_message))
        .route("/api/v1/messages/{id}/raw", get(message_raw))
        .route("/api/v1/messages/{id}/events", get(message_events))
        .route("/api/v1/messages/{id}/hold", post(hold))
        .route("/api/v1/messages/{id}/release", post(release))
        .with_state(state)
}

/// An error answer: a status and a sentence, as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, format!("no {what}"))
    }

    fn bad_request(why: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, why.into())
    }
}

impl From<SpoolError> for ApiError {
    fn from(err: SpoolError) -> ApiError {
        tracing::error!(error = %err, "admin API: spool error");
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the spool cannot answer right now; try again".into(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"trustgate\", Basic realm=\"trustgate\""),
            );
        }
        response
    }
}

/// Runs blocking spool work off the runtime's threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request failed inside the gateway".into(),
        )
    })?
}

/// Who called: a valid, unrevoked key.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's client id.
    pub client_id: String,
    /// What it may see.
    pub scope: Scope,
}

impl Caller {
    fn organisation(&self) -> Option<&str> {
        match &self.scope {
            Scope::Admin => None,
            Scope::Organisation { organisation } => Some(organisation),
        }
    }

    fn require_admin(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin => Ok(()),
            Scope::Organisation { .. } => Err(ApiError(
                StatusCode::FORBIDDEN,
                "this needs an admin key".into(),
            )),
        }
    }

    /// Whether the caller may see `doc`.
    fn sees_document(&self, doc: &DocumentRecord) -> bool {
        self.organisation()
            .is_none_or(|org| doc.organisation == org)
    }

    /// Whether the caller may see `message`: an organisation key only messages all of whose
    /// documents are its own (a message with another organisation's invoice is not shown,
    /// since its raw bytes carry that invoice too), and that have at least one.
    fn sees_message(&self, message: &MessageRecord) -> bool {
        match self.organisation() {
            None => true,
            Some(org) => {
                !message.documents.is_empty()
                    && message.documents.iter().all(|d| d.organisation == org)
            }
        }
    }
}

/// The key from `Authorization: Bearer KEY` or `Authorization: Basic base64(id:secret)`.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        return Some(format!("{id}.{secret}"));
    }
    None
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Caller, ApiError> {
        let unauthorized = || {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "an API key is needed: Authorization: Bearer <client id>.<secret> (trustgate apikey create)".into(),
            )
        };
        let key = presented_key(&parts.headers).ok_or_else(unauthorized)?;
        let spool = state.spool.clone();
        let found = blocking(move || Ok(spool.authenticate_key(&key)?)).await?;
        match found {
            Some((client_id, scope)) => Ok(Caller { client_id, scope }),
            None => {
                tracing::warn!("admin API: a request with an unknown, revoked or wrong key");
                Err(unauthorized())
            }
        }
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the spool answers and is writable (not below its free-space reserve), the
/// config is loaded, and each sink's oldest due delivery.
async fn ready(_caller: Caller, State(state): State<ApiState>) -> Result<Response, ApiError> {
    let spool = state.spool.clone();
    let sinks: Vec<String> = state.config.sinks.iter().map(|s| s.name.clone()).collect();
    let (free, due) = blocking(move || {
        let free = spool.free_space();
        let mut due = Vec::new();
        for sink in &sinks {
            let next = spool.next_due(sink)?;
            due.push(serde_json::json!({
                "sink": sink,
                "next_due": next.map(crate::spool::format_time),
            }));
        }
        Ok((free, due))
    })
    .await?;
    let writable = free.is_ok();
    let body = serde_json::json!({
        "ready": writable,
        "spool": if writable { "writable" } else { "not writable" },
        "config": state.config.source.display().to_string(),
        "sinks": due,
    });
    let status = if writable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(body)).into_response())
}

/// `GET /metrics` (admin keys): Prometheus text. Counts cover every organisation, so an
/// organisation key may not read them.
async fn metrics(caller: Caller, State(state): State<ApiState>) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let spool = state.spool.clone();
    let sinks: Vec<String> = state.config.sinks.iter().map(|s| s.name.clone()).collect();
    let text = blocking(move || Ok(crate::observe::metrics().encode(&spool, &sinks)?)).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// A document id `<message id>-<index>`.
fn parse_document_id(id: &str) -> Result<(MessageId, u32), ApiError> {
    let (mid, index) = id
        .rsplit_once('-')
        .ok_or_else(|| ApiError::not_found(format_args!("document {}", safe(id))))?;
    let index: u32 = index
        .parse()
        .map_err(|_| ApiError::not_found(format_args!("document {}", safe(id))))?;
    let mid = MessageId::parse(mid)
        .ok_or_else(|| ApiError::not_found(format_args!("document {}", safe(id))))?;
    Ok((mid, index))
}

fn safe(s: &str) -> String {
    crate::text::display_safe(s).into_owned()
}

/// The message and document a caller may see, or 404.
fn visible_document(
    spool: &Spool,
    caller: &Caller,
    id: &str,
) -> Result<(MessageRecord, u32), ApiError> {
    let (mid, index) = parse_document_id(id)?;
    let not_found = || ApiError::not_found(format_args!("document {}", safe(id)));
    let message = spool.get(&mid)?.ok_or_else(not_found)?;
    let doc = message
        .documents
        .iter()
        .find(|d| d.index == index)
        .ok_or_else(not_found)?;
    if !caller.sees_document(doc) || message.deleted_at.is_some() {
        return Err(not_found());
    }
    Ok((message, index))
}

/// `?status=ready&after=…&limit=…`
#[derive(Debug, Deserialize)]
struct DocumentQuery {
    /// Only `ready` (waiting for the pull API) is listed.
    #[serde(default)]
    status: Option<String>,
    /// The `next` of the previous page.
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    /// For admin keys: one organisation.
    #[serde(default)]
    organisation: Option<String>,
}

/// One document in a list.
#[derive(Debug, Serialize)]
struct DocumentItem {
    id: String,
    message: String,
    index: u32,
    organisation: String,
    receiver: String,
    format: String,
    specification: Option<String>,
    invoice_number: Option<String>,
    xml_name: String,
    pdf_name: Option<String>,
    received_at: String,
    status: &'static str,
}

/// `GET /api/v1/documents?status=ready`: the documents that wait for this key's organisation
/// (an admin key: every organisation's, or `organisation=`), oldest first per organisation.
async fn list_documents(
    caller: Caller,
    State(state): State<ApiState>,
    Query(q): Query<DocumentQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if q.status.as_deref().is_some_and(|s| s != "ready") {
        return Err(ApiError::bad_request(
            "status: only \"ready\" is listed here (the documents that wait to be fetched); acknowledged ones are in each message's events",
        ));
    }
    let organisation = match (caller.organisation(), q.organisation) {
        (Some(own), _) => Some(own.to_string()),
        (None, other) => other,
    };
    let after = match &q.after {
        Some(cursor) => Some(decode_cursor(cursor)?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let spool = state.spool.clone();
    let (items, next) = blocking(move || {
        let (waiting, next) = spool.waiting(organisation.as_deref(), after.as_ref(), limit)?;
        let mut items = Vec::with_capacity(waiting.len());
        for w in waiting {
            let Some(message) = spool.get(&MessageId(w.message.clone()))? else {
                continue;
            };
            let Some(doc) = message.documents.iter().find(|d| d.index == w.document) else {
                continue;
            };
            items.push(DocumentItem {
                id: format!("{}-{}", message.id, doc.index),
                message: message.id.to_string(),
                index: doc.index,
                organisation: doc.organisation.clone(),
                receiver: doc.receiver.clone(),
                format: doc.format.clone(),
                specification: doc.specification.clone(),
                invoice_number: doc.invoice_number.clone(),
                xml_name: doc.xml_name.clone(),
                pdf_name: doc.pdf_name.clone(),
                received_at: crate::spool::format_time(message.received_at),
                status: "ready",
            });
        }
        Ok((items, next))
    })
    .await?;
    Ok(Json(serde_json::json!({
        "documents": items,
        "next": next.map(|w| encode_cursor(&w)),
    })))
}

/// The cursor of the document list: `<organisation>/<message id>-<index>`, as opaque text.
fn encode_cursor(w: &Waiting) -> String {
    format!("{}/{}-{}", w.organisation, w.message, w.document)
}

fn decode_cursor(cursor: &str) -> Result<Waiting, ApiError> {
    let bad = || ApiError::bad_request("after: not a cursor this API gave");
    let (organisation, doc) = cursor.split_once('/').ok_or_else(bad)?;
    let (mid, index) = parse_document_id(doc).map_err(|_| bad())?;
    Ok(Waiting {
        organisation: organisation.to_string(),
        message: mid.to_string(),
        document: index,
    })
}

/// `GET /api/v1/documents/{id}` (and `/json`): the document's metadata and inspection report,
/// as the sinks send it, with its acknowledgement if any.
async fn document_json(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let spool = state.spool.clone();
    let gateway = state.config.server.hostname.clone();
    blocking(move || {
        let (message, index) = visible_document(&spool, &caller, &id)?;
        let doc = message
            .documents
            .iter()
            .find(|d| d.index == index)
            .ok_or_else(|| ApiError::not_found("document"))?;
        let meta = DocumentMeta::new(&gateway, &message, doc);
        let mut value = serde_json::to_value(&meta)
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding: {e}")))?;
        let ack = spool.ack_of(&message.id, index)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("status".into(), serde_json::json!(doc.status.to_string()));
            obj.insert(
                "ack".into(),
                serde_json::to_value(ack).unwrap_or(serde_json::Value::Null),
            );
        }
        Ok(Json(value))
    })
    .await
}

/// The bytes of a document the caller may see.
async fn document_bytes(
    caller: Caller,
    state: ApiState,
    id: String,
) -> Result<(Vec<u8>, Option<Vec<u8>>), ApiError> {
    let spool = state.spool.clone();
    blocking(move || {
        let (message, index) = visible_document(&spool, &caller, &id)?;
        let doc = message
            .documents
            .iter()
            .find(|d| d.index == index)
            .ok_or_else(|| ApiError::not_found("document"))?;
        // Found again in a message that passed the configured bounds when it was accepted.
        let limits = IntakeLimits::unbounded();
        match stored::load(&spool, &message, doc, &limits)? {
            Stored::Bytes { xml, pdf, .. } => Ok((xml, pdf)),
            Stored::Gone => Err(ApiError::not_found(format_args!("document {}", safe(&id)))),
            Stored::Broken(why) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, why)),
        }
    })
    .await
}

/// `GET /api/v1/documents/{id}/xml`: the invoice XML as received.
async fn document_xml(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (xml, _) = document_bytes(caller, state, id).await?;
    Ok(([(header::CONTENT_TYPE, "application/xml")], xml).into_response())
}

/// `GET /api/v1/documents/{id}/pdf`: its PDF, or 404 when it has none.
async fn document_pdf(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, pdf) = document_bytes(caller, state, id.clone()).await?;
    let pdf = pdf.ok_or_else(|| ApiError::not_found(format_args!("PDF for {}", safe(&id))))?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}

/// The body of `ack`.
#[derive(Debug, Deserialize)]
struct AckBody {
    status: AckStatus,
    #[serde(default)]
    reason: Option<String>,
}

/// The longest `reason` or status text kept (the event log is for people, not payloads).
const MAX_TEXT: usize = 1000;

/// `POST /api/v1/documents/{id}/ack` `{"status":"imported"}` or
/// `{"status":"failed","reason":"…"}`: the document leaves the ready list. Idempotent: the same
/// answer again is 200 with `"changed": false`; a different one is 409.
async fn ack(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Json(body): Json<AckBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if body.reason.as_ref().is_some_and(|r| r.len() > MAX_TEXT) {
        return Err(ApiError::bad_request(format!(
            "reason: at most {MAX_TEXT} bytes"
        )));
    }
    if body.status == AckStatus::Failed && body.reason.is_none() {
        return Err(ApiError::bad_request(
            "reason: say why the import failed, for the supplier and the support desk",
        ));
    }
    let spool = state.spool.clone();
    let check = caller.clone();
    let id2 = id.clone();
    let (message, index) = blocking(move || visible_document(&spool, &check, &id2)).await?;
    let record = AckRecord {
        status: body.status,
        reason: body.reason,
        at: SystemTime::now(),
        by: caller.client_id.clone(),
    };
    let acked = state.spool.ack(message.id.clone(), index, record).await?;
    match acked {
        Acked::Recorded(record) => {
            tracing::info!(mid = %message.id, document = index, status = record.status.as_str(), key = %caller.client_id, "document acknowledged by the ERP");
            Ok(Json(
                serde_json::json!({ "id": id, "changed": true, "ack": record }),
            ))
        }
        Acked::Again(record) => Ok(Json(
            serde_json::json!({ "id": id, "changed": false, "ack": record }),
        )),
        Acked::Conflict(before) => Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "document {} was acknowledged as {} already",
                safe(&id),
                before.status.as_str()
            ),
        )),
        Acked::NotPullable => Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "document {} does not wait for the pull API (it goes to a sink, or was not accepted)",
                safe(&id)
            ),
        )),
    }
}

/// The body of `status`.
#[derive(Debug, Deserialize)]
struct StatusBody {
    status: String,
}

/// `POST /api/v1/documents/{id}/status` `{"status":"booked"}`: a later status from the ERP
/// (booked, paid, disputed …), kept in the message's event log. Only after `ack`.
async fn erp_status(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Json(body): Json<StatusBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let status = body.status.trim().to_string();
    if status.is_empty() || status.len() > MAX_TEXT {
        return Err(ApiError::bad_request(format!(
            "status: 1 to {MAX_TEXT} bytes, e.g. \"booked\", \"paid\", \"disputed\""
        )));
    }
    let spool = state.spool.clone();
    let check = caller.clone();
    let id2 = id.clone();
    let (message, index) = blocking(move || visible_document(&spool, &check, &id2)).await?;
    match state
        .spool
        .erp_status(message.id.clone(), index, status.clone(), caller.client_id)
        .await?
    {
        Acked::NotPullable => Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "document {} was not acknowledged yet: ack it first",
                safe(&id)
            ),
        )),
        _ => Ok(Json(serde_json::json!({ "id": id, "status": status }))),
    }
}

/// `POST /api/v1/documents/{id}/reoffer`: as `trustgate spool retry <id>`.
async fn reoffer(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let spool = state.spool.clone();
    let id2 = id.clone();
    let (message, index) = blocking(move || visible_document(&spool, &caller, &id2)).await?;
    let count = state
        .spool
        .reoffer(Reoffer::Message {
            message: message.id,
            document: Some(index),
            sink: None,
        })
        .await?;
    Ok(Json(serde_json::json!({ "id": id, "reoffered": count })))
}

/// `?status&organisation&receiver&sender&since&until&after&limit` of the message list.
#[derive(Debug, Deserialize)]
struct MessageQuery {
    #[serde(default)]
    status: Option<StatusFilter>,
    #[serde(default)]
    organisation: Option<String>,
    #[serde(default)]
    receiver: Option<String>,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

fn parse_time(what: &str, s: &str) -> Result<SystemTime, ApiError> {
    humantime::parse_rfc3339_weak(s)
        .or_else(|_| humantime::parse_rfc3339_weak(&format!("{s}T00:00:00Z")))
        .map_err(|_| ApiError::bad_request(format!("{what}: 2026-11-01 or RFC 3339")))
}

/// `GET /api/v1/messages`: messages with filters, oldest first, paged with `next`. An
/// organisation key sees its own organisation's only.
async fn list_messages(
    caller: Caller,
    State(state): State<ApiState>,
    Query(q): Query<MessageQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let organisation = match caller.organisation() {
        Some(own) => Some(own.to_string()),
        None => q.organisation,
    };
    let filter = Filter {
        status: q.status,
        organisation,
        receiver: q.receiver,
        sender: q.sender,
        since: q
            .since
            .as_deref()
            .map(|s| parse_time("since", s))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|s| parse_time("until", s))
            .transpose()?,
    };
    let after = match q.after.as_deref() {
        Some(a) => Some(
            MessageId::parse(a).ok_or_else(|| ApiError::bad_request("after: not a message id"))?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let spool = state.spool.clone();
    blocking(move || {
        let (messages, next) = spool.list_page(after.as_ref(), limit, &filter)?;
        let visible: Vec<&MessageRecord> =
            messages.iter().filter(|m| caller.sees_message(m)).collect();
        Ok(Json(serde_json::json!({
            "messages": visible,
            "next": next.map(|n| n.to_string()),
        })))
    })
    .await
}

/// The message a caller may see, or 404.
fn visible_message(spool: &Spool, caller: &Caller, id: &str) -> Result<MessageRecord, ApiError> {
    let not_found = || ApiError::not_found(format_args!("message {}", safe(id)));
    let mid = MessageId::parse(id).ok_or_else(not_found)?;
    let message = spool.get(&mid)?.ok_or_else(not_found)?;
    if !caller.sees_message(&message) {
        return Err(not_found());
    }
    Ok(message)
}

/// `GET /api/v1/messages/{id}`: the record, its deliveries and every attempt.
async fn message(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let spool = state.spool.clone();
    blocking(move || {
        let message = visible_message(&spool, &caller, &id)?;
        let deliveries = spool.deliveries(&message.id)?;
        let attempts = spool.attempts(&message.id)?;
        Ok(Json(serde_json::json!({
            "message": message,
            "deliveries": deliveries,
            "attempts": attempts,
        })))
    })
    .await
}

/// `GET /api/v1/messages/{id}/raw`: the message as received (`message/rfc822`).
async fn message_raw(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let spool = state.spool.clone();
    let raw = blocking(move || {
        let message = visible_message(&spool, &caller, &id)?;
        spool
            .raw(&message.id)?
            .ok_or_else(|| ApiError::not_found(format_args!("raw message {}", safe(&id))))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "message/rfc822")], raw).into_response())
}

/// `GET /api/v1/messages/{id}/events`: what happened to the message, oldest first.
async fn message_events(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let spool = state.spool.clone();
    blocking(move || {
        let message = visible_message(&spool, &caller, &id)?;
        Ok(Json(
            serde_json::json!({ "id": message.id, "events": message.events }),
        ))
    })
    .await
}

async fn manage(
    caller: Caller,
    state: ApiState,
    id: String,
    op: fn(MessageId) -> Manage,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin()?;
    let mid = MessageId::parse(&id)
        .ok_or_else(|| ApiError::not_found(format_args!("message {}", safe(&id))))?;
    let managed = state.spool.manage(op(mid)).await?;
    if !managed.found {
        return Err(ApiError::not_found(format_args!("message {}", safe(&id))));
    }
    Ok(Json(serde_json::json!({
        "id": id,
        "changed": managed.changed,
        "deliveries": managed.deliveries,
    })))
}

/// `POST /api/v1/messages/{id}/hold` (admin keys): as `trustgate spool hold`.
async fn hold(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    manage(caller, state, id, Manage::Hold).await
}

/// `POST /api/v1/messages/{id}/release` (admin keys): as `trustgate spool release`.
async fn release(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    manage(caller, state, id, Manage::Release).await
}

/// `DELETE /api/v1/messages/{id}` (admin keys): as `trustgate spool delete --force`.
async fn delete_message(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    manage(caller, state, id, Manage::Delete).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_as_bearer_or_basic() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_key(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc.def"),
        );
        assert_eq!(presented_key(&headers).as_deref(), Some("abc.def"));
        let basic = base64::engine::general_purpose::STANDARD.encode("abc:def");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
        );
        assert_eq!(presented_key(&headers).as_deref(), Some("abc.def"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Digest x"));
        assert_eq!(presented_key(&headers), None);
    }

    #[test]
    fn document_ids_and_cursors_round_trip() {
        let (mid, index) = parse_document_id("20261203T100000Z-000001-2").unwrap();
        assert_eq!((mid.as_str(), index), ("20261203T100000Z-000001", 2));
        assert!(parse_document_id("../etc-1").is_err());
        assert!(parse_document_id("x").is_err());
        let w = Waiting {
            organisation: "acme".into(),
            message: "20261203T100000Z-000001".into(),
            document: 0,
        };
        assert_eq!(decode_cursor(&encode_cursor(&w)).unwrap(), w);
    }
}
