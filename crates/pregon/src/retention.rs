//! Retention: finished work older than `PREGON_RETENTION_DAYS` is deleted.
//!
//! A finished campaign (`completed`, `cancelled` or `failed`) goes, once it finished that
//! long ago, with its messages, their events and its notifications; replies to it stay,
//! without the campaign link (they are the recipients' own words, and may be an opt-out's
//! evidence). A finished single message goes once it was last updated that long ago. Work
//! that is not finished (a draft, a scheduled, running or paused campaign; a queued single
//! message) is never touched, however old. `0` days keeps everything.
//!
//! What served its purpose goes too, whatever `PREGON_RETENTION_DAYS` says: idempotency keys
//! after a day, sessions once they ended, failed sign-ins after a day, and audit rows after
//! `PREGON_AUDIT_RETENTION_DAYS` (365 by default; 0 keeps them forever).
//!
//! Every `serve` and `worker` process runs the [`Retention`] task: once shortly after start,
//! then every hour. Processes sharing a database may purge at the same time; each deletion is
//! a transaction of its own (PostgreSQL skips rows another one holds), so they only share the
//! work. Each transaction deletes a few thousand messages at most (a large campaign goes over
//! several, its row with the last), so the SQLite writer is never held for long and
//! dispatch goes on meanwhile.

use std::sync::Arc;

use pregon_store::{PurgeReport, RetentionStore, StoreError};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::RetentionConfig;

/// Milliseconds in a day.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Deletes everything finished before `now` minus `days` days, batch after batch until
/// nothing that old is left; returns what went. `days == 0` deletes nothing.
pub async fn purge(store: &dyn RetentionStore, days: u32, batch: usize, now: i64) -> Result<PurgeReport, StoreError> {
    let mut total = PurgeReport::default();
    if days == 0 {
        return Ok(total);
    }
    let before = now - i64::from(days) * DAY_MS;
    loop {
        let report = store.purge_finished(before, batch.max(1)).await?;
        if report.is_empty() {
            return Ok(total);
        }
        total.add(report);
        // Between two transactions, let the rest of the process at the database.
        tokio::task::yield_now().await;
    }
}

/// Deletes what served its purpose (see the module's documentation), batch after batch;
/// returns the rows deleted.
pub async fn purge_expired(store: &dyn RetentionStore, audit_days: u32, now: i64) -> Result<u64, StoreError> {
    let audit_before = match audit_days {
        0 => i64::MIN,
        days => now - i64::from(days) * DAY_MS,
    };
    let idle = crate::http::auth::SESSION_IDLE.as_millis() as i64;
    let mut total = 0;
    loop {
        let deleted = store.purge_expired(now, audit_before, idle, 5_000).await?;
        total += deleted;
        if deleted == 0 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// The retention task of one process.
pub struct Retention {
    store: Arc<dyn RetentionStore>,
    config: RetentionConfig,
    clock: Arc<dyn Clock>,
}

impl Retention {
    pub fn new(store: Arc<dyn RetentionStore>, config: RetentionConfig, clock: Arc<dyn Clock>) -> Self {
        Retention { store, config, clock }
    }

    /// Purges once shortly after start, then every interval, until `shutdown` (a purge under
    /// way ends with its current transaction).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) {
        if self.config.days == 0 {
            tracing::info!("retention is off (PREGON_RETENTION_DAYS=0): finished work is kept");
        }
        let mut wait = self.config.first_run_after;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = self.config.interval;
            match purge_expired(self.store.as_ref(), self.config.audit_days, self.clock.now_millis()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "retention: deleted expired keys, sessions and audit rows"),
                Err(e) => tracing::warn!(error = %e, "retention: purging expired rows failed; trying again later"),
            }
            if self.config.days == 0 {
                continue;
            }
            let run = purge(
                self.store.as_ref(),
                self.config.days,
                self.config.batch,
                self.clock.now_millis(),
            );
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                result = run => result,
            };
            match result {
                Ok(r) if r.is_empty() => tracing::debug!("retention: nothing to delete"),
                Ok(r) => tracing::info!(
                    days = self.config.days,
                    campaigns = r.campaigns,
                    campaign_messages = r.campaign_messages,
                    single_messages = r.single_messages,
                    "retention: deleted finished work"
                ),
                Err(e) => tracing::warn!(error = %e, "retention: purging failed; trying again at the next run"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use pregon_domain::CampaignStatus;
    use pregon_store::{NewCampaign, NewMessage, NewSingleMessage, SenderRecord, Store, TemplateRecord};

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    async fn store_with_work(dir: &tempfile::TempDir) -> (Arc<dyn Store>, String, String, i64) {
        let store = pregon_store::open(&format!("sqlite://{}/r.db", dir.path().display()))
            .await
            .unwrap();
        let tenant = store.create_tenant("acme", "s", T0).await.unwrap().id;
        let by = pregon_store::Change::by(pregon_store::Actor::cli("test"));
        let sender = SenderRecord {
            id: pregon_domain::id::new_id("snd"),
            tenant_id: tenant.clone(),
            name: "s".into(),
            provider: pregon_domain::ProviderKind::Sandbox,
            phone_number: "+15555550100".into(),
            credentials: vec![],
            base_url: None,
            messages_per_second: 10.0,
            daily_limit: None,
            is_default: true,
            status: pregon_domain::SenderStatus::Active,
            quality_rating: None,
            provider_account: None,
            limit_group: None,
            rate_follows_provider: false,
            throughput_level: None,
            created_at: T0,
            updated_at: T0,
        };
        store.insert_sender(&sender, &by).await.unwrap();
        let template = TemplateRecord {
            id: pregon_domain::id::new_id("tpl"),
            tenant_id: tenant.clone(),
            name: "t".into(),
            language: "es".into(),
            body: "Hola".into(),
            header_image: None,
            twilio_content_sid: None,
            category: pregon_domain::TemplateCategory::Marketing,
            status: pregon_domain::TemplateStatus::Approved,
            quality: pregon_domain::TemplateQuality::Unknown,
            created_at: T0,
        };
        store.insert_template(&template, &by).await.unwrap();
        // Nothing to send: completed at T0.
        let campaign = store
            .create_campaign(
                NewCampaign {
                    expires_at: None,
                    id: pregon_domain::id::new_id("cmp"),
                    tenant_id: tenant.clone(),
                    name: "done".into(),
                    sender_id: sender.id.clone(),
                    template_id: template.id.clone(),
                    status: CampaignStatus::Running,
                    priority: 5,
                    settings: pregon_domain::CampaignSettings::default(),
                    start_at: None,
                    windowed: false,
                    max_attempts: 3,
                    messages: vec![NewMessage {
                        user_id: None,
                        phone: "junk".into(),
                        variables: "{}".into(),
                        skip_reason: Some(pregon_domain::SkipReason::InvalidPhone),
                    }],
                    now: T0,
                },
                &by,
            )
            .await
            .unwrap();
        assert_eq!(campaign.status, CampaignStatus::Completed);
        let single = store
            .insert_single_message(
                NewSingleMessage {
                    user_id: None,
                    expires_at: None,
                    tenant_id: tenant.clone(),
                    sender_id: sender.id,
                    template_id: template.id,
                    phone: "+584121234567".into(),
                    variables: "{}".into(),
                    priority: 5,
                    max_attempts: 3,
                    send_at: T0,
                    now: T0,
                },
                &by,
            )
            .await
            .unwrap();
        store.cancel_message(&tenant, single.id, T0, &by).await.unwrap();
        (store, tenant, campaign.id, single.id)
    }

    #[tokio::test]
    async fn purge_deletes_what_finished_before_the_retention_period_only() {
        let dir = tempfile::tempdir().unwrap();
        let (store, tenant, campaign, single) = store_with_work(&dir).await;
        let day = DAY_MS;
        // Within the period, or retention off: nothing goes.
        assert!(purge(store.as_ref(), 30, 1, T0 + 29 * day).await.unwrap().is_empty());
        assert!(purge(store.as_ref(), 0, 1, T0 + 3_000 * day).await.unwrap().is_empty());
        assert!(store.get_campaign(&tenant, &campaign).await.is_ok());
        // Past it: everything finished goes, batch after batch.
        let report = purge(store.as_ref(), 30, 1, T0 + 30 * day + 1).await.unwrap();
        assert_eq!(
            report,
            PurgeReport {
                campaigns: 1,
                campaign_messages: 1,
                single_messages: 1
            }
        );
        assert!(matches!(
            store.get_campaign(&tenant, &campaign).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.get_message(&tenant, single).await,
            Err(StoreError::NotFound)
        ));
        assert!(store.message_events(single).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_task_purges_shortly_after_start_with_its_clock() {
        let dir = tempfile::tempdir().unwrap();
        let (store, tenant, campaign, _) = store_with_work(&dir).await;
        let clock = crate::clock::ManualClock::new(T0 + 31 * DAY_MS);
        let config = RetentionConfig {
            days: 30,
            audit_days: 365,
            first_run_after: Duration::ZERO,
            interval: Duration::from_secs(3600),
            batch: 2,
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(Retention::new(store.clone(), config, Arc::new(clock)).run_until_stopped(stop.clone()));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while store.get_campaign(&tenant, &campaign).await.is_ok() {
            assert!(tokio::time::Instant::now() < deadline, "the campaign was not purged");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        task.await.unwrap();
    }
}
