//! Consent: a tenant's two registers of phone numbers, the opt-outs it must not message and
//! the opt-ins that consented to be messaged. Both are kept and read the same way, so one
//! set of statements serves both ([`Register`]); only what a row holds differs.

use std::collections::HashSet;

use async_trait::async_trait;
use pregon_domain::{AuditAction, OptOutScope, TemplateCategory};
use serde_json::json;

use crate::audit::{self, AuditEntry, Change};
use crate::db::{sql, DbRow, Texts};
use crate::error::{Result, StoreError};
use crate::records::{Millis, OptInRecord, OptOutRecord, Page, PageRequest};
use crate::rows::{opt_in_from_row, opt_out_from_row, page_of, RecordRow};
use crate::SqlStore;

/// A tenant's opt-outs and opt-ins, as the API and the import use them.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Adds (or refreshes) an opt-out. A `marketing` one never narrows an opt-out of
    /// everything; an `all` one widens a marketing one.
    #[allow(clippy::too_many_arguments)]
    async fn add_opt_out(
        &self,
        tenant_id: &str,
        phone: &str,
        reason: Option<&str>,
        source: &str,
        scope: OptOutScope,
        now: Millis,
        change: &Change,
    ) -> Result<OptOutRecord>;
    /// A page of opt-outs by phone; with `phone_prefix`, only the phones starting with it.
    async fn list_opt_outs(
        &self,
        tenant_id: &str,
        phone_prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<OptOutRecord>>;
    /// Adds many opt-outs in one transaction (a CSV import), refreshing those already
    /// there; one audit entry names how many. Answers how many phones were new.
    async fn import_opt_outs(
        &self,
        tenant_id: &str,
        phones: &[String],
        reason: Option<&str>,
        now: Millis,
        change: &Change,
    ) -> Result<u64>;
    async fn delete_opt_out(&self, tenant_id: &str, phone: &str, now: Millis, change: &Change) -> Result<()>;
    /// Removes a phone's opt-out if it covers marketing only (the user resumed marketing
    /// messages); an opt-out of everything stays. True when one was removed.
    async fn lift_marketing_opt_out(&self, tenant_id: &str, phone: &str, now: Millis, change: &Change) -> Result<bool>;
    /// The phones whose opt-out covers a message of a template of `category` (`None`: not
    /// known, treated as marketing).
    async fn opted_out_phones(&self, tenant_id: &str, category: Option<TemplateCategory>) -> Result<HashSet<String>>;
    /// Records (or refreshes) a phone's consent to be messaged.
    async fn add_opt_in(
        &self,
        tenant_id: &str,
        phone: &str,
        source: &str,
        evidence: Option<&str>,
        now: Millis,
        change: &Change,
    ) -> Result<OptInRecord>;
    /// A page of opt-ins by phone; with `phone_prefix`, only the phones starting with it.
    async fn list_opt_ins(
        &self,
        tenant_id: &str,
        phone_prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<OptInRecord>>;
    async fn delete_opt_in(&self, tenant_id: &str, phone: &str, now: Millis, change: &Change) -> Result<()>;
    async fn opted_in_phones(&self, tenant_id: &str) -> Result<HashSet<String>>;
    /// Records that `phone` (E.164) and `user_id` (a BSUID) name the same user
    /// (idempotent): an opt-out under either then covers the other.
    async fn link_recipient(&self, tenant_id: &str, phone: &str, user_id: &str, now: Millis) -> Result<()>;
    /// The identifiers linked to `key`: a phone's BSUIDs, or a BSUID's phones.
    async fn linked_identities(&self, tenant_id: &str, key: &str) -> Result<Vec<String>>;
}

/// One of the two registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Register {
    OptOut,
    OptIn,
}

impl Register {
    fn table(self) -> &'static str {
        match self {
            Register::OptOut => "opt_out",
            Register::OptIn => "opt_in",
        }
    }

    /// What a row holds, as its record reads it.
    fn columns(self) -> &'static str {
        match self {
            Register::OptOut => "phone, reason, source, scope, created_at",
            Register::OptIn => "phone, source, evidence, created_at",
        }
    }

    /// How the audit log names an addition and a removal, and what it names.
    fn audit(self, added: bool) -> (AuditAction, &'static str) {
        match (self, added) {
            (Register::OptOut, true) => (AuditAction::OptOutCreate, "opt_out"),
            (Register::OptOut, false) => (AuditAction::OptOutDelete, "opt_out"),
            (Register::OptIn, true) => (AuditAction::OptInCreate, "opt_in"),
            (Register::OptIn, false) => (AuditAction::OptInDelete, "opt_in"),
        }
    }
}

impl SqlStore {
    /// Adds a phone to a register, or refreshes it: `note` is the opt-out's reason or the
    /// opt-in's evidence, kept when a later addition gives none; an opt-in's source is the
    /// latest, an opt-out's the first. `scope` is an opt-out's (opt-ins have none).
    #[allow(clippy::too_many_arguments)]
    async fn register_add(
        &self,
        register: Register,
        tenant_id: &str,
        phone: &str,
        source: &str,
        note: Option<&str>,
        scope: OptOutScope,
        now: Millis,
        change: &Change,
    ) -> Result<DbRow> {
        let (table, columns) = (register.table(), register.columns());
        let (note_column, refresh) = match register {
            Register::OptOut => (
                "reason",
                "reason = coalesce(excluded.reason, opt_out.reason), \
                 scope = case when opt_out.scope = 'all' or excluded.scope = 'all' then 'all' else opt_out.scope end",
            ),
            Register::OptIn => (
                "evidence",
                "source = excluded.source, evidence = coalesce(excluded.evidence, opt_in.evidence)",
            ),
        };
        let (scope_column, scope_value) = match register {
            Register::OptOut => (", scope", ", $6"),
            Register::OptIn => ("", ""),
        };
        let mut tx = self.db.write().await?;
        let mut insert = sql(format!(
            "insert into {table} (tenant_id, phone, source, {note_column}, created_at{scope_column}) \
             values ($1, $2, $3, $4, $5{scope_value}) on conflict (tenant_id, phone) do update set {refresh} \
             returning {columns}"
        ))
        .bind(tenant_id)
        .bind(phone)
        .bind(source)
        .bind(note)
        .bind(now);
        if register == Register::OptOut {
            insert = insert.bind(scope.as_str());
        }
        let row = tx.fetch_one(insert).await?;
        let (action, kind) = register.audit(true);
        let mut details = json!({"source": source, note_column: note});
        if register == Register::OptOut {
            details["scope"] = json!(scope.as_str());
        }
        let entry = AuditEntry::new(action, kind, phone).with(details);
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn register_list(
        &self,
        register: Register,
        tenant_id: &str,
        phone_prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Vec<DbRow>> {
        let (table, columns) = (register.table(), register.columns());
        // Phones are E.164 (`+` and digits): anything else in a prefix matches nothing, and
        // no LIKE wildcard can come from the caller.
        let prefix = phone_prefix.map(|p| {
            p.chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect::<String>()
        });
        let pattern = prefix.map(|p| format!("{p}%")).unwrap_or_else(|| "%".into());
        self.db
            .fetch_all(
                sql(format!(
                    "select {columns} from {table} where tenant_id = $1 and phone > $2 and phone like $4 \
                     order by phone limit $3"
                ))
                .bind(tenant_id)
                .bind(page.cursor.as_deref().unwrap_or(""))
                .bind(page.limit + 1)
                .bind(pattern),
            )
            .await
    }

    async fn import_opt_out_rows(
        &self,
        tenant_id: &str,
        phones: &[String],
        reason: Option<&str>,
        now: Millis,
        change: &Change,
    ) -> Result<u64> {
        let mut tx = self.db.write().await?;
        let mut added = 0;
        for phone in phones {
            added += tx
                .execute(
                    sql("insert into opt_out (tenant_id, phone, source, reason, created_at) \
                         values ($1, $2, 'import', $3, $4) on conflict (tenant_id, phone) do nothing")
                    .bind(tenant_id)
                    .bind(phone)
                    .bind(reason)
                    .bind(now),
                )
                .await?;
        }
        let entry = AuditEntry::new(AuditAction::OptOutCreate, "opt_out", "import")
            .with(json!({"source": "import", "received": phones.len(), "added": added, "reason": reason}));
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn register_delete(
        &self,
        register: Register,
        tenant_id: &str,
        phone: &str,
        now: Millis,
        change: &Change,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql(format!(
                    "delete from {} where tenant_id = $1 and phone = $2",
                    register.table()
                ))
                .bind(tenant_id)
                .bind(phone),
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        let (action, kind) = register.audit(false);
        audit::record(&mut tx, tenant_id, change, AuditEntry::new(action, kind, phone), now).await?;
        tx.commit().await
    }

    async fn register_phones(&self, register: Register, tenant_id: &str) -> Result<HashSet<String>> {
        let rows = self
            .db
            .fetch_all(sql(format!("select phone from {} where tenant_id = $1", register.table())).bind(tenant_id))
            .await?;
        rows.iter().map(|r| r.text("phone")).collect()
    }

    /// Of `phones`, those in the register (one query).
    pub(crate) async fn register_among(
        &self,
        register: Register,
        tenant_id: &str,
        phones: &[String],
    ) -> Result<HashSet<String>> {
        if phones.is_empty() {
            return Ok(HashSet::new());
        }
        let among = self.db.dialect().in_list("phone", "$2");
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select phone from {} where tenant_id = $1 and {among}",
                    register.table()
                ))
                .bind(tenant_id)
                .bind(Texts(phones)),
            )
            .await?;
        rows.iter().map(|r| r.text("phone")).collect()
    }
}

#[async_trait]
impl ConsentStore for SqlStore {
    async fn add_opt_out(
        &self,
        tenant_id: &str,
        phone: &str,
        reason: Option<&str>,
        source: &str,
        scope: OptOutScope,
        now: Millis,
        change: &Change,
    ) -> Result<OptOutRecord> {
        let row = self
            .register_add(Register::OptOut, tenant_id, phone, source, reason, scope, now, change)
            .await?;
        opt_out_from_row(&row)
    }

    async fn list_opt_outs(
        &self,
        tenant_id: &str,
        phone_prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<OptOutRecord>> {
        let rows = self
            .register_list(Register::OptOut, tenant_id, phone_prefix, page)
            .await?;
        let items = rows.iter().map(opt_out_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |o| o.phone.clone()))
    }

    async fn delete_opt_out(&self, tenant_id: &str, phone: &str, now: Millis, change: &Change) -> Result<()> {
        self.register_delete(Register::OptOut, tenant_id, phone, now, change)
            .await
    }

    async fn opted_out_phones(&self, tenant_id: &str, category: Option<TemplateCategory>) -> Result<HashSet<String>> {
        let marketing = OptOutScope::Marketing.covers(category);
        let rows = self
            .db
            .fetch_all(
                // Linked identifiers are covered too: a BSUID's opt-out covers its phone.
                sql(
                    "select phone from opt_out where tenant_id = $1 and (scope = 'all' or $2) \
                     union select l.user_id from recipient_link l join opt_out o on o.tenant_id = l.tenant_id \
                       and o.phone = l.phone where l.tenant_id = $1 and (o.scope = 'all' or $2) \
                     union select l.phone from recipient_link l join opt_out o on o.tenant_id = l.tenant_id \
                       and o.phone = l.user_id where l.tenant_id = $1 and (o.scope = 'all' or $2)",
                )
                .bind(tenant_id)
                .bind(marketing),
            )
            .await?;
        rows.iter().map(|r| r.text("phone")).collect()
    }

    async fn import_opt_outs(
        &self,
        tenant_id: &str,
        phones: &[String],
        reason: Option<&str>,
        now: Millis,
        change: &Change,
    ) -> Result<u64> {
        self.import_opt_out_rows(tenant_id, phones, reason, now, change).await
    }

    async fn lift_marketing_opt_out(&self, tenant_id: &str, phone: &str, now: Millis, change: &Change) -> Result<bool> {
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql("delete from opt_out where tenant_id = $1 and phone = $2 and scope = 'marketing'")
                    .bind(tenant_id)
                    .bind(phone),
            )
            .await?;
        if done > 0 {
            let entry = AuditEntry::new(AuditAction::OptOutDelete, "opt_out", phone)
                .with(json!({"scope": "marketing", "why": "resumed marketing messages"}));
            audit::record(&mut tx, tenant_id, change, entry, now).await?;
        }
        tx.commit().await?;
        Ok(done > 0)
    }

    async fn add_opt_in(
        &self,
        tenant_id: &str,
        phone: &str,
        source: &str,
        evidence: Option<&str>,
        now: Millis,
        change: &Change,
    ) -> Result<OptInRecord> {
        let row = self
            .register_add(
                Register::OptIn,
                tenant_id,
                phone,
                source,
                evidence,
                OptOutScope::All,
                now,
                change,
            )
            .await?;
        opt_in_from_row(&row)
    }

    async fn list_opt_ins(
        &self,
        tenant_id: &str,
        phone_prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<OptInRecord>> {
        let rows = self
            .register_list(Register::OptIn, tenant_id, phone_prefix, page)
            .await?;
        let items = rows.iter().map(opt_in_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |o| o.phone.clone()))
    }

    async fn delete_opt_in(&self, tenant_id: &str, phone: &str, now: Millis, change: &Change) -> Result<()> {
        self.register_delete(Register::OptIn, tenant_id, phone, now, change)
            .await
    }

    async fn opted_in_phones(&self, tenant_id: &str) -> Result<HashSet<String>> {
        self.register_phones(Register::OptIn, tenant_id).await
    }

    async fn link_recipient(&self, tenant_id: &str, phone: &str, user_id: &str, now: Millis) -> Result<()> {
        self.link_recipient_now(tenant_id, phone, user_id, now).await
    }

    async fn linked_identities(&self, tenant_id: &str, key: &str) -> Result<Vec<String>> {
        self.linked_to(tenant_id, key).await
    }
}
