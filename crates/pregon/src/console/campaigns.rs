//! The campaigns list at `/`: each campaign's state in colour and in words, why it waits
//! and until when, its progress, counts, rate and the time left; filtered by state, paged
//! on the server, and kept current by the API's event stream (`GET /api/v1/events`), with no
//! reload.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use pregon_domain::state::CampaignStatus;
use pregon_domain::{PausedReason, Role};
use pregon_store::{CampaignRecord, PageRequest};
use serde::Deserialize;

use super::access::SignedIn;
use super::i18n::Lang;
use super::layout::{Layout, Link, Section, Tone};
use super::render;
use crate::http::views::CampaignView;
use crate::http::AppState;

/// Campaigns on one page of the list.
const PAGE_SIZE: i64 = 25;

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

/// The catalog key of why a campaign waits (its `paused_reason` as the API says it).
pub fn reason_key(reason: &str) -> &'static str {
    match reason {
        "scheduled" => "campaign-reason-scheduled",
        r if r == PausedReason::User.as_str() => "campaign-reason-user",
        r if r == PausedReason::TooManyFailures.as_str() => "campaign-reason-too_many_failures",
        r if r == PausedReason::SenderError.as_str() => "campaign-reason-sender_error",
        r if r == PausedReason::TemplateError.as_str() => "campaign-reason-template_error",
        r if r == PausedReason::DailyLimit.as_str() => "campaign-reason-daily_limit",
        r if r == PausedReason::OutsideWindow.as_str() => "campaign-reason-outside_window",
        r if r == PausedReason::SenderPaused.as_str() => "campaign-reason-sender_paused",
        r if r == PausedReason::TemplatePaused.as_str() => "campaign-reason-template_paused",
        _ => "campaign-reason-other",
    }
}

/// Every reason's words, for the live updates (`data-live-labels`).
fn reason_labels(lang: Lang) -> String {
    let reasons = ["scheduled"]
        .into_iter()
        .chain(PausedReason::ALL.iter().map(|r| r.as_str()));
    let map: serde_json::Map<String, serde_json::Value> =
        reasons.map(|r| (r.to_string(), lang.t(reason_key(r)).into())).collect();
    serde_json::Value::Object(map).to_string()
}

/// Every status's words and tones, for the live updates.
fn status_maps(lang: Lang) -> (String, String) {
    let mut labels = serde_json::Map::new();
    let mut tones = serde_json::Map::new();
    for status in CampaignStatus::ALL {
        let (tone, key) = status_badge(*status);
        labels.insert(status.as_str().into(), lang.t(key).into());
        tones.insert(status.as_str().into(), tone.as_str().into());
    }
    (
        serde_json::Value::Object(labels).to_string(),
        serde_json::Value::Object(tones).to_string(),
    )
}

/// Why a campaign waits and when it goes on by itself, in words.
pub fn waiting(lang: Lang, view: &CampaignView, c: &CampaignRecord) -> Option<String> {
    let reason = lang.t(reason_key(view.paused_reason?));
    Some(match c.resumes_at() {
        Some(at) => {
            let when = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at)
                .map(|t| lang.datetime(&t))
                .unwrap_or_default();
            lang.t_args(
                "campaign-waiting-until",
                [("reason", reason.as_str()), ("when", when.as_str())],
            )
        }
        None => reason,
    })
}

/// One campaign as a row of the list.
struct Row {
    id: String,
    name: String,
    tone: &'static str,
    status: String,
    waiting: String,
    progress: f64,
    progress_text: String,
    progress_label: String,
    sent: String,
    failed: String,
    unknown: String,
    skipped: String,
    rate: String,
    eta: String,
}

impl Row {
    fn of(lang: Lang, c: &CampaignRecord, rate: f64) -> Row {
        let view = CampaignView::new(c, rate);
        let (tone, key) = status_badge(c.status);
        let percent = lang.percent(view.progress_percent, 1);
        let n = &c.counts;
        Row {
            id: c.id.clone(),
            name: c.name.clone(),
            tone: tone.as_str(),
            status: lang.t(key),
            waiting: waiting(lang, &view, c).unwrap_or_default(),
            progress: view.progress_percent,
            progress_label: lang.t_args(
                "campaigns-progress-label",
                [("name", c.name.as_str()), ("percent", percent.as_str())],
            ),
            progress_text: percent,
            sent: lang.integer(n.sent + n.delivered + n.read),
            failed: lang.integer(n.failed),
            unknown: lang.integer(n.unknown),
            skipped: lang.integer(n.skipped),
            rate: lang.number(view.current_rate, 1),
            eta: view.eta_seconds.map(|s| lang.duration(s)).unwrap_or_else(|| "—".into()),
        }
    }
}

#[derive(Template)]
#[template(path = "campaigns.html")]
struct CampaignsPage {
    layout: Layout,
    rows: Vec<Row>,
    filters: Vec<Link>,
    next_page: Option<String>,
    first_page: Option<String>,
    live_url: Option<String>,
    can_create: bool,
    status_labels: String,
    status_tones: String,
    reason_labels: String,
    count: String,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
}

/// The list's filter links: every state, and all.
fn filters(lang: Lang, current: Option<CampaignStatus>) -> Vec<Link> {
    let all = Link {
        href: "/".into(),
        label: lang.t("campaigns-filter-all"),
        current: current.is_none(),
        lang: lang.code(),
    };
    std::iter::once(all)
        .chain(CampaignStatus::ALL.iter().map(|s| Link {
            href: format!("/?status={}", s.as_str()),
            label: lang.t(status_badge(*s).1),
            current: current == Some(*s),
            lang: lang.code(),
        }))
        .collect()
}

/// `GET /`.
pub async fn list(
    State(state): State<AppState>,
    layout: Layout,
    who: SignedIn,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    let layout = layout.at(Section::Campaigns);
    let lang = layout.lang;
    let status = q.status.as_deref().and_then(|s| s.parse::<CampaignStatus>().ok());
    let cursor = q.cursor.filter(|c| c.len() <= 200);
    let page = state
        .store
        .list_campaigns(
            who.tenant_id(),
            status,
            &PageRequest {
                limit: PAGE_SIZE,
                cursor: cursor.clone(),
            },
        )
        .await
        .map_err(|e| super::error_page(&layout, e.into()))?;
    let now = state.clock.now_millis();
    let rows: Vec<Row> = page
        .items
        .iter()
        .map(|c| Row::of(lang, c, state.rates.rate(c, now)))
        .collect();
    let with = |cursor: Option<&str>| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = status {
            query.append_pair("status", s.as_str());
        }
        if let Some(c) = cursor {
            query.append_pair("cursor", c);
        }
        let query = query.finish();
        if query.is_empty() {
            "/".to_string()
        } else {
            format!("/?{query}")
        }
    };
    // Only what can still change is followed; a page of finished campaigns opens no stream.
    let ids: Vec<&str> = page
        .items
        .iter()
        .filter(|c| !c.status.is_final())
        .map(|c| c.id.as_str())
        .collect();
    let (status_labels, status_tones) = status_maps(lang);
    let count = lang.t_count("campaigns-count", rows.len() as i64);
    let page = CampaignsPage {
        next_page: page.next_cursor.as_deref().map(|c| with(Some(c))),
        first_page: cursor.is_some().then(|| with(None)),
        filters: filters(lang, status),
        live_url: (!ids.is_empty()).then(|| format!("/api/v1/events?campaigns={}", ids.join(","))),
        can_create: who.may(Role::Operator),
        reason_labels: reason_labels(lang),
        status_labels,
        status_tones,
        count,
        rows,
        layout,
    };
    Ok(render(lang, &page))
}

/// The page's HTML, for the console's unit tests.
#[cfg(test)]
pub(super) fn render_html(layout: Layout) -> String {
    let lang = layout.lang;
    let (status_labels, status_tones) = status_maps(lang);
    CampaignsPage {
        rows: Vec::new(),
        filters: filters(lang, None),
        next_page: None,
        first_page: None,
        live_url: None,
        can_create: true,
        reason_labels: reason_labels(lang),
        status_labels,
        status_tones,
        count: lang.t_count("campaigns-count", 0),
        layout,
    }
    .render()
    .expect("the campaigns page renders")
}
