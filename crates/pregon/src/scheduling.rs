//! When a campaign may send: its daily window (in one time zone, or in each recipient's), its
//! own rate plan, and its sender's daily limit, as kept in the campaign's settings, and the
//! scheduler that pauses and resumes campaigns by them.
//!
//! The store does the enforcing: a campaign is claimed from only while it is `running` and
//! its `recheck_at` lies ahead, so nothing leaves outside a window even in the moment before
//! the scheduler pauses the campaign. The scheduler, run by every dispatcher on every poll,
//! looks again at each campaign whose `recheck_at` has come and gives a verdict: send until
//! the window closes, or hold (`outside_window` until it opens, `daily_limit` until room
//! frees up). Verdicts are conditional writes, so any number of processes may run it.

use chrono_tz::Tz;
use pregon_domain::pacing::RatePlan;
use pregon_domain::schedule::{parse_zone, zone_for_region, SendingWindow, Window, WindowState};
use pregon_domain::{PausedReason, PhoneNumber};
use pregon_store::{CampaignRecord, Millis, Store, StoreError, Verdict};
use serde::{Deserialize, Serialize};

/// How many campaigns one pass of the scheduler looks at.
const RECHECK_BATCH: usize = 200;

/// How long a campaign held by a daily limit waits when the store cannot say when room frees
/// up (it always can while anyone is counted; this is a floor against busy loops).
const DAILY_LIMIT_FLOOR_MILLIS: Millis = 1_000;

/// The contact field that names a recipient's time zone unless the campaign names another.
pub const DEFAULT_TIMEZONE_FIELD: &str = "timezone";

/// `schedule` of a campaign, as given to the API and kept in its settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSettings {
    /// IANA time zone of the window (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSettings>,
    /// Apply the window in each recipient's own time zone: the contact field
    /// `timezone_field` when it names one, else the zone of the phone number's country,
    /// else `timezone`.
    #[serde(default)]
    pub recipient_timezone: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone_field: Option<String>,
}

/// A daily window: local `start`–`end` (`HH:MM`; an end before the start crosses midnight) on
/// ISO weekdays `days` (1 = Monday … 7 = Sunday; empty = every day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSettings {
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub days: Vec<u8>,
}

/// A schedule that does not hold together: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub field: &'static str,
    pub message: String,
}

impl ScheduleSettings {
    /// Checks the zone and the window parse.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.zone()?;
        if let Some(w) = &self.window {
            Window::parse(&w.start, &w.end, &w.days).map_err(|e| SettingsError {
                field: "schedule.window",
                message: e.to_string(),
            })?;
        }
        if self.recipient_timezone && self.window.is_none() {
            return Err(SettingsError {
                field: "schedule.recipient_timezone",
                message: "needs a schedule.window to apply in each recipient's time zone".into(),
            });
        }
        if let Some(field) = &self.timezone_field {
            if field.trim().is_empty() || field.len() > 100 {
                return Err(SettingsError {
                    field: "schedule.timezone_field",
                    message: "must name a contact field".into(),
                });
            }
        }
        Ok(())
    }

    fn zone(&self) -> Result<Tz, SettingsError> {
        match &self.timezone {
            None => Ok(Tz::UTC),
            Some(name) => parse_zone(name).map_err(|e| SettingsError {
                field: "schedule.timezone",
                message: e.to_string(),
            }),
        }
    }

    fn parsed_window(&self) -> Option<Window> {
        let w = self.window.as_ref()?;
        Window::parse(&w.start, &w.end, &w.days).ok()
    }

    /// The window the whole campaign keeps, unless it is applied per recipient.
    pub fn campaign_window(&self) -> Option<SendingWindow> {
        if self.recipient_timezone {
            return None;
        }
        Some(SendingWindow {
            zone: self.zone().ok()?,
            window: self.parsed_window()?,
        })
    }

    /// The window each recipient keeps in their own time zone, when asked for.
    pub fn recipient_window(&self) -> Option<RecipientWindow> {
        if !self.recipient_timezone {
            return None;
        }
        Some(RecipientWindow {
            window: self.parsed_window()?,
            fallback: self.zone().ok()?,
            field: self
                .timezone_field
                .clone()
                .unwrap_or_else(|| DEFAULT_TIMEZONE_FIELD.to_string()),
        })
    }
}

/// A window kept in each recipient's own time zone.
#[derive(Debug, Clone)]
pub struct RecipientWindow {
    window: Window,
    fallback: Tz,
    field: String,
}

impl RecipientWindow {
    /// The recipient's zone: the contact field, else the phone's country, else the fallback.
    pub fn zone_of(&self, phone: &str, variables: &str) -> Tz {
        if variables.contains(&self.field) {
            if let Ok(vars) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(variables) {
                if let Some(zone) = vars
                    .get(&self.field)
                    .and_then(|v| v.as_str())
                    .and_then(|name| parse_zone(name.trim()).ok())
                {
                    return zone;
                }
            }
        }
        PhoneNumber::parse(phone, None)
            .ok()
            .and_then(|p| p.region())
            .and_then(|r| zone_for_region(&r.code()))
            .unwrap_or(self.fallback)
    }

    /// Whether the recipient may be messaged at `now`.
    pub fn state_for(&self, phone: &str, variables: &str, now: Millis) -> WindowState {
        SendingWindow {
            zone: self.zone_of(phone, variables),
            window: self.window.clone(),
        }
        .state_at(now)
    }
}

/// A campaign's schedule, from its settings.
pub fn schedule_of(settings: &serde_json::Value) -> Option<ScheduleSettings> {
    serde_json::from_value(settings.get("schedule")?.clone()).ok()
}

/// A campaign's own rate plan, from its settings (`None`: the sender's rate alone).
pub fn rate_plan_of(settings: &serde_json::Value) -> Option<RatePlan> {
    let plan: RatePlan = serde_json::from_value(settings.get("rate")?.clone()).ok()?;
    plan.is_paced().then_some(plan)
}

/// What the scheduler decides for a campaign whose `recheck_at` has come.
pub async fn verdict_for(store: &dyn Store, c: &CampaignRecord, now: Millis) -> Result<Verdict, StoreError> {
    let sender = store.sender_by_id(&c.sender_id).await?;
    if sender.status != "active" {
        // Its sender stopped: it waits for the sender instead, which resumes it.
        return Ok(Verdict::Hold {
            reason: PausedReason::SenderPaused,
            recheck_at: now + pregon_store::DAY_MILLIS,
        });
    }
    let mut run_until = None;
    if c.windowed {
        if let Some(window) = schedule_of(&c.settings).and_then(|s| s.campaign_window()) {
            match window.state_at(now) {
                WindowState::Closed { opens_at } => {
                    return Ok(Verdict::Hold {
                        reason: PausedReason::OutsideWindow,
                        recheck_at: opens_at,
                    })
                }
                WindowState::Open { closes_at } => run_until = Some(closes_at),
            }
        }
    }
    if c.paused_reason == Some(PausedReason::DailyLimit) {
        if let Some(limit) = sender.daily_limit {
            let usage = store.daily_usage(&sender.limit_key(), now).await?;
            if usage.used >= limit {
                let room_at = usage.room_at.unwrap_or(now).max(now + DAILY_LIMIT_FLOOR_MILLIS);
                return Ok(Verdict::Hold {
                    reason: PausedReason::DailyLimit,
                    recheck_at: room_at,
                });
            }
        }
    }
    Ok(Verdict::Run { recheck_at: run_until })
}

/// Looks again at every campaign whose `recheck_at` has come; returns how many changed.
pub async fn recheck_due(store: &dyn Store, now: Millis) -> Result<usize, StoreError> {
    let mut changed = 0;
    let due = store.campaigns_to_recheck(now, RECHECK_BATCH).await?;
    for c in &due {
        let verdict = verdict_for(store, c, now).await?;
        if store.apply_verdict(&c.id, verdict, now).await? {
            let was_running = c.status == pregon_domain::CampaignStatus::Running;
            let runs = matches!(verdict, Verdict::Run { .. });
            if was_running != runs {
                tracing::info!(campaign = %c.id, ?verdict, "campaign schedule changed");
                changed += 1;
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(json: serde_json::Value) -> ScheduleSettings {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn schedules_validate_zone_and_window() {
        let ok = schedule(serde_json::json!({"timezone": "America/Guayaquil",
            "window": {"start": "09:00", "end": "18:00", "days": [1, 2, 3, 4, 5]}}));
        assert_eq!(ok.validate(), Ok(()));
        assert!(ok.campaign_window().is_some());
        assert!(ok.recipient_window().is_none());
        let bad_zone = schedule(serde_json::json!({"timezone": "Mars/Olympus"}));
        assert_eq!(bad_zone.validate().unwrap_err().field, "schedule.timezone");
        let bad_window = schedule(serde_json::json!({"window": {"start": "9am", "end": "18:00"}}));
        assert_eq!(bad_window.validate().unwrap_err().field, "schedule.window");
        let per_recipient_without_window = schedule(serde_json::json!({"recipient_timezone": true}));
        assert_eq!(
            per_recipient_without_window.validate().unwrap_err().field,
            "schedule.recipient_timezone"
        );
    }

    #[test]
    fn a_recipients_zone_comes_from_the_contact_then_the_phone_then_the_campaign() {
        let s = schedule(
            serde_json::json!({"timezone": "America/Guayaquil", "recipient_timezone": true,
            "window": {"start": "09:00", "end": "18:00"}}),
        );
        let w = s.recipient_window().unwrap();
        assert_eq!(
            w.zone_of("+593995683452", r#"{"timezone":"Asia/Tokyo"}"#),
            chrono_tz::Asia::Tokyo
        );
        assert_eq!(w.zone_of("+34612345678", "{}"), chrono_tz::Europe::Madrid);
        assert_eq!(
            w.zone_of("+34612345678", r#"{"timezone":"Nowhere/Special"}"#),
            chrono_tz::Europe::Madrid
        );
        assert_eq!(w.zone_of("not a phone", "{}"), chrono_tz::America::Guayaquil);
    }

    #[test]
    fn nine_in_the_morning_is_nine_in_each_recipients_zone() {
        let s = schedule(serde_json::json!({"recipient_timezone": true,
            "window": {"start": "09:00", "end": "18:00"}}));
        let w = s.recipient_window().unwrap();
        // 2026-06-01 08:30 UTC: 10:30 in Madrid (open), 03:30 in Guayaquil (closed until 14:00 UTC).
        let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T08:30:00Z")
            .unwrap()
            .timestamp_millis();
        assert!(matches!(
            w.state_for("+34612345678", "{}", now),
            WindowState::Open { .. }
        ));
        let opens = chrono::DateTime::parse_from_rfc3339("2026-06-01T14:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            w.state_for("+593995683452", "{}", now),
            WindowState::Closed { opens_at: opens }
        );
    }
}
