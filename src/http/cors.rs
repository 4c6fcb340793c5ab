//! CORS (CONTRACT §9): credentialed answers, preflights included, for the
//! exact origins of `cors_origins` and no other. A wildcard cannot work with
//! credentials, so it is refused at start-up rather than at the first
//! request.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use signet_guard::axum::cookies::{self, CSRF_HEADER};
use tower::layer::util::Identity;
use tower::util::Either;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;

/// How long browsers may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Checks each configured origin: exact `scheme://host[:port]`, no `*`.
pub fn check_origins(origins: &[String]) -> Result<(), String> {
    for origin in origins {
        if origin.contains('*') {
            return Err(format!(
                "`{origin}`: wildcards are refused; list the exact origins (credentialed CORS cannot use `*`)"
            ));
        }
        let is_origin = (origin.starts_with("https://") || origin.starts_with("http://"))
            && cookies::origin_of(origin) == Some(origin.as_str())
            && HeaderValue::from_str(origin).is_ok();
        if !is_origin {
            return Err(format!(
                "`{origin}` is not an origin like https://app.example.com (scheme, host, optional port; no path or trailing slash)"
            ));
        }
    }
    Ok(())
}

/// The CORS layer for the configured origins; nothing without any.
pub fn layer(config: &Config) -> Either<CorsLayer, Identity> {
    if config.cors_origins.is_empty() {
        return Either::Right(Identity::new());
    }
    let origins = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok());
    Either::Left(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(CSRF_HEADER),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                header::WWW_AUTHENTICATE,
                header::RETRY_AFTER,
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
