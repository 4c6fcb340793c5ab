//! Key changes reach the guard through the feed (CONTRACT §6, §7), against a
//! real Signet and the real `signet keys rotate` command: a routine rotation
//! refuses no valid token, an emergency `rotate --now --revoke` is honoured
//! within 2 s (cached verifications of the withdrawn key included), and a
//! token living longer than the guard's maximum is refused.

use std::time::{Duration, Instant};

use serde_json::json;
use signet::keys::{self, Rotation};
use signet_guard::Guard;

use crate::common::TestServer;
use crate::process::signet;
use crate::{AUDIENCE, access_token, forge, guard_for, login_again, protected_app, whoami, within};

/// Waits until the clock is past the active key's activation second, so a
/// new key never ties with it (see `jwks.rs`).
async fn past_activation_second(server: &TestServer) {
    let activated = server.state.keys.current().active().meta.activates();
    while chrono::Utc::now().timestamp() <= activated {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Spends the guard's unknown-kid refetch: a token naming an unknown key
/// makes it fetch, and starts the 30 s cooldown.
async fn spend_unknown_kid_refetch(server: &TestServer, app: &str) {
    let mut header = crate::server_header(server);
    header["kid"] = json!("no-such-key");
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": server.base, "sub": "x", "aud": AUDIENCE, "exp": now + 60,
        "iat": now, "jti": "spend", "scope": "", "client_id": "x",
    });
    let token = crate::sign_with_server(server, &header, &claims);
    assert_eq!(whoami(app, &token).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routine_rotation_refuses_no_valid_token() {
    // Publication (2 s) far shorter than the guard's JWKS refresh (≥ 60 s):
    // without key events the new key's first tokens would hit an unknown
    // kid inside the cooldown and be refused.
    let server =
        TestServer::start_with(|c| c.key_publish_delay = Some(Duration::from_secs(2))).await;
    let old_token = access_token(&server, "ada@example.com").await;
    let guard = guard_for(&server).await;
    let app = protected_app(guard.clone()).await;
    spend_unknown_kid_refetch(&server, &app).await;
    past_activation_second(&server).await;
    let old = server.state.keys.current().active().kid.clone();
    let report = keys::rotate(
        &server.path().join("keys"),
        &server.state.config.key_settings(),
        Rotation::Scheduled,
    )
    .unwrap();

    let mut refused = Vec::new();
    let mut new_tokens = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let token = login_again(&server, "ada@example.com").await;
        let signed_by_new = crate::common::decode_parts(&token).0["kid"] == report.new_kid;
        new_tokens += usize::from(signed_by_new);
        for token in [&token, &old_token] {
            let status = whoami(&app, token).await.status();
            if status != 200 {
                refused.push(status);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(new_tokens > 0, "the new key signed within the test");
    assert!(refused.is_empty(), "valid tokens refused: {refused:?}");
    let keys = guard.keys().unwrap();
    assert!(keys.contains(&old) && keys.contains(&report.new_kid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_rotation_is_honoured_by_the_guard_within_2s() {
    let server = TestServer::start().await;
    let leaked = access_token(&server, "ada@example.com").await;
    // A forgery made with the stolen key: a valid signature, a fresh jti.
    let now = chrono::Utc::now().timestamp();
    let forged = forge(
        &server,
        &json!({
            "iss": server.base, "sub": "mallory", "aud": AUDIENCE, "exp": now + 3600,
            "iat": now, "jti": "forged", "scope": "admin", "client_id": "x",
        }),
    );
    let guard = guard_for(&server).await;
    let app = protected_app(guard.clone()).await;
    for token in [&leaked, &forged] {
        assert_eq!(
            whoami(&app, token).await.status(),
            200,
            "verified and cached"
        );
    }
    assert_eq!(guard.status().cached_tokens, 2);
    spend_unknown_kid_refetch(&server, &app).await;
    past_activation_second(&server).await;

    let output = signet(&server.path())
        .args(["keys", "rotate", "--now", "--revoke"])
        .output()
        .unwrap();
    let rotated = Instant::now();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let fresh = within(
        Duration::from_secs(3),
        Duration::from_millis(20),
        async || {
            let token = login_again(&server, "ada@example.com").await;
            whoami(&app, &token).await.status() == 200
                && whoami(&app, &leaked).await.status() == 401
                && whoami(&app, &forged).await.status() == 401
        },
    )
    .await;
    let took = rotated.elapsed();
    assert!(fresh.is_some(), "not honoured after {took:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    eprintln!("emergency rotation honoured by the guard after {took:?}");
}

#[tokio::test]
async fn a_token_living_longer_than_the_guards_maximum_is_refused() {
    let server = TestServer::start().await;
    let guard = Guard::builder(server.base.clone(), AUDIENCE)
        .max_token_lifetime(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let app = protected_app(guard).await;
    let now = chrono::Utc::now().timestamp();
    let lasting = |lifetime: i64, jti: &str| {
        forge(
            &server,
            &json!({
                "iss": server.base, "sub": "mallory", "aud": AUDIENCE, "exp": now + lifetime,
                "iat": now, "jti": jti, "scope": "", "client_id": "x",
            }),
        )
    };
    assert_eq!(whoami(&app, &lasting(3600, "hour")).await.status(), 200);
    let response = whoami(&app, &lasting(3601, "longer")).await;
    crate::assert_invalid_token(response, "exp - iat above the maximum").await;
    // Signet's own tokens (15 min) pass the default maximum (6 h).
    let default = guard_for(&server).await;
    let app = protected_app(default).await;
    assert_eq!(
        whoami(&app, &access_token(&server, "ada@example.com").await)
            .await
            .status(),
        200
    );
    assert_eq!(whoami(&app, &lasting(7 * 3600, "week")).await.status(), 401);
}
