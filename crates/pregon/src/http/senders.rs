//! `/api/v1/senders`: a tenant's WhatsApp numbers, their provider and credentials.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pregon_domain::{MessagingTier, PhoneNumber, ProviderKind, SenderStatus};
use pregon_providers::{Credentials, Provider};
use pregon_store::{SenderPatch, SenderRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Admin, Caller, Viewer, Who};
use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiJson, ApiQuery, PageParams};
use super::views::{DailyUsageView, ListView, SenderView};
use super::AppState;

/// Highest `messages_per_second` accepted (the Cloud API allows 80–1,000; more serves
/// simulators and benchmarks).
pub const MAX_RATE: f64 = 100_000.0;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateSender {
    pub name: String,
    /// `meta`, `twilio` or `sandbox`.
    pub provider: String,
    /// The sender's own number, E.164.
    pub phone_number: Option<String>,
    /// Meta: `access_token`, `phone_number_id`, `waba_id`, `app_secret`. Twilio:
    /// `account_sid`, `auth_token`. Never returned.
    #[schema(value_type = Object)]
    pub credentials: Option<serde_json::Map<String, serde_json::Value>>,
    pub base_url: Option<String>,
    /// Default 80 for meta, 1 for twilio, 1,000 for sandbox.
    pub messages_per_second: Option<f64>,
    /// Unique recipients per rolling 24 h; null for none.
    pub daily_limit: Option<i64>,
    /// The daily limit as WhatsApp's messaging tier: `TIER_250`, `TIER_2K`, `TIER_10K`,
    /// `TIER_100K` or `TIER_UNLIMITED` (instead of `daily_limit`).
    pub messaging_tier: Option<String>,
    /// Senders of the tenant with the same group share one daily limit (Meta counts it per
    /// business portfolio); each checks the shared count against its own `daily_limit`.
    pub daily_limit_group: Option<String>,
    pub is_default: Option<bool>,
    /// Meta only: send at the throughput the number is granted (80, or 1,000 once Meta
    /// upgrades it), read at pre-flight and from Meta's `THROUGHPUT_UPGRADE` webhook, with
    /// `messages_per_second` as the cap. Default false.
    pub rate_follows_provider: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateSender {
    pub name: Option<String>,
    pub phone_number: Option<String>,
    /// Replaces every credential at once.
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub base_url: Option<Option<String>>,
    pub messages_per_second: Option<f64>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub daily_limit: Option<Option<i64>>,
    /// Sets `daily_limit` from a messaging tier (see creation).
    pub messaging_tier: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub daily_limit_group: Option<Option<String>>,
    pub is_default: Option<bool>,
    /// `active`, `paused` or `suspended`. A sender that is not active sends nothing: its
    /// running campaigns pause with reason `sender_paused` at once, and resume by themselves
    /// when it is `active` again.
    pub status: Option<String>,
    /// See creation.
    pub rate_follows_provider: Option<bool>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_field("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_string())
}

fn check_phone(phone: &str) -> Result<String, ApiError> {
    PhoneNumber::parse(phone, None)
        .map(|p| p.as_str().to_string())
        .map_err(|e| ApiError::invalid_field("phone_number", format!("{e} (use E.164, e.g. +593995683452)")))
}

fn check_rate(rate: f64) -> Result<f64, ApiError> {
    if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
        return Err(ApiError::invalid_field(
            "messages_per_second",
            "must be a positive number up to 100000",
        ));
    }
    Ok(rate)
}

/// Only a Meta number has a throughput level to follow.
fn check_follows(provider: ProviderKind, follows: Option<bool>) -> Result<Option<bool>, ApiError> {
    match follows {
        Some(true) if provider != ProviderKind::Meta => Err(ApiError::invalid_field(
            "rate_follows_provider",
            "only a meta sender can follow its number's throughput",
        )),
        other => Ok(other),
    }
}

fn check_daily_limit(limit: Option<i64>) -> Result<Option<i64>, ApiError> {
    match limit {
        Some(n) if n < 1 => Err(ApiError::invalid_field(
            "daily_limit",
            "must be at least 1, or null for none",
        )),
        other => Ok(other),
    }
}

/// `daily_limit` from either itself or a messaging tier, not both.
fn daily_limit_of(limit: Option<Option<i64>>, tier: Option<&str>) -> Result<Option<Option<i64>>, ApiError> {
    match (limit, tier) {
        (Some(_), Some(_)) => Err(ApiError::invalid_field(
            "messaging_tier",
            "give daily_limit or messaging_tier, not both",
        )),
        (None, Some(t)) => MessagingTier::parse(t)
            .map(|tier| Some(tier.daily_limit()))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "messaging_tier",
                    "must be TIER_250, TIER_2K, TIER_10K, TIER_100K or TIER_UNLIMITED",
                )
            }),
        (limit, None) => limit.map(check_daily_limit).transpose(),
    }
}

fn check_group(group: Option<String>) -> Result<Option<String>, ApiError> {
    match group.map(|g| g.trim().to_string()) {
        Some(g) if g.is_empty() || g.chars().count() > 100 => Err(ApiError::invalid_field(
            "daily_limit_group",
            "must be 1 to 100 characters, or null for none",
        )),
        other => Ok(other),
    }
}

/// A sender as the API shows it, with its daily limit's usage when it has one.
async fn view(state: &AppState, sender: &SenderRecord) -> Result<SenderView, ApiError> {
    let mut view = SenderView::from(sender);
    if let Some(limit) = sender.daily_limit {
        let usage = state
            .store
            .daily_usage(&sender.limit_key(), state.clock.now_millis())
            .await?;
        view.daily_usage = Some(DailyUsageView {
            used: usage.used,
            limit,
            remaining: (limit - usage.used).max(0),
            room_at: usage.room_at.map(crate::clock::rfc3339),
        });
    }
    Ok(view)
}

fn check_base_url(url: Option<String>) -> Result<Option<String>, ApiError> {
    match url {
        Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() > 2048 => Err(
            ApiError::invalid_field("base_url", "must be an http:// or https:// URL"),
        ),
        other => Ok(other),
    }
}

/// The non-secret id a provider's webhooks name the sender by: the Meta `phone_number_id`,
/// the Twilio account SID (kept in the clear to route webhooks; the secrets stay sealed).
pub fn provider_account(provider: ProviderKind, credentials: &Credentials) -> Option<String> {
    let account = match provider {
        ProviderKind::Meta => credentials.phone_number_id.as_deref(),
        ProviderKind::Twilio => credentials.account_sid.as_deref(),
        ProviderKind::Sandbox => None,
    };
    account.map(str::trim).filter(|a| !a.is_empty()).map(str::to_string)
}

/// Validates credentials for a provider and seals them; returns them sealed, with the
/// sender's [`provider_account`].
fn seal_credentials(
    state: &AppState,
    provider: ProviderKind,
    credentials: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let map = credentials.unwrap_or_default();
    if map.values().any(|v| !v.is_string()) {
        return Err(ApiError::invalid_field(
            "credentials",
            "every credential must be a string",
        ));
    }
    let value = serde_json::Value::Object(map);
    let parsed: Credentials = serde_json::from_value(value.clone()).unwrap_or_default();
    pregon_providers::validate_credentials(provider, &parsed)
        .map_err(|e| ApiError::invalid_field("credentials", e.to_string()))?;
    Ok((
        state.master_key.seal(value.to_string().as_bytes()),
        provider_account(provider, &parsed),
    ))
}

#[utoipa::path(post, path = "/api/v1/senders", tag = "senders", request_body = CreateSender,
    responses((status = 201, body = SenderView), (status = 422, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Admin(Who {
        caller: Caller { tenant, .. },
        change,
    }): Admin,
    ApiJson(body): ApiJson<CreateSender>,
) -> Result<(StatusCode, Json<SenderView>), ApiError> {
    let provider: ProviderKind = body
        .provider
        .trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| ApiError::invalid_field("provider", "must be meta, twilio or sandbox"))?;
    let phone_number = match (&body.phone_number, provider) {
        (Some(p), _) => check_phone(p)?,
        (None, ProviderKind::Sandbox) => "+15555550100".to_string(),
        (None, _) => return Err(ApiError::invalid_field("phone_number", "is required")),
    };
    let now = state.clock.now_millis();
    let (credentials, provider_account) = seal_credentials(&state, provider, body.credentials)?;
    let sender = SenderRecord {
        id: pregon_domain::id::new_id("snd"),
        tenant_id: tenant.id,
        name: check_name(&body.name)?,
        credentials,
        provider_account,
        provider,
        phone_number,
        base_url: check_base_url(body.base_url)?,
        messages_per_second: check_rate(body.messages_per_second.unwrap_or(provider.default_rate()))?,
        daily_limit: daily_limit_of(body.daily_limit.map(Some), body.messaging_tier.as_deref())?.flatten(),
        limit_group: check_group(body.daily_limit_group)?,
        is_default: body.is_default.unwrap_or(false),
        status: SenderStatus::Active,
        quality_rating: None,
        created_at: now,
        updated_at: now,
        rate_follows_provider: check_follows(provider, body.rate_follows_provider)?.unwrap_or(false),
        throughput_level: None,
    };
    state.store.insert_sender(&sender, &change).await?;
    state.reports.forget_senders();
    Ok((StatusCode::CREATED, Json(view(&state, &sender).await?)))
}

#[utoipa::path(get, path = "/api/v1/senders", tag = "senders", params(PageParams),
    responses((status = 200, body = ListView<SenderView>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListView<SenderView>>, ApiError> {
    let page = state.store.list_senders(&tenant.id, &page.request()?).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for sender in &page.items {
        items.push(view(&state, sender).await?);
    }
    Ok(Json(ListView {
        items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/senders/{id}", tag = "senders",
    responses((status = 200, body = SenderView), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    Path(id): Path<String>,
) -> Result<Json<SenderView>, ApiError> {
    let sender = state.store.get_sender(&tenant.id, &id).await.or_not_found("sender")?;
    Ok(Json(view(&state, &sender).await?))
}

#[utoipa::path(patch, path = "/api/v1/senders/{id}", tag = "senders", request_body = UpdateSender,
    responses((status = 200, body = SenderView), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Admin(Who {
        caller: Caller { tenant, .. },
        change,
    }): Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateSender>,
) -> Result<Json<SenderView>, ApiError> {
    let current = state.store.get_sender(&tenant.id, &id).await.or_not_found("sender")?;
    let status = body
        .status
        .as_deref()
        .map(|s| s.parse::<SenderStatus>())
        .transpose()
        .map_err(|_| ApiError::invalid_field("status", "must be active, paused or suspended"))?;
    let sealed = match body.credentials {
        Some(c) => Some(seal_credentials(&state, current.provider, Some(c))?),
        None => None,
    };
    let patch = SenderPatch {
        name: body.name.as_deref().map(check_name).transpose()?,
        phone_number: body.phone_number.as_deref().map(check_phone).transpose()?,
        provider_account: sealed.as_ref().map(|(_, account)| account.clone()),
        credentials: sealed.map(|(c, _)| c),
        base_url: body.base_url.map(check_base_url).transpose()?,
        messages_per_second: body.messages_per_second.map(check_rate).transpose()?,
        daily_limit: daily_limit_of(body.daily_limit, body.messaging_tier.as_deref())?,
        limit_group: body.daily_limit_group.map(check_group).transpose()?,
        is_default: body.is_default,
        status,
        rate_follows_provider: check_follows(current.provider, body.rate_follows_provider)?,
        throughput_level: None,
    };
    let sender = state
        .store
        .update_sender(&tenant.id, &id, &patch, state.clock.now_millis(), &change)
        .await
        .or_not_found("sender")?;
    state.reports.forget_senders();
    state.wake.notify_waiters();
    Ok(Json(view(&state, &sender).await?))
}

#[utoipa::path(delete, path = "/api/v1/senders/{id}", tag = "senders",
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_key" = [])))]
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
        .delete_sender(&tenant.id, &id, state.clock.now_millis(), &change)
        .await
        .or_not_found("sender")?;
    Ok(StatusCode::NO_CONTENT)
}

/// The sender's provider, built from its sealed credentials.
pub fn open_provider(state: &AppState, sender: &SenderRecord) -> Result<std::sync::Arc<dyn Provider>, ApiError> {
    let credentials = open_credentials(state, sender)?;
    pregon_providers::build(
        sender.provider,
        &credentials,
        sender.base_url.as_deref(),
        super::campaigns::preflight_client(),
        std::time::Duration::ZERO,
    )
    .map_err(|e| ApiError::invalid_field("credentials", e.to_string()))
}

fn open_credentials(state: &AppState, sender: &SenderRecord) -> Result<Credentials, ApiError> {
    let plain = state
        .master_key
        .open(&sender.credentials)
        .map_err(|e| ApiError::internal("opening sender credentials", &e))?;
    serde_json::from_slice(&plain).map_err(|e| ApiError::internal("reading sender credentials", &e))
}

/// One check of a connection test.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionCheck {
    /// `configuration`, `credentials` or `templates`.
    pub name: &'static str,
    pub ok: bool,
    /// The provider's code, when it refused.
    pub code: Option<String>,
    /// The provider's words when it refused; what it told otherwise.
    pub detail: Option<String>,
}

/// What `POST /api/v1/senders/{id}/test` found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTest {
    /// Every check passed.
    pub ok: bool,
    pub provider: String,
    pub checks: Vec<ConnectionCheck>,
    /// The number's quality rating (Meta), `green`, `yellow`, `red` or `unknown`.
    pub quality: Option<String>,
    /// The business portfolio's messaging tier (Meta), `TIER_2K`…
    pub messaging_tier: Option<String>,
    /// The number's throughput in messages per second (Meta).
    pub throughput: Option<u32>,
    /// Templates the WhatsApp Business Account holds (Meta with a `waba_id`).
    pub templates: Option<usize>,
}

fn refused(name: &'static str, e: &pregon_providers::ProviderError) -> ConnectionCheck {
    ConnectionCheck {
        name,
        ok: false,
        code: Some(e.code().to_string()),
        detail: Some(e.message().to_string()),
    }
}

fn passed(name: &'static str, detail: Option<String>) -> ConnectionCheck {
    ConnectionCheck {
        name,
        ok: true,
        code: None,
        detail,
    }
}

/// Keeps the quality rating a connection test read, as Meta's webhooks would say it
/// (`GREEN`, `YELLOW`, `RED`), so the senders list shows it; an unrated number changes nothing.
async fn remember_quality(
    state: &AppState,
    sender: &SenderRecord,
    quality: Option<pregon_domain::TemplateQuality>,
) -> Result<(), ApiError> {
    let Some(q) = quality.filter(|q| *q != pregon_domain::TemplateQuality::Unknown) else {
        return Ok(());
    };
    let rating = q.as_str().to_ascii_uppercase();
    if sender.quality_rating.as_deref() == Some(rating.as_str()) {
        return Ok(());
    }
    state
        .store
        .update_sender_quality(&sender.id, Some(&rating), None, state.clock.now_millis())
        .await?;
    Ok(())
}

/// Keeps the throughput level a pre-flight or a connection test read, when it changed: a
/// sender that follows the provider sends at it from its next refresh.
pub(crate) async fn remember_throughput(
    state: &AppState,
    sender: &SenderRecord,
    level: Option<pregon_domain::ThroughputLevel>,
) -> Result<(), ApiError> {
    let Some(level) = level.filter(|l| sender.throughput_level != Some(*l)) else {
        return Ok(());
    };
    let patch = SenderPatch {
        throughput_level: Some(Some(level)),
        ..Default::default()
    };
    state
        .store
        .update_sender(
            &sender.tenant_id,
            &sender.id,
            &patch,
            state.clock.now_millis(),
            &pregon_store::Change::by(pregon_store::Actor::system()),
        )
        .await?;
    tracing::info!(sender = %sender.id, %level, "throughput level read from the provider");
    Ok(())
}

/// Runs the provider's pre-flight for a sender, changing nothing but the quality rating and
/// throughput level it reads (kept as the provider's webhooks would keep it): Meta reads the number
/// (`GET /{phone_number_id}`: the token works; its quality, throughput and messaging limit)
/// and, with a `waba_id`, lists its templates; Twilio reads the account; the sandbox always
/// passes. A refusal is still 200, with `ok: false` and the provider's code and words.
#[utoipa::path(post, path = "/api/v1/senders/{id}/test", tag = "senders",
    responses((status = 200, body = ConnectionTest), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn test(
    State(state): State<AppState>,
    Admin(Who {
        caller: Caller { tenant, .. },
        ..
    }): Admin,
    Path(id): Path<String>,
) -> Result<Json<ConnectionTest>, ApiError> {
    let sender = state.store.get_sender(&tenant.id, &id).await.or_not_found("sender")?;
    let mut report = ConnectionTest {
        ok: true,
        provider: sender.provider.as_str().to_string(),
        checks: Vec::new(),
        quality: None,
        messaging_tier: None,
        throughput: None,
        templates: None,
    };
    let credentials = open_credentials(&state, &sender)?;
    let client = super::campaigns::preflight_client();
    match sender.provider {
        ProviderKind::Sandbox => report.checks.push(passed("configuration", None)),
        ProviderKind::Meta => {
            let meta = pregon_providers::meta::Meta::new(
                client,
                sender
                    .base_url
                    .as_deref()
                    .unwrap_or(pregon_providers::meta::DEFAULT_BASE_URL),
                credentials.phone_number_id.clone().unwrap_or_default(),
                credentials.access_token.clone().unwrap_or_default(),
            )
            .map(|m| m.with_waba_id(credentials.waba_id.clone()));
            match meta {
                Err(e) => report.checks.push(ConnectionCheck {
                    name: "configuration",
                    ok: false,
                    code: Some("configuration".into()),
                    detail: Some(e.to_string()),
                }),
                Ok(meta) => match meta.phone_number().await {
                    Err(e) => report.checks.push(refused("credentials", &e)),
                    Ok(number) => {
                        remember_quality(&state, &sender, number.quality).await?;
                        remember_throughput(&state, &sender, number.throughput).await?;
                        report.quality = number.quality.map(|q| q.as_str().to_string());
                        report.messaging_tier = number.messaging_limit.map(|t| t.as_str().to_string());
                        report.throughput = number.throughput.and_then(|t| t.messages_per_second());
                        report
                            .checks
                            .push(passed("credentials", number.display_phone_number.clone()));
                        if credentials.waba_id.as_deref().is_some_and(|w| !w.trim().is_empty()) {
                            match meta.list_templates().await {
                                Ok(list) => {
                                    report.templates = Some(list.len());
                                    report.checks.push(passed("templates", Some(list.len().to_string())));
                                }
                                Err(e) => report.checks.push(refused("templates", &e)),
                            }
                        }
                    }
                },
            }
        }
        ProviderKind::Twilio => match open_provider(&state, &sender) {
            Err(e) => report.checks.push(ConnectionCheck {
                name: "configuration",
                ok: false,
                code: Some("configuration".into()),
                detail: Some(e.message),
            }),
            Ok(provider) => match provider.preflight("", "").await {
                Ok(()) => report.checks.push(passed("credentials", None)),
                Err(e) => report.checks.push(refused("credentials", &e)),
            },
        },
    }
    report.ok = report.checks.iter().all(|c| c.ok);
    Ok(Json(report))
}
