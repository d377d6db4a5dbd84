//! pregon's durable store: one set of transaction scripts over two databases.
//!
//! [`open`] picks the database by URL:
//! - `sqlite://FILE`: embedded, the default; one writer at a time;
//! - `postgres://…` or `postgresql://…`: shared by any number of pregon processes on any
//!   number of hosts (scale-out).
//!
//! Every transaction is written once, against the dialect seam ([`db`]); the few that really
//! differ between the two keep one implementation per dialect side by side, in their
//! aggregate. Each database has its own migrations (`migrations/<dialect>/`), and one
//! conformance suite (`tests/conformance.rs`) holds both to the same semantics.
//!
//! # Layout
//! One module per aggregate, each with the trait its consumers see and its transactions:
//! - [`tenants`]: tenants and their webhook secrets ([`TenantStore`]);
//! - [`accounts`]: a tenant's users, sessions and API keys ([`AccountStore`]);
//! - [`audit`]: the audit log, written in the transaction of each change ([`AuditStore`]);
//! - [`idempotency`]: `Idempotency-Key`s, reserved, committed with the change, answered
//!   again ([`IdempotencyStore`]);
//! - [`senders`]: a tenant's numbers ([`SenderStore`]);
//! - [`templates`]: message shapes ([`TemplateStore`]);
//! - [`campaigns`]: campaigns, their messages and single messages ([`CampaignStore`]); the
//!   steps that move a campaign (`transitions`), its opening state and actions (`plan`), its
//!   exact counts (`counts`), and the campaign object of the API and notifications
//!   ([`CampaignObject`]);
//! - [`consent`]: opt-outs and opt-ins ([`ConsentStore`]);
//! - [`dispatch`]: leases, claims, attempts, daily limits ([`DispatchStore`]);
//! - [`scheduler`]: scheduled starts and window verdicts ([`ScheduleStore`]);
//! - [`reports`]: what providers report: statuses, replies, sender quality ([`ReportStore`]);
//! - [`notifications`]: the outbox of campaign notifications ([`NotificationStore`]);
//! - [`pricing`]: rate cards, campaign estimates, what each message was billed ([`PricingStore`]);
//! - [`retention`]: deleting what is old enough ([`RetentionStore`]);
//! - [`lookup`]: reads by id across tenants, for background work ([`Lookup`]);
//! - [`system`]: health, dispatcher registry, queue depth ([`SystemStore`]).
//! - [`metrics`]: the aggregates `/metrics` reads at each scrape ([`MetricsStore`]).
//!
//! Beside them: [`records`] (the plain data read and written), `rows` (reading rows into
//! records), [`error`] (the one error type) and `db` (the seam).
//!
//! # Consumers
//! Each part of pregon takes only the traits it uses: the dispatcher a [`DispatcherStore`],
//! the report writer a [`ReportWriterStore`], the notifier a [`NotificationStore`], retention
//! a [`RetentionStore`], the API an [`ApiStore`]. [`Store`] is all of them, what [`open`]
//! returns; an `Arc<dyn Store>` coerces to any of them.
//!
//! # Rules every transaction keeps
//! - every tenant-facing query is scoped by tenant: another tenant's id is `NotFound`;
//! - campaign counters change in the same transaction as the messages they count;
//! - every dispatcher write about a message is fenced by the sender lease epoch under which
//!   it was claimed, so a dispatcher that lost its lease cannot overwrite the new owner's work.
//!
//! # Lock order (PostgreSQL)
//! SQLite serialises every write. PostgreSQL runs at READ COMMITTED and takes row locks,
//! always in this order, so that concurrent writers wait for each other instead of
//! deadlocking (in SQLite each lock is a no-op: [`db`]'s `Tx::lock`):
//!
//! 1. the tenant's row, where its default sender changes;
//! 2. the sender's lease row: `for share` in every lease-checked dispatcher write, so a
//!    takeover (which updates the row) waits for them, and they fail with `LeaseLost` after
//!    it; and the sender row where a campaign's status depends on the sender's: `for no key
//!    update` where the sender's status changes (its campaigns follow in the same
//!    transaction), `for share` where a campaign is made to run (it waits for its sender if
//!    the sender is not active), so neither misses the other;
//! 3. campaign rows, in campaign id order, before any of their messages. The dispatcher's
//!    batch writes (claim, mark `sending`, record outcomes, hand back, defer) take them
//!    `for share`: the campaign's state cannot change under them, yet one campaign's next
//!    claim, current `sending` mark and previous outcomes run side by side. They add their
//!    count changes as rows of `campaign_tally` (reads go through the view
//!    `campaign_counted`, base counters plus tally) instead of updating the row. So do
//!    provider status reports about messages already out of the queue's states (they lock
//!    only such message rows, in id order, which no batch writes). Every other write takes
//!    them `for no key update` and updates the counters in place; it waits for the shared
//!    holders and they for it. Tally rows are folded into the row now and then, under the
//!    exclusive lock. A batch under a shared lock never completes its campaign itself:
//!    `record_outcomes` does so after its commit, in a transaction of its own;
//! 4. message rows last. Claims lock theirs with `for update skip locked`.

pub mod accounts;
pub mod audit;
pub mod campaigns;
pub mod consent;
mod db;
pub mod dispatch;
pub mod error;
pub mod idempotency;
pub mod identity;
pub mod lookup;
pub mod metrics;
pub mod notifications;
pub mod pricing;
pub mod records;
pub mod reports;
pub mod retention;
mod rows;
pub mod scheduler;
pub mod senders;
pub mod system;
pub mod templates;
pub mod tenants;

use std::sync::Arc;

pub use accounts::{
    AccountStore, ApiKeyRecord, KeyAuth, Login, NewApiKey, NewSession, NewUser, SessionAuth, UserPatch, UserRecord,
};
pub use audit::{Actor, AuditEntry, AuditFilter, AuditRecord, AuditStore, Change, Reservation};
pub use campaigns::object::{CampaignObject, CostObject};
pub use campaigns::transitions::TemplateCampaigns;
pub use campaigns::CampaignStore;
pub use consent::ConsentStore;
pub use dispatch::DispatchStore;
pub use error::{Constraint, Result, StoreError, Unavailability};
pub use idempotency::{IdempotencyStore, KeyRequest, Reserved};
pub use lookup::Lookup;
pub use metrics::{MetricsStore, NotificationCounts, SenderQueue};
pub use notifications::NotificationStore;
pub use pricing::{CampaignCost, PricingStore, ReportedPricing};
pub use records::*;
pub use reports::ReportStore;
pub use retention::RetentionStore;
pub use scheduler::ScheduleStore;
pub use senders::SenderStore;
pub use system::{Readiness, SystemStore};
pub use templates::{TemplateEventApplied, TemplateStore, TemplateSync};
pub use tenants::TenantStore;

/// Connection pool size for PostgreSQL when none is given.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// The store over one database: every aggregate's trait is implemented on it, once.
#[derive(Clone)]
pub struct SqlStore {
    db: db::Db,
}

impl SqlStore {
    /// Connects to the database a URL names, without migrating it.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        Ok(SqlStore {
            db: db::Db::connect(url, pool_size).await?,
        })
    }

    /// Applies pending migrations. Safe to run from many processes at once.
    pub async fn migrate(&self) -> Result<()> {
        self.db.migrate().await
    }
}

/// Opens the store a URL names and applies its migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with(url, DEFAULT_POOL_SIZE).await
}

/// Opens the store with a given PostgreSQL pool size (SQLite keeps one writer and a few
/// readers whatever the size), and applies its migrations.
pub async fn open_with(url: &str, pool_size: u32) -> Result<Arc<dyn Store>> {
    let store = SqlStore::connect(url, pool_size).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

/// What the dispatcher uses: its own writes, the scheduler's, the registry, and reads by id.
/// It records the opt-outs a provider reports on a send (Meta's 131050) in the consent register.
pub trait DispatcherStore: DispatchStore + ScheduleStore + SystemStore + ConsentStore + Lookup {}
impl<T: DispatchStore + ScheduleStore + SystemStore + ConsentStore + Lookup> DispatcherStore for T {}

/// What the report writer (provider webhooks) uses: the reports, and reads by id.
/// It keeps the pricing statuses carry ([`PricingStore::record_pricing`]).
pub trait ReportWriterStore: ReportStore + PricingStore + Lookup {}
impl<T: ReportStore + PricingStore + Lookup> ReportWriterStore for T {}

/// What the HTTP API uses: every tenant-scoped aggregate, the reports it lists, the
/// system's state, and reads by id (webhook routing, previews).
pub trait ApiStore:
    TenantStore
    + AccountStore
    + AuditStore
    + IdempotencyStore
    + SenderStore
    + TemplateStore
    + ConsentStore
    + CampaignStore
    + ReportStore
    + NotificationStore
    + PricingStore
    + SystemStore
    + MetricsStore
    + Lookup
{
}
impl<T> ApiStore for T where
    T: TenantStore
        + AccountStore
        + AuditStore
        + IdempotencyStore
        + SenderStore
        + TemplateStore
        + ConsentStore
        + CampaignStore
        + ReportStore
        + NotificationStore
        + PricingStore
        + SystemStore
        + MetricsStore
        + Lookup
{
}

/// The whole store: every aggregate.
pub trait Store: ApiStore + DispatcherStore + ReportWriterStore + RetentionStore + 'static {}
impl<T: ApiStore + DispatcherStore + ReportWriterStore + RetentionStore + 'static> Store for T {}
