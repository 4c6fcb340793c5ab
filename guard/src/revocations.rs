//! The revocation list: an in-memory copy of Signet's feed (`jti` and `sid`
//! entries, each kept until its `exp`), followed in the background by long
//! poll. A request checks it with two hash lookups and no lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use serde::Deserialize;

use crate::backoff::Backoff;
use crate::fetch::{self, Endpoints, FetchError};
use crate::guard::GuardError;

/// First reconnect delay, and the cap: recovery after an outage stays fast.
const RECONNECT_BASE: Duration = Duration::from_millis(100);
const RECONNECT_CAP: Duration = Duration::from_secs(5);
/// A poll that returns nothing new sooner than this is followed by a pause,
/// so a feed that ignores `wait` is polled at most once per second.
const MIN_EMPTY_POLL: Duration = Duration::from_secs(1);

/// What validation does while the revocation feed cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailMode {
    /// Keep accepting tokens; those revoked meanwhile stay accepted until the
    /// feed is back or they expire. A warning is logged and the gauge
    /// `signet_guard_revocation_feed_up` drops to 0. The default: an outage
    /// of Signet does not take the fleet down.
    #[default]
    FailOpen,
    /// Refuse every token (503) once the last successful contact with the
    /// feed is older than `after` (or the feed was never reached). Choose
    /// `after` above the long-poll wait (25 s by default).
    FailClosed { after: Duration },
}

/// A revoked token id or session id with the latest `exp` it can affect.
#[derive(Clone, Debug, Default)]
struct RevokedSet {
    jti: HashMap<Box<str>, i64>,
    sid: HashMap<Box<str>, i64>,
    /// The smallest `exp` held, to know when pruning has work to do.
    earliest: Option<i64>,
}

impl RevokedSet {
    fn insert(&mut self, entry: Entry) {
        let (map, id) = match entry.id {
            Id::Jti(id) => (&mut self.jti, id),
            Id::Sid(id) => (&mut self.sid, id),
        };
        let exp = map.entry(id.into_boxed_str()).or_insert(entry.exp);
        *exp = (*exp).max(entry.exp);
        self.earliest = Some(self.earliest.map_or(*exp, |e| e.min(*exp)));
    }

    /// Drops entries that can no longer affect an acceptable token.
    fn pruned(&self, horizon: i64) -> RevokedSet {
        let keep = |map: &HashMap<Box<str>, i64>| -> HashMap<Box<str>, i64> {
            map.iter()
                .filter(|(_, exp)| **exp > horizon)
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        };
        let jti = keep(&self.jti);
        let sid = keep(&self.sid);
        let earliest = jti.values().chain(sid.values()).copied().min();
        RevokedSet { jti, sid, earliest }
    }

    fn len(&self) -> usize {
        self.jti.len() + self.sid.len()
    }
}

#[derive(Clone, Debug)]
enum Id {
    Jti(String),
    Sid(String),
}

#[derive(Clone, Debug)]
struct Entry {
    id: Id,
    exp: i64,
}

/// One page of the feed: `{"cursor": "…", "entries": [{"sid"|"jti", "exp"}]}`.
#[derive(Deserialize)]
struct Page {
    cursor: serde_json::Value,
    #[serde(default)]
    entries: Vec<PageEntry>,
}

#[derive(Deserialize)]
struct PageEntry {
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    exp: i64,
}

impl PageEntry {
    fn into_entries(self) -> impl Iterator<Item = Entry> {
        let exp = self.exp;
        let jti = self.jti.map(|id| Entry {
            id: Id::Jti(id),
            exp,
        });
        let sid = self.sid.map(|id| Entry {
            id: Id::Sid(id),
            exp,
        });
        jti.into_iter().chain(sid)
    }
}

/// The revocation list and the state of the feed that fills it.
pub(crate) struct Revocations {
    set: ArcSwap<RevokedSet>,
    fail_mode: FailMode,
    /// Whether a feed is followed at all (fixed-key guards have none).
    follows_feed: bool,
    epoch: Instant,
    /// Milliseconds from `epoch` to the last successful feed answer, plus one;
    /// zero while the feed was never reached.
    last_ok: AtomicU64,
    /// Whether the follower currently considers the feed up (for logs).
    up: AtomicBool,
}

impl Revocations {
    pub(crate) fn new(fail_mode: FailMode, follows_feed: bool) -> Self {
        Revocations {
            set: ArcSwap::from_pointee(RevokedSet::default()),
            fail_mode,
            follows_feed,
            epoch: Instant::now(),
            last_ok: AtomicU64::new(0),
            up: AtomicBool::new(false),
        }
    }

    /// The per-request check: is this token's `jti` or `sid` revoked, and
    /// (fail-closed only) is the list fresh enough to answer at all?
    #[inline]
    pub(crate) fn check(&self, jti: &str, sid: Option<&str>) -> Result<(), GuardError> {
        let set = self.set.load();
        if !set.jti.is_empty() && set.jti.contains_key(jti) {
            return Err(GuardError::Token(crate::TokenError::Revoked));
        }
        if let Some(sid) = sid
            && !set.sid.is_empty()
            && set.sid.contains_key(sid)
        {
            return Err(GuardError::Token(crate::TokenError::Revoked));
        }
        if self.is_stale() {
            return Err(GuardError::RevocationsUnavailable);
        }
        Ok(())
    }

    /// True when fail-closed and the feed was not heard from recently enough.
    pub(crate) fn is_stale(&self) -> bool {
        let FailMode::FailClosed { after } = self.fail_mode else {
            return false;
        };
        if !self.follows_feed {
            return false;
        }
        match self.last_ok.load(Ordering::Acquire) {
            0 => true,
            ms => {
                self.epoch
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms - 1))
                    > after
            }
        }
    }

    /// Time since the feed last answered, `None` if it never did.
    pub(crate) fn last_contact(&self) -> Option<Duration> {
        match self.last_ok.load(Ordering::Acquire) {
            0 => None,
            ms => Some(
                self.epoch
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms - 1)),
            ),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.set.load().len()
    }

    pub(crate) fn revoke_jti(&self, jti: &str, exp: i64) {
        self.apply(vec![Entry {
            id: Id::Jti(jti.to_owned()),
            exp,
        }]);
    }

    pub(crate) fn revoke_sid(&self, sid: &str, exp: i64) {
        self.apply(vec![Entry {
            id: Id::Sid(sid.to_owned()),
            exp,
        }]);
    }

    /// Copies the set with `entries` added and publishes the copy. Revocation
    /// batches are small and rare next to reads, so readers never wait.
    fn apply(&self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        self.set.rcu(|current| {
            let mut next = RevokedSet::clone(current);
            for entry in &entries {
                next.insert(entry.clone());
            }
            next
        });
    }

    fn prune(&self, now: i64, leeway_secs: i64) {
        let horizon = now.saturating_sub(leeway_secs);
        let current = self.set.load();
        if current.earliest.is_some_and(|e| e <= horizon) {
            self.set.rcu(|current| current.pruned(horizon));
        }
    }

    fn mark_ok(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_ok.store(ms + 1, Ordering::Release);
        if !self.up.swap(true, Ordering::AcqRel) {
            metrics::gauge!("signet_guard_revocation_feed_up").set(1.0);
            tracing::info!(entries = self.len(), "revocation feed connected");
        }
    }

    fn mark_failed(&self, error: &FetchError) {
        metrics::counter!("signet_guard_revocation_feed_errors_total").increment(1);
        let was_up = self.up.swap(false, Ordering::AcqRel);
        let first_failure = was_up || self.last_ok.load(Ordering::Acquire) == 0;
        if first_failure {
            metrics::gauge!("signet_guard_revocation_feed_up").set(0.0);
            match self.fail_mode {
                FailMode::FailOpen => tracing::warn!(
                    %error,
                    "revocation feed unreachable; failing open: tokens revoked meanwhile \
                     are accepted until the feed is back or they expire"
                ),
                FailMode::FailClosed { after } => tracing::warn!(
                    %error,
                    ?after,
                    "revocation feed unreachable; failing closed: tokens are refused with 503 \
                     once the last contact is older than `after`"
                ),
            }
        } else {
            tracing::debug!(%error, "revocation feed still unreachable");
        }
    }

    /// The follower: long-polls the feed until the guard is dropped.
    ///
    /// The first request has no cursor and returns the whole current list;
    /// the following ones send `after=CURSOR&wait=N` and `If-None-Match`, and
    /// return as soon as something new is revoked (so a logout reaches this
    /// list in well under a second), or after `wait` with 304. Errors
    /// reconnect with backoff from 100 ms capped at 5 s; the cursor is kept,
    /// and dropped only when the feed refuses it.
    pub(crate) async fn follow(
        self: Arc<Self>,
        endpoints: Arc<Endpoints>,
        wait: Duration,
        leeway_secs: i64,
        attempts: tokio::sync::watch::Sender<u64>,
    ) {
        let mut feed = Follower {
            cursor: None,
            etag: None,
        };
        let mut backoff = Backoff::new(RECONNECT_BASE, RECONNECT_CAP);
        loop {
            let started = Instant::now();
            let long_poll = feed.cursor.is_some();
            let outcome = feed.poll(&endpoints, wait).await;
            self.prune(crate::verify::unix_now(), leeway_secs);
            match outcome {
                Ok(entries) => {
                    let had_news = !entries.is_empty();
                    self.apply(entries);
                    self.mark_ok();
                    backoff.reset();
                    // Only now: `build()` waits on this, and must return
                    // with the revocations already applied.
                    attempts.send_modify(|n| *n += 1);
                    let elapsed = started.elapsed();
                    if long_poll && !had_news && elapsed < MIN_EMPTY_POLL {
                        tokio::time::sleep(MIN_EMPTY_POLL - elapsed).await;
                    }
                }
                Err(error) => {
                    self.mark_failed(&error);
                    attempts.send_modify(|n| *n += 1);
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }
}

/// The follower's position in the feed.
struct Follower {
    cursor: Option<String>,
    etag: Option<String>,
}

impl Follower {
    async fn poll(
        &mut self,
        endpoints: &Endpoints,
        wait: Duration,
    ) -> Result<Vec<Entry>, FetchError> {
        let url = endpoints.feed_url().await?;
        let mut target = reqwest::Url::parse(url).map_err(|_| FetchError::InvalidUrl {
            url: url.to_owned(),
        })?;
        let mut budget = endpoints.timeout;
        if let Some(cursor) = &self.cursor {
            target
                .query_pairs_mut()
                .append_pair("after", cursor)
                .append_pair("wait", &wait.as_secs().to_string());
            budget += wait;
        }
        let mut request = endpoints.client.get(target);
        if let (Some(_), Some(etag)) = (&self.cursor, &self.etag) {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let exchange = async {
            let response = request.send().await.map_err(|source| FetchError::Http {
                url: url.into(),
                source,
            })?;
            match response.status() {
                StatusCode::OK => {
                    let etag = response
                        .headers()
                        .get(ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let page: Page = fetch::read_json(url, response).await?;
                    Ok(Some((page, etag)))
                }
                StatusCode::NOT_MODIFIED => Ok(None),
                status => Err(FetchError::Status {
                    url: url.into(),
                    status: status.as_u16(),
                }),
            }
        };
        let answer = match tokio::time::timeout(budget, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(FetchError::Timeout {
                url: url.into(),
                after: budget,
            }),
        };
        match answer {
            Ok(Some((page, etag))) => {
                self.cursor = Some(match page.cursor {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                });
                self.etag = etag;
                Ok(page
                    .entries
                    .into_iter()
                    .flat_map(PageEntry::into_entries)
                    .collect())
            }
            Ok(None) => Ok(Vec::new()),
            Err(error) => {
                // A cursor the feed no longer knows: start over from the full
                // list (entries already held are kept until their exp).
                if let FetchError::Status {
                    status: 400 | 404 | 410,
                    ..
                } = error
                {
                    self.cursor = None;
                    self.etag = None;
                }
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_ids_are_refused_until_pruned() {
        let r = Revocations::new(FailMode::FailOpen, false);
        assert!(r.check("j1", Some("s1")).is_ok());
        r.revoke_jti("j1", 100);
        r.revoke_sid("s1", 200);
        assert!(r.check("j1", None).is_err());
        assert!(r.check("j2", Some("s1")).is_err());
        assert!(r.check("j2", Some("s2")).is_ok());
        r.prune(150, 10);
        assert!(r.check("j1", None).is_ok(), "pruned after exp + leeway");
        assert!(r.check("j2", Some("s1")).is_err());
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn later_exp_wins() {
        let r = Revocations::new(FailMode::FailOpen, false);
        r.revoke_sid("s", 300);
        r.revoke_sid("s", 100);
        r.prune(200, 0);
        assert!(r.check("j", Some("s")).is_err());
    }

    #[test]
    fn fail_closed_is_stale_until_contact() {
        let r = Revocations::new(
            FailMode::FailClosed {
                after: Duration::from_secs(60),
            },
            true,
        );
        assert!(r.is_stale());
        r.mark_ok();
        assert!(!r.is_stale());
        assert!(r.check("j", None).is_ok());
        let open = Revocations::new(FailMode::FailOpen, true);
        assert!(!open.is_stale());
    }

    #[test]
    fn page_format() {
        let page: Page = serde_json::from_str(
            r#"{"cursor":"c1","entries":[{"sid":"s","exp":5},{"jti":"j","exp":6}]}"#,
        )
        .unwrap();
        let entries: Vec<Entry> = page
            .entries
            .into_iter()
            .flat_map(PageEntry::into_entries)
            .collect();
        assert_eq!(entries.len(), 2);
        assert!(matches!(&entries[0].id, Id::Sid(s) if s == "s"));
    }
}
