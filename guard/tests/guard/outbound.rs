//! The guard's outbound rules: https except for loopback, no redirect to
//! another origin, the metadata's URLs on the issuer's origin.

use signet_guard::testing::TestIssuer;
use signet_guard::{BuildError, FetchError, Guard, JwkSet};

use super::stub::Stub;

async fn stub_with_keys() -> (Stub, TestIssuer) {
    let stub = Stub::start(JwkSet::default()).await;
    let key = TestIssuer::with(stub.issuer(), "orders");
    stub.publish(key.jwks());
    (stub, key)
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_connecting() {
    for issuer in ["http://signet.example.com", "ftp://127.0.0.1"] {
        let error = Guard::builder(issuer, "orders").build().await.unwrap_err();
        assert!(
            matches!(error, BuildError::Fetch(FetchError::InsecureUrl { .. })),
            "{issuer}: {error}"
        );
    }
    let error = Guard::builder("https://127.0.0.1:1", "orders")
        .jwks_url("http://keys.example.com/jwks.json")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(error, BuildError::Fetch(FetchError::InsecureUrl { .. })),
        "{error}"
    );
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    let (elsewhere, _) = stub_with_keys().await;
    let (stub, key) = stub_with_keys().await;
    let redirected = format!("{}/redirected/jwks.json", stub.issuer());
    *stub.state.jwks_redirect.lock().unwrap() =
        Some(format!("{}/.well-known/jwks.json", elsewhere.issuer()));
    let error = Guard::builder(stub.issuer(), "orders")
        .jwks_url(redirected.clone())
        .without_revocation_feed()
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            BuildError::Fetch(FetchError::Status { status: 307, .. })
        ),
        "{error}"
    );
    assert_eq!(
        elsewhere.jwks_fetches(),
        0,
        "the other origin was never asked"
    );

    // A host's own client that follows every redirect: the answer from the
    // other origin is still not trusted.
    let error = Guard::builder(stub.issuer(), "orders")
        .jwks_url(redirected.clone())
        .http_client(super::client())
        .without_revocation_feed()
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            BuildError::Fetch(FetchError::CrossOriginRedirect { .. })
        ),
        "{error}"
    );

    // Within the issuer's origin a redirect is followed.
    *stub.state.jwks_redirect.lock().unwrap() =
        Some(format!("{}/.well-known/jwks.json", stub.issuer()));
    let guard = Guard::builder(stub.issuer(), "orders")
        .jwks_url(redirected)
        .without_revocation_feed()
        .build()
        .await
        .unwrap();
    assert!(guard.keys().unwrap().contains(key.kid()));
}

#[tokio::test]
async fn metadata_naming_another_origin_is_refused_unless_configured() {
    let (elsewhere, key) = stub_with_keys().await;
    let stub = Stub::start(JwkSet::default()).await;
    let foreign = format!("{}/.well-known/jwks.json", elsewhere.issuer());
    *stub.state.advertised_jwks.lock().unwrap() = Some(foreign.clone());
    let error = Guard::builder(stub.issuer(), "orders")
        .without_revocation_feed()
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(error, BuildError::Fetch(FetchError::ForeignEndpoint { .. })),
        "{error}"
    );
    assert_eq!(elsewhere.jwks_fetches(), 0);

    // Named explicitly by the operator, it is trusted.
    let guard = Guard::builder(stub.issuer(), "orders")
        .jwks_url(foreign)
        .without_revocation_feed()
        .build()
        .await
        .unwrap();
    assert!(guard.keys().unwrap().contains(key.kid()));
}
