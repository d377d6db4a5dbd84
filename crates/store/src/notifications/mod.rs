//! Outbound notifications: the `notification` outbox of campaign webhooks.
//!
//! A row is written in the same transaction that moves its campaign to a final state
//! ([`enqueue`]); a deliverer claims due rows for one attempt each, POSTs the body signed
//! with the tenant's current webhook secret, and records the result conditional on the
//! attempt number it claimed.

pub mod body;

use async_trait::async_trait;

use crate::db::{sql, Tx};
use crate::error::Result;
use crate::records::{CampaignRecord, Millis, NotificationDelivery, NotificationRecord, NotificationResult};
use crate::SqlStore;
use body::{delivery_from_row, notification_for, notification_from_row, NOTIFICATION_COLUMNS};

/// What the notification deliverer uses.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Claims up to `limit` due pending notifications for one delivery attempt each, across
    /// processes: each claimed one's attempt count goes up and its next attempt moves
    /// `lease_ms` ahead, so no other process takes it while this one delivers (and another
    /// does if this one dies).
    async fn claim_notifications(&self, limit: usize, lease_ms: i64, now: Millis) -> Result<Vec<NotificationDelivery>>;
    /// Records an attempt's result; false (nothing written) when the notification was
    /// claimed again since, or is no longer pending.
    async fn finish_notification(
        &self,
        notification_id: &str,
        attempt: i64,
        result: &NotificationResult,
        now: Millis,
    ) -> Result<bool>;
    /// A campaign's notifications, oldest first.
    async fn list_notifications(&self, tenant_id: &str, campaign_id: &str) -> Result<Vec<NotificationRecord>>;
}

/// Queues the outbound notification of a campaign that has just reached a final state, in
/// the transaction that moved it there (nothing when it has no notification URL).
pub(crate) async fn enqueue(tx: &mut Tx, c: &CampaignRecord, now: Millis) -> Result<()> {
    let Some(n) = notification_for(c, now) else {
        return Ok(());
    };
    tx.execute(
        sql(
            "insert into notification (notification_id, tenant_id, campaign_id, event, url, body, next_attempt_at, \
             created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $7, $7)",
        )
        .bind(n.id)
        .bind(n.tenant_id)
        .bind(n.campaign_id)
        .bind(n.event)
        .bind(n.url)
        .bind(n.body)
        .bind(now),
    )
    .await?;
    Ok(())
}

#[async_trait]
impl NotificationStore for SqlStore {
    async fn claim_notifications(&self, limit: usize, lease_ms: i64, now: Millis) -> Result<Vec<NotificationDelivery>> {
        // Most polls find nothing: look before taking a write lock.
        let due = self
            .db
            .fetch_optional(
                sql("select 1 as due from notification where status = 'pending' and next_attempt_at <= $1 limit 1")
                    .bind(now),
            )
            .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.db.write().await?;
        let d = tx.dialect();
        // SQLite: one writer at a time, across processes too; PostgreSQL: `skip locked`, so
        // processes claiming at once take different rows.
        let chosen = d.in_subquery(
            "notification_id",
            &format!(
                "select notification_id from notification where status = 'pending' and next_attempt_at <= $1 \
                 order by next_attempt_at, notification_id limit $3{}",
                d.skip_locked()
            ),
        );
        let rows = tx
            .fetch_all(
                sql(format!(
                    "update notification set attempts = attempts + 1, next_attempt_at = $1 + $2, updated_at = $1 \
                     where {chosen} \
                     returning notification_id, tenant_id, campaign_id, url, body, attempts, \
                       (select t.webhook_secret from tenant t where t.tenant_id = notification.tenant_id) \
                       as webhook_secret"
                ))
                .bind(now)
                .bind(lease_ms)
                .bind(limit as i64),
            )
            .await?;
        let claimed = rows.iter().map(delivery_from_row).collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn finish_notification(
        &self,
        notification_id: &str,
        attempt: i64,
        result: &NotificationResult,
        now: Millis,
    ) -> Result<bool> {
        let (status, next, error) = match result {
            NotificationResult::Delivered => ("delivered", None, None),
            NotificationResult::Retry { next_attempt_at, error } => {
                ("pending", Some(*next_attempt_at), Some(error.as_str()))
            }
            NotificationResult::Failed { error } => ("failed", None, Some(error.as_str())),
        };
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql(
                    "update notification set status = $1, next_attempt_at = coalesce($2, next_attempt_at), \
                     last_error = $3, delivered_at = case when $1 = 'delivered' then $4 else null end, updated_at = $4 \
                     where notification_id = $5 and attempts = $6 and status = 'pending'",
                )
                .bind(status)
                .bind(next)
                .bind(error)
                .bind(now)
                .bind(notification_id)
                .bind(attempt),
            )
            .await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    async fn list_notifications(&self, tenant_id: &str, campaign_id: &str) -> Result<Vec<NotificationRecord>> {
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select {NOTIFICATION_COLUMNS} from notification where tenant_id = $1 and campaign_id = $2 \
                     order by created_at, notification_id"
                ))
                .bind(tenant_id)
                .bind(campaign_id),
            )
            .await?;
        rows.iter().map(notification_from_row).collect()
    }
}
