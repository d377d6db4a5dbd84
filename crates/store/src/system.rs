//! The system: the database's health, the dispatcher processes and the queue, as
//! `GET /api/v1/system` and `/health` show them and dispatchers register in them.

use async_trait::async_trait;

use crate::db::sql;
use crate::error::{Result, StoreError};
use crate::records::{DispatcherInfo, DispatcherRecord, Millis};
use crate::rows::{dispatchers_from_rows, RecordRow};
use crate::SqlStore;

/// The dispatchers' registry and the queue's size.
#[async_trait]
pub trait SystemStore: Send + Sync {
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;
    async fn register_dispatcher(&self, info: &DispatcherInfo) -> Result<()>;
    async fn heartbeat_dispatcher(&self, dispatcher_id: &str, current_rate: f64, now: Millis) -> Result<()>;
    /// Removes a dispatcher and frees its leases at once (graceful exit, or found dead).
    async fn remove_dispatcher(&self, dispatcher_id: &str) -> Result<()>;
    async fn list_dispatchers(&self) -> Result<Vec<DispatcherRecord>>;
    /// Messages still owed an attempt, across all tenants.
    async fn queue_depth(&self) -> Result<i64>;
    async fn running_campaigns(&self) -> Result<i64>;
    /// Whether the database can serve: every migration of this build applied, and a write
    /// (one row of `readiness_probe`) committed now.
    async fn readiness(&self, now: Millis) -> Result<Readiness>;
    /// Writes a consistent copy of the database to `path` while others keep writing
    /// (SQLite; `Unsupported` on PostgreSQL, which has `pg_dump`).
    async fn backup_to(&self, path: &str) -> Result<()>;
}

/// What [`SystemStore::readiness`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Migrations of this build not yet applied (their versions).
    MigrationsPending(Vec<i64>),
    /// The database cannot take writes.
    Unavailable(crate::Unavailability),
}

#[async_trait]
impl SystemStore for SqlStore {
    async fn readiness(&self, now: Millis) -> Result<Readiness> {
        let pending = match self.db.pending_migrations().await {
            Ok(p) => p,
            Err(StoreError::Unavailable(why)) => return Ok(Readiness::Unavailable(why)),
            Err(e) => return Err(e),
        };
        if !pending.is_empty() {
            return Ok(Readiness::MigrationsPending(pending));
        }
        let probe = async {
            let mut tx = self.db.write().await?;
            tx.execute(
                sql("insert into readiness_probe (id, checked_at) values (1, $1) \
                     on conflict (id) do update set checked_at = excluded.checked_at")
                .bind(now),
            )
            .await?;
            tx.commit().await
        };
        match probe.await {
            Ok(()) => Ok(Readiness::Ready),
            Err(StoreError::Unavailable(why)) => Ok(Readiness::Unavailable(why)),
            Err(e) => Err(e),
        }
    }

    async fn backup_to(&self, path: &str) -> Result<()> {
        self.db.backup_to(path).await
    }

    async fn ping(&self) -> Result<()> {
        self.db.fetch_one(sql("select 1 as ok")).await?;
        Ok(())
    }

    async fn register_dispatcher(&self, d: &DispatcherInfo) -> Result<()> {
        let mut tx = self.db.write().await?;
        tx.execute(
            sql(
                "insert into dispatcher (dispatcher_id, host, pid, version, started_at, last_heartbeat_at) \
                 values ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&d.id)
            .bind(&d.host)
            .bind(d.pid)
            .bind(&d.version)
            .bind(d.now),
        )
        .await?;
        tx.commit().await
    }

    async fn heartbeat_dispatcher(&self, dispatcher_id: &str, current_rate: f64, now: Millis) -> Result<()> {
        let mut tx = self.db.write().await?;
        tx.execute(
            sql("update dispatcher set last_heartbeat_at = $1, current_rate = $2 where dispatcher_id = $3")
                .bind(now)
                .bind(current_rate)
                .bind(dispatcher_id),
        )
        .await?;
        tx.commit().await
    }

    async fn remove_dispatcher(&self, dispatcher_id: &str) -> Result<()> {
        let mut tx = self.db.write().await?;
        tx.execute(sql("update sender_lease set expires_at = 0 where owner_id = $1").bind(dispatcher_id))
            .await?;
        tx.execute(sql("delete from dispatcher where dispatcher_id = $1").bind(dispatcher_id))
            .await?;
        tx.commit().await
    }

    async fn list_dispatchers(&self) -> Result<Vec<DispatcherRecord>> {
        let rows = self
            .db
            .fetch_all(sql("select * from dispatcher order by started_at"))
            .await?;
        let leases = self
            .db
            .fetch_all(
                sql("select sender_id, owner_id from sender_lease where expires_at > $1")
                    .bind(chrono::Utc::now().timestamp_millis()),
            )
            .await?;
        dispatchers_from_rows(&rows, &leases)
    }

    async fn queue_depth(&self) -> Result<i64> {
        let from = self.db.dialect().campaigns();
        let campaigns = self
            .db
            .fetch_one(sql(format!(
                "select cast(coalesce(sum(n_queued + n_claimed + n_sending), 0) as bigint) as n from {from} \
                 where status in ('running', 'paused', 'scheduled', 'draft')"
            )))
            .await?
            .int("n")?;
        let singles = self
            .db
            .fetch_one(sql("select count(*) as n from message where campaign_id is null \
                 and status in ('queued', 'claimed', 'sending')"))
            .await?
            .int("n")?;
        Ok(campaigns + singles)
    }

    async fn running_campaigns(&self) -> Result<i64> {
        self.db
            .fetch_one(sql("select count(*) as n from campaign where status = 'running'"))
            .await?
            .int("n")
    }
}
