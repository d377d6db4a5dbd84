//! The operator console: pages rendered on the server, in Spanish or English, served by
//! the one binary beside the API (issue 12).
//!
//! # Layout
//! - [`i18n`]: the language of a request, the Fluent catalogs (`locales/{es,en}/*.ftl`),
//!   number and date formats.

pub mod i18n;
