//! A real webhook receiver on 127.0.0.1: verifies each delivery's Standard
//! Webhooks signature on its own (not with Signet's code) and records it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use signet::config::Config;
use tokio::sync::{Notify, oneshot};

/// The spec's example secret (24 bytes after `whsec_`).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One POST that carried a valid signature.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: i64,
    pub body: Value,
    /// What the receiver answered.
    pub status: u16,
}

impl Delivery {
    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

struct Inner {
    deliveries: Mutex<Vec<Delivery>>,
    bad_signatures: AtomicUsize,
    status: AtomicU16,
    delay_ms: AtomicU64,
    /// When set, deliveries are answered 307 with this `Location`.
    redirect: Mutex<Option<String>>,
    changed: Notify,
}

/// A receiver that can be taken down and brought back on the same port.
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner {
            deliveries: Mutex::new(Vec::new()),
            bad_signatures: AtomicUsize::new(0),
            status: AtomicU16::new(204),
            delay_ms: AtomicU64::new(0),
            redirect: Mutex::new(None),
            changed: Notify::new(),
        });
        let mut receiver = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            inner,
            stop: None,
            task: None,
        };
        receiver.up().await;
        receiver
    }

    /// Listens again (on the same port once it had one).
    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind receiver");
        self.addr = listener.local_addr().expect("addr");
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(self.inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        }));
    }

    /// Stops listening: connections are refused until [`Receiver::up`].
    pub async fn down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Points `config` at this receiver, retrying at least once a second.
    pub fn configure(&self, config: &mut Config) {
        config.webhook_url = Some(self.url());
        config.webhook_secret = Some(SECRET.into());
        config.webhook_max_backoff = Duration::from_secs(1);
    }

    /// The status later deliveries get (e.g. 500 to refuse them).
    pub fn answer(&self, status: u16) {
        self.inner.status.store(status, Ordering::SeqCst);
    }

    /// Answers later deliveries with a 307 to `location`.
    pub fn redirect_to(&self, location: &str) {
        *self.inner.redirect.lock().unwrap() = Some(location.to_owned());
    }

    /// How long the receiver takes to answer.
    pub fn delay(&self, delay: Duration) {
        self.inner
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every validly signed delivery attempt so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.deliveries.lock().unwrap().clone()
    }

    pub fn accepted(&self) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(Delivery::accepted)
            .collect()
    }

    pub fn bad_signatures(&self) -> usize {
        self.inner.bad_signatures.load(Ordering::SeqCst)
    }

    /// Waits (up to 30 s) until `done` holds for the deliveries so far.
    pub async fn wait_until(
        &self,
        what: &str,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let changed = self.inner.changed.notified();
            let deliveries = self.deliveries();
            if done(&deliveries) {
                return deliveries;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("timed out waiting for {what}; got {deliveries:#?}");
            }
        }
    }

    /// The first accepted event of `kind` about `email`.
    pub async fn event(&self, kind: &str, email: &str) -> Delivery {
        let matches = |d: &Delivery| d.accepted() && d.kind() == kind && d.data()["email"] == email;
        let deliveries = self
            .wait_until(&format!("{kind} for {email}"), |all| {
                all.iter().any(matches)
            })
            .await;
        deliveries.into_iter().find(matches).unwrap()
    }

    /// The token of the first accepted event of `kind` about `email`.
    pub async fn token(&self, kind: &str, email: &str) -> String {
        let event = self.event(kind, email).await;
        event.data()["token"].as_str().expect("a token").to_owned()
    }
}

/// Checks the signature as a receiver following the spec would.
async fn receive(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let redirect = inner.redirect.lock().unwrap().clone();
    let status = verify_and_record(&inner, &headers, &body, redirect.is_some()).await;
    match redirect {
        Some(location) if status.is_success() => (
            StatusCode::TEMPORARY_REDIRECT,
            [(axum::http::header::LOCATION, location)],
        )
            .into_response(),
        _ => status.into_response(),
    }
}

async fn verify_and_record(
    inner: &Inner,
    headers: &HeaderMap,
    body: &Bytes,
    redirecting: bool,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signatures) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= 300);
    let key = STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let signed = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body].concat();
    let valid = signatures.split(' ').any(|entry| {
        entry
            .strip_prefix("v1,")
            .and_then(|sig| STANDARD.decode(sig).ok())
            .is_some_and(|sig| ring::hmac::verify(&key, &signed, &sig).is_ok())
    });
    let json = header("content-type") == "application/json";
    let parsed = serde_json::from_slice::<Value>(body);
    let (true, true, true, Ok(body)) = (fresh, valid, json, parsed) else {
        inner.bad_signatures.fetch_add(1, Ordering::SeqCst);
        inner.changed.notify_waiters();
        return StatusCode::UNAUTHORIZED;
    };
    let delay = inner.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = if redirecting {
        307
    } else {
        inner.status.load(Ordering::SeqCst)
    };
    inner.deliveries.lock().unwrap().push(Delivery {
        id,
        timestamp: timestamp.parse().unwrap_or_default(),
        body,
        status,
    });
    inner.changed.notify_waiters();
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
