//! The operator console: pages rendered on the server, in Spanish or English, served by
//! the one binary beside the API (issue 12).
//!
//! # Layout
//! - [`i18n`]: the language of a request, the Fluent catalogs (`locales/{es,en}/*.ftl`),
//!   number and date formats.
//! - [`assets`]: our style sheet, ES modules and icon (`assets/`), embedded and served at
//!   content-hashed URLs with a year's cache.

pub mod assets;
pub mod i18n;

use axum::routing::get;
use axum::Router;

use crate::http::AppState;

/// The console's routes, to be merged into the application's router.
pub fn routes() -> Router<AppState> {
    Router::new().route("/assets/{file}", get(assets::serve))
}
