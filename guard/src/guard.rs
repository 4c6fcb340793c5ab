//! [`Guard`]: validation of a token with the cached keys, the revocation
//! list and the verified-token cache.

use std::any::TypeId;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::builder::GuardBuilder;
use crate::jwks::JwksCache;
use crate::revocations::Revocations;
use crate::token_cache::{self, TokenCache};
use crate::verify::{Claims, KeySet, TokenError, Validator, unix_now};

/// Why a [`Guard`] refused a token. [`status`](Self::status) gives the HTTP
/// status; messages never echo anything taken from the token.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardError {
    /// The token itself is not acceptable (401 `invalid_token`), revoked
    /// tokens and tokens signed by a key unknown even after a refetch
    /// included.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The token is valid but lacks a scope (403 `insufficient_scope`);
    /// `scope` lists every scope required, space-separated.
    #[error("token lacks the required scope")]
    InsufficientScope { scope: String },
    /// No signing key was ever loaded from the issuer (503).
    #[error("signing keys are not loaded yet")]
    KeysUnavailable,
    /// Fail-closed and the revocation feed was not reached recently (503).
    #[error("the revocation list is not current")]
    RevocationsUnavailable,
}

impl GuardError {
    /// 401, 403 or 503.
    pub fn status(&self) -> u16 {
        match self {
            GuardError::Token(_) => 401,
            GuardError::InsufficientScope { .. } => 403,
            GuardError::KeysUnavailable | GuardError::RevocationsUnavailable => 503,
        }
    }
}

/// A snapshot of the guard's state, for health endpoints and logs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GuardStatus {
    /// Whether tokens can be validated at all (keys loaded and, when
    /// fail-closed, the revocation list current).
    pub ready: bool,
    pub keys_loaded: bool,
    pub key_count: usize,
    /// Entries in the revocation list.
    pub revocations: usize,
    /// The list is full: tokens issued before the overflow are refused
    /// until the entries that did not fit expire (see `max_revocations`).
    pub revocations_overflowing: bool,
    /// Time since the revocation feed last answered; `None` if it never did.
    pub feed_last_contact: Option<Duration>,
    pub revocations_stale: bool,
    pub cached_tokens: usize,
}

/// Validates Signet access tokens offline: cheap to clone (one `Arc`), share
/// one per process. Built by [`Guard::builder`]; its background tasks (JWKS
/// refresh, revocation feed) stop when the last clone is dropped.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) validator: Validator,
    pub(crate) required_scopes: Box<[String]>,
    pub(crate) realm: String,
    pub(crate) jwks: Arc<JwksCache>,
    pub(crate) revocations: Arc<Revocations>,
    pub(crate) cache: Option<Arc<TokenCache>>,
    pub(crate) tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("issuer", &self.inner.validator.issuer())
            .field("audience", &self.inner.validator.audience())
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// Starts configuring a guard for tokens issued by `issuer` (the exact
    /// `iss`, also the base of the metadata URL) for `audience`.
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> GuardBuilder {
        GuardBuilder::new(issuer.into(), audience.into())
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Guard {
            inner: Arc::new(inner),
        }
    }

    /// Validates `token` and returns its claims, with `C` for the custom
    /// claims. On a `kid` missing from the cached set (a rotation) or when no
    /// key was ever loaded, the JWKS is refetched (single-flight, at most once
    /// per cooldown) and the token checked once more.
    pub async fn verify<C>(&self, token: &str) -> Result<Arc<Claims<C>>, GuardError>
    where
        C: DeserializeOwned + Send + Sync + 'static,
    {
        let seen = self.inner.jwks.generation();
        match self.verify_offline::<C>(token) {
            Err(GuardError::Token(TokenError::UnknownKey) | GuardError::KeysUnavailable)
                if self.inner.jwks.refetch(seen).await =>
            {
                self.verify_offline::<C>(token)
            }
            other => other,
        }
    }

    /// [`verify`](Self::verify) without ever fetching: the cached keys only
    /// (an unknown `kid` is refused at once). Never blocks.
    pub fn verify_offline<C>(&self, token: &str) -> Result<Arc<Claims<C>>, GuardError>
    where
        C: DeserializeOwned + Send + Sync + 'static,
    {
        let inner = &*self.inner;
        if token.len() > inner.validator.token_len_limit() {
            return Err(TokenError::TooLarge.into());
        }
        let now = unix_now();
        let cached = inner
            .cache
            .as_ref()
            .map(|cache| (cache, token_cache::digest(token)));
        let keys = inner.jwks.load();
        let keys = keys.as_deref().ok_or(GuardError::KeysUnavailable)?;
        if let Some((cache, digest)) = &cached
            && let Some(entry) = cache.get(digest, TypeId::of::<C>(), now)
            && keys.holds(&entry.key)
        {
            inner
                .revocations
                .check(&entry.jti, entry.sid.as_deref(), entry.iat)?;
            if let Ok(claims) = Arc::clone(&entry.claims).downcast::<Claims<C>>() {
                return Ok(claims);
            }
        }
        let (claims, key) = inner.validator.validate_keyed::<C>(token, keys, now)?;
        self.check_scopes(&claims)?;
        inner
            .revocations
            .check(&claims.jti, claims.sid.as_deref(), claims.iat)?;
        let claims = Arc::new(claims);
        if let Some((cache, digest)) = cached {
            let entry = token_cache::Entry {
                exp: claims.exp,
                iat: claims.iat,
                key,
                jti: claims.jti.as_str().into(),
                sid: claims.sid.as_deref().map(Into::into),
                claims: Arc::clone(&claims) as _,
            };
            cache.insert(digest, TypeId::of::<C>(), entry, now);
        }
        Ok(claims)
    }

    fn check_scopes<C>(&self, claims: &Claims<C>) -> Result<(), GuardError> {
        let required = &self.inner.required_scopes;
        if required.iter().all(|s| claims.has_scope(s)) {
            Ok(())
        } else {
            Err(GuardError::InsufficientScope {
                scope: required.join(" "),
            })
        }
    }

    /// Whether tokens can be validated now: keys loaded and, when
    /// fail-closed, the revocation list current. Until then validation
    /// answers 503.
    pub fn is_ready(&self) -> bool {
        self.inner.jwks.is_loaded() && !self.inner.revocations.is_stale()
    }

    pub fn status(&self) -> GuardStatus {
        let keys = self.inner.jwks.current();
        GuardStatus {
            ready: self.is_ready(),
            keys_loaded: keys.is_some(),
            key_count: keys.map_or(0, |k| k.len()),
            revocations: self.inner.revocations.len(),
            revocations_overflowing: self.inner.revocations.overflowing(),
            feed_last_contact: self.inner.revocations.health.last_contact(),
            revocations_stale: self.inner.revocations.is_stale(),
            cached_tokens: self.inner.cache.as_deref().map_or(0, TokenCache::len),
        }
    }

    /// The `realm` of this guard's `WWW-Authenticate` challenges.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    pub fn issuer(&self) -> &str {
        self.inner.validator.issuer()
    }

    pub fn audience(&self) -> &str {
        self.inner.validator.audience()
    }

    /// Scopes every token must carry (from the builder).
    pub fn required_scopes(&self) -> &[String] {
        &self.inner.required_scopes
    }

    /// The current key set, if one was loaded.
    pub fn keys(&self) -> Option<Arc<KeySet>> {
        self.inner.jwks.current()
    }

    /// Replaces the key set, for an issuer that embeds the guard and knows
    /// its own keys (a fetching guard will replace it again on refresh).
    pub fn replace_keys(&self, keys: KeySet) {
        self.inner.jwks.replace(keys);
    }

    /// Refuses the token `jti` from now on, until `exp` (Unix seconds). The
    /// feed does this for tokens revoked at Signet; this is for an issuer that
    /// embeds the guard, and for tests.
    pub fn revoke_jti(&self, jti: &str, exp: i64) {
        self.inner.revocations.revoke_jti(jti, exp);
    }

    /// Refuses every token of session `sid` from now on, until `exp`.
    pub fn revoke_sid(&self, sid: &str, exp: i64) {
        self.inner.revocations.revoke_sid(sid, exp);
    }
}
