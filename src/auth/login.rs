//! The password login use case, one code path for every transport (the
//! token endpoint's password grant and the browser login): input limits,
//! throttles, authentication, audit events, and the start of a session.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};

use crate::app::Services;
use crate::auth::accounts::LoginError;
use crate::auth::throttle::Throttled;
use crate::telemetry;
use crate::tokens::scope::{self, ScopeExceeded};
use crate::tokens::sessions::{SessionError, TokenPair};

/// Longest username and password looked at: anything longer cannot be an
/// account's (emails have at most 254 bytes, passwords 256 characters) and
/// is refused before it reaches a throttle key or argon2.
const MAX_USERNAME_BYTES: usize = 320;
const MAX_PASSWORD_BYTES: usize = 1024;

/// One login attempt.
pub struct Attempt<'a> {
    pub ip: IpAddr,
    pub username: &'a str,
    pub password: SecretString,
    pub scope: Option<&'a str>,
}

/// Why a login did not start a session.
#[derive(Debug, thiserror::Error)]
pub enum LoginFailure {
    #[error("too many attempts; retry later")]
    Throttled(Throttled),
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    Scope(#[from] ScopeExceeded),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<Throttled> for LoginFailure {
    fn from(throttled: Throttled) -> Self {
        Self::Throttled(throttled)
    }
}

/// Authenticates the attempt and starts a session with the granted scope.
pub async fn password_login(
    services: &Services,
    attempt: Attempt<'_>,
) -> Result<TokenPair, LoginFailure> {
    if attempt.username.len() > MAX_USERNAME_BYTES
        || attempt.password.expose_secret().len() > MAX_PASSWORD_BYTES
    {
        return Err(LoginError::InvalidCredentials.into());
    }
    let account = attempt.username.trim().to_lowercase();
    services.throttle.login(attempt.ip, &account)?;
    let user = match services
        .accounts
        .authenticate(attempt.username, attempt.password)
        .await
    {
        Ok(user) => {
            services.throttle.succeeded(&account);
            tracing::info!(target: "signet::audit", event = "login", outcome = "success", user = %user.id);
            user
        }
        Err(error) => {
            if matches!(error, LoginError::InvalidCredentials) {
                services.throttle.failed(&account);
                telemetry::login_failed();
                tracing::info!(target: "signet::audit", event = "login", outcome = "failure", username = %account);
            }
            return Err(error.into());
        }
    };
    let granted = scope::grant(&user.scope, attempt.scope)?;
    let pair = services
        .sessions
        .start(&services.keys.current(), &user, granted)
        .await?;
    telemetry::token_issued("password");
    Ok(pair)
}
