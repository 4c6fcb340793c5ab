//! User accounts: registration, password login and password change.

use std::net::IpAddr;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::passwords::{HashError, Hasher, Verdict};
use super::recovery::{self, RecoverySettings};
use super::throttle::{AccountKey, AttemptError, Throttle, Throttled};
use super::{email, policy};
use crate::store::{
    NewUser, PasswordChange as StoredChange, SessionTarget, SessionsToEnd, Store, StoreError, User,
};
use crate::tokens::recent::{SENSITIVE_MAX_AGE, is_recent};
use crate::tokens::revocations::{Reason, Revocations};

/// Which sessions a password change ends (`password_change_revokes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PasswordChangeRevokes {
    /// Every session but the one the change was made in.
    #[default]
    Others,
    All,
    None,
}

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

/// A password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("the current password is not correct")]
    WrongPassword,
    /// No current password, and the login is not recent enough to stand in
    /// for it.
    #[error("send current_password, or reauthenticate first: the login is older than {} s", SENSITIVE_MAX_AGE.as_secs())]
    StaleAuthentication,
    #[error(transparent)]
    WeakPassword(#[from] policy::PolicyError),
    #[error("too many attempts; retry later")]
    Throttled(Throttled),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request to change a password, made within session `sid`.
pub struct PasswordChange<'a> {
    pub user_id: &'a str,
    pub sid: Option<&'a str>,
    pub ip: IpAddr,
    pub proof: Proof,
    pub new: SecretString,
}

/// How the caller shows it holds the account.
pub enum Proof {
    /// The current password.
    Password(SecretString),
    /// The `auth_time` of the caller's token: a login or reauthentication
    /// at most [`SENSITIVE_MAX_AGE`] before `now` stands in for the password.
    RecentAuth { auth_time: Option<i64>, now: i64 },
}

/// Registers users and checks their passwords.
pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: Arc<Hasher>,
    revocations: Arc<Revocations>,
    recovery: RecoverySettings,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, hasher: Arc<Hasher>, revocations: Arc<Revocations>) -> Self {
        Self {
            store,
            hasher,
            revocations,
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
    pub async fn disable(&self, raw_email: &str) -> Result<Option<User>, StoreError> {
        let Some(email) = email::normalize(raw_email) else {
            return Ok(None);
        };
        let Some(user) = self.store.user_by_email(&email).await? else {
            return Ok(None);
        };
        self.store.set_user_disabled(&user.id, true).await?;
        self.revocations
            .revoke_sessions(SessionTarget::AllOfUser(&user.id), Reason::UserDisabled)
            .await?;
        tracing::info!(target: "signet::audit", event = "user_disabled", user = %user.id);
        Ok(Some(user))
    }

    /// With `require_verified_email`, an unverified account is refused like
    /// a wrong password (after the same argon2 cost).
    fn may_log_in(&self, user: &User) -> bool {
        user.email_verified || !self.recovery.require_verified_email
    }

    /// Changes the password after checking the current one (throttled like
    /// a login, failures included), then ends sessions as `revokes` says.
    /// The user's credential generation moves on, so a login racing the
    /// change with the old password cannot leave a session behind.
    pub async fn change_password(
        &self,
        change: PasswordChange<'_>,
        revokes: PasswordChangeRevokes,
        throttle: &Throttle,
    ) -> Result<(), PasswordChangeError> {
        let Some(user) = self
            .store
            .user_by_id(change.user_id)
            .await?
            .filter(|user| !user.disabled)
        else {
            return Err(PasswordChangeError::WrongPassword);
        };
        match change.proof {
            Proof::Password(current) => {
                self.check_current(&user, current, change.ip, throttle)
                    .await?
            }
            Proof::RecentAuth { auth_time, now } => {
                if !auth_time.is_some_and(|at| is_recent(at, SENSITIVE_MAX_AGE, now)) {
                    return Err(PasswordChangeError::StaleAuthentication);
                }
            }
        }
        policy::check(change.new.expose_secret())?;
        let hash = self.hasher.hash(change.new).await?;
        let end = match revokes {
            PasswordChangeRevokes::None => SessionsToEnd::None,
            PasswordChangeRevokes::All => SessionsToEnd::All,
            PasswordChangeRevokes::Others => match change.sid {
                Some(sid) => SessionsToEnd::AllBut(sid),
                None => SessionsToEnd::All,
            },
        };
        let reason = Reason::PasswordChange;
        let now = chrono::Utc::now().timestamp();
        let events = recovery::password_events(self.recovery.webhooks, reason.as_str(), now);
        let change = StoredChange {
            user_id: &user.id,
            password_hash: &hash,
            end,
            reason: reason.as_str(),
            now,
        };
        let sids = self.store.change_password(change, &events).await?;
        self.revocations.ended(reason, &sids).await?;
        tracing::info!(target: "signet::audit", event = "password_change", outcome = "success", user = %user.id, ?revokes);
        Ok(())
    }

    /// The current password, throttled like a login.
    async fn check_current(
        &self,
        user: &User,
        current: SecretString,
        ip: IpAddr,
        throttle: &Throttle,
    ) -> Result<(), PasswordChangeError> {
        let attempt = throttle
            .login(ip, AccountKey::of(&user.email))
            .await
            .map_err(|error| match error {
                AttemptError::Throttled(throttled) => PasswordChangeError::Throttled(throttled),
                AttemptError::Store(error) => PasswordChangeError::Store(error),
            })?;
        let stored = Some(user.password_hash.clone());
        match self.hasher.verify(current, stored).await {
            // The reservation is kept: a wrong password counts as a failure.
            Ok(Verdict::Mismatch) => {
                drop(attempt);
                crate::telemetry::login_failed();
                tracing::info!(target: "signet::audit", event = "password_change", outcome = "failure", user = %user.id);
                return Err(PasswordChangeError::WrongPassword);
            }
            Ok(Verdict::Match { .. }) => attempt.succeeded().await,
            Err(error) => {
                attempt.release().await;
                return Err(error.into());
            }
        }
        Ok(())
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.store.user_by_id(id).await
    }

    /// Re-hashes with the configured parameters; a failure only delays it.
    async fn upgrade_hash(&self, user: &User, password: SecretString) {
        let result = match self.hasher.hash(password).await {
            Ok(hash) => self
                .store
                .update_password_hash(&user.id, &user.password_hash, &hash)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = result {
            tracing::warn!(user = %user.id, %error, "could not upgrade a password hash");
        }
    }
}
