//! The campaign object: a campaign as the world outside pregon sees it, built in this one
//! place. The API answers with it (`GET /api/v1/campaigns/{id}` and every campaign route),
//! and a campaign's outbound notification carries it, rendered in the transaction that ends
//! the campaign ([`crate::notifications::body`]).
//!
//! With the `openapi` feature it is also the `CampaignView` schema of pregon's OpenAPI
//! document.

use pregon_domain::CampaignStatus;
use serde::Serialize;

use crate::records::{CampaignRecord, Counts, Millis};

/// Formats milliseconds as RFC 3339 UTC with milliseconds, as every time pregon writes.
pub(crate) fn rfc3339(millis: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A campaign with its exact progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CampaignView))]
pub struct CampaignObject {
    pub id: String,
    pub name: String,
    /// `draft`, `scheduled`, `running`, `paused`, `completed`, `cancelled` or `failed`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: CampaignStatus,
    /// Why it is not sending: `user`, `too_many_failures`, `sender_error`,
    /// `template_error`, `template_paused` (WhatsApp paused its template; it resumes by
    /// itself when the template is approved again), `daily_limit`, `outside_window` or
    /// `sender_paused` (its sender is paused or suspended; it resumes by itself when the
    /// sender is active again) while `paused`, and `scheduled` while `scheduled` (waiting
    /// for `start_at`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub paused_reason: Option<&'static str>,
    /// The provider's or pregon's words on why it paused.
    pub paused_detail: Option<String>,
    /// Why it ended `failed`: `template_disabled` (WhatsApp disabled its template).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub failure_reason: Option<pregon_domain::FailureReason>,
    /// The provider's words on why it failed.
    pub failure_detail: Option<String>,
    pub sender_id: String,
    pub template_id: String,
    pub priority: i64,
    /// Every contact received: the sum of `counts`.
    pub total: i64,
    pub counts: Counts,
    /// Finished messages (everything but queued, claimed, sending) over total.
    pub progress_percent: f64,
    pub created_at: String,
    pub start_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub last_sent_at: Option<String>,
    /// Messages not sent by then never are: they become `expired` (RFC 3339).
    pub expires_at: Option<String>,
    /// When it goes on by itself: its start time while `scheduled`, the opening of its window
    /// (`outside_window`), or when room frees up under its sender's daily limit.
    pub resumes_at: Option<String>,
    /// Messages finished per second lately (0 unless running).
    pub current_rate: f64,
    /// Seconds until the queue is empty at the current rate.
    pub eta_seconds: Option<i64>,
    /// The campaign's options as given: retry policy, auto-pause rule, webhook URL, region.
    // A JSON value, so that its keys come in alphabetical order, as they always have.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: serde_json::Value,
    /// Which CSV column fed the phone and each template variable, when the import was
    /// given a mapping (also in `settings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_mapping: Option<std::collections::BTreeMap<String, String>>,
    /// What it costs: estimated at import, billed from the provider's pricing. Absent where
    /// the tenant has no rate card and nothing was billed (and in notifications).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostObject>,
}

/// A campaign's cost (the campaign object's `cost`), in units of `currency`; every sum
/// behind it is exact, in millionths.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CostObject {
    /// The currency of its estimate, or of the rate card; `null` only when charged
    /// messages arrived and the tenant never had a rate card.
    pub currency: Option<String>,
    /// The estimate at import; `null` when there was no rate card then.
    pub estimated: Option<f64>,
    /// Accepted recipients the estimate had no rate for (not in `estimated`).
    pub estimated_unpriced: u64,
    /// The sum of the billable messages' prices, each priced when a status webhook first
    /// carried its pricing, by the category Meta billed and the rate card of that moment.
    pub billed: f64,
    /// Billable messages with no rate (or priced in another currency): not in `billed`.
    pub billed_unpriced: u64,
    /// Messages Meta charged (`billable` and `type: regular`); free ones are not counted.
    pub billable_messages: u64,
}

impl CostObject {
    pub fn new(cost: &crate::pricing::CampaignCost) -> Self {
        CostObject {
            currency: cost.currency.as_ref().map(|c| c.to_string()),
            estimated: cost.estimated.map(|e| e.amount.as_units()),
            estimated_unpriced: cost.estimated.map_or(0, |e| e.unpriced),
            billed: cost.billed.amount.as_units(),
            billed_unpriced: cost.billed.unpriced,
            billable_messages: cost.billable_messages,
        }
    }
}

impl CampaignObject {
    /// The campaign as it is now, sending at `current_rate` messages a second (0 when that
    /// is not known, or it is not running: then it has no ETA either, as in a notification).
    pub fn new(c: &CampaignRecord, current_rate: f64) -> Self {
        let total = c.counts.total();
        let pending = c.counts.pending();
        let progress = if total == 0 {
            100.0
        } else {
            ((total - pending) as f64 * 1000.0 / total as f64).round() / 10.0
        };
        let eta = (current_rate > 0.0 && pending > 0).then(|| (pending as f64 / current_rate).ceil() as i64);
        let time = |ms: Option<Millis>| ms.map(rfc3339);
        CampaignObject {
            id: c.id.clone(),
            name: c.name.clone(),
            status: c.status,
            paused_reason: c.waiting_reason(),
            paused_detail: c.paused_detail.clone(),
            failure_reason: c.failure_reason,
            failure_detail: c.failure_detail.clone(),
            sender_id: c.sender_id.clone(),
            template_id: c.template_id.clone(),
            priority: c.priority,
            total,
            counts: c.counts,
            progress_percent: progress,
            created_at: rfc3339(c.created_at),
            start_at: time(c.start_at),
            started_at: time(c.started_at),
            completed_at: time(c.completed_at),
            last_sent_at: time(c.last_sent_at),
            expires_at: time(c.expires_at),
            resumes_at: time(c.resumes_at()),
            current_rate: (current_rate * 10.0).round() / 10.0,
            eta_seconds: eta,
            settings: serde_json::to_value(&c.settings).unwrap_or_default(),
            field_mapping: c.settings.field_mapping.clone(),
            cost: None,
        }
    }

    /// The object with its cost, when it has one.
    pub fn with_cost(mut self, cost: Option<&crate::pricing::CampaignCost>) -> Self {
        self.cost = cost.map(CostObject::new);
        self
    }
}
