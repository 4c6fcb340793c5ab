//! The verified-token cache: a token already validated is not verified again
//! until it expires. Keyed by the SHA-256 of the token (never the token
//! itself), bounded in size, sharded so that readers of different shards
//! never meet and readers of one shard only share a read lock.
//!
//! Rules: an entry is used only while `now < exp` (no leeway: the full
//! validation decides what leeway allows); only tokens that passed every
//! check are stored; the revocation list is checked on every hit by the
//! caller, and so is the key that verified the entry (a hit whose key has
//! left the key set is a miss); when a shard is full, expired entries go
//! first, then an arbitrary one.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

const SHARDS: usize = 16;

/// The SHA-256 of a token.
pub(crate) type Digest = [u8; 32];

pub(crate) fn digest(token: &str) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

use crate::verify::{KeyId, KeySet};

/// What a hit needs without knowing the claims type.
pub(crate) struct Entry {
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    /// The key that verified the token.
    pub(crate) key: KeyId,
    pub(crate) jti: Box<str>,
    pub(crate) sid: Option<Box<str>>,
    /// An `Arc<Claims<C>>` for the `C` in the key.
    pub(crate) claims: Arc<dyn Any + Send + Sync>,
}

/// The same token read as two claim types is two entries.
#[derive(PartialEq, Eq, Clone, Copy)]
struct Key {
    digest: Digest,
    claims_type: TypeId,
}

impl Hash for Key {
    /// The digest is already uniform: eight of its bytes are the hash.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.digest[8..16]);
        state.write_u64(u64::from_le_bytes(word));
    }
}

/// Passes a `u64` through; only ever fed by [`Key::hash`].
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<Key, Arc<Entry>, BuildHasherDefault<PassThrough>>;

pub(crate) struct TokenCache {
    shards: Box<[RwLock<Shard>]>,
    per_shard: usize,
}

impl TokenCache {
    /// Holds about `capacity` tokens; `None` for 0 (cache disabled).
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        let per_shard = capacity.div_ceil(SHARDS);
        let shards = (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect();
        Some(TokenCache { shards, per_shard })
    }

    fn shard(&self, digest: &Digest) -> &RwLock<Shard> {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    /// The entry for a token, if cached and not yet expired at `now`.
    #[inline]
    pub(crate) fn get(&self, digest: &Digest, claims_type: TypeId, now: i64) -> Option<Arc<Entry>> {
        let key = Key {
            digest: *digest,
            claims_type,
        };
        let shard = self
            .shard(digest)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        shard.get(&key).filter(|e| now < e.exp).cloned()
    }

    pub(crate) fn insert(&self, digest: Digest, claims_type: TypeId, entry: Entry, now: i64) {
        if entry.exp <= now {
            return;
        }
        let key = Key {
            digest,
            claims_type,
        };
        let mut shard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.retain(|_, e| now < e.exp);
            if shard.len() >= self.per_shard {
                // Any entry will do: each is a token that will simply be
                // verified again on its next use.
                if let Some(victim) = shard.keys().next().copied() {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(key, Arc::new(entry));
    }

    /// Drops every entry verified by a key `keys` no longer holds (after
    /// a key was withdrawn).
    pub(crate) fn retain_verified_by(&self, keys: &KeySet) {
        for shard in &self.shards {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, e| keys.holds(&e.key));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(exp: i64) -> Entry {
        Entry {
            exp,
            iat: 0,
            key: KeyId {
                kid: "k".into(),
                thumbprint: "t".into(),
            },
            jti: "j".into(),
            sid: None,
            claims: Arc::new(()),
        }
    }

    #[test]
    fn expired_entries_are_never_returned() {
        let cache = TokenCache::new(10).unwrap();
        let d = digest("t");
        let t = TypeId::of::<()>();
        cache.insert(d, t, entry(100), 50);
        assert!(cache.get(&d, t, 99).is_some());
        assert!(cache.get(&d, t, 100).is_none());
        assert!(cache.get(&d, TypeId::of::<u8>(), 50).is_none());
        cache.insert(digest("old"), t, entry(10), 50);
        assert!(cache.get(&digest("old"), t, 0).is_none(), "never stored");
    }

    #[test]
    fn size_is_bounded() {
        let cache = TokenCache::new(64).unwrap();
        let t = TypeId::of::<()>();
        for i in 0..10_000 {
            cache.insert(digest(&i.to_string()), t, entry(1_000), 0);
        }
        assert!(cache.len() <= 64, "{}", cache.len());
        assert!(TokenCache::new(0).is_none());
    }
}
