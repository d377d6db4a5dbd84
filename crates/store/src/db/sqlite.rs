//! Connecting to SQLite: one file in WAL mode, one writer and a few readers.
//!
//! Writes go through a pool of one connection and start with `BEGIN IMMEDIATE`
//! ([`super::Db::write`]), so writers queue in-process instead of failing with
//! `SQLITE_BUSY`, and another process on the same file waits on the busy timeout. Reads use
//! their own pool and never block writes (WAL).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::error::{Result, StoreError};

/// Rows a writer statement may produce ahead of the task reading them.
const WRITER_ROW_BUFFER: usize = 4_096;

/// Opens (creating if needed) the database at a `sqlite://` URL: its writer and its readers.
pub(super) async fn connect(url: &str) -> Result<(SqlitePool, SqlitePool)> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|_| StoreError::UnsupportedUrl(url.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a committed `sending` survives even a power cut, so a message the provider
        // may have accepted is never silently re-sent. Group commits keep fsyncs few.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(30))
        // 8 MB of page cache per connection (five connections): enough for the hot
        // indexes, small enough to keep the process lean.
        .pragma("cache_size", "-8000")
        .pragma("temp_store", "memory");
    // The writer's batches return up to a few thousand rows (claims, outcomes). With sqlx's
    // default row buffer of 50 the connection's thread stops every 50 rows until the calling
    // task, queued behind the requests in flight, reads them; a buffer the size of a batch
    // lets the statement run through (and the transaction end) at once.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(60))
        .after_release(|conn, _| Box::pin(super::outside_transaction(conn, true)))
        .connect_with(options.clone().row_buffer_size(WRITER_ROW_BUFFER))
        .await?;
    let reader = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options.read_only(true))
        .await?;
    Ok((writer, reader))
}
