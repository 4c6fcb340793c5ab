//! `Claims<C>` and `Option<Claims<C>>` as extractors.

use std::sync::Arc;

use ::axum::extract::{FromRequestParts, OptionalFromRequestParts};
use ::axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::bearer::bearer;
use super::layer::Verified;
use super::{AuthError, AuthRejection};
use crate::guard::Guard;
use crate::verify::Claims;

/// The claims of the request's token: from [`GuardLayer`](super::GuardLayer)
/// when it validated them as `C`, else validated here with the
/// [`Guard`] found in the extensions. `Ok(None)` when there is no token.
pub(crate) async fn claims_of<C>(parts: &Parts) -> Result<Option<Arc<Claims<C>>>, AuthRejection>
where
    C: DeserializeOwned + Send + Sync + 'static,
{
    if let Some(Verified(claims)) = parts.extensions.get::<Verified<C>>() {
        return Ok(Some(Arc::clone(claims)));
    }
    let Some(guard) = parts.extensions.get::<Guard>() else {
        return Err(AuthError::NotConfigured.into());
    };
    let reject = |error: AuthError| AuthRejection::new(error, Some(guard.realm()));
    let Some(token) = bearer(&parts.headers, &parts.uri).map_err(reject)? else {
        return Ok(None);
    };
    match guard.verify::<C>(token).await {
        Ok(claims) => Ok(Some(claims)),
        Err(error) => Err(reject(error.into())),
    }
}

/// Requires a valid bearer token; 401 without one.
impl<S, C> FromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match claims_of::<C>(parts).await? {
            Some(claims) => Ok(Claims::clone(&claims)),
            None => {
                let realm = parts.extensions.get::<Guard>().map(Guard::realm);
                Err(AuthRejection::new(AuthError::MissingToken, realm))
            }
        }
    }
}

/// `None` without a token; a token that is present must be valid.
impl<S, C> OptionalFromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(claims_of::<C>(parts)
            .await?
            .map(|claims| Claims::clone(&claims)))
    }
}
