//! What `/metrics` reads from the database at each scrape: cheap aggregate queries whose
//! answers are the same for every process sharing the database ([`MetricsStore`]).

use async_trait::async_trait;

use crate::db::sql;
use crate::error::Result;
use crate::rows::RecordRow;
use crate::SqlStore;

/// Messages still owed an attempt for one sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderQueue {
    pub tenant_id: String,
    pub sender_id: String,
    pub depth: i64,
}

/// Campaign notifications not delivered: still to try, and given up on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationCounts {
    pub pending: i64,
    pub failed: i64,
}

/// Aggregates for metrics, across all tenants (each row names its tenant).
#[async_trait]
pub trait MetricsStore: Send + Sync {
    /// The queue by sender, as [`crate::SystemStore::queue_depth`] counts it: senders with
    /// nothing owed are left out. Read from the campaigns' counters (not the messages),
    /// plus the single messages' partial index.
    async fn queue_depth_by_sender(&self) -> Result<Vec<SenderQueue>>;
    async fn notification_counts(&self) -> Result<NotificationCounts>;
}

#[async_trait]
impl MetricsStore for SqlStore {
    async fn queue_depth_by_sender(&self) -> Result<Vec<SenderQueue>> {
        let from = self.db.dialect().campaigns();
        let campaigns = self
            .db
            .fetch_all(sql(format!(
                "select tenant_id, sender_id, \
                 cast(coalesce(sum(n_queued + n_claimed + n_sending), 0) as bigint) as n from {from} \
                 where status in ('running', 'paused', 'scheduled', 'draft') group by tenant_id, sender_id"
            )))
            .await?;
        let singles = self
            .db
            .fetch_all(sql("select tenant_id, sender_id, count(*) as n from message \
                 where campaign_id is null and status in ('queued', 'claimed', 'sending') \
                 group by tenant_id, sender_id"))
            .await?;
        let mut by_sender = std::collections::BTreeMap::<(String, String), i64>::new();
        for row in campaigns.iter().chain(&singles) {
            *by_sender
                .entry((row.text("tenant_id")?, row.text("sender_id")?))
                .or_default() += row.int("n")?;
        }
        Ok(by_sender
            .into_iter()
            .filter(|(_, depth)| *depth > 0)
            .map(|((tenant_id, sender_id), depth)| SenderQueue {
                tenant_id,
                sender_id,
                depth,
            })
            .collect())
    }

    async fn notification_counts(&self) -> Result<NotificationCounts> {
        let rows = self
            .db
            .fetch_all(sql("select status, count(*) as n from notification \
                 where status in ('pending', 'failed') group by status"))
            .await?;
        let mut counts = NotificationCounts::default();
        for row in rows {
            match row.text("status")?.as_str() {
                "pending" => counts.pending = row.int("n")?,
                _ => counts.failed = row.int("n")?,
            }
        }
        Ok(counts)
    }
}
