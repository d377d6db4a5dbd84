//! pregon's domain: the types every other layer speaks, parsed at the boundary and free
//! of any I/O.
//!
//! # Layout
//! - [`phone`]: E.164 phone numbers (`PhoneNumber::parse`), through libphonenumber.
//! - [`template`]: `{{variable}}` templates: placeholders, rendering, validation.
//! - [`state`]: the message and campaign state machines and their names on the wire.
//! - [`rate`]: the per-sender rate limiter (never more than the rate in any one-second window).
//! - [`retry`]: retry policy, backoff with jitter, error classes and auto-pause.
//! - [`schedule`]: daily sending windows in an IANA time zone, and each country's usual zone.
//! - [`pacing`]: a campaign's own rate plan (fixed rate, warm-up, jitter) below the sender's rate.
//! - [`id`]: opaque identifiers.

pub mod id;
pub mod pacing;
pub mod phone;
pub mod rate;
pub mod retry;
pub mod schedule;
pub mod state;
pub mod template;

pub use pacing::{Pacer, RatePlan, RatePlanError, WarmupTier};
pub use phone::{PhoneError, PhoneNumber, Region};
pub use rate::RateLimiter;
pub use retry::{AutoPause, ErrorClass, RetryPolicy};
pub use schedule::{parse_zone, zone_for_region, Millis, ScheduleError, SendingWindow, Window, WindowState};
pub use state::{CampaignStatus, MessageStatus, PausedReason, SkipReason};
pub use template::{Template, TemplateError};
