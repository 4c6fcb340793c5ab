//! `signet clients remove` (the CLI, another process) reaches guards through
//! the feed: the removed client's tokens are refused within 2 s.

use std::time::{Duration, Instant};

use signet_guard::{GuardError, TokenError};

use crate::common::{TestServer, client};
use crate::process::signet;
use crate::{AUDIENCE, guard_for, verify, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_clients_tokens_are_refused_by_guards_within_2s() {
    let server = TestServer::start().await;
    let created = server
        .state
        .clients
        .add("billing", "", AUDIENCE)
        .await
        .unwrap();
    let kept = server
        .state
        .clients
        .add("other", "", AUDIENCE)
        .await
        .unwrap();
    let token = |client_id: String, secret: String| {
        let url = server.url("/oauth2/token");
        async move {
            let body: serde_json::Value = client()
                .post(url)
                .basic_auth(client_id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let removed_token = token(created.client.id.clone(), created.secret.clone()).await;
    let kept_token = token(kept.client.id.clone(), kept.secret.clone()).await;
    let guard = guard_for(&server).await;
    for token in [&removed_token, &kept_token] {
        assert_eq!(verify(&guard, token).await, Ok(()), "valid before");
    }

    let output = signet(&server.path())
        .args(["clients", "remove", &created.client.id])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // From the removal's commit (the command's exit), not its process start.
    let start = Instant::now();
    let refused = within(
        Duration::from_secs(5),
        Duration::from_millis(50),
        async || {
            verify(&guard, &removed_token).await == Err(GuardError::Token(TokenError::Revoked))
        },
    )
    .await;
    let latency = start.elapsed();
    assert!(refused.is_some(), "never refused");
    eprintln!("clients remove → refused by the guard: {latency:?}");
    assert!(latency < Duration::from_secs(2), "seen after {latency:?}");
    assert_eq!(
        verify(&guard, &kept_token).await,
        Ok(()),
        "other clients untouched"
    );
}
