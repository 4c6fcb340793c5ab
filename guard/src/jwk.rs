//! JSON Web Keys (RFC 7517) for the public keys Signet publishes.
//!
//! jsonwebtoken cannot build an Ed25519 JWK from a ring-generated (PKCS#8 v2)
//! key, so Signet builds its JWKs here; the same type is what the guard reads
//! back from the JWKS endpoint. Only public-key members are modelled: a
//! private member in a published set is ignored, never used.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// One public key. Members not listed here are ignored on input.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// A JWK Set (RFC 7517 §5), the body of `/.well-known/jwks.json`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Why a JWK could not be built or fingerprinted.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum JwkError {
    #[error("JWK is missing the required member `{0}`")]
    MissingMember(&'static str),
    #[error("unsupported JWK key type")]
    UnsupportedKeyType,
    #[error("invalid key material: {0}")]
    InvalidKey(&'static str),
}

impl Jwk {
    /// An Ed25519 verification key (RFC 8037) for `alg: EdDSA`; `public` is
    /// the raw 32-byte public key.
    pub fn ed25519(public: &[u8]) -> Jwk {
        Self::signing_key(Jwk {
            crv: Some("Ed25519".into()),
            x: Some(b64(public)),
            alg: Some("EdDSA".into()),
            ..Self::empty("OKP")
        })
    }

    /// A P-256 verification key for `alg: ES256`, from the uncompressed SEC1
    /// point `0x04 || x || y` (what ring's `EcdsaKeyPair::public_key` gives).
    pub fn p256(uncompressed_point: &[u8]) -> Result<Jwk, JwkError> {
        let xy = match uncompressed_point.split_first() {
            Some((0x04, xy)) if xy.len() == 64 => xy,
            _ => {
                return Err(JwkError::InvalidKey(
                    "expected a 65-byte uncompressed P-256 point",
                ));
            }
        };
        let (x, y) = xy.split_at(32);
        Ok(Self::signing_key(Jwk {
            crv: Some("P-256".into()),
            x: Some(b64(x)),
            y: Some(b64(y)),
            alg: Some("ES256".into()),
            ..Self::empty("EC")
        }))
    }

    /// An RSA verification key for `alg: RS256` from big-endian modulus and
    /// exponent. RFC 7518 §6.3.1 forbids leading zero octets, so they are
    /// stripped (ASN.1 INTEGERs often carry one).
    pub fn rsa(n: &[u8], e: &[u8]) -> Jwk {
        Self::signing_key(Jwk {
            n: Some(b64(strip_leading_zeros(n))),
            e: Some(b64(strip_leading_zeros(e))),
            alg: Some("RS256".into()),
            ..Self::empty("RSA")
        })
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in
    /// lexicographic order without whitespace, base64url without padding.
    pub fn thumbprint(&self) -> Result<String, JwkError> {
        let canonical = self.thumbprint_input()?;
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
        Ok(b64(digest.as_ref()))
    }

    /// The canonical JSON of RFC 7638 §3.2 (members already in lexicographic
    /// order per key type).
    fn thumbprint_input(&self) -> Result<String, JwkError> {
        let members: &[(&str, &Option<String>)] = match self.kty.as_str() {
            "OKP" => &[("crv", &self.crv), ("kty", &None), ("x", &self.x)],
            "EC" => &[
                ("crv", &self.crv),
                ("kty", &None),
                ("x", &self.x),
                ("y", &self.y),
            ],
            "RSA" => &[("e", &self.e), ("kty", &None), ("n", &self.n)],
            _ => return Err(JwkError::UnsupportedKeyType),
        };
        let mut out = String::from("{");
        for (i, (name, value)) in members.iter().enumerate() {
            let value = match *name {
                "kty" => self.kty.as_str(),
                _ => value.as_deref().ok_or(JwkError::MissingMember(name))?,
            };
            if i > 0 {
                out.push(',');
            }
            push_json_string(&mut out, name);
            out.push(':');
            push_json_string(&mut out, value);
        }
        out.push('}');
        Ok(out)
    }

    fn empty(kty: &str) -> Jwk {
        Jwk {
            kty: kty.into(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
            alg: None,
            use_: None,
            kid: None,
        }
    }

    /// Marks the key for signatures and names it by its thumbprint, so the kid
    /// is stable across restarts and cannot collide between distinct keys.
    fn signing_key(mut jwk: Jwk) -> Jwk {
        jwk.use_ = Some("sig".into());
        // Cannot fail: every constructor fills the required members.
        jwk.kid = jwk.thumbprint().ok();
        jwk
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// JSON string encoding per RFC 8259 (serde_json's escaping, no whitespace).
fn push_json_string(out: &mut String, value: &str) {
    match serde_json::to_string(value) {
        Ok(s) => out.push_str(&s),
        // Serialising a &str cannot fail; keep a safe fallback regardless.
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn rfc7638_rsa_thumbprint() {
        let jwk = Jwk {
            n: Some(RFC7638_N.into()),
            e: Some("AQAB".into()),
            alg: Some("RS256".into()),
            kid: Some("2011-04-29".into()),
            ..Jwk::empty("RSA")
        };
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rsa_constructor_strips_zeros_and_matches_rfc7638() {
        let n = URL_SAFE_NO_PAD.decode(RFC7638_N).unwrap();
        let mut padded = vec![0u8];
        padded.extend_from_slice(&n);
        let jwk = Jwk::rsa(&padded, &[0, 1, 0, 1]);
        assert_eq!(jwk.n.as_deref(), Some(RFC7638_N));
        assert_eq!(jwk.e.as_deref(), Some("AQAB"));
        assert_eq!(
            jwk.kid.as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(jwk.alg.as_deref(), Some("RS256"));
        assert_eq!(jwk.use_.as_deref(), Some("sig"));
    }

    #[test]
    fn rfc8037_ed25519_thumbprint() {
        // RFC 8037 Appendix A.2 public key, thumbprint from A.3.
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let public = URL_SAFE_NO_PAD.decode(x).unwrap();
        let jwk = Jwk::ed25519(&public);
        assert_eq!(jwk.x.as_deref(), Some(x));
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        assert_eq!(
            jwk.kid.as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
        assert_eq!(jwk.crv.as_deref(), Some("Ed25519"));
        assert_eq!(jwk.alg.as_deref(), Some("EdDSA"));
    }

    #[test]
    fn p256_constructor() {
        let mut point = vec![4u8];
        point.extend((0..64).map(|i| i as u8));
        let jwk = Jwk::p256(&point).unwrap();
        assert_eq!(jwk.kty, "EC");
        assert_eq!(jwk.crv.as_deref(), Some("P-256"));
        assert_eq!(
            URL_SAFE_NO_PAD.decode(jwk.x.as_ref().unwrap()).unwrap(),
            &point[1..33]
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(jwk.y.as_ref().unwrap()).unwrap(),
            &point[33..]
        );
        assert_eq!(jwk.kid, Some(jwk.thumbprint().unwrap()));
        assert!(Jwk::p256(&point[..64]).is_err());
        point[0] = 2;
        assert!(Jwk::p256(&point).is_err());
    }

    #[test]
    fn thumbprint_requires_members() {
        let jwk = Jwk {
            crv: Some("Ed25519".into()),
            ..Jwk::empty("OKP")
        };
        assert_eq!(jwk.thumbprint(), Err(JwkError::MissingMember("x")));
        assert_eq!(
            Jwk::empty("oct").thumbprint(),
            Err(JwkError::UnsupportedKeyType)
        );
    }

    #[test]
    fn serde_shape() {
        let jwk = Jwk::ed25519(&[7u8; 32]);
        let json = serde_json::to_value(&jwk).unwrap();
        assert_eq!(json["use"], "sig");
        assert!(json.get("n").is_none(), "absent members are not serialised");
        let input = r#"{"kty":"OKP","crv":"Ed25519","x":"AA","d":"secret","key_ops":["verify"]}"#;
        let parsed: Jwk = serde_json::from_str(input).unwrap();
        assert_eq!(parsed.x.as_deref(), Some("AA"));
        let set: JwkSet = serde_json::from_str(r#"{"keys":[]}"#).unwrap();
        assert!(set.keys.is_empty());
    }
}
