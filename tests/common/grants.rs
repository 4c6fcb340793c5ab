//! Token requests the recent-authentication and custom-claims tests share.

use serde_json::{Value, json};

use super::{TestServer, client};

impl TestServer {
    /// `POST /v1/reauthenticate` with `access` as the bearer token.
    pub async fn reauthenticate(&self, access: &str, password: &str) -> reqwest::Response {
        client()
            .post(self.url("/v1/reauthenticate"))
            .bearer_auth(access)
            .json(&json!({ "password": password }))
            .send()
            .await
            .expect("reauthenticate request")
    }

    /// Creates a confidential client; returns its id and secret.
    pub async fn add_client(&self, scope: &str) -> (String, String) {
        let created = self
            .state
            .clients
            .add("test client", scope, "signet")
            .await
            .expect("client added");
        (created.client.id, created.secret)
    }

    /// A client_credentials grant with HTTP Basic; returns status and body.
    pub async fn client_token(&self, id: &str, secret: &str) -> (u16, Value) {
        let response = client()
            .post(self.url("/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("token body"))
    }

    /// RFC 7662 introspection of `token`, authenticated as a new client.
    pub async fn introspect(&self, token: &str) -> Value {
        let (id, secret) = self.add_client("").await;
        let response = client()
            .post(self.url("/oauth2/introspect"))
            .basic_auth(id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspection request");
        assert_eq!(response.status(), 200);
        response.json().await.expect("introspection body")
    }
}

/// A JSON string member of `body`.
pub fn text<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {body}"))
}
