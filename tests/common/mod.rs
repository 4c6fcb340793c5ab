//! Test harness: a real Signet on 127.0.0.1 with its own SQLite file and keys
//! in a temp dir, driven over HTTP.
#![allow(dead_code)]

pub mod grants;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use signet::app::{self, AppState, Services};
use signet::auth::throttle::ThrottleConfig;
use signet::config::{Argon2Config, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PASSWORD: &str = "correct horse battery staple";

/// A running server; dropping the temp dir removes its files.
pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub dir: Arc<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Settings for tests: files in `dir`, cheap argon2 so tests stay fast.
pub fn config_in(dir: &Path) -> Config {
    let mut config = Config::default();
    config.database_url = format!("sqlite://{}", dir.join("data/signet.db").display());
    config.keys_dir = dir.join("keys");
    config.argon2 = Argon2Config {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    // Tests log in far faster than people; the throttling tests turn it on.
    config.throttle = ThrottleConfig {
        login_per_ip: 0,
        signup_per_ip: 0,
        refresh_per_ip: 0,
        feed_per_ip: 0,
        reset_per_ip: 0,
        reset_per_account: 0,
        revoke_per_ip: 0,
        revoke_per_session: 0,
        tokens_per_client: 0,
        failures_per_address: 0,
        failures_per_account: 0,
        ..ThrottleConfig::default()
    };
    config
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        Self::start_in(dir, tweak).await
    }

    /// Starts on existing files, e.g. to test a restart.
    pub async fn start_in(dir: Arc<tempfile::TempDir>, tweak: impl FnOnce(&mut Config)) -> Self {
        install_tls_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = config_in(dir.path());
        config.listen = addr;
        config.set_issuer(format!("http://{addr}"));
        tweak(&mut config);
        let state = Services::start(config).await.expect("server starts");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            state,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Stops accepting and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// GET `path`, expecting JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = client().get(self.url(path)).send().await.expect("GET");
        response.json().await.expect("a JSON body")
    }

    /// The published JWKs.
    pub async fn jwks(&self) -> Vec<Value> {
        let jwks = self.get_json("/.well-known/jwks.json").await;
        jwks["keys"].as_array().expect("keys").clone()
    }

    /// Registers `email` with [`PASSWORD`]; panics unless 201.
    pub async fn sign_up(&self, email: &str) -> Value {
        let response = client()
            .post(self.url("/v1/users"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("sign-up request");
        assert_eq!(response.status(), 201, "sign-up of {email}");
        response.json().await.expect("sign-up body")
    }

    /// Password grant (form-encoded); returns status and JSON body.
    pub async fn login(&self, email: &str, password: &str) -> (u16, Value) {
        let response = client()
            .post(self.url("/oauth2/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", password),
            ])
            .send()
            .await
            .expect("token request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("token body"))
    }

    /// Refresh grant (form-encoded); returns status and JSON body.
    pub async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        let response = client()
            .post(self.url("/oauth2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .expect("token request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("token body"))
    }

    /// POSTs JSON to `path`; returns the response.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        client()
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Signs up and logs in; returns the token response.
    pub async fn user_tokens(&self, email: &str) -> Value {
        self.sign_up(email).await;
        let (status, body) = self.login(email, PASSWORD).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

pub fn client() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Decodes a JWT's header and claims without verifying (for assertions).
pub fn decode_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let mut next = || -> Value {
        let part = parts.next().expect("token part");
        serde_json::from_slice(&engine.decode(part).expect("base64url")).expect("json")
    };
    let header = next();
    let claims = next();
    (header, claims)
}

/// Asserts an RFC 9457 answer with `status`.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}
