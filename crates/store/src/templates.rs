//! Templates: a tenant's message shapes (provider name and language, body with
//! placeholders, optional header image), soft-deleted so that messages created with one keep
//! rendering with it.

use async_trait::async_trait;
use pregon_domain::{AuditAction, TemplateStatus};

use crate::campaigns::transitions::{self, TemplateCampaigns};
use serde_json::json;

use crate::audit::{self, AuditEntry, Change};
use crate::db::sql;
use crate::error::{Result, StoreError};
use crate::records::{Millis, Page, PageRequest, TemplateRecord};
use crate::rows::{page_of, template_from_row, RecordRow};
use crate::SqlStore;

/// A tenant's templates, as the API manages them.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    async fn insert_template(&self, template: &TemplateRecord, change: &Change) -> Result<()>;
    async fn list_templates(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<TemplateRecord>>;
    async fn get_template(&self, tenant_id: &str, template_id: &str) -> Result<TemplateRecord>;
    async fn delete_template(&self, tenant_id: &str, template_id: &str, now: Millis, change: &Change) -> Result<()>;
    /// Creates or updates templates as a provider holds them, in one transaction with one
    /// `template.sync` audit entry: a template of the same name and language is updated
    /// (body, header image, category, status, quality; its id and creation stay), any
    /// other is inserted as given.
    async fn sync_templates(
        &self,
        tenant_id: &str,
        templates: &[TemplateRecord],
        now: Millis,
        change: &Change,
    ) -> Result<TemplateSync>;
    /// A provider's event about a template (Meta's `message_template_status_update`): every
    /// template of the tenant with that name and language (`en_US` matches `en-US`) takes
    /// `status`, and their campaigns follow `effect`, in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn apply_template_event(
        &self,
        tenant_id: &str,
        name: &str,
        language: &str,
        status: Option<TemplateStatus>,
        effect: Option<TemplateCampaigns>,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<TemplateEventApplied>;
}

/// What [`TemplateStore::apply_template_event`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateEventApplied {
    /// The tenant's templates of that name and language.
    pub templates: Vec<String>,
    /// The campaigns paused, resumed or ended.
    pub campaigns: Vec<String>,
}

/// What [`TemplateStore::sync_templates`] did.
#[derive(Debug, Clone)]
pub struct TemplateSync {
    pub created: i64,
    pub updated: i64,
    /// Every template synced, as stored now, in the order given.
    pub items: Vec<TemplateRecord>,
}

async fn insert(tx: &mut crate::db::Tx, t: &TemplateRecord) -> Result<()> {
    tx.execute(
        sql(
            "insert into template (template_id, tenant_id, name, language, body, header_image, \
             twilio_content_sid, category, status, quality, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&t.id)
        .bind(&t.tenant_id)
        .bind(&t.name)
        .bind(&t.language)
        .bind(&t.body)
        .bind(&t.header_image)
        .bind(&t.twilio_content_sid)
        .bind(t.category.as_str())
        .bind(t.status.as_str())
        .bind(t.quality.as_str())
        .bind(t.created_at),
    )
    .await?;
    Ok(())
}

#[async_trait]
impl TemplateStore for SqlStore {
    async fn apply_template_event(
        &self,
        tenant_id: &str,
        name: &str,
        language: &str,
        status: Option<TemplateStatus>,
        effect: Option<TemplateCampaigns>,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<TemplateEventApplied> {
        let mut tx = self.db.write().await?;
        let rows = tx
            .fetch_all(
                sql("select template_id from template where tenant_id = $1 and name = $2 \
                     and lower(replace(language, '-', '_')) = lower(replace($3, '-', '_')) order by template_id")
                .bind(tenant_id)
                .bind(name)
                .bind(language),
            )
            .await?;
        let templates = rows.iter().map(|r| r.text("template_id")).collect::<Result<Vec<_>>>()?;
        let mut campaigns = Vec::new();
        for id in &templates {
            if let Some(status) = status {
                tx.execute(
                    sql("update template set status = $1 where template_id = $2")
                        .bind(status.as_str())
                        .bind(id),
                )
                .await?;
            }
            if let Some(effect) = effect {
                campaigns.extend(transitions::follow_template(&mut tx, id, effect, detail, now).await?);
            }
        }
        tx.commit().await?;
        Ok(TemplateEventApplied { templates, campaigns })
    }

    async fn insert_template(&self, t: &TemplateRecord, change: &Change) -> Result<()> {
        let mut tx = self.db.write().await?;
        insert(&mut tx, t).await?;
        let entry = AuditEntry::new(AuditAction::TemplateCreate, "template", &t.id)
            .with(json!({"name": t.name, "language": t.language}));
        audit::record(&mut tx, &t.tenant_id, change, entry, t.created_at).await?;
        tx.commit().await
    }

    async fn list_templates(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<TemplateRecord>> {
        let rows = self
            .db
            .fetch_all(
                sql(
                    "select * from template where tenant_id = $1 and deleted_at is null and template_id > $2 \
                     order by template_id limit $3",
                )
                .bind(tenant_id)
                .bind(page.cursor.as_deref().unwrap_or(""))
                .bind(page.limit + 1),
            )
            .await?;
        let items = rows.iter().map(template_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |t| t.id.clone()))
    }

    async fn get_template(&self, tenant_id: &str, template_id: &str) -> Result<TemplateRecord> {
        let row = self
            .db
            .fetch_one(
                sql("select * from template where tenant_id = $1 and template_id = $2 and deleted_at is null")
                    .bind(tenant_id)
                    .bind(template_id),
            )
            .await?;
        template_from_row(&row)
    }

    async fn delete_template(&self, tenant_id: &str, template_id: &str, now: Millis, change: &Change) -> Result<()> {
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql(
                    "update template set deleted_at = $1 where tenant_id = $2 and template_id = $3 \
                     and deleted_at is null",
                )
                .bind(now)
                .bind(tenant_id)
                .bind(template_id),
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        let entry = AuditEntry::new(AuditAction::TemplateDelete, "template", template_id);
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await
    }

    async fn sync_templates(
        &self,
        tenant_id: &str,
        templates: &[TemplateRecord],
        now: Millis,
        change: &Change,
    ) -> Result<TemplateSync> {
        let mut tx = self.db.write().await?;
        let (mut created, mut updated) = (0, 0);
        let mut items = Vec::with_capacity(templates.len());
        for t in templates {
            let existing = tx
                .fetch_optional(
                    sql(
                        "select * from template where tenant_id = $1 and name = $2 and language = $3 \
                         and deleted_at is null order by template_id limit 1",
                    )
                    .bind(tenant_id)
                    .bind(&t.name)
                    .bind(&t.language),
                )
                .await?;
            match existing {
                Some(row) => {
                    let mut current = template_from_row(&row)?;
                    tx.execute(
                        sql(
                            "update template set body = $1, header_image = $2, category = $3, status = $4, \
                             quality = $5 where template_id = $6",
                        )
                        .bind(&t.body)
                        .bind(&t.header_image)
                        .bind(t.category.as_str())
                        .bind(t.status.as_str())
                        .bind(t.quality.as_str())
                        .bind(&current.id),
                    )
                    .await?;
                    current.body = t.body.clone();
                    current.header_image = t.header_image.clone();
                    current.category = t.category;
                    current.status = t.status;
                    current.quality = t.quality;
                    updated += 1;
                    items.push(current);
                }
                None => {
                    let mut fresh = t.clone();
                    fresh.tenant_id = tenant_id.to_string();
                    insert(&mut tx, &fresh).await?;
                    created += 1;
                    items.push(fresh);
                }
            }
        }
        let entry = AuditEntry::new(AuditAction::TemplateSync, "template", "*")
            .with(json!({"created": created, "updated": updated}));
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await?;
        Ok(TemplateSync {
            created,
            updated,
            items,
        })
    }
}
