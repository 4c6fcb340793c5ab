//! `Validator::validate` against well-formed tokens and the known attack
//! classes on JWT validators (RFC 8725 §2). Attack tokens are signed with the
//! trusted key wherever possible, so only the check under test can refuse them.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_guard::verify::header_kid;
use signet_guard::{Audience, Claims, Jwk, JwkSet, KeySet, NoCustomClaims, TokenError, Validator};

const ISSUER: &str = "https://signet.example.com";
const AUDIENCE: &str = "orders-api";

/// An Ed25519 signing key with its JWK.
struct TestKey {
    pair: Ed25519KeyPair,
    jwk: Jwk,
}

impl TestKey {
    fn new() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = Jwk::ed25519(pair.public_key().as_ref());
        TestKey { pair, jwk }
    }

    fn kid(&self) -> String {
        self.jwk.kid.clone().unwrap()
    }

    fn keys(&self) -> KeySet {
        KeySet::from_jwks(&JwkSet {
            keys: vec![self.jwk.clone()],
        })
    }

    fn header(&self) -> Value {
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": self.kid()})
    }

    /// A correctly signed token with arbitrary header and claims.
    fn mint(&self, header: &Value, claims: &Value) -> String {
        mint_with(header, claims, |input| {
            self.pair.sign(input).as_ref().to_vec()
        })
    }

    fn good_token(&self) -> String {
        self.mint(&self.header(), &claims())
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn mint_with(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

fn claims() -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "sub": "0190f3c4-7b1e-7cc0-9a4e-3f5d2b8c1a77",
        "aud": AUDIENCE,
        "exp": now + 900,
        "iat": now,
        "nbf": now,
        "jti": "0190f3c4-7b1e-7cc0-9a4e-3f5d2b8c1a78",
        "scope": "orders:read orders:write",
        "client_id": "web",
        "sid": "0190f3c4-7b1e-7cc0-9a4e-3f5d2b8c1a79"
    })
}

fn with(mut value: Value, key: &str, member: Value) -> Value {
    value[key] = member;
    value
}

fn without(mut value: Value, key: &str) -> Value {
    value.as_object_mut().unwrap().remove(key);
    value
}

fn validator() -> Validator {
    Validator::new(ISSUER, AUDIENCE)
}

fn check(token: &str, keys: &KeySet) -> Result<Claims, TokenError> {
    validator().validate::<NoCustomClaims>(token, keys)
}

// --- happy paths -----------------------------------------------------------

#[test]
fn accepts_a_good_token() {
    let key = TestKey::new();
    let claims = check(&key.good_token(), &key.keys()).unwrap();
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, Audience::One(AUDIENCE.into()));
    assert_eq!(claims.client_id, "web");
    assert!(claims.sid.is_some() && claims.nbf.is_some());
    assert!(claims.has_scope("orders:write") && !claims.has_scope("admin"));
}

#[derive(Deserialize, Debug, PartialEq)]
struct Tenant {
    tenant: String,
    roles: Vec<String>,
}

#[test]
fn custom_claims_and_audience_array() {
    let key = TestKey::new();
    let mut body = with(claims(), "aud", json!(["billing", AUDIENCE]));
    body["tenant"] = json!("acme");
    body["roles"] = json!(["owner"]);
    let body = without(without(body, "sid"), "nbf");
    let token = key.mint(&key.header(), &body);
    let claims = validator().validate::<Tenant>(&token, &key.keys()).unwrap();
    assert_eq!(
        claims.custom,
        Tenant {
            tenant: "acme".into(),
            roles: vec!["owner".into()]
        }
    );
    assert_eq!(claims.aud.iter().collect::<Vec<_>>(), ["billing", AUDIENCE]);
    assert_eq!((claims.sid, claims.nbf), (None, None));

    // The custom struct's own fields are required too.
    let bare = key.good_token();
    assert_eq!(
        validator()
            .validate::<Tenant>(&bare, &key.keys())
            .unwrap_err(),
        TokenError::InvalidClaims
    );
}

#[test]
fn typ_with_media_type_prefix_is_accepted() {
    let key = TestKey::new();
    let token = key.mint(
        &with(key.header(), "typ", json!("application/AT+JWT")),
        &claims(),
    );
    assert!(check(&token, &key.keys()).is_ok());
}

#[test]
fn es256_and_rs256_keys_from_jwks() {
    signet_guard::crypto::install();
    let rng = SystemRandom::new();
    let alg = &sig::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let ec_jwk = Jwk::p256(ec.public_key().as_ref()).unwrap();

    let rsa_pem = include_bytes!("data/rsa2048.pem");
    let rsa_enc = jsonwebtoken::EncodingKey::from_rsa_pem(rsa_pem).unwrap();
    let rsa_jwk_jt =
        jsonwebtoken::jwk::Jwk::from_encoding_key(&rsa_enc, jsonwebtoken::Algorithm::RS256);
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(p) = rsa_jwk_jt.unwrap().algorithm else {
        panic!("not RSA")
    };
    let rsa_jwk = Jwk::rsa(
        &URL_SAFE_NO_PAD.decode(&p.n).unwrap(),
        &URL_SAFE_NO_PAD.decode(&p.e).unwrap(),
    );

    let keys = KeySet::from_jwks(&JwkSet {
        keys: vec![ec_jwk.clone(), rsa_jwk.clone()],
    });
    assert_eq!(keys.len(), 2);
    for (alg, kid, enc) in [
        (
            jsonwebtoken::Algorithm::ES256,
            ec_jwk.kid.unwrap(),
            jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
        ),
        (
            jsonwebtoken::Algorithm::RS256,
            rsa_jwk.kid.unwrap(),
            rsa_enc.clone(),
        ),
    ] {
        let mut header = jsonwebtoken::Header::new(alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&header, &claims(), &enc).unwrap();
        assert!(check(&token, &keys).is_ok(), "{alg:?}");
        // The same key under another algorithm of its family is refused.
        let other = if alg == jsonwebtoken::Algorithm::RS256 {
            "PS256"
        } else {
            "ES384"
        };
        let (_, rest) = token.split_once('.').unwrap();
        let header = json!({"alg": other, "typ": "at+jwt", "kid": kid});
        let forged = format!("{}.{rest}", b64(header.to_string().as_bytes()));
        assert_eq!(
            check(&forged, &keys).unwrap_err(),
            TokenError::AlgorithmMismatch
        );
    }
}

#[test]
fn keyset_from_published_json() {
    let key = TestKey::new();
    let mut published = serde_json::to_value(JwkSet {
        keys: vec![key.jwk.clone()],
    })
    .unwrap();
    published["keys"][0]["key_ops"] = json!(["verify"]);
    published["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}));
    let set: JwkSet = serde_json::from_value(published).unwrap();
    let keys = KeySet::from_jwks(&set);
    assert_eq!(keys.len(), 1);
    assert!(keys.contains(&key.kid()) && !keys.contains("hmac"));
    assert!(check(&key.good_token(), &keys).is_ok());
}

// --- algorithm attacks ------------------------------------------------------

#[test]
fn alg_none_in_any_spelling_is_refused() {
    let key = TestKey::new();
    for alg in ["none", "None", "NONE"] {
        let header = with(key.header(), "alg", json!(alg));
        let unsigned = mint_with(&header, &claims(), |_| Vec::new());
        assert_eq!(
            check(&unsigned, &key.keys()).unwrap_err(),
            TokenError::AlgorithmMismatch,
            "{alg}"
        );
        // Even with a valid EdDSA signature over the same bytes.
        let signed = key.mint(&header, &claims());
        assert_eq!(
            check(&signed, &key.keys()).unwrap_err(),
            TokenError::AlgorithmMismatch,
            "{alg}"
        );
        // And without a kid (the classic form).
        let bare = mint_with(&without(header, "kid"), &claims(), |_| Vec::new());
        assert!(check(&bare, &key.keys()).is_err(), "{alg}");
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let key = TestKey::new();
    let header = with(key.header(), "alg", json!("HS256"));
    let public = key.pair.public_key().as_ref().to_vec();
    let x = key.jwk.x.clone().unwrap().into_bytes();
    let jwk_json = serde_json::to_vec(&key.jwk).unwrap();
    for secret in [public, x, jwk_json] {
        let token = mint_with(&header, &claims(), |input| {
            let mac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
            ring::hmac::sign(&mac_key, input).as_ref().to_vec()
        });
        assert_eq!(
            check(&token, &key.keys()).unwrap_err(),
            TokenError::AlgorithmMismatch
        );
    }
}

#[test]
fn alg_other_than_the_keys_is_refused() {
    let key = TestKey::new();
    for alg in ["ES256", "RS256", "PS256", "eddsa", "Ed25519", ""] {
        let token = key.mint(&with(key.header(), "alg", json!(alg)), &claims());
        assert_eq!(
            check(&token, &key.keys()).unwrap_err(),
            TokenError::AlgorithmMismatch,
            "{alg}"
        );
    }
    let token = key.mint(&without(key.header(), "alg"), &claims());
    assert_eq!(
        check(&token, &key.keys()).unwrap_err(),
        TokenError::Malformed
    );
}

// --- header attacks ---------------------------------------------------------

#[test]
fn embedded_keys_and_key_urls_are_refused() {
    let key = TestKey::new();
    let attacker = TestKey::new();
    let members = [
        ("jwk", serde_json::to_value(&attacker.jwk).unwrap()),
        ("jku", json!("https://evil.example/jwks.json")),
        ("x5u", json!("https://evil.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
        ("crit", json!([])),
    ];
    for (name, value) in members {
        // Signed by the trusted key: only the header check can refuse it.
        let token = key.mint(&with(key.header(), name, value.clone()), &claims());
        assert_eq!(
            check(&token, &key.keys()).unwrap_err(),
            TokenError::ForbiddenHeader,
            "{name}"
        );
    }
    // The embedded-key attack proper: signed by the key it carries.
    let header = with(
        key.header(),
        "jwk",
        serde_json::to_value(&attacker.jwk).unwrap(),
    );
    let token = attacker.mint(&header, &claims());
    assert_eq!(
        check(&token, &key.keys()).unwrap_err(),
        TokenError::ForbiddenHeader
    );
}

#[test]
fn unknown_and_missing_kid() {
    let key = TestKey::new();
    let other = TestKey::new();
    let token = other.good_token();
    assert_eq!(
        check(&token, &key.keys()).unwrap_err(),
        TokenError::UnknownKey
    );
    assert_eq!(header_kid(&token).unwrap(), other.kid());

    let token = key.mint(&without(key.header(), "kid"), &claims());
    assert_eq!(
        check(&token, &key.keys()).unwrap_err(),
        TokenError::MissingKeyId
    );
    assert_eq!(header_kid(&token).unwrap_err(), TokenError::MissingKeyId);
    assert_eq!(header_kid("a.b").unwrap_err(), TokenError::Malformed);
}

#[test]
fn kid_of_trusted_key_but_signed_by_another_key() {
    let key = TestKey::new();
    let attacker = TestKey::new();
    let token = attacker.mint(&key.header(), &claims());
    assert_eq!(
        check(&token, &key.keys()).unwrap_err(),
        TokenError::BadSignature
    );
}

#[test]
fn wrong_or_missing_typ_is_refused() {
    let key = TestKey::new();
    for typ in [
        json!("JWT"),
        json!("application/jwt"),
        json!("at+jwt+x"),
        json!(1),
    ] {
        let token = key.mint(&with(key.header(), "typ", typ.clone()), &claims());
        let err = check(&token, &key.keys()).unwrap_err();
        assert!(
            matches!(err, TokenError::UnsupportedType | TokenError::Malformed),
            "{typ}: {err:?}"
        );
    }
    let token = key.mint(&with(key.header(), "typ", json!("JWT")), &claims());
    assert_eq!(
        check(&token, &key.keys()).unwrap_err(),
        TokenError::UnsupportedType
    );
    let token = key.mint(&without(key.header(), "typ"), &claims());
    assert_eq!(
        check(&token, &key.keys()).unwrap_err(),
        TokenError::UnsupportedType
    );
}

// --- signature and structure ------------------------------------------------

#[test]
fn stripped_signature_is_refused() {
    let key = TestKey::new();
    let token = key.good_token();
    let (input, _) = token.rsplit_once('.').unwrap();
    assert_eq!(
        check(&format!("{input}."), &key.keys()).unwrap_err(),
        TokenError::BadSignature
    );
    assert_eq!(
        check(input, &key.keys()).unwrap_err(),
        TokenError::Malformed
    );
}

#[test]
fn tampered_payload_is_refused() {
    let key = TestKey::new();
    let token = key.good_token();
    let parts: Vec<&str> = token.split('.').collect();
    let forged = b64(with(claims(), "scope", json!("admin"))
        .to_string()
        .as_bytes());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_eq!(
        check(&tampered, &key.keys()).unwrap_err(),
        TokenError::BadSignature
    );
    // A single flipped bit in the signature, too.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
    assert_eq!(
        check(&flipped, &key.keys()).unwrap_err(),
        TokenError::BadSignature
    );
}

#[test]
fn wrong_number_of_parts() {
    let key = TestKey::new();
    let token = key.good_token();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(
        check(&format!("{}.{}", parts[0], parts[1]), &key.keys()).unwrap_err(),
        TokenError::Malformed
    );
    assert_eq!(
        check(&format!("{token}.{}", parts[2]), &key.keys()).unwrap_err(),
        TokenError::Malformed
    );
    assert_eq!(
        check(&format!("{token}."), &key.keys()).unwrap_err(),
        TokenError::Malformed
    );
    assert_eq!(check("", &key.keys()).unwrap_err(), TokenError::Malformed);
}

#[test]
fn garbage_base64_is_refused() {
    let key = TestKey::new();
    let token = key.good_token();
    let parts: Vec<&str> = token.split('.').collect();
    let cases = [
        format!("!!!.{}.{}", parts[1], parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]), // padding
        format!("{}.{}.{}*", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"[]"), parts[1], parts[2]),
    ];
    for token in cases {
        assert_eq!(
            check(&token, &key.keys()).unwrap_err(),
            TokenError::Malformed,
            "{token}"
        );
    }
}

#[test]
fn oversized_token_is_refused_before_decoding() {
    let key = TestKey::new();
    let token = key.mint(
        &key.header(),
        &with(claims(), "pad", json!("x".repeat(9000))),
    );
    assert_eq!(
        check(&token, &key.keys()).unwrap_err(),
        TokenError::TooLarge
    );
    // The same token passes once the limit allows it: size was the only fault.
    let roomy = validator().max_token_len(16 * 1024);
    assert!(
        roomy
            .validate::<NoCustomClaims>(&token, &key.keys())
            .is_ok()
    );
    // Garbage of the same size is refused for its size, not its content.
    assert_eq!(
        check(&"!".repeat(9000), &key.keys()).unwrap_err(),
        TokenError::TooLarge
    );
}

// --- claims -------------------------------------------------------------------

#[test]
fn wrong_issuer_and_audience() {
    let key = TestKey::new();
    let mint = |c: Value| key.mint(&key.header(), &c);
    let cases = [
        (
            with(claims(), "iss", json!("https://evil.example.com")),
            TokenError::WrongIssuer,
        ),
        (
            with(claims(), "iss", json!(format!("{ISSUER}/"))),
            TokenError::WrongIssuer,
        ),
        (
            with(claims(), "aud", json!("other-api")),
            TokenError::WrongAudience,
        ),
        (
            with(claims(), "aud", json!(["a", "b"])),
            TokenError::WrongAudience,
        ),
        (with(claims(), "aud", json!([])), TokenError::WrongAudience),
        (with(claims(), "aud", json!(5)), TokenError::InvalidClaims),
        (
            with(claims(), "aud", json!([AUDIENCE, 5])),
            TokenError::InvalidClaims,
        ),
        (without(claims(), "aud"), TokenError::InvalidClaims),
        (without(claims(), "iss"), TokenError::InvalidClaims),
    ];
    for (body, expected) in cases {
        assert_eq!(
            check(&mint(body.clone()), &key.keys()).unwrap_err(),
            expected,
            "{body}"
        );
    }
}

#[test]
fn time_claims() {
    let key = TestKey::new();
    let now = now();
    let mint = |c: Value| key.mint(&key.header(), &c);
    let cases = [
        (with(claims(), "exp", json!(now - 60)), TokenError::Expired),
        (
            with(claims(), "nbf", json!(now + 120)),
            TokenError::NotYetValid,
        ),
        (
            with(claims(), "iat", json!(now + 120)),
            TokenError::IssuedInFuture,
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            check(&mint(body.clone()), &key.keys()).unwrap_err(),
            expected,
            "{body}"
        );
    }
    // Within the default 30 s leeway.
    let body = with(with(claims(), "exp", json!(now - 5)), "iat", json!(now + 5));
    assert!(check(&mint(body.clone()), &key.keys()).is_ok());
    let strict = validator().leeway(Duration::ZERO);
    assert_eq!(
        strict
            .validate::<NoCustomClaims>(&mint(body), &key.keys())
            .unwrap_err(),
        TokenError::Expired
    );
}

#[test]
fn claims_of_the_wrong_type_are_refused_not_ignored() {
    let key = TestKey::new();
    let cases = [
        with(claims(), "exp", json!("9999999999")),
        with(claims(), "nbf", json!("0")),
        with(claims(), "iat", json!("0")),
        with(claims(), "exp", json!(null)),
        with(claims(), "nbf", json!(null)),
        with(claims(), "exp", json!(1.5e10)),
        with(claims(), "sid", json!(7)),
        with(claims(), "scope", json!(["a"])),
        without(claims(), "exp"),
        without(claims(), "iat"),
        without(claims(), "jti"),
        without(claims(), "client_id"),
        without(claims(), "sub"),
        // Positional claims: serde would accept an array for a struct.
        json!([
            ISSUER,
            "s",
            AUDIENCE,
            now() + 900,
            now(),
            now(),
            "j",
            "",
            "web",
            "sid"
        ]),
    ];
    for body in cases {
        let token = key.mint(&key.header(), &body);
        assert_eq!(
            check(&token, &key.keys()).unwrap_err(),
            TokenError::InvalidClaims,
            "{body}"
        );
    }
}

/// STACK.md: jsonwebtoken 9 skipped validation for a string `exp`; 11 must not.
#[test]
fn jsonwebtoken_itself_refuses_string_exp_and_nbf() {
    signet_guard::crypto::install();
    let secret = jsonwebtoken::DecodingKey::from_secret(b"s");
    let enc = jsonwebtoken::EncodingKey::from_secret(b"s");
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_nbf = true;
    validation.validate_aud = false;
    for body in [
        json!({"exp": "9999999999"}),
        json!({"exp": 9999999999u64, "nbf": "0"}),
    ] {
        let token = jsonwebtoken::encode(&header, &body, &enc).unwrap();
        assert!(
            jsonwebtoken::decode::<Value>(&token, &secret, &validation).is_err(),
            "{body}"
        );
    }
    let ok = jsonwebtoken::encode(&header, &json!({"exp": 9999999999u64, "nbf": 0}), &enc).unwrap();
    assert!(jsonwebtoken::decode::<Value>(&ok, &secret, &validation).is_ok());
}

#[test]
fn error_messages_do_not_echo_the_token() {
    let key = TestKey::new();
    let token = key.mint(&with(key.header(), "typ", json!("JWT")), &claims());
    let message = check(&token, &key.keys()).unwrap_err().to_string();
    assert!(!message.contains(&token[..20]) && !message.contains("JWT"));
}
