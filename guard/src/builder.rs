//! [`GuardBuilder`]: configuration, discovery and the first load.

use std::sync::Arc;
use std::time::Duration;

use crate::fetch::{self, Endpoints, FetchError};
use crate::guard::{Guard, Inner};
use crate::jwks::{JwksCache, RefreshPolicy};
use crate::revocations::{self, FailMode, FeedCredentials, FeedSettings, Revocations};
use crate::token_cache::TokenCache;
use crate::verify::{KeySet, Validator};

/// Defaults, documented on the setters.
const LEEWAY: Duration = Duration::from_secs(30);
const REFRESH_FLOOR: Duration = Duration::from_secs(60);
const REFRESH_CEILING: Duration = Duration::from_secs(3600);
const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const FEED_WAIT: Duration = Duration::from_secs(25);
const MAX_FEED_WAIT: Duration = Duration::from_secs(30);
const TOKEN_CACHE_CAPACITY: usize = 10_000;
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(6 * 3600);
/// A revoked session is one entry of about 100 bytes: 100 MB at most.
const REVOCATION_CAPACITY: usize = 1_000_000;

/// Why [`GuardBuilder::build`] failed.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The metadata or the JWKS could not be loaded.
    #[error("loading the issuer's keys failed: {0}")]
    Fetch(#[from] FetchError),
    #[error("building the HTTP client failed: {0}")]
    Client(#[source] reqwest::Error),
    #[error("a guard that fetches must be built inside a Tokio runtime")]
    NoRuntime,
}

/// Configures a [`Guard`]; from [`Guard::builder`].
#[derive(Debug)]
#[must_use]
pub struct GuardBuilder {
    issuer: String,
    audience: String,
    leeway: Duration,
    max_token_len: Option<usize>,
    required_scopes: Vec<String>,
    realm: Option<String>,
    jwks_url: Option<String>,
    feed_url: Option<String>,
    feed: bool,
    refresh_floor: Duration,
    refresh_ceiling: Duration,
    cooldown: Duration,
    fetch_timeout: Duration,
    feed_wait: Duration,
    fail_mode: FailMode,
    client: Option<reqwest::Client>,
    token_cache_capacity: usize,
    max_token_lifetime: Duration,
    revocation_capacity: usize,
    feed_credentials: Option<FeedCredentials>,
    allow_insecure_http: bool,
}

impl GuardBuilder {
    pub(crate) fn new(issuer: String, audience: String) -> Self {
        GuardBuilder {
            issuer,
            audience,
            leeway: LEEWAY,
            max_token_len: None,
            required_scopes: Vec::new(),
            realm: None,
            jwks_url: None,
            feed_url: None,
            feed: true,
            refresh_floor: REFRESH_FLOOR,
            refresh_ceiling: REFRESH_CEILING,
            cooldown: UNKNOWN_KID_COOLDOWN,
            fetch_timeout: FETCH_TIMEOUT,
            feed_wait: FEED_WAIT,
            fail_mode: FailMode::default(),
            client: None,
            token_cache_capacity: TOKEN_CACHE_CAPACITY,
            max_token_lifetime: MAX_TOKEN_LIFETIME,
            revocation_capacity: REVOCATION_CAPACITY,
            feed_credentials: None,
            allow_insecure_http: false,
        }
    }

    /// Clock skew tolerated on `exp`, `nbf`, `iat` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Tokens longer than this are refused before any decoding (default 8 KiB).
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = Some(max);
        self
    }

    /// A scope every token must carry (403 `insufficient_scope` otherwise).
    /// Call again for several. For per-route scopes use
    /// [`RequireScope`](crate::RequireScope).
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.required_scopes.push(scope.into());
        self
    }

    /// `realm` of the `WWW-Authenticate` challenges (default: the audience).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The JWKS URL, instead of the metadata's `jwks_uri`.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// The revocation feed URL, instead of the metadata's
    /// `revocation_feed_endpoint` (or `{issuer}/v1/revocations` when the
    /// metadata has none).
    pub fn revocation_feed_url(mut self, url: impl Into<String>) -> Self {
        self.feed_url = Some(url.into());
        self
    }

    /// Do not follow the revocation feed: revoked tokens stay valid until
    /// they expire. Only for issuers without a feed.
    pub fn without_revocation_feed(mut self) -> Self {
        self.feed = false;
        self
    }

    /// Bounds for the JWKS refresh interval, which otherwise follows the
    /// response's `Cache-Control: max-age` (defaults 60 s and 1 h; 5 min
    /// when the response has no `max-age`).
    pub fn jwks_refresh(mut self, floor: Duration, ceiling: Duration) -> Self {
        self.refresh_floor = floor;
        self.refresh_ceiling = ceiling.max(floor);
        self
    }

    /// Minimum interval between JWKS fetches caused by requests, i.e. by a
    /// token with an unknown `kid` (default 30 s).
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Bound on each metadata or JWKS fetch, and on each feed request beyond
    /// its long-poll wait (default 5 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// How long each feed request may be held by the server (`wait`, default
    /// 25 s; capped at Signet's maximum of 30 s).
    pub fn feed_wait(mut self, wait: Duration) -> Self {
        self.feed_wait = wait.min(MAX_FEED_WAIT);
        self
    }

    /// What to do while the revocation feed is unreachable (default
    /// [`FailMode::FailOpen`], with a logged warning). A fail-closed `after`
    /// below `feed_wait + fetch_timeout` (30 s by default) is raised to it.
    pub fn revocation_fail_mode(mut self, mode: FailMode) -> Self {
        self.fail_mode = mode;
        self
    }

    /// The HTTP client for the issuer (default: rustls with ring, connect
    /// timeout = fetch timeout). Whole-exchange timeouts are applied by the
    /// guard, so a shared client with none of its own works.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Verified tokens kept to skip signature checks on reuse (default
    /// 10 000; 0 disables the cache).
    pub fn token_cache_capacity(mut self, capacity: usize) -> Self {
        self.token_cache_capacity = capacity;
        self
    }

    /// Longest accepted token lifetime, `exp - iat` (default 6 h): a token
    /// forged with a stolen key cannot outlive the key's withdrawal by more.
    /// Raise it if Signet's `access_ttl` is longer.
    pub fn max_token_lifetime(mut self, max: Duration) -> Self {
        self.max_token_lifetime = max;
        self
    }

    /// Most revoked ids held (default 1 000 000, about 100 MB). Beyond it the
    /// list fails closed for what it cannot hold: every token issued before
    /// the dropped entry arrived is refused until that entry's `exp`.
    pub fn max_revocations(mut self, max: usize) -> Self {
        self.revocation_capacity = max;
        self
    }

    /// Credentials of a confidential client with scope `signet:feed`, sent
    /// as HTTP Basic on feed requests: Signet then exempts this guard from
    /// its per-address feed budget (guards behind one egress address).
    pub fn feed_credentials(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.feed_credentials = Some(FeedCredentials {
            client_id: client_id.into(),
            secret: secret.into(),
        });
        self
    }

    /// Accepts `http://` issuer, JWKS and feed URLs for any host. Without
    /// it plain http is accepted only for loopback (a Signet beside the
    /// service); anything else must be https.
    pub fn allow_insecure_http(mut self) -> Self {
        self.allow_insecure_http = true;
        self
    }

    /// Discovers the endpoints, loads the JWKS and starts the background
    /// tasks; fails if the keys cannot be loaded. The revocation list is
    /// requested too and awaited up to the fetch timeout (an unreachable feed
    /// is logged and retried in the background, per the fail mode).
    pub async fn build(self) -> Result<Guard, BuildError> {
        let parts = self.remote_parts()?;
        let interval = parts.jwks.refresh().await?;
        let mut attempts = parts.attempts.subscribe();
        let fetch_timeout = parts.endpoints.timeout;
        let guard = parts.start(interval);
        if *attempts.borrow_and_update() == 0 {
            let _ = tokio::time::timeout(fetch_timeout, attempts.changed()).await;
        }
        Ok(guard)
    }

    /// Like [`build`](Self::build) but returns at once: keys are loaded in
    /// the background (retried with backoff), and until they are,
    /// [`Guard::is_ready`] is false and validation answers 503. Must be
    /// called inside a Tokio runtime.
    pub fn build_lazy(self) -> Result<Guard, BuildError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::NoRuntime);
        }
        Ok(self.remote_parts()?.start(Duration::ZERO))
    }

    /// A guard that never fetches: `keys` are trusted as given, and the
    /// revocation list holds what [`Guard::revoke_jti`] /
    /// [`Guard::revoke_sid`] put there. For an issuer that embeds the guard,
    /// and for tests (no network, no runtime needed).
    pub fn build_with_keys(self, keys: KeySet) -> Guard {
        let jwks = Arc::new(JwksCache::fixed(keys));
        let revocations = Arc::new(self.revocations(self.fail_mode, false));
        let cache = TokenCache::new(self.token_cache_capacity).map(Arc::new);
        Guard::from_inner(self.inner(jwks, revocations, cache, Vec::new()))
    }

    /// A healthy feed answers at least every `wait` (+ transfer time), so a
    /// fail-closed staleness below that would refuse tokens with the feed
    /// up: it is raised to `wait + fetch timeout`.
    fn effective_fail_mode(&self) -> FailMode {
        match self.fail_mode {
            FailMode::FailClosed { after } if self.feed => {
                let minimum = self.feed_wait + self.fetch_timeout;
                if after < minimum {
                    tracing::warn!(
                        ?after,
                        ?minimum,
                        "fail-closed staleness below the feed's long-poll wait; raised"
                    );
                }
                FailMode::FailClosed {
                    after: after.max(minimum),
                }
            }
            mode => mode,
        }
    }

    fn revocations(&self, fail_mode: FailMode, follows_feed: bool) -> Revocations {
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        Revocations::new(fail_mode, follows_feed, self.revocation_capacity, leeway)
    }

    fn validator(&self) -> Validator {
        let validator = Validator::new(self.issuer.clone(), self.audience.clone())
            .leeway(self.leeway)
            .max_lifetime(self.max_token_lifetime);
        match self.max_token_len {
            Some(max) => validator.max_token_len(max),
            None => validator,
        }
    }

    fn inner(
        self,
        jwks: Arc<JwksCache>,
        revocations: Arc<Revocations>,
        cache: Option<Arc<TokenCache>>,
        tasks: Vec<tokio::task::AbortHandle>,
    ) -> Inner {
        Inner {
            validator: self.validator(),
            realm: self.realm.clone().unwrap_or_else(|| self.audience.clone()),
            required_scopes: self.required_scopes.into_boxed_slice(),
            jwks,
            revocations,
            cache,
            tasks,
        }
    }

    fn remote_parts(self) -> Result<RemoteParts, BuildError> {
        let client = match &self.client {
            Some(client) => client.clone(),
            None => fetch::default_client(self.fetch_timeout).map_err(BuildError::Client)?,
        };
        let endpoints = Arc::new(Endpoints::new(
            client,
            self.issuer.clone(),
            self.fetch_timeout,
            self.allow_insecure_http,
            self.jwks_url.clone(),
            self.feed_url.clone(),
        ));
        let policy = RefreshPolicy {
            floor: self.refresh_floor,
            ceiling: self.refresh_ceiling,
            cooldown: self.cooldown,
        };
        let jwks = Arc::new(JwksCache::remote(Arc::clone(&endpoints), policy));
        let revocations = Arc::new(self.revocations(self.effective_fail_mode(), self.feed));
        let (attempts, _) = tokio::sync::watch::channel(0u64);
        Ok(RemoteParts {
            endpoints,
            jwks,
            revocations,
            attempts,
            builder: self,
        })
    }
}

/// A fetching guard's parts before its tasks start.
struct RemoteParts {
    endpoints: Arc<Endpoints>,
    jwks: Arc<JwksCache>,
    revocations: Arc<Revocations>,
    /// Counts the feed follower's completed requests (for `build`).
    attempts: tokio::sync::watch::Sender<u64>,
    builder: GuardBuilder,
}

impl RemoteParts {
    /// Spawns the JWKS refresher (first fetch after `first_refresh`), the
    /// feed follower and the key-event refetcher it wakes.
    fn start(self, first_refresh: Duration) -> Guard {
        let cache = TokenCache::new(self.builder.token_cache_capacity).map(Arc::new);
        let mut tasks =
            vec![tokio::spawn(Arc::clone(&self.jwks).run(first_refresh)).abort_handle()];
        if self.builder.feed {
            let key_events = Arc::new(tokio::sync::Notify::new());
            let refetcher =
                Arc::clone(&self.jwks).follow_key_events(Arc::clone(&key_events), cache.clone());
            tasks.push(tokio::spawn(refetcher).abort_handle());
            let settings = FeedSettings {
                wait: self.builder.feed_wait,
                credentials: self.builder.feed_credentials.clone(),
            };
            let follower = revocations::follow(
                Arc::clone(&self.revocations),
                Arc::clone(&self.endpoints),
                settings,
                key_events,
                self.attempts,
            );
            tasks.push(tokio::spawn(follower).abort_handle());
        }
        Guard::from_inner(
            self.builder
                .inner(self.jwks, self.revocations, cache, tasks),
        )
    }
}
