//! The one place where domain errors become HTTP answers: RFC 6749 §5.2 on
//! OAuth endpoints, RFC 6750 challenges on bearer endpoints, RFC 9457
//! problem details everywhere else. Internal detail is logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use signet_guard::verify::TokenError;

use crate::auth::accounts::{LoginError, PasswordChangeError, RegisterError};
use crate::auth::passwords::HashError;
use crate::store::StoreError;
use crate::tokens::access::SignError;
use crate::tokens::claims::ClaimsError;
use crate::tokens::sessions::SessionError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer in one of the three documented formats.
#[derive(Debug)]
pub enum ApiError {
    /// RFC 9457 problem details.
    Problem {
        status: StatusCode,
        title: &'static str,
        detail: String,
        retry_after: Option<u64>,
    },
    /// RFC 6749 §5.2 error; `invalid_client` also challenges for Basic.
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    /// RFC 6750 §3 challenge; `error: None` when no token was sent at all.
    Bearer {
        status: StatusCode,
        error: Option<&'static str>,
        description: String,
    },
}

impl ApiError {
    pub fn problem(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self::Problem {
            status,
            title,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn oauth(error: &'static str, description: impl Into<String>) -> Self {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::OAuth {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn invalid_token(description: impl Into<String>) -> Self {
        Self::Bearer {
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_token"),
            description: description.into(),
        }
    }

    pub fn missing_token() -> Self {
        Self::Bearer {
            status: StatusCode::UNAUTHORIZED,
            error: None,
            description: "a bearer token is required".into(),
        }
    }

    /// 429 with `Retry-After` (whole seconds, rounded up).
    pub fn throttled(wait: std::time::Duration) -> Self {
        Self::Problem {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too Many Requests",
            detail: "too many attempts; retry later".into(),
            retry_after: Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
        }
    }

    fn unavailable(detail: &str) -> Self {
        Self::Problem {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Service Unavailable",
            detail: detail.to_owned(),
            retry_after: Some(1),
        }
    }

    fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %ErrorChain(error), "internal error");
        Self::problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "the server could not complete the request",
        )
    }
}

/// Formats an error with its sources, for logs.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Problem {
                status,
                title,
                detail,
                retry_after,
            } => {
                let mut response = problem_response(status, title, &detail);
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
            ApiError::OAuth {
                status,
                error,
                description,
            } => {
                let body = json!({ "error": error, "error_description": description });
                let mut response = (status, Json(body)).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                if status == StatusCode::UNAUTHORIZED {
                    headers.insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"signet\""),
                    );
                }
                response
            }
            ApiError::Bearer {
                status,
                error,
                description,
            } => {
                let challenge = match error {
                    Some(code) => format!(
                        "Bearer realm=\"signet\", error=\"{code}\", error_description=\"{}\"",
                        description.replace(['"', '\\'], "'")
                    ),
                    None => "Bearer realm=\"signet\"".to_owned(),
                };
                let title = status.canonical_reason().unwrap_or("Unauthorized");
                let mut response = problem_response(status, title, &description);
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
        }
    }
}

/// An RFC 9457 body with its media type.
pub fn problem_response(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Unavailable(_) => {
                crate::telemetry::store_error("unavailable");
                tracing::warn!(error = %ErrorChain(&error), "store unavailable");
                Self::unavailable("the user store is unavailable; retry shortly")
            }
            _ => {
                crate::telemetry::store_error("internal");
                Self::internal(&error)
            }
        }
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => Self::unavailable("too many logins at once; retry shortly"),
            HashError::Failed => Self::internal(&error),
        }
    }
}

impl From<SignError> for ApiError {
    fn from(error: SignError) -> Self {
        Self::internal(&error)
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::UnknownToken
            | SessionError::Expired
            | SessionError::Idle
            | SessionError::Revoked
            | SessionError::CredentialsChanged
            | SessionError::Reused => Self::oauth("invalid_grant", error.to_string()),
            SessionError::ScopeExceeded => Self::oauth("invalid_scope", error.to_string()),
            SessionError::Store(e) => e.into(),
            SessionError::Sign(e) => e.into(),
            SessionError::Claims(e) => e.into(),
            SessionError::Random => Self::internal(&error),
        }
    }
}

impl From<PasswordChangeError> for ApiError {
    fn from(error: PasswordChangeError) -> Self {
        match error {
            PasswordChangeError::WrongPassword => {
                Self::problem(StatusCode::FORBIDDEN, "Forbidden", error.to_string())
            }
            PasswordChangeError::StaleAuthentication => Self::Bearer {
                status: StatusCode::UNAUTHORIZED,
                error: Some("insufficient_user_authentication"),
                description: error.to_string(),
            },
            PasswordChangeError::WeakPassword(_) => {
                Self::problem(StatusCode::BAD_REQUEST, "Bad Request", error.to_string())
            }
            PasswordChangeError::Throttled(throttled) => throttled.into(),
            PasswordChangeError::Hash(e) => e.into(),
            PasswordChangeError::Store(e) => e.into(),
        }
    }
}

/// At the token endpoint; `/v1/reauthenticate` maps its own.
impl From<ClaimsError> for ApiError {
    fn from(error: ClaimsError) -> Self {
        match error {
            ClaimsError::HookUnavailable(_) => Self::oauth(
                "temporarily_unavailable",
                "the claims hook did not answer usably; retry shortly",
            ),
            ClaimsError::Store(e) => e.into(),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::InvalidEmail | RegisterError::WeakPassword(_) => {
                Self::problem(StatusCode::BAD_REQUEST, "Bad Request", error.to_string())
            }
            RegisterError::EmailTaken => {
                Self::problem(StatusCode::CONFLICT, "Conflict", error.to_string())
            }
            RegisterError::Hash(e) => e.into(),
            RegisterError::Store(e) => e.into(),
            RegisterError::Random => Self::internal(&error),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => Self::oauth("invalid_grant", error.to_string()),
            LoginError::Hash(e) => e.into(),
            LoginError::Store(e) => e.into(),
        }
    }
}

impl From<crate::auth::login::PasswordLoginError> for ApiError {
    fn from(error: crate::auth::login::PasswordLoginError) -> Self {
        use crate::auth::login::PasswordLoginError;
        match error {
            PasswordLoginError::UsernameTooLong | PasswordLoginError::PasswordTooLong => {
                Self::oauth("invalid_request", error.to_string())
            }
            PasswordLoginError::Throttled(throttled) => throttled.into(),
            PasswordLoginError::Login(e) => e.into(),
        }
    }
}

impl From<crate::auth::clients::ClientError> for ApiError {
    fn from(error: crate::auth::clients::ClientError) -> Self {
        use crate::auth::clients::ClientError;
        match error {
            ClientError::InvalidClient => Self::oauth("invalid_client", error.to_string()),
            ClientError::Store(e) => e.into(),
            ClientError::Random => Self::internal(&error),
        }
    }
}

impl From<crate::auth::throttle::Throttled> for ApiError {
    fn from(throttled: crate::auth::throttle::Throttled) -> Self {
        Self::throttled(throttled.0)
    }
}

impl From<crate::auth::login::LoginFailure> for ApiError {
    fn from(failure: crate::auth::login::LoginFailure) -> Self {
        use crate::auth::login::LoginFailure;
        match failure {
            LoginFailure::Password(e) => e.into(),
            LoginFailure::Scope(e) => Self::oauth("invalid_scope", e.to_string()),
            LoginFailure::Session(e) => e.into(),
        }
    }
}

/// A failed CSRF rule (CONTRACT §9): 403 problem+json.
impl From<signet_guard::axum::cookies::CsrfError> for ApiError {
    fn from(error: signet_guard::axum::cookies::CsrfError) -> Self {
        Self::problem(StatusCode::FORBIDDEN, "Forbidden", error.to_string())
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        Self::invalid_token(error.to_string())
    }
}

impl From<crate::auth::recovery::RecoveryError> for ApiError {
    fn from(error: crate::auth::recovery::RecoveryError) -> Self {
        use crate::auth::recovery::RecoveryError;
        match error {
            RecoveryError::InvalidToken | RecoveryError::WeakPassword(_) => {
                Self::problem(StatusCode::BAD_REQUEST, "Bad Request", error.to_string())
            }
            RecoveryError::Hash(e) => e.into(),
            RecoveryError::Store(e) => e.into(),
            RecoveryError::Random => Self::internal(&error),
        }
    }
}

impl From<crate::tokens::revocations::FeedError> for ApiError {
    fn from(error: crate::tokens::revocations::FeedError) -> Self {
        use crate::tokens::revocations::FeedError;
        match error {
            FeedError::CursorFromFuture => Self::problem(
                StatusCode::GONE,
                "Gone",
                "this cursor is newer than the feed (restored from a backup?); \
                 start again without `after`",
            ),
            FeedError::Store(e) => e.into(),
        }
    }
}
