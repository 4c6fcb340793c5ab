//! The SQL of every store operation, written once. SQLite and PostgreSQL
//! accept the same statements here (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`), so each backend expands [`impl_store!`] over its own pool
//! type and supplies only its connection set-up, `FEED_LOCK` (a statement
//! run inside each transaction that adds revocations, making feed positions
//! commit in order: a reader never skips an entry that commits late) and
//! `FEED_HIGH_WATER` (the highest feed position ever allocated, which
//! pruning does not lower and a restore does).

const USER_COLUMNS: &str = "SELECT id, email, password_hash, scope, disabled, created_at, \
     email_verified, credential_generation FROM users";
const CLIENT_COLUMNS: &str =
    "SELECT id, name, secret_hash, scope, audience, created_at FROM clients";
const SESSION_COLUMNS: &str = "s.id, s.user_id, s.client_id, s.scope, s.nonce, s.created_at, \
     s.expires_at, s.generation, s.rotated_ms, s.revoked_at, s.revoked_reason, \
     s.last_used_at, s.user_agent, s.ip, s.credential_generation, s.access_exp, \
     s.auth_time";

pub(super) fn users_where(condition: &str) -> String {
    format!("{USER_COLUMNS} WHERE {condition}")
}

pub(super) fn clients_where(condition: &str) -> String {
    format!("{CLIENT_COLUMNS} WHERE {condition}")
}

pub(super) fn session_by_id() -> String {
    format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = $1")
}

pub(super) fn session_by_refresh() -> String {
    format!(
        "SELECT {SESSION_COLUMNS}, r.generation AS token_generation
         FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
         WHERE r.token_hash = $1"
    )
}

pub(super) fn live_sessions() -> String {
    format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s
         WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
           AND s.last_used_at > $3
         ORDER BY s.last_used_at DESC, s.id LIMIT $4"
    )
}

/// The revocation of `target`'s live sessions; binds `$3` and, when the
/// second value is given, `$4`. Returns each revoked sid with the latest
/// `exp` of its access tokens.
pub(super) fn revoke_sessions<'a>(
    target: super::SessionTarget<'a>,
) -> (String, &'a str, Option<&'a str>) {
    use super::SessionTarget;
    let (condition, first, second) = match target {
        SessionTarget::One(sid) => ("id = $3", sid, None),
        SessionTarget::AllOfUser(user_id) => ("user_id = $3", user_id, None),
        SessionTarget::OneOfUser { sid, user_id } => {
            ("id = $3 AND user_id = $4", sid, Some(user_id))
        }
        SessionTarget::OthersOfUser { user_id, keep } => {
            ("user_id = $3 AND id <> $4", user_id, Some(keep))
        }
    };
    let sql = format!(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
         WHERE {condition} AND revoked_at IS NULL
         RETURNING id, user_id, COALESCE(access_exp, expires_at)"
    );
    (sql, first, second)
}

/// The table holding `owner`'s custom claims, and its id.
pub(super) fn claims_table(owner: super::ClaimsOwner<'_>) -> (&'static str, &str) {
    match owner {
        super::ClaimsOwner::User(id) => ("users", id),
        super::ClaimsOwner::Client(id) => ("clients", id),
    }
}

pub(super) const INSERT_REVOCATION: &str = "INSERT INTO revocations (kind, value, exp)
     VALUES ($1, $2, $3) ON CONFLICT (kind, value) DO NOTHING";

pub(super) const INSERT_USER: &str =
    "INSERT INTO users (id, email, password_hash, scope, disabled, created_at)
     VALUES ($1, $2, $3, $4, FALSE, $5)";

pub(super) const INSERT_EVENT: &str = "INSERT INTO webhook_outbox
     (id, user_id, event_type, payload, created_at, next_attempt_ms) VALUES ($1, $2, $3, $4, $5, 0)";

pub(super) const INSERT_ACCOUNT_TOKEN: &str =
    "INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, $4)";

/// Deletes a live token, so it works once; returns its user.
pub(super) const CONSUME_ACCOUNT_TOKEN: &str = "DELETE FROM account_tokens
     WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3 RETURNING user_id";

/// Every other token of the user with that purpose stops working too.
pub(super) const DROP_ACCOUNT_TOKENS: &str =
    "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2";

/// The due events that are each the oldest of their user, so a user's
/// events go out in order; `lock` makes concurrent claimers skip rows
/// another instance is claiming.
pub(super) fn claim_events(lock: &str) -> String {
    format!(
        "UPDATE webhook_outbox SET next_attempt_ms = $1 WHERE seq IN (
             SELECT o.seq FROM webhook_outbox o
             WHERE o.next_attempt_ms <= $2 AND NOT EXISTS (
                 SELECT 1 FROM webhook_outbox p WHERE p.user_id = o.user_id AND p.seq < o.seq)
             ORDER BY o.seq LIMIT $3{lock})
         RETURNING seq, id, user_id, event_type, payload, created_at, attempts"
    )
}

/// Revokes the live sessions `$target` names and lists each `sid` until
/// the latest `exp` of its access tokens, inside `$tx`; evaluates to the
/// `(sid, user_id)` pairs.
macro_rules! revoke_sessions_in {
    ($tx:expr, $target:expr, $reason:expr, $now:expr) => {{
        let (sql, first, second) = sql::revoke_sessions($target);
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind($now)
            .bind($reason)
            .bind(first);
        if let Some(second) = second {
            query = query.bind(second);
        }
        let revoked: Vec<(String, String, i64)> = query.fetch_all(&mut *$tx).await?;
        if !revoked.is_empty() {
            if let Some(lock) = FEED_LOCK {
                sqlx::query(lock).execute(&mut *$tx).await?;
            }
        }
        for (sid, _, exp) in &revoked {
            sqlx::query(sql::INSERT_REVOCATION)
                .bind("sid")
                .bind(sid)
                .bind(exp)
                .execute(&mut *$tx)
                .await?;
        }
        revoked
            .into_iter()
            .map(|(sid, user_id, _)| (sid, user_id))
            .collect::<Vec<(String, String)>>()
    }};
}

/// Sets the user's password hash and ends the sessions `$end` names inside
/// `$tx`. Ending any moves the user's credential generation on (a kept
/// session with it), so a session created under the old password meanwhile
/// is refused too. Writes the events made from the sids ended; evaluates to
/// those sids.
macro_rules! set_password_in {
    ($tx:expr, $user:expr, $hash:expr, $end:expr, $reason:expr, $now:expr, $events:expr) => {{
        let user: &str = $user;
        let bump = if matches!($end, SessionsToEnd::None) {
            ""
        } else {
            ", credential_generation = credential_generation + 1"
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET password_hash = $1{bump} WHERE id = $2"
        )))
        .bind($hash)
        .bind(user)
        .execute(&mut *$tx)
        .await?;
        let target = match $end {
            SessionsToEnd::None => None,
            SessionsToEnd::All => Some(SessionTarget::AllOfUser(user)),
            SessionsToEnd::AllBut(keep) => {
                sqlx::query(
                    "UPDATE sessions SET credential_generation =
                     (SELECT credential_generation FROM users WHERE id = $1)
                     WHERE id = $2 AND user_id = $1",
                )
                .bind(user)
                .bind(keep)
                .execute(&mut *$tx)
                .await?;
                Some(SessionTarget::OthersOfUser {
                    user_id: user,
                    keep,
                })
            }
        };
        let sids: Vec<String> = match target {
            Some(target) => revoke_sessions_in!($tx, target, $reason, $now)
                .into_iter()
                .map(|(sid, _)| sid)
                .collect(),
            None => Vec::new(),
        };
        insert_events!($tx, &$events(user, &sids));
        sids
    }};
}

/// Writes outbox events inside the transaction `$tx`.
macro_rules! insert_events {
    ($tx:expr, $events:expr) => {
        for event in $events {
            sqlx::query(sql::INSERT_EVENT)
                .bind(&event.id)
                .bind(&event.user_id)
                .bind(&event.event_type)
                .bind(&event.payload)
                .bind(event.created_at)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// Stores one single-use account token (hashed) inside the transaction.
macro_rules! insert_account_token {
    ($tx:expr, $token:expr) => {
        sqlx::query(sql::INSERT_ACCOUNT_TOKEN)
            .bind(&$token.hash)
            .bind(&$token.user_id)
            .bind($token.purpose.as_str())
            .bind($token.expires_at)
            .execute(&mut *$tx)
            .await?;
    };
}

/// Takes one attempt from a budget row, starting the window over when it has
/// passed; returns no row (and changes nothing) when the budget is spent.
/// `$3` now, `$4` the latest window start that has passed, `$5` the limit.
pub(super) const RESERVE_LOGIN: &str = "INSERT INTO login_attempts
         (account, source, window_start, attempts, succeeded_at) VALUES ($1, $2, $3, 1, NULL)
     ON CONFLICT (account, source) DO UPDATE SET
         attempts = CASE WHEN login_attempts.window_start <= $4 THEN 1
                         ELSE login_attempts.attempts + 1 END,
         window_start = CASE WHEN login_attempts.window_start <= $4 THEN $3
                             ELSE login_attempts.window_start END
     WHERE login_attempts.window_start <= $4 OR login_attempts.attempts < $5
     RETURNING attempts, succeeded_at";

/// The `source` of the row counting attempts from sources unknown to the account.
pub(super) const UNKNOWN_SOURCES: &str = "*";

/// Implements [`super::Store`] for a struct with a `pool` field.
macro_rules! impl_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_user(&self, user: NewUser) -> StoreResult<User> {
                self.create_user_with_events(user, None, Vec::new()).await
            }

            async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
                let sql = sql::users_where("email = $1");
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
                let sql = sql::users_where("id = $1");
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn update_password_hash(
                &self,
                user_id: &str,
                from: &str,
                to: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
                )
                .bind(to)
                .bind(user_id)
                .bind(from)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> StoreResult<bool> {
                let result = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                    .bind(disabled)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn create_client(&self, client: Client) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO clients (id, name, secret_hash, scope, audience, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&client.id)
                .bind(&client.name)
                .bind(&client.secret_hash)
                .bind(&client.scope)
                .bind(&client.audience)
                .bind(client.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn client(&self, id: &str) -> StoreResult<Option<Client>> {
                let sql = sql::clients_where("id = $1");
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn clients(&self) -> StoreResult<Vec<Client>> {
                let sql = sql::clients_where("TRUE ORDER BY created_at, id");
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn remove_client(&self, id: &str) -> StoreResult<Option<u64>> {
                let mut tx = self.pool.begin().await?;
                // Deleted first: the row lock makes a racing issuance wait,
                // then fail its foreign-key check (client_tokens).
                let removed = sqlx::query("DELETE FROM clients WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if removed.rows_affected() == 0 {
                    return Ok(None);
                }
                if let Some(lock) = FEED_LOCK {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                let revoked = sqlx::query(
                    "INSERT INTO revocations (kind, value, exp)
                     SELECT 'jti', jti, exp FROM client_tokens WHERE client_id = $1
                     ON CONFLICT (kind, value) DO NOTHING",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM client_tokens WHERE client_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(revoked.rows_affected()))
            }

            async fn record_client_token(
                &self,
                client_id: &str,
                jti: &str,
                exp: i64,
            ) -> StoreResult<bool> {
                let recorded = sqlx::query(
                    "INSERT INTO client_tokens (jti, client_id, exp) VALUES ($1, $2, $3)",
                )
                .bind(jti)
                .bind(client_id)
                .bind(exp)
                .execute(&self.pool)
                .await;
                match recorded {
                    Ok(_) => Ok(true),
                    Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => Ok(false),
                    Err(error) => Err(error.into()),
                }
            }

            async fn create_session(&self, session: NewSession) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                let created = sqlx::query(
                    "INSERT INTO sessions (id, user_id, client_id, scope, nonce, created_at,
                         expires_at, last_used_at, user_agent, ip, credential_generation,
                         access_exp, auth_time)
                     SELECT $1, $2, $3, $4, $5, $6, $7, $6, $8, $9, $10, $11, $12
                     WHERE EXISTS (SELECT 1 FROM users
                                   WHERE id = $2 AND credential_generation = $10)",
                )
                .bind(&session.id)
                .bind(&session.user_id)
                .bind(&session.client_id)
                .bind(&session.scope)
                .bind(&session.nonce)
                .bind(session.created_at)
                .bind(session.expires_at)
                .bind(&session.client.user_agent)
                .bind(&session.client.ip)
                .bind(session.credential_generation)
                .bind(session.access_exp)
                .bind(session.auth_time)
                .execute(&mut *tx)
                .await?;
                if created.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at)
                     VALUES ($1, $2, 0, $3)",
                )
                .bind(&session.first_token_hash)
                .bind(&session.id)
                .bind(session.created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn session(&self, sid: &str) -> StoreResult<Option<Session>> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql::session_by_id()))
                    .bind(sid)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn live_sessions(
                &self,
                user_id: &str,
                now: i64,
                idle_before: i64,
                limit: u32,
            ) -> StoreResult<Vec<Session>> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql::live_sessions()))
                    .bind(user_id)
                    .bind(now)
                    .bind(idle_before)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn session_by_refresh(
                &self,
                token_hash: &[u8],
            ) -> StoreResult<Option<(Session, i64)>> {
                let row = sqlx::query(sqlx::AssertSqlSafe(sql::session_by_refresh()))
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => {
                        let session = <Session as sqlx::FromRow<_>>::from_row(&row)?;
                        Ok(Some((session, sqlx::Row::try_get(&row, "token_generation")?)))
                    }
                    None => Ok(None),
                }
            }

            async fn advance_session(
                &self,
                sid: &str,
                from: i64,
                next_hash: &[u8],
                now_ms: i64,
                client: &SessionClient,
                access_exp: i64,
            ) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                // Only ever raised: a token issued under a longer lifetime
                // stays covered. NULL (not recorded) stays NULL.
                let moved = sqlx::query(
                    "UPDATE sessions SET generation = generation + 1, rotated_ms = $1,
                         last_used_at = $4, user_agent = $5, ip = $6,
                         access_exp = CASE WHEN access_exp IS NULL OR access_exp >= $7
                                           THEN access_exp ELSE $7 END
                     WHERE id = $2 AND generation = $3 AND revoked_at IS NULL
                       AND credential_generation =
                           (SELECT credential_generation FROM users WHERE id = sessions.user_id)",
                )
                .bind(now_ms)
                .bind(sid)
                .bind(from)
                .bind(now_ms.div_euclid(1000))
                .bind(&client.user_agent)
                .bind(&client.ip)
                .bind(access_exp)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(next_hash)
                .bind(sid)
                .bind(from + 1)
                .bind(now_ms / 1000)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn revoke_sessions(
                &self,
                target: SessionTarget<'_>,
                reason: &str,
                now: i64,
                        events: &EventsFor<'_>,
            ) -> StoreResult<Vec<String>> {
                let mut tx = self.pool.begin().await?;
                let revoked = revoke_sessions_in!(tx, target, reason, now);
                let sids: Vec<String> = revoked.iter().map(|(sid, _)| sid.clone()).collect();
                if let Some((_, user_id)) = revoked.first() {
                    insert_events!(tx, &events(user_id, &sids));
                }
                tx.commit().await?;
                Ok(sids)
            }

            async fn revoke_token(&self, jti: &str, exp: i64) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                if let Some(lock) = FEED_LOCK {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                sqlx::query(sql::INSERT_REVOCATION)
                    .bind("jti")
                    .bind(jti)
                    .bind(exp)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn record_key_change(&self, fingerprint: &str, exp: i64) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                if let Some(lock) = FEED_LOCK {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                let inserted = sqlx::query(sql::INSERT_REVOCATION)
                    .bind("keys")
                    .bind(fingerprint)
                    .bind(exp)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(inserted == 1)
            }

            async fn revocations_after(
                &self,
                after: i64,
                now: i64,
                limit: u32,
            ) -> StoreResult<Vec<Revocation>> {
                let rows: Vec<RevocationRow> = sqlx::query_as(
                    "SELECT seq, kind, value, exp FROM revocations
                     WHERE seq > $1 AND exp >= $2 ORDER BY seq LIMIT $3",
                )
                .bind(after)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(Revocation::try_from).collect()
            }

            async fn is_revoked(&self, jti: &str, sid: Option<&str>) -> StoreResult<bool> {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT seq FROM revocations
                     WHERE (kind = 'jti' AND value = $1) OR (kind = 'sid' AND value = $2) LIMIT 1",
                )
                .bind(jti)
                .bind(sid)
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.is_some())
            }

            async fn count_revocations(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM revocations")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn latest_revocation(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM revocations")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn feed_high_water(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar(FEED_HIGH_WATER)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn latest_key_change(&self) -> StoreResult<Option<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT value FROM revocations WHERE kind = 'keys' ORDER BY seq DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn prune(&self, ended: i64, horizon: i64) -> StoreResult<Pruned> {
                let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                    .bind(ended)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let revocations = sqlx::query("DELETE FROM revocations WHERE exp < $1")
                    .bind(horizon)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let client_tokens = sqlx::query("DELETE FROM client_tokens WHERE exp < $1")
                    .bind(horizon)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(Pruned {
                    sessions,
                    revocations,
                    client_tokens,
                })
            }

            async fn create_user_with_events(
                &self,
                user: NewUser,
                token: Option<AccountToken>,
                events: Vec<NewEvent>,
            ) -> StoreResult<User> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(sql::INSERT_USER)
                    .bind(&user.id)
                    .bind(&user.email)
                    .bind(&user.password_hash)
                    .bind(&user.scope)
                    .bind(user.created_at)
                    .execute(&mut *tx)
                    .await?;
                if let Some(token) = token {
                    insert_account_token!(tx, &token);
                }
                insert_events!(tx, &events);
                tx.commit().await?;
                Ok(User {
                    id: user.id,
                    email: user.email,
                    password_hash: user.password_hash,
                    scope: user.scope,
                    disabled: false,
                    created_at: user.created_at,
                    email_verified: false,
                    credential_generation: 0,
                })
            }

            async fn issue_account_token(
                &self,
                token: AccountToken,
                events: Vec<NewEvent>,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(sql::DROP_ACCOUNT_TOKENS)
                    .bind(&token.user_id)
                    .bind(token.purpose.as_str())
                    .execute(&mut *tx)
                    .await?;
                insert_account_token!(tx, &token);
                insert_events!(tx, &events);
                tx.commit().await?;
                Ok(())
            }

            async fn reserve_login(&self, attempt: &LoginAttempt<'_>) -> StoreResult<Reservation> {
                let expired = attempt.now.saturating_sub(attempt.window_secs);
                // The first statement writes, so SQLite takes its write lock
                // (waiting for others) instead of failing a later upgrade.
                let mut tx = self.pool.begin().await?;
                let budgets = [
                    (attempt.source, attempt.per_source),
                    (sql::UNKNOWN_SOURCES, attempt.per_account),
                ];
                let mut counted = false;
                for (source, limit) in budgets {
                    let taken: Option<(i64, Option<i64>)> = sqlx::query_as(sql::RESERVE_LOGIN)
                        .bind(attempt.account)
                        .bind(source)
                        .bind(attempt.now)
                        .bind(expired)
                        .bind(limit)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some((_, succeeded_at)) = taken else {
                        let started: i64 = sqlx::query_scalar(
                            "SELECT window_start FROM login_attempts WHERE account = $1 AND source = $2",
                        )
                        .bind(attempt.account)
                        .bind(source)
                        .fetch_one(&mut *tx)
                        .await?;
                        tx.rollback().await?;
                        return Ok(Reservation::Refused {
                            retry_at: started.saturating_add(attempt.window_secs),
                        });
                    };
                    if source == sql::UNKNOWN_SOURCES {
                        counted = true;
                    } else if succeeded_at.is_some_and(|at| at >= attempt.known_since) {
                        break;
                    }
                }
                tx.commit().await?;
                Ok(Reservation::Granted { counted })
            }

            async fn settle_login(
                &self,
                account: &[u8],
                source: &str,
                counted: bool,
                succeeded_at: Option<i64>,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                match succeeded_at {
                    Some(at) => sqlx::query(
                        "INSERT INTO login_attempts
                             (account, source, window_start, attempts, succeeded_at)
                             VALUES ($2, $3, $1, 0, $1)
                         ON CONFLICT (account, source) DO UPDATE SET
                             attempts = 0, succeeded_at = excluded.succeeded_at",
                    )
                    .bind(at),
                    None => sqlx::query(
                        "UPDATE login_attempts SET attempts = attempts - 1
                         WHERE account = $1 AND source = $2 AND attempts > 0",
                    ),
                }
                .bind(account)
                .bind(source)
                .execute(&mut *tx)
                .await?;
                if counted {
                    sqlx::query(
                        "UPDATE login_attempts SET attempts = attempts - 1
                         WHERE account = $1 AND source = $2 AND attempts > 0",
                    )
                    .bind(account)
                    .bind(sql::UNKNOWN_SOURCES)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn verify_email(
                &self,
                token_hash: &[u8],
                now: i64,
            ) -> StoreResult<Option<String>> {
                let purpose = TokenPurpose::EmailVerification.as_str();
                let mut tx = self.pool.begin().await?;
                let user: Option<String> = sqlx::query_scalar(sql::CONSUME_ACCOUNT_TOKEN)
                    .bind(token_hash)
                    .bind(purpose)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(user) = user else {
                    return Ok(None);
                };
                sqlx::query("UPDATE users SET email_verified = TRUE WHERE id = $1")
                    .bind(&user)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(sql::DROP_ACCOUNT_TOKENS)
                    .bind(&user)
                    .bind(purpose)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(user))
            }

            async fn reset_password(
                &self,
                reset: PasswordReset<'_>,
                events: &EventsFor<'_>,
            ) -> StoreResult<Option<(String, Vec<String>)>> {
                let purpose = TokenPurpose::PasswordReset.as_str();
                let mut tx = self.pool.begin().await?;
                let user: Option<String> = sqlx::query_scalar(sql::CONSUME_ACCOUNT_TOKEN)
                    .bind(reset.token_hash)
                    .bind(purpose)
                    .bind(reset.now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(user) = user else {
                    return Ok(None);
                };
                sqlx::query(sql::DROP_ACCOUNT_TOKENS)
                    .bind(&user)
                    .bind(purpose)
                    .execute(&mut *tx)
                    .await?;
                // The token reached the user through the address: it is theirs.
                sqlx::query("UPDATE users SET email_verified = TRUE WHERE id = $1")
                    .bind(&user)
                    .execute(&mut *tx)
                    .await?;
                let sids = set_password_in!(
                    tx,
                    user.as_str(),
                    reset.password_hash,
                    SessionsToEnd::All,
                    reset.reason,
                    reset.now,
                    events
                );
                tx.commit().await?;
                Ok(Some((user, sids)))
            }

            async fn change_password(
                &self,
                change: PasswordChange<'_>,
                events: &EventsFor<'_>,
            ) -> StoreResult<Vec<String>> {
                let mut tx = self.pool.begin().await?;
                let sids = set_password_in!(
                    tx,
                    change.user_id,
                    change.password_hash,
                    change.end,
                    change.reason,
                    change.now,
                    events
                );
                tx.commit().await?;
                Ok(sids)
            }

            async fn enqueue_events(&self, events: Vec<NewEvent>) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                insert_events!(tx, &events);
                tx.commit().await?;
                Ok(())
            }

            async fn claim_events(
                &self,
                now_ms: i64,
                lease_until_ms: i64,
                limit: u32,
            ) -> StoreResult<Vec<OutboxEvent>> {
                let mut events: Vec<OutboxEvent> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql::claim_events(CLAIM_LOCK)))
                        .bind(lease_until_ms)
                        .bind(now_ms)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                events.sort_by_key(|event| event.seq);
                Ok(events)
            }

            async fn event_delivered(&self, seq: i64) -> StoreResult<()> {
                sqlx::query("DELETE FROM webhook_outbox WHERE seq = $1")
                    .bind(seq)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn event_failed(
                &self,
                seq: i64,
                retry_at_ms: i64,
                error: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_ms = $1,
                     last_error = $2 WHERE seq = $3",
                )
                .bind(retry_at_ms)
                .bind(error)
                .bind(seq)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
                let (depth, oldest): (i64, Option<i64>) =
                    sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM webhook_outbox")
                        .fetch_one(&self.pool)
                        .await?;
                Ok(OutboxStats { depth, oldest })
            }

            async fn prune_logins(&self, expired: i64, known_since: i64) -> StoreResult<u64> {
                Ok(sqlx::query(
                    "DELETE FROM login_attempts
                     WHERE (window_start <= $1 OR attempts = 0)
                       AND (succeeded_at IS NULL OR succeeded_at < $2)",
                )
                .bind(expired)
                .bind(known_since)
                .execute(&self.pool)
                .await?
                .rows_affected())
            }

            async fn set_session_auth_time(&self, sid: &str, auth_time: i64) -> StoreResult<bool> {
                let result = sqlx::query(
                    "UPDATE sessions SET auth_time = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(auth_time)
                .bind(sid)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn set_claims(&self, owner: ClaimsOwner<'_>, claims: &str) -> StoreResult<bool> {
                let (table, id) = sql::claims_table(owner);
                let sql = format!("UPDATE {table} SET claims = $1 WHERE id = $2");
                let result = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(claims)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn claims(&self, owner: ClaimsOwner<'_>) -> StoreResult<Option<String>> {
                let (table, id) = sql::claims_table(owner);
                let sql = format!("SELECT claims FROM {table} WHERE id = $1");
                Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }
        }
    };
}
