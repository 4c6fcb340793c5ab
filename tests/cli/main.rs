//! The `signet` binary as users run it: commands, exit codes, and logs.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/process.rs"]
mod process;
#[path = "../common/webhooks.rs"]
mod receiver;

mod claims;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{PASSWORD, TestServer, client};
use process::{signet, succeeds, terminate};

fn run_with_stdin(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn signet");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn users_add_works_beside_a_running_server() {
    let server = TestServer::start().await;
    let mut command = signet(&server.path());
    command.args([
        "users",
        "add",
        "grace@example.com",
        "--password-stdin",
        "--scope",
        "admin read",
    ]);
    let output = run_with_stdin(command, &format!("{PASSWORD}\n"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["email"], "grace@example.com");
    assert_eq!(printed["scope"], "admin read");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(PASSWORD));

    let (status, body) = server.login("grace@example.com", PASSWORD).await;
    assert_eq!(status, 200);
    assert_eq!(body["scope"], "admin read");

    let mut again = signet(&server.path());
    again.args(["users", "add", "grace@example.com", "--password-stdin"]);
    let output = run_with_stdin(again, &format!("{PASSWORD}\n"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one-line message: {stderr}"
    );
}

#[tokio::test]
async fn users_reset_link_prints_a_token_that_resets_the_password() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    let token = succeeds(&server.path(), &["users", "reset-link", "ADA@example.com"])
        .trim()
        .to_owned();
    assert_eq!(token.len(), 43, "only the token, 256 bits in base64url");

    let new_password = "a brand new passphrase";
    let body = serde_json::json!({ "token": token, "new_password": new_password });
    let reset = server.post_json("/v1/password/reset", &body).await;
    assert_eq!(reset.status(), 204);
    assert_eq!(server.login("ada@example.com", PASSWORD).await.0, 400);
    assert_eq!(server.login("ada@example.com", new_password).await.0, 200);
    let (status, _) = server
        .refresh(tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 400, "the reset ended the earlier session");
    assert_eq!(
        server.post_json("/v1/password/reset", &body).await.status(),
        400,
        "single use"
    );

    let output = signet(&server.path())
        .args(["users", "reset-link", "nobody@example.com"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn an_event_survives_a_crash_of_signet() {
    let receiver = receiver::Receiver::start().await;
    receiver.answer(500);
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let envs = [
        ("SIGNET_WEBHOOK_URL", url.as_str()),
        ("SIGNET_WEBHOOK_SECRET", receiver::SECRET),
        ("SIGNET_WEBHOOK_MAX_BACKOFF", "2s"),
    ];
    let (mut child, base) = process::serve(dir.path(), &envs).await;
    let signed_up = client()
        .post(format!("{base}/v1/users"))
        .json(&serde_json::json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 201);
    let attempt = receiver.wait_until("an attempt", |d| !d.is_empty()).await[0].clone();
    // Past the answer's bookkeeping and before the next attempt (1 s later).
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    receiver.answer(204);
    let (mut child, _) = process::serve(dir.path(), &envs).await;
    let delivered = receiver.event("user.created", "ada@example.com").await;
    assert_eq!(delivered.id, attempt.id, "the same event after the crash");
    receiver
        .event("email.verification_requested", "ada@example.com")
        .await;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn users_add_without_a_terminal_needs_password_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = signet(dir.path());
    command.args(["users", "add", "grace@example.com"]);
    let output = run_with_stdin(command, "");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--password-stdin"));
}

#[tokio::test]
async fn keys_list_and_token_inspect() {
    let server = TestServer::start_with(|c| c.set_issuer("http://127.0.0.1:8080")).await;
    let kid = server.state.keys.current().active().kid.clone();
    let listing = succeeds(&server.path(), &["keys", "list"]);
    let row = listing
        .lines()
        .find(|l| l.starts_with(&kid))
        .expect("the key is listed");
    assert!(row.contains("EdDSA") && row.contains("active"), "{row}");

    let tokens = server.user_tokens("ada@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    let output = signet(&server.path())
        .args(["token", "inspect", token])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("\"typ\":\"at+jwt\"") && printed.contains("verdict: valid"),
        "{printed}"
    );

    let mut forged = token.to_owned();
    forged.truncate(token.len() - 4);
    forged.push_str("AAAA");
    let output = signet(&server.path())
        .args(["token", "inspect", &forged])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("verdict: invalid"));
    let output = signet(&server.path())
        .args(["token", "inspect", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn bad_settings_and_usage_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let output = signet(dir.path())
        .env("SIGNET_ACCESS_TTL", "fifteen")
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SIGNET_ACCESS_TTL: `fifteen`"), "{stderr}");

    let output = signet(dir.path()).arg("frobnicate").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// A guard accepts a token until `exp` plus its leeway; entries pruned
/// sooner would let revoked tokens back in, so such a margin never starts.
#[test]
fn a_revocation_margin_below_the_guard_leeway_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = signet(dir.path())
        .env("SIGNET_REVOCATION_MARGIN", "10s")
        .env("SIGNET_LISTEN", "127.0.0.1:0")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the server started with a 10s revocation margin");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SIGNET_REVOCATION_MARGIN"), "{stderr}");
}

#[test]
fn a_wildcard_listen_without_an_issuer_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let mut child = signet(dir.path())
            .env("SIGNET_LISTEN", listen)
            .arg("serve")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("signet served on {listen} without an issuer");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{listen}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("SIGNET_ISSUER / issuer is required"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn a_plain_http_issuer_outside_loopback_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _) =
        process::serve(dir.path(), &[("SIGNET_ISSUER", "http://auth.example.com")]).await;
    terminate(child.id());
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        logs.contains("WARN") && logs.contains("the issuer is plain http outside loopback"),
        "{logs}"
    );
}

#[tokio::test]
async fn server_logs_hold_no_password_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let created = signet(dir.path())
        .args(["clients", "add", "billing"])
        .output()
        .unwrap();
    assert!(created.status.success());
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let client_secret = created["client_secret"].as_str().unwrap().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let child = signet(dir.path())
        .env("SIGNET_LISTEN", format!("127.0.0.1:{port}"))
        .env("SIGNET_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = client();
    let mut ready = false;
    for _ in 0..600 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "server did not start");
    let signup = serde_json::json!({ "email": "ada@example.com", "password": PASSWORD });
    http.post(format!("{base}/v1/users"))
        .json(&signup)
        .send()
        .await
        .unwrap();
    let wrong = [
        ("grant_type", "password"),
        ("username", "ada@example.com"),
        ("password", "wrong secret 42"),
    ];
    http.post(format!("{base}/oauth2/token"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    let login = [
        ("grant_type", "password"),
        ("username", "ada@example.com"),
        ("password", PASSWORD),
    ];
    let tokens: serde_json::Value = http
        .post(format!("{base}/oauth2/token"))
        .form(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let response = http
        .get(format!("{base}/v1/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let service = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", client_secret.as_str()),
    ];
    let response = http
        .post(format!("{base}/oauth2/token"))
        .form(&service)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let wrong = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", "wrong-client-secret"),
    ];
    let response = http
        .post(format!("{base}/oauth2/token"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = http
        .post(format!("{base}/oauth2/introspect"))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    terminate(child.id());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "SIGTERM ends the server cleanly");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        logs.contains("signet listening"),
        "logs were captured: {logs}"
    );
    let signature = access.rsplit('.').next().unwrap();
    for secret in [
        PASSWORD,
        "wrong secret 42",
        access,
        signature,
        refresh,
        &client_secret,
        "wrong-client-secret",
    ] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
}

#[tokio::test]
async fn users_disable_revokes_sessions_and_refuses_logins() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    succeeds(&server.path(), &["users", "disable", "ADA@example.com"]);

    let (status, body) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    let response = client()
        .post(server.url("/oauth2/token"))
        .form(&refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let access = tokens["access_token"].as_str().unwrap();
    let response = client()
        .get(server.url("/v1/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let feed: serde_json::Value = client()
        .get(server.url("/v1/revocations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        feed["entries"].as_array().unwrap().len(),
        1,
        "the CLI's revocation is in the feed"
    );

    let output = signet(&server.path())
        .args(["users", "disable", "nobody@example.com"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn a_long_poll_wakes_for_a_revocation_made_by_the_cli() {
    let server = TestServer::start().await;
    server.user_tokens("ada@example.com").await;
    let first: serde_json::Value = client()
        .get(server.url("/v1/revocations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = server.url(&format!(
        "/v1/revocations?after={}&wait=20",
        first["cursor"].as_str().unwrap()
    ));
    let started = std::time::Instant::now();
    let poll = tokio::spawn(async move {
        client()
            .get(url)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    succeeds(&server.path(), &["users", "disable", "ada@example.com"]);
    let page = poll.await.unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn clients_add_list_and_remove() {
    let server = TestServer::start().await;
    let created: serde_json::Value = serde_json::from_str(&succeeds(
        &server.path(),
        &[
            "clients",
            "add",
            "billing",
            "--scope",
            "invoices:read",
            "--audience",
            "billing-api",
        ],
    ))
    .unwrap();
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "256-bit secret");

    let listing = signet(&server.path())
        .args(["clients", "list"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains(id) && listing.contains("billing-api"),
        "{listing}"
    );
    assert!(!listing.contains(secret), "secrets are printed once only");

    assert_eq!(client_token_status(&server, id, secret).await, 200);
    let token = client_token(&server, id, secret).await;
    let asker = server.state.clients.add("asker", "", "api").await.unwrap();
    let active = || async {
        let answer: serde_json::Value = client()
            .post(server.url("/oauth2/introspect"))
            .basic_auth(&asker.client.id, Some(&asker.secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["active"].as_bool().unwrap()
    };
    assert!(active().await);

    let removed = signet(&server.path())
        .args(["clients", "remove", id])
        .output()
        .unwrap();
    assert!(removed.status.success());
    assert_eq!(client_token_status(&server, id, secret).await, 401);
    assert!(!active().await, "the removed client's token is revoked too");
    let again = signet(&server.path())
        .args(["clients", "remove", id])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
}

#[tokio::test]
async fn keys_rotate_routine_and_emergency() {
    let server = TestServer::start().await;
    let old = server.state.keys.current().active().kid.clone();
    let printed = succeeds(&server.path(), &["keys", "rotate", "--alg", "ES256"]);
    assert!(
        printed.contains("added ES256 key") && printed.contains(&old),
        "{printed}"
    );
    let listing = signet(&server.path())
        .args(["keys", "list"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    let states: Vec<&str> = listing
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(states, ["active", "next"], "{listing}");

    let output = signet(&server.path())
        .args(["keys", "rotate", "--revoke"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "--revoke needs --now");
    let printed = succeeds(&server.path(), &["keys", "rotate", "--now", "--revoke"]);
    assert!(
        printed.contains("revoked key") && printed.contains("refused"),
        "{printed}"
    );
    let listing = signet(&server.path())
        .args(["keys", "list"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert_eq!(
        listing.lines().count(),
        2,
        "only the new key is published: {listing}"
    );
    assert!(listing.lines().nth(1).unwrap().contains("active"));
}

/// A client_credentials grant with HTTP Basic.
async fn client_grant(server: &TestServer, id: &str, secret: &str) -> reqwest::Response {
    client()
        .post(server.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

async fn client_token_status(server: &TestServer, id: &str, secret: &str) -> u16 {
    client_grant(server, id, secret).await.status().as_u16()
}

async fn client_token(server: &TestServer, id: &str, secret: &str) -> String {
    let body: serde_json::Value = client_grant(server, id, secret).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sessions_list_and_revoke() {
    let server = TestServer::start().await;
    let kept = server.user_tokens("ada@example.com").await;
    let (_, ended) = server.login("ada@example.com", PASSWORD).await;
    server.user_tokens("bob@example.com").await;
    let sid = |tokens: &serde_json::Value| {
        let (_, claims) = common::decode_parts(tokens["access_token"].as_str().unwrap());
        claims["sid"].as_str().unwrap().to_owned()
    };

    let stdout = succeeds(&server.path(), &["sessions", "list", "Ada@Example.com"]);
    let mut listed: Vec<String> = stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .map(|entry| entry["sid"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    let mut expected = vec![sid(&kept), sid(&ended)];
    expected.sort();
    assert_eq!(listed, expected, "ada's sessions only: {stdout}");
    for secret in ["access_token", "refresh_token"] {
        assert!(!stdout.contains(kept[secret].as_str().unwrap()));
    }

    succeeds(&server.path(), &["sessions", "revoke", &sid(&ended)]);
    let refresh = client()
        .post(server.url("/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", ended["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 400);
    let userinfo = client()
        .get(server.url("/v1/userinfo"))
        .bearer_auth(ended["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401, "its access token is revoked too");

    for args in [
        ["sessions", "revoke", sid(&ended).as_str()],
        ["sessions", "list", "nobody@example.com"],
    ] {
        let output = signet(&server.path()).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}
