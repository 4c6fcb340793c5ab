//! The revocation list and its live feed (CONTRACT §7). Entries live in the
//! store; a watch channel carries the latest feed position so long polls
//! wake within milliseconds of a revocation, at the cost of one idle task
//! and one channel receiver per waiter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::store::{Pruned, Revocation, SessionTarget, Store, StoreResult};

/// How long an ended session is kept before clean-up deletes it.
const SESSION_RETENTION_SECS: i64 = 86_400;
/// Most entries in one feed answer; a client whose page is full asks again.
pub const PAGE_LIMIT: u32 = 1000;
/// Smallest `revocation_margin`: a guard accepts a token until `exp` plus
/// its leeway, so an entry pruned sooner would let a revoked token back in.
pub const MIN_MARGIN: Duration = signet_guard::verify::DEFAULT_LEEWAY;

/// Why sessions were revoked; stored with them (`revoked_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Logout,
    /// A rotated refresh token was presented again.
    Reuse,
    /// RFC 7009 revocation of one of the session's refresh tokens.
    Revoked,
    UserDisabled,
    /// Unused for longer than `session_idle`.
    Idle,
    /// Reached `refresh_ttl`.
    Absolute,
    /// The user's password changed.
    PasswordChange,
    /// The password was set with a reset token.
    PasswordReset,
}

impl Reason {
    const ALL: [Reason; 8] = [
        Reason::Logout,
        Reason::Reuse,
        Reason::Revoked,
        Reason::UserDisabled,
        Reason::Idle,
        Reason::Absolute,
        Reason::PasswordChange,
        Reason::PasswordReset,
    ];

    /// As stored with the session and as the label of
    /// `signet_sessions_ended_total` (a fixed set, so labels stay bounded).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Logout => "logout",
            Reason::Reuse => "reuse",
            Reason::Revoked => "revoked",
            Reason::UserDisabled => "user disabled",
            Reason::Idle => "idle",
            Reason::Absolute => "absolute",
            Reason::PasswordChange => "password change",
            Reason::PasswordReset => "password reset",
        }
    }

    /// The reason a session was stored with.
    pub fn from_stored(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == stored)
    }
}

/// One answer of the feed.
pub struct FeedPage {
    pub cursor: i64,
    pub entries: Vec<Revocation>,
}

/// Why the feed could not answer.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A cursor newer than the newest entry: not issued by this feed (or by
    /// the database before a restore). The follower must start again.
    #[error("the cursor is newer than the feed")]
    CursorFromFuture,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Revokes sessions and tokens and serves the feed.
pub struct Revocations {
    store: Arc<dyn Store>,
    latest: watch::Sender<i64>,
    waiters: Arc<Semaphore>,
    settings: RevocationSettings,
    /// Ends long polls at once when the server shuts down.
    shutdown: CancellationToken,
    /// Fingerprint of the key set this instance last put into the feed.
    keys_recorded: Mutex<Option<String>>,
}

/// Settings of [`Revocations`].
#[derive(Debug, Clone, Copy)]
pub struct RevocationSettings {
    /// Entries are served and kept this long past their `exp`, so validators
    /// that allow clock leeway still see them: at least [`MIN_MARGIN`].
    pub margin: Duration,
    /// Long polls allowed to wait at once; beyond that a poll answers at once.
    pub max_waiters: usize,
    /// How long a key event stays in the feed: a follower that was away
    /// for longer learns the change from its scheduled JWKS refresh.
    pub key_event_retention: Duration,
    /// Report each revoked session as a `session.revoked` webhook event.
    pub webhooks: bool,
}

impl Revocations {
    pub async fn new(
        store: Arc<dyn Store>,
        settings: RevocationSettings,
        shutdown: CancellationToken,
    ) -> StoreResult<Self> {
        let latest = store.latest_revocation().await?;
        Ok(Self {
            store,
            latest: watch::Sender::new(latest),
            waiters: Arc::new(Semaphore::new(settings.max_waiters)),
            settings,
            shutdown,
            keys_recorded: Mutex::new(None),
        })
    }

    /// Revokes sessions and every access token they issued (each entry
    /// kept until the latest `exp` its session issued); returns the sids.
    pub async fn revoke_sessions(
        &self,
        target: SessionTarget<'_>,
        reason: Reason,
    ) -> StoreResult<Vec<String>> {
        let now = now();
        let webhooks = self.settings.webhooks;
        let events = |user_id: &str, sids: &[String]| {
            if webhooks {
                crate::webhooks::events::sessions_revoked(user_id, sids, reason.as_str(), now)
            } else {
                Vec::new()
            }
        };
        let sids = self
            .store
            .revoke_sessions(target, reason.as_str(), now, &events)
            .await?;
        self.ended(reason, &sids).await?;
        Ok(sids)
    }

    /// Counts and publishes sessions a store transaction ended.
    pub async fn ended(&self, reason: Reason, sids: &[String]) -> StoreResult<()> {
        if !sids.is_empty() {
            crate::telemetry::sessions_ended(reason.as_str(), sids.len());
            self.publish().await?;
        }
        Ok(())
    }

    /// Revokes one access token until its expiry.
    pub async fn revoke_token(&self, jti: &str, exp: i64) -> StoreResult<()> {
        self.store.revoke_token(jti, exp).await?;
        self.publish().await
    }

    /// Revokes an access token unless it or its session is already on the
    /// list: repeating a revocation reads, never writes (nor takes the feed
    /// lock), and adds nothing to any guard's set. `false` when it was a no-op.
    pub async fn revoke_access(&self, jti: &str, sid: Option<&str>, exp: i64) -> StoreResult<bool> {
        if self.store.is_revoked(jti, sid).await? {
            return Ok(false);
        }
        self.revoke_token(jti, exp).await?;
        Ok(true)
    }

    pub async fn is_revoked(&self, jti: &str, sid: Option<&str>) -> StoreResult<bool> {
        self.store.is_revoked(jti, sid).await
    }

    /// Puts a key event into the feed when the published key set (`kids`)
    /// differs from the one this instance last recorded. Every instance
    /// sees a change through `keys_dir`; the first to record it wins and the
    /// others' inserts are no-ops, so the feed shows it once.
    pub async fn keys_published<'a>(
        &self,
        kids: impl IntoIterator<Item = &'a str>,
    ) -> StoreResult<()> {
        let fingerprint = key_set_fingerprint(kids);
        let recorded = self.keys_recorded.lock().ok().and_then(|r| r.clone());
        let previous = match recorded {
            Some(previous) => previous,
            // First look since start: the newest event kept, so a change
            // made while no instance ran is told too. With none kept (a new
            // database) the current set is the baseline: no event.
            None => self
                .store
                .latest_key_change()
                .await?
                .unwrap_or_else(|| fingerprint.clone()),
        };
        if previous != fingerprint {
            let exp = now().saturating_add(seconds(self.settings.key_event_retention));
            if self.store.record_key_change(&fingerprint, exp).await? {
                tracing::info!(target: "signet::audit", event = "keys_changed", "published key set changed; guards told through the feed");
                self.publish().await?;
            }
        }
        if let Ok(mut recorded) = self.keys_recorded.lock() {
            *recorded = Some(fingerprint);
        }
        Ok(())
    }

    /// Entries after `after`; with nothing new, waits up to `wait` for some.
    /// A cursor beyond the newest entry is refused.
    pub async fn page(&self, after: i64, wait: Duration) -> Result<FeedPage, FeedError> {
        let mut latest = self.latest.subscribe();
        let mut seen = *latest.borrow_and_update();
        if after > seen {
            // Perhaps issued by another instance that saw a newer entry, or
            // before the entries after it were pruned.
            self.publish().await?;
            seen = *latest.borrow_and_update();
            if after > seen && after > self.store.feed_high_water().await? {
                return Err(FeedError::CursorFromFuture);
            }
        }
        let page = self.read(after, seen).await?;
        if !page.entries.is_empty() || wait.is_zero() {
            return Ok(page);
        }
        let Ok(_permit) = self.waiters.clone().try_acquire_owned() else {
            return Ok(page);
        };
        let woke = tokio::select! {
            woke = tokio::time::timeout(wait, latest.wait_for(|seq| *seq > after)) => {
                woke.ok().and_then(Result::ok).map(|seq| *seq)
            }
            () = self.shutdown.cancelled() => None,
        };
        match woke {
            Some(seen) => Ok(self.read(after, seen).await?),
            None => Ok(page),
        }
    }

    /// Publishes the store's latest position, waking long polls. Also how
    /// revocations made elsewhere (another instance) reach this feed.
    pub async fn publish(&self) -> StoreResult<()> {
        let latest = self.store.latest_revocation().await?;
        self.latest.send_if_modified(|current| {
            let newer = latest > *current;
            if newer {
                *current = latest;
            }
            newer
        });
        Ok(())
    }

    /// Removes expired entries, and sessions a day after they ended (until
    /// then a refresh is told "expired" rather than "not known").
    pub async fn prune(&self) -> StoreResult<Pruned> {
        let now = now();
        let ended = now.saturating_sub(SESSION_RETENTION_SECS);
        let pruned = self.store.prune(ended, self.horizon(now)).await?;
        let entries = self.store.count_revocations().await?;
        crate::telemetry::revocation_list_size(u64::try_from(entries).unwrap_or(0));
        Ok(pruned)
    }

    /// `latest` must be read before the query, so no entry up to it is missed.
    async fn read(&self, after: i64, latest: i64) -> StoreResult<FeedPage> {
        let entries = self
            .store
            .revocations_after(after, self.horizon(now()), PAGE_LIMIT)
            .await?;
        let full = entries.len() >= PAGE_LIMIT as usize;
        let cursor = match entries.last() {
            Some(last) if full => last.seq,
            Some(last) => last.seq.max(latest),
            None => after.max(latest),
        };
        Ok(FeedPage { cursor, entries })
    }
}

impl Revocations {
    /// Entries that expired before this are of no use to anyone.
    fn horizon(&self, now: i64) -> i64 {
        now.saturating_sub(seconds(self.settings.margin))
    }
}

/// Names a published key set: SHA-256 over its sorted kids, hex.
fn key_set_fingerprint<'a>(kids: impl IntoIterator<Item = &'a str>) -> String {
    let mut kids: Vec<&str> = kids.into_iter().collect();
    kids.sort_unstable();
    let digest = crate::secrets::sha256(kids.join("\n").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
