use serde_json::json;

use crate::common::{PASSWORD, TestServer, assert_problem, client};

#[tokio::test]
async fn sign_up_returns_the_user() {
    let server = TestServer::start().await;
    let body = server.sign_up("  Ada@Example.COM ").await;
    assert_eq!(body["email"], "ada@example.com", "normalised");
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    let created = body["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());
}

#[tokio::test]
async fn taken_email_is_a_conflict_whatever_its_case() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let response = client()
        .post(server.url("/v1/users"))
        .json(&json!({ "email": "ADA@example.com", "password": "another long password" }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 409).await;
}

#[tokio::test]
async fn look_alike_emails_are_the_same_account() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    server.sign_up("fionn@example.com").await;
    // Fullwidth letters and the "fi" ligature look the same as plain ASCII.
    for look_alike in [
        "\u{ff41}\u{ff44}\u{ff41}@example.com",
        "\u{ff21}DA@\u{ff45}xample.com",
        "\u{fb01}onn@example.com",
    ] {
        let response = client()
            .post(server.url("/v1/users"))
            .json(&json!({ "email": look_alike, "password": "another long password" }))
            .send()
            .await
            .unwrap();
        assert_problem(response, 409).await;
    }
    let (status, body) = server
        .login("\u{ff41}\u{ff44}\u{ff41}@\u{ff45}xample.com", PASSWORD)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.login("\u{fb01}onn@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
}

async fn refused(server: &TestServer, email: &str, password: &str) -> serde_json::Value {
    let response = client()
        .post(server.url("/v1/users"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 400).await
}

#[tokio::test]
async fn policy_refuses_bad_emails_and_passwords() {
    let server = TestServer::start().await;
    for email in [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "a b@example.com",
    ] {
        refused(&server, email, PASSWORD).await;
    }
    let short = refused(&server, "ada@example.com", "seven77").await;
    assert!(short["detail"].as_str().unwrap().contains("at least 8"));
    let long = refused(&server, "ada@example.com", &"x".repeat(257)).await;
    assert!(long["detail"].as_str().unwrap().contains("at most"));
    let common = refused(&server, "ada@example.com", "password1234").await;
    assert!(
        common["detail"].as_str().unwrap().contains("common"),
        "{common}"
    );
    // Composition rules are not NIST's: any 8 characters that are not common pass.
    server.sign_up("ada@example.com").await;
}

#[tokio::test]
async fn malformed_bodies_are_problems() {
    let server = TestServer::start().await;
    let cases = [
        ("application/json", "{not json"),
        ("application/json", r#"{"email": "ada@example.com"}"#),
        (
            "application/json",
            r#"{"email": 5, "password": "correct horse"}"#,
        ),
        ("application/json", "[]"),
    ];
    for (content_type, body) in cases {
        let response = client()
            .post(server.url("/v1/users"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(status == 400 || status == 422, "{body}: {status}");
        assert_problem(response, status).await;
    }
    let response = client()
        .post(server.url("/v1/users"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415).await;
}

#[tokio::test]
async fn sign_up_can_be_closed() {
    let server = TestServer::start_with(|c| c.signup = false).await;
    let response = client()
        .post(server.url("/v1/users"))
        .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403).await;
}

#[tokio::test]
async fn closed_sign_up_is_refused_before_the_body_is_read() {
    let server = TestServer::start_with(|c| c.signup = false).await;
    let response = client()
        .post(server.url("/v1/users"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(response, 403).await;
}
