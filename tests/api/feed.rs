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

/// A server that prunes fast and whose feed holds one `sid` entry expiring
/// within a second; returns the feed's first page.
async fn one_short_lived_revocation() -> (TestServer, Value) {
    let server = TestServer::start_with(|c| {
        c.access_ttl = Duration::from_secs(1);
        c.cleanup_interval = Duration::from_millis(200);
        c.revocation_margin = Duration::ZERO;
    })
    .await;
    let tokens = server.user_tokens("ada@example.com").await;
    logout(&server, tokens["access_token"].as_str().unwrap()).await;
    let (_, _, page) = feed(&server, "").await;
    (server, page)
}

#[tokio::test]
async fn expired_entries_are_pruned() {
    let (server, page) = one_short_lived_revocation().await;
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

/// The feed with `If-None-Match: etag` (and Basic credentials, if given).
async fn feed_with(
    server: &TestServer,
    query: &str,
    etag: Option<&str>,
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut request = client().get(server.url(&format!("/v1/revocations{query}")));
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_full_list_resent_with_its_etag_is_304_until_something_new() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    logout(&server, tokens["access_token"].as_str().unwrap()).await;
    let (status, etag, page) = feed(&server, "").await;
    assert_eq!(
        (status, page["entries"].as_array().unwrap().len()),
        (200, 1)
    );
    let etag = etag.unwrap();
    let again = feed_with(&server, "", Some(&etag), None).await;
    assert_eq!(again.status(), 304, "the same list");
    let other = server.user_tokens("bob@example.com").await;
    logout(&server, other["access_token"].as_str().unwrap()).await;
    let changed = feed_with(&server, "", Some(&etag), None).await;
    assert_eq!(changed.status(), 200, "a new entry changes the list");
}

#[tokio::test]
async fn a_cursor_from_the_future_is_410_and_a_pruned_one_is_not() {
    let (server, page) = one_short_lived_revocation().await;
    let cursor: i64 = page["cursor"].as_str().unwrap().parse().unwrap();

    let response = feed_with(&server, &format!("?after={}", cursor + 1), None, None).await;
    let problem = crate::common::assert_problem(response, 410).await;
    assert!(problem["detail"].as_str().unwrap().contains("start again"));

    // Once every entry is pruned, the cursor it gave is still the feed's.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        server
            .state
            .store
            .revocations_after(0, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (status, _, page) = feed(&server, &format!("?after={cursor}")).await;
    assert_eq!(status, 200);
    assert_eq!(page["cursor"], cursor.to_string());
}

#[tokio::test]
async fn a_database_restore_makes_the_followers_cursor_410() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let db = dir.path().join("data/signet.db");
    let first = TestServer::start_in(dir.clone(), |_| {}).await;
    let (_, _, page) = feed(&first, "").await;
    let backup_cursor = page["cursor"].as_str().unwrap().to_owned();
    first.stop().await;
    let backup = dir.path().join("backup.db");
    std::fs::copy(&db, &backup).unwrap();

    let second = TestServer::start_in(dir.clone(), |_| {}).await;
    let tokens = second.user_tokens("ada@example.com").await;
    logout(&second, tokens["access_token"].as_str().unwrap()).await;
    let (_, _, page) = feed(&second, &format!("?after={backup_cursor}")).await;
    let follower_cursor = page["cursor"].as_str().unwrap().to_owned();
    second.stop().await;

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::copy(&backup, &db).unwrap();
    let restored = TestServer::start_in(dir, |_| {}).await;
    let response = feed_with(&restored, &format!("?after={follower_cursor}"), None, None).await;
    crate::common::assert_problem(response, 410).await;
}

#[tokio::test]
async fn a_key_change_is_one_keys_entry_on_every_instance() {
    let first = TestServer::start().await;
    let second = TestServer::start_in(first.dir.clone(), |_| {}).await;
    let (_, _, page) = feed(&first, "").await;
    assert_eq!(
        page["entries"],
        serde_json::json!([]),
        "no event at first start"
    );
    let cursor = page["cursor"].as_str().unwrap().to_owned();

    let activated = first.state.keys.current().active().meta.activates();
    while chrono::Utc::now().timestamp() <= activated {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signet::keys::rotate(
        &first.path().join("keys"),
        &first.state.config.key_settings(),
        signet::keys::Rotation::Now {
            alg: signet::config::SigningAlg::EdDSA,
            revoke: true,
        },
    )
    .unwrap();
    // Both instances see the change through keys_dir within a second.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for server in [&first, &second] {
        let (_, _, page) = feed(server, &format!("?after={cursor}")).await;
        assert_eq!(
            page["entries"],
            serde_json::json!([{"keys": "changed"}]),
            "{page}"
        );
    }
}

#[tokio::test]
async fn feed_clients_are_exempt_from_the_per_address_budget() {
    let server = TestServer::start_with(|c| c.throttle.feed_per_ip = 2).await;
    let guard = server
        .state
        .clients
        .add("guard", "signet:feed", "signet")
        .await
        .unwrap();
    let id = guard.client.id.as_str();
    for _ in 0..2 {
        assert_eq!(feed_with(&server, "", None, None).await.status(), 200);
    }
    assert_eq!(
        feed_with(&server, "", None, None).await.status(),
        429,
        "public budget spent"
    );
    for _ in 0..10 {
        let response = feed_with(&server, "", None, Some((id, &guard.secret))).await;
        assert_eq!(
            response.status(),
            200,
            "an authenticated guard is not throttled"
        );
    }
    let server = TestServer::start_with(|c| c.throttle.feed_per_ip = 100).await;
    let guard = server
        .state
        .clients
        .add("guard", "signet:feed", "signet")
        .await
        .unwrap();
    let wrong = feed_with(&server, "", None, Some((&guard.client.id, "wrong"))).await;
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Basic realm=\"signet\""
    );
    let problem = crate::common::assert_problem(wrong, 401).await;
    assert!(!problem.to_string().contains("wrong"));
    let unknown_id = uuid::Uuid::new_v4().to_string();
    let unknown = feed_with(&server, "", None, Some((&unknown_id, "x"))).await;
    crate::common::assert_problem(unknown, 401).await;
    let billing = server
        .state
        .clients
        .add("billing", "invoices", "signet")
        .await
        .unwrap();
    let unscoped = feed_with(
        &server,
        "",
        None,
        Some((&billing.client.id, &billing.secret)),
    )
    .await;
    crate::common::assert_problem(unscoped, 403).await;
}
