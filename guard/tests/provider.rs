//! The ring provider against jsonwebtoken's public API, and against ring
//! itself, so a round trip cannot pass merely by being self-consistent.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{AlgorithmParameters, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

const RSA_PEM: &[u8] = include_bytes!("data/rsa2048.pem");
const RSA_PUB_PEM: &[u8] = include_bytes!("data/rsa2048.pub.pem");

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Payload {
    sub: String,
    exp: u64,
}

fn payload() -> Payload {
    Payload {
        sub: "user-1".into(),
        exp: jsonwebtoken::get_current_timestamp() + 600,
    }
}

/// Encodes, decodes, and checks that a tampered token is refused.
fn round_trip(alg: Algorithm, enc: &EncodingKey, dec: &DecodingKey) {
    signet_guard::crypto::install();
    let claims = payload();
    let token = jsonwebtoken::encode(&Header::new(alg), &claims, enc).unwrap();
    let data = jsonwebtoken::decode::<Payload>(&token, dec, &Validation::new(alg)).unwrap();
    assert_eq!(data.claims, claims);

    let (head, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","exp":99999999999}"#);
    let tampered = format!("{head}.{forged}.{signature}");
    let err = jsonwebtoken::decode::<Payload>(&tampered, dec, &Validation::new(alg)).unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
}

fn split_signature(token: &str) -> (&str, Vec<u8>) {
    let (input, signature) = token.rsplit_once('.').unwrap();
    (input, URL_SAFE_NO_PAD.decode(signature).unwrap())
}

fn pem_body(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).unwrap()
}

#[test]
fn install_is_idempotent() {
    signet_guard::crypto::install();
    signet_guard::crypto::install();
}

#[test]
fn eddsa_round_trip_and_ring_interop() {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let enc = EncodingKey::from_ed_der(pkcs8.as_ref());
    let dec = DecodingKey::from_ed_der(pair.public_key().as_ref());
    round_trip(Algorithm::EdDSA, &enc, &dec);

    // The provider's signature verifies with bare ring...
    let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &payload(), &enc).unwrap();
    let (input, signature) = split_signature(&token);
    UnparsedPublicKey::new(&sig::ED25519, pair.public_key())
        .verify(input.as_bytes(), &signature)
        .unwrap();
    // ...and bare ring's signature verifies through the provider.
    let ring_sig = URL_SAFE_NO_PAD.encode(pair.sign(b"abc.def"));
    assert!(jsonwebtoken::crypto::verify(&ring_sig, b"abc.def", &dec, Algorithm::EdDSA).unwrap());
    assert!(!jsonwebtoken::crypto::verify(&ring_sig, b"abc.deg", &dec, Algorithm::EdDSA).unwrap());
}

#[test]
fn eddsa_accepts_pkcs8_v1_as_openssl_writes() {
    signet_guard::crypto::install();
    let seed = [42u8; 32];
    let mut v1 = hex_bytes("302e020100300506032b657004220420");
    v1.extend_from_slice(&seed);
    let public = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let signed = jsonwebtoken::crypto::sign(b"m", &EncodingKey::from_ed_der(&v1), Algorithm::EdDSA);
    let signature = URL_SAFE_NO_PAD.decode(signed.unwrap()).unwrap();
    UnparsedPublicKey::new(&sig::ED25519, public.public_key())
        .verify(b"m", &signature)
        .unwrap();
}

#[test]
fn ecdsa_round_trips_and_ring_interop() {
    let rng = SystemRandom::new();
    for (alg, signing, verifying) in [
        (
            Algorithm::ES256,
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &sig::ECDSA_P256_SHA256_FIXED,
        ),
        (
            Algorithm::ES384,
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            &sig::ECDSA_P384_SHA384_FIXED,
        ),
    ] {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
        let enc = EncodingKey::from_ec_der(pkcs8.as_ref());
        let dec = DecodingKey::from_ec_der(pair.public_key().as_ref());
        round_trip(alg, &enc, &dec);

        let token = jsonwebtoken::encode(&Header::new(alg), &payload(), &enc).unwrap();
        let (input, signature) = split_signature(&token);
        UnparsedPublicKey::new(verifying, pair.public_key())
            .verify(input.as_bytes(), &signature)
            .unwrap();
    }
}

#[test]
fn es256_key_cannot_sign_es384() {
    signet_guard::crypto::install();
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let enc = EncodingKey::from_ec_der(pkcs8.as_ref());
    assert!(jsonwebtoken::encode(&Header::new(Algorithm::ES384), &payload(), &enc).is_err());
}

#[test]
fn rsa_round_trips_from_pem() {
    let enc = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    let dec = DecodingKey::from_rsa_pem(RSA_PUB_PEM).unwrap();
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        round_trip(alg, &enc, &dec);
    }
}

#[test]
fn rs256_interop_with_ring_and_components() {
    signet_guard::crypto::install();
    let pk8 = pem_body(RSA_PEM);
    let pair = sig::RsaKeyPair::from_pkcs8(&pk8).unwrap();
    // PKCS#8 DER handed straight to jsonwebtoken also signs.
    let enc = EncodingKey::from_rsa_der(&pk8);
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &payload(), &enc).unwrap();
    let (input, signature) = split_signature(&token);
    let components = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    components
        .verify(
            &sig::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &signature,
        )
        .unwrap();
    // Verification from (n, e), as a JWK provides them.
    let dec = DecodingKey::from_rsa_raw_components(&components.n, &components.e);
    let data = jsonwebtoken::decode::<Payload>(&token, &dec, &Validation::new(Algorithm::RS256));
    assert!(data.is_ok());
}

#[test]
fn hmac_round_trip() {
    let secret = b"a-shared-secret-of-reasonable-length";
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        round_trip(
            alg,
            &EncodingKey::from_secret(secret),
            &DecodingKey::from_secret(secret),
        );
    }
}

#[test]
fn key_utils_build_jwks_matching_ring_and_our_thumbprints() {
    signet_guard::crypto::install();
    // RSA: private DER -> (n, e) via the provider; thumbprint via its digest.
    let enc = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, Algorithm::RS256).unwrap();
    let AlgorithmParameters::RSA(params) = &jwk.algorithm else {
        panic!("not RSA")
    };
    let pair = sig::RsaKeyPair::from_pkcs8(&pem_body(RSA_PEM)).unwrap();
    let c = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    assert_eq!(URL_SAFE_NO_PAD.decode(&params.n).unwrap(), c.n);
    assert_eq!(URL_SAFE_NO_PAD.decode(&params.e).unwrap(), c.e);
    let ours = signet_guard::Jwk::rsa(&c.n, &c.e);
    assert_eq!(jwk.thumbprint(ThumbprintHash::SHA256).ok(), ours.kid);

    // RSA public DER (PKCS#1) -> (n, e).
    let dec = DecodingKey::from_rsa_pem(RSA_PUB_PEM).unwrap();
    let jwk = jsonwebtoken::jwk::Jwk::from_decoding_key(&dec, None).unwrap();
    let AlgorithmParameters::RSA(public) = &jwk.algorithm else {
        panic!("not RSA")
    };
    assert_eq!((&public.n, &public.e), (&params.n, &params.e));

    // EC: private PKCS#8 -> (x, y).
    let rng = SystemRandom::new();
    let alg = &sig::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let enc = EncodingKey::from_ec_der(pkcs8.as_ref());
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
    let ours = signet_guard::Jwk::p256(pair.public_key().as_ref()).unwrap();
    let AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm else {
        panic!("not EC")
    };
    assert_eq!(
        (Some(&ec.x), Some(&ec.y)),
        (ours.x.as_ref(), ours.y.as_ref())
    );
    assert_eq!(jwk.thumbprint(ThumbprintHash::SHA256).ok(), ours.kid);
}

#[test]
fn key_utils_ed25519_from_v1_private_key() {
    signet_guard::crypto::install();
    let seed = [7u8; 32];
    let mut v1 = hex_bytes("302e020100300506032b657004220420");
    v1.extend_from_slice(&seed);
    let enc = EncodingKey::from_ed_der(&v1);
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, Algorithm::EdDSA).unwrap();
    let AlgorithmParameters::OctetKeyPair(okp) = &jwk.algorithm else {
        panic!("not OKP")
    };
    let public = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    assert_eq!(okp.x, URL_SAFE_NO_PAD.encode(public.public_key()));
}

#[test]
fn wrong_key_family_is_refused() {
    signet_guard::crypto::install();
    // An RSA public key presented as an HMAC secret must not verify anything.
    let dec = DecodingKey::from_rsa_pem(RSA_PUB_PEM).unwrap();
    let result = jsonwebtoken::crypto::verify("AAAA", b"x.y", &dec, Algorithm::HS256);
    assert!(result.is_err());
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
