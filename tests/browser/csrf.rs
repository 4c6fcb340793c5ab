//! The CSRF rule, one table for Signet and for a guard in cookie mode.

use serde_json::Value;

use crate::common::{PASSWORD, TestServer, assert_problem, client};
use crate::{ACCESS, Browser, CSRF, browser_login, guarded_app};

#[derive(Clone, Copy, Debug)]
enum Case {
    /// Same origin, the session's token: passes.
    Valid,
    MissingToken,
    WrongToken,
    /// A real CSRF token, of the same user's other session.
    OtherSessionsToken,
    /// Header and CSRF cookie agree but belong to another session: what a
    /// sibling subdomain can plant (a bare double-submit would pass it).
    PlantedCookie,
    ForeignOrigin,
    CrossSite,
    /// GET needs no token.
    SafeGet,
    /// `Authorization: Bearer` is not subject to the rule.
    BearerWithoutToken,
}

/// Each case and whether it passes.
const MATRIX: &[(Case, bool)] = &[
    (Case::Valid, true),
    (Case::MissingToken, false),
    (Case::WrongToken, false),
    (Case::OtherSessionsToken, false),
    (Case::PlantedCookie, false),
    (Case::ForeignOrigin, false),
    (Case::CrossSite, false),
    (Case::SafeGet, true),
    (Case::BearerWithoutToken, true),
];

/// Where the table is run: an unsafe and a safe endpoint of one origin.
struct Target {
    origin: String,
    unsafe_url: String,
    unsafe_ok: u16,
    safe_url: String,
}

/// Sends `case` as `me` (with `other`, a second session of the same user).
async fn send(case: Case, target: &Target, me: &Browser, other: &Browser) -> reqwest::Response {
    let http = client();
    let request = match case {
        Case::SafeGet => http.get(&target.safe_url),
        _ => http.post(&target.unsafe_url),
    };
    let request = match case {
        Case::BearerWithoutToken => request.bearer_auth(&me.access),
        Case::PlantedCookie => request.header(
            "cookie",
            format!("{ACCESS}={}; {CSRF}={}", me.access, other.csrf),
        ),
        _ => request.header("cookie", me.cookie_header("/")),
    };
    let origin = match case {
        Case::ForeignOrigin => "https://evil.example",
        _ => target.origin.as_str(),
    };
    let site = match case {
        Case::CrossSite => "cross-site",
        _ => "same-origin",
    };
    let token = match case {
        Case::Valid | Case::ForeignOrigin | Case::CrossSite => Some(me.csrf.clone()),
        Case::WrongToken => Some(format!("{}x", &me.csrf[1..])),
        Case::OtherSessionsToken | Case::PlantedCookie => Some(other.csrf.clone()),
        Case::MissingToken | Case::SafeGet | Case::BearerWithoutToken => None,
    };
    let request = request
        .header("origin", origin)
        .header("sec-fetch-site", site);
    let request = match token {
        Some(token) => request.header("x-csrf-token", token),
        None => request,
    };
    request.send().await.expect("request")
}

/// Runs the table against `target`, with fresh sessions for every row.
async fn run_matrix(server: &TestServer, target: &Target) {
    for &(case, passes) in MATRIX {
        let me = browser_login(server, "ada@example.com", false).await;
        let other = browser_login(server, "ada@example.com", false).await;
        let response = send(case, target, &me, &other).await;
        let ok = match case {
            Case::SafeGet => 200,
            _ => target.unsafe_ok,
        };
        if passes {
            assert_eq!(response.status(), ok, "{case:?} at {}", target.unsafe_url);
        } else {
            let body: Value = assert_problem(response, 403).await;
            assert!(
                body["detail"].as_str().unwrap().contains("CSRF")
                    || body["detail"].as_str().unwrap().contains("rigin")
                    || body["detail"].as_str().unwrap().contains("cross-site"),
                "{case:?}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn csrf_matrix_at_signet() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let target = Target {
        origin: server.base.clone(),
        unsafe_url: server.url("/v1/logout"),
        unsafe_ok: 204,
        safe_url: server.url("/v1/userinfo"),
    };
    run_matrix(&server, &target).await;
}

#[tokio::test]
async fn csrf_matrix_at_a_guard() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let (app, _guard) = guarded_app(&server).await;
    let target = Target {
        origin: format!("http://{app}"),
        unsafe_url: format!("http://{app}/notes"),
        unsafe_ok: 201,
        safe_url: format!("http://{app}/whoami"),
    };
    run_matrix(&server, &target).await;
}

#[tokio::test]
async fn a_guard_without_cookie_mode_ignores_the_cookie() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let guard = signet_guard::Guard::builder(&server.base, "signet")
        .build()
        .await
        .unwrap();
    let me = browser_login(&server, "ada@example.com", false).await;
    let app = axum::Router::new()
        .route(
            "/whoami",
            axum::routing::get(|c: signet_guard::Claims| async move { c.sub }),
        )
        .layer(signet_guard::GuardLayer::new(guard));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let response = client()
        .get(format!("http://{addr}/whoami"))
        .header("cookie", me.cookie_header("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn login_csrf_is_refused() {
    let server =
        TestServer::start_with(|c| c.cors_origins = vec!["https://app.example".into()]).await;
    server.sign_up("ada@example.com").await;
    let login = |origin: &str, site: &str| {
        client()
            .post(server.url("/v1/browser/login"))
            .header("origin", origin)
            .header("sec-fetch-site", site)
            .json(&serde_json::json!({ "email": "ada@example.com", "password": PASSWORD }))
            .send()
    };
    assert_problem(
        login("https://evil.example", "same-site").await.unwrap(),
        403,
    )
    .await;
    assert_problem(login(&server.base, "cross-site").await.unwrap(), 403).await;
    assert_eq!(
        login(&server.base, "same-origin").await.unwrap().status(),
        200
    );
    assert_eq!(
        login("https://app.example", "same-site")
            .await
            .unwrap()
            .status(),
        200
    );
}
