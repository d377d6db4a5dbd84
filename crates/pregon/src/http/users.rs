//! `/api/v1/users`: the people of a tenant and their roles (owners only). A tenant keeps at
//! least one owner: removing or demoting the last answers 409.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pregon_domain::Role;
use pregon_store::{NewUser, UserPatch, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Owner;
use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiJson, ApiQuery, PageParams};
use super::sessions::normalize_email;
use super::views::ListView;
use super::AppState;
use crate::clock::rfc3339;
use crate::passwords;

/// A user as the API shows it (never its password).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    /// `viewer`, `operator`, `admin` or `owner`.
    pub role: String,
    /// The console language chosen (`es`, `en`); null: the browser's.
    pub language: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        UserView {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.as_str().into(),
            language: u.language.clone(),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub name: String,
    /// `viewer`, `operator`, `admin` or `owner`.
    pub role: String,
    /// At least 12 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub name: Option<String>,
    pub role: Option<String>,
    /// A new password (at least 12 characters); the user's sessions end.
    pub password: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_field("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_string())
}

pub fn check_email(email: &str) -> Result<String, ApiError> {
    let email = normalize_email(email);
    let plausible = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !plausible {
        return Err(ApiError::invalid_field("email", "must be an email address"));
    }
    Ok(email)
}

pub fn check_role(role: &str) -> Result<Role, ApiError> {
    role.trim()
        .parse()
        .map_err(|_| ApiError::invalid_field("role", "must be viewer, operator, admin or owner"))
}

pub fn check_language(language: &str) -> Result<String, ApiError> {
    match language.trim() {
        l @ ("es" | "en") => Ok(l.to_string()),
        _ => Err(ApiError::invalid_field("language", "must be es or en")),
    }
}

async fn hash_password(password: String) -> Result<String, ApiError> {
    passwords::validate(&password).map_err(|e| ApiError::invalid_field("password", e.to_string()))?;
    tokio::task::spawn_blocking(move || passwords::hash(&password))
        .await
        .map_err(|e| ApiError::internal("hashing a password", &e))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody), (status = 415, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Owner(who): Owner,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = NewUser {
        id: pregon_domain::id::new_id("usr"),
        tenant_id: who.tenant_id().to_string(),
        email: check_email(&body.email)?,
        name: check_name(&body.name)?,
        role: check_role(&body.role)?,
        password_hash: hash_password(body.password).await?,
        now: state.clock.now_millis(),
    };
    let created = state.store.create_user(&user, &who.change).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&created))))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageParams),
    responses((status = 200, body = ListView<UserView>), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Owner(who): Owner,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListView<UserView>>, ApiError> {
    let page = state.store.list_users(who.tenant_id(), &page.request()?).await?;
    Ok(Json(ListView {
        items: page.items.iter().map(UserView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    responses((status = 200, body = UserView), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Owner(who): Owner,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = state.store.get_user(who.tenant_id(), &id).await.or_not_found("user")?;
    Ok(Json(UserView::from(&user)))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody),
        (status = 415, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Owner(who): Owner,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<UserView>, ApiError> {
    let patch = UserPatch {
        name: body.name.as_deref().map(check_name).transpose()?,
        role: body.role.as_deref().map(check_role).transpose()?,
        password_hash: match body.password {
            Some(p) => Some(hash_password(p).await?),
            None => None,
        },
        language: body
            .language
            .map(|l| l.as_deref().map(check_language).transpose())
            .transpose()?,
    };
    let user = state
        .store
        .update_user(who.tenant_id(), &id, &patch, state.clock.now_millis(), &who.change)
        .await
        .or_not_found("user")?;
    Ok(Json(UserView::from(&user)))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Owner(who): Owner,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_user(who.tenant_id(), &id, state.clock.now_millis(), &who.change)
        .await
        .or_not_found("user")?;
    Ok(StatusCode::NO_CONTENT)
}
