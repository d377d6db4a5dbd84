//! The outbound campaign notification (api.md "Outbound notification"), decided once for
//! every database: which campaigns get one, and the exact body.
//!
//! A notification is written to the `notification` outbox in the same transaction that
//! moves its campaign to a final state, so it is never lost and never sent for a change
//! that rolled back. The body is rendered then, once: it is the campaign as it was at that
//! moment, and the bytes signed on every delivery attempt are the same. A background
//! deliverer (pregon's `notifications` module) POSTs it, at least once: the body's `id` is unique
//! per notification so that receivers can drop repeats.

use pregon_domain::CampaignStatus;
use serde_json::json;

use crate::error::Result;
use crate::records::{CampaignRecord, Millis, NotificationDelivery, NotificationRecord};
use crate::rows::RecordRow;

/// A notification to insert, rendered.
pub(crate) struct NewNotification {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) campaign_id: String,
    pub(crate) event: &'static str,
    pub(crate) url: String,
    pub(crate) body: String,
}

/// The event a final campaign state announces; `None` for states that are not final.
pub fn event_name(status: CampaignStatus) -> Option<&'static str> {
    match status {
        CampaignStatus::Completed => Some("campaign.completed"),
        CampaignStatus::Cancelled => Some("campaign.cancelled"),
        CampaignStatus::Failed => Some("campaign.failed"),
        _ => None,
    }
}

fn rfc3339(millis: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The campaign object exactly as `GET /api/v1/campaigns/{id}` answers it for a campaign
/// that is not running (no current rate, no ETA). pregon's API view is held to the same
/// shape by a test (`http::views`).
pub fn campaign_object(c: &CampaignRecord) -> serde_json::Value {
    let total = c.counts.total();
    let pending = c.counts.pending();
    let progress = if total == 0 {
        100.0
    } else {
        ((total - pending) as f64 * 1000.0 / total as f64).round() / 10.0
    };
    let time = |ms: Option<Millis>| ms.map(rfc3339);
    json!({
        "id": c.id,
        "name": c.name,
        "status": c.status.as_str(),
        "paused_reason": c.waiting_reason(),
        "paused_detail": c.paused_detail,
        "sender_id": c.sender_id,
        "template_id": c.template_id,
        "priority": c.priority,
        "total": total,
        "counts": c.counts,
        "progress_percent": progress,
        "created_at": rfc3339(c.created_at),
        "start_at": time(c.start_at),
        "started_at": time(c.started_at),
        "completed_at": time(c.completed_at),
        "last_sent_at": time(c.last_sent_at),
        "resumes_at": time(c.resumes_at()),
        "current_rate": 0.0,
        "eta_seconds": null,
        "settings": c.settings,
    })
}

/// The notification a campaign that has just reached a final state owes, if it has a
/// webhook URL: `{"id", "event", "created_at", "campaign": {…}}`.
pub(crate) fn notification_for(c: &CampaignRecord, now: Millis) -> Option<NewNotification> {
    let event = event_name(c.status)?;
    let url = c.settings.notification_url()?.to_string();
    let id = pregon_domain::id::new_id("ntf");
    let body = json!({
        "id": id,
        "event": event,
        "created_at": rfc3339(now),
        "campaign": campaign_object(c),
    })
    .to_string();
    Some(NewNotification {
        id,
        tenant_id: c.tenant_id.clone(),
        campaign_id: c.id.clone(),
        event,
        url,
        body,
    })
}

/// The columns a notification is read with.
pub(crate) const NOTIFICATION_COLUMNS: &str = "notification_id, tenant_id, campaign_id, event, url, body, attempts, \
    next_attempt_at, status, last_error, created_at, delivered_at";

pub(crate) fn notification_from_row(row: &impl RecordRow) -> Result<NotificationRecord> {
    Ok(NotificationRecord {
        id: row.text("notification_id")?,
        tenant_id: row.text("tenant_id")?,
        campaign_id: row.text("campaign_id")?,
        event: row.text("event")?,
        url: row.text("url")?,
        body: row.text("body")?,
        attempts: row.int("attempts")?,
        next_attempt_at: row.int("next_attempt_at")?,
        status: row.text("status")?,
        last_error: row.opt_text("last_error")?,
        created_at: row.int("created_at")?,
        delivered_at: row.opt_int("delivered_at")?,
    })
}

/// Reads what a claim returns: `notification_id, tenant_id, campaign_id, url, body,
/// attempts, webhook_secret`.
pub(crate) fn delivery_from_row(row: &impl RecordRow) -> Result<NotificationDelivery> {
    Ok(NotificationDelivery {
        id: row.text("notification_id")?,
        tenant_id: row.text("tenant_id")?,
        campaign_id: row.text("campaign_id")?,
        url: row.text("url")?,
        body: row.text("body")?,
        attempt: row.int("attempts")?,
        webhook_secret: row.text("webhook_secret")?,
    })
}
