//! Discovery, the JWKS cache and its failure modes.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use signet_guard::testing::{TestIssuer, TokenClaims};
use signet_guard::{Guard, GuardError, JwkSet, NoCustomClaims, TokenError};

use super::stub::Stub;
use super::{app, client, free_addr, get_with, serve};

fn both(a: &TestIssuer, b: &TestIssuer) -> JwkSet {
    JwkSet {
        keys: vec![a.jwk(), b.jwk()],
    }
}

/// The key and the stub share the stub's URL as issuer.
async fn setup() -> (Stub, TestIssuer) {
    let stub = Stub::start(JwkSet::default()).await;
    let key = TestIssuer::with(stub.issuer(), "orders");
    stub.publish(key.jwks());
    (stub, key)
}

#[tokio::test]
async fn valid_token_is_accepted_through_discovery() {
    let (stub, key) = setup().await;
    let guard = Guard::builder(stub.issuer(), "orders")
        .build()
        .await
        .unwrap();
    assert!(guard.is_ready());
    let base = serve(app(guard.clone())).await;
    let token = key.mint(TokenClaims::new().sub("alice").scope("orders:read"));

    let response = get_with(&client(), &format!("{base}/whoami"), &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["aud"], "orders");

    assert_eq!(stub.state.metadata_fetches.load(Ordering::SeqCst), 1);
    assert_eq!(stub.jwks_fetches(), 1);
    // The feed advertised in the metadata is the one followed.
    assert!(stub.state.custom_feed_requests.load(Ordering::SeqCst) >= 1);
    assert_eq!(stub.state.default_feed_requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn feed_defaults_to_v1_revocations_without_metadata_member() {
    let (stub, _key) = setup().await;
    *stub.state.advertised_feed.lock().unwrap() = None;
    let _guard = Guard::builder(stub.issuer(), "orders")
        .build()
        .await
        .unwrap();
    assert!(stub.state.default_feed_requests.load(Ordering::SeqCst) >= 1);
    assert_eq!(stub.state.custom_feed_requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn metadata_for_another_issuer_is_refused() {
    let (stub, _key) = setup().await;
    let wrong = format!("{}/", stub.issuer());
    let error = Guard::builder(wrong, "orders").build().await.unwrap_err();
    assert!(error.to_string().contains("issuer"), "{error}");
}

#[tokio::test]
async fn explicit_urls_skip_discovery() {
    let (stub, key) = setup().await;
    let guard = Guard::builder(stub.issuer(), "orders")
        .jwks_url(format!("{}/.well-known/jwks.json", stub.issuer()))
        .revocation_feed_url(format!("{}/v1/revocations", stub.issuer()))
        .build()
        .await
        .unwrap();
    assert_eq!(stub.state.metadata_fetches.load(Ordering::SeqCst), 0);
    assert!(
        guard
            .verify::<NoCustomClaims>(&key.mint(TokenClaims::new()))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn rotated_key_is_fetched_on_unknown_kid() {
    let (stub, old) = setup().await;
    let cooldown = Duration::from_millis(300);
    let guard = Guard::builder(stub.issuer(), "orders")
        .unknown_kid_cooldown(cooldown)
        .build()
        .await
        .unwrap();
    let new = TestIssuer::with(stub.issuer(), "orders");
    let token = new.mint(TokenClaims::new().sub("bob"));
    tokio::time::sleep(cooldown).await;

    // Not published yet: one refetch, still unknown → 401, never 500.
    let unknown = guard.verify::<NoCustomClaims>(&token).await;
    assert_eq!(unknown, Err(GuardError::Token(TokenError::UnknownKey)));
    assert_eq!(stub.jwks_fetches(), 2);

    // Published: the next unknown kid after the cooldown refetches.
    stub.publish(both(&old, &new));
    tokio::time::sleep(cooldown).await;
    let base = serve(app(guard.clone())).await;
    let response = get_with(&client(), &format!("{base}/whoami"), &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(stub.jwks_fetches(), 3);
    // The old key still works from the same set.
    assert!(
        guard
            .verify::<NoCustomClaims>(&old.mint(TokenClaims::new()))
            .await
            .is_ok()
    );
    assert_eq!(stub.jwks_fetches(), 3);
}

#[tokio::test]
async fn flood_of_unknown_kids_costs_one_fetch_per_cooldown() {
    let (stub, key) = setup().await;
    let cooldown = Duration::from_secs(1);
    let guard = Guard::builder(stub.issuer(), "orders")
        .unknown_kid_cooldown(cooldown)
        .build()
        .await
        .unwrap();
    assert_eq!(stub.jwks_fetches(), 1);

    // Within the cooldown of the initial load: no fetch at all.
    flood(&guard, &key, 200).await;
    assert_eq!(stub.jwks_fetches(), 1);

    // After it: 200 concurrent random kids cost one fetch (single-flight).
    tokio::time::sleep(cooldown).await;
    flood(&guard, &key, 200).await;
    assert_eq!(stub.jwks_fetches(), 2);
    flood(&guard, &key, 200).await;
    assert_eq!(stub.jwks_fetches(), 2);

    // Through HTTP too, and the real key keeps working throughout.
    let base = serve(app(guard.clone())).await;
    let http = client();
    for i in 0..50 {
        let forged = key.mint(TokenClaims::new().kid(&format!("random-{i}")));
        let response = get_with(&http, &format!("{base}/whoami"), &forged).await;
        assert_eq!(response.status(), 401);
    }
    assert_eq!(stub.jwks_fetches(), 2);
    let response = get_with(
        &http,
        &format!("{base}/whoami"),
        &key.mint(TokenClaims::new()),
    )
    .await;
    assert_eq!(response.status(), 200);
}

async fn flood(guard: &Guard, key: &TestIssuer, n: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let guard = guard.clone();
        let token = key.mint(TokenClaims::new().kid(&format!("kid-{i}-{}", rand_suffix())));
        tasks.spawn(async move { guard.verify::<NoCustomClaims>(&token).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(
            result.unwrap(),
            Err(GuardError::Token(TokenError::UnknownKey))
        );
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn issuer_down_keeps_cached_keys() {
    let (mut stub, key) = setup().await;
    let guard = Guard::builder(stub.issuer(), "orders")
        .unknown_kid_cooldown(Duration::from_millis(100))
        .fetch_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let base = serve(app(guard.clone())).await;
    let http = client();
    stub.stop().await;
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Cached keys still verify.
    let good = key.mint(TokenClaims::new().sub("alice"));
    assert_eq!(
        get_with(&http, &format!("{base}/whoami"), &good)
            .await
            .status(),
        200
    );

    // A token signed by another key under the trusted kid still fails.
    let forger = TestIssuer::with(stub.issuer(), "orders");
    let forged = forger.mint(TokenClaims::new().kid(key.kid()));
    let response = get_with(&http, &format!("{base}/whoami"), &forged).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");

    // An unknown kid triggers a refetch that fails: 401, not 500, keys kept.
    let unknown = forger.mint(TokenClaims::new());
    let response = get_with(&http, &format!("{base}/whoami"), &unknown).await;
    assert_eq!(response.status(), 401);
    assert!(guard.is_ready());
    assert_eq!(guard.status().key_count, 1);
    assert_eq!(
        get_with(&http, &format!("{base}/whoami"), &good)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn background_refresh_follows_max_age_within_bounds() {
    let (stub, _key) = setup().await;
    *stub.state.cache_control.lock().unwrap() = "max-age=0".into();
    let _guard = Guard::builder(stub.issuer(), "orders")
        .jwks_refresh(Duration::from_millis(500), Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // max-age=0 is raised to the 500 ms floor: two refreshes, not a storm.
    let fetches = stub.jwks_fetches();
    assert!((2..=4).contains(&fetches), "{fetches}");
}

#[tokio::test]
async fn keys_never_loaded_answer_503() {
    let addr = free_addr().await;
    let issuer = format!("http://{addr}");

    let error = Guard::builder(issuer.clone(), "orders")
        .fetch_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("keys"), "{error}");

    let guard = Guard::builder(issuer.clone(), "orders")
        .unknown_kid_cooldown(Duration::from_millis(200))
        .fetch_timeout(Duration::from_millis(500))
        .build_lazy()
        .unwrap();
    assert!(!guard.is_ready());
    let key = TestIssuer::with(issuer.clone(), "orders");
    let token = key.mint(TokenClaims::new());
    let base = serve(app(guard.clone())).await;
    let http = client();
    let response = get_with(&http, &format!("{base}/whoami"), &token).await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(response.headers().get("www-authenticate").is_none());
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 503);

    // Once the issuer is up, the lazy guard loads its keys and serves.
    let _stub = Stub::start_at(addr, key.jwks()).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let response = get_with(&http, &format!("{base}/whoami"), &token).await;
    assert_eq!(response.status(), 200);
    assert!(guard.is_ready());
}
