//! Password reset and email verification, seen from the caller (who must
//! learn nothing about which emails exist) and from the webhook receiver.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{PASSWORD, TestServer, assert_problem, client, decode_parts};
use crate::receiver::Receiver;

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn request_reset(server: &TestServer, email: &str) -> (u16, String) {
    let response = server
        .post_json("/v1/password/reset-requests", &json!({ "email": email }))
        .await;
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn reset(server: &TestServer, token: &str, password: &str) -> reqwest::Response {
    server
        .post_json(
            "/v1/password/reset",
            &json!({ "token": token, "new_password": password }),
        )
        .await
}

async fn verify(server: &TestServer, token: &str) -> reqwest::Response {
    server
        .post_json("/v1/email/verify", &json!({ "token": token }))
        .await
}

async fn userinfo(server: &TestServer, access: &Value) -> (u16, Value) {
    let response = client()
        .get(server.url("/v1/userinfo"))
        .bearer_auth(access.as_str().unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn reset_requests_answer_alike_for_known_and_unknown_emails() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|c| receiver.configure(c)).await;
    server.sign_up("ada@example.com").await;
    let known = request_reset(&server, "ada@example.com").await;
    let unknown = request_reset(&server, "nobody@example.com").await;
    let malformed = request_reset(&server, "not an email").await;
    assert_eq!(known.0, 202);
    assert_eq!(known, unknown, "same status and body");
    assert_eq!(known, malformed);
    receiver
        .event("password.reset_requested", "ada@example.com")
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let resets: Vec<_> = receiver
        .accepted()
        .into_iter()
        .filter(|d| d.kind() == "password.reset_requested")
        .collect();
    assert_eq!(
        resets.len(),
        1,
        "nothing for the unknown address: {resets:#?}"
    );
}

#[tokio::test]
async fn a_reset_token_works_once_and_ends_every_session() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|c| receiver.configure(c)).await;
    let first = server.user_tokens("ada@example.com").await;
    let (_, second) = server.login("ada@example.com", PASSWORD).await;
    request_reset(&server, "ada@example.com").await;
    let token = receiver
        .token("password.reset_requested", "ada@example.com")
        .await;

    let weak = reset(&server, &token, "password").await;
    assert_problem(weak, 400).await;
    assert_eq!(
        reset(&server, &token, NEW_PASSWORD).await.status(),
        204,
        "a refused password does not use the token up"
    );
    assert_problem(reset(&server, &token, "another new passphrase").await, 400).await;

    for session in [&first, &second] {
        assert_eq!(userinfo(&server, &session["access_token"]).await.0, 401);
        let (status, body) = server
            .refresh(session["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    let (status, body) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "old password"
    );
    assert_eq!(server.login("ada@example.com", NEW_PASSWORD).await.0, 200);

    let feed = server.get_json("/v1/revocations").await;
    let sids: Vec<_> = feed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sid"].clone())
        .collect();
    for session in [&first, &second] {
        let (_, claims) = decode_parts(session["access_token"].as_str().unwrap());
        assert!(
            sids.contains(&claims["sid"]),
            "{} in the feed",
            claims["sid"]
        );
    }
    let deliveries = receiver
        .wait_until("the reset's events", |d| {
            d.iter().filter(|d| d.kind() == "session.revoked").count() >= 2
        })
        .await;
    let changed = deliveries
        .iter()
        .filter(|d| d.kind() == "password.changed")
        .count();
    assert_eq!(changed, 1);
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_refused() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|c| receiver.configure(c)).await;
    for token in ["", "nope", &"x".repeat(10_000)] {
        assert_problem(reset(&server, token, NEW_PASSWORD).await, 400).await;
        assert_problem(verify(&server, token).await, 400).await;
    }
    let missing = server
        .post_json("/v1/password/reset", &json!({ "token": "x" }))
        .await;
    assert_problem(missing, 422).await;
}

#[tokio::test]
async fn reset_requests_are_throttled_per_address_whether_or_not_it_exists() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|c| {
        receiver.configure(c);
        c.throttle.reset_per_account = 2;
        c.throttle.reset_per_ip = 100;
    })
    .await;
    server.sign_up("ada@example.com").await;
    for email in ["ada@example.com", "nobody@example.com"] {
        assert_eq!(request_reset(&server, email).await.0, 202);
        assert_eq!(request_reset(&server, email).await.0, 202);
        let response = server
            .post_json("/v1/password/reset-requests", &json!({ "email": email }))
            .await;
        assert!(response.headers().contains_key("retry-after"));
        assert_problem(response, 429).await;
    }
}

#[tokio::test]
async fn verification_flips_email_verified_in_fresh_tokens() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|c| receiver.configure(c)).await;
    let before = server.user_tokens("ada@example.com").await;
    let (_, claims) = decode_parts(before["access_token"].as_str().unwrap());
    assert_eq!(claims["email_verified"], false);
    assert_eq!(
        userinfo(&server, &before["access_token"]).await.1["email_verified"],
        false
    );

    let token = receiver
        .token("email.verification_requested", "ada@example.com")
        .await;
    assert_eq!(verify(&server, &token).await.status(), 204);
    assert_problem(verify(&server, &token).await, 400).await;

    let (_, after) = server.login("ada@example.com", PASSWORD).await;
    let (_, claims) = decode_parts(after["access_token"].as_str().unwrap());
    assert_eq!(claims["email_verified"], true);
    assert_eq!(
        userinfo(&server, &before["access_token"]).await.1["email_verified"],
        true
    );
    let (status, refreshed) = server
        .refresh(before["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let (_, claims) = decode_parts(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["email_verified"], true, "a refresh carries it too");
}

#[tokio::test]
async fn required_verification_refuses_unverified_logins_like_a_wrong_password() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|c| {
        receiver.configure(c);
        c.require_verified_email = true;
    })
    .await;
    server.sign_up("ada@example.com").await;
    let unverified = server.login("ada@example.com", PASSWORD).await;
    let wrong = server.login("ada@example.com", "not the password").await;
    let unknown = server.login("nobody@example.com", PASSWORD).await;
    assert_eq!(unverified.0, 400);
    assert_eq!(
        unverified, wrong,
        "same status and body as a wrong password"
    );
    assert_eq!(unverified, unknown);

    let token = receiver
        .token("email.verification_requested", "ada@example.com")
        .await;
    assert_eq!(verify(&server, &token).await.status(), 204);
    assert_eq!(server.login("ada@example.com", PASSWORD).await.0, 200);
}
