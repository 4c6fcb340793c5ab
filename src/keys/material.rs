//! Key material per algorithm: generation (ring; RSA through the `rsa`
//! crate, because ring cannot generate RSA keys) and loading into a signer
//! plus public JWK. Signing and verifying always go through ring; the `rsa`
//! crate never sees a signature, so its private-key timing issue
//! (RUSTSEC-2023-0071, a side channel in decryption/signing) does not apply.

use jsonwebtoken::{Algorithm, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use signet_guard::jwk::Jwk;

use super::SigningAlg;

/// Size of generated RSA keys.
const RSA_BITS: usize = 2048;

/// DER of an RFC 8410 (PKCS#8 v1) Ed25519 key up to its 32-byte seed:
/// version 0, algorithm 1.3.101.112, no public key (RFC 8410 §10.3).
const ED25519_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A new private key of `alg`, as PKCS#8 DER.
pub fn generate(alg: SigningAlg) -> Result<Vec<u8>, String> {
    let rng = SystemRandom::new();
    match alg {
        // Not ring's `generate_pkcs8`: it writes PKCS#8 v2, which OpenSSL 3.0
        // and Python `cryptography` refuse. ring derives its seed the same way.
        SigningAlg::EdDSA => crate::secrets::random::<32>()
            .map(|seed| ed25519_pkcs8(&seed))
            .map_err(|_| "Ed25519 key generation failed".to_owned()),
        SigningAlg::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| "P-256 key generation failed".to_owned()),
        SigningAlg::RS256 => generate_rsa(),
    }
}

/// The PKCS#8 v1 form of an Ed25519 private key (its seed).
pub fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    [&ED25519_V1_PREFIX[..], seed].concat()
}

fn generate_rsa() -> Result<Vec<u8>, String> {
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, RSA_BITS)
        .map_err(|e| format!("RSA key generation failed: {e}"))?;
    key.to_pkcs8_der()
        .map(|der| der.as_bytes().to_vec())
        .map_err(|e| format!("RSA key encoding failed: {e}"))
}

/// The signing key and public JWK (without `kid`) of a PKCS#8 key of `alg`.
/// Ed25519 keys may be v1 (what Signet writes) or v2 (what it wrote before).
pub fn load(alg: SigningAlg, pkcs8: &[u8]) -> Result<(Algorithm, EncodingKey, Jwk), String> {
    match alg {
        SigningAlg::EdDSA => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                .map_err(|e| format!("not an Ed25519 PKCS#8 key ({e})"))?;
            let jwk = Jwk::ed25519(pair.public_key().as_ref());
            Ok((Algorithm::EdDSA, EncodingKey::from_ed_der(pkcs8), jwk))
        }
        SigningAlg::ES256 => {
            let rng = SystemRandom::new();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|e| format!("not a P-256 PKCS#8 key ({e})"))?;
            let jwk = Jwk::p256(pair.public_key().as_ref()).map_err(|e| e.to_string())?;
            Ok((Algorithm::ES256, EncodingKey::from_ec_der(pkcs8), jwk))
        }
        SigningAlg::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8)
                .map_err(|e| format!("not a usable RSA PKCS#8 key ({e})"))?;
            let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
            let jwk = Jwk::rsa(&public.n, &public.e);
            Ok((Algorithm::RS256, EncodingKey::from_rsa_der(pkcs8), jwk))
        }
    }
}

impl std::str::FromStr for SigningAlg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "EdDSA" => Ok(SigningAlg::EdDSA),
            "ES256" => Ok(SigningAlg::ES256),
            "RS256" => Ok(SigningAlg::RS256),
            other => Err(format!(
                "unknown signing algorithm {other} (EdDSA, ES256, RS256)"
            )),
        }
    }
}
