//! One suite for the storage trait, run against SQLite and PostgreSQL.

#[path = "../common/postgres.rs"]
mod pg;

use std::sync::Arc;
use std::time::Duration;

use signet::store::{
    AccountToken, Client, NewEvent, NewSession, NewUser, PasswordChange, PasswordReset,
    PoolSettings, RevocationKind, SessionTarget, SessionsToEnd, Store, StoreError, TokenPurpose,
};

const POOL: PoolSettings = PoolSettings {
    max_connections: 8,
    timeout: Duration::from_secs(5),
};

/// A store plus whatever keeps it alive.
struct Backend {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    db: Option<pg::TestDatabase>,
}

impl Backend {
    async fn sqlite() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("signet.db").display());
        let store = signet::store::open(&url, POOL).await.unwrap();
        Some(Self {
            store,
            _dir: Some(dir),
            db: None,
        })
    }

    async fn postgres(test: &str) -> Option<Self> {
        let db = pg::TestDatabase::create(test).await?;
        let store = signet::store::open(&db.url, POOL).await.unwrap();
        Some(Self {
            store,
            _dir: None,
            db: Some(db),
        })
    }

    async fn finish(self) {
        drop(self.store);
        if let Some(db) = self.db {
            db.drop_now().await;
        }
    }
}

/// Runs each test body against both backends.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::Backend::sqlite().await.unwrap();
                    super::$name(backend.store.clone()).await;
                    backend.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(backend) = super::Backend::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(backend.store.clone()).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

store_tests!(
    users,
    clients,
    sessions_and_refresh_tokens,
    only_one_advance_wins,
    revoking_sessions_lists_them,
    the_feed_is_ordered_and_pruned,
    the_outbox_orders_per_user_and_leases,
    concurrent_claims_never_share_an_event,
    account_tokens_are_single_use_and_expire,
    a_password_change_ends_the_chosen_sessions,
    a_reset_verifies_the_email,
);

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.into(),
        password_hash: "$argon2id$dummy".into(),
        scope: "read".into(),
        created_at: 1_700_000_000,
    }
}

async fn users(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    let ada = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    assert!(matches!(
        store.create_user(new_user("ada@example.com")).await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(
        store.user_by_email("ada@example.com").await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(store.user_by_id(&ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.user_by_email("bob@example.com").await.unwrap(), None);
    store
        .update_password_hash(&ada.id, "$argon2id$new")
        .await
        .unwrap();
    assert!(store.set_user_disabled(&ada.id, true).await.unwrap());
    let reread = store.user_by_id(&ada.id).await.unwrap().unwrap();
    assert!(reread.disabled);
    assert_eq!(reread.password_hash, "$argon2id$new");
    assert!(!store.set_user_disabled("nobody", true).await.unwrap());
}

async fn clients(store: Arc<dyn Store>) {
    let client = Client {
        id: "c1".into(),
        name: "billing".into(),
        secret_hash: vec![7; 32],
        scope: "a b".into(),
        audience: "api".into(),
        created_at: 1,
    };
    store.create_client(client.clone()).await.unwrap();
    assert!(matches!(
        store.create_client(client.clone()).await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(store.client("c1").await.unwrap(), Some(client.clone()));
    assert_eq!(store.clients().await.unwrap(), vec![client]);
    assert!(store.remove_client("c1").await.unwrap());
    assert!(!store.remove_client("c1").await.unwrap());
    assert_eq!(store.client("c1").await.unwrap(), None);
}

async fn session_for(store: &Arc<dyn Store>, email: &str, token: &[u8]) -> (String, String) {
    let user = store.create_user(new_user(email)).await.unwrap();
    let sid = uuid::Uuid::new_v4().to_string();
    store
        .create_session(NewSession {
            id: sid.clone(),
            user_id: user.id.clone(),
            client_id: "signet".into(),
            scope: "read".into(),
            nonce: vec![1; 16],
            created_at: 100,
            expires_at: 4_000_000_000,
            first_token_hash: token.to_vec(),
        })
        .await
        .unwrap();
    (user.id, sid)
}

async fn sessions_and_refresh_tokens(store: Arc<dyn Store>) {
    let (user, sid) = session_for(&store, "ada@example.com", b"hash-0").await;
    let (session, generation) = store.session_by_refresh(b"hash-0").await.unwrap().unwrap();
    assert_eq!(
        (session.id.as_str(), session.user_id.as_str(), generation),
        (sid.as_str(), user.as_str(), 0)
    );
    assert_eq!(session.nonce, vec![1; 16]);
    assert_eq!(session.revoked_at, None);

    assert!(
        store
            .advance_session(&sid, 0, b"hash-1", 5_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .advance_session(&sid, 0, b"hash-x", 5_001)
            .await
            .unwrap(),
        "stale generation"
    );
    let (session, generation) = store.session_by_refresh(b"hash-1").await.unwrap().unwrap();
    assert_eq!(
        (session.generation, session.rotated_ms, generation),
        (1, 5_000, 1)
    );
    let (_, old) = store.session_by_refresh(b"hash-0").await.unwrap().unwrap();
    assert_eq!(old, 0, "old tokens stay known, for reuse detection");
    assert!(store.session_by_refresh(b"hash-x").await.unwrap().is_none());
}

async fn only_one_advance_wins(store: Arc<dyn Store>) {
    let (_, sid) = session_for(&store, "ada@example.com", b"race-0").await;
    let racers = (0..8).map(|i| {
        let store = store.clone();
        let sid = sid.clone();
        tokio::spawn(async move {
            store
                .advance_session(&sid, 0, format!("race-{i}-next").as_bytes(), 1)
                .await
        })
    });
    let mut wins = 0;
    for racer in racers {
        if racer.await.unwrap().unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.session(&sid).await.unwrap().unwrap().generation, 1);
}

async fn revoking_sessions_lists_them(store: Arc<dyn Store>) {
    let (user, one) = session_for(&store, "ada@example.com", b"r-1").await;
    let two = uuid::Uuid::new_v4().to_string();
    store
        .create_session(NewSession {
            id: two.clone(),
            user_id: user.clone(),
            client_id: "signet".into(),
            scope: String::new(),
            nonce: vec![2; 16],
            created_at: 100,
            expires_at: 4_000_000_000,
            first_token_hash: b"r-2".to_vec(),
        })
        .await
        .unwrap();
    let before = store.latest_revocation().await.unwrap();
    let revoked = store
        .revoke_sessions(SessionTarget::One(&one), "logout", 10, 99, &no_events)
        .await
        .unwrap();
    assert_eq!(revoked, vec![one.clone()]);
    assert!(store.is_revoked("no-such-jti", Some(&one)).await.unwrap());
    assert!(!store.is_revoked("no-such-jti", Some(&two)).await.unwrap());
    assert!(
        !store
            .advance_session(&one, 0, b"r-1-next", 1)
            .await
            .unwrap(),
        "revoked sessions do not rotate"
    );

    let revoked = store
        .revoke_sessions(
            SessionTarget::AllOfUser(&user),
            "logout",
            11,
            99,
            &no_events,
        )
        .await
        .unwrap();
    assert_eq!(revoked, vec![two.clone()], "only live sessions");
    let session = store.session(&two).await.unwrap().unwrap();
    assert_eq!(
        (session.revoked_at, session.revoked_reason.as_deref()),
        (Some(11), Some("logout"))
    );

    store.revoke_token("jti-1", 99).await.unwrap();
    store.revoke_token("jti-1", 99).await.unwrap();
    assert!(store.is_revoked("jti-1", None).await.unwrap());
    let entries = store.revocations_after(before, 0, 100).await.unwrap();
    let kinds: Vec<_> = entries.iter().map(|e| (e.kind, e.value.as_str())).collect();
    assert_eq!(
        kinds,
        vec![
            (RevocationKind::Sid, one.as_str()),
            (RevocationKind::Sid, two.as_str()),
            (RevocationKind::Jti, "jti-1")
        ]
    );
    assert!(store.latest_revocation().await.unwrap() >= entries.last().unwrap().seq);
}

async fn the_feed_is_ordered_and_pruned(store: Arc<dyn Store>) {
    for (i, exp) in [(1, 50), (2, 500), (3, 5000)] {
        store.revoke_token(&format!("jti-{i}"), exp).await.unwrap();
    }
    let all = store.revocations_after(0, 0, 100).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let after_first = store.revocations_after(all[0].seq, 0, 100).await.unwrap();
    assert_eq!(after_first, all[1..].to_vec());
    let limited = store.revocations_after(0, 0, 1).await.unwrap();
    assert_eq!(limited, all[..1].to_vec());
    let live = store.revocations_after(0, 400, 100).await.unwrap();
    assert_eq!(
        live,
        all[1..].to_vec(),
        "entries expired before the horizon are hidden"
    );

    session_for(&store, "ada@example.com", b"p-0").await;
    let pruned = store.prune(4_000_000_001, 501).await.unwrap();
    assert_eq!((pruned.sessions, pruned.revocations), (1, 2));
    assert_eq!(
        store.revocations_after(0, 0, 100).await.unwrap(),
        all[2..].to_vec()
    );
    assert!(
        store.session_by_refresh(b"p-0").await.unwrap().is_none(),
        "tokens go with their session"
    );
    store.revoke_token("jti-4", 9).await.unwrap();
    let newest = store.revocations_after(0, 0, 100).await.unwrap();
    assert!(
        newest.last().unwrap().seq > all[2].seq,
        "positions are never reused"
    );
}

/// A live session of `user_id`; returns its sid.
async fn new_session(store: &Arc<dyn Store>, user_id: &str) -> String {
    let sid = uuid::Uuid::new_v4().to_string();
    store
        .create_session(NewSession {
            id: sid.clone(),
            user_id: user_id.into(),
            client_id: "signet".into(),
            scope: "read".into(),
            nonce: vec![1; 16],
            created_at: 100,
            expires_at: 10_000,
            first_token_hash: uuid::Uuid::new_v4().as_bytes().to_vec(),
        })
        .await
        .unwrap();
    sid
}

fn no_events(_: &str, _: &[String]) -> Vec<NewEvent> {
    Vec::new()
}

fn event(n: usize, user: &str) -> NewEvent {
    NewEvent {
        id: format!("msg_{n}"),
        user_id: user.into(),
        event_type: "user.created".into(),
        payload: format!("{{\"n\":{n}}}"),
        created_at: 1_000 + n as i64,
    }
}

async fn the_outbox_orders_per_user_and_leases(store: Arc<dyn Store>) {
    store
        .enqueue_events(vec![event(1, "u1"), event(2, "u1"), event(3, "u2")])
        .await
        .unwrap();
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.depth, stats.oldest), (3, Some(1_001)));
    let ids = |events: Vec<signet::store::OutboxEvent>| {
        events.into_iter().map(|e| e.id).collect::<Vec<_>>()
    };
    let first = store.claim_events(1_000, 2_000, 10).await.unwrap();
    assert_eq!(
        ids(first.clone()),
        ["msg_1", "msg_3"],
        "the oldest of each user"
    );
    assert_eq!(first[0].payload, "{\"n\":1}");
    assert!(
        store
            .claim_events(1_000, 2_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    store
        .event_failed(first[0].seq, 1_500, "HTTP 500")
        .await
        .unwrap();
    assert!(
        store
            .claim_events(1_200, 3_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "backing off"
    );
    let retried = store.claim_events(1_600, 3_000, 10).await.unwrap();
    assert_eq!(ids(retried.clone()), ["msg_1"]);
    assert_eq!(retried[0].attempts, 1);
    store.event_delivered(retried[0].seq).await.unwrap();
    assert_eq!(
        ids(store.claim_events(1_600, 3_000, 10).await.unwrap()),
        ["msg_2"]
    );
    // msg_3's claimer never answered (a crash): its lease runs out.
    assert_eq!(
        ids(store.claim_events(2_001, 9_000, 10).await.unwrap()),
        ["msg_3"]
    );
    assert_eq!(store.outbox_stats().await.unwrap().depth, 2);
}

async fn concurrent_claims_never_share_an_event(store: Arc<dyn Store>) {
    let events: Vec<_> = (0..200).map(|n| event(n, &format!("u{n}"))).collect();
    store.enqueue_events(events).await.unwrap();
    let mut claimers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        claimers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_events(1_000, i64::MAX, 5).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|e| e.id));
            }
        });
    }
    let mut all = Vec::new();
    while let Some(mine) = claimers.join_next().await {
        all.extend(mine.unwrap());
    }
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(
        (all.len(), unique.len()),
        (200, 200),
        "each event claimed once"
    );
}

async fn account_tokens_are_single_use_and_expire(store: Arc<dyn Store>) {
    let user = new_user("ada@example.com");
    let token = |hash: u8, purpose, expires_at| AccountToken {
        hash: vec![hash; 32],
        user_id: user.id.clone(),
        purpose,
        expires_at,
    };
    let created = store
        .create_user_with_events(
            user.clone(),
            Some(token(1, TokenPurpose::EmailVerification, 200)),
            vec![event(1, &user.id)],
        )
        .await
        .unwrap();
    assert!(!created.email_verified);
    assert_eq!(
        store.outbox_stats().await.unwrap().depth,
        1,
        "written together"
    );
    assert_eq!(
        store.verify_email(&[1; 32], 200).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store.verify_email(&[2; 32], 100).await.unwrap(),
        None,
        "unknown"
    );
    assert_eq!(
        store.verify_email(&[1; 32], 199).await.unwrap(),
        Some(user.id.clone())
    );
    assert_eq!(
        store.verify_email(&[1; 32], 199).await.unwrap(),
        None,
        "used"
    );
    assert!(
        store
            .user_by_id(&user.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );

    store
        .issue_account_token(token(3, TokenPurpose::PasswordReset, 500), Vec::new())
        .await
        .unwrap();
    store
        .issue_account_token(token(4, TokenPurpose::PasswordReset, 500), Vec::new())
        .await
        .unwrap();
    let sid = new_session(&store, &user.id).await;
    let reset = |hash: &'static [u8], now| PasswordReset {
        token_hash: hash,
        password_hash: "$argon2id$reset",
        now,
        revocation_exp: now + 900,
        reason: "password reset",
    };
    let events = |user: &str, sids: &[String]| {
        sids.iter()
            .enumerate()
            .map(|(n, _)| event(100 + n, user))
            .collect()
    };
    assert_eq!(
        store
            .reset_password(reset(&[3; 32], 100), &events)
            .await
            .unwrap(),
        None,
        "replaced by the newer token"
    );
    assert_eq!(
        store
            .reset_password(reset(&[4; 32], 500), &events)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store
            .reset_password(reset(&[4; 32], 100), &events)
            .await
            .unwrap(),
        Some(user.id.clone())
    );
    assert_eq!(
        store
            .reset_password(reset(&[4; 32], 100), &events)
            .await
            .unwrap(),
        None,
        "used"
    );
    let reread = store.user_by_id(&user.id).await.unwrap().unwrap();
    assert_eq!(reread.password_hash, "$argon2id$reset");
    assert!(
        store
            .session(&sid)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        store.is_revoked("none", Some(&sid)).await.unwrap(),
        "on the revocation list"
    );
    assert_eq!(
        store.outbox_stats().await.unwrap().depth,
        2,
        "one event per revoked session"
    );
}

async fn a_reset_verifies_the_email(store: Arc<dyn Store>) {
    let user = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    assert!(!user.email_verified);
    let token = AccountToken {
        hash: vec![5; 32],
        user_id: user.id.clone(),
        purpose: TokenPurpose::PasswordReset,
        expires_at: 500,
    };
    store.issue_account_token(token, Vec::new()).await.unwrap();
    let reset = PasswordReset {
        token_hash: &[5; 32],
        password_hash: "$argon2id$reset",
        now: 100,
        revocation_exp: 1_000,
        reason: "password reset",
    };
    assert!(
        store
            .reset_password(reset, &no_events)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .user_by_id(&user.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
}

async fn a_password_change_ends_the_chosen_sessions(store: Arc<dyn Store>) {
    let user = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let mut sids = Vec::new();
    for _ in 0..3 {
        sids.push(new_session(&store, &user.id).await);
    }
    let change = |hash, end| PasswordChange {
        user_id: &user.id,
        password_hash: hash,
        end,
        reason: "password changed",
        now: 100,
        revocation_exp: 1_000,
    };
    // password.changed plus one event per ended session, each with its own id.
    let events = |user: &str, sids: &[String]| {
        (0..=sids.len())
            .map(|n| NewEvent {
                id: uuid::Uuid::new_v4().to_string(),
                ..event(n, user)
            })
            .collect()
    };
    let ended = store
        .change_password(change("$argon2id$one", SessionsToEnd::None), &events)
        .await
        .unwrap();
    assert!(ended.is_empty());
    assert_eq!(
        store.outbox_stats().await.unwrap().depth,
        1,
        "password.changed alone"
    );
    let mut ended = store
        .change_password(
            change("$argon2id$two", SessionsToEnd::AllBut(&sids[0])),
            &events,
        )
        .await
        .unwrap();
    ended.sort();
    let mut others = sids[1..].to_vec();
    others.sort();
    assert_eq!(ended, others, "all but the caller's");
    assert!(
        store
            .session(&sids[0])
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert!(store.is_revoked("none", Some(&sids[1])).await.unwrap());
    let reread = store.user_by_id(&user.id).await.unwrap().unwrap();
    assert_eq!(reread.password_hash, "$argon2id$two");
    assert_eq!(
        store.outbox_stats().await.unwrap().depth,
        1 + 3,
        "written together"
    );
    let ended = store
        .change_password(change("$argon2id$three", SessionsToEnd::All), &events)
        .await
        .unwrap();
    assert_eq!(ended, vec![sids[0].clone()]);
}
