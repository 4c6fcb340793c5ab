//! Persistence behind one trait, so the embedded SQLite default and the
//! scale-out PostgreSQL store are interchangeable for every caller.
//! Times are Unix seconds; ids are UUID strings.

#[macro_use]
mod sql;
mod postgres;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

pub use postgres::{PoolSettings, PostgresStore};
pub use sqlite::SqliteStore;

/// A registered person.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    /// Space-separated scopes this user may be granted.
    pub scope: String,
    pub disabled: bool,
    pub created_at: i64,
    /// Whether the user proved to own the email (a verification token).
    pub email_verified: bool,
    /// Bumped when the password changes; sessions issued under an older
    /// generation are refused.
    pub credential_generation: i64,
}

/// What is needed to register a user; the store assigns nothing itself.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub scope: String,
    pub created_at: i64,
}

/// A confidential client of the client_credentials grant.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// SHA-256 of the client secret.
    pub secret_hash: Vec<u8>,
    pub scope: String,
    pub audience: String,
    pub created_at: i64,
}

/// A login: the family of refresh tokens sharing one `sid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    /// Random per-session input of the refresh-token MAC.
    pub nonce: Vec<u8>,
    pub created_at: i64,
    /// Absolute end of the session; refreshing never extends it.
    pub expires_at: i64,
    /// SHA-256 of the first refresh token (generation 0).
    pub first_token_hash: Vec<u8>,
    /// The user's credential generation at login.
    pub credential_generation: i64,
    pub client: SessionClient,
    /// `exp` of the first access token.
    pub access_exp: i64,
    /// When the user last proved a credential (`auth_time`).
    pub auth_time: i64,
}

/// What a session shows of the client that last used it (trimmed and
/// truncated by the caller; nothing else about the client is stored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionClient {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    pub nonce: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    /// Generation of the live refresh token.
    pub generation: i64,
    /// When `generation` last advanced, in milliseconds.
    pub rotated_ms: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    /// Last login or refresh, in seconds: the idle limit counts from here.
    pub last_used_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub credential_generation: i64,
    /// Latest `exp` of an access token issued for the session (`None`:
    /// not recorded, so [`Session::access_bound`] falls back to its end).
    pub access_exp: Option<i64>,
    /// When the user last proved a credential; refreshing keeps it.
    pub auth_time: i64,
}

impl Session {
    /// No access token of this session expires after this, so a `sid`
    /// revocation kept until then covers all of them.
    pub fn access_bound(&self) -> i64 {
        self.access_exp
            .unwrap_or(self.expires_at)
            .min(self.expires_at)
    }
}

/// Whose custom claims (a JSON object, as text).
#[derive(Debug, Clone, Copy)]
pub enum ClaimsOwner<'a> {
    User(&'a str),
    Client(&'a str),
}

/// Which sessions to revoke.
#[derive(Debug, Clone, Copy)]
pub enum SessionTarget<'a> {
    One(&'a str),
    AllOfUser(&'a str),
    /// One session, only when it belongs to `user_id`.
    OneOfUser {
        sid: &'a str,
        user_id: &'a str,
    },
    /// Every session of `user_id` except `keep`.
    OthersOfUser {
        user_id: &'a str,
        keep: &'a str,
    },
}

/// What a revocation entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationKind {
    Sid,
    Jti,
    /// The published key set changed; `value` is its fingerprint.
    Keys,
}

impl RevocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Sid => "sid",
            RevocationKind::Jti => "jti",
            RevocationKind::Keys => "keys",
        }
    }
}

/// A revocation row before its kind is checked.
#[derive(sqlx::FromRow)]
struct RevocationRow {
    seq: i64,
    kind: String,
    value: String,
    exp: i64,
}

impl TryFrom<RevocationRow> for Revocation {
    type Error = StoreError;

    fn try_from(row: RevocationRow) -> StoreResult<Self> {
        let kind = match row.kind.as_str() {
            "sid" => RevocationKind::Sid,
            "jti" => RevocationKind::Jti,
            "keys" => RevocationKind::Keys,
            other => {
                return Err(StoreError::Internal(
                    format!("unknown revocation kind {other}").into(),
                ));
            }
        };
        Ok(Revocation {
            seq: row.seq,
            kind,
            value: row.value,
            exp: row.exp,
        })
    }
}

/// One entry of the revocation list; `seq` is its feed position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub seq: i64,
    pub kind: RevocationKind,
    pub value: String,
    /// Latest expiry of a token this entry can affect.
    pub exp: i64,
}

/// What a single-use account token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerification,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "reset",
            TokenPurpose::EmailVerification => "verify",
        }
    }
}

/// A single-use account token, stored only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToken {
    /// SHA-256 of the token.
    pub hash: Vec<u8>,
    pub user_id: String,
    pub purpose: TokenPurpose,
    pub expires_at: i64,
}

/// An event to write to the webhook outbox, in the transaction of the
/// change it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The `webhook-id`, the same on every delivery attempt.
    pub id: String,
    /// Events of one user are delivered in order.
    pub user_id: String,
    pub event_type: String,
    /// The JSON body, exactly as it is signed and sent.
    pub payload: String,
    pub created_at: i64,
}

/// An event in the outbox, claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxEvent {
    pub seq: i64,
    pub id: String,
    pub user_id: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: i64,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// The outbox at a glance, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub depth: i64,
    /// `created_at` of the oldest undelivered event.
    pub oldest: Option<i64>,
}

/// Builds the events of a change from what the transaction found: the
/// user and the sids it revoked.
pub type EventsFor<'a> = dyn Fn(&str, &[String]) -> Vec<NewEvent> + Send + Sync + 'a;

/// A password reset by a reset token, done in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct PasswordReset<'a> {
    pub token_hash: &'a [u8],
    pub password_hash: &'a str,
    pub now: i64,
    pub reason: &'a str,
}

/// Which of the user's sessions a password change ends
/// (`password_change_revokes`: `none`, `all`, or `others` = all but the
/// caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionsToEnd<'a> {
    None,
    All,
    AllBut(&'a str),
}

/// A password change by the signed-in user, done in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct PasswordChange<'a> {
    pub user_id: &'a str,
    pub password_hash: &'a str,
    pub end: SessionsToEnd<'a>,
    pub reason: &'a str,
    pub now: i64,
}

/// Rows removed by one clean-up pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub revocations: u64,
    pub client_tokens: u64,
}

/// One login attempt to reserve against the failure budgets of
/// `auth::throttle`, counted in fixed windows of `window_secs`.
#[derive(Debug, Clone, Copy)]
pub struct LoginAttempt<'a> {
    /// SHA-256 of the folded username.
    pub account: &'a [u8],
    /// The client's address key.
    pub source: &'a str,
    pub now: i64,
    pub window_secs: i64,
    /// Attempts per account from this source per window.
    pub per_source: i64,
    /// Attempts per account per window from sources not known to it.
    pub per_account: i64,
    /// A source is known to the account when it logged in at or after this.
    pub known_since: i64,
}

/// The answer to [`Store::reserve_login`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Go ahead; `counted` when the attempt also took from the account budget.
    Granted { counted: bool },
    /// A budget is spent until `retry_at`.
    Refused { retry_at: i64 },
}

/// Failures every backend reports the same way.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or timed out; worth a retry later.
    #[error("the store is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A unique constraint refused the write.
    #[error("already exists")]
    Duplicate,
    /// Anything else: a bug or a corrupted database.
    #[error("store failure")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Duplicate,
            // PostgreSQL connection exceptions, operator intervention (a
            // restart) and resource exhaustion: the database is away, not broken.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|code| ["08", "57", "53"].iter().any(|c| code.starts_with(c))) =>
            {
                Self::Unavailable(error)
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(error),
            _ => Self::Internal(Box::new(error)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Internal(Box::new(error))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The storage operations Signet needs, each one atomic.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    /// Fails with [`StoreError::Duplicate`] when the email is taken.
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    /// Replaces a hash made with outdated argon2 parameters, unless the
    /// password changed meanwhile (the hash is no longer `from`).
    async fn update_password_hash(&self, user_id: &str, from: &str, to: &str) -> StoreResult<()>;

    /// Disables or re-enables a user; `false` when there is no such user.
    async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> StoreResult<bool>;

    async fn create_client(&self, client: Client) -> StoreResult<()>;
    async fn client(&self, id: &str) -> StoreResult<Option<Client>>;
    async fn clients(&self) -> StoreResult<Vec<Client>>;
    /// Removes a client and lists every access token it was issued (see
    /// [`Store::record_client_token`]) by `jti` on the revocation list, in
    /// one transaction. The number of tokens revoked; `None` when there was
    /// no such client.
    async fn remove_client(&self, id: &str) -> StoreResult<Option<u64>>;
    /// Remembers an access token issued to a client until its `exp`;
    /// `false` when the client no longer exists (removed meanwhile), in
    /// which case the token must not be handed out.
    async fn record_client_token(&self, client_id: &str, jti: &str, exp: i64) -> StoreResult<bool>;

    /// Starts a session together with its first refresh token; `false` (and
    /// nothing stored) when the user's credential generation is no longer
    /// the session's (the password changed during the login).
    async fn create_session(&self, session: NewSession) -> StoreResult<bool>;
    async fn session(&self, sid: &str) -> StoreResult<Option<Session>>;
    /// The user's sessions that are neither revoked, nor past `now`, nor
    /// unused since `idle_before`; most recently used first, at most `limit`.
    async fn live_sessions(
        &self,
        user_id: &str,
        now: i64,
        idle_before: i64,
        limit: u32,
    ) -> StoreResult<Vec<Session>>;
    /// The session a refresh token belongs to, and the token's generation.
    async fn session_by_refresh(&self, token_hash: &[u8]) -> StoreResult<Option<(Session, i64)>>;
    /// Atomically moves a live session from generation `from` to `from + 1`,
    /// records the new token's hash, the client's use and the `exp` of the
    /// access token about to be issued with it (raising the session's
    /// `access_exp`); `false` when another request (a revocation, a password
    /// change) got there first.
    async fn advance_session(
        &self,
        sid: &str,
        from: i64,
        next_hash: &[u8],
        now_ms: i64,
        client: &SessionClient,
        access_exp: i64,
    ) -> StoreResult<bool>;
    /// Revokes live sessions, lists each `sid` on the revocation list until
    /// the latest `exp` of its access tokens ([`Session::access_bound`]) and
    /// writes the `events` made from the user and the sids, in one
    /// transaction. Returns the sids revoked.
    async fn revoke_sessions(
        &self,
        target: SessionTarget<'_>,
        reason: &str,
        now: i64,
        events: &EventsFor<'_>,
    ) -> StoreResult<Vec<String>>;
    /// Lists an access token's `jti` until `exp`.
    async fn revoke_token(&self, jti: &str, exp: i64) -> StoreResult<()>;
    /// Puts a key event for the published key set `fingerprint` into the
    /// feed, kept until `exp`; `false` when it is there already (another
    /// instance recorded the same change).
    async fn record_key_change(&self, fingerprint: &str, exp: i64) -> StoreResult<bool>;
    /// Entries after feed position `after` still relevant at `now`, oldest first.
    async fn revocations_after(
        &self,
        after: i64,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<Revocation>>;
    /// Whether the `jti` or the `sid` is on the revocation list.
    async fn is_revoked(&self, jti: &str, sid: Option<&str>) -> StoreResult<bool>;
    /// Entries on the revocation list (for the size metric).
    async fn count_revocations(&self) -> StoreResult<i64>;
    /// Highest feed position ever assigned (0 when none).
    async fn latest_revocation(&self) -> StoreResult<i64>;
    /// The highest feed position ever allocated (0 when none): pruning does
    /// not lower it, a database restore does. A cursor above it was never
    /// issued by this database.
    async fn feed_high_water(&self) -> StoreResult<i64>;
    /// The fingerprint of the newest key event, if one is kept.
    async fn latest_key_change(&self) -> StoreResult<Option<String>>;
    /// Deletes sessions that ended before `ended`, and entries and client
    /// tokens that expired before `horizon`.
    async fn prune(&self, ended: i64, horizon: i64) -> StoreResult<Pruned>;

    /// [`Store::create_user`] plus an account token and outbox events, in
    /// one transaction.
    async fn create_user_with_events(
        &self,
        user: NewUser,
        token: Option<AccountToken>,
        events: Vec<NewEvent>,
    ) -> StoreResult<User>;
    /// Stores a single-use token and the events that hand it out, together.
    async fn issue_account_token(
        &self,
        token: AccountToken,
        events: Vec<NewEvent>,
    ) -> StoreResult<()>;
    /// Consumes a live email-verification token and marks its user's email
    /// verified; the user id, or `None` for an unknown, used or expired token.
    async fn verify_email(&self, token_hash: &[u8], now: i64) -> StoreResult<Option<String>>;
    /// Consumes a live reset token, sets the new password hash, bumps the
    /// credential generation, marks the email verified (the token went to
    /// it), revokes every session of the user (listing each `sid`) and
    /// writes `events`, in one transaction; the user id and the sids
    /// revoked, or `None` for an unusable token.
    async fn reset_password(
        &self,
        reset: PasswordReset<'_>,
        events: &EventsFor<'_>,
    ) -> StoreResult<Option<(String, Vec<String>)>>;
    /// Sets the user's password hash, ends the sessions `change.end` names
    /// (each `sid` on the revocation list) and writes `events`, in one
    /// transaction; returns the sids ended. Unless no session ends, the
    /// user's credential generation moves on (the kept session with it), so
    /// a session a racing login creates under the old password is refused.
    /// For `POST /v1/password`.
    async fn change_password(
        &self,
        change: PasswordChange<'_>,
        events: &EventsFor<'_>,
    ) -> StoreResult<Vec<String>>;
    /// Writes events on their own, for changes made outside the store.
    async fn enqueue_events(&self, events: Vec<NewEvent>) -> StoreResult<()>;
    /// Leases up to `limit` due events, each the oldest undelivered event of
    /// its user, until `lease_until_ms`: no other instance sends them
    /// meanwhile, and a crashed sender's lease simply runs out.
    async fn claim_events(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEvent>>;
    /// Removes a delivered event.
    async fn event_delivered(&self, seq: i64) -> StoreResult<()>;
    /// Records a failed attempt and when to try again.
    async fn event_failed(&self, seq: i64, retry_at_ms: i64, error: &str) -> StoreResult<()>;
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;

    /// Atomically takes one attempt from the source's budget and, unless
    /// the source is known to the account, from the account's budget; takes
    /// nothing when either is spent.
    async fn reserve_login(&self, attempt: &LoginAttempt<'_>) -> StoreResult<Reservation>;
    /// Gives back a reserved attempt (`counted`: also to the account
    /// budget). With `succeeded_at` the source's count is cleared and the
    /// source becomes known to the account.
    async fn settle_login(
        &self,
        account: &[u8],
        source: &str,
        counted: bool,
        succeeded_at: Option<i64>,
    ) -> StoreResult<()>;
    /// Deletes counts whose window started at or before `expired` unless
    /// their source logged in at or after `known_since`.
    async fn prune_logins(&self, expired: i64, known_since: i64) -> StoreResult<u64>;
    /// Records a reauthentication of a live session; `false` when it is
    /// revoked or unknown.
    async fn set_session_auth_time(&self, sid: &str, auth_time: i64) -> StoreResult<bool>;
    /// Replaces the custom claims of a user or client; `false` when there
    /// is no such owner.
    async fn set_claims(&self, owner: ClaimsOwner<'_>, claims: &str) -> StoreResult<bool>;
    /// The custom claims of a user or client; `None` when there is no such owner.
    async fn claims(&self, owner: ClaimsOwner<'_>) -> StoreResult<Option<String>>;
}

/// Opens the store named by a `sqlite://` or `postgres://` URL and migrates it.
pub async fn open(url: &str, pool: PoolSettings) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(SqliteStore::open(url, pool).await?));
    }
    Ok(Arc::new(PostgresStore::open(url, pool).await?))
}
