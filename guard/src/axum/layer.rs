//! [`GuardLayer`] and [`RequireScope`]: tower layers for axum routers.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::axum::extract::Request;
use ::axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tower::{Layer, Service};

use super::credentials::authenticate;
use super::{AuthError, AuthRejection};
use crate::guard::{Guard, GuardError};
use crate::verify::{Claims, NoCustomClaims};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Claims validated by [`GuardLayer`] as `C`, for the extractor.
pub(crate) struct Verified<C>(pub(crate) Arc<Claims<C>>);

impl<C> Clone for Verified<C> {
    fn clone(&self) -> Self {
        Verified(Arc::clone(&self.0))
    }
}

/// The validated token's scopes, whatever its claims type, for
/// [`RequireScope`].
#[derive(Clone)]
pub(crate) struct Scopes(Arc<dyn HasScope>);

pub(crate) trait HasScope: Send + Sync {
    fn has(&self, scope: &str) -> bool;
}

impl<C: Send + Sync> HasScope for Claims<C> {
    fn has(&self, scope: &str) -> bool {
        self.has_scope(scope)
    }
}

/// Validates the bearer token (or, in cookie mode, the access cookie) before the inner service runs and puts the
/// claims (for [`Claims<C>`]) and the [`Guard`] in the request extensions.
///
/// ```ignore
/// let app = Router::new()
///     .route("/whoami", get(whoami))
///     .layer(GuardLayer::new(guard));
/// ```
pub struct GuardLayer<C = NoCustomClaims> {
    guard: Guard,
    optional: bool,
    claims: PhantomData<fn() -> C>,
}

impl<C> Clone for GuardLayer<C> {
    fn clone(&self) -> Self {
        GuardLayer {
            guard: self.guard.clone(),
            optional: self.optional,
            claims: PhantomData,
        }
    }
}

impl GuardLayer<NoCustomClaims> {
    /// Every request needs a valid token (401 otherwise).
    pub fn new(guard: Guard) -> Self {
        GuardLayer {
            guard,
            optional: false,
            claims: PhantomData,
        }
    }

    /// Requests without a token pass (handlers see `Option<Claims>` as
    /// `None`); a token that is present must be valid.
    pub fn optional(guard: Guard) -> Self {
        GuardLayer {
            optional: true,
            ..GuardLayer::new(guard)
        }
    }
}

impl<C> GuardLayer<C> {
    /// Validates the custom claims as `D`, so that `Claims<D>` extractors
    /// reuse the layer's work.
    pub fn with_claims<D>(self) -> GuardLayer<D> {
        GuardLayer {
            guard: self.guard,
            optional: self.optional,
            claims: PhantomData,
        }
    }
}

impl<S, C> Layer<S> for GuardLayer<C> {
    type Service = GuardService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.guard.clone(),
            optional: self.optional,
            claims: PhantomData,
        }
    }
}

/// The service of [`GuardLayer`].
pub struct GuardService<S, C = NoCustomClaims> {
    inner: S,
    guard: Guard,
    optional: bool,
    claims: PhantomData<fn() -> C>,
}

impl<S: Clone, C> Clone for GuardService<S, C> {
    fn clone(&self) -> Self {
        GuardService {
            inner: self.inner.clone(),
            guard: self.guard.clone(),
            optional: self.optional,
            claims: PhantomData,
        }
    }
}

impl<S, C> Service<Request> for GuardService<S, C>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let guard = self.guard.clone();
        let optional = self.optional;
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let reject = |error: AuthError| {
                Ok(AuthRejection::new(error, Some(guard.realm())).into_response())
            };
            let claims = match authenticate::<C>(&parts, &guard).await {
                Ok(Some(claims)) => claims,
                Ok(None) if optional => {
                    parts.extensions.insert(guard.clone());
                    return inner.call(Request::from_parts(parts, body)).await;
                }
                Ok(None) => return reject(AuthError::MissingToken),
                Err(error) => return reject(error),
            };
            parts
                .extensions
                .insert(Scopes(Arc::clone(&claims) as Arc<dyn HasScope>));
            parts.extensions.insert(Verified(claims));
            parts.extensions.insert(guard.clone());
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

/// Refuses tokens without `scope` with 403 `insufficient_scope`. Put it
/// inside a [`GuardLayer`] (e.g. with `route_layer`); without one it
/// validates the token itself with the [`Guard`] in the extensions.
///
/// ```ignore
/// Router::new()
///     .route("/admin", get(admin).route_layer(RequireScope::new("admin")))
///     .layer(GuardLayer::new(guard));
/// ```
#[derive(Clone, Debug)]
pub struct RequireScope {
    scope: Arc<str>,
}

impl RequireScope {
    pub fn new(scope: impl Into<String>) -> Self {
        RequireScope {
            scope: scope.into().into(),
        }
    }
}

impl<S> Layer<S> for RequireScope {
    type Service = RequireScopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopeService {
            inner,
            scope: Arc::clone(&self.scope),
        }
    }
}

/// The service of [`RequireScope`].
#[derive(Clone, Debug)]
pub struct RequireScopeService<S> {
    inner: S,
    scope: Arc<str>,
}

impl<S> Service<Request> for RequireScopeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let scope = Arc::clone(&self.scope);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let realm = parts
                .extensions
                .get::<Guard>()
                .map(|g| g.realm().to_owned());
            let granted = match parts.extensions.get::<Scopes>() {
                Some(Scopes(scopes)) => scopes.has(&scope),
                None => match super::extract::claims_of::<NoCustomClaims>(&parts).await {
                    Ok(Some(claims)) => {
                        let granted = claims.has_scope(&scope);
                        parts.extensions.insert(Scopes(claims as Arc<dyn HasScope>));
                        granted
                    }
                    Ok(None) => {
                        let error = AuthError::MissingToken;
                        return Ok(AuthRejection::new(error, realm.as_deref()).into_response());
                    }
                    Err(rejection) => return Ok(rejection.into_response()),
                },
            };
            if granted {
                inner.call(Request::from_parts(parts, body)).await
            } else {
                let error = AuthError::Guard(GuardError::InsufficientScope {
                    scope: scope.to_string(),
                });
                Ok(AuthRejection::new(error, realm.as_deref()).into_response())
            }
        })
    }
}
