//! The guard's JWKS cache against a real Signet: a key published after the
//! guard started is fetched when a token names it; a flood of unknown kids
//! costs one fetch per cooldown; with Signet stopped the cached keys still
//! verify and forgeries still fail.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use signet::config::SigningAlg;
use signet::keys::{self, Rotation};
use signet_guard::testing::TestIssuer;
use signet_guard::{Guard, GuardError, TokenError};

use crate::common::{TestServer, client, decode_parts};
use crate::{
    AUDIENCE, Proxy, access_token, assert_invalid_token, forge, guard_for, login_again,
    protected_app, server_header, sign_with_server, verify, whoami, within,
};

fn kid_of(token: &str) -> String {
    decode_parts(token).0["kid"].as_str().unwrap().to_owned()
}

fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut out = base.clone();
    out[key] = value;
    out
}

/// `claims` signed by Signet's real key under a random, unknown kid.
fn random_kid_token(server: &TestServer, claims: &Value) -> String {
    let kid = uuid::Uuid::new_v4().to_string();
    sign_with_server(
        server,
        &with(&server_header(server), "kid", json!(kid)),
        claims,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_published_after_start_is_fetched_when_a_token_names_it() {
    let server = TestServer::start().await;
    let before = access_token(&server, "ada@example.com").await;
    let old = kid_of(&before);
    // Built before the rotation, and without the feed (whose key events
    // would teach it the new key at once: `key_changes.rs`). Its background
    // refresh is at least 60 s away, so only the unknown-kid refetch can
    // teach it the new key; the cooldown (which counts the start-up fetch)
    // is shortened from 30 s.
    let cooldown = Duration::from_secs(1);
    let guard = Guard::builder(server.base.clone(), AUDIENCE)
        .without_revocation_feed()
        .unknown_kid_cooldown(cooldown)
        .build()
        .await
        .unwrap();
    let built = Instant::now();
    verify(&guard, &before).await.unwrap();
    let app = protected_app(guard.clone()).await;

    // Rotate in a later second than the current key's activation: in the
    // same second the two keys tie on (activates_at, created_at) and the kid
    // order decides which one signs (a Signet bug: the new key then loses
    // half the time and is "retiring" at once).
    let activated = server.state.keys.current().active().meta.activates();
    while chrono::Utc::now().timestamp() <= activated {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = keys::rotate(
        &server.path().join("keys"),
        &server.state.config.key_settings(),
        Rotation::Now {
            alg: SigningAlg::EdDSA,
            revoke: false,
        },
    )
    .unwrap();
    let new = report.new_kid;
    assert_ne!(new, old);
    let reloaded = within(
        Duration::from_secs(5),
        Duration::from_millis(100),
        async || server.state.keys.current().active().kid == new,
    )
    .await;
    assert!(reloaded.is_some(), "Signet signs with the new key");
    let published: Value = client()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(published.to_string().contains(&new), "{published}");

    let first = login_again(&server, "ada@example.com").await;
    let second = login_again(&server, "ada@example.com").await;
    assert_eq!(kid_of(&first), new);
    assert!(
        !guard.keys().unwrap().contains(&new),
        "the guard has not seen the new key yet"
    );
    assert_eq!(
        guard
            .verify_offline::<signet_guard::NoCustomClaims>(&first)
            .err(),
        Some(GuardError::Token(TokenError::UnknownKey)),
        "offline, an unknown kid is refused at once"
    );
    if let Some(rest) = cooldown.checked_sub(built.elapsed()) {
        tokio::time::sleep(rest + Duration::from_millis(100)).await;
    }
    // Through the layer: the unknown kid makes the guard refetch.
    let response = whoami(&app, &first).await;
    assert_eq!(response.status(), 200);
    let keys = guard.keys().unwrap();
    assert!(keys.contains(&new) && keys.contains(&old), "both published");
    // Now known: offline verification suffices for the next token.
    guard
        .verify_offline::<signet_guard::NoCustomClaims>(&second)
        .unwrap();
    // The old key's tokens still pass (revoke: false keeps it published).
    verify(&guard, &before).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_costs_one_jwks_fetch_per_cooldown() {
    let server = TestServer::start().await;
    let token = access_token(&server, "ada@example.com").await;
    let (_, good) = decode_parts(&token);

    // Default settings (30 s cooldown), 200 concurrent requests through the
    // axum layer.
    let proxy = Proxy::start(&server.base).await;
    let guard = Guard::builder(server.base.clone(), AUDIENCE)
        .jwks_url(proxy.url("/.well-known/jwks.json"))
        .build()
        .await
        .unwrap();
    assert_eq!(proxy.jwks_fetches(), 1, "the start-up load");
    let app = protected_app(guard.clone()).await;
    let http = client();
    let flood: Vec<String> = (0..200).map(|_| random_kid_token(&server, &good)).collect();
    let started = Instant::now();
    let requests = flood.iter().map(|t| {
        let request = http.get(format!("{app}/whoami")).bearer_auth(t).send();
        async move { request.await.unwrap().status().as_u16() }
    });
    let mut handles: Vec<_> = requests.map(tokio::spawn).collect();
    // A valid token is served in the middle of the flood.
    assert_eq!(whoami(&app, &token).await.status(), 200);
    let statuses = join_all(handles.drain(..)).await;
    let flood_time = started.elapsed();
    assert!(
        statuses.iter().all(|s| *s.as_ref().unwrap() == 401),
        "{statuses:?}"
    );
    let fetches = proxy.jwks_fetches();
    eprintln!(
        "flood of 200 unknown kids (default cooldown): {fetches} JWKS fetches in total, {flood_time:?}"
    );
    assert!(fetches <= 2, "{fetches} JWKS fetches for the flood");
    assert_invalid_token(
        whoami(&app, &random_kid_token(&server, &good)).await,
        "unknown kid",
    )
    .await;

    // A 2 s cooldown: one refetch once it has passed, none while it runs.
    let proxy = Proxy::start(&server.base).await;
    let cooldown = Duration::from_secs(2);
    let guard = Guard::builder(server.base.clone(), AUDIENCE)
        .jwks_url(proxy.url("/.well-known/jwks.json"))
        .unknown_kid_cooldown(cooldown)
        .build()
        .await
        .unwrap();
    assert_eq!(proxy.jwks_fetches(), 1);
    let flood_of = async |guard: &Guard| {
        let tasks = (0..200).map(|_| {
            let guard = guard.clone();
            let token = random_kid_token(&server, &good);
            tokio::spawn(async move { verify(&guard, &token).await })
        });
        let verdicts = join_all(tasks.collect::<Vec<_>>()).await;
        for verdict in verdicts {
            assert_eq!(
                verdict.unwrap(),
                Err(GuardError::Token(TokenError::UnknownKey))
            );
        }
    };
    tokio::time::sleep(cooldown + Duration::from_millis(200)).await;
    flood_of(&guard).await;
    assert_eq!(proxy.jwks_fetches(), 2, "one refetch for the whole flood");
    flood_of(&guard).await;
    assert_eq!(proxy.jwks_fetches(), 2, "none within the cooldown");
    tokio::time::sleep(cooldown + Duration::from_millis(200)).await;
    flood_of(&guard).await;
    assert_eq!(proxy.jwks_fetches(), 3, "one more after the cooldown");
    verify(&guard, &token).await.unwrap();
    assert!(
        proxy.log().iter().all(|f| f.status == 200),
        "{:?}",
        proxy.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_signet_stopped_cached_keys_verify_and_forgeries_fail() {
    let server = TestServer::start().await;
    let seen = access_token(&server, "ada@example.com").await;
    let fresh = login_again(&server, "ada@example.com").await;
    let fresh_http = login_again(&server, "ada@example.com").await;
    let (_, good) = decode_parts(&seen);
    let guard = guard_for(&server).await;
    // A guard that refetches on every unknown kid: with Signet down each
    // such token costs a failed fetch, which must end in a 401, never a 5xx,
    // and must not lose the keys.
    let eager = Guard::builder(server.base.clone(), AUDIENCE)
        .unknown_kid_cooldown(Duration::ZERO)
        .build()
        .await
        .unwrap();
    for g in [&guard, &eager] {
        verify(g, &seen).await.unwrap();
    }
    let app = protected_app(guard.clone()).await;
    let eager_app = protected_app(eager.clone()).await;

    let now = chrono::Utc::now().timestamp();
    let attacker = TestIssuer::with(server.base.clone(), AUDIENCE);
    let [h, _, s]: [&str; 3] = seen.split('.').collect::<Vec<_>>().try_into().unwrap();
    let forgeries = [
        (
            "alg none",
            format!(
                "{}.{}.",
                crate::b64_json(&with(&server_header(&server), "alg", json!("none"))),
                crate::b64_json(&good)
            ),
            TokenError::AlgorithmMismatch,
        ),
        (
            "tampered payload",
            format!(
                "{h}.{}.{s}",
                crate::b64_json(&with(&good, "sub", json!("mallory")))
            ),
            TokenError::BadSignature,
        ),
        (
            "Signet's kid, attacker's key",
            attacker.sign(&server_header(&server), &good),
            TokenError::BadSignature,
        ),
        (
            "expired, Signet's key",
            forge(&server, &with(&good, "exp", json!(now - 3600))),
            TokenError::Expired,
        ),
        (
            "unknown kid, Signet's key",
            random_kid_token(&server, &good),
            TokenError::UnknownKey,
        ),
    ];

    let base = server.base.clone();
    let stopping = Instant::now();
    server.stop().await;
    let stop_time = stopping.elapsed();
    eprintln!("Signet stopped in {stop_time:?}");
    assert!(
        client()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err(),
        "Signet is down"
    );

    // Cached keys verify a token never seen before (not a token-cache hit).
    verify(&guard, &fresh).await.unwrap();
    verify(&guard, &seen).await.unwrap();
    assert_eq!(whoami(&app, &fresh_http).await.status(), 200);
    for (name, token, expected) in &forgeries {
        for (g, a) in [(&guard, &app), (&eager, &eager_app)] {
            let started = Instant::now();
            assert_eq!(
                verify(g, token).await,
                Err(GuardError::Token(expected.clone())),
                "{name}"
            );
            let took = started.elapsed();
            assert!(took < Duration::from_secs(2), "{name}: {took:?}");
            assert_invalid_token(whoami(a, token).await, name).await;
        }
    }
    // The failed refetches kept the keys (stale-if-error).
    for g in [&guard, &eager] {
        let status = g.status();
        assert!(status.ready && status.key_count == 1, "{status:?}");
        verify(g, &fresh).await.unwrap();
    }
    verify(&eager, &fresh_http).await.unwrap();
}
