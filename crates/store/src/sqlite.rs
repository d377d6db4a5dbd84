//! The embedded store: one SQLite file in WAL mode.
//!
//! Writes go through a pool of one connection and start with `BEGIN IMMEDIATE`, so writers
//! queue in-process instead of failing with `SQLITE_BUSY`, and another process on the same
//! file waits on the busy timeout. Reads use their own pool and never block writes (WAL).
//! Batched writes pass one JSON array and expand it with `json_each`, so a group commit of a
//! thousand outcomes is one statement.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use pregon_domain::state::CampaignAction;
use pregon_domain::{CampaignStatus, MessageStatus, PausedReason};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::batch::*;
use crate::notify::*;
use crate::plan::*;
use crate::rows::*;
use crate::*;

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

/// Rows per statement when inserting a campaign's messages.
const INSERT_CHUNK: usize = 5_000;

/// Rows a writer statement may produce ahead of the task reading them.
const WRITER_ROW_BUFFER: usize = 4_096;

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://` URL.
    pub async fn connect(url: &str) -> Result<Self> {
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
        // The writer's batches return up to a few thousand rows (claims, outcomes). With
        // sqlx's default row buffer of 50 the connection's thread stops every 50 rows until
        // the calling task, queued behind the requests in flight, reads them; a buffer the
        // size of a batch lets the statement run through (and the transaction end) at once.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone().row_buffer_size(WRITER_ROW_BUFFER))
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { writer, reader })
    }

    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Adds per-campaign count changes in one statement per campaign.
async fn apply_deltas(
    tx: &mut Transaction<'static, Sqlite>,
    deltas: &Deltas,
    last_sent_at: Option<Millis>,
    now: Millis,
) -> Result<()> {
    for (campaign_id, d) in deltas.iter() {
        sqlx::query(
            "update campaign set n_queued = n_queued + ?, n_claimed = n_claimed + ?, n_sending = n_sending + ?, \
             n_sent = n_sent + ?, n_delivered = n_delivered + ?, n_read = n_read + ?, n_failed = n_failed + ?, \
             n_unknown = n_unknown + ?, n_skipped = n_skipped + ?, n_cancelled = n_cancelled + ?, \
             last_sent_at = case when ? > 0 then coalesce(?, last_sent_at) else last_sent_at end, updated_at = ? \
             where campaign_id = ?",
        )
        .bind(d.queued)
        .bind(d.claimed)
        .bind(d.sending)
        .bind(d.sent)
        .bind(d.delivered)
        .bind(d.read)
        .bind(d.failed)
        .bind(d.unknown)
        .bind(d.skipped)
        .bind(d.cancelled)
        .bind(d.sent)
        .bind(last_sent_at)
        .bind(now)
        .bind(campaign_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Completes a running campaign with nothing left to send; true when it did. The caller
/// queues its notification ([`notify_final`]).
async fn complete_if_done(tx: &mut Transaction<'static, Sqlite>, campaign_id: &str, now: Millis) -> Result<bool> {
    let done: Option<String> = sqlx::query_scalar(
        "update campaign set status = 'completed', completed_at = ?, updated_at = ? \
         where campaign_id = ? and status = 'running' and n_queued + n_claimed + n_sending = 0 \
         returning campaign_id",
    )
    .bind(now)
    .bind(now)
    .bind(campaign_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(done.is_some())
}

/// Completes the campaign if it is done, and then queues its notification.
async fn complete_and_notify(tx: &mut Transaction<'static, Sqlite>, campaign_id: &str, now: Millis) -> Result<()> {
    if complete_if_done(tx, campaign_id, now).await? {
        notify_final(tx, campaign_id, now).await?;
    }
    Ok(())
}

/// Queues the outbound notification of a campaign that has just reached a final state, in
/// the transaction that moved it there (nothing when it has no webhook URL).
async fn enqueue_notification(tx: &mut Transaction<'static, Sqlite>, c: &CampaignRecord, now: Millis) -> Result<()> {
    let Some(n) = crate::notify::notification_for(c, now) else {
        return Ok(());
    };
    sqlx::query(
        "insert into notification (notification_id, tenant_id, campaign_id, event, url, body, next_attempt_at, \
         created_at, updated_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7)",
    )
    .bind(&n.id)
    .bind(&n.tenant_id)
    .bind(&n.campaign_id)
    .bind(n.event)
    .bind(&n.url)
    .bind(&n.body)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Reads a campaign inside the transaction and queues its notification.
async fn notify_final(tx: &mut Transaction<'static, Sqlite>, campaign_id: &str, now: Millis) -> Result<()> {
    let row = sqlx::query(&format!(
        "select {CAMPAIGN_COLUMNS} from campaign where campaign_id = ?"
    ))
    .bind(campaign_id)
    .fetch_one(&mut **tx)
    .await?;
    enqueue_notification(tx, &campaign_from_row(&row)?, now).await
}

/// Hands a campaign's claimed messages back to the queue (a pause, or a hold): they were
/// never attempted. The caller holds the campaign's row lock.
async fn requeue_claimed(tx: &mut Transaction<'static, Sqlite>, campaign_id: &str, now: Millis) -> Result<i64> {
    move_campaign_messages(
        tx,
        campaign_id,
        MessageStatus::Claimed,
        MessageStatus::Queued,
        false,
        now,
    )
    .await
}

/// Moves every message of `campaign_id` in `from` to `to`, keeping the counters exact.
async fn move_campaign_messages(
    tx: &mut Transaction<'static, Sqlite>,
    campaign_id: &str,
    from: MessageStatus,
    to: MessageStatus,
    reset_attempts: bool,
    now: Millis,
) -> Result<i64> {
    let moved = sqlx::query(
        "update message set status = ?, lease_epoch = null, updated_at = ?, \
         attempts = case when ? then 0 else attempts end, next_attempt_at = case when ? then 0 else next_attempt_at end \
         where campaign_id = ? and status = ?",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(reset_attempts)
    .bind(reset_attempts)
    .bind(campaign_id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected() as i64;
    if moved > 0 {
        apply_deltas(tx, &Deltas::one(campaign_id, from, to, moved), None, now).await?;
    }
    Ok(moved)
}

/// Sets a campaign's status and the timestamps that go with it.
async fn set_campaign_status(
    tx: &mut Transaction<'static, Sqlite>,
    campaign_id: &str,
    now: Millis,
    to: CampaignStatus,
    reason: Option<PausedReason>,
) -> Result<()> {
    sqlx::query(
        "update campaign set status = ?1, paused_reason = ?2, paused_detail = null, updated_at = ?3, \
         started_at = case when ?1 = 'running' then coalesce(started_at, ?3) else started_at end, \
         recheck_at = case when ?1 = 'running' and windowed then ?3 end, \
         completed_at = case when ?1 in ('completed', 'cancelled', 'failed') then ?3 else null end \
         where campaign_id = ?4",
    )
    .bind(to.as_str())
    .bind(reason.map(|r| r.as_str()))
    .bind(now)
    .bind(campaign_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Pauses a running campaign whose sender is not active, with reason `sender_paused`
/// ([`Step::HoldForSender`]); true when it did.
async fn hold_for_sender(tx: &mut Transaction<'static, Sqlite>, campaign_id: &str, now: Millis) -> Result<bool> {
    let sender_status: Option<String> = sqlx::query_scalar(
        "select s.status from campaign c join sender s on s.sender_id = c.sender_id \
         where c.campaign_id = ? and c.status = 'running'",
    )
    .bind(campaign_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(sender_status) = sender_status.filter(|s| s != "active") else {
        return Ok(false);
    };
    sqlx::query(
        "update campaign set status = 'paused', paused_reason = ?, paused_detail = ?, updated_at = ? \
         where campaign_id = ?",
    )
    .bind(PausedReason::SenderPaused.as_str())
    .bind(sender_hold_detail(&sender_status))
    .bind(now)
    .bind(campaign_id)
    .execute(&mut **tx)
    .await?;
    requeue_claimed(tx, campaign_id, now).await?;
    Ok(true)
}

/// Makes a sender's campaigns follow its status change, in the transaction that made it:
/// when it stops being active, its running campaigns pause with reason `sender_paused` (their
/// claimed messages back in the queue); when it is active again, the campaigns paused so
/// resume (and complete if nothing is left to send). Campaigns paused for any other reason
/// stay as they are.
async fn follow_sender_status(
    tx: &mut Transaction<'static, Sqlite>,
    sender_id: &str,
    before: &str,
    after: &str,
    now: Millis,
) -> Result<()> {
    if before == after {
        return Ok(());
    }
    if after == "active" {
        let ids: Vec<String> = sqlx::query_scalar(
            "update campaign set status = 'running', paused_reason = null, paused_detail = null, \
             started_at = coalesce(started_at, ?1), updated_at = ?1, \
             recheck_at = case when windowed then ?1 end \
             where sender_id = ?2 and status = 'paused' and paused_reason = ?3 returning campaign_id",
        )
        .bind(now)
        .bind(sender_id)
        .bind(PausedReason::SenderPaused.as_str())
        .fetch_all(&mut **tx)
        .await?;
        for id in &ids {
            complete_and_notify(tx, id, now).await?;
        }
        return Ok(());
    }
    // Stopped, or stopped differently (paused ↔ suspended): the held ones say why anew.
    let ids: Vec<String> = sqlx::query_scalar(
        "update campaign set status = 'paused', paused_reason = ?1, paused_detail = ?2, updated_at = ?3 \
         where sender_id = ?4 and (status = 'running' or (status = 'paused' and paused_reason = ?1)) \
         returning campaign_id",
    )
    .bind(PausedReason::SenderPaused.as_str())
    .bind(sender_hold_detail(after))
    .bind(now)
    .bind(sender_id)
    .fetch_all(&mut **tx)
    .await?;
    for id in &ids {
        requeue_claimed(tx, id, now).await?;
    }
    Ok(())
}

/// Whether the sender is active (a missing one is not).
async fn sender_is_active(tx: &mut Transaction<'static, Sqlite>, sender_id: &str) -> Result<bool> {
    let status: Option<String> = sqlx::query_scalar("select status from sender where sender_id = ?")
        .bind(sender_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(status.as_deref() == Some("active"))
}

async fn check_lease(tx: &mut Transaction<'static, Sqlite>, lease: &Lease, now: Millis) -> Result<()> {
    let held =
        sqlx::query("select 1 from sender_lease where sender_id = ? and owner_id = ? and epoch = ? and expires_at > ?")
            .bind(&lease.sender_id)
            .bind(&lease.owner_id)
            .bind(lease.epoch)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
    held.map(|_| ()).ok_or(StoreError::LeaseLost)
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.writer).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn create_tenant(&self, name: &str, webhook_secret: &str, now: Millis) -> Result<Tenant> {
        let id = pregon_domain::id::new_id("ten");
        let mut tx = self.write().await?;
        sqlx::query("insert into tenant (tenant_id, name, webhook_secret, created_at) values (?, ?, ?, ?)")
            .bind(&id)
            .bind(name)
            .bind(webhook_secret)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Tenant {
            id,
            name: name.to_string(),
            webhook_secret: webhook_secret.to_string(),
            created_at: now,
        })
    }

    async fn tenant_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("select count(*) from tenant")
            .fetch_one(&self.reader)
            .await?)
    }

    async fn add_api_key(&self, tenant_id: &str, key_hash: &str, prefix: &str, now: Millis) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("insert into api_key (api_key_id, tenant_id, key_hash, prefix, created_at) values (?, ?, ?, ?, ?)")
            .bind(pregon_domain::id::new_id("key"))
            .bind(tenant_id)
            .bind(key_hash)
            .bind(prefix)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tenant_by_api_key(&self, key_hash: &str) -> Result<Option<Tenant>> {
        let row = sqlx::query(
            "select t.tenant_id, t.name, t.webhook_secret, t.created_at from api_key k \
             join tenant t on t.tenant_id = k.tenant_id where k.key_hash = ?",
        )
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn insert_sender(&self, s: &SenderRecord) -> Result<()> {
        let mut tx = self.write().await?;
        if s.is_default {
            sqlx::query("update sender set is_default = 0 where tenant_id = ? and is_default = 1")
                .bind(&s.tenant_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&format!(
            "insert into sender ({SENDER_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&s.id)
        .bind(&s.tenant_id)
        .bind(&s.name)
        .bind(&s.provider)
        .bind(&s.phone_number)
        .bind(&s.credentials)
        .bind(&s.base_url)
        .bind(s.messages_per_second)
        .bind(s.daily_limit)
        .bind(s.is_default)
        .bind(&s.status)
        .bind(&s.quality_rating)
        .bind(&s.provider_account)
        .bind(&s.limit_group)
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_senders(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<SenderRecord>> {
        let rows = sqlx::query(&format!(
            "select {SENDER_COLUMNS} from sender where tenant_id = ? and deleted_at is null and sender_id > ? \
             order by sender_id limit ?"
        ))
        .bind(tenant_id)
        .bind(page.cursor.as_deref().unwrap_or(""))
        .bind(page.limit + 1)
        .fetch_all(&self.reader)
        .await?;
        let items = rows.iter().map(sender_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |s| s.id.clone()))
    }

    async fn get_sender(&self, tenant_id: &str, sender_id: &str) -> Result<SenderRecord> {
        let row = sqlx::query(&format!(
            "select {SENDER_COLUMNS} from sender where tenant_id = ? and sender_id = ? and deleted_at is null"
        ))
        .bind(tenant_id)
        .bind(sender_id)
        .fetch_one(&self.reader)
        .await?;
        sender_from_row(&row)
    }

    async fn sender_by_id(&self, sender_id: &str) -> Result<SenderRecord> {
        let row = sqlx::query(&format!("select {SENDER_COLUMNS} from sender where sender_id = ?"))
            .bind(sender_id)
            .fetch_one(&self.reader)
            .await?;
        sender_from_row(&row)
    }

    async fn default_sender(&self, tenant_id: &str) -> Result<Option<SenderRecord>> {
        let row = sqlx::query(&format!(
            "select {SENDER_COLUMNS} from sender where tenant_id = ? and is_default = 1 and deleted_at is null"
        ))
        .bind(tenant_id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(sender_from_row).transpose()
    }

    async fn update_sender(
        &self,
        tenant_id: &str,
        sender_id: &str,
        p: &SenderPatch,
        now: Millis,
    ) -> Result<SenderRecord> {
        let mut tx = self.write().await?;
        let before: Option<String> = sqlx::query_scalar(
            "select status from sender where tenant_id = ? and sender_id = ? and deleted_at is null",
        )
        .bind(tenant_id)
        .bind(sender_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = before else {
            return Err(StoreError::NotFound);
        };
        if p.is_default == Some(true) {
            sqlx::query("update sender set is_default = 0 where tenant_id = ? and is_default = 1")
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "update sender set name = coalesce(?, name), phone_number = coalesce(?, phone_number), \
             credentials = coalesce(?, credentials), \
             base_url = case when ? then ? else base_url end, \
             messages_per_second = coalesce(?, messages_per_second), \
             daily_limit = case when ? then ? else daily_limit end, \
             is_default = coalesce(?, is_default), status = coalesce(?, status), \
             provider_account = case when ? then ? else provider_account end, \
             limit_group = case when ? then ? else limit_group end, updated_at = ? \
             where tenant_id = ? and sender_id = ?",
        )
        .bind(&p.name)
        .bind(&p.phone_number)
        .bind(&p.credentials)
        .bind(p.base_url.is_some())
        .bind(p.base_url.clone().flatten())
        .bind(p.messages_per_second)
        .bind(p.daily_limit.is_some())
        .bind(p.daily_limit.flatten())
        .bind(p.is_default)
        .bind(&p.status)
        .bind(p.provider_account.is_some())
        .bind(p.provider_account.clone().flatten())
        .bind(p.limit_group.is_some())
        .bind(p.limit_group.clone().flatten())
        .bind(now)
        .bind(tenant_id)
        .bind(sender_id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!("select {SENDER_COLUMNS} from sender where sender_id = ?"))
            .bind(sender_id)
            .fetch_one(&mut *tx)
            .await?;
        let updated = sender_from_row(&row)?;
        follow_sender_status(&mut tx, sender_id, &before, &updated.status, now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn delete_sender(&self, tenant_id: &str, sender_id: &str, now: Millis) -> Result<()> {
        let mut tx = self.write().await?;
        let busy: i64 = sqlx::query_scalar(
            "select count(*) from campaign where sender_id = ? and tenant_id = ? \
             and status in ('draft', 'scheduled', 'running', 'paused')",
        )
        .bind(sender_id)
        .bind(tenant_id)
        .fetch_one(&mut *tx)
        .await?;
        if busy > 0 {
            return Err(StoreError::Conflict(format!(
                "the sender has {busy} unfinished campaign(s); cancel them first"
            )));
        }
        let done = sqlx::query(
            "update sender set deleted_at = ?, is_default = 0, updated_at = ? \
             where tenant_id = ? and sender_id = ? and deleted_at is null",
        )
        .bind(now)
        .bind(now)
        .bind(tenant_id)
        .bind(sender_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn insert_template(&self, t: &TemplateRecord) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "insert into template (template_id, tenant_id, name, language, body, header_image, twilio_content_sid, \
             created_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.id)
        .bind(&t.tenant_id)
        .bind(&t.name)
        .bind(&t.language)
        .bind(&t.body)
        .bind(&t.header_image)
        .bind(&t.twilio_content_sid)
        .bind(t.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_templates(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<TemplateRecord>> {
        let rows = sqlx::query(
            "select * from template where tenant_id = ? and deleted_at is null and template_id > ? \
             order by template_id limit ?",
        )
        .bind(tenant_id)
        .bind(page.cursor.as_deref().unwrap_or(""))
        .bind(page.limit + 1)
        .fetch_all(&self.reader)
        .await?;
        let items = rows.iter().map(template_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |t| t.id.clone()))
    }

    async fn get_template(&self, tenant_id: &str, template_id: &str) -> Result<TemplateRecord> {
        let row = sqlx::query("select * from template where tenant_id = ? and template_id = ? and deleted_at is null")
            .bind(tenant_id)
            .bind(template_id)
            .fetch_one(&self.reader)
            .await?;
        template_from_row(&row)
    }

    async fn template_by_id(&self, template_id: &str) -> Result<TemplateRecord> {
        let row = sqlx::query("select * from template where template_id = ?")
            .bind(template_id)
            .fetch_one(&self.reader)
            .await?;
        template_from_row(&row)
    }

    async fn delete_template(&self, tenant_id: &str, template_id: &str, now: Millis) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "update template set deleted_at = ? where tenant_id = ? and template_id = ? and deleted_at is null",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(template_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn add_opt_out(
        &self,
        tenant_id: &str,
        phone: &str,
        reason: Option<&str>,
        source: &str,
        now: Millis,
    ) -> Result<OptOutRecord> {
        let mut tx = self.write().await?;
        sqlx::query(
            "insert into opt_out (tenant_id, phone, reason, source, created_at) values (?, ?, ?, ?, ?) \
             on conflict (tenant_id, phone) do update set reason = coalesce(excluded.reason, opt_out.reason)",
        )
        .bind(tenant_id)
        .bind(phone)
        .bind(reason)
        .bind(source)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row =
            sqlx::query("select phone, reason, source, created_at from opt_out where tenant_id = ? and phone = ?")
                .bind(tenant_id)
                .bind(phone)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        opt_out_from_row(&row)
    }

    async fn list_opt_outs(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<OptOutRecord>> {
        let rows = sqlx::query(
            "select phone, reason, source, created_at from opt_out where tenant_id = ? and phone > ? \
             order by phone limit ?",
        )
        .bind(tenant_id)
        .bind(page.cursor.as_deref().unwrap_or(""))
        .bind(page.limit + 1)
        .fetch_all(&self.reader)
        .await?;
        let items = rows.iter().map(opt_out_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |o| o.phone.clone()))
    }

    async fn delete_opt_out(&self, tenant_id: &str, phone: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query("delete from opt_out where tenant_id = ? and phone = ?")
            .bind(tenant_id)
            .bind(phone)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn opted_out_phones(&self, tenant_id: &str) -> Result<HashSet<String>> {
        let phones: Vec<String> = sqlx::query_scalar("select phone from opt_out where tenant_id = ?")
            .bind(tenant_id)
            .fetch_all(&self.reader)
            .await?;
        Ok(phones.into_iter().collect())
    }

    async fn create_campaign(&self, c: NewCampaign) -> Result<CampaignRecord> {
        let mut tx = self.write().await?;
        let sender_status: Option<String> = sqlx::query_scalar("select status from sender where sender_id = ?")
            .bind(&c.sender_id)
            .fetch_optional(&mut *tx)
            .await?;
        let opening = Opening::of(&c, sender_status.as_deref());
        sqlx::query(
            "insert into campaign (campaign_id, tenant_id, name, sender_id, template_id, status, paused_reason, \
             paused_detail, priority, settings, start_at, windowed, recheck_at, n_queued, n_skipped, created_at, \
             started_at, completed_at, updated_at) \
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.id)
        .bind(&c.tenant_id)
        .bind(&c.name)
        .bind(&c.sender_id)
        .bind(&c.template_id)
        .bind(opening.status.as_str())
        .bind(opening.paused_reason.map(|r| r.as_str()))
        .bind(&opening.paused_detail)
        .bind(c.priority)
        .bind(c.settings.to_string())
        .bind(c.start_at)
        .bind(c.windowed)
        .bind(opening.recheck_at)
        .bind(opening.counts.queued)
        .bind(opening.counts.skipped)
        .bind(c.now)
        .bind(opening.started_at)
        .bind(opening.completed_at)
        .bind(c.now)
        .execute(&mut *tx)
        .await?;
        for chunk in c.messages.chunks(INSERT_CHUNK) {
            sqlx::query(
                "insert into message (tenant_id, campaign_id, sender_id, template_id, phone, variables, status, \
                 skip_reason, priority, max_attempts, created_at, updated_at) \
                 select ?1, ?2, ?3, ?4, value ->> 0, value ->> 1, value ->> 2, value ->> 3, ?5, ?6, ?7, ?7 \
                 from json_each(?8)",
            )
            .bind(&c.tenant_id)
            .bind(&c.id)
            .bind(&c.sender_id)
            .bind(&c.template_id)
            .bind(c.priority)
            .bind(c.max_attempts)
            .bind(c.now)
            .bind(message_rows(chunk))
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(&format!(
            "select {CAMPAIGN_COLUMNS} from campaign where campaign_id = ?"
        ))
        .bind(&c.id)
        .fetch_one(&mut *tx)
        .await?;
        let created = campaign_from_row(&row)?;
        if created.status.is_final() {
            enqueue_notification(&mut tx, &created, c.now).await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    async fn list_campaigns(
        &self,
        tenant_id: &str,
        status: Option<CampaignStatus>,
        page: &PageRequest,
    ) -> Result<Page<CampaignRecord>> {
        let rows = sqlx::query(&format!(
            "select {CAMPAIGN_COLUMNS} from campaign where tenant_id = ? and (? is null or status = ?) \
             and (? is null or campaign_id < ?) order by campaign_id desc limit ?"
        ))
        .bind(tenant_id)
        .bind(status.map(|s| s.as_str()))
        .bind(status.map(|s| s.as_str()))
        .bind(&page.cursor)
        .bind(&page.cursor)
        .bind(page.limit + 1)
        .fetch_all(&self.reader)
        .await?;
        let items = rows.iter().map(campaign_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |c| c.id.clone()))
    }

    async fn get_campaign(&self, tenant_id: &str, campaign_id: &str) -> Result<CampaignRecord> {
        let row = sqlx::query(&format!(
            "select {CAMPAIGN_COLUMNS} from campaign where tenant_id = ? and campaign_id = ?"
        ))
        .bind(tenant_id)
        .bind(campaign_id)
        .fetch_one(&self.reader)
        .await?;
        campaign_from_row(&row)
    }

    async fn campaign_by_id(&self, campaign_id: &str) -> Result<CampaignRecord> {
        let row = sqlx::query(&format!(
            "select {CAMPAIGN_COLUMNS} from campaign where campaign_id = ?"
        ))
        .bind(campaign_id)
        .fetch_one(&self.reader)
        .await?;
        campaign_from_row(&row)
    }

    async fn apply_action(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        action: CampaignAction,
        include_unknown: bool,
        now: Millis,
    ) -> Result<CampaignRecord> {
        let mut tx = self.write().await?;
        let row =
            sqlx::query("select status, paused_reason, start_at from campaign where tenant_id = ? and campaign_id = ?")
                .bind(tenant_id)
                .bind(campaign_id)
                .fetch_one(&mut *tx)
                .await?;
        let from: CampaignStatus = parse_enum(&row.text("status")?)?;
        let reason: Option<PausedReason> = row.opt_text("paused_reason")?.as_deref().map(parse_enum).transpose()?;
        if !action_allowed(from, reason, action) {
            return Err(StoreError::IllegalTransition {
                action: action.as_str(),
                from,
            });
        }
        for step in action_steps(action, include_unknown, row.opt_int("start_at")?, now) {
            match step {
                Step::SetStatus(to, reason) => set_campaign_status(&mut tx, campaign_id, now, to, reason).await?,
                Step::Move {
                    from,
                    to,
                    reset_attempts,
                } => {
                    move_campaign_messages(&mut tx, campaign_id, from, to, reset_attempts, now).await?;
                }
                Step::CompleteIfDone => {
                    complete_if_done(&mut tx, campaign_id, now).await?;
                }
                Step::HoldForSender => {
                    hold_for_sender(&mut tx, campaign_id, now).await?;
                }
            }
        }
        let row = sqlx::query(&format!(
            "select {CAMPAIGN_COLUMNS} from campaign where campaign_id = ?"
        ))
        .bind(campaign_id)
        .fetch_one(&mut *tx)
        .await?;
        let after = campaign_from_row(&row)?;
        // A final state reached by this action (a retry with nothing to retry that ends
        // where it began announces nothing).
        if after.status.is_final() && after.status != from {
            enqueue_notification(&mut tx, &after, now).await?;
        }
        tx.commit().await?;
        Ok(after)
    }

    async fn list_messages(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        status: Option<MessageStatus>,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>> {
        let after: i64 = match &page.cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| StoreError::NotFound)?,
        };
        let rows = sqlx::query(&format!(
            "select {MESSAGE_COLUMNS} from message where campaign_id = ? and tenant_id = ? \
             and (? is null or status = ?) and message_id > ? order by message_id limit ?"
        ))
        .bind(campaign_id)
        .bind(tenant_id)
        .bind(status.map(|s| s.as_str()))
        .bind(status.map(|s| s.as_str()))
        .bind(after)
        .bind(page.limit + 1)
        .fetch_all(&self.reader)
        .await?;
        let items = rows.iter().map(message_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |m| m.id.to_string()))
    }

    async fn insert_single_message(&self, m: NewSingleMessage) -> Result<MessageRecord> {
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "insert into message (tenant_id, sender_id, template_id, phone, variables, status, priority, \
             max_attempts, next_attempt_at, send_at, created_at, updated_at) \
             values (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8, ?8, ?9, ?9) returning message_id",
        )
        .bind(&m.tenant_id)
        .bind(&m.sender_id)
        .bind(&m.template_id)
        .bind(&m.phone)
        .bind(&m.variables)
        .bind(m.priority)
        .bind(m.max_attempts)
        .bind(m.send_at)
        .bind(m.now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("insert into message_event (message_id, status, detail, at) values (?, 'queued', ?, ?)")
            .bind(id)
            .bind(json!({"send_at": m.send_at}).to_string())
            .bind(m.now)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!("select {MESSAGE_COLUMNS} from message where message_id = ?"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        message_from_row(&row)
    }

    async fn get_message(&self, tenant_id: &str, message_id: i64) -> Result<MessageRecord> {
        let row = sqlx::query(&format!(
            "select {MESSAGE_COLUMNS} from message where message_id = ? and tenant_id = ?"
        ))
        .bind(message_id)
        .bind(tenant_id)
        .fetch_one(&self.reader)
        .await?;
        message_from_row(&row)
    }

    async fn message_events(&self, message_id: i64) -> Result<Vec<EventRecord>> {
        let rows =
            sqlx::query("select status, detail, at from message_event where message_id = ? order by message_event_id")
                .bind(message_id)
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn cancel_message(&self, tenant_id: &str, message_id: i64, now: Millis) -> Result<MessageRecord> {
        let mut tx = self.write().await?;
        let row = sqlx::query("select status, campaign_id from message where message_id = ? and tenant_id = ?")
            .bind(message_id)
            .bind(tenant_id)
            .fetch_one(&mut *tx)
            .await?;
        let status: MessageStatus = parse_enum(&row.text("status")?)?;
        let campaign_id = row.opt_text("campaign_id")?;
        if !matches!(status, MessageStatus::Queued | MessageStatus::Claimed) {
            return Err(StoreError::Conflict(format!(
                "the message is {status}; only a message not yet attempted can be cancelled"
            )));
        }
        sqlx::query("update message set status = 'cancelled', lease_epoch = null, updated_at = ? where message_id = ?")
            .bind(now)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("insert into message_event (message_id, status, at) values (?, 'cancelled', ?)")
            .bind(message_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Some(cid) = campaign_id {
            apply_deltas(
                &mut tx,
                &Deltas::one(&cid, status, MessageStatus::Cancelled, 1),
                None,
                now,
            )
            .await?;
            complete_and_notify(&mut tx, &cid, now).await?;
        }
        let row = sqlx::query(&format!("select {MESSAGE_COLUMNS} from message where message_id = ?"))
            .bind(message_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        message_from_row(&row)
    }

    async fn register_dispatcher(&self, d: &DispatcherInfo) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "insert into dispatcher (dispatcher_id, host, pid, version, started_at, last_heartbeat_at) \
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(&d.id)
        .bind(&d.host)
        .bind(d.pid)
        .bind(&d.version)
        .bind(d.now)
        .bind(d.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn heartbeat_dispatcher(&self, dispatcher_id: &str, current_rate: f64, now: Millis) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("update dispatcher set last_heartbeat_at = ?, current_rate = ? where dispatcher_id = ?")
            .bind(now)
            .bind(current_rate)
            .bind(dispatcher_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_dispatcher(&self, dispatcher_id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("update sender_lease set expires_at = 0 where owner_id = ?")
            .bind(dispatcher_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("delete from dispatcher where dispatcher_id = ?")
            .bind(dispatcher_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_dispatchers(&self) -> Result<Vec<DispatcherRecord>> {
        let rows = sqlx::query("select * from dispatcher order by started_at")
            .fetch_all(&self.reader)
            .await?;
        let leases = sqlx::query("select sender_id, owner_id from sender_lease where expires_at > ?")
            .bind(chrono::Utc::now().timestamp_millis())
            .fetch_all(&self.reader)
            .await?;
        dispatchers_from_rows(&rows, &leases)
    }

    async fn senders_with_work(&self, now: Millis) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "select s.sender_id from sender s where s.status = 'active' and s.deleted_at is null and ( \
               exists (select 1 from campaign c where c.sender_id = s.sender_id and c.status = 'running' \
                      and (c.recheck_at is null or c.recheck_at > ?1)) \
               or exists (select 1 from message m where m.sender_id = s.sender_id and m.campaign_id is null \
                          and m.status = 'queued' and m.next_attempt_at <= ?1))",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await?)
    }

    async fn acquire_lease(&self, sender_id: &str, owner_id: &str, ttl_ms: i64, now: Millis) -> Result<Option<Lease>> {
        let mut tx = self.write().await?;
        let epoch: Option<i64> = sqlx::query_scalar(
            "insert into sender_lease (sender_id, owner_id, epoch, expires_at) values (?1, ?2, 1, ?3) \
             on conflict (sender_id) do update set owner_id = ?2, epoch = sender_lease.epoch + 1, expires_at = ?3 \
             where sender_lease.expires_at <= ?4 or sender_lease.owner_id = ?2 \
             returning epoch",
        )
        .bind(sender_id)
        .bind(owner_id)
        .bind(now + ttl_ms)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(epoch) = epoch else {
            return Ok(None);
        };
        // Recovery: whatever a previous owner left in flight.
        let recovered = sqlx::query(
            "update message set status = case status when 'claimed' then 'queued' else 'unknown' end, \
             lease_epoch = case status when 'claimed' then null else lease_epoch end, updated_at = ? \
             where sender_id = ? and status in ('claimed', 'sending') \
             returning message_id, campaign_id, status",
        )
        .bind(now)
        .bind(sender_id)
        .fetch_all(&mut *tx)
        .await?;
        if !recovered.is_empty() {
            let (deltas, unknown_ids) = recovered_from_rows(&recovered)?;
            sqlx::query(
                "insert into message_event (message_id, status, detail, at) \
                 select value, 'unknown', ?, ? from json_each(?)",
            )
            .bind(recovery_detail())
            .bind(now)
            .bind(ids_json(&unknown_ids))
            .execute(&mut *tx)
            .await?;
            apply_deltas(&mut tx, &deltas, None, now).await?;
            for cid in deltas.campaigns() {
                complete_and_notify(&mut tx, cid, now).await?;
            }
            tracing::warn!(
                sender_id,
                recovered = recovered.len(),
                unknown = unknown_ids.len(),
                "recovered in-flight messages"
            );
        }
        tx.commit().await?;
        Ok(Some(Lease {
            sender_id: sender_id.to_string(),
            owner_id: owner_id.to_string(),
            epoch,
        }))
    }

    async fn renew_lease(&self, lease: &Lease, ttl_ms: i64, now: Millis) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "update sender_lease set expires_at = ? where sender_id = ? and owner_id = ? and epoch = ? and expires_at > ?",
        )
        .bind(now + ttl_ms)
        .bind(&lease.sender_id)
        .bind(&lease.owner_id)
        .bind(lease.epoch)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("update sender_lease set expires_at = 0 where sender_id = ? and owner_id = ? and epoch = ?")
            .bind(&lease.sender_id)
            .bind(&lease.owner_id)
            .bind(lease.epoch)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim(&self, lease: &Lease, request: &ClaimRequest, now: Millis) -> Result<Vec<ClaimedMessage>> {
        let mut tx = self.write().await?;
        check_lease(&mut tx, lease, now).await?;
        // A sender that is paused or suspended sends nothing, single messages included.
        if !sender_is_active(&mut tx, &lease.sender_id).await? {
            return Ok(Vec::new());
        }
        // Members of the queue: running campaigns, and this sender's single messages by priority.
        let mut members: Vec<(i64, Member)> = Vec::new();
        for row in sqlx::query(
            "select campaign_id, priority from campaign where sender_id = ? and status = 'running' \
             and (recheck_at is null or recheck_at > ?)",
        )
        .bind(&lease.sender_id)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        {
            members.push((row.int("priority")?, Some(row.text("campaign_id")?)));
        }
        let single_priorities: Vec<i64> = sqlx::query_scalar(
            "select distinct priority from message where sender_id = ? and campaign_id is null \
             and status = 'queued' and next_attempt_at <= ?",
        )
        .bind(&lease.sender_id)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        members.extend(single_priorities.into_iter().map(|p| (p, None)));

        let mut claimed: Vec<ClaimedMessage> = Vec::new();
        let mut deltas = Deltas::default();
        let mut turns = RoundRobin::new(members, request.limit, request.round).with_caps(&request.caps);
        while let Some(turn) = turns.next_turn() {
            let rows = match &turn.member {
                Some(cid) => {
                    sqlx::query(&format!(
                        "update message set status = 'claimed', lease_epoch = ?1, updated_at = ?2 \
                         where message_id in (select message_id from message where campaign_id = ?3 \
                         and status = 'queued' and next_attempt_at <= ?2 order by message_id limit ?4) \
                         returning {CLAIMED_COLUMNS}"
                    ))
                    .bind(lease.epoch)
                    .bind(now)
                    .bind(cid)
                    .bind(turn.room as i64)
                    .fetch_all(&mut *tx)
                    .await?
                }
                None => {
                    sqlx::query(&format!(
                        "update message set status = 'claimed', lease_epoch = ?1, updated_at = ?2 \
                         where message_id in (select message_id from message where sender_id = ?3 \
                         and campaign_id is null and priority = ?4 and status = 'queued' \
                         and next_attempt_at <= ?2 order by message_id limit ?5) \
                         returning {CLAIMED_COLUMNS}"
                    ))
                    .bind(lease.epoch)
                    .bind(now)
                    .bind(&lease.sender_id)
                    .bind(turn.priority)
                    .bind(turn.room as i64)
                    .fetch_all(&mut *tx)
                    .await?
                }
            };
            let got = rows.len();
            for row in &rows {
                claimed.push(claimed_from_row(row)?);
            }
            deltas.shift(
                turn.member.clone(),
                MessageStatus::Queued,
                MessageStatus::Claimed,
                got as i64,
            );
            turns.took(turn, got);
        }
        apply_deltas(&mut tx, &deltas, None, now).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn mark_sending(&self, lease: &Lease, ids: &[i64], now: Millis) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write().await?;
        check_lease(&mut tx, lease, now).await?;
        // Nothing starts on a sender paused or suspended since the claim.
        if !sender_is_active(&mut tx, &lease.sender_id).await? {
            return Ok(Vec::new());
        }
        // Only messages still claimed under this epoch, of a campaign that is still running
        // (or single messages), start their attempt.
        let rows = sqlx::query(
            "update message set status = 'sending', attempts = attempts + 1, updated_at = ?1 \
             where message_id in (select value from json_each(?2)) and status = 'claimed' and lease_epoch = ?3 \
             and (campaign_id is null or exists (select 1 from campaign c where c.campaign_id = message.campaign_id \
                  and c.status = 'running' and (c.recheck_at is null or c.recheck_at > ?1))) \
             returning message_id, campaign_id",
        )
        .bind(now)
        .bind(ids_json(ids))
        .bind(lease.epoch)
        .fetch_all(&mut *tx)
        .await?;
        let (moved, deltas) = moved_from_rows(&rows, MessageStatus::Claimed, MessageStatus::Sending)?;
        apply_deltas(&mut tx, &deltas, None, now).await?;
        tx.commit().await?;
        Ok(moved)
    }

    async fn release_claimed(&self, lease: &Lease, ids: &[i64], now: Millis) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        let rows = sqlx::query(
            "update message set status = 'queued', lease_epoch = null, updated_at = ?1 \
             where message_id in (select value from json_each(?2)) and status = 'claimed' and lease_epoch = ?3 \
             returning message_id, campaign_id",
        )
        .bind(now)
        .bind(ids_json(ids))
        .bind(lease.epoch)
        .fetch_all(&mut *tx)
        .await?;
        let (_, deltas) = moved_from_rows(&rows, MessageStatus::Claimed, MessageStatus::Queued)?;
        apply_deltas(&mut tx, &deltas, None, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_outcomes(&self, lease: &Lease, outcomes: &[Outcome], now: Millis) -> Result<Vec<CampaignRecord>> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "update message set status = v.status, \
               provider_message_id = coalesce(v.pid, message.provider_message_id), \
               error_code = v.code, error_message = v.msg, \
               next_attempt_at = coalesce(v.next, message.next_attempt_at), \
               attempts = message.attempts - 1 + v.spend, \
               lease_epoch = case when v.status = 'queued' then null else message.lease_epoch end, \
               sent_at = case when v.status = 'sent' then ?1 else message.sent_at end, updated_at = ?1 \
             from (select value ->> 0 as id, value ->> 1 as status, value ->> 2 as pid, value ->> 3 as code, \
                          value ->> 4 as msg, value ->> 5 as next, value ->> 6 as spend from json_each(?2)) as v \
             where message.message_id = v.id and message.status = 'sending' and message.lease_epoch = ?3 \
             returning message.message_id, message.campaign_id, message.status, message.provider_message_id, \
                       message.error_code, message.error_message, message.next_attempt_at",
        )
        .bind(now)
        .bind(outcome_rows(outcomes, now))
        .bind(lease.epoch)
        .fetch_all(&mut *tx)
        .await?;
        let recorded = Recorded::from_rows(outcomes, &updated)?;
        sqlx::query(
            "insert into message_event (message_id, status, detail, at) \
             select value ->> 0, value ->> 1, value ->> 2, ? from json_each(?)",
        )
        .bind(now)
        .bind(recorded.events)
        .execute(&mut *tx)
        .await?;
        apply_deltas(&mut tx, &recorded.deltas, recorded.any_sent.then_some(now), now).await?;
        let mut touched = Vec::with_capacity(recorded.deltas.len());
        for cid in recorded.deltas.campaigns() {
            let completed = complete_if_done(&mut tx, cid, now).await?;
            let row = sqlx::query(&format!(
                "select {CAMPAIGN_COLUMNS} from campaign where campaign_id = ?"
            ))
            .bind(cid)
            .fetch_one(&mut *tx)
            .await?;
            let campaign = campaign_from_row(&row)?;
            if completed {
                enqueue_notification(&mut tx, &campaign, now).await?;
            }
            touched.push(campaign);
        }
        tx.commit().await?;
        Ok(touched)
    }

    async fn pause_campaign(
        &self,
        campaign_id: &str,
        reason: PausedReason,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "update campaign set status = 'paused', paused_reason = ?, paused_detail = ?, updated_at = ? \
             where campaign_id = ? and status = 'running'",
        )
        .bind(reason.as_str())
        .bind(detail)
        .bind(now)
        .bind(campaign_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            requeue_claimed(&mut tx, campaign_id, now).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn pause_sender_campaigns(
        &self,
        sender_id: &str,
        reason: PausedReason,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<Vec<String>> {
        let mut tx = self.write().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "update campaign set status = 'paused', paused_reason = ?, paused_detail = ?, updated_at = ? \
             where sender_id = ? and status = 'running' returning campaign_id",
        )
        .bind(reason.as_str())
        .bind(detail)
        .bind(now)
        .bind(sender_id)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            requeue_claimed(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn sender_has_work(&self, sender_id: &str, now: Millis) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "select 1 from sender where sender_id = ?1 and status = 'active' and deleted_at is null and ( \
               exists (select 1 from campaign where sender_id = ?1 and status = 'running' \
                      and (recheck_at is null or recheck_at > ?2)) \
               or exists (select 1 from message where sender_id = ?1 and campaign_id is null and status = 'queued' \
                          and next_attempt_at <= ?2))",
        )
        .bind(sender_id)
        .bind(now)
        .fetch_optional(&self.reader)
        .await?;
        Ok(found.is_some())
    }

    async fn start_due_campaigns(&self, now: Millis) -> Result<Vec<String>> {
        let mut tx = self.write().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "update campaign set status = 'running', started_at = coalesce(started_at, ?1), updated_at = ?1, \
             recheck_at = case when windowed then ?1 end \
             where status = 'scheduled' and start_at <= ?1 returning campaign_id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            complete_and_notify(&mut tx, id, now).await?;
            hold_for_sender(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn campaigns_to_recheck(&self, now: Millis, limit: usize) -> Result<Vec<CampaignRecord>> {
        let rows = sqlx::query(&format!(
            "select {CAMPAIGN_COLUMNS} from campaign where recheck_at <= ? and (status = 'running' \
             or (status = 'paused' and paused_reason in ('outside_window', 'daily_limit'))) \
             order by recheck_at limit ?"
        ))
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(campaign_from_row).collect()
    }

    async fn apply_verdict(&self, campaign_id: &str, verdict: Verdict, now: Millis) -> Result<bool> {
        let mut tx = self.write().await?;
        let (status, reason, recheck_at) = match verdict {
            Verdict::Run { recheck_at } => (CampaignStatus::Running, None, recheck_at),
            Verdict::Hold { reason, recheck_at } => (CampaignStatus::Paused, Some(reason), Some(recheck_at)),
        };
        let done = sqlx::query(
            "update campaign set status = ?1, paused_reason = ?2, paused_detail = null, recheck_at = ?3, \
             updated_at = ?4, started_at = case when ?1 = 'running' then coalesce(started_at, ?4) else started_at end \
             where campaign_id = ?5 and (status = 'running' \
               or (status = 'paused' and paused_reason in ('outside_window', 'daily_limit')))",
        )
        .bind(status.as_str())
        .bind(reason.map(|r| r.as_str()))
        .bind(recheck_at)
        .bind(now)
        .bind(campaign_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        match status {
            CampaignStatus::Running => complete_and_notify(&mut tx, campaign_id, now).await?,
            _ => {
                requeue_claimed(&mut tx, campaign_id, now).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn admit_recipients(&self, limit_key: &str, limit: i64, phones: &[String], now: Millis) -> Result<Admission> {
        let mut tx = self.write().await?;
        sqlx::query("delete from daily_recipient where limit_key = ? and last_at <= ?")
            .bind(limit_key)
            .bind(now - DAY_MILLIS)
            .execute(&mut *tx)
            .await?;
        let mut used: i64 = sqlx::query_scalar("select count(*) from daily_recipient where limit_key = ?")
            .bind(limit_key)
            .fetch_one(&mut *tx)
            .await?;
        let known: HashSet<String> = sqlx::query_scalar(
            "select phone from daily_recipient where limit_key = ? and phone in (select value from json_each(?))",
        )
        .bind(limit_key)
        .bind(serde_json::to_string(phones).unwrap_or_default())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let admitted = admit(phones, &known, &mut used, limit);
        let list: Vec<&String> = admitted.iter().collect();
        sqlx::query(
            "insert into daily_recipient (limit_key, phone, last_at) select ?1, value, ?2 from json_each(?3) where true \
             on conflict (limit_key, phone) do update set last_at = excluded.last_at",
        )
        .bind(limit_key)
        .bind(now)
        .bind(serde_json::to_string(&list).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        let oldest: Option<i64> = sqlx::query_scalar("select min(last_at) from daily_recipient where limit_key = ?")
            .bind(limit_key)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Admission {
            admitted,
            used,
            room_at: oldest.map(|t| t + DAY_MILLIS),
        })
    }

    async fn daily_usage(&self, limit_key: &str, now: Millis) -> Result<DailyUsage> {
        let row = sqlx::query(
            "select count(*) as used, min(last_at) as oldest from daily_recipient where limit_key = ? and last_at > ?",
        )
        .bind(limit_key)
        .bind(now - DAY_MILLIS)
        .fetch_one(&self.reader)
        .await?;
        Ok(DailyUsage {
            used: row.int("used")?,
            room_at: row.opt_int("oldest")?.map(|t| t + DAY_MILLIS),
        })
    }

    async fn pause_for_daily_limit(
        &self,
        sender: &SenderRecord,
        recheck_at: Millis,
        now: Millis,
    ) -> Result<Vec<String>> {
        let mut tx = self.write().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "update campaign set status = 'paused', paused_reason = 'daily_limit', paused_detail = null, \
             recheck_at = ?1, updated_at = ?2 where status = 'running' and sender_id in \
             (select sender_id from sender where sender_id = ?3 or (?4 is not null and tenant_id = ?5 and limit_group = ?4)) \
             returning campaign_id",
        )
        .bind(recheck_at)
        .bind(now)
        .bind(&sender.id)
        .bind(&sender.limit_group)
        .bind(&sender.tenant_id)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            requeue_claimed(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn defer_claimed(&self, lease: &Lease, deferrals: &[Deferral], now: Millis) -> Result<()> {
        if deferrals.is_empty() {
            return Ok(());
        }
        let pairs: Vec<(i64, i64)> = deferrals.iter().map(|d| (d.message_id, d.until)).collect();
        let mut tx = self.write().await?;
        let rows = sqlx::query(
            "update message set status = 'queued', lease_epoch = null, updated_at = ?1, \
             next_attempt_at = (select d.value ->> 1 from json_each(?2) d where d.value ->> 0 = message.message_id) \
             where message_id in (select value ->> 0 from json_each(?2)) and status = 'claimed' and lease_epoch = ?3 \
             returning message_id, campaign_id",
        )
        .bind(now)
        .bind(serde_json::to_string(&pairs).unwrap_or_default())
        .bind(lease.epoch)
        .fetch_all(&mut *tx)
        .await?;
        let (_, deltas) = moved_from_rows(&rows, MessageStatus::Claimed, MessageStatus::Queued)?;
        apply_deltas(&mut tx, &deltas, None, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn senders_by_provider_account(&self, provider: &str, account: Option<&str>) -> Result<Vec<SenderRecord>> {
        let rows = sqlx::query(&format!(
            "select {SENDER_COLUMNS} from sender where provider = ?1 and (?2 is null or provider_account = ?2) \
             order by sender_id"
        ))
        .bind(provider)
        .bind(account)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(sender_from_row).collect()
    }

    async fn apply_status_updates(&self, updates: &[StatusUpdate], now: Millis) -> Result<Vec<StatusEffect>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write().await?;
        // By provider id (the plan checks the sender), or, for a message whose provider id
        // was never recorded, by the id the provider echoed; `cross join` keeps the keys
        // outer, probing message's indexes.
        let rows = sqlx::query(&format!(
            "select {TRACKED_COLUMNS} from message where message_id in ( \
               select m.message_id from json_each(?1) as k cross join message as m \
                 on m.provider_message_id = k.value ->> 1 \
               union all \
               select m.message_id from json_each(?1) as k cross join message as m \
                 on m.message_id = k.value ->> 2 and m.sender_id = k.value ->> 0 \
                 and m.provider_message_id is null and m.status in ('sending', 'unknown'))"
        ))
        .bind(webhook::status_keys(updates))
        .fetch_all(&mut *tx)
        .await?;
        let plan = webhook::StatusPlan::new(updates, &rows)?;
        if plan.changed > 0 {
            sqlx::query(
                "update message set status = v.status, provider_message_id = v.pid, error_code = v.code, \
                   error_message = v.msg, sent_at = v.sent, delivered_at = v.delivered, read_at = v.read, updated_at = ?1 \
                 from (select value ->> 0 as id, value ->> 1 as status, value ->> 2 as pid, value ->> 3 as code, \
                              value ->> 4 as msg, value ->> 5 as sent, value ->> 6 as delivered, value ->> 7 as read \
                       from json_each(?2)) as v \
                 where message.message_id = v.id",
            )
            .bind(now)
            .bind(&plan.messages)
            .execute(&mut *tx)
            .await?;
        }
        let inserted = if plan.has_events() {
            sqlx::query(
                "insert into message_event (message_id, status, detail, at, provider_key) \
                 select value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 from json_each(?) where true \
                 on conflict do nothing returning message_id, provider_key",
            )
            .bind(&plan.events)
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        apply_deltas(&mut tx, &plan.deltas, None, now).await?;
        // A report can finish a message still `sending` (its answer not yet recorded).
        for cid in plan.deltas.campaigns() {
            complete_and_notify(&mut tx, cid, now).await?;
        }
        tx.commit().await?;
        plan.effects(&inserted)
    }

    async fn insert_inbound(&self, inbound: &[NewInbound], now: Millis) -> Result<Vec<InboundRecord>> {
        if inbound.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write().await?;
        let rows = sqlx::query(&format!(
            "insert into inbound_message (tenant_id, sender_id, phone, provider_message_id, message_type, text, \
               campaign_id, opted_out, received_at, created_at) \
             select v.value ->> 0, v.value ->> 1, v.value ->> 2, v.value ->> 3, v.value ->> 4, v.value ->> 5, \
               (select m.campaign_id from message m where m.sender_id = v.value ->> 1 and m.phone = v.value ->> 2 \
                  and m.campaign_id is not null and m.sent_at is not null \
                  order by m.sent_at desc, m.message_id desc limit 1), \
               v.value ->> 6, v.value ->> 7, ?1 \
             from json_each(?2) as v where true \
             on conflict (sender_id, provider_message_id) do nothing \
             returning {INBOUND_COLUMNS}"
        ))
        .bind(now)
        .bind(webhook::inbound_rows(inbound))
        .fetch_all(&mut *tx)
        .await?;
        let stored = rows.iter().map(inbound_from_row).collect::<Result<Vec<_>>>()?;
        if let Some(opt_outs) = webhook::reply_opt_outs(inbound, &stored) {
            sqlx::query(
                "insert into opt_out (tenant_id, phone, reason, source, created_at) \
                 select value ->> 0, value ->> 1, value ->> 2, 'reply', ?1 from json_each(?2) where true \
                 on conflict (tenant_id, phone) do nothing",
            )
            .bind(now)
            .bind(opt_outs)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn list_replies(
        &self,
        tenant_id: &str,
        filter: &ReplyFilter,
        page: &PageRequest,
    ) -> Result<Page<InboundRecord>> {
        let before: i64 = match &page.cursor {
            None => i64::MAX,
            Some(c) => c.parse().map_err(|_| StoreError::NotFound)?,
        };
        // One statement per filter, so each uses its own index.
        let mut sql = format!("select {INBOUND_COLUMNS} from inbound_message where tenant_id = ?");
        if filter.campaign_id.is_some() {
            sql.push_str(" and campaign_id = ?");
        }
        if filter.phone.is_some() {
            sql.push_str(" and phone = ?");
        }
        sql.push_str(" and inbound_message_id < ? order by inbound_message_id desc limit ?");
        let mut query = sqlx::query(&sql).bind(tenant_id);
        if let Some(c) = &filter.campaign_id {
            query = query.bind(c);
        }
        if let Some(p) = &filter.phone {
            query = query.bind(p);
        }
        let rows = query.bind(before).bind(page.limit + 1).fetch_all(&self.reader).await?;
        let items = rows.iter().map(inbound_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |r| r.id.to_string()))
    }

    async fn update_sender_quality(
        &self,
        sender_id: &str,
        quality_rating: Option<&str>,
        status: Option<&str>,
        now: Millis,
    ) -> Result<SenderRecord> {
        let mut tx = self.write().await?;
        let before: String = sqlx::query_scalar("select status from sender where sender_id = ?")
            .bind(sender_id)
            .fetch_one(&mut *tx)
            .await?;
        let row = sqlx::query(&format!(
            "update sender set quality_rating = coalesce(?, quality_rating), status = coalesce(?, status), \
             updated_at = ? where sender_id = ? returning {SENDER_COLUMNS}"
        ))
        .bind(quality_rating)
        .bind(status)
        .bind(now)
        .bind(sender_id)
        .fetch_one(&mut *tx)
        .await?;
        let updated = sender_from_row(&row)?;
        follow_sender_status(&mut tx, sender_id, &before, &updated.status, now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn queue_depth(&self) -> Result<i64> {
        let campaigns: i64 = sqlx::query_scalar(
            "select coalesce(sum(n_queued + n_claimed + n_sending), 0) from campaign where status in ('running', 'paused', 'scheduled', 'draft')",
        )
        .fetch_one(&self.reader)
        .await?;
        let singles: i64 = sqlx::query_scalar(
            "select count(*) from message where campaign_id is null and status in ('queued', 'claimed', 'sending')",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(campaigns + singles)
    }

    async fn running_campaigns(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("select count(*) from campaign where status = 'running'")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    async fn add_opt_in(
        &self,
        tenant_id: &str,
        phone: &str,
        source: &str,
        evidence: Option<&str>,
        now: Millis,
    ) -> Result<OptInRecord> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "insert into opt_in (tenant_id, phone, source, evidence, created_at) values (?, ?, ?, ?, ?) \
             on conflict (tenant_id, phone) do update set source = excluded.source, \
             evidence = coalesce(excluded.evidence, opt_in.evidence) \
             returning phone, source, evidence, created_at",
        )
        .bind(tenant_id)
        .bind(phone)
        .bind(source)
        .bind(evidence)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let record = opt_in_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn list_opt_ins(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<OptInRecord>> {
        let rows = sqlx::query(
            "select phone, source, evidence, created_at from opt_in where tenant_id = ? and phone > ? \
             order by phone limit ?",
        )
        .bind(tenant_id)
        .bind(page.cursor.as_deref().unwrap_or(""))
        .bind(page.limit + 1)
        .fetch_all(&self.reader)
        .await?;
        let items = rows.iter().map(opt_in_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |o| o.phone.clone()))
    }

    async fn delete_opt_in(&self, tenant_id: &str, phone: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query("delete from opt_in where tenant_id = ? and phone = ?")
            .bind(tenant_id)
            .bind(phone)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn opted_in_phones(&self, tenant_id: &str) -> Result<HashSet<String>> {
        let phones: Vec<String> = sqlx::query_scalar("select phone from opt_in where tenant_id = ?")
            .bind(tenant_id)
            .fetch_all(&self.reader)
            .await?;
        Ok(phones.into_iter().collect())
    }

    async fn opted_out_among(&self, tenant_id: &str, phones: &[String]) -> Result<HashSet<String>> {
        if phones.is_empty() {
            return Ok(HashSet::new());
        }
        let found: Vec<String> = sqlx::query_scalar(
            "select phone from opt_out where tenant_id = ? and phone in (select value from json_each(?))",
        )
        .bind(tenant_id)
        .bind(serde_json::to_string(phones).unwrap_or_else(|_| "[]".into()))
        .fetch_all(&self.reader)
        .await?;
        Ok(found.into_iter().collect())
    }

    async fn opted_in_among(&self, tenant_id: &str, phones: &[String]) -> Result<HashSet<String>> {
        if phones.is_empty() {
            return Ok(HashSet::new());
        }
        let found: Vec<String> = sqlx::query_scalar(
            "select phone from opt_in where tenant_id = ? and phone in (select value from json_each(?))",
        )
        .bind(tenant_id)
        .bind(serde_json::to_string(phones).unwrap_or_else(|_| "[]".into()))
        .fetch_all(&self.reader)
        .await?;
        Ok(found.into_iter().collect())
    }

    async fn skip_claimed(&self, lease: &Lease, skips: &[Skip], now: Millis) -> Result<Vec<i64>> {
        if skips.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write().await?;
        check_lease(&mut tx, lease, now).await?;
        let rows = sqlx::query(
            "update message set status = 'skipped', skip_reason = v.reason, lease_epoch = null, updated_at = ?1 \
             from (select value ->> 0 as id, value ->> 1 as reason from json_each(?2)) as v \
             where message.message_id = v.id and message.status = 'claimed' and message.lease_epoch = ?3 \
             returning message.message_id, message.campaign_id, message.skip_reason",
        )
        .bind(now)
        .bind(skip_rows(skips))
        .bind(lease.epoch)
        .fetch_all(&mut *tx)
        .await?;
        let (ids, deltas, events) = skipped_from_rows(&rows)?;
        sqlx::query(
            "insert into message_event (message_id, status, detail, at) \
             select value ->> 0, 'skipped', value ->> 1, ? from json_each(?)",
        )
        .bind(now)
        .bind(events)
        .execute(&mut *tx)
        .await?;
        apply_deltas(&mut tx, &deltas, None, now).await?;
        for cid in deltas.campaigns() {
            complete_and_notify(&mut tx, cid, now).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn set_webhook_secret(&self, tenant_id: &str, webhook_secret: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query("update tenant set webhook_secret = ? where tenant_id = ?")
            .bind(webhook_secret)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_notifications(&self, limit: usize, lease_ms: i64, now: Millis) -> Result<Vec<NotificationDelivery>> {
        // Most polls find nothing: look before taking the write lock.
        let due: Option<i64> =
            sqlx::query_scalar("select 1 from notification where status = 'pending' and next_attempt_at <= ? limit 1")
                .bind(now)
                .fetch_optional(&self.reader)
                .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        // One writer at a time (BEGIN IMMEDIATE), across processes too: no two claim the same row.
        let mut tx = self.write().await?;
        let rows = sqlx::query(
            "update notification set attempts = attempts + 1, next_attempt_at = ?1 + ?2, updated_at = ?1 \
             where notification_id in (select notification_id from notification where status = 'pending' \
               and next_attempt_at <= ?1 order by next_attempt_at, notification_id limit ?3) \
             returning notification_id, tenant_id, campaign_id, url, body, attempts, \
               (select t.webhook_secret from tenant t where t.tenant_id = notification.tenant_id) as webhook_secret",
        )
        .bind(now)
        .bind(lease_ms)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
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
            NotificationResult::Retry { next_attempt_at, error } => ("pending", Some(*next_attempt_at), Some(error)),
            NotificationResult::Failed { error } => ("failed", None, Some(error)),
        };
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "update notification set status = ?1, next_attempt_at = coalesce(?2, next_attempt_at), \
             last_error = ?3, delivered_at = case when ?1 = 'delivered' then ?4 else null end, updated_at = ?4 \
             where notification_id = ?5 and attempts = ?6 and status = 'pending'",
        )
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(now)
        .bind(notification_id)
        .bind(attempt)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_notifications(&self, tenant_id: &str, campaign_id: &str) -> Result<Vec<NotificationRecord>> {
        let rows = sqlx::query(&format!(
            "select {NOTIFICATION_COLUMNS} from notification where tenant_id = ? and campaign_id = ? \
             order by created_at, notification_id"
        ))
        .bind(tenant_id)
        .bind(campaign_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(notification_from_row).collect()
    }

    async fn purge_finished(&self, before: Millis, limit: usize) -> Result<PurgeReport> {
        let mut tx = self.write().await?;
        let campaigns: Vec<String> = sqlx::query_scalar(
            "select campaign_id from campaign where status in ('completed', 'cancelled', 'failed') \
             and coalesce(completed_at, updated_at) < ? order by coalesce(completed_at, updated_at) limit ?",
        )
        .bind(before)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
        let mut report = PurgeReport::default();
        // A large campaign goes over several transactions, a budget of messages at a time;
        // its row (and so the campaign itself) goes with the last of them.
        let mut budget = single_purge_limit(limit);
        for campaign_id in &campaigns {
            if budget == 0 {
                break;
            }
            let messages: Vec<i64> =
                sqlx::query_scalar("select message_id from message where campaign_id = ? order by message_id limit ?")
                    .bind(campaign_id)
                    .bind(budget)
                    .fetch_all(&mut *tx)
                    .await?;
            if !messages.is_empty() {
                let ids = ids_json(&messages);
                sqlx::query("delete from message_event where message_id in (select value from json_each(?))")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?;
                let deleted = sqlx::query("delete from message where message_id in (select value from json_each(?))")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                report.campaign_messages += deleted;
                budget -= messages.len() as i64;
                if budget == 0 {
                    // Perhaps more left: the next transaction looks again.
                    break;
                }
            }
            sqlx::query("delete from notification where campaign_id = ?")
                .bind(campaign_id)
                .execute(&mut *tx)
                .await?;
            // Replies are the recipients' own words: kept, without the campaign.
            sqlx::query("update inbound_message set campaign_id = null where campaign_id = ?")
                .bind(campaign_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("delete from campaign where campaign_id = ?")
                .bind(campaign_id)
                .execute(&mut *tx)
                .await?;
            report.campaigns += 1;
        }
        let singles: Vec<i64> = sqlx::query_scalar(&format!(
            "select message_id from message where campaign_id is null and status in ({FINAL_MESSAGE_STATES}) \
             and updated_at < ? order by updated_at limit ?"
        ))
        .bind(before)
        .bind(single_purge_limit(limit))
        .fetch_all(&mut *tx)
        .await?;
        if !singles.is_empty() {
            let ids = ids_json(&singles);
            sqlx::query("delete from message_event where message_id in (select value from json_each(?))")
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
            report.single_messages =
                sqlx::query("delete from message where message_id in (select value from json_each(?))")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        tx.commit().await?;
        Ok(report)
    }

    async fn list_single_messages(
        &self,
        tenant_id: &str,
        filter: &SingleMessageFilter,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>> {
        let position = match &page.cursor {
            None => None,
            Some(c) => Some(filter.parse_cursor(c).ok_or(StoreError::NotFound)?),
        };
        let rows = match filter.scheduled_after {
            None => {
                sqlx::query(&format!(
                    "select {MESSAGE_COLUMNS} from message where tenant_id = ?1 and campaign_id is null \
                     and (?2 is null or status = ?2) and message_id < ?3 order by message_id desc limit ?4"
                ))
                .bind(tenant_id)
                .bind(filter.status.map(|s| s.as_str()))
                .bind(position.map_or(i64::MAX, |(_, id)| id))
                .bind(page.limit + 1)
                .fetch_all(&self.reader)
                .await?
            }
            Some(_) if filter.status.is_some_and(|s| s != MessageStatus::Queued) => Vec::new(),
            Some(after) => {
                let (at, id) = position.unwrap_or((i64::MIN, i64::MIN));
                sqlx::query(&format!(
                    "select {MESSAGE_COLUMNS} from message where tenant_id = ?1 and campaign_id is null \
                     and status = 'queued' and attempts = 0 and next_attempt_at > ?2 \
                     and (next_attempt_at, message_id) > (?3, ?4) order by next_attempt_at, message_id limit ?5"
                ))
                .bind(tenant_id)
                .bind(after)
                .bind(at)
                .bind(id)
                .bind(page.limit + 1)
                .fetch_all(&self.reader)
                .await?
            }
        };
        let items = rows.iter().map(message_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |m| filter.cursor_of(m)))
    }
}
