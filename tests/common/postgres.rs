//! PostgreSQL for tests: a fresh database per test on the server named by
//! `SIGNET_TEST_DATABASE_URL`, or a skip with the reason printed.

use sqlx::Connection;

/// The variable CI sets (see `.ci/run`).
pub const URL_VAR: &str = "SIGNET_TEST_DATABASE_URL";

/// A database created for one test; `drop_now` removes it.
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// `None` (with the reason on stderr) when no PostgreSQL is configured.
    pub async fn create(test: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var(URL_VAR) else {
            // Written past the test harness's capture, so the skip is seen.
            let note = format!(
                "skipping {test} on PostgreSQL: {URL_VAR} is not set (CI sets it; see .ci/run)\n"
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
            return None;
        };
        let name = format!("signet_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR} is set but PostgreSQL does not answer: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE (the role needs CREATEDB)");
        let url = replace_database(&admin_url, &name);
        Some(Self {
            url,
            admin_url,
            name,
        })
    }

    /// Drops the database (connections of stopped servers must be closed).
    pub async fn drop_now(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
        }
    }
}

/// `postgres://u:p@host:port/db?x` with `db` replaced.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let head = match base.rfind('/') {
        Some(slash) if slash > "postgres://".len() => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{head}/{name}?{query}"),
        None => format!("{head}/{name}"),
    }
}
