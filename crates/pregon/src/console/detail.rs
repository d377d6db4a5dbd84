//! A campaign's detail at `/campaigns/{id}`: its state and why it waits, its counts,
//! progress, rate and time left (kept current by `GET /api/v1/campaigns/{id}/events`), the
//! actions its state and the person's role allow, its failures grouped by provider error
//! code, the funnel sent → delivered → read → replied, a page of its messages (by state or
//! phone) with each one's timeline, its replies, and a chart of its sending rate against its
//! sender's limit, drawn on the server.
//!
//! Every read is bounded: counts come from the campaign's counters, failures from an index
//! of failed messages, messages and replies a page at a time, the chart from a fixed number
//! of index seeks.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use pregon_domain::state::CampaignAction;
use pregon_domain::{CampaignStatus, MessageStatus, PhoneNumber, ProviderKind, Role};
use pregon_store::{CampaignRecord, Counts, MessageRecord, PageRequest, ReplyFilter, SendSample, StoreError};
use serde::Deserialize;

use super::access::SignedIn;
use super::campaigns::{status_badge, waiting};
use super::i18n::Lang;
use super::layout::{Layout, Link, Section, Tone};
use super::render;
use crate::http::error::ApiError;
use crate::http::failures::{self, FailureClass};
use crate::http::views::CampaignView;
use crate::http::AppState;

/// Messages on one page of the table.
const MESSAGES_PAGE: i64 = 25;
/// Replies on one page.
const REPLIES_PAGE: i64 = 10;
/// Failure groups shown.
const FAILURE_GROUPS: i64 = 20;
/// Samples the rate chart is drawn from.
const CHART_SAMPLES: i64 = 61;

/// A message state's tone and the catalog key of its name.
pub fn message_badge(status: MessageStatus) -> (Tone, &'static str) {
    match status {
        MessageStatus::Queued => (Tone::Neutral, "detail-msg-queued"),
        MessageStatus::Claimed => (Tone::Info, "detail-msg-claimed"),
        MessageStatus::Sending => (Tone::Info, "detail-msg-sending"),
        MessageStatus::Sent => (Tone::Ok, "detail-msg-sent"),
        MessageStatus::Delivered => (Tone::Ok, "detail-msg-delivered"),
        MessageStatus::Read => (Tone::Ok, "detail-msg-read"),
        MessageStatus::Failed => (Tone::Bad, "detail-msg-failed"),
        MessageStatus::Unknown => (Tone::Warn, "detail-msg-unknown"),
        MessageStatus::Skipped => (Tone::Neutral, "detail-msg-skipped"),
        MessageStatus::Cancelled => (Tone::Neutral, "detail-msg-cancelled"),
        MessageStatus::Expired => (Tone::Neutral, "detail-msg-expired"),
    }
}

/// The catalog key of a failure class's words.
fn class_key(class: FailureClass) -> &'static str {
    match class {
        FailureClass::Throttled => "detail-class-throttled",
        FailureClass::Retryable => "detail-class-retryable",
        FailureClass::Permanent => "detail-class-permanent",
        FailureClass::Campaign => "detail-class-campaign",
        FailureClass::Sender => "detail-class-sender",
        FailureClass::Unknown => "detail-class-unknown",
    }
}

/// One of the counts, with where its live value comes from.
struct Count {
    label: String,
    value: String,
    field: &'static str,
}

/// A button that calls the API.
struct Action {
    label: String,
    url: String,
    body: Option<&'static str>,
    confirm: Option<String>,
    primary: bool,
}

/// One provider error code of the failures.
struct Failure {
    code: String,
    count: String,
    message: String,
    class: String,
    tone: &'static str,
}

/// One step of the funnel.
struct Step {
    label: String,
    value: String,
    percent: f64,
    percent_text: String,
    bar_label: String,
    sum: Option<&'static str>,
}

/// One event of a message's timeline.
struct Moment {
    at: String,
    status: String,
    detail: String,
}

/// One row of the messages table.
struct Row {
    phone: String,
    tone: &'static str,
    status: String,
    attempts: String,
    error: String,
    updated: String,
    summary: String,
    timeline: Vec<Moment>,
}

/// One reply.
struct Reply {
    phone: String,
    text: String,
    at: String,
    opted_out: bool,
}

/// The rate chart: an SVG drawn here, and its text alternative.
struct Chart {
    width: i64,
    height: i64,
    /// The polyline's points ("x,y x,y …").
    points: String,
    /// The limit's line, at this y.
    limit_y: f64,
    label: String,
    peak: String,
    average: String,
    limit: String,
    start: String,
    end: String,
}

#[derive(Template)]
#[template(path = "campaign.html")]
struct DetailPage {
    layout: Layout,
    id: String,
    name: String,
    tone: &'static str,
    status: String,
    waiting: String,
    /// Why it ended `failed`, in words, with the provider's, when it says.
    failure: Option<String>,
    sender: String,
    template: String,
    dates: Vec<(String, String)>,
    counts: Vec<Count>,
    progress: f64,
    progress_text: String,
    progress_label: String,
    rate: String,
    eta: String,
    live_url: Option<String>,
    status_labels: String,
    status_tones: String,
    reason_labels: String,
    actions: Vec<Action>,
    export_url: String,
    failures: Vec<Failure>,
    funnel: Vec<Step>,
    rows: Vec<Row>,
    status_filters: Vec<Link>,
    phone: String,
    phone_error: bool,
    next_messages: Option<String>,
    first_messages: Option<String>,
    replies: Vec<Reply>,
    next_replies: Option<String>,
    first_replies: Option<String>,
    chart: Option<Chart>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    status: Option<String>,
    phone: Option<String>,
    cursor: Option<String>,
    replies: Option<String>,
}

impl DetailQuery {
    /// This page's URL with the messages' and replies' cursors replaced.
    fn url(&self, id: &str, cursor: Option<&str>, replies: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = self.status.as_deref().filter(|s| !s.is_empty()) {
            query.append_pair("status", s);
        }
        if let Some(p) = self.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            query.append_pair("phone", p);
        }
        if let Some(c) = cursor {
            query.append_pair("cursor", c);
        }
        if let Some(r) = replies {
            query.append_pair("replies", r);
        }
        let query = query.finish();
        if query.is_empty() {
            format!("/campaigns/{id}")
        } else {
            format!("/campaigns/{id}?{query}")
        }
    }
}

/// The cost rows of the detail list: the estimate at import and what was billed so far.
fn cost_rows(lang: Lang, cost: &pregon_store::CampaignCost) -> Vec<(String, String)> {
    // Without a currency (the tenant never had a rate card) there is no amount to show,
    // only what the provider charged.
    let amount = |micros: pregon_domain::Micros| match &cost.currency {
        Some(currency) => lang.t_args(
            "detail-cost-amount",
            [
                ("amount", lang.number(micros.as_units(), 4).as_str()),
                ("currency", currency.as_str()),
            ],
        ),
        None => lang.t("detail-cost-none"),
    };
    let with_unpriced = |text: String, unpriced: u64| {
        if unpriced == 0 {
            text
        } else {
            format!("{text} · {}", lang.t_count("detail-cost-unpriced", unpriced as i64))
        }
    };
    let estimated = match cost.estimated {
        Some(e) => with_unpriced(amount(e.amount), e.unpriced),
        None => lang.t("detail-cost-none"),
    };
    let billed = format!(
        "{} · {}",
        with_unpriced(amount(cost.billed.amount), cost.billed.unpriced),
        lang.t_count("detail-cost-billable", cost.billable_messages as i64)
    );
    vec![
        (lang.t("detail-cost-estimated"), estimated),
        (lang.t("detail-cost-billed"), billed),
    ]
}

fn when(lang: Lang, at: Option<i64>) -> String {
    at.and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .map(|t| lang.datetime(&t))
        .unwrap_or_else(|| "—".into())
}

/// Every status's words and tones, for the live badge.
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

/// Every waiting reason's words, for the live updates.
fn reason_labels(lang: Lang) -> String {
    let map: serde_json::Map<String, serde_json::Value> = ["scheduled"]
        .into_iter()
        .chain(pregon_domain::PausedReason::ALL.iter().map(|r| r.as_str()))
        .map(|r| (r.to_string(), lang.t(super::campaigns::reason_key(r)).into()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn counts(lang: Lang, n: &Counts) -> Vec<Count> {
    let count = |key: &str, value: i64, field: &'static str| Count {
        label: lang.t(key),
        value: lang.integer(value),
        field,
    };
    vec![
        count(
            "detail-count-queued",
            n.queued + n.claimed,
            "counts.queued counts.claimed",
        ),
        count("detail-count-sending", n.sending, "counts.sending"),
        count("detail-count-sent", n.sent, "counts.sent"),
        count("detail-count-delivered", n.delivered, "counts.delivered"),
        count("detail-count-read", n.read, "counts.read"),
        count("detail-count-failed", n.failed, "counts.failed"),
        count("detail-count-unknown", n.unknown, "counts.unknown"),
        count("detail-count-skipped", n.skipped, "counts.skipped"),
        count("detail-count-cancelled", n.cancelled, "counts.cancelled"),
        count("detail-count-expired", n.expired, "counts.expired"),
    ]
}

/// The actions `c`'s state allows, for someone who may operate it.
fn actions(lang: Lang, c: &CampaignRecord) -> Vec<Action> {
    let base = format!("/api/v1/campaigns/{}", c.id);
    let mut out = Vec::new();
    let mut add = |action: CampaignAction, key: &str, path: &str, body, confirm: Option<String>, primary| {
        if c.status.allows(action) {
            out.push(Action {
                label: lang.t(key),
                url: format!("{base}/{path}"),
                body,
                confirm,
                primary,
            });
        }
    };
    add(CampaignAction::Start, "detail-action-start", "start", None, None, true);
    add(CampaignAction::Pause, "detail-action-pause", "pause", None, None, false);
    add(
        CampaignAction::Resume,
        "detail-action-resume",
        "resume",
        None,
        None,
        true,
    );
    if c.counts.failed > 0 {
        let confirm = lang.t_count("detail-confirm-retry-failed", c.counts.failed);
        add(
            CampaignAction::Retry,
            "detail-action-retry-failed",
            "retry",
            None,
            Some(confirm),
            false,
        );
    }
    if c.counts.unknown > 0 {
        let confirm = lang.t_count("detail-confirm-retry-unknown", c.counts.unknown);
        add(
            CampaignAction::Retry,
            "detail-action-retry-unknown",
            "retry",
            Some(r#"{"include_unknown":true}"#),
            Some(confirm),
            false,
        );
    }
    let confirm = lang.t_args("detail-confirm-cancel", [("name", c.name.as_str())]);
    add(
        CampaignAction::Cancel,
        "detail-action-cancel",
        "cancel",
        None,
        Some(confirm),
        false,
    );
    out
}

fn funnel(lang: Lang, n: &Counts, replied: i64) -> Vec<Step> {
    let sent = n.sent + n.delivered + n.read;
    let delivered = n.delivered + n.read;
    let step = |key: &str, value: i64, sum: Option<&'static str>| {
        let percent = if sent > 0 {
            value as f64 * 100.0 / sent as f64
        } else {
            0.0
        };
        let label = lang.t(key);
        let percent_text = lang.percent(percent, 1);
        Step {
            bar_label: lang.t_args(
                "detail-funnel-bar",
                [("step", label.as_str()), ("percent", percent_text.as_str())],
            ),
            label,
            value: lang.integer(value),
            percent,
            percent_text,
            sum,
        }
    };
    vec![
        step(
            "detail-funnel-sent",
            sent,
            Some("counts.sent counts.delivered counts.read"),
        ),
        step(
            "detail-funnel-delivered",
            delivered,
            Some("counts.delivered counts.read"),
        ),
        step("detail-funnel-read", n.read, Some("counts.read")),
        step("detail-funnel-replied", replied, None),
    ]
}

fn status_filters(lang: Lang, q: &DetailQuery, id: &str, current: Option<MessageStatus>) -> Vec<Link> {
    let link = |status: Option<MessageStatus>, label: String| {
        let q = DetailQuery {
            status: status.map(|s| s.as_str().to_string()),
            phone: q.phone.clone(),
            ..DetailQuery::default()
        };
        Link {
            href: q.url(id, None, None),
            label,
            current: current == status,
            lang: lang.code(),
        }
    };
    std::iter::once(link(None, lang.t("detail-messages-all")))
        .chain(
            MessageStatus::ALL
                .iter()
                .filter(|s| !matches!(s, MessageStatus::Claimed))
                .map(|s| link(Some(*s), lang.t(message_badge(*s).1))),
        )
        .collect()
}

/// An event's detail, in short: its error code and words, or its other fields.
fn event_detail(detail: &Option<serde_json::Value>) -> String {
    let Some(serde_json::Value::Object(map)) = detail else {
        return String::new();
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut parts: Vec<String> = Vec::new();
    for key in ["error_code", "error_message", "code", "message", "reason"] {
        if let Some(v) = map.get(key).filter(|v| !v.is_null()) {
            parts.push(text(v));
        }
    }
    if parts.is_empty() {
        parts = map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .take(3)
            .map(|(k, v)| format!("{k}: {}", text(v)))
            .collect();
    }
    let mut out = parts.join(" · ");
    if out.chars().count() > 300 {
        out = out.chars().take(300).collect::<String>() + "…";
    }
    out
}

async fn row(state: &AppState, lang: Lang, m: &MessageRecord) -> Row {
    let (tone, key) = message_badge(m.status);
    let events = state.store.message_events(m.id).await.unwrap_or_default();
    let timeline = events
        .iter()
        .map(|e| Moment {
            at: when(lang, Some(e.at)),
            status: e
                .status
                .parse::<MessageStatus>()
                .map(|s| lang.t(message_badge(s).1))
                .unwrap_or_else(|_| e.status.clone()),
            detail: event_detail(&e.detail),
        })
        .collect();
    let error = match (&m.error_code, &m.error_message) {
        (Some(c), Some(w)) => format!("{c}: {w}"),
        (Some(c), None) => c.clone(),
        (None, Some(w)) => w.clone(),
        (None, None) => m.skip_reason.clone().unwrap_or_default(),
    };
    // The provider's words can run long; the whole text is in the export.
    let error = if error.chars().count() > 160 {
        error.chars().take(160).collect::<String>() + "…"
    } else {
        error
    };
    let last = m.read_at.or(m.delivered_at).or(m.sent_at).unwrap_or(m.created_at);
    let who = crate::http::views::recipient_label(&m.phone, m.user_id.as_deref());
    Row {
        summary: lang.t_args("detail-timeline-of", [("phone", who.as_str())]),
        phone: who,
        tone: tone.as_str(),
        status: lang.t(key),
        attempts: lang.integer(m.attempts),
        error,
        updated: when(lang, Some(last)),
        timeline,
    }
}

/// The sending rate over the campaign's life, from samples of sent messages: between two
/// samples, the messages between their ids over the time between them.
fn chart(lang: Lang, samples: &[SendSample], limit: f64) -> Option<Chart> {
    let (first, last) = (samples.first()?, samples.last()?);
    let span = last.at - first.at;
    if samples.len() < 3 || span < 1_000 {
        return None;
    }
    let rates: Vec<(i64, f64)> = samples
        .windows(2)
        .map(|w| {
            let dt = (w[1].at - w[0].at).max(1) as f64 / 1000.0;
            (w[1].at, (w[1].message_id - w[0].message_id) as f64 / dt)
        })
        .collect();
    let peak = rates.iter().map(|r| r.1).fold(0.0, f64::max);
    let average = (last.message_id - first.message_id) as f64 * 1000.0 / span as f64;
    let (width, height) = (600_i64, 160_i64);
    let top = peak.max(limit).max(0.1) * 1.15;
    let y = |v: f64| (height as f64 - v / top * height as f64).clamp(0.0, height as f64);
    let x = |at: i64| (at - first.at) as f64 / span as f64 * width as f64;
    let mut points = format!("0,{:.1}", y(rates[0].1));
    for (at, r) in &rates {
        points.push_str(&format!(" {:.1},{:.1}", x(*at), y(*r)));
    }
    let peak_text = lang.number(peak, 1);
    let average_text = lang.number(average, 1);
    let limit_text = lang.number(limit, 1);
    Some(Chart {
        width,
        height,
        points,
        limit_y: y(limit),
        label: lang.t_args(
            "detail-chart-label",
            [
                ("peak", peak_text.as_str()),
                ("average", average_text.as_str()),
                ("limit", limit_text.as_str()),
            ],
        ),
        peak: peak_text,
        average: average_text,
        limit: limit_text,
        start: when(lang, Some(first.at)),
        end: when(lang, Some(last.at)),
    })
}

/// `GET /campaigns/{id}`.
pub async fn page(
    State(state): State<AppState>,
    layout: Layout,
    who: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, Response> {
    let layout = layout.at(Section::Campaigns);
    let lang = layout.lang;
    let fail = |e: ApiError| super::error_page(&layout, e);
    let tenant = who.tenant_id().to_string();
    let c = state.store.get_campaign(&tenant, &id).await.map_err(|e| match e {
        StoreError::NotFound => fail(ApiError::not_found("campaign")),
        other => fail(other.into()),
    })?;
    let now = state.clock.now_millis();
    let view = CampaignView::new(&c, state.rates.rate(&c, now));
    let sender = state.store.sender_by_id(&c.sender_id).await.ok();
    let template = state.store.template_by_id(&c.template_id).await.ok();
    let provider = sender.as_ref().map_or(ProviderKind::Sandbox, |s| s.provider);

    let groups = state
        .store
        .campaign_failures(&tenant, &c.id, FAILURE_GROUPS)
        .await
        .map_err(|e| fail(e.into()))?;
    let failures = failures::views(provider, groups)
        .into_iter()
        .map(|f| Failure {
            code: f.error_code.unwrap_or_else(|| "—".into()),
            count: lang.integer(f.count),
            message: f.error_message.unwrap_or_default(),
            class: lang.t(class_key(f.class)),
            tone: match f.class {
                FailureClass::Throttled | FailureClass::Retryable | FailureClass::Unknown => Tone::Warn,
                _ => Tone::Bad,
            }
            .as_str(),
        })
        .collect();
    let replied = state
        .store
        .campaign_reply_count(&tenant, &c.id)
        .await
        .map_err(|e| fail(e.into()))?;

    // The messages: by phone, or a page by state.
    let status = q.status.as_deref().and_then(|s| s.parse::<MessageStatus>().ok());
    let phone_text = q.phone.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let mut phone_error = false;
    let mut next_messages = None;
    let messages: Vec<MessageRecord> = match phone_text {
        Some(p) => match PhoneNumber::parse(p, None) {
            Ok(phone) => state
                .store
                .campaign_messages_to(&tenant, &c.id, phone.as_str(), MESSAGES_PAGE)
                .await
                .map_err(|e| fail(e.into()))?
                .into_iter()
                .filter(|m| status.is_none_or(|s| m.status == s))
                .collect(),
            Err(_) => {
                phone_error = true;
                Vec::new()
            }
        },
        None => {
            let cursor = q.cursor.clone().filter(|c| c.len() <= 20 && c.parse::<i64>().is_ok());
            let page = state
                .store
                .list_messages(
                    &tenant,
                    &c.id,
                    status,
                    &PageRequest {
                        limit: MESSAGES_PAGE,
                        cursor,
                    },
                )
                .await
                .map_err(|e| fail(e.into()))?;
            next_messages = page.next_cursor.map(|n| q.url(&c.id, Some(&n), q.replies.as_deref()));
            page.items
        }
    };
    let mut rows = Vec::with_capacity(messages.len());
    for m in &messages {
        rows.push(row(&state, lang, m).await);
    }

    let replies_cursor = q.replies.clone().filter(|c| c.len() <= 20 && c.parse::<i64>().is_ok());
    let replies_page = state
        .store
        .list_replies(
            &tenant,
            &ReplyFilter {
                campaign_id: Some(c.id.clone()),
                phone: None,
            },
            &PageRequest {
                limit: REPLIES_PAGE,
                cursor: replies_cursor.clone(),
            },
        )
        .await
        .map_err(|e| fail(e.into()))?;
    let replies = replies_page
        .items
        .iter()
        .map(|r| Reply {
            phone: r.phone.clone(),
            text: r.text.clone().unwrap_or_else(|| format!("({})", r.message_type)),
            at: when(lang, Some(r.received_at)),
            opted_out: r.opted_out,
        })
        .collect();
    let messages_cursor = q.cursor.as_deref();
    let next_replies = replies_page
        .next_cursor
        .map(|n| q.url(&c.id, messages_cursor, Some(&n)))
        .map(|u| format!("{u}#replies"));
    let first_replies = replies_cursor
        .is_some()
        .then(|| format!("{}#replies", q.url(&c.id, messages_cursor, None)));
    let first_messages = q
        .cursor
        .is_some()
        .then(|| format!("{}#messages", q.url(&c.id, None, q.replies.as_deref())));
    let next_messages = next_messages.map(|u| format!("{u}#messages"));

    let samples = state
        .store
        .campaign_send_samples(&tenant, &c.id, CHART_SAMPLES)
        .await
        .map_err(|e| fail(e.into()))?;
    let limit = sender.as_ref().map_or(0.0, |s| s.rate());

    let (tone, key) = status_badge(c.status);
    let percent = lang.percent(view.progress_percent, 1);
    let (status_labels, status_tones) = status_maps(lang);
    let dates = vec![
        (lang.t("detail-created"), when(lang, Some(c.created_at))),
        (lang.t("detail-started"), when(lang, c.started_at)),
        (lang.t("detail-completed"), when(lang, c.completed_at)),
    ];
    let mut dates = dates;
    let costs = state
        .store
        .campaign_costs(&tenant, std::slice::from_ref(&c.id))
        .await
        .map_err(|e| fail(e.into()))?;
    if let Some(cost) = costs.get(&c.id) {
        dates.extend(cost_rows(lang, cost));
    }
    let page = DetailPage {
        id: c.id.clone(),
        name: c.name.clone(),
        tone: tone.as_str(),
        status: lang.t(key),
        waiting: waiting(lang, &view, &c).unwrap_or_default(),
        failure: c.failure_reason.map(|r| {
            let why = lang.t(match r {
                pregon_domain::FailureReason::TemplateDisabled => "detail-failure-template_disabled",
                pregon_domain::FailureReason::TemplateRejected => "detail-failure-template_rejected",
                pregon_domain::FailureReason::TemplateDeleted => "detail-failure-template_deleted",
            });
            match &c.failure_detail {
                Some(detail) => format!("{why} ({detail})"),
                None => why,
            }
        }),
        sender: sender
            .as_ref()
            .map_or_else(|| "—".into(), |s| format!("{} ({})", s.name, s.phone_number)),
        template: template
            .as_ref()
            .map_or_else(|| "—".into(), |t| format!("{} ({})", t.name, t.language)),
        dates,
        counts: counts(lang, &c.counts),
        progress: view.progress_percent,
        progress_label: lang.t_args(
            "campaigns-progress-label",
            [("name", c.name.as_str()), ("percent", percent.as_str())],
        ),
        progress_text: percent,
        rate: lang.number(view.current_rate, 1),
        eta: view.eta_seconds.map(|s| lang.duration(s)).unwrap_or_else(|| "—".into()),
        live_url: (!c.status.is_final()).then(|| format!("/api/v1/campaigns/{}/events", c.id)),
        status_labels,
        status_tones,
        reason_labels: reason_labels(lang),
        actions: if who.may(Role::Operator) {
            actions(lang, &c)
        } else {
            Vec::new()
        },
        export_url: format!("/api/v1/campaigns/{}/messages.csv", c.id),
        failures,
        funnel: funnel(lang, &c.counts, replied),
        status_filters: status_filters(lang, &q, &c.id, status),
        phone: phone_text.unwrap_or_default().to_string(),
        phone_error,
        rows,
        next_messages,
        first_messages,
        replies,
        next_replies,
        first_replies,
        chart: chart(lang, &samples, limit),
        layout,
    };
    Ok(render(lang, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pregon_domain::{CostSum, Micros};

    #[test]
    fn a_bill_without_a_rate_card_shows_no_amount_but_what_was_charged() {
        let cost = pregon_store::CampaignCost {
            currency: None,
            estimated: None,
            billed: CostSum {
                amount: Micros(0),
                unpriced: 22,
            },
            billable_messages: 22,
        };
        let rows = cost_rows(Lang::En, &cost);
        assert_eq!(rows[0].1, "—");
        assert_eq!(rows[1].1, "— · 22 without a rate · 22 billable messages");
        let priced = pregon_store::CampaignCost {
            currency: Some(pregon_domain::Currency::parse("USD").unwrap()),
            billed: CostSum {
                amount: Micros(51_600),
                unpriced: 0,
            },
            billable_messages: 2,
            ..cost
        };
        assert_eq!(cost_rows(Lang::En, &priced)[1].1, "0.0516 USD · 2 billable messages");
    }
}
