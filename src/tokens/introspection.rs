//! RFC 7662 token introspection, for resource servers that prefer asking
//! Signet over verifying tokens themselves.

use serde::Serialize;
use serde_json::{Map, Value};
use signet_guard::verify::{Audience, Claims, NoCustomClaims};

use crate::keys::Keys;
use crate::store::StoreError;
use crate::tokens::revocations::Revocations;
use crate::tokens::sessions::Sessions;
use crate::tokens::{access, claims};

/// What introspection reads: the keys, the revocation list and the sessions.
pub struct Introspector<'a> {
    pub issuer: &'a str,
    /// `aud` of user sessions (refresh tokens carry none of their own).
    pub audience: &'a str,
    pub keys: &'a Keys,
    pub revocations: &'a Revocations,
    pub sessions: &'a Sessions,
}

/// The answer: `{"active": false}` exactly, or the token's details.
#[derive(Debug, Default, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The token's custom claims, never one of the names above.
    #[serde(flatten)]
    pub custom: Map<String, Value>,
}

/// RFC 7662 members a custom claim must not shadow, besides the reserved ones.
const INTROSPECTION_MEMBERS: &[&str] = &["active", "token_type", "username"];

/// Introspects either kind of token; they differ in shape, so the hint is
/// not needed. Store failures are errors; anything else about the token is
/// an inactive answer.
impl Introspector<'_> {
    pub async fn introspect(&self, token: &str) -> Result<Introspection, StoreError> {
        if token.contains('.') {
            self.access(token).await
        } else {
            self.refresh(token).await
        }
    }

    /// See [`access::verify_issued`].
    pub fn verify_issued(&self, token: &str) -> Option<Claims<NoCustomClaims>> {
        access::verify_issued(self.issuer, self.keys.current().keyset(), token).ok()
    }

    async fn access(&self, token: &str) -> Result<Introspection, StoreError> {
        let keys = self.keys.current();
        let Ok(claims) =
            access::verify_issued::<Map<String, Value>>(self.issuer, keys.keyset(), token)
        else {
            return Ok(Introspection::default());
        };
        if self
            .revocations
            .is_revoked(&claims.jti, claims.sid.as_deref())
            .await?
        {
            return Ok(Introspection::default());
        }
        Ok(Introspection {
            active: true,
            scope: Some(claims.scope),
            client_id: Some(claims.client_id),
            sub: Some(claims.sub),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            iss: Some(claims.iss),
            aud: Some(claims.aud),
            jti: Some(claims.jti),
            token_type: Some("access_token"),
            sid: claims.sid,
            auth_time: claims.auth_time,
            amr: claims.amr,
            custom: claims
                .custom
                .into_iter()
                .filter(|(name, _)| {
                    !claims::is_reserved(name) && !INTROSPECTION_MEMBERS.contains(&name.as_str())
                })
                .collect(),
        })
    }

    async fn refresh(&self, token: &str) -> Result<Introspection, StoreError> {
        let Some(session) = self.sessions.live_session(token).await? else {
            return Ok(Introspection::default());
        };
        Ok(Introspection {
            active: true,
            scope: Some(session.scope),
            client_id: Some(session.client_id),
            sub: Some(session.user_id),
            exp: Some(session.expires_at),
            iat: Some(if session.generation == 0 {
                session.created_at
            } else {
                session.rotated_ms / 1000
            }),
            iss: Some(self.issuer.to_owned()),
            aud: Some(Audience::One(self.audience.to_owned())),
            token_type: Some("refresh_token"),
            sid: Some(session.id),
            auth_time: Some(session.auth_time),
            ..Introspection::default()
        })
    }
}
