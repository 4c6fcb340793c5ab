//! `POST /v1/logout`: ends the caller's session, or all of the user's.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::extract::Bearer;
use crate::app::AppState;
use crate::error::ApiError;
use crate::store::SessionTarget;
use crate::tokens::revocations::Reason;

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
    let target = match (&claims.sid, request.all) {
        (_, true) => Some(SessionTarget::AllOfUser(&claims.sub)),
        (Some(sid), false) => Some(SessionTarget::One(sid)),
        (None, false) => None,
    };
    if let Some(target) = target {
        state
            .revocations
            .revoke_sessions(target, Reason::Logout)
            .await?;
    }
    if claims.sid.is_none() {
        state
            .revocations
            .revoke_token(&claims.jti, claims.exp)
            .await?;
    }
    tracing::info!(target: "signet::audit", event = "logout", user = %claims.sub, all = request.all);
    Ok(StatusCode::NO_CONTENT)
}
