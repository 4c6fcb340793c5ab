use std::time::Duration;

use serde_json::Value;

use crate::common::{PASSWORD, TestServer, client, decode_parts};

const ISSUER: &str = "https://signet.test";

#[tokio::test]
async fn a_restart_keeps_users_keys_and_tokens() {
    let first = TestServer::start_with(|c| c.set_issuer(ISSUER)).await;
    let tokens = first.user_tokens("ada@example.com").await;
    let kid = first.state.keys.current().active().kid.clone();
    let dir = first.dir.clone();
    first.stop().await;

    let second = TestServer::start_in(dir, |c| c.set_issuer(ISSUER)).await;
    assert_eq!(
        second.state.keys.current().active().kid,
        kid,
        "the key was loaded, not regenerated"
    );
    let (status, _) = second.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "the user survived");

    let token = tokens["access_token"].as_str().unwrap();
    let response = client()
        .get(second.url("/v1/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "a token from before the restart still works"
    );
    let jwks: Value = client()
        .get(second.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], kid);
}

#[tokio::test]
async fn a_malformed_key_file_stops_start_up() {
    let first = TestServer::start().await;
    let dir = first.dir.clone();
    let kid = first.state.keys.current().active().kid.clone();
    first.stop().await;
    let pem = dir.path().join("keys").join(format!("{kid}.pem"));
    std::fs::write(
        &pem,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let mut config = crate::common::config_in(dir.path());
    config.set_issuer(ISSUER);
    let error = signet::app::Services::start(config)
        .await
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(message.contains(&format!("{kid}.pem")), "{message}");
    assert!(message.contains("malformed"), "{message}");
}

/// The attack: a token issued under a long `access_ttl`, the server
/// restarted with a short one, the session revoked. An entry that lived
/// `now + access_ttl` would be pruned (and vanish from every guard) while
/// the old token is still within its `exp`, making it valid again.
#[tokio::test]
async fn a_revocation_covers_tokens_issued_under_a_longer_access_ttl() {
    let first = TestServer::start_with(|c| {
        c.set_issuer(ISSUER);
        c.access_ttl = Duration::from_secs(3600);
    })
    .await;
    let tokens = first.user_tokens("ada@example.com").await;
    let (_, old) = decode_parts(tokens["access_token"].as_str().unwrap());
    let dir = first.dir.clone();
    first.stop().await;

    let second = TestServer::start_in(dir, |c| {
        c.set_issuer(ISSUER);
        c.access_ttl = Duration::from_secs(60);
    })
    .await;
    // A rotation under the short lifetime must not shrink what is covered.
    let (status, next) = second
        .refresh(tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{next}");
    let status = client()
        .post(second.url("/v1/logout"))
        .bearer_auth(next["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);

    let feed = second.get_json("/v1/revocations").await;
    let entries = feed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{feed}");
    assert_eq!(entries[0]["sid"], old["sid"]);
    assert!(
        entries[0]["exp"].as_i64().unwrap() >= old["exp"].as_i64().unwrap(),
        "the entry ({feed}) ends before the old token's exp ({})",
        old["exp"]
    );
}
