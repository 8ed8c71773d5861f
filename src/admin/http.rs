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
//!
//! Each handler carries its `#[utoipa::path]`, and [`routes`] registers the handlers through
//! utoipa-axum's `routes!`, which takes the method and path from that annotation: the router
//! and the OpenAPI document (`super::openapi`, `docs/openapi.json`) are built from one list.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Config;

pub mod export;
mod senders;
use crate::delivery::payload::DocumentMeta;
use crate::delivery::stored::{self, Stored};
use crate::intake::IntakeLimits;
use crate::spool::apikeys::Scope;
use crate::spool::pull::{AckRecord, AckStatus, Acked, Waiting};
use crate::spool::{AttemptView, DeliveryView, Event};
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
    /// The config the daemon runs on: the reloader's, so a reload (a new sink, a new hostname)
    /// shows here too.
    pub config: Arc<arc_swap::ArcSwap<Config>>,
}

impl ApiState {
    /// The names of the configured sinks, from the config running now.
    fn sink_names(&self) -> Vec<String> {
        self.config
            .load()
            .sinks
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }
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

/// The routes with their OpenAPI description. `routes!` reads each handler's method and path
/// from its `#[utoipa::path]`, so what is served and what is documented are the same list.
/// Register routes only here and only through `routes!` (one path per call): a plain
/// `.route(...)` would be served but undocumented, and a test in `super::openapi` refuses it.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(<super::openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(list_documents))
        .routes(routes!(document))
        .routes(routes!(document_json))
        .routes(routes!(document_xml))
        .routes(routes!(document_pdf))
        .routes(routes!(ack))
        .routes(routes!(erp_status))
        .routes(routes!(reoffer))
        .routes(routes!(list_messages))
        .routes(routes!(message, delete_message))
        .routes(routes!(message_raw))
        .routes(routes!(export::export))
        .routes(routes!(message_events))
        .routes(routes!(hold))
        .routes(routes!(release))
        .routes(routes!(senders::list_senders))
        .routes(routes!(senders::invite))
}

/// The router that serves the API.
pub fn router(state: ApiState) -> Router {
    let (router, _document) = routes().split_for_parts();
    router.with_state(state)
}

/// A JSON answer, serialised through a `serde_json::Value`: its objects' keys come out sorted,
/// as they did when the answers were built with `json!`, so typing them (for the OpenAPI
/// schemas) changed no byte on the wire.
pub struct Answer<T>(T);

impl<T: Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        match serde_json::to_value(&self.0) {
            Ok(value) => Json(value).into_response(),
            Err(err) => ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("encoding the answer: {err}"),
            )
            .into_response(),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong and, where the caller can, what to do.
    pub error: String,
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
        let mut response = (self.0, Json(ErrorBody { error: self.1 })).into_response();
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

/// The answer of `/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the process answers.
    #[schema(value_type = String, example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process answers. Needs no key.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    security(()),
    responses((status = 200, description = "The daemon runs", body = Health))
)]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The answer of `/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// The config file the daemon loaded.
    pub config: String,
    /// Whether the spool is writable (not below `min_free_space`).
    pub ready: bool,
    /// Each sink's next due delivery.
    pub sinks: Vec<SinkDue>,
    /// `writable` or `not writable`.
    #[schema(value_type = String, example = "writable")]
    pub spool: &'static str,
}

/// One sink in `/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SinkDue {
    /// When its oldest due delivery is due (RFC 3339), or null when none waits.
    #[schema(required = true)]
    pub next_due: Option<String>,
    /// The sink's name.
    pub sink: String,
}

/// Readiness: the spool answers and is writable (not below its free-space reserve), the
/// config is loaded, and each sink's oldest due delivery.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "health",
    responses(
        (status = 200, description = "Ready: the spool is writable", body = Ready),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 503, description = "Not ready: the spool is not writable; or the spool cannot answer (then an ErrorBody)", body = Ready),
    )
)]
async fn ready(_caller: Caller, State(state): State<ApiState>) -> Result<Response, ApiError> {
    let spool = state.spool.clone();
    let sinks = state.sink_names();
    let (free, due) = blocking(move || {
        let free = spool.free_space();
        let mut due = Vec::new();
        for sink in &sinks {
            let next = spool.next_due(sink)?;
            due.push(SinkDue {
                sink: sink.clone(),
                next_due: next.map(crate::spool::format_time),
            });
        }
        Ok((free, due))
    })
    .await?;
    let writable = free.is_ok();
    let body = Ready {
        ready: writable,
        spool: if writable { "writable" } else { "not writable" },
        config: state.config.load().source.display().to_string(),
        sinks: due,
    };
    let status = if writable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Answer(body)).into_response())
}

/// The content type of `/metrics`.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics` (admin keys): Prometheus text. Counts cover every organisation, so an
/// organisation key may not read them.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, description = "The metrics, in the OpenMetrics text format Prometheus scrapes", body = String,
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 403, description = "An organisation key: this needs an admin key", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn metrics(caller: Caller, State(state): State<ApiState>) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let spool = state.spool.clone();
    let sinks = state.sink_names();
    let text = blocking(move || Ok(crate::observe::metrics().encode(&spool, &sinks)?)).await?;
    Ok(([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response())
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

/// `?organisation&receiver&sender&since&until`: the filters the message and the document
/// lists share, read from the same query string as each list's own parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListFilter {
    /// For admin keys: one organisation (an organisation key sees only its own).
    #[serde(default)]
    organisation: Option<String>,
    /// A receiving address (any case): one a message was sent to; the one a document came in
    /// on.
    #[serde(default)]
    receiver: Option<String>,
    /// An address (envelope or header From) or a domain.
    #[serde(default)]
    sender: Option<String>,
    /// Received at or after: `2026-11-01` or RFC 3339.
    #[serde(default)]
    since: Option<String>,
    /// Received before: `2026-11-01` or RFC 3339.
    #[serde(default)]
    until: Option<String>,
}

impl ListFilter {
    /// The spool's filter for `caller`: an organisation key is held to its own organisation,
    /// whatever `organisation` says, so asking by name never widens it.
    fn for_caller(self, caller: &Caller, status: Option<StatusFilter>) -> Result<Filter, ApiError> {
        let organisation = match caller.organisation() {
            Some(own) => Some(own.to_string()),
            None => self.organisation,
        };
        Ok(Filter {
            status,
            organisation,
            receiver: self.receiver,
            sender: self.sender,
            since: self
                .since
                .as_deref()
                .map(|s| parse_time("since", s))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|s| parse_time("until", s))
                .transpose()?,
        })
    }
}

/// The one `status` the document list takes: the pull queue.
const READY: &str = "ready";

/// `?status=ready&after=…&limit=…`, with the filters of [`ListFilter`].
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DocumentQuery {
    /// `ready` (the default): the documents that wait to be fetched. The only value: the
    /// documents' other states are in the messages list (`/api/v1/messages?status=`).
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = "^ready$", example = "ready")]
    status: Option<String>,
    /// The `next` of the previous page.
    #[serde(default)]
    after: Option<String>,
    /// How many documents at most, 1 to 500 (default 100).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// One document in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentItem {
    /// The document id, `<message id>-<index>`.
    id: String,
    /// The message that carried it.
    message: String,
    /// Its position in the message, from 0.
    index: u32,
    /// The organisation it belongs to.
    organisation: String,
    /// The receiving address it came in on.
    receiver: String,
    /// The syntax, e.g. `ubl-invoice` (`ubl-credit-note`, `cii`, `zugferd-1`).
    format: String,
    /// The specification, e.g. `si-ubl-2.0`: the value `accept_specifications` uses.
    specification: Option<String>,
    /// The invoice number, where found.
    invoice_number: Option<String>,
    /// The sanitised XML file name.
    xml_name: String,
    /// The sanitised PDF file name, if a PDF was paired.
    pdf_name: Option<String>,
    /// When the message was received, RFC 3339 UTC.
    received_at: String,
    /// Always `ready` here.
    #[schema(value_type = String, example = "ready")]
    status: &'static str,
}

/// A page of the documents that wait.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentList {
    /// The documents, oldest first per organisation.
    documents: Vec<DocumentItem>,
    /// The cursor of the next page (`after=`), or null after the last.
    #[schema(required = true)]
    next: Option<String>,
}

/// `GET /api/v1/documents?status=ready`: the documents that wait for this key's organisation
/// (an admin key: every organisation's, or `organisation=`), oldest first per organisation,
/// narrowed by receiver, sender and time as the message list is. A filtered page may hold
/// fewer than `limit` and still have a `next` (a page scans a bounded part of the queue).
#[utoipa::path(
    get,
    path = "/api/v1/documents",
    tag = "pull",
    params(DocumentQuery, ListFilter),
    responses(
        (status = 200, description = "A page of the documents that wait to be fetched", body = DocumentList),
        (status = 400, description = "A bad parameter, named (a status other than `ready`, a bad date or cursor)", body = ErrorBody),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn list_documents(
    caller: Caller,
    State(state): State<ApiState>,
    Query(q): Query<DocumentQuery>,
    Query(f): Query<ListFilter>,
) -> Result<Answer<DocumentList>, ApiError> {
    if let Some(status) = q.status.as_deref()
        && status != READY
    {
        return Err(ApiError::bad_request(format!(
            "status: {:?} is not listed here; the allowed value is \"{READY}\" (the documents that wait to be fetched, also without status=). A message's documents in any other state: GET /api/v1/messages?status=…",
            safe(status)
        )));
    }
    let filter = f.for_caller(&caller, None)?;
    let after = match &q.after {
        Some(cursor) => Some(decode_cursor(cursor)?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let spool = state.spool.clone();
    let (items, next) = blocking(move || {
        let (waiting, next) = spool.waiting_matching(&filter, after.as_ref(), limit)?;
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
                status: READY,
            });
        }
        Ok((items, next))
    })
    .await?;
    Ok(Answer(DocumentList {
        documents: items,
        next: next.map(|w| encode_cursor(&w)),
    }))
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

/// A document's JSON: the metadata the sinks send, its status and its acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    /// What the sinks send.
    #[serde(flatten)]
    meta: DocumentMeta,
    /// The document's state: `ready`, `duplicate`, `rejected` or `withheld`.
    status: String,
    /// The ERP's acknowledgement, or null before it.
    #[schema(required = true)]
    ack: Option<AckRecord>,
}

/// `GET /api/v1/documents/{id}`: the document's metadata and inspection report, as the sinks
/// send it, with its acknowledgement if any (the same as `/json`).
#[utoipa::path(
    get,
    path = "/api/v1/documents/{id}",
    tag = "pull",
    params(("id" = String, Path, description = "The document: `<message id>-<index>`")),
    responses(
        (status = 200, description = "The document's metadata", body = DocumentView),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such document, or not the key's organisation's", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn document(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Answer<DocumentView>, ApiError> {
    document_view(caller, state, id).await
}

/// `GET /api/v1/documents/{id}/json`: the document's metadata and inspection report, as the
/// sinks send it, with its acknowledgement if any.
#[utoipa::path(
    get,
    path = "/api/v1/documents/{id}/json",
    tag = "pull",
    params(("id" = String, Path, description = "The document: `<message id>-<index>`")),
    responses(
        (status = 200, description = "The document's metadata", body = DocumentView),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such document, or not the key's organisation's", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn document_json(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Answer<DocumentView>, ApiError> {
    document_view(caller, state, id).await
}

/// The [`DocumentView`] of a document the caller may see.
async fn document_view(
    caller: Caller,
    state: ApiState,
    id: String,
) -> Result<Answer<DocumentView>, ApiError> {
    let spool = state.spool.clone();
    let gateway = state.config.load().server.hostname.clone();
    blocking(move || {
        let (message, index) = visible_document(&spool, &caller, &id)?;
        let doc = message
            .documents
            .iter()
            .find(|d| d.index == index)
            .ok_or_else(|| ApiError::not_found("document"))?;
        let view = DocumentView {
            meta: DocumentMeta::new(&gateway, &message, doc),
            status: doc.status.to_string(),
            ack: spool.ack_of(&message.id, index)?,
        };
        Ok(Answer(view))
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
#[utoipa::path(
    get,
    path = "/api/v1/documents/{id}/xml",
    tag = "pull",
    params(("id" = String, Path, description = "The document: `<message id>-<index>`")),
    responses(
        (status = 200, description = "The invoice XML as received", body = String, content_type = "application/xml"),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such document, or not the key's organisation's", body = ErrorBody),
        (status = 500, description = "The stored bytes no longer match the record", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn document_xml(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (xml, _) = document_bytes(caller, state, id).await?;
    Ok(([(header::CONTENT_TYPE, "application/xml")], xml).into_response())
}

/// `GET /api/v1/documents/{id}/pdf`: its PDF, or 404 when it has none.
#[utoipa::path(
    get,
    path = "/api/v1/documents/{id}/pdf",
    tag = "pull",
    params(("id" = String, Path, description = "The document: `<message id>-<index>`")),
    responses(
        (status = 200, description = "The PDF paired with the invoice", body = super::openapi::Binary, content_type = "application/pdf"),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such document, not the key's organisation's, or it has no PDF", body = ErrorBody),
        (status = 500, description = "The stored bytes no longer match the record", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
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
#[derive(Debug, Deserialize, ToSchema)]
pub struct AckBody {
    /// What the ERP did with the document.
    status: AckStatus,
    /// Why the import failed: required for `failed`, at most 1000 bytes.
    #[serde(default)]
    #[schema(max_length = 1000)]
    reason: Option<String>,
}

/// The answer of `ack`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AckAnswer {
    /// The acknowledgement on record.
    ack: AckRecord,
    /// False when the same answer was recorded before.
    changed: bool,
    /// The document id.
    id: String,
}

/// The longest `reason` or status text kept (the event log is for people, not payloads).
const MAX_TEXT: usize = 1000;

/// `POST /api/v1/documents/{id}/ack` `{"status":"imported"}` or
/// `{"status":"failed","reason":"…"}`: the document leaves the ready list. Idempotent: the same
/// answer again is 200 with `"changed": false`; a different one is 409.
#[utoipa::path(
    post,
    path = "/api/v1/documents/{id}/ack",
    tag = "pull",
    params(("id" = String, Path, description = "The document: `<message id>-<index>`")),
    request_body = AckBody,
    responses(
        (status = 200, description = "Recorded now, or the same answer before (`changed` false)", body = AckAnswer),
        (status = 400, description = "A bad parameter or body, named", body = ErrorBody),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such document, or not the key's organisation's", body = ErrorBody),
        (status = 409, description = "Acknowledged otherwise before, or the document does not wait for the pull API", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`"),
        (status = 422, description = "The body is not an acknowledgement"),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn ack(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Json(body): Json<AckBody>,
) -> Result<Answer<AckAnswer>, ApiError> {
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
            Ok(Answer(AckAnswer {
                id,
                changed: true,
                ack: record,
            }))
        }
        Acked::Again(record) => Ok(Answer(AckAnswer {
            id,
            changed: false,
            ack: record,
        })),
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
#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusBody {
    /// The ERP's status, 1 to 1000 bytes: `booked`, `paid`, `disputed` …
    #[schema(example = "booked", min_length = 1, max_length = 1000)]
    status: String,
}

/// The answer of `status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusAnswer {
    /// The document id.
    id: String,
    /// The status kept in the event log (trimmed).
    status: String,
}

/// `POST /api/v1/documents/{id}/status` `{"status":"booked"}`: a later status from the ERP
/// (booked, paid, disputed …), kept in the message's event log. Only after `ack`.
#[utoipa::path(
    post,
    path = "/api/v1/documents/{id}/status",
    tag = "pull",
    params(("id" = String, Path, description = "The document: `<message id>-<index>`")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "Kept in the message's event log", body = StatusAnswer),
        (status = 400, description = "A bad parameter or body, named", body = ErrorBody),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such document, or not the key's organisation's", body = ErrorBody),
        (status = 409, description = "Not acknowledged yet: ack it first", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`"),
        (status = 422, description = "The body is not a status"),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn erp_status(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Json(body): Json<StatusBody>,
) -> Result<Answer<StatusAnswer>, ApiError> {
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
        _ => Ok(Answer(StatusAnswer { id, status })),
    }
}

/// The answer of `reoffer`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReofferAnswer {
    /// The document id.
    id: String,
    /// How many deliveries were made due again.
    reoffered: u64,
}

/// `POST /api/v1/documents/{id}/reoffer`: as `trustgate spool retry <id>`.
#[utoipa::path(
    post,
    path = "/api/v1/documents/{id}/reoffer",
    tag = "pull",
    params(("id" = String, Path, description = "The document: `<message id>-<index>`")),
    responses(
        (status = 200, description = "Its deliveries are due again", body = ReofferAnswer),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such document, or not the key's organisation's", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn reoffer(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Answer<ReofferAnswer>, ApiError> {
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
    Ok(Answer(ReofferAnswer {
        id,
        reoffered: count,
    }))
}

/// `?status&after&limit` of the message list, with the filters of [`ListFilter`].
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MessageQuery {
    /// The messages' state, as `trustgate spool list --status`.
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = "^(accepted|rejected|outgoing|deleted|held|pending|failed|delivered)$")]
    status: Option<StatusFilter>,
    /// The `next` of the previous page: a message id.
    #[serde(default)]
    after: Option<String>,
    /// How many messages at most, 1 to 500 (default 100).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// A page of messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    /// The message records, as `trustgate spool list --json --full` prints them.
    #[schema(value_type = Vec<Object>)]
    messages: Vec<MessageRecord>,
    /// The id to pass as `after` for the next page, or null after the last.
    #[schema(required = true)]
    next: Option<String>,
}

fn parse_time(what: &str, s: &str) -> Result<SystemTime, ApiError> {
    humantime::parse_rfc3339_weak(s)
        .or_else(|_| humantime::parse_rfc3339_weak(&format!("{s}T00:00:00Z")))
        .map_err(|_| ApiError::bad_request(format!("{what}: 2026-11-01 or RFC 3339")))
}

/// `GET /api/v1/messages`: messages with filters, oldest first, paged with `next`. An
/// organisation key sees its own organisation's only.
#[utoipa::path(
    get,
    path = "/api/v1/messages",
    tag = "messages",
    params(MessageQuery, ListFilter),
    responses(
        (status = 200, description = "A page of messages, oldest first", body = MessageList),
        (status = 400, description = "A bad parameter or body, named", body = ErrorBody),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn list_messages(
    caller: Caller,
    State(state): State<ApiState>,
    Query(q): Query<MessageQuery>,
    Query(f): Query<ListFilter>,
) -> Result<Answer<MessageList>, ApiError> {
    let filter = f.for_caller(&caller, q.status)?;
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
        let visible: Vec<MessageRecord> = messages
            .into_iter()
            .filter(|m| caller.sees_message(m))
            .collect();
        Ok(Answer(MessageList {
            messages: visible,
            next: next.map(|n| n.to_string()),
        }))
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

/// One message with its deliveries and attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDetail {
    /// Every delivery attempt.
    #[schema(value_type = Vec<Object>)]
    attempts: Vec<AttemptView>,
    /// Its deliveries, one per document and sink.
    #[schema(value_type = Vec<Object>)]
    deliveries: Vec<DeliveryView>,
    /// The message record, as `trustgate spool show --json` prints it.
    #[schema(value_type = Object)]
    message: MessageRecord,
}

/// `GET /api/v1/messages/{id}`: the record, its deliveries and every attempt.
#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}",
    tag = "messages",
    params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 200, description = "The message", body = MessageDetail),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such message, or not the key's organisation's", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn message(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Answer<MessageDetail>, ApiError> {
    let spool = state.spool.clone();
    blocking(move || {
        let message = visible_message(&spool, &caller, &id)?;
        let deliveries = spool.deliveries(&message.id)?;
        let attempts = spool.attempts(&message.id)?;
        Ok(Answer(MessageDetail {
            message,
            deliveries,
            attempts,
        }))
    })
    .await
}

/// `GET /api/v1/messages/{id}/raw`: the message as received (`message/rfc822`).
#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/raw",
    tag = "messages",
    params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 200, description = "The message as received, with our trace fields", body = super::openapi::Binary, content_type = "message/rfc822"),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such message, not the key's organisation's, or its body is gone", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
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

/// A message's event log.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageEvents {
    /// What happened, oldest first.
    events: Vec<Event>,
    /// The message id.
    #[schema(value_type = String)]
    id: MessageId,
}

/// `GET /api/v1/messages/{id}/events`: what happened to the message, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/events",
    tag = "messages",
    params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 200, description = "The event log", body = MessageEvents),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such message, or not the key's organisation's", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn message_events(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Answer<MessageEvents>, ApiError> {
    let spool = state.spool.clone();
    blocking(move || {
        let message = visible_message(&spool, &caller, &id)?;
        Ok(Answer(MessageEvents {
            id: message.id,
            events: message.events,
        }))
    })
    .await
}

/// The answer of hold, release and delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManageAnswer {
    /// False when there was nothing to do (held already, not held, deleted already).
    changed: bool,
    /// How many deliveries were held, released or removed.
    deliveries: u64,
    /// The message id.
    id: String,
}

async fn manage(
    caller: Caller,
    state: ApiState,
    id: String,
    op: fn(MessageId) -> Manage,
) -> Result<Answer<ManageAnswer>, ApiError> {
    caller.require_admin()?;
    let mid = MessageId::parse(&id)
        .ok_or_else(|| ApiError::not_found(format_args!("message {}", safe(&id))))?;
    let managed = state.spool.manage(op(mid)).await?;
    if !managed.found {
        return Err(ApiError::not_found(format_args!("message {}", safe(&id))));
    }
    Ok(Answer(ManageAnswer {
        id,
        changed: managed.changed,
        deliveries: managed.deliveries,
    }))
}

/// `POST /api/v1/messages/{id}/hold` (admin keys): as `trustgate spool hold`.
#[utoipa::path(
    post,
    path = "/api/v1/messages/{id}/hold",
    tag = "messages",
    params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 200, description = "Held: its deliveries wait until released", body = ManageAnswer),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 403, description = "An organisation key: this needs an admin key", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn hold(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Answer<ManageAnswer>, ApiError> {
    manage(caller, state, id, Manage::Hold).await
}

/// `POST /api/v1/messages/{id}/release` (admin keys): as `trustgate spool release`.
#[utoipa::path(
    post,
    path = "/api/v1/messages/{id}/release",
    tag = "messages",
    params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 200, description = "Released: its deliveries are due again", body = ManageAnswer),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 403, description = "An organisation key: this needs an admin key", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn release(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Answer<ManageAnswer>, ApiError> {
    manage(caller, state, id, Manage::Release).await
}

/// `DELETE /api/v1/messages/{id}` (admin keys): as `trustgate spool delete --force`.
#[utoipa::path(
    delete,
    path = "/api/v1/messages/{id}",
    tag = "messages",
    params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 200, description = "Deleted: body, documents and deliveries removed, the record kept with the event", body = ManageAnswer),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 403, description = "An organisation key: this needs an admin key", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
async fn delete_message(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Answer<ManageAnswer>, ApiError> {
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

    /// The typed answers went out as `json!` maps before; the bytes must not change.
    #[tokio::test]
    async fn typed_answers_keep_the_bytes_of_the_json_maps() {
        let record = AckRecord {
            status: AckStatus::Failed,
            reason: Some("no such supplier".into()),
            at: SystemTime::UNIX_EPOCH,
            by: "c1".into(),
        };
        let before = serde_json::json!({ "id": "m-0", "changed": true, "ack": record.clone() });
        let typed = Answer(AckAnswer {
            id: "m-0".into(),
            changed: true,
            ack: record,
        })
        .into_response();
        let bytes = axum::body::to_bytes(typed.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(bytes, serde_json::to_vec(&before).unwrap());
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
