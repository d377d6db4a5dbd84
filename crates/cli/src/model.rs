//! Wire types of the pregon HTTP API as the CLI reads them.
//!
//! Every type keeps the raw JSON it was parsed from (`raw`), so `--json`
//! prints exactly what the server said. Fields are lenient (`#[serde(default)]`)
//! so a newer server with extra or missing optional fields still parses.

use serde::Deserialize;
use serde_json::Value;

/// Campaign states after which nothing changes any more.
pub const FINAL_STATUSES: [&str; 3] = ["completed", "cancelled", "failed"];

/// Per-state message counts of a campaign.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Counts {
    /// Waiting to be claimed by a worker.
    pub queued: u64,
    /// Claimed by a worker, not yet handed to the provider.
    pub claimed: u64,
    /// Handed to the provider, no answer yet.
    pub sending: u64,
    /// Accepted by the provider.
    pub sent: u64,
    /// Delivered to the handset.
    pub delivered: u64,
    /// Read by the recipient.
    pub read: u64,
    /// Failed permanently.
    pub failed: u64,
    /// Outcome unknown (e.g. timeout after hand-off).
    pub unknown: u64,
    /// Skipped (opted out, invalid, …).
    pub skipped: u64,
    /// Cancelled before sending.
    pub cancelled: u64,
    /// Not sent by the campaign's `expires_at`.
    pub expired: u64,
}

impl Counts {
    /// Messages still in flight or waiting: queued + claimed + sending.
    pub fn pending(&self) -> u64 {
        self.queued + self.claimed + self.sending
    }

    /// Messages that reached the provider: sent + delivered + read.
    pub fn sent_total(&self) -> u64 {
        self.sent + self.delivered + self.read
    }
}

/// A campaign as returned by `GET /api/v1/campaigns/{id}` and the action routes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Campaign {
    /// Campaign id (`cmp_…`).
    pub id: String,
    /// Human name.
    pub name: String,
    /// One of draft, scheduled, running, paused, completed, cancelled, failed.
    pub status: String,
    /// Why the campaign is paused (user, too_many_failures, sender_error, …).
    pub paused_reason: Option<String>,
    /// Free-text detail accompanying `paused_reason`.
    pub paused_detail: Option<String>,
    /// Sender the campaign sends from.
    pub sender_id: Option<String>,
    /// Template the campaign sends.
    pub template_id: Option<String>,
    /// Scheduling priority.
    pub priority: Option<i64>,
    /// Number of recipients.
    pub total: u64,
    /// Per-state counts.
    pub counts: Counts,
    /// Share of recipients done, 0–100.
    pub progress_percent: Option<f64>,
    /// Creation time (RFC 3339).
    pub created_at: Option<String>,
    /// Start time (RFC 3339).
    pub started_at: Option<String>,
    /// Completion time (RFC 3339).
    pub completed_at: Option<String>,
    /// Time of the last sent message (RFC 3339).
    pub last_sent_at: Option<String>,
    /// Current send rate in messages per second.
    pub current_rate: Option<f64>,
    /// Estimated seconds until the campaign is done.
    pub eta_seconds: Option<f64>,
    /// The JSON object this campaign was parsed from.
    #[serde(skip)]
    pub raw: Value,
}

impl Campaign {
    /// Whether the campaign is in a final state (completed, cancelled, failed).
    pub fn is_final(&self) -> bool {
        FINAL_STATUSES.contains(&self.status.as_str())
    }

    /// Recipients no longer pending: `total − (queued + claimed + sending)`.
    pub fn done(&self) -> u64 {
        self.total.saturating_sub(self.counts.pending())
    }

    /// Progress in percent: the server's figure, or computed from the counts.
    pub fn percent(&self) -> f64 {
        match self.progress_percent {
            Some(p) => p,
            None if self.total == 0 => 0.0,
            None => self.done() as f64 * 100.0 / self.total as f64,
        }
    }

    /// Status with the pause reason, e.g. `paused (daily_limit)`.
    pub fn status_label(&self) -> String {
        match (&self.paused_reason, &self.paused_detail) {
            (Some(reason), Some(detail)) if self.status == "paused" => {
                format!("paused ({reason}: {detail})")
            }
            (Some(reason), None) if self.status == "paused" => format!("paused ({reason})"),
            _ => self.status.clone(),
        }
    }
}

/// One page of `GET /api/v1/campaigns`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CampaignPage {
    /// Campaigns, newest first.
    pub items: Vec<Campaign>,
    /// Cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
    /// The JSON object this page was parsed from.
    #[serde(skip)]
    pub raw: Value,
}

/// Rows the import skipped, by reason.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct SkippedCounts {
    /// Phone number could not be parsed.
    pub invalid_phone: u64,
    /// Phone number already present in the file.
    pub duplicate: u64,
    /// Recipient opted out.
    pub opted_out: u64,
    /// A template variable had no value.
    pub missing_variable: u64,
    /// The campaign requires consent and the recipient has no opt-in.
    pub no_consent: u64,
}

impl SkippedCounts {
    /// Sum over all reasons.
    pub fn total(&self) -> u64 {
        self.invalid_phone + self.duplicate + self.opted_out + self.missing_variable + self.no_consent
    }
}

/// One rejected CSV row.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RowError {
    /// 1-based row number in the file.
    pub row: u64,
    /// Why the row was rejected.
    pub reason: String,
}

/// The `import` part of the answer to `POST /api/v1/campaigns/import`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ImportReport {
    /// Rows turned into recipients.
    pub accepted: u64,
    /// Rows skipped, by reason.
    pub skipped: SkippedCounts,
    /// Rows rejected, with reasons (possibly truncated by the server).
    pub errors: Vec<RowError>,
}

/// Answer to `POST /api/v1/campaigns/import`: the campaign plus the import report.
#[derive(Debug, Clone, Default)]
pub struct ImportedCampaign {
    /// The created campaign.
    pub campaign: Campaign,
    /// What happened to the CSV rows.
    pub import: ImportReport,
    /// The JSON object this answer was parsed from.
    pub raw: Value,
}
