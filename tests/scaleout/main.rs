//! Several Signet instances on one PostgreSQL database behave as one
//! service; an outage of PostgreSQL is survived without a restart.

#[path = "../common/cluster.rs"]
mod cluster;
#[path = "../common/mod.rs"]
mod common;
#[path = "../common/postgres.rs"]
mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{PASSWORD, TestServer, client};
use serde_json::Value;

const ISSUER: &str = "https://signet.test";

/// Two instances sharing one database and one keys directory.
async fn pair(db_url: &str, grace: Duration) -> (TestServer, TestServer) {
    let url = db_url.to_owned();
    let a = TestServer::start_with(|c| {
        c.database_url = url.clone();
        c.set_issuer(ISSUER);
        c.refresh_grace = grace;
    })
    .await;
    let keys = a.path().join("keys");
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let b = TestServer::start_in(dir, |c| {
        c.database_url = url.clone();
        c.keys_dir = keys;
        c.set_issuer(ISSUER);
        c.refresh_grace = grace;
    })
    .await;
    (a, b)
}

async fn refresh(server: &TestServer, token: &str) -> (u16, Value) {
    let response = client()
        .post(server.url("/oauth2/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn field<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behave_as_one() {
    let Some(db) = pg::TestDatabase::create("two_instances_behave_as_one").await else {
        return;
    };
    let (a, b) = pair(&db.url, Duration::ZERO).await;
    a.sign_up("ada@example.com").await;
    let (status, first) = b.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "signed up at A, logged in at B");
    let (status, second) = refresh(&a, field(&first, "refresh_token")).await;
    assert_eq!(status, 200, "refreshed at A: {second}");
    let (status, reuse) = refresh(&b, field(&first, "refresh_token")).await;
    assert_eq!(
        (status, reuse["error"].as_str()),
        (400, Some("invalid_grant")),
        "reuse seen at B"
    );
    let info = client()
        .get(a.url("/v1/userinfo"))
        .bearer_auth(field(&second, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401, "the reused session is dead at A too");

    // A logout at B wakes a long poll at A within a second.
    let (_, session) = a.login("ada@example.com", PASSWORD).await;
    let feed: Value = client()
        .get(a.url("/v1/revocations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = a.url(&format!(
        "/v1/revocations?after={}&wait=20",
        field(&feed, "cursor")
    ));
    let poll = tokio::spawn(async move {
        let body: Value = client()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (body, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logged_out = Instant::now();
    let status = client()
        .post(b.url("/v1/logout"))
        .bearer_auth(field(&session, "access_token"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let (body, woke) = poll.await.unwrap();
    assert_eq!(body["entries"].as_array().unwrap().len(), 1, "{body}");
    let delay = woke - logged_out;
    assert!(
        delay < Duration::from_secs(1),
        "A's feed saw B's logout after {delay:?}"
    );

    a.stop().await;
    b.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_race_across_instances_leaves_one_successor() {
    let Some(db) = pg::TestDatabase::create("a_refresh_race_across_instances").await else {
        return;
    };
    let (a, b) = pair(&db.url, Duration::from_secs(5)).await;
    let tokens = a.user_tokens("ada@example.com").await;
    let token = field(&tokens, "refresh_token").to_owned();
    let racers = (0..8).map(|i| {
        let url = if i % 2 == 0 {
            a.url("/oauth2/token")
        } else {
            b.url("/oauth2/token")
        };
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
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    });
    let results = futures_util::future::join_all(racers).await;
    assert!(
        results.iter().all(|(status, _)| *status < 500),
        "{results:?}"
    );
    let successors: std::collections::BTreeSet<String> = results
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| field(body, "refresh_token").to_owned())
        .collect();
    assert_eq!(successors.len(), 1, "{results:?}");
    let (status, _) = refresh(&b, successors.iter().next().unwrap()).await;
    assert_eq!(status, 200);

    a.stop().await;
    b.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_survived_without_a_restart() {
    let Some(cluster) = cluster::Cluster::create("an_outage_is_survived_without_a_restart") else {
        return;
    };
    let url = cluster.url();
    let server = TestServer::start_with(|c| {
        c.database_url = url;
        c.database_timeout = Duration::from_secs(2);
        c.request_timeout = Duration::from_secs(10);
    })
    .await;
    server.sign_up("ada@example.com").await;
    let (status, _) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200);

    cluster.stop();
    let ready = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let started = Instant::now();
    let response = client()
        .post(server.url("/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no hang: {:?}",
        started.elapsed()
    );
    common::assert_problem(response, 503).await;
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
        "/healthz",
    ] {
        let response = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} keeps answering");
    }

    cluster.start();
    let mut recovered = false;
    for _ in 0..40 {
        if client()
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "ready again without a restart");
    let (status, body) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "nothing lost: {body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_failed_login_budget_holds_across_instances() {
    let Some(db) = pg::TestDatabase::create("the_failed_login_budget_holds_across_instances").await
    else {
        return;
    };
    let budget = |c: &mut signet::config::Config| {
        c.database_url = db.url.clone();
        c.throttle.failures_per_address = 4;
    };
    let a = TestServer::start_with(budget).await;
    let b = TestServer::start_with(budget).await;
    a.sign_up("ada@example.com").await;
    let attempts = (0..16).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        async move { server.login("ada@example.com", "wrong password").await.0 }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let failed = statuses.iter().filter(|s| **s == 400).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (failed, refused),
        (4, 12),
        "one budget for both: {statuses:?}"
    );
}

/// Both feeds (one database) show a key change made in the shared keys
/// directory exactly once, although both instances noticed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_change_is_one_feed_entry_for_every_instance() {
    let Some(db) = pg::TestDatabase::create("a_key_change_is_one_feed_entry").await else {
        return;
    };
    let (a, b) = pair(&db.url, Duration::from_secs(5)).await;
    let feed = async |server: &TestServer, after: &str| -> Value {
        client()
            .get(server.url(&format!("/v1/revocations?after={after}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let cursor = feed(&a, "0").await["cursor"].as_str().unwrap().to_owned();
    let activated = a.state.keys.current().active().meta.activates();
    while chrono::Utc::now().timestamp() <= activated {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = signet::keys::rotate(
        &a.path().join("keys"),
        &a.state.config.key_settings(),
        signet::keys::Rotation::Now {
            alg: signet::config::SigningAlg::EdDSA,
            revoke: true,
        },
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for server in [&a, &b] {
        let page = feed(server, &cursor).await;
        assert_eq!(
            page["entries"],
            serde_json::json!([{"keys": "changed"}]),
            "{page}"
        );
    }
    let published = b.jwks().await;
    assert!(
        published
            .iter()
            .any(|k| k["kid"] == report.new_kid.as_str())
    );
    assert_eq!(published.len(), 1, "the old key was withdrawn");
    a.stop().await;
    b.stop().await;
    db.drop_now().await;
}
