use serde_json::Value;

use crate::common::{TestServer, client};

#[tokio::test]
async fn jwks_publishes_public_keys_with_caching_headers() {
    let server = TestServer::start().await;
    let response = client()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "no private part");
    let jwk: signet_guard::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
    assert_eq!(
        key["kid"],
        jwk.thumbprint().unwrap(),
        "kid is the RFC 7638 thumbprint"
    );

    let cached = client()
        .get(server.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let stale = client()
        .get(server.url("/.well-known/jwks.json"))
        .header("if-none-match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn metadata_is_served_at_both_discovery_paths() {
    let server = TestServer::start().await;
    let get = |path: &'static str| {
        let url = server.url(path);
        async move {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let oauth = get("/.well-known/oauth-authorization-server").await;
    let oidc = get("/.well-known/openid-configuration").await;
    assert_eq!(oauth, oidc);
    assert_eq!(oauth["issuer"], server.base);
    assert_eq!(oauth["jwks_uri"], server.url("/.well-known/jwks.json"));
    assert_eq!(oauth["token_endpoint"], server.url("/oauth2/token"));
    assert!(
        oauth["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"password".into())
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    let health = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(
        body["signing_key"],
        server.state.keys.current().active().kid
    );
}
