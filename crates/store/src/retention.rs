//! Retention: deleting finished campaigns and single messages once they are old enough,
//! a bounded amount per transaction so that no transaction holds the database for long.

use async_trait::async_trait;

use crate::db::{sql, Ids};
use crate::error::Result;
use crate::records::{Millis, PurgeReport};
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
}
