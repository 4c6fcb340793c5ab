//! Durable signed webhooks: signatures a receiver can check, order per
//! user, retries with the same `webhook-id`, survival of restarts and
//! receiver outages, and one delivery per event across instances.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use figment::Figment;
use signet::config::Config;

use crate::common::{TestServer, client};
use crate::pg;
use crate::receiver::{Delivery, Receiver, SECRET};

fn kinds(deliveries: &[Delivery]) -> Vec<&str> {
    deliveries.iter().map(Delivery::kind).collect()
}

#[tokio::test]
async fn sign_up_delivers_user_created_then_the_verification_request() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|c| receiver.configure(c)).await;
    let user = server.sign_up("ada@example.com").await;
    let deliveries = receiver
        .wait_until("two deliveries", |d| d.len() >= 2)
        .await;
    assert_eq!(
        kinds(&deliveries),
        ["user.created", "email.verification_requested"]
    );
    for delivery in &deliveries {
        assert!(delivery.id.starts_with("msg_"), "{delivery:?}");
        assert_eq!(delivery.data()["user_id"], user["id"]);
        assert_eq!(delivery.data()["email"], "ada@example.com");
        assert!(delivery.body["timestamp"].is_string());
    }
    assert_ne!(deliveries[0].id, deliveries[1].id);
    let token = deliveries[1].data()["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "256 bits in base64url");
    assert_eq!(receiver.bad_signatures(), 0);

    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "signet_webhook_deliveries_total{outcome=\"delivered\"}",
        "signet_webhook_queue_depth",
        "signet_webhook_oldest_event_age_seconds",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn a_receiver_with_another_secret_refuses_every_delivery() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|c| {
        receiver.configure(c);
        c.webhook_secret = Some("whsec_QW5vdGhlclNlY3JldEFub3RoZXJTZWNyZXQ=".into());
    })
    .await;
    server.sign_up("ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(receiver.bad_signatures() > 0, "the receiver was asked");
    assert!(receiver.deliveries().is_empty(), "and accepted nothing");
}

#[tokio::test]
async fn refused_deliveries_are_retried_with_the_same_id_and_in_order() {
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let server = TestServer::start_with(|c| receiver.configure(c)).await;
    server.sign_up("ada@example.com").await;
    let refused = receiver
        .wait_until("two refused attempts", |d| d.len() >= 2)
        .await;
    assert!(
        refused.iter().all(|d| d.kind() == "user.created"),
        "a user's later event waits behind the one that keeps failing: {refused:#?}"
    );
    receiver.answer(204);
    let accepted = receiver
        .wait_until("both events accepted", |d| {
            d.iter().filter(|d| d.accepted()).count() >= 2
        })
        .await;
    let accepted: Vec<_> = accepted.into_iter().filter(Delivery::accepted).collect();
    assert_eq!(
        kinds(&accepted),
        ["user.created", "email.verification_requested"]
    );
    assert_eq!(accepted[0].id, refused[0].id, "same webhook-id on retry");
    outbox_drains(&server).await;
}

/// Delivered events leave the outbox (just after the receiver's answer).
async fn outbox_drains(server: &TestServer) {
    for _ in 0..100 {
        if server.state.store.outbox_stats().await.unwrap().depth == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("delivered events stay in the outbox");
}

#[tokio::test]
async fn events_survive_a_restart_while_the_receiver_is_down() {
    let mut receiver = Receiver::start().await;
    receiver.answer(500);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_in(dir.clone(), |c| receiver.configure(c)).await;
    server.sign_up("ada@example.com").await;
    let first = receiver.wait_until("an attempt", |d| !d.is_empty()).await[0].clone();
    receiver.down().await;
    let stats = server.state.store.outbox_stats().await.unwrap();
    assert_eq!(stats.depth, 2, "both events kept while undelivered");
    server.stop().await;

    let server = TestServer::start_in(dir, |c| receiver.configure(c)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    receiver.answer(204);
    receiver.up().await;
    let delivered = receiver.event("user.created", "ada@example.com").await;
    assert_eq!(delivered.id, first.id, "the same event, not a new one");
    receiver
        .event("email.verification_requested", "ada@example.com")
        .await;
    assert_eq!(receiver.bad_signatures(), 0);
    outbox_drains(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn two_instances_on_postgres_deliver_each_event_once() {
    let Some(db) = pg::TestDatabase::create("webhooks_two_instances").await else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_millis(30));
    let url = db.url.clone();
    let a = TestServer::start_with(|c| {
        receiver.configure(c);
        c.database_url = url.clone();
    })
    .await;
    let b = TestServer::start_with(|c| {
        receiver.configure(c);
        c.database_url = url.clone();
    })
    .await;
    let users = 12;
    for n in 0..users {
        let server = if n % 2 == 0 { &a } else { &b };
        server.sign_up(&format!("user{n}@example.com")).await;
    }
    let deliveries = receiver
        .wait_until("every event", |d| d.len() >= 2 * users)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deliveries_now = receiver.deliveries();
    assert_eq!(
        deliveries_now.len(),
        deliveries.len(),
        "nothing sent twice later"
    );
    let ids: HashSet<_> = deliveries.iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids.len(), 2 * users, "each event delivered exactly once");
    for n in 0..users {
        let email = format!("user{n}@example.com");
        let of_user: Vec<_> = deliveries
            .iter()
            .filter(|d| d.data()["email"] == email.as_str())
            .collect();
        assert_eq!(
            of_user.iter().map(|d| d.kind()).collect::<Vec<_>>(),
            ["user.created", "email.verification_requested"],
            "in order for {email}"
        );
    }
    a.stop().await;
    b.stop().await;
    db.drop_now().await;
}

#[test]
fn outbound_rules_are_checked_at_start_up() {
    let config = |url: &str, secret: Option<&str>| {
        let mut figment = Figment::new().merge(("webhook_url", url));
        if let Some(secret) = secret {
            figment = figment.merge(("webhook_secret", secret));
        }
        Config::from_figment(figment)
    };
    for url in [
        "http://hooks.example.com/signet",
        "ftp://127.0.0.1/x",
        "https://user:pass@hooks.example.com/",
        "not a url",
    ] {
        let error = config(url, Some(SECRET)).unwrap_err().to_string();
        assert!(error.contains("SIGNET_WEBHOOK_URL"), "{url}: {error}");
    }
    assert!(
        config("https://hooks.example.com/", None).is_err(),
        "secret required"
    );
    assert!(config("https://hooks.example.com/", Some("short")).is_err());
    for url in [
        "https://hooks.example.com/signet",
        "http://127.0.0.1:9000/hooks",
        "http://[::1]:9000/hooks",
        "http://localhost:9000/hooks",
    ] {
        assert!(config(url, Some(SECRET)).is_ok(), "{url}");
    }
    let required = Config::from_figment(Figment::new().merge(("require_verified_email", true)));
    assert!(
        required.is_err(),
        "verification needs a webhook to send tokens"
    );
}

#[tokio::test]
async fn logging_out_reports_each_ended_session() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|c| receiver.configure(c)).await;
    let tokens = server.user_tokens("ada@example.com").await;
    server
        .login("ada@example.com", crate::common::PASSWORD)
        .await;
    let (_, claims) = crate::common::decode_parts(tokens["access_token"].as_str().unwrap());
    let logout = client()
        .post(server.url("/v1/logout"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .json(&serde_json::json!({ "all": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let deliveries = receiver
        .wait_until("two session.revoked", |d| {
            d.iter().filter(|d| d.kind() == "session.revoked").count() >= 2
        })
        .await;
    let revoked: Vec<_> = deliveries
        .iter()
        .filter(|d| d.kind() == "session.revoked")
        .collect();
    assert!(
        revoked
            .iter()
            .all(|d| d.data()["user_id"] == claims["sub"] && d.data()["reason"] == "logout")
    );
    assert!(revoked.iter().any(|d| d.data()["sid"] == claims["sid"]));
}

#[tokio::test]
async fn changing_the_password_reports_it_and_each_ended_session() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with(|c| receiver.configure(c)).await;
    let current = server.user_tokens("ada@example.com").await;
    let (_, other) = server
        .login("ada@example.com", crate::common::PASSWORD)
        .await;
    let sid_of = |tokens: &serde_json::Value| {
        let (_, claims) = crate::common::decode_parts(tokens["access_token"].as_str().unwrap());
        claims["sid"].clone()
    };
    let change = client()
        .post(server.url("/v1/password"))
        .bearer_auth(current["access_token"].as_str().unwrap())
        .json(&serde_json::json!({
            "current_password": crate::common::PASSWORD,
            "new_password": "a brand new passphrase",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), 204);
    let deliveries = receiver
        .wait_until("password.changed and session.revoked", |d| {
            d.iter().any(|d| d.kind() == "password.changed")
                && d.iter().any(|d| d.kind() == "session.revoked")
        })
        .await;
    let revoked: Vec<_> = deliveries
        .iter()
        .filter(|d| d.kind() == "session.revoked")
        .collect();
    assert_eq!(
        revoked.len(),
        1,
        "only the other session ends (default `others`)"
    );
    assert_eq!(revoked[0].data()["sid"], sid_of(&other));
    assert_eq!(revoked[0].data()["reason"], "password change");
    let refresh = |tokens: &serde_json::Value| tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(server.refresh(&refresh(&current)).await.0, 200);
    assert_eq!(server.refresh(&refresh(&other)).await.0, 400);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    receiver.redirect_to(&elsewhere.url());
    let server = TestServer::start_with(|c| receiver.configure(c)).await;
    server.sign_up("ada@example.com").await;
    receiver
        .wait_until("two redirected attempts", |d| d.len() >= 2)
        .await;
    assert!(elsewhere.deliveries().is_empty() && elsewhere.bad_signatures() == 0);
    assert_eq!(
        server.state.store.outbox_stats().await.unwrap().depth,
        2,
        "a redirect is a failed attempt: the events stay"
    );
}
