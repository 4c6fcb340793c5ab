//! Keys made elsewhere (`signet keys import`): PKCS#8, SEC1 (`EC PRIVATE
//! KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM, converted to the PKCS#8 form
//! Signet writes. Only what Signet can sign with is accepted (Ed25519,
//! P-256, RSA of 2048 to 4096 bits); anything else is refused with a reason
//! naming the problem. The DER parsing uses the `pkcs8`/`pkcs1` crates that
//! the `rsa` crate re-exports; no private-key arithmetic happens here.

use rsa::pkcs1;
use rsa::pkcs8::der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef};
use rsa::pkcs8::der::{Decode, Encode, Reader, SliceReader, TagMode, TagNumber};
use rsa::pkcs8::{AlgorithmIdentifierRef, PrivateKeyInfo};

use super::SigningAlg;
use super::material;

const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Smallest and largest RSA modulus accepted: NIST's minimum, ring's maximum.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 4096;

/// Names of algorithms and curves people commonly hold keys for, so a
/// refusal says what the key is rather than printing an OID.
const KNOWN: [(&str, &str); 9] = [
    ("1.3.101.113", "Ed448"),
    ("1.3.101.110", "X25519 (a key-agreement key)"),
    ("1.3.101.111", "X448 (a key-agreement key)"),
    ("1.2.840.113549.1.1.10", "RSA-PSS"),
    ("1.2.840.10040.4.1", "DSA"),
    ("1.3.132.0.34", "P-384"),
    ("1.3.132.0.35", "P-521"),
    ("1.3.132.0.10", "secp256k1"),
    ("1.3.36.3.3.2.8.1.1.7", "brainpoolP256r1"),
];

/// The algorithm and PKCS#8 DER of the single private key in `pem_text`.
pub fn from_pem(pem_text: &[u8]) -> Result<(SigningAlg, Vec<u8>), String> {
    let blocks = pem::parse_many(pem_text).map_err(|e| format!("not a PEM file ({e})"))?;
    // `openssl ecparam -genkey` writes the curve's parameters before the key.
    let keys: Vec<_> = blocks
        .iter()
        .filter(|b| b.tag() != "EC PARAMETERS")
        .collect();
    let block = match keys.as_slice() {
        [block] => *block,
        [] => return Err("no PEM private key in the file".into()),
        _ => return Err("more than one PEM block: the file must hold one private key".into()),
    };
    let (alg, pkcs8) = match block.tag() {
        "PRIVATE KEY" => from_pkcs8(block.contents())?,
        "EC PRIVATE KEY" => from_sec1(block.contents())?,
        "RSA PRIVATE KEY" => from_pkcs1(block.contents())?,
        "ENCRYPTED PRIVATE KEY" => {
            return Err(
                "the key is encrypted: decrypt it first (openssl pkey -in FILE -out PLAIN.pem)"
                    .into(),
            );
        }
        other => {
            return Err(format!(
                "a `{other}` PEM block is not a private key Signet reads \
                 (PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)"
            ));
        }
    };
    // What ring accepts is what can sign; refuse anything else here.
    material::load(alg, &pkcs8)?;
    Ok((alg, pkcs8))
}

fn from_pkcs8(der: &[u8]) -> Result<(SigningAlg, Vec<u8>), String> {
    let info = PrivateKeyInfo::try_from(der).map_err(|e| format!("malformed PKCS#8 ({e})"))?;
    match info.algorithm.oid {
        ED25519 => {
            // v1 or v2 alike: keep the seed, drop any public key (v1 form).
            let seed = OctetStringRef::from_der(info.private_key)
                .ok()
                .and_then(|s| <[u8; 32]>::try_from(s.as_bytes()).ok())
                .ok_or("malformed Ed25519 private key")?;
            Ok((SigningAlg::EdDSA, material::ed25519_pkcs8(&seed)))
        }
        EC_PUBLIC_KEY => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|_| "the EC key does not name its curve")?;
            supported_curve(curve)?;
            Ok((SigningAlg::ES256, der.to_vec()))
        }
        RSA_ENCRYPTION => {
            supported_rsa(info.private_key)?;
            Ok((SigningAlg::RS256, der.to_vec()))
        }
        other => Err(format!("{} keys are not supported", name(other))),
    }
}

/// RFC 5915 `ECPrivateKey`, wrapped as PKCS#8 with its curve.
fn from_sec1(der: &[u8]) -> Result<(SigningAlg, Vec<u8>), String> {
    let curve = sec1_curve(der).map_err(|e| format!("malformed EC private key ({e})"))?;
    let curve = curve.ok_or("the EC key does not name its curve")?;
    supported_curve(curve)?;
    wrap(
        SigningAlg::ES256,
        EC_PUBLIC_KEY,
        Some(AnyRef::from(&curve)),
        der,
    )
}

/// RFC 8017 `RSAPrivateKey`, wrapped as PKCS#8.
fn from_pkcs1(der: &[u8]) -> Result<(SigningAlg, Vec<u8>), String> {
    supported_rsa(der)?;
    wrap(SigningAlg::RS256, RSA_ENCRYPTION, Some(AnyRef::NULL), der)
}

fn wrap(
    alg: SigningAlg,
    oid: ObjectIdentifier,
    parameters: Option<AnyRef<'_>>,
    key: &[u8],
) -> Result<(SigningAlg, Vec<u8>), String> {
    let info = PrivateKeyInfo::new(AlgorithmIdentifierRef { oid, parameters }, key);
    let der = info
        .to_der()
        .map_err(|e| format!("PKCS#8 encoding failed ({e})"))?;
    Ok((alg, der))
}

/// The `parameters [0]` curve of an `ECPrivateKey`, if it names one.
fn sec1_curve(der: &[u8]) -> rsa::pkcs8::der::Result<Option<ObjectIdentifier>> {
    let mut reader = SliceReader::new(der)?;
    let curve = reader.sequence(|r| {
        let _version: u8 = r.decode()?;
        let _private_key: OctetStringRef<'_> = r.decode()?;
        let curve = r.context_specific::<ObjectIdentifier>(TagNumber::N0, TagMode::Explicit)?;
        let _public_key =
            r.context_specific::<BitStringRef<'_>>(TagNumber::N1, TagMode::Explicit)?;
        Ok(curve)
    })?;
    reader.finish(curve)
}

fn supported_curve(curve: ObjectIdentifier) -> Result<(), String> {
    if curve == P256 {
        return Ok(());
    }
    Err(format!(
        "curve {} is not supported: EC keys must be P-256 (ES256)",
        name(curve)
    ))
}

fn supported_rsa(pkcs1_der: &[u8]) -> Result<(), String> {
    let key = pkcs1::RsaPrivateKey::try_from(pkcs1_der)
        .map_err(|e| format!("malformed RSA private key ({e})"))?;
    let modulus = key.modulus.as_bytes();
    let bits = (modulus.len() * 8)
        .saturating_sub(modulus.first().map_or(8, |b| b.leading_zeros() as usize));
    if bits < RSA_MIN_BITS {
        return Err(format!(
            "an RSA key of {bits} bits is too weak: at least {RSA_MIN_BITS} bits are required"
        ));
    }
    if bits > RSA_MAX_BITS {
        return Err(format!(
            "an RSA key of {bits} bits is too large to sign with: at most {RSA_MAX_BITS} bits"
        ));
    }
    Ok(())
}

fn name(oid: ObjectIdentifier) -> String {
    let dotted = oid.to_string();
    KNOWN
        .iter()
        .find(|(known, _)| *known == dotted)
        .map_or_else(|| format!("OID {dotted}"), |(_, name)| (*name).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pkcs8_v2_ed25519_key_is_stored_as_v1() {
        let rng = ring::rand::SystemRandom::new();
        let v2 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", v2.as_ref().to_vec()));
        let (alg, v1) = from_pem(pem_text.as_bytes()).unwrap();
        assert_eq!(alg, SigningAlg::EdDSA);
        assert_eq!(v1.len(), 48, "RFC 8410 v1: prefix and seed, no public key");
        assert_eq!(v1[4], 0, "version 0");
        let (_, _, from_v1) = material::load(alg, &v1).unwrap();
        let (_, _, from_v2) = material::load(alg, v2.as_ref()).unwrap();
        assert_eq!(from_v1, from_v2, "the same key");
    }

    #[test]
    fn what_is_not_one_private_key_is_refused() {
        assert!(from_pem(b"not pem").unwrap_err().contains("PEM"));
        let public = pem::encode(&pem::Pem::new("PUBLIC KEY", vec![0x30, 0x00]));
        assert!(
            from_pem(public.as_bytes())
                .unwrap_err()
                .contains("PUBLIC KEY")
        );
        let junk = pem::encode(&pem::Pem::new("PRIVATE KEY", vec![0x30, 0x00]));
        assert!(from_pem(junk.as_bytes()).unwrap_err().contains("PKCS#8"));
    }
}
