//! The revocation follower: long poll, reconnection, fail modes.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use signet_guard::testing::{TestIssuer, TokenClaims};
use signet_guard::{FailMode, Guard, GuardError, JwkSet, NoCustomClaims, TokenError};

use super::stub::Stub;
use super::{app, client, eventually, get_with, now, serve};

async fn setup() -> (Stub, TestIssuer) {
    let stub = Stub::start(JwkSet::default()).await;
    let key = TestIssuer::with(stub.issuer(), "orders");
    stub.publish(key.jwks());
    (stub, key)
}

async fn status_of(http: &reqwest::Client, url: &str, token: &str) -> u16 {
    get_with(http, url, token).await.status().as_u16()
}

#[tokio::test]
async fn logout_is_refused_within_two_seconds() {
    let (stub, key) = setup().await;
    let guard = Guard::builder(stub.issuer(), "orders")
        .build()
        .await
        .unwrap();
    let base = serve(app(guard.clone())).await;
    let url = format!("{base}/whoami");
    let http = client();
    let session = key.mint(TokenClaims::new().sid("session-1"));
    let other = key.mint(TokenClaims::new().sid("session-2"));
    let single = key.mint(TokenClaims::new().jti("token-1"));
    for token in [&session, &other, &single] {
        assert_eq!(status_of(&http, &url, token).await, 200, "cached now");
    }
    // Let the follower settle into its long poll (default wait 25 s).
    tokio::time::sleep(Duration::from_millis(200)).await;

    stub.revoke(json!({"sid": "session-1", "exp": now() + 300}));
    let took = eventually(Duration::from_secs(2), || async {
        status_of(&http, &url, &session).await == 401
    })
    .await;
    assert!(took.is_some(), "sid revocation not applied within 2 s");
    eprintln!("sid revocation seen after {took:?}");
    let response = get_with(&http, &url, &session).await;
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("revoked"), "{challenge}");
    assert_eq!(status_of(&http, &url, &other).await, 200);

    stub.revoke(json!({"jti": "token-1", "exp": now() + 300}));
    let took = eventually(Duration::from_secs(2), || async {
        status_of(&http, &url, &single).await == 401
    })
    .await;
    assert!(took.is_some(), "jti revocation not applied within 2 s");
    assert_eq!(status_of(&http, &url, &other).await, 200);
    assert_eq!(guard.status().revocations, 2);
    // Nothing was re-fetched in a loop: one initial request and long polls.
    assert!(stub.feed_requests() <= 4, "{}", stub.feed_requests());
}

#[tokio::test]
async fn existing_revocations_are_loaded_by_build() {
    let (stub, key) = setup().await;
    stub.revoke(json!({"sid": "gone", "exp": now() + 300}));
    stub.revoke(json!({"jti": "gone-too", "exp": now() + 300}));
    let guard = Guard::builder(stub.issuer(), "orders")
        .build()
        .await
        .unwrap();
    let revoked = Err(GuardError::Token(TokenError::Revoked));
    let by_sid = key.mint(TokenClaims::new().sid("gone"));
    let by_jti = key.mint(TokenClaims::new().jti("gone-too"));
    assert_eq!(
        guard.verify::<NoCustomClaims>(&by_sid).await.map(|_| ()),
        revoked
    );
    assert_eq!(
        guard.verify::<NoCustomClaims>(&by_jti).await.map(|_| ()),
        revoked
    );
    assert!(guard.status().feed_last_contact.is_some());
}

#[tokio::test]
async fn idle_feed_answers_304_and_follower_keeps_polling() {
    let (stub, key) = setup().await;
    let guard = Guard::builder(stub.issuer(), "orders")
        .feed_wait(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(stub.state.feed_not_modified.load(Ordering::SeqCst) >= 1);
    let requests = stub.feed_requests();
    assert!((2..=5).contains(&requests), "{requests}");
    stub.revoke(json!({"sid": "s", "exp": now() + 60}));
    let token = key.mint(TokenClaims::new().sid("s"));
    let refused = eventually(Duration::from_secs(2), || async {
        guard.verify::<NoCustomClaims>(&token).await.is_err()
    })
    .await;
    assert!(refused.is_some());
}

#[tokio::test]
async fn follower_reconnects_after_feed_restart() {
    let (mut stub, key) = setup().await;
    let guard = Guard::builder(stub.issuer(), "orders")
        .build()
        .await
        .unwrap();
    let base = serve(app(guard.clone())).await;
    let url = format!("{base}/whoami");
    let http = client();
    let token = key.mint(TokenClaims::new().sid("after-restart"));

    stub.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Fail-open by default: tokens still accepted while the feed is down.
    assert_eq!(status_of(&http, &url, &token).await, 200);
    assert!(guard.is_ready());

    stub.restart().await;
    stub.revoke(json!({"sid": "after-restart", "exp": now() + 300}));
    // Reconnect backoff is capped at 5 s; then the long poll answers at once.
    let took = eventually(Duration::from_secs(7), || async {
        status_of(&http, &url, &token).await == 401
    })
    .await;
    assert!(took.is_some(), "follower did not reconnect");
    eprintln!("revocation after restart seen after {took:?}");
}

#[tokio::test]
async fn fail_closed_refuses_once_the_feed_is_stale() {
    let (mut stub, key) = setup().await;
    let guard = Guard::builder(stub.issuer(), "orders")
        .feed_wait(Duration::from_secs(1))
        .fetch_timeout(Duration::from_millis(500))
        .revocation_fail_mode(FailMode::FailClosed {
            after: Duration::from_secs(2),
        })
        .build()
        .await
        .unwrap();
    let token = key.mint(TokenClaims::new());
    assert!(guard.verify::<NoCustomClaims>(&token).await.is_ok());
    assert!(guard.is_ready());

    stub.stop().await;
    let closed = eventually(Duration::from_secs(5), || async {
        guard.verify::<NoCustomClaims>(&token).await == Err(GuardError::RevocationsUnavailable)
    })
    .await;
    assert!(closed.is_some(), "fail-closed never refused");
    assert!(!guard.is_ready());
    let base = serve(app(guard.clone())).await;
    let response = get_with(&client(), &format!("{base}/whoami"), &token).await;
    assert_eq!(response.status(), 503);

    stub.restart().await;
    let reopened = eventually(Duration::from_secs(7), || async {
        guard.verify::<NoCustomClaims>(&token).await.is_ok()
    })
    .await;
    assert!(
        reopened.is_some(),
        "did not recover after the feed came back"
    );
}

#[tokio::test]
async fn dropping_the_guard_stops_its_tasks() {
    let (stub, _key) = setup().await;
    let guard = Guard::builder(stub.issuer(), "orders")
        .feed_wait(Duration::from_secs(1))
        .jwks_refresh(Duration::from_millis(200), Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(stub.jwks_fetches() >= 2);
    drop(guard);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (feed, jwks) = (stub.feed_requests(), stub.jwks_fetches());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!((stub.feed_requests(), stub.jwks_fetches()), (feed, jwks));
}
