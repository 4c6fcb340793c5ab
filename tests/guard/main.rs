//! End-to-end tests of `signet-guard` against a real Signet on loopback:
//! valid tokens through `Guard::verify` and an axum app behind `GuardLayer`,
//! every RFC 8725 attack class, the JWKS cache (refetch on an unknown key,
//! the cooldown under a flood, Signet stopped), and the revocation feed
//! (logout and RFC 7009 seen within 2 s, the feed restarting).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/process.rs"]
mod process;

mod attacks;
mod clients;
mod feed;
mod jwks;
mod key_changes;
mod recent;
mod sessions;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use signet_guard::{Claims, Guard, GuardLayer, NoCustomClaims};

use common::{TestServer, client, decode_parts};

/// The audience of every Signet access token (the server's default).
pub const AUDIENCE: &str = "signet";

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_json(value: &Value) -> String {
    b64(value.to_string())
}

/// Signs `header.claims` with the server's active key (the header is taken
/// as given, so it may carry anything).
pub fn sign_with_server(server: &TestServer, header: &Value, claims: &Value) -> String {
    let ring = server.state.keys.current();
    let key = ring.active();
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key.encoding_key(), key.alg)
        .expect("signing with the server key");
    format!("{input}.{signature}")
}

/// The header Signet itself puts on its tokens.
pub fn server_header(server: &TestServer) -> Value {
    let ring = server.state.keys.current();
    let key = ring.active();
    json!({
        "alg": serde_json::to_value(key.alg).unwrap(),
        "typ": "at+jwt",
        "kid": key.kid,
    })
}

/// A token with Signet's header and `claims`, signed by Signet's key: what
/// Signet would issue, so a refusal can only come from the claims.
pub fn forge(server: &TestServer, claims: &Value) -> String {
    sign_with_server(server, &server_header(server), claims)
}

/// Signs up `email`, logs in, returns the access token.
pub async fn access_token(server: &TestServer, email: &str) -> String {
    let tokens = server.user_tokens(email).await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// Logs in again as an existing user (a new session).
pub async fn login_again(server: &TestServer, email: &str) -> String {
    let (status, body) = server.login(email, common::PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A guard for `server` built the documented way: RFC 8414 discovery from
/// the issuer URL, every other setting at its default.
pub async fn guard_for(server: &TestServer) -> Guard {
    Guard::builder(server.base.clone(), AUDIENCE)
        .build()
        .await
        .expect("the guard loads Signet's keys")
}

pub async fn verify(guard: &Guard, token: &str) -> Result<(), signet_guard::GuardError> {
    guard.verify::<NoCustomClaims>(token).await.map(|_| ())
}

/// Serves `router` on 127.0.0.1:0; returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// A protected service: `GET /whoami` behind `GuardLayer`, answering the
/// claims the `Claims` extractor received.
pub async fn protected_app(guard: Guard) -> String {
    async fn whoami(claims: Claims) -> Json<Value> {
        Json(json!({
            "sub": claims.sub,
            "jti": claims.jti,
            "sid": claims.sid,
            "iss": claims.iss,
        }))
    }
    serve(
        Router::new()
            .route("/whoami", get(whoami))
            .layer(GuardLayer::new(guard)),
    )
    .await
}

/// `GET {app}/whoami` with `Authorization: Bearer {token}`.
pub async fn whoami(app: &str, token: &str) -> reqwest::Response {
    client()
        .get(format!("{app}/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Asserts 401 `invalid_token` (RFC 6750 §3.1) with a problem body.
pub async fn assert_invalid_token(response: reqwest::Response, case: &str) {
    assert_eq!(response.status(), 401, "{case}");
    let challenge = challenge(&response);
    assert!(
        challenge.starts_with(&format!(
            "Bearer realm=\"{AUDIENCE}\", error=\"invalid_token\""
        )),
        "{case}: {challenge}"
    );
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json",
        "{case}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 401, "{case}: {body}");
}

/// Polls `check` every `every` until it holds or `limit` passes; returns
/// the time it took.
pub async fn within<F: AsyncFnMut() -> bool>(
    limit: Duration,
    every: Duration,
    mut check: F,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// One request the proxy forwarded.
#[derive(Clone, Debug)]
pub struct Forwarded {
    pub path: String,
    pub upstream: String,
    pub status: u16,
}

/// A forwarding HTTP proxy for GET requests, with a switchable upstream and a
/// log of what it forwarded: it counts JWKS fetches, and stands in for a
/// stable address (load balancer) in front of a Signet that restarts.
pub struct Proxy {
    pub base: String,
    state: Arc<ProxyState>,
}

struct ProxyState {
    upstream: RwLock<String>,
    jwks_fetches: AtomicUsize,
    /// `(path, upstream)` of each request as it starts.
    started: Mutex<Vec<(String, String)>>,
    /// Each request once answered.
    log: Mutex<Vec<Forwarded>>,
    client: reqwest::Client,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let state = Arc::new(ProxyState {
            upstream: RwLock::new(upstream.to_owned()),
            jwks_fetches: AtomicUsize::new(0),
            started: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        });
        let router = Router::new()
            .fallback(get(forward))
            .with_state(Arc::clone(&state));
        Proxy {
            base: serve(router).await,
            state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn set_upstream(&self, upstream: &str) {
        *self.state.upstream.write().unwrap() = upstream.to_owned();
    }

    /// Requests for the JWKS received so far.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Requests started so far, as `(path, upstream)`.
    pub fn started(&self) -> Vec<(String, String)> {
        self.state.started.lock().unwrap().clone()
    }

    pub fn log(&self) -> Vec<Forwarded> {
        self.state.log.lock().unwrap().clone()
    }
}

async fn forward(State(state): State<Arc<ProxyState>>, uri: Uri, headers: HeaderMap) -> Response {
    if uri.path() == "/.well-known/jwks.json" {
        state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    }
    let upstream = state.upstream.read().unwrap().clone();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    state
        .started
        .lock()
        .unwrap()
        .push((path.clone(), upstream.clone()));
    let mut request = state.client.get(format!("{upstream}{path}"));
    for name in [header::ACCEPT, header::IF_NONE_MATCH] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let record = |status: u16| {
        state.log.lock().unwrap().push(Forwarded {
            path: path.clone(),
            upstream: upstream.clone(),
            status,
        });
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(_) => {
            record(502);
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    let status = response.status();
    let mut out = HeaderMap::new();
    for name in [header::CONTENT_TYPE, header::ETAG, header::CACHE_CONTROL] {
        if let Some(value) = response.headers().get(&name) {
            out.insert(name, value.clone());
        }
    }
    let Ok(body) = response.bytes().await else {
        record(502);
        return StatusCode::BAD_GATEWAY.into_response();
    };
    record(status.as_u16());
    (StatusCode::from_u16(status.as_u16()).unwrap(), out, body).into_response()
}

// ---------------------------------------------------------------------------
// A valid token, and how the token must be carried.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_signet_token_passes_the_guard_and_the_layer() {
    let server = TestServer::start().await;
    let guard = guard_for(&server).await;
    assert!(guard.is_ready());
    let status = guard.status();
    assert!(status.keys_loaded && status.key_count == 1, "{status:?}");

    let token = access_token(&server, "ada@example.com").await;
    let (header, expected) = decode_parts(&token);
    assert_eq!(header["typ"], "at+jwt");
    let claims = guard.verify::<NoCustomClaims>(&token).await.unwrap();
    assert_eq!(claims.iss, server.base);
    assert_eq!(claims.sub, expected["sub"].as_str().unwrap());
    assert_eq!(claims.jti, expected["jti"].as_str().unwrap());
    assert_eq!(claims.sid.as_deref(), expected["sid"].as_str());
    assert_eq!(claims.exp, expected["exp"].as_i64().unwrap());
    assert!(claims.aud.contains(AUDIENCE));
    // Custom claims are typed from the same object (a claim Signet does not
    // set, so on a token signed with Signet's key).
    #[derive(serde::Deserialize)]
    struct Custom {
        tenant: String,
    }
    let mut extra = expected.clone();
    extra["tenant"] = json!("acme");
    let typed = guard
        .verify::<Custom>(&forge(&server, &extra))
        .await
        .unwrap();
    assert_eq!(typed.custom.tenant, "acme");
    assert!(
        guard.verify::<Custom>(&token).await.is_err(),
        "tenant is required"
    );

    let app = protected_app(guard.clone()).await;
    let response = whoami(&app, &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sub"], expected["sub"]);
    assert_eq!(body["jti"], expected["jti"]);
    assert_eq!(body["sid"], expected["sid"]);
    assert_eq!(body["iss"], server.base.as_str());

    // A second token of another session, never seen by the guard (so not
    // answered from its verified-token cache), passes through HTTP first.
    let second = login_again(&server, "ada@example.com").await;
    assert_ne!(second, token);
    let response = whoami(&app, &second).await;
    assert_eq!(response.status(), 200);
    verify(&guard, &second).await.unwrap();
    // The same token through a guard that caches nothing.
    let uncached = Guard::builder(server.base.clone(), AUDIENCE)
        .token_cache_capacity(0)
        .build()
        .await
        .unwrap();
    verify(&uncached, &token).await.unwrap();
    verify(&uncached, &token).await.unwrap();
    assert_eq!(uncached.status().cached_tokens, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_bearer_token_in_the_authorization_header() {
    let server = TestServer::start().await;
    let guard = guard_for(&server).await;
    let token = access_token(&server, "ada@example.com").await;
    let other = login_again(&server, "ada@example.com").await;
    let app = protected_app(guard).await;
    let http = client();

    // No token: 401 with a bare challenge (RFC 6750 §3.1: no error code).
    let response = http.get(format!("{app}/whoami")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response), format!("Bearer realm=\"{AUDIENCE}\""));

    // Another scheme is no bearer token either.
    let response = http
        .get(format!("{app}/whoami"))
        .header(header::AUTHORIZATION, "Basic YWRhOnB3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response), format!("Bearer realm=\"{AUDIENCE}\""));

    // Two Authorization headers, both valid tokens: 400 invalid_request.
    let response = http
        .get(format!("{app}/whoami"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::AUTHORIZATION, format!("Bearer {other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let c = challenge(&response);
    assert!(
        c.starts_with(&format!(
            "Bearer realm=\"{AUDIENCE}\", error=\"invalid_request\""
        )),
        "{c}"
    );
    // The same twice is still two headers.
    let response = http
        .get(format!("{app}/whoami"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // A valid token in the query string is not accepted: the crate
    // documents 400 invalid_request (README "What is checked").
    for query in [
        format!("access_token={token}"),
        format!("a=1&access_token={token}"),
    ] {
        let response = http
            .get(format!("{app}/whoami?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let c = challenge(&response);
        assert!(c.contains("error=\"invalid_request\""), "{c}");
    }
    // ... nor next to a valid header (two ways of sending a token).
    let response = http
        .get(format!("{app}/whoami?access_token={other}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // The control: the header alone passes.
    assert_eq!(whoami(&app, &token).await.status(), 200);
}
