//! The campaigns list at `/`: for now its frame, a sign-in notice and the empty table,
//! until the console has sessions to know whose campaigns to list.

use askama::Template;
use axum::response::Response;
use pregon_domain::state::CampaignStatus;

use super::layout::{Layout, Section, Tone};
use super::render;

#[derive(Template)]
#[template(path = "campaigns.html")]
struct CampaignsPage {
    layout: Layout,
}

/// `GET /`.
pub async fn list(layout: Layout) -> Response {
    let layout = layout.at(Section::Campaigns);
    render(layout.lang, &CampaignsPage { layout })
}

/// A campaign status's badge: its tone and the catalog key of its name.
pub fn status_badge(status: CampaignStatus) -> (Tone, &'static str) {
    match status {
        CampaignStatus::Draft => (Tone::Neutral, "campaign-status-draft"),
        CampaignStatus::Scheduled => (Tone::Info, "campaign-status-scheduled"),
        CampaignStatus::Running => (Tone::Info, "campaign-status-running"),
        CampaignStatus::Paused => (Tone::Warn, "campaign-status-paused"),
        CampaignStatus::Completed => (Tone::Ok, "campaign-status-completed"),
        CampaignStatus::Cancelled => (Tone::Neutral, "campaign-status-cancelled"),
        CampaignStatus::Failed => (Tone::Bad, "campaign-status-failed"),
    }
}

/// The page's HTML, for the console's unit tests.
#[cfg(test)]
pub(super) fn render_html(layout: Layout) -> String {
    CampaignsPage { layout }.render().expect("the campaigns page renders")
}
