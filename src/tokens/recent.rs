//! Recent authentication (CONTRACT §11): `auth_time` is when the user last
//! proved a credential, at login or reauthentication; refreshing keeps it,
//! so an old login never looks recent.

use std::time::Duration;

use secrecy::SecretString;

use crate::auth::accounts::{Accounts, LoginError};
use crate::auth::throttle::{AccountKey, AttemptError, Throttle, Throttled};
use crate::keys::KeyRing;
use crate::tokens::sessions::{ClientSeen, SessionError, Sessions, TokenPair};

/// RFC 8176 `amr` of a password login.
pub const AMR_PASSWORD: &[&str] = &["pwd"];

/// How recent an authentication Signet's own sensitive operations accept
/// in place of the current password (the guard example's default too).
pub const SENSITIVE_MAX_AGE: Duration = Duration::from_secs(300);

/// Whether an authentication at `auth_time` is at most `max_age` old at
/// `now` (Unix seconds). For sensitive operations (password change, ending
/// other sessions) that accept a recent login in place of the password:
/// `is_recent(claims.auth_time?, max_age, now)`. A future `auth_time`
/// (clock skew between instances) counts as recent.
pub fn is_recent(auth_time: i64, max_age: Duration, now: i64) -> bool {
    let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    now.saturating_sub(auth_time) <= max_age
}

/// Reauthentication was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    /// Client-credentials tokens have no user session to step up.
    #[error("only a user's session can be reauthenticated")]
    NoSession,
    /// The token's user is gone or disabled.
    #[error("the token does not belong to an active user")]
    NoUser,
    #[error("the password is not correct")]
    WrongPassword,
    #[error("too many attempts; retry later")]
    Throttled(Throttled),
    #[error(transparent)]
    Login(LoginError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Who asks to reauthenticate: the claims of their current access token.
pub struct Reauthentication<'a> {
    pub sub: &'a str,
    pub sid: Option<&'a str>,
    pub ip: std::net::IpAddr,
    pub user_agent: Option<&'a str>,
    pub password: SecretString,
}

/// `POST /v1/reauthenticate`: checks the password of the token's user,
/// throttled like a login, and re-issues the session's pair with
/// `auth_time` = now.
pub async fn reauthenticate(
    accounts: &Accounts,
    throttle: &Throttle,
    sessions: &Sessions,
    keys: &KeyRing,
    request: Reauthentication<'_>,
) -> Result<TokenPair, ReauthError> {
    let sid = request.sid.ok_or(ReauthError::NoSession)?;
    let user = accounts
        .user(request.sub)
        .await
        .map_err(|e| ReauthError::Login(e.into()))?
        .filter(|user| !user.disabled)
        .ok_or(ReauthError::NoUser)?;
    let attempt = throttle
        .login(request.ip, AccountKey::of(&user.email))
        .await
        .map_err(|error| match error {
            AttemptError::Throttled(throttled) => ReauthError::Throttled(throttled),
            AttemptError::Store(error) => ReauthError::Login(error.into()),
        })?;
    match accounts.authenticate(&user.email, request.password).await {
        Ok(proven) if proven.id == user.id => attempt.succeeded().await,
        // The reservation is kept: a wrong password counts as a failure.
        Ok(_) | Err(LoginError::InvalidCredentials) => {
            drop(attempt);
            crate::telemetry::login_failed();
            tracing::info!(target: "signet::audit", event = "reauthenticate", outcome = "failure", user = %user.id);
            return Err(ReauthError::WrongPassword);
        }
        Err(error) => {
            attempt.release().await;
            return Err(ReauthError::Login(error));
        }
    }
    let client = ClientSeen {
        user_agent: request.user_agent,
        ip: Some(request.ip),
    };
    let pair = sessions.reauthenticate(keys, sid, &user.id, client).await?;
    tracing::info!(target: "signet::audit", event = "reauthenticate", outcome = "success", user = %user.id, sid = %sid);
    Ok(pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_means_at_most_max_age_old() {
        let five_min = Duration::from_secs(300);
        assert!(is_recent(1_000, five_min, 1_000));
        assert!(is_recent(1_000, five_min, 1_300));
        assert!(!is_recent(1_000, five_min, 1_301));
        assert!(is_recent(1_010, five_min, 1_000), "skew");
        assert!(!is_recent(0, Duration::ZERO, 1));
        assert!(is_recent(i64::MIN, Duration::MAX, i64::MAX));
    }
}
