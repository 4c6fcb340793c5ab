//! The protected header of a compact JWS, parsed strictly (RFC 8725, RFC 9068).

use serde::{Deserialize, Deserializer};

use super::TokenError;
use super::keys::{KeySet, VerifyKey};

/// Only the members the checks need; unknown members are ignored as RFC 7515
/// requires (anything that must be understood would be listed in `crit`).
#[derive(Deserialize)]
pub(crate) struct Header {
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    /// We understand no extensions, so any `crit` is refused.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    /// Keys or key locations carried by the token itself: trusting them would
    /// let the token choose its own verification key.
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

/// True for a member that is present with any value, `null` included.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

impl Header {
    /// Decodes the base64url header segment and parses its JSON.
    pub(crate) fn decode(segment: &str) -> Result<Header, TokenError> {
        let json = super::b64_decode(segment)?;
        super::from_json_object(&json).ok_or(TokenError::Malformed)
    }

    /// The key id, required because the key set is looked up by it.
    pub(crate) fn kid(&self) -> Result<&str, TokenError> {
        self.kid.as_deref().ok_or(TokenError::MissingKeyId)
    }

    /// Runs every header check and returns the key the signature must be
    /// verified with. The key lookup comes last, so a token that is refused
    /// anyway (wrong type, `none`, embedded key) never reports `UnknownKey`
    /// and so never prompts a JWKS refetch.
    pub(crate) fn select_key<'k>(&self, keys: &'k KeySet) -> Result<&'k VerifyKey, TokenError> {
        self.check_type()?;
        self.check_forbidden()?;
        let alg = self.alg.as_deref().ok_or(TokenError::Malformed)?;
        if is_forbidden_alg(alg) {
            return Err(TokenError::AlgorithmMismatch);
        }
        let key = keys.get(self.kid()?).ok_or(TokenError::UnknownKey)?;
        if alg != key.alg_name {
            return Err(TokenError::AlgorithmMismatch);
        }
        Ok(key)
    }

    /// RFC 9068 §4: `typ` must be `at+jwt`; media types are case-insensitive
    /// and the `application/` prefix may be omitted (RFC 7515 §4.1.9).
    fn check_type(&self) -> Result<(), TokenError> {
        let typ = self.typ.as_deref().ok_or(TokenError::UnsupportedType)?;
        let bare = strip_prefix_ignore_case(typ, "application/").unwrap_or(typ);
        if bare.eq_ignore_ascii_case("at+jwt") {
            Ok(())
        } else {
            Err(TokenError::UnsupportedType)
        }
    }

    fn check_forbidden(&self) -> Result<(), TokenError> {
        if self.crit || self.jwk || self.jku || self.x5u || self.x5c {
            Err(TokenError::ForbiddenHeader)
        } else {
            Ok(())
        }
    }
}

/// `none` in any spelling and the HMAC family are refused outright, before
/// any key is consulted: a public key must never be usable as a MAC secret.
fn is_forbidden_alg(alg: &str) -> bool {
    alg.eq_ignore_ascii_case("none") || strip_prefix_ignore_case(alg, "HS").is_some()
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Header {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn typ_variants() {
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+Jwt",
        ] {
            let h = parse(&format!(r#"{{"alg":"EdDSA","typ":"{ok}"}}"#));
            assert_eq!(h.check_type(), Ok(()), "{ok}");
        }
        for bad in ["JWT", "application/jwt", "at+jwt ", "application/", ""] {
            let h = parse(&format!(r#"{{"alg":"EdDSA","typ":"{bad}"}}"#));
            assert_eq!(h.check_type(), Err(TokenError::UnsupportedType), "{bad}");
        }
        assert_eq!(
            parse(r#"{"alg":"EdDSA"}"#).check_type(),
            Err(TokenError::UnsupportedType)
        );
    }

    #[test]
    fn null_forbidden_member_still_counts() {
        let h = parse(r#"{"alg":"EdDSA","typ":"at+jwt","crit":null}"#);
        assert_eq!(h.check_forbidden(), Err(TokenError::ForbiddenHeader));
    }

    #[test]
    fn forbidden_algs() {
        for alg in ["none", "None", "NONE", "nOnE", "HS256", "hs512", "HS"] {
            assert!(is_forbidden_alg(alg), "{alg}");
        }
        for alg in ["EdDSA", "ES256", "RS256", "", "H"] {
            assert!(!is_forbidden_alg(alg), "{alg}");
        }
    }

    #[test]
    fn duplicate_members_are_malformed() {
        let json = br#"{"alg":"EdDSA","alg":"none","typ":"at+jwt"}"#;
        assert!(serde_json::from_slice::<Header>(json).is_err());
    }
}
