//! Persistence behind one trait, so the embedded SQLite default and the
//! scale-out PostgreSQL store are interchangeable for every caller.
//! Times are Unix seconds; ids are UUID strings.

mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

pub use sqlite::SqliteStore;

/// A registered person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    /// Space-separated scopes this user may be granted.
    pub scope: String,
    pub disabled: bool,
    pub created_at: i64,
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
    /// Replaces a hash made with outdated argon2 parameters.
    async fn update_password_hash(&self, user_id: &str, hash: &str) -> StoreResult<()>;

    /// Starts a session together with its first refresh token.
    async fn create_session(&self, session: NewSession) -> StoreResult<()>;
}

/// Opens the store named by a `sqlite://` (or, later, `postgres://`) URL and migrates it.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(SqliteStore::open(url).await?));
    }
    Err(StoreError::Internal(
        "only sqlite:// database URLs are supported by this build".into(),
    ))
}
