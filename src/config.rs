//! Configuration: an optional TOML file overridden by `SIGNET_*` variables
//! (CONTRACT §3). Everything is validated here, once, so the rest of the
//! server can trust its settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

use crate::auth::accounts::PasswordChangeRevokes;
pub use crate::auth::passwords::Argon2Config;
use crate::auth::recovery::RecoverySettings;
use crate::auth::throttle::ThrottleConfig;
use crate::http::ClientAddressSettings;
use crate::http::server::ServerSettings;
pub use crate::keys::SigningAlg;
use crate::keys::{JWKS_MAX_AGE_SECS, KeySettings};
use crate::store::PoolSettings;
use crate::tokens::claims_hook::{FailureMode, HookSettings};
use crate::tokens::revocations::{self, RevocationSettings};
use crate::webhooks::WebhookSettings;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The validated settings of one Signet process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub listen: SocketAddr,
    /// `iss` of every token; `None` means `http://<listen>`.
    issuer: Option<String>,
    pub database_url: String,
    /// Connections per instance.
    pub database_pool_size: u32,
    /// Longest wait for a connection or a statement.
    #[serde(deserialize_with = "duration")]
    pub database_timeout: Duration,
    pub keys_dir: PathBuf,
    #[serde(deserialize_with = "duration")]
    pub access_ttl: Duration,
    #[serde(deserialize_with = "duration")]
    pub refresh_ttl: Duration,
    #[serde(deserialize_with = "duration")]
    pub refresh_grace: Duration,
    /// Longest gap between two refreshes of a session.
    #[serde(deserialize_with = "duration")]
    pub session_idle: Duration,
    /// Which sessions a password change ends.
    pub password_change_revokes: PasswordChangeRevokes,
    pub audience: String,
    /// Scopes advertised in the metadata (`scopes_supported`), space-separated.
    pub scopes: String,
    pub signup: bool,
    pub signing_alg: SigningAlg,
    #[serde(deserialize_with = "optional_duration")]
    pub key_publish_delay: Option<Duration>,
    #[serde(deserialize_with = "optional_duration")]
    pub key_rotation: Option<Duration>,
    pub log: String,
    pub log_format: LogFormat,
    pub argon2: Argon2Config,
    /// Concurrent argon2 computations; 0 means one per core.
    pub hash_concurrency: usize,
    pub max_body_bytes: usize,
    #[serde(deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// How often expired sessions and revocation entries are deleted.
    #[serde(deserialize_with = "duration")]
    pub cleanup_interval: Duration,
    /// Long polls of the revocation feed allowed to wait at once.
    pub max_feed_waiters: usize,
    /// Rate limits and login back-off.
    pub throttle: ThrottleConfig,
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy only).
    pub trust_forwarded_for: bool,
    /// Appending proxies in front of Signet; the client address is the
    /// `X-Forwarded-For` entry this many from the right.
    pub trusted_proxies: usize,
    /// Longest time to receive a request head (and to keep an idle
    /// connection open between requests).
    #[serde(deserialize_with = "duration")]
    pub header_read_timeout: Duration,
    /// Open connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests.
    #[serde(deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
    /// How long revocation entries outlive their `exp`, covering the clock
    /// leeway of validators.
    #[serde(deserialize_with = "duration")]
    pub revocation_margin: Duration,
    /// Origins (besides the issuer's) that get credentialed CORS answers and
    /// may send browser-session requests; space-separated, exact.
    #[serde(deserialize_with = "space_separated")]
    pub cors_origins: Vec<String>,
    /// `Domain` of the browser-session cookies, to share them with APIs on
    /// sibling hosts; `None` keeps them host-only (`__Host-`).
    pub cookie_domain: Option<String>,
    /// Receiver of the webhook events; without one no events are written.
    pub webhook_url: Option<String>,
    /// Shared secret of the signatures (`whsec_<base64>` or raw).
    pub webhook_secret: Option<SecretString>,
    /// Per delivery attempt.
    #[serde(deserialize_with = "duration")]
    pub webhook_timeout: Duration,
    /// Longest wait between two delivery attempts of an event.
    #[serde(deserialize_with = "duration")]
    pub webhook_max_backoff: Duration,
    /// Lifetime of a password-reset token.
    #[serde(deserialize_with = "duration")]
    pub reset_ttl: Duration,
    /// Lifetime of an email-verification token.
    #[serde(deserialize_with = "duration")]
    pub verification_ttl: Duration,
    /// Unverified accounts cannot log in (answered like a wrong password).
    pub require_verified_email: bool,
    /// The claims hook (CONTRACT §11); off without a URL.
    pub claims_hook_url: Option<String>,
    /// Its signing secret, raw or `whsec_<base64>`.
    pub claims_hook_secret: Option<SecretString>,
    pub claims_hook_failure: FailureMode,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            issuer: None,
            database_url: "sqlite://data/signet.db".into(),
            database_pool_size: 10,
            database_timeout: Duration::from_secs(5),
            keys_dir: PathBuf::from("keys"),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 86_400),
            refresh_grace: Duration::from_secs(5),
            session_idle: Duration::from_secs(7 * 86_400),
            password_change_revokes: PasswordChangeRevokes::Others,
            audience: "signet".into(),
            scopes: String::new(),
            signup: true,
            signing_alg: SigningAlg::EdDSA,
            key_publish_delay: None,
            key_rotation: None,
            log: "info".into(),
            log_format: LogFormat::Text,
            argon2: Argon2Config::default(),
            hash_concurrency: 0,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            cleanup_interval: Duration::from_secs(60),
            max_feed_waiters: 10_000,
            revocation_margin: Duration::from_secs(60),
            throttle: ThrottleConfig::default(),
            trust_forwarded_for: false,
            trusted_proxies: 1,
            shutdown_timeout: Duration::from_secs(30),
            webhook_url: None,
            webhook_secret: None,
            webhook_timeout: Duration::from_secs(10),
            webhook_max_backoff: Duration::from_secs(3600),
            reset_ttl: Duration::from_secs(30 * 60),
            verification_ttl: Duration::from_secs(86_400),
            require_verified_email: false,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            cors_origins: Vec::new(),
            cookie_domain: None,
            claims_hook_url: None,
            claims_hook_secret: None,
            claims_hook_failure: FailureMode::Deny,
        }
    }
}

/// Why the configuration was refused; the message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration file {path}: cannot be read: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        let message = error.into_iter().map(|e| describe(&e)).collect::<Vec<_>>();
        Self::Invalid(message.join("; "))
    }
}

/// "SIGNET_ACCESS_TTL: …" for the environment, "access_ttl in FILE: …" for TOML.
fn describe(error: &figment::Error) -> String {
    let key = error.path.join(".");
    let from_env = error
        .metadata
        .as_ref()
        .is_some_and(|m| m.name.contains("environment"));
    let setting = match &error.metadata {
        _ if key.is_empty() => "configuration".to_owned(),
        _ if from_env => format!("SIGNET_{}", error.path.join("__").to_uppercase()),
        Some(meta) => match &meta.source {
            Some(source) => format!("{} in {source}", key.to_lowercase()),
            None => key.to_lowercase(),
        },
        None => key.to_lowercase(),
    };
    format!("{setting}: {}", error.kind)
}

impl Config {
    /// Reads `path` (or `signet.toml` when present) and the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let default = Path::new("signet.toml");
        let file = match path {
            Some(path) => {
                std::fs::metadata(path).map_err(|source| ConfigError::Unreadable {
                    path: path.to_owned(),
                    source,
                })?;
                Some(path)
            }
            None => default.exists().then_some(default),
        };
        let mut figment = Figment::new();
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        Self::from_figment(figment.merge(Env::prefixed("SIGNET_").split("__").ignore(&["config"])))
    }

    /// Extracts and validates; tests use this with their own providers.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract()?;
        config.validate()
    }

    fn validate(self) -> Result<Self, ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.to_owned()));
        if self.access_ttl.is_zero() {
            return invalid("SIGNET_ACCESS_TTL / access_ttl must be positive");
        }
        if self.refresh_ttl < self.access_ttl {
            return invalid("SIGNET_REFRESH_TTL / refresh_ttl must not be shorter than access_ttl");
        }
        if self.session_idle < self.access_ttl {
            return invalid(
                "SIGNET_SESSION_IDLE / session_idle must not be shorter than access_ttl",
            );
        }
        if self.audience.trim().is_empty() {
            return invalid("SIGNET_AUDIENCE / audience must not be empty");
        }
        if let Some(issuer) = &self.issuer
            && !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        {
            return invalid("SIGNET_ISSUER / issuer must be an http(s) URL");
        }
        if !self.database_url.starts_with("sqlite:")
            && !self.database_url.starts_with("postgres://")
            && !self.database_url.starts_with("postgresql://")
        {
            return invalid(
                "SIGNET_DATABASE_URL / database_url must start with sqlite:// or postgres://",
            );
        }
        if self.refresh_grace > Duration::from_secs(60) {
            return invalid("SIGNET_REFRESH_GRACE / refresh_grace must be at most 60s");
        }
        if self.cleanup_interval.is_zero() {
            return invalid("SIGNET_CLEANUP_INTERVAL / cleanup_interval must be positive");
        }
        if self.database_pool_size == 0 || self.database_timeout.is_zero() {
            return invalid(
                "SIGNET_DATABASE_POOL_SIZE and SIGNET_DATABASE_TIMEOUT must be positive",
            );
        }
        if self.header_read_timeout.is_zero() || self.max_connections == 0 {
            return invalid(
                "SIGNET_HEADER_READ_TIMEOUT and SIGNET_MAX_CONNECTIONS must be positive",
            );
        }
        if self.trusted_proxies == 0 {
            return invalid("SIGNET_TRUSTED_PROXIES / trusted_proxies must be at least 1");
        }
        if self.throttle.failure_window_secs == 0 {
            return invalid(
                "SIGNET_THROTTLE__FAILURE_WINDOW_SECS / [throttle] failure_window_secs must be positive",
            );
        }
        if !(1..=128).contains(&self.throttle.ipv6_prefix) {
            return invalid(
                "SIGNET_THROTTLE__IPV6_PREFIX / [throttle] ipv6_prefix must be between 1 and 128",
            );
        }
        if self.max_body_bytes == 0 {
            return invalid("SIGNET_MAX_BODY_BYTES / max_body_bytes must be positive");
        }
        crate::http::cors::check_origins(&self.cors_origins).map_err(|e| {
            ConfigError::Invalid(format!("SIGNET_CORS_ORIGINS / cors_origins: {e}"))
        })?;
        if let Some(domain) = &self.cookie_domain
            && !is_cookie_domain(domain)
        {
            return invalid(
                "SIGNET_COOKIE_DOMAIN / cookie_domain must be a host name like example.com (no scheme, port or path)",
            );
        }
        let webhooks = self.webhook_settings()?;
        if self.require_verified_email && webhooks.is_none() {
            return invalid(
                "SIGNET_REQUIRE_VERIFIED_EMAIL / require_verified_email needs SIGNET_WEBHOOK_URL \
                 (verification tokens reach users through the webhook)",
            );
        }
        if self.reset_ttl.is_zero() || self.verification_ttl.is_zero() {
            return invalid("SIGNET_RESET_TTL and SIGNET_VERIFICATION_TTL must be positive");
        }
        if self.revocation_margin < revocations::MIN_MARGIN {
            return Err(ConfigError::Invalid(format!(
                "SIGNET_REVOCATION_MARGIN / revocation_margin must be at least {}s, the \
                 guard's default clock leeway: a shorter margin lets revoked tokens back in",
                revocations::MIN_MARGIN.as_secs()
            )));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| ConfigError::Invalid(format!("SIGNET_LOG / log: {e}")))?;
        argon2::Params::new(
            self.argon2.memory_kib,
            self.argon2.iterations,
            self.argon2.parallelism,
            None,
        )
        .map_err(|e| ConfigError::Invalid(format!("argon2 parameters: {e}")))?;
        self.claims_hook().map_err(ConfigError::Invalid)?;
        Ok(self)
    }

    /// Settings of the claims hook; `None` when there is none.
    pub fn claims_hook(&self) -> Result<Option<HookSettings>, String> {
        HookSettings::parse(
            self.claims_hook_url.as_deref(),
            self.claims_hook_secret.as_ref().map(|s| s.expose_secret()),
            self.claims_hook_failure,
        )
    }

    /// The `iss` claim and base of every published URL, without a trailing slash.
    pub fn issuer(&self) -> String {
        match &self.issuer {
            Some(issuer) => issuer.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Serving needs an issuer clients can reach: with a wildcard listen
    /// address the default (`http://0.0.0.0:8080`) is nobody's address, and
    /// every token and discovery URL would carry it.
    pub fn check_issuer(&self) -> Result<(), ConfigError> {
        if self.issuer.is_none() && self.listen.ip().is_unspecified() {
            return Err(ConfigError::Invalid(format!(
                "SIGNET_ISSUER / issuer is required when listen ({}) is a wildcard address: \
                 set it to the URL clients use, e.g. https://auth.example.com",
                self.listen
            )));
        }
        Ok(())
    }

    /// Whether the issuer is plain http on a host other than loopback, where
    /// tokens and passwords would cross the network unencrypted.
    pub fn issuer_is_insecure(&self) -> bool {
        let issuer = self.issuer();
        let Some(rest) = issuer.strip_prefix("http://") else {
            return false;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority
                .rsplit_once(':')
                .map_or(authority, |(host, _)| host),
        };
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        !loopback
    }

    /// Sets the issuer explicitly (tests bind port 0 and learn the address late).
    pub fn set_issuer(&mut self, issuer: impl Into<String>) {
        self.issuer = Some(issuer.into());
    }

    /// Where request handlers find the client address.
    pub fn client_address(&self) -> ClientAddressSettings {
        ClientAddressSettings {
            trust_forwarded_for: self.trust_forwarded_for,
            trusted_proxies: self.trusted_proxies,
        }
    }

    /// Connection limits of the HTTP server.
    pub fn server_settings(&self) -> ServerSettings {
        ServerSettings {
            header_read_timeout: self.header_read_timeout,
            max_connections: self.max_connections,
            shutdown_timeout: self.shutdown_timeout,
        }
    }

    /// Connection pool limits of the store.
    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.database_pool_size,
            timeout: self.database_timeout,
        }
    }

    /// How keys are generated, published and retired.
    pub fn key_settings(&self) -> KeySettings {
        let default_delay = Duration::from_secs(JWKS_MAX_AGE_SECS + 60);
        KeySettings {
            alg: self.signing_alg,
            publish_delay: self.key_publish_delay.unwrap_or(default_delay),
            retention: self.access_ttl + self.revocation_margin,
            rotation: self.key_rotation,
        }
    }

    /// Settings of the revocation list.
    pub fn revocation_settings(&self) -> RevocationSettings {
        RevocationSettings {
            margin: self.revocation_margin,
            max_waiters: self.max_feed_waiters,
            key_event_retention: self.access_ttl,
            webhooks: self.recovery_settings().webhooks,
        }
    }

    /// The webhook receiver, when one is configured.
    pub fn webhook_settings(&self) -> Result<Option<WebhookSettings>, ConfigError> {
        let Some(url) = self.webhook_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let Some(secret) = &self.webhook_secret else {
            return Err(ConfigError::Invalid(
                "SIGNET_WEBHOOK_SECRET / webhook_secret is required with webhook_url".into(),
            ));
        };
        WebhookSettings::new(
            url.trim(),
            secret.expose_secret(),
            self.webhook_timeout,
            self.webhook_max_backoff,
        )
        .map(Some)
        .map_err(|e| ConfigError::Invalid(format!("SIGNET_WEBHOOK_URL / webhook_*: {e}")))
    }

    /// Password reset and email verification.
    pub fn recovery_settings(&self) -> RecoverySettings {
        RecoverySettings {
            webhooks: self
                .webhook_url
                .as_deref()
                .is_some_and(|u| !u.trim().is_empty()),
            reset_ttl: self.reset_ttl,
            verification_ttl: self.verification_ttl,
            require_verified_email: self.require_verified_email,
        }
    }

    /// Number of argon2 computations allowed at once.
    pub fn hash_permits(&self) -> usize {
        match self.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }
}

/// Parses `30s`, `15m`, `12h`, `30d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit (use s, m, h or d, e.g. 15m)"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s, 15m, 12h or 30d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("`{text}` has an unknown unit (use s, m, h or d)")),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too large"))
}

fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(de)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// A host name for a cookie's `Domain` attribute.
fn is_cookie_domain(domain: &str) -> bool {
    let domain = domain.strip_prefix('.').unwrap_or(domain);
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn space_separated<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    let text = String::deserialize(de)?;
    Ok(text.split_whitespace().map(str::to_owned).collect())
}

fn optional_duration<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(de)?;
    match text.trim() {
        "" | "off" => Ok(None),
        other => parse_duration(other)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn a_claims_hook_needs_https_and_a_secret() {
        let hook = |url: &str, secret: Option<&str>| {
            let mut figment = Figment::new().merge(("claims_hook_url", url));
            if let Some(secret) = secret {
                figment = figment.merge(("claims_hook_secret", secret));
            }
            Config::from_figment(figment.merge(("claims_hook_failure", "omit")))
        };
        let secret = Some("0123456789abcdef");
        let error = hook("http://hooks.example/", secret)
            .unwrap_err()
            .to_string();
        assert!(error.contains("SIGNET_CLAIMS_HOOK_URL"), "{error}");
        let error = hook("https://hooks.example/", None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("SIGNET_CLAIMS_HOOK_SECRET"), "{error}");
        let config = hook("https://hooks.example/", secret).unwrap();
        assert_eq!(config.claims_hook_failure, FailureMode::Omit);
        assert!(config.claims_hook().unwrap().is_some());
        assert!(
            !format!("{config:?}").contains("0123456789abcdef"),
            "secret redacted"
        );
        let bad_mode = Figment::new().merge(("claims_hook_failure", "ignore"));
        assert!(Config::from_figment(bad_mode).is_err());
    }

    #[test]
    fn bad_value_names_the_setting() {
        let figment = Figment::new().merge(("access_ttl", "fifteen"));
        let error = Config::from_figment(figment).unwrap_err().to_string();
        assert!(error.contains("access_ttl: `fifteen`"), "{error}");
    }

    #[test]
    fn session_lifecycle_settings() {
        let config = Config::from_figment(Figment::new()).unwrap();
        assert_eq!(config.session_idle, Duration::from_secs(7 * 86_400));
        assert_eq!(
            config.password_change_revokes,
            PasswordChangeRevokes::Others
        );
        let figment = Figment::new().merge(("password_change_revokes", "all"));
        let config = Config::from_figment(figment).unwrap();
        assert_eq!(config.password_change_revokes, PasswordChangeRevokes::All);
        let figment = Figment::new().merge(("password_change_revokes", "some"));
        let error = Config::from_figment(figment).unwrap_err().to_string();
        assert!(error.contains("password_change_revokes"), "{error}");
        let figment = Figment::new().merge(("session_idle", "1m"));
        let error = Config::from_figment(figment).unwrap_err().to_string();
        assert!(error.contains("SIGNET_SESSION_IDLE"), "{error}");
    }

    #[test]
    fn a_margin_below_the_guard_leeway_is_refused() {
        let figment = Figment::new().merge(("revocation_margin", "29s"));
        let error = Config::from_figment(figment).unwrap_err().to_string();
        assert!(
            error.contains("SIGNET_REVOCATION_MARGIN / revocation_margin"),
            "{error}"
        );
        let figment = Figment::new().merge(("revocation_margin", "30s"));
        assert!(Config::from_figment(figment).is_ok());
    }

    #[test]
    fn a_wildcard_listen_needs_an_issuer() {
        for listen in ["0.0.0.0:8080", "[::]:8080"] {
            let config = Config::from_figment(Figment::new().merge(("listen", listen))).unwrap();
            let error = config.check_issuer().unwrap_err().to_string();
            assert!(error.contains("SIGNET_ISSUER / issuer"), "{error}");
            let config = Config::from_figment(
                Figment::new()
                    .merge(("listen", listen))
                    .merge(("issuer", "https://auth.example.com")),
            )
            .unwrap();
            assert!(config.check_issuer().is_ok());
        }
        assert!(Config::default().check_issuer().is_ok(), "loopback default");
    }

    #[test]
    fn plain_http_issuers_are_insecure_outside_loopback() {
        let with = |issuer: &str| {
            let mut config = Config::default();
            config.set_issuer(issuer);
            config.issuer_is_insecure()
        };
        assert!(!Config::default().issuer_is_insecure());
        for fine in [
            "https://auth.example.com",
            "http://localhost:8080",
            "http://127.0.0.1:8080/",
            "http://[::1]:8080",
        ] {
            assert!(!with(fine), "{fine}");
        }
        for insecure in [
            "http://auth.example.com",
            "http://10.0.0.5:8080",
            "http://[2001:db8::1]",
        ] {
            assert!(with(insecure), "{insecure}");
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = Config::from_figment(Figment::new()).unwrap();
        assert_eq!(config.issuer(), "http://127.0.0.1:8080");
        assert_eq!(config.access_ttl, Duration::from_secs(900));
        assert_eq!(config.audience, "signet");
        assert!(config.signup);
        assert!(config.cors_origins.is_empty() && config.cookie_domain.is_none());
    }

    #[test]
    fn browser_settings_are_checked() {
        let config =
            |key: &str, value: &str| Config::from_figment(Figment::new().merge((key, value)));
        let origins = config("cors_origins", " https://a.example  http://127.0.0.1:3000 ").unwrap();
        assert_eq!(
            origins.cors_origins,
            ["https://a.example", "http://127.0.0.1:3000"]
        );
        let wildcard = config("cors_origins", "https://a.example *")
            .unwrap_err()
            .to_string();
        assert!(
            wildcard.contains("cors_origins") && wildcard.contains('*'),
            "{wildcard}"
        );
        for bad in ["https://a.example/", "a.example", "https://a.example/app"] {
            assert!(config("cors_origins", bad).is_err(), "{bad}");
        }
        assert!(config("cookie_domain", "example.com").is_ok());
        for bad in [
            "https://example.com",
            "example.com:443",
            "example.com/x",
            "",
        ] {
            let error = config("cookie_domain", bad).unwrap_err().to_string();
            assert!(error.contains("cookie_domain"), "{error}");
        }
    }
}
