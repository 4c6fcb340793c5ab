//! `protected_api` (CONTRACT §8) with `PROTECTED_COOKIES=true`: the access
//! cookie is accepted and `POST /notes` exercises the CSRF rule.

use std::process::{Command, Stdio};

use crate::common::{TestServer, client};
use crate::{Running, browser_login, example_binary, free_port, wait_healthy};

#[tokio::test]
async fn protected_api_accepts_the_cookie_and_applies_the_csrf_rule() {
    let binary = example_binary("protected_api");
    assert!(
        binary.exists(),
        "no {} (cargo test builds the examples; or cargo build -p signet-guard --examples)",
        binary.display()
    );
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let base = format!("http://127.0.0.1:{}", free_port());
    let _api = Running(
        Command::new(&binary)
            .env("PROTECTED_LISTEN", base.trim_start_matches("http://"))
            .env("SIGNET_ISSUER", &server.base)
            .env("PROTECTED_COOKIES", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start protected_api"),
    );
    wait_healthy(&base).await;
    let me = browser_login(&server, "ada@example.com", false).await;
    let whoami = client()
        .get(format!("{base}/whoami"))
        .header("cookie", me.cookie_header("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);
    let note = |token: Option<&str>| {
        let request = client()
            .post(format!("{base}/notes"))
            .header("cookie", me.cookie_header("/"))
            .header("origin", &base);
        match token {
            Some(token) => request.header("x-csrf-token", token),
            None => request,
        }
        .send()
    };
    assert_eq!(note(Some(&me.csrf)).await.unwrap().status(), 201);
    let refused = note(None).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
}
