//! Sessions: a login starts one; its refresh tokens rotate on every use with
//! reuse detection and a grace window for racing requests (CONTRACT §5). A
//! session ends at its absolute limit (`refresh_ttl` after the login), after
//! `session_idle` without a refresh, or when it is revoked (CONTRACT §10).
//! Time comes from the [`Clock`] given at construction.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::keys::KeyRing;
use serde_json::{Map, Value};

use crate::store::{
    ClaimsOwner, NewSession, Session, SessionClient, SessionTarget, Store, StoreError, StoreResult,
    User,
};
use crate::tokens::access::{AccessToken, AccessTokens, Grant, SignError};
use crate::tokens::claims::{ClaimsError, CustomClaims, GrantKind, Subject};
use crate::tokens::recent::AMR_PASSWORD;
use crate::tokens::refresh::{self, MAX_TOKEN_LEN, RefreshTokens};
use crate::tokens::revocations::{Reason, Revocations};
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
    #[error("the session has expired: it reached its absolute lifetime; log in again")]
    Expired,
    #[error("the session has expired: it was idle for too long; log in again")]
    Idle,
    #[error("the session was revoked; log in again")]
    Revoked,
    #[error("the password changed during the login; log in again")]
    CredentialsChanged,
    #[error("the refresh token was already used; the session has been revoked")]
    Reused,
    #[error("the requested scope exceeds the session's scope")]
    ScopeExceeded,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    #[error("no randomness available")]
    Random,
}

/// The verified access token presented to log out.
pub struct LoggingOut<'a> {
    pub sub: &'a str,
    pub sid: Option<&'a str>,
    pub jti: &'a str,
    pub exp: i64,
}

/// Most sessions one listing shows (most recently used first).
pub const LIST_LIMIT: u32 = 100;
/// Longest user agent kept, in characters.
const USER_AGENT_CHARS: usize = 200;

/// The client using a session, as the HTTP layer sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientSeen<'a> {
    pub user_agent: Option<&'a str>,
    pub ip: Option<IpAddr>,
}

impl ClientSeen<'_> {
    /// What is stored of it: the user agent without control characters and
    /// cut to [`USER_AGENT_CHARS`], the address cut to its /24 or /64.
    fn recorded(&self) -> SessionClient {
        let user_agent = self
            .user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(USER_AGENT_CHARS)
                    .collect::<String>()
                    .trim()
                    .to_owned()
            })
            .filter(|ua| !ua.is_empty());
        SessionClient {
            user_agent,
            ip: self.ip.map(truncate_ip),
        }
    }
}

/// `203.0.113.0/24` or `2001:db8:1:2::/64`: enough to recognise a network,
/// not a device.
fn truncate_ip(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !u128::from(u64::MAX);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
    }
}

/// Issues and rotates the tokens of user sessions.
pub struct Sessions {
    store: Arc<dyn Store>,
    revocations: Arc<Revocations>,
    access: Arc<AccessTokens>,
    refresh: RefreshTokens,
    clock: SharedClock,
    audience: String,
    refresh_ttl: Duration,
    idle: Duration,
    grace: Duration,
    claims: Arc<CustomClaims>,
}

/// Settings of [`Sessions`].
pub struct SessionSettings {
    pub audience: String,
    /// Absolute lifetime of a session.
    pub refresh_ttl: Duration,
    /// Longest gap between two refreshes (checked at refresh, so precise to
    /// one access-token lifetime).
    pub idle: Duration,
    pub grace: Duration,
}

/// The live sessions of `user_id` at `now` (for the API and the CLI).
pub async fn live_sessions(
    store: &dyn Store,
    user_id: &str,
    idle: Duration,
    now: i64,
) -> StoreResult<Vec<Session>> {
    let idle_before = now.saturating_sub(seconds(idle));
    store
        .live_sessions(user_id, now, idle_before, LIST_LIMIT)
        .await
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl Sessions {
    pub fn new(
        store: Arc<dyn Store>,
        revocations: Arc<Revocations>,
        access: Arc<AccessTokens>,
        refresh: RefreshTokens,
        clock: SharedClock,
        settings: SessionSettings,
        claims: Arc<CustomClaims>,
    ) -> Self {
        Self {
            store,
            revocations,
            access,
            refresh,
            clock,
            audience: settings.audience,
            refresh_ttl: settings.refresh_ttl,
            idle: settings.idle,
            grace: settings.grace,
            claims,
        }
    }

    /// Starts a session for `user` with the already granted `scope`.
    pub async fn start(
        &self,
        keys: &KeyRing,
        user: &User,
        scope: String,
        client: ClientSeen<'_>,
    ) -> Result<TokenPair, SessionError> {
        let now = self.clock.now();
        let client = client.recorded();
        let session = Session {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            client_id: PUBLIC_CLIENT_ID.to_owned(),
            scope,
            nonce: refresh::new_nonce().map_err(|_| SessionError::Random)?,
            created_at: now,
            expires_at: now.saturating_add(seconds(self.refresh_ttl)),
            generation: 0,
            rotated_ms: 0,
            revoked_at: None,
            revoked_reason: None,
            last_used_at: now,
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
            credential_generation: user.credential_generation,
            access_exp: None,
            auth_time: now,
        };
        let custom = self
            .custom_claims(&session, &session.scope, GrantKind::Password)
            .await?;
        let refresh_token = self.refresh.derive(&session.id, &session.nonce, 0);
        let pair = self.pair(
            keys,
            &session,
            refresh_token,
            None,
            user.email_verified,
            custom,
        )?;
        let created = self
            .store
            .create_session(NewSession {
                id: session.id,
                user_id: session.user_id,
                client_id: session.client_id,
                scope: session.scope,
                first_token_hash: refresh::hash(&pair.refresh_token),
                nonce: session.nonce,
                created_at: session.created_at,
                expires_at: session.expires_at,
                credential_generation: session.credential_generation,
                client,
                access_exp: pair.access.exp,
                auth_time: session.auth_time,
            })
            .await?;
        if !created {
            return Err(SessionError::CredentialsChanged);
        }
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
        client: ClientSeen<'_>,
    ) -> Result<TokenPair, SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::UnknownToken);
        }
        let client = client.recorded();
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
                let scope = narrowed.as_deref().unwrap_or(&session.scope);
                let custom = self
                    .custom_claims(&session, scope, GrantKind::RefreshToken)
                    .await?;
                let now_ms = self.clock.now_ms();
                let hash = refresh::hash(&successor);
                let exp = self.access.expiry(now_ms / 1000, Some(session.expires_at));
                if self
                    .store
                    .advance_session(&session.id, generation, &hash, now_ms, &client, exp)
                    .await?
                {
                    session.access_exp = session.access_exp.map(|recorded| recorded.max(exp));
                    return self.pair(
                        keys,
                        &session,
                        successor,
                        narrowed,
                        user.email_verified,
                        custom,
                    );
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
                let scope = narrowed.as_deref().unwrap_or(&session.scope);
                let custom = self
                    .custom_claims(&session, scope, GrantKind::RefreshToken)
                    .await?;
                return self.pair(
                    keys,
                    &session,
                    successor,
                    narrowed,
                    user.email_verified,
                    custom,
                );
            }
            break;
        }
        self.end(&session, Reason::Reuse).await?;
        crate::telemetry::refresh_reuse_detected();
        tracing::warn!(target: "signet::audit", event = "refresh_reuse", sid = %session.id, user = %session.user_id, "refresh token reuse: session revoked");
        Err(SessionError::Reused)
    }

    /// Revokes the session a refresh token belongs to (RFC 7009); unknown
    /// tokens and revoked sessions are ignored (no write).
    pub async fn revoke_refresh(&self, token: &str) -> Result<(), SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Ok(());
        }
        let found = self.store.session_by_refresh(&refresh::hash(token)).await?;
        if let Some((session, _)) = found.filter(|(s, _)| s.revoked_at.is_none()) {
            self.revocations
                .revoke_sessions(SessionTarget::One(&session.id), Reason::Revoked)
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
            Err(SessionError::Store(e)) => Err(e),
            Ok(_) | Err(_) => Ok(None),
        }
    }

    /// The live sessions of `user_id`.
    pub async fn list(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        live_sessions(&*self.store, user_id, self.idle, self.clock.now()).await
    }

    /// Ends the session `sid` if it is a live one of `user_id`'s; `false`
    /// otherwise (another user's session is not touched, and not told apart).
    pub async fn end_own(&self, user_id: &str, sid: &str) -> StoreResult<bool> {
        let now = self.clock.now();
        let live = self.store.session(sid).await?.is_some_and(|session| {
            session.user_id == user_id
                && session.revoked_at.is_none()
                && session.expires_at > now
                && session.last_used_at.saturating_add(seconds(self.idle)) > now
        });
        if !live {
            return Ok(false);
        }
        let target = SessionTarget::OneOfUser { sid, user_id };
        let ended = self.revocations.revoke_sessions(target, Reason::Revoked);
        Ok(!ended.await?.is_empty())
    }

    /// `POST /v1/logout`: ends the token's session, or with `all` every
    /// session of its user; a token without a session (client credentials)
    /// is revoked by its `jti`.
    pub async fn logout(&self, token: &LoggingOut<'_>, all: bool) -> StoreResult<()> {
        let target = match (token.sid, all) {
            (_, true) => Some(SessionTarget::AllOfUser(token.sub)),
            (Some(sid), false) => Some(SessionTarget::One(sid)),
            (None, false) => None,
        };
        if let Some(target) = target {
            self.revocations
                .revoke_sessions(target, Reason::Logout)
                .await?;
        }
        if token.sid.is_none() {
            self.revocations.revoke_token(token.jti, token.exp).await?;
        }
        tracing::info!(target: "signet::audit", event = "logout", user = %token.sub, all);
        Ok(())
    }

    /// The browser logout: ends session `sid` of `user_id`.
    pub async fn logout_browser(&self, sid: &str, user_id: &str) -> StoreResult<()> {
        self.revocations
            .revoke_sessions(SessionTarget::One(sid), Reason::Logout)
            .await?;
        tracing::info!(target: "signet::audit", event = "logout", user = %user_id, sid = %sid, transport = "browser");
        Ok(())
    }

    /// Ends every session of `user_id` but `keep` (all of them without).
    pub async fn end_others(
        &self,
        user_id: &str,
        keep: Option<&str>,
        why: Reason,
    ) -> StoreResult<()> {
        let target = match keep {
            Some(keep) => SessionTarget::OthersOfUser { user_id, keep },
            None => SessionTarget::AllOfUser(user_id),
        };
        self.revocations.revoke_sessions(target, why).await?;
        Ok(())
    }

    /// The rules a session must pass before any token of it works; its user
    /// when it passes. A limit found reached ends the session (once: later
    /// attempts see the stored reason), so its end is counted and listed
    /// like any other.
    async fn check_usable(&self, session: &Session) -> Result<User, SessionError> {
        if session.revoked_at.is_some() {
            let reason = session.revoked_reason.as_deref();
            return Err(match reason.and_then(Reason::from_stored) {
                Some(Reason::Absolute) => SessionError::Expired,
                Some(Reason::Idle) => SessionError::Idle,
                _ => SessionError::Revoked,
            });
        }
        let now = self.clock.now();
        if session.expires_at <= now {
            self.end(session, Reason::Absolute).await?;
            return Err(SessionError::Expired);
        }
        if session.last_used_at.saturating_add(seconds(self.idle)) <= now {
            self.end(session, Reason::Idle).await?;
            return Err(SessionError::Idle);
        }
        let Some(user) = self.store.user_by_id(&session.user_id).await? else {
            return Err(SessionError::Revoked);
        };
        if user.disabled {
            return Err(SessionError::Revoked);
        }
        if user.credential_generation != session.credential_generation {
            self.end(session, Reason::PasswordChange).await?;
            return Err(SessionError::Revoked);
        }
        Ok(user)
    }

    async fn end(&self, session: &Session, why: Reason) -> StoreResult<()> {
        self.revocations
            .revoke_sessions(SessionTarget::One(&session.id), why)
            .await?;
        Ok(())
    }

    /// Whether the last rotation is at most `grace` ago; a zero grace turns
    /// the window off.
    fn within_grace(&self, session: &Session) -> bool {
        let elapsed = self.clock.now_ms() - session.rotated_ms;
        let grace = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        grace > 0 && (0..=grace).contains(&elapsed)
    }

    /// Re-issues the pair of `user_id`'s live session `sid` after the user
    /// proved their password again: `auth_time` becomes now and the live
    /// refresh token is rotated (the previous one gets the usual grace).
    pub async fn reauthenticate(
        &self,
        keys: &KeyRing,
        sid: &str,
        user_id: &str,
        client: ClientSeen<'_>,
    ) -> Result<TokenPair, SessionError> {
        let client = client.recorded();
        for _ in 0..2 {
            let mut session = self
                .store
                .session(sid)
                .await?
                .filter(|s| s.user_id == user_id)
                .ok_or(SessionError::Revoked)?;
            let user = self.check_usable(&session).await?;
            let custom = self
                .custom_claims(&session, &session.scope, GrantKind::Reauthenticate)
                .await?;
            let now_ms = self.clock.now_ms();
            if !self.store.set_session_auth_time(sid, now_ms / 1000).await? {
                return Err(SessionError::Revoked);
            }
            session.auth_time = now_ms / 1000;
            let generation = session.generation;
            let successor = self
                .refresh
                .derive(&session.id, &session.nonce, generation + 1);
            let exp = self.access.expiry(now_ms / 1000, Some(session.expires_at));
            if self
                .store
                .advance_session(
                    sid,
                    generation,
                    &refresh::hash(&successor),
                    now_ms,
                    &client,
                    exp,
                )
                .await?
            {
                session.access_exp = session.access_exp.map(|recorded| recorded.max(exp));
                return self.pair(keys, &session, successor, None, user.email_verified, custom);
            }
            // A refresh rotated the session meanwhile: once more on fresh state.
        }
        Err(SessionError::Revoked)
    }

    /// The custom claims of the session's user for a token of `scope`.
    async fn custom_claims(
        &self,
        session: &Session,
        scope: &str,
        grant: GrantKind,
    ) -> Result<Map<String, Value>, SessionError> {
        let subject = Subject {
            owner: ClaimsOwner::User(&session.user_id),
            sub: &session.user_id,
            client_id: &session.client_id,
            sid: Some(&session.id),
            grant,
            scope,
        };
        Ok(self.claims.for_token(&subject).await?)
    }

    /// Access token (of `scope`, or the session's) plus `refresh_token`.
    fn pair(
        &self,
        keys: &KeyRing,
        session: &Session,
        refresh_token: String,
        scope: Option<String>,
        email_verified: bool,
        custom: Map<String, Value>,
    ) -> Result<TokenPair, SessionError> {
        let scope = scope.unwrap_or_else(|| session.scope.clone());
        let grant = Grant {
            sub: session.user_id.clone(),
            aud: self.audience.clone(),
            scope: scope.clone(),
            client_id: session.client_id.clone(),
            sid: Some(session.id.clone()),
            // Within what the store recorded, so the session's revocation
            // entry outlives the token (a grace-window re-issue included).
            not_after: Some(session.access_bound()),
            email_verified: Some(email_verified),
            auth_time: Some(session.auth_time),
            amr: AMR_PASSWORD,
            custom,
        };
        let access = self.access.mint(keys, &grant)?;
        Ok(TokenPair {
            access,
            refresh_token,
            scope,
        })
    }
}

/// The session rules against the real SQLite store in a temp file, with
/// time moved by hand: no test here sleeps.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::config::SigningAlg;
    use crate::keys::{KeySettings, Keys};
    use crate::store::{NewUser, PasswordChange, PoolSettings, SessionsToEnd};
    use crate::tokens::revocations::RevocationSettings;

    const DAY: Duration = Duration::from_secs(86_400);
    const ACCESS_TTL: Duration = Duration::from_secs(900);
    const GRACE: Duration = Duration::from_secs(5);
    const MS: Duration = Duration::from_millis(1);

    struct Fixture {
        sessions: Sessions,
        store: Arc<dyn Store>,
        clock: Arc<ManualClock>,
        keys: Keys,
        user: User,
        _dir: tempfile::TempDir,
    }

    /// Sessions with `refresh_ttl` 30 d, `session_idle` 7 d, grace 5 s.
    async fn fixture() -> Fixture {
        fixture_with(GRACE).await
    }

    async fn fixture_with(grace: Duration) -> Fixture {
        signet_guard::crypto::install();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("signet.db").display());
        let pool = PoolSettings {
            max_connections: 4,
            timeout: Duration::from_secs(5),
        };
        let store = crate::store::open(&url, pool).await.unwrap();
        // Starts at the real time (a whole second, as sessions count in
        // seconds): the revocation list keeps real times.
        let clock = ManualClock::at_ms(chrono::Utc::now().timestamp() * 1000);
        let revocations = RevocationSettings {
            margin: Duration::from_secs(60),
            max_waiters: 1,
            key_event_retention: ACCESS_TTL,
            webhooks: false,
        };
        let revocations = Revocations::new(store.clone(), revocations, Default::default())
            .await
            .unwrap();
        let access = AccessTokens::new("http://signet.test".into(), ACCESS_TTL, clock.clone());
        let keys = Keys::open(
            &dir.path().join("keys"),
            KeySettings {
                alg: SigningAlg::EdDSA,
                publish_delay: Duration::ZERO,
                retention: ACCESS_TTL,
                rotation: None,
            },
        )
        .unwrap();
        let user = store
            .create_user(NewUser {
                id: uuid::Uuid::now_v7().to_string(),
                email: "ada@example.com".into(),
                password_hash: "$argon2id$unused".into(),
                scope: String::new(),
                created_at: clock.now(),
            })
            .await
            .unwrap();
        let sessions = Sessions::new(
            store.clone(),
            Arc::new(revocations),
            Arc::new(access),
            RefreshTokens::load_or_init(dir.path()).unwrap(),
            clock.clone(),
            SessionSettings {
                audience: "signet".into(),
                refresh_ttl: 30 * DAY,
                idle: 7 * DAY,
                grace,
            },
            Arc::new(CustomClaims::new(store.clone(), None)),
        );
        Fixture {
            sessions,
            store,
            clock,
            keys,
            user,
            _dir: dir,
        }
    }

    impl Fixture {
        async fn login(&self) -> TokenPair {
            let client = ClientSeen {
                user_agent: Some("test/1"),
                ip: Some(IpAddr::from([198, 51, 100, 7])),
            };
            let user = self.store.user_by_id(&self.user.id).await.unwrap().unwrap();
            self.sessions
                .start(&self.keys.current(), &user, String::new(), client)
                .await
                .unwrap()
        }

        async fn refresh(&self, token: &str) -> Result<TokenPair, SessionError> {
            self.sessions
                .refresh(&self.keys.current(), token, None, ClientSeen::default())
                .await
        }

        /// The error of a refresh that must fail.
        async fn refused(&self, token: &str) -> SessionError {
            match self.refresh(token).await {
                Ok(_) => panic!("the refresh was expected to fail"),
                Err(error) => error,
            }
        }

        async fn stored(&self, pair: &TokenPair) -> Session {
            self.store.session(&sid(pair)).await.unwrap().unwrap()
        }
    }

    fn sid(pair: &TokenPair) -> String {
        let (_, claims) = crate::tokens::access::peek(&pair.access.token).unwrap();
        claims["sid"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn refreshing_rotates_the_token_and_records_the_use() {
        let f = fixture().await;
        let first = f.login().await;
        let session = f.stored(&first).await;
        assert_eq!(session.last_used_at, f.clock.now());
        assert_eq!(session.user_agent.as_deref(), Some("test/1"));
        assert_eq!(session.ip.as_deref(), Some("198.51.100.0/24"));

        f.clock.advance(DAY);
        let second = f.refresh(&first.refresh_token).await.unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        assert_eq!(sid(&second), sid(&first));
        let session = f.stored(&second).await;
        assert_eq!(
            (session.generation, session.last_used_at),
            (1, f.clock.now())
        );
        assert_eq!(
            session.user_agent, None,
            "the refreshing client is recorded"
        );
        let third = f.refresh(&second.refresh_token).await.unwrap();
        assert_eq!(f.stored(&third).await.generation, 2);
    }

    #[tokio::test]
    async fn the_grace_window_ends_exactly_at_refresh_grace() {
        let f = fixture().await;
        let first = f.login().await;
        let second = f.refresh(&first.refresh_token).await.unwrap();
        f.clock.advance(GRACE);
        let retried = f.refresh(&first.refresh_token).await.unwrap();
        assert_eq!(
            retried.refresh_token, second.refresh_token,
            "same successor"
        );

        f.clock.advance(MS);
        let late = f.refused(&first.refresh_token).await;
        assert!(matches!(late, SessionError::Reused), "{late}");
        let session = f.stored(&first).await;
        assert_eq!(
            session.revoked_reason.as_deref(),
            Some(Reason::Reuse.as_str())
        );
        let successor = f.refused(&second.refresh_token).await;
        assert!(matches!(successor, SessionError::Revoked), "{successor}");
    }

    #[tokio::test]
    async fn a_zero_grace_turns_the_window_off() {
        let f = fixture_with(Duration::ZERO).await;
        let first = f.login().await;
        f.refresh(&first.refresh_token).await.unwrap();
        let reused = f.refused(&first.refresh_token).await;
        assert!(matches!(reused, SessionError::Reused), "{reused}");
    }

    #[tokio::test]
    async fn within_grace_a_used_successor_makes_the_old_token_reuse() {
        let f = fixture().await;
        let first = f.login().await;
        let second = f.refresh(&first.refresh_token).await.unwrap();
        f.refresh(&second.refresh_token).await.unwrap();
        let reused = f.refused(&first.refresh_token).await;
        assert!(matches!(reused, SessionError::Reused), "{reused}");
        let mut other = f.login().await;
        f.clock.advance(MS);
        other = f.refresh(&other.refresh_token).await.unwrap();
        assert_eq!(f.stored(&other).await.revoked_at, None, "one session only");
    }

    #[tokio::test]
    async fn an_unused_session_ends_at_the_idle_limit() {
        let f = fixture().await;
        let first = f.login().await;
        f.clock.advance(7 * DAY - MS);
        let kept = f.refresh(&first.refresh_token).await.unwrap();

        f.clock.advance(7 * DAY);
        let error = f.refused(&kept.refresh_token).await;
        assert!(matches!(error, SessionError::Idle));
        assert!(error.to_string().contains("idle"), "{error}");
        let session = f.stored(&kept).await;
        assert_eq!(
            session.revoked_reason.as_deref(),
            Some(Reason::Idle.as_str())
        );
        assert!(
            f.store.is_revoked("-", Some(&session.id)).await.unwrap(),
            "on the revocation list"
        );
        let again = f.refused(&kept.refresh_token).await;
        assert!(
            matches!(again, SessionError::Idle),
            "still says idle: {again}"
        );
        assert!(f.sessions.list(&f.user.id).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_regularly_refreshed_session_ends_at_its_absolute_limit() {
        let f = fixture().await;
        let mut pair = f.login().await;
        for _ in 0..4 {
            f.clock.advance(6 * DAY);
            pair = f.refresh(&pair.refresh_token).await.unwrap();
        }
        // Day 24: the access token is still capped at the session's end.
        f.clock.advance(6 * DAY - Duration::from_secs(60));
        pair = f.refresh(&pair.refresh_token).await.unwrap();
        let end = f.stored(&pair).await.expires_at;
        assert_eq!(pair.access.exp, end, "never outlives the session");
        assert_eq!(pair.access.expires_in, 60);

        f.clock.advance(Duration::from_secs(60));
        let error = f.refused(&pair.refresh_token).await;
        assert!(matches!(error, SessionError::Expired));
        assert!(error.to_string().contains("absolute"), "{error}");
        assert_eq!(
            f.stored(&pair).await.revoked_reason.as_deref(),
            Some(Reason::Absolute.as_str())
        );
        let again = f.refused(&pair.refresh_token).await;
        assert!(matches!(again, SessionError::Expired), "{again}");
    }

    #[tokio::test]
    async fn sessions_of_an_older_credential_generation_are_refused() {
        let f = fixture().await;
        let changed_in = f.login().await;
        let other = f.login().await;
        let kept = sid(&changed_in);
        let change = PasswordChange {
            user_id: &f.user.id,
            password_hash: "$argon2id$new",
            end: SessionsToEnd::AllBut(&kept),
            reason: Reason::PasswordChange.as_str(),
            now: f.clock.now(),
        };
        let no_events = |_: &str, _: &[String]| Vec::new();
        f.store.change_password(change, &no_events).await.unwrap();
        f.refresh(&changed_in.refresh_token).await.unwrap();
        let refused = f.refused(&other.refresh_token).await;
        assert!(matches!(refused, SessionError::Revoked), "{refused}");
        assert_eq!(
            f.stored(&other).await.revoked_reason.as_deref(),
            Some(Reason::PasswordChange.as_str())
        );

        // A login that read the user before the change cannot start a session.
        let stale = f.user.clone();
        let started = f
            .sessions
            .start(
                &f.keys.current(),
                &stale,
                String::new(),
                ClientSeen::default(),
            )
            .await;
        assert!(
            matches!(started, Err(SessionError::CredentialsChanged)),
            "{:?}",
            started.err()
        );
    }

    #[tokio::test]
    async fn the_listing_and_ending_keep_to_the_user() {
        let f = fixture().await;
        let one = f.login().await;
        let two = f.login().await;
        f.clock.advance(DAY);
        f.refresh(&two.refresh_token).await.unwrap();
        let listed: Vec<String> = f
            .sessions
            .list(&f.user.id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(
            listed,
            vec![sid(&two), sid(&one)],
            "most recently used first"
        );

        assert!(
            !f.sessions
                .end_own("someone else", &sid(&one))
                .await
                .unwrap()
        );
        assert!(f.sessions.end_own(&f.user.id, &sid(&one)).await.unwrap());
        assert!(!f.sessions.end_own(&f.user.id, &sid(&one)).await.unwrap());
        let refused = f.refused(&one.refresh_token).await;
        assert!(matches!(refused, SessionError::Revoked), "{refused}");
        f.clock.advance(7 * DAY);
        assert!(
            !f.sessions.end_own(&f.user.id, &sid(&two)).await.unwrap(),
            "an idle session is not live"
        );
        f.sessions
            .end_others(&f.user.id, None, Reason::Logout)
            .await
            .unwrap();
        assert!(f.sessions.list(&f.user.id).await.unwrap().is_empty());
    }

    #[test]
    fn the_client_is_recorded_trimmed_and_truncated() {
        let long = format!(" Mozilla/5.0\u{7}\n{}", "x".repeat(500));
        let client = ClientSeen {
            user_agent: Some(&long),
            ip: Some("2001:db8:1:2:3:4:5:6".parse().unwrap()),
        }
        .recorded();
        let agent = client.user_agent.unwrap();
        assert!(agent.starts_with("Mozilla/5.0x") && agent.chars().count() <= 200);
        assert_eq!(client.ip.as_deref(), Some("2001:db8:1:2::/64"));
        let mapped = ClientSeen {
            user_agent: Some("  \t "),
            ip: Some("::ffff:192.0.2.200".parse().unwrap()),
        }
        .recorded();
        assert_eq!(mapped.user_agent, None);
        assert_eq!(mapped.ip.as_deref(), Some("192.0.2.0/24"));
    }
}
