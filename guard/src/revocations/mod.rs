//! The revocation list: an in-memory copy of Signet's feed (`jti` and `sid`
//! entries, each kept until its `exp`), followed in the background by long
//! poll. A request checks it with two hash lookups and no lock.
//!
//! - [`set`]: the revoked ids, bounded, and what happens beyond the bound;
//! - [`health`]: when the feed last answered, and the fail mode;
//! - [`follower`]: the feed protocol (cursor, long poll, 410, key events).

mod follower;
mod health;
mod set;

use arc_swap::ArcSwap;

pub(crate) use follower::{FeedCredentials, FeedSettings, follow};
pub use health::FailMode;

use crate::guard::GuardError;
use health::FeedHealth;
use set::{Entry, Id, RevokedSet};

/// The revocation list and the state of the feed that fills it.
pub(crate) struct Revocations {
    set: ArcSwap<RevokedSet>,
    capacity: usize,
    leeway_secs: i64,
    pub(crate) health: FeedHealth,
}

impl Revocations {
    /// At most `capacity` ids are held; see [`set`] for the overflow.
    pub(crate) fn new(
        fail_mode: FailMode,
        follows_feed: bool,
        capacity: usize,
        leeway_secs: i64,
    ) -> Self {
        Revocations {
            set: ArcSwap::from_pointee(RevokedSet::default()),
            capacity,
            leeway_secs,
            health: FeedHealth::new(fail_mode, follows_feed),
        }
    }

    /// The per-request check: is this token revoked (by `jti`, `sid`, or an
    /// overflow of the list), and (fail-closed only) is the list fresh
    /// enough to answer at all?
    #[inline]
    pub(crate) fn check(&self, jti: &str, sid: Option<&str>, iat: i64) -> Result<(), GuardError> {
        if self.set.load().refuses(jti, sid, iat) {
            return Err(GuardError::Token(crate::TokenError::Revoked));
        }
        if self.health.is_stale() {
            return Err(GuardError::RevocationsUnavailable);
        }
        Ok(())
    }

    pub(crate) fn is_stale(&self) -> bool {
        self.health.is_stale()
    }

    pub(crate) fn len(&self) -> usize {
        self.set.load().len()
    }

    pub(crate) fn overflowing(&self) -> bool {
        self.set.load().overflowing()
    }

    pub(crate) fn revoke_jti(&self, jti: &str, exp: i64) {
        self.apply(&[Entry {
            id: Id::Jti(jti.to_owned()),
            exp,
        }]);
    }

    pub(crate) fn revoke_sid(&self, sid: &str, exp: i64) {
        self.apply(&[Entry {
            id: Id::Sid(sid.to_owned()),
            exp,
        }]);
    }

    /// Copies the set with `entries` added and publishes the copy. Revocation
    /// batches are small and rare next to reads, so readers never wait.
    fn apply(&self, entries: &[Entry]) {
        if entries.is_empty() {
            return;
        }
        let now = crate::verify::unix_now().saturating_add(self.leeway_secs);
        let mut dropped = 0;
        self.set.rcu(|current| {
            dropped = 0;
            let mut next = RevokedSet::clone(current);
            for entry in entries {
                if !next.insert(entry.clone(), self.capacity, now) {
                    dropped += 1;
                }
            }
            next
        });
        if dropped > 0 {
            metrics::counter!("signet_guard_revocations_overflow_total").increment(dropped);
            tracing::warn!(
                dropped,
                capacity = self.capacity,
                "revocation list full; refusing every token issued until now \
                 until the entries that did not fit expire"
            );
        }
    }

    fn prune(&self, now: i64) {
        let horizon = now.saturating_sub(self.leeway_secs);
        if self.set.load().has_expired(horizon) {
            self.set.rcu(|current| current.pruned(horizon));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_ids_are_refused_until_pruned() {
        let r = Revocations::new(FailMode::FailOpen, false, 100, 10);
        assert!(r.check("j1", Some("s1"), 0).is_ok());
        r.revoke_jti("j1", 100);
        r.revoke_sid("s1", 200);
        assert!(r.check("j1", None, 0).is_err());
        assert!(r.check("j2", Some("s1"), 0).is_err());
        assert!(r.check("j2", Some("s2"), 0).is_ok());
        r.prune(150);
        assert!(r.check("j1", None, 0).is_ok(), "pruned after exp + leeway");
        assert!(r.check("j2", Some("s1"), 0).is_err());
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn later_exp_wins() {
        let r = Revocations::new(FailMode::FailOpen, false, 100, 0);
        r.revoke_sid("s", 300);
        r.revoke_sid("s", 100);
        r.prune(200);
        assert!(r.check("j", Some("s"), 0).is_err());
    }

    #[test]
    fn a_full_list_refuses_the_tokens_an_overflowing_entry_could_concern() {
        let r = Revocations::new(FailMode::FailOpen, false, 1, 0);
        let far = crate::verify::unix_now() + 3600;
        r.revoke_sid("kept", far);
        r.revoke_sid("dropped", far);
        assert_eq!(r.len(), 1);
        let now = crate::verify::unix_now();
        assert!(r.check("j", Some("dropped"), now - 1).is_err());
        assert!(r.check("j", Some("other"), now + 60).is_ok());
    }
}
