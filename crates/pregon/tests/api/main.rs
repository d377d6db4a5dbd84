//! Black-box tests of pregon's HTTP API: a real server on a loopback port, a fresh SQLite
//! database per test, and wiremock standing in for the Meta Cloud API.
//!
//! Run with `cargo test -p pregon --test api`.

mod accounts;
mod auth;
mod bad_input;
mod bsuid;
mod campaigns;
mod consent;
mod console;
mod console_catalog;
mod console_pages;
mod contract;
mod detail;
mod dispatch;
mod expiry;
mod helpers;
mod idempotency;
mod messages;
mod metrics;
mod notifications;
mod opt_outs;
mod pricing;
mod providers;
mod retention;
mod roles;
mod scheduling;
mod senders;
mod simulator;
mod system;
mod templates;
mod throughput;
mod webhooks;
mod wizard;
