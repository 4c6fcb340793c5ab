//! One suite for the storage trait, run against SQLite and PostgreSQL.

#[path = "../common/postgres.rs"]
mod pg;

use std::sync::Arc;
use std::time::Duration;

use signet::store::{
    ClaimsOwner, Client, NewSession, NewUser, PoolSettings, RevocationKind, SessionTarget, Store,
    StoreError,
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
            auth_time: 100,
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
            auth_time: 100,
        })
        .await
        .unwrap();
    let before = store.latest_revocation().await.unwrap();
    let revoked = store
        .revoke_sessions(SessionTarget::One(&one), "logout", 10, 99)
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
        .revoke_sessions(SessionTarget::AllOfUser(&user), "logout", 11, 99)
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

async fn claims_and_auth_time(store: Arc<dyn Store>) {
    let (user, sid) = session_for(&store, "ada@example.com", b"c-1").await;
    assert_eq!(store.session(&sid).await.unwrap().unwrap().auth_time, 100);
    assert!(store.set_session_auth_time(&sid, 500).await.unwrap());
    assert_eq!(store.session(&sid).await.unwrap().unwrap().auth_time, 500);
    assert!(!store.set_session_auth_time("nope", 600).await.unwrap());
    store
        .revoke_sessions(SessionTarget::One(&sid), "logout", 10, 20)
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
