//! Every RFC 8725 attack class, against a guard of a real Signet: each
//! forged token differs from one the guard accepts by the attack alone, and
//! must be refused by `Guard::verify` with the expected reason and by the
//! axum layer with 401 `invalid_token`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use ring::hmac;
use serde_json::{Value, json};
use signet::config::SigningAlg;
use signet::keys::{self, Rotation};
use signet_guard::testing::TestIssuer;
use signet_guard::{GuardError, TokenError};

use crate::common::{TestServer, client, decode_parts};
use crate::{
    AUDIENCE, access_token, assert_invalid_token, b64, b64_json, forge, guard_for, protected_app,
    serve, server_header, sign_with_server, verify, whoami, within,
};

/// The public JWKS of `server`, by kid.
async fn published_jwk(server: &TestServer, kid: &str) -> Value {
    let jwks = server.jwks().await;
    jwks.iter()
        .find(|k| k["kid"] == kid)
        .cloned()
        .unwrap_or_else(|| panic!("{kid} is not published: {jwks:?}"))
}

fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut out = base.clone();
    out[key] = value;
    out
}

fn without(base: &Value, key: &str) -> Value {
    let mut out = base.clone();
    out.as_object_mut().unwrap().remove(key);
    out
}

/// `header.claims` with an HMAC-SHA256 tag under `secret`.
fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", b64_json(header), b64_json(claims))
}

/// An attacker's server: publishes the attacker's JWKS and X.509 URL, and
/// counts every request (a guard must never fetch a URL from a token).
async fn attacker_server(attacker: &TestIssuer) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let jwks = serde_json::to_value(attacker.jwks()).unwrap();
    let counter = Arc::clone(&hits);
    let router = Router::new().fallback(get(move || {
        let jwks = jwks.clone();
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            axum::Json(jwks)
        }
    }));
    (serve(router).await, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rfc8725_attack_class_is_refused() {
    let server = TestServer::start().await;
    let real = access_token(&server, "ada@example.com").await;
    let (real_header, good) = decode_parts(&real);
    let ring = server.state.keys.current();
    let kid = ring.active().kid.clone();
    drop(ring);
    assert_eq!(
        real_header,
        server_header(&server),
        "forged headers are Signet's"
    );

    // A second published key (ES256, pre-published as "next"), so that a
    // token can name a key that exists but did not sign it.
    let settings = server.state.config.key_settings();
    let next = keys::rotate(
        &server.path().join("keys"),
        &settings,
        Rotation::Routine(SigningAlg::ES256),
    )
    .unwrap()
    .new_kid;
    let published = within(
        Duration::from_secs(5),
        Duration::from_millis(100),
        async || {
            client()
                .get(server.url("/.well-known/jwks.json"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .contains(&next)
        },
    )
    .await;
    assert!(published.is_some(), "the next key was published");
    assert_eq!(
        server.state.keys.current().active().kid,
        kid,
        "a routine rotation keeps signing with the old key"
    );

    let guard = guard_for(&server).await;
    assert_eq!(guard.status().key_count, 2);
    let app = protected_app(guard.clone()).await;

    // Controls: the real token, and the same claims forged with the real key
    // and Signet's header, are accepted; an audience array naming us too.
    let header = server_header(&server);
    for (case, token) in [
        ("real token", real.clone()),
        ("forged with the real key", forge(&server, &good)),
        (
            "aud as an array",
            forge(&server, &with(&good, "aud", json!(["billing", AUDIENCE]))),
        ),
    ] {
        verify(&guard, &token)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e:?}"));
        assert_eq!(whoami(&app, &token).await.status(), 200, "{case}");
    }

    let attacker = TestIssuer::with(server.base.clone(), AUDIENCE);
    let (evil, evil_hits) = attacker_server(&attacker).await;
    let jwk = published_jwk(&server, &kid).await;
    let x = jwk["x"].as_str().expect("an OKP key").to_owned();
    let x_raw =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &x).unwrap();
    let now = chrono::Utc::now().timestamp();
    let [h, p, s]: [&str; 3] = real.split('.').collect::<Vec<_>>().try_into().unwrap();

    use TokenError::*;
    let mut cases: Vec<(String, String, TokenError)> = Vec::new();
    let mut case = |name: &str, token: String, expected: TokenError| {
        cases.push((name.to_owned(), token, expected));
    };

    // alg "none", every spelling, with an empty signature and with the real one.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let none = with(&header, "alg", json!(alg));
        case(
            &format!("alg {alg}, empty signature"),
            unsigned(&none, &good),
            AlgorithmMismatch,
        );
        case(
            &format!("alg {alg}, real signature"),
            format!("{}.{p}.{s}", b64_json(&none)),
            AlgorithmMismatch,
        );
    }
    // HMAC keyed with the public key (the JWK's x, as text and as bytes).
    for alg in ["HS256", "hs256"] {
        let hs = with(&header, "alg", json!(alg));
        case(
            &format!("{alg} keyed with x as text"),
            hs256(&hs, &good, x.as_bytes()),
            AlgorithmMismatch,
        );
        case(
            &format!("{alg} keyed with x's bytes"),
            hs256(&hs, &good, &x_raw),
            AlgorithmMismatch,
        );
    }
    case(
        "HS256 keyed with the whole JWK",
        hs256(
            &with(&header, "alg", json!("HS256")),
            &good,
            jwk.to_string().as_bytes(),
        ),
        AlgorithmMismatch,
    );
    // Keys carried by the token: the attacker's own, and even Signet's own
    // (the header must be refused, not ignored).
    let evil_header = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": attacker.kid() });
    let attacker_jwk = serde_json::to_value(attacker.jwk()).unwrap();
    case(
        "embedded jwk of the attacker",
        attacker.sign(&with(&evil_header, "jwk", attacker_jwk.clone()), &good),
        ForbiddenHeader,
    );
    case(
        "embedded jwk of the attacker, Signet's kid",
        attacker.sign(
            &with(&with(&header, "jwk", attacker_jwk), "kid", json!(kid)),
            &good,
        ),
        ForbiddenHeader,
    );
    case(
        "embedded jwk of Signet's own key",
        sign_with_server(&server, &with(&header, "jwk", jwk.clone()), &good),
        ForbiddenHeader,
    );
    for member in ["jku", "x5u"] {
        let url = json!(format!("{evil}/{member}"));
        case(
            &format!("{member} to the attacker's keys"),
            attacker.sign(&with(&evil_header, member, url.clone()), &good),
            ForbiddenHeader,
        );
        case(
            &format!("{member} to the attacker's keys, Signet's kid"),
            attacker.sign(
                &with(&with(&header, member, url.clone()), "kid", json!(kid)),
                &good,
            ),
            ForbiddenHeader,
        );
        case(
            &format!("{member}, signed by Signet's key"),
            sign_with_server(&server, &with(&header, member, url), &good),
            ForbiddenHeader,
        );
    }
    case(
        "x5c, signed by Signet's key",
        sign_with_server(&server, &with(&header, "x5c", json!(["MIIB"])), &good),
        ForbiddenHeader,
    );
    case(
        "crit, signed by Signet's key",
        sign_with_server(&server, &with(&header, "crit", json!(["exp"])), &good),
        ForbiddenHeader,
    );
    // kid tricks.
    case(
        "Signet's kid, signed by the attacker",
        attacker.sign(&header, &good),
        BadSignature,
    );
    case(
        "the attacker's own kid and key",
        attacker.sign(&evil_header, &good),
        UnknownKey,
    );
    case(
        "kid of the other published key (ES256), alg EdDSA",
        sign_with_server(&server, &with(&header, "kid", json!(next)), &good),
        AlgorithmMismatch,
    );
    {
        // alg ES256 to match that key, EdDSA signature bytes (64 either way).
        let es = with(&with(&header, "alg", json!("ES256")), "kid", json!(next));
        let input = format!("{}.{p}", b64_json(&es));
        case(
            "kid and alg of the other key, Signet's signature",
            format!("{input}.{s}"),
            BadSignature,
        );
    }
    for traversal in [
        format!("../../keys/{kid}"),
        "../../keys/x".to_owned(),
        format!("{kid}/../{kid}"),
        "/etc/passwd".to_owned(),
    ] {
        case(
            &format!("kid {traversal:?}"),
            sign_with_server(&server, &with(&header, "kid", json!(traversal)), &good),
            UnknownKey,
        );
    }
    case(
        "empty kid",
        sign_with_server(&server, &with(&header, "kid", json!("")), &good),
        UnknownKey,
    );
    case(
        "no kid",
        sign_with_server(&server, &without(&header, "kid"), &good),
        MissingKeyId,
    );
    case(
        "kid of the wrong JSON type",
        sign_with_server(&server, &with(&header, "kid", json!(7)), &good),
        Malformed,
    );
    // Signatures stripped or tampered, payloads tampered.
    case("stripped signature", format!("{h}.{p}."), BadSignature);
    case("no signature segment", format!("{h}.{p}"), Malformed);
    {
        let mut sig: Vec<u8> = s.bytes().collect();
        sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
        case(
            "tampered signature",
            format!("{h}.{p}.{}", String::from_utf8(sig).unwrap()),
            BadSignature,
        );
    }
    for (name, claims) in [
        ("sub changed", with(&good, "sub", json!("someone-else"))),
        ("scope added", with(&good, "scope", json!("admin"))),
        ("exp extended", with(&good, "exp", json!(now + 86_400))),
    ] {
        case(
            &format!("tampered payload ({name}), original signature"),
            format!("{h}.{}.{s}", b64_json(&claims)),
            BadSignature,
        );
    }
    // Claims, signed by Signet's key.
    let forged = |claims: Value| forge(&server, &claims);
    case(
        "wrong iss",
        forged(with(&good, "iss", json!("https://evil.example"))),
        WrongIssuer,
    );
    case(
        "iss with a trailing slash",
        forged(with(&good, "iss", json!(format!("{}/", server.base)))),
        WrongIssuer,
    );
    case(
        "wrong aud",
        forged(with(&good, "aud", json!("billing"))),
        WrongAudience,
    );
    case(
        "aud array without us",
        forged(with(&good, "aud", json!(["billing", "orders"]))),
        WrongAudience,
    );
    case("no aud", forged(without(&good, "aud")), InvalidClaims);
    for typ in [json!("JWT"), json!("jwt"), json!("application/jwt")] {
        case(
            &format!("typ {typ}"),
            sign_with_server(&server, &with(&header, "typ", typ.clone()), &good),
            UnsupportedType,
        );
    }
    case(
        "no typ",
        sign_with_server(&server, &without(&header, "typ"), &good),
        UnsupportedType,
    );
    case(
        "expired an hour ago",
        forged(with(&good, "exp", json!(now - 3600))),
        Expired,
    );
    case(
        "expired beyond the 30 s leeway",
        forged(with(&good, "exp", json!(now - 45))),
        Expired,
    );
    case(
        "nbf in an hour",
        forged(with(&good, "nbf", json!(now + 3600))),
        NotYetValid,
    );
    case(
        "iat in an hour",
        forged(with(&good, "iat", json!(now + 3600))),
        IssuedInFuture,
    );
    for (name, claim, value) in [
        ("string exp", "exp", json!((now + 600).to_string())),
        ("float exp", "exp", json!(now as f64 + 600.5)),
        ("null exp", "exp", Value::Null),
        ("string nbf", "nbf", json!(now.to_string())),
        ("null nbf", "nbf", Value::Null),
        ("string iat", "iat", json!(now.to_string())),
        ("numeric aud", "aud", json!(1)),
        ("numeric sub", "sub", json!(1)),
    ] {
        case(name, forged(with(&good, claim, value)), InvalidClaims);
    }
    case("no exp", forged(without(&good, "exp")), InvalidClaims);
    case(
        "claims as an array",
        sign_with_server(&server, &header, &json!([good.clone()])),
        InvalidClaims,
    );
    // Oversized: otherwise valid, signed by Signet's key.
    let padded = forged(with(&good, "pad", json!("x".repeat(8 * 1024))));
    assert!(padded.len() > 8 * 1024);
    case("oversized (> 8 KiB)", padded, TooLarge);
    case("oversized garbage", "a.b.".repeat(3000), TooLarge);
    case("not a JWS", "not-a-token".to_owned(), Malformed);
    case(
        "JWE-shaped (5 segments)",
        format!("{h}.{p}.{s}.a.b"),
        Malformed,
    );

    assert!(cases.len() > 60, "{}", cases.len());
    for (name, token, expected) in &cases {
        let verdict = verify(&guard, token).await;
        assert_eq!(
            verdict,
            Err(GuardError::Token(expected.clone())),
            "Guard::verify: {name}"
        );
        assert_invalid_token(whoami(&app, token).await, name).await;
    }
    // Nothing was fetched from a URL a token named.
    assert_eq!(evil_hits.load(Ordering::SeqCst), 0, "jku/x5u were followed");
    // And the guard still works.
    assert_eq!(whoami(&app, &real).await.status(), 200);
}
