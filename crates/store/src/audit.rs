//! The audit log: every change made through the API or the CLI, written in the transaction
//! of the change itself, so that a change is never without its record nor a record without
//! its change.
//!
//! A write the API makes takes a [`Change`]: who makes it, and the `Idempotency-Key` it was
//! sent with. The write calls [`record`] before it commits, which appends the audit row and
//! marks the key committed ([`crate::idempotency`]).

use async_trait::async_trait;
use pregon_domain::{ActorKind, AuditAction};

use crate::db::{sql, Tx};
use crate::error::{Constraint, Result, StoreError};
use crate::records::{Millis, Page, PageRequest};
use crate::rows::{page_of, parse_enum, RecordRow};
use crate::SqlStore;

/// Who makes a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// The user's or API key's id (`None` from the CLI).
    pub id: Option<String>,
    /// The user's name, the key's name, or the operator's login at the CLI.
    pub name: String,
}

impl Actor {
    /// pregon itself (see [`ActorKind::System`]).
    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: "pregon".into(),
        }
    }

    /// An operator at the command line.
    pub fn cli(name: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::Cli,
            id: None,
            name: name.into(),
        }
    }
}

/// A request's reservation of its `Idempotency-Key` ([`crate::IdempotencyStore`]): the change
/// it makes commits the key, conditional on `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub tenant_id: String,
    pub key: String,
    /// This request's hold on the key; a request that took the key over since has another.
    pub token: String,
}

/// The context of a change: who makes it, and the idempotency key it was sent with.
#[derive(Debug, Clone)]
pub struct Change {
    pub actor: Actor,
    pub idempotency: Option<Reservation>,
}

impl Change {
    /// A change with no idempotency key.
    pub fn by(actor: Actor) -> Self {
        Change {
            actor,
            idempotency: None,
        }
    }
}

/// What an audit row says of a change.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub action: AuditAction,
    /// What was changed: its kind (`campaign`, `sender`, …) and id.
    pub target: Option<(&'static str, String)>,
    /// The relevant details, never secrets.
    pub details: serde_json::Value,
}

impl AuditEntry {
    pub fn new(action: AuditAction, kind: &'static str, id: impl Into<String>) -> Self {
        AuditEntry {
            action,
            target: Some((kind, id.into())),
            details: serde_json::json!({}),
        }
    }

    pub fn with(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// An audit row, as listed.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: i64,
    pub at: Millis,
    pub actor: Actor,
    pub action: AuditAction,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub details: serde_json::Value,
}

/// Which audit rows to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<AuditAction>,
}

/// Appends the change's audit row and commits its idempotency key, in the change's
/// transaction. A key another request took over since this one reserved it refuses the
/// change (`Conflict`), so that only one of them commits.
pub(crate) async fn record(
    tx: &mut Tx,
    tenant_id: &str,
    change: &Change,
    entry: AuditEntry,
    now: Millis,
) -> Result<()> {
    let (target_kind, target_id) = match &entry.target {
        Some((kind, id)) => (Some(*kind), Some(id.as_str())),
        None => (None, None),
    };
    tx.execute(
        sql(
            "insert into audit_event (tenant_id, at, actor_kind, actor_id, actor_name, action, target_kind, \
             target_id, details) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(tenant_id)
        .bind(now)
        .bind(change.actor.kind.as_str())
        .bind(&change.actor.id)
        .bind(change.actor.name.as_str())
        .bind(entry.action.as_str())
        .bind(target_kind)
        .bind(target_id)
        .bind(entry.details.to_string()),
    )
    .await?;
    if let Some(r) = &change.idempotency {
        let resource = entry.target.as_ref().map(|(kind, id)| format!("{kind}/{id}"));
        let committed = tx
            .execute(
                sql(
                    "update idempotency_key set state = 'committed', resource = $1, updated_at = $2 \
                     where tenant_id = $3 and idempotency_key = $4 and token = $5 and state = 'running'",
                )
                .bind(resource)
                .bind(now)
                .bind(&r.tenant_id)
                .bind(&r.key)
                .bind(&r.token),
            )
            .await?;
        if committed == 0 {
            return Err(StoreError::Conflict {
                constraint: Constraint::IdempotencyKeyTaken,
            });
        }
    }
    Ok(())
}

/// The audit log, as the owner reads it, and changes that are only reads (an export).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// The tenant's audit rows, newest first.
    async fn list_audit(&self, tenant_id: &str, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditRecord>>;
    /// Records an action that changes nothing else (an export), in a transaction of its own.
    async fn record_audit(&self, tenant_id: &str, entry: AuditEntry, now: Millis, change: &Change) -> Result<()>;
}

fn audit_from_row(row: &impl RecordRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: row.int("audit_event_id")?,
        at: row.int("at")?,
        actor: Actor {
            kind: parse_enum(&row.text("actor_kind")?)?,
            id: row.opt_text("actor_id")?,
            name: row.text("actor_name")?,
        },
        action: parse_enum(&row.text("action")?)?,
        target_kind: row.opt_text("target_kind")?,
        target_id: row.opt_text("target_id")?,
        details: serde_json::from_str(&row.text("details")?).unwrap_or_default(),
    })
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn list_audit(&self, tenant_id: &str, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditRecord>> {
        let before: i64 = match &page.cursor {
            None => i64::MAX,
            Some(c) => c.parse().map_err(|_| StoreError::NotFound)?,
        };
        let rows = self
            .db
            .fetch_all(
                sql(
                    "select audit_event_id, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, \
                     details from audit_event where tenant_id = $1 and (cast($2 as text) is null or action = $2) \
                     and audit_event_id < $3 order by audit_event_id desc limit $4",
                )
                .bind(tenant_id)
                .bind(filter.action.map(AuditAction::as_str))
                .bind(before)
                .bind(page.limit + 1),
            )
            .await?;
        let items = rows.iter().map(audit_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |a| a.id.to_string()))
    }

    async fn record_audit(&self, tenant_id: &str, entry: AuditEntry, now: Millis, change: &Change) -> Result<()> {
        let mut tx = self.db.write().await?;
        record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await
    }
}
