//! Operating Signet: throttling, metrics, JSON logs with request ids,
//! security headers, graceful shutdown.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/process.rs"]
mod process;

use std::time::{Duration, Instant};

use common::{PASSWORD, TestServer, assert_problem, client};
use serde_json::Value;
use signet::auth::throttle::ThrottleConfig;

/// Password grant from the client address `ip` (the server trusts X-Forwarded-For).
async fn login_from(
    server: &TestServer,
    ip: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client()
        .post(server.url("/oauth2/token"))
        .header("x-forwarded-for", ip)
        .form(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

async fn throttled(response: reqwest::Response) -> u64 {
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "Retry-After is at least a second");
    assert_problem(response, 429).await;
    retry
}

fn throttle(tweak: impl FnOnce(&mut ThrottleConfig)) -> impl FnOnce(&mut signet::config::Config) {
    move |config| {
        config.trust_forwarded_for = true;
        tweak(&mut config.throttle);
    }
}

#[tokio::test]
async fn logins_are_limited_per_ip() {
    let server = TestServer::start_with(throttle(|t| t.login_per_ip = 3)).await;
    server.sign_up("ada@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            login_from(&server, "10.0.0.1", "ada@example.com", PASSWORD)
                .await
                .status(),
            200
        );
    }
    throttled(login_from(&server, "10.0.0.1", "ada@example.com", PASSWORD).await).await;
    let other = login_from(&server, "10.0.0.2", "ada@example.com", PASSWORD).await;
    assert_eq!(other.status(), 200, "other addresses are not affected");
}

/// Wrong-password logins at `email` from `ip`, all at once; their statuses.
async fn failures_at_once(server: &TestServer, ip: &str, email: &str, n: usize) -> Vec<u16> {
    let attempts = (0..n).map(|_| async {
        login_from(server, ip, email, "wrong password")
            .await
            .status()
            .as_u16()
    });
    futures_util::future::join_all(attempts).await
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_cannot_exceed_the_budget() {
    let server = TestServer::start_with(throttle(|t| {
        t.failures_per_address = 3;
        t.failures_per_account = 5;
    }))
    .await;
    server.sign_up("ada@example.com").await;
    // Known or not, an account's budget is reserved before argon2 runs.
    for email in ["ada@example.com", "nobody@example.com"] {
        let statuses = failures_at_once(&server, "198.51.100.1", email, 12).await;
        assert_eq!(count(&statuses, 400), 3, "{email}: {statuses:?}");
        assert_eq!(count(&statuses, 429), 9, "{email}: {statuses:?}");
        let mut spread = Vec::new();
        for i in 0..4 {
            spread.extend(
                failures_at_once(&server, &format!("198.51.100.{}", 10 + i), email, 3).await,
            );
        }
        assert_eq!(count(&spread, 400), 2, "the account budget: {spread:?}");
    }
    let retry =
        throttled(login_from(&server, "198.51.100.1", "ada@example.com", "wrong").await).await;
    assert!(retry <= 900, "{retry}");
}

#[tokio::test]
async fn an_attacker_cannot_lock_the_real_user_out() {
    let server = TestServer::start_with(throttle(|t| {
        t.failures_per_address = 3;
        t.failures_per_account = 5;
    }))
    .await;
    server.sign_up("ada@example.com").await;
    let home = "192.0.2.10";
    assert_eq!(
        login_from(&server, home, "ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );

    // One attacker address spends its own budget, nobody else's.
    let statuses = failures_at_once(&server, "203.0.113.66", "ada@example.com", 6).await;
    assert_eq!((count(&statuses, 400), count(&statuses, 429)), (3, 3));
    let travelling = login_from(&server, "198.51.100.7", "ada@example.com", PASSWORD).await;
    assert_eq!(travelling.status(), 200, "a new address still gets in");

    // Many attacker addresses spend the budget of unknown addresses …
    for i in 0..10 {
        failures_at_once(&server, &format!("203.0.113.{i}"), "ada@example.com", 3).await;
    }
    throttled(login_from(&server, "203.0.113.200", "ada@example.com", PASSWORD).await).await;
    // … and the real user's addresses are not held by it.
    for ip in [home, "198.51.100.7"] {
        let status = login_from(&server, ip, "ada@example.com", PASSWORD)
            .await
            .status();
        assert_eq!(status, 200, "{ip}");
    }
    // A success clears the address's own count too.
    for _ in 0..2 {
        let statuses = failures_at_once(&server, home, "ada@example.com", 2).await;
        assert_eq!(count(&statuses, 400), 2);
        assert_eq!(
            login_from(&server, home, "ada@example.com", PASSWORD)
                .await
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn a_client_written_forwarded_for_entry_buys_no_budget() {
    let server = TestServer::start_with(throttle(|t| t.login_per_ip = 2)).await;
    server.sign_up("ada@example.com").await;
    // Behind an appending proxy the client writes the left part itself.
    for i in 0..2 {
        let spoofed = format!("198.51.100.{i}, 203.0.113.7");
        let status = login_from(&server, &spoofed, "ada@example.com", PASSWORD)
            .await
            .status();
        assert_eq!(status, 200);
    }
    throttled(
        login_from(
            &server,
            "198.51.100.9, 203.0.113.7",
            "ada@example.com",
            PASSWORD,
        )
        .await,
    )
    .await;
    let honest = login_from(&server, "203.0.113.8", "ada@example.com", PASSWORD).await;
    assert_eq!(honest.status(), 200, "the next client has its own budget");

    let two = TestServer::start_with(|config| {
        throttle(|t| t.login_per_ip = 1)(config);
        config.trusted_proxies = 2;
    })
    .await;
    two.sign_up("ada@example.com").await;
    let chain = |spoofed: &str| format!("{spoofed}, 203.0.113.7, 10.0.0.2");
    let first = login_from(&two, &chain("198.51.100.1"), "ada@example.com", PASSWORD).await;
    assert_eq!(first.status(), 200);
    throttled(login_from(&two, &chain("198.51.100.2"), "ada@example.com", PASSWORD).await).await;
}

#[tokio::test]
async fn one_ipv6_64_is_one_client() {
    let server = TestServer::start_with(throttle(|t| t.login_per_ip = 2)).await;
    server.sign_up("ada@example.com").await;
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        let status = login_from(&server, ip, "ada@example.com", PASSWORD)
            .await
            .status();
        assert_eq!(status, 200);
    }
    throttled(
        login_from(
            &server,
            "2001:db8:1:2:ffff:ffff:ffff:3",
            "ada@example.com",
            PASSWORD,
        )
        .await,
    )
    .await;
    let neighbour = login_from(&server, "2001:db8:1:3::1", "ada@example.com", PASSWORD).await;
    assert_eq!(neighbour.status(), 200, "the next /64 is another client");
}

#[tokio::test]
async fn sign_up_refresh_and_feed_have_their_own_budgets() {
    let server = TestServer::start_with(throttle(|t| {
        t.signup_per_ip = 1;
        t.refresh_per_ip = 1;
        t.feed_per_ip = 1;
    }))
    .await;
    server.sign_up("ada@example.com").await;
    let second = client()
        .post(server.url("/v1/users"))
        .json(&serde_json::json!({ "email": "bob@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    throttled(second).await;
    let (_, tokens) = server.login("ada@example.com", PASSWORD).await;
    let refresh = |token: String| {
        let url = server.url("/oauth2/token");
        async move {
            client()
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let first = refresh(tokens["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(first.status(), 200);
    let body: Value = first.json().await.unwrap();
    throttled(refresh(body["refresh_token"].as_str().unwrap().to_owned()).await).await;
    assert_eq!(
        client()
            .get(server.url("/v1/revocations"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    throttled(
        client()
            .get(server.url("/v1/revocations"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (status, _) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "logins are not starved by the other budgets");
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name_and_labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_appear_and_move() {
    let server = TestServer::start().await;
    let scrape = || async {
        let response = client().get(server.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        response.text().await.unwrap()
    };
    let before = scrape().await;
    let tokens = server.user_tokens("ada@example.com").await;
    server.login("ada@example.com", "wrong password").await;
    let first = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    client()
        .post(server.url("/oauth2/token"))
        .form(&first)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5100)).await;
    client()
        .post(server.url("/oauth2/token"))
        .form(&first)
        .send()
        .await
        .unwrap();
    let after = scrape().await;
    let moved = |name: &str| metric(&after, name) - metric(&before, name);
    assert!(moved("signet_tokens_issued_total{grant=\"password\"}") >= 1.0);
    assert!(moved("signet_tokens_issued_total{grant=\"refresh_token\"}") >= 1.0);
    assert!(moved("signet_logins_failed_total") >= 1.0);
    assert!(moved("signet_refresh_reuse_detected_total") >= 1.0);
    assert!(moved("signet_http_requests_total") >= 5.0);
    assert!(
        after.contains("route=\"/oauth2/token\""),
        "routes are templates"
    );
    for name in [
        "signet_http_request_duration_seconds_bucket",
        "signet_password_hash_wait_seconds",
        "signet_password_hash_queue_depth",
    ] {
        assert!(after.contains(name), "{name} missing");
    }
}

#[tokio::test]
async fn client_chosen_methods_do_not_become_metric_labels() {
    let server = TestServer::start().await;
    let methods: Vec<String> = (0..5)
        .map(|i| format!("X{i}{}", uuid::Uuid::new_v4().simple()).repeat(200))
        .collect();
    for method in &methods {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = client()
            .request(method, server.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
    }
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for method in &methods {
        assert!(!metrics.contains(&method[..40]), "raw method in /metrics");
    }
    assert!(
        metrics.contains("method=\"other\""),
        "unknown methods are counted as other"
    );
    assert!(metrics.len() < 200_000, "{} bytes", metrics.len());
}

#[tokio::test]
async fn usernames_cannot_forge_or_flood_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base) = process::serve(dir.path(), &[("SIGNET_LOG", "info")]).await;
    let forged =
        "mallory@example.com\nsignet::audit: event=\"login\" outcome=\"success\" user=forged";
    let long = format!("{}@example.com", "l".repeat(240));
    for username in [forged, long.as_str()] {
        let form = [
            ("grant_type", "password"),
            ("username", username),
            ("password", "wrong password"),
        ];
        let response = client()
            .post(format!("{base}/oauth2/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
    process::terminate(child.id());
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        !logs
            .lines()
            .any(|l| l.trim_start().starts_with("signet::audit")),
        "a forged line: {logs}"
    );
    assert!(
        logs.contains("mallory@example.com\\nsignet::audit"),
        "the line break is escaped: {logs}"
    );
    assert!(!logs.contains(&long), "the username is cut short: {logs}");
    assert!(logs.contains(&format!("{}…", &long[..128])), "{logs}");
}

#[tokio::test]
async fn responses_carry_security_headers_and_no_banner() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    let info = client()
        .get(server.url("/v1/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    for response in [
        info,
        client().get(server.url("/healthz")).send().await.unwrap(),
    ] {
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers.get("server").is_none(), "no server banner");
    }
    let jwks = client()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert!(
        jwks.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
}

#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let envs = [("SIGNET_LOG_FORMAT", "json"), ("SIGNET_LOG", "info")];
    let (child, base) = process::serve(dir.path(), &envs).await;
    let signup = serde_json::json!({ "email": "ada@example.com", "password": PASSWORD });
    client()
        .post(format!("{base}/v1/users"))
        .json(&signup)
        .send()
        .await
        .unwrap();
    let login = [
        ("grant_type", "password"),
        ("username", "ada@example.com"),
        ("password", PASSWORD),
    ];
    let response = client()
        .post(format!("{base}/oauth2/token"))
        .header("x-request-id", "req-4711")
        .form(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-4711");
    process::terminate(child.id());
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["request_id"] == "req-4711")
        .collect();
    assert!(
        of_request.len() >= 2,
        "the audit event and the response line: {logs}"
    );
    let audit = of_request
        .iter()
        .find(|l| l["fields"]["event"] == "login")
        .expect("an audit event for the login");
    assert_eq!(audit["fields"]["outcome"], "success");
    assert!(!logs.contains(PASSWORD));
}

#[tokio::test]
async fn sigterm_lets_a_slow_request_finish_and_ends_long_polls() {
    let dir = tempfile::tempdir().unwrap();
    // An expensive hash makes the login slow enough to be in flight.
    let envs = [
        ("SIGNET_ARGON2__MEMORY_KIB", "65536"),
        ("SIGNET_ARGON2__ITERATIONS", "8"),
    ];
    let (child, base) = process::serve(dir.path(), &envs).await;
    let signup = serde_json::json!({ "email": "ada@example.com", "password": PASSWORD });
    let response = client()
        .post(format!("{base}/v1/users"))
        .json(&signup)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let poll_url = format!("{base}/v1/revocations?wait=30");
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let status = client().get(poll_url).send().await.unwrap().status();
        (status, started.elapsed())
    });
    let login_url = format!("{base}/oauth2/token");
    let login = tokio::spawn(async move {
        let form = [
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ];
        client()
            .post(login_url)
            .form(&form)
            .send()
            .await
            .map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    process::terminate(child.id());

    let (status, waited) = poll.await.unwrap();
    assert_eq!(status, 200);
    assert!(
        waited < Duration::from_secs(10),
        "the long poll ended at shutdown ({waited:?})"
    );
    let login = login
        .await
        .unwrap()
        .expect("the in-flight login got its answer");
    assert_eq!(login, 200);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// RFC 7009 revocation of `token` from the client address `ip`.
async fn revoke_from(server: &TestServer, ip: &str, token: &str) -> reqwest::Response {
    client()
        .post(server.url("/oauth2/revoke"))
        .header("x-forwarded-for", ip)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

/// The attack: one account refreshes and revokes each new access token,
/// every revocation adding an entry to every guard's list. Revocations are
/// limited per address, and per session whatever the address.
#[tokio::test]
async fn revocations_are_limited_per_address_and_per_session() {
    let server = TestServer::start_with(throttle(|t| {
        t.revoke_per_ip = 5;
        t.revoke_per_session = 2;
    }))
    .await;
    for _ in 0..5 {
        let response = revoke_from(&server, "10.0.0.1", "junk").await;
        assert_eq!(response.status(), 200);
    }
    throttled(revoke_from(&server, "10.0.0.1", "junk").await).await;

    let tokens = server.user_tokens("ada@example.com").await;
    let mut refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let mut accesses = vec![tokens["access_token"].as_str().unwrap().to_owned()];
    for _ in 0..2 {
        let (status, next) = server.refresh(&refresh).await;
        assert_eq!(status, 200, "{next}");
        refresh = next["refresh_token"].as_str().unwrap().to_owned();
        accesses.push(next["access_token"].as_str().unwrap().to_owned());
    }
    for (i, access) in accesses[..2].iter().enumerate() {
        let response = revoke_from(&server, &format!("10.0.1.{i}"), access).await;
        assert_eq!(response.status(), 200);
    }
    throttled(revoke_from(&server, "10.0.1.9", &accesses[2]).await).await;
    let feed = server.get_json("/v1/revocations").await;
    assert_eq!(feed["entries"].as_array().unwrap().len(), 2, "{feed}");

    let (_, other) = server.login("ada@example.com", PASSWORD).await;
    let response = revoke_from(&server, "10.0.1.9", other["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200, "another session has its own budget");
}

/// Each client_credentials token is recorded until it expires (so removing
/// the client can revoke it): grants are limited per client, which bounds
/// those records, and one client's budget is not another's.
#[tokio::test]
async fn client_credentials_grants_are_limited_per_client() {
    let server = TestServer::start_with(throttle(|t| t.tokens_per_client = 2)).await;
    let grant = |id: String, secret: String, ip: &'static str| {
        let url = server.url("/oauth2/token");
        async move {
            client()
                .post(url)
                .header("x-forwarded-for", ip)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
        }
    };
    let busy = server.state.clients.add("busy", "", "api").await.unwrap();
    let calm = server.state.clients.add("calm", "", "api").await.unwrap();
    for ip in ["10.0.0.1", "10.0.0.2"] {
        let response = grant(busy.client.id.clone(), busy.secret.clone(), ip).await;
        assert_eq!(response.status(), 200);
    }
    throttled(grant(busy.client.id.clone(), busy.secret.clone(), "10.0.0.3").await).await;
    let response = grant(calm.client.id.clone(), calm.secret.clone(), "10.0.0.3").await;
    assert_eq!(response.status(), 200);
    let wrong = grant(busy.client.id.clone(), "wrong".into(), "10.0.0.4").await;
    assert_eq!(wrong.status(), 401, "authentication comes first");
}
