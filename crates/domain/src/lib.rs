//! pregon's domain: the types every other layer speaks, parsed at the boundary and free
//! of any I/O.
//!
//! # Layout
//! - [`phone`]: E.164 phone numbers (`PhoneNumber::parse`), through libphonenumber.
//! - [`template`]: `{{variable}}` templates: placeholders, rendering, validation.
//! - [`catalog`]: what a provider says of a template: category, status, quality.
//! - [`opt_out`]: what an opt-out covers (all, or marketing only) and where it came from.
//! - [`pricing`]: what a provider billed a message as (category, free or charged), and a
//!   tenant's rate card in exact micro-units.
//! - [`user_id`]: business-scoped user IDs (BSUIDs), WhatsApp users without a phone.
//! - [`state`]: the message and campaign state machines and their names on the wire.
//! - [`rate`]: the per-sender rate limiter (never more than the rate in any one-second window).
//! - [`retry`]: retry policy, backoff with jitter, error classes and auto-pause.
//! - [`window`]: daily sending windows in an IANA time zone, and each country's usual zone.
//! - [`rate_plan`]: a campaign's own rate plan (fixed rate, warm-up, jitter) below the
//!   sender's rate, and the pacer that turns it into departure slots.
//! - [`settings`]: everything a campaign is created with beyond its contacts
//!   ([`CampaignSettings`]): schedule, rate plan, retry, auto-pause, consent, notification URL.
//! - [`sender`]: a sender's provider, status and messaging tier.
//! - [`access`]: roles, and the names of the changes the audit log records.
//! - [`id`]: opaque identifiers.

pub mod access;
pub mod catalog;
pub mod id;
pub mod opt_out;
pub mod phone;
pub mod pricing;
pub mod rate;
pub mod rate_plan;
pub mod retry;
pub mod sender;
pub mod settings;
pub mod state;
pub mod template;
pub mod throughput;
pub mod user_id;
pub mod window;

pub use access::{ActorKind, AuditAction, Role};
pub use catalog::{TemplateCategory, TemplateQuality, TemplateStatus};
pub use opt_out::{OptOutScope, OptOutSource};
pub use phone::{PhoneError, PhoneNumber, Region};
pub use pricing::{
    CostSum, Currency, Micros, PricingCategory, PricingType, Rate, RateCard, RateCardError, RateCountry,
};
pub use rate::RateLimiter;
pub use rate_plan::{Pacer, RatePlan, RatePlanError, WarmupTier};
pub use retry::{AutoPause, ErrorClass, RetryPolicy};
pub use sender::{MessagingTier, ProviderKind, SenderStatus};
pub use settings::{CampaignSettings, RecipientWindow, ScheduleSettings, SettingsError, WindowSettings};
pub use state::{CampaignStatus, FailureReason, MessageStatus, PausedReason, SkipReason};
pub use template::{Template, TemplateError};
pub use throughput::{followed_rate, ThroughputLevel};
pub use user_id::{identity_key, phone_of_key, user_id_of_key, BusinessUserId, UserIdError};
pub use window::{parse_zone, zone_for_region, Millis, ScheduleError, SendingWindow, Window, WindowState};
