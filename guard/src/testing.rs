//! Test helpers (feature `test-helpers`): a local Ed25519 issuer that mints
//! Signet-shaped access tokens, and a [`Guard`] that trusts it with no
//! network, so a service can unit-test its handlers without a running Signet.
//!
//! ```
//! use signet_guard::testing::{TestIssuer, TokenClaims};
//!
//! let issuer = TestIssuer::new();
//! let guard = issuer.guard();
//! let token = issuer.mint(TokenClaims::new().sub("alice").scope("orders:read"));
//! let claims = guard.verify_offline::<signet_guard::NoCustomClaims>(&token).unwrap();
//! assert_eq!(claims.sub, "alice");
//! ```

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Map, Value, json};

use crate::builder::GuardBuilder;
use crate::guard::Guard;
use crate::jwk::{Jwk, JwkSet};
use crate::verify::{KeySet, unix_now};

/// Default issuer and audience of [`TestIssuer::new`].
pub const TEST_ISSUER: &str = "https://signet.test";
pub const TEST_AUDIENCE: &str = "signet";

/// A signing key standing in for Signet.
pub struct TestIssuer {
    pair: Ed25519KeyPair,
    jwk: Jwk,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

impl Default for TestIssuer {
    fn default() -> Self {
        Self::new()
    }
}

impl TestIssuer {
    /// A fresh key for [`TEST_ISSUER`] and [`TEST_AUDIENCE`].
    pub fn new() -> Self {
        Self::with(TEST_ISSUER, TEST_AUDIENCE)
    }

    /// A fresh key for the given issuer and audience.
    ///
    /// # Panics
    /// If the system's random generator fails (test helper: nothing to
    /// recover).
    pub fn with(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let rng = SystemRandom::new();
        let pair = Ed25519KeyPair::generate_pkcs8(&rng)
            .ok()
            .and_then(|pkcs8| Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).ok());
        let Some(pair) = pair else {
            panic!("signet-guard TestIssuer: the system random generator failed");
        };
        let jwk = Jwk::ed25519(pair.public_key().as_ref());
        TestIssuer {
            pair,
            jwk,
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The key id tokens carry.
    pub fn kid(&self) -> &str {
        self.jwk.kid.as_deref().unwrap_or_default()
    }

    pub fn jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    /// The JWK Set to publish (e.g. from a stub JWKS endpoint).
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.jwk()],
        }
    }

    pub fn key_set(&self) -> KeySet {
        KeySet::from_jwks(&self.jwks())
    }

    /// A builder preset for this issuer, to add options before
    /// [`GuardBuilder::build_with_keys`].
    pub fn guard_builder(&self) -> GuardBuilder {
        Guard::builder(self.issuer.clone(), self.audience.clone())
    }

    /// A guard trusting this key only; no network, no background task.
    pub fn guard(&self) -> Guard {
        self.guard_builder().build_with_keys(self.key_set())
    }

    /// Signs `claims` as an `at+jwt` with this key. `iss` and `aud` default
    /// to the issuer's, and every other claim Signet sets has a default (see
    /// [`TokenClaims::new`]).
    pub fn mint(&self, claims: TokenClaims) -> String {
        let mut body = claims.claims;
        body.entry("iss").or_insert_with(|| json!(self.issuer));
        body.entry("aud").or_insert_with(|| json!(self.audience));
        let mut header = Map::new();
        header.insert("alg".into(), json!("EdDSA"));
        header.insert("typ".into(), json!("at+jwt"));
        header.insert(
            "kid".into(),
            json!(claims.kid.as_deref().unwrap_or(self.kid())),
        );
        self.sign(&Value::Object(header), &Value::Object(body))
    }

    /// Signs an arbitrary header and body: for tests of refused tokens.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.pair.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// The claims of a token to mint, with Signet's defaults: `sub`
/// `test-user`, `client_id` `test-client`, empty `scope`, a random `jti`,
/// `iat` now, `exp` in 5 minutes, no `sid`.
#[derive(Clone, Debug)]
#[must_use]
pub struct TokenClaims {
    claims: Map<String, Value>,
    kid: Option<String>,
}

impl Default for TokenClaims {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenClaims {
    pub fn new() -> Self {
        let now = unix_now();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("test-user"));
        claims.insert("client_id".into(), json!("test-client"));
        claims.insert("scope".into(), json!(""));
        claims.insert("jti".into(), json!(random_id()));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 300));
        TokenClaims { claims, kid: None }
    }

    /// The subject (named after the claim, not `std::ops::Sub`).
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// Space-separated scopes.
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }

    pub fn sid(self, sid: &str) -> Self {
        self.claim("sid", sid)
    }

    pub fn jti(self, jti: &str) -> Self {
        self.claim("jti", jti)
    }

    pub fn client_id(self, client_id: &str) -> Self {
        self.claim("client_id", client_id)
    }

    pub fn iss(self, iss: &str) -> Self {
        self.claim("iss", iss)
    }

    pub fn aud(self, aud: &str) -> Self {
        self.claim("aud", aud)
    }

    /// `exp` = now + `lifetime`.
    pub fn expires_in(self, lifetime: Duration) -> Self {
        let secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        self.claim("exp", unix_now().saturating_add(secs))
    }

    /// Absolute `exp` (Unix seconds), e.g. in the past.
    pub fn exp(self, exp: i64) -> Self {
        self.claim("exp", exp)
    }

    pub fn nbf(self, nbf: i64) -> Self {
        self.claim("nbf", nbf)
    }

    pub fn iat(self, iat: i64) -> Self {
        self.claim("iat", iat)
    }

    /// Any claim, e.g. a service's custom ones.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim (to test refusals).
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Overrides the header's `kid` (to test unknown keys).
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid = Some(kid.to_owned());
        self
    }

    /// The value of a claim set so far.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }
}

/// 128 random bits, hex (a counter if the random generator fails: only
/// uniqueness matters here).
fn random_id() -> String {
    static FALLBACK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        let n = FALLBACK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&n.to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
