//! The sections of the navigation whose pages are not built yet: one shared page naming
//! the section and pointing to the API, in both languages, so that no link of the
//! navigation leads to an error. Each route here is replaced by its real page.

use askama::Template;
use axum::response::Response;

use super::layout::{Layout, Section};
use super::render;

#[derive(Template)]
#[template(path = "pending.html")]
struct PendingPage {
    layout: Layout,
    /// The section's name, in the page's language.
    name: String,
}

/// The page for `section`.
pub fn page(layout: Layout, section: Section) -> Response {
    let layout = layout.at(section);
    let name = layout.t(section.label_key());
    render(layout.lang, &PendingPage { layout, name })
}
