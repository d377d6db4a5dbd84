//! The templates page at `/templates`: a tenant's templates with their category, review
//! status and quality in colour and in words, paged on the server; a form to create one
//! (`POST /api/v1/templates`, each refusal written beside its field), deletion after a
//! confirmation, a preview with sample variables (`POST /api/v1/templates/{id}/preview`,
//! shown as a chat bubble) and "sync from WhatsApp" per Meta sender
//! (`POST /api/v1/templates/sync`). A viewer sees the list and no button.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use pregon_domain::{ProviderKind, Role, TemplateCategory, TemplateQuality, TemplateStatus};
use pregon_store::{PageRequest, TemplateRecord};
use serde::Deserialize;

use super::access::SignedIn;
use super::i18n::Lang;
use super::layout::{Layout, Section, Tone};
use super::render;
use crate::http::AppState;

/// Templates on one page of the list.
const PAGE_SIZE: i64 = 25;

/// Characters of a body shown in the list.
const EXCERPT_CHARS: usize = 80;

/// A category's badge: its tone and the catalog key of its name.
pub fn category_badge(c: TemplateCategory) -> (Tone, &'static str) {
    match c {
        TemplateCategory::Marketing => (Tone::Info, "templates-category-marketing"),
        TemplateCategory::Utility => (Tone::Neutral, "templates-category-utility"),
        TemplateCategory::Authentication => (Tone::Neutral, "templates-category-authentication"),
    }
}

/// A review status's badge.
pub fn status_badge(s: TemplateStatus) -> (Tone, &'static str) {
    match s {
        TemplateStatus::Approved => (Tone::Ok, "templates-status-approved"),
        TemplateStatus::Pending => (Tone::Info, "templates-status-pending"),
        TemplateStatus::Paused => (Tone::Warn, "templates-status-paused"),
        TemplateStatus::Disabled => (Tone::Bad, "templates-status-disabled"),
        TemplateStatus::Rejected => (Tone::Bad, "templates-status-rejected"),
    }
}

/// A quality rating's badge.
pub fn quality_badge(q: TemplateQuality) -> (Tone, &'static str) {
    match q {
        TemplateQuality::Green => (Tone::Ok, "templates-quality-green"),
        TemplateQuality::Yellow => (Tone::Warn, "templates-quality-yellow"),
        TemplateQuality::Red => (Tone::Bad, "templates-quality-red"),
        TemplateQuality::Unknown => (Tone::Neutral, "templates-quality-unknown"),
    }
}

/// A badge ready for the page: tone and words.
pub struct Badge {
    pub tone: &'static str,
    pub label: String,
}

impl Badge {
    pub fn of(lang: Lang, (tone, key): (Tone, &'static str)) -> Badge {
        Badge {
            tone: tone.as_str(),
            label: lang.t(key),
        }
    }
}

/// The first characters of a body, on one line.
fn excerpt(body: &str) -> String {
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > EXCERPT_CHARS {
        let cut: String = line.chars().take(EXCERPT_CHARS).collect();
        format!("{}…", cut.trim_end())
    } else {
        line
    }
}

/// One template as a row of the list.
struct Row {
    id: String,
    name: String,
    language: String,
    category: Badge,
    status: Badge,
    quality: Badge,
    excerpt: String,
    created: String,
    preview_label: String,
    delete_label: String,
    delete_question: String,
}

impl Row {
    fn of(lang: Lang, t: &TemplateRecord) -> Row {
        let name = format!("{} ({})", t.name, t.language);
        Row {
            id: t.id.clone(),
            name: t.name.clone(),
            language: t.language.clone(),
            category: Badge::of(lang, category_badge(t.category)),
            status: Badge::of(lang, status_badge(t.status)),
            quality: Badge::of(lang, quality_badge(t.quality)),
            excerpt: excerpt(&t.body),
            created: chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t.created_at)
                .map(|at| lang.datetime(&at))
                .unwrap_or_default(),
            preview_label: lang.t_args("templates-preview-of", [("name", name.as_str())]),
            delete_label: lang.t_args("templates-delete-of", [("name", name.as_str())]),
            delete_question: lang.t_args("templates-delete-confirm", [("name", name.as_str())]),
        }
    }
}

/// The template being previewed, with a field per variable.
struct Preview {
    id: String,
    title: String,
    variables: Vec<String>,
    header_image: Option<String>,
}

/// A Meta sender whose templates can be synced.
struct SyncSource {
    body: String,
    label: String,
}

/// A category as an option of the create form.
struct Choice {
    value: &'static str,
    label: String,
}

#[derive(Template)]
#[template(path = "templates.html")]
struct TemplatesPage {
    layout: Layout,
    rows: Vec<Row>,
    count: String,
    next_page: Option<String>,
    first_page: Option<String>,
    can_manage: bool,
    can_preview: bool,
    categories: Vec<Choice>,
    preview: Option<Preview>,
    sync_sources: Vec<SyncSource>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    preview: Option<String>,
}

fn categories(lang: Lang) -> Vec<Choice> {
    TemplateCategory::ALL
        .iter()
        .map(|c| Choice {
            value: c.as_str(),
            label: lang.t(category_badge(*c).1),
        })
        .collect()
}

/// `GET /templates`.
pub async fn list(
    State(state): State<AppState>,
    layout: Layout,
    who: SignedIn,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    let layout = layout.at(Section::Templates);
    let lang = layout.lang;
    let fail = |e: pregon_store::StoreError| super::error_page(&layout, e.into());
    let cursor = q.cursor.filter(|c| c.len() <= 200);
    let page = state
        .store
        .list_templates(
            who.tenant_id(),
            &PageRequest {
                limit: PAGE_SIZE,
                cursor: cursor.clone(),
            },
        )
        .await
        .map_err(fail)?;
    let can_manage = who.may(Role::Admin);
    let can_preview = who.may(Role::Operator);
    let preview = match q.preview.filter(|_| can_preview) {
        Some(id) => match state.store.get_template(who.tenant_id(), &id).await {
            Ok(t) => Some(Preview {
                id: t.id.clone(),
                title: lang.t_args(
                    "templates-preview-title",
                    [("name", format!("{} ({})", t.name, t.language).as_str())],
                ),
                variables: pregon_domain::Template::parse(&t.body, t.header_image.as_deref())
                    .map(|p| p.variables().into_iter().map(str::to_string).collect())
                    .unwrap_or_default(),
                header_image: t.header_image.clone(),
            }),
            Err(pregon_store::StoreError::NotFound) => None,
            Err(e) => return Err(fail(e)),
        },
        None => None,
    };
    let mut sync_sources = Vec::new();
    if can_manage {
        let senders = state
            .store
            .list_senders(
                who.tenant_id(),
                &PageRequest {
                    limit: 100,
                    cursor: None,
                },
            )
            .await
            .map_err(fail)?;
        for s in senders.items.iter().filter(|s| s.provider == ProviderKind::Meta) {
            sync_sources.push(SyncSource {
                body: serde_json::json!({ "sender_id": s.id }).to_string(),
                label: lang.t_args("templates-sync-from", [("sender", s.name.as_str())]),
            });
        }
    }
    let rows: Vec<Row> = page.items.iter().map(|t| Row::of(lang, t)).collect();
    let with = |c: Option<&str>| match c {
        Some(c) => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("cursor", c);
            format!("/templates?{}", query.finish())
        }
        None => "/templates".to_string(),
    };
    let page = TemplatesPage {
        count: lang.t_count("templates-count", rows.len() as i64),
        next_page: page.next_cursor.as_deref().map(|c| with(Some(c))),
        first_page: cursor.is_some().then(|| with(None)),
        can_manage,
        can_preview,
        categories: categories(lang),
        preview,
        sync_sources,
        rows,
        layout,
    };
    Ok(render(lang, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_one_short_line() {
        assert_eq!(
            excerpt("Hola\n{{nombre}},  ¿cómo estás?"),
            "Hola {{nombre}}, ¿cómo estás?"
        );
        let long = "a ".repeat(100);
        let cut = excerpt(&long);
        assert!(cut.ends_with('…'));
        assert!(cut.chars().count() <= EXCERPT_CHARS + 1);
    }

    #[test]
    fn every_state_has_its_words() {
        for lang in Lang::ALL {
            for c in TemplateCategory::ALL {
                assert!(!lang.t(category_badge(*c).1).contains('⟦'));
            }
            for s in TemplateStatus::ALL {
                assert!(!lang.t(status_badge(*s).1).contains('⟦'));
            }
            for q in TemplateQuality::ALL {
                assert!(!lang.t(quality_badge(*q).1).contains('⟦'));
            }
        }
    }
}
