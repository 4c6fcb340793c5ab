//! Adding keys. A routine rotation publishes the new key `publish_delay`
//! before it signs, so validators with a cached JWKS learn it first, and
//! keeps the replaced key published until its last token expired. An
//! emergency rotation activates at once and can withdraw the old key. An
//! imported key (made elsewhere) is scheduled the same way.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

use signet_guard::jwk::Jwk;

use super::SigningAlg;
use super::{KeyError, KeyMeta, KeySettings, KeyState, files, foreign, material, now};

/// How a rotation proceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// On the automatic schedule: pre-published, old key retires gracefully.
    Scheduled,
    /// On command: like `Scheduled`, with a chosen algorithm.
    Routine(SigningAlg),
    /// `--now`: signs at once; `revoke` withdraws the old key immediately.
    Now { alg: SigningAlg, revoke: bool },
}

/// What a rotation did, for the operator.
#[derive(Debug, Clone)]
pub struct RotationReport {
    pub new_kid: String,
    pub alg: SigningAlg,
    pub activates_at: i64,
    /// The key that was active, and when it leaves the JWKS.
    pub replaced: Option<(String, i64)>,
    pub revoked: bool,
}

/// A lock file older than this is left over from a crash.
const STALE_LOCK: Duration = Duration::from_secs(60);

/// Adds a key per `rotation`, under the directory's rotation lock so that of
/// several instances sharing `dir` only one rotates.
pub fn rotate(
    dir: &Path,
    settings: &KeySettings,
    rotation: Rotation,
) -> Result<RotationReport, KeyError> {
    let (alg, now, revoke) = match rotation {
        Rotation::Scheduled => (settings.alg, false, false),
        Rotation::Routine(alg) => (alg, false, false),
        Rotation::Now { alg, revoke } => (alg, true, revoke),
    };
    let pkcs8 = material::generate(alg).map_err(KeyError::Generation)?;
    add(dir, settings, alg, &pkcs8, now, revoke)
}

/// Adds the PEM private key in `file`, made elsewhere, scheduled like a
/// rotation: pre-published, or signing at once with `now`. It is stored in
/// the form Signet writes (PKCS#8, mode 0600).
pub fn import(
    dir: &Path,
    settings: &KeySettings,
    file: &Path,
    now: bool,
) -> Result<RotationReport, KeyError> {
    let refused = |reason: String| KeyError::Import {
        path: file.to_owned(),
        reason,
    };
    let text = std::fs::read(file).map_err(|e| KeyError::io(file, e))?;
    let (alg, pkcs8) = foreign::from_pem(&text).map_err(refused)?;
    add(dir, settings, alg, &pkcs8, now, false).map_err(|error| match error {
        KeyError::Duplicate(kid) => refused(format!("the key is already in keys_dir as {kid}")),
        other => other,
    })
}

/// Writes `pkcs8` as the next key (active at once with `now`), retires the
/// active key (withdrawn at once with `revoke`) and withdraws keys still
/// waiting, under the directory's rotation lock.
fn add(
    dir: &Path,
    settings: &KeySettings,
    alg: SigningAlg,
    pkcs8: &[u8],
    now: bool,
    revoke: bool,
) -> Result<RotationReport, KeyError> {
    let _lock = RotationLock::acquire(dir)?;
    let ring = super::KeyRing::load(dir, super::now(), false)?;
    let current = ring.active();
    let at = super::now();
    let activates_at = if now {
        at
    } else {
        at + secs(settings.publish_delay)
    };
    let removes_at = if revoke {
        at
    } else {
        activates_at + secs(settings.retention)
    };
    let new_kid = create(dir, alg, pkcs8, activates_at)?;
    let mut old = current.meta.clone();
    old.removes_at = Some(removes_at);
    files::write_meta(dir, &current.kid, &old)?;
    // Keys still waiting to activate would never sign now: withdraw them.
    for key in ring.keys().iter().filter(|k| k.state == KeyState::Next) {
        let mut meta = key.meta.clone();
        meta.removes_at = Some(at);
        files::write_meta(dir, &key.kid, &meta)?;
    }
    Ok(RotationReport {
        new_kid,
        alg,
        activates_at,
        replaced: Some((current.kid.clone(), removes_at)),
        revoked: revoke,
    })
}

/// The first key of an empty directory, active at once.
pub(super) fn create_first(dir: &Path, alg: SigningAlg) -> Result<String, KeyError> {
    let _lock = RotationLock::acquire(dir)?;
    if !files::read_all(dir)?.is_empty() {
        return Ok(String::new());
    }
    let pkcs8 = material::generate(alg).map_err(KeyError::Generation)?;
    let kid = create(dir, alg, &pkcs8, now())?;
    tracing::info!(kid, alg = alg.as_str(), "generated a signing key");
    Ok(kid)
}

/// Writes `pkcs8` as a new key named by its JWK thumbprint; refuses a key
/// the directory already holds (its schedule must not be reset).
fn create(
    dir: &Path,
    alg: SigningAlg,
    pkcs8: &[u8],
    activates_at: i64,
) -> Result<String, KeyError> {
    let (_, _, jwk): (_, _, Jwk) = material::load(alg, pkcs8).map_err(KeyError::Generation)?;
    let kid = jwk
        .thumbprint()
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    if dir.join(format!("{kid}.pem")).exists() {
        return Err(KeyError::Duplicate(kid));
    }
    let meta = KeyMeta {
        alg: alg.as_str().to_owned(),
        created_at: now(),
        activates_at: Some(activates_at),
        removes_at: None,
    };
    files::write(dir, &kid, pkcs8, &meta)?;
    Ok(kid)
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// `keys_dir/.rotation.lock`, created exclusively and removed on drop.
struct RotationLock(PathBuf);

impl RotationLock {
    fn acquire(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(".rotation.lock");
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_LOCK);
                    if !stale {
                        return Err(KeyError::Busy(dir.to_owned()));
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(KeyError::io(&path, e)),
            }
        }
        Err(KeyError::Busy(dir.to_owned()))
    }
}

impl Drop for RotationLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
