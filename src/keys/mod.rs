//! Signing keys: generated on first start, loaded from `keys_dir`, published
//! as a JWK Set prepared once (CONTRACT §6).

mod files;

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use ring::signature::{Ed25519KeyPair, KeyPair};
use signet_guard::jwk::{Jwk, JwkSet};
use signet_guard::verify::KeySet;

pub use files::{KeyMeta, KeyState, write_atomic};

use crate::config::SigningAlg;

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
    #[error("no active signing key in {0} (the first `signet serve` generates one)")]
    NoActiveKey(PathBuf),
    #[error("signing algorithm {0} is not supported yet (use EdDSA)")]
    Unsupported(String),
    #[error("key generation failed")]
    Generation,
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

/// A private key ready to sign, with its public JWK.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub meta: KeyMeta,
    pub jwk: Jwk,
    encoding: EncodingKey,
}

impl SigningKey {
    fn from_file(dir: &Path, file: files::KeyFile) -> Result<Self, KeyError> {
        let path = dir.join(format!("{}.pem", file.kid));
        if file.meta.alg != SigningAlg::EdDSA.as_str() {
            return Err(KeyError::Unsupported(file.meta.alg));
        }
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&file.pkcs8)
            .map_err(|_| KeyError::malformed(&path, "not an Ed25519 PKCS#8 key"))?;
        let mut jwk = Jwk::ed25519(pair.public_key().as_ref());
        jwk.kid = Some(file.kid.clone());
        Ok(Self {
            encoding: EncodingKey::from_ed_der(&file.pkcs8),
            kid: file.kid,
            alg: Algorithm::EdDSA,
            meta: file.meta,
            jwk,
        })
    }

    /// The jsonwebtoken key that signs with this key (through the ring provider).
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

/// Every loaded key plus the published JWKS, built once per load.
pub struct KeyRing {
    keys: Vec<SigningKey>,
    active: usize,
    jwks: Bytes,
    etag: String,
    keyset: KeySet,
}

impl KeyRing {
    /// Loads `dir`, first generating a key when it holds none.
    pub fn load_or_init(dir: &Path, alg: SigningAlg) -> Result<Self, KeyError> {
        std::fs::create_dir_all(dir).map_err(|e| KeyError::io(dir, e))?;
        if files::read_all(dir)?.is_empty() {
            generate(dir, alg)?;
        }
        Self::load(dir)
    }

    /// Loads `dir`; any unreadable or malformed key is an error.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let keys = files::read_all(dir)?
            .into_iter()
            .map(|file| SigningKey::from_file(dir, file))
            .collect::<Result<Vec<_>, _>>()?;
        let active = keys
            .iter()
            .rposition(|k| k.meta.state == KeyState::Active)
            .ok_or_else(|| KeyError::NoActiveKey(dir.to_owned()))?;
        let set = JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        };
        let jwks =
            serde_json::to_vec(&set).map_err(|e| KeyError::malformed(dir, &e.to_string()))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &jwks);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]));
        Ok(Self {
            keyset: KeySet::from_jwks(&set),
            keys,
            active,
            jwks: Bytes::from(jwks),
            etag,
        })
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        &self.keys[self.active]
    }

    /// All loaded keys, oldest first.
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
}

/// Creates a new active key of `alg` in `dir` and returns its kid.
fn generate(dir: &Path, alg: SigningAlg) -> Result<String, KeyError> {
    if alg != SigningAlg::EdDSA {
        return Err(KeyError::Unsupported(alg.as_str().to_owned()));
    }
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generation)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Generation)?;
    let kid = Jwk::ed25519(pair.public_key().as_ref())
        .thumbprint()
        .map_err(|_| KeyError::Generation)?;
    let meta = KeyMeta {
        alg: alg.as_str().to_owned(),
        state: KeyState::Active,
        created_at: chrono::Utc::now().timestamp(),
        activates_at: None,
        retires_at: None,
    };
    files::write(dir, &kid, pkcs8.as_ref(), &meta)?;
    tracing::info!(kid, alg = alg.as_str(), "generated a signing key");
    Ok(kid)
}
