//! `POST /v1/users` (sign-up) and `GET /v1/userinfo`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::extract::{Bearer, ClientIp, JsonBody};
use crate::app::AppState;
use crate::error::ApiError;

#[derive(Deserialize)]
pub struct SignUp {
    email: String,
    password: SecretString,
}

#[derive(Serialize)]
pub struct UserView {
    id: String,
    email: String,
    created_at: String,
}

pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<JsonBody<SignUp>, ApiError>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    if !state.config.signup {
        return Err(ApiError::problem(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "sign-up is disabled on this server",
        ));
    }
    state.throttle.signup(ip)?;
    let JsonBody(body) = body?;
    let user = state
        .accounts
        .register(&body.email, body.password, "")
        .await?;
    let created_at = chrono::DateTime::from_timestamp(user.created_at, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok((
        StatusCode::CREATED,
        Json(UserView {
            id: user.id,
            email: user.email,
            created_at,
        }),
    ))
}

#[derive(Serialize)]
pub struct UserInfo {
    sub: String,
    email: String,
    scope: String,
    sid: Option<String>,
    email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<Vec<String>>,
}

pub async fn userinfo(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<UserInfo>, ApiError> {
    let user = state
        .accounts
        .user(&claims.sub)
        .await?
        .filter(|user| !user.disabled)
        .ok_or_else(|| ApiError::invalid_token("the token does not belong to an active user"))?;
    Ok(Json(UserInfo {
        sub: user.id,
        email: user.email,
        scope: claims.scope,
        sid: claims.sid,
        email_verified: user.email_verified,
        auth_time: claims.auth_time,
        amr: claims.amr,
    }))
}
