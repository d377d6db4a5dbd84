//! `/api/v1/templates`: message shapes, validated and previewable.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pregon_domain::{ProviderKind, Template, TemplateCategory, TemplateQuality, TemplateStatus};
use pregon_providers::ProviderTemplate;
use pregon_store::TemplateRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Admin, Caller, Operator, Viewer, Who};
use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiJson, ApiQuery, PageParams};
use super::senders::open_provider;
use super::views::{ListView, TemplateView};
use super::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTemplate {
    /// The provider's approved template name.
    pub name: String,
    /// Its language code (`es`, `en_US`).
    pub language: String,
    /// Text with `{{variable}}` placeholders; in order, they are the body parameters.
    pub body: String,
    /// A URL or a `{{variable}}` for the header image.
    pub header_image: Option<String>,
    /// The template's Twilio Content SID (`HX` and 32 hex digits): Twilio senders send it
    /// as `ContentSid`, with the body parameters as `ContentVariables`, instead of the text.
    pub twilio_content_sid: Option<String>,
    /// `marketing` (the default, the cautious choice), `utility` or `authentication`.
    pub category: Option<String>,
}

/// `HX` followed by 32 hexadecimal digits.
fn check_content_sid(sid: &str) -> Result<String, ApiError> {
    let sid = sid.trim();
    match sid.strip_prefix("HX") {
        Some(hex) if hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) => Ok(sid.to_string()),
        _ => Err(ApiError::invalid_field(
            "twilio_content_sid",
            "must be a Twilio Content SID: HX followed by 32 hexadecimal digits",
        )),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PreviewRequest {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewView {
    pub text: String,
    pub body_parameters: Vec<String>,
    pub header_image: Option<String>,
    /// Variables the template needs that were not given (rendered empty).
    pub missing_variables: Vec<String>,
}

/// Contact-style variables from JSON: strings as they are, other scalars as JSON text.
pub fn variables_from_json(map: &serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
            )
        })
        .collect()
}

#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", request_body = CreateTemplate,
    responses((status = 201, body = TemplateView), (status = 422, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Admin(Who {
        caller: Caller { tenant, .. },
        change,
    }): Admin,
    ApiJson(body): ApiJson<CreateTemplate>,
) -> Result<(StatusCode, Json<TemplateView>), ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 512 {
        return Err(ApiError::invalid_field("name", "must be 1 to 512 characters"));
    }
    let language = body.language.trim();
    if !(2..=15).contains(&language.len())
        || !language
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '-')
    {
        return Err(ApiError::invalid_field(
            "language",
            "must be a language code such as es or en_US",
        ));
    }
    Template::parse(&body.body, None).map_err(|e| ApiError::invalid_field("body", e.to_string()))?;
    if let Some(header) = body.header_image.as_deref() {
        Template::parse("-", Some(header)).map_err(|e| ApiError::invalid_field("header_image", e.to_string()))?;
    }
    let twilio_content_sid = body
        .twilio_content_sid
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(check_content_sid)
        .transpose()?;
    let category = match body.category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => TemplateCategory::Marketing,
        Some(c) => c
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| ApiError::invalid_field("category", "must be marketing, utility or authentication"))?,
    };
    let record = TemplateRecord {
        id: pregon_domain::id::new_id("tpl"),
        tenant_id: tenant.id,
        name: name.to_string(),
        language: language.to_string(),
        body: body.body,
        header_image: body.header_image.filter(|h| !h.trim().is_empty()),
        twilio_content_sid,
        category,
        status: TemplateStatus::Approved,
        quality: TemplateQuality::Unknown,
        created_at: state.clock.now_millis(),
    };
    state.store.insert_template(&record, &change).await?;
    Ok((StatusCode::CREATED, Json(TemplateView::new(&record))))
}

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", params(PageParams),
    responses((status = 200, body = ListView<TemplateView>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListView<TemplateView>>, ApiError> {
    let page = state.store.list_templates(&tenant.id, &page.request()?).await?;
    Ok(Json(ListView {
        items: page.items.iter().map(TemplateView::new).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates",
    responses((status = 200, body = TemplateView), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    Path(id): Path<String>,
) -> Result<Json<TemplateView>, ApiError> {
    let t = state
        .store
        .get_template(&tenant.id, &id)
        .await
        .or_not_found("template")?;
    Ok(Json(TemplateView::new(&t)))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates",
    responses((status = 204), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Admin(Who {
        caller: Caller { tenant, .. },
        change,
    }): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_template(&tenant.id, &id, state.clock.now_millis(), &change)
        .await
        .or_not_found("template")?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/templates/{id}/preview", tag = "templates", request_body = PreviewRequest,
    responses((status = 200, body = PreviewView), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn preview(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        ..
    }): Operator,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PreviewRequest>,
) -> Result<Json<PreviewView>, ApiError> {
    let t = state
        .store
        .get_template(&tenant.id, &id)
        .await
        .or_not_found("template")?;
    let parsed =
        Template::parse(&t.body, t.header_image.as_deref()).map_err(|e| ApiError::internal("stored template", &e))?;
    let vars = variables_from_json(&body.variables);
    let missing = parsed
        .variables()
        .into_iter()
        .filter(|v| vars.get(*v).is_none_or(|x| x.trim().is_empty()))
        .map(str::to_string)
        .collect();
    let r = parsed.render(&vars);
    Ok(Json(PreviewView {
        text: r.text,
        body_parameters: r.body_parameters,
        header_image: r.header_image,
        missing_variables: missing,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SyncRequest {
    /// The Meta sender whose WhatsApp Business Account holds the templates.
    pub sender_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncView {
    pub created: i64,
    pub updated: i64,
    pub items: Vec<TemplateView>,
}

/// A provider's template as pregon keeps it: the body with the provider's placeholders
/// (`{{1}}` or `{{first_name}}`), a media header as its example link (or a `{{header_image}}`
/// variable when the example is not a link), the category, status and quality. `None`
/// for a template without a body pregon can read.
pub fn record_of_provider(tenant_id: &str, t: &ProviderTemplate, now: i64) -> Option<TemplateRecord> {
    let body = t.body.clone().filter(|b| !b.trim().is_empty())?;
    Template::parse(&body, None).ok()?;
    let header_image = t.header.as_ref().filter(|h| h.format.is_media()).map(|h| {
        h.example
            .clone()
            .filter(|e| e.starts_with("https://") || e.starts_with("http://"))
            .unwrap_or_else(|| "{{header_image}}".to_string())
    });
    Some(TemplateRecord {
        id: pregon_domain::id::new_id("tpl"),
        tenant_id: tenant_id.to_string(),
        name: t.name.clone(),
        language: t.language.clone(),
        body,
        header_image,
        twilio_content_sid: None,
        category: t.category.unwrap_or(TemplateCategory::Marketing),
        // A status that says nothing about sending (`LIMIT_EXCEEDED`, `ARCHIVED`) is kept
        // as not sendable yet.
        status: t.status.unwrap_or(TemplateStatus::Pending),
        quality: t.quality,
        created_at: now,
    })
}

#[utoipa::path(post, path = "/api/v1/templates/sync", tag = "templates", request_body = SyncRequest,
    responses((status = 200, body = SyncView), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("api_key" = [])))]
pub async fn sync(
    State(state): State<AppState>,
    Admin(Who {
        caller: Caller { tenant, .. },
        change,
    }): Admin,
    ApiJson(body): ApiJson<SyncRequest>,
) -> Result<Json<SyncView>, ApiError> {
    let sender = state
        .store
        .get_sender(&tenant.id, &body.sender_id)
        .await
        .or_not_found("sender")?;
    if sender.provider != ProviderKind::Meta {
        return Err(ApiError::invalid_field(
            "sender_id",
            "only a meta sender's WhatsApp Business Account holds templates to sync",
        ));
    }
    let provider = open_provider(&state, &sender)?;
    let listed = provider.list_templates().await.map_err(|e| {
        ApiError::invalid(
            "provider_refused",
            format!(
                "the {} provider refused to list templates: {}",
                sender.provider,
                e.message()
            ),
        )
        .with_details(vec![serde_json::json!({"code": e.code(), "reason": e.message()})])
    })?;
    let now = state.clock.now_millis();
    let records: Vec<TemplateRecord> = listed
        .iter()
        .filter_map(|t| record_of_provider(&tenant.id, t, now))
        .collect();
    let done = state.store.sync_templates(&tenant.id, &records, now, &change).await?;
    Ok(Json(SyncView {
        created: done.created,
        updated: done.updated,
        items: done.items.iter().map(TemplateView::new).collect(),
    }))
}
