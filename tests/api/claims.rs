//! Custom claims: stored per user and client, added by the claims hook (a
//! real receiver on loopback that verifies the Standard Webhooks
//! signature), never overriding Signet's own claims, and the hook's
//! failure modes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use signet::store::ClaimsOwner;
use signet::tokens::claims;
use signet::tokens::claims_hook::FailureMode;

use crate::common::grants::text;
use crate::common::{PASSWORD, TestServer, client, decode_parts};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// How the receiver answers.
#[derive(Clone)]
enum Mode {
    Claims(Value),
    Slow(Duration),
    Status(u16),
    Redirect,
    Huge,
}

struct Receiver {
    mode: Mutex<Mode>,
    /// Bodies of correctly signed requests.
    seen: Mutex<Vec<Value>>,
    /// Requests whose signature did not verify.
    forged: Mutex<usize>,
}

/// Checks the Standard Webhooks signature the way a receiver should.
fn verified(headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signature)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return false;
    };
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return false;
    };
    if (timestamp - chrono::Utc::now().timestamp()).abs() > 300 {
        return false;
    }
    let secret = STANDARD.decode(&SECRET[6..]).unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
    let signed = [
        id.as_bytes(),
        b".",
        timestamp.to_string().as_bytes(),
        b".",
        body,
    ]
    .concat();
    signature.split(' ').any(|candidate| {
        candidate
            .strip_prefix("v1,")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .is_some_and(|tag| ring::hmac::verify(&key, &signed, &tag).is_ok())
    })
}

async fn hook(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !verified(&headers, &body) {
        *receiver.forged.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    receiver
        .seen
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    let mode = receiver.mode.lock().unwrap().clone();
    match mode {
        Mode::Claims(claims) => Json(claims).into_response(),
        Mode::Slow(delay) => {
            tokio::time::sleep(delay).await;
            Json(json!({ "late": true })).into_response()
        }
        Mode::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Mode::Redirect => Redirect::temporary("/elsewhere").into_response(),
        Mode::Huge => Json(json!({ "blob": "x".repeat(8 * 1024) })).into_response(),
    }
}

/// A receiver on 127.0.0.1; returns its hook URL.
async fn receiver(mode: Mode) -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver {
        mode: Mutex::new(mode),
        seen: Mutex::new(Vec::new()),
        forged: Mutex::new(0),
    });
    let app = Router::new()
        .route("/claims", post(hook))
        .route(
            "/elsewhere",
            post(|| async { Json(json!({ "redirected": true })) }),
        )
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/claims", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (receiver, url)
}

async fn server_with_hook(url: &str, failure: FailureMode) -> TestServer {
    let url = url.to_owned();
    TestServer::start_with(move |config| {
        config.claims_hook_url = Some(url);
        config.claims_hook_secret = Some(SECRET.into());
        config.claims_hook_failure = failure;
    })
    .await
}

fn claims_of(tokens: &Value) -> Value {
    decode_parts(text(tokens, "access_token")).1
}

async fn set_user_claims(server: &TestServer, user_id: &str, json: &str) {
    let valid = claims::parse(json).unwrap();
    let owner = ClaimsOwner::User(user_id);
    assert!(server.state.claims.set(owner, &valid).await.unwrap());
}

#[tokio::test]
async fn the_hook_adds_claims_to_every_grant_and_cannot_override_signets() {
    let (receiver, url) = receiver(Mode::Claims(json!({
        "roles": ["admin"],
        "sub": "someone-else",
        "scope": "admin everything",
        "auth_time": 4_000_000_000_i64,
        "amr": ["hwk"],
        "sid": "forged",
        "client_id": "forged",
        "iss": "https://evil.example",
        "exp": 4_000_000_000_i64,
        "email_verified": true,
        "cnf": { "jkt": "x" },
        "act": { "sub": "root" },
        "tenant\n": "escaped in logs",
    })))
    .await;
    let server = server_with_hook(&url, FailureMode::Deny).await;
    let user = server.sign_up("ada@example.com").await;
    let user_id = text(&user, "id");
    set_user_claims(&server, user_id, r#"{"roles":["reader"],"plan":"pro"}"#).await;

    let (status, login) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{login}");
    let token = claims_of(&login);
    assert_eq!(
        token["roles"],
        json!(["admin"]),
        "the hook wins over stored claims"
    );
    assert_eq!(token["plan"], "pro", "stored claims stay");
    assert_eq!(token["sub"], user_id);
    assert_eq!(token["scope"], "");
    assert_eq!(token["amr"], json!(["pwd"]));
    assert!(token["auth_time"].as_i64().unwrap() < 4_000_000_000);
    assert_eq!(token["client_id"], "signet");
    assert_ne!(token["sid"], "forged");
    assert_ne!(token["iss"], "https://evil.example");
    assert!(token["exp"].as_i64().unwrap() < 4_000_000_000);
    assert_eq!(
        token["email_verified"], false,
        "Signet's own email_verified, not the hook's"
    );
    for absent in ["cnf", "act"] {
        assert!(token.get(absent).is_none(), "{absent} in {token}");
    }
    let introspected = server.introspect(text(&login, "access_token")).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["roles"], json!(["admin"]));
    assert_eq!(introspected["plan"], "pro");
    assert_eq!(introspected["sub"], user_id);

    let (status, refreshed) = server.refresh(text(&login, "refresh_token")).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(claims_of(&refreshed)["roles"], json!(["admin"]));
    assert_eq!(claims_of(&refreshed)["sub"], user_id);

    let (id, secret) = server.add_client("reports").await;
    let valid = claims::parse(r#"{"team":"billing"}"#).unwrap();
    assert!(
        server
            .state
            .claims
            .set(ClaimsOwner::Client(&id), &valid)
            .await
            .unwrap()
    );
    let (status, service) = server.client_token(&id, &secret).await;
    assert_eq!(status, 200, "{service}");
    let service_claims = claims_of(&service);
    assert_eq!(service_claims["team"], "billing");
    assert_eq!(service_claims["roles"], json!(["admin"]));
    assert_eq!(service_claims["sub"], id.as_str());
    assert_eq!(service_claims["scope"], "reports");
    assert!(service_claims.get("auth_time").is_none());

    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(*receiver.forged.lock().unwrap(), 0, "every call was signed");
    let grants: Vec<&str> = seen.iter().map(|body| text(body, "grant")).collect();
    assert_eq!(grants, ["password", "refresh_token", "client_credentials"]);
    assert_eq!(seen[0]["sub"], user_id);
    assert_eq!(seen[0]["client_id"], "signet");
    assert_eq!(seen[0]["sid"], token["sid"]);
    assert_eq!(seen[0]["scope"], "");
    assert_eq!(seen[2]["sid"], Value::Null);
    assert_eq!(seen[2]["scope"], "reports");
}

/// A port nothing listens on.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/claims")
}

/// Logs in; returns status, body and how long it took.
async fn timed_login(server: &TestServer) -> (u16, Value, Duration) {
    let started = Instant::now();
    let (status, body) = server.login("ada@example.com", PASSWORD).await;
    (status, body, started.elapsed())
}

async fn assert_denied(server: &TestServer) {
    let (status, body, took) = timed_login(server).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(text(&body, "error_description").contains("claims hook"));
    assert!(
        took < Duration::from_millis(1_900),
        "bounded by the 1 s timeout: {took:?}"
    );
}

#[tokio::test]
async fn deny_mode_fails_token_requests_when_the_hook_fails() {
    let (receiver, url) = receiver(Mode::Status(500)).await;
    let server = server_with_hook(&url, FailureMode::Deny).await;
    server.sign_up("ada@example.com").await;
    assert_denied(&server).await;

    *receiver.mode.lock().unwrap() = Mode::Slow(Duration::from_millis(1_500));
    assert_denied(&server).await;

    *receiver.mode.lock().unwrap() = Mode::Redirect;
    assert_denied(&server).await;

    *receiver.mode.lock().unwrap() = Mode::Huge;
    assert_denied(&server).await;

    *receiver.mode.lock().unwrap() = Mode::Claims(json!(["not", "an", "object"]));
    assert_denied(&server).await;

    // A refused refresh consumes nothing: the same token works once the hook is back.
    *receiver.mode.lock().unwrap() = Mode::Claims(json!({ "roles": ["a"] }));
    let (status, login, _) = timed_login(&server).await;
    assert_eq!(status, 200, "{login}");
    *receiver.mode.lock().unwrap() = Mode::Status(500);
    let (status, body) = server.refresh(text(&login, "refresh_token")).await;
    assert_eq!(
        (status, &body["error"]),
        (503, &json!("temporarily_unavailable"))
    );
    *receiver.mode.lock().unwrap() = Mode::Claims(json!({ "roles": ["b"] }));
    let (status, refreshed) = server.refresh(text(&login, "refresh_token")).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(claims_of(&refreshed)["roles"], json!(["b"]));

    // Reauthentication answers problem details.
    *receiver.mode.lock().unwrap() = Mode::Status(500);
    let response = server
        .reauthenticate(text(&refreshed, "access_token"), PASSWORD)
        .await;
    crate::common::assert_problem(response, 503).await;

    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for reason in ["status", "timeout", "too_large", "malformed"] {
        assert!(
            metrics.contains(&format!(
                "signet_claims_hook_failures_total{{reason=\"{reason}\"}}"
            )),
            "{reason}"
        );
    }
    assert!(metrics.contains("signet_claims_hook_duration_seconds_bucket"));
}

#[tokio::test]
async fn deny_mode_when_the_receiver_is_down() {
    let server = server_with_hook(&closed_port_url().await, FailureMode::Deny).await;
    server.sign_up("ada@example.com").await;
    assert_denied(&server).await;
    let (id, secret) = server.add_client("").await;
    let (status, body) = server.client_token(&id, &secret).await;
    assert_eq!(
        (status, &body["error"]),
        (503, &json!("temporarily_unavailable"))
    );
}

#[tokio::test]
async fn omit_mode_issues_tokens_without_the_hooks_claims() {
    let (receiver, url) = receiver(Mode::Status(500)).await;
    let server = server_with_hook(&url, FailureMode::Omit).await;
    let user = server.sign_up("ada@example.com").await;
    set_user_claims(&server, text(&user, "id"), r#"{"plan":"pro"}"#).await;
    for mode in [
        Mode::Status(500),
        Mode::Slow(Duration::from_millis(1_500)),
        Mode::Huge,
    ] {
        *receiver.mode.lock().unwrap() = mode;
        let (status, body, took) = timed_login(&server).await;
        assert_eq!(status, 200, "{body}");
        let token = claims_of(&body);
        assert_eq!(token["plan"], "pro", "stored claims are kept");
        assert!(token.get("late").is_none() && token.get("blob").is_none());
        assert!(took < Duration::from_millis(1_900), "{took:?}");
    }
    let down = server_with_hook(&closed_port_url().await, FailureMode::Omit).await;
    let tokens = down.user_tokens("bob@example.com").await;
    assert!(claims_of(&tokens)["sub"].is_string());
}

#[tokio::test]
async fn stored_claims_without_a_hook() {
    let server = TestServer::start().await;
    let user = server.sign_up("ada@example.com").await;
    set_user_claims(&server, text(&user, "id"), r#"{"roles":["editor"]}"#).await;
    let (_, tokens) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(claims_of(&tokens)["roles"], json!(["editor"]));
    set_user_claims(&server, text(&user, "id"), "{}").await;
    let (_, tokens) = server.login("ada@example.com", PASSWORD).await;
    assert!(
        claims_of(&tokens).get("roles").is_none(),
        "replaced, not merged"
    );
}

#[tokio::test]
async fn custom_claims_cannot_shadow_introspection_members() {
    let server = TestServer::start().await;
    let user = server.sign_up("ada@example.com").await;
    let shadowing = r#"{"active":false,"token_type":"refresh_token","username":"root","ok":1}"#;
    set_user_claims(&server, text(&user, "id"), shadowing).await;
    let (_, tokens) = server.login("ada@example.com", PASSWORD).await;
    let access = text(&tokens, "access_token");
    assert_eq!(
        claims_of(&tokens)["active"],
        false,
        "the token itself carries it"
    );
    let (id, secret) = server.add_client("").await;
    let raw = client()
        .post(server.url("/oauth2/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw.matches("\"active\"").count(), 1, "{raw}");
    let answer: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "access_token");
    assert!(answer.get("username").is_none());
    assert_eq!(answer["ok"], 1);
}
