//! RFC 6750 rejections with RFC 9457 problem bodies.

use ::axum::Json;
use ::axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use ::axum::http::{HeaderValue, StatusCode};
use ::axum::response::{IntoResponse, Response};

use crate::guard::GuardError;

/// Why a request was not let through.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token at all: 401 with a bare `Bearer realm=…` challenge.
    #[error("a Bearer access token is required")]
    MissingToken,
    /// The request carries its token wrongly: 400 `invalid_request`.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// The guard refused the token: 401, 403 or 503.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// No [`Guard`](crate::Guard) in the request extensions: the service
    /// forgot [`GuardLayer`](crate::GuardLayer) or `Extension(guard)` (500).
    #[error("authentication is not configured for this route")]
    NotConfigured,
    /// The user authenticated longer than `max_age` seconds ago (or the
    /// token says nothing about it): 401 `insufficient_user_authentication`
    /// with `max_age` (RFC 9470), so the client re-authenticates.
    #[error("a more recent authentication is required (at most {max_age} s ago)")]
    InsufficientUserAuthentication { max_age: u64 },
}

/// An [`AuthError`] with the realm to name in the challenge; the rejection of
/// every extractor and layer of this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection {
    error: AuthError,
    realm: Option<String>,
}

impl AuthRejection {
    pub fn new(error: AuthError, realm: Option<&str>) -> Self {
        AuthRejection {
            error,
            realm: realm.map(str::to_owned),
        }
    }

    pub fn error(&self) -> &AuthError {
        &self.error
    }

    pub fn status(&self) -> StatusCode {
        match &self.error {
            AuthError::MissingToken | AuthError::InsufficientUserAuthentication { .. } => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::Guard(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED)
            }
            AuthError::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `WWW-Authenticate` value, if this answer carries one.
    fn challenge(&self) -> Option<String> {
        let mut max_age = None;
        let (code, scope) = match &self.error {
            AuthError::MissingToken => (None, None),
            AuthError::InsufficientUserAuthentication { max_age: age } => {
                max_age = Some(*age);
                (Some("insufficient_user_authentication"), None)
            }
            AuthError::InvalidRequest(_) => (Some("invalid_request"), None),
            AuthError::Guard(GuardError::Token(_)) => (Some("invalid_token"), None),
            AuthError::Guard(GuardError::InsufficientScope { scope }) => {
                (Some("insufficient_scope"), Some(scope.as_str()))
            }
            AuthError::Guard(_) | AuthError::NotConfigured => return None,
        };
        let mut params = Vec::with_capacity(4);
        if let Some(realm) = &self.realm {
            params.push(format!("realm=\"{}\"", quoted(realm)));
        }
        if let Some(code) = code {
            params.push(format!("error=\"{code}\""));
            params.push(format!(
                "error_description=\"{}\"",
                quoted(&self.error.to_string())
            ));
        }
        if let Some(scope) = scope {
            params.push(format!("scope=\"{}\"", quoted(scope)));
        }
        if let Some(max_age) = max_age {
            params.push(format!("max_age={max_age}"));
        }
        Some(if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        })
    }
}

impl From<GuardError> for AuthRejection {
    fn from(error: GuardError) -> Self {
        AuthRejection::new(AuthError::Guard(error), None)
    }
}

impl From<AuthError> for AuthRejection {
    fn from(error: AuthError) -> Self {
        AuthRejection::new(error, None)
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for AuthRejection {}

/// Characters allowed inside a quoted-string: no quote, backslash or control.
fn quoted(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_control() || !c.is_ascii() => '?',
            c => c,
        })
        .collect()
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self.error {
            AuthError::NotConfigured => {
                tracing::error!("signet-guard: no Guard in the request extensions; add GuardLayer")
            }
            error => tracing::debug!(%error, status = status.as_u16(), "request refused"),
        }
        let body = serde_json::json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.error.to_string(),
        });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(value) = self
            .challenge()
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenError;

    fn challenge(error: AuthError) -> Option<String> {
        AuthRejection::new(error, Some("orders")).challenge()
    }

    #[test]
    fn challenges_follow_rfc6750() {
        assert_eq!(
            challenge(AuthError::MissingToken).as_deref(),
            Some("Bearer realm=\"orders\"")
        );
        assert_eq!(
            challenge(GuardError::Token(TokenError::Expired).into()).as_deref(),
            Some(
                "Bearer realm=\"orders\", error=\"invalid_token\", error_description=\"token has expired\""
            )
        );
        let scope = challenge(
            GuardError::InsufficientScope {
                scope: "admin".into(),
            }
            .into(),
        )
        .unwrap();
        assert!(
            scope.contains("error=\"insufficient_scope\"") && scope.ends_with("scope=\"admin\"")
        );
        assert_eq!(challenge(GuardError::KeysUnavailable.into()), None);
        let recent = AuthRejection::new(
            AuthError::InsufficientUserAuthentication { max_age: 300 },
            Some("orders"),
        );
        assert_eq!(recent.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            recent.challenge().as_deref(),
            Some(
                "Bearer realm=\"orders\", error=\"insufficient_user_authentication\", error_description=\"a more recent authentication is required (at most 300 s ago)\", max_age=300"
            )
        );
        assert_eq!(quoted("a\"b\\c\n"), "a'b'c?");
    }
}
