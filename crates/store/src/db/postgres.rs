//! Connecting to PostgreSQL: one pool shared by every read and write of this process.
//!
//! Transactions run at READ COMMITTED and take row locks in the order the crate's lock order
//! gives ([`crate`]), so concurrent writers, in this process and in others, wait for each
//! other instead of deadlocking.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::error::{Result, StoreError};

/// Connects to the database at a `postgres://` (or `postgresql://`) URL with a pool of
/// `pool_size` connections (at least two: a claim made ahead runs beside the current batch).
pub(super) async fn connect(url: &str, pool_size: u32) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url).map_err(|_| StoreError::UnsupportedUrl(url.to_string()))?;
    Ok(PgPoolOptions::new()
        .max_connections(pool_size.max(2))
        .acquire_timeout(Duration::from_secs(60))
        .after_release(|conn, _| Box::pin(super::outside_transaction(conn, false)))
        .connect_with(options)
        .await?)
}
