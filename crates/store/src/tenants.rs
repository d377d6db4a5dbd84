//! Tenants: the businesses using pregon, their API keys and their webhook secrets.

use async_trait::async_trait;
use pregon_domain::AuditAction;

use crate::audit::{self, AuditEntry, Change};
use crate::db::sql;
use crate::error::{Result, StoreError};
use crate::records::{Millis, Tenant};
use crate::rows::{tenant_from_row, RecordRow};
use crate::SqlStore;

/// Tenants and their keys: for the API's authentication, `pregon tenant create` and the
/// first start.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_tenant(&self, name: &str, webhook_secret: &str, now: Millis) -> Result<Tenant>;
    async fn tenant_count(&self) -> Result<i64>;
    /// Every tenant, by name (for the CLI, which names tenants).
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;
    async fn add_api_key(&self, tenant_id: &str, key_hash: &str, prefix: &str, now: Millis) -> Result<()>;
    async fn tenant_by_api_key(&self, key_hash: &str) -> Result<Option<Tenant>>;
    /// Replaces the tenant's webhook secret (the key of `X-Pregon-Signature`).
    async fn set_webhook_secret(
        &self,
        tenant_id: &str,
        webhook_secret: &str,
        now: Millis,
        change: &Change,
    ) -> Result<()>;
}

#[async_trait]
impl TenantStore for SqlStore {
    async fn create_tenant(&self, name: &str, webhook_secret: &str, now: Millis) -> Result<Tenant> {
        let id = pregon_domain::id::new_id("ten");
        let mut tx = self.db.write().await?;
        tx.execute(
            sql("insert into tenant (tenant_id, name, webhook_secret, created_at) values ($1, $2, $3, $4)")
                .bind(&id)
                .bind(name)
                .bind(webhook_secret)
                .bind(now),
        )
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
        self.db
            .fetch_one(sql("select count(*) as n from tenant"))
            .await?
            .int("n")
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = self
            .db
            .fetch_all(sql(
                "select tenant_id, name, webhook_secret, created_at from tenant order by name",
            ))
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn add_api_key(&self, tenant_id: &str, key_hash: &str, prefix: &str, now: Millis) -> Result<()> {
        let mut tx = self.db.write().await?;
        tx.execute(
            sql(
                "insert into api_key (api_key_id, tenant_id, key_hash, prefix, created_at) \
                 values ($1, $2, $3, $4, $5)",
            )
            .bind(pregon_domain::id::new_id("key"))
            .bind(tenant_id)
            .bind(key_hash)
            .bind(prefix)
            .bind(now),
        )
        .await?;
        tx.commit().await
    }

    async fn tenant_by_api_key(&self, key_hash: &str) -> Result<Option<Tenant>> {
        let row = self
            .db
            .fetch_optional(
                sql(
                    "select t.tenant_id, t.name, t.webhook_secret, t.created_at from api_key k \
                     join tenant t on t.tenant_id = k.tenant_id where k.key_hash = $1",
                )
                .bind(key_hash),
            )
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn set_webhook_secret(
        &self,
        tenant_id: &str,
        webhook_secret: &str,
        now: Millis,
        change: &Change,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql("update tenant set webhook_secret = $1 where tenant_id = $2")
                    .bind(webhook_secret)
                    .bind(tenant_id),
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        // Never the secret itself.
        let entry = AuditEntry::new(AuditAction::WebhookSecretRotate, "tenant", tenant_id);
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await
    }
}
