//! pregon: a durable dispatcher for WhatsApp Business campaigns.
//!
//! # Layout
//! - [`config`]: settings from flags and environment.
//! - [`startup`]: wiring: open the store, bootstrap the first tenant, run API and dispatcher.
//! - [`console`]: the operator console: server-rendered pages in Spanish and English, their
//!   assets and the security headers.
//! - [`http`]: the JSON API under `/api/v1`, health, metrics, OpenAPI and `/docs`.
//! - [`import`]: contacts from JSON or CSV into messages, with the skip report.
//! - [`dispatch`]: per-sender leases, rate limiting, attempts and their outcomes.
//! - [`notifications`]: campaign notifications out (webhooks to the business), from the
//!   outbox, signed, retried.
//! - [`retention`]: finished campaigns and single messages deleted after a number of days.
//! - [`scheduler`]: pauses and resumes campaigns by their sending windows and daily limits.
//! - [`crypto`]: provider credentials encrypted at rest.
//! - [`keys`]: API keys: generation and hashing.
//! - [`clock`]: the time source, injectable for tests.
//! - [`reports`]: what providers report in (statuses, replies, sender quality), verified and
//!   group-committed.

pub mod clock;
pub mod config;
pub mod console;
pub mod crypto;
pub mod dispatch;
pub mod http;
pub mod import;
pub mod keys;
pub mod notifications;
pub mod reports;
pub mod retention;
pub mod scheduler;
pub mod startup;
