//! The caller's own sessions (`GET/DELETE /v1/sessions`) and the password
//! change (`POST /v1/password`), from the user's and the attacker's side.

use serde_json::{Value, json};

use crate::common::{PASSWORD, TestServer, assert_problem, client, decode_parts};

const NEW_PASSWORD: &str = "a different horse entirely";

fn s<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {body}"))
}

fn sid(tokens: &Value) -> String {
    let (_, claims) = decode_parts(s(tokens, "access_token"));
    claims["sid"].as_str().unwrap().to_owned()
}

async fn login(server: &TestServer, email: &str, user_agent: &str) -> Value {
    let response = client()
        .post(server.url("/oauth2/token"))
        .header("user-agent", user_agent)
        .form(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn list(server: &TestServer, tokens: &Value) -> Vec<Value> {
    let response = client()
        .get(server.url("/v1/sessions"))
        .bearer_auth(s(tokens, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn delete(server: &TestServer, tokens: &Value, path: &str) -> reqwest::Response {
    client()
        .delete(server.url(path))
        .bearer_auth(s(tokens, "access_token"))
        .send()
        .await
        .unwrap()
}

async fn refresh_status(server: &TestServer, tokens: &Value) -> u16 {
    client()
        .post(server.url("/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", s(tokens, "refresh_token")),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn userinfo_status(server: &TestServer, tokens: &Value) -> u16 {
    client()
        .get(server.url("/v1/userinfo"))
        .bearer_auth(s(tokens, "access_token"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn change_password(server: &TestServer, tokens: &Value, current: &str) -> reqwest::Response {
    client()
        .post(server.url("/v1/password"))
        .bearer_auth(s(tokens, "access_token"))
        .json(&json!({ "current_password": current, "new_password": NEW_PASSWORD }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_listing_shows_exactly_the_callers_live_sessions() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    server.sign_up("bob@example.com").await;
    let phone = login(&server, "ada@example.com", "Phone/1.0").await;
    let laptop = login(&server, "ada@example.com", "Laptop/2.0").await;
    let gone = login(&server, "ada@example.com", "Gone/0").await;
    let bob = login(&server, "bob@example.com", "Bob/1").await;
    let response = client()
        .post(server.url("/v1/logout"))
        .bearer_auth(s(&gone, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let listed = list(&server, &laptop).await;
    let mut sids: Vec<&str> = listed.iter().map(|entry| s(entry, "sid")).collect();
    sids.sort_unstable();
    let mut expected = vec![sid(&phone), sid(&laptop)];
    expected.sort();
    assert_eq!(
        sids, expected,
        "live sessions of the caller only: {listed:?}"
    );
    let current: Vec<&Value> = listed.iter().filter(|e| e["current"] == true).collect();
    assert_eq!(current.len(), 1, "{listed:?}");
    assert_eq!(s(current[0], "sid"), sid(&laptop));
    assert_eq!(current[0]["user_agent"], "Laptop/2.0");
    assert_eq!(current[0]["ip"], "127.0.0.0/24");
    assert_eq!(current[0]["client_id"], "signet");
    for key in ["created_at", "last_used_at", "expires_at"] {
        assert!(
            chrono::DateTime::parse_from_rfc3339(s(current[0], key)).is_ok(),
            "{key}: {listed:?}"
        );
    }
    let text = serde_json::to_string(&listed).unwrap();
    for tokens in [&phone, &laptop, &gone, &bob] {
        for secret in ["access_token", "refresh_token"] {
            assert!(!text.contains(s(tokens, secret)), "no token material");
        }
    }
    assert!(!text.contains(&sid(&bob)) && !text.contains(&sid(&gone)));
    let keys: Vec<&String> = listed[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        8,
        "sid created_at last_used_at expires_at client_id user_agent ip current: {keys:?}"
    );

    let response = client()
        .get(server.url("/v1/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn ending_one_session_touches_only_that_one_of_the_caller() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    server.sign_up("bob@example.com").await;
    let mine = login(&server, "ada@example.com", "A").await;
    let other = login(&server, "ada@example.com", "B").await;
    let bob = login(&server, "bob@example.com", "C").await;

    // Another user's sid, an unknown one and a malformed one: 404 alike.
    for path in [
        format!("/v1/sessions/{}", sid(&bob)),
        "/v1/sessions/0193a1b2-0000-7000-8000-000000000000".to_owned(),
        format!("/v1/sessions/{}", "x".repeat(500)),
        "/v1/sessions/%FF".to_owned(),
    ] {
        let response = delete(&server, &mine, &path).await;
        assert_problem(response, 404).await;
    }
    assert_eq!(refresh_status(&server, &bob).await, 200, "bob's survives");

    let response = delete(&server, &mine, &format!("/v1/sessions/{}", sid(&other))).await;
    assert_eq!(response.status(), 204);
    assert_eq!(refresh_status(&server, &other).await, 400);
    assert_eq!(userinfo_status(&server, &other).await, 401);
    let response = delete(&server, &mine, &format!("/v1/sessions/{}", sid(&other))).await;
    assert_problem(response, 404).await;
    let listed = list(&server, &mine).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(userinfo_status(&server, &mine).await, 200);
}

#[tokio::test]
async fn ending_all_other_sessions_keeps_the_current_one() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    server.sign_up("bob@example.com").await;
    let mine = login(&server, "ada@example.com", "A").await;
    let others = [
        login(&server, "ada@example.com", "B").await,
        login(&server, "ada@example.com", "C").await,
    ];
    let bob = login(&server, "bob@example.com", "D").await;
    let response = delete(&server, &mine, "/v1/sessions").await;
    assert_eq!(response.status(), 204);
    for other in &others {
        assert_eq!(refresh_status(&server, other).await, 400);
        assert_eq!(userinfo_status(&server, other).await, 401);
    }
    assert_eq!(userinfo_status(&server, &mine).await, 200);
    assert_eq!(refresh_status(&server, &bob).await, 200);
    assert_eq!(refresh_status(&server, &mine).await, 200);
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let server = TestServer::start().await;
    let mine = server.user_tokens("ada@example.com").await;
    let other = login(&server, "ada@example.com", "B").await;
    let response = change_password(&server, &mine, "not the password").await;
    let problem = assert_problem(response, 403).await;
    assert!(
        s(&problem, "detail").contains("current password"),
        "{problem}"
    );
    let response = client()
        .post(server.url("/v1/password"))
        .bearer_auth(s(&mine, "access_token"))
        .json(&json!({ "current_password": PASSWORD, "new_password": "password" }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 400).await;

    assert_eq!(refresh_status(&server, &other).await, 200);
    assert_eq!(userinfo_status(&server, &mine).await, 200);
    let (status, _) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "the password is unchanged");
    let (status, _) = server.login("ada@example.com", NEW_PASSWORD).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_logins() {
    let server = TestServer::start_with(|c| c.throttle.failures_per_address = 2).await;
    let mine = server.user_tokens("ada@example.com").await;
    let response = change_password(&server, &mine, "wrong guess one").await;
    assert_eq!(response.status(), 403);
    let response = change_password(&server, &mine, "wrong guess two").await;
    assert_eq!(response.status(), 403);
    let response = change_password(&server, &mine, PASSWORD).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 429).await;
    let (status, _) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 429, "one back-off for the account, login included");
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_the_old_password() {
    let server = TestServer::start().await;
    let mine = server.user_tokens("ada@example.com").await;
    let other = login(&server, "ada@example.com", "B").await;
    let bob = server.user_tokens("bob@example.com").await;
    let response = change_password(&server, &mine, PASSWORD).await;
    assert_eq!(response.status(), 204);

    assert_eq!(refresh_status(&server, &other).await, 400);
    assert_eq!(userinfo_status(&server, &other).await, 401);
    assert_eq!(userinfo_status(&server, &mine).await, 200, "current kept");
    assert_eq!(refresh_status(&server, &mine).await, 200);
    assert_eq!(refresh_status(&server, &bob).await, 200);
    let (status, body) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = server.login("ada@example.com", NEW_PASSWORD).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn password_change_revokes_all_ends_the_current_session_too() {
    use signet::auth::accounts::PasswordChangeRevokes;
    let server =
        TestServer::start_with(|c| c.password_change_revokes = PasswordChangeRevokes::All).await;
    let mine = server.user_tokens("ada@example.com").await;
    let response = change_password(&server, &mine, PASSWORD).await;
    assert_eq!(response.status(), 204);
    assert_eq!(userinfo_status(&server, &mine).await, 401);
    assert_eq!(refresh_status(&server, &mine).await, 400);

    let server =
        TestServer::start_with(|c| c.password_change_revokes = PasswordChangeRevokes::None).await;
    let mine = server.user_tokens("ada@example.com").await;
    let other = login(&server, "ada@example.com", "B").await;
    let response = change_password(&server, &mine, PASSWORD).await;
    assert_eq!(response.status(), 204);
    assert_eq!(refresh_status(&server, &other).await, 200, "none: kept");
    let (status, _) = server.login("ada@example.com", NEW_PASSWORD).await;
    assert_eq!(status, 200);
}

async fn change_password_without_current(server: &TestServer, access: &str) -> reqwest::Response {
    client()
        .post(server.url("/v1/password"))
        .bearer_auth(access)
        .json(&json!({ "new_password": NEW_PASSWORD }))
        .send()
        .await
        .unwrap()
}

/// The caller's own access token re-signed by the server's key with an
/// `auth_time` ten minutes back: a login too old to stand in for the password.
fn with_old_auth_time(server: &TestServer, tokens: &Value) -> String {
    let (_, claims) = decode_parts(s(tokens, "access_token"));
    let now = chrono::Utc::now().timestamp();
    let grant = signet::tokens::access::Grant {
        sub: s(&claims, "sub").to_owned(),
        aud: s(&claims, "aud").to_owned(),
        client_id: s(&claims, "client_id").to_owned(),
        sid: Some(s(&claims, "sid").to_owned()),
        auth_time: Some(now - 600),
        amr: &["pwd"],
        ..Default::default()
    };
    let keys = server.state.keys.current();
    server
        .state
        .access_tokens
        .mint(&keys, &grant)
        .unwrap()
        .token
}

#[tokio::test]
async fn a_recent_login_stands_in_for_the_current_password_and_an_old_one_does_not() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;

    let stale = with_old_auth_time(&server, &tokens);
    let refused = change_password_without_current(&server, &stale).await;
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_user_authentication""#),
        "{challenge}"
    );
    let (status, _) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "nothing changed");

    let fresh = change_password_without_current(&server, s(&tokens, "access_token")).await;
    assert_eq!(fresh.status(), 204);
    let (status, _) = server.login("ada@example.com", NEW_PASSWORD).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_null_current_password_is_refused_not_taken_as_absent() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    let response = client()
        .post(server.url("/v1/password"))
        .bearer_auth(s(&tokens, "access_token"))
        .json(&json!({ "current_password": null, "new_password": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let (status, _) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "nothing changed");
}
