//! The caller's sessions: `POST /v1/logout`, `GET /v1/sessions`,
//! `DELETE /v1/sessions[/{sid}]`, and `POST /v1/password`, which ends the
//! other sessions (CONTRACT §10).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::extract::{Bearer, ClientIp, JsonBody};
use crate::app::AppState;
use crate::auth::accounts::{PasswordChange, Proof};
use crate::error::ApiError;
use crate::store::Session;
use crate::tokens::revocations::Reason;
use crate::tokens::sessions::{ClientSeen, LoggingOut};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Logout {
    #[serde(default)]
    all: bool,
}

/// Revokes the session of the presented token (its refresh tokens and its
/// access tokens); `{"all": true}` revokes every session of the user.
pub async fn logout(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let request: Logout = if body.iter().all(u8::is_ascii_whitespace) {
        Logout::default()
    } else {
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .filter(serde_json::Value::is_object)
            .and_then(|value| serde_json::from_value(value).ok())
            .ok_or_else(|| {
                ApiError::problem(
                    StatusCode::BAD_REQUEST,
                    "Bad Request",
                    "the body must be empty or a JSON object like {\"all\": true}",
                )
            })?
    };
    let token = LoggingOut {
        sub: &claims.sub,
        sid: claims.sid.as_deref(),
        jti: &claims.jti,
        exp: claims.exp,
    };
    state.sessions.logout(&token, request.all).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the session store may keep of a request's client.
pub(super) fn client_seen(headers: &HeaderMap, ip: std::net::IpAddr) -> ClientSeen<'_> {
    ClientSeen {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok()),
        ip: Some(ip),
    }
}

/// One entry of `GET /v1/sessions`: no token material.
#[derive(Serialize)]
pub struct SessionView {
    sid: String,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    client_id: String,
    user_agent: Option<String>,
    ip: Option<String>,
    current: bool,
}

impl SessionView {
    fn new(session: Session, current: Option<&str>) -> Self {
        Self {
            current: current == Some(session.id.as_str()),
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            expires_at: rfc3339(session.expires_at),
            sid: session.id,
            client_id: session.client_id,
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}

/// Unix seconds as `2026-11-23T04:16:37Z`.
pub(super) fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The caller's live sessions, the current one marked.
pub async fn list(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = state.sessions.list(&claims.sub).await?;
    let current = claims.sid.as_deref();
    Ok(Json(
        sessions
            .into_iter()
            .map(|session| SessionView::new(session, current))
            .collect(),
    ))
}

/// Ends one of the caller's sessions; any other `sid` is 404 (never 403,
/// so a guessed `sid` of another user tells nothing).
pub async fn end_one(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    sid: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    let not_found = || {
        ApiError::problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            "no such session among the caller's live sessions",
        )
    };
    let Path(sid) = sid.map_err(|_| not_found())?;
    if !state.sessions.end_own(&claims.sub, &sid).await? {
        return Err(not_found());
    }
    tracing::info!(target: "signet::audit", event = "session_ended", user = %claims.sub, sid = %sid);
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller but the current one.
pub async fn end_others(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<StatusCode, ApiError> {
    state
        .sessions
        .end_others(&claims.sub, claims.sid.as_deref(), Reason::Revoked)
        .await?;
    tracing::info!(target: "signet::audit", event = "other_sessions_ended", user = %claims.sub);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct NewPassword {
    /// May be left out right after a login or reauthentication; `null` is
    /// refused like any other non-string.
    #[serde(default, deserialize_with = "present")]
    current_password: Option<SecretString>,
    new_password: SecretString,
}

/// Changes the caller's password; ends sessions per `password_change_revokes`.
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Bearer(claims): Bearer,
    body: Result<JsonBody<NewPassword>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let JsonBody(body) = body?;
    let change = PasswordChange {
        user_id: &claims.sub,
        sid: claims.sid.as_deref(),
        ip,
        proof: match body.current_password {
            Some(password) => Proof::Password(password),
            None => Proof::RecentAuth {
                auth_time: claims.auth_time,
                now: chrono::Utc::now().timestamp(),
            },
        },
        new: body.new_password,
    };
    state
        .accounts
        .change_password(
            change,
            state.config.password_change_revokes,
            &state.throttle,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member that may be absent but, when present, must be a string.
fn present<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<SecretString>, D::Error> {
    SecretString::deserialize(de).map(Some)
}
