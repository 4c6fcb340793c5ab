//! CSRF tokens of browser sessions (CONTRACT §9): HMAC-SHA256 over the
//! session id with a key derived from the refresh secret, so a token is
//! bound to one session, needs no storage, and cannot be made by anyone who
//! does not hold the secret (a sibling subdomain can plant a cookie, not a
//! MAC). Access tokens of a session carry the token's SHA-256 as the
//! `signet_csrf` claim, so guards can check the binding offline.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use signet_guard::axum::cookies;

use crate::store::{Session, Store, StoreError};
use crate::tokens::refresh::{self, MAX_TOKEN_LEN, RefreshTokens};

/// Label of the key derivation (domain separation from refresh tokens).
const KEY_LABEL: &[u8] = b"signet csrf key v1";

/// Makes and checks the CSRF tokens of sessions.
pub struct CsrfTokens {
    key: hmac::Key,
}

impl CsrfTokens {
    /// Keyed from the refresh secret, which every instance already shares.
    pub fn new(refresh: &RefreshTokens) -> Self {
        Self {
            key: refresh.subkey(KEY_LABEL),
        }
    }

    /// The CSRF token of session `sid` (43 characters, base64url).
    pub fn token(&self, sid: &str) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(b"signet csrf v1\0");
        context.update(sid.as_bytes());
        URL_SAFE_NO_PAD.encode(context.sign().as_ref())
    }

    /// Whether `presented` is the CSRF token of `sid` (constant time).
    pub fn verify(&self, sid: &str, presented: &str) -> bool {
        cookies::same_secret(&self.token(sid), presented)
    }

    /// The `signet_csrf` claim of the session's access tokens.
    pub fn claim(&self, sid: &str) -> String {
        cookies::claim_for(&self.token(sid))
    }
}

/// The session a refresh token belongs to, whatever its state and the
/// token's generation (so the CSRF check also covers grace-window retries
/// and reused tokens; the rotation decides what they get).
pub async fn refresh_session(
    store: &Arc<dyn Store>,
    token: &str,
) -> Result<Option<Session>, StoreError> {
    if token.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    Ok(store
        .session_by_refresh(&refresh::hash(token))
        .await?
        .map(|(session, _)| session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_to_the_session_and_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let csrf = CsrfTokens::new(&RefreshTokens::load_or_init(dir.path()).unwrap());
        let token = csrf.token("sid-1");
        assert_eq!(token.len(), 43);
        assert!(csrf.verify("sid-1", &token));
        assert!(!csrf.verify("sid-2", &token));
        assert!(!csrf.verify("sid-1", ""));
        let refresh = RefreshTokens::load_or_init(dir.path()).unwrap();
        assert_ne!(token, refresh.derive("sid-1", b"", 0), "domain-separated");
        let other = tempfile::tempdir().unwrap();
        let elsewhere = CsrfTokens::new(&RefreshTokens::load_or_init(other.path()).unwrap());
        assert!(!elsewhere.verify("sid-1", &token));
        assert_eq!(csrf.claim("sid-1"), cookies::claim_for(&token));
    }
}
