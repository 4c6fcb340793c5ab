//! `signet users set-claims` and `signet clients set-claims` beside a
//! running server: the next tokens and introspection carry the claims;
//! refused objects change nothing.

use std::process::Output;

use serde_json::{Value, json};

use crate::common::grants::text;
use crate::common::{PASSWORD, TestServer, decode_parts};
use crate::process::signet;

fn set_claims(server: &TestServer, kind: &str, subject: &str, json: &str) -> Output {
    signet(&server.path())
        .args([kind, "set-claims", subject, json])
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Exit `code` with one line on stderr containing `needle`.
fn assert_refused(output: &Output, code: i32, needle: &str) {
    assert_eq!(output.status.code(), Some(code), "{}", stderr(output));
    let message = stderr(output);
    assert_eq!(message.trim().lines().count(), 1, "one line: {message}");
    assert!(message.contains(needle), "{message}");
    assert!(output.stdout.is_empty());
}

async fn login_claims(server: &TestServer) -> (Value, String) {
    let (status, tokens) = server.login("ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{tokens}");
    let access = text(&tokens, "access_token").to_owned();
    (decode_parts(&access).1, access)
}

#[tokio::test]
async fn users_set_claims_reach_the_next_tokens_and_introspection() {
    let server = TestServer::start().await;
    server.sign_up("ada@example.com").await;
    let (before, _) = login_claims(&server).await;
    assert!(before.get("roles").is_none());

    let output = set_claims(
        &server,
        "users",
        "Ada@Example.com",
        r#"{"roles":["editor"],"tenant":{"id":7}}"#,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["claims"]["roles"], json!(["editor"]));

    let (claims, access) = login_claims(&server).await;
    assert_eq!(claims["roles"], json!(["editor"]));
    assert_eq!(claims["tenant"], json!({ "id": 7 }));
    let introspected = server.introspect(&access).await;
    assert_eq!(introspected["roles"], json!(["editor"]));
    assert_eq!(introspected["tenant"], json!({ "id": 7 }));

    // Refusals name the problem and leave the stored claims alone.
    for (json, needle) in [
        (
            r#"{"roles":["admin"],"sub":"root"}"#,
            "`sub` is a reserved claim",
        ),
        (r#"{"scope":"admin"}"#, "`scope` is a reserved claim"),
        (
            r#"{"email_verified":true}"#,
            "`email_verified` is a reserved claim",
        ),
        ("[1,2]", "must be a JSON object"),
        ("{not json", "must be a JSON object"),
    ] {
        assert_refused(
            &set_claims(&server, "users", "ada@example.com", json),
            2,
            needle,
        );
    }
    let big = json!({ "roles": ["admin"], "blob": "x".repeat(2100) }).to_string();
    assert_refused(
        &set_claims(&server, "users", "ada@example.com", &big),
        2,
        "at most 2048",
    );
    assert_refused(
        &set_claims(&server, "users", "nobody@example.com", r#"{"a":1}"#),
        1,
        "no user with email nobody@example.com",
    );
    let (after, _) = login_claims(&server).await;
    assert_eq!(after["roles"], json!(["editor"]), "nothing changed");
    assert!(after.get("blob").is_none());
}

#[tokio::test]
async fn clients_set_claims_reach_client_credentials_tokens() {
    let server = TestServer::start().await;
    let (id, secret) = server.add_client("reports").await;
    let output = set_claims(&server, "clients", &id, r#"{"team":"billing"}"#);
    assert!(output.status.success(), "{}", stderr(&output));
    let (status, body) = server.client_token(&id, &secret).await;
    assert_eq!(status, 200, "{body}");
    let access = text(&body, "access_token");
    assert_eq!(decode_parts(access).1["team"], "billing");
    assert_eq!(server.introspect(access).await["team"], "billing");

    assert_refused(
        &set_claims(&server, "clients", &id, r#"{"client_id":"other"}"#),
        2,
        "`client_id` is a reserved claim",
    );
    assert_refused(
        &set_claims(&server, "clients", "no-such-client", "{}"),
        1,
        "no client with id no-such-client",
    );
    let (_, body) = server.client_token(&id, &secret).await;
    assert_eq!(
        decode_parts(text(&body, "access_token")).1["team"],
        "billing"
    );
}
