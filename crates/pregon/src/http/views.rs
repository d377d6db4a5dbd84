//! The JSON shapes the API answers with (api.md), built from store records. The campaign
//! object is the store's [`CampaignObject`], the very one campaign notifications carry.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use pregon_store::{
    CampaignObject, CampaignRecord, Counts, EventRecord, MessageRecord, OptInRecord, OptOutRecord, SenderRecord,
    TemplateRecord,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::import::ImportReport;

fn time(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

/// A list page.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListView<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A sender, without its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct SenderView {
    pub id: String,
    pub name: String,
    /// `meta`, `twilio` or `sandbox`.
    pub provider: String,
    pub phone_number: String,
    pub base_url: Option<String>,
    pub messages_per_second: f64,
    pub daily_limit: Option<i64>,
    pub is_default: bool,
    /// `active`, `paused` or `suspended`.
    pub status: String,
    pub quality_rating: Option<String>,
    /// The id the provider's webhooks name this sender by (Meta `phone_number_id`, Twilio
    /// account SID); not a secret.
    pub provider_account: Option<String>,
    /// Senders of the tenant with the same group share one daily limit.
    pub daily_limit_group: Option<String>,
    /// Unique recipients of the rolling 24 hours, when the sender has a daily limit.
    pub daily_usage: Option<DailyUsageView>,
    /// Meta: the sender sends at the throughput its number is granted (80 or 1,000 per
    /// second), never above `messages_per_second`.
    pub rate_follows_provider: bool,
    /// The number's throughput level as last learned (pre-flight, connection test or
    /// Meta's `THROUGHPUT_UPGRADE` webhook): `standard`, `high` or `not_applicable`.
    pub throughput_level: Option<String>,
    /// The rate it sends at now: `messages_per_second`, or what the number is granted
    /// when it follows the provider.
    pub effective_messages_per_second: f64,
    pub created_at: String,
    pub updated_at: String,
}

/// A daily limit's usage over the rolling 24 hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyUsageView {
    /// Unique recipients messaged in the last 24 hours (by the whole group, if any).
    pub used: i64,
    pub limit: i64,
    pub remaining: i64,
    /// When the oldest of them leaves the 24 hours and frees room.
    pub room_at: Option<String>,
}

impl From<&SenderRecord> for SenderView {
    fn from(s: &SenderRecord) -> Self {
        SenderView {
            id: s.id.clone(),
            name: s.name.clone(),
            provider: s.provider.as_str().to_string(),
            phone_number: s.phone_number.clone(),
            base_url: s.base_url.clone(),
            messages_per_second: s.messages_per_second,
            daily_limit: s.daily_limit,
            is_default: s.is_default,
            status: s.status.as_str().to_string(),
            quality_rating: s.quality_rating.clone(),
            provider_account: s.provider_account.clone(),
            daily_limit_group: s.limit_group.clone(),
            daily_usage: None,
            rate_follows_provider: s.rate_follows_provider,
            throughput_level: s.throughput_level.map(|l| l.as_str().to_string()),
            effective_messages_per_second: s.rate(),
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    pub language: String,
    pub body: String,
    pub header_image: Option<String>,
    /// The Twilio Content SID (`HX…`) Twilio senders send instead of the text.
    pub twilio_content_sid: Option<String>,
    /// The contact fields the template needs, in order.
    pub variables: Vec<String>,
    /// `marketing`, `utility` or `authentication`.
    pub category: String,
    /// `approved`, `pending`, `paused`, `disabled` or `rejected`.
    pub status: String,
    /// `green`, `yellow`, `red` or `unknown`.
    pub quality: String,
    pub created_at: String,
}

impl TemplateView {
    pub fn new(t: &TemplateRecord) -> Self {
        let variables = pregon_domain::Template::parse(&t.body, t.header_image.as_deref())
            .map(|p| p.variables().into_iter().map(str::to_string).collect())
            .unwrap_or_default();
        TemplateView {
            id: t.id.clone(),
            name: t.name.clone(),
            language: t.language.clone(),
            body: t.body.clone(),
            header_image: t.header_image.clone(),
            twilio_content_sid: t.twilio_content_sid.clone(),
            variables,
            category: t.category.as_str().to_string(),
            status: t.status.as_str().to_string(),
            quality: t.quality.as_str().to_string(),
            created_at: rfc3339(t.created_at),
        }
    }
}

/// A campaign with its exact progress: the store's campaign object, which notifications
/// carry too (built in one place, `pregon_store::campaigns::object`).
pub type CampaignView = CampaignObject;

/// Recent progress samples per campaign, to tell the current rate rather than the average.
#[derive(Debug, Default)]
pub struct RateTracker {
    samples: Mutex<HashMap<String, VecDeque<(i64, i64)>>>,
}

/// Messages whose attempt is over: the numerator of the rate.
fn attempted(c: &Counts) -> i64 {
    c.sent + c.delivered + c.read + c.failed + c.unknown
}

impl RateTracker {
    /// Records a sample and returns messages per second over the last ~15 s; falls back on
    /// the average since the campaign started when no earlier sample is at hand.
    pub fn rate(&self, c: &CampaignRecord, now: i64) -> f64 {
        let mut all = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if c.status != pregon_domain::CampaignStatus::Running {
            all.remove(&c.id);
            return 0.0;
        }
        if all.len() > 10_000 {
            all.clear();
        }
        let done = attempted(&c.counts);
        let samples = all.entry(c.id.clone()).or_default();
        if samples.back().is_none_or(|(t, _)| now - t >= 200) {
            samples.push_back((now, done));
        }
        while samples.len() > 2 && samples.front().is_some_and(|(t, _)| now - t > 15_000) {
            samples.pop_front();
        }
        match (samples.front(), samples.back()) {
            (Some((t0, d0)), Some((t1, d1))) if t1 - t0 >= 1_000 => (d1 - d0) as f64 * 1000.0 / (t1 - t0) as f64,
            _ => match c.started_at {
                Some(started) if now - started >= 1_000 => done as f64 * 1000.0 / (now - started) as f64,
                _ => 0.0,
            },
        }
    }
}

/// A campaign as created, with what the import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedCampaignView {
    #[serde(flatten)]
    pub campaign: CampaignView,
    pub import: ImportReport,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub status: String,
    #[schema(value_type = Object)]
    pub detail: Option<serde_json::Value>,
    pub at: String,
}

impl From<&EventRecord> for EventView {
    fn from(e: &EventRecord) -> Self {
        EventView {
            status: e.status.clone(),
            detail: e.detail.clone(),
            at: rfc3339(e.at),
        }
    }
}

/// One message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    pub campaign_id: Option<String>,
    pub sender_id: String,
    /// The recipient's phone; null for a user known only by `user_id`.
    pub phone: Option<String>,
    /// The recipient's business-scoped user ID, when known.
    pub user_id: Option<String>,
    pub status: String,
    /// Why it was skipped: `invalid_phone`, `duplicate`, `opted_out`, `missing_variable`,
    /// `no_consent`.
    pub skip_reason: Option<String>,
    pub attempts: i64,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    #[schema(value_type = Object)]
    pub variables: serde_json::Value,
    pub priority: i64,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub delivered_at: Option<String>,
    pub read_at: Option<String>,
    /// When a queued message is next attempted (retry backoff or `send_at`).
    pub next_attempt_at: Option<String>,
    /// A single message's send time: its `send_at`, or when it was accepted (null for
    /// campaign messages).
    pub send_at: Option<String>,
    /// Not sent by then, never: it becomes `expired`.
    pub expires_at: Option<String>,
    /// Its history, oldest first (only on `GET /api/v1/messages/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
}

/// The phone of a stored recipient identity: none when the identity is its BSUID (a user
/// known without a phone), else what was stored (an invalid row keeps what it gave).
pub fn recipient_phone<'a>(key: &'a str, user_id: Option<&str>) -> Option<&'a str> {
    (user_id != Some(key)).then_some(key)
}

/// How the console names a recipient in its message tables: the phone, the BSUID of a
/// user known by it alone, or both (`+58… · VE.…`).
pub fn recipient_label(key: &str, user_id: Option<&str>) -> String {
    match (recipient_phone(key, user_id), user_id) {
        (Some(phone), Some(u)) => format!("{phone} · {u}"),
        (Some(phone), None) => phone.to_string(),
        (None, u) => u.unwrap_or_default().to_string(),
    }
}

impl MessageView {
    pub fn new(m: &MessageRecord, events: Option<&[EventRecord]>) -> Self {
        MessageView {
            id: m.id.to_string(),
            campaign_id: m.campaign_id.clone(),
            sender_id: m.sender_id.clone(),
            phone: recipient_phone(&m.phone, m.user_id.as_deref()).map(str::to_string),
            user_id: m.user_id.clone(),
            status: m.status.as_str().to_string(),
            skip_reason: m.skip_reason.clone(),
            attempts: m.attempts,
            provider_message_id: m.provider_message_id.clone(),
            error_code: m.error_code.clone(),
            error_message: m.error_message.clone(),
            variables: serde_json::from_str(&m.variables).unwrap_or_default(),
            priority: m.priority,
            created_at: rfc3339(m.created_at),
            sent_at: time(m.sent_at),
            delivered_at: time(m.delivered_at),
            read_at: time(m.read_at),
            next_attempt_at: (m.status == pregon_domain::MessageStatus::Queued && m.next_attempt_at > 0)
                .then(|| rfc3339(m.next_attempt_at)),
            send_at: time(m.send_at),
            expires_at: time(m.expires_at),
            events: events.map(|e| e.iter().map(EventView::from).collect()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OptOutView {
    /// The phone opted out; null for an opt-out of a user known by `user_id` alone (it
    /// still covers the phones linked to that user, and a phone's covers its BSUIDs).
    pub phone: Option<String>,
    /// The business-scoped user ID opted out, for an opt-out keyed by it.
    pub user_id: Option<String>,
    pub reason: Option<String>,
    /// `api`, `import`, `reply` or `provider`.
    pub source: String,
    /// `all`: every message; `marketing`: messages of marketing templates only.
    pub scope: String,
    pub created_at: String,
}

impl From<&OptOutRecord> for OptOutView {
    fn from(o: &OptOutRecord) -> Self {
        let user_id = pregon_domain::user_id_of_key(&o.phone).map(String::from);
        OptOutView {
            phone: user_id.is_none().then(|| o.phone.clone()),
            user_id,
            reason: o.reason.clone(),
            source: o.source.clone(),
            scope: o.scope.as_str().into(),
            created_at: rfc3339(o.created_at),
        }
    }
}

/// A recorded consent to be messaged.
#[derive(Debug, Serialize, ToSchema)]
pub struct OptInView {
    pub phone: String,
    /// Where the consent was given (`api`, `web_form`, …), as recorded.
    pub source: String,
    /// What proves it, as recorded.
    pub evidence: Option<String>,
    pub created_at: String,
}

impl From<&OptInRecord> for OptInView {
    fn from(o: &OptInRecord) -> Self {
        OptInView {
            phone: o.phone.clone(),
            source: o.source.clone(),
            evidence: o.evidence.clone(),
            created_at: rfc3339(o.created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pregon_domain::{CampaignStatus, PausedReason};

    /// A campaign waiting for its window, with every field the object has set.
    fn waiting() -> CampaignRecord {
        CampaignRecord {
            expires_at: None,
            failure_detail: None,
            failure_reason: None,
            id: "cmp_2".into(),
            tenant_id: "ten_1".into(),
            name: "office hours".into(),
            sender_id: "snd_1".into(),
            template_id: "tpl_1".into(),
            status: CampaignStatus::Paused,
            paused_reason: Some(PausedReason::OutsideWindow),
            paused_detail: Some("outside its window".into()),
            priority: 7,
            settings: pregon_domain::CampaignSettings {
                default_region: Some("EC".into()),
                webhook_url: Some("https://example.com/h".into()),
                require_consent: true,
                schedule: Some(pregon_domain::ScheduleSettings {
                    timezone: Some("America/Guayaquil".into()),
                    window: Some(pregon_domain::WindowSettings {
                        start: "09:00".into(),
                        end: "18:00".into(),
                        days: vec![1, 2, 3, 4, 5],
                    }),
                    recipient_timezone: false,
                    timezone_field: None,
                }),
                ..Default::default()
            },
            start_at: None,
            windowed: true,
            recheck_at: Some(1_767_279_600_000),
            counts: Counts {
                queued: 5,
                sent: 2,
                failed: 1,
                skipped: 1,
                ..Counts::default()
            },
            created_at: 1_767_225_600_123,
            started_at: Some(1_767_225_601_000),
            completed_at: None,
            last_sent_at: Some(1_767_225_609_000),
            updated_at: 1_767_225_609_999,
        }
    }

    /// The campaign object, byte for byte as the API has always written it.
    #[test]
    fn the_campaign_object_is_written_as_it_always_was() {
        let c = waiting();
        let running_at = serde_json::to_string(&CampaignView::new(&c, 2.46)).unwrap();
        assert_eq!(running_at, GOLDEN_AT_RATE);
        let at_rest = serde_json::to_string(&CampaignView::new(&c, 0.0)).unwrap();
        assert_eq!(at_rest, GOLDEN_AT_REST);
    }

    const GOLDEN_AT_RATE: &str = r#"{"id":"cmp_2","name":"office hours","status":"paused","paused_reason":"outside_window","paused_detail":"outside its window","failure_reason":null,"failure_detail":null,"sender_id":"snd_1","template_id":"tpl_1","priority":7,"total":9,"counts":{"queued":5,"claimed":0,"sending":0,"sent":2,"delivered":0,"read":0,"failed":1,"unknown":0,"skipped":1,"cancelled":0,"expired":0},"progress_percent":44.4,"created_at":"2026-01-01T00:00:00.123Z","start_at":null,"started_at":"2026-01-01T00:00:01.000Z","completed_at":null,"last_sent_at":"2026-01-01T00:00:09.000Z","expires_at":null,"resumes_at":"2026-01-01T15:00:00.000Z","current_rate":2.5,"eta_seconds":3,"settings":{"auto_pause":{"max_failure_rate":0.5,"min_failures":50},"default_region":"EC","rate":null,"require_consent":true,"retry":{"backoff_seconds":[60,300,1800],"max_attempts":3},"schedule":{"recipient_timezone":false,"timezone":"America/Guayaquil","window":{"days":[1,2,3,4,5],"end":"18:00","start":"09:00"}},"webhook_url":"https://example.com/h"}}"#;

    const GOLDEN_AT_REST: &str = r#"{"id":"cmp_2","name":"office hours","status":"paused","paused_reason":"outside_window","paused_detail":"outside its window","failure_reason":null,"failure_detail":null,"sender_id":"snd_1","template_id":"tpl_1","priority":7,"total":9,"counts":{"queued":5,"claimed":0,"sending":0,"sent":2,"delivered":0,"read":0,"failed":1,"unknown":0,"skipped":1,"cancelled":0,"expired":0},"progress_percent":44.4,"created_at":"2026-01-01T00:00:00.123Z","start_at":null,"started_at":"2026-01-01T00:00:01.000Z","completed_at":null,"last_sent_at":"2026-01-01T00:00:09.000Z","expires_at":null,"resumes_at":"2026-01-01T15:00:00.000Z","current_rate":0.0,"eta_seconds":null,"settings":{"auto_pause":{"max_failure_rate":0.5,"min_failures":50},"default_region":"EC","rate":null,"require_consent":true,"retry":{"backoff_seconds":[60,300,1800],"max_attempts":3},"schedule":{"recipient_timezone":false,"timezone":"America/Guayaquil","window":{"days":[1,2,3,4,5],"end":"18:00","start":"09:00"}},"webhook_url":"https://example.com/h"}}"#;
}
