//! Step-up: [`RequireRecentAuth`] (a layer) and [`RecentAuth`] (an
//! extractor) refuse tokens whose `auth_time` is older than a maximum age
//! with RFC 9470's 401 `insufficient_user_authentication` challenge, so the
//! client knows to re-authenticate (Signet: `POST /v1/reauthenticate`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::axum::extract::{FromRequestParts, Request};
use ::axum::http::request::Parts;
use ::axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tower::{Layer, Service};

use super::extract::claims_of;
use super::{AuthError, AuthRejection};
use crate::guard::Guard;
use crate::verify::{Claims, NoCustomClaims, unix_now};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The claims when the token's user authenticated at most `max_age`
/// seconds ago; the rejection otherwise (401 without a token, 401
/// `insufficient_user_authentication` for an old or absent `auth_time`).
async fn recent_claims<C>(parts: &Parts, max_age: u64) -> Result<Claims<C>, AuthRejection>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let realm = parts.extensions.get::<Guard>().map(Guard::realm);
    let Some(claims) = claims_of::<C>(parts).await? else {
        return Err(AuthRejection::new(AuthError::MissingToken, realm));
    };
    if claims.authenticated_within(max_age, unix_now()) {
        Ok(Claims::clone(&claims))
    } else {
        let error = AuthError::InsufficientUserAuthentication { max_age };
        Err(AuthRejection::new(error, realm))
    }
}

/// Extractor form: the claims of a token whose user authenticated at most
/// `MAX_AGE` seconds ago.
///
/// ```ignore
/// async fn delete_account(RecentAuth(claims): RecentAuth<300>) -> String {
///     format!("deleting {}", claims.sub)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct RecentAuth<const MAX_AGE: u64, C = NoCustomClaims>(pub Claims<C>);

impl<S, C, const MAX_AGE: u64> FromRequestParts<S> for RecentAuth<MAX_AGE, C>
where
    S: Send + Sync,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        recent_claims(parts, MAX_AGE).await.map(RecentAuth)
    }
}

/// Layer form: refuses requests whose token's user authenticated more than
/// `max_age` ago. Put it inside a [`GuardLayer`](super::GuardLayer) (e.g.
/// with `route_layer`).
///
/// ```ignore
/// Router::new()
///     .route("/settings", post(change).route_layer(RequireRecentAuth::new(Duration::from_secs(300))))
///     .layer(GuardLayer::new(guard));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequireRecentAuth {
    max_age: u64,
}

impl RequireRecentAuth {
    /// Whole seconds count (RFC 9470's `max_age` is in seconds).
    pub fn new(max_age: Duration) -> Self {
        RequireRecentAuth {
            max_age: max_age.as_secs(),
        }
    }
}

impl<S> Layer<S> for RequireRecentAuth {
    type Service = RequireRecentAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireRecentAuthService {
            inner,
            max_age: self.max_age,
        }
    }
}

/// The service of [`RequireRecentAuth`].
#[derive(Clone, Debug)]
pub struct RequireRecentAuthService<S> {
    inner: S,
    max_age: u64,
}

impl<S> Service<Request> for RequireRecentAuthService<S>
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
        let max_age = self.max_age;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            match recent_claims::<NoCustomClaims>(&parts, max_age).await {
                Ok(_) => inner.call(Request::from_parts(parts, body)).await,
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}

#[cfg(all(test, feature = "test-helpers"))]
mod tests {
    use ::axum::Router;
    use ::axum::body::Body;
    use ::axum::http::{Request, StatusCode, header};
    use ::axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::GuardLayer;
    use crate::testing::{TestIssuer, TokenClaims};

    async fn recent(RecentAuth(claims): RecentAuth<300>) -> String {
        claims.sub
    }

    /// Status and challenge of `path` for `token`, with the layer form on
    /// `/layer` and the extractor form on `/extractor` (both 300 s).
    async fn call(issuer: &TestIssuer, path: &str, token: &str) -> (StatusCode, String) {
        let app = Router::new()
            .route(
                "/layer",
                get(|| async { "ok" })
                    .route_layer(RequireRecentAuth::new(Duration::from_secs(300))),
            )
            .route("/extractor", get(recent))
            .layer(GuardLayer::new(issuer.guard()));
        let request = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (response.status(), challenge)
    }

    #[tokio::test]
    async fn old_or_missing_auth_time_gets_the_rfc9470_challenge() {
        let issuer = TestIssuer::new();
        let now = unix_now();
        let fresh = issuer.mint(TokenClaims::new().claim("auth_time", now - 300));
        let old = issuer.mint(TokenClaims::new().claim("auth_time", now - 301));
        let none = issuer.mint(TokenClaims::new());
        for path in ["/layer", "/extractor"] {
            assert_eq!(
                call(&issuer, path, &fresh).await.0,
                StatusCode::OK,
                "{path}"
            );
            for token in [&old, &none] {
                let (status, challenge) = call(&issuer, path, token).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
                assert!(
                    challenge.contains("error=\"insufficient_user_authentication\"")
                        && challenge.ends_with(", max_age=300"),
                    "{path}: {challenge}"
                );
            }
            let (status, challenge) = call(&issuer, path, "not-a-token").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert!(challenge.contains("invalid_token"), "{challenge}");
        }
    }
}
