//! Wires configuration, store, keys and domain services into one state, and
//! serves it.

use std::sync::Arc;

use axum::Router;
use signet_guard::verify::Validator;
use tokio::net::TcpListener;

use crate::auth::accounts::Accounts;
use crate::auth::passwords::{HashError, Hasher};
use crate::config::Config;
use crate::keys::{KeyError, KeyRing};
use crate::store::{self, Store, StoreError};
use crate::tokens::access::AccessTokens;
use crate::tokens::refresh::RefreshTokens;
use crate::tokens::sessions::Sessions;

/// Everything a request handler may need, shared by all requests.
pub struct Services {
    pub config: Config,
    pub issuer: String,
    pub store: Arc<dyn Store>,
    pub accounts: Accounts,
    /// Shared with `accounts`; kept here for its load figures.
    pub hasher: Arc<Hasher>,
    pub sessions: Sessions,
    pub keys: Arc<KeyRing>,
    pub validator: Validator,
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
    #[error("password hasher: {0}")]
    Hasher(#[from] HashError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

impl Services {
    /// Opens the store and keys named by `config`, creating them on first start.
    pub async fn start(config: Config) -> Result<AppState, StartError> {
        signet_guard::crypto::install();
        let store = store::open(&config.database_url).await?;
        let keys = Arc::new(KeyRing::load_or_init(&config.keys_dir, config.signing_alg)?);
        let refresh = RefreshTokens::load_or_init(&config.keys_dir)?;
        let hasher = Arc::new(Hasher::new(config.argon2, config.hash_permits())?);
        let issuer = config.issuer();
        let sessions = Sessions::new(
            store.clone(),
            AccessTokens::new(issuer.clone(), config.access_ttl),
            refresh,
            config.audience.clone(),
            config.refresh_ttl,
        );
        Ok(Arc::new(Services {
            accounts: Accounts::new(store.clone(), hasher.clone()),
            hasher,
            validator: Validator::new(issuer.clone(), config.audience.clone()),
            issuer,
            store,
            sessions,
            keys,
            config,
        }))
    }
}

/// The full HTTP application for `state`.
pub fn app(state: AppState) -> Router {
    crate::http::router(state)
}

/// Serves until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
