//! Browser sessions (CONTRACT §9) against a real Signet on loopback: the
//! cookies and their attributes, rotation through the refresh cookie,
//! logout, the CSRF rule at Signet and at a guard in cookie mode, CORS, and
//! a real Chromium driving the example app (`chromium.rs`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/process.rs"]
mod process;

mod chromium;
mod cookies;
mod cors;
mod csrf;
mod examples;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;

use axum::Json;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use signet_guard::{Claims, Guard, GuardLayer};

use common::{PASSWORD, TestServer, client};

pub const ACCESS: &str = "__Host-signet_at";
pub const CSRF: &str = "__Host-signet_csrf";
pub const REFRESH: &str = "__Secure-signet_rt";

/// One `Set-Cookie` header: value and attributes (names lower-cased).
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub value: String,
    pub attributes: BTreeMap<String, String>,
}

impl SetCookie {
    pub fn has(&self, attribute: &str) -> bool {
        self.attributes.contains_key(attribute)
    }

    pub fn get(&self, attribute: &str) -> Option<&str> {
        self.attributes.get(attribute).map(String::as_str)
    }
}

/// The `Set-Cookie` headers of a response, by cookie name (each at most once).
pub fn set_cookies(response: &reqwest::Response) -> BTreeMap<String, SetCookie> {
    let mut cookies = BTreeMap::new();
    for value in response.headers().get_all("set-cookie") {
        let text = value.to_str().expect("ASCII Set-Cookie");
        let mut parts = text.split(';').map(str::trim);
        let (name, value) = parts.next().unwrap().split_once('=').expect("name=value");
        let attributes = parts
            .map(|attr| match attr.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), v.to_owned()),
                None => (attr.to_ascii_lowercase(), String::new()),
            })
            .collect();
        let cookie = SetCookie {
            value: value.to_owned(),
            attributes,
        };
        assert!(
            cookies.insert(name.to_owned(), cookie).is_none(),
            "{name} set twice"
        );
    }
    cookies
}

/// A browser's view of one login: the cookie values it holds.
#[derive(Debug, Clone)]
pub struct Browser {
    pub access: String,
    pub csrf: String,
    pub refresh: String,
    pub body: Value,
}

impl Browser {
    /// The `Cookie` header a browser sends to `path`.
    pub fn cookie_header(&self, path: &str) -> String {
        let mut header = format!("{ACCESS}={}; {CSRF}={}", self.access, self.csrf);
        if path.starts_with("/v1/browser") {
            header.push_str(&format!("; {REFRESH}={}", self.refresh));
        }
        header
    }
}

/// `POST /v1/browser/login` as a same-origin page would send it.
pub async fn browser_login_response(
    server: &TestServer,
    email: &str,
    remember: bool,
) -> reqwest::Response {
    client()
        .post(server.url("/v1/browser/login"))
        .header("origin", &server.base)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({ "email": email, "password": PASSWORD, "remember": remember }))
        .send()
        .await
        .expect("login request")
}

/// Logs in through the browser endpoint; panics unless 200 with cookies.
pub async fn browser_login(server: &TestServer, email: &str, remember: bool) -> Browser {
    let response = browser_login_response(server, email, remember).await;
    assert_eq!(response.status(), 200);
    browser_from(response).await
}

pub async fn browser_from(response: reqwest::Response) -> Browser {
    let cookies = set_cookies(&response);
    let value = |name: &str| {
        cookies
            .get(name)
            .unwrap_or_else(|| panic!("{name} set"))
            .value
            .clone()
    };
    let (access, csrf, refresh) = (value(ACCESS), value(CSRF), value(REFRESH));
    Browser {
        access,
        csrf,
        refresh,
        body: response.json().await.expect("JSON body"),
    }
}

/// An app behind a guard in cookie mode, on 127.0.0.1: `GET /whoami`,
/// `POST /notes` (201).
pub async fn guarded_app(server: &TestServer) -> (SocketAddr, Guard) {
    let guard = Guard::builder(&server.base, "signet")
        .cookies(true)
        .build()
        .await
        .expect("guard builds");
    let app = axum::Router::new()
        .route("/whoami", get(|c: Claims| async move { Json(c) }))
        .route(
            "/notes",
            post(|c: Claims| async move { (StatusCode::CREATED, Json(json!({ "sub": c.sub }))) }),
        )
        .layer(GuardLayer::new(guard.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, guard)
}

/// `target/<profile>/examples/NAME`, beside this test's own `deps/`.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    profile_dir.join("examples").join(name)
}

/// Kills the child when the test ends, however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits until `GET {base}/healthz` answers 200 (at most 10 s).
pub async fn wait_healthy(base: &str) {
    let http = client();
    for _ in 0..100 {
        let answer = http.get(format!("{base}/healthz")).send().await;
        if answer.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{base} did not become healthy");
}
