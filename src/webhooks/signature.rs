//! Standard Webhooks signatures: `webhook-signature: v1,<base64>` where the
//! MAC is HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

/// Prefix of secrets in the Standard Webhooks form (`whsec_<base64>`).
const PREFIX: &str = "whsec_";
/// Shortest key accepted, in bytes (the spec asks for 24 to 64).
const MIN_KEY_BYTES: usize = 24;

/// Signs webhook deliveries with the shared secret.
#[derive(Clone)]
pub struct Signer {
    key: hmac::Key,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// `whsec_<base64>` is decoded as the spec says; any other value is
    /// used as raw bytes.
    pub fn from_secret(secret: &str) -> Result<Self, String> {
        let key = match secret.strip_prefix(PREFIX) {
            Some(encoded) => STANDARD
                .decode(encoded)
                .map_err(|_| "a whsec_ secret must be base64 after the prefix".to_owned())?,
            None => secret.as_bytes().to_vec(),
        };
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the secret must hold at least {MIN_KEY_BYTES} bytes"
            ));
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }

    /// The `webhook-signature` header value.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries.
    #[test]
    fn matches_the_reference_vector() {
        let signer = Signer::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = signer.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn refuses_short_or_malformed_secrets() {
        assert!(Signer::from_secret("short").is_err());
        assert!(Signer::from_secret("whsec_!!!not base64!!!").is_err());
        assert!(Signer::from_secret("whsec_c2hvcnQ=").is_err(), "5 bytes");
        assert!(Signer::from_secret("a raw secret of enough length").is_ok());
    }
}
