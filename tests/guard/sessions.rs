//! Ending a session through `DELETE /v1/sessions…` or a password change
//! reaches the guard through the feed: its access tokens are refused within
//! 2 s, and the caller's current session keeps working.

use serde_json::json;

use crate::common::{PASSWORD, TestServer, client, decode_parts};
use crate::feed::{LIMIT, time_to_refusal};
use crate::{guard_for, login_again, verify};

fn sid(token: &str) -> String {
    let (_, claims) = decode_parts(token);
    claims["sid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_are_refused_by_the_guard_within_2s() {
    let server = TestServer::start().await;
    let guard = guard_for(&server).await;
    let tokens = server.user_tokens("ada@example.com").await;
    let mine = tokens["access_token"].as_str().unwrap().to_owned();
    let ended = login_again(&server, "ada@example.com").await;
    let by_password = login_again(&server, "ada@example.com").await;

    let latency = time_to_refusal(&guard, &ended, async || {
        let response = client()
            .delete(server.url(&format!("/v1/sessions/{}", sid(&ended))))
            .bearer_auth(&mine)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    })
    .await;
    assert!(
        latency < LIMIT,
        "DELETE /v1/sessions/{{sid}} seen after {latency:?}"
    );

    let latency = time_to_refusal(&guard, &by_password, async || {
        let response = client()
            .post(server.url("/v1/password"))
            .bearer_auth(&mine)
            .json(&json!({ "current_password": PASSWORD, "new_password": "another horse battery" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    })
    .await;
    assert!(latency < LIMIT, "password change seen after {latency:?}");
    verify(&guard, &mine).await.unwrap();
}
