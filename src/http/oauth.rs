//! `POST /oauth2/token` (RFC 6749) and `POST /oauth2/revoke` (RFC 7009).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::client_auth;
use super::extract::{ClientIp, OAuthBody};
use super::sessions::client_seen;
use crate::app::AppState;
use crate::auth::login;
use crate::error::ApiError;
use crate::store::ClaimsOwner;
use crate::telemetry;
use crate::tokens::access::Grant;
use crate::tokens::claims::{GrantKind, Subject};
use crate::tokens::scope;
use crate::tokens::sessions::{ClientSeen, TokenPair};

/// Parameters of every grant; which are required depends on `grant_type`.
/// Unknown parameters are ignored, as RFC 6749 §3.2 requires.
#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<SecretString>,
    scope: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
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
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthBody(request): OAuthBody<TokenRequest>,
) -> Result<Response, ApiError> {
    match request.grant_type.as_deref() {
        Some("password") => password_grant(&state, ip, &headers, request).await,
        Some("refresh_token") => {
            state.throttle.refresh(ip)?;
            refresh_grant(&state, client_seen(&headers, ip), request).await
        }
        Some("client_credentials") => client_credentials_grant(&state, &headers, request).await,
        Some(_) => Err(ApiError::oauth(
            "unsupported_grant_type",
            "supported grant types: password, refresh_token, client_credentials",
        )),
        None => Err(ApiError::oauth("invalid_request", "grant_type is required")),
    }
}

async fn password_grant(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    request: TokenRequest,
) -> Result<Response, ApiError> {
    let (Some(username), Some(password)) = (request.username, request.password) else {
        return Err(ApiError::oauth(
            "invalid_request",
            "the password grant needs username and password",
        ));
    };
    let attempt = login::LoginAttempt {
        ip,
        username: &username,
        password,
        scope: request.scope.as_deref(),
        client: client_seen(headers, ip),
    };
    let pair = state.logins().password_login(attempt).await?;
    Ok(token_response(pair))
}

async fn refresh_grant(
    state: &AppState,
    client: ClientSeen<'_>,
    request: TokenRequest,
) -> Result<Response, ApiError> {
    let Some(token) = request.refresh_token else {
        return Err(ApiError::oauth(
            "invalid_request",
            "refresh_token is required",
        ));
    };
    let pair = state
        .sessions
        .refresh(
            &state.keys.current(),
            &token,
            request.scope.as_deref(),
            client,
        )
        .await?;
    telemetry::token_issued("refresh_token");
    Ok(token_response(pair))
}

/// RFC 6749 §4.4: a service's token for itself: `sub` and `client_id` are
/// the client, `aud` its audience, no session and no refresh token.
async fn client_credentials_grant(
    state: &AppState,
    headers: &HeaderMap,
    request: TokenRequest,
) -> Result<Response, ApiError> {
    let presented = client_auth::presented(headers, request.client_id, request.client_secret)?;
    let client = client_auth::required(state, presented).await?;
    state.throttle.client_token(&client.id)?;
    let granted = scope::grant(&client.scope, request.scope.as_deref())
        .map_err(|e| ApiError::oauth("invalid_scope", e.to_string()))?;
    let custom = state
        .claims
        .for_token(&Subject {
            owner: ClaimsOwner::Client(&client.id),
            sub: &client.id,
            client_id: &client.id,
            sid: None,
            grant: GrantKind::ClientCredentials,
            scope: &granted,
        })
        .await?;
    let grant = Grant {
        sub: client.id.clone(),
        aud: client.audience,
        scope: granted.clone(),
        client_id: client.id,
        custom,
        ..Grant::default()
    };
    let access = state.access_tokens.mint(&state.keys.current(), &grant)?;
    state
        .clients
        .record_issued(&grant.client_id, &access)
        .await?;
    telemetry::token_issued("client_credentials");
    Ok(no_store(Json(TokenResponse {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.expires_in,
        refresh_token: None,
        scope: granted,
    })))
}

/// A request about one token: RFC 7662 introspection and RFC 7009 revocation.
#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
    /// Accepted and not needed: the two token kinds differ in shape.
    #[serde(rename = "token_type_hint")]
    _hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
}

impl TokenQuery {
    fn token(&self) -> Result<&str, ApiError> {
        self.token
            .as_deref()
            .ok_or_else(|| ApiError::oauth("invalid_request", "token is required"))
    }
}

/// Introspection for authenticated clients only.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    OAuthBody(request): OAuthBody<TokenQuery>,
) -> Result<Response, ApiError> {
    let token = request.token()?.to_owned();
    let presented = client_auth::presented(&headers, request.client_id, request.client_secret)?;
    client_auth::required(&state, presented).await?;
    let answer = state.introspector().introspect(&token).await?;
    Ok(no_store(Json(answer)))
}

/// Revokes a refresh token's session or an access token's `jti`. Unknown,
/// expired and malformed tokens get the same 200 (RFC 7009 §2.2), and so do
/// tokens already revoked, without a write. Throttled per client address
/// and, for access tokens, per session (or client), since every new entry
/// grows every guard's revocation set.
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthBody(request): OAuthBody<TokenQuery>,
) -> Result<Response, ApiError> {
    state.throttle.revoke(ip)?;
    let token = request.token()?.to_owned();
    // Public clients may revoke without credentials; presented ones must be right.
    if let Some(presented) =
        client_auth::presented(&headers, request.client_id, request.client_secret)?
    {
        client_auth::authenticate(&state, presented).await?;
    }
    if token.contains('.') {
        if let Some(claims) = state.introspector().verify_issued(&token) {
            let sid = claims.sid.as_deref();
            state
                .throttle
                .revoke_in_session(sid.unwrap_or(&claims.client_id))?;
            state
                .revocations
                .revoke_access(&claims.jti, sid, claims.exp)
                .await?;
        }
    } else {
        state.sessions.revoke_refresh(&token).await?;
    }
    Ok(no_store(StatusCode::OK))
}

pub(super) fn token_response(pair: TokenPair) -> Response {
    no_store(Json(TokenResponse {
        access_token: pair.access.token,
        token_type: "Bearer",
        expires_in: pair.access.expires_in,
        refresh_token: Some(pair.refresh_token),
        scope: pair.scope,
    }))
}

/// Token-bearing answers must not be cached (RFC 6749 §5.1).
fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
