//! Recent authentication: `auth_time` and `amr` in tokens, kept by refreshes,
//! moved only by a login or `POST /v1/reauthenticate`.

use std::time::Duration;

use serde_json::Value;

use crate::common::grants::text;
use crate::common::{PASSWORD, TestServer, assert_problem, client, decode_parts};

fn claims_of(tokens: &Value) -> Value {
    decode_parts(text(tokens, "access_token")).1
}

/// Sleeps until the Unix second changes, so two logins cannot share an
/// `auth_time` by accident (at most one second).
async fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(Duration::from_nanos(
        1_000_000_000 - u64::from(now.subsec_nanos()) + 1_000_000,
    ))
    .await;
}

#[tokio::test]
async fn auth_time_survives_refreshes_and_moves_only_on_reauthentication() {
    let server = TestServer::start().await;
    let login = server.user_tokens("ada@example.com").await;
    let first = claims_of(&login);
    let auth_time = first["auth_time"].as_i64().expect("auth_time");
    assert_eq!(first["amr"], serde_json::json!(["pwd"]));
    assert!((first["iat"].as_i64().unwrap() - auth_time).abs() <= 1);

    next_second().await;
    let (status, refreshed) = server.refresh(text(&login, "refresh_token")).await;
    assert_eq!(status, 200, "{refreshed}");
    let second = claims_of(&refreshed);
    assert!(second["iat"].as_i64().unwrap() > auth_time, "a later token");
    assert_eq!(
        second["auth_time"], auth_time,
        "refreshing must not make an old login look recent"
    );
    assert_eq!(second["amr"], serde_json::json!(["pwd"]));
    let introspected = server.introspect(text(&refreshed, "access_token")).await;
    assert_eq!(introspected["auth_time"], auth_time);
    assert_eq!(introspected["amr"], serde_json::json!(["pwd"]));
    let of_refresh = server.introspect(text(&refreshed, "refresh_token")).await;
    assert_eq!(of_refresh["auth_time"], auth_time);

    let response = server
        .reauthenticate(text(&refreshed, "access_token"), PASSWORD)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let stepped: Value = response.json().await.unwrap();
    let third = claims_of(&stepped);
    assert!(third["auth_time"].as_i64().unwrap() > auth_time, "{third}");
    assert_eq!(third["sid"], first["sid"], "the same session");
    assert_eq!(third["amr"], serde_json::json!(["pwd"]));

    // The session's refresh token moved on, and keeps the new auth_time.
    let (status, after) = server.refresh(text(&stepped, "refresh_token")).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(claims_of(&after)["auth_time"], third["auth_time"]);
    let info: Value = client()
        .get(server.url("/v1/userinfo"))
        .bearer_auth(text(&after, "access_token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["auth_time"], third["auth_time"]);

    // A second login is a new session with its own auth_time; the first keeps its own.
    let (_, other) = server.login("ada@example.com", PASSWORD).await;
    assert_ne!(claims_of(&other)["sid"], first["sid"]);
}

#[tokio::test]
async fn reauthentication_needs_the_password_and_a_live_user_session() {
    let server = TestServer::start().await;
    let login = server.user_tokens("ada@example.com").await;
    let access = text(&login, "access_token");

    let wrong = server.reauthenticate(access, "not the password").await;
    let body = assert_problem(wrong, 403).await;
    assert!(text(&body, "detail").contains("password"), "{body}");
    assert!(!body.to_string().contains("not the password"));

    let no_token = client()
        .post(server.url("/v1/reauthenticate"))
        .json(&serde_json::json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    assert!(no_token.headers().contains_key("www-authenticate"));

    let malformed = client()
        .post(server.url("/v1/reauthenticate"))
        .bearer_auth(access)
        .json(&serde_json::json!({ "pass": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(malformed, 422).await;

    let (id, secret) = server.add_client("").await;
    let (_, service) = server.client_token(&id, &secret).await;
    let service_token = text(&service, "access_token");
    assert!(claims_of(&service).get("auth_time").is_none());
    assert!(claims_of(&service).get("amr").is_none());
    let refused = server.reauthenticate(service_token, PASSWORD).await;
    assert_problem(refused, 403).await;

    let logout = client()
        .post(server.url("/v1/logout"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let ended = server.reauthenticate(access, PASSWORD).await;
    assert_eq!(ended.status(), 401, "a revoked token cannot step up");
}

#[tokio::test]
async fn reauthentication_is_throttled_like_logins() {
    let server = TestServer::start_with(|config| {
        config.throttle.failures_per_address = 2;
    })
    .await;
    let login = server.user_tokens("ada@example.com").await;
    let access = text(&login, "access_token").to_owned();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            server
                .reauthenticate(&access, "wrong password")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let limited = server.reauthenticate(&access, PASSWORD).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
}
