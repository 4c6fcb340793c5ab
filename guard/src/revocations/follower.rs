//! The feed protocol: long poll with a cursor and an entity tag, the full
//! list again when the feed answers 410 Gone for a cursor it never issued,
//! and key events handed to the JWKS cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use tokio::sync::Notify;

use super::Revocations;
use super::set::{Entry, Id};
use crate::backoff::Backoff;
use crate::feed::{FeedEntry, FeedPage};
use crate::fetch::{self, Endpoints, FetchError};

/// First reconnect delay, and the cap: recovery after an outage stays fast.
const RECONNECT_BASE: Duration = Duration::from_millis(100);
const RECONNECT_CAP: Duration = Duration::from_secs(5);
/// A poll that returns nothing new sooner than this is followed by a pause,
/// so a feed that ignores `wait` is polled at most once per second.
const MIN_EMPTY_POLL: Duration = Duration::from_secs(1);

/// A confidential client's credentials, sent as HTTP Basic on feed requests
/// so that Signet exempts this guard from its per-address feed budget.
#[derive(Clone)]
pub(crate) struct FeedCredentials {
    pub(crate) client_id: String,
    pub(crate) secret: String,
}

impl std::fmt::Debug for FeedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// How the follower asks.
#[derive(Clone, Debug)]
pub(crate) struct FeedSettings {
    /// The long-poll `wait`.
    pub(crate) wait: Duration,
    pub(crate) credentials: Option<FeedCredentials>,
}

/// What one poll brought.
#[derive(Debug, Default, PartialEq, Eq)]
struct News {
    entries: Vec<Entry>,
    /// The key set changed (a `keys` event, or the feed started over).
    keys_changed: bool,
}

/// The follower: long-polls the feed until the guard is dropped.
///
/// The first request has no cursor and returns the whole current list;
/// the following ones send `after=CURSOR&wait=N` and `If-None-Match`, and
/// return as soon as something new arrives (so a logout reaches this list
/// in well under a second), or after `wait` with 304. A `keys` event
/// wakes `keys_changed` (the JWKS cache refetches at once). 410 Gone (a
/// cursor from the future, say after a database restore) starts again from
/// the beginning at once, and refetches the keys too. Errors reconnect with
/// backoff from 100 ms capped at 5 s, keeping the cursor.
pub(crate) async fn follow(
    revocations: Arc<Revocations>,
    endpoints: Arc<Endpoints>,
    settings: FeedSettings,
    keys_changed: Arc<Notify>,
    attempts: tokio::sync::watch::Sender<u64>,
) {
    let mut feed = Follower {
        cursor: None,
        etag: None,
        restarted: false,
    };
    let mut backoff = Backoff::new(RECONNECT_BASE, RECONNECT_CAP);
    loop {
        let started = Instant::now();
        let long_poll = feed.cursor.is_some();
        let outcome = feed.poll(&endpoints, &settings).await;
        revocations.prune(crate::verify::unix_now());
        match outcome {
            Ok(news) => {
                let had_news = !news.entries.is_empty() || news.keys_changed;
                revocations.apply(&news.entries);
                if news.keys_changed {
                    keys_changed.notify_one();
                }
                revocations.health.mark_ok(revocations.len());
                backoff.reset();
                // Only now: `build()` waits on this, and must return
                // with the revocations already applied.
                attempts.send_modify(|n| *n += 1);
                let elapsed = started.elapsed();
                if long_poll && feed.cursor.is_some() && !had_news && elapsed < MIN_EMPTY_POLL {
                    tokio::time::sleep(MIN_EMPTY_POLL - elapsed).await;
                }
            }
            Err(error) => {
                revocations.health.mark_failed(&error);
                attempts.send_modify(|n| *n += 1);
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// The follower's position in the feed.
struct Follower {
    cursor: Option<String>,
    etag: Option<String>,
    /// The feed answered 410: the next full list is a new start, after which
    /// the keys are refetched.
    restarted: bool,
}

impl Follower {
    async fn poll(
        &mut self,
        endpoints: &Endpoints,
        settings: &FeedSettings,
    ) -> Result<News, FetchError> {
        let url = endpoints.feed_url().await?;
        let mut target = reqwest::Url::parse(url).map_err(|_| FetchError::InvalidUrl {
            url: url.to_owned(),
        })?;
        let mut budget = endpoints.timeout;
        if let Some(cursor) = &self.cursor {
            target
                .query_pairs_mut()
                .append_pair("after", cursor)
                .append_pair("wait", &settings.wait.as_secs().to_string());
            budget += settings.wait;
        }
        let mut request = endpoints.get(target.as_str())?;
        if let (Some(_), Some(etag)) = (&self.cursor, &self.etag) {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(credentials) = &settings.credentials {
            request = request.basic_auth(&credentials.client_id, Some(&credentials.secret));
        }
        let exchange = async {
            let response = fetch::send(url, request).await?;
            match response.status() {
                StatusCode::OK => {
                    let etag = response
                        .headers()
                        .get(ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let page: FeedPage = fetch::read_json(url, response).await?;
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
            Ok(Some((page, etag))) => Ok(self.read(page, etag)),
            Ok(None) => Ok(News::default()),
            Err(FetchError::Status { status: 410, .. }) if self.cursor.is_some() => {
                tracing::warn!(
                    "the revocation feed does not know this guard's cursor (restored?); \
                     reading it again from the beginning"
                );
                self.start_over();
                self.restarted = true;
                Ok(News::default())
            }
            Err(error) => {
                // A cursor the feed refuses: start over from the full list
                // (entries already held are kept until their exp).
                if let FetchError::Status {
                    status: 400 | 404, ..
                } = error
                {
                    self.start_over();
                }
                Err(error)
            }
        }
    }

    fn start_over(&mut self) {
        self.cursor = None;
        self.etag = None;
    }

    /// Takes a page's entries and moves to its cursor. Key events in the
    /// first full list are old news (the keys were loaded at start), except
    /// after a restart.
    fn read(&mut self, page: FeedPage, etag: Option<String>) -> News {
        let first = self.cursor.is_none();
        let mut news = News {
            keys_changed: std::mem::take(&mut self.restarted),
            ..News::default()
        };
        for entry in page.entries {
            match entry {
                FeedEntry::Sid { sid, exp } => news.entries.push(Entry {
                    id: Id::Sid(sid),
                    exp,
                }),
                FeedEntry::Jti { jti, exp } => news.entries.push(Entry {
                    id: Id::Jti(jti),
                    exp,
                }),
                FeedEntry::Keys { .. } => news.keys_changed |= !first,
                FeedEntry::Other(_) => {}
            }
        }
        self.cursor = Some(page.cursor);
        self.etag = etag;
        news
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(cursor: &str, entries: &str) -> FeedPage {
        serde_json::from_str(&format!(r#"{{"cursor":"{cursor}","entries":{entries}}}"#)).unwrap()
    }

    #[test]
    fn key_events_count_after_the_first_page_or_a_restart() {
        let mut f = Follower {
            cursor: None,
            etag: None,
            restarted: false,
        };
        let events = r#"[{"keys":"changed"},{"sid":"s","exp":5}]"#;
        let first = f.read(page("1", events), None);
        assert!(!first.keys_changed, "the keys were just loaded");
        assert_eq!(first.entries.len(), 1);
        assert!(f.read(page("2", events), None).keys_changed);
        f.start_over();
        f.restarted = true;
        assert!(f.read(page("3", "[]"), None).keys_changed);
        assert!(!f.read(page("4", "[]"), None).keys_changed);
    }
}
