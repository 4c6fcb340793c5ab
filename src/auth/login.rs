//! The password login use case: bounded input first, then the throttles,
//! then one argon2 verification, then the audit event. Everything a request
//! can make Signet store or log is bounded before it is used.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};

use super::accounts::{Accounts, LoginError};
use super::throttle::{AccountKey, AttemptError, Throttle, Throttled};
use super::{email, policy};
use crate::store::User;
use crate::telemetry;

/// Longest username accepted: no email address is longer (RFC 5321).
pub const MAX_USERNAME_BYTES: usize = 254;
/// Longest password accepted at login: the policy's character limit in the
/// widest UTF-8 encoding, so no valid password is refused.
pub const MAX_PASSWORD_BYTES: usize = 4 * policy::MAX_CHARS;

/// Why a password login was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordLoginError {
    #[error("username must be at most {MAX_USERNAME_BYTES} bytes")]
    UsernameTooLong,
    #[error("password must be at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error(transparent)]
    Login(#[from] LoginError),
}

impl From<AttemptError> for PasswordLoginError {
    fn from(error: AttemptError) -> Self {
        match error {
            AttemptError::Throttled(throttled) => Self::Throttled(throttled),
            AttemptError::Store(store) => Self::Login(LoginError::Store(store)),
        }
    }
}

/// Checks `username` and `password` from client address `ip`.
pub async fn password(
    accounts: &Accounts,
    throttle: &Throttle,
    ip: IpAddr,
    username: &str,
    password: SecretString,
) -> Result<User, PasswordLoginError> {
    if username.len() > MAX_USERNAME_BYTES {
        return Err(PasswordLoginError::UsernameTooLong);
    }
    if password.expose_secret().len() > MAX_PASSWORD_BYTES {
        return Err(PasswordLoginError::PasswordTooLong);
    }
    let folded = email::fold(username);
    let attempt = throttle.login(ip, AccountKey::of(&folded)).await?;
    match accounts.authenticate(username, password).await {
        Ok(user) => {
            attempt.succeeded().await;
            tracing::info!(target: "signet::audit", event = "login", outcome = "success", user = %user.id);
            Ok(user)
        }
        Err(LoginError::InvalidCredentials) => {
            // The reservation stays spent: this is the failure it counted.
            drop(attempt);
            telemetry::login_failed();
            tracing::info!(
                target: "signet::audit",
                event = "login",
                outcome = "failure",
                username = %telemetry::untrusted(&folded)
            );
            Err(LoginError::InvalidCredentials.into())
        }
        Err(error) => {
            attempt.release().await;
            Err(error.into())
        }
    }
}
