//! `/.well-known` documents: the JWK Set and RFC 8414 metadata, both served
//! from bytes prepared once.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::keys::JWKS_MAX_AGE_SECS;

/// The serialised RFC 8414 document.
#[derive(Clone)]
pub struct Metadata(Bytes);

impl Metadata {
    pub fn new(state: &AppState) -> Self {
        let issuer = &state.issuer;
        let mut document = json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "userinfo_endpoint": format!("{issuer}/v1/userinfo"),
            "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_feed_endpoint": format!("{issuer}/v1/revocations"),
            "grant_types_supported": ["password", "refresh_token", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "response_types_supported": [],
            "token_endpoint_auth_signing_alg_values_supported": [],
            "id_token_signing_alg_values_supported": [],
        });
        let scopes: Vec<&str> = state.config.scopes.split_whitespace().collect();
        if !scopes.is_empty() {
            document["scopes_supported"] = json!(scopes);
        }
        Self(Bytes::from(document.to_string()))
    }
}

pub async fn jwks(State(state): State<AppState>, request: HeaderMap) -> Response {
    let ring = state.keys.current();
    let (body, etag) = ring.jwks();
    let cache = format!("public, max-age={JWKS_MAX_AGE_SECS}");
    let not_modified = super::etag::not_modified(&request, etag);
    let headers = [
        (header::CACHE_CONTROL, cache),
        (header::ETAG, etag.to_owned()),
    ];
    if not_modified {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let content_type = (
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    (headers, [content_type], body.clone()).into_response()
}

pub async fn metadata(Extension(Metadata(body)): Extension<Metadata>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}
