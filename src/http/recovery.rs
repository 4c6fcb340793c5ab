//! `POST /v1/password/reset-requests`, `POST /v1/password/reset` and
//! `POST /v1/email/verify` (CONTRACT §10).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ClientIp, JsonBody};
use crate::app::AppState;
use crate::auth::email;
use crate::error::ApiError;

#[derive(Deserialize)]
pub struct ResetRequest {
    email: String,
}

/// 202 with the same body whether or not the email belongs to an account;
/// the work happens after the answer, so timing tells nothing either.
pub async fn request_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<JsonBody<ResetRequest>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let JsonBody(body) = body?;
    let account = email::normalize(&body.email);
    state.throttle.reset(ip, account.as_deref())?;
    if account.is_some() {
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(error) = state.recovery.request_reset(&body.email).await {
                tracing::warn!(%error, "could not issue a password-reset token");
            }
        });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "status": "accepted",
            "detail": "if the address belongs to an account, a reset token is on its way",
        })),
    ))
}

#[derive(Deserialize)]
pub struct Reset {
    token: String,
    new_password: SecretString,
}

/// Sets the new password and ends every session of the user.
pub async fn reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<JsonBody<Reset>, ApiError>,
) -> Result<StatusCode, ApiError> {
    state.throttle.reset(ip, None)?;
    let JsonBody(body) = body?;
    state
        .recovery
        .reset_password(&body.token, body.new_password, &state.revocations)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Verify {
    token: String,
}

pub async fn verify_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<JsonBody<Verify>, ApiError>,
) -> Result<StatusCode, ApiError> {
    state.throttle.reset(ip, None)?;
    let JsonBody(body) = body?;
    state.recovery.verify_email(&body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}
