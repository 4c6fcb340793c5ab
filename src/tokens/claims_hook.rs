//! The optional claims hook (CONTRACT §11): before a token is issued,
//! Signet POSTs `{sub, client_id, sid, grant, scope}` to `claims_hook_url`,
//! signed per Standard Webhooks, and merges the JSON object it answers.
//! One second per call, a capped answer, no redirects.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The whole call (connect, send, answer) must finish within this.
pub const TIMEOUT: Duration = Duration::from_secs(1);
/// Largest answer read; the merged claims are capped further
/// ([`super::claims::MAX_BYTES`]).
const MAX_RESPONSE_BYTES: usize = 4 * 1024;

/// What a failed hook means for the token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// The token request fails (503).
    #[default]
    Deny,
    /// The token is issued without the hook's claims.
    Omit,
}

/// Settings of [`ClaimsHook`], checked at start-up.
#[derive(Clone)]
pub struct HookSettings {
    url: reqwest::Url,
    secret: Vec<u8>,
    failure: FailureMode,
}

impl HookSettings {
    /// `None` without a URL. The URL must be HTTPS (HTTP only to a loopback
    /// host); the secret is required, raw or as `whsec_<base64>`.
    pub fn parse(
        url: Option<&str>,
        secret: Option<&str>,
        failure: FailureMode,
    ) -> Result<Option<Self>, String> {
        let Some(url) = url.filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(url)
            .map_err(|e| format!("SIGNET_CLAIMS_HOOK_URL / claims_hook_url: {e}"))?;
        let host = url.host_str().unwrap_or_default();
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
            return Err(
                "SIGNET_CLAIMS_HOOK_URL / claims_hook_url must be https:// (http:// only to a loopback host)"
                    .into(),
            );
        }
        let secret = match secret {
            Some(s) if s.starts_with("whsec_") => STANDARD.decode(&s[6..]).map_err(|_| {
                "SIGNET_CLAIMS_HOOK_SECRET / claims_hook_secret: not valid base64 after whsec_"
                    .to_owned()
            })?,
            Some(s) => s.as_bytes().to_vec(),
            None => Vec::new(),
        };
        if secret.len() < 16 {
            return Err(
                "SIGNET_CLAIMS_HOOK_SECRET / claims_hook_secret must be set (at least 16 bytes) with a claims hook"
                    .into(),
            );
        }
        Ok(Some(Self {
            url,
            secret,
            failure,
        }))
    }
}

/// What the hook is told about the token being issued.
#[derive(Serialize)]
pub struct HookRequest<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    pub sid: Option<&'a str>,
    pub grant: &'a str,
    pub scope: &'a str,
}

/// Why the hook gave no claims. The reason label is one of a fixed few.
#[derive(Debug, thiserror::Error)]
pub enum HookFailure {
    #[error("the claims hook could not be reached")]
    Unreachable,
    #[error("the claims hook did not answer within {TIMEOUT:?}")]
    Timeout,
    #[error("the claims hook answered HTTP {0}")]
    Status(u16),
    #[error("the claims hook's answer is too large")]
    TooLarge,
    #[error("the claims hook's answer is not a JSON object")]
    Malformed,
}

impl HookFailure {
    /// The bounded metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            HookFailure::Unreachable => "unreachable",
            HookFailure::Timeout => "timeout",
            HookFailure::Status(_) => "status",
            HookFailure::TooLarge => "too_large",
            HookFailure::Malformed => "malformed",
        }
    }
}

/// Calls the claims hook.
pub struct ClaimsHook {
    client: reqwest::Client,
    url: reqwest::Url,
    key: hmac::Key,
    failure: FailureMode,
}

impl ClaimsHook {
    pub fn new(settings: HookSettings) -> Result<Self, reqwest::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .build()?;
        Ok(Self {
            client,
            url: settings.url,
            key: hmac::Key::new(hmac::HMAC_SHA256, &settings.secret),
            failure: settings.failure,
        })
    }

    pub fn denies_on_failure(&self) -> bool {
        self.failure == FailureMode::Deny
    }

    /// The claims the hook adds (not yet filtered), or why there are none.
    pub async fn call(&self, request: &HookRequest<'_>) -> Result<Map<String, Value>, HookFailure> {
        let started = Instant::now();
        let result = tokio::time::timeout(TIMEOUT, self.send(request))
            .await
            .unwrap_or(Err(HookFailure::Timeout));
        crate::telemetry::claims_hook_duration(started.elapsed());
        result
    }

    async fn send(&self, request: &HookRequest<'_>) -> Result<Map<String, Value>, HookFailure> {
        let body = serde_json::to_vec(request).map_err(|_| HookFailure::Malformed)?;
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(&self.key, &id, timestamp, &body);
        let mut response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", format!("v1,{signature}"))
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        if !response.status().is_success() {
            return Err(HookFailure::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(HookFailure::TooLarge);
        }
        let mut answer = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if answer.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(HookFailure::TooLarge);
            }
            answer.extend_from_slice(&chunk);
        }
        match serde_json::from_slice(&answer) {
            Ok(Value::Object(claims)) => Ok(claims),
            _ => Err(HookFailure::Malformed),
        }
    }
}

fn transport(error: reqwest::Error) -> HookFailure {
    if error.is_timeout() {
        HookFailure::Timeout
    } else {
        HookFailure::Unreachable
    }
}

/// Standard Webhooks signature: base64 HMAC-SHA256 over "id.timestamp.body".
pub fn sign(key: &hmac::Key, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut context = hmac::Context::with_key(key);
    context.update(id.as_bytes());
    context.update(b".");
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    STANDARD.encode(context.sign().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_urls_are_https_or_loopback() {
        let secret = Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let ok = |url| HookSettings::parse(Some(url), secret, FailureMode::Deny);
        assert!(ok("https://hooks.example/claims").unwrap().is_some());
        assert!(ok("http://127.0.0.1:9000/claims").unwrap().is_some());
        assert!(ok("http://[::1]:9000/").unwrap().is_some());
        assert!(ok("http://localhost/").unwrap().is_some());
        assert!(ok("http://hooks.example/claims").is_err());
        assert!(ok("http://127.0.0.1.example/").is_err());
        assert!(ok("ftp://127.0.0.1/").is_err());
        assert!(ok("not a url").is_err());
        assert!(
            HookSettings::parse(None, None, FailureMode::Deny)
                .unwrap()
                .is_none()
        );
        let no_secret = HookSettings::parse(Some("https://h.example/"), None, FailureMode::Deny);
        assert!(no_secret.is_err());
        let bad = HookSettings::parse(
            Some("https://h.example/"),
            Some("whsec_!!"),
            FailureMode::Omit,
        );
        assert!(bad.is_err());
    }

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signature_matches_standard_webhooks() {
        let settings = HookSettings::parse(
            Some("https://h.example/"),
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            FailureMode::Deny,
        )
        .unwrap()
        .unwrap();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &settings.secret);
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
