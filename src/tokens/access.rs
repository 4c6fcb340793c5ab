//! RFC 9068 access tokens: compact JWS signed with the active key.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Header;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use signet_guard::verify::{Claims, KeySet, TokenError, Validator};

use crate::clock::SharedClock;
use crate::keys::KeyRing;
use crate::tokens::claims;
use crate::tokens::csrf::CsrfTokens;

/// Media type of RFC 9068 tokens, in the `typ` header.
pub const TOKEN_TYPE: &str = "at+jwt";

/// Who and what a token is for.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    pub sub: String,
    pub aud: String,
    pub scope: String,
    pub client_id: String,
    /// Session of a user token; `None` for client credentials.
    pub sid: Option<String>,
    /// The token never outlives this (the end of its session), so no
    /// revocation is ever needed past a session's end.
    pub not_after: Option<i64>,
    /// Whether the user's email is verified; `None` for client credentials.
    pub email_verified: Option<bool>,
    /// When the user last proved a credential; `None` for client credentials.
    pub auth_time: Option<i64>,
    /// RFC 8176 methods of that authentication; empty for client credentials.
    pub amr: &'static [&'static str],
    /// Custom claims; reserved names among them are never written.
    pub custom: Map<String, Value>,
}

#[derive(Serialize)]
struct SignedClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    scope: &'a str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    /// Binds the session's CSRF token (browser sessions, CONTRACT §9).
    #[serde(skip_serializing_if = "Option::is_none")]
    signet_csrf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    amr: &'a [&'a str],
    #[serde(flatten)]
    custom: Custom<'a>,
}

/// Custom claims without any reserved name, whatever reached the grant:
/// Signet's own claims cannot be duplicated or overridden.
struct Custom<'a>(&'a Map<String, Value>);

impl Serialize for Custom<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.0 {
            if !claims::is_reserved(name) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

/// A signed access token and its lifetime in seconds.
pub struct AccessToken {
    pub token: String,
    pub expires_in: u64,
    pub jti: String,
    pub exp: i64,
}

/// Signing failed: only a broken key can cause this.
#[derive(Debug, thiserror::Error)]
#[error("token signing failed")]
pub struct SignError(#[from] jsonwebtoken::errors::Error);

/// Mints access tokens for one issuer.
pub struct AccessTokens {
    issuer: String,
    ttl: Duration,
    clock: SharedClock,
    csrf: Option<Arc<CsrfTokens>>,
}

impl AccessTokens {
    pub fn new(issuer: String, ttl: Duration, clock: SharedClock) -> Self {
        Self {
            issuer,
            ttl,
            clock,
            csrf: None,
        }
    }

    /// Session tokens also carry the `signet_csrf` claim of their session.
    pub fn with_csrf(mut self, csrf: Arc<CsrfTokens>) -> Self {
        self.csrf = Some(csrf);
        self
    }

    /// `exp` of a token minted at `now`: the configured lifetime, cut at
    /// `not_after`. Lets a caller record the `exp` before minting.
    pub fn expiry(&self, now: i64, not_after: Option<i64>) -> i64 {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        now.saturating_add(ttl).min(not_after.unwrap_or(i64::MAX))
    }

    /// Signs a token for `grant` with the ring's active key.
    pub fn mint(&self, keys: &KeyRing, grant: &Grant) -> Result<AccessToken, SignError> {
        let key = keys.active();
        let mut header = Header::new(key.alg);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid.clone());
        let now = self.clock.now();
        let exp = self.expiry(now, grant.not_after);
        let jti = uuid::Uuid::new_v4().to_string();
        let claims = SignedClaims {
            iss: &self.issuer,
            sub: &grant.sub,
            aud: &grant.aud,
            exp,
            iat: now,
            nbf: now,
            jti: jti.clone(),
            scope: &grant.scope,
            client_id: &grant.client_id,
            sid: grant.sid.as_deref(),
            signet_csrf: grant
                .sid
                .as_deref()
                .zip(self.csrf.as_deref())
                .map(|(sid, csrf)| csrf.claim(sid)),
            email_verified: grant.email_verified,
            auth_time: grant.auth_time,
            amr: grant.amr,
            custom: Custom(&grant.custom),
        };
        let token = jsonwebtoken::encode(&header, &claims, key.encoding_key())?;
        Ok(AccessToken {
            token,
            expires_in: u64::try_from(exp - now).unwrap_or(0),
            jti,
            exp,
        })
    }
}

/// Header and claims as JSON, without any verification: for display, and
/// for choosing how to verify. Never trust what this returns.
pub fn peek(token: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let decode = |part: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&engine.decode(part).ok()?).ok()
    };
    Some((decode(header)?, decode(claims)?))
}

/// The claims of an access token this server issued and that is still
/// valid (signature, issuer, type, times), for any of its audiences. Signet
/// issues tokens for several audiences (users' and each client's), so the
/// audience a token claims is the one it is checked against; whoever asks
/// (a resource server introspecting) decides whether it is their own.
pub fn verify_issued<C: DeserializeOwned>(
    issuer: &str,
    keys: &KeySet,
    token: &str,
) -> Result<Claims<C>, TokenError> {
    let audience = peek(token)
        .and_then(|(_, claims)| claimed_audience(&claims))
        .ok_or(TokenError::Malformed)?;
    Validator::new(issuer, audience).validate(token, keys)
}

fn claimed_audience(claims: &serde_json::Value) -> Option<String> {
    match &claims["aud"] {
        serde_json::Value::String(aud) => Some(aud.clone()),
        serde_json::Value::Array(list) => list.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}
