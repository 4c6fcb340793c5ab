//! `POST /oauth2/token`, the RFC 6749 token endpoint.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::extract::OAuthBody;
use crate::app::AppState;
use crate::error::ApiError;
use crate::tokens::scope;
use crate::tokens::sessions::TokenPair;

/// Parameters of every grant; which are required depends on `grant_type`.
/// Unknown parameters are ignored, as RFC 6749 §3.2 requires.
#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<SecretString>,
    scope: Option<String>,
}

/// RFC 6749 §5.1 successful response.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
}

pub async fn token(
    State(state): State<AppState>,
    OAuthBody(request): OAuthBody<TokenRequest>,
) -> Result<Response, ApiError> {
    match request.grant_type.as_deref() {
        Some("password") => password_grant(&state, request).await,
        Some(_) => Err(ApiError::oauth(
            "unsupported_grant_type",
            "supported grant types: password",
        )),
        None => Err(ApiError::oauth("invalid_request", "grant_type is required")),
    }
}

async fn password_grant(state: &AppState, request: TokenRequest) -> Result<Response, ApiError> {
    let (Some(username), Some(password)) = (request.username, request.password) else {
        return Err(ApiError::oauth(
            "invalid_request",
            "the password grant needs username and password",
        ));
    };
    let user = state.accounts.authenticate(&username, password).await?;
    let granted = scope::grant(&user.scope, request.scope.as_deref())
        .map_err(|e| ApiError::oauth("invalid_scope", e.to_string()))?;
    let pair = state.sessions.start(&state.keys, &user, granted).await?;
    Ok(token_response(pair))
}

fn token_response(pair: TokenPair) -> Response {
    let body = TokenResponse {
        access_token: pair.access.token,
        token_type: "Bearer",
        expires_in: pair.access.expires_in,
        refresh_token: Some(pair.refresh_token),
        scope: pair.scope,
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
