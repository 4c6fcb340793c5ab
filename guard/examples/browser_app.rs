//! A server-rendered web app on Signet's browser sessions (CONTRACT §9),
//! protected by signet-guard in cookie mode: the layout the README
//! recommends, with the app and Signet behind one origin. Here the app
//! itself forwards `/v1/browser/*` to Signet, so it runs without a reverse
//! proxy; in production put one in front of both instead.
//!
//! ```text
//! SIGNET_CORS_ORIGINS=http://127.0.0.1:8082 cargo run            # Signet on :8080
//! BROWSER_APP_LISTEN=127.0.0.1:8082 SIGNET_ISSUER=http://127.0.0.1:8080 \
//!     cargo run -p signet-guard --example browser_app
//! ```
//!
//! - `GET /`: the login form; once logged in, the user, their notes, a form
//!   to add one and a logout button.
//! - `POST /notes`: adds a note (guarded: the access cookie and the CSRF
//!   rule, 201).
//! - `POST /v1/browser/*`: forwarded to Signet (login, refresh, logout),
//!   with its `Set-Cookie` answers.
//!
//! No token is ever readable by the page: the access and refresh cookies
//! are `HttpOnly`. The page's script reads only the CSRF cookie and sends it
//! as `X-CSRF-Token`, and refreshes once when an answer is 401.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use signet_guard::axum::cookies::{self, CSRF_COOKIE};
use signet_guard::{AuthRejection, Claims, Guard, GuardLayer};

/// Notes kept per user, and users kept: the demo's memory stays bounded.
const MAX_NOTES: usize = 20;
const MAX_USERS: usize = 1000;
const MAX_NOTE_CHARS: usize = 200;

/// Request headers the forwarder passes to Signet, and response headers
/// it passes back.
const FORWARDED: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::COOKIE,
    header::ORIGIN,
    header::USER_AGENT,
    HeaderName::from_static("sec-fetch-site"),
    HeaderName::from_static("x-csrf-token"),
];
const RETURNED: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::SET_COOKIE,
    header::CACHE_CONTROL,
    header::RETRY_AFTER,
];

#[derive(Clone)]
struct App {
    signet: String,
    http: reqwest::Client,
    notes: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let listen = env_or("BROWSER_APP_LISTEN", "127.0.0.1:8082");
    let issuer = env_or("SIGNET_ISSUER", "http://127.0.0.1:8080");
    let audience = env_or("SIGNET_AUDIENCE", "signet");
    // Where `/v1/browser/*` is forwarded; the issuer unless Signet is
    // reached under another address.
    let signet = env_or("SIGNET_URL", &issuer);

    let guard = Guard::builder(issuer.clone(), audience)
        .cookies(true)
        .build_lazy()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = App {
        signet: signet.trim_end_matches('/').to_owned(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?,
        notes: Arc::default(),
    };

    let router = Router::new()
        .route("/", get(home))
        .route(
            "/notes",
            post(add_note).route_layer(GuardLayer::new(guard.clone())),
        )
        .route("/v1/browser/{*rest}", post(forward))
        .route("/healthz", get(|| async { "ok" }))
        .layer(Extension(guard))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("browser_app listening on http://{listen}, trusting {issuer}");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[derive(Deserialize)]
struct HomeQuery {
    /// Set after a failed refresh: show the login form, do not try again.
    login: Option<String>,
}

/// The page: the user's (with a valid access cookie), a refreshing one
/// (expired access cookie, a session left), or the login form.
async fn home(
    State(app): State<App>,
    Query(query): Query<HomeQuery>,
    headers: HeaderMap,
    claims: Result<Claims, AuthRejection>,
) -> Html<String> {
    match claims {
        Ok(claims) => {
            let email = email_of(&app, &headers).await;
            let notes = app
                .notes
                .lock()
                .map(|n| n.get(&claims.sub).cloned().unwrap_or_default())
                .unwrap_or_default();
            let items: String = notes
                .iter()
                .map(|n| format!("<li class=\"note\">{}</li>", escape(n)))
                .collect();
            page(
                "",
                &format!(
                    r#"<p>Signed in as <b id="user">{email}</b> (<code>{sub}</code>)</p>
<ul id="notes">{items}</ul>
<form data-fetch="auth" action="/notes">
  <input name="note" maxlength="{MAX_NOTE_CHARS}" required> <button id="add">Add note</button>
</form>
<form data-fetch="plain" action="/v1/browser/logout"><button id="logout">Log out</button></form>"#,
                    email = escape(&email),
                    sub = escape(&claims.sub),
                ),
            )
        }
        Err(_) if query.login.is_none() && has_session(&headers) => page(
            "refresh",
            "<p id=\"refreshing\">Refreshing your session…</p>",
        ),
        Err(_) => page(
            "",
            r#"<form data-fetch="plain" action="/v1/browser/login" id="login">
  <label>Email <input name="email" type="email" required></label>
  <label>Password <input name="password" type="password" required></label>
  <label><input name="remember" type="checkbox"> Remember me</label>
  <button>Log in</button>
</form>"#,
        ),
    }
}

/// A session is left when the CSRF cookie (which lives as long as the
/// session's cookies) is still there.
fn has_session(headers: &HeaderMap) -> bool {
    cookies::cookie(headers, CSRF_COOKIE).is_ok_and(|c| c.is_some())
}

/// The user's email from Signet's `GET /v1/userinfo`, which accepts the
/// access cookie like a bearer token (a safe method: no CSRF token needed).
async fn email_of(app: &App, headers: &HeaderMap) -> String {
    let mut request = app.http.get(format!("{}/v1/userinfo", app.signet));
    if let Some(cookie) = headers.get(header::COOKIE) {
        request = request.header(header::COOKIE, cookie);
    }
    let info: Option<serde_json::Value> = match request.send().await {
        Ok(response) if response.status().is_success() => response.json().await.ok(),
        _ => None,
    };
    info.and_then(|i| i["email"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

#[derive(Deserialize)]
struct NewNote {
    note: String,
}

async fn add_note(State(app): State<App>, claims: Claims, Form(form): Form<NewNote>) -> Response {
    let note: String = form.note.chars().take(MAX_NOTE_CHARS).collect();
    let Ok(mut notes) = app.notes.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if notes.len() >= MAX_USERS && !notes.contains_key(&claims.sub) {
        return StatusCode::INSUFFICIENT_STORAGE.into_response();
    }
    let mine = notes.entry(claims.sub.clone()).or_default();
    if mine.len() >= MAX_NOTES {
        mine.remove(0);
    }
    mine.push(note);
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "notes": mine.len() })),
    )
        .into_response()
}

/// Forwards a `/v1/browser/*` request to Signet and its answer back.
async fn forward(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.signet))
        .body(body);
    for name in &FORWARDED {
        for value in headers.get_all(name) {
            request = request.header(name, value);
        }
    }
    let upstream = match request.send().await {
        Ok(upstream) => upstream,
        Err(error) => {
            tracing::warn!(%error, "Signet unreachable");
            return (StatusCode::BAD_GATEWAY, "Signet is unreachable").into_response();
        }
    };
    let mut response = Response::builder().status(upstream.status().as_u16());
    for name in &RETURNED {
        for value in upstream.headers().get_all(name) {
            response = response.header(name, value);
        }
    }
    let body = upstream.bytes().await.unwrap_or_default();
    response
        .body(body.into())
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// The whole page. `mode = "refresh"` makes the script refresh at once.
fn page(mode: &str, content: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Notes</title></head>
<body data-mode="{mode}">
<h1>Notes</h1>
{content}
<p id="error" role="alert"></p>
<script>
// Only the CSRF cookie is readable here; the tokens are HttpOnly.
const csrf = () => (document.cookie.match(/(?:^|; )__Host-signet_csrf=([^;]*)/) || [])[1] || "";
const send = (url, body) => fetch(url, {{
  method: "POST", credentials: "same-origin", headers: {{ "X-CSRF-Token": csrf() }}, body,
}});
const refresh = async () => (await send("/v1/browser/refresh")).ok;
for (const form of document.querySelectorAll("form[data-fetch]")) {{
  form.addEventListener("submit", async (event) => {{
    event.preventDefault();
    const body = new URLSearchParams(new FormData(form));
    let response = await send(form.action, body);
    // An expired access token: refresh once, then try again.
    if (response.status === 401 && form.dataset.fetch === "auth" && await refresh()) {{
      response = await send(form.action, body);
    }}
    if (response.ok) location.assign("/");
    else document.getElementById("error").textContent = "failed: " + response.status;
  }});
}}
if (document.body.dataset.mode === "refresh") {{
  refresh().then((ok) => location.assign(ok ? "/" : "/?login"));
}}
</script>
</body></html>"#
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}
