//! `/api/v1/campaigns`: create from JSON or CSV, follow, steer, export.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::Stream;
use pregon_domain::state::CampaignAction;
use pregon_domain::{
    AutoPause, CampaignSettings, CampaignStatus, MessageStatus, ProviderKind, RatePlan, Region, RetryPolicy,
    ScheduleSettings, Template, WarmupTier, WindowSettings,
};
use pregon_providers::Credentials;
use pregon_store::{
    CampaignRecord, Change, Millis, NewCampaign, NewMessage, PageRequest, SenderRecord, StoreError, TemplateRecord,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{Caller, Operator, Viewer, Who};
use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiJson, ApiQuery, PageParams};
use super::views::{CampaignView, CreatedCampaignView, ListView, MessageView};
use super::AppState;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::import::{self, Contact, ImportError, ImportReport};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// Start at this time (RFC 3339); the campaign is `scheduled` until then.
    pub start_at: Option<String>,
    /// IANA time zone of the sending window (default UTC), e.g. `America/Guayaquil`.
    pub timezone: Option<String>,
    /// A daily sending window: outside it the campaign pauses (`outside_window`) and goes on
    /// by itself when it opens.
    pub window: Option<WindowRequest>,
    /// Keep the window in each recipient's own time zone: the contact field
    /// `timezone_field` (default `timezone`) when it names an IANA zone, else the zone of
    /// the phone number's country, else `timezone`.
    pub recipient_timezone: Option<bool>,
    pub timezone_field: Option<String>,
}

/// A daily window in local time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowRequest {
    /// `HH:MM`, 24-hour.
    pub start: String,
    /// `HH:MM`; before `start` the window crosses midnight (`22:00`–`06:00`).
    pub end: String,
    /// ISO weekdays the window starts on: 1 = Monday … 7 = Sunday (default every day).
    #[serde(default)]
    pub days: Vec<u8>,
}

/// A campaign's own pace, below its sender's rate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    /// At most this many messages per second from this campaign.
    pub messages_per_second: Option<f64>,
    /// `true`: the warm-up of a new number (first 100 messages 1.2 s apart, then 0.8 s up to
    /// 500, 0.6 s up to 2,000, then 0.4 s); or custom tiers.
    pub warmup: Option<WarmupRequest>,
    /// A random extra pause between two messages, from `[min, max]` milliseconds
    /// ("cautious mode").
    pub jitter_ms: Option<[u64; 2]>,
}

/// The warm-up preset (`true`), none (`false`), or tiers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WarmupRequest {
    Preset(bool),
    Tiers(Vec<WarmupTierRequest>),
}

/// One warm-up tier: messages `interval_ms` apart while fewer than `up_to` of the campaign
/// went out (the last tier, without `up_to`, from then on).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarmupTierRequest {
    pub up_to: Option<u64>,
    pub interval_ms: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RetryRequest {
    pub max_attempts: Option<u32>,
    pub backoff_seconds: Option<Vec<u64>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AutoPauseRequest {
    pub min_failures: Option<u64>,
    pub max_failure_rate: Option<f64>,
}

/// Everything about a campaign but its contacts.
#[derive(Debug, Default)]
pub struct CampaignOptions {
    pub name: String,
    /// Default: the tenant's default sender.
    pub sender_id: Option<String>,
    pub template_id: String,
    /// Region for national numbers (`VE`, `EC`).
    pub default_region: Option<String>,
    /// 1–10, higher first (default 5).
    pub priority: Option<i64>,
    pub schedule: Option<ScheduleRequest>,
    /// The campaign's own rate plan (default: the sender's rate alone).
    pub rate: Option<RateRequest>,
    pub retry: Option<RetryRequest>,
    pub auto_pause: Option<AutoPauseRequest>,
    /// POSTed the campaign's final state.
    pub webhook_url: Option<String>,
    /// Send only to numbers with an opt-in (default false): others are skipped at import
    /// (`no_consent`), and consent is checked again just before each send.
    pub require_consent: Option<bool>,
    /// false leaves it a draft (default true).
    pub start: Option<bool>,
    /// Messages not sent by then never are: they become `expired` (RFC 3339).
    pub expires_at: Option<String>,
    /// Which CSV column fed the phone and each template variable (kept in the settings).
    pub field_mapping: Option<BTreeMap<String, String>>,
}

/// A campaign with its contacts, as JSON.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCampaign {
    pub name: String,
    pub sender_id: Option<String>,
    pub template_id: String,
    /// Each contact has a phone (`phone`, `numero`, `telefono`, `to` or `number`) and the
    /// template's variables.
    #[schema(value_type = Vec<Object>)]
    pub contacts: Vec<serde_json::Value>,
    pub default_region: Option<String>,
    pub priority: Option<i64>,
    pub schedule: Option<ScheduleRequest>,
    pub rate: Option<RateRequest>,
    pub retry: Option<RetryRequest>,
    pub auto_pause: Option<AutoPauseRequest>,
    /// Where the campaign's final state is POSTed (`campaign.completed`, `.cancelled`,
    /// `.failed`), signed with the tenant's webhook secret.
    pub webhook_url: Option<String>,
    /// Send only to numbers with an opt-in (`/api/v1/opt-ins`); others are skipped
    /// (`no_consent`). Checked at import and again just before each send.
    pub require_consent: Option<bool>,
    pub start: Option<bool>,
    /// Messages not sent by then never are: they become `expired`, a final state counted in
    /// `counts.expired` (RFC 3339, in the future, after `schedule.start_at`).
    pub expires_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RetryAction {
    /// Re-queue `unknown` messages too (they may have been sent).
    #[serde(default)]
    pub include_unknown: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CampaignFilter {
    /// Only campaigns in this state.
    #[param(schema_with = super::contract::campaign_status)]
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MessageFilter {
    /// Only messages in this state.
    #[param(schema_with = super::contract::message_status)]
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub(super) fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::TooMany { .. } => ApiError::too_large("too_many_contacts", e.to_string()),
        ImportError::NoPhoneColumn { .. } | ImportError::UnknownPhoneColumn(_) => {
            ApiError::invalid("missing_phone_column", e.to_string())
        }
        ImportError::UnknownColumn {
            ref key, ref column, ..
        } => {
            let details = vec![json!({"field": "field_mapping", "key": key, "column": column})];
            ApiError::invalid("unknown_column", e.to_string()).with_details(details)
        }
        ImportError::NotUtf8 { .. } => ApiError::invalid("not_utf8", e.to_string()),
        ImportError::Empty => ApiError::invalid("no_contacts", e.to_string()),
        ImportError::Malformed { .. } => ApiError::bad_request("malformed_csv", e.to_string()),
        ImportError::NotAnObject { .. } => ApiError::invalid("invalid_contact", e.to_string()),
    }
}

/// The HTTP client of pre-flight checks.
pub(crate) fn preflight_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| pregon_providers::http_client(Duration::from_secs(15)))
        .clone()
}

/// Before a campaign starts (or resumes), asks the sender's provider whether it can: the
/// credentials work and, where the provider can tell (Meta with a `waba_id`), the template
/// exists and is approved in its language; the number's throughput level is kept (see
/// [`super::senders::remember_throughput`]). A refusal answers 422 `preflight_failed` with
/// the provider's code and words.
async fn preflight(state: &AppState, sender: &SenderRecord, template: &TemplateRecord) -> Result<(), ApiError> {
    if sender.provider == ProviderKind::Sandbox {
        return Ok(());
    }
    let failed = |code: &str, reason: String| {
        ApiError::invalid(
            "preflight_failed",
            format!(
                "the {} provider refused sender {:?} (template {:?}, {}): {reason}",
                sender.provider, sender.name, template.name, template.language
            ),
        )
        .with_details(vec![json!({
            "sender_id": sender.id,
            "provider": sender.provider,
            "template": template.name,
            "language": template.language,
            "code": code,
            "reason": reason,
        })])
    };
    let plain = state
        .master_key
        .open(&sender.credentials)
        .map_err(|e| ApiError::internal("opening sender credentials", &e))?;
    let credentials: Credentials =
        serde_json::from_slice(&plain).map_err(|e| ApiError::internal("reading sender credentials", &e))?;
    let provider = pregon_providers::build(
        sender.provider,
        &credentials,
        sender.base_url.as_deref(),
        preflight_client(),
        Duration::ZERO,
    )
    .map_err(|e| failed("configuration", e.to_string()))?;
    let details = provider
        .preflight_details(&template.name, &template.language)
        .await
        .map_err(|e| {
            tracing::warn!(sender = %sender.id, code = %e.code(), reason = %e.message(), "pre-flight check failed");
            failed(e.code(), e.message().to_string())
        })?;
    // The number's throughput, for a sender that follows it.
    super::senders::remember_throughput(state, sender, details.throughput).await
}

/// Validates the options, classifies the contacts and creates the campaign, all or nothing:
/// the name, the template and sender it names, the rest of its options, the pre-flight
/// check (unless it stays a draft), the contacts, then one transaction.
async fn create_campaign(
    state: &AppState,
    tenant_id: &str,
    o: CampaignOptions,
    contacts: Vec<Contact>,
    change: &Change,
) -> Result<CreatedCampaignView, ApiError> {
    let now = state.clock.now_millis();
    let name = campaign_name(&o.name)?;
    let (template, sender) = resolve(state, tenant_id, &o).await?;
    check_mapping(&template, o.field_mapping.as_ref())?;
    let checked = check_options(o, now)?;
    if checked.status != CampaignStatus::Draft {
        preflight(state, &sender, &template).await?;
    }
    let (messages, report) = classify(
        state,
        tenant_id,
        &template,
        &checked,
        contacts,
        import::MAX_REPORTED_ERRORS,
    )
    .await?;
    let campaign = state
        .store
        .create_campaign(
            NewCampaign {
                id: pregon_domain::id::new_id("cmp"),
                tenant_id: tenant_id.to_string(),
                name,
                sender_id: sender.id,
                template_id: template.id,
                status: checked.status,
                priority: checked.priority,
                max_attempts: checked.settings.retry.max_attempts as i64,
                settings: checked.settings,
                start_at: checked.start_at,
                windowed: checked.windowed,
                expires_at: checked.expires_at,
                messages,
                now,
            },
            change,
        )
        .await?;
    state.wake.notify_waiters();
    // The estimate was written with the campaign, with the rate card of that moment.
    let cost = state
        .store
        .campaign_costs(tenant_id, std::slice::from_ref(&campaign.id))
        .await?;
    let cost = cost.get(&campaign.id);
    let mut report = report;
    report.estimated_cost = cost.and_then(|c| Some(import::CostEstimate::new(c.currency.as_ref()?, c.estimated?)));
    Ok(CreatedCampaignView {
        campaign: CampaignView::new(&campaign, 0.0).with_cost(cost),
        import: report,
    })
}

/// A dry run of [`create_campaign`]: every check but the provider's pre-flight, and the
/// report with every skipped row; nothing is written.
async fn dry_run(
    state: &AppState,
    tenant_id: &str,
    o: CampaignOptions,
    contacts: Vec<Contact>,
) -> Result<ImportReport, ApiError> {
    let now = state.clock.now_millis();
    campaign_name(&o.name)?;
    let (template, _sender) = resolve(state, tenant_id, &o).await?;
    check_mapping(&template, o.field_mapping.as_ref())?;
    let checked = check_options(o, now)?;
    let max = contacts.len();
    let (messages, mut report) = classify(state, tenant_id, &template, &checked, contacts, max).await?;
    if let Some(card) = state.store.get_rate_card(tenant_id).await? {
        let accepted = messages
            .iter()
            .filter(|m| m.skip_reason.is_none())
            .map(|m| m.phone.as_str());
        let sum = pregon_store::pricing::estimate(&card, template.category, accepted);
        report.estimated_cost = Some(import::CostEstimate::new(card.currency(), sum));
    }
    Ok(report)
}

/// A field mapping names the phone and the template's variables, nothing else, each with a
/// column.
fn check_mapping(template: &TemplateRecord, mapping: Option<&BTreeMap<String, String>>) -> Result<(), ApiError> {
    let Some(mapping) = mapping else {
        return Ok(());
    };
    let parsed = Template::parse(&template.body, template.header_image.as_deref())
        .map_err(|e| ApiError::internal("stored template does not parse", &e))?;
    let variables = parsed.variables();
    for (key, column) in mapping {
        if key != "phone" && key != "user_id" && !variables.contains(&key.as_str()) {
            return Err(ApiError::invalid_field(
                "field_mapping",
                format!(
                    "{key:?} is neither \"phone\" nor a variable of the template ({})",
                    variables.join(", ")
                ),
            ));
        }
        if column.trim().is_empty() {
            return Err(ApiError::invalid_field(
                "field_mapping",
                format!("{key:?} names no column"),
            ));
        }
    }
    Ok(())
}

/// A `field_mapping` field: a JSON object of strings.
fn parse_mapping(text: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let bad = || {
        ApiError::invalid_field(
            "field_mapping",
            "must be a JSON object of column names: {\"phone\": \"<column>\", \"<variable>\": \"<column>\"}",
        )
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad());
    };
    if map.len() > 100 {
        return Err(bad());
    }
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(column)
                if column.len() <= 200 && !column.trim().is_empty() && !k.trim().is_empty() =>
            {
                Ok((k.trim().to_string(), column.trim().to_string()))
            }
            _ => Err(bad()),
        })
        .collect()
}

/// A campaign's name, trimmed: 1 to 200 characters.
fn campaign_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_field("name", "must be 1 to 200 characters"));
    }
    Ok(name.to_string())
}

/// The template and the sender the options name (the tenant's default sender when they
/// name none), both the tenant's own.
async fn resolve(
    state: &AppState,
    tenant_id: &str,
    o: &CampaignOptions,
) -> Result<(TemplateRecord, SenderRecord), ApiError> {
    let template_id = o.template_id.trim();
    let template = state
        .store
        .get_template(tenant_id, template_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::invalid("unknown_template", format!("no template {template_id:?}")),
            other => other.into(),
        })?;
    let sender = match o.sender_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => state.store.get_sender(tenant_id, id).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::invalid("unknown_sender", format!("no sender {id:?}")),
            other => other.into(),
        })?,
        None => state.store.default_sender(tenant_id).await?.ok_or_else(|| {
            ApiError::invalid(
                "no_default_sender",
                "no sender_id given and the tenant has no default sender",
            )
        })?,
    };
    Ok((template, sender))
}

/// The options of a campaign, checked and turned into what is stored.
struct CheckedOptions {
    priority: i64,
    /// Where digits-only phones are read (also kept in `settings`).
    region: Option<Region>,
    settings: CampaignSettings,
    start_at: Option<Millis>,
    /// Sends only inside a campaign-wide daily window.
    windowed: bool,
    /// What it starts as: a draft, scheduled, or running.
    status: CampaignStatus,
    /// Messages not sent by then never are.
    expires_at: Option<Millis>,
}

/// Checks every option but the template and sender, in the order the API reports the first
/// that is wrong: priority, region, retry, auto-pause, schedule, rate, notification URL.
fn check_options(o: CampaignOptions, now: Millis) -> Result<CheckedOptions, ApiError> {
    let priority = o.priority.unwrap_or(5);
    if !(1..=10).contains(&priority) {
        return Err(ApiError::invalid_field("priority", "must be between 1 and 10"));
    }
    let region = o
        .default_region
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(Region::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_field("default_region", e.to_string()))?;
    let retry = retry_policy(o.retry)?;
    let auto_pause = auto_pause(o.auto_pause)?;
    let (start_at, schedule) = match o.schedule {
        None => (None, None),
        Some(s) => schedule(s)?,
    };
    let windowed = schedule.as_ref().is_some_and(|s| s.campaign_window().is_some());
    let rate = o.rate.map(rate_plan).transpose()?.flatten();
    if let Some(url) = &o.webhook_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
            return Err(ApiError::invalid_field(
                "webhook_url",
                "must be an http:// or https:// URL",
            ));
        }
    }
    let status = match (o.start.unwrap_or(true), start_at) {
        (false, _) => CampaignStatus::Draft,
        (true, Some(at)) if at > now => CampaignStatus::Scheduled,
        (true, _) => CampaignStatus::Running,
    };
    let expires_at = expiry(o.expires_at.as_deref(), start_at.unwrap_or(now).max(now))?;
    Ok(CheckedOptions {
        priority,
        region,
        settings: CampaignSettings {
            default_region: region.map(|r| r.code()),
            retry,
            auto_pause,
            webhook_url: o.webhook_url,
            require_consent: o.require_consent.unwrap_or(false),
            schedule,
            rate,
            field_mapping: o.field_mapping,
        },
        start_at,
        windowed,
        status,
        expires_at,
    })
}

/// An `expires_at` (RFC 3339), which must come after `not_before` (now, or the scheduled
/// start): a campaign whose every message would expire before it starts is a mistake.
pub(crate) fn expiry(expires_at: Option<&str>, not_before: Millis) -> Result<Option<Millis>, ApiError> {
    let Some(text) = expires_at.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let at = parse_rfc3339(text).ok_or_else(|| ApiError::invalid_field("expires_at", "must be an RFC 3339 time"))?;
    if at <= not_before {
        return Err(ApiError::invalid_field(
            "expires_at",
            "must be in the future, and after the scheduled start",
        ));
    }
    Ok(Some(at))
}

/// The retry policy: the defaults, with what the request changes.
fn retry_policy(r: Option<RetryRequest>) -> Result<RetryPolicy, ApiError> {
    let defaults = RetryPolicy::default();
    let retry = match r {
        None => defaults,
        Some(r) => RetryPolicy {
            max_attempts: r.max_attempts.unwrap_or(defaults.max_attempts),
            backoff_seconds: r.backoff_seconds.unwrap_or(defaults.backoff_seconds),
        },
    };
    retry
        .validate()
        .map_err(|e| ApiError::invalid_field("retry", e.to_string()))?;
    Ok(retry)
}

/// The auto-pause rule: the defaults, with what the request changes.
fn auto_pause(a: Option<AutoPauseRequest>) -> Result<AutoPause, ApiError> {
    let defaults = AutoPause::default();
    let auto_pause = match a {
        None => defaults,
        Some(a) => AutoPause {
            min_failures: a.min_failures.unwrap_or(defaults.min_failures),
            max_failure_rate: a.max_failure_rate.unwrap_or(defaults.max_failure_rate),
        },
    };
    auto_pause
        .validate()
        .map_err(|e| ApiError::invalid_field("auto_pause", e.to_string()))?;
    Ok(auto_pause)
}

/// The start time and the sending window of a schedule.
fn schedule(s: ScheduleRequest) -> Result<(Option<Millis>, Option<ScheduleSettings>), ApiError> {
    let start_at = match &s.start_at {
        None => None,
        Some(at) => Some(
            parse_rfc3339(at)
                .ok_or_else(|| ApiError::invalid_field("schedule.start_at", "must be an RFC 3339 time"))?,
        ),
    };
    let settings = ScheduleSettings {
        timezone: s.timezone.map(|t| t.trim().to_string()),
        window: s.window.map(|w| WindowSettings {
            start: w.start,
            end: w.end,
            days: w.days,
        }),
        recipient_timezone: s.recipient_timezone.unwrap_or(false),
        timezone_field: s.timezone_field,
    };
    settings
        .validate()
        .map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    Ok((start_at, Some(settings)))
}

/// The campaign's own rate plan; `None` when it does not pace the campaign after all.
fn rate_plan(r: RateRequest) -> Result<Option<RatePlan>, ApiError> {
    let plan = RatePlan {
        messages_per_second: r.messages_per_second,
        warmup: match r.warmup {
            None | Some(WarmupRequest::Preset(false)) => None,
            Some(WarmupRequest::Preset(true)) => Some(RatePlan::warmup_preset()),
            Some(WarmupRequest::Tiers(tiers)) => Some(
                tiers
                    .into_iter()
                    .map(|t| WarmupTier {
                        up_to: t.up_to,
                        interval_ms: t.interval_ms,
                    })
                    .collect(),
            ),
        },
        jitter_ms: r.jitter_ms.filter(|j| j[1] > 0),
    };
    plan.validate()
        .map_err(|e| ApiError::invalid_field("rate", e.to_string()))?;
    Ok(plan.is_paced().then_some(plan))
}

/// Sorts the contacts into messages to send and skipped ones (invalid or duplicate phones,
/// missing variables, opted out, no consent where it is required), with the report.
async fn classify(
    state: &AppState,
    tenant_id: &str,
    template: &TemplateRecord,
    checked: &CheckedOptions,
    contacts: Vec<Contact>,
    max_errors: usize,
) -> Result<(Vec<NewMessage>, ImportReport), ApiError> {
    let parsed = Template::parse(&template.body, template.header_image.as_deref())
        .map_err(|e| ApiError::internal("stored template does not parse", &e))?;
    // A marketing opt-out skips a marketing template's messages only.
    let opted_out = state.store.opted_out_phones(tenant_id, Some(template.category)).await?;
    let opted_in = match checked.settings.require_consent {
        true => Some(state.store.opted_in_phones(tenant_id).await?),
        false => None,
    };
    let region = checked.region;
    tokio::task::spawn_blocking(move || {
        import::classify_reporting(contacts, &parsed, region, &opted_out, opted_in.as_ref(), max_errors)
    })
    .await
    .map_err(|e| ApiError::internal("import task", &e))
}

#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", request_body = CreateCampaign,
    responses((status = 201, body = CreatedCampaignView), (status = 400, body = super::ErrorBody), (status = 413, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    ApiJson(body): ApiJson<CreateCampaign>,
) -> Result<(StatusCode, Json<CreatedCampaignView>), ApiError> {
    let contacts = import::contacts_from_json(body.contacts, state.limits.max_contacts).map_err(import_error)?;
    let options = CampaignOptions {
        name: body.name,
        sender_id: body.sender_id,
        template_id: body.template_id,
        default_region: body.default_region,
        priority: body.priority,
        schedule: body.schedule,
        rate: body.rate,
        retry: body.retry,
        auto_pause: body.auto_pause,
        webhook_url: body.webhook_url,
        require_consent: body.require_consent,
        start: body.start,
        expires_at: body.expires_at,
        field_mapping: None,
    };
    let created = create_campaign(&state, &tenant.id, options, contacts, &change).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(super) fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(
            "body_too_large",
            "the upload is larger than the configured limit (PREGON_MAX_BODY_BYTES)",
        )
    } else {
        ApiError::bad_request("malformed_multipart", e.body_text())
    }
}

/// A boolean multipart field.
fn flag(field: &str, text: &str, empty: bool) -> Result<bool, ApiError> {
    match text {
        "" => Ok(empty),
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::invalid_field(field, "must be true or false")),
    }
}

/// Multipart fields: `file` (CSV), `name`, `template_id`, and optionally `sender_id`,
/// `phone_column`, `default_region`, `priority`, `webhook_url`, `require_consent`, `start`, `expires_at`,
/// and `schedule`, `rate` and `retry` as JSON text (the same objects as in a JSON campaign);
/// `field_mapping` (JSON: `{"phone": "<column>", "<variable>": "<column>"}`), `separator`
/// (`,`, `;` or `tab`; default: detected), `header` (`false`: no header row, columns are
/// named `1`, `2`, …) and `dry_run` (`true`: 200 with the report of every skipped row, and
/// nothing created).
#[utoipa::path(post, path = "/api/v1/campaigns/import", tag = "campaigns",
    request_body(content_type = "multipart/form-data", description = "file (CSV with a header row), name, template_id, sender_id, phone_column, default_region, priority, webhook_url, require_consent, start, expires_at, schedule (JSON), rate (JSON), retry (JSON), field_mapping (JSON), separator, header, dry_run"),
    responses((status = 201, body = CreatedCampaignView), (status = 200, description = "dry_run: {\"dry_run\": true, \"import\": report}"), (status = 400, body = super::ErrorBody), (status = 413, body = super::ErrorBody), (status = 415, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("api_key" = [])))]
pub async fn import_csv(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send multipart/form-data: {}", e.body_text()),
        )
    })?;
    let mut file: Option<bytes::Bytes> = None;
    let mut options = CampaignOptions::default();
    let mut csv_options = import::CsvOptions::default();
    let mut dry = false;
    let mut name_given = false;
    let mut template_given = false;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let field_name = field.name().unwrap_or_default().to_string();
        if field_name == "file" {
            file = Some(field.bytes().await.map_err(multipart_error)?);
            continue;
        }
        let text = field.text().await.map_err(multipart_error)?;
        let text = text.trim().to_string();
        match field_name.as_str() {
            "name" => {
                options.name = text;
                name_given = true;
            }
            "template_id" => {
                options.template_id = text;
                template_given = true;
            }
            "sender_id" => options.sender_id = Some(text),
            "phone_column" => csv_options.phone_column = Some(text).filter(|t| !t.is_empty()),
            "field_mapping" if !text.is_empty() => {
                let mapping = parse_mapping(&text)?;
                csv_options.field_mapping = Some(mapping.clone());
                options.field_mapping = Some(mapping);
            }
            "separator" => {
                csv_options.separator = match text.as_str() {
                    "" => None,
                    "," | "comma" => Some(b','),
                    ";" | "semicolon" => Some(b';'),
                    "tab" | "\\t" => Some(b'\t'),
                    _ => return Err(ApiError::invalid_field("separator", "must be \",\", \";\" or \"tab\"")),
                }
            }
            "header" => csv_options.header = flag("header", &text, true)?,
            "dry_run" => dry = flag("dry_run", &text, false)?,
            "default_region" => options.default_region = Some(text),
            "priority" => {
                options.priority = Some(
                    text.parse()
                        .map_err(|_| ApiError::invalid_field("priority", "must be a whole number from 1 to 10"))?,
                )
            }
            "start" => {
                options.start = Some(match text.as_str() {
                    "true" | "1" | "yes" | "" => true,
                    "false" | "0" | "no" => false,
                    _ => return Err(ApiError::invalid_field("start", "must be true or false")),
                })
            }
            "webhook_url" => options.webhook_url = Some(text),
            "expires_at" => options.expires_at = Some(text),
            "schedule" if !text.is_empty() => {
                options.schedule = Some(serde_json::from_str(&text).map_err(|e| {
                    ApiError::invalid_field("schedule", format!("must be the JSON of a schedule object: {e}"))
                })?)
            }
            "rate" if !text.is_empty() => {
                options.rate =
                    Some(serde_json::from_str(&text).map_err(|e| {
                        ApiError::invalid_field("rate", format!("must be the JSON of a rate object: {e}"))
                    })?)
            }
            "retry" if !text.is_empty() => {
                options.retry = Some(serde_json::from_str(&text).map_err(|e| {
                    ApiError::invalid_field("retry", format!("must be the JSON of a retry object: {e}"))
                })?)
            }
            "require_consent" => {
                options.require_consent = Some(match text.as_str() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" | "" => false,
                    _ => return Err(ApiError::invalid_field("require_consent", "must be true or false")),
                })
            }
            _ => {}
        }
    }
    let file = file.ok_or_else(|| ApiError::invalid_field("file", "a CSV file is required"))?;
    if !name_given {
        return Err(ApiError::invalid_field("name", "is required"));
    }
    if !template_given {
        return Err(ApiError::invalid_field("template_id", "is required"));
    }
    let max = state.limits.max_contacts;
    let contacts = tokio::task::spawn_blocking(move || import::contacts_from_csv_with(&file, &csv_options, max))
        .await
        .map_err(|e| ApiError::internal("csv task", &e))?
        .map_err(import_error)?;
    if dry {
        let report = dry_run(&state, &tenant.id, options, contacts).await?;
        return Ok(Json(json!({"dry_run": true, "import": report})).into_response());
    }
    let created = create_campaign(&state, &tenant.id, options, contacts, &change).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

fn view(state: &AppState, c: &CampaignRecord) -> CampaignView {
    CampaignView::new(c, state.rates.rate(c, state.clock.now_millis()))
}

/// Campaign objects with their costs (one query for them all).
async fn views(state: &AppState, tenant_id: &str, campaigns: &[CampaignRecord]) -> Result<Vec<CampaignView>, ApiError> {
    let ids: Vec<String> = campaigns.iter().map(|c| c.id.clone()).collect();
    let costs = state.store.campaign_costs(tenant_id, &ids).await?;
    Ok(campaigns
        .iter()
        .map(|c| view(state, c).with_cost(costs.get(&c.id)))
        .collect())
}

#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(CampaignFilter),
    responses((status = 200, body = ListView<CampaignView>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    ApiQuery(f): ApiQuery<CampaignFilter>,
) -> Result<Json<ListView<CampaignView>>, ApiError> {
    let status = f
        .status
        .as_deref()
        .map(|s| s.parse::<CampaignStatus>())
        .transpose()
        .map_err(|_| {
            super::extract::invalid_param(
                "status",
                "must be draft, scheduled, running, paused, completed, cancelled or failed",
            )
        })?;
    let page = PageParams {
        limit: f.limit,
        cursor: f.cursor,
    }
    .request()?;
    let page = state.store.list_campaigns(&tenant.id, status, &page).await?;
    Ok(Json(ListView {
        items: views(&state, &tenant.id, &page.items).await?,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns",
    responses((status = 200, body = CampaignView), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    let c = state
        .store
        .get_campaign(&tenant.id, &id)
        .await
        .or_not_found("campaign")?;
    let mut one = views(&state, &tenant.id, std::slice::from_ref(&c)).await?;
    Ok(Json(one.remove(0)))
}

async fn act(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    action: CampaignAction,
    include_unknown: bool,
    change: &Change,
) -> Result<Json<CampaignView>, ApiError> {
    // Starting or resuming asks the provider first; an illegal transition is left to the
    // store to refuse (409).
    if matches!(action, CampaignAction::Start | CampaignAction::Resume) {
        let c = state.store.get_campaign(tenant_id, id).await.or_not_found("campaign")?;
        if c.status.allows(action) {
            let sender = state.store.sender_by_id(&c.sender_id).await?;
            let template = state.store.template_by_id(&c.template_id).await?;
            preflight(state, &sender, &template).await?;
        }
    }
    let c = state
        .store
        .apply_action(tenant_id, id, action, include_unknown, state.clock.now_millis(), change)
        .await
        .or_not_found("campaign")?;
    state.wake.notify_waiters();
    Ok(Json(view(state, &c)))
}

/// draft → running (or scheduled). On a sender that is paused or suspended it waits instead:
/// `paused` with reason `sender_paused`, running by itself when the sender is active again.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/start", tag = "campaigns",
    responses((status = 200, body = CampaignView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn start(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(&state, &tenant.id, &id, CampaignAction::Start, false, &change).await
}

/// → paused (reason `user`); in-flight requests finish. Also from `paused` with reason
/// `sender_paused`: the pause becomes the person's, and the campaign no longer resumes with
/// its sender.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/pause", tag = "campaigns",
    responses((status = 200, body = CampaignView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn pause(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(&state, &tenant.id, &id, CampaignAction::Pause, false, &change).await
}

/// paused → running. While its sender is paused or suspended the campaign keeps waiting
/// for it (200, `paused` with reason `sender_paused`) and runs by itself when the sender is
/// active again.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/resume", tag = "campaigns",
    responses((status = 200, body = CampaignView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn resume(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(&state, &tenant.id, &id, CampaignAction::Resume, false, &change).await
}

#[utoipa::path(post, path = "/api/v1/campaigns/{id}/cancel", tag = "campaigns",
    responses((status = 200, body = CampaignView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(&state, &tenant.id, &id, CampaignAction::Cancel, false, &change).await
}

/// `failed` (and with `include_unknown`, `unknown`) messages go back to the queue.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/retry", tag = "campaigns", request_body(content = Option<RetryAction>),
    responses((status = 200, body = CampaignView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<CampaignView>, ApiError> {
    let include_unknown = if body.iter().all(|b| b.is_ascii_whitespace()) {
        false
    } else {
        serde_json::from_slice::<RetryAction>(&body)
            .map_err(|e| ApiError::bad_request("malformed_json", format!("retry options: {e}")))?
            .include_unknown
    };
    act(&state, &tenant.id, &id, CampaignAction::Retry, include_unknown, &change).await
}

fn parse_message_status(s: Option<&str>) -> Result<Option<MessageStatus>, ApiError> {
    s.map(|s| s.parse::<MessageStatus>())
        .transpose()
        .map_err(|_| super::extract::invalid_param("status", "must be a message state: queued, claimed, sending, sent, delivered, read, failed, unknown, skipped, cancelled"))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}/messages", tag = "campaigns", params(MessageFilter),
    responses((status = 200, body = ListView<MessageView>), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn messages(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    Path(id): Path<String>,
    ApiQuery(f): ApiQuery<MessageFilter>,
) -> Result<Json<ListView<MessageView>>, ApiError> {
    let status = parse_message_status(f.status.as_deref())?;
    let page = PageParams {
        limit: f.limit,
        cursor: f.cursor,
    }
    .request()?;
    if page.cursor.as_ref().is_some_and(|c| c.parse::<i64>().is_err()) {
        return Err(super::extract::invalid_param(
            "cursor",
            "is not a cursor this API gave out",
        ));
    }
    state
        .store
        .get_campaign(&tenant.id, &id)
        .await
        .or_not_found("campaign")?;
    let page = state.store.list_messages(&tenant.id, &id, status, &page).await?;
    Ok(Json(ListView {
        items: page.items.iter().map(|m| MessageView::new(m, None)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Every message as CSV, streamed page by page.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/messages.csv", tag = "campaigns",
    responses((status = 200, content_type = "text/csv", description = "phone, status, attempts, provider_message_id, error_code, error_message, sent_at, delivered_at, read_at, skip_reason, user_id"),
              (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn export(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let campaign = state
        .store
        .get_campaign(&tenant.id, &id)
        .await
        .or_not_found("campaign")?;
    let header_row =
        "phone,status,attempts,provider_message_id,error_code,error_message,sent_at,delivered_at,read_at,skip_reason,user_id\n";
    let stream = futures::stream::unfold(Some(None::<String>), move |cursor| {
        let state = state.clone();
        let tenant_id = tenant.id.clone();
        let id = id.clone();
        async move {
            let cursor = cursor?;
            let page = match state
                .store
                .list_messages(&tenant_id, &id, None, &PageRequest { limit: 5_000, cursor })
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "export failed mid-stream");
                    return Some((Err(std::io::Error::other("export failed")), None));
                }
            };
            let mut w = csv::Writer::from_writer(Vec::with_capacity(page.items.len() * 96));
            for m in &page.items {
                let t = |v: Option<i64>| v.map(rfc3339).unwrap_or_default();
                let phone = super::views::recipient_phone(&m.phone, m.user_id.as_deref()).unwrap_or("");
                let _ = w.write_record([
                    phone,
                    m.status.as_str(),
                    &m.attempts.to_string(),
                    m.provider_message_id.as_deref().unwrap_or(""),
                    m.error_code.as_deref().unwrap_or(""),
                    m.error_message.as_deref().unwrap_or(""),
                    &t(m.sent_at),
                    &t(m.delivered_at),
                    &t(m.read_at),
                    m.skip_reason.as_deref().unwrap_or(""),
                    m.user_id.as_deref().unwrap_or(""),
                ]);
            }
            let chunk = w.into_inner().unwrap_or_default();
            let next = page.next_cursor.map(Some);
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), next))
        }
    });
    let body = futures::StreamExt::chain(
        futures::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from_static(header_row.as_bytes())) }),
        stream,
    );
    let filename = format!("attachment; filename=\"{}-messages.csv\"", campaign.id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Server-sent events: a `progress` event with the campaign object whenever it changes
/// (at most four a second), until the campaign reaches a final state.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/events", tag = "campaigns",
    responses((status = 200, content_type = "text/event-stream", description = "`progress` events carrying the campaign object"), (status = 404, body = super::ErrorBody)),
    security(("api_key" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    state
        .store
        .get_campaign(&tenant.id, &id)
        .await
        .or_not_found("campaign")?;
    Ok(progress_stream(state, tenant.id, vec![id], false))
}

/// How many campaigns one stream of [`events_many`] follows at most: a page of the list.
pub const MAX_FOLLOWED: usize = 100;

/// The campaigns one event stream follows.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FollowQuery {
    /// Campaign ids, comma-separated (at most 100). Ids the tenant has not are left out.
    pub campaigns: String,
}

/// Server-sent events for several campaigns at once (the console's list): a `progress`
/// event with a campaign's object whenever that campaign changes (each at most four a
/// second), and an `end` event once every one of them is in a final state.
#[utoipa::path(get, path = "/api/v1/events", tag = "campaigns", params(FollowQuery),
    responses((status = 200, content_type = "text/event-stream", description = "`progress` events carrying campaign objects, then `end`"), (status = 400, body = super::ErrorBody)),
    security(("api_key" = [])))]
pub async fn events_many(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    ApiQuery(q): ApiQuery<FollowQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let mut ids: Vec<String> = q
        .campaigns
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() || ids.len() > MAX_FOLLOWED || ids.iter().any(|id| id.len() > 64) {
        return Err(super::extract::invalid_param(
            "campaigns",
            format!("give between 1 and {MAX_FOLLOWED} campaign ids, comma-separated"),
        ));
    }
    Ok(progress_stream(state, tenant.id, ids, true))
}

/// Polls `ids` four times a second and yields a `progress` event for each campaign whose
/// status, counts or pause reason changed (all of them first), until all are final; then an
/// `end` event when `announce_end` (so a browser's EventSource does not reconnect).
fn progress_stream(
    state: AppState,
    tenant_id: String,
    ids: Vec<String>,
    announce_end: bool,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    use std::collections::{HashMap, VecDeque};
    struct Follow {
        seen: HashMap<String, String>,
        ready: VecDeque<Event>,
        polled: bool,
        done: bool,
    }
    let shutdown = state.shutdown.clone();
    let start = Follow {
        seen: HashMap::new(),
        ready: VecDeque::new(),
        polled: false,
        done: false,
    };
    let stream = futures::stream::unfold(start, move |mut f| {
        let state = state.clone();
        let tenant_id = tenant_id.clone();
        let ids = ids.clone();
        async move {
            loop {
                if let Some(event) = f.ready.pop_front() {
                    return Some((Ok(event), f));
                }
                if f.done {
                    return None;
                }
                if f.polled {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                f.polled = true;
                let campaigns = if ids.len() == 1 {
                    match state.store.get_campaign(&tenant_id, &ids[0]).await {
                        Ok(c) => vec![c],
                        Err(_) => return None,
                    }
                } else {
                    match state.store.get_campaigns(&tenant_id, &ids).await {
                        Ok(c) => c,
                        Err(_) => return None,
                    }
                };
                for c in &campaigns {
                    let fingerprint = format!("{:?}{:?}{:?}", c.status, c.counts, c.paused_reason);
                    if f.seen.get(&c.id) != Some(&fingerprint) {
                        let data = serde_json::to_string(&view(&state, c)).unwrap_or_default();
                        f.ready.push_back(Event::default().event("progress").data(data));
                        f.seen.insert(c.id.clone(), fingerprint);
                    }
                }
                if campaigns.iter().all(|c| c.status.is_final()) {
                    f.done = true;
                    if announce_end {
                        f.ready.push_back(Event::default().event("end").data("{}"));
                    }
                }
            }
        }
    });
    let stream = futures::StreamExt::take_until(stream, shutdown.cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::default())
}
