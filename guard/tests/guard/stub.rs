//! A small stand-in for Signet on 127.0.0.1: RFC 8414 metadata, a JWKS with
//! `Cache-Control`, and a revocation feed in the format of CONTRACT §7
//! (cursor, long poll with `wait`, `ETag` / `If-None-Match` → 304), with
//! counters. It can be stopped (every connection dropped) and restarted on
//! the same port, restored to an older feed (a cursor from the future then
//! answers 410), and told to redirect its JWKS elsewhere.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde_json::{Value, json};
use signet_guard::JwkSet;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

pub struct StubState {
    pub issuer: String,
    pub jwks: Mutex<JwkSet>,
    pub cache_control: Mutex<String>,
    /// `revocation_feed_endpoint` in the metadata; `None` leaves it out.
    pub advertised_feed: Mutex<Option<String>>,
    pub metadata_fetches: AtomicUsize,
    pub jwks_fetches: AtomicUsize,
    /// Requests per feed path: `/v1/revocations` and `/custom/feed`.
    pub default_feed_requests: AtomicUsize,
    pub custom_feed_requests: AtomicUsize,
    pub feed_not_modified: AtomicUsize,
    /// `Authorization` of the last feed request.
    pub feed_authorization: Mutex<Option<String>>,
    /// Where `/redirected/jwks.json` answers 307 to.
    pub jwks_redirect: Mutex<Option<String>>,
    /// `jwks_uri` in the metadata, when not the stub's own.
    pub advertised_jwks: Mutex<Option<String>>,
    entries: Mutex<Vec<Value>>,
    news: Notify,
}

pub struct Stub {
    pub addr: SocketAddr,
    pub state: Arc<StubState>,
    task: Option<JoinHandle<()>>,
}

impl Stub {
    pub async fn start(jwks: JwkSet) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        Self::start_on(listener, addr, jwks)
    }

    /// A stub on a given port (e.g. one chosen earlier for a guard that was
    /// started first).
    pub async fn start_at(addr: SocketAddr, jwks: JwkSet) -> Stub {
        let listener = TcpListener::bind(addr).await.unwrap();
        Self::start_on(listener, addr, jwks)
    }

    fn start_on(listener: TcpListener, addr: SocketAddr, jwks: JwkSet) -> Stub {
        let issuer = format!("http://{addr}");
        let state = Arc::new(StubState {
            advertised_feed: Mutex::new(Some(format!("{issuer}/custom/feed"))),
            issuer,
            jwks: Mutex::new(jwks),
            cache_control: Mutex::new("public, max-age=300".into()),
            metadata_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
            default_feed_requests: AtomicUsize::new(0),
            custom_feed_requests: AtomicUsize::new(0),
            feed_not_modified: AtomicUsize::new(0),
            feed_authorization: Mutex::new(None),
            jwks_redirect: Mutex::new(None),
            advertised_jwks: Mutex::new(None),
            entries: Mutex::new(Vec::new()),
            news: Notify::new(),
        });
        let mut stub = Stub {
            addr,
            state,
            task: None,
        };
        stub.task = Some(serve(listener, stub.router()));
        stub
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/.well-known/jwks.json", get(jwks))
            .route("/redirected/jwks.json", get(redirect))
            .route("/v1/revocations", get(default_feed))
            .route("/custom/feed", get(custom_feed))
            .with_state(Arc::clone(&self.state))
    }

    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    /// Stops serving and drops every open connection (long polls included).
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Serves again on the same port, with the same state.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    eprintln!("rebinding {}: {e}", self.addr);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot rebind {}: {e}", self.addr),
            }
        };
        self.task = Some(serve(listener, self.router()));
    }

    pub fn publish(&self, jwks: JwkSet) {
        *self.state.jwks.lock().unwrap() = jwks;
    }

    /// Appends an entry to the feed and wakes the long polls.
    pub fn revoke(&self, entry: Value) {
        self.state.entries.lock().unwrap().push(entry);
        self.state.news.notify_waiters();
    }

    /// Replaces the feed with an older one, as a database restore does.
    pub fn restore(&self, entries: Vec<Value>) {
        *self.state.entries.lock().unwrap() = entries;
        self.state.news.notify_waiters();
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn feed_requests(&self) -> usize {
        self.state.default_feed_requests.load(Ordering::SeqCst)
            + self.state.custom_feed_requests.load(Ordering::SeqCst)
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts connections until aborted; aborting drops every connection too.
fn serve(listener: TcpListener, router: Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(router.clone());
            connections.spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
            while connections.try_join_next().is_some() {}
        }
    })
}

async fn metadata(State(state): State<Arc<StubState>>) -> Json<Value> {
    state.metadata_fetches.fetch_add(1, Ordering::SeqCst);
    let jwks_uri = state
        .advertised_jwks
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| format!("{}/.well-known/jwks.json", state.issuer));
    let mut meta = json!({ "issuer": state.issuer, "jwks_uri": jwks_uri });
    if let Some(feed) = state.advertised_feed.lock().unwrap().clone() {
        meta["revocation_feed_endpoint"] = json!(feed);
    }
    Json(meta)
}

async fn jwks(State(state): State<Arc<StubState>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let body = state.jwks.lock().unwrap().clone();
    let cache_control = state.cache_control.lock().unwrap().clone();
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_str(&cache_control).unwrap(),
    );
    response
}

async fn redirect(State(state): State<Arc<StubState>>) -> Response {
    match state.jwks_redirect.lock().unwrap().clone() {
        Some(to) => axum::response::Redirect::temporary(&to).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct FeedQuery {
    after: Option<String>,
    wait: Option<u64>,
}

async fn default_feed(
    State(state): State<Arc<StubState>>,
    Query(q): Query<FeedQuery>,
    headers: HeaderMap,
) -> Response {
    state.default_feed_requests.fetch_add(1, Ordering::SeqCst);
    feed(state, q, headers).await
}

async fn custom_feed(
    State(state): State<Arc<StubState>>,
    Query(q): Query<FeedQuery>,
    headers: HeaderMap,
) -> Response {
    state.custom_feed_requests.fetch_add(1, Ordering::SeqCst);
    feed(state, q, headers).await
}

/// Cursor = number of entries seen; ETag = the cursor quoted; a cursor
/// beyond the entries is 410.
async fn feed(state: Arc<StubState>, q: FeedQuery, headers: HeaderMap) -> Response {
    *state.feed_authorization.lock().unwrap() = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let after = match q.after.as_deref().map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(30));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let news = state.news.notified();
        tokio::pin!(news);
        news.as_mut().enable();
        let entries = state.entries.lock().unwrap().clone();
        if after > entries.len() {
            return StatusCode::GONE.into_response();
        }
        let fresh = entries.get(after..).unwrap_or_default().to_vec();
        let timed_out = tokio::time::Instant::now() >= deadline;
        if !fresh.is_empty() || q.after.is_none() || timed_out {
            let cursor = entries.len();
            let etag = format!("\"{cursor}\"");
            if fresh.is_empty()
                && headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(&etag)
            {
                state.feed_not_modified.fetch_add(1, Ordering::SeqCst);
                return StatusCode::NOT_MODIFIED.into_response();
            }
            let body = json!({ "cursor": cursor.to_string(), "entries": fresh });
            let mut response = Json(body).into_response();
            response
                .headers_mut()
                .insert(ETAG, HeaderValue::from_str(&etag).unwrap());
            return response;
        }
        let _ = tokio::time::timeout_at(deadline, news).await;
    }
}
