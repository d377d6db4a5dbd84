//! pregon: a durable dispatcher for WhatsApp Business campaigns.
//!
//! # Layout
//! - [`config`]: settings from flags and environment.
//! - [`startup`]: wiring: open the one store and hand each part its view of it (the API an
//!   `ApiStore`, the dispatcher a `DispatcherStore`, …), bootstrap the first tenant, run the
//!   API with the background work beside it ([`startup::Background`]: polling, off, or
//!   stepped by a test).
//! - [`console`]: the operator console: server-rendered pages in Spanish and English, their
//!   assets and the security headers.
//! - [`http`]: the JSON API under `/api/v1`, health, metrics, OpenAPI and `/docs`; its
//!   campaign object is the store's `CampaignObject`, the one notifications carry.
//! - [`import`]: contacts from JSON or CSV into messages, with the skip report.
//! - [`dispatch`]: per-sender leases, rate limiting, attempts and their outcomes; one
//!   sender's loop in named steps (`dispatch::sender`), what an attempt needs to know
//!   (`dispatch::context`), the checks just before `sending` (`dispatch::consent`,
//!   `dispatch::limits`); [`dispatch::Dispatcher::run_once`] sends what is due and returns.
//! - [`scheduler`]: pauses and resumes campaigns by their sending windows and daily limits.
//! - [`reports`]: what providers report in (statuses, replies, sender quality), verified and
//!   group-committed.
//! - [`notifications`]: campaign notifications out (webhooks to the business), from the
//!   outbox, signed, retried.
//! - [`retention`]: finished campaigns and single messages deleted after a number of days.
//! - [`crypto`]: provider credentials encrypted at rest.
//! - [`keys`]: API keys: generation and hashing.
//! - [`metrics`]: the `/metrics` series (OpenMetrics, `prometheus-client`), the process's own.
//! - [`clock`]: the time source, injectable for tests.

pub mod accounts;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod console;
pub mod crypto;
pub mod dispatch;
pub mod http;
pub mod import;
pub mod keys;
pub mod metrics;
pub mod notifications;
pub mod passwords;
pub mod reports;
pub mod retention;
pub mod scheduler;
pub mod startup;
