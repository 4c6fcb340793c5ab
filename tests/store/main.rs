//! One suite for the storage trait, run against SQLite and PostgreSQL.

#[path = "../common/postgres.rs"]
mod pg;

use std::sync::Arc;
use std::time::Duration;

use signet::store::{
    AccountToken, ClaimsOwner, Client, LoginAttempt, NewEvent, NewSession, NewUser, PasswordChange,
    PasswordReset, PoolSettings, Reservation, RevocationKind, SessionClient, SessionTarget,
    SessionsToEnd, Store, StoreError, TokenPurpose,
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
    sessions_record_their_use_and_list_live_ones,
    revocation_targets_stay_within_the_user,
    a_password_change_moves_the_credential_generation,
    a_session_entry_covers_its_longest_token,
    removing_a_client_revokes_its_tokens,
    an_issuance_racing_a_removal_is_revoked_or_refused,
    login_budgets_hold_under_parallel_attempts,
    key_events_are_recorded_once_and_pruning_keeps_the_high_water_mark,
    claims_and_auth_time,
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
        .update_password_hash(&ada.id, "$argon2id$other", "$argon2id$lost")
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_id(&ada.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$dummy",
        "an upgrade of a hash that changed meanwhile does nothing"
    );
    store
        .update_password_hash(&ada.id, "$argon2id$dummy", "$argon2id$new")
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
    assert_eq!(store.remove_client("c1").await.unwrap(), Some(0));
    assert_eq!(store.remove_client("c1").await.unwrap(), None);
    assert_eq!(store.client("c1").await.unwrap(), None);
}

fn new_session(user_id: &str, token: &[u8]) -> NewSession {
    NewSession {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.into(),
        client_id: "signet".into(),
        scope: "read".into(),
        nonce: vec![1; 16],
        created_at: 100,
        expires_at: 4_000_000_000,
        first_token_hash: token.to_vec(),
        credential_generation: 0,
        client: SessionClient::default(),
        access_exp: 1_000,
        auth_time: 100,
    }
}

async fn session_for(store: &Arc<dyn Store>, email: &str, token: &[u8]) -> (String, String) {
    let user = store.create_user(new_user(email)).await.unwrap();
    let session = new_session(&user.id, token);
    let sid = session.id.clone();
    assert!(store.create_session(session).await.unwrap());
    (user.id, sid)
}

const SEEN: fn() -> SessionClient = || SessionClient {
    user_agent: Some("curl/8".into()),
    ip: Some("203.0.113.0/24".into()),
};

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
            .advance_session(&sid, 0, b"hash-1", 5_000, &SEEN(), 900)
            .await
            .unwrap()
    );
    assert!(
        !store
            .advance_session(&sid, 0, b"hash-x", 5_001, &SEEN(), 900)
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
                .advance_session(
                    &sid,
                    0,
                    format!("race-{i}-next").as_bytes(),
                    1,
                    &SEEN(),
                    900,
                )
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
    let mut second = new_session(&user, b"r-2");
    second.access_exp = 2_000;
    let two = second.id.clone();
    assert!(store.create_session(second).await.unwrap());
    let before = store.latest_revocation().await.unwrap();
    let revoked = store
        .revoke_sessions(SessionTarget::One(&one), "logout", 10, &no_events)
        .await
        .unwrap();
    assert_eq!(revoked, vec![one.clone()]);
    assert!(store.is_revoked("no-such-jti", Some(&one)).await.unwrap());
    assert!(!store.is_revoked("no-such-jti", Some(&two)).await.unwrap());
    assert!(
        !store
            .advance_session(&one, 0, b"r-1-next", 1, &SEEN(), 900)
            .await
            .unwrap(),
        "revoked sessions do not rotate"
    );

    let revoked = store
        .revoke_sessions(SessionTarget::AllOfUser(&user), "logout", 11, &no_events)
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
    let kinds: Vec<_> = entries
        .iter()
        .map(|e| (e.kind, e.value.as_str(), e.exp))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (RevocationKind::Sid, one.as_str(), 1_000),
            (RevocationKind::Sid, two.as_str(), 2_000),
            (RevocationKind::Jti, "jti-1", 99)
        ],
        "a sid entry lasts until the latest exp its session issued"
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
async fn live_session(store: &Arc<dyn Store>, user_id: &str) -> String {
    let session = new_session(user_id, uuid::Uuid::new_v4().as_bytes());
    let sid = session.id.clone();
    assert!(store.create_session(session).await.unwrap());
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
    let sid = live_session(&store, &user.id).await;
    let reset = |hash: &'static [u8], now| PasswordReset {
        token_hash: hash,
        password_hash: "$argon2id$reset",
        now,
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
        Some((user.id.clone(), vec![sid.clone()]))
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
    assert_eq!(
        reread.credential_generation, 1,
        "older sessions cannot refresh"
    );
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
        sids.push(live_session(&store, &user.id).await);
    }
    let change = |hash, end| PasswordChange {
        user_id: &user.id,
        password_hash: hash,
        end,
        reason: "password changed",
        now: 100,
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
    let kept = store.session(&sids[0]).await.unwrap().unwrap();
    assert_eq!(
        (reread.credential_generation, kept.credential_generation),
        (1, 1),
        "the kept session moves to the new generation"
    );
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
    let generation = store.user_by_id(&user.id).await.unwrap().unwrap();
    assert_eq!(
        generation.credential_generation, 2,
        "one bump per change that ends sessions"
    );
}

async fn sessions_record_their_use_and_list_live_ones(store: Arc<dyn Store>) {
    let (user, sid) = session_for(&store, "ada@example.com", b"u-0").await;
    let session = store.session(&sid).await.unwrap().unwrap();
    assert_eq!(
        (session.last_used_at, session.user_agent, session.ip),
        (100, None, None),
        "login time and client recorded at creation"
    );
    assert!(
        store
            .advance_session(&sid, 0, b"u-1", 250_900, &SEEN(), 900)
            .await
            .unwrap()
    );
    let session = store.session(&sid).await.unwrap().unwrap();
    assert_eq!(session.last_used_at, 250);
    assert_eq!(session.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(session.ip.as_deref(), Some("203.0.113.0/24"));

    let mut ended = new_session(&user, b"u-ended");
    ended.expires_at = 300;
    assert!(store.create_session(ended).await.unwrap());
    let idle = new_session(&user, b"u-idle");
    let idle_sid = idle.id.clone();
    assert!(store.create_session(idle).await.unwrap());
    let revoked = new_session(&user, b"u-revoked");
    let revoked_sid = revoked.id.clone();
    assert!(store.create_session(revoked).await.unwrap());
    store
        .revoke_sessions(SessionTarget::One(&revoked_sid), "logout", 1, &no_events)
        .await
        .unwrap();
    let (_, bob_sid) = session_for(&store, "bob@example.com", b"u-bob").await;

    // At 400, with sessions unused since 200 counted idle: only `sid` (used
    // at 250) is live; the expired, idle, revoked and bob's ones are not.
    let live = store.live_sessions(&user, 400, 200, 100).await.unwrap();
    assert_eq!(live.iter().map(|s| &s.id).collect::<Vec<_>>(), vec![&sid]);
    let live = store.live_sessions(&user, 200, 0, 100).await.unwrap();
    let mut ids: Vec<_> = live.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids[0], sid, "most recently used first");
    ids.sort();
    let mut expected = vec![sid.clone(), idle_sid];
    expected.extend(
        live.iter()
            .find(|s| s.expires_at == 300)
            .map(|s| s.id.clone()),
    );
    expected.sort();
    assert_eq!(ids, expected);
    assert!(!ids.contains(&bob_sid));
    assert_eq!(
        store.live_sessions(&user, 200, 0, 1).await.unwrap().len(),
        1
    );
}

async fn revocation_targets_stay_within_the_user(store: Arc<dyn Store>) {
    let (ada, one) = session_for(&store, "ada@example.com", b"t-1").await;
    let second = new_session(&ada, b"t-2");
    let two = second.id.clone();
    assert!(store.create_session(second).await.unwrap());
    let (bob, bobs) = session_for(&store, "bob@example.com", b"t-bob").await;

    let target = SessionTarget::OneOfUser {
        sid: &bobs,
        user_id: &ada,
    };
    let revoked = store
        .revoke_sessions(target, "revoked", 1, &no_events)
        .await
        .unwrap();
    assert!(revoked.is_empty(), "another user's session is not touched");
    assert_eq!(
        store.session(&bobs).await.unwrap().unwrap().revoked_at,
        None
    );

    let target = SessionTarget::OthersOfUser {
        user_id: &ada,
        keep: &one,
    };
    let revoked = store
        .revoke_sessions(target, "revoked", 1, &no_events)
        .await
        .unwrap();
    assert_eq!(revoked, vec![two.clone()]);
    let target = SessionTarget::OneOfUser {
        sid: &one,
        user_id: &ada,
    };
    let revoked = store
        .revoke_sessions(target, "revoked", 2, &no_events)
        .await
        .unwrap();
    assert_eq!(revoked, vec![one.clone()]);
    let target = SessionTarget::OthersOfUser {
        user_id: &bob,
        keep: "none",
    };
    let revoked = store
        .revoke_sessions(target, "revoked", 3, &no_events)
        .await
        .unwrap();
    assert_eq!(revoked, vec![bobs]);
}

async fn a_password_change_moves_the_credential_generation(store: Arc<dyn Store>) {
    let (user, kept) = session_for(&store, "ada@example.com", b"g-0").await;
    let second = new_session(&user, b"g-other");
    let other = second.id.clone();
    assert!(store.create_session(second).await.unwrap());

    let change = PasswordChange {
        user_id: &user,
        password_hash: "$argon2id$changed",
        end: SessionsToEnd::AllBut(&kept),
        reason: "password change",
        now: 1,
    };
    assert_eq!(
        store.change_password(change, &no_events).await.unwrap(),
        vec![other.clone()]
    );
    let reread = store.user_by_id(&user).await.unwrap().unwrap();
    assert_eq!(
        (reread.password_hash.as_str(), reread.credential_generation),
        ("$argon2id$changed", 1)
    );
    let session = |sid: String| {
        let store = store.clone();
        async move { store.session(&sid).await.unwrap().unwrap() }
    };
    assert_eq!(session(kept.clone()).await.credential_generation, 1);
    assert_eq!(session(other.clone()).await.credential_generation, 0);

    // Sessions of the old generation neither rotate nor start.
    assert!(
        !store
            .advance_session(&other, 0, b"g-other-1", 1, &SEEN(), 900)
            .await
            .unwrap()
    );
    assert!(
        store
            .advance_session(&kept, 0, b"g-1", 1, &SEEN(), 900)
            .await
            .unwrap()
    );
    let stale = new_session(&user, b"g-stale");
    let stale_sid = stale.id.clone();
    assert!(!store.create_session(stale).await.unwrap());
    assert!(store.session(&stale_sid).await.unwrap().is_none());
    assert!(
        store
            .session_by_refresh(b"g-stale")
            .await
            .unwrap()
            .is_none()
    );
    let mut current = new_session(&user, b"g-new");
    current.credential_generation = 1;
    assert!(store.create_session(current).await.unwrap());
}

async fn a_session_entry_covers_its_longest_token(store: Arc<dyn Store>) {
    let (_, sid) = session_for(&store, "ada@example.com", b"l-0").await;
    assert!(
        store
            .advance_session(&sid, 0, b"l-1", 1, &SEEN(), 5_000)
            .await
            .unwrap()
    );
    // A later token under a shorter lifetime leaves the longer one covered.
    assert!(
        store
            .advance_session(&sid, 1, b"l-2", 2, &SEEN(), 3_000)
            .await
            .unwrap()
    );
    let session = store.session(&sid).await.unwrap().unwrap();
    assert_eq!(session.access_exp, Some(5_000));
    let before = store.latest_revocation().await.unwrap();
    store
        .revoke_sessions(SessionTarget::One(&sid), "logout", 10, &no_events)
        .await
        .unwrap();
    let entries = store.revocations_after(before, 0, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].exp, 5_000);
}

fn client_named(id: &str) -> Client {
    Client {
        id: id.into(),
        name: id.into(),
        secret_hash: vec![7; 32],
        scope: String::new(),
        audience: "api".into(),
        created_at: 1,
    }
}

async fn removing_a_client_revokes_its_tokens(store: Arc<dyn Store>) {
    for id in ["c1", "c2"] {
        store.create_client(client_named(id)).await.unwrap();
    }
    for (client, jti, exp) in [
        ("c1", "j1", 500),
        ("c1", "j2", 600),
        ("c2", "j3", 700),
        ("c2", "j4", 100),
    ] {
        assert!(store.record_client_token(client, jti, exp).await.unwrap());
    }
    let before = store.latest_revocation().await.unwrap();
    assert_eq!(store.remove_client("c1").await.unwrap(), Some(2));
    let entries = store.revocations_after(before, 0, 10).await.unwrap();
    let listed: Vec<_> = entries
        .iter()
        .map(|e| (e.kind, e.value.as_str(), e.exp))
        .collect();
    assert_eq!(
        listed,
        vec![
            (RevocationKind::Jti, "j1", 500),
            (RevocationKind::Jti, "j2", 600)
        ]
    );
    assert!(
        !store.is_revoked("j3", None).await.unwrap(),
        "other clients keep theirs"
    );
    assert!(
        !store.record_client_token("c1", "j5", 800).await.unwrap(),
        "no token is recorded for a removed client"
    );
    let pruned = store.prune(0, 650).await.unwrap();
    assert_eq!((pruned.revocations, pruned.client_tokens), (2, 1));
    assert_eq!(
        store.remove_client("c2").await.unwrap(),
        Some(1),
        "j4 was pruned"
    );
}

async fn an_issuance_racing_a_removal_is_revoked_or_refused(store: Arc<dyn Store>) {
    store.create_client(client_named("racer")).await.unwrap();
    // Each issuer records tokens until it is refused, so the removal lands
    // in the middle of issuances.
    let issuers: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut recorded = Vec::new();
                for n in 0..100_000 {
                    let jti = format!("race-{i}-{n}");
                    if !store
                        .record_client_token("racer", &jti, 9_000)
                        .await
                        .unwrap()
                    {
                        return recorded;
                    }
                    recorded.push(jti);
                }
                panic!("never refused");
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(store.remove_client("racer").await.unwrap().is_some());
    for issuer in issuers {
        for jti in issuer.await.unwrap() {
            assert!(
                store.is_revoked(&jti, None).await.unwrap(),
                "{jti} was handed out and never revoked"
            );
        }
    }
}

const ACCOUNT: [u8; 32] = [7; 32];
const NOW: i64 = 1_800_000_000;

/// An attempt at [`ACCOUNT`] from `source`: 3 per source and 5 from
/// unknown sources per 900 s.
fn attempt(source: &str, now: i64) -> LoginAttempt<'_> {
    LoginAttempt {
        account: &ACCOUNT,
        source,
        now,
        window_secs: 900,
        per_source: 3,
        per_account: 5,
        known_since: now - 86_400,
    }
}

/// Reserves `n` attempts at once, from `sources` in turn.
async fn reserve_at_once(store: &Arc<dyn Store>, sources: &[&str], n: usize) -> Vec<Reservation> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            let source = sources[i % sources.len()].to_owned();
            tokio::spawn(async move { store.reserve_login(&attempt(&source, NOW)).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

fn granted(answers: &[Reservation]) -> usize {
    answers
        .iter()
        .filter(|r| matches!(r, Reservation::Granted { .. }))
        .count()
}

async fn login_budgets_hold_under_parallel_attempts(store: Arc<dyn Store>) {
    // One address, in parallel: exactly its budget.
    let answers = reserve_at_once(&store, &["198.51.100.1"], 20).await;
    assert_eq!(granted(&answers), 3, "{answers:?}");
    assert!(answers.contains(&Reservation::Refused {
        retry_at: NOW + 900
    }));
    // Many addresses, in parallel: the account budget (5, 3 already used).
    let many = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"];
    let answers = reserve_at_once(&store, &many, 16).await;
    assert_eq!(granted(&answers), 2, "{answers:?}");

    // An address the account logged in from is not held by the account
    // budget, only by its own.
    let home = "192.0.2.10";
    store
        .settle_login(&ACCOUNT, home, false, Some(NOW - 60))
        .await
        .unwrap();
    let answers = reserve_at_once(&store, &[home], 6).await;
    assert_eq!(granted(&answers), 3, "{answers:?}");
    assert!(answers.contains(&Reservation::Granted { counted: false }));
    // Giving back an attempt frees one, on both budgets.
    store
        .settle_login(&ACCOUNT, many[0], true, None)
        .await
        .unwrap();
    let again = store.reserve_login(&attempt(many[0], NOW)).await.unwrap();
    assert_eq!(again, Reservation::Granted { counted: true });
    assert!(matches!(
        store.reserve_login(&attempt(many[1], NOW)).await.unwrap(),
        Reservation::Refused { .. }
    ));
    // Other accounts are untouched; the next window starts over.
    let other = [8u8; 32];
    let elsewhere = LoginAttempt {
        account: &other,
        ..attempt(many[1], NOW)
    };
    assert!(matches!(
        store.reserve_login(&elsewhere).await.unwrap(),
        Reservation::Granted { .. }
    ));
    let later = store
        .reserve_login(&attempt(many[1], NOW + 900))
        .await
        .unwrap();
    assert_eq!(later, Reservation::Granted { counted: true });

    // Clean-up keeps known addresses and counts of the current window.
    let pruned = store.prune_logins(NOW, NOW - 86_400).await.unwrap();
    assert!(pruned >= 4, "{pruned}");
    let answers = reserve_at_once(&store, &[home], 3).await;
    assert_eq!(granted(&answers), 0, "the known address's row stays");
    let fresh = store.reserve_login(&attempt(many[2], NOW)).await.unwrap();
    assert_eq!(
        fresh,
        Reservation::Granted { counted: true },
        "pruned counts start over"
    );
}

async fn key_events_are_recorded_once_and_pruning_keeps_the_high_water_mark(store: Arc<dyn Store>) {
    assert_eq!(store.feed_high_water().await.unwrap(), 0);
    assert_eq!(store.latest_key_change().await.unwrap(), None);
    assert!(store.record_key_change("set-a", 100).await.unwrap());
    assert!(
        !store.record_key_change("set-a", 100).await.unwrap(),
        "a second instance recording the same change is a no-op"
    );
    store.revoke_token("jti-1", 100).await.unwrap();
    assert!(store.record_key_change("set-b", 100).await.unwrap());
    assert_eq!(
        store.latest_key_change().await.unwrap().as_deref(),
        Some("set-b")
    );
    let all = store.revocations_after(0, 0, 100).await.unwrap();
    let kinds: Vec<_> = all.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            RevocationKind::Keys,
            RevocationKind::Jti,
            RevocationKind::Keys
        ]
    );
    let newest = all.last().unwrap().seq;
    assert_eq!(store.feed_high_water().await.unwrap(), newest);
    store.prune(0, 1000).await.unwrap();
    assert!(store.revocations_after(0, 0, 100).await.unwrap().is_empty());
    assert_eq!(
        store.feed_high_water().await.unwrap(),
        newest,
        "pruning does not lower the high-water mark"
    );
}

async fn claims_and_auth_time(store: Arc<dyn Store>) {
    let (user, sid) = session_for(&store, "ada@example.com", b"c-1").await;
    assert_eq!(store.session(&sid).await.unwrap().unwrap().auth_time, 100);
    assert!(store.set_session_auth_time(&sid, 500).await.unwrap());
    assert_eq!(store.session(&sid).await.unwrap().unwrap().auth_time, 500);
    assert!(!store.set_session_auth_time("nope", 600).await.unwrap());
    store
        .revoke_sessions(SessionTarget::One(&sid), "logout", 10, &no_events)
        .await
        .unwrap();
    assert!(
        !store.set_session_auth_time(&sid, 700).await.unwrap(),
        "a revoked session cannot be reauthenticated"
    );

    let owner = ClaimsOwner::User(&user);
    assert_eq!(store.claims(owner).await.unwrap().as_deref(), Some("{}"));
    assert!(store.set_claims(owner, r#"{"roles":["a"]}"#).await.unwrap());
    assert_eq!(
        store.claims(owner).await.unwrap().as_deref(),
        Some(r#"{"roles":["a"]}"#)
    );
    assert!(
        !store
            .set_claims(ClaimsOwner::Client(&user), "{}")
            .await
            .unwrap()
    );
    assert_eq!(
        store.claims(ClaimsOwner::Client("nobody")).await.unwrap(),
        None
    );
}
