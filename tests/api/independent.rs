//! Tokens verify with a second JWT implementation (jwt-compact with
//! ed25519-compact) from the published JWKS alone.

use base64::Engine;
use jwt_compact::AlgorithmExt;
use jwt_compact::alg::Ed25519;
use jwt_compact::prelude::*;
use serde::Deserialize;

use crate::common::{TestServer, client};

#[derive(Debug, Deserialize)]
struct Rfc9068 {
    iss: String,
    aud: String,
    sub: String,
    client_id: String,
    jti: String,
}

#[tokio::test]
async fn an_independent_library_verifies_tokens_from_the_jwks() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    let jwks: serde_json::Value = client()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let token = UntrustedToken::new(tokens["access_token"].as_str().unwrap()).unwrap();
    let kid = token.header().key_id.clone().expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the token's key is published");
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap();
    let key = <Ed25519 as jwt_compact::Algorithm>::VerifyingKey::from_slice(&x).unwrap();

    let verified: Token<Rfc9068> = Ed25519.validator(&key).validate(&token).expect("valid");
    verified
        .claims()
        .validate_expiration(&TimeOptions::default())
        .expect("not expired");
    let claims = &verified.claims().custom;
    assert_eq!(claims.iss, server.base);
    assert_eq!(claims.aud, "signet");
    assert_eq!(claims.client_id, "signet");
    assert!(!claims.sub.is_empty() && !claims.jti.is_empty());

    let forged_sig = tokens["access_token"]
        .as_str()
        .unwrap()
        .replacen('.', ".e30", 0);
    let mut bytes = forged_sig.into_bytes();
    let last = bytes.len() - 5;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let tampered = UntrustedToken::new(&tampered).unwrap();
    assert!(
        Ed25519
            .validator::<Rfc9068>(&key)
            .validate(&tampered)
            .is_err()
    );
}
