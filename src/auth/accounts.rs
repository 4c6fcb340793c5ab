//! User accounts: registration and password login.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::passwords::{HashError, Hasher, Verdict};
use super::recovery::{self, RecoverySettings};
use super::{email, policy};
use crate::store::{NewUser, SessionTarget, Store, StoreError, User};
use crate::tokens::revocations::Revocations;
use crate::tokens::sessions::reason;

/// Registration was refused; each reason is safe to show.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the email address is not valid")]
    InvalidEmail,
    #[error(transparent)]
    WeakPassword(#[from] policy::PolicyError),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(StoreError),
    #[error("no randomness available")]
    Random,
}

impl From<StoreError> for RegisterError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate => Self::EmailTaken,
            other => Self::Store(other),
        }
    }
}

/// Login was refused. `InvalidCredentials` covers unknown email, wrong
/// password and disabled account alike, so none of them can be told apart.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Registers users and checks their passwords.
pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: Arc<Hasher>,
    recovery: RecoverySettings,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, hasher: Arc<Hasher>) -> Self {
        Self {
            store,
            hasher,
            recovery: RecoverySettings::default(),
        }
    }

    /// Sign-up events and verification tokens, and whether login needs a
    /// verified email.
    pub fn with_recovery(mut self, settings: RecoverySettings) -> Self {
        self.recovery = settings;
        self
    }

    /// Creates a user after checking email and password policy.
    pub async fn register(
        &self,
        raw_email: &str,
        password: SecretString,
        scope: &str,
    ) -> Result<User, RegisterError> {
        let email = email::normalize(raw_email).ok_or(RegisterError::InvalidEmail)?;
        policy::check(password.expose_secret())?;
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(RegisterError::EmailTaken);
        }
        let password_hash = self.hasher.hash(password).await?;
        let scope = scope.split_whitespace().collect::<Vec<_>>().join(" ");
        let user = NewUser {
            id: uuid::Uuid::now_v7().to_string(),
            email,
            password_hash,
            scope,
            created_at: chrono::Utc::now().timestamp(),
        };
        let (token, events) =
            recovery::signup_records(&self.recovery, &user.id, &user.email, user.created_at)
                .map_err(|_| RegisterError::Random)?;
        Ok(self
            .store
            .create_user_with_events(user, token, events)
            .await?)
    }

    /// Returns the user whose email and password match; every failure costs
    /// one argon2 verification, whether or not the account exists.
    pub async fn authenticate(
        &self,
        raw_email: &str,
        password: SecretString,
    ) -> Result<User, LoginError> {
        let user = match email::normalize(raw_email) {
            Some(email) => self.store.user_by_email(&email).await?,
            None => None,
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let verdict = self.hasher.verify(password.clone(), stored).await?;
        let (user, rehash) = match (user, verdict) {
            (Some(user), Verdict::Match { rehash }) if !user.disabled && self.may_log_in(&user) => {
                (user, rehash)
            }
            _ => return Err(LoginError::InvalidCredentials),
        };
        if rehash {
            self.upgrade_hash(&user, password).await;
        }
        Ok(user)
    }

    /// Disables the account and revokes all of its sessions; `None` when no
    /// such user exists.
    pub async fn disable(
        &self,
        raw_email: &str,
        revocations: &Revocations,
    ) -> Result<Option<User>, StoreError> {
        let Some(email) = email::normalize(raw_email) else {
            return Ok(None);
        };
        let Some(user) = self.store.user_by_email(&email).await? else {
            return Ok(None);
        };
        self.store.set_user_disabled(&user.id, true).await?;
        revocations
            .revoke_sessions(SessionTarget::AllOfUser(&user.id), reason::USER_DISABLED)
            .await?;
        tracing::info!(target: "signet::audit", event = "user_disabled", user = %user.id);
        Ok(Some(user))
    }

    /// With `require_verified_email`, an unverified account is refused like
    /// a wrong password (after the same argon2 cost).
    fn may_log_in(&self, user: &User) -> bool {
        user.email_verified || !self.recovery.require_verified_email
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.store.user_by_id(id).await
    }

    /// Re-hashes with the configured parameters; a failure only delays it.
    async fn upgrade_hash(&self, user: &User, password: SecretString) {
        let result = match self.hasher.hash(password).await {
            Ok(hash) => self
                .store
                .update_password_hash(&user.id, &hash)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = result {
            tracing::warn!(user = %user.id, %error, "could not upgrade a password hash");
        }
    }
}
