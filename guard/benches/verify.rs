//! Cost of the guard per request, against bare ring on the same bytes.
//!
//! - verify/ring_bare: `UnparsedPublicKey::verify` — the floor.
//! - verify/jsonwebtoken_crypto_verify: the same through jsonwebtoken and the
//!   ring provider (adds base64 of the signature and a boxed verifier).
//! - verify/validator_validate: the full `Validator::validate` (target: at
//!   most 1.2x the floor).
//! - verify/guard_miss: `Guard::verify_offline` with the token cache off —
//!   the full validation plus the revocation lookup, what a guard pays for a
//!   token it has not seen.
//! - verify/guard_cache_hit: `Guard::verify_offline` on a cached token:
//!   SHA-256 of the token, a sharded map lookup, the revocation lookup (with
//!   1000 entries in the list) and an `Arc` clone.
//! - verify/guard_miss_then_insert: a first sight with the cache on (full
//!   validation, then the entry stored; the cache grows to its bound).
//! - verify/sha256_token: the SHA-256 alone, the bulk of a hit.
//! - layer/*: a whole request through `GuardLayer` (token cache hit) to a
//!   trivial handler, on a current-thread runtime: `bearer_get` (the
//!   `Authorization` header), `cookie_get` (the access cookie of a guard in
//!   cookie mode) and `cookie_post_csrf` (the cookie on POST, so the CSRF
//!   rule runs: Fetch Metadata, `Origin`, the header against the CSRF
//!   cookie and the token's `signet_csrf` claim).
//! - sign/*: `jsonwebtoken::encode` with the cached key vs ring signing the
//!   signing input directly, and ring re-parsing the PKCS#8 key per call (what
//!   an uncached provider would pay).

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde_json::{Value, json};
use signet_guard::{Guard, Jwk, JwkSet, KeySet, NoCustomClaims, Validator};

const ISSUER: &str = "https://signet.example.com";
const AUDIENCE: &str = "signet";

/// Claims shaped like a Signet password-grant access token.
fn claims() -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({
        "iss": ISSUER,
        "sub": "0190f3c4-7b1e-7cc0-9a4e-3f5d2b8c1a77",
        "aud": AUDIENCE,
        "exp": now + 900,
        "iat": now,
        "nbf": now,
        "jti": "0190f3c4-7b1e-7cc0-9a4e-3f5d2b8c1a78",
        "scope": "openid profile orders:read",
        "client_id": "signet-web",
        "sid": "0190f3c4-7b1e-7cc0-9a4e-3f5d2b8c1a79"
    })
}

struct Fixture {
    pkcs8: Vec<u8>,
    pair: Ed25519KeyPair,
    header: Header,
    token: String,
}

fn fixture() -> Fixture {
    signet_guard::crypto::install();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec();
    let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Jwk::ed25519(pair.public_key().as_ref()).kid;
    let token =
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_ed_der(&pkcs8)).unwrap();
    Fixture {
        pkcs8,
        pair,
        header,
        token,
    }
}

fn verify(c: &mut Criterion) {
    let f = fixture();
    let public = f.pair.public_key().as_ref().to_vec();
    let (input, sig_b64) = f.token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
    let decoding = DecodingKey::from_ed_der(&public);
    let keys = KeySet::from_jwks(&JwkSet {
        keys: vec![Jwk::ed25519(&public)],
    });
    let validator = Validator::new(ISSUER, AUDIENCE);
    assert!(
        validator
            .validate::<NoCustomClaims>(&f.token, &keys)
            .is_ok()
    );
    println!("token: {} bytes", f.token.len());

    let mut group = c.benchmark_group("verify");
    group.bench_function("ring_bare", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ED25519, black_box(&public))
                .verify(black_box(input.as_bytes()), black_box(&sig))
                .is_ok()
        })
    });
    group.bench_function("jsonwebtoken_crypto_verify", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(
                black_box(sig_b64),
                black_box(input.as_bytes()),
                &decoding,
                Algorithm::EdDSA,
            )
        })
    });
    group.bench_function("validator_validate", |b| {
        b.iter(|| validator.validate::<NoCustomClaims>(black_box(&f.token), &keys))
    });
    let guard_miss = Guard::builder(ISSUER, AUDIENCE)
        .token_cache_capacity(0)
        .build_with_keys(keys.clone());
    group.bench_function("guard_miss", |b| {
        b.iter(|| guard_miss.verify_offline::<NoCustomClaims>(black_box(&f.token)))
    });
    let keys_for_insert = keys.clone();
    let guard = Guard::builder(ISSUER, AUDIENCE).build_with_keys(keys);
    let exp = jsonwebtoken::get_current_timestamp() as i64 + 3600;
    for i in 0..500 {
        guard.revoke_sid(&format!("revoked-session-{i}"), exp);
        guard.revoke_jti(&format!("revoked-token-{i}"), exp);
    }
    assert!(guard.verify_offline::<NoCustomClaims>(&f.token).is_ok());
    assert_eq!(guard.status().cached_tokens, 1);
    group.bench_function("guard_cache_hit", |b| {
        b.iter(|| guard.verify_offline::<NoCustomClaims>(black_box(&f.token)))
    });
    let fresh = Guard::builder(ISSUER, AUDIENCE).build_with_keys(keys_for_insert);
    let encoding = EncodingKey::from_ed_der(&f.pkcs8);
    let mut counter = 0u64;
    group.bench_function("guard_miss_then_insert", |b| {
        b.iter_batched(
            || {
                counter += 1;
                let mut body = claims();
                body["jti"] = json!(format!("bench-{counter}"));
                jsonwebtoken::encode(&f.header, &body, &encoding).unwrap()
            },
            |token| fresh.verify_offline::<NoCustomClaims>(&token),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("sha256_token", |b| {
        b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(f.token.as_bytes())))
    });
    group.finish();
}

fn sign(c: &mut Criterion) {
    let f = fixture();
    let encoding = EncodingKey::from_ed_der(&f.pkcs8);
    let body = claims();
    let (input, _) = f.token.rsplit_once('.').unwrap();

    let mut group = c.benchmark_group("sign");
    group.bench_function("jsonwebtoken_encode_cached", |b| {
        b.iter(|| jsonwebtoken::encode(&f.header, black_box(&body), &encoding))
    });
    group.bench_function("ring_sign", |b| {
        b.iter(|| f.pair.sign(black_box(input.as_bytes())))
    });
    group.bench_function("ring_parse_and_sign", |b| {
        b.iter(|| {
            let pair = Ed25519KeyPair::from_pkcs8(black_box(&f.pkcs8)).unwrap();
            pair.sign(black_box(input.as_bytes()))
        })
    });
    group.finish();
}

fn layer(c: &mut Criterion) {
    use axum::body::Body;
    use axum::http::Request;
    use signet_guard::GuardLayer;
    use signet_guard::axum::cookies::{ACCESS_COOKIE, CSRF_COOKIE, claim_for};
    use tower::ServiceExt as _;

    let f = fixture();
    let csrf = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";
    let mut body = claims();
    body["signet_csrf"] = json!(claim_for(csrf));
    let token =
        jsonwebtoken::encode(&f.header, &body, &EncodingKey::from_ed_der(&f.pkcs8)).unwrap();
    let keys = KeySet::from_jwks(&JwkSet {
        keys: vec![Jwk::ed25519(f.pair.public_key().as_ref())],
    });
    let guard = Guard::builder(ISSUER, AUDIENCE)
        .cookies(true)
        .build_with_keys(keys);
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { "ok" }).post(|| async { "ok" }),
        )
        .layer(GuardLayer::new(guard));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cookie = format!("{ACCESS_COOKIE}={token}; {CSRF_COOKIE}={csrf}");
    let bearer = format!("Bearer {token}");
    type MakeRequest<'a> = Box<dyn Fn() -> Request<Body> + 'a>;
    let requests: [(&str, MakeRequest); 3] = [
        (
            "bearer_get",
            Box::new(|| {
                Request::get("/")
                    .header("authorization", &bearer)
                    .body(Body::empty())
                    .unwrap()
            }),
        ),
        (
            "cookie_get",
            Box::new(|| {
                Request::get("/")
                    .header("cookie", &cookie)
                    .body(Body::empty())
                    .unwrap()
            }),
        ),
        (
            "cookie_post_csrf",
            Box::new(|| {
                Request::post("/")
                    .header("cookie", &cookie)
                    .header("origin", ISSUER)
                    .header("sec-fetch-site", "same-origin")
                    .header("x-csrf-token", csrf)
                    .body(Body::empty())
                    .unwrap()
            }),
        ),
    ];
    let mut group = c.benchmark_group("layer");
    for (name, request) in &requests {
        let status = runtime
            .block_on(app.clone().oneshot(request()))
            .unwrap()
            .status();
        assert_eq!(status, 200, "{name}");
        group.bench_function(*name, |b| {
            b.iter(|| runtime.block_on(app.clone().oneshot(request())))
        });
    }
    group.finish();
}

criterion_group!(benches, verify, sign, layer);
criterion_main!(benches);
