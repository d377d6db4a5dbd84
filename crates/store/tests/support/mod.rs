//! A fresh PostgreSQL database per test, on the local server, dropped when the test ends.
//!
//! The server is `postgres://postgres@127.0.0.1:5432/postgres` (trust auth) unless
//! `PREGON_TEST_POSTGRES_URL` names another. When none answers, tests print a notice and
//! pass, unless `PREGON_REQUIRE_POSTGRES=1`, which makes them fail instead.

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn server_url() -> String {
    std::env::var("PREGON_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_SERVER.to_string())
}

/// The same server URL with another database in its path.
fn with_database(server: &str, database: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[host_start..].find('/') {
        Some(slash) => &base[..host_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{database}?{q}"),
        None => format!("{root}/{database}"),
    }
}

async fn connect(url: &str) -> Result<PgConnection, String> {
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// A database of its own for one test; dropped (connections and all) with the guard.
pub struct TestDatabase {
    pub url: String,
    name: String,
    server: String,
}

impl TestDatabase {
    /// Creates `pregon_test_<random hex>`; `None` (after a notice) when no server answers.
    pub async fn create() -> Option<Self> {
        let server = server_url();
        let mut admin = match connect(&server).await {
            Ok(conn) => conn,
            Err(e) => {
                if std::env::var("PREGON_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                    panic!("no PostgreSQL at {server} ({e}) and PREGON_REQUIRE_POSTGRES=1");
                }
                eprintln!("skipping: no PostgreSQL at {server} ({e})");
                return None;
            }
        };
        let name = format!("pregon_test_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(format!("create database {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        let _ = admin.close().await;
        Some(TestDatabase {
            url: with_database(&server, &name),
            name,
            server,
        })
    }

    /// A connection of the test's own, to look at the rows directly.
    #[allow(dead_code)] // Not every test crate looks.
    pub async fn connect(&self) -> PgConnection {
        connect(&self.url).await.expect("connecting to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let sql = format!("drop database if exists {} with (force)", self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on: use a runtime of
        // its own on another thread. `with (force)` ends the store's pooled connections.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = connect(&server).await?;
                admin.execute(sql.as_str()).await.map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok::<_, String>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

#[test]
fn database_urls_keep_server_and_options() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgresql://u:p@db/x?sslmode=disable", "t1"),
        "postgresql://u:p@db/t1?sslmode=disable"
    );
    assert_eq!(with_database("postgres://db:5433", "t1"), "postgres://db:5433/t1");
}
