//! The cookies of CONTRACT §9, rotation through the refresh cookie, logout.

use std::time::{Duration, Instant};

use crate::common::{TestServer, client, decode_parts};
use crate::{
    ACCESS, Browser, CSRF, REFRESH, browser_from, browser_login, browser_login_response,
    guarded_app, set_cookies,
};

#[tokio::test]
async fn login_sets_the_contracts_cookies() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    for remember in [false, true] {
        let response = browser_login_response(&server, "ada@example.com", remember).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let cookies = set_cookies(&response);
        assert_eq!(cookies.len(), 3, "{cookies:?}");
        let access = &cookies[ACCESS];
        let csrf = &cookies[CSRF];
        let refresh = &cookies[REFRESH];
        for (cookie, path, same_site, http_only) in [
            (access, "/", "Lax", true),
            (csrf, "/", "Lax", false),
            (refresh, "/v1/browser", "Strict", true),
        ] {
            assert_eq!(cookie.get("path"), Some(path), "{cookie:?}");
            assert_eq!(cookie.get("samesite"), Some(same_site), "{cookie:?}");
            assert!(cookie.has("secure"), "{cookie:?}");
            assert_eq!(cookie.has("httponly"), http_only, "{cookie:?}");
            assert!(
                !cookie.has("domain") && !cookie.has("expires"),
                "{cookie:?}"
            );
            assert_eq!(
                cookie.has("max-age"),
                remember,
                "remember={remember}: {cookie:?}"
            );
        }
        if remember {
            let age = |c: &crate::SetCookie| c.get("max-age").unwrap().parse::<i64>().unwrap();
            assert!((890..=900).contains(&age(access)), "the token's lifetime");
            let session = 30 * 86_400;
            assert!((session - 10..=session).contains(&age(refresh)));
            assert!((session - 10..=session).contains(&age(csrf)));
        }
        let body: serde_json::Value = response.json().await.unwrap();
        let (_, claims) = decode_parts(&access.value);
        assert_eq!(body["sub"], claims["sub"]);
        assert_eq!(body["sid"], claims["sid"]);
        let expires =
            chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!(expires.timestamp(), claims["exp"].as_i64().unwrap());
        assert_eq!(csrf.value.len(), 43, "a MAC, base64url");
    }
}

#[tokio::test]
async fn a_cookie_domain_turns_host_cookies_into_secure_ones() {
    let server = TestServer::start_with(|c| c.cookie_domain = Some("example.com".into())).await;
    server.sign_up("ada@example.com").await;
    let response = browser_login_response(&server, "ada@example.com", false).await;
    let cookies = set_cookies(&response);
    let names: Vec<_> = cookies.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "__Secure-signet_at",
            "__Secure-signet_csrf",
            "__Secure-signet_rt"
        ]
    );
    assert_eq!(
        cookies["__Secure-signet_at"].get("domain"),
        Some("example.com")
    );
    assert_eq!(
        cookies["__Secure-signet_csrf"].get("domain"),
        Some("example.com")
    );
    assert_eq!(
        cookies["__Secure-signet_rt"].get("domain"),
        None,
        "the refresh cookie stays host-only"
    );
    // The renamed access cookie authenticates at Signet.
    let access = &cookies["__Secure-signet_at"].value;
    let userinfo = client()
        .get(server.url("/v1/userinfo"))
        .header("cookie", format!("__Secure-signet_at={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
}

/// `POST /v1/browser/refresh` as the page sends it.
async fn refresh(server: &TestServer, browser: &Browser) -> reqwest::Response {
    client()
        .post(server.url("/v1/browser/refresh"))
        .header("cookie", browser.cookie_header("/v1/browser/refresh"))
        .header("origin", &server.base)
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_rotates_the_refresh_cookie_and_keeps_persistence() {
    let server = TestServer::start_with(|c| c.refresh_grace = Duration::ZERO).await;
    server.sign_up("ada@example.com").await;
    for remember in [false, true] {
        let first = browser_login(&server, "ada@example.com", remember).await;
        let response = refresh(&server, &first).await;
        assert_eq!(response.status(), 200);
        let cookies = set_cookies(&response);
        assert_eq!(cookies[REFRESH].get("path"), Some("/v1/browser"));
        assert_eq!(cookies[ACCESS].has("max-age"), remember);
        assert_eq!(cookies[REFRESH].has("max-age"), remember);
        let second = browser_from(response).await;
        assert_ne!(second.refresh, first.refresh);
        assert_eq!(
            second.csrf, first.csrf,
            "bound to the session, not the token"
        );
        assert_eq!(second.body["sid"], first.body["sid"]);
        // The rotated cookie presented again is reuse: the session ends and
        // the cookies are cleared.
        let reused = refresh(&server, &first).await;
        assert_eq!(reused.status(), 400);
        let cleared = set_cookies(&reused);
        assert!(
            cleared.values().all(|c| c.get("max-age") == Some("0")),
            "{cleared:?}"
        );
        let body: serde_json::Value = reused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(
            refresh(&server, &second).await.status(),
            400,
            "session revoked"
        );
    }
}

#[tokio::test]
async fn refresh_without_the_cookie_is_an_oauth_error() {
    let server = TestServer::start().await;
    let response = client()
        .post(server.url("/v1/browser/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn logout_clears_the_cookies_and_the_old_access_cookie_is_refused_everywhere() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let (app, _guard) = guarded_app(&server).await;
    let browser = browser_login(&server, "ada@example.com", true).await;
    let whoami = || {
        client()
            .get(format!("http://{app}/whoami"))
            .header("cookie", browser.cookie_header("/whoami"))
            .send()
    };
    assert_eq!(whoami().await.unwrap().status(), 200);

    let response = client()
        .post(server.url("/v1/browser/logout"))
        .header("cookie", browser.cookie_header("/v1/browser/logout"))
        .header("origin", &server.base)
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cleared = set_cookies(&response);
    for name in [ACCESS, CSRF, REFRESH] {
        let cookie = &cleared[name];
        assert_eq!(
            (cookie.value.as_str(), cookie.get("max-age")),
            ("", Some("0")),
            "{name}"
        );
    }
    assert_eq!(cleared[REFRESH].get("path"), Some("/v1/browser"));

    let userinfo = client()
        .get(server.url("/v1/userinfo"))
        .header("cookie", browser.cookie_header("/v1/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401, "refused by Signet at once");
    let started = Instant::now();
    while whoami().await.unwrap().status() != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the guard still accepts it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        refresh(&server, &browser).await.status(),
        400,
        "the refresh cookie is dead too"
    );
}

#[tokio::test]
async fn logout_with_only_the_refresh_cookie_ends_the_session() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let browser = browser_login(&server, "ada@example.com", false).await;
    let response = client()
        .post(server.url("/v1/browser/logout"))
        .header("cookie", format!("{REFRESH}={}", browser.refresh))
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(refresh(&server, &browser).await.status(), 400);
}

#[tokio::test]
async fn form_logins_and_wrong_passwords_answer_like_the_token_endpoint() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let form = |password: &str, remember: &str| {
        client()
            .post(server.url("/v1/browser/login"))
            .form(&[
                ("email", "ada@example.com"),
                ("password", password),
                ("remember", remember),
            ])
            .send()
    };
    let ok = form(crate::common::PASSWORD, "on").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        set_cookies(&ok)[ACCESS].has("max-age"),
        "an HTML checkbox's `on`"
    );
    let wrong = form("not the password at all", "off").await.unwrap();
    assert_eq!(wrong.status(), 400);
    assert!(set_cookies(&wrong).is_empty());
    let (_, token_endpoint) = server
        .login("ada@example.com", "not the password at all")
        .await;
    assert_eq!(
        wrong.json::<serde_json::Value>().await.unwrap(),
        token_endpoint
    );
}

#[tokio::test]
async fn logout_by_the_refresh_cookie_needs_the_csrf_token() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let browser = browser_login(&server, "ada@example.com", false).await;
    for authorization in [None, Some("Basic YTpi"), Some("Bearer not.a.token")] {
        let mut request = client()
            .post(server.url("/v1/browser/logout"))
            .header("cookie", format!("{REFRESH}={}", browser.refresh));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{authorization:?}");
        assert!(set_cookies(&response).is_empty(), "nothing cleared");
    }
    assert_eq!(
        refresh(&server, &browser).await.status(),
        200,
        "the session lives"
    );
}

/// `POST /v1/browser/login` with a user agent and any email and password.
async fn login_as(
    server: &TestServer,
    user_agent: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client()
        .post(server.url("/v1/browser/login"))
        .header("origin", &server.base)
        .header("user-agent", user_agent)
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn browser_logins_keep_the_token_endpoints_limits_and_failure_budget() {
    let server = TestServer::start_with(|c| c.throttle.failures_per_address = 2).await;
    server.sign_up("ada@example.com").await;
    let long = format!("{}@example.com", "a".repeat(243));
    assert_eq!(long.len(), 255);
    let too_long = login_as(&server, "Firefox/1.0", &long, "whatever it is").await;
    assert_eq!(too_long.status(), 400);
    let (status, token_endpoint) = server.login(&long, "whatever it is").await;
    assert_eq!(status, 400);
    assert_eq!(
        too_long.json::<serde_json::Value>().await.unwrap(),
        token_endpoint
    );
    assert_eq!(token_endpoint["error"], "invalid_request");
    // Refused before the throttle: the budget is untouched, and two wrong
    // passwords (one with a differently written email, the same account)
    // spend it for the token endpoint too.
    for email in ["ada@example.com", "ADA@EXAMPLE.COM"] {
        let wrong = login_as(&server, "Firefox/1.0", email, "not the password at all").await;
        assert_eq!(wrong.status(), 400, "{email}");
    }
    let (status, _) = server
        .login("ada@example.com", crate::common::PASSWORD)
        .await;
    assert_eq!(status, 429, "one failure budget for both transports");
    let refused = login_as(
        &server,
        "Firefox/1.0",
        "ada@example.com",
        crate::common::PASSWORD,
    )
    .await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn browser_sessions_are_token_sessions_with_client_auth_time_and_amr() {
    let server = TestServer::start_with(|c| c.refresh_grace = Duration::ZERO).await;
    server.sign_up("ada@example.com").await;
    let listed = |browser: Browser| {
        let server = &server;
        async move {
            let response = client()
                .get(server.url("/v1/sessions"))
                .header("cookie", browser.cookie_header("/v1/sessions"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Vec<serde_json::Value>>().await.unwrap()
        }
    };
    let login = login_as(
        &server,
        "Firefox/1.0",
        "ada@example.com",
        crate::common::PASSWORD,
    )
    .await;
    assert_eq!(login.status(), 200);
    let browser = browser_from(login).await;
    let (_, claims) = decode_parts(&browser.access);
    assert!(claims["auth_time"].is_i64(), "{claims}");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    let sessions = listed(browser.clone()).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["sid"], browser.body["sid"]);
    assert_eq!(sessions[0]["user_agent"], "Firefox/1.0");
    assert!(sessions[0]["ip"].is_string(), "{sessions:?}");
    let refreshed = client()
        .post(server.url("/v1/browser/refresh"))
        .header("cookie", browser.cookie_header("/v1/browser/refresh"))
        .header("origin", &server.base)
        .header("x-csrf-token", &browser.csrf)
        .header("user-agent", "Firefox/2.0")
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let sessions = listed(browser_from(refreshed).await).await;
    assert_eq!(
        sessions[0]["user_agent"], "Firefox/2.0",
        "refresh records it"
    );
}
