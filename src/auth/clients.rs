//! Confidential clients for service-to-service tokens. A client secret is
//! 256 bits from the CSPRNG: nobody can guess it, so a slow hash (argon2)
//! would add cost without adding safety. It is stored as SHA-256 and
//! compared in constant time; an unknown client id costs the same hash and
//! comparison as a wrong secret.
//!
//! Every access token a client is issued is recorded (`jti`, `exp`) until
//! it expires, so removing the client revokes them by `jti`: the feed keeps
//! its `jti`/`sid` entries, and guards need nothing new to refuse them.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use crate::secrets;
use crate::store::{Client, Store, StoreError};
use crate::tokens::access::AccessToken;
use crate::tokens::revocations::Revocations;

/// Why a client could not be authenticated or created.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Unknown client or wrong secret; deliberately not told apart.
    #[error("client authentication failed")]
    InvalidClient,
    #[error("no randomness available")]
    Random,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A client as just created: the only time its secret exists in clear.
pub struct CreatedClient {
    pub client: Client,
    pub secret: String,
}

/// Registry of confidential clients.
pub struct Clients {
    store: Arc<dyn Store>,
    revocations: Arc<Revocations>,
}

impl Clients {
    pub fn new(store: Arc<dyn Store>, revocations: Arc<Revocations>) -> Self {
        Self { store, revocations }
    }

    /// Registers a client; `audience` is the `aud` of its tokens.
    pub async fn add(
        &self,
        name: &str,
        scope: &str,
        audience: &str,
    ) -> Result<CreatedClient, ClientError> {
        let secret =
            URL_SAFE_NO_PAD.encode(secrets::random::<32>().map_err(|_| ClientError::Random)?);
        let client = Client {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            secret_hash: digest(&secret),
            scope: scope.split_whitespace().collect::<Vec<_>>().join(" "),
            audience: audience.to_owned(),
            created_at: chrono::Utc::now().timestamp(),
        };
        self.store.create_client(client.clone()).await?;
        tracing::info!(target: "signet::audit", event = "client_added", client_id = %client.id, name);
        Ok(CreatedClient { client, secret })
    }

    /// The client whose id and secret match.
    pub async fn authenticate(&self, id: &str, secret: &str) -> Result<Client, ClientError> {
        let client = self.store.client(id).await?;
        let presented = digest(secret);
        let expected = client
            .as_ref()
            .map_or(&[0u8; 32][..], |c| c.secret_hash.as_slice());
        let matches: bool = presented.ct_eq(expected).into();
        match client {
            Some(client) if matches => Ok(client),
            _ => Err(ClientError::InvalidClient),
        }
    }

    pub async fn list(&self) -> Result<Vec<Client>, ClientError> {
        Ok(self.store.clients().await?)
    }

    /// Records a token minted for `client_id`, before it is handed out;
    /// `InvalidClient` when the client was removed meanwhile.
    pub async fn record_issued(
        &self,
        client_id: &str,
        token: &AccessToken,
    ) -> Result<(), ClientError> {
        if self
            .store
            .record_client_token(client_id, &token.jti, token.exp)
            .await?
        {
            Ok(())
        } else {
            Err(ClientError::InvalidClient)
        }
    }

    /// Removes the client and revokes the tokens it was issued; `false`
    /// when there was no such client.
    pub async fn remove(&self, id: &str) -> Result<bool, ClientError> {
        let Some(revoked) = self.store.remove_client(id).await? else {
            return Ok(false);
        };
        if revoked > 0 {
            self.revocations.publish().await?;
        }
        tracing::info!(target: "signet::audit", event = "client_removed", client_id = id, tokens_revoked = revoked);
        Ok(true)
    }
}

fn digest(secret: &str) -> Vec<u8> {
    secrets::sha256(secret.as_bytes())
}
