//! The scale-out store: several Signet instances share one PostgreSQL
//! database. Rotation stays atomic across instances because it is one
//! conditional `UPDATE` (no in-process lock is involved).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{
    AccountToken, ClaimsOwner, Client, EventsFor, LoginAttempt, NewEvent, NewSession, NewUser,
    OutboxEvent, OutboxStats, PasswordChange, PasswordReset, Pruned, Reservation, Revocation,
    RevocationRow, Session, SessionClient, SessionTarget, SessionsToEnd, StoreResult, TokenPurpose,
    User, sql,
};

/// Serialises transactions that add revocations, so feed positions (an
/// identity column) become visible in order on every instance.
const FEED_LOCK: Option<&str> = Some("SELECT pg_advisory_xact_lock(7170216110)");

/// Instances claiming at once skip each other's rows instead of waiting
/// for them, and never claim the same event.
const CLAIM_LOCK: &str = " FOR UPDATE SKIP LOCKED";

/// The identity sequence of `seq` (values of transactions still open, or
/// rolled back, included: those are not from the future either).
const FEED_HIGH_WATER: &str = "SELECT COALESCE(pg_sequence_last_value(
    pg_get_serial_sequence('revocations', 'seq')::regclass), 0)";

/// Connection pool limits, for either backend.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// Longest wait for a connection (and, on PostgreSQL, for a statement).
    pub timeout: Duration,
}

/// PostgreSQL implementation of [`super::Store`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects and runs the migrations (concurrent instances take turns
    /// through the migrator's advisory lock).
    pub async fn open(url: &str, settings: PoolSettings) -> StoreResult<Self> {
        let pool = Self::pool(url, settings).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    async fn pool(url: &str, settings: PoolSettings) -> StoreResult<PgPool> {
        let timeout_ms = settings.timeout.as_millis().to_string();
        let options: PgConnectOptions = url.parse::<PgConnectOptions>()?.options([
            ("statement_timeout", timeout_ms.as_str()),
            ("lock_timeout", timeout_ms.as_str()),
        ]);
        Ok(PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.timeout)
            .connect_with(options)
            .await?)
    }
}

impl_store!(PostgresStore);
