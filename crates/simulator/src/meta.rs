//! The Meta WhatsApp Cloud API, as far as pregon uses it (docs/providers.md §1, §2):
//!
//! - `POST /{version}/{phone_number_id}/messages`: template messages, Bearer token, to a
//!   phone (`to`) or a business-scoped user ID (`recipient`);
//! - `POST /{version}/{phone_number_id}/marketing_messages`: the Marketing Messages API, for
//!   marketing templates (`product_policy`, `message_activity_sharing`), priced
//!   `marketing_lite`;
//! - `GET /{version}/{phone_number_id}`: the phone number (a credentials check), with its
//!   `throughput.level`;
//! - `GET /{version}/{waba_id}/message_templates?name=`: template approval, and without a
//!   name, every template the simulator knows, page by page (`limit`, `after`,
//!   `paging.next`).
//!
//! Errors use Meta's envelope: `{"error":{"message","type","code","error_data":{…},"fbtrace_id"}}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use pregon_domain::{BusinessUserId, TemplateCategory};

use crate::catalog::{self, TemplateSpec};
use crate::config::Throughput;
use crate::engine::{Engine, Refusal, Send};
use crate::webhooks::{Failure, Hold, Target};

/// The failure of a `--fail-numbers` recipient.
const UNDELIVERABLE: Failure = Failure {
    code: 131026,
    title: "Message undeliverable",
    details: "Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone number; the recipient has not accepted the new Terms of Service; the recipient is using an old WhatsApp version.",
};

/// The failure drawn by `--async-failure-rate`.
const ECOSYSTEM: Failure = Failure {
    code: 131049,
    title: "This message was not delivered to maintain healthy ecosystem engagement.",
    details: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
};

/// What a recipient who stopped marketing messages gets for a marketing template.
const MARKETING_STOPPED: Failure = Failure {
    code: 131050,
    title: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
    details: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
};

/// Meta's words for an error code chosen with `--meta-fail-codes`.
pub(crate) fn failure(code: u32) -> Failure {
    let (title, details) = match code {
        131026 => return UNDELIVERABLE,
        131049 => return ECOSYSTEM,
        131050 => return MARKETING_STOPPED,
        130472 => (
            "User's number is part of an experiment",
            "Failed to send message because this user's phone number is part of an experiment",
        ),
        131047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ),
        131062 => (
            "Business-scoped User ID recipients are not supported for this message.",
            "This message type cannot be sent to a business-scoped user ID; send it to a phone number.",
        ),
        132001 => ("Template does not exist", "The template does not exist in the specified language or has not been approved."),
        132015 => ("Template is Paused", "Template is paused due to low quality so it cannot be sent in a template message."),
        132016 => (
            "Template is Disabled",
            "Template has been paused too many times due to low quality and is now permanently disabled.",
        ),
        131000 => ("Something went wrong", "Message failed to send due to an unknown error."),
        _ => ("Simulated failure", "This failure was chosen with --meta-fail-codes."),
    };
    Failure { code, title, details }
}

/// Message types that only go inside the 24-hour customer-service window, which no
/// simulated recipient ever opened.
const FREE_FORM: &[&str] = &[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "reaction",
];

/// An error answer in Meta's envelope.
struct MetaError {
    status: StatusCode,
    code: u32,
    message: String,
    details: Option<String>,
}

impl MetaError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>, details: impl Into<String>) -> Self {
        MetaError {
            status,
            code,
            message: message.into(),
            details: Some(details.into()),
        }
    }

    fn missing(what: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            131008,
            "(#131008) Required parameter is missing",
            format!("The parameter {what} is required."),
        )
    }

    fn invalid(details: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 100, "(#100) Invalid parameter", details)
    }

    fn token(message: &str) -> Self {
        MetaError {
            status: StatusCode::UNAUTHORIZED,
            code: 190,
            message: message.into(),
            details: None,
        }
    }

    fn into_response(self, engine: &Engine) -> Response {
        let mut error = Map::new();
        error.insert("message".into(), self.message.into());
        error.insert("type".into(), "OAuthException".into());
        error.insert("code".into(), self.code.into());
        if let Some(details) = self.details {
            error.insert(
                "error_data".into(),
                json!({"messaging_product": "whatsapp", "details": details}),
            );
        }
        let trace = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(engine.random_u64().to_be_bytes());
        error.insert("fbtrace_id".into(), format!("A{trace}").into());
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

/// `v21.0` and the like.
fn version_ok(version: &str) -> bool {
    version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| {
            [major, minor]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn unknown_version(version: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"message": format!("Unknown path components: /{version}"), "type": "OAuthException", "code": 2500}})),
    )
        .into_response()
}

/// Checks `Authorization: Bearer <token>` against `--access-tokens` and `--bad-tokens`.
fn authorize(engine: &Engine, headers: &HeaderMap) -> Result<(), MetaError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(MetaError::token(
            "Invalid OAuth access token - Cannot parse access token",
        ));
    };
    let c = &engine.config;
    if c.bad_tokens.contains(token) || (!c.access_tokens.is_empty() && !c.access_tokens.contains(token)) {
        return Err(MetaError::token(
            "Error validating access token: Session has expired. The access token is no longer valid.",
        ));
    }
    Ok(())
}

/// Who a send is for.
enum Recipient {
    /// `to`, as digits.
    Phone(String),
    /// `recipient`: a business-scoped user ID.
    User(BusinessUserId),
}

impl Recipient {
    /// The recipient's key for rates, opt-outs and chosen failures: digits or the BSUID.
    fn key(&self) -> &str {
        match self {
            Recipient::Phone(digits) => digits,
            Recipient::User(id) => id.as_str(),
        }
    }
}

/// A template send that passed validation.
struct TemplateSend {
    /// `to` (or `recipient`) as given.
    input: String,
    recipient: Recipient,
    name: String,
    language: String,
    /// The whole `template` object as JSON text: what the recipient would read.
    content: String,
    callback_data: Option<String>,
}

/// Which endpoint a send came to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/messages`: the Cloud API.
    Messages,
    /// `/marketing_messages`: the Marketing Messages API.
    Marketing,
}

/// The BSUID the simulator gives a phone: its country, a dot, a number derived from the
/// WhatsApp Business Account and the phone (the same in every run, different per account).
pub(crate) fn user_id_for(waba_id: &str, digits: &str) -> String {
    let country = pregon_domain::PhoneNumber::parse(&format!("+{digits}"), None)
        .ok()
        .and_then(|p| p.region())
        .map(|r| r.code())
        .unwrap_or_else(|| "ZZ".into());
    format!("{country}.{}", crate::engine::hash_of(&[waba_id, digits]))
}

fn string_field<'a>(object: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, MetaError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(MetaError::missing(path)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(MetaError::missing(path)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(MetaError::invalid(format!("{path} must be a string"))),
    }
}

fn object_field<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Map<String, Value>, MetaError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(MetaError::missing(path)),
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(MetaError::invalid(format!("{path} must be an object"))),
    }
}

/// The template message shape of docs/providers.md §1.1.
fn validate(body: &[u8], endpoint: Endpoint) -> Result<TemplateSend, MetaError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| MetaError::invalid(format!("The request body is not valid JSON: {e}")))?;
    let Value::Object(message) = value else {
        return Err(MetaError::invalid("The request body must be a JSON object"));
    };
    let product = string_field(&message, "messaging_product", "messaging_product")?;
    if product != "whatsapp" {
        return Err(MetaError::invalid(format!(
            "messaging_product must be \"whatsapp\", not {product:?}"
        )));
    }
    if let Some(kind) = message.get("recipient_type") {
        if kind != "individual" {
            return Err(MetaError::invalid("recipient_type must be \"individual\""));
        }
    }
    // `to` wins over `recipient` when both are there (the BSUID document).
    let (input, recipient) = match (message.get("to"), message.get("recipient")) {
        (None | Some(Value::Null), Some(Value::String(r))) => {
            let id = BusinessUserId::parse(r).map_err(|_| {
                MetaError::invalid(format!(
                    "recipient must be a business-scoped user ID (US.1349…), not {r:?}"
                ))
            })?;
            (r.clone(), Recipient::User(id))
        }
        (None | Some(Value::Null), Some(Value::Null) | None) => return Err(MetaError::missing("to")),
        (None | Some(Value::Null), Some(_)) => return Err(MetaError::invalid("recipient must be a string")),
        _ => {
            let to = string_field(&message, "to", "to")?;
            let digits = crate::phone::meta_to(to).ok_or_else(|| {
                MetaError::invalid(format!(
                    "to must be a phone number in digits (E.164 without separators), not {to:?}"
                ))
            })?;
            (to.to_string(), Recipient::Phone(digits))
        }
    };
    let kind = string_field(&message, "type", "type")?;
    if kind != "template" {
        if FREE_FORM.contains(&kind) {
            return Err(MetaError::new(
                StatusCode::BAD_REQUEST,
                131047,
                "(#131047) Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            ));
        }
        return Err(MetaError::new(
            StatusCode::BAD_REQUEST,
            131051,
            "(#131051) Unsupported message type",
            format!("Message type {kind:?} is not supported."),
        ));
    }
    let template = object_field(&message, "template", "template")?;
    let name = string_field(template, "name", "template.name")?;
    let language = object_field(template, "language", "template.language")?;
    let language = string_field(language, "code", "template.language.code")?;
    if endpoint == Endpoint::Marketing {
        match message.get("product_policy") {
            None | Some(Value::Null) => {}
            Some(Value::String(p)) if matches!(p.as_str(), "STRICT" | "CLOUD_API_FALLBACK") => {}
            Some(other) => {
                return Err(MetaError::invalid(format!(
                    "product_policy must be STRICT or CLOUD_API_FALLBACK, not {other}"
                )))
            }
        }
        if !matches!(
            message.get("message_activity_sharing"),
            None | Some(Value::Null) | Some(Value::Bool(_))
        ) {
            return Err(MetaError::invalid("message_activity_sharing must be a boolean"));
        }
    }
    if let Some(components) = template.get("components") {
        let Value::Array(components) = components else {
            return Err(MetaError::invalid("template.components must be an array"));
        };
        for (i, component) in components.iter().enumerate() {
            let Value::Object(component) = component else {
                return Err(MetaError::invalid(format!(
                    "template.components[{i}] must be an object"
                )));
            };
            string_field(component, "type", &format!("template.components[{i}].type"))?;
            match component.get("parameters") {
                None | Some(Value::Array(_)) => {}
                Some(_) => {
                    return Err(MetaError::invalid(format!(
                        "template.components[{i}].parameters must be an array"
                    )))
                }
            }
        }
    }
    let callback_data = match message.get("biz_opaque_callback_data") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(TemplateSend {
        input,
        recipient,
        name: name.to_string(),
        language: language.to_string(),
        content: Value::Object(template.clone()).to_string(),
        callback_data,
    })
}

/// `POST /{version}/{phone_number_id}/messages`.
pub(crate) async fn send(
    State(engine): State<Arc<Engine>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    send_to(engine, version, phone_number_id, headers, body, Endpoint::Messages).await
}

/// `POST /{version}/{phone_number_id}/marketing_messages`.
pub(crate) async fn send_marketing(
    State(engine): State<Arc<Engine>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    send_to(engine, version, phone_number_id, headers, body, Endpoint::Marketing).await
}

async fn send_to(
    engine: Arc<Engine>,
    version: String,
    phone_number_id: String,
    headers: HeaderMap,
    body: Bytes,
    endpoint: Endpoint,
) -> Response {
    if !version_ok(&version) {
        return unknown_version(&version);
    }
    let latency = engine.request(&phone_number_id);
    let response = match accept(&engine, &phone_number_id, &headers, &body, endpoint) {
        Ok(response) => response,
        Err(error) => {
            engine.rejected(error.code);
            error.into_response(&engine)
        }
    };
    tokio::time::sleep(latency).await;
    response
}

/// The answer of a send of a template in a status other than APPROVED.
fn template_refusal(code: u32, name: &str) -> MetaError {
    match code {
        132015 => MetaError::new(
            StatusCode::BAD_REQUEST,
            132015,
            "(#132015) Template is Paused",
            format!("Template {name} is paused due to low quality so it cannot be sent in a template message."),
        ),
        132016 => MetaError::new(
            StatusCode::BAD_REQUEST,
            132016,
            "(#132016) Template is Disabled",
            format!(
                "Template {name} has been paused too many times due to low quality and is now permanently disabled."
            ),
        ),
        _ => MetaError::new(
            StatusCode::NOT_FOUND,
            132001,
            "(#132001) Template name does not exist in the translation",
            format!("template name ({name}) does not exist or is not approved"),
        ),
    }
}

fn accept(
    engine: &Engine,
    phone_number_id: &str,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: Endpoint,
) -> Result<Response, MetaError> {
    authorize(engine, headers)?;
    let message = validate(body, endpoint)?;
    engine.saw_phone_number_id(phone_number_id);
    if engine.upgrading() {
        return Err(MetaError::new(
            StatusCode::BAD_REQUEST,
            131057,
            "(#131057) Account in maintenance mode",
            "Business account is in maintenance mode: its throughput is being upgraded.",
        ));
    }
    let category = match engine.catalog.get(&message.name, &message.language) {
        Some(spec) => {
            if let Some(code) = catalog::send_refusal(&spec.status) {
                return Err(template_refusal(code, &message.name));
            }
            spec.category
        }
        None if engine.config.unapproved_templates.contains(&message.name) => {
            return Err(template_refusal(132001, &message.name));
        }
        None => TemplateCategory::Marketing,
    };
    if endpoint == Endpoint::Marketing && category != TemplateCategory::Marketing {
        // The exact code Meta answers is UNCONFIRMED (docs/providers.md §1.7).
        return Err(MetaError::invalid(format!(
            "The Marketing Messages API sends marketing templates only; {} is {}.",
            message.name,
            catalog::category_meta(category)
        )));
    }
    if matches!(message.recipient, Recipient::User(_)) && category == TemplateCategory::Authentication {
        let f = failure(131062);
        return Err(MetaError::new(
            StatusCode::BAD_REQUEST,
            f.code,
            format!("(#{}) {}", f.code, f.title),
            f.details,
        ));
    }
    let key = message.recipient.key();
    let chosen = match engine.config.meta_fail_codes.get(key) {
        Some(code) => Some(failure(*code)),
        None if category.is_marketing() && engine.stopped_marketing(key) => Some(MARKETING_STOPPED),
        None => None,
    };
    let admission = engine
        .decide(&Send {
            sender: phone_number_id,
            recipient: key,
            content: &message.content,
            chosen,
            chosen_later: engine.config.fail_async,
        })
        .map_err(|refusal| refused(engine, refusal))?;
    let paced = engine.config.paced_templates.contains(&message.name);
    let wamid = {
        let mut raw = key.as_bytes().to_vec();
        raw.extend_from_slice(&admission.unique.to_be_bytes());
        format!(
            "wamid.HBgL{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        )
    };
    let w = &engine.config.webhooks;
    let (recipient_id, recipient_user_id) = match &message.recipient {
        Recipient::Phone(digits) => (
            Some(digits.clone()),
            engine
                .config
                .user_ids
                .then(|| user_id_for(&engine.config.waba_id, digits)),
        ),
        Recipient::User(id) => (None, Some(id.to_string())),
    };
    if let Some(url) = &w.meta_url {
        let target = Target::Meta {
            url: url.clone(),
            app_secret: w.app_secret.clone(),
            waba_id: engine.config.waba_id.clone(),
            display_phone_number: engine.config.display_phone_number.clone(),
            phone_number_id: phone_number_id.to_string(),
            wamid: wamid.clone(),
            recipient_id,
            recipient_user_id,
            callback_data: message.callback_data.clone(),
            category: match endpoint {
                Endpoint::Marketing => "marketing_lite",
                Endpoint::Messages => catalog::category_name(category),
            },
            pricing_type: match &message.recipient {
                Recipient::Phone(digits) => engine.config.free_numbers.get(digits).copied().unwrap_or("regular"),
                Recipient::User(_) => "regular",
            },
            hold: paced.then(|| Hold {
                catalog: engine.catalog.clone(),
                name: message.name.clone(),
                language: message.language.clone(),
            }),
        };
        engine
            .webhooks
            .plan(target, engine.steps(admission.fate, UNDELIVERABLE, ECOSYSTEM, paced));
    }
    let contact = match &message.recipient {
        Recipient::Phone(digits) => json!({"input": message.input, "wa_id": digits}),
        Recipient::User(id) => json!({"input": message.input, "user_id": id.as_str()}),
    };
    let status = if paced {
        "held_for_quality_assessment"
    } else {
        "accepted"
    };
    Ok(Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{"id": wamid, "message_status": status}],
    }))
    .into_response())
}

fn refused(engine: &Engine, refusal: Refusal) -> MetaError {
    let throttled =
        |details: String| MetaError::new(StatusCode::BAD_REQUEST, 130429, "(#130429) Rate limit hit", details);
    match refusal {
        Refusal::ServerError => MetaError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            131000,
            "(#131000) Something went wrong",
            "Message failed to send due to an unknown error. Try again later.",
        ),
        Refusal::Throttled => throttled(
            "Message failed to send because there were too many messages sent from this phone number in a short period of time".into(),
        ),
        Refusal::SenderRate => throttled(format!(
            "Message failed to send because there were too many messages sent from this phone number in a short period of time (more than {} per second)",
            engine.config.mps
        )),
        Refusal::PairRate => MetaError::new(
            StatusCode::BAD_REQUEST,
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
        ),
        Refusal::FailNumber => MetaError::new(
            StatusCode::BAD_REQUEST,
            UNDELIVERABLE.code,
            format!("(#{}) {}", UNDELIVERABLE.code, UNDELIVERABLE.title),
            UNDELIVERABLE.details,
        ),
        Refusal::Chosen(f) => MetaError::new(
            StatusCode::BAD_REQUEST,
            f.code,
            format!("(#{}) {}", f.code, f.title),
            f.details,
        ),
    }
}

/// `GET /{version}/{phone_number_id}`: what a credentials check reads.
pub(crate) async fn phone_number(
    State(engine): State<Arc<Engine>>,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !version_ok(&version) {
        return unknown_version(&version);
    }
    let latency = engine.lookup();
    let throughput = engine.throughput();
    let response = match authorize(&engine, &headers) {
        Ok(()) => Json(json!({
            "verified_name": "pregon simulator",
            "code_verification_status": "VERIFIED",
            "display_phone_number": engine.config.display_phone_number,
            "quality_rating": "GREEN",
            "platform_type": "CLOUD_API",
            "throughput": {"level": throughput.as_meta()},
            "whatsapp_business_manager_messaging_limit": match throughput {
                Throughput::High => "TIER_UNLIMITED",
                Throughput::Standard => "TIER_2K",
            },
            "id": id,
        }))
        .into_response(),
        Err(error) => error.into_response(&engine),
    };
    tokio::time::sleep(latency).await;
    response
}

/// The languages WhatsApp templates can be written in.
const TEMPLATE_LANGUAGES: &[&str] = &[
    "af", "sq", "ar", "az", "bn", "bg", "ca", "zh_CN", "zh_HK", "zh_TW", "hr", "cs", "da", "nl", "en", "en_GB",
    "en_US", "et", "fil", "fi", "fr", "ka", "de", "el", "gu", "ha", "he", "hi", "hu", "id", "ga", "it", "ja", "kn",
    "kk", "rw_RW", "ko", "ky_KG", "lo", "lv", "lt", "mk", "ms", "ml", "mr", "nb", "fa", "pl", "pt_BR", "pt_PT", "pa",
    "ro", "ru", "sr", "sk", "sl", "es", "es_AR", "es_ES", "es_MX", "sw", "sv", "ta", "te", "th", "tr", "uk", "ur",
    "uz", "vi", "zu",
];

/// Templates per page when the request names no `limit`, and the most it may ask.
const DEFAULT_PAGE: usize = 25;
const MAX_PAGE: usize = 1000;

/// `GET /{version}/{waba_id}/message_templates`.
///
/// - With `name` (and maybe `language`): that template; from the catalog if it knows the
///   name, else in every language (or the one asked for), APPROVED unless
///   `--unapproved-templates` lists it (then REJECTED).
/// - Without: every template of the catalog, by name then language, `limit` per page (25
///   by default), with `paging.cursors` and, when more follow, `paging.next`. `fields` is
///   accepted and ignored: objects are always whole.
pub(crate) async fn templates(
    State(engine): State<Arc<Engine>>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !version_ok(&version) {
        return unknown_version(&version);
    }
    let latency = engine.lookup();
    let response = match authorize(&engine, &headers) {
        Ok(()) => match query.get("name").filter(|n| !n.is_empty()) {
            Some(name) => Json(named_templates(&engine, name, query.get("language"))).into_response(),
            None => match template_page(&engine, &version, &waba_id, &query, &headers) {
                Ok(page) => Json(page).into_response(),
                Err(error) => error.into_response(&engine),
            },
        },
        Err(error) => error.into_response(&engine),
    };
    tokio::time::sleep(latency).await;
    response
}

fn named_templates(engine: &Engine, name: &str, language: Option<&String>) -> Value {
    let language = language.filter(|l| !l.is_empty());
    let known: Vec<TemplateSpec> = engine
        .catalog
        .all()
        .into_iter()
        .filter(|t| t.name == name && language.is_none_or(|l| *l == t.language))
        .collect();
    let data: Vec<Value> = if !engine.catalog.languages(name).is_empty() {
        known.iter().map(catalog::template_object).collect()
    } else {
        let languages: Vec<&str> = match language {
            Some(language) => vec![language.as_str()],
            None => TEMPLATE_LANGUAGES.to_vec(),
        };
        let approved = !engine.config.unapproved_templates.contains(name);
        languages
            .iter()
            .map(|language| {
                json!({
                    "name": name,
                    "language": language,
                    "status": if approved { "APPROVED" } else { "REJECTED" },
                    "category": "MARKETING",
                    "components": [],
                    "id": catalog::template_id(name, language).to_string(),
                })
            })
            .collect()
    };
    json!({"data": data, "paging": {"cursors": {"before": "MAZDZD", "after": "MAZDZD"}}})
}

/// A page cursor: the index of the first template of the page, hidden the way Graph
/// cursors look.
fn cursor(index: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("pregon:{index}"))
}

fn cursor_index(cursor: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(raw).ok()?.strip_prefix("pregon:")?.parse().ok()
}

fn template_page(
    engine: &Engine,
    version: &str,
    waba_id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Value, MetaError> {
    let limit = match query.get("limit") {
        None => DEFAULT_PAGE,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| MetaError::invalid(format!("limit must be between 1 and {MAX_PAGE}")))?,
    };
    let start = match query.get("after") {
        None => 0,
        Some(after) => cursor_index(after).ok_or_else(|| MetaError::invalid("Invalid cursor for after"))?,
    };
    let all = engine.catalog.all();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(catalog::template_object)
        .collect();
    let end = start + page.len();
    let mut paging = json!({"cursors": {"before": cursor(start), "after": cursor(end.saturating_sub(1).max(start))}});
    if end < all.len() {
        // Graph's `after` points at the last object of the page; ours at the next one.
        paging["cursors"]["after"] = cursor(end).into();
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let mut next = format!(
            "http://{host}/{version}/{waba_id}/message_templates?limit={limit}&after={}",
            cursor(end)
        );
        if let Some(fields) = query.get("fields") {
            next.push_str("&fields=");
            next.push_str(&fields.replace(',', "%2C"));
        }
        paging["next"] = next.into();
    }
    Ok(json!({"data": page, "paging": paging}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(body: Value) -> Option<u32> {
        validate(body.to_string().as_bytes(), Endpoint::Messages)
            .err()
            .map(|e| e.code)
    }

    #[test]
    fn versions() {
        assert!(version_ok("v21.0"));
        assert!(!version_ok("v21"));
        assert!(!version_ok("stats"));
    }

    #[test]
    fn validation_codes() {
        let good = json!({"messaging_product":"whatsapp","to":"16505551234","type":"template",
            "template":{"name":"t","language":{"code":"es"}}});
        assert_eq!(code_of(good.clone()), None);
        assert_eq!(validate(b"{", Endpoint::Messages).err().map(|e| e.code), Some(100));
        let mut m = good.clone();
        m.as_object_mut().unwrap().remove("messaging_product");
        assert_eq!(code_of(m), Some(131008));
        let mut m = good.clone();
        m["to"] = json!("+1 650 555");
        assert_eq!(code_of(m), Some(100));
        let mut m = good.clone();
        m["template"]["language"] = json!({});
        assert_eq!(code_of(m), Some(131008));
        let mut m = good.clone();
        m["template"]["components"] = json!({});
        assert_eq!(code_of(m), Some(100));
        let mut m = good.clone();
        m["type"] = json!("text");
        assert_eq!(code_of(m), Some(131047));
        let mut m = good.clone();
        m["type"] = json!("hologram");
        assert_eq!(code_of(m), Some(131051));

        // A business-scoped user ID instead of a phone.
        let mut m = good.clone();
        m.as_object_mut().unwrap().remove("to");
        m["recipient"] = json!("US.13491208655302741918");
        assert_eq!(code_of(m.clone()), None);
        m["recipient"] = json!("13491208655302741918");
        assert_eq!(code_of(m.clone()), Some(100));
        m["recipient"] = json!(7);
        assert_eq!(code_of(m.clone()), Some(100));
        m.as_object_mut().unwrap().remove("recipient");
        assert_eq!(code_of(m), Some(131008));

        // The Marketing Messages API checks its own fields.
        let marketing = |m: Value| {
            validate(m.to_string().as_bytes(), Endpoint::Marketing)
                .err()
                .map(|e| e.code)
        };
        let mut m = good.clone();
        m["product_policy"] = json!("CLOUD_API_FALLBACK");
        m["message_activity_sharing"] = json!(true);
        assert_eq!(marketing(m.clone()), None);
        m["product_policy"] = json!("LOOSE");
        assert_eq!(marketing(m.clone()), Some(100));
        let mut m = good;
        m["message_activity_sharing"] = json!("yes");
        assert_eq!(marketing(m), Some(100));
    }

    #[test]
    fn cursors_round_trip_and_bsuids_are_stable() {
        assert_eq!(cursor_index(&cursor(17)), Some(17));
        assert_eq!(cursor_index("garbage"), None);
        let a = user_id_for("100000000000001", "584121234567");
        assert!(a.starts_with("VE."), "{a}");
        assert_eq!(a, user_id_for("100000000000001", "584121234567"));
        assert_ne!(
            a,
            user_id_for("100000000000002", "584121234567"),
            "scoped to the account"
        );
        assert!(BusinessUserId::parse(&a).is_ok());
    }
}
