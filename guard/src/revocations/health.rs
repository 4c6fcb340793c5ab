//! The fail-mode policy: how recently the feed answered, and what
//! validation does when that is too long ago.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::fetch::FetchError;

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

/// When the feed last answered, and whether it is followed at all.
pub(crate) struct FeedHealth {
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

impl FeedHealth {
    pub(crate) fn new(fail_mode: FailMode, follows_feed: bool) -> Self {
        FeedHealth {
            fail_mode,
            follows_feed,
            epoch: Instant::now(),
            last_ok: AtomicU64::new(0),
            up: AtomicBool::new(false),
        }
    }

    /// True when fail-closed and the feed was not heard from recently enough.
    pub(crate) fn is_stale(&self) -> bool {
        let FailMode::FailClosed { after } = self.fail_mode else {
            return false;
        };
        if !self.follows_feed {
            return false;
        }
        self.last_contact().is_none_or(|since| since > after)
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

    /// Records a successful answer; `entries` is for the log line.
    pub(crate) fn mark_ok(&self, entries: usize) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_ok.store(ms + 1, Ordering::Release);
        if !self.up.swap(true, Ordering::AcqRel) {
            metrics::gauge!("signet_guard_revocation_feed_up").set(1.0);
            tracing::info!(entries, "revocation feed connected");
        }
    }

    pub(crate) fn mark_failed(&self, error: &FetchError) {
        metrics::counter!("signet_guard_revocation_feed_errors_total").increment(1);
        let was_up = self.up.swap(false, Ordering::AcqRel);
        let first_failure = was_up || self.last_ok.load(Ordering::Acquire) == 0;
        if !first_failure {
            tracing::debug!(%error, "revocation feed still unreachable");
            return;
        }
        metrics::gauge!("signet_guard_revocation_feed_up").set(0.0);
        match self.fail_mode {
            FailMode::FailOpen => tracing::warn!(
                %error,
                "revocation feed unreachable; failing open: tokens revoked meanwhile \
                 are accepted until the feed is back or they expire; key changes \
                 arrive by the scheduled JWKS refresh only"
            ),
            FailMode::FailClosed { after } => tracing::warn!(
                %error,
                ?after,
                "revocation feed unreachable; failing closed: tokens are refused with 503 \
                 once the last contact is older than `after`"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_closed_is_stale_until_contact() {
        let h = FeedHealth::new(
            FailMode::FailClosed {
                after: Duration::from_secs(60),
            },
            true,
        );
        assert!(h.is_stale());
        h.mark_ok(0);
        assert!(!h.is_stale());
        assert!(!FeedHealth::new(FailMode::FailOpen, true).is_stale());
    }
}
