//! A jsonwebtoken [`CryptoProvider`] backed by *ring*.
//!
//! jsonwebtoken 10+ ships no ring backend, and its aws-lc / RustCrypto
//! backends would pull a second crypto library (and the `rsa` crate) into the
//! tree. This module plugs ring in so that every signature in the process goes
//! through one audited library.
//!
//! jsonwebtoken hands the provider raw key bytes on every call. Parsing a
//! PKCS#8 key costs about as much as an Ed25519 signature (and far more for
//! RSA), so parsed signing key pairs are cached, keyed by a SHA-256 digest of
//! the key bytes. Verification keys are cheap to use unparsed and are not
//! cached.

use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED,
    ECDSA_P384_SHA384_FIXED_SIGNING, ED25519, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair,
    KeyPair, RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey,
};
use ring::{digest, hmac};

/// The ring-backed provider. Install it with [`install`].
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_from_private_key,
        rsa_pub_components_from_public_key: rsa_components_from_public_key,
        ec_pub_components_from_private_key: ec_components_from_private_key,
        ed_pub_components_from_private_key: ed_components_from_private_key,
        compute_digest,
    },
};

/// Makes [`RING_PROVIDER`] the process default for jsonwebtoken.
///
/// Must run before the first jsonwebtoken call (otherwise jsonwebtoken locks in
/// a default that panics). If a provider is already installed — e.g. the host
/// service chose its own — that choice wins and this is a no-op.
pub fn install() {
    // Err only means "already installed", which is exactly what we tolerate.
    let _ = RING_PROVIDER.install_default();
}

// ---------------------------------------------------------------------------
// Factories
// ---------------------------------------------------------------------------

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    require_family(alg.family(), key.family())?;
    let alg = *alg;
    let bytes = key.as_bytes();
    Ok(match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Box::new(HmacSigner {
            key: hmac::Key::new(hmac_alg(alg)?, bytes),
            alg,
        }),
        Algorithm::EdDSA => Box::new(EdSigner(cached_ed25519(bytes)?)),
        Algorithm::ES256 | Algorithm::ES384 => Box::new(EcSigner {
            key: cached_ecdsa(alg, bytes)?,
            alg,
        }),
        _ => {
            let padding = rsa_padding(alg)?;
            Box::new(RsaSigner {
                key: cached_rsa(bytes)?,
                alg,
                padding,
            })
        }
    })
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    require_family(alg.family(), key.family())?;
    let alg = *alg;
    Ok(match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Box::new(HmacVerifier {
            key: hmac::Key::new(hmac_alg(alg)?, key.try_get_as_bytes()?),
            alg,
        }),
        Algorithm::EdDSA => Box::new(EdVerifier(ed25519_public(key.try_get_as_bytes()?)?)),
        Algorithm::ES256 | Algorithm::ES384 => Box::new(EcVerifier {
            point: key.try_get_as_bytes()?.to_vec(),
            alg,
        }),
        _ => Box::new(RsaVerifier {
            params: rsa_params(alg)?,
            key: RsaPublic::from_decoding_key(key),
            alg,
        }),
    })
}

/// Refuses e.g. an HMAC secret presented for an RSA algorithm (key confusion).
fn require_family(wanted: AlgorithmFamily, got: AlgorithmFamily) -> Result<()> {
    if wanted == got {
        Ok(())
    } else {
        Err(ErrorKind::InvalidKeyFormat.into())
    }
}

fn hmac_alg(alg: Algorithm) -> Result<hmac::Algorithm> {
    match alg {
        Algorithm::HS256 => Ok(hmac::HMAC_SHA256),
        Algorithm::HS384 => Ok(hmac::HMAC_SHA384),
        Algorithm::HS512 => Ok(hmac::HMAC_SHA512),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn ecdsa_signing_alg(alg: Algorithm) -> Result<&'static EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Ok(&ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Ok(&ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn ecdsa_verification_alg(alg: Algorithm) -> &'static ring::signature::EcdsaVerificationAlgorithm {
    match alg {
        Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED,
        _ => &ECDSA_P256_SHA256_FIXED,
    }
}

fn rsa_padding(alg: Algorithm) -> Result<&'static dyn ring::signature::RsaEncoding> {
    use ring::signature as s;
    match alg {
        Algorithm::RS256 => Ok(&s::RSA_PKCS1_SHA256),
        Algorithm::RS384 => Ok(&s::RSA_PKCS1_SHA384),
        Algorithm::RS512 => Ok(&s::RSA_PKCS1_SHA512),
        Algorithm::PS256 => Ok(&s::RSA_PSS_SHA256),
        Algorithm::PS384 => Ok(&s::RSA_PSS_SHA384),
        Algorithm::PS512 => Ok(&s::RSA_PSS_SHA512),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

/// RSA verification parameters; ring refuses moduli below 2048 bits here.
fn rsa_params(alg: Algorithm) -> Result<&'static ring::signature::RsaParameters> {
    use ring::signature as s;
    match alg {
        Algorithm::RS256 => Ok(&s::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => Ok(&s::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => Ok(&s::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => Ok(&s::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => Ok(&s::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => Ok(&s::RSA_PSS_2048_8192_SHA512),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

/// ring's errors are deliberately opaque (`Unspecified`), so there is no
/// source worth attaching.
fn sig_error(_: ring::error::Unspecified) -> signature::Error {
    signature::Error::new()
}

// ---------------------------------------------------------------------------
// Signers
// ---------------------------------------------------------------------------

struct HmacSigner {
    key: hmac::Key,
    alg: Algorithm,
}

impl Signer<Vec<u8>> for HmacSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(hmac::sign(&self.key, msg).as_ref().to_vec())
    }
}

impl JwtSigner for HmacSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

struct EdSigner(Arc<Ed25519KeyPair>);

impl Signer<Vec<u8>> for EdSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(msg).as_ref().to_vec())
    }
}

impl JwtSigner for EdSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct EcSigner {
    key: Arc<EcdsaKeyPair>,
    alg: Algorithm,
}

impl Signer<Vec<u8>> for EcSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let sig = self
            .key
            .sign(&SystemRandom::new(), msg)
            .map_err(sig_error)?;
        Ok(sig.as_ref().to_vec())
    }
}

impl JwtSigner for EcSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

struct RsaSigner {
    key: Arc<RsaKeyPair>,
    alg: Algorithm,
    padding: &'static dyn ring::signature::RsaEncoding,
}

impl Signer<Vec<u8>> for RsaSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(self.padding, &SystemRandom::new(), msg, &mut sig)
            .map_err(sig_error)?;
        Ok(sig)
    }
}

impl JwtSigner for RsaSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

// ---------------------------------------------------------------------------
// Verifiers
// ---------------------------------------------------------------------------

struct HmacVerifier {
    key: hmac::Key,
    alg: Algorithm,
}

impl Verifier<Vec<u8>> for HmacVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        // ring compares in constant time.
        hmac::verify(&self.key, msg, sig).map_err(sig_error)
    }
}

impl JwtVerifier for HmacVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// Holds the 32-byte key inline: the verifier is built per token, so avoiding
/// a heap copy keeps the hot EdDSA path lean.
struct EdVerifier([u8; 32]);

fn ed25519_public(bytes: &[u8]) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| ErrorKind::InvalidEddsaKey.into())
}

impl Verifier<Vec<u8>> for EdVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, sig)
            .map_err(sig_error)
    }
}

impl JwtVerifier for EdVerifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

/// `point` is the uncompressed SEC1 point (`0x04 || x || y`).
struct EcVerifier {
    point: Vec<u8>,
    alg: Algorithm,
}

impl Verifier<Vec<u8>> for EcVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        UnparsedPublicKey::new(ecdsa_verification_alg(self.alg), &self.point)
            .verify(msg, sig)
            .map_err(sig_error)
    }
}

impl JwtVerifier for EcVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// An RSA public key as jsonwebtoken can hold it: PKCS#1 `RSAPublicKey` DER,
/// or the raw modulus and exponent from a JWK.
enum RsaPublic {
    Der(Vec<u8>),
    Components { n: Vec<u8>, e: Vec<u8> },
}

impl RsaPublic {
    fn from_decoding_key(key: &DecodingKey) -> Self {
        match key.kind() {
            DecodingKeyKind::SecretOrDer(der) => Self::Der(der.clone()),
            DecodingKeyKind::RsaModulusExponent { n, e } => Self::Components {
                n: n.clone(),
                e: e.clone(),
            },
        }
    }
}

struct RsaVerifier {
    params: &'static ring::signature::RsaParameters,
    key: RsaPublic,
    alg: Algorithm,
}

impl Verifier<Vec<u8>> for RsaVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let params = self.params;
        match &self.key {
            RsaPublic::Der(der) => UnparsedPublicKey::new(params, der).verify(msg, sig),
            RsaPublic::Components { n, e } => {
                RsaPublicKeyComponents { n, e }.verify(params, msg, sig)
            }
        }
        .map_err(sig_error)
    }
}

impl JwtVerifier for RsaVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

// ---------------------------------------------------------------------------
// Signing key cache
// ---------------------------------------------------------------------------

/// Upper bound on cached key pairs. A signer holds a handful of keys at a
/// time (next / active / retiring); the cap only stops unbounded growth if a
/// caller feeds ever-new keys.
const KEY_CACHE_CAP: usize = 16;

#[derive(Clone)]
enum ParsedKey {
    Ed(Arc<Ed25519KeyPair>),
    Ec(Arc<EcdsaKeyPair>),
    Rsa(Arc<RsaKeyPair>),
}

/// Read-mostly: after warm-up every sign takes only the read lock. A tiny Vec
/// beats a HashMap at this size and can be built in a `static` without lazy
/// initialisation.
static KEY_CACHE: RwLock<Vec<([u8; 32], ParsedKey)>> = RwLock::new(Vec::new());

/// Domain-separates cache entries so that the same bytes parsed for two
/// algorithms (e.g. ES256 vs ES384) can never alias.
#[derive(Clone, Copy)]
enum KeyTag {
    Ed25519 = 1,
    EcP256 = 2,
    EcP384 = 3,
    Rsa = 4,
}

fn cache_id(tag: KeyTag, key: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[tag as u8]);
    ctx.update(key);
    let mut id = [0u8; 32];
    id.copy_from_slice(ctx.finish().as_ref());
    id
}

fn cache_get(id: &[u8; 32]) -> Option<ParsedKey> {
    // A poisoned lock still holds a consistent Vec of Arcs: keep using it.
    let entries = KEY_CACHE.read().unwrap_or_else(PoisonError::into_inner);
    entries
        .iter()
        .find(|(k, _)| k == id)
        .map(|(_, v)| v.clone())
}

fn cache_put(id: [u8; 32], key: ParsedKey) {
    let mut entries = KEY_CACHE.write().unwrap_or_else(PoisonError::into_inner);
    if entries.iter().any(|(k, _)| *k == id) {
        return; // another thread parsed the same key concurrently
    }
    if entries.len() >= KEY_CACHE_CAP {
        entries.remove(0); // oldest first
    }
    entries.push((id, key));
}

/// Returns the cached parse of `bytes`, parsing (and caching) it on a miss.
fn cached(
    tag: KeyTag,
    bytes: &[u8],
    parse: impl FnOnce() -> Result<ParsedKey>,
) -> Result<ParsedKey> {
    let id = cache_id(tag, bytes);
    if let Some(hit) = cache_get(&id) {
        return Ok(hit);
    }
    let parsed = parse()?;
    cache_put(id, parsed.clone());
    Ok(parsed)
}

fn cached_ed25519(pkcs8: &[u8]) -> Result<Arc<Ed25519KeyPair>> {
    match cached(KeyTag::Ed25519, pkcs8, || {
        Ok(ParsedKey::Ed(Arc::new(parse_ed25519(pkcs8)?)))
    })? {
        ParsedKey::Ed(k) => Ok(k),
        _ => Err(ErrorKind::InvalidEddsaKey.into()),
    }
}

fn cached_ecdsa(alg: Algorithm, pkcs8: &[u8]) -> Result<Arc<EcdsaKeyPair>> {
    let tag = if alg == Algorithm::ES384 {
        KeyTag::EcP384
    } else {
        KeyTag::EcP256
    };
    let parse = || Ok(ParsedKey::Ec(Arc::new(parse_ecdsa(alg, pkcs8)?)));
    match cached(tag, pkcs8, parse)? {
        ParsedKey::Ec(k) => Ok(k),
        _ => Err(ErrorKind::InvalidEcdsaKey.into()),
    }
}

fn cached_rsa(der: &[u8]) -> Result<Arc<RsaKeyPair>> {
    match cached(KeyTag::Rsa, der, || {
        Ok(ParsedKey::Rsa(Arc::new(parse_rsa(der)?)))
    })? {
        ParsedKey::Rsa(k) => Ok(k),
        _ => Err(rsa_key_error("unexpected cache entry")),
    }
}

/// Accepts PKCS#8 v2 (checked against its public key, as ring generates) and
/// v1 (as `openssl genpkey` writes).
fn parse_ed25519(pkcs8: &[u8]) -> Result<Ed25519KeyPair> {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|_| ErrorKind::InvalidEddsaKey.into())
}

fn parse_ecdsa(alg: Algorithm, pkcs8: &[u8]) -> Result<EcdsaKeyPair> {
    EcdsaKeyPair::from_pkcs8(ecdsa_signing_alg(alg)?, pkcs8, &SystemRandom::new())
        .map_err(|_| ErrorKind::InvalidEcdsaKey.into())
}

/// jsonwebtoken's PEM loader yields PKCS#1 `RSAPrivateKey` DER; callers using
/// `EncodingKey::from_rsa_der` may hand over PKCS#8 instead. Accept both.
fn parse_rsa(der: &[u8]) -> Result<RsaKeyPair> {
    RsaKeyPair::from_der(der)
        .or_else(|_| RsaKeyPair::from_pkcs8(der))
        .map_err(|e| rsa_key_error(&e.to_string()))
}

fn rsa_key_error(msg: &str) -> Error {
    ErrorKind::InvalidRsaKey(msg.to_owned()).into()
}

// ---------------------------------------------------------------------------
// KeyUtils (JWK support inside jsonwebtoken)
// ---------------------------------------------------------------------------

fn rsa_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let pair = parse_rsa(der)?;
    let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((c.n, c.e))
}

/// Parses PKCS#1 `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }`; ring
/// has no public parser for it, and the structure is small enough to walk.
fn rsa_components_from_public_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let bad = || rsa_key_error("malformed RSAPublicKey");
    let (seq, rest) = der::read(der, der::SEQUENCE).ok_or_else(bad)?;
    if !rest.is_empty() {
        return Err(bad());
    }
    let (n, seq) = der::read(seq, der::INTEGER).ok_or_else(bad)?;
    let (e, seq) = der::read(seq, der::INTEGER).ok_or_else(bad)?;
    if !seq.is_empty() {
        return Err(bad());
    }
    Ok((der::unsigned(n).to_vec(), der::unsigned(e).to_vec()))
}

fn ec_components_from_private_key(
    pkcs8: &[u8],
    alg: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let curve = match alg {
        Algorithm::ES256 => EllipticCurve::P256,
        Algorithm::ES384 => EllipticCurve::P384,
        _ => return Err(ErrorKind::InvalidEcdsaKey.into()),
    };
    let pair = parse_ecdsa(alg, pkcs8)?;
    let point = pair.public_key().as_ref();
    match point.split_first() {
        Some((0x04, xy)) if xy.len() % 2 == 0 => {
            let (x, y) = xy.split_at(xy.len() / 2);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(ErrorKind::InvalidEcdsaKey.into()),
    }
}

fn ed_components_from_private_key(pkcs8: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
    match curve {
        EllipticCurve::Ed25519 => Ok(parse_ed25519(pkcs8)?.public_key().as_ref().to_vec()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
    };
    Ok(digest::digest(alg, data).as_ref().to_vec())
}

/// Just enough DER to read an `RSAPublicKey` (definite lengths only).
mod der {
    pub const SEQUENCE: u8 = 0x30;
    pub const INTEGER: u8 = 0x02;

    /// Reads one TLV with the given tag; returns (contents, remainder).
    pub fn read(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&t, rest) = input.split_first()?;
        if t != tag {
            return None;
        }
        let (len, rest) = length(rest)?;
        (rest.len() >= len).then(|| rest.split_at(len))
    }

    fn length(input: &[u8]) -> Option<(usize, &[u8])> {
        let (&first, rest) = input.split_first()?;
        if first < 0x80 {
            return Some((usize::from(first), rest));
        }
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        Some((len, rest))
    }

    /// Drops the sign-padding zero bytes of a non-negative INTEGER.
    pub fn unsigned(int: &[u8]) -> &[u8] {
        let start = int.iter().position(|&b| b != 0).unwrap_or(int.len());
        &int[start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_rsa_public_key_round_trip() {
        // SEQUENCE { INTEGER 0x00 0xC5, INTEGER 0x01 0x00 0x01 }
        let der = [
            0x30, 0x09, 0x02, 0x02, 0x00, 0xC5, 0x02, 0x03, 0x01, 0x00, 0x01,
        ];
        let (n, e) = rsa_components_from_public_key(&der).unwrap();
        assert_eq!(n, vec![0xC5]);
        assert_eq!(e, vec![0x01, 0x00, 0x01]);
        assert!(rsa_components_from_public_key(&der[..der.len() - 1]).is_err());
    }

    #[test]
    fn cache_reuses_parsed_ed25519_key() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let a = cached_ed25519(pkcs8.as_ref()).unwrap();
        let b = cached_ed25519(pkcs8.as_ref()).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "second sign must not re-parse the key");
    }

    #[test]
    fn cache_is_bounded() {
        let rng = SystemRandom::new();
        for _ in 0..KEY_CACHE_CAP + 4 {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            cached_ed25519(pkcs8.as_ref()).unwrap();
        }
        assert!(KEY_CACHE.read().unwrap().len() <= KEY_CACHE_CAP);
    }

    #[test]
    fn family_mismatch_is_refused() {
        let key = EncodingKey::from_secret(b"secret");
        assert!(new_signer(&Algorithm::EdDSA, &key).is_err());
        let key = DecodingKey::from_secret(b"secret");
        assert!(new_verifier(&Algorithm::RS256, &key).is_err());
    }
}
