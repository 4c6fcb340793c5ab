//! RFC 7009 revocation of what is already revoked: the same 200, and no
//! write — no new feed entry, and not even the write lock.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::common::{TestServer, client};

/// Status of an RFC 7009 revocation of `token`, or `None` when no answer
/// came within 3 s (the store waits 5 s for a lock before giving up).
async fn revoke(server: &TestServer, token: &str) -> Option<u16> {
    let response = client()
        .post(server.url("/oauth2/revoke"))
        .timeout(Duration::from_secs(3))
        .form(&[("token", token)])
        .send()
        .await;
    response.ok().map(|r| r.status().as_u16())
}

async fn cursor(server: &TestServer) -> String {
    let feed = server.get_json("/v1/revocations").await;
    feed["cursor"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn revoking_what_is_already_revoked_writes_nothing() {
    let server = TestServer::start().await;
    let tokens = server.user_tokens("ada@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let other = server
        .login("ada@example.com", crate::common::PASSWORD)
        .await
        .1;
    let other = other["access_token"].as_str().unwrap();

    assert_eq!(revoke(&server, other).await, Some(200));
    let after_jti = cursor(&server).await;
    assert_eq!(revoke(&server, other).await, Some(200));
    assert_eq!(
        cursor(&server).await,
        after_jti,
        "the same token twice: one entry"
    );

    assert_eq!(revoke(&server, refresh).await, Some(200));
    let after_sid = cursor(&server).await;
    assert_ne!(after_sid, after_jti);
    assert_eq!(revoke(&server, access).await, Some(200));
    assert_eq!(
        cursor(&server).await,
        after_sid,
        "a token of a revoked session adds no entry"
    );

    // Another writer holds SQLite's write lock: repeated revocations must
    // not queue behind it (a flood of them would otherwise hold the feed).
    let db = server.path().join("data/signet.db");
    let mut writer = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut writer)
        .await
        .unwrap();
    for token in [other, access, refresh] {
        assert_eq!(
            revoke(&server, token).await,
            Some(200),
            "answered without a write"
        );
    }
    sqlx::query("ROLLBACK").execute(&mut writer).await.unwrap();
    writer.close().await.unwrap();
}
