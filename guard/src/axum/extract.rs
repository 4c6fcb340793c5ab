//! `Claims<C>` and `Option<Claims<C>>` as extractors.

use std::sync::Arc;

use ::axum::extract::{FromRequestParts, OptionalFromRequestParts};
use ::axum::http::request::Parts;
use serde::de::DeserializeOwned;

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
    super::credentials::authenticate::<C>(parts, guard)
        .await
        .map_err(|error| AuthRejection::new(error, Some(guard.realm())))
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
