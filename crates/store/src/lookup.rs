//! Reads by id across tenants, for work pregon does for every tenant at once: the
//! dispatcher, the report writer and the scheduler. The API never uses these; its reads are
//! scoped by tenant.

use async_trait::async_trait;

use crate::db::sql;
use crate::error::Result;
use crate::records::{CampaignRecord, DailyUsage, Millis, SenderRecord, TemplateRecord, DAY_MILLIS};
use crate::rows::{campaign_from_row, sender_from_row, template_from_row, RecordRow, CAMPAIGN_COLUMNS, SENDER_COLUMNS};
use crate::SqlStore;

/// Unscoped reads by id.
#[async_trait]
pub trait Lookup: Send + Sync {
    /// A sender, deleted ones included (their messages still get reports).
    async fn sender_by_id(&self, sender_id: &str) -> Result<SenderRecord>;
    /// A template, deleted ones included: messages keep rendering with the template they
    /// were created with.
    async fn template_by_id(&self, template_id: &str) -> Result<TemplateRecord>;
    async fn campaign_by_id(&self, campaign_id: &str) -> Result<CampaignRecord>;
    /// A limit key's unique recipients over the rolling 24 hours.
    async fn daily_usage(&self, limit_key: &str, now: Millis) -> Result<DailyUsage>;
}

#[async_trait]
impl Lookup for SqlStore {
    async fn sender_by_id(&self, sender_id: &str) -> Result<SenderRecord> {
        let row = self
            .db
            .fetch_one(sql(format!("select {SENDER_COLUMNS} from sender where sender_id = $1")).bind(sender_id))
            .await?;
        sender_from_row(&row)
    }

    async fn template_by_id(&self, template_id: &str) -> Result<TemplateRecord> {
        let row = self
            .db
            .fetch_one(sql("select * from template where template_id = $1").bind(template_id))
            .await?;
        template_from_row(&row)
    }

    async fn campaign_by_id(&self, campaign_id: &str) -> Result<CampaignRecord> {
        let from = self.db.dialect().campaigns();
        let row = self
            .db
            .fetch_one(sql(format!("select {CAMPAIGN_COLUMNS} from {from} where campaign_id = $1")).bind(campaign_id))
            .await?;
        campaign_from_row(&row)
    }

    async fn daily_usage(&self, limit_key: &str, now: Millis) -> Result<DailyUsage> {
        let row = self
            .db
            .fetch_one(
                sql("select count(*) as used, min(last_at) as oldest from daily_recipient \
                     where limit_key = $1 and last_at > $2")
                .bind(limit_key)
                .bind(now - DAY_MILLIS),
            )
            .await?;
        Ok(DailyUsage {
            used: row.int("used")?,
            room_at: row.opt_int("oldest")?.map(|t| t + DAY_MILLIS),
        })
    }
}
