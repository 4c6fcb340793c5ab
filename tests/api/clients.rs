//! client_credentials, client authentication, scopes and RFC 7662 introspection.

use base64::Engine;
use serde_json::{Value, json};

use crate::common::{TestServer, client, decode_parts};

async fn add_client(server: &TestServer, scope: &str, audience: &str) -> (String, String) {
    let created = server
        .state
        .clients
        .add("billing", scope, audience)
        .await
        .unwrap();
    (created.client.id, created.secret)
}

fn basic(id: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

async fn post(
    server: &TestServer,
    path: &str,
    auth: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = client().post(server.url(path)).form(form);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn client_credentials_with_basic_and_with_the_body() {
    let server = TestServer::start().await;
    let (id, secret) = add_client(&server, "invoices:read invoices:write", "billing-api").await;
    let grant = [("grant_type", "client_credentials")];
    let (status, headers, body) =
        post(&server, "/oauth2/token", Some(&basic(&id, &secret)), &grant).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(body.get("refresh_token").is_none(), "access token only");
    assert_eq!(body["scope"], "invoices:read invoices:write");
    let (header, claims) = decode_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["aud"], "billing-api");
    assert!(claims.get("sid").is_none());

    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", &id),
        ("client_secret", &secret),
        ("scope", "invoices:read"),
    ];
    let (status, _, body) = post(&server, "/oauth2/token", None, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "invoices:read");

    // RFC 6749 §2.3.1: id and secret are form-encoded inside Basic.
    let encoded_id = id.replace('-', "%2D");
    let (status, _, _) = post(
        &server,
        "/oauth2/token",
        Some(&basic(&encoded_id, &secret)),
        &grant,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn client_authentication_failures() {
    let server = TestServer::start().await;
    let (id, secret) = add_client(&server, "read", "api").await;
    let grant = [("grant_type", "client_credentials")];
    let cases = [
        Some(basic(&id, "wrong-secret")),
        Some(basic("no-such-client", &secret)),
        Some("Basic !!!notbase64".to_owned()),
        None,
    ];
    let mut bodies = Vec::new();
    for auth in cases {
        let (status, headers, body) = post(&server, "/oauth2/token", auth.as_deref(), &grant).await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(body["error"], "invalid_client");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic realm=")
        );
        bodies.push(body);
    }
    assert_eq!(
        bodies[0], bodies[1],
        "unknown client and wrong secret look alike"
    );

    let both = [
        ("grant_type", "client_credentials"),
        ("client_id", &id),
        ("client_secret", &secret),
    ];
    let (status, _, body) = post(&server, "/oauth2/token", Some(&basic(&id, &secret)), &both).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    let beyond = [
        ("grant_type", "client_credentials"),
        ("scope", "read admin"),
    ];
    let (status, _, body) = post(
        &server,
        "/oauth2/token",
        Some(&basic(&id, &secret)),
        &beyond,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
}

#[tokio::test]
async fn a_removed_client_gets_no_more_tokens() {
    let server = TestServer::start().await;
    let (id, secret) = add_client(&server, "", "api").await;
    let grant = [("grant_type", "client_credentials")];
    let (status, _, _) = post(&server, "/oauth2/token", Some(&basic(&id, &secret)), &grant).await;
    assert_eq!(status, 200);
    assert!(server.state.clients.remove(&id).await.unwrap());
    let (status, _, _) = post(&server, "/oauth2/token", Some(&basic(&id, &secret)), &grant).await;
    assert_eq!(status, 401);
}

async fn introspect(server: &TestServer, auth: &str, token: &str) -> Value {
    let (status, headers, body) = post(
        server,
        "/oauth2/introspect",
        Some(auth),
        &[("token", token)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    body
}

#[tokio::test]
async fn introspection_needs_a_client() {
    let server = TestServer::start().await;
    let (status, _, body) = post(&server, "/oauth2/introspect", None, &[("token", "x")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _, _) = post(
        &server,
        "/oauth2/introspect",
        Some(&basic("a", "b")),
        &[("token", "x")],
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn introspection_of_access_tokens() {
    let server = TestServer::start().await;
    let (id, secret) = add_client(&server, "read", "api").await;
    let auth = basic(&id, &secret);
    let user = server.user_tokens("ada@example.com").await;
    let access = user["access_token"].as_str().unwrap();

    let active = introspect(&server, &auth, access).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["token_type"], "access_token");
    assert_eq!(active["iss"], server.base);
    assert_eq!(active["aud"], "signet");
    assert_eq!(active["client_id"], "signet");
    for key in ["scope", "sub", "exp", "iat", "jti"] {
        assert!(active.get(key).is_some(), "{key} in {active}");
    }

    let (_, _, service) = post(
        &server,
        "/oauth2/token",
        Some(&auth),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let service_token = service["access_token"].as_str().unwrap();
    let active = introspect(&server, &auth, service_token).await;
    assert_eq!(
        (active["active"].as_bool(), active["aud"].as_str()),
        (Some(true), Some("api"))
    );

    let ring = server.state.keys.current();
    let key = ring.active();
    let (_, mut claims) = decode_parts(access);
    claims["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let mut header = jsonwebtoken::Header::new(key.alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    let expired = jsonwebtoken::encode(&header, &claims, key.encoding_key()).unwrap();
    let inactive = json!({ "active": false });
    assert_eq!(introspect(&server, &auth, &expired).await, inactive);
    assert_eq!(
        introspect(&server, &auth, "garbage.token.here").await,
        inactive
    );
    assert_eq!(introspect(&server, &auth, "").await, inactive);

    let (status, _, _) = post(&server, "/oauth2/revoke", None, &[("token", access)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        introspect(&server, &auth, access).await,
        inactive,
        "revoked"
    );
}

#[tokio::test]
async fn introspection_of_refresh_tokens() {
    let server = TestServer::start().await;
    let (id, secret) = add_client(&server, "", "api").await;
    let auth = basic(&id, &secret);
    let user = server.user_tokens("ada@example.com").await;
    let refresh = user["refresh_token"].as_str().unwrap();
    let active = introspect(&server, &auth, refresh).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["token_type"], "refresh_token");
    assert!(active["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp() + 86_400);

    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (_, _, next) = post(&server, "/oauth2/token", None, &form).await;
    let inactive = json!({ "active": false });
    assert_eq!(
        introspect(&server, &auth, refresh).await,
        inactive,
        "rotated"
    );
    let next = next["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&server, &auth, next).await["active"], true);
    let hinted = [("token", next), ("token_type_hint", "access_token")];
    let (_, _, body) = post(&server, "/oauth2/introspect", Some(&auth), &hinted).await;
    assert_eq!(body["active"], true, "a wrong hint does not matter");

    let (status, _, _) = post(&server, "/oauth2/revoke", Some(&auth), &[("token", next)]).await;
    assert_eq!(status, 200);
    assert_eq!(introspect(&server, &auth, next).await, inactive, "revoked");
    assert_eq!(
        introspect(&server, &auth, "unknown-refresh-token").await,
        inactive
    );
}

#[tokio::test]
async fn metadata_advertises_grants_methods_and_scopes() {
    let server = TestServer::start_with(|c| c.scopes = "read write".into()).await;
    let metadata: Value = client()
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["password", "refresh_token", "client_credentials"])
    );
    let methods = metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(
        methods.contains(&json!("client_secret_basic"))
            && methods.contains(&json!("client_secret_post"))
    );
    assert_eq!(
        metadata["introspection_endpoint"],
        server.url("/oauth2/introspect")
    );
    assert_eq!(
        metadata["revocation_endpoint"],
        server.url("/oauth2/revoke")
    );
    assert_eq!(metadata["scopes_supported"], json!(["read", "write"]));
}

#[tokio::test]
async fn revocation_reaches_tokens_of_every_audience() {
    let server = TestServer::start().await;
    let (id, secret) = add_client(&server, "", "billing-api").await;
    let auth = basic(&id, &secret);
    let (_, _, service) = post(
        &server,
        "/oauth2/token",
        Some(&auth),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let token = service["access_token"].as_str().unwrap();
    assert_eq!(introspect(&server, &auth, token).await["active"], true);
    let (status, _, _) = post(&server, "/oauth2/revoke", Some(&auth), &[("token", token)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        introspect(&server, &auth, token).await,
        json!({ "active": false })
    );
}

#[tokio::test]
async fn a_bearer_header_at_revoke_is_not_client_authentication() {
    let server = TestServer::start().await;
    let user = server.user_tokens("ada@example.com").await;
    let access = user["access_token"].as_str().unwrap();
    let bearer = format!("Bearer {access}");
    let (status, _, _) = post(
        &server,
        "/oauth2/revoke",
        Some(&bearer),
        &[("token", access)],
    )
    .await;
    assert_eq!(status, 200);
}

/// A client_credentials token of `auth`'s client.
async fn service_token(server: &TestServer, auth: &str) -> String {
    let grant = [("grant_type", "client_credentials")];
    let (status, _, body) = post(server, "/oauth2/token", Some(auth), &grant).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Status and `WWW-Authenticate` of a bearer request to `path`.
async fn bearer_status(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
) -> (u16, String) {
    let request = match method {
        "GET" => client().get(server.url(path)),
        _ => client().post(server.url(path)),
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

#[tokio::test]
async fn removing_a_client_revokes_the_tokens_it_was_issued() {
    let server = TestServer::start().await;
    // The server's own audience, so its bearer endpoints take the token.
    let (id, secret) = add_client(&server, "", "signet").await;
    let (asker, asker_secret) = add_client(&server, "", "api").await;
    let asker = basic(&asker, &asker_secret);
    let auth = basic(&id, &secret);
    let first = service_token(&server, &auth).await;
    let second = service_token(&server, &auth).await;
    let kept = service_token(&server, &asker).await;
    assert_eq!(introspect(&server, &asker, &first).await["active"], true);
    let (_, cursor) = feed_entries(&server).await;

    assert!(server.state.clients.remove(&id).await.unwrap());

    let inactive = json!({ "active": false });
    for token in [&first, &second] {
        assert_eq!(introspect(&server, &asker, token).await, inactive);
    }
    let (status, challenge) = bearer_status(&server, "GET", "/v1/userinfo", &first).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("revoked"), "{challenge}");
    let (status, _) = bearer_status(&server, "POST", "/v1/logout", &second).await;
    assert_eq!(
        status, 401,
        "a bearer endpoint refuses the removed client's token"
    );
    assert_eq!(
        introspect(&server, &asker, &kept).await["active"],
        true,
        "other clients keep theirs"
    );

    // Guards learn it through the feed, by `jti`, until each token's `exp`.
    let (entries, after) = feed_entries(&server).await;
    assert_ne!(after, cursor);
    let mut listed: Vec<(String, i64)> = entries
        .iter()
        .map(|e| {
            (
                e["jti"].as_str().unwrap().to_owned(),
                e["exp"].as_i64().unwrap(),
            )
        })
        .collect();
    listed.sort();
    let mut expected: Vec<(String, i64)> = [&first, &second]
        .iter()
        .map(|t| {
            let (_, claims) = decode_parts(t);
            (
                claims["jti"].as_str().unwrap().to_owned(),
                claims["exp"].as_i64().unwrap(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
}

async fn feed_entries(server: &TestServer) -> (Vec<Value>, String) {
    let page: Value = client()
        .get(server.url("/v1/revocations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = page["entries"].as_array().unwrap().clone();
    (entries, page["cursor"].as_str().unwrap().to_owned())
}
