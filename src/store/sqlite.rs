//! The embedded default store: one SQLite file in WAL mode, so the CLI can
//! work on the same file while a server runs.

use std::str::FromStr;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{
    AccountToken, ClaimsOwner, Client, EventsFor, LoginAttempt, NewEvent, NewSession, NewUser,
    OutboxEvent, OutboxStats, PasswordChange, PasswordReset, PoolSettings, Pruned, Reservation,
    Revocation, RevocationRow, Session, SessionClient, SessionTarget, SessionsToEnd, StoreError,
    StoreResult, TokenPurpose, User, sql,
};

/// SQLite serialises writers already: feed positions commit in order.
const FEED_LOCK: Option<&str> = None;

/// SQLite has one writer: a claim cannot race another.
const CLAIM_LOCK: &str = "";

/// AUTOINCREMENT keeps the largest `seq` ever used in `sqlite_sequence`.
const FEED_HIGH_WATER: &str = "SELECT COALESCE(
    (SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0)";

/// SQLite implementation of [`super::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating file and parent folder on first start) and migrates.
    pub async fn open(url: &str, settings: PoolSettings) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(settings.timeout);
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        }
        create_private(url, options.get_filename())
            .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.timeout)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

/// Creates a missing database file empty with mode 0600 (password hashes
/// and session data are the owner's only); SQLite then gives its `-wal`
/// and `-shm` files the same mode. In-memory databases have no file.
fn create_private(url: &str, file: &std::path::Path) -> std::io::Result<()> {
    let name = file.to_string_lossy();
    if url.contains("mode=memory") || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl_store!(SqliteStore);
