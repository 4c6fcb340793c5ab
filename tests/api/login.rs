use serde_json::{Value, json};

use crate::common::{PASSWORD, TestServer, client, decode_parts};

#[tokio::test]
async fn password_grant_issues_rfc9068_tokens() {
    let server = TestServer::start().await;
    let user = server.sign_up("ada@example.com").await;
    let response = client()
        .post(server.url("/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "ADA@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "");
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(refresh.len() >= 43, "at least 256 bits");

    let (header, claims) = decode_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let kid = header["kid"].as_str().unwrap();
    assert_eq!(kid, server.state.keys.current().active().kid);
    assert_eq!(claims["iss"], server.base);
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["aud"], "signet");
    assert_eq!(claims["client_id"], "signet");
    assert!(claims["sid"].is_string() && claims["jti"].is_string());
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["nbf"].as_i64().unwrap(), iat);
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 900);
}

#[tokio::test]
async fn json_bodies_are_accepted_too() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let response = client()
        .post(server.url("/oauth2/token"))
        .json(&json!({ "grant_type": "password", "username": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_look_the_same() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let (wrong_status, wrong) = server.login("ada@example.com", "not the password").await;
    let (unknown_status, unknown) = server.login("bob@example.com", PASSWORD).await;
    let (invalid_status, invalid) = server.login("not an email", PASSWORD).await;
    assert_eq!(wrong_status, 400);
    assert_eq!(wrong["error"], "invalid_grant");
    assert_eq!((unknown_status, &unknown), (wrong_status, &wrong));
    assert_eq!((invalid_status, &invalid), (wrong_status, &wrong));
}

async fn oauth_error(server: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .post(server.url("/oauth2/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn rfc6749_errors() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("username", "ada@example.com")], "invalid_request"),
        (
            &[("grant_type", "password"), ("username", "ada@example.com")],
            "invalid_request",
        ),
        (
            &[("grant_type", "authorization_code"), ("code", "x")],
            "unsupported_grant_type",
        ),
        (
            &[("grant_type", "password"), ("grant_type", "password")],
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "password"),
                ("username", "ada@example.com"),
                ("password", PASSWORD),
                ("scope", "admin"),
            ],
            "invalid_scope",
        ),
    ];
    for (form, expected) in cases {
        let (status, body) = oauth_error(&server, form).await;
        assert_eq!(status, 400, "{form:?}");
        assert_eq!(body["error"], expected, "{form:?}: {body}");
        assert!(body["error_description"].is_string());
    }
    let response = client()
        .post(server.url("/oauth2/token"))
        .header("content-type", "text/plain")
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn scopes_are_granted_within_the_allowed_set() {
    let server = TestServer::start().await;
    server
        .state
        .accounts
        .register("ada@example.com", PASSWORD.into(), "read write")
        .await
        .unwrap();
    let (status, all) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200);
    assert_eq!(all["scope"], "read write");
    let response = client()
        .post(server.url("/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
            ("scope", "read"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "read");
    let (_, claims) = decode_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_respect_the_hashing_bound() {
    let server = TestServer::start_with(|c| c.hash_concurrency = 2).await;
    server.sign_up("ada@example.com").await;
    let logins = (0..12).map(|i| {
        let url = server.url("/oauth2/token");
        let password = if i % 2 == 0 {
            PASSWORD
        } else {
            "wrong password"
        };
        async move {
            client()
                .post(url)
                .form(&[
                    ("grant_type", "password"),
                    ("username", "ada@example.com"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(logins).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        6,
        "{statuses:?}"
    );
    let peak = server.state.hasher.peak_concurrency();
    assert!((1..=2).contains(&peak), "peak {peak}");
}

#[tokio::test]
async fn over_long_credentials_are_refused_before_any_throttle() {
    let server = TestServer::start_with(|c| c.throttle.login_per_ip = 2).await;
    server.sign_up("ada@example.com").await;
    let long_username = format!("{}@example.com", "a".repeat(243));
    assert_eq!(long_username.len(), 255);
    let huge_username = "b".repeat(900_000);
    let long_password = "p".repeat(1025);
    let cases = [
        (long_username.as_str(), PASSWORD, "254 bytes"),
        (huge_username.as_str(), PASSWORD, "254 bytes"),
        ("ada@example.com", long_password.as_str(), "1024 bytes"),
    ];
    for _ in 0..3 {
        for (username, password, limit) in cases {
            let (status, body) = server.login(username, password).await;
            assert_eq!(status, 400);
            assert_eq!(body["error"], "invalid_request", "{body}");
            let description = body["error_description"].as_str().unwrap();
            assert!(description.contains(limit), "{description}");
        }
    }
    for _ in 0..2 {
        let (status, body) = server.login("ada@example.com", PASSWORD).await;
        assert_eq!(
            status, 200,
            "the refusals spent none of the address's budget: {body}"
        );
    }
    // The longest inputs allowed pass the length checks and reach the
    // (now spent) address budget.
    let (status, body) = server
        .login(
            &format!("{}@example.com", "a".repeat(242)),
            &"é".repeat(256),
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (429, None), "{body}");
}
