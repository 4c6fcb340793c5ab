use jsonwebtoken::{Header, encode};
use serde_json::{Value, json};

use crate::common::{TestServer, client};

async fn userinfo(server: &TestServer, authorization: &[&str]) -> reqwest::Response {
    let mut request = client().get(server.url("/v1/userinfo"));
    for value in authorization {
        request = request.header("authorization", *value);
    }
    request.send().await.unwrap()
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn userinfo_answers_for_the_token_holder() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    let response = userinfo(&server, &[&format!("Bearer {token}")]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["scope"], "");
    assert!(body["sub"].is_string() && body["sid"].is_string());
}

#[tokio::test]
async fn missing_or_bad_tokens_get_rfc6750_challenges() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();

    let missing = userinfo(&server, &[]).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        challenge(&missing),
        "Bearer realm=\"signet\"",
        "RFC 6750 §3.1: no error code"
    );
    let basic = userinfo(&server, &["Basic YWRhOnB3"]).await;
    assert_eq!(basic.status(), 401);

    let mut tampered = token.to_owned();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bad in ["garbage", "a.b.c", tampered.as_str()] {
        let response = userinfo(&server, &[&format!("Bearer {bad}")]).await;
        assert_eq!(response.status(), 401, "{bad}");
        assert!(challenge(&response).contains("error=\"invalid_token\""));
        let body: Value = response.json().await.unwrap();
        assert!(!body.to_string().contains(bad), "the token is not echoed");
    }

    let twice = userinfo(
        &server,
        &[&format!("Bearer {token}"), &format!("Bearer {token}")],
    )
    .await;
    assert_eq!(twice.status(), 400);
    assert!(challenge(&twice).contains("error=\"invalid_request\""));
}

/// Signs `claims` with the server's own key, to reach the claim checks.
fn forge(server: &TestServer, claims: Value) -> String {
    let ring = server.state.keys.current();
    let key = ring.active();
    let mut header = Header::new(key.alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    encode(&header, &claims, key.encoding_key()).unwrap()
}

#[tokio::test]
async fn claims_are_checked() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    let (_, good) = crate::common::decode_parts(tokens["access_token"].as_str().unwrap());
    let now = chrono::Utc::now().timestamp();
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        claims
    };
    let cases = [
        ("expired", with("exp", json!(now - 3600))),
        ("not yet valid", with("nbf", json!(now + 3600))),
        ("other issuer", with("iss", json!("https://evil.example"))),
        ("other audience", with("aud", json!("billing"))),
        ("string exp", with("exp", json!((now + 600).to_string()))),
    ];
    for (case, claims) in cases {
        let response = userinfo(&server, &[&format!("Bearer {}", forge(&server, claims))]).await;
        assert_eq!(response.status(), 401, "{case}");
    }
    let response = userinfo(&server, &[&format!("Bearer {}", forge(&server, good))]).await;
    assert_eq!(response.status(), 200, "the forge itself is sound");
}

#[tokio::test]
async fn tokens_of_another_server_are_refused() {
    let other = TestServer::start().await;
    let foreign = other.user_tokens("ada@example.com").await;
    let server = TestServer::start().await;
    let token = foreign["access_token"].as_str().unwrap();
    let response = userinfo(&server, &[&format!("Bearer {token}")]).await;
    assert_eq!(response.status(), 401);
}
