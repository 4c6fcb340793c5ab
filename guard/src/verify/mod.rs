//! Offline validation of Signet access tokens (RFC 9068, RFC 8725).
//!
//! Nothing here locks or allocates beyond the decoded header and claims:
//! a [`Validator`] and a [`KeySet`] are immutable and shared freely across
//! threads, so the cost per token is essentially one signature verification.

mod claims;
mod error;
mod header;
mod keys;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use serde::de::DeserializeOwned;

pub use claims::{Audience, Claims, NoCustomClaims};
pub use error::TokenError;
use header::Header;
pub(crate) use keys::KeyId;
pub use keys::KeySet;
use keys::VerifyKey;

/// Clock skew tolerated by default on `exp`, `nbf` and `iat`. Public so an
/// issuer can keep revocations at least this long past their `exp`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// Validates access tokens for one issuer and one audience.
#[derive(Clone, Debug)]
pub struct Validator {
    issuer: String,
    audience: String,
    leeway_secs: i64,
    max_token_len: usize,
    /// Longest accepted `exp - iat`; `None` accepts any.
    max_lifetime_secs: Option<i64>,
}

impl Validator {
    /// `issuer` must equal the tokens' `iss` exactly; `audience` must be
    /// among their `aud`.
    ///
    /// Installs the ring provider for jsonwebtoken unless the host installed
    /// one already, so validation never hits jsonwebtoken's panicking default.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        crate::crypto::install();
        Validator {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: secs(DEFAULT_LEEWAY),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            max_lifetime_secs: None,
        }
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway_secs = secs(leeway);
        self
    }

    /// Longer tokens are refused before any decoding (default 8 KiB).
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// Tokens whose `exp - iat` exceeds `max` are refused
    /// ([`TokenError::LifetimeTooLong`]), so a key thief cannot mint a token
    /// that outlives the key's withdrawal by months. No limit by default
    /// here; the [`Guard`](crate::Guard) sets one.
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime_secs = Some(secs(max));
        self
    }

    /// The size limit applied before any decoding.
    pub fn token_len_limit(&self) -> usize {
        self.max_token_len
    }

    /// The clock skew tolerated on `exp`, `nbf` and `iat`.
    pub fn leeway_secs(&self) -> i64 {
        self.leeway_secs
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Validates `token` against `keys` and returns its claims.
    ///
    /// Checks run cheapest first: size, shape, header (type, forbidden
    /// members, algorithm, key), signature, then claims. Claims are parsed
    /// only after the signature holds.
    pub fn validate<C: DeserializeOwned>(
        &self,
        token: &str,
        keys: &KeySet,
    ) -> Result<Claims<C>, TokenError> {
        self.validate_keyed(token, keys, unix_now())
            .map(|(claims, _)| claims)
    }

    /// [`validate`](Self::validate), also naming the key that verified it.
    pub(crate) fn validate_keyed<C: DeserializeOwned>(
        &self,
        token: &str,
        keys: &KeySet,
        now: i64,
    ) -> Result<(Claims<C>, KeyId), TokenError> {
        if token.len() > self.max_token_len {
            return Err(TokenError::TooLarge);
        }
        let parts = Parts::split(token)?;
        let key = Header::decode(parts.header)?.select_key(keys)?;
        verify_signature(&parts, key)?;
        let claims: Claims<C> = decode_claims(parts.payload)?;
        self.check_claims(&claims, now)?;
        Ok((claims, key.id.clone()))
    }

    fn check_claims<C>(&self, claims: &Claims<C>, now: i64) -> Result<(), TokenError> {
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if !claims.aud.contains(&self.audience) {
            return Err(TokenError::WrongAudience);
        }
        if claims.exp <= now.saturating_sub(self.leeway_secs) {
            return Err(TokenError::Expired);
        }
        let horizon = now.saturating_add(self.leeway_secs);
        if claims.nbf.is_some_and(|nbf| nbf > horizon) {
            return Err(TokenError::NotYetValid);
        }
        if claims.iat > horizon {
            return Err(TokenError::IssuedInFuture);
        }
        if self
            .max_lifetime_secs
            .is_some_and(|max| claims.exp.saturating_sub(claims.iat) > max)
        {
            return Err(TokenError::LifetimeTooLong);
        }
        Ok(())
    }
}

/// The `kid` of a token's header, without verifying anything.
///
/// For key-set caches: on [`TokenError::UnknownKey`] they decide from the kid
/// whether a refetch is worthwhile. Never use the result as a trust decision.
pub fn header_kid(token: &str) -> Result<String, TokenError> {
    let parts = Parts::split(token)?;
    Header::decode(parts.header)?.kid().map(str::to_owned)
}

/// The three segments of a compact JWS.
struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'a str,
}

impl<'a> Parts<'a> {
    fn split(token: &'a str) -> Result<Self, TokenError> {
        let mut dots = token.match_indices('.').map(|(i, _)| i);
        let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
            return Err(TokenError::Malformed);
        };
        Ok(Parts {
            header: &token[..first],
            payload: &token[first + 1..second],
            signature: &token[second + 1..],
            signing_input: &token[..second],
        })
    }
}

/// Verifies through jsonwebtoken, so whichever provider the process installed
/// (ring by default) does the cryptography, with the key's own algorithm.
fn verify_signature(parts: &Parts<'_>, key: &VerifyKey) -> Result<(), TokenError> {
    let message = parts.signing_input.as_bytes();
    match jsonwebtoken::crypto::verify(parts.signature, message, &key.key, key.alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err(TokenError::BadSignature),
        Err(e) if matches!(e.kind(), ErrorKind::Base64(_)) => Err(TokenError::Malformed),
        Err(_) => Err(TokenError::BadSignature),
    }
}

fn decode_claims<C: DeserializeOwned>(segment: &str) -> Result<Claims<C>, TokenError> {
    let json = b64_decode(segment)?;
    from_json_object(&json).ok_or(TokenError::InvalidClaims)
}

/// Parses a JSON object. serde's derived structs would also accept an array
/// (fields by position); JOSE headers and claim sets are objects only.
fn from_json_object<T: DeserializeOwned>(json: &[u8]) -> Option<T> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(json).ok()
}

/// Strict base64url: no padding, no other alphabet, canonical trailing bits.
fn b64_decode(segment: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed)
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_requires_exactly_three_parts() {
        assert!(Parts::split("a.b.c").is_ok());
        assert!(Parts::split("a.b").is_err());
        assert!(Parts::split("a.b.c.d").is_err());
        assert!(Parts::split("abc").is_err());
        let p = Parts::split("h.p.s").unwrap();
        assert_eq!(
            (p.header, p.payload, p.signature, p.signing_input),
            ("h", "p", "s", "h.p")
        );
    }

    #[test]
    fn leeway_bounds() {
        let v = Validator::new("i", "a");
        let claims = |exp, nbf, iat| Claims::<NoCustomClaims> {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp,
            iat,
            nbf,
            jti: "j".into(),
            scope: String::new(),
            client_id: "c".into(),
            sid: None,
            auth_time: None,
            amr: None,
            custom: NoCustomClaims {},
        };
        let now = 1_000_000;
        assert_eq!(
            v.check_claims(&claims(now - 29, None, now - 100), now),
            Ok(())
        );
        assert_eq!(
            v.check_claims(&claims(now - 30, None, now - 100), now),
            Err(TokenError::Expired)
        );
        assert_eq!(
            v.check_claims(&claims(now + 60, Some(now + 30), now), now),
            Ok(())
        );
        assert_eq!(
            v.check_claims(&claims(now + 60, Some(now + 31), now), now),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            v.check_claims(&claims(now + 60, None, now + 30), now),
            Ok(())
        );
        assert_eq!(
            v.check_claims(&claims(now + 60, None, now + 31), now),
            Err(TokenError::IssuedInFuture)
        );
        let capped = v.clone().max_lifetime(Duration::from_secs(3600));
        assert_eq!(
            capped.check_claims(&claims(now + 3600, None, now), now),
            Ok(())
        );
        assert_eq!(
            capped.check_claims(&claims(now + 3601, None, now), now),
            Err(TokenError::LifetimeTooLong)
        );
        let strict = v.leeway(Duration::ZERO);
        assert_eq!(
            strict.check_claims(&claims(now, None, now), now),
            Err(TokenError::Expired)
        );
        assert_eq!(
            strict.check_claims(&claims(i64::MIN, None, i64::MIN), i64::MIN),
            Err(TokenError::Expired)
        );
    }
}
