//! The axum integration over HTTP: extractors, layers, RFC 6750 answers.

use reqwest::header::AUTHORIZATION;
use serde_json::Value;
use signet_guard::testing::{TestIssuer, TokenClaims};

use super::{app, client, get_with, now, serve};

async fn setup() -> (TestIssuer, String) {
    let issuer = TestIssuer::new();
    let base = serve(app(issuer.guard())).await;
    (issuer, base)
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

#[tokio::test]
async fn valid_token_gives_claims_and_healthz_is_open() {
    let (issuer, base) = setup().await;
    let http = client();
    let token = issuer.mint(TokenClaims::new().sub("alice").sid("s1"));
    let response = get_with(&http, &format!("{base}/whoami"), &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["sid"], "s1");
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn missing_token_gets_a_bare_challenge() {
    let (_issuer, base) = setup().await;
    let http = client();
    let response = http.get(format!("{base}/whoami")).send().await.unwrap();
    assert_eq!(challenge(&response), "Bearer realm=\"signet\"");
    problem(response, 401).await;
    // Another scheme is no bearer token either.
    let response = http
        .get(format!("{base}/whoami"))
        .header(AUTHORIZATION, "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(challenge(&response), "Bearer realm=\"signet\"");
    problem(response, 401).await;
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let (issuer, base) = setup().await;
    let token = issuer.mint(TokenClaims::new());
    let response = client()
        .get(format!("{base}/whoami"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert!(challenge(&response).contains("error=\"invalid_request\""));
    problem(response, 400).await;
}

#[tokio::test]
async fn query_string_tokens_are_not_accepted() {
    let (issuer, base) = setup().await;
    let token = issuer.mint(TokenClaims::new());
    let http = client();
    let response = http
        .get(format!("{base}/whoami?access_token={token}"))
        .send()
        .await
        .unwrap();
    let body = problem(response, 400).await;
    assert!(body["detail"].as_str().unwrap().contains("query string"));
    // Not even alongside a header.
    let response = get_with(&http, &format!("{base}/whoami?access_token=x"), &token).await;
    problem(response, 400).await;
}

#[tokio::test]
async fn bad_tokens_are_invalid_token() {
    let (issuer, base) = setup().await;
    let http = client();
    let expired = issuer.mint(TokenClaims::new().exp(now() - 120));
    let forged = TestIssuer::new().mint(TokenClaims::new().kid(issuer.kid()));
    for (token, description) in [
        (expired.as_str(), "token has expired"),
        (forged.as_str(), "token signature is invalid"),
        ("not-a-jwt", "token is malformed"),
    ] {
        let response = get_with(&http, &format!("{base}/whoami"), token).await;
        assert_eq!(
            challenge(&response),
            format!(
                "Bearer realm=\"signet\", error=\"invalid_token\", error_description=\"{description}\""
            )
        );
        problem(response, 401).await;
    }
}

#[tokio::test]
async fn insufficient_scope_is_403_naming_the_scope() {
    let (issuer, base) = setup().await;
    let http = client();
    for url in [
        format!("{base}/admin"),
        format!("{base}/scoped-without-layer"),
    ] {
        let reader = issuer.mint(TokenClaims::new().scope("orders:read"));
        let response = get_with(&http, &url, &reader).await;
        let header = challenge(&response);
        assert!(header.contains("error=\"insufficient_scope\""), "{header}");
        assert!(header.contains("scope=\"admin\""), "{header}");
        problem(response, 403).await;

        let admin = issuer.mint(TokenClaims::new().scope("orders:read admin"));
        assert_eq!(get_with(&http, &url, &admin).await.status(), 200);
        // No token: 401 before any scope question.
        assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    }
}

#[tokio::test]
async fn optional_claims() {
    let (issuer, base) = setup().await;
    let http = client();
    let url = format!("{base}/maybe");
    let anonymous: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(anonymous["sub"], Value::Null);
    let token = issuer.mint(TokenClaims::new().sub("carol"));
    let known: Value = get_with(&http, &url, &token).await.json().await.unwrap();
    assert_eq!(known["sub"], "carol");
    // A token that is present must be valid: no silent downgrade.
    let expired = issuer.mint(TokenClaims::new().exp(now() - 120));
    assert_eq!(get_with(&http, &url, &expired).await.status(), 401);
}

#[tokio::test]
async fn typed_custom_claims() {
    let (issuer, base) = setup().await;
    let http = client();
    let url = format!("{base}/tenant");
    let token = issuer.mint(TokenClaims::new().sub("dave").claim("tenant", "acme"));
    let body: Value = get_with(&http, &url, &token).await.json().await.unwrap();
    assert_eq!(body["tenant"], "acme");
    let without = issuer.mint(TokenClaims::new());
    assert_eq!(get_with(&http, &url, &without).await.status(), 401);
}

#[tokio::test]
async fn typed_layer_feeds_the_extractor() {
    use axum::routing::get;
    use signet_guard::{Claims, GuardLayer};
    let issuer = TestIssuer::new();
    let router = axum::Router::new()
        .route(
            "/t",
            get(|c: Claims<super::Tenant>| async move { c.custom.tenant }),
        )
        .layer(GuardLayer::new(issuer.guard()).with_claims::<super::Tenant>());
    let base = serve(router).await;
    let token = issuer.mint(TokenClaims::new().claim("tenant", "acme"));
    let response = get_with(&client(), &format!("{base}/t"), &token).await;
    assert_eq!(response.text().await.unwrap(), "acme");
}

#[tokio::test]
async fn extractor_without_guard_is_a_server_error() {
    let (issuer, base) = setup().await;
    let token = issuer.mint(TokenClaims::new());
    let response = get_with(&client(), &format!("{base}/unconfigured"), &token).await;
    problem(response, 500).await;
}

#[tokio::test]
async fn optional_layer_lets_anonymous_requests_through() {
    use axum::routing::get;
    use signet_guard::{Claims, GuardLayer};
    let issuer = TestIssuer::new();
    let router = axum::Router::new()
        .route(
            "/",
            get(|c: Option<Claims>| async move { c.map_or("anonymous".into(), |c| c.sub) }),
        )
        .layer(GuardLayer::optional(issuer.guard()));
    let base = serve(router).await;
    let http = client();
    let anonymous = http.get(&base).send().await.unwrap().text().await.unwrap();
    assert_eq!(anonymous, "anonymous");
    let token = issuer.mint(TokenClaims::new().sub("erin"));
    assert_eq!(
        get_with(&http, &base, &token).await.text().await.unwrap(),
        "erin"
    );
    assert_eq!(get_with(&http, &base, "a.b.c").await.status(), 401);
}
