//! `POST /v1/reauthenticate`: step-up for a session (CONTRACT §11).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::SecretString;
use serde::Deserialize;

use super::extract::{Bearer, ClientIp, JsonBody};
use super::oauth::token_response;
use crate::app::AppState;
use crate::error::ApiError;
use crate::tokens::claims::ClaimsError;
use crate::tokens::recent::{self, ReauthError, Reauthentication};
use crate::tokens::sessions::SessionError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reauthenticate {
    password: SecretString,
}

/// The caller proves their password again; the answer is a new token pair
/// for the same session with `auth_time` = now (the token endpoint's shape).
pub async fn reauthenticate(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Bearer(claims): Bearer,
    headers: axum::http::HeaderMap,
    body: Result<JsonBody<Reauthenticate>, ApiError>,
) -> Result<Response, ApiError> {
    let JsonBody(body) = body?;
    let request = Reauthentication {
        sub: &claims.sub,
        sid: claims.sid.as_deref(),
        ip,
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok()),
        password: body.password,
    };
    let keys = state.keys.current();
    let pair = recent::reauthenticate(
        &state.accounts,
        &state.throttle,
        &state.sessions,
        &keys,
        request,
    )
    .await
    .map_err(error)?;
    Ok(token_response(pair))
}

fn error(error: ReauthError) -> ApiError {
    let forbidden =
        |e: &ReauthError| ApiError::problem(StatusCode::FORBIDDEN, "Forbidden", e.to_string());
    match error {
        ReauthError::NoSession | ReauthError::WrongPassword => forbidden(&error),
        ReauthError::NoUser
        | ReauthError::Session(SessionError::Revoked | SessionError::Expired) => {
            ApiError::invalid_token("the session has ended; log in again")
        }
        ReauthError::Session(SessionError::Claims(ClaimsError::HookUnavailable(_))) => {
            ApiError::Problem {
                status: StatusCode::SERVICE_UNAVAILABLE,
                title: "Service Unavailable",
                detail: "the claims hook did not answer usably; retry shortly".into(),
                retry_after: Some(1),
            }
        }
        ReauthError::Throttled(throttled) => throttled.into(),
        ReauthError::Login(e) => e.into(),
        ReauthError::Session(e) => e.into(),
    }
}
