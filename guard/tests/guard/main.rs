//! Guard tests over real HTTP on 127.0.0.1: a stub issuer (metadata, JWKS,
//! revocation feed) and the guarded service, both on ephemeral ports.

mod axum_api;
mod cache;
mod jwks;
mod outbound;
mod revocations;
mod stub;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use signet_guard::{Claims, Guard, GuardLayer, RequireScope};

/// Custom claims of the typed-extractor tests.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct Tenant {
    pub tenant: String,
}

/// The service under test: `/whoami`, `/admin` (scope admin) behind
/// `GuardLayer`; `/maybe` (optional claims) and `/tenant` (typed claims)
/// with the guard only in the extensions; `/healthz` open.
pub fn app(guard: Guard) -> Router {
    let protected = Router::new()
        .route("/whoami", get(whoami))
        .route(
            "/admin",
            get(whoami).route_layer(RequireScope::new("admin")),
        )
        .layer(GuardLayer::new(guard.clone()));
    let open = Router::new()
        .route("/maybe", get(maybe))
        .route("/tenant", get(tenant))
        .route(
            "/scoped-without-layer",
            get(|| async { "ok" }).route_layer(RequireScope::new("admin")),
        )
        .layer(Extension(guard));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/unconfigured", get(whoami))
        .merge(protected)
        .merge(open)
}

async fn whoami(claims: Claims) -> Json<Claims> {
    Json(claims)
}

async fn maybe(claims: Option<Claims>) -> Json<Value> {
    Json(json!({ "sub": claims.map(|c| c.sub) }))
}

async fn tenant(claims: Claims<Tenant>) -> Json<Value> {
    Json(json!({ "sub": claims.sub, "tenant": claims.custom.tenant }))
}

/// Serves `router` on an ephemeral port; returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub async fn get_with(client: &reqwest::Client, url: &str, token: &str) -> reqwest::Response {
    client.get(url).bearer_auth(token).send().await.unwrap()
}

/// A port nothing listens on (bound, then released).
pub async fn free_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Polls `check` every 20 ms until it holds or `limit` passes; returns the
/// time it took.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
