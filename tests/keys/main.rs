//! Key lifecycle: pre-published rotation with zero refused tokens, the
//! emergency path, hot reload across instances, corrupt files, and every
//! algorithm end to end (guard and an independent JWT library). Key files:
//! the form OpenSSL reads, keys made by OpenSSL imported, and private files
//! other users can read or write refused.

#[path = "../common/mod.rs"]
mod common;
mod files;
#[path = "../common/process.rs"]
mod process;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{PASSWORD, TestServer, client, decode_parts};
use serde_json::Value;
use signet::keys::SigningAlg;
use signet::keys::{self, Rotation};
use signet_guard::Guard;
use signet_guard::verify::NoCustomClaims;

pub(crate) async fn jwks_kids(server: &TestServer) -> BTreeSet<String> {
    let jwks = server.jwks().await;
    jwks.iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn kid_of(token: &str) -> String {
    decode_parts(token).0["kid"].as_str().unwrap().to_owned()
}

pub(crate) async fn access_token(server: &TestServer) -> String {
    let (status, body) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Waits until `check` holds, up to `limit`.
pub(crate) async fn eventually<F: AsyncFnMut() -> bool>(limit: Duration, mut check: F) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_rotation_cycle_refuses_no_valid_token() {
    let server = TestServer::start_with(|c| {
        c.access_ttl = Duration::from_secs(2);
        c.revocation_margin = Duration::ZERO;
        c.key_publish_delay = Some(Duration::from_secs(3));
    })
    .await;
    server.sign_up("ada@example.com").await;
    let old = server.state.keys.current().active().kid.clone();
    // A guard that refreshes its JWKS every second and, its unknown-kid
    // refetch spent up front, could not learn a key that was not published
    // before it signed.
    let guard = Guard::builder(server.base.clone(), "signet")
        .jwks_refresh(Duration::from_secs(1), Duration::from_secs(1))
        .unknown_kid_cooldown(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let probe =
        signet_guard::testing::TestIssuer::with(&server.base, "signet").mint(Default::default());
    assert!(guard.verify::<NoCustomClaims>(&probe).await.is_err());

    let settings = server.state.config.key_settings();
    let report = keys::rotate(
        &server.path().join("keys"),
        &settings,
        Rotation::Routine(SigningAlg::EdDSA),
    )
    .unwrap();
    let new = report.new_kid.clone();

    let mut phases = Vec::new();
    let mut tokens: Vec<(String, Instant)> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(7500) {
        tokens.push((access_token(&server).await, Instant::now()));
        for (token, issued) in &tokens {
            if issued.elapsed() < Duration::from_millis(1800) {
                let verdict = guard.verify::<NoCustomClaims>(token).await;
                assert!(
                    verdict.is_ok(),
                    "a valid token was refused at {:?}: {verdict:?}",
                    start.elapsed()
                );
            }
        }
        let kids = jwks_kids(&server).await;
        let signer = kid_of(&tokens.last().unwrap().0);
        let phase = match (kids.contains(&old), kids.contains(&new), signer == new) {
            (true, false, false) => "not yet reloaded",
            (true, true, false) => "next",
            (true, true, true) => "retiring",
            (false, true, true) => "gone",
            other => panic!("unexpected JWKS/signer combination {other:?}"),
        };
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let phases: Vec<_> = phases
        .into_iter()
        .filter(|p| *p != "not yet reloaded")
        .collect();
    assert_eq!(
        phases,
        ["next", "retiring", "gone"],
        "next → active → retiring → gone"
    );
}

#[tokio::test]
async fn an_emergency_rotation_with_revoke_withdraws_the_old_key() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let before = access_token(&server).await;
    let old = kid_of(&before);
    let settings = server.state.config.key_settings();
    let report = keys::rotate(
        &server.path().join("keys"),
        &settings,
        Rotation::Now {
            alg: SigningAlg::EdDSA,
            revoke: true,
        },
    )
    .unwrap();
    assert!(report.revoked);
    let reloaded = eventually(Duration::from_secs(5), async || {
        jwks_kids(&server).await == BTreeSet::from([report.new_kid.clone()])
    })
    .await;
    assert!(reloaded, "the old key left the JWKS");
    let after = access_token(&server).await;
    assert_eq!(kid_of(&after), report.new_kid);
    assert_ne!(report.new_kid, old);
    let refused = client()
        .get(server.url("/v1/userinfo"))
        .bearer_auth(&before)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        401,
        "tokens of a revoked key stop working"
    );
    let accepted = client()
        .get(server.url("/v1/userinfo"))
        .bearer_auth(&after)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
}

#[tokio::test]
async fn a_second_instance_picks_up_a_rotation() {
    let a = TestServer::start().await;
    let keys_dir = a.path().join("keys");
    let shared = keys_dir.clone();
    let b = TestServer::start_in(Arc::new(tempfile::tempdir().unwrap()), |c| {
        c.keys_dir = shared
    })
    .await;
    assert_eq!(jwks_kids(&a).await, jwks_kids(&b).await);
    let settings = a.state.config.key_settings();
    let report = keys::rotate(&keys_dir, &settings, Rotation::Routine(SigningAlg::ES256)).unwrap();
    let seen = eventually(Duration::from_secs(5), async || {
        jwks_kids(&b).await.contains(&report.new_kid)
    })
    .await;
    assert!(seen, "B published A's new key without a restart");
}

#[tokio::test]
async fn a_corrupt_key_file_at_runtime_is_skipped() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let kids = jwks_kids(&server).await;
    let dir = server.path().join("keys");
    std::fs::write(
        dir.join("broken.json"),
        r#"{"alg":"EdDSA","created_at":0,"activates_at":0}"#,
    )
    .unwrap();
    files::write_with_mode(
        &dir.join("broken.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        0o600,
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(jwks_kids(&server).await, kids, "the running keys are kept");
    assert_eq!(
        client()
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let token = access_token(&server).await;
    assert!(kids.contains(&kid_of(&token)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_rotation_happens_once_across_instances() {
    let a = TestServer::start_with(|c| {
        c.key_rotation = Some(Duration::from_secs(2));
        c.key_publish_delay = Some(Duration::from_secs(60));
    })
    .await;
    let shared = a.path().join("keys");
    let b = TestServer::start_in(Arc::new(tempfile::tempdir().unwrap()), |c| {
        c.keys_dir = shared;
        c.key_rotation = Some(Duration::from_secs(2));
        c.key_publish_delay = Some(Duration::from_secs(60));
    })
    .await;
    let rotated = eventually(Duration::from_secs(8), async || {
        jwks_kids(&a).await.len() == 2
    })
    .await;
    assert!(rotated, "a new key was added on schedule");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        jwks_kids(&a).await.len(),
        2,
        "exactly one new key, by one instance"
    );
    assert_eq!(jwks_kids(&b).await, jwks_kids(&a).await);
}

/// Verifies `token` with jwt-compact from the published JWK alone.
pub(crate) fn independently_verified(jwk: &Value, token: &str) -> bool {
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{AlgorithmExt, UntrustedToken};
    let parsed: JsonWebKey<'_> = serde_json::from_value(jwk.clone()).unwrap();
    let untrusted = UntrustedToken::new(token).unwrap();
    match jwk["alg"].as_str().unwrap() {
        "EdDSA" => {
            let key = ed25519_compact::PublicKey::try_from(&parsed).unwrap();
            jwt_compact::alg::Ed25519
                .validator::<Value>(&key)
                .validate(&untrusted)
                .is_ok()
        }
        "ES256" => {
            let key = p256::ecdsa::VerifyingKey::try_from(&parsed).unwrap();
            jwt_compact::alg::Es256
                .validator::<Value>(&key)
                .validate(&untrusted)
                .is_ok()
        }
        "RS256" => {
            let key = rsa::RsaPublicKey::try_from(&parsed).unwrap();
            jwt_compact::alg::Rsa::rs256()
                .validator::<Value>(&key)
                .validate(&untrusted)
                .is_ok()
        }
        other => panic!("unexpected alg {other}"),
    }
}

#[tokio::test]
async fn every_algorithm_works_end_to_end() {
    for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::RS256] {
        let server = TestServer::start_with(|c| c.signing_alg = alg).await;
        let tokens = server.user_tokens("ada@example.com").await;
        let token = tokens["access_token"].as_str().unwrap();
        let (header, _) = decode_parts(token);
        assert_eq!(header["alg"], alg.as_str());
        let jwks: Value = client()
            .get(server.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwk = &jwks["keys"][0];
        let expected = match alg {
            SigningAlg::EdDSA => ("OKP", Some("Ed25519")),
            SigningAlg::ES256 => ("EC", Some("P-256")),
            SigningAlg::RS256 => ("RSA", None),
        };
        assert_eq!(
            (jwk["kty"].as_str().unwrap(), jwk["crv"].as_str()),
            expected,
            "{jwk}"
        );
        assert_eq!(jwk["use"], "sig");
        assert!(
            jwk.get("d").is_none() && jwk.get("p").is_none(),
            "public parts only"
        );
        let parsed: signet_guard::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
        assert_eq!(jwk["kid"], parsed.thumbprint().unwrap());

        let guard = Guard::builder(server.base.clone(), "signet")
            .build()
            .await
            .unwrap();
        assert!(
            guard.verify::<NoCustomClaims>(token).await.is_ok(),
            "{alg:?} through the guard"
        );
        assert!(
            independently_verified(jwk, token),
            "{alg:?} through jwt-compact"
        );
        let info = client()
            .get(server.url("/v1/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), 200);
    }
}
