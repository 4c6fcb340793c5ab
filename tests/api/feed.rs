//! The revocation feed: cursor, long poll, ETag, pruning, persistence.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{TestServer, client};

async fn feed(server: &TestServer, query: &str) -> (u16, Option<String>, Value) {
    let response = client()
        .get(server.url(&format!("/v1/revocations{query}")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = if status == 200 {
        response.json().await.unwrap()
    } else {
        Value::Null
    };
    (status, etag, body)
}

async fn logout(server: &TestServer, access: &str) {
    let status = client()
        .post(server.url("/v1/logout"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
}

fn sid_of(tokens: &Value) -> String {
    let (_, claims) = crate::common::decode_parts(tokens["access_token"].as_str().unwrap());
    claims["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn logouts_appear_in_the_feed_after_the_cursor() {
    let server = TestServer::start().await;
    let (status, _, empty) = feed(&server, "").await;
    assert_eq!(status, 200);
    assert_eq!(empty["entries"], serde_json::json!([]));
    let start = empty["cursor"].as_str().unwrap().to_owned();

    let tokens = server.user_tokens("ada@example.com").await;
    logout(&server, tokens["access_token"].as_str().unwrap()).await;
    let (_, _, page) = feed(&server, &format!("?after={start}")).await;
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page}");
    assert_eq!(entries[0]["sid"], sid_of(&tokens));
    assert!(entries[0]["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    let cursor = page["cursor"].as_str().unwrap();
    assert_ne!(cursor, start);

    let (_, _, after) = feed(&server, &format!("?after={cursor}")).await;
    assert_eq!(after["entries"], serde_json::json!([]));
    assert_eq!(after["cursor"], cursor);
}

#[tokio::test]
async fn etag_gives_304_when_nothing_is_new() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    logout(&server, tokens["access_token"].as_str().unwrap()).await;
    let (_, etag, page) = feed(&server, "").await;
    let etag = etag.expect("etag");
    let cursor = page["cursor"].as_str().unwrap();
    let response = client()
        .get(server.url(&format!("/v1/revocations?after={cursor}")))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
}

#[tokio::test]
async fn a_long_poll_wakes_on_a_logout_from_another_client() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    let (_, _, page) = feed(&server, "").await;
    let cursor = page["cursor"].as_str().unwrap().to_owned();
    let url = server.url(&format!("/v1/revocations?after={cursor}&wait=20"));
    let started = Instant::now();
    let poll = tokio::spawn(async move {
        let body: Value = client()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (body, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    logout(&server, tokens["access_token"].as_str().unwrap()).await;
    let (body, elapsed) = poll.await.unwrap();
    assert_eq!(body["entries"][0]["sid"], sid_of(&tokens));
    assert!(elapsed < Duration::from_secs(2), "woke after {elapsed:?}");
}

#[tokio::test]
async fn a_long_poll_with_nothing_new_ends_after_its_wait() {
    let server = TestServer::start().await;
    let started = Instant::now();
    let (status, _, body) = feed(&server, "?wait=1").await;
    assert_eq!(status, 200);
    assert_eq!(body["entries"], serde_json::json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn bad_feed_queries_are_problems() {
    let server = TestServer::start().await;
    for query in ["?wait=31", "?after=-1", "?after=abc", "?wait=soon"] {
        let response = client()
            .get(server.url(&format!("/v1/revocations{query}")))
            .send()
            .await
            .unwrap();
        crate::common::assert_problem(response, 400).await;
    }
}

#[tokio::test]
async fn expired_entries_are_pruned() {
    let server = TestServer::start_with(|c| {
        c.access_ttl = Duration::from_secs(1);
        c.cleanup_interval = Duration::from_millis(200);
        c.revocation_margin = Duration::ZERO;
    })
    .await;
    let tokens = server.user_tokens("ada@example.com").await;
    logout(&server, tokens["access_token"].as_str().unwrap()).await;
    let (_, _, page) = feed(&server, "").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, _, page) = feed(&server, "").await;
    assert_eq!(page["entries"], serde_json::json!([]), "{page}");
    let pruned = server
        .state
        .store
        .revocations_after(0, 0, 10)
        .await
        .unwrap();
    assert!(pruned.is_empty(), "deleted from the store, not only hidden");
}

#[tokio::test]
async fn revocations_survive_a_restart() {
    let issuer = "https://signet.test";
    let first = TestServer::start_with(|c| c.set_issuer(issuer)).await;
    let tokens = first.user_tokens("ada@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    logout(&first, access).await;
    let dir = first.dir.clone();
    first.stop().await;

    let second = TestServer::start_in(dir, |c| c.set_issuer(issuer)).await;
    let status = client()
        .get(second.url("/v1/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let (_, _, page) = feed(&second, "").await;
    assert_eq!(page["entries"][0]["sid"], sid_of(&tokens));
}
