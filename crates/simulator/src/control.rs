//! Control endpoints: make the simulator do what Meta does on its own, now or after a
//! delay, so that every 2026 behaviour can be demonstrated and tested end to end. Each
//! changes the simulator's state and posts the webhook Meta would post, signed like the
//! status webhooks (none without `--webhook-url`).
//!
//! | route | body | does |
//! |---|---|---|
//! | `POST /control/templates/status` | `{"name", "language"?, "event", "reason"?, "title"?, "description"?, "category"?, "delay_ms"?}` | the template's status changes (PAUSED: sends answer 132015; APPROVED/REINSTATED: they go again; DISABLED: 132016; REJECTED: 132001); `message_template_status_update` |
//! | `POST /control/templates/quality` | `{"name", "language"?, "score", "delay_ms"?}` | `message_template_quality_update` |
//! | `POST /control/user-preferences` | `{"phone"?, "user_id"?, "value": "stop"\|"resume", "phone_number_id"?, "delay_ms"?}` | marketing sends to that user answer 131050 (stop) or go again (resume); `user_preferences` |
//! | `POST /control/inbound` | `{"from"?, "user_id"?, "text"?, "button"?, "name"?, "username"?, "context"?, "phone_number_id"?, "delay_ms"?}` | a reply, from a phone, a BSUID, or both; `messages` |
//! | `POST /control/throughput` | `{"level": "HIGH"\|"STANDARD", "downtime_ms"?, "delay_ms"?}` | the numbers' `throughput.level` (HIGH: `--high-mps` enforced); during `downtime_ms` sends answer 131057; an upgrade posts `phone_number_quality_update` (`THROUGHPUT_UPGRADE`) |
//!
//! Without a language, a template request applies to every language the simulator knows
//! for the name. `phone_number_id` defaults to the last one a send used. Answers are JSON:
//! 200 with what was (or will be) done, 400 `{"error": …}` for a request that cannot be done.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use pregon_domain::{BusinessUserId, TemplateCategory, TemplateQuality};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::catalog::{self, TemplateSpec};
use crate::config::{TemplateEventPlan, Throughput};
use crate::engine::Engine;
use crate::webhooks::{Status, Target};

/// A control request that cannot be done: 400 `{"error": …}`.
pub(crate) struct Refused(String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({"error": self.0}))).into_response()
    }
}

fn bad(message: impl Into<String>) -> Refused {
    Refused(message.into())
}

/// What a control handler answers.
type Answer = Result<Json<Value>, Refused>;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs `action` now, or after `delay` unless the simulator stops first.
fn schedule(engine: &Arc<Engine>, delay: Duration, action: impl FnOnce(&Engine) + Send + 'static) {
    if delay.is_zero() {
        action(engine);
        return;
    }
    let engine = engine.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = engine.cancel.cancelled() => {}
            () = tokio::time::sleep(delay) => action(&engine),
        }
    });
}

/// Posts a Meta event to `--webhook-url`; false when there is none.
fn post(engine: &Engine, body: &Value) -> bool {
    let w = &engine.config.webhooks;
    let Some(url) = &w.meta_url else { return false };
    let target = Target::Event {
        url: url.clone(),
        app_secret: w.app_secret.clone(),
        body: serde_json::to_vec(body).expect("JSON values serialize"),
    };
    engine.webhooks.plan(target, [(Status::Event, Duration::ZERO)].into());
    true
}

/// A WhatsApp Business Account webhook of one change.
fn envelope(engine: &Engine, field: &str, value: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": engine.config.waba_id, "time": unix_now(),
        "changes": [{"value": value, "field": field}]}]})
}

/// `message_template_status_update` of one template after `event`.
pub(crate) fn template_status_body(
    engine: &Engine,
    spec: &TemplateSpec,
    event: &str,
    reason: Option<&str>,
    other_info: Option<(String, String)>,
) -> Value {
    let mut value = json!({
        "event": event,
        "message_template_id": catalog::template_id(&spec.name, &spec.language),
        "message_template_name": spec.name,
        "message_template_language": spec.language,
        "reason": reason.unwrap_or("NONE"),
        "message_template_category": catalog::category_meta(spec.category),
    });
    if let Some((title, description)) = other_info {
        value["other_info"] = json!({"title": title, "description": description});
    }
    if event == "DISABLED" || event == "FLAGGED" {
        value["disable_info"] = json!({"disable_date": unix_now()});
    }
    envelope(engine, "message_template_status_update", value)
}

/// What a template status request asks.
#[derive(Debug, Clone)]
struct TemplateEvent {
    name: String,
    languages: Vec<String>,
    event: String,
    reason: Option<String>,
    title: Option<String>,
    description: Option<String>,
    category: Option<TemplateCategory>,
}

/// Changes each template's status and posts its webhook.
fn apply_template_event(engine: &Engine, e: &TemplateEvent) -> Vec<Value> {
    let mut bodies = Vec::new();
    for language in &e.languages {
        let (_, after) = engine.catalog.update(&e.name, language, |t| {
            if let Some(status) = catalog::status_after(&e.event) {
                t.status = status.to_string();
            }
            if let Some(category) = e.category {
                t.category = category;
            }
        });
        let other_info = match (&e.title, &e.description) {
            (None, None) if e.event == "PAUSED" => Some((
                "FIRST_PAUSE".to_string(),
                "Your WhatsApp message template has been paused for 3 hours because of low quality (simulated)."
                    .to_string(),
            )),
            (None, None) => None,
            (title, description) => Some((
                title.clone().unwrap_or_else(|| e.event.clone()),
                description.clone().unwrap_or_default(),
            )),
        };
        let body = template_status_body(engine, &after, &e.event, e.reason.as_deref(), other_info);
        post(engine, &body);
        bodies.push(body);
    }
    bodies
}

/// Plans a `--template-events` change at start.
pub(crate) fn plan_template_event(engine: &Arc<Engine>, plan: &TemplateEventPlan) {
    let name = plan.name.clone();
    let language = plan.language.clone();
    let event = plan.event.clone();
    schedule(engine, plan.after, move |engine| {
        let languages = match language {
            Some(l) => vec![l],
            None => engine.catalog.languages(&name),
        };
        if languages.is_empty() {
            tracing::warn!(%name, %event, "--template-events: no language known for this template; nothing done");
            return;
        }
        apply_template_event(
            engine,
            &TemplateEvent {
                name,
                languages,
                event,
                reason: None,
                title: None,
                description: None,
                category: None,
            },
        );
    });
}

fn languages_for(engine: &Engine, name: &str, language: Option<String>) -> Result<Vec<String>, Refused> {
    match language.map(|l| l.trim().to_string()).filter(|l| !l.is_empty()) {
        Some(l) => Ok(vec![l]),
        None => {
            let known = engine.catalog.languages(name);
            if known.is_empty() {
                Err(bad(format!(
                    "the simulator knows {name:?} in no language yet: name one (\"language\": \"es\")"
                )))
            } else {
                Ok(known)
            }
        }
    }
}

fn delay(ms: Option<u64>) -> Duration {
    Duration::from_millis(ms.unwrap_or(0))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateStatusRequest {
    name: String,
    language: Option<String>,
    event: String,
    reason: Option<String>,
    title: Option<String>,
    description: Option<String>,
    category: Option<String>,
    delay_ms: Option<u64>,
}

/// `POST /control/templates/status`.
pub(crate) async fn template_status(State(engine): State<Arc<Engine>>, Json(r): Json<TemplateStatusRequest>) -> Answer {
    let event = r.event.trim().to_ascii_uppercase();
    if !catalog::is_template_event(&event) {
        return Err(bad(format!(
            "{:?} is not one of Meta's template events (APPROVED, PAUSED, …)",
            r.event
        )));
    }
    let name = r.name.trim().to_string();
    if name.is_empty() {
        return Err(bad("name is empty"));
    }
    let category = match r.category.as_deref() {
        None => None,
        Some(c) => {
            Some(TemplateCategory::parse_meta(c).ok_or_else(|| bad(format!("{c:?} is not a template category")))?)
        }
    };
    let languages = languages_for(&engine, &name, r.language)?;
    let e = TemplateEvent {
        name,
        languages,
        event,
        reason: r.reason,
        title: r.title,
        description: r.description,
        category,
    };
    let after = delay(r.delay_ms);
    let answer = json!({"name": e.name, "languages": e.languages, "event": e.event, "delay_ms": after.as_millis() as u64,
        "webhook": engine.config.webhooks.meta_url.is_some()});
    let immediate = after.is_zero();
    let mut bodies = Vec::new();
    if immediate {
        bodies = apply_template_event(&engine, &e);
    } else {
        schedule(&engine, after, move |engine| {
            apply_template_event(engine, &e);
        });
    }
    let mut answer = answer;
    if immediate {
        answer["webhooks"] = bodies.into();
    }
    Ok(Json(answer))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateQualityRequest {
    name: String,
    language: Option<String>,
    score: String,
    delay_ms: Option<u64>,
}

/// `POST /control/templates/quality`.
pub(crate) async fn template_quality(
    State(engine): State<Arc<Engine>>,
    Json(r): Json<TemplateQualityRequest>,
) -> Answer {
    let score = r.score.trim().to_ascii_uppercase();
    if !matches!(score.as_str(), "GREEN" | "YELLOW" | "RED" | "UNKNOWN") {
        return Err(bad(format!(
            "{:?} is not a quality score (GREEN, YELLOW, RED, UNKNOWN)",
            r.score
        )));
    }
    let name = r.name.trim().to_string();
    let languages = languages_for(&engine, &name, r.language)?;
    let quality = TemplateQuality::parse_meta(&score);
    let answer = json!({"name": name, "languages": languages, "score": score, "delay_ms": r.delay_ms.unwrap_or(0)});
    schedule(&engine, delay(r.delay_ms), move |engine| {
        for language in &languages {
            let (before, after) = engine.catalog.update(&name, language, |t| t.quality = quality);
            let previous = catalog::template_object(&before)["quality_score"]["score"].clone();
            let body = envelope(
                engine,
                "message_template_quality_update",
                json!({"previous_quality_score": previous, "new_quality_score": score,
                    "message_template_id": catalog::template_id(&after.name, &after.language),
                    "message_template_name": after.name, "message_template_language": after.language}),
            );
            post(engine, &body);
        }
    });
    Ok(Json(answer))
}

/// A user known by phone, BSUID, or both, as a control request names them.
struct User {
    /// Digits.
    phone: Option<String>,
    user_id: Option<String>,
}

fn user(engine: &Engine, phone: Option<&str>, user_id: Option<&str>) -> Result<User, Refused> {
    let phone = match phone.map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(crate::phone::digits(p).ok_or_else(|| bad(format!("{p:?} is not a phone number")))?),
    };
    let mut user_id = match user_id.map(str::trim).filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => Some(BusinessUserId::parse(u).map_err(|e| bad(e.to_string()))?.to_string()),
    };
    if phone.is_none() && user_id.is_none() {
        return Err(bad("name the user: \"phone\" (E.164), \"user_id\" (a BSUID), or both"));
    }
    if user_id.is_none() && engine.config.user_ids {
        user_id = phone
            .as_deref()
            .map(|d| crate::meta::user_id_for(&engine.config.waba_id, d));
    }
    Ok(User { phone, user_id })
}

fn phone_number_id(engine: &Engine, given: Option<String>) -> Result<String, Refused> {
    given
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .or_else(|| engine.last_phone_number_id())
        .ok_or_else(|| bad("no send yet names the number: give \"phone_number_id\""))
}

fn metadata(engine: &Engine, phone_number_id: &str) -> Value {
    json!({"display_phone_number": engine.config.display_phone_number, "phone_number_id": phone_number_id})
}

fn contact(user: &User, name: Option<&str>, username: Option<&str>) -> Value {
    let mut c = json!({});
    let mut profile = json!({});
    if let Some(name) = name {
        profile["name"] = name.into();
    }
    if let Some(username) = username {
        profile["username"] = username.into();
    }
    if profile.as_object().is_some_and(|p| !p.is_empty()) {
        c["profile"] = profile;
    }
    if let Some(phone) = &user.phone {
        c["wa_id"] = phone.clone().into();
    }
    if let Some(id) = &user.user_id {
        c["user_id"] = id.clone().into();
    }
    c
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPreferencesRequest {
    phone: Option<String>,
    user_id: Option<String>,
    value: String,
    phone_number_id: Option<String>,
    delay_ms: Option<u64>,
}

/// `POST /control/user-preferences`.
pub(crate) async fn user_preferences(
    State(engine): State<Arc<Engine>>,
    Json(r): Json<UserPreferencesRequest>,
) -> Answer {
    let value = r.value.trim().to_ascii_lowercase();
    let stop = match value.as_str() {
        "stop" => true,
        "resume" => false,
        _ => return Err(bad(format!("{:?} is neither stop nor resume", r.value))),
    };
    let user = user(&engine, r.phone.as_deref(), r.user_id.as_deref())?;
    let phone_number_id = phone_number_id(&engine, r.phone_number_id)?;
    let answer =
        json!({"phone": user.phone, "user_id": user.user_id, "value": value, "delay_ms": r.delay_ms.unwrap_or(0)});
    schedule(&engine, delay(r.delay_ms), move |engine| {
        let keys: Vec<String> = user.phone.iter().chain(user.user_id.iter()).cloned().collect();
        engine.set_marketing_stopped(&keys, stop);
        let mut preference = json!({
            "detail": if stop { "User requested to stop marketing messages" } else { "User requested to resume marketing messages" },
            "category": "marketing_messages",
            "value": value,
            "timestamp": unix_now(),
        });
        if let Some(phone) = &user.phone {
            preference["wa_id"] = phone.clone().into();
        }
        if let Some(id) = &user.user_id {
            preference["user_id"] = id.clone().into();
        }
        let body = envelope(
            engine,
            "user_preferences",
            json!({"messaging_product": "whatsapp", "metadata": metadata(engine, &phone_number_id),
                "contacts": [contact(&user, None, None)], "user_preferences": [preference]}),
        );
        post(engine, &body);
    });
    Ok(Json(answer))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InboundRequest {
    from: Option<String>,
    user_id: Option<String>,
    text: Option<String>,
    /// A quick-reply button's payload (and text), instead of a text.
    button: Option<String>,
    name: Option<String>,
    username: Option<String>,
    /// The wamid replied to.
    context: Option<String>,
    phone_number_id: Option<String>,
    delay_ms: Option<u64>,
}

/// `POST /control/inbound`.
pub(crate) async fn inbound(State(engine): State<Arc<Engine>>, Json(r): Json<InboundRequest>) -> Answer {
    let user = user(&engine, r.from.as_deref(), r.user_id.as_deref())?;
    let phone_number_id = phone_number_id(&engine, r.phone_number_id)?;
    let wamid = format!(
        "wamid.IN{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(engine.random_u64().to_be_bytes())
    );
    let mut message = json!({"id": wamid, "timestamp": unix_now().to_string()});
    match (&r.text, &r.button) {
        (_, Some(button)) => {
            message["type"] = "button".into();
            message["button"] = json!({"payload": button, "text": button});
        }
        (text, None) => {
            message["type"] = "text".into();
            message["text"] = json!({"body": text.clone().unwrap_or_default()});
        }
    }
    if let Some(phone) = &user.phone {
        message["from"] = phone.clone().into();
    }
    if let Some(id) = &user.user_id {
        message["from_user_id"] = id.clone().into();
    }
    if let Some(context) = &r.context {
        message["context"] = json!({"from": engine.config.display_phone_number, "id": context});
    }
    let body = envelope(
        &engine,
        "messages",
        json!({"messaging_product": "whatsapp", "metadata": metadata(&engine, &phone_number_id),
            "contacts": [contact(&user, r.name.as_deref(), r.username.as_deref())], "messages": [message]}),
    );
    let answer = json!({"wamid": wamid, "from": user.phone, "user_id": user.user_id,
        "webhook": engine.config.webhooks.meta_url.is_some(), "delay_ms": r.delay_ms.unwrap_or(0)});
    schedule(&engine, delay(r.delay_ms), move |engine| {
        post(engine, &body);
    });
    Ok(Json(answer))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThroughputRequest {
    level: String,
    downtime_ms: Option<u64>,
    delay_ms: Option<u64>,
}

/// `POST /control/throughput`.
pub(crate) async fn throughput(State(engine): State<Arc<Engine>>, Json(r): Json<ThroughputRequest>) -> Answer {
    let level = match r.level.trim().to_ascii_uppercase().as_str() {
        "HIGH" => Throughput::High,
        "STANDARD" => Throughput::Standard,
        _ => return Err(bad(format!("{:?} is neither HIGH nor STANDARD", r.level))),
    };
    let downtime = Duration::from_millis(r.downtime_ms.unwrap_or(0));
    let answer = json!({"level": level.as_meta(), "downtime_ms": downtime.as_millis() as u64,
        "delay_ms": r.delay_ms.unwrap_or(0)});
    let engine_for_later = engine.clone();
    schedule(&engine, delay(r.delay_ms), move |engine| {
        engine.set_throughput(level, downtime);
        if level == Throughput::High {
            // Meta posts the webhook once the upgrade is done.
            schedule(&engine_for_later, downtime, |engine| {
                let body = envelope(
                    engine,
                    "phone_number_quality_update",
                    json!({"display_phone_number": engine.config.display_phone_number,
                        "event": "THROUGHPUT_UPGRADE", "max_daily_conversations_per_business": "TIER_UNLIMITED"}),
                );
                post(engine, &body);
            });
        }
    });
    Ok(Json(answer))
}
