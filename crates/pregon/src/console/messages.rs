//! The messages page at `/messages`: send one message now or at a time (`POST
//! /api/v1/messages`), the scheduled ones soonest first with cancel, and the history of
//! single messages newest first, filtered by state and paged on the server.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use pregon_domain::state::MessageStatus;
use pregon_domain::Role;
use pregon_store::{MessageRecord, PageRequest, SingleMessageFilter};
use serde::Deserialize;

use super::access::SignedIn;
use super::layout::{Layout, Link, Section, Tone};
use super::system::when;
use super::{error_page, render};
use crate::http::AppState;

/// Rows of each list on one page.
const PAGE_SIZE: i64 = 25;

/// A message status's badge: its tone and the catalog key of its name.
pub fn message_status_badge(status: MessageStatus) -> (Tone, &'static str) {
    match status {
        MessageStatus::Queued => (Tone::Neutral, "messages-status-queued"),
        MessageStatus::Claimed => (Tone::Neutral, "messages-status-claimed"),
        MessageStatus::Sending => (Tone::Info, "messages-status-sending"),
        MessageStatus::Sent => (Tone::Info, "messages-status-sent"),
        MessageStatus::Delivered => (Tone::Ok, "messages-status-delivered"),
        MessageStatus::Read => (Tone::Ok, "messages-status-read"),
        MessageStatus::Failed => (Tone::Bad, "messages-status-failed"),
        MessageStatus::Unknown => (Tone::Warn, "messages-status-unknown"),
        MessageStatus::Skipped => (Tone::Neutral, "messages-status-skipped"),
        MessageStatus::Cancelled => (Tone::Neutral, "messages-status-cancelled"),
        MessageStatus::Expired => (Tone::Neutral, "messages-status-expired"),
    }
}

struct MessageRow {
    id: i64,
    phone: String,
    template: String,
    sender: String,
    tone: &'static str,
    status: String,
    /// When it goes (scheduled) or went (history).
    at: String,
    /// The provider's error, when it failed.
    error: String,
}

/// A choice of a select.
struct Choice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "messages.html")]
struct MessagesPage {
    layout: Layout,
    can_send: bool,
    templates: Vec<Choice>,
    senders: Vec<Choice>,
    scheduled: Vec<MessageRow>,
    scheduled_next: Option<String>,
    history: Vec<MessageRow>,
    history_next: Option<String>,
    filters: Vec<Link>,
}

#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    status: Option<String>,
    cursor: Option<String>,
    scheduled_cursor: Option<String>,
}

/// `GET /messages`.
pub async fn page(
    State(state): State<AppState>,
    layout: Layout,
    who: SignedIn,
    Query(q): Query<MessagesQuery>,
) -> Result<Response, Response> {
    let layout = layout.at(Section::Messages);
    let lang = layout.lang;
    let fail = |e: pregon_store::StoreError| error_page(&layout, e.into());
    let tenant = who.tenant_id();
    let all = PageRequest {
        limit: 200,
        cursor: None,
    };
    let templates = state.store.list_templates(tenant, &all).await.map_err(fail)?.items;
    let senders = state.store.list_senders(tenant, &all).await.map_err(fail)?.items;
    let template_names: HashMap<&str, String> = templates
        .iter()
        .map(|t| (t.id.as_str(), format!("{} ({})", t.name, t.language)))
        .collect();
    let sender_names: HashMap<&str, &str> = senders.iter().map(|s| (s.id.as_str(), s.name.as_str())).collect();
    let row = |m: &MessageRecord, at: Option<i64>| {
        let (tone, key) = message_status_badge(m.status);
        MessageRow {
            id: m.id,
            phone: crate::http::views::recipient_label(&m.phone, m.user_id.as_deref()),
            template: template_names.get(m.template_id.as_str()).cloned().unwrap_or_default(),
            sender: sender_names
                .get(m.sender_id.as_str())
                .map(|s| s.to_string())
                .unwrap_or_default(),
            tone: tone.as_str(),
            status: lang.t(key),
            at: at.map(|t| when(lang, t)).unwrap_or_default(),
            error: match (&m.error_code, &m.error_message) {
                (Some(code), Some(text)) => format!("{code}: {text}"),
                (Some(code), None) => code.clone(),
                (None, Some(text)) => text.clone(),
                (None, None) => m.skip_reason.clone().unwrap_or_default(),
            },
        }
    };
    let now = state.clock.now_millis();
    // A cursor this list did not give out starts the list over rather than failing the page.
    let scheduled_filter = SingleMessageFilter {
        status: None,
        scheduled_after: Some(now),
    };
    let cursor = |c: Option<String>, filter: &SingleMessageFilter| {
        c.filter(|c| c.len() <= 200 && filter.parse_cursor(c).is_some())
    };
    let scheduled = state
        .store
        .list_single_messages(
            tenant,
            &scheduled_filter,
            &PageRequest {
                limit: PAGE_SIZE,
                cursor: cursor(q.scheduled_cursor.clone(), &scheduled_filter),
            },
        )
        .await
        .map_err(fail)?;
    let status = q.status.as_deref().and_then(|s| s.parse::<MessageStatus>().ok());
    let history_filter = SingleMessageFilter {
        status,
        scheduled_after: None,
    };
    let history = state
        .store
        .list_single_messages(
            tenant,
            &history_filter,
            &PageRequest {
                limit: PAGE_SIZE,
                cursor: cursor(q.cursor.clone(), &history_filter),
            },
        )
        .await
        .map_err(fail)?;
    let link = |pairs: &[(&str, &str)], anchor: &str| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        let query = query.finish();
        if query.is_empty() {
            format!("/messages#{anchor}")
        } else {
            format!("/messages?{query}#{anchor}")
        }
    };
    let filters = std::iter::once(Link {
        href: link(&[], "history"),
        label: lang.t("messages-filter-all"),
        current: status.is_none(),
        lang: lang.code(),
    })
    .chain(MessageStatus::ALL.iter().map(|s| Link {
        href: link(&[("status", s.as_str())], "history"),
        label: lang.t(message_status_badge(*s).1),
        current: status == Some(*s),
        lang: lang.code(),
    }))
    .collect();
    let page = MessagesPage {
        can_send: who.may(Role::Operator),
        templates: templates
            .iter()
            .map(|t| Choice {
                value: t.id.clone(),
                label: format!("{} ({})", t.name, t.language),
            })
            .collect(),
        senders: senders
            .iter()
            .map(|s| Choice {
                value: s.id.clone(),
                label: if s.is_default {
                    lang.t_args("messages-default-sender", [("name", s.name.as_str())])
                } else {
                    s.name.clone()
                },
            })
            .collect(),
        scheduled_next: scheduled
            .next_cursor
            .as_deref()
            .map(|c| link(&[("scheduled_cursor", c)], "scheduled")),
        scheduled: scheduled.items.iter().map(|m| row(m, m.send_at)).collect(),
        history_next: history.next_cursor.as_deref().map(|c| {
            let mut pairs = vec![("cursor", c)];
            if let Some(s) = status {
                pairs.push(("status", s.as_str()));
            }
            link(&pairs, "history")
        }),
        history: history
            .items
            .iter()
            .map(|m| row(m, m.sent_at.or(Some(m.created_at))))
            .collect(),
        filters,
        layout,
    };
    Ok(render(lang, &page))
}
