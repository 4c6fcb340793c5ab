//! The password login use case, one code path for every transport (the
//! token endpoint's password grant and the browser login): bounded input
//! first, then the throttles, then one argon2 verification, then the audit
//! event and the session. Everything a request can make Signet store or log
//! is bounded before it is used.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};

use super::accounts::{Accounts, LoginError};
use super::throttle::{AccountKey, AttemptError, Throttle, Throttled};
use super::{email, policy};
use crate::keys::Keys;
use crate::store::User;
use crate::telemetry;
use crate::tokens::scope::{self, ScopeExceeded};
use crate::tokens::sessions::{ClientSeen, SessionError, Sessions, TokenPair};

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

/// One password login that starts a session, from whichever transport.
pub struct LoginAttempt<'a> {
    pub ip: IpAddr,
    pub username: &'a str,
    pub password: SecretString,
    /// The scope asked for; `None` for all of the account's.
    pub scope: Option<&'a str>,
    /// What the session records of the client.
    pub client: ClientSeen<'a>,
}

/// Why a login did not start a session.
#[derive(Debug, thiserror::Error)]
pub enum LoginFailure {
    #[error(transparent)]
    Password(#[from] PasswordLoginError),
    #[error(transparent)]
    Scope(#[from] ScopeExceeded),
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// What a password login uses: accounts, their throttle, sessions, keys.
pub struct Logins<'a> {
    pub accounts: &'a Accounts,
    pub throttle: &'a Throttle,
    pub sessions: &'a Sessions,
    pub keys: &'a Keys,
}

impl Logins<'_> {
    /// The password login of the token endpoint and of the browser login,
    /// one code path for both: [`password`], then the session with the
    /// granted scope.
    pub async fn password_login(
        &self,
        attempt: LoginAttempt<'_>,
    ) -> Result<TokenPair, LoginFailure> {
        let user = password(
            self.accounts,
            self.throttle,
            attempt.ip,
            attempt.username,
            attempt.password,
        )
        .await?;
        let granted = scope::grant(&user.scope, attempt.scope)?;
        let pair = self
            .sessions
            .start(&self.keys.current(), &user, granted, attempt.client)
            .await?;
        telemetry::token_issued("password");
        Ok(pair)
    }
}
