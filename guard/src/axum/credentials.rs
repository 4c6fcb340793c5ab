//! The request's credentials: the bearer token, or — for a guard built with
//! `cookies(true)` and no bearer token — the access cookie, which must pass
//! the CSRF rule on unsafe methods ([`cookies`](super::cookies)).

use std::sync::Arc;

use ::axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AuthError;
use super::bearer::bearer;
use super::cookies::{self, CookieNames};
use crate::guard::Guard;
use crate::verify::Claims;

/// The verified claims of the request's token; `Ok(None)` when it carries
/// none. Bearer requests are never subject to the CSRF rule.
pub(crate) async fn authenticate<C>(
    parts: &Parts,
    guard: &Guard,
) -> Result<Option<Arc<Claims<C>>>, AuthError>
where
    C: DeserializeOwned + Send + Sync + 'static,
{
    if let Some(token) = bearer(&parts.headers, &parts.uri)? {
        return Ok(Some(guard.verify::<C>(token).await?));
    }
    let Some(mode) = guard.cookie_mode() else {
        return Ok(None);
    };
    let Some((token, names)) = access_cookie(parts)? else {
        return Ok(None);
    };
    let claims = guard.verify::<C>(token).await?;
    if cookies::is_unsafe(&parts.method) {
        mode.check_origin(&parts.headers)
            .and_then(|()| cookies::check_bound_token(&parts.headers, names, token))
            .map_err(AuthError::Csrf)?;
    }
    Ok(Some(claims))
}

/// The access cookie (the `__Host-` one, else the `__Secure-` one of a
/// shared cookie domain) and the names of its family.
fn access_cookie(parts: &Parts) -> Result<Option<(&str, CookieNames)>, AuthError> {
    for names in [CookieNames::HOST, CookieNames::SHARED] {
        match cookies::cookie(&parts.headers, names.access) {
            Ok(Some(token)) => return Ok(Some((token, names))),
            Ok(None) => {}
            Err(_) => return Err(AuthError::InvalidRequest("more than one access cookie")),
        }
    }
    Ok(None)
}
