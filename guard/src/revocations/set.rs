//! The revoked ids themselves: `jti` and `sid` entries, each kept until the
//! latest `exp` it can affect, bounded in count.
//!
//! Beyond the bound an entry cannot be stored, and forgetting it would
//! accept a revoked token. So the overflow fails closed, for exactly the
//! tokens it could concern: every token issued before the dropped entry
//! arrived (plus leeway) is refused until that entry's `exp` has passed.
//! Tokens issued later are unaffected (a revoked session mints no new
//! ones), so users recover by logging in again.

use std::collections::HashMap;

/// A revoked token id or session id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Id {
    Jti(String),
    Sid(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: Id,
    pub(crate) exp: i64,
}

/// Tokens refused wholesale because entries did not fit: those with
/// `iat <= issued_before`, until `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overflow {
    pub(crate) issued_before: i64,
    pub(crate) until: i64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct RevokedSet {
    jti: HashMap<Box<str>, i64>,
    sid: HashMap<Box<str>, i64>,
    /// The smallest `exp` held, to know when pruning has work to do.
    earliest: Option<i64>,
    overflow: Option<Overflow>,
}

impl RevokedSet {
    /// Adds `entry`, or, when `capacity` entries are held already, widens
    /// the overflow to cover it (returns `false` then). `now` is the
    /// guard's clock plus leeway.
    pub(crate) fn insert(&mut self, entry: Entry, capacity: usize, now: i64) -> bool {
        let full = self.len() >= capacity;
        let (map, id) = match entry.id {
            Id::Jti(id) => (&mut self.jti, id),
            Id::Sid(id) => (&mut self.sid, id),
        };
        let exp = match map.get_mut(id.as_str()) {
            Some(exp) => {
                *exp = (*exp).max(entry.exp);
                *exp
            }
            None if full => {
                let overflow = self.overflow.get_or_insert(Overflow {
                    issued_before: now,
                    until: entry.exp,
                });
                overflow.issued_before = overflow.issued_before.max(now);
                overflow.until = overflow.until.max(entry.exp);
                return false;
            }
            None => *map.entry(id.into_boxed_str()).or_insert(entry.exp),
        };
        self.earliest = Some(self.earliest.map_or(exp, |e| e.min(exp)));
        true
    }

    /// Whether a token with these claims is refused.
    #[inline]
    pub(crate) fn refuses(&self, jti: &str, sid: Option<&str>, iat: i64) -> bool {
        (!self.jti.is_empty() && self.jti.contains_key(jti))
            || sid.is_some_and(|sid| !self.sid.is_empty() && self.sid.contains_key(sid))
            || self.overflow.is_some_and(|o| iat <= o.issued_before)
    }

    /// Whether pruning at `horizon` would remove anything.
    pub(crate) fn has_expired(&self, horizon: i64) -> bool {
        self.earliest.is_some_and(|e| e <= horizon)
            || self.overflow.is_some_and(|o| o.until <= horizon)
    }

    /// Drops entries (and the overflow) that can no longer affect an
    /// acceptable token.
    pub(crate) fn pruned(&self, horizon: i64) -> RevokedSet {
        let keep = |map: &HashMap<Box<str>, i64>| -> HashMap<Box<str>, i64> {
            map.iter()
                .filter(|(_, exp)| **exp > horizon)
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        };
        let jti = keep(&self.jti);
        let sid = keep(&self.sid);
        let earliest = jti.values().chain(sid.values()).copied().min();
        let overflow = self.overflow.filter(|o| o.until > horizon);
        RevokedSet {
            jti,
            sid,
            earliest,
            overflow,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.jti.len() + self.sid.len()
    }

    /// Whether tokens are being refused because the list overflowed.
    pub(crate) fn overflowing(&self) -> bool {
        self.overflow.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(id: &str, exp: i64) -> Entry {
        Entry {
            id: Id::Sid(id.into()),
            exp,
        }
    }

    #[test]
    fn overflow_refuses_older_tokens_until_the_dropped_entry_expires() {
        let mut set = RevokedSet::default();
        assert!(set.insert(sid("a", 100), 2, 10));
        assert!(set.insert(sid("b", 100), 2, 10));
        assert!(set.insert(sid("a", 150), 2, 12), "a held id is updated");
        assert!(!set.insert(sid("c", 300), 2, 20), "full: c does not fit");
        assert_eq!(set.len(), 2);
        assert!(set.refuses("j", Some("c"), 20), "c's tokens are refused");
        assert!(set.refuses("j", Some("x"), 5), "so is any older token");
        assert!(!set.refuses("j", Some("x"), 21), "a newer token is not");
        let later = set.pruned(200);
        assert_eq!(later.len(), 0);
        assert!(later.refuses("j", Some("x"), 5), "until c's exp");
        let after = later.pruned(300);
        assert!(!after.refuses("j", Some("x"), 5));
        assert!(!after.overflowing());
    }
}
