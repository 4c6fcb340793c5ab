//! Request extractors whose rejections use the documented error formats.

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::{Form, Json};
use serde::de::DeserializeOwned;
use signet_guard::axum::cookies;
use signet_guard::verify::{Claims, NoCustomClaims};

use super::csrf;
use crate::app::AppState;
use crate::error::ApiError;

/// A JSON body; a malformed one is a 400 problem+json.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(value)| Self(value))
            .map_err(|rejection| json_problem(&rejection))
    }
}

fn json_problem(rejection: &JsonRejection) -> ApiError {
    let status = rejection.status();
    let title = status.canonical_reason().unwrap_or("Bad Request");
    ApiError::problem(status, title, rejection.body_text())
}

/// An OAuth request body, form-encoded (RFC 6749) or JSON; rejections are
/// RFC 6749 `invalid_request` errors.
pub struct OAuthBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OAuthBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("application/json") {
            let Json(value) = Json::<T>::from_request(request, state)
                .await
                .map_err(|r| oauth_rejection(r.status(), r.body_text()))?;
            return Ok(Self(value));
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let Form(value) = Form::<T>::from_request(request, state)
                .await
                .map_err(|r: FormRejection| oauth_rejection(r.status(), r.body_text()))?;
            return Ok(Self(value));
        }
        Err(ApiError::oauth(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded or application/json",
        ))
    }
}

fn oauth_rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::problem(status, "Payload Too Large", "the request body is too large");
    }
    ApiError::oauth("invalid_request", text)
}

/// The verified claims of the request's bearer token (RFC 6750 §2.1 only:
/// tokens in query strings or bodies are not accepted) or, without an
/// `Authorization: Bearer` header, of the access cookie (CONTRACT §9), in
/// which case unsafe methods must pass the CSRF rule (403 otherwise).
pub struct Bearer(pub Claims<NoCustomClaims>);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (token, from_cookie) = match bearer_token(parts)? {
            Some(token) => (token, false),
            None => (access_cookie(parts, state)?, true),
        };
        let claims = state
            .validator
            .validate(token, state.keys.current().keyset())?;
        if state
            .revocations
            .is_revoked(&claims.jti, claims.sid.as_deref())
            .await?
        {
            return Err(ApiError::invalid_token("the token has been revoked"));
        }
        if from_cookie && cookies::is_unsafe(&parts.method) {
            csrf::check(state, &parts.headers, claims.sid.as_deref())?;
        }
        Ok(Self(claims))
    }
}

/// The token of the one `Authorization: Bearer` header; `None` without one.
fn bearer_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid_request("send exactly one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| invalid_request("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Ok(None),
    }
}

/// The access cookie's token; 401 without one.
fn access_cookie<'a>(parts: &'a Parts, state: &AppState) -> Result<&'a str, ApiError> {
    cookies::cookie(&parts.headers, csrf::names(state).access)
        .map_err(|_| invalid_request("send exactly one access cookie"))?
        .ok_or_else(ApiError::missing_token)
}

fn invalid_request(description: &str) -> ApiError {
    ApiError::Bearer {
        status: StatusCode::BAD_REQUEST,
        error: Some("invalid_request"),
        description: description.to_owned(),
    }
}

/// The client's address: the peer, or with `trust_forwarded_for` the first
/// address of `X-Forwarded-For` (set by the trusted proxy in front).
pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let forwarded = state
            .config
            .trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|ip| ip.trim().parse().ok());
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Self(
            forwarded
                .or(peer)
                .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        ))
    }
}
