//! The HTTP surface: one module per resource, thin handlers, and the layers
//! every request passes through.

mod browser;
mod client_auth;
pub mod cors;
mod csrf;
mod etag;
mod extract;
mod health;
mod layers;
mod oauth;
mod recent;
mod recovery;
mod revocations;
pub mod server;
mod sessions;
mod users;
mod wellknown;

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post};

use crate::app::AppState;
pub use extract::ClientAddressSettings;

/// One endpoint: the route table is the single list both the router and the
/// OpenAPI drift test read.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<AppState>,
    /// Long polls bound their own duration instead of the request timeout.
    long_poll: bool,
}

fn route(method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Route {
    Route {
        method,
        path,
        handler,
        long_poll: false,
    }
}

fn routes() -> Vec<Route> {
    vec![
        route(Method::POST, "/v1/users", post(users::register)),
        route(Method::GET, "/v1/userinfo", get(users::userinfo)),
        route(Method::POST, "/v1/logout", post(sessions::logout)),
        route(
            Method::POST,
            "/v1/password/reset-requests",
            post(recovery::request_reset),
        ),
        route(Method::POST, "/v1/password/reset", post(recovery::reset)),
        route(
            Method::POST,
            "/v1/email/verify",
            post(recovery::verify_email),
        ),
        route(Method::GET, "/v1/sessions", get(sessions::list)),
        route(Method::DELETE, "/v1/sessions", delete(sessions::end_others)),
        route(
            Method::DELETE,
            "/v1/sessions/{sid}",
            delete(sessions::end_one),
        ),
        route(
            Method::POST,
            "/v1/password",
            post(sessions::change_password),
        ),
        route(
            Method::POST,
            "/v1/reauthenticate",
            post(recent::reauthenticate),
        ),
        route(Method::POST, "/v1/browser/login", post(browser::login)),
        route(Method::POST, "/v1/browser/refresh", post(browser::refresh)),
        route(Method::POST, "/v1/browser/logout", post(browser::logout)),
        Route {
            long_poll: true,
            ..route(Method::GET, "/v1/revocations", get(revocations::feed))
        },
        route(Method::POST, "/oauth2/token", post(oauth::token)),
        route(Method::POST, "/oauth2/revoke", post(oauth::revoke)),
        route(Method::POST, "/oauth2/introspect", post(oauth::introspect)),
        route(Method::GET, "/.well-known/jwks.json", get(wellknown::jwks)),
        route(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            get(wellknown::metadata),
        ),
        route(
            Method::GET,
            "/.well-known/openid-configuration",
            get(wellknown::metadata),
        ),
        route(Method::GET, "/healthz", get(health::healthz)),
        route(Method::GET, "/readyz", get(health::readyz)),
        route(Method::GET, "/metrics", get(health::metrics)),
    ]
}

/// Method and path of every endpoint, for the OpenAPI drift test.
pub fn route_table() -> Vec<(Method, &'static str)> {
    routes().into_iter().map(|r| (r.method, r.path)).collect()
}

/// The router with all endpoints and layers.
pub fn router(state: AppState) -> Router {
    let metadata = wellknown::Metadata::new(&state);
    let timeout = layers::timeout(&state.config);
    let router = routes().into_iter().fold(Router::new(), |router, r| {
        let handler = if r.long_poll {
            r.handler
        } else {
            r.handler.layer(timeout)
        };
        router.route(r.path, handler)
    });
    let router = router
        .fallback(layers::not_found)
        .layer(axum::Extension(metadata))
        .with_state(state.clone());
    layers::apply(router, &state.config)
}
