//! Refresh rotation, reuse detection, the grace window, logout and RFC 7009.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, client, decode_parts};

async fn refresh(server: &TestServer, token: &str) -> (u16, Value) {
    refresh_scoped(server, token, None).await
}

/// A refresh grant, optionally asking for a narrower `scope`.
async fn refresh_scoped(server: &TestServer, token: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend(scope.map(|scope| ("scope", scope)));
    let response = client()
        .post(server.url("/oauth2/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (status, response.json().await.unwrap())
}

async fn userinfo_status(server: &TestServer, access: &str) -> u16 {
    client()
        .get(server.url("/v1/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn s<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {body}"))
}

#[tokio::test]
async fn refresh_rotates_and_keeps_the_session() {
    let server = TestServer::start_with(|c| c.refresh_grace = Duration::ZERO).await;
    let first = server.user_tokens("ada@example.com").await;
    let (status, second) = refresh(&server, s(&first, "refresh_token")).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["token_type"], "Bearer");
    let (_, a) = decode_parts(s(&first, "access_token"));
    let (_, b) = decode_parts(s(&second, "access_token"));
    assert_eq!(a["sid"], b["sid"], "the session keeps its sid");
    assert_ne!(a["jti"], b["jti"]);
    assert_eq!(
        userinfo_status(&server, s(&second, "access_token")).await,
        200
    );

    let (status, third) = refresh(&server, s(&second, "refresh_token")).await;
    assert_eq!(status, 200, "{third}");
}

#[tokio::test]
async fn reuse_revokes_the_whole_session() {
    let server = TestServer::start_with(|c| c.refresh_grace = Duration::ZERO).await;
    let first = server.user_tokens("ada@example.com").await;
    let (_, second) = refresh(&server, s(&first, "refresh_token")).await;

    let (status, body) = refresh(&server, s(&first, "refresh_token")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        s(&body, "error_description").contains("already used"),
        "{body}"
    );

    let (status, body) = refresh(&server, s(&second, "refresh_token")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(s(&body, "error_description").contains("revoked"), "{body}");
    for access in [s(&first, "access_token"), s(&second, "access_token")] {
        assert_eq!(
            userinfo_status(&server, access).await,
            401,
            "access tokens die too"
        );
    }
    // Other sessions of the same user are untouched.
    let (status, _) = server
        .login("ada@example.com", crate::common::PASSWORD)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_grace_window_returns_the_same_successor_until_it_is_used() {
    let server = TestServer::start_with(|c| c.refresh_grace = Duration::from_secs(10)).await;
    let first = server.user_tokens("ada@example.com").await;
    let (_, second) = refresh(&server, s(&first, "refresh_token")).await;
    let (status, retried) = refresh(&server, s(&first, "refresh_token")).await;
    assert_eq!(status, 200, "a retried request is not reuse: {retried}");
    assert_eq!(
        retried["refresh_token"], second["refresh_token"],
        "same successor"
    );
    assert_eq!(
        userinfo_status(&server, s(&retried, "access_token")).await,
        200
    );

    let (status, _) = refresh(&server, s(&second, "refresh_token")).await;
    assert_eq!(status, 200, "the successor is now used");
    let (status, body) = refresh(&server, s(&first, "refresh_token")).await;
    assert_eq!(
        status, 400,
        "after the successor was used it is reuse: {body}"
    );
    assert!(s(&body, "error_description").contains("already used"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_refreshes_converge_on_one_successor() {
    let server = TestServer::start().await;
    let first = server.user_tokens("ada@example.com").await;
    let token = s(&first, "refresh_token").to_owned();
    let racers = (0..8).map(|_| {
        let url = server.url("/oauth2/token");
        let token = token.clone();
        async move {
            let response = client()
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    });
    let results = futures_util::future::join_all(racers).await;
    assert!(
        results.iter().all(|(status, _)| *status < 500),
        "{results:?}"
    );
    let successors: std::collections::BTreeSet<&str> = results
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| s(body, "refresh_token"))
        .collect();
    assert_eq!(
        successors.len(),
        1,
        "at most one live successor: {results:?}"
    );
    let successor = successors.into_iter().next().unwrap();
    let (status, _) = refresh(&server, successor).await;
    assert_eq!(status, 200, "and it works");
}

/// The wiring of the idle limit (its rules, and those of the absolute
/// limit, are unit-tested with a clock in `src/tokens/sessions.rs`).
#[tokio::test]
async fn an_idle_session_cannot_refresh_and_its_end_is_counted() {
    let server = TestServer::start_with(|c| {
        c.access_ttl = Duration::from_secs(1);
        c.session_idle = Duration::from_secs(1);
    })
    .await;
    let first = server.user_tokens("ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = refresh(&server, s(&first, "refresh_token")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(s(&body, "error_description").contains("idle"), "{body}");
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("signet_sessions_ended_total{reason=\"idle\"}")),
        "{metrics}"
    );
}

#[tokio::test]
async fn refresh_errors() {
    let server = TestServer::start().await;
    let (status, body) = refresh(&server, "not-a-token").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(s(&body, "error_description").contains("not known"));
    let (status, body) = refresh(&server, &"x".repeat(5000)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let response = client()
        .post(server.url("/oauth2/token"))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

async fn logout(server: &TestServer, access: &str, body: Option<Value>) -> u16 {
    let mut request = client().post(server.url("/v1/logout")).bearer_auth(access);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn logout_ends_one_session_and_all_ends_every_one() {
    let server = TestServer::start().await;
    let one = server.user_tokens("ada@example.com").await;
    let (_, two) = server
        .login("ada@example.com", crate::common::PASSWORD)
        .await;
    let (_, three) = server
        .login("ada@example.com", crate::common::PASSWORD)
        .await;

    assert_eq!(logout(&server, s(&one, "access_token"), None).await, 204);
    assert_eq!(userinfo_status(&server, s(&one, "access_token")).await, 401);
    let (status, _) = refresh(&server, s(&one, "refresh_token")).await;
    assert_eq!(status, 400);
    assert_eq!(
        userinfo_status(&server, s(&two, "access_token")).await,
        200,
        "others live on"
    );

    let all = Some(json!({ "all": true }));
    assert_eq!(logout(&server, s(&two, "access_token"), all).await, 204);
    for tokens in [&two, &three] {
        assert_eq!(
            userinfo_status(&server, s(tokens, "access_token")).await,
            401
        );
        let (status, _) = refresh(&server, s(tokens, "refresh_token")).await;
        assert_eq!(status, 400);
    }
    assert_eq!(
        logout(&server, s(&two, "access_token"), None).await,
        401,
        "already revoked"
    );
    assert_eq!(logout(&server, "garbage", None).await, 401);
}

async fn revoke(server: &TestServer, form: &[(&str, &str)]) -> u16 {
    client()
        .post(server.url("/oauth2/revoke"))
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn rfc7009_revocation() {
    let server = TestServer::start().await;
    let session = server.user_tokens("ada@example.com").await;
    let other = {
        let (_, body) = server
            .login("ada@example.com", crate::common::PASSWORD)
            .await;
        body
    };

    // An access token: only that token dies.
    let access = s(&other, "access_token");
    assert_eq!(
        revoke(
            &server,
            &[("token", access), ("token_type_hint", "access_token")]
        )
        .await,
        200
    );
    assert_eq!(userinfo_status(&server, access).await, 401);
    let (status, renewed) = refresh(&server, s(&other, "refresh_token")).await;
    assert_eq!(status, 200, "the session lives on");
    assert_eq!(
        userinfo_status(&server, s(&renewed, "access_token")).await,
        200
    );

    // A refresh token: its whole session dies.
    assert_eq!(
        revoke(&server, &[("token", s(&session, "refresh_token"))]).await,
        200
    );
    let (status, _) = refresh(&server, s(&session, "refresh_token")).await;
    assert_eq!(status, 400);
    assert_eq!(
        userinfo_status(&server, s(&session, "access_token")).await,
        401
    );

    // Unknown and malformed tokens: 200 all the same.
    for token in ["unknown-token", "a.b.c", ""] {
        assert_eq!(revoke(&server, &[("token", token)]).await, 200, "{token:?}");
    }
    assert_eq!(
        revoke(&server, &[("token_type_hint", "access_token")]).await,
        400
    );
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_of_the_access_token() {
    let server = TestServer::start().await;
    server
        .state
        .accounts
        .register(
            "ada@example.com",
            crate::common::PASSWORD.into(),
            "read write",
        )
        .await
        .unwrap();
    let (_, first) = server
        .login("ada@example.com", crate::common::PASSWORD)
        .await;
    let (status, narrowed) =
        refresh_scoped(&server, s(&first, "refresh_token"), Some("read")).await;
    assert_eq!(status, 200);
    assert_eq!(narrowed["scope"], "read");
    let (_, claims) = decode_parts(s(&narrowed, "access_token"));
    assert_eq!(claims["scope"], "read");
    let (status, next) = refresh(&server, s(&narrowed, "refresh_token")).await;
    assert_eq!(status, 200);
    assert_eq!(next["scope"], "read write", "the session keeps its scope");

    let (status, body) = refresh_scoped(&server, s(&next, "refresh_token"), Some("admin")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
}

#[tokio::test]
async fn a_bad_scope_does_not_shield_a_reused_token() {
    let server = TestServer::start_with(|c| c.refresh_grace = Duration::ZERO).await;
    let first = server.user_tokens("ada@example.com").await;
    let (_, second) = refresh(&server, s(&first, "refresh_token")).await;
    let (status, body) = refresh_scoped(&server, s(&first, "refresh_token"), Some("admin")).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"], "invalid_grant",
        "reuse wins over scope: {body}"
    );
    let (status, _) = refresh(&server, s(&second, "refresh_token")).await;
    assert_eq!(status, 400, "the session was revoked");
}

#[tokio::test]
async fn a_bad_scope_does_not_consume_the_live_token() {
    let server = TestServer::start().await;
    let first = server.user_tokens("ada@example.com").await;
    let (status, body) = refresh_scoped(&server, s(&first, "refresh_token"), Some("admin")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, _) = refresh(&server, s(&first, "refresh_token")).await;
    assert_eq!(status, 200, "still the live token");
}

#[tokio::test]
async fn logout_bodies_must_be_objects() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    for body in [
        "[true]",
        "[]",
        "null",
        "5",
        "{\"all\": \"yes\"}",
        "{\"everything\": true}",
    ] {
        let response = client()
            .post(server.url("/v1/logout"))
            .bearer_auth(s(&tokens, "access_token"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let problem = crate::common::assert_problem(response, 400).await;
        assert!(
            s(&problem, "detail").contains("JSON object"),
            "{body}: {problem}"
        );
    }
    assert_eq!(
        userinfo_status(&server, s(&tokens, "access_token")).await,
        200,
        "nothing revoked"
    );
}
