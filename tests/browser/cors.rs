//! CORS for the configured origins only; a wildcard stops start-up.

use crate::common::{TestServer, client};
use crate::process::signet;

#[tokio::test]
async fn configured_origins_get_credentialed_answers_and_others_none() {
    let server =
        TestServer::start_with(|c| c.cors_origins = vec!["https://app.example".into()]).await;
    let preflight = |origin: &str| {
        client()
            .request(reqwest::Method::OPTIONS, server.url("/v1/browser/refresh"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "x-csrf-token, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert!(allowed.status().is_success());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed_headers = h["access-control-allow-headers"].to_str().unwrap();
    assert!(
        allowed_headers.contains("x-csrf-token"),
        "{allowed_headers}"
    );

    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let simple = client()
        .get(server.url("/healthz"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let foreign = client()
        .get(server.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn without_origins_there_is_no_cors() {
    let server = TestServer::start().await;
    let response = client()
        .get(server.url("/healthz"))
        .header("origin", &server.base)
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[test]
fn a_wildcard_stops_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let output = signet(dir.path())
        .env("SIGNET_CORS_ORIGINS", "*")
        .arg("serve")
        .output()
        .expect("run signet");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SIGNET_CORS_ORIGINS") && stderr.contains('*'),
        "{stderr}"
    );
}
