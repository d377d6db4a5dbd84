//! pregon's durable store.
//!
//! One [`Store`] trait holds every query the API and the dispatcher make; each database has
//! its own implementation with its own migrations (`migrations/<dialect>/`) and runtime
//! queries, and one conformance suite (`tests/conformance.rs`) holds them to the same
//! semantics. [`open`] picks one by URL:
//! - `sqlite://FILE`: [`sqlite::SqliteStore`], embedded and the default;
//! - `postgres://…` or `postgresql://…`: [`postgres::PostgresStore`], shared by any number of
//!   pregon processes on any number of hosts (scale-out).
//!
//! What does not depend on the dialect is written once and shared by both: reading rows into
//! records (`rows`), the JSON payloads of batched writes and the counter changes they make
//! (`batch`), and the order of a claim and the steps of a campaign action (`plan`).
//!
//! Rules every implementation keeps:
//! - every tenant-facing query is scoped by tenant: another tenant's id is `NotFound`;
//! - campaign counters change in the same transaction as the messages they count;
//! - every dispatcher write about a message is fenced by the sender lease epoch under which
//!   it was claimed, so a dispatcher that lost its lease cannot overwrite the new owner's work.

mod batch;
pub mod notify;
mod plan;
pub mod postgres;
pub mod records;
mod rows;
pub mod sqlite;
mod webhook;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use pregon_domain::state::CampaignAction;
use pregon_domain::{CampaignStatus, MessageStatus, PausedReason};

pub use records::*;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or a state rule refused the change.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The campaign's state does not allow the action.
    #[error("cannot {action} a campaign that is {from}")]
    IllegalTransition { action: &'static str, from: CampaignStatus },
    /// The sender lease under which the dispatcher wrote is no longer its own.
    #[error("the sender lease was lost")]
    LeaseLost,
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://USER@HOST/DATABASE")]
    UnsupportedUrl(String),
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Db(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
            _ => StoreError::Db(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Connection pool size for PostgreSQL when none is given.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// Opens the store a URL names and applies its migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with(url, DEFAULT_POOL_SIZE).await
}

/// Opens the store with a given PostgreSQL pool size (SQLite keeps one writer and a few
/// readers whatever the size). Migrations are safe to run from many processes at once.
pub async fn open_with(url: &str, pool_size: u32) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = sqlite::SqliteStore::connect(url).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = postgres::PostgresStore::connect(url, pool_size).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

/// Every query pregon makes. Times are milliseconds since the Unix epoch, passed in by the
/// caller so that tests control the clock.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;

    // --- tenants and API keys -------------------------------------------------------
    async fn create_tenant(&self, name: &str, webhook_secret: &str, now: Millis) -> Result<Tenant>;
    async fn tenant_count(&self) -> Result<i64>;
    async fn add_api_key(&self, tenant_id: &str, key_hash: &str, prefix: &str, now: Millis) -> Result<()>;
    async fn tenant_by_api_key(&self, key_hash: &str) -> Result<Option<Tenant>>;

    // --- senders --------------------------------------------------------------------
    /// Inserts a sender; when it is the default, the tenant's previous default stops being one.
    async fn insert_sender(&self, sender: &SenderRecord) -> Result<()>;
    async fn list_senders(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<SenderRecord>>;
    async fn get_sender(&self, tenant_id: &str, sender_id: &str) -> Result<SenderRecord>;
    /// Unscoped: for the dispatcher, which works for every tenant.
    async fn sender_by_id(&self, sender_id: &str) -> Result<SenderRecord>;
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
    ) -> Result<SenderRecord>;
    /// Soft-deletes; refused while the sender has unfinished campaigns.
    async fn delete_sender(&self, tenant_id: &str, sender_id: &str, now: Millis) -> Result<()>;

    // --- templates ------------------------------------------------------------------
    async fn insert_template(&self, template: &TemplateRecord) -> Result<()>;
    async fn list_templates(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<TemplateRecord>>;
    async fn get_template(&self, tenant_id: &str, template_id: &str) -> Result<TemplateRecord>;
    /// Unscoped and including deleted ones: messages keep rendering with the template they
    /// were created with.
    async fn template_by_id(&self, template_id: &str) -> Result<TemplateRecord>;
    async fn delete_template(&self, tenant_id: &str, template_id: &str, now: Millis) -> Result<()>;

    // --- opt-outs -------------------------------------------------------------------
    /// Adds (or refreshes) an opt-out.
    async fn add_opt_out(
        &self,
        tenant_id: &str,
        phone: &str,
        reason: Option<&str>,
        source: &str,
        now: Millis,
    ) -> Result<OptOutRecord>;
    async fn list_opt_outs(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<OptOutRecord>>;
    async fn delete_opt_out(&self, tenant_id: &str, phone: &str) -> Result<()>;
    async fn opted_out_phones(&self, tenant_id: &str) -> Result<HashSet<String>>;

    // --- campaigns ------------------------------------------------------------------
    /// Creates a campaign and all its messages in one transaction: all or nothing. One that
    /// would start running on a sender that is not `active` starts `paused` (`sender_paused`).
    async fn create_campaign(&self, campaign: NewCampaign) -> Result<CampaignRecord>;
    async fn list_campaigns(
        &self,
        tenant_id: &str,
        status: Option<CampaignStatus>,
        page: &PageRequest,
    ) -> Result<Page<CampaignRecord>>;
    async fn get_campaign(&self, tenant_id: &str, campaign_id: &str) -> Result<CampaignRecord>;
    async fn campaign_by_id(&self, campaign_id: &str) -> Result<CampaignRecord>;
    /// Applies a person's action, checking the state machine; `include_unknown` is for retry.
    /// An action that would make the campaign run while its sender is not `active` leaves it
    /// `paused` (`sender_paused`) instead, to resume with the sender; `pause` of such a
    /// campaign makes the pause the person's (`user`).
    async fn apply_action(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        action: CampaignAction,
        include_unknown: bool,
        now: Millis,
    ) -> Result<CampaignRecord>;
    async fn list_messages(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        status: Option<MessageStatus>,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>>;

    // --- single messages ------------------------------------------------------------
    async fn insert_single_message(&self, message: NewSingleMessage) -> Result<MessageRecord>;
    async fn get_message(&self, tenant_id: &str, message_id: i64) -> Result<MessageRecord>;
    async fn message_events(&self, message_id: i64) -> Result<Vec<EventRecord>>;
    /// Cancels a message not yet attempted; `IllegalTransition`-like `Conflict` otherwise.
    async fn cancel_message(&self, tenant_id: &str, message_id: i64, now: Millis) -> Result<MessageRecord>;

    // --- dispatch -------------------------------------------------------------------
    async fn register_dispatcher(&self, info: &DispatcherInfo) -> Result<()>;
    async fn heartbeat_dispatcher(&self, dispatcher_id: &str, current_rate: f64, now: Millis) -> Result<()>;
    /// Removes a dispatcher and frees its leases at once (graceful exit, or found dead).
    async fn remove_dispatcher(&self, dispatcher_id: &str) -> Result<()>;
    async fn list_dispatchers(&self) -> Result<Vec<DispatcherRecord>>;
    /// Active senders that have a running campaign or a due single message.
    async fn senders_with_work(&self, now: Millis) -> Result<Vec<String>>;
    /// Takes the sender's lease when it is free or expired (or already ours), with a new
    /// epoch. A new owner first recovers the previous owner's work in the same transaction:
    /// `claimed` goes back to `queued`, `sending` becomes `unknown`.
    async fn acquire_lease(&self, sender_id: &str, owner_id: &str, ttl_ms: i64, now: Millis) -> Result<Option<Lease>>;
    /// Extends the lease; false when it is no longer ours.
    async fn renew_lease(&self, lease: &Lease, ttl_ms: i64, now: Millis) -> Result<bool>;
    async fn release_lease(&self, lease: &Lease) -> Result<()>;
    /// Reserves up to `limit` due messages: highest priority first, round-robin between
    /// campaigns of equal priority, oldest first within a campaign.
    /// `round` rotates the round-robin so that small claims still take turns; `caps` hold
    /// back campaigns paced by their own rate plans. Only campaigns that may send now
    /// (running, and inside their window) are claimed from; nothing when the sender is not
    /// `active`.
    async fn claim(&self, lease: &Lease, request: &ClaimRequest, now: Millis) -> Result<Vec<ClaimedMessage>>;
    /// Whether the sender is active and has a running campaign or a due single message.
    async fn sender_has_work(&self, sender_id: &str, now: Millis) -> Result<bool>;
    /// Starts scheduled campaigns whose time has come (those of a sender that is not
    /// `active` pause with `sender_paused`); returns their ids.
    async fn start_due_campaigns(&self, now: Millis) -> Result<Vec<String>>;
    /// Campaigns the scheduler must look at again: running, or paused for `outside_window`
    /// or `daily_limit`, whose `recheck_at` has come; at most `limit`, most overdue first.
    async fn campaigns_to_recheck(&self, now: Millis, limit: usize) -> Result<Vec<CampaignRecord>>;
    /// Applies the scheduler's verdict to a campaign it looked at: `Run` resumes one paused
    /// for `outside_window` or `daily_limit` (completing it if nothing is left); `Hold` pauses
    /// a running one (claimed messages back to the queue) or changes the reason; both set
    /// `recheck_at`. False, and nothing written, when the campaign is neither running nor
    /// paused for one of those reasons (a person paused or cancelled it meanwhile).
    async fn apply_verdict(&self, campaign_id: &str, verdict: Verdict, now: Millis) -> Result<bool>;
    /// Admits recipients under a daily limit of unique recipients over a rolling 24 hours:
    /// of `phones`, those already counted in the last 24 hours, and new ones while fewer than
    /// `limit` are counted. The admitted are counted as messaged now, in one transaction that
    /// other processes sharing the key wait for.
    async fn admit_recipients(&self, limit_key: &str, limit: i64, phones: &[String], now: Millis) -> Result<Admission>;
    /// A limit key's unique recipients over the rolling 24 hours.
    async fn daily_usage(&self, limit_key: &str, now: Millis) -> Result<DailyUsage>;
    /// Pauses with `daily_limit`, until `recheck_at`, every running campaign of the senders
    /// counted under `sender`'s limit key (its group's, or its own); returns their ids.
    async fn pause_for_daily_limit(
        &self,
        sender: &SenderRecord,
        recheck_at: Millis,
        now: Millis,
    ) -> Result<Vec<String>>;
    /// Puts claimed messages back in the queue until their times, without spending an
    /// attempt. Fenced by the lease like every dispatcher write.
    async fn defer_claimed(&self, lease: &Lease, deferrals: &[Deferral], now: Millis) -> Result<()>;
    /// Durably marks claimed messages `sending` (attempts + 1) just before their requests;
    /// returns the ids that moved (a paused or cancelled campaign's messages do not, nor
    /// any message of a sender that is no longer `active`).
    async fn mark_sending(&self, lease: &Lease, ids: &[i64], now: Millis) -> Result<Vec<i64>>;
    /// Returns claimed messages that will not be attempted now to `queued`.
    async fn release_claimed(&self, lease: &Lease, ids: &[i64], now: Millis) -> Result<()>;
    /// Group-commits the outcomes of attempts; completes campaigns with nothing left to
    /// send and returns the campaigns touched, as they are after the write.
    async fn record_outcomes(&self, lease: &Lease, outcomes: &[Outcome], now: Millis) -> Result<Vec<CampaignRecord>>;
    /// Pauses a running campaign for a reason of pregon's own; false when it was not running.
    async fn pause_campaign(
        &self,
        campaign_id: &str,
        reason: PausedReason,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<bool>;
    /// Pauses every running campaign of a sender; returns their ids.
    async fn pause_sender_campaigns(
        &self,
        sender_id: &str,
        reason: PausedReason,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<Vec<String>>;
    // --- provider webhooks ----------------------------------------------------------
    /// Senders of a provider whose non-secret account id (`provider_account`) is `account`,
    /// or every sender of the provider when `account` is `None`; deleted ones included, since
    /// their messages still get reports. For routing a webhook before its signature is checked.
    async fn senders_by_provider_account(&self, provider: &str, account: Option<&str>) -> Result<Vec<SenderRecord>>;
    /// Applies provider status reports in one transaction, in order, and says what each did.
    /// A report changes only a message of its sender, found by provider id (or, for a
    /// message whose provider id was never recorded, by the echoed `message_hint`), and only
    /// monotonically: never down the rank sent < delivered < read; `failed` only before the
    /// message was delivered. Each new (message, status) becomes an event; a repeated one
    /// changes nothing. Campaign counters change in the same transaction.
    async fn apply_status_updates(&self, updates: &[StatusUpdate], now: Millis) -> Result<Vec<StatusEffect>>;
    /// Stores replies (one per sender and provider id: a redelivered one is skipped), each
    /// linked to the campaign of the latest campaign message its sender sent to that phone,
    /// and opts out the phones of those that ask for it, in one transaction. Returns the
    /// replies stored now.
    async fn insert_inbound(&self, inbound: &[NewInbound], now: Millis) -> Result<Vec<InboundRecord>>;
    /// A tenant's replies, newest first.
    async fn list_replies(
        &self,
        tenant_id: &str,
        filter: &ReplyFilter,
        page: &PageRequest,
    ) -> Result<Page<InboundRecord>>;
    /// Sets a sender's quality rating and/or status as its provider reports them; its
    /// campaigns follow a status change as in [`Store::update_sender`].
    async fn update_sender_quality(
        &self,
        sender_id: &str,
        quality_rating: Option<&str>,
        status: Option<&str>,
        now: Millis,
    ) -> Result<SenderRecord>;

    /// Messages still owed an attempt, across all tenants.
    async fn queue_depth(&self) -> Result<i64>;
    async fn running_campaigns(&self) -> Result<i64>;

    // --- consent, checked again just before sending -----------------------------------
    /// Records (or refreshes) a phone's consent to be messaged.
    async fn add_opt_in(
        &self,
        tenant_id: &str,
        phone: &str,
        source: &str,
        evidence: Option<&str>,
        now: Millis,
    ) -> Result<OptInRecord>;
    async fn list_opt_ins(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<OptInRecord>>;
    async fn delete_opt_in(&self, tenant_id: &str, phone: &str) -> Result<()>;
    async fn opted_in_phones(&self, tenant_id: &str) -> Result<HashSet<String>>;
    /// Of `phones`, those the tenant holds an opt-out for (one query).
    async fn opted_out_among(&self, tenant_id: &str, phones: &[String]) -> Result<HashSet<String>>;
    /// Of `phones`, those the tenant holds an opt-in for (one query).
    async fn opted_in_among(&self, tenant_id: &str, phones: &[String]) -> Result<HashSet<String>>;
    /// Moves claimed messages that must not be sent after all to `skipped` with their
    /// reason, one event each, counters exact; completes campaigns left with nothing to send.
    /// Fenced by the lease like every dispatcher write; returns the ids that moved.
    async fn skip_claimed(&self, lease: &Lease, skips: &[Skip], now: Millis) -> Result<Vec<i64>>;

    // --- outbound notifications (the `notification` outbox) ----------------------------
    /// Replaces the tenant's webhook secret (the key of `X-Pregon-Signature`).
    async fn set_webhook_secret(&self, tenant_id: &str, webhook_secret: &str) -> Result<()>;
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

    // --- retention and single-message lists -------------------------------------------
    /// Retention, across tenants, in one transaction: from the `limit` finished campaigns
    /// (`completed`, `cancelled`, `failed`) that finished longest ago (`completed_at`, else
    /// their last update) before `before`, up to `limit` × 1,000 of their messages with their
    /// events, and each campaign whose last message went, with its notifications; and up to
    /// `limit` × 1,000 finished single messages (every state but `queued`, `claimed` and
    /// `sending`) last updated before `before`, with their events, oldest first. A campaign
    /// larger than the budget goes over several calls. Replies to a deleted campaign are kept and lose their campaign link.
    /// Campaigns in any other state are never touched. Callers repeat until the report is
    /// empty; a small `limit` keeps each transaction (SQLite's one writer) short.
    async fn purge_finished(&self, before: Millis, limit: usize) -> Result<PurgeReport>;
    /// A tenant's single messages (those of no campaign): newest first, or, with
    /// [`SingleMessageFilter::scheduled_after`], those waiting for their send time, soonest
    /// first. Cursors are [`SingleMessageFilter::cursor_of`]; one this filter did not give
    /// out is `NotFound`.
    async fn list_single_messages(
        &self,
        tenant_id: &str,
        filter: &SingleMessageFilter,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>>;
}
