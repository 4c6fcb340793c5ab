//! Sessions: a login starts one; its refresh tokens rotate on every use with
//! reuse detection and a grace window for racing requests (CONTRACT §5).

use std::sync::Arc;
use std::time::Duration;

use crate::keys::KeyRing;
use crate::store::{NewSession, Session, SessionTarget, Store, StoreError, User};
use crate::tokens::access::{AccessToken, AccessTokens, Grant, SignError};
use crate::tokens::refresh::{self, MAX_TOKEN_LEN, RefreshTokens};
use crate::tokens::revocations::Revocations;
use crate::tokens::scope;

/// First-party public client named in password-grant tokens' `client_id`.
pub const PUBLIC_CLIENT_ID: &str = "signet";

/// What the token endpoint returns for a user login or refresh.
pub struct TokenPair {
    pub access: AccessToken,
    pub refresh_token: String,
    pub scope: String,
}

/// Issuing or refreshing failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the refresh token is not known")]
    UnknownToken,
    #[error("the session has expired; log in again")]
    Expired,
    #[error("the session was revoked; log in again")]
    Revoked,
    #[error("the refresh token was already used; the session has been revoked")]
    Reused,
    #[error("the requested scope exceeds the session's scope")]
    ScopeExceeded,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("no randomness available")]
    Random,
}

/// Why a session was revoked, as stored.
pub mod reason {
    pub const LOGOUT: &str = "logout";
    pub const REUSE: &str = "reuse";
    pub const REVOKED: &str = "revoked";
    pub const USER_DISABLED: &str = "user disabled";
}

/// Issues and rotates the tokens of user sessions.
pub struct Sessions {
    store: Arc<dyn Store>,
    revocations: Arc<Revocations>,
    access: Arc<AccessTokens>,
    refresh: RefreshTokens,
    audience: String,
    refresh_ttl: Duration,
    grace: Duration,
}

/// Settings of [`Sessions`].
pub struct SessionSettings {
    pub audience: String,
    pub refresh_ttl: Duration,
    pub grace: Duration,
}

impl Sessions {
    pub fn new(
        store: Arc<dyn Store>,
        revocations: Arc<Revocations>,
        access: Arc<AccessTokens>,
        refresh: RefreshTokens,
        settings: SessionSettings,
    ) -> Self {
        Self {
            store,
            revocations,
            access,
            refresh,
            audience: settings.audience,
            refresh_ttl: settings.refresh_ttl,
            grace: settings.grace,
        }
    }

    /// Starts a session for `user` with the already granted `scope`.
    pub async fn start(
        &self,
        keys: &KeyRing,
        user: &User,
        scope: String,
    ) -> Result<TokenPair, SessionError> {
        let now = chrono::Utc::now().timestamp();
        let lifetime = i64::try_from(self.refresh_ttl.as_secs()).unwrap_or(i64::MAX);
        let session = Session {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            client_id: PUBLIC_CLIENT_ID.to_owned(),
            scope,
            nonce: refresh::new_nonce().map_err(|_| SessionError::Random)?,
            created_at: now,
            expires_at: now.saturating_add(lifetime),
            generation: 0,
            rotated_ms: 0,
            revoked_at: None,
            revoked_reason: None,
        };
        let refresh_token = self.refresh.derive(&session.id, &session.nonce, 0);
        let pair = self.pair(keys, &session, refresh_token, None, user.email_verified)?;
        self.store
            .create_session(NewSession {
                id: session.id,
                user_id: session.user_id,
                client_id: session.client_id,
                scope: session.scope,
                first_token_hash: refresh::hash(&pair.refresh_token),
                nonce: session.nonce,
                created_at: session.created_at,
                expires_at: session.expires_at,
            })
            .await?;
        Ok(pair)
    }

    /// Rotates `token`: the live token gets its successor; the token rotated
    /// just before gets the same successor again within the grace window
    /// while that successor is unused; any other use is reuse and revokes
    /// the session. `scope` may narrow the new access token (RFC 6749 §6).
    pub async fn refresh(
        &self,
        keys: &KeyRing,
        token: &str,
        scope: Option<&str>,
    ) -> Result<TokenPair, SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::UnknownToken);
        }
        let (mut session, generation) = self
            .store
            .session_by_refresh(&refresh::hash(token))
            .await?
            .ok_or(SessionError::UnknownToken)?;
        let mut user = self.check_usable(&session).await?;
        // Checked only where a token is issued, so a bad scope can neither
        // consume the live token nor shield a reused one from detection.
        let narrowed = scope
            .map(|requested| scope::grant(&session.scope, Some(requested)))
            .transpose();
        let successor = self
            .refresh
            .derive(&session.id, &session.nonce, generation + 1);
        for _ in 0..2 {
            if generation == session.generation {
                let narrowed = narrowed.clone().map_err(|_| SessionError::ScopeExceeded)?;
                let now_ms = chrono::Utc::now().timestamp_millis();
                let hash = refresh::hash(&successor);
                if self
                    .store
                    .advance_session(&session.id, generation, &hash, now_ms)
                    .await?
                {
                    return self.pair(keys, &session, successor, narrowed, user.email_verified);
                }
                // Lost a race (or a revocation landed): decide on fresh state.
                session = self
                    .store
                    .session(&session.id)
                    .await?
                    .ok_or(SessionError::Revoked)?;
                user = self.check_usable(&session).await?;
                continue;
            }
            if generation + 1 == session.generation && self.within_grace(&session) {
                let narrowed = narrowed.map_err(|_| SessionError::ScopeExceeded)?;
                return self.pair(keys, &session, successor, narrowed, user.email_verified);
            }
            break;
        }
        self.revocations
            .revoke_sessions(SessionTarget::One(&session.id), reason::REUSE)
            .await?;
        crate::telemetry::refresh_reuse_detected();
        tracing::warn!(target: "signet::audit", event = "refresh_reuse", sid = %session.id, user = %session.user_id, "refresh token reuse: session revoked");
        Err(SessionError::Reused)
    }

    /// Revokes the session a refresh token belongs to (RFC 7009); unknown
    /// tokens are ignored.
    pub async fn revoke_refresh(&self, token: &str) -> Result<(), SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Ok(());
        }
        if let Some((session, _)) = self.store.session_by_refresh(&refresh::hash(token)).await? {
            self.revocations
                .revoke_sessions(SessionTarget::One(&session.id), reason::REVOKED)
                .await?;
        }
        Ok(())
    }

    /// The session of `token` when it is the live refresh token of a usable
    /// session; `None` otherwise.
    pub async fn live_session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        if token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        let Some((session, generation)) =
            self.store.session_by_refresh(&refresh::hash(token)).await?
        else {
            return Ok(None);
        };
        match self.check_usable(&session).await {
            Ok(_) if generation == session.generation => Ok(Some(session)),
            Ok(_) | Err(SessionError::Expired | SessionError::Revoked) => Ok(None),
            Err(SessionError::Store(e)) => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// The session's user, when the session may still be used.
    async fn check_usable(&self, session: &Session) -> Result<User, SessionError> {
        if session.revoked_at.is_some() {
            return Err(SessionError::Revoked);
        }
        if session.expires_at <= chrono::Utc::now().timestamp() {
            return Err(SessionError::Expired);
        }
        match self.store.user_by_id(&session.user_id).await? {
            Some(user) if !user.disabled => Ok(user),
            _ => Err(SessionError::Revoked),
        }
    }

    fn within_grace(&self, session: &Session) -> bool {
        let elapsed = chrono::Utc::now().timestamp_millis() - session.rotated_ms;
        let grace = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        (0..=grace).contains(&elapsed)
    }

    /// Access token (of `scope`, or the session's) plus `refresh_token`.
    fn pair(
        &self,
        keys: &KeyRing,
        session: &Session,
        refresh_token: String,
        scope: Option<String>,
        email_verified: bool,
    ) -> Result<TokenPair, SessionError> {
        let scope = scope.unwrap_or_else(|| session.scope.clone());
        let grant = Grant {
            sub: session.user_id.clone(),
            aud: self.audience.clone(),
            scope: scope.clone(),
            client_id: session.client_id.clone(),
            sid: Some(session.id.clone()),
            not_after: Some(session.expires_at),
            email_verified: Some(email_verified),
        };
        let access = self.access.mint(keys, &grant)?;
        Ok(TokenPair {
            access,
            refresh_token,
            scope,
        })
    }
}
