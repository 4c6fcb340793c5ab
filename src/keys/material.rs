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

use crate::config::SigningAlg;

/// Size of generated RSA keys.
const RSA_BITS: usize = 2048;

/// A new private key of `alg`, as PKCS#8 DER.
pub fn generate(alg: SigningAlg) -> Result<Vec<u8>, String> {
    let rng = SystemRandom::new();
    match alg {
        SigningAlg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| "Ed25519 key generation failed".to_owned()),
        SigningAlg::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| "P-256 key generation failed".to_owned()),
        SigningAlg::RS256 => generate_rsa(),
    }
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
pub fn load(alg: SigningAlg, pkcs8: &[u8]) -> Result<(Algorithm, EncodingKey, Jwk), String> {
    match alg {
        SigningAlg::EdDSA => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                .map_err(|_| "not an Ed25519 PKCS#8 key")?;
            let jwk = Jwk::ed25519(pair.public_key().as_ref());
            Ok((Algorithm::EdDSA, EncodingKey::from_ed_der(pkcs8), jwk))
        }
        SigningAlg::ES256 => {
            let rng = SystemRandom::new();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|_| "not a P-256 PKCS#8 key")?;
            let jwk = Jwk::p256(pair.public_key().as_ref()).map_err(|e| e.to_string())?;
            Ok((Algorithm::ES256, EncodingKey::from_ec_der(pkcs8), jwk))
        }
        SigningAlg::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| "not an RSA PKCS#8 key")?;
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
