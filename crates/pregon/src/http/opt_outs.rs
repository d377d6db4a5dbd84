//! `/api/v1/opt-outs`: numbers a tenant must not message.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::Json;
use pregon_domain::{identity_key, BusinessUserId, OptOutScope, PhoneNumber, Region};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{Caller, Operator, Viewer, Who};
use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiJson, ApiQuery, PageParams, PhoneSearch};
use super::views::{ListView, OptOutView};
use super::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOptOut {
    /// Either `phone` or `user_id` is required; with both, the phone is opted out and the
    /// two are linked (so the opt-out covers the user under either).
    #[serde(default)]
    pub phone: Option<String>,
    /// A business-scoped user ID (`US.1349…`).
    #[serde(default)]
    pub user_id: Option<String>,
    pub reason: Option<String>,
    /// `all` (the default): every message; `marketing`: messages of marketing templates only.
    pub scope: Option<String>,
}

fn parse_phone(text: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(text, None).map_err(|e| ApiError::invalid("invalid_phone", format!("phone: {e}")))
}

#[utoipa::path(post, path = "/api/v1/opt-outs", tag = "opt-outs", request_body = CreateOptOut,
    responses((status = 201, body = OptOutView), (status = 422, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    ApiJson(body): ApiJson<CreateOptOut>,
) -> Result<(StatusCode, Json<OptOutView>), ApiError> {
    let phone = body.phone.as_deref().map(parse_phone).transpose()?;
    let user_id = body
        .user_id
        .as_deref()
        .map(|u| BusinessUserId::parse(u).map_err(|e| ApiError::invalid("invalid_user_id", format!("user_id: {e}"))))
        .transpose()?;
    let Some(key) = identity_key(phone.as_ref().map(PhoneNumber::as_str), user_id.as_ref()) else {
        return Err(ApiError::invalid(
            "invalid_body",
            "the JSON does not fit this request: missing field `phone` (or `user_id`)",
        ));
    };
    if body.reason.as_ref().is_some_and(|r| r.len() > 500) {
        return Err(ApiError::invalid_field("reason", "must be at most 500 characters"));
    }
    let scope = match body.scope.as_deref() {
        None => OptOutScope::All,
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::invalid_field("scope", "must be all or marketing"))?,
    };
    let now = state.clock.now_millis();
    if let (Some(phone), Some(user_id)) = (&phone, &user_id) {
        state
            .store
            .link_recipient(&tenant.id, phone.as_str(), user_id.as_str(), now)
            .await?;
    }
    let o = state
        .store
        .add_opt_out(&tenant.id, &key, body.reason.as_deref(), "api", scope, now, &change)
        .await?;
    Ok((StatusCode::CREATED, Json(OptOutView::from(&o))))
}

#[utoipa::path(get, path = "/api/v1/opt-outs", tag = "opt-outs", params(PageParams, PhoneSearch),
    responses((status = 200, body = ListView<OptOutView>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    ApiQuery(page): ApiQuery<PageParams>,
    ApiQuery(search): ApiQuery<PhoneSearch>,
) -> Result<Json<ListView<OptOutView>>, ApiError> {
    let page = state
        .store
        .list_opt_outs(&tenant.id, search.phone()?.as_deref(), &page.request()?)
        .await?;
    Ok(Json(ListView {
        items: page.items.iter().map(OptOutView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(delete, path = "/api/v1/opt-outs/{phone}", tag = "opt-outs",
    responses((status = 204), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    Path(phone): Path<String>,
) -> Result<StatusCode, ApiError> {
    // A phone, or the business-scoped user ID of an opt-out keyed by it.
    let key = match BusinessUserId::parse(&phone) {
        Ok(u) => u.to_string(),
        Err(_) => parse_phone(&phone)
            .map_err(|_| ApiError::not_found("opt-out"))?
            .to_string(),
    };
    state
        .store
        .delete_opt_out(&tenant.id, &key, state.clock.now_millis(), &change)
        .await
        .or_not_found("opt-out")?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a CSV of opt-outs did.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ImportedOptOuts {
    /// Rows read.
    pub received: usize,
    /// Phones not in the register before.
    pub added: u64,
    /// Phones already there (kept as they were) or repeated in the file.
    pub already: usize,
    /// Rows whose phone is missing or not a phone number: the first 100.
    pub invalid: Vec<crate::import::RowError>,
    pub invalid_count: usize,
}

/// `POST /api/v1/opt-outs/import` (multipart/form-data): `file`, a CSV with a header row and a
/// phone column (`phone`, `telefono`, `numero`, … or `phone_column`), and optionally
/// `reason` and `default_region`. All rows are added in one transaction with source
/// `import`; rows without a valid phone are reported, not added.
#[utoipa::path(post, path = "/api/v1/opt-outs/import", tag = "opt-outs",
    responses((status = 200, body = ImportedOptOuts), (status = 400, body = super::ErrorBody),
        (status = 413, body = super::ErrorBody), (status = 415, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn import(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<ImportedOptOuts>, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send multipart/form-data: {}", e.body_text()),
        )
    })?;
    let (mut file, mut reason, mut region, mut phone_column) = (None, None, None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(super::campaigns::multipart_error)?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            file = Some(field.bytes().await.map_err(super::campaigns::multipart_error)?);
            continue;
        }
        let text = field.text().await.map_err(super::campaigns::multipart_error)?;
        let text = text.trim().to_string();
        match name.as_str() {
            "reason" if text.len() > 500 => {
                return Err(ApiError::invalid_field("reason", "must be at most 500 characters"))
            }
            "reason" => reason = Some(text).filter(|t| !t.is_empty()),
            "default_region" if !text.is_empty() => {
                region = Some(
                    Region::parse(&text)
                        .map_err(|_| ApiError::invalid_field("default_region", "must be a country code such as VE"))?,
                )
            }
            "default_region" => {}
            "phone_column" => phone_column = Some(text).filter(|t| !t.is_empty()),
            other => return Err(ApiError::invalid_field(other, "is not a field of this upload")),
        }
    }
    let file = file.ok_or_else(|| ApiError::invalid_field("file", "a CSV file is required"))?;
    let max = state.limits.max_contacts;
    let contacts =
        tokio::task::spawn_blocking(move || crate::import::contacts_from_csv(&file, phone_column.as_deref(), max))
            .await
            .map_err(|e| ApiError::internal("csv task", &e))?
            .map_err(super::campaigns::import_error)?;
    let mut phones = Vec::with_capacity(contacts.len());
    let mut seen = std::collections::HashSet::new();
    let (mut invalid, mut invalid_count, mut repeated) = (Vec::new(), 0, 0);
    for c in &contacts {
        // A row of a BSUID alone (a `user_id` column, no phone) opts that user out.
        let bsuid = c.user_id.as_deref().and_then(|u| BusinessUserId::parse(u).ok());
        let parsed = match (c.phone.as_deref().filter(|p| !p.is_empty()), bsuid) {
            (None, Some(u)) => Some(Ok(u.to_string())),
            (p, _) => p.map(|p| PhoneNumber::parse(p, region).map(|p| p.as_str().to_string())),
        };
        match parsed {
            Some(Ok(key)) => {
                if seen.insert(key.clone()) {
                    phones.push(key);
                } else {
                    repeated += 1;
                }
            }
            other => {
                invalid_count += 1;
                if invalid.len() < crate::import::MAX_REPORTED_ERRORS {
                    let why = match other {
                        Some(Err(e)) => format!("invalid phone: {e}"),
                        _ => "no phone".to_string(),
                    };
                    invalid.push(crate::import::RowError {
                        row: c.row,
                        reason: why,
                        skip_reason: "invalid_phone",
                        phone: c.phone.clone().unwrap_or_default(),
                        user_id: c.user_id.clone(),
                    });
                }
            }
        }
    }
    let added = state
        .store
        .import_opt_outs(
            &tenant.id,
            &phones,
            reason.as_deref(),
            state.clock.now_millis(),
            &change,
        )
        .await?;
    Ok(Json(ImportedOptOuts {
        received: contacts.len(),
        added,
        already: phones.len() - added as usize + repeated,
        invalid,
        invalid_count,
    }))
}
