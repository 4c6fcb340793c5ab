//! Request extractors whose rejections use the documented error formats.

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Form, Json};
use serde::de::DeserializeOwned;
use signet_guard::verify::{Claims, NoCustomClaims};

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
/// tokens in query strings or bodies are not accepted).
pub struct Bearer(pub Claims<NoCustomClaims>);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
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
        Ok(Self(claims))
    }
}

/// The token of the one `Authorization: Bearer` header.
fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(if parts.headers.contains_key(header::AUTHORIZATION) {
            invalid_request("send exactly one Authorization header")
        } else {
            ApiError::missing_token()
        });
    };
    let value = value
        .to_str()
        .map_err(|_| invalid_request("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::missing_token()),
    }
}

fn invalid_request(description: &str) -> ApiError {
    ApiError::Bearer {
        status: StatusCode::BAD_REQUEST,
        error: Some("invalid_request"),
        description: description.to_owned(),
    }
}

/// Where the client address comes from; assembled by `Config::client_address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddressSettings {
    /// Take the address from `X-Forwarded-For` (behind trusted proxies only).
    pub trust_forwarded_for: bool,
    /// How many proxies in front of Signet append to `X-Forwarded-For`.
    pub trusted_proxies: usize,
}

/// The client's address: the peer, or with `trust_forwarded_for` the
/// `X-Forwarded-For` entry that the outermost trusted proxy appended.
/// Appending proxies (nginx, ALB, Envoy) keep whatever the client sent and
/// add the address they saw on the right, so with N trusted proxies the
/// client is the N-th entry from the right; everything left of it is
/// client-written and ignored. A header with fewer entries than that did not
/// pass all proxies, and the peer is used.
pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let settings = state.config.client_address();
        let forwarded = settings
            .trust_forwarded_for
            .then(|| forwarded_client(&parts.headers, settings.trusted_proxies))
            .flatten();
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let ip = forwarded
            .or(peer)
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        Ok(Self(ip.to_canonical()))
    }
}

/// The entry `proxies` from the right of all `X-Forwarded-For` lines
/// (several lines count as one comma-joined list, RFC 9110 §5.3).
fn forwarded_client(headers: &HeaderMap, proxies: usize) -> Option<std::net::IpAddr> {
    let mut entries = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        entries.extend(value.to_str().ok()?.split(',').map(str::trim));
    }
    let entry = entries.len().checked_sub(proxies).map(|i| entries[i])?;
    entry.parse().ok().or_else(|| {
        // Some proxies append `ip:port` or `[v6]:port`.
        entry
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|addr| addr.ip())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(lines: &[&str], proxies: usize) -> Option<std::net::IpAddr> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", line.parse().unwrap());
        }
        forwarded_client(&headers, proxies)
    }

    #[test]
    fn the_client_is_what_the_trusted_proxy_appended() {
        let ip = |s: &str| Some(s.parse().unwrap());
        assert_eq!(xff(&["6.6.6.6, 203.0.113.7"], 1), ip("203.0.113.7"));
        assert_eq!(xff(&["6.6.6.6", "203.0.113.7"], 1), ip("203.0.113.7"));
        assert_eq!(
            xff(&["6.6.6.6, 203.0.113.7, 10.0.0.2"], 2),
            ip("203.0.113.7")
        );
        assert_eq!(xff(&["203.0.113.7:4711"], 1), ip("203.0.113.7"));
        assert_eq!(xff(&["[2001:db8::1]:4711"], 1), ip("2001:db8::1"));
        assert_eq!(xff(&["203.0.113.7"], 2), None, "fewer entries than proxies");
        assert_eq!(xff(&["6.6.6.6, garbage"], 1), None);
        assert_eq!(xff(&[], 1), None);
    }
}
