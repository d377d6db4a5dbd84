//! Retention: deleting finished campaigns and single messages once they are old enough, and
//! audit rows, idempotency keys, sessions and failed sign-ins once they have served, a
//! bounded amount per transaction so that no transaction holds the database for long.

use async_trait::async_trait;

use crate::db::{sql, Ids};
use crate::error::Result;
use crate::records::{Millis, PurgeReport, DAY_MILLIS};
use crate::rows::{single_purge_limit, RecordRow, FINAL_MESSAGE_STATES};
use crate::SqlStore;

/// What the retention task uses.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Retention, across tenants, in one transaction: from the `limit` finished campaigns
    /// (`completed`, `cancelled`, `failed`) that finished longest ago (`completed_at`, else
    /// their last update) before `before`, up to `limit` × 1,000 of their messages with their
    /// events, and each campaign whose last message went, with its notifications; and up to
    /// `limit` × 1,000 finished single messages (every state but `queued`, `claimed` and
    /// `sending`) last updated before `before`, with their events, oldest first. A campaign
    /// larger than the budget goes over several calls. Replies to a deleted campaign are kept
    /// and lose their campaign link. Campaigns in any other state are never touched. Callers
    /// repeat until the report is empty; a small `limit` keeps each transaction (SQLite's one
    /// writer) short.
    async fn purge_finished(&self, before: Millis, limit: usize) -> Result<PurgeReport>;
    /// Deletes what outlived its use, up to `limit` rows of each kind: audit rows older than
    /// `audit_before`, idempotency keys older than a day, sessions past their end or unused
    /// for `session_idle_ms`, and failed sign-ins older than a day. Returns the rows deleted.
    async fn purge_expired(&self, now: Millis, audit_before: Millis, session_idle_ms: i64, limit: usize)
        -> Result<u64>;
}

fn ids(rows: &[crate::db::DbRow], column: &str) -> Result<Vec<i64>> {
    rows.iter().map(|r| r.int(column)).collect()
}

#[async_trait]
impl RetentionStore for SqlStore {
    async fn purge_finished(&self, before: Millis, limit: usize) -> Result<PurgeReport> {
        let mut tx = self.db.write().await?;
        let d = tx.dialect();
        // PostgreSQL: locked, and skipped when another transaction holds one (a retry, a late
        // status report): never waited for, so the lock order cannot deadlock; the next run
        // takes it.
        let campaigns = tx
            .fetch_all(
                sql(format!(
                    "select campaign_id from campaign where status in ('completed', 'cancelled', 'failed') \
                     and coalesce(completed_at, updated_at) < $1 order by coalesce(completed_at, updated_at) \
                     limit $2{}",
                    d.skip_locked()
                ))
                .bind(before)
                .bind(limit as i64),
            )
            .await?;
        let listed = d.in_list("message_id", "$1");
        let mut report = PurgeReport::default();
        // A large campaign goes over several transactions, a budget of messages at a time;
        // its row (and so the campaign itself) goes with the last of them.
        let mut budget = single_purge_limit(limit);
        for row in &campaigns {
            if budget == 0 {
                break;
            }
            let campaign_id = row.text("campaign_id")?;
            let messages = ids(
                &tx.fetch_all(
                    sql("select message_id from message where campaign_id = $1 order by message_id limit $2")
                        .bind(&campaign_id)
                        .bind(budget),
                )
                .await?,
                "message_id",
            )?;
            if !messages.is_empty() {
                tx.execute(sql(format!("delete from message_event where {listed}")).bind(Ids(&messages)))
                    .await?;
                report.campaign_messages += tx
                    .execute(sql(format!("delete from message where {listed}")).bind(Ids(&messages)))
                    .await?;
                budget -= messages.len() as i64;
                if budget == 0 {
                    // Perhaps more left: the next transaction looks again.
                    break;
                }
            }
            tx.execute(sql("delete from notification where campaign_id = $1").bind(&campaign_id))
                .await?;
            // Replies are the recipients' own words: kept, without the campaign.
            tx.execute(sql("update inbound_message set campaign_id = null where campaign_id = $1").bind(&campaign_id))
                .await?;
            tx.execute(sql("delete from campaign where campaign_id = $1").bind(&campaign_id))
                .await?;
            report.campaigns += 1;
        }
        let singles = ids(
            &tx.fetch_all(
                sql(format!(
                    "select message_id from message where campaign_id is null and status in ({FINAL_MESSAGE_STATES}) \
                     and updated_at < $1 order by updated_at limit $2{}",
                    d.skip_locked()
                ))
                .bind(before)
                .bind(single_purge_limit(limit)),
            )
            .await?,
            "message_id",
        )?;
        if !singles.is_empty() {
            tx.execute(sql(format!("delete from message_event where {listed}")).bind(Ids(&singles)))
                .await?;
            report.single_messages = tx
                .execute(sql(format!("delete from message where {listed}")).bind(Ids(&singles)))
                .await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    async fn purge_expired(
        &self,
        now: Millis,
        audit_before: Millis,
        session_idle_ms: i64,
        limit: usize,
    ) -> Result<u64> {
        let mut tx = self.db.write().await?;
        let limit = limit as i64;
        let mut deleted = 0;
        deleted += tx
            .execute(
                sql("delete from audit_event where audit_event_id in \
                     (select audit_event_id from audit_event where at < $1 order by audit_event_id limit $2)")
                .bind(audit_before)
                .bind(limit),
            )
            .await?;
        deleted += tx
            .execute(sql("delete from idempotency_key where created_at <= $1").bind(now - DAY_MILLIS))
            .await?;
        deleted += tx
            .execute(
                sql("delete from user_session where expires_at <= $1 or last_seen_at <= $2")
                    .bind(now)
                    .bind(now - session_idle_ms),
            )
            .await?;
        deleted += tx
            .execute(sql("delete from login_failure where at <= $1").bind(now - DAY_MILLIS))
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }
}
