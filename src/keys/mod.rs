//! Signing keys (CONTRACT §6): generated on first start, loaded from
//! `keys_dir`, rotated with pre-publication, reloaded while running, and
//! published as a JWK Set prepared once per change.

mod files;
mod foreign;
mod lifecycle;
mod material;
mod rotation;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use jsonwebtoken::{Algorithm, EncodingKey};
use signet_guard::jwk::{Jwk, JwkSet};
use signet_guard::verify::KeySet;

pub use files::{KeyMeta, read_private, write_atomic};
pub use lifecycle::KeyState;
pub use rotation::{Rotation, RotationReport, import, rotate};

use serde::Deserialize;

/// Why keys could not be loaded or created; names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is malformed: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "key file {path} can be read or written by other users (mode {mode:04o}); \
         make it the owner's only: chmod 600 {path}"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error("cannot import {path}: {reason}")]
    Import { path: PathBuf, reason: String },
    #[error("no active signing key in {0} (the first `signet serve` generates one)")]
    NoActiveKey(PathBuf),
    #[error("key generation failed: {0}")]
    Generation(String),
    #[error("key {0} is already in the keys directory")]
    Duplicate(String),
    #[error("another process is rotating keys in {0}; try again shortly")]
    Busy(PathBuf),
}

impl KeyError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn malformed(path: &Path, reason: &str) -> Self {
        Self::Malformed {
            path: path.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// Algorithms Signet can generate keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SigningAlg {
    EdDSA,
    ES256,
    RS256,
}

/// How long validators may cache the JWKS; a routine rotation publishes a
/// new key longer than this before it signs.
pub const JWKS_MAX_AGE_SECS: u64 = 300;

/// How keys are generated, published and retired.
#[derive(Debug, Clone, Copy)]
pub struct KeySettings {
    /// Algorithm of generated keys.
    pub alg: SigningAlg,
    /// How long a new key is published before it signs.
    pub publish_delay: Duration,
    /// How long a replaced key stays published (its tokens' lifetime plus
    /// validators' leeway).
    pub retention: Duration,
    /// Automatic rotation interval; `None` rotates only on command.
    pub rotation: Option<Duration>,
}

/// A private key ready to sign, with its public JWK and schedule.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub meta: KeyMeta,
    pub state: KeyState,
    /// When it stops signing (the next key's activation), if known.
    pub retires_at: Option<i64>,
    pub jwk: Jwk,
    encoding: EncodingKey,
}

impl SigningKey {
    /// The jsonwebtoken key that signs with this key (through the ring provider).
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

/// The published keys at one moment, with the JWKS serialised once.
pub struct KeyRing {
    keys: Vec<SigningKey>,
    active: usize,
    jwks: Bytes,
    etag: String,
    keyset: KeySet,
}

impl KeyRing {
    /// Loads `dir` as of `now`. `strict` refuses any malformed key (start-up);
    /// otherwise malformed keys are logged and skipped (reloads).
    pub fn load(dir: &Path, now: i64, strict: bool) -> Result<Self, KeyError> {
        let mut parsed = Vec::new();
        for file in files::read_all(dir)? {
            match file.and_then(|f| parse(dir, f)) {
                Ok(key) => parsed.push(key),
                Err(error) if strict => return Err(error),
                Err(error) => tracing::error!(%error, "skipping a key file"),
            }
        }
        parsed.sort_by(|a, b| {
            (a.1.activates(), a.1.created_at).cmp(&(b.1.activates(), b.1.created_at))
        });
        Self::from_parsed(dir, parsed, now)
    }

    fn from_parsed(dir: &Path, parsed: Vec<Parsed>, now: i64) -> Result<Self, KeyError> {
        let metas: Vec<&KeyMeta> = parsed.iter().map(|p| &p.1).collect();
        let states = lifecycle::states(&metas, now);
        let retires: Vec<_> = (0..metas.len())
            .map(|i| lifecycle::retires_at(&metas, i))
            .collect();
        let keys: Vec<SigningKey> = parsed
            .into_iter()
            .zip(states.into_iter().zip(retires))
            .filter_map(|(p, (state, retires_at))| {
                let (kid, meta, alg, encoding, jwk) = p;
                Some(SigningKey {
                    kid,
                    alg,
                    meta,
                    state: state?,
                    retires_at,
                    jwk,
                    encoding,
                })
            })
            .collect();
        let active = keys
            .iter()
            .position(|k| k.state == KeyState::Active)
            .ok_or_else(|| KeyError::NoActiveKey(dir.to_owned()))?;
        let set = JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        };
        let jwks =
            serde_json::to_vec(&set).map_err(|e| KeyError::malformed(dir, &e.to_string()))?;
        let digest = crate::secrets::sha256(&jwks);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
        Ok(Self {
            keyset: KeySet::from_jwks(&set),
            keys,
            active,
            jwks: Bytes::from(jwks),
            etag,
        })
    }

    /// The key that signs new tokens, decided at the moment of the call so
    /// signing switches exactly at a scheduled activation (a reload may lag).
    pub fn active(&self) -> &SigningKey {
        let now = now();
        self.keys
            .iter()
            .filter(|k| k.meta.activates() <= now && k.meta.removes_at.is_none_or(|at| at > now))
            .max_by_key(|k| lifecycle::precedence(&k.meta, 0))
            .unwrap_or(&self.keys[self.active])
    }

    /// Published keys (next, active, retiring), oldest first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The serialised JWK Set and its entity tag.
    pub fn jwks(&self) -> (&Bytes, &str) {
        (&self.jwks, &self.etag)
    }

    /// Public keys for verifying tokens this server issued.
    pub fn keyset(&self) -> &KeySet {
        &self.keyset
    }

    /// Kid and state of each key: what a reload compares.
    fn summary(&self) -> Vec<(String, KeyState)> {
        self.keys.iter().map(|k| (k.kid.clone(), k.state)).collect()
    }
}

type Parsed = (String, KeyMeta, Algorithm, EncodingKey, Jwk);

fn parse(dir: &Path, file: files::KeyFile) -> Result<Parsed, KeyError> {
    let path = dir.join(format!("{}.pem", file.kid));
    let alg: SigningAlg = file
        .meta
        .alg
        .parse()
        .map_err(|e: String| KeyError::malformed(&path, &e))?;
    let (jws_alg, encoding, mut jwk) =
        material::load(alg, &file.pkcs8).map_err(|reason| KeyError::malformed(&path, &reason))?;
    jwk.kid = Some(file.kid.clone());
    Ok((file.kid, file.meta, jws_alg, encoding, jwk))
}

/// The live key ring of a running server: swapped atomically when the keys
/// directory changes or a scheduled transition happens, read lock-free.
pub struct Keys {
    dir: PathBuf,
    settings: KeySettings,
    ring: ArcSwap<KeyRing>,
    seen: Mutex<files::Fingerprint>,
}

impl Keys {
    /// Loads `dir` strictly, first generating a key when it holds none.
    pub fn open(dir: &Path, settings: KeySettings) -> Result<Self, KeyError> {
        std::fs::create_dir_all(dir).map_err(|e| KeyError::io(dir, e))?;
        restrict(dir);
        if files::read_all(dir)?.is_empty() {
            rotation::create_first(dir, settings.alg)?;
        }
        let seen = files::fingerprint(dir);
        let ring = KeyRing::load(dir, now(), true)?;
        Ok(Self {
            dir: dir.to_owned(),
            settings,
            ring: ArcSwap::from_pointee(ring),
            seen: Mutex::new(seen),
        })
    }

    /// The current ring.
    pub fn current(&self) -> Arc<KeyRing> {
        self.ring.load_full()
    }

    /// Re-reads the directory when its files changed, and re-derives states
    /// as time passes; keeps the current ring on any failure.
    pub fn reload(&self) {
        let fingerprint = files::fingerprint(&self.dir);
        let changed = match self.seen.lock() {
            Ok(mut seen) if *seen != fingerprint => {
                *seen = fingerprint;
                true
            }
            _ => false,
        };
        let current = self.current();
        let due = current.keys().iter().any(|k| transition_due(k, now()));
        if !changed && !due {
            return;
        }
        match KeyRing::load(&self.dir, now(), false) {
            Ok(ring) if ring.summary() != current.summary() || changed => {
                tracing::info!(active = %ring.active().kid, keys = ?ring.summary(), "signing keys reloaded");
                self.ring.store(Arc::new(ring));
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "key reload failed; keeping the current keys"),
        }
    }

    /// Rotates when automatic rotation is configured and due.
    pub fn rotate_if_due(&self) {
        let Some(interval) = self.settings.rotation else {
            return;
        };
        let ring = self.current();
        let age = now() - ring.active().meta.activates();
        let pending = ring.keys().iter().any(|k| k.state == KeyState::Next);
        if pending || age < i64::try_from(interval.as_secs()).unwrap_or(i64::MAX) {
            return;
        }
        match rotate(&self.dir, &self.settings, Rotation::Scheduled) {
            Ok(report) => {
                tracing::info!(target: "signet::audit", event = "key_rotated", new = %report.new_kid, activates_at = report.activates_at, "scheduled key rotation")
            }
            Err(KeyError::Busy(_)) => {}
            Err(error) => tracing::error!(%error, "scheduled key rotation failed"),
        }
        self.reload();
    }
}

/// True when `key` changes state at or before `now` (activation or removal).
fn transition_due(key: &SigningKey, now: i64) -> bool {
    let activation = key.state == KeyState::Next && key.meta.activates() <= now;
    let removal = key.meta.removes_at.is_some_and(|at| at <= now);
    let handover = key.state == KeyState::Active && key.retires_at.is_some_and(|at| at <= now);
    activation || removal || handover
}

/// Keys are private: the directory is the owner's only.
fn restrict(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
