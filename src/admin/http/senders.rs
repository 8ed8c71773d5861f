//! `GET /api/v1/senders` and `POST /api/v1/senders/invite`: the trusted senders with their
//! lifecycle, and invitations, as `trustgate senders list` and `trustgate invite` do (both go
//! through [`crate::admin::senders`]). An organisation's key sees and invites only the senders
//! of receivers that serve it.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Answer, ApiError, ApiState, Caller, ErrorBody, blocking, safe};
use crate::admin::control::Response as ControlResponse;
use crate::admin::senders::{self, SenderRow};
use crate::spool::SenderState;

/// `?receiver=…&state=…`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SendersQuery {
    /// Only the senders of this receiving address.
    #[serde(default)]
    receiver: Option<String>,
    /// Only senders in this state: `pending`, `invited`, `active` or `disabled`.
    #[serde(default)]
    #[param(example = "pending")]
    state: Option<String>,
}

/// One trusted sender of one receiver, with what happened to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SenderEntry {
    /// The receiving address.
    receiver: String,
    /// The organisations the receiver serves (one unless it is shared), by id.
    organisations: Vec<String>,
    /// The supplier's name.
    name: String,
    /// Its contact, to whom invitations and notices go.
    contact: String,
    /// `domain`, `address` or `verified_users`.
    #[schema(example = "domain")]
    kind: String,
    /// The domain or address; absent for verified users.
    value: Option<String>,
    /// The language of its notices.
    #[schema(example = "nl")]
    language: String,
    /// The sender's own `auth`; absent when it follows the receiver's.
    auth: Option<String>,
    /// `pending` (nothing yet), `invited`, `active` (its first invoice arrived) or
    /// `disabled`.
    #[schema(example = "active")]
    state: String,
    /// Its invitations: `first`, `last`, `count`, `message` (the last one's spool id).
    #[schema(value_type = Option<Object>)]
    invited: Option<serde_json::Value>,
    /// Its first accepted invoice: `since`, `from` (the exact From), `message`.
    #[schema(value_type = Option<Object>)]
    active: Option<serde_json::Value>,
    /// Set while disabled: `since`.
    #[schema(value_type = Option<Object>)]
    disabled: Option<serde_json::Value>,
}

/// One optional part of a sender's record, as JSON.
fn part<T: Serialize>(v: Option<&T>) -> Option<serde_json::Value> {
    v.and_then(|v| serde_json::to_value(v).ok())
}

impl SenderEntry {
    fn new(row: SenderRow) -> SenderEntry {
        SenderEntry {
            invited: part(row.lifecycle.invited.as_ref()),
            active: part(row.lifecycle.active.as_ref()),
            disabled: part(row.lifecycle.disabled.as_ref()),
            receiver: row.receiver,
            organisations: row.organisations,
            name: row.name,
            contact: row.contact,
            kind: row.kind.to_string(),
            value: row.value,
            language: row.language.to_string(),
            auth: row.auth,
            state: row.state.to_string(),
        }
    }
}

/// The answer of `GET /api/v1/senders`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SenderList {
    /// The senders, in the config's order.
    senders: Vec<SenderEntry>,
}

/// Whether `caller` may see the senders of a receiver serving `organisations`.
fn sees(caller: &Caller, organisations: &[String]) -> bool {
    caller
        .organisation()
        .is_none_or(|org| organisations.iter().any(|o| o == org))
}

/// `GET /api/v1/senders`: every trusted sender the key may see, with its lifecycle state.
#[utoipa::path(
    get,
    path = "/api/v1/senders",
    tag = "senders",
    params(SendersQuery),
    responses(
        (status = 200, description = "The trusted senders of the receivers the key may see", body = SenderList),
        (status = 400, description = "A bad parameter, named", body = ErrorBody),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
pub async fn list_senders(
    caller: Caller,
    State(state): State<ApiState>,
    Query(query): Query<SendersQuery>,
) -> Result<Answer<SenderList>, ApiError> {
    let wanted: Option<SenderState> = match query.state.as_deref() {
        None => None,
        Some(s) => Some(parse_state(s)?),
    };
    let config = state.config.load_full();
    let spool = state.spool.clone();
    let states = blocking(move || {
        Ok(spool
            .senders()?
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>())
    })
    .await?;
    let senders = senders::rows(&config, &states)
        .into_iter()
        .filter(|r| sees(&caller, &r.organisations))
        .filter(|r| {
            query
                .receiver
                .as_deref()
                .is_none_or(|want| r.receiver.eq_ignore_ascii_case(want))
        })
        .filter(|r| wanted.is_none_or(|w| r.state == w))
        .map(SenderEntry::new)
        .collect();
    Ok(Answer(SenderList { senders }))
}

fn parse_state(s: &str) -> Result<SenderState, ApiError> {
    match s {
        "pending" => Ok(SenderState::Pending),
        "invited" => Ok(SenderState::Invited),
        "active" => Ok(SenderState::Active),
        "disabled" => Ok(SenderState::Disabled),
        other => Err(ApiError::bad_request(format!(
            "state: {:?} is none of pending, invited, active, disabled",
            safe(other)
        ))),
    }
}

/// The body of `invite`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteBody {
    /// The receiving address, e.g. `AD64SDE@trust.example.eu`.
    receiver: String,
    /// The contact of one of its trusted senders.
    contact: String,
}

/// The answer of `invite`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteAnswer {
    /// The spool id of the invitation (`GET /api/v1/messages/{id}` shows its delivery).
    queued: String,
    /// The sender afterwards (state `invited` unless it was active or disabled already).
    sender: SenderEntry,
}

/// `POST /api/v1/senders/invite` `{"receiver":"…","contact":"…"}`: queues an invitation to
/// the contact, as `trustgate invite` does; it goes out through the `notices` sink.
#[utoipa::path(
    post,
    path = "/api/v1/senders/invite",
    tag = "senders",
    request_body = InviteBody,
    responses(
        (status = 202, description = "The invitation is stored and queued for sending", body = InviteAnswer),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such receiver or contact, or not the key's organisation's", body = ErrorBody),
        (status = 409, description = "The gateway sends no mail: `[notices]` is not configured", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`"),
        (status = 422, description = "The body is not an invitation"),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
pub async fn invite(
    caller: Caller,
    State(state): State<ApiState>,
    Json(body): Json<InviteBody>,
) -> Result<(StatusCode, Answer<InviteAnswer>), ApiError> {
    let config = state.config.load_full();
    let (receiver, sender) = senders::find(&config, &body.receiver, &body.contact)
        .map_err(|e| ApiError(StatusCode::NOT_FOUND, e.0))?;
    if !sees(&caller, &senders::organisation_ids(&config, receiver)) {
        return Err(ApiError::not_found(format_args!(
            "receiver {}",
            safe(&body.receiver)
        )));
    }
    if config.notices.is_none() {
        return Err(ApiError(StatusCode::CONFLICT, senders::no_notices(&config)));
    }
    let (notice, key) = senders::invitation(&config, receiver, sender);
    let spool = state.spool.clone();
    let answer =
        blocking(move || Ok(crate::admin::control::invite(&spool, &notice, &key)?)).await?;
    let ControlResponse::Sender {
        sender: view,
        queued: Some(id),
    } = answer
    else {
        return Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the invitation was not queued".into(),
        ));
    };
    tracing::info!(mid = %id, to = %safe(&view.key.contact), receiver = %safe(&view.key.receiver), key = %caller.client_id, "invitation queued through the admin API");
    let row = senders::row(&config, receiver, sender, view.record);
    Ok((
        StatusCode::ACCEPTED,
        Answer(InviteAnswer {
            queued: id.to_string(),
            sender: SenderEntry::new(row),
        }),
    ))
}
