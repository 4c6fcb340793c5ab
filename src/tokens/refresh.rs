//! Opaque refresh tokens. A token is HMAC-SHA256(server secret, session id,
//! session nonce, generation): 256 bits indistinguishable from random, stored
//! only as its SHA-256, yet re-derivable for the grace window of rotation
//! (CONTRACT §5) without keeping any token in plaintext.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use crate::keys::{KeyError, read_private, write_atomic};
use crate::secrets;

/// File in `keys_dir` holding the MAC secret (shared by every instance).
const SECRET_FILE: &str = "refresh.secret";
/// Longest refresh token we look at before refusing it outright.
pub const MAX_TOKEN_LEN: usize = 128;

/// Derives and hashes refresh tokens.
pub struct RefreshTokens {
    key: hmac::Key,
}

impl RefreshTokens {
    /// Reads the secret from `dir`, creating it (mode 0600) on first start;
    /// refuses a secret file other users can read or write.
    pub fn load_or_init(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(SECRET_FILE);
        let secret = match read_private(&path)? {
            Some(bytes) => bytes,
            None => {
                let bytes = secrets::random::<32>()
                    .map_err(|_| KeyError::Generation("no randomness".into()))?;
                write_atomic(&path, &bytes, 0o600)?;
                bytes.to_vec()
            }
        };
        if secret.len() < 32 {
            return Err(KeyError::Malformed {
                path,
                reason: "the refresh secret must be at least 32 bytes".into(),
            });
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
        })
    }

    /// The refresh token of `generation` in session `sid`.
    pub fn derive(&self, sid: &str, nonce: &[u8], generation: i64) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(b"signet refresh v1\0");
        context.update(sid.as_bytes());
        context.update(b"\0");
        context.update(nonce);
        context.update(&generation.to_be_bytes());
        URL_SAFE_NO_PAD.encode(context.sign().as_ref())
    }

    /// A key for another purpose derived from the same secret (HMAC of
    /// `label`), so other MACs need no secret file of their own.
    pub fn subkey(&self, label: &[u8]) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&self.key, label).as_ref())
    }
}

/// What the store keeps of a refresh token.
pub fn hash(token: &str) -> Vec<u8> {
    secrets::sha256(token.as_bytes())
}

/// A fresh random session nonce.
pub fn new_nonce() -> Result<Vec<u8>, ring::error::Unspecified> {
    Ok(secrets::random::<16>()?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_stable_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = RefreshTokens::load_or_init(dir.path()).unwrap();
        let a = tokens.derive("sid", b"nonce", 0);
        assert_eq!(a, tokens.derive("sid", b"nonce", 0));
        assert_eq!(a.len(), 43, "256 bits in base64url");
        assert_ne!(a, tokens.derive("sid", b"nonce", 1));
        assert_ne!(a, tokens.derive("sie", b"nonce", 0));
        let again = RefreshTokens::load_or_init(dir.path()).unwrap();
        assert_eq!(a, again.derive("sid", b"nonce", 0), "secret persisted");
        let other = RefreshTokens::load_or_init(tempfile::tempdir().unwrap().path()).unwrap();
        assert_ne!(a, other.derive("sid", b"nonce", 0));
    }
}
