//! Reading rows into records, written once for every database, and the column lists they
//! are read with.
//!
//! Both schemas give each column the same name and a type that decodes to the same Rust
//! type (`integer`/`bigint` → `i64`, `real`/`double precision` → `f64`, …), so one mapping
//! serves every store through [`RecordRow`].

use std::str::FromStr;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::error::{Result, StoreError};
use crate::records::{
    CampaignRecord, ClaimedMessage, Counts, DispatcherRecord, EventRecord, InboundRecord, MessageRecord, OptInRecord,
    OptOutRecord, Page, SenderRecord, TemplateRecord, Tenant,
};

pub(crate) const CAMPAIGN_COLUMNS: &str = "campaign_id, tenant_id, name, sender_id, template_id, status, paused_reason, \
    paused_detail, priority, settings, start_at, windowed, recheck_at, n_queued, n_claimed, n_sending, n_sent, n_delivered, n_read, n_failed, \
    n_unknown, n_skipped, n_cancelled, n_expired, created_at, started_at, completed_at, last_sent_at, updated_at, expires_at, failure_reason, failure_detail";

pub(crate) const MESSAGE_COLUMNS: &str =
    "message_id, tenant_id, campaign_id, sender_id, template_id, phone, variables, status, \
    skip_reason, priority, attempts, next_attempt_at, provider_message_id, error_code, error_message, created_at, \
    sent_at, delivered_at, read_at, send_at, expires_at, user_id";

pub(crate) const SENDER_COLUMNS: &str = "sender_id, tenant_id, name, provider, phone_number, credentials, base_url, \
    messages_per_second, daily_limit, is_default, status, quality_rating, provider_account, limit_group, created_at, updated_at, \
    rate_follows_provider, throughput_level";

pub(crate) const INBOUND_COLUMNS: &str = "inbound_message_id, tenant_id, sender_id, campaign_id, phone, \
    provider_message_id, message_type, text, opted_out, received_at, created_at, user_id";

/// What applying a provider status report reads of a message.
pub(crate) const TRACKED_COLUMNS: &str = "message_id, campaign_id, sender_id, status, provider_message_id, \
    error_code, error_message, sent_at, delivered_at, read_at";

/// What a claim returns about each message.
pub(crate) const CLAIMED_COLUMNS: &str =
    "message_id, campaign_id, template_id, phone, variables, attempts, max_attempts, expires_at, user_id";

/// A row of any database, read by column name into the few types records are made of.
pub(crate) trait RecordRow {
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn real(&self, column: &str) -> Result<f64>;
    fn flag(&self, column: &str) -> Result<bool>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>>;
}

impl<R> RecordRow for R
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn real(&self, column: &str) -> Result<f64> {
        Ok(self.try_get(column)?)
    }
    fn flag(&self, column: &str) -> Result<bool> {
        Ok(self.try_get(column)?)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>> {
        Ok(self.try_get(column)?)
    }
}

/// The message states nothing moves a message out of but a provider report: what retention
/// may delete, in SQL.
pub(crate) const FINAL_MESSAGE_STATES: &str =
    "'sent', 'delivered', 'read', 'failed', 'unknown', 'skipped', 'cancelled', 'expired'";

/// Single messages one `purge_finished` call deletes at most, for a limit of `limit`
/// campaigns: a single message is a small fraction of a campaign's work.
pub(crate) fn single_purge_limit(limit: usize) -> i64 {
    (limit as i64).saturating_mul(1_000)
}

/// One page of `limit` items out of `limit + 1` fetched: the extra one says there is more.
pub(crate) fn page_of<T>(mut items: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(&cursor_of)
    } else {
        None
    };
    Page { items, next_cursor }
}

pub(crate) fn parse_enum<T: FromStr>(value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("unexpected state {value:?}")))
}

/// A campaign's settings as stored: the one place they are written ([`campaign_from_row`]
/// reads them back).
pub(crate) fn settings_json(settings: &pregon_domain::CampaignSettings) -> String {
    serde_json::to_string(settings).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn campaign_from_row(row: &impl RecordRow) -> Result<CampaignRecord> {
    let settings = row.text("settings")?;
    Ok(CampaignRecord {
        id: row.text("campaign_id")?,
        tenant_id: row.text("tenant_id")?,
        name: row.text("name")?,
        sender_id: row.text("sender_id")?,
        template_id: row.text("template_id")?,
        status: parse_enum(&row.text("status")?)?,
        paused_reason: row.opt_text("paused_reason")?.as_deref().map(parse_enum).transpose()?,
        paused_detail: row.opt_text("paused_detail")?,
        priority: row.int("priority")?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("campaign settings: {e}")))?,
        start_at: row.opt_int("start_at")?,
        windowed: row.flag("windowed")?,
        recheck_at: row.opt_int("recheck_at")?,
        counts: Counts {
            queued: row.int("n_queued")?,
            claimed: row.int("n_claimed")?,
            sending: row.int("n_sending")?,
            sent: row.int("n_sent")?,
            delivered: row.int("n_delivered")?,
            read: row.int("n_read")?,
            failed: row.int("n_failed")?,
            unknown: row.int("n_unknown")?,
            skipped: row.int("n_skipped")?,
            cancelled: row.int("n_cancelled")?,
            expired: row.int("n_expired")?,
        },
        created_at: row.int("created_at")?,
        started_at: row.opt_int("started_at")?,
        completed_at: row.opt_int("completed_at")?,
        last_sent_at: row.opt_int("last_sent_at")?,
        updated_at: row.int("updated_at")?,
        expires_at: row.opt_int("expires_at")?,
        failure_reason: row.opt_text("failure_reason")?.as_deref().map(parse_enum).transpose()?,
        failure_detail: row.opt_text("failure_detail")?,
    })
}

pub(crate) fn message_from_row(row: &impl RecordRow) -> Result<MessageRecord> {
    Ok(MessageRecord {
        id: row.int("message_id")?,
        tenant_id: row.text("tenant_id")?,
        campaign_id: row.opt_text("campaign_id")?,
        sender_id: row.text("sender_id")?,
        template_id: row.text("template_id")?,
        phone: row.text("phone")?,
        variables: row.text("variables")?,
        status: parse_enum(&row.text("status")?)?,
        skip_reason: row.opt_text("skip_reason")?,
        priority: row.int("priority")?,
        attempts: row.int("attempts")?,
        next_attempt_at: row.int("next_attempt_at")?,
        provider_message_id: row.opt_text("provider_message_id")?,
        error_code: row.opt_text("error_code")?,
        error_message: row.opt_text("error_message")?,
        created_at: row.int("created_at")?,
        sent_at: row.opt_int("sent_at")?,
        delivered_at: row.opt_int("delivered_at")?,
        read_at: row.opt_int("read_at")?,
        send_at: row.opt_int("send_at")?,
        expires_at: row.opt_int("expires_at")?,
        user_id: row.opt_text("user_id")?,
    })
}

pub(crate) fn sender_from_row(row: &impl RecordRow) -> Result<SenderRecord> {
    Ok(SenderRecord {
        id: row.text("sender_id")?,
        tenant_id: row.text("tenant_id")?,
        name: row.text("name")?,
        provider: parse_enum(&row.text("provider")?)?,
        phone_number: row.text("phone_number")?,
        credentials: row.bytes("credentials")?,
        base_url: row.opt_text("base_url")?,
        messages_per_second: row.real("messages_per_second")?,
        daily_limit: row.opt_int("daily_limit")?,
        is_default: row.flag("is_default")?,
        status: parse_enum(&row.text("status")?)?,
        quality_rating: row.opt_text("quality_rating")?,
        provider_account: row.opt_text("provider_account")?,
        limit_group: row.opt_text("limit_group")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        rate_follows_provider: row.flag("rate_follows_provider")?,
        throughput_level: row.opt_text("throughput_level")?.map(|t| parse_enum(&t)).transpose()?,
    })
}

pub(crate) fn template_from_row(row: &impl RecordRow) -> Result<TemplateRecord> {
    Ok(TemplateRecord {
        id: row.text("template_id")?,
        tenant_id: row.text("tenant_id")?,
        name: row.text("name")?,
        language: row.text("language")?,
        body: row.text("body")?,
        header_image: row.opt_text("header_image")?,
        twilio_content_sid: row.opt_text("twilio_content_sid")?,
        category: row
            .text("category")?
            .parse()
            .unwrap_or(pregon_domain::TemplateCategory::Marketing),
        status: row
            .text("status")?
            .parse()
            .unwrap_or(pregon_domain::TemplateStatus::Approved),
        quality: row
            .text("quality")?
            .parse()
            .unwrap_or(pregon_domain::TemplateQuality::Unknown),
        created_at: row.int("created_at")?,
    })
}

pub(crate) fn tenant_from_row(row: &impl RecordRow) -> Result<Tenant> {
    Ok(Tenant {
        id: row.text("tenant_id")?,
        name: row.text("name")?,
        webhook_secret: row.text("webhook_secret")?,
        created_at: row.int("created_at")?,
    })
}

pub(crate) fn opt_out_from_row(row: &impl RecordRow) -> Result<OptOutRecord> {
    Ok(OptOutRecord {
        phone: row.text("phone")?,
        reason: row.opt_text("reason")?,
        source: row.text("source")?,
        scope: parse_enum(&row.text("scope")?)?,
        created_at: row.int("created_at")?,
    })
}

/// Reads the [`INBOUND_COLUMNS`].
pub(crate) fn inbound_from_row(row: &impl RecordRow) -> Result<InboundRecord> {
    Ok(InboundRecord {
        id: row.int("inbound_message_id")?,
        tenant_id: row.text("tenant_id")?,
        sender_id: row.text("sender_id")?,
        campaign_id: row.opt_text("campaign_id")?,
        phone: row.text("phone")?,
        provider_message_id: row.text("provider_message_id")?,
        message_type: row.text("message_type")?,
        text: row.opt_text("text")?,
        opted_out: row.flag("opted_out")?,
        received_at: row.int("received_at")?,
        created_at: row.int("created_at")?,
        user_id: row.opt_text("user_id")?,
    })
}

/// Reads the [`CLAIMED_COLUMNS`].
pub(crate) fn claimed_from_row(row: &impl RecordRow) -> Result<ClaimedMessage> {
    Ok(ClaimedMessage {
        id: row.int("message_id")?,
        campaign_id: row.opt_text("campaign_id")?,
        template_id: row.text("template_id")?,
        phone: row.text("phone")?,
        variables: row.text("variables")?,
        attempts: row.int("attempts")?,
        max_attempts: row.int("max_attempts")?,
        expires_at: row.opt_int("expires_at")?,
        user_id: row.opt_text("user_id")?,
    })
}

pub(crate) fn event_from_row(row: &impl RecordRow) -> Result<EventRecord> {
    Ok(EventRecord {
        status: row.text("status")?,
        detail: row.opt_text("detail")?.and_then(|d| serde_json::from_str(&d).ok()),
        at: row.int("at")?,
    })
}

/// A `dispatcher` row, with the senders whose live leases it holds.
pub(crate) fn dispatchers_from_rows<R: RecordRow>(rows: &[R], leases: &[R]) -> Result<Vec<DispatcherRecord>> {
    let mut owned: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for l in leases {
        owned.entry(l.text("owner_id")?).or_default().push(l.text("sender_id")?);
    }
    rows.iter()
        .map(|r| {
            let id = r.text("dispatcher_id")?;
            Ok(DispatcherRecord {
                senders: owned.remove(&id).unwrap_or_default(),
                id,
                host: r.text("host")?,
                pid: r.int("pid")?,
                version: r.text("version")?,
                started_at: r.int("started_at")?,
                last_heartbeat_at: r.int("last_heartbeat_at")?,
                current_rate: r.real("current_rate")?,
            })
        })
        .collect()
}

pub(crate) fn opt_in_from_row(row: &impl RecordRow) -> Result<OptInRecord> {
    Ok(OptInRecord {
        phone: row.text("phone")?,
        source: row.text("source")?,
        evidence: row.opt_text("evidence")?,
        created_at: row.int("created_at")?,
    })
}
