//! The senders page at `/senders`: a tenant's WhatsApp numbers with their state, quality
//! rating, messaging tier, the day's use of their daily limit as a gauge, their rate and the
//! default badge, paged on the server; pause and resume (`PATCH /api/v1/senders/{id}`);
//! "test connection" (`POST /api/v1/senders/{id}/test`, the provider's pre-flight, its
//! answer said in the page); and a form to add or edit a Meta, Twilio or sandbox sender.
//!
//! Credentials are write-only: the page never holds them. The edit form's credential fields
//! are empty; left empty they are kept, filled they replace every credential at once. A
//! viewer sees the list and no button.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use pregon_domain::{MessagingTier, ProviderKind, Role, SenderStatus, TemplateQuality};
use pregon_store::{PageRequest, SenderRecord};
use serde::Deserialize;

use super::access::SignedIn;
use super::i18n::Lang;
use super::layout::{Layout, Section, Tone};
use super::render;
use super::templates::{quality_badge, Badge};
use crate::http::AppState;

/// Senders on one page of the list.
const PAGE_SIZE: i64 = 25;

/// A sender state's badge: its tone and the catalog key of its name.
pub fn status_badge(s: SenderStatus) -> (Tone, &'static str) {
    match s {
        SenderStatus::Active => (Tone::Ok, "senders-status-active"),
        SenderStatus::Paused => (Tone::Warn, "senders-status-paused"),
        SenderStatus::Suspended => (Tone::Bad, "senders-status-suspended"),
    }
}

/// The catalog key of a provider's name.
pub fn provider_key(p: ProviderKind) -> &'static str {
    match p {
        ProviderKind::Meta => "senders-provider-meta",
        ProviderKind::Twilio => "senders-provider-twilio",
        ProviderKind::Sandbox => "senders-provider-sandbox",
    }
}

/// The messaging tier a daily limit is, when it is exactly one.
fn tier_of(limit: Option<i64>) -> Option<&'static str> {
    let limit = limit?;
    MessagingTier::ALL
        .iter()
        .find(|t| t.daily_limit() == Some(limit))
        .map(|t| t.as_str())
}

/// The day's use of a daily limit, for a `<meter>`.
struct Usage {
    used: i64,
    limit: i64,
    label: String,
    text: String,
}

/// A pause or resume button.
struct StatusAction {
    body: String,
    label: String,
    aria: String,
}

/// One sender as a row of the list.
struct Row {
    id: String,
    name: String,
    provider: String,
    phone: String,
    status: Badge,
    quality: Badge,
    tier: String,
    usage: Option<Usage>,
    rate: String,
    is_default: bool,
    action: Option<StatusAction>,
    edit_label: String,
    test_label: String,
}

impl Row {
    fn of(lang: Lang, s: &SenderRecord, used: Option<i64>) -> Row {
        let quality = s
            .quality_rating
            .as_deref()
            .map(TemplateQuality::parse_meta)
            .unwrap_or(TemplateQuality::Unknown);
        let usage = s.daily_limit.zip(used).map(|(limit, used)| {
            let (u, l) = (lang.integer(used), lang.integer(limit));
            Usage {
                used: used.min(limit),
                limit,
                label: lang.t_args("senders-usage-label", [("name", s.name.as_str())]),
                text: lang.t_args("senders-usage-text", [("used", u.as_str()), ("limit", l.as_str())]),
            }
        });
        let action = match s.status {
            SenderStatus::Active => Some(("paused", "senders-pause", "senders-pause-of")),
            SenderStatus::Paused => Some(("active", "senders-resume", "senders-resume-of")),
            SenderStatus::Suspended => None,
        }
        .map(|(status, key, aria)| StatusAction {
            body: serde_json::json!({ "status": status }).to_string(),
            label: lang.t(key),
            aria: lang.t_args(aria, [("name", s.name.as_str())]),
        });
        Row {
            id: s.id.clone(),
            name: s.name.clone(),
            provider: lang.t(provider_key(s.provider)),
            phone: s.phone_number.clone(),
            status: Badge::of(lang, status_badge(s.status)),
            quality: Badge::of(lang, quality_badge(quality)),
            tier: tier_of(s.daily_limit).map(str::to_string).unwrap_or_else(|| "—".into()),
            usage,
            rate: if s.rate_follows_provider {
                lang.t_args(
                    "senders-rate-follows",
                    [
                        ("rate", lang.number(s.rate(), 1).as_str()),
                        ("cap", lang.number(s.messages_per_second, 1).as_str()),
                    ],
                )
            } else {
                lang.t_args(
                    "senders-rate-value",
                    [("rate", lang.number(s.messages_per_second, 1).as_str())],
                )
            },
            is_default: s.is_default,
            action,
            edit_label: lang.t_args("senders-edit-of", [("name", s.name.as_str())]),
            test_label: lang.t_args("senders-test-of", [("name", s.name.as_str())]),
        }
    }
}

/// The add or edit form.
struct SenderForm {
    /// `None` when adding.
    id: Option<String>,
    title: String,
    /// When editing, the provider cannot change.
    provider: Option<ProviderKind>,
    provider_label: String,
    name: String,
    phone: String,
    base_url: String,
    rate: String,
    daily_limit: String,
    is_default: bool,
    /// Meta: the rate follows the number's throughput.
    follows: bool,
}

impl SenderForm {
    fn add(lang: Lang) -> SenderForm {
        SenderForm {
            id: None,
            title: lang.t("senders-add"),
            provider: None,
            provider_label: String::new(),
            name: String::new(),
            phone: String::new(),
            base_url: String::new(),
            rate: String::new(),
            daily_limit: String::new(),
            is_default: false,
            follows: false,
        }
    }

    /// Everything but the credentials, which the page never holds.
    fn edit(lang: Lang, s: &SenderRecord) -> SenderForm {
        SenderForm {
            id: Some(s.id.clone()),
            title: lang.t_args("senders-edit-title", [("name", s.name.as_str())]),
            provider: Some(s.provider),
            provider_label: lang.t(provider_key(s.provider)),
            name: s.name.clone(),
            phone: s.phone_number.clone(),
            base_url: s.base_url.clone().unwrap_or_default(),
            rate: s.messages_per_second.to_string(),
            daily_limit: s.daily_limit.map(|l| l.to_string()).unwrap_or_default(),
            is_default: s.is_default,
            follows: s.rate_follows_provider,
        }
    }

    fn shows(&self, provider: &str) -> bool {
        self.provider.is_none_or(|p| p.as_str() == provider)
    }

    fn api_url(&self) -> String {
        match &self.id {
            Some(id) => format!("/api/v1/senders/{id}"),
            None => "/api/v1/senders".into(),
        }
    }
}

#[derive(Template)]
#[template(path = "senders.html")]
struct SendersPage {
    layout: Layout,
    rows: Vec<Row>,
    count: String,
    next_page: Option<String>,
    first_page: Option<String>,
    can_manage: bool,
    form: Option<SenderForm>,
    providers: Vec<(&'static str, String)>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    edit: Option<String>,
}

/// `GET /senders`.
pub async fn list(
    State(state): State<AppState>,
    layout: Layout,
    who: SignedIn,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    let layout = layout.at(Section::Senders);
    let lang = layout.lang;
    let fail = |e: pregon_store::StoreError| super::error_page(&layout, e.into());
    let cursor = q.cursor.filter(|c| c.len() <= 200);
    let page = state
        .store
        .list_senders(
            who.tenant_id(),
            &PageRequest {
                limit: PAGE_SIZE,
                cursor: cursor.clone(),
            },
        )
        .await
        .map_err(fail)?;
    let now = state.clock.now_millis();
    let mut rows = Vec::with_capacity(page.items.len());
    for s in &page.items {
        let used = match s.daily_limit {
            Some(_) => Some(state.store.daily_usage(&s.limit_key(), now).await.map_err(fail)?.used),
            None => None,
        };
        rows.push(Row::of(lang, s, used));
    }
    let can_manage = who.may(Role::Admin);
    let form = match (can_manage, q.edit) {
        (false, _) => None,
        (true, None) => Some(SenderForm::add(lang)),
        (true, Some(id)) => match state.store.get_sender(who.tenant_id(), &id).await {
            Ok(s) => Some(SenderForm::edit(lang, &s)),
            Err(pregon_store::StoreError::NotFound) => Some(SenderForm::add(lang)),
            Err(e) => return Err(fail(e)),
        },
    };
    let with = |c: Option<&str>| match c {
        Some(c) => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("cursor", c);
            format!("/senders?{}", query.finish())
        }
        None => "/senders".to_string(),
    };
    let page = SendersPage {
        count: lang.t_count("senders-count", rows.len() as i64),
        next_page: page.next_cursor.as_deref().map(|c| with(Some(c))),
        first_page: cursor.is_some().then(|| with(None)),
        can_manage,
        form,
        providers: ProviderKind::ALL
            .iter()
            .map(|p| (p.as_str(), lang.t(provider_key(*p))))
            .collect(),
        rows,
        layout,
    };
    Ok(render(lang, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daily_limit_names_its_tier() {
        assert_eq!(tier_of(Some(250)), Some("TIER_250"));
        assert_eq!(tier_of(Some(300)), None);
        assert_eq!(tier_of(None), None);
    }
}
