use crate::common::{TestServer, assert_problem, client};

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 4096).await;
    let big = format!(
        r#"{{"email":"ada@example.com","password":"{}"}}"#,
        "x".repeat(8192)
    );
    let response = client()
        .post(server.url("/v1/users"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_problem(response, 413).await;
    let form = format!(
        "grant_type=password&username=a&password={}",
        "x".repeat(8192)
    );
    let response = client()
        .post(server.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_problem(response, 413).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let server = TestServer::start().await;
    let response = client().get(server.url("/nope")).send().await.unwrap();
    assert_problem(response, 404).await;
    let response = client()
        .delete(server.url("/v1/users"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 405).await;
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_nosniff() {
    let server = TestServer::start().await;
    let response = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.headers().contains_key("x-request-id"));
    let response = client()
        .get(server.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
}
