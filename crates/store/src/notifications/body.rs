//! The outbound campaign notification (api.md "Outbound notification"), decided once for
//! every database: which campaigns get one, and the exact body.
//!
//! A notification is written to the `notification` outbox in the same transaction that
//! moves its campaign to a final state, so it is never lost and never sent for a change
//! that rolled back. The body is rendered then, once: it is the campaign as it was at that
//! moment, and the bytes signed on every delivery attempt are the same. A background
//! deliverer (pregon's `notifications` module) POSTs it, at least once: the body's `id` is unique
//! per notification so that receivers can drop repeats. The campaign in it is the
//! [`CampaignObject`] the API answers with, built by the same code.

use pregon_domain::CampaignStatus;
use serde_json::json;

use crate::campaigns::object::{rfc3339, CampaignObject};
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
        // Through a JSON value, as ever: every key of the body in alphabetical order.
        "campaign": CampaignObject::new(c, 0.0),
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

#[cfg(test)]
mod tests {
    use pregon_domain::{CampaignSettings, PausedReason, ScheduleSettings, WindowSettings};

    use super::*;
    use crate::records::Counts;

    /// A campaign cancelled while it waited for its window, every field of its object set.
    fn cancelled() -> CampaignRecord {
        CampaignRecord {
            expires_at: None,
            failure_detail: None,
            failure_reason: None,
            id: "cmp_2".into(),
            tenant_id: "ten_1".into(),
            name: "office hours".into(),
            sender_id: "snd_1".into(),
            template_id: "tpl_1".into(),
            status: CampaignStatus::Cancelled,
            paused_reason: Some(PausedReason::OutsideWindow),
            paused_detail: Some("outside its window".into()),
            priority: 7,
            settings: CampaignSettings {
                default_region: Some("EC".into()),
                webhook_url: Some("https://example.com/h".into()),
                require_consent: true,
                schedule: Some(ScheduleSettings {
                    timezone: Some("America/Guayaquil".into()),
                    window: Some(WindowSettings {
                        start: "09:00".into(),
                        end: "18:00".into(),
                        days: vec![1, 2, 3, 4, 5],
                    }),
                    recipient_timezone: false,
                    timezone_field: None,
                }),
                ..Default::default()
            },
            start_at: Some(1_767_225_600_000),
            windowed: true,
            recheck_at: Some(1_767_279_600_000),
            counts: Counts {
                sent: 2,
                failed: 1,
                skipped: 1,
                cancelled: 5,
                ..Counts::default()
            },
            created_at: 1_767_225_600_123,
            started_at: Some(1_767_225_601_000),
            completed_at: Some(1_767_225_700_000),
            last_sent_at: Some(1_767_225_609_000),
            updated_at: 1_767_225_700_000,
        }
    }

    /// The body, byte for byte as it has been written since notifications began (its keys
    /// in alphabetical order): receivers check signatures over these bytes, and may compare.
    #[test]
    fn the_body_is_written_as_it_always_was() {
        let n = notification_for(&cancelled(), 1_767_225_700_001).expect("a notification URL");
        assert_eq!(n.event, "campaign.cancelled");
        assert_eq!(n.url, "https://example.com/h");
        assert!(n.id.starts_with("ntf_"), "{}", n.id);
        assert_eq!(n.body.replace(&n.id, "ntf_ID"), GOLDEN_BODY);
    }

    #[test]
    fn campaigns_without_a_url_or_not_final_owe_none() {
        let mut c = cancelled();
        c.status = CampaignStatus::Paused;
        assert!(notification_for(&c, 0).is_none());
        c.status = CampaignStatus::Completed;
        c.settings.webhook_url = Some("  ".into());
        assert!(notification_for(&c, 0).is_none());
    }

    const GOLDEN_BODY: &str = r#"{"campaign":{"completed_at":"2026-01-01T00:01:40.000Z","counts":{"cancelled":5,"claimed":0,"delivered":0,"expired":0,"failed":1,"queued":0,"read":0,"sending":0,"sent":2,"skipped":1,"unknown":0},"created_at":"2026-01-01T00:00:00.123Z","current_rate":0.0,"eta_seconds":null,"expires_at":null,"failure_detail":null,"failure_reason":null,"id":"cmp_2","last_sent_at":"2026-01-01T00:00:09.000Z","name":"office hours","paused_detail":"outside its window","paused_reason":"outside_window","priority":7,"progress_percent":100.0,"resumes_at":null,"sender_id":"snd_1","settings":{"auto_pause":{"max_failure_rate":0.5,"min_failures":50},"default_region":"EC","rate":null,"require_consent":true,"retry":{"backoff_seconds":[60,300,1800],"max_attempts":3},"schedule":{"recipient_timezone":false,"timezone":"America/Guayaquil","window":{"days":[1,2,3,4,5],"end":"18:00","start":"09:00"}},"webhook_url":"https://example.com/h"},"start_at":"2026-01-01T00:00:00.000Z","started_at":"2026-01-01T00:00:01.000Z","status":"cancelled","template_id":"tpl_1","total":9},"created_at":"2026-01-01T00:01:40.001Z","event":"campaign.cancelled","id":"ntf_ID"}"#;
}
