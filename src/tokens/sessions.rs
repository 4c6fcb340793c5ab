//! Sessions: a login starts one, and it hands out the token pair.

use std::sync::Arc;
use std::time::Duration;

use crate::keys::KeyRing;
use crate::store::{NewSession, Store, StoreError, User};
use crate::tokens::access::{AccessToken, AccessTokens, Grant, SignError};
use crate::tokens::refresh::{self, RefreshTokens};

/// First-party public client named in password-grant tokens' `client_id`.
pub const PUBLIC_CLIENT_ID: &str = "signet";

/// What the token endpoint returns for a user login.
pub struct TokenPair {
    pub access: AccessToken,
    pub refresh_token: String,
    pub scope: String,
}

/// Starting a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("no randomness available")]
    Random,
}

/// Issues the tokens of user sessions.
pub struct Sessions {
    store: Arc<dyn Store>,
    access: AccessTokens,
    refresh: RefreshTokens,
    audience: String,
    refresh_ttl: Duration,
}

impl Sessions {
    pub fn new(
        store: Arc<dyn Store>,
        access: AccessTokens,
        refresh: RefreshTokens,
        audience: String,
        refresh_ttl: Duration,
    ) -> Self {
        Self {
            store,
            access,
            refresh,
            audience,
            refresh_ttl,
        }
    }

    /// Starts a session for `user` with the already granted `scope`.
    pub async fn start(
        &self,
        keys: &KeyRing,
        user: &User,
        scope: String,
    ) -> Result<TokenPair, SessionError> {
        let sid = uuid::Uuid::new_v4().to_string();
        let nonce = refresh::new_nonce().map_err(|_| SessionError::Random)?;
        let refresh_token = self.refresh.derive(&sid, &nonce, 0);
        let now = chrono::Utc::now().timestamp();
        let lifetime = i64::try_from(self.refresh_ttl.as_secs()).unwrap_or(i64::MAX);
        let grant = Grant {
            sub: user.id.clone(),
            aud: self.audience.clone(),
            scope: scope.clone(),
            client_id: PUBLIC_CLIENT_ID.to_owned(),
            sid: Some(sid.clone()),
        };
        let access = self.access.mint(keys, &grant)?;
        self.store
            .create_session(NewSession {
                id: sid,
                user_id: user.id.clone(),
                client_id: PUBLIC_CLIENT_ID.to_owned(),
                scope: scope.clone(),
                first_token_hash: refresh::hash(&refresh_token),
                nonce,
                created_at: now,
                expires_at: now.saturating_add(lifetime),
            })
            .await?;
        Ok(TokenPair {
            access,
            refresh_token,
            scope,
        })
    }
}
