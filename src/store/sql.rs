//! The SQL of every store operation, written once. SQLite and PostgreSQL
//! accept the same statements here (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`), so each backend expands [`impl_store!`] over its own pool
//! type and supplies only its connection set-up and `FEED_LOCK`: a statement
//! run inside each transaction that adds revocations, making feed positions
//! commit in order (a reader never skips an entry that commits late).

const USER_COLUMNS: &str =
    "SELECT id, email, password_hash, scope, disabled, created_at, email_verified FROM users";
const CLIENT_COLUMNS: &str =
    "SELECT id, name, secret_hash, scope, audience, created_at FROM clients";
const SESSION_COLUMNS: &str = "s.id, s.user_id, s.client_id, s.scope, s.nonce, s.created_at, \
     s.expires_at, s.generation, s.rotated_ms, s.revoked_at, s.revoked_reason";

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

pub(super) fn revoke_sessions(column: &str) -> String {
    format!(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
         WHERE {column} = $3 AND id <> $4 AND revoked_at IS NULL RETURNING id, user_id"
    )
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

/// Revokes the live sessions whose `$column` is `$value` (but not the
/// session `$except`; `""` spares none) and lists each `sid` until `$exp`,
/// inside `$tx`; evaluates to the `(sid, user_id)` pairs.
macro_rules! revoke_sessions_in {
    ($tx:expr, $column:expr, $value:expr, $except:expr, $reason:expr, $now:expr, $exp:expr) => {{
        let revoked: Vec<(String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql::revoke_sessions($column)))
                .bind($now)
                .bind($reason)
                .bind($value)
                .bind($except)
                .fetch_all(&mut *$tx)
                .await?;
        if !revoked.is_empty() {
            if let Some(lock) = FEED_LOCK {
                sqlx::query(lock).execute(&mut *$tx).await?;
            }
        }
        for (sid, _) in &revoked {
            sqlx::query(sql::INSERT_REVOCATION)
                .bind("sid")
                .bind(sid)
                .bind($exp)
                .execute(&mut *$tx)
                .await?;
        }
        revoked
    }};
}

/// Sets the user's password hash, ends the user's sessions but `$except`
/// (`None`: ends none) and writes the events made from the sids ended, inside
/// `$tx`; evaluates to those sids.
macro_rules! set_password_in {
    ($tx:expr, $user:expr, $hash:expr, $except:expr, $reason:expr, $now:expr, $exp:expr, $events:expr) => {{
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind($hash)
            .bind($user)
            .execute(&mut *$tx)
            .await?;
        let sids: Vec<String> = match $except {
            Some(except) => revoke_sessions_in!($tx, "user_id", $user, except, $reason, $now, $exp)
                .into_iter()
                .map(|(sid, _)| sid)
                .collect(),
            None => Vec::new(),
        };
        insert_events!($tx, &$events($user, &sids));
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

            async fn update_password_hash(&self, user_id: &str, hash: &str) -> StoreResult<()> {
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(hash)
                    .bind(user_id)
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

            async fn remove_client(&self, id: &str) -> StoreResult<bool> {
                let result = sqlx::query("DELETE FROM clients WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn create_session(&self, session: NewSession) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, client_id, scope, nonce, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&session.id)
                .bind(&session.user_id)
                .bind(&session.client_id)
                .bind(&session.scope)
                .bind(&session.nonce)
                .bind(session.created_at)
                .bind(session.expires_at)
                .execute(&mut *tx)
                .await?;
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
                Ok(())
            }

            async fn session(&self, sid: &str) -> StoreResult<Option<Session>> {
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql::session_by_id()))
                    .bind(sid)
                    .fetch_optional(&self.pool)
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
            ) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                let moved = sqlx::query(
                    "UPDATE sessions SET generation = generation + 1, rotated_ms = $1
                     WHERE id = $2 AND generation = $3 AND revoked_at IS NULL",
                )
                .bind(now_ms)
                .bind(sid)
                .bind(from)
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
                exp: i64,
                events: &EventsFor<'_>,
            ) -> StoreResult<Vec<String>> {
                let (column, value) = match target {
                    SessionTarget::One(sid) => ("id", sid),
                    SessionTarget::AllOfUser(user_id) => ("user_id", user_id),
                };
                let mut tx = self.pool.begin().await?;
                let revoked = revoke_sessions_in!(tx, column, value, "", reason, now, exp);
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
                Ok(Pruned {
                    sessions,
                    revocations,
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
                    sqlx::query(sql::INSERT_ACCOUNT_TOKEN)
                        .bind(&token.hash)
                        .bind(&token.user_id)
                        .bind(token.purpose.as_str())
                        .bind(token.expires_at)
                        .execute(&mut *tx)
                        .await?;
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
                sqlx::query(sql::INSERT_ACCOUNT_TOKEN)
                    .bind(&token.hash)
                    .bind(&token.user_id)
                    .bind(token.purpose.as_str())
                    .bind(token.expires_at)
                    .execute(&mut *tx)
                    .await?;
                insert_events!(tx, &events);
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
            ) -> StoreResult<Option<String>> {
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
                set_password_in!(
                    tx,
                    user.as_str(),
                    reset.password_hash,
                    Some(""),
                    reset.reason,
                    reset.now,
                    reset.revocation_exp,
                    events
                );
                tx.commit().await?;
                Ok(Some(user))
            }

            async fn change_password(
                &self,
                change: PasswordChange<'_>,
                events: &EventsFor<'_>,
            ) -> StoreResult<Vec<String>> {
                let except = match change.end {
                    SessionsToEnd::None => None,
                    SessionsToEnd::All => Some(""),
                    SessionsToEnd::AllBut(sid) => Some(sid),
                };
                let mut tx = self.pool.begin().await?;
                let sids = set_password_in!(
                    tx,
                    change.user_id,
                    change.password_hash,
                    except,
                    change.reason,
                    change.now,
                    change.revocation_exp,
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
        }
    };
}
