//! A campaign's settings, as the API takes them and the store keeps them: its schedule
//! (start, daily window, per-recipient time zones), rate plan, retry policy, auto-pause rule,
//! consent rule and notification URL.
//!
//! [`CampaignSettings`] is the one shape of the `settings` the store keeps for a campaign,
//! written and read through serde in one place (the store). Every reader matches its fields;
//! none looks a key up by name.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::phone::PhoneNumber;
use crate::rate_plan::RatePlan;
use crate::retry::{AutoPause, RetryPolicy};
use crate::window::{parse_zone, zone_for_region, Millis, SendingWindow, Window, WindowState};

/// Everything a campaign was created with beyond its name, sender, template and contacts.
///
/// Every field has a default, so that campaigns stored by an earlier version, before a
/// field existed, still read (`#[serde(default)]`): those defaults are the behaviour such
/// campaigns had.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CampaignSettings {
    /// The region digits-only phones were read in (ISO 3166 code), if one was given.
    pub default_region: Option<String>,
    pub retry: RetryPolicy,
    pub auto_pause: AutoPause,
    /// Where the campaign's outbound notification goes when it ends.
    pub webhook_url: Option<String>,
    /// Only contacts the tenant holds an opt-in for are sent to.
    pub require_consent: bool,
    pub schedule: Option<ScheduleSettings>,
    /// The campaign's own rate plan below the sender's rate, when it is paced.
    pub rate: Option<RatePlan>,
    /// Which CSV column fed what, as the import was given it: `phone` names the phone
    /// column, every other key a template variable (`{"phone": "Celular", "nombre":
    /// "Nombre completo"}`). Absent when the columns were used by their own names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_mapping: Option<std::collections::BTreeMap<String, String>>,
}

impl CampaignSettings {
    /// The notification URL, when one is set.
    pub fn notification_url(&self) -> Option<&str> {
        self.webhook_url.as_deref().map(str::trim).filter(|u| !u.is_empty())
    }

    /// The rate plan that paces the campaign (`None`: the sender's rate alone).
    pub fn rate_plan(&self) -> Option<&RatePlan> {
        self.rate.as_ref().filter(|plan| plan.is_paced())
    }

    /// The window the whole campaign keeps, unless it is applied per recipient.
    pub fn campaign_window(&self) -> Option<SendingWindow> {
        self.schedule.as_ref()?.campaign_window()
    }

    /// The window each recipient keeps in their own time zone, when asked for.
    pub fn recipient_window(&self) -> Option<RecipientWindow> {
        self.schedule.as_ref()?.recipient_window()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_stored_by_earlier_versions_still_read() {
        // As 0.1 stored them: every key, nulls for what was not given.
        let stored = serde_json::json!({"default_region": "VE", "retry": {"max_attempts": 2, "backoff_seconds": [5]},
            "auto_pause": {"min_failures": 10, "max_failure_rate": 0.2}, "webhook_url": null,
            "require_consent": false, "schedule": null, "rate": null});
        let s: CampaignSettings = serde_json::from_value(stored).unwrap();
        assert_eq!(s.default_region.as_deref(), Some("VE"));
        assert_eq!(s.retry.max_attempts, 2);
        assert_eq!(s.auto_pause.min_failures, 10);
        assert!(s.rate_plan().is_none() && s.campaign_window().is_none());
        // Before `require_consent` and `rate` existed, and the schema's own default.
        let older: CampaignSettings =
            serde_json::from_str(r#"{"retry": {"max_attempts": 3, "backoff_seconds": [60]}}"#).unwrap();
        assert!(!older.require_consent);
        assert_eq!(
            serde_json::from_str::<CampaignSettings>("{}").unwrap(),
            CampaignSettings::default()
        );
        // What is written reads back the same.
        let again: CampaignSettings = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn only_a_paced_plan_paces_and_a_blank_url_is_none() {
        let mut s = CampaignSettings {
            rate: Some(RatePlan::default()),
            webhook_url: Some("  ".into()),
            ..Default::default()
        };
        assert!(s.rate_plan().is_none());
        assert_eq!(s.notification_url(), None);
        s.rate = Some(RatePlan {
            messages_per_second: Some(2.0),
            ..Default::default()
        });
        s.webhook_url = Some(" https://example.com/h ".into());
        assert!(s.rate_plan().is_some());
        assert_eq!(s.notification_url(), Some("https://example.com/h"));
    }

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
