//! Step-up against a real Signet: `RequireRecentAuth` and `RecentAuth`
//! answer an old `auth_time` with RFC 9470's challenge, and
//! `POST /v1/reauthenticate` makes the session recent again.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use signet_guard::{GuardLayer, RecentAuth, RequireRecentAuth};

use crate::common::grants::text;
use crate::common::{PASSWORD, TestServer, client};
use crate::{challenge, guard_for, serve, within};

/// Splits an RFC 7235 challenge into its scheme and auth-params (token or
/// quoted-string values).
fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').expect("name=value");
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').expect("closing quote");
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            let value = &after[..end];
            assert!(
                value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)),
                "a token value: {value}"
            );
            (value.to_owned(), &after[end..])
        };
        params.insert(name.trim().to_owned(), value);
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_owned(), params)
}

/// A service with the layer form on `/recent` and the extractor form on
/// `/recent-extractor`, both with a maximum age of one second.
async fn step_up_app(server: &TestServer) -> String {
    async fn recent(RecentAuth(claims): RecentAuth<1>) -> String {
        claims.sub
    }
    let guard = guard_for(server).await;
    serve(
        Router::new()
            .route(
                "/recent",
                get(|| async { "recent enough" })
                    .route_layer(RequireRecentAuth::new(Duration::from_secs(1))),
            )
            .route("/recent-extractor", get(recent))
            .layer(GuardLayer::new(guard)),
    )
    .await
}

async fn status(app: &str, path: &str, token: &str) -> reqwest::Response {
    client()
        .get(format!("{app}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Asserts RFC 9470's answer: 401 with `insufficient_user_authentication`,
/// a description and `max_age` = 1.
fn assert_step_up_challenge(response: &reqwest::Response) {
    assert_eq!(response.status(), 401);
    let (scheme, params) = parse_challenge(&challenge(response));
    assert_eq!(scheme, "Bearer");
    assert_eq!(params["error"], "insufficient_user_authentication");
    assert!(!params["error_description"].is_empty());
    assert_eq!(params["max_age"], "1", "{params:?}");
}

#[tokio::test]
async fn recent_flips_to_401_and_back_after_reauthenticating() {
    let server = TestServer::start().await;
    let app = step_up_app(&server).await;
    let login = server.user_tokens("ada@example.com").await;
    let access = text(&login, "access_token").to_owned();
    for path in ["/recent", "/recent-extractor"] {
        assert_eq!(status(&app, path, &access).await.status(), 200, "{path}");
    }

    let aged = within(
        Duration::from_secs(4),
        Duration::from_millis(100),
        async || status(&app, "/recent", &access).await.status() == 401,
    )
    .await;
    assert!(aged.is_some(), "the login became too old for max_age = 1");
    for path in ["/recent", "/recent-extractor"] {
        assert_step_up_challenge(&status(&app, path, &access).await);
    }

    // Refreshing does not help: the refreshed token keeps the old auth_time.
    let (code, refreshed) = server.refresh(text(&login, "refresh_token")).await;
    assert_eq!(code, 200, "{refreshed}");
    let refreshed_access = text(&refreshed, "access_token");
    assert_step_up_challenge(&status(&app, "/recent", refreshed_access).await);

    let response = server.reauthenticate(refreshed_access, PASSWORD).await;
    assert_eq!(response.status(), 200);
    let stepped: Value = response.json().await.unwrap();
    let stepped_access = text(&stepped, "access_token");
    for path in ["/recent", "/recent-extractor"] {
        assert_eq!(
            status(&app, path, stepped_access).await.status(),
            200,
            "{path}"
        );
    }
}

#[tokio::test]
async fn tokens_without_auth_time_need_a_user_authentication() {
    let server = TestServer::start().await;
    let app = step_up_app(&server).await;
    let (id, secret) = server.add_client("").await;
    let (_, service) = server.client_token(&id, &secret).await;
    for path in ["/recent", "/recent-extractor"] {
        assert_step_up_challenge(&status(&app, path, text(&service, "access_token")).await);
    }
    let anonymous = client().get(format!("{app}/recent")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(parse_challenge(&challenge(&anonymous)).0, "Bearer");
    assert!(!challenge(&anonymous).contains("insufficient_user_authentication"));
}

#[test]
fn the_challenge_parser_reads_tokens_and_quoted_strings() {
    let (scheme, params) = parse_challenge(r#"Bearer realm="a, b", error="x", max_age=5"#);
    assert_eq!(scheme, "Bearer");
    assert_eq!(params["realm"], "a, b");
    assert_eq!(params["max_age"], "5");
}
