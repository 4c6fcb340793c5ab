//! The CSRF rule at Signet (CONTRACT §9), over the shared checks of
//! `signet_guard::axum::cookies`: Fetch Metadata, an `Origin` allow-list
//! (the issuer's origin and `cors_origins`), and the session's CSRF token
//! checked against its MAC.

use axum::http::HeaderMap;
use signet_guard::axum::cookies::{self, CookieNames, CsrfError};

use crate::app::AppState;

/// Fetch Metadata and `Origin` only: what a login must pass (login CSRF).
pub fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), CsrfError> {
    let issuer = cookies::origin_of(&state.issuer);
    cookies::check_origin(headers, |origin| {
        issuer == Some(origin) || state.config.cors_origins.iter().any(|o| o == origin)
    })
}

/// The whole rule for a cookie-authenticated unsafe request of session `sid`.
pub fn check(state: &AppState, headers: &HeaderMap, sid: Option<&str>) -> Result<(), CsrfError> {
    check_origin(state, headers)?;
    let presented = cookies::presented_token(headers)?;
    match sid {
        Some(sid) if state.csrf.verify(sid, presented) => Ok(()),
        _ => Err(CsrfError::WrongToken),
    }
}

/// The names of this server's access and CSRF cookies.
pub fn names(state: &AppState) -> CookieNames {
    CookieNames::for_domain(state.config.cookie_domain.is_some())
}
