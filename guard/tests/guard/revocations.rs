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

#[tokio::test]
async fn after_a_restore_the_follower_starts_again_from_the_beginning() {
    let (stub, key) = setup().await;
    stub.revoke(json!({"sid": "old-1", "exp": now() + 300}));
    stub.revoke(json!({"sid": "old-2", "exp": now() + 300}));
    let guard = Guard::builder(stub.issuer(), "orders")
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The database goes back to a backup holding nothing; then a logout.
    // The guard's cursor (2) is from the future: 410, read again from 0.
    stub.restore(Vec::new());
    stub.revoke(json!({"sid": "after-restore", "exp": now() + 300}));
    let token = key.mint(TokenClaims::new().sid("after-restore"));
    let refused = eventually(Duration::from_secs(2), || async {
        guard.verify::<NoCustomClaims>(&token).await == Err(GuardError::Token(TokenError::Revoked))
    })
    .await;
    assert!(
        refused.is_some(),
        "a revocation after the restore was skipped"
    );
    let old = key.mint(TokenClaims::new().sid("old-1"));
    assert!(
        guard.verify::<NoCustomClaims>(&old).await.is_err(),
        "entries held before are kept"
    );
}

#[tokio::test]
async fn a_key_event_refetches_the_jwks_and_drops_the_withdrawn_keys_verifications() {
    let (stub, old) = setup().await;
    let guard = Guard::builder(stub.issuer(), "orders")
        // Far from any scheduled refresh or unknown-kid refetch.
        .jwks_refresh(Duration::from_secs(3600), Duration::from_secs(3600))
        .unknown_kid_cooldown(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let forged = old.mint(TokenClaims::new().sub("mallory"));
    guard.verify::<NoCustomClaims>(&forged).await.unwrap();
    assert_eq!(guard.status().cached_tokens, 1);
    // The unknown-kid refetch is spent: a new key's token is refused.
    let new = TestIssuer::with(stub.issuer(), "orders");
    let fresh = new.mint(TokenClaims::new().sub("alice"));
    assert!(guard.verify::<NoCustomClaims>(&fresh).await.is_err());
    tokio::time::sleep(Duration::from_millis(200)).await;

    let fetches = stub.jwks_fetches();
    stub.publish(new.jwks());
    stub.revoke(json!({"keys": "changed"}));
    let switched = eventually(Duration::from_secs(2), || async {
        guard.verify::<NoCustomClaims>(&fresh).await.is_ok()
    })
    .await;
    assert!(
        switched.is_some(),
        "the new key was not fetched on the event"
    );
    assert_eq!(stub.jwks_fetches(), fetches + 1, "one fetch per event");
    assert_eq!(
        guard.verify::<NoCustomClaims>(&forged).await.map(|_| ()),
        Err(GuardError::Token(TokenError::UnknownKey)),
        "the cached verification by the withdrawn key is gone"
    );
    assert_eq!(guard.status().cached_tokens, 1, "only the new key's token");
}

#[tokio::test]
async fn feed_credentials_are_sent_as_basic() {
    let (stub, _key) = setup().await;
    let _guard = Guard::builder(stub.issuer(), "orders")
        .feed_credentials("guard-client", "s3cret")
        .build()
        .await
        .unwrap();
    let sent = stub.state.feed_authorization.lock().unwrap().clone();
    // base64("guard-client:s3cret")
    assert_eq!(sent.as_deref(), Some("Basic Z3VhcmQtY2xpZW50OnMzY3JldA=="));
    let format = format!(
        "{:?}",
        Guard::builder("https://x", "y").feed_credentials("id", "s3cret")
    );
    assert!(!format.contains("s3cret"), "{format}");
}

#[tokio::test]
async fn a_token_living_longer_than_the_maximum_is_refused() {
    let (stub, key) = setup().await;
    let guard = Guard::builder(stub.issuer(), "orders")
        .max_token_lifetime(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let iat = now();
    let fine = key.mint(TokenClaims::new().iat(iat).exp(iat + 3600));
    let long = key.mint(TokenClaims::new().iat(iat).exp(iat + 3601));
    assert!(guard.verify::<NoCustomClaims>(&fine).await.is_ok());
    assert_eq!(
        guard.verify::<NoCustomClaims>(&long).await.map(|_| ()),
        Err(GuardError::Token(TokenError::LifetimeTooLong))
    );
    // The default is 6 h.
    let default = Guard::builder(stub.issuer(), "orders")
        .build()
        .await
        .unwrap();
    let year = key.mint(TokenClaims::new().iat(iat).exp(iat + 365 * 86_400));
    assert!(default.verify::<NoCustomClaims>(&year).await.is_err());
}
