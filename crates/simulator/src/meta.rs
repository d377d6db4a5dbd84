//! The Meta WhatsApp Cloud API, as far as pregon uses it (providers.md §1):
//!
//! - `POST /{version}/{phone_number_id}/messages`: template messages, Bearer token;
//! - `GET /{version}/{phone_number_id}`: the phone number, a credentials check;
//! - `GET /{version}/{waba_id}/message_templates?name=`: template approval.
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

use crate::engine::{Engine, Refusal, Send};
use crate::webhooks::{Failure, Target};

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

/// A template send that passed validation.
struct TemplateSend {
    /// `to` as given.
    input: String,
    /// `to` as digits.
    wa_id: String,
    name: String,
    /// The whole `template` object as JSON text: what the recipient would read.
    content: String,
    callback_data: Option<String>,
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

/// The template message shape of providers.md §1.1.
fn validate(body: &[u8]) -> Result<TemplateSend, MetaError> {
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
    let to = string_field(&message, "to", "to")?;
    let wa_id = crate::phone::meta_to(to).ok_or_else(|| {
        MetaError::invalid(format!(
            "to must be a phone number in digits (E.164 without separators), not {to:?}"
        ))
    })?;
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
    string_field(language, "code", "template.language.code")?;
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
        input: to.to_string(),
        wa_id,
        name: name.to_string(),
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
    if !version_ok(&version) {
        return unknown_version(&version);
    }
    let latency = engine.request(&phone_number_id);
    let response = match accept(&engine, &phone_number_id, &headers, &body) {
        Ok(response) => response,
        Err(error) => {
            engine.rejected(error.code);
            error.into_response(&engine)
        }
    };
    tokio::time::sleep(latency).await;
    response
}

fn accept(engine: &Engine, phone_number_id: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, MetaError> {
    authorize(engine, headers)?;
    let message = validate(body)?;
    if engine.config.unapproved_templates.contains(&message.name) {
        return Err(MetaError::new(
            StatusCode::NOT_FOUND,
            132001,
            "(#132001) Template name does not exist in the translation",
            format!("template name ({}) does not exist or is not approved", message.name),
        ));
    }
    let admission = engine
        .decide(&Send {
            sender: phone_number_id,
            recipient: &message.wa_id,
            content: &message.content,
        })
        .map_err(|refusal| refused(engine, refusal))?;
    let wamid = {
        let mut raw = message.wa_id.as_bytes().to_vec();
        raw.extend_from_slice(&admission.unique.to_be_bytes());
        format!(
            "wamid.HBgL{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        )
    };
    let w = &engine.config.webhooks;
    if let Some(url) = &w.meta_url {
        let target = Target::Meta {
            url: url.clone(),
            app_secret: w.app_secret.clone(),
            waba_id: engine.config.waba_id.clone(),
            display_phone_number: engine.config.display_phone_number.clone(),
            phone_number_id: phone_number_id.to_string(),
            wamid: wamid.clone(),
            recipient_id: message.wa_id.clone(),
            callback_data: message.callback_data.clone(),
        };
        engine
            .webhooks
            .plan(target, engine.steps(admission.fate, UNDELIVERABLE, ECOSYSTEM));
    }
    Ok(Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": message.input, "wa_id": message.wa_id}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
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
    let response = match authorize(&engine, &headers) {
        Ok(()) => Json(json!({
            "verified_name": "pregon simulator",
            "code_verification_status": "VERIFIED",
            "display_phone_number": engine.config.display_phone_number,
            "quality_rating": "GREEN",
            "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD"},
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

/// `GET /{version}/{waba_id}/message_templates?name=[&language=]`: any named template exists
/// in every language (or in the one asked for), APPROVED unless `--unapproved-templates`
/// lists it (then REJECTED). Without a name, the list is empty.
pub(crate) async fn templates(
    State(engine): State<Arc<Engine>>,
    Path((version, _waba_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !version_ok(&version) {
        return unknown_version(&version);
    }
    let latency = engine.lookup();
    let response = match authorize(&engine, &headers) {
        Ok(()) => {
            let name = query.get("name").filter(|n| !n.is_empty());
            let languages: Vec<&str> = match (name, query.get("language").filter(|l| !l.is_empty())) {
                (None, _) => Vec::new(),
                (Some(_), Some(language)) => vec![language.as_str()],
                (Some(_), None) => TEMPLATE_LANGUAGES.to_vec(),
            };
            let data: Vec<Value> = languages
                .iter()
                .filter_map(|language| {
                    let name = name?;
                    let approved = !engine.config.unapproved_templates.contains(name);
                    let id = 1_000_000_000_000_000 + crate::engine::hash_of(&[name, language]) % 9_000_000_000_000_000;
                    Some(json!({
                        "name": name,
                        "language": language,
                        "status": if approved { "APPROVED" } else { "REJECTED" },
                        "category": "MARKETING",
                        "components": [],
                        "id": id.to_string(),
                    }))
                })
                .collect();
            Json(json!({"data": data, "paging": {"cursors": {"before": "MAZDZD", "after": "MAZDZD"}}})).into_response()
        }
        Err(error) => error.into_response(&engine),
    };
    tokio::time::sleep(latency).await;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(body: Value) -> Option<u32> {
        validate(body.to_string().as_bytes()).err().map(|e| e.code)
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
        assert_eq!(validate(b"{").err().map(|e| e.code), Some(100));
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
        let mut m = good;
        m["type"] = json!("hologram");
        assert_eq!(code_of(m), Some(131051));
    }
}
