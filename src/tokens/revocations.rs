//! The revocation list and its live feed (CONTRACT §7). Entries live in the
//! store; a watch channel carries the latest feed position so long polls
//! wake within milliseconds of a revocation, at the cost of one idle task
//! and one channel receiver per waiter.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::store::{Pruned, Revocation, SessionTarget, Store, StoreResult};

/// How long an ended session is kept before clean-up deletes it.
const SESSION_RETENTION_SECS: i64 = 86_400;
/// Most entries in one feed answer; a client whose page is full asks again.
pub const PAGE_LIMIT: u32 = 1000;

/// One answer of the feed.
pub struct FeedPage {
    pub cursor: i64,
    pub entries: Vec<Revocation>,
}

/// Revokes sessions and tokens and serves the feed.
pub struct Revocations {
    store: Arc<dyn Store>,
    latest: watch::Sender<i64>,
    waiters: Arc<Semaphore>,
    settings: RevocationSettings,
    /// Ends long polls at once when the server shuts down.
    shutdown: CancellationToken,
}

/// Settings of [`Revocations`].
#[derive(Debug, Clone, Copy)]
pub struct RevocationSettings {
    /// Lifetime of access tokens: a revoked session's entry lasts this long.
    pub access_ttl: Duration,
    /// Entries are served and kept this long past their `exp`, so validators
    /// that allow clock leeway still see them.
    pub margin: Duration,
    /// Long polls allowed to wait at once; beyond that a poll answers at once.
    pub max_waiters: usize,
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
        })
    }

    /// Revokes sessions and every access token they issued; returns the sids.
    pub async fn revoke_sessions(
        &self,
        target: SessionTarget<'_>,
        reason: &str,
    ) -> StoreResult<Vec<String>> {
        let now = now();
        let ttl = seconds(self.settings.access_ttl);
        let exp = now.saturating_add(ttl);
        let webhooks = self.settings.webhooks;
        let events = |user_id: &str, sids: &[String]| {
            if webhooks {
                crate::webhooks::events::sessions_revoked(user_id, sids, reason, now)
            } else {
                Vec::new()
            }
        };
        let sids = self
            .store
            .revoke_sessions(target, reason, now, exp, &events)
            .await?;
        if !sids.is_empty() {
            self.publish().await?;
        }
        Ok(sids)
    }

    /// Revokes one access token until its expiry.
    pub async fn revoke_token(&self, jti: &str, exp: i64) -> StoreResult<()> {
        self.store.revoke_token(jti, exp).await?;
        self.publish().await
    }

    pub async fn is_revoked(&self, jti: &str, sid: Option<&str>) -> StoreResult<bool> {
        self.store.is_revoked(jti, sid).await
    }

    /// Entries after `after`; with nothing new, waits up to `wait` for some.
    pub async fn page(&self, after: i64, wait: Duration) -> StoreResult<FeedPage> {
        let mut latest = self.latest.subscribe();
        let seen = *latest.borrow_and_update();
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
            Some(seen) => self.read(after, seen).await,
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

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
