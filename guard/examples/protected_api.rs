//! A service protected by signet-guard (CONTRACT §8).
//!
//! ```text
//! PROTECTED_LISTEN=127.0.0.1:8081 SIGNET_ISSUER=http://127.0.0.1:8080 \
//! SIGNET_AUDIENCE=signet cargo run -p signet-guard --example protected_api
//! ```
//!
//! - `GET /whoami`: 200 with the token's claims as JSON.
//! - `GET /roles`: the token's `sub` and its custom claim `roles` (an array
//!   of strings, `[]` when absent), read typed as `Claims<Roles>`.
//! - `GET /admin`: the same, with scope `admin` required (403 otherwise).
//! - `GET /recent`: the same, with an `auth_time` at most
//!   `PROTECTED_MAX_AUTH_AGE` seconds old (default 300) required: 401
//!   `insufficient_user_authentication` with `max_age` otherwise (RFC 9470).
//! - `GET /healthz`: no auth; 200 once the guard has keys, else 503.
//!
//! `PROTECTED_FEED_CLIENT_ID` / `PROTECTED_FEED_CLIENT_SECRET` (a client
//! with scope `signet:feed`) are sent to the revocation feed when set.

use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use signet_guard::{Claims, Guard, GuardLayer, RequireRecentAuth, RequireScope};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let listen = env_or("PROTECTED_LISTEN", "127.0.0.1:8081");
    let issuer = env_or("SIGNET_ISSUER", "http://127.0.0.1:8080");
    let audience = env_or("SIGNET_AUDIENCE", "signet");
    let max_auth_age: u64 = env_or("PROTECTED_MAX_AUTH_AGE", "300")
        .parse()
        .map_err(|_| "PROTECTED_MAX_AUTH_AGE must be a number of seconds")?;

    // Lazy: the service starts even while Signet is down, answers 503 until
    // the keys are loaded, and keeps working from its cache if Signet stops.
    let mut builder = Guard::builder(issuer.clone(), audience);
    // A client with scope `signet:feed`: exempt from Signet's per-address
    // feed budget (many services behind one egress address).
    if let (Ok(id), Ok(secret)) = (
        std::env::var("PROTECTED_FEED_CLIENT_ID"),
        std::env::var("PROTECTED_FEED_CLIENT_SECRET"),
    ) {
        builder = builder.feed_credentials(id, secret);
    }
    let guard = builder.build_lazy()?;
    wait_until_ready(&guard, Duration::from_secs(5)).await;

    let protected = Router::new()
        .route("/whoami", get(whoami))
        .route(
            "/admin",
            get(whoami).route_layer(RequireScope::new("admin")),
        )
        .route(
            "/recent",
            get(whoami).route_layer(RequireRecentAuth::new(Duration::from_secs(max_auth_age))),
        )
        .route("/roles", get(roles))
        .layer(GuardLayer::new(guard.clone()));
    let app = Router::new()
        .route("/healthz", get(move || healthz(guard.clone())))
        .merge(protected);

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("protected_api listening on http://{listen}, trusting {issuer}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn whoami(claims: Claims) -> Json<Claims> {
    Json(claims)
}

/// This service's custom claims, set at Signet with
/// `signet users set-claims EMAIL '{"roles":["editor"]}'` or by its claims
/// hook. A token whose `roles` is not an array of strings is refused (401).
#[derive(Clone, Debug, Deserialize)]
struct Roles {
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Serialize)]
struct RolesView {
    sub: String,
    roles: Vec<String>,
}

async fn roles(claims: Claims<Roles>) -> Json<RolesView> {
    Json(RolesView {
        sub: claims.sub,
        roles: claims.custom.roles,
    })
}

async fn healthz(guard: Guard) -> (StatusCode, &'static str) {
    if guard.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "signing keys not loaded")
    }
}

async fn wait_until_ready(guard: &Guard, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while !guard.is_ready() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !guard.is_ready() {
        eprintln!("warning: no signing keys from the issuer yet; answering 503 until they load");
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}
