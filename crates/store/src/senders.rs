//! Senders: a tenant's WhatsApp numbers, each on one provider, with its credentials
//! (encrypted by the caller), rate, daily limit, status and default flag.
//!
//! A sender's campaigns follow its status in the transaction that changes it
//! ([`transitions::follow_sender`]).

use async_trait::async_trait;
use pregon_domain::{AuditAction, SenderStatus};
use serde_json::json;

use crate::audit::{self, AuditEntry, Change};
use crate::campaigns::transitions;
use crate::db::{sql, Tx};
use crate::error::{Constraint, Result, StoreError};
use crate::records::{Millis, Page, PageRequest, SenderPatch, SenderRecord};
use crate::rows::{page_of, parse_enum, sender_from_row, RecordRow, SENDER_COLUMNS};
use crate::SqlStore;

/// A tenant's senders, as the API manages them.
#[async_trait]
pub trait SenderStore: Send + Sync {
    /// Inserts a sender; when it is the default, the tenant's previous default stops being one.
    async fn insert_sender(&self, sender: &SenderRecord, change: &Change) -> Result<()>;
    async fn list_senders(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<SenderRecord>>;
    async fn get_sender(&self, tenant_id: &str, sender_id: &str) -> Result<SenderRecord>;
    async fn default_sender(&self, tenant_id: &str) -> Result<Option<SenderRecord>>;
    /// Updates a sender; when its status changes, its campaigns follow in the same
    /// transaction: running ones pause with reason `sender_paused` when it stops being
    /// `active`, and those resume when it is `active` again.
    async fn update_sender(
        &self,
        tenant_id: &str,
        sender_id: &str,
        patch: &SenderPatch,
        now: Millis,
        change: &Change,
    ) -> Result<SenderRecord>;
    /// Soft-deletes; refused while the sender has unfinished campaigns.
    async fn delete_sender(&self, tenant_id: &str, sender_id: &str, now: Millis, change: &Change) -> Result<()>;
}

/// Locks the tenant's row for a change of its default sender (PostgreSQL): one such change
/// per tenant at a time, as SQLite's single writer gives. The tenant comes before its
/// senders in the lock order.
async fn lock_tenant(tx: &mut Tx, tenant_id: &str) -> Result<()> {
    tx.lock(sql("select 1 from tenant where tenant_id = $1 for no key update").bind(tenant_id))
        .await
}

async fn clear_default(tx: &mut Tx, tenant_id: &str) -> Result<()> {
    tx.execute(sql("update sender set is_default = false where tenant_id = $1 and is_default").bind(tenant_id))
        .await?;
    Ok(())
}

/// Reads a sender inside a transaction.
pub(crate) async fn read(tx: &mut Tx, sender_id: &str) -> Result<SenderRecord> {
    let row = tx
        .fetch_one(sql(format!("select {SENDER_COLUMNS} from sender where sender_id = $1")).bind(sender_id))
        .await?;
    sender_from_row(&row)
}

/// A sender's status, locked for this transaction to change (its campaigns follow it);
/// `None` when there is no such sender of the tenant (`tenant_id` given) or at all.
pub(crate) async fn lock_status(tx: &mut Tx, sender_id: &str, tenant_id: Option<&str>) -> Result<Option<SenderStatus>> {
    let lock = tx.dialect().for_no_key_update();
    let row = tx
        .fetch_optional(
            sql(format!(
                "select status from sender where sender_id = $1 \
                 and (cast($2 as text) is null or (tenant_id = $2 and deleted_at is null)){lock}"
            ))
            .bind(sender_id)
            .bind(tenant_id),
        )
        .await?;
    row.map(|r| parse_enum(&r.text("status")?)).transpose()
}

#[async_trait]
impl SenderStore for SqlStore {
    async fn insert_sender(&self, s: &SenderRecord, change: &Change) -> Result<()> {
        let mut tx = self.db.write().await?;
        if s.is_default {
            lock_tenant(&mut tx, &s.tenant_id).await?;
            clear_default(&mut tx, &s.tenant_id).await?;
        }
        tx.execute(
            sql(format!(
                "insert into sender ({SENDER_COLUMNS}) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
            ))
            .bind(&s.id)
            .bind(&s.tenant_id)
            .bind(&s.name)
            .bind(s.provider.as_str())
            .bind(&s.phone_number)
            .bind(s.credentials.as_slice())
            .bind(&s.base_url)
            .bind(s.messages_per_second)
            .bind(s.daily_limit)
            .bind(s.is_default)
            .bind(s.status.as_str())
            .bind(&s.quality_rating)
            .bind(&s.provider_account)
            .bind(&s.limit_group)
            .bind(s.created_at)
            .bind(s.updated_at)
            .bind(s.rate_follows_provider)
            .bind(s.throughput_level.map(pregon_domain::ThroughputLevel::as_str)),
        )
        .await?;
        let entry = AuditEntry::new(AuditAction::SenderCreate, "sender", &s.id).with(json!({
            "name": s.name, "provider": s.provider, "phone_number": s.phone_number,
            "messages_per_second": s.messages_per_second, "daily_limit": s.daily_limit, "is_default": s.is_default,
            "rate_follows_provider": s.rate_follows_provider,
        }));
        audit::record(&mut tx, &s.tenant_id, change, entry, s.created_at).await?;
        tx.commit().await
    }

    async fn list_senders(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<SenderRecord>> {
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select {SENDER_COLUMNS} from sender where tenant_id = $1 and deleted_at is null \
                     and sender_id > $2 order by sender_id limit $3"
                ))
                .bind(tenant_id)
                .bind(page.cursor.as_deref().unwrap_or(""))
                .bind(page.limit + 1),
            )
            .await?;
        let items = rows.iter().map(sender_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |s| s.id.clone()))
    }

    async fn get_sender(&self, tenant_id: &str, sender_id: &str) -> Result<SenderRecord> {
        let row = self
            .db
            .fetch_one(
                sql(format!(
                    "select {SENDER_COLUMNS} from sender where tenant_id = $1 and sender_id = $2 \
                     and deleted_at is null"
                ))
                .bind(tenant_id)
                .bind(sender_id),
            )
            .await?;
        sender_from_row(&row)
    }

    async fn default_sender(&self, tenant_id: &str) -> Result<Option<SenderRecord>> {
        let row = self
            .db
            .fetch_optional(
                sql(format!(
                    "select {SENDER_COLUMNS} from sender where tenant_id = $1 and is_default \
                     and deleted_at is null"
                ))
                .bind(tenant_id),
            )
            .await?;
        row.as_ref().map(sender_from_row).transpose()
    }

    async fn update_sender(
        &self,
        tenant_id: &str,
        sender_id: &str,
        p: &SenderPatch,
        now: Millis,
        change: &Change,
    ) -> Result<SenderRecord> {
        let mut tx = self.db.write().await?;
        if p.is_default == Some(true) {
            // The tenant first, then its senders: the order `insert_sender` takes them in.
            lock_tenant(&mut tx, tenant_id).await?;
        }
        let Some(before) = lock_status(&mut tx, sender_id, Some(tenant_id)).await? else {
            return Err(StoreError::NotFound);
        };
        if p.is_default == Some(true) {
            clear_default(&mut tx, tenant_id).await?;
        }
        tx.execute(
            sql(
                "update sender set name = coalesce($1, name), phone_number = coalesce($2, phone_number), \
                 credentials = coalesce($3, credentials), \
                 base_url = case when $4 then $5 else base_url end, \
                 messages_per_second = coalesce($6, messages_per_second), \
                 daily_limit = case when $7 then $8 else daily_limit end, \
                 is_default = coalesce($9, is_default), status = coalesce($10, status), \
                 provider_account = case when $11 then $12 else provider_account end, \
                 limit_group = case when $13 then $14 else limit_group end, updated_at = $15, \
                 rate_follows_provider = coalesce($18, rate_follows_provider), \
                 throughput_level = case when $19 then $20 else throughput_level end \
                 where tenant_id = $16 and sender_id = $17",
            )
            .bind(&p.name)
            .bind(&p.phone_number)
            .bind(p.credentials.as_deref())
            .bind(p.base_url.is_some())
            .bind(p.base_url.clone().flatten())
            .bind(p.messages_per_second)
            .bind(p.daily_limit.is_some())
            .bind(p.daily_limit.flatten())
            .bind(p.is_default)
            .bind(p.status.map(SenderStatus::as_str))
            .bind(p.provider_account.is_some())
            .bind(p.provider_account.clone().flatten())
            .bind(p.limit_group.is_some())
            .bind(p.limit_group.clone().flatten())
            .bind(now)
            .bind(tenant_id)
            .bind(sender_id)
            .bind(p.rate_follows_provider)
            .bind(p.throughput_level.is_some())
            .bind(p.throughput_level.flatten().map(pregon_domain::ThroughputLevel::as_str)),
        )
        .await?;
        let updated = read(&mut tx, sender_id).await?;
        transitions::follow_sender(&mut tx, sender_id, before, updated.status, now).await?;
        let entry = AuditEntry::new(AuditAction::SenderUpdate, "sender", sender_id).with(patch_details(p));
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn delete_sender(&self, tenant_id: &str, sender_id: &str, now: Millis, change: &Change) -> Result<()> {
        let mut tx = self.db.write().await?;
        // `for update` conflicts with the key-share lock a new campaign's foreign key takes:
        // a campaign created concurrently is either counted below or created after the delete.
        tx.lock(
            sql("select 1 from sender where tenant_id = $1 and sender_id = $2 and deleted_at is null for update")
                .bind(tenant_id)
                .bind(sender_id),
        )
        .await?;
        let unfinished = tx
            .fetch_one(
                sql(
                    "select count(*) as n from campaign where sender_id = $1 and tenant_id = $2 \
                     and status in ('draft', 'scheduled', 'running', 'paused')",
                )
                .bind(sender_id)
                .bind(tenant_id),
            )
            .await?
            .int("n")?;
        if unfinished > 0 {
            return Err(StoreError::Conflict {
                constraint: Constraint::SenderInUse { unfinished },
            });
        }
        let done = tx
            .execute(
                sql(
                    "update sender set deleted_at = $1, is_default = false, updated_at = $1 \
                     where tenant_id = $2 and sender_id = $3 and deleted_at is null",
                )
                .bind(now)
                .bind(tenant_id)
                .bind(sender_id),
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        let entry = AuditEntry::new(AuditAction::SenderDelete, "sender", sender_id);
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await
    }
}

/// What an update changed, for the audit log: the new values, and only that credentials
/// were replaced, never them.
fn patch_details(p: &SenderPatch) -> serde_json::Value {
    let mut changed = serde_json::Map::new();
    let mut put = |name: &str, value: serde_json::Value| {
        changed.insert(name.into(), value);
    };
    if let Some(v) = &p.name {
        put("name", json!(v));
    }
    if let Some(v) = &p.phone_number {
        put("phone_number", json!(v));
    }
    if p.credentials.is_some() {
        put("credentials", json!("replaced"));
    }
    if let Some(v) = &p.base_url {
        put("base_url", json!(v));
    }
    if let Some(v) = p.messages_per_second {
        put("messages_per_second", json!(v));
    }
    if let Some(v) = p.daily_limit {
        put("daily_limit", json!(v));
    }
    if let Some(v) = p.is_default {
        put("is_default", json!(v));
    }
    if let Some(v) = p.status {
        put("status", json!(v));
    }
    if let Some(v) = &p.limit_group {
        put("daily_limit_group", json!(v));
    }
    if let Some(v) = p.rate_follows_provider {
        put("rate_follows_provider", json!(v));
    }
    if let Some(v) = p.throughput_level {
        put("throughput_level", json!(v));
    }
    changed.into()
}
