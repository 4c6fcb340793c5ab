//! The JWKS cache: lock-free reads, background refresh per `max-age`,
//! single-flight refetch on an unknown `kid` with a cooldown, a refetch on
//! every key event of the feed (outside the cooldown), stale-if-error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::sync::Notify;

use crate::backoff::Backoff;
use crate::fetch::{self, Endpoints, FetchError};
use crate::jwk::JwkSet;
use crate::token_cache::TokenCache;
use crate::verify::KeySet;

/// Refresh interval when the JWKS response has no `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// First retry delay after a failed background fetch.
const RETRY_BASE: Duration = Duration::from_secs(1);
/// Retry cap while no key was ever loaded (every request is a 503 then).
const RETRY_CAP_UNLOADED: Duration = Duration::from_secs(5);
/// After a key event, fetches that still show the old set (the instance
/// that answered has not reloaded its keys yet) are retried this many
/// times, this far apart.
const KEY_EVENT_RETRIES: u32 = 3;
const KEY_EVENT_RETRY_DELAY: Duration = Duration::from_millis(500);

/// When to refetch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefreshPolicy {
    /// `max-age` is raised to at least this.
    pub(crate) floor: Duration,
    /// `max-age` is lowered to at most this.
    pub(crate) ceiling: Duration,
    /// At most one fetch per this interval is caused by requests (an unknown
    /// `kid` or keys never loaded).
    pub(crate) cooldown: Duration,
}

impl RefreshPolicy {
    fn interval(&self, max_age: Option<Duration>) -> Duration {
        max_age
            .unwrap_or(DEFAULT_MAX_AGE)
            .clamp(self.floor, self.ceiling.max(self.floor))
    }
}

/// The current key set, if any was ever loaded, and how to get a newer one.
pub(crate) struct JwksCache {
    keys: ArcSwapOption<KeySet>,
    /// Bumped on every stored set: a waiter compares it with the value it saw
    /// before failing to find its key, to learn that a newer set arrived.
    generation: AtomicU64,
    remote: Option<Remote>,
}

struct Remote {
    endpoints: Arc<Endpoints>,
    policy: RefreshPolicy,
    /// Held across a fetch: fetches are single-flight and waiters queue here.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl JwksCache {
    /// Keys given once, never fetched.
    pub(crate) fn fixed(keys: KeySet) -> Self {
        JwksCache {
            keys: ArcSwapOption::from_pointee(keys),
            generation: AtomicU64::new(1),
            remote: None,
        }
    }

    /// Keys fetched from the issuer; empty until the first fetch succeeds.
    pub(crate) fn remote(endpoints: Arc<Endpoints>, policy: RefreshPolicy) -> Self {
        JwksCache {
            keys: ArcSwapOption::empty(),
            generation: AtomicU64::new(0),
            remote: Some(Remote {
                endpoints,
                policy,
                last_attempt: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The current set, without locking (an `arc-swap` load).
    #[inline]
    pub(crate) fn load(&self) -> arc_swap::Guard<Option<Arc<KeySet>>> {
        self.keys.load()
    }

    pub(crate) fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.load_full()
    }

    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.keys.load().is_some()
    }

    pub(crate) fn replace(&self, keys: KeySet) {
        self.keys.store(Some(Arc::new(keys)));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Called when a token names a key the set lacks, or when no set was ever
    /// loaded; `seen` is [`generation`](Self::generation) read before the
    /// failed lookup. Single-flight: concurrent callers wait for the one fetch
    /// in progress. At most one such fetch per cooldown; a flood of random
    /// `kid`s therefore costs one request to the issuer per cooldown.
    ///
    /// Returns whether a newer set than `seen` is now available.
    pub(crate) async fn refetch(&self, seen: u64) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        let mut last_attempt = remote.last_attempt.lock().await;
        if self.generation() != seen {
            return true;
        }
        if last_attempt.is_some_and(|at| at.elapsed() < remote.policy.cooldown) {
            return false;
        }
        *last_attempt = Some(Instant::now());
        match self.fetch(remote).await {
            Ok(_) => true,
            Err(error) => {
                self.log_failure(&error);
                false
            }
        }
    }

    /// Fetches now, whatever the cooldown (startup and the background
    /// schedule); returns the interval until the next scheduled refresh.
    pub(crate) async fn refresh(&self) -> Result<Duration, FetchError> {
        let Some(remote) = &self.remote else {
            return Ok(Duration::MAX);
        };
        let mut last_attempt = remote.last_attempt.lock().await;
        *last_attempt = Some(Instant::now());
        self.fetch(remote).await
    }

    async fn fetch(&self, remote: &Remote) -> Result<Duration, FetchError> {
        let endpoints = &remote.endpoints;
        let result = async {
            let url = endpoints.jwks_url().await?;
            let (set, headers): (JwkSet, _) = endpoints.get_json(url).await?;
            let keys = KeySet::from_jwks(&set);
            if keys.is_empty() {
                return Err(FetchError::NoUsableKey { url: url.into() });
            }
            Ok((keys, fetch::max_age(&headers)))
        }
        .await;
        match result {
            Ok((keys, max_age)) => {
                tracing::debug!(keys = keys.len(), ?max_age, "JWKS loaded");
                metrics::counter!("signet_guard_jwks_fetches_total", "outcome" => "ok")
                    .increment(1);
                self.replace(keys);
                Ok(remote.policy.interval(max_age))
            }
            Err(error) => {
                metrics::counter!("signet_guard_jwks_fetches_total", "outcome" => "error")
                    .increment(1);
                Err(error)
            }
        }
    }

    fn log_failure(&self, error: &FetchError) {
        if self.is_loaded() {
            tracing::warn!(%error, "JWKS fetch failed; keeping the last good keys");
        } else {
            tracing::warn!(%error, "JWKS fetch failed; no keys loaded yet, tokens are answered 503");
        }
    }

    /// Follows the feed's key events: each one (events arriving during a
    /// fetch are coalesced into one more) refetches the JWKS at once,
    /// whatever the unknown-kid cooldown, then drops every cached
    /// verification made with a key that is no longer published.
    pub(crate) async fn follow_key_events(
        self: Arc<Self>,
        events: Arc<Notify>,
        cache: Option<Arc<TokenCache>>,
    ) {
        loop {
            events.notified().await;
            for attempt in 0..=KEY_EVENT_RETRIES {
                if attempt > 0 {
                    tokio::time::sleep(KEY_EVENT_RETRY_DELAY).await;
                }
                let before = self.current();
                if let Err(error) = self.refresh().await {
                    self.log_failure(&error);
                    continue;
                }
                let Some(after) = self.current() else {
                    continue;
                };
                if let Some(cache) = &cache {
                    cache.retain_verified_by(&after);
                }
                if before.is_none_or(|before| !before.same_keys(&after)) {
                    tracing::info!(keys = after.len(), "JWKS refetched on a key event");
                    break;
                }
            }
        }
    }

    /// The background refresher: on schedule per `max-age` (clamped), and on
    /// failure with backoff from 1 s up to the floor (5 s while no key was
    /// ever loaded), keeping the last good set meanwhile. `first` is the delay before the first fetch.
    pub(crate) async fn run(self: Arc<Self>, first: Duration) {
        let Some(remote) = &self.remote else { return };
        let mut backoff = Backoff::new(RETRY_BASE, remote.policy.floor.max(RETRY_BASE));
        let mut next = first;
        loop {
            tokio::time::sleep(next).await;
            next = match self.refresh().await {
                Ok(interval) => {
                    backoff.reset();
                    interval
                }
                Err(error) => {
                    self.log_failure(&error);
                    let delay = backoff.next_delay();
                    if self.is_loaded() {
                        delay
                    } else {
                        delay.min(RETRY_CAP_UNLOADED)
                    }
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_clamped() {
        let p = RefreshPolicy {
            floor: Duration::from_secs(60),
            ceiling: Duration::from_secs(3600),
            cooldown: Duration::from_secs(30),
        };
        assert_eq!(p.interval(Some(Duration::ZERO)), Duration::from_secs(60));
        assert_eq!(
            p.interval(Some(Duration::from_secs(86400))),
            Duration::from_secs(3600)
        );
        assert_eq!(
            p.interval(Some(Duration::from_secs(600))),
            Duration::from_secs(600)
        );
        assert_eq!(p.interval(None), DEFAULT_MAX_AGE);
    }
}
