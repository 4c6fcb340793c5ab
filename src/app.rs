//! Wires configuration, store, keys and domain services into one state, and
//! serves it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use signet_guard::verify::Validator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::accounts::Accounts;
use crate::auth::clients::Clients;
use crate::auth::login::Logins;
use crate::auth::passwords::{HashError, Hasher};
use crate::auth::recovery::Recovery;
use crate::auth::throttle::Throttle;
use crate::config::Config;
use crate::keys::{KeyError, Keys};
use crate::store::{self, Store, StoreError};
use crate::tokens::access::AccessTokens;
use crate::tokens::claims::CustomClaims;
use crate::tokens::claims_hook::ClaimsHook;
use crate::tokens::csrf::CsrfTokens;
use crate::tokens::introspection::Introspector;
use crate::tokens::refresh::RefreshTokens;
use crate::tokens::revocations::Revocations;
use crate::tokens::sessions::{SessionSettings, Sessions};

/// Everything a request handler may need, shared by all requests.
pub struct Services {
    pub config: Config,
    pub issuer: String,
    pub store: Arc<dyn Store>,
    pub accounts: Accounts,
    pub recovery: Recovery,
    pub clients: Clients,
    pub throttle: Throttle,
    pub access_tokens: Arc<AccessTokens>,
    /// Custom claims of every token (stored and from the hook).
    pub claims: Arc<CustomClaims>,
    /// Shared with `accounts`; kept here for its load figures.
    pub hasher: Arc<Hasher>,
    pub sessions: Sessions,
    /// CSRF tokens of browser sessions.
    pub csrf: Arc<CsrfTokens>,
    pub revocations: Arc<Revocations>,
    pub keys: Arc<Keys>,
    pub validator: Validator,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
}

/// Cheap-to-clone handle given to axum.
pub type AppState = Arc<Services>;

/// Start-up failed; the message says which part.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("password hasher: {0}")]
    Hasher(#[from] HashError),
    #[error("webhook client: {0}")]
    Webhooks(#[from] reqwest::Error),
    #[error("claims hook: {0}")]
    ClaimsHook(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

impl Services {
    /// Opens the store and keys named by `config`, creating them on first start.
    pub async fn start(config: Config) -> Result<AppState, StartError> {
        config.check_issuer()?;
        if config.issuer_is_insecure() {
            tracing::warn!(
                issuer = %config.issuer(),
                "the issuer is plain http outside loopback: serve Signet behind https and set SIGNET_ISSUER to that URL"
            );
        }
        signet_guard::crypto::install();
        crate::telemetry::install();
        let shutdown = CancellationToken::new();
        let store = store::open(&config.database_url, config.pool_settings()).await?;
        let keys = Arc::new(Keys::open(&config.keys_dir, config.key_settings())?);
        let refresh = RefreshTokens::load_or_init(&config.keys_dir)?;
        let hasher = Arc::new(Hasher::new(config.argon2, config.hash_permits())?);
        let issuer = config.issuer();
        let revocations = Arc::new(
            Revocations::new(
                store.clone(),
                config.revocation_settings(),
                shutdown.clone(),
            )
            .await?,
        );
        let clock = crate::clock::system();
        let csrf = Arc::new(CsrfTokens::new(&refresh));
        let access_tokens = Arc::new(
            AccessTokens::new(issuer.clone(), config.access_ttl, clock.clone())
                .with_csrf(csrf.clone()),
        );
        let hook = config
            .claims_hook()
            .map_err(StartError::ClaimsHook)?
            .map(ClaimsHook::new)
            .transpose()
            .map_err(|e| StartError::ClaimsHook(e.to_string()))?;
        let claims = Arc::new(CustomClaims::new(store.clone(), hook));
        let sessions = Sessions::new(
            store.clone(),
            revocations.clone(),
            access_tokens.clone(),
            refresh,
            clock,
            SessionSettings {
                audience: config.audience.clone(),
                refresh_ttl: config.refresh_ttl,
                idle: config.session_idle,
                grace: config.refresh_grace,
            },
            claims.clone(),
        );
        let recovery = config.recovery_settings();
        if let Some(webhooks) = config.webhook_settings()? {
            crate::webhooks::Deliverer::new(store.clone(), webhooks)?.spawn(shutdown.clone());
        }
        let services = Arc::new(Services {
            accounts: Accounts::new(store.clone(), hasher.clone(), revocations.clone())
                .with_recovery(recovery),
            recovery: Recovery::new(store.clone(), hasher.clone(), recovery),
            clients: Clients::new(store.clone(), revocations.clone()),
            throttle: Throttle::new(config.throttle, store.clone()),
            access_tokens,
            claims,
            hasher,
            validator: Validator::new(issuer.clone(), config.audience.clone()),
            issuer,
            store,
            sessions,
            csrf,
            revocations,
            keys,
            config,
            shutdown,
        });
        spawn_upkeep(&services);
        Ok(services)
    }
}

impl Services {
    /// Password logins over this process's accounts, sessions and keys.
    pub fn logins(&self) -> Logins<'_> {
        Logins {
            accounts: &self.accounts,
            throttle: &self.throttle,
            sessions: &self.sessions,
            keys: &self.keys,
        }
    }

    /// RFC 7662 introspection over this process's keys, list and sessions.
    pub fn introspector(&self) -> Introspector<'_> {
        Introspector {
            issuer: &self.issuer,
            audience: &self.config.audience,
            keys: &self.keys,
            revocations: &self.revocations,
            sessions: &self.sessions,
        }
    }
}

/// How often `keys_dir` is checked for changed key files and due transitions.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// How often the store is asked for revocations made by other processes
/// (the CLI, other instances), so long polls here wake for them too.
const FEED_FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// Background upkeep, which stops once the services are dropped: deleting
/// ended sessions and expired revocations, reloading keys (and telling the
/// feed when the published set changed), and following the store's feed.
fn spawn_upkeep(services: &AppState) {
    every(services, services.config.cleanup_interval, |s| async move {
        if let Err(error) = s.throttle.prune().await {
            tracing::warn!(%error, "login budget clean-up failed; will retry");
        }
        match s.revocations.prune().await {
            Ok(pruned) if pruned != Default::default() => {
                tracing::debug!(?pruned, "cleaned up expired sessions and revocations");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "clean-up failed; will retry"),
        }
    });
    every(services, KEY_RELOAD_INTERVAL, |s| async move {
        let keys = s.keys.clone();
        let reloaded = tokio::task::spawn_blocking(move || {
            keys.rotate_if_due();
            keys.reload();
        });
        if reloaded.await.is_err() {
            tracing::error!("key reload panicked; keeping the current keys");
        }
        let ring = s.keys.current();
        let kids = ring.keys().iter().map(|k| k.kid.as_str());
        if let Err(error) = s.revocations.keys_published(kids).await {
            tracing::debug!(%error, "could not put the key change into the feed; will retry");
        }
    });
    every(services, FEED_FOLLOW_INTERVAL, |s| async move {
        if let Err(error) = s.revocations.publish().await {
            tracing::debug!(%error, "could not read the latest revocation");
        }
    });
}

fn every<F, Fut>(services: &AppState, period: Duration, task: F)
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let weak = Arc::downgrade(services);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(services) = weak.upgrade() else {
                return;
            };
            task(services).await;
        }
    });
}

/// The full HTTP application for `state`.
pub fn app(state: AppState) -> Router {
    crate::http::router(state)
}

/// Serves until `shutdown` completes; then stops accepting, ends long polls,
/// and lets in-flight requests finish for up to `shutdown_timeout`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = state.shutdown.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    let settings = state.config.server_settings();
    let stop = state.shutdown.clone();
    crate::http::server::serve(listener, app(state), settings, stop).await
}
