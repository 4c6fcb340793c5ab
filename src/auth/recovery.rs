//! Account recovery and email verification (CONTRACT §10): single-use
//! tokens of 256 random bits, stored only as SHA-256 hashes, handed to the
//! application through webhook events written with the change itself.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use super::passwords::{HashError, Hasher};
use super::{email, policy};
use crate::secrets;
use crate::store::{AccountToken, NewEvent, PasswordReset, Store, StoreError, TokenPurpose};
use crate::tokens::revocations::{Reason, Revocations};
use crate::webhooks::{Event, events};

/// Longest token looked up; anything longer is refused unread.
const MAX_TOKEN_LEN: usize = 128;

/// How recovery and verification behave.
#[derive(Debug, Clone, Copy)]
pub struct RecoverySettings {
    /// Whether events are written at all (a webhook receiver is configured).
    pub webhooks: bool,
    pub reset_ttl: Duration,
    pub verification_ttl: Duration,
    /// Unverified accounts cannot log in.
    pub require_verified_email: bool,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        Self {
            webhooks: false,
            reset_ttl: Duration::from_secs(30 * 60),
            verification_ttl: Duration::from_secs(86_400),
            require_verified_email: false,
        }
    }
}

/// A token or new password was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("the token is invalid, used or expired")]
    InvalidToken,
    #[error(transparent)]
    WeakPassword(#[from] policy::PolicyError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no randomness available")]
    Random,
}

/// A freshly issued token: the plaintext (for the user) and its row.
pub struct IssuedToken {
    pub token: String,
    pub row: AccountToken,
}

/// Makes a single-use token for `user_id`.
pub fn issue(
    user_id: &str,
    purpose: TokenPurpose,
    ttl: Duration,
    now: i64,
) -> Result<IssuedToken, RecoveryError> {
    let token = URL_SAFE_NO_PAD.encode(secrets::random::<32>().map_err(|_| RecoveryError::Random)?);
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    Ok(IssuedToken {
        row: AccountToken {
            hash: secrets::sha256(token.as_bytes()),
            user_id: user_id.to_owned(),
            purpose,
            expires_at: now.saturating_add(ttl),
        },
        token,
    })
}

/// What sign-up writes with the new user: `user.created`, and a
/// verification token with its `email.verification_requested` event.
pub fn signup_records(
    settings: &RecoverySettings,
    user_id: &str,
    email: &str,
    now: i64,
) -> Result<(Option<AccountToken>, Vec<NewEvent>), RecoveryError> {
    if !settings.webhooks {
        return Ok((None, Vec::new()));
    }
    let issued = issue(
        user_id,
        TokenPurpose::EmailVerification,
        settings.verification_ttl,
        now,
    )?;
    let events = vec![
        Event::UserCreated {
            user_id,
            email,
            created_at: now,
        }
        .record(now),
        Event::VerificationRequested {
            user_id,
            email,
            token: &issued.token,
            expires_at: issued.row.expires_at,
        }
        .record(now),
    ];
    Ok((Some(issued.row), events))
}

/// The events of a password change: `password.changed`, then one
/// `session.revoked` per session it ended (none without webhooks). For
/// [`Store::reset_password`] and [`Store::change_password`].
pub fn password_events(
    webhooks: bool,
    reason: &str,
    now: i64,
) -> impl Fn(&str, &[String]) -> Vec<NewEvent> + Send + Sync + '_ {
    move |user_id, sids| {
        if !webhooks {
            return Vec::new();
        }
        let mut events = vec![Event::PasswordChanged { user_id }.record(now)];
        events.extend(events::sessions_revoked(user_id, sids, reason, now));
        events
    }
}

/// Password reset and email verification.
pub struct Recovery {
    store: Arc<dyn Store>,
    hasher: Arc<Hasher>,
    settings: RecoverySettings,
}

impl Recovery {
    pub fn new(store: Arc<dyn Store>, hasher: Arc<Hasher>, settings: RecoverySettings) -> Self {
        Self {
            store,
            hasher,
            settings,
        }
    }

    /// For a known, enabled account: a reset token, sent as a
    /// `password.reset_requested` event. Says nothing about the outcome.
    pub async fn request_reset(&self, raw_email: &str) -> Result<(), RecoveryError> {
        if !self.settings.webhooks {
            return Ok(());
        }
        let Some(user) = self.enabled_user(raw_email).await? else {
            return Ok(());
        };
        let now = chrono::Utc::now().timestamp();
        let issued = issue(
            &user.id,
            TokenPurpose::PasswordReset,
            self.settings.reset_ttl,
            now,
        )?;
        let event = Event::ResetRequested {
            user_id: &user.id,
            email: &user.email,
            token: &issued.token,
            expires_at: issued.row.expires_at,
        }
        .record(now);
        self.store
            .issue_account_token(issued.row, vec![event])
            .await?;
        tracing::info!(target: "signet::audit", event = "password_reset_requested", user = %user.id);
        Ok(())
    }

    /// A reset token for an operator to hand over (no event); `None` when
    /// there is no such enabled account.
    pub async fn reset_link(&self, raw_email: &str) -> Result<Option<String>, RecoveryError> {
        let Some(user) = self.enabled_user(raw_email).await? else {
            return Ok(None);
        };
        let now = chrono::Utc::now().timestamp();
        let issued = issue(
            &user.id,
            TokenPurpose::PasswordReset,
            self.settings.reset_ttl,
            now,
        )?;
        self.store
            .issue_account_token(issued.row, Vec::new())
            .await?;
        tracing::info!(target: "signet::audit", event = "password_reset_link", user = %user.id);
        Ok(Some(issued.token))
    }

    /// Sets a new password with a reset token and ends every session of the
    /// user (revocation list and feed; the credential generation moves on,
    /// so no older session refreshes), reporting both as events.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: SecretString,
        revocations: &Revocations,
    ) -> Result<(), RecoveryError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(RecoveryError::InvalidToken);
        }
        policy::check(new_password.expose_secret())?;
        let password_hash = self.hasher.hash(new_password).await?;
        let now = chrono::Utc::now().timestamp();
        let reason = Reason::PasswordReset;
        let events = password_events(self.settings.webhooks, reason.as_str(), now);
        let hash = secrets::sha256(token.as_bytes());
        let reset = PasswordReset {
            token_hash: &hash,
            password_hash: &password_hash,
            now,
            reason: reason.as_str(),
        };
        let (user, sids) = self
            .store
            .reset_password(reset, &events)
            .await?
            .ok_or(RecoveryError::InvalidToken)?;
        revocations.ended(reason, &sids).await?;
        tracing::info!(target: "signet::audit", event = "password_reset", user = %user);
        Ok(())
    }

    /// Marks the email of the token's user verified.
    pub async fn verify_email(&self, token: &str) -> Result<(), RecoveryError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(RecoveryError::InvalidToken);
        }
        let now = chrono::Utc::now().timestamp();
        let user = self
            .store
            .verify_email(&secrets::sha256(token.as_bytes()), now)
            .await?
            .ok_or(RecoveryError::InvalidToken)?;
        tracing::info!(target: "signet::audit", event = "email_verified", user = %user);
        Ok(())
    }

    async fn enabled_user(
        &self,
        raw_email: &str,
    ) -> Result<Option<crate::store::User>, StoreError> {
        let Some(email) = email::normalize(raw_email) else {
            return Ok(None);
        };
        Ok(self
            .store
            .user_by_email(&email)
            .await?
            .filter(|user| !user.disabled))
    }
}
