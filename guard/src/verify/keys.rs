//! Verification keys taken from a JWK Set.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::jwk::{Jwk, JwkSet};

/// RSA moduli outside this range are refused at load time, matching what
/// ring accepts for verification (2048–8192 bits).
const RSA_MIN_BYTES: usize = 256;
const RSA_MAX_BYTES: usize = 1024;

/// One usable key: the algorithm is fixed here, from the JWK, and a token can
/// never choose another one (RFC 8725 §3.1).
#[derive(Clone, Debug)]
pub(crate) struct VerifyKey {
    pub(crate) alg: Algorithm,
    /// The JOSE name of `alg`, compared with the token header's `alg`.
    pub(crate) alg_name: &'static str,
    pub(crate) key: DecodingKey,
    pub(crate) id: KeyId,
}

/// Which key verified a token: its `kid` and its RFC 7638 thumbprint, so a
/// key republished under the same `kid` with other material is another key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyId {
    pub(crate) kid: Arc<str>,
    pub(crate) thumbprint: Arc<str>,
}

/// The trusted verification keys, indexed by `kid`.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyKey>,
}

impl KeySet {
    /// Keeps every key that is usable for signature verification and skips
    /// the rest (no kid, `use` other than `sig`, unknown `kty`/`crv`, `alg`
    /// inconsistent with the key, bad key material): one odd key in a
    /// published set must not take down validation with the others. For a
    /// duplicated `kid` the first key wins.
    pub fn from_jwks(set: &JwkSet) -> KeySet {
        let mut keys = HashMap::with_capacity(set.keys.len());
        for jwk in &set.keys {
            if let Some((kid, key)) = usable_key(jwk) {
                keys.entry(kid).or_insert(key);
            }
        }
        KeySet { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The algorithm bound to `kid`, if the key is known.
    pub fn algorithm(&self, kid: &str) -> Option<Algorithm> {
        self.get(kid).map(|k| k.alg)
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&VerifyKey> {
        self.keys.get(kid)
    }

    /// Whether the key `id` is still in this set.
    #[inline]
    pub(crate) fn holds(&self, id: &KeyId) -> bool {
        self.get(&id.kid).is_some_and(|k| {
            Arc::ptr_eq(&k.id.thumbprint, &id.thumbprint) || k.id.thumbprint == id.thumbprint
        })
    }

    /// Whether both sets hold the same keys.
    pub(crate) fn same_keys(&self, other: &KeySet) -> bool {
        self.len() == other.len() && self.keys.values().all(|k| other.holds(&k.id))
    }
}

impl From<&JwkSet> for KeySet {
    fn from(set: &JwkSet) -> Self {
        KeySet::from_jwks(set)
    }
}

fn usable_key(jwk: &Jwk) -> Option<(String, VerifyKey)> {
    let kid = jwk.kid.as_deref().filter(|k| !k.is_empty())?;
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    let (alg, key) = match jwk.kty.as_str() {
        "OKP" => okp_key(jwk)?,
        "EC" => ec_key(jwk)?,
        "RSA" => rsa_key(jwk)?,
        _ => return None, // "oct" included: shared secrets are never trusted
    };
    let alg_name = alg_name(alg)?;
    if jwk.alg.as_deref().is_some_and(|a| a != alg_name) {
        return None;
    }
    let id = KeyId {
        kid: kid.into(),
        thumbprint: jwk.thumbprint().ok()?.into(),
    };
    Some((
        kid.to_owned(),
        VerifyKey {
            alg,
            alg_name,
            key,
            id,
        },
    ))
}

fn okp_key(jwk: &Jwk) -> Option<(Algorithm, DecodingKey)> {
    if jwk.crv.as_deref() != Some("Ed25519") {
        return None;
    }
    let x = decode_exact(jwk.x.as_deref()?, 32)?;
    Some((Algorithm::EdDSA, DecodingKey::from_ed_der(&x)))
}

fn ec_key(jwk: &Jwk) -> Option<(Algorithm, DecodingKey)> {
    let (alg, size) = match jwk.crv.as_deref()? {
        "P-256" => (Algorithm::ES256, 32),
        "P-384" => (Algorithm::ES384, 48),
        _ => return None,
    };
    let x = decode_exact(jwk.x.as_deref()?, size)?;
    let y = decode_exact(jwk.y.as_deref()?, size)?;
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Some((alg, DecodingKey::from_ec_der(&point)))
}

/// RSA is the one family where the key does not determine the algorithm: the
/// JWK's `alg` picks PKCS#1 v1.5 or PSS and the hash; RS256 when absent.
fn rsa_key(jwk: &Jwk) -> Option<(Algorithm, DecodingKey)> {
    let alg = match jwk.alg.as_deref() {
        None | Some("RS256") => Algorithm::RS256,
        Some("RS384") => Algorithm::RS384,
        Some("RS512") => Algorithm::RS512,
        Some("PS256") => Algorithm::PS256,
        Some("PS384") => Algorithm::PS384,
        Some("PS512") => Algorithm::PS512,
        Some(_) => return None,
    };
    let n = decode(jwk.n.as_deref()?)?;
    let e = decode(jwk.e.as_deref()?)?;
    let n_len = n.iter().position(|&b| b != 0).map_or(0, |p| n.len() - p);
    if !(RSA_MIN_BYTES..=RSA_MAX_BYTES).contains(&n_len) || e.iter().all(|&b| b == 0) {
        return None;
    }
    Some((alg, DecodingKey::from_rsa_raw_components(&n, &e)))
}

fn alg_name(alg: Algorithm) -> Option<&'static str> {
    Some(match alg {
        Algorithm::EdDSA => "EdDSA",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        _ => return None,
    })
}

fn decode(b64: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(b64).ok()
}

fn decode_exact(b64: &str, len: usize) -> Option<Vec<u8>> {
    decode(b64).filter(|v| v.len() == len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed(kid: &str) -> Jwk {
        Jwk {
            kid: Some(kid.into()),
            ..Jwk::ed25519(&[9u8; 32])
        }
    }

    #[test]
    fn skips_unusable_keys() {
        let mut no_kid = ed("x");
        no_kid.kid = None;
        let mut enc = ed("enc");
        enc.use_ = Some("enc".into());
        let mut wrong_alg = ed("wrong-alg");
        wrong_alg.alg = Some("ES256".into());
        let mut wrong_crv = ed("wrong-crv");
        wrong_crv.crv = Some("X25519".into());
        let mut short = ed("short");
        short.x = Some("AAAA".into());
        let oct = Jwk {
            kty: "oct".into(),
            ..ed("oct")
        };
        let small_rsa = Jwk {
            kid: Some("rsa".into()),
            ..Jwk::rsa(&[0xC5; 128], &[1, 0, 1])
        };
        let mut no_use = ed("no-use");
        no_use.use_ = None;
        no_use.alg = None;
        let set = JwkSet {
            keys: vec![
                no_kid,
                enc,
                wrong_alg,
                wrong_crv,
                short,
                oct,
                small_rsa,
                ed("good"),
                no_use,
            ],
        };
        let keys = KeySet::from_jwks(&set);
        assert_eq!(keys.len(), 2);
        assert!(keys.contains("good") && keys.contains("no-use"));
        assert_eq!(keys.algorithm("good"), Some(Algorithm::EdDSA));
    }

    #[test]
    fn rsa_alg_comes_from_jwk() {
        let mut ps = Jwk::rsa(&[0xC5; 256], &[1, 0, 1]);
        ps.alg = Some("PS384".into());
        let mut bogus = Jwk {
            kid: Some("b".into()),
            ..ps.clone()
        };
        bogus.alg = Some("EdDSA".into());
        let keys = KeySet::from_jwks(&JwkSet {
            keys: vec![ps.clone(), bogus],
        });
        assert_eq!(keys.len(), 1);
        assert_eq!(
            keys.algorithm(ps.kid.as_deref().unwrap()),
            Some(Algorithm::PS384)
        );
    }

    #[test]
    fn first_duplicate_kid_wins() {
        let mut second = Jwk::p256(&[&[4u8][..], &[1u8; 64]].concat()).unwrap();
        second.kid = Some("k".into());
        let keys = KeySet::from_jwks(&JwkSet {
            keys: vec![ed("k"), second],
        });
        assert_eq!(keys.algorithm("k"), Some(Algorithm::EdDSA));
    }
}
