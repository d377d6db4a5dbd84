//! The WhatsApp Business Cloud API (Meta): template messages with a header image parameter
//! and body parameters in placeholder order (docs/providers.md §1).
//!
//! - `POST {base_url}/{phone_number_id}/messages` with `Authorization: Bearer <token>`; the
//!   API version is part of the base URL (`https://graph.facebook.com/v21.0`), so it is a
//!   setting. A recipient is a phone (`to`) or, without one, a business-scoped user ID
//!   (`recipient`).
//! - `POST {base_url}/{phone_number_id}/marketing_messages`: the Marketing Messages API, for
//!   `marketing` templates of a sender that opted in ([`MarketingMessages`]); the same body,
//!   plus `product_policy` and `message_activity_sharing`.
//! - `GET {base_url}/{phone_number_id}?fields=…`: the number, its throughput level and quality
//!   ([`Meta::phone_number`]).
//! - `GET {base_url}/{waba_id}/message_templates`: one template by name at pre-flight, or all
//!   of them, page after page ([`Meta::list_templates`]).

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use pregon_domain::{ErrorClass, MessagingTier, Millis, TemplateCategory, TemplateQuality};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::template_sync::ProviderTemplate;
use crate::throughput::ThroughputLevel;
use crate::{
    classify, excerpt, retry_after, transport_error, unreadable_success, Accepted, ConfigError, Credentials,
    ErrorReason, OutboundMessage, Preflight, Provider, ProviderError, SendStatus,
};

/// The Cloud API base URL when a sender names none.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com/v21.0";

/// Templates asked for per page when listing them all.
pub const TEMPLATE_PAGE_SIZE: u32 = 100;

/// Pages followed at most when listing templates: a WhatsApp Business Account holds a few
/// hundred templates, so more pages than this means the cursors go round in circles.
const MAX_TEMPLATE_PAGES: usize = 1_000;

/// The template fields pregon reads (docs/providers.md §2).
const TEMPLATE_FIELDS: &str =
    "id,name,language,status,category,quality_score,parameter_format,components,message_send_ttl_seconds,rejected_reason";

/// The phone number fields pregon reads at pre-flight.
const PHONE_NUMBER_FIELDS: &str =
    "id,display_phone_number,verified_name,quality_rating,throughput,whatsapp_business_manager_messaging_limit";

/// What the Marketing Messages API does when it cannot deliver a message itself
/// (`product_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductPolicy {
    /// `STRICT`: only through the Marketing Messages API.
    Strict,
    /// `CLOUD_API_FALLBACK`: through the Cloud API when the Marketing Messages API cannot.
    CloudApiFallback,
}

impl ProductPolicy {
    /// Reads `STRICT` or `CLOUD_API_FALLBACK`, in any case.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "STRICT" => Some(Self::Strict),
            "CLOUD_API_FALLBACK" => Some(Self::CloudApiFallback),
            _ => None,
        }
    }

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "STRICT",
            Self::CloudApiFallback => "CLOUD_API_FALLBACK",
        }
    }
}

/// A sender's opt-in to the Marketing Messages API (docs/providers.md §1.7). Meta sets the
/// time-to-live of a marketing message on its template (`message_send_ttl_seconds`, 12 h to
/// 30 days), not on the send, so there is no time-to-live here; pregon itself never sends a
/// message after its `expires_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketingMessages {
    /// `product_policy`; Meta's default when unset.
    pub product_policy: Option<ProductPolicy>,
    /// `message_activity_sharing`; Meta's default when unset.
    pub activity_sharing: Option<bool>,
}

impl MarketingMessages {
    /// The opt-in a sender's credentials hold: `marketing_messages_api: true`, with
    /// `marketing_product_policy` and `marketing_activity_sharing`. `None` without the opt-in.
    pub fn from_credentials(credentials: &Credentials) -> Result<Option<Self>, ConfigError> {
        let product_policy = match credentials.marketing_product_policy.as_deref() {
            None => None,
            Some(p) => Some(ProductPolicy::parse(p).ok_or_else(|| ConfigError::InvalidCredential {
                name: "marketing_product_policy",
                reason: format!("{p:?} is neither STRICT nor CLOUD_API_FALLBACK"),
            })?),
        };
        Ok(credentials
            .marketing_messages_api
            .unwrap_or(false)
            .then_some(MarketingMessages {
                product_policy,
                activity_sharing: credentials.marketing_activity_sharing,
            }))
    }
}

/// A Cloud API number as pre-flight reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneNumberInfo {
    pub id: Option<String>,
    pub display_phone_number: Option<String>,
    /// `throughput.level`: 80 or 1,000 messages per second.
    pub throughput: Option<ThroughputLevel>,
    /// `quality_rating`.
    pub quality: Option<TemplateQuality>,
    /// `whatsapp_business_manager_messaging_limit` (the portfolio's daily limit of unique
    /// users outside the customer-service window).
    pub messaging_limit: Option<MessagingTier>,
}

impl PhoneNumberInfo {
    /// Reads the phone number node tolerantly: unknown or odd fields are absent.
    pub fn from_meta(node: &Value) -> Self {
        let text = |v: &Value| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        PhoneNumberInfo {
            id: text(&node["id"]),
            display_phone_number: text(&node["display_phone_number"]),
            throughput: node["throughput"]["level"]
                .as_str()
                .and_then(ThroughputLevel::parse_meta),
            quality: node["quality_rating"].as_str().map(TemplateQuality::parse_meta),
            messaging_limit: node["whatsapp_business_manager_messaging_limit"]
                .as_str()
                .and_then(MessagingTier::parse),
        }
    }
}

pub struct Meta {
    http: reqwest::Client,
    base: String,
    phone_number_id: String,
    waba_id: Option<String>,
    /// Parsed once: a URL parse per request is measurable at thousands per second.
    endpoint: reqwest::Url,
    /// The Marketing Messages API endpoint and options, when the sender opted in.
    marketing: Option<(reqwest::Url, MarketingMessages)>,
    bearer: String,
}

impl Meta {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        phone_number_id: String,
        access_token: String,
    ) -> Result<Self, ConfigError> {
        let base = crate::base_url(base_url)?;
        Ok(Meta {
            http,
            endpoint: reqwest::Url::parse(&format!("{base}/{phone_number_id}/messages"))
                .map_err(|e| ConfigError::BaseUrl(format!("{base_url}: {e}")))?,
            marketing: None,
            base,
            phone_number_id,
            waba_id: None,
            bearer: format!("Bearer {access_token}"),
        })
    }

    /// The WhatsApp Business Account the templates live in; without it, pre-flight checks
    /// the credentials only.
    pub fn with_waba_id(mut self, waba_id: Option<String>) -> Self {
        self.waba_id = waba_id.filter(|w| !w.trim().is_empty());
        self
    }

    /// Sends `marketing` templates through the Marketing Messages API (`None`: never).
    pub fn with_marketing_messages(mut self, marketing: Option<MarketingMessages>) -> Self {
        self.marketing = marketing.and_then(|m| {
            reqwest::Url::parse(&format!("{}/{}/marketing_messages", self.base, self.phone_number_id))
                .ok()
                .map(|url| (url, m))
        });
        self
    }

    /// The JSON body of a template message on the Cloud API.
    pub fn body(message: &OutboundMessage) -> Value {
        serde_json::to_value(SendBody::new(message, None)).unwrap_or_default()
    }

    /// Where this sender sends `message`, and with what body.
    fn route<'a>(&'a self, message: &'a OutboundMessage) -> (&'a reqwest::Url, SendBody<'a>) {
        match &self.marketing {
            Some((url, options)) if message.category == Some(TemplateCategory::Marketing) => {
                (url, SendBody::new(message, Some(options)))
            }
            _ => (&self.endpoint, SendBody::new(message, None)),
        }
    }

    /// A `GET` under the base URL, answered 2xx with its body or classified as an error.
    async fn get(&self, url: &str, query: &[(&str, &str)]) -> Result<bytes::Bytes, ProviderError> {
        let response = self
            .http
            .get(url)
            .query(query)
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(error_answer(status.as_u16(), wait, &bytes))
    }

    /// `GET /{phone_number_id}`: the number's throughput level, quality rating and messaging
    /// limit. A bad token answers its error (190, class `Sender`).
    pub async fn phone_number(&self) -> Result<PhoneNumberInfo, ProviderError> {
        let bytes = self
            .get(
                &format!("{}/{}", self.base, self.phone_number_id),
                &[("fields", PHONE_NUMBER_FIELDS)],
            )
            .await?;
        // A node we cannot read still proves the token works: the facts are just unknown.
        Ok(serde_json::from_slice::<Value>(&bytes)
            .map(|v| PhoneNumberInfo::from_meta(&v))
            .unwrap_or_default())
    }

    /// Every template of the WhatsApp Business Account, following the pages (`paging.next`,
    /// with the `after` cursor) to the last. Template objects that cannot be read (no name or
    /// language) are skipped and logged.
    pub async fn list_templates(&self) -> Result<Vec<ProviderTemplate>, ProviderError> {
        let waba_id = self.waba_id()?;
        let url = format!("{}/{waba_id}/message_templates", self.base);
        let limit = TEMPLATE_PAGE_SIZE.to_string();
        let mut templates = Vec::new();
        let mut after: Option<String> = None;
        let mut cursors = HashSet::new();
        for _ in 0..MAX_TEMPLATE_PAGES {
            let mut query = vec![("fields", TEMPLATE_FIELDS), ("limit", limit.as_str())];
            if let Some(cursor) = &after {
                query.push(("after", cursor.as_str()));
            }
            let bytes = self.get(&url, &query).await?;
            let page = TemplatePage::parse(&bytes)?;
            for object in &page.data {
                match ProviderTemplate::from_meta(object) {
                    Ok(t) => templates.push(t),
                    Err(error) => tracing::warn!(%error, waba_id, "skipped a template object"),
                }
            }
            match page.next_cursor {
                None => return Ok(templates),
                Some(cursor) if !cursors.insert(cursor.clone()) => {
                    tracing::warn!(waba_id, cursor, "template pages repeat a cursor; stopping");
                    return Ok(templates);
                }
                Some(cursor) => after = Some(cursor),
            }
        }
        Err(bad_response(format!(
            "the template list of {waba_id} goes on beyond {MAX_TEMPLATE_PAGES} pages"
        )))
    }

    fn waba_id(&self) -> Result<&str, ProviderError> {
        self.waba_id.as_deref().ok_or_else(|| {
            ProviderError::local(
                ErrorClass::Sender,
                "missing_waba_id",
                "the sender has no waba_id: its templates cannot be read",
                None,
            )
        })
    }
}

/// The send request, borrowed from the message: serialised straight to bytes, with no
/// intermediate JSON tree (one of the larger costs per message at thousands a second).
#[derive(Serialize)]
struct SendBody<'a> {
    messaging_product: &'static str,
    recipient_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    /// A business-scoped user ID, when there is no phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    template: TemplateBody<'a>,
    biz_opaque_callback_data: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_activity_sharing: Option<bool>,
}

#[derive(Serialize)]
struct TemplateBody<'a> {
    name: &'a str,
    language: Language<'a>,
    components: Vec<Component<'a>>,
}

#[derive(Serialize)]
struct Language<'a> {
    code: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Component<'a> {
    Header { parameters: [HeaderParameter<'a>; 1] },
    Body { parameters: Vec<TextParameter<'a>> },
}

#[derive(Serialize)]
struct HeaderParameter<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    image: Link<'a>,
}

#[derive(Serialize)]
struct Link<'a> {
    link: &'a str,
}

#[derive(Serialize)]
struct TextParameter<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter_name: Option<&'a str>,
    text: &'a str,
}

impl<'a> SendBody<'a> {
    fn new(message: &'a OutboundMessage, marketing: Option<&MarketingMessages>) -> Self {
        let mut components = Vec::with_capacity(2);
        if let Some(link) = &message.rendered.header_image {
            components.push(Component::Header {
                parameters: [HeaderParameter {
                    kind: "image",
                    image: Link { link },
                }],
            });
        }
        if !message.rendered.body_parameters.is_empty() {
            let names = message.body_parameter_names.as_deref().unwrap_or(&[]);
            let parameters = message
                .rendered
                .body_parameters
                .iter()
                .enumerate()
                .map(|(i, text)| TextParameter {
                    kind: "text",
                    parameter_name: names.get(i).map(String::as_str),
                    text,
                })
                .collect();
            components.push(Component::Body { parameters });
        }
        let phone = message.to.trim().trim_start_matches('+');
        let (to, recipient) = match (&message.recipient_user_id, phone.is_empty()) {
            (Some(user_id), true) => (None, Some(user_id.as_str())),
            _ => (Some(phone), None),
        };
        SendBody {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to,
            recipient,
            kind: "template",
            template: TemplateBody {
                name: &message.template_name,
                language: Language {
                    code: &message.language,
                },
                components,
            },
            biz_opaque_callback_data: &message.callback_data,
            product_policy: marketing.and_then(|m| m.product_policy).map(ProductPolicy::as_str),
            message_activity_sharing: marketing.and_then(|m| m.activity_sharing),
        }
    }
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    contacts: Vec<SentContact>,
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentContact {
    wa_id: Option<String>,
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
    message_status: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: MetaError,
}

#[derive(Deserialize)]
struct MetaError {
    code: Option<i64>,
    message: Option<String>,
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    details: Option<String>,
}

/// One page of a template list: its objects, and the cursor of the next page when there
/// is one (`paging.next` present).
struct TemplatePage {
    data: Vec<Value>,
    next_cursor: Option<String>,
}

impl TemplatePage {
    fn parse(bytes: &[u8]) -> Result<Self, ProviderError> {
        let unreadable = |why: &str| bad_response(format!("unreadable template list ({why}): {}", excerpt(bytes)));
        let page: Value = serde_json::from_slice(bytes).map_err(|e| unreadable(&e.to_string()))?;
        let Some(data) = page.get("data").and_then(Value::as_array) else {
            return Err(unreadable("no data array"));
        };
        let paging = &page["paging"];
        let next_cursor = paging["next"].as_str().filter(|n| !n.is_empty()).and_then(|next| {
            paging["cursors"]["after"]
                .as_str()
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .or_else(|| {
                    reqwest::Url::parse(next)
                        .ok()?
                        .query_pairs()
                        .find(|(k, _)| k == "after")
                        .map(|(_, v)| v.into_owned())
                })
        });
        Ok(TemplatePage {
            data: data.clone(),
            next_cursor,
        })
    }
}

/// An answer that cannot be read: worth trying again later.
fn bad_response(message: String) -> ProviderError {
    ProviderError::local(ErrorClass::Retryable, "bad_response", message, None)
}

/// A Cloud API error answer, classified by its code (or its status without one).
fn error_answer(status: u16, wait: Option<Duration>, bytes: &[u8]) -> ProviderError {
    let (code, text) = match serde_json::from_slice::<ErrorEnvelope>(bytes) {
        Ok(env) => {
            let mut text = env.error.message.unwrap_or_default();
            if let Some(details) = env.error.error_data.and_then(|d| d.details) {
                text = format!("{text} ({details})");
            }
            (env.error.code, text)
        }
        Err(_) => (None, excerpt(bytes)),
    };
    let class = match code {
        Some(c) => classify::meta(c, status),
        None => classify::by_status(status),
    };
    let hold = code
        .and_then(classify::meta_throttle)
        .or_else(|| (status == 429).then(|| Duration::from_secs(1)));
    ProviderError::answered(
        class,
        code.and_then(classify::meta_reason),
        code.map(|c| c.to_string()).unwrap_or_else(|| format!("http_{status}")),
        text,
        wait.or(hold),
    )
}

/// Language codes compare case-insensitively, `-` and `_` alike (`en_US` = `en-us`).
fn same_language(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace('-', "_");
    norm(a) == norm(b)
}

/// Checks that a message can go at all before any request: it has a recipient and has not
/// expired.
fn check_sendable(message: &OutboundMessage, now: Millis) -> Result<(), ProviderError> {
    if let Some(at) = message.expires_at {
        if at <= now {
            return Err(crate::expired(at, now));
        }
    }
    if message.to.trim().trim_start_matches('+').is_empty() && message.recipient_user_id.is_none() {
        return Err(ProviderError::local(
            ErrorClass::Permanent,
            "no_recipient",
            "the message has neither a phone number nor a business-scoped user ID",
            None,
        ));
    }
    Ok(())
}

#[async_trait]
impl Provider for Meta {
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, ProviderError> {
        check_sendable(message, crate::now_millis())?;
        let (url, body) = self.route(message);
        let response = self
            .http
            .post(url.clone())
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        if status.is_success() {
            return match serde_json::from_slice::<SendResponse>(&bytes) {
                Ok(r) if !r.messages.is_empty() => {
                    let sent = &r.messages[0];
                    let contact = r.contacts.first();
                    Ok(Accepted {
                        provider_message_id: sent.id.clone(),
                        recorded_text: None,
                        message_status: sent.message_status.as_deref().and_then(SendStatus::parse),
                        wa_id: contact.and_then(|c| c.wa_id.clone()),
                        user_id: contact
                            .and_then(|c| c.user_id.as_deref())
                            .and_then(|u| pregon_domain::BusinessUserId::parse(u).ok()),
                    })
                }
                // A 2xx we cannot read: the message may well have been accepted.
                _ => Err(unreadable_success(&bytes)),
            };
        }
        Err(error_answer(status.as_u16(), wait, &bytes))
    }

    async fn preflight(&self, template_name: &str, language: &str) -> Result<(), ProviderError> {
        self.preflight_details(template_name, language).await.map(|_| ())
    }

    /// `GET /{phone_number_id}` checks the token and reads the number's throughput and
    /// quality; with a WABA id, `GET /{waba_id}/message_templates?name=…` checks the template
    /// is approved in that language.
    async fn preflight_details(&self, template_name: &str, language: &str) -> Result<Preflight, ProviderError> {
        let number = self.phone_number().await?;
        let mut report = Preflight {
            throughput: number.throughput,
            quality: number.quality,
            messaging_limit: number.messaging_limit,
            template: None,
        };
        let Some(waba_id) = &self.waba_id else {
            return Ok(report);
        };
        let bytes = self
            .get(
                &format!("{}/{waba_id}/message_templates", self.base),
                &[("name", template_name), ("limit", "100")],
            )
            .await?;
        let page = TemplatePage::parse(&bytes)?;
        let refused = |code: &str, message: String, reason: ErrorReason| {
            ProviderError::local(ErrorClass::Campaign, code, message, Some(reason))
        };
        let named: Vec<ProviderTemplate> = page
            .data
            .iter()
            .filter_map(|o| ProviderTemplate::from_meta(o).ok())
            .filter(|t| t.name == template_name)
            .collect();
        let Some(entry) = named.iter().find(|t| same_language(&t.language, language)) else {
            let languages: Vec<&str> = named.iter().map(|t| t.language.as_str()).collect();
            return Err(refused(
                "template_not_found",
                if languages.is_empty() {
                    format!("WhatsApp Business Account {waba_id} has no template named {template_name:?}")
                } else {
                    format!(
                        "template {template_name:?} exists in {} but not in {language:?}",
                        languages.join(", ")
                    )
                },
                ErrorReason::TemplateUnavailable,
            ));
        };
        if entry.provider_status != "APPROVED" {
            let reason = match entry.provider_status.as_str() {
                "PAUSED" => ErrorReason::TemplatePaused,
                "DISABLED" => ErrorReason::TemplateDisabled,
                _ => ErrorReason::TemplateUnavailable,
            };
            return Err(refused(
                "template_not_approved",
                format!(
                    "template {template_name:?} ({language}) is {}, not APPROVED",
                    if entry.provider_status.is_empty() {
                        "of unknown status"
                    } else {
                        &entry.provider_status
                    }
                ),
                reason,
            ));
        }
        report.template = Some(entry.clone());
        Ok(report)
    }

    async fn list_templates(&self) -> Result<Vec<ProviderTemplate>, ProviderError> {
        Meta::list_templates(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorClass;
    use pregon_domain::template::Rendered;
    use serde_json::json;
    use std::time::Duration;
    use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn message() -> OutboundMessage {
        OutboundMessage {
            to: "+16505551234".into(),
            from: "+593995683452".into(),
            content_sid: Some("HX0123456789abcdef0123456789abcdef".into()),
            status_callback: Some("https://pregon.example.com/webhooks/twilio".into()),
            template_name: "order_update".into(),
            language: "en_US".into(),
            rendered: Rendered {
                text: "Hi Asha, ORD-9271".into(),
                body_parameters: vec!["Asha".into(), "ORD-9271".into()],
                header_image: Some("https://cdn.example.com/a.jpg".into()),
            },
            callback_data: "77".into(),
            recipient_user_id: None,
            category: None,
            expires_at: None,
            body_parameter_names: None,
        }
    }

    fn meta(server: &MockServer, timeout: Duration) -> Meta {
        Meta::new(
            crate::http_client(timeout),
            &format!("{}/v21.0", server.uri()),
            "1142".into(),
            "EAAG-token".into(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn sends_the_documented_template_shape() {
        let server = MockServer::start().await;
        let expected = json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"template",
            "template":{"name":"order_update","language":{"code":"en_US"},
              "components":[
               {"type":"header","parameters":[{"type":"image","image":{"link":"https://cdn.example.com/a.jpg"}}]},
               {"type":"body","parameters":[{"type":"text","text":"Asha"},{"type":"text","text":"ORD-9271"}]}]},
            "biz_opaque_callback_data":"77"});
        Mock::given(method("POST"))
            .and(path("/v21.0/1142/messages"))
            .and(header("authorization", "Bearer EAAG-token"))
            .and(body_json(expected))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"messaging_product":"whatsapp",
                "contacts":[{"input":"16505551234","wa_id":"16505551234"}],
                "messages":[{"id":"wamid.HBgL123","message_status":"accepted"}]})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let accepted = meta(&server, Duration::from_secs(5)).send(&message()).await.unwrap();
        assert_eq!(accepted.provider_message_id, "wamid.HBgL123");
    }

    async fn error_for(status: u16, body: Value, headers: &[(&str, &str)]) -> ProviderError {
        let server = MockServer::start().await;
        let mut resp = ResponseTemplate::new(status).set_body_json(body);
        for (k, v) in headers {
            resp = resp.insert_header(*k, *v);
        }
        Mock::given(method("POST")).respond_with(resp).mount(&server).await;
        meta(&server, Duration::from_secs(5))
            .send(&message())
            .await
            .unwrap_err()
    }

    fn meta_error(code: i64, msg: &str) -> Value {
        json!({"error":{"message":msg,"type":"OAuthException","code":code,"error_data":{"messaging_product":"whatsapp","details":"more"},"fbtrace_id":"x"}})
    }

    #[tokio::test]
    async fn classifies_errors_by_code() {
        let e = error_for(400, meta_error(130429, "(#130429) Rate limit hit"), &[]).await;
        assert_eq!((e.class(), e.code()), (ErrorClass::Retryable, "130429"));
        assert_eq!(e.message(), "(#130429) Rate limit hit (more)");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)), "throttling slows down");
        assert!(e.is_throttled());

        let e = error_for(400, meta_error(131026, "Message undeliverable"), &[]).await;
        assert_eq!((e.class(), e.code()), (ErrorClass::Permanent, "131026"));

        let e = error_for(401, meta_error(190, "Access token has expired"), &[]).await;
        assert_eq!(e.class(), ErrorClass::Sender);
        assert!(!e.is_ambiguous() && !e.is_throttled());

        let e = error_for(400, meta_error(131057, "Account in maintenance mode"), &[]).await;
        assert_eq!((e.class(), e.is_throttled()), (ErrorClass::Retryable, true));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(60)));

        let e = error_for(400, meta_error(132015, "Template is paused"), &[]).await;
        assert_eq!((e.class(), e.code()), (ErrorClass::Campaign, "132015"));

        // A pair-rate limit concerns one recipient: it spends the message's attempt.
        let e = error_for(400, meta_error(131056, "Pair rate limit hit"), &[]).await;
        assert_eq!((e.class(), e.is_throttled()), (ErrorClass::Retryable, false));

        // A Retry-After wins over the default hold.
        let e = error_for(
            429,
            meta_error(4, "Application request limit reached"),
            &[("retry-after", "12")],
        )
        .await;
        assert_eq!(
            (e.retry_after(), e.is_throttled()),
            (Some(Duration::from_secs(12)), true)
        );
    }

    #[tokio::test]
    async fn falls_back_on_status_and_reads_retry_after() {
        let e = error_for(503, json!({"oops": true}), &[("retry-after", "7")]).await;
        assert_eq!((e.class(), e.code()), (ErrorClass::Retryable, "http_503"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.is_throttled(), "the provider asked us to wait");
        let e = error_for(503, json!({"oops": true}), &[]).await;
        assert_eq!((e.retry_after(), e.is_throttled()), (None, false));
        let e = error_for(429, json!({}), &[]).await;
        assert_eq!((e.class(), e.is_throttled()), (ErrorClass::Retryable, true));
        let e = error_for(404, json!({}), &[]).await;
        assert_eq!(e.class(), ErrorClass::Permanent);
    }

    #[tokio::test]
    async fn a_timeout_is_ambiguous_and_a_refused_connection_is_not() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(800)))
            .mount(&server)
            .await;
        let e = meta(&server, Duration::from_millis(100))
            .send(&message())
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.is_ambiguous()), ("timeout", true));

        let closed = Meta::new(
            crate::http_client(Duration::from_secs(1)),
            "http://127.0.0.1:9/v21.0",
            "1".into(),
            "t".into(),
        )
        .unwrap();
        let e = closed.send(&message()).await.unwrap_err();
        assert_eq!((e.class(), e.is_ambiguous()), (ErrorClass::Retryable, false));
    }

    #[tokio::test]
    async fn an_unreadable_success_is_ambiguous() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&server)
            .await;
        let e = meta(&server, Duration::from_secs(5))
            .send(&message())
            .await
            .unwrap_err();
        assert!(e.is_ambiguous());
    }

    fn templates(entries: Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({"data": entries, "paging": {"cursors": {}}}))
    }

    /// A Cloud API whose token works and whose WABA 555 answers `list` for `order_update`.
    async fn preflight_server(list: ResponseTemplate) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v21.0/1142"))
            .and(header("authorization", "Bearer EAAG-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1142", "verified_name": "Ventas"})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v21.0/555/message_templates"))
            .and(query_param("name", "order_update"))
            .and(header("authorization", "Bearer EAAG-token"))
            .respond_with(list)
            .mount(&server)
            .await;
        server
    }

    fn with_waba(server: &MockServer) -> Meta {
        meta(server, Duration::from_secs(5)).with_waba_id(Some("555".into()))
    }

    #[tokio::test]
    async fn preflight_passes_an_approved_template_in_that_language() {
        let server = preflight_server(templates(json!([
            {"name": "order_update", "language": "es", "status": "REJECTED", "id": "1"},
            {"name": "order_update", "language": "en_US", "status": "APPROVED", "id": "2", "category": "UTILITY"}
        ])))
        .await;
        with_waba(&server).preflight("order_update", "en_US").await.unwrap();
        with_waba(&server).preflight("order_update", "en-us").await.unwrap();
    }

    #[tokio::test]
    async fn preflight_refuses_a_template_not_approved_or_missing() {
        let server = preflight_server(templates(json!([
            {"name": "order_update", "language": "en_US", "status": "PENDING"},
            {"name": "order_update_v2", "language": "es", "status": "APPROVED"}
        ])))
        .await;
        let e = with_waba(&server).preflight("order_update", "en_US").await.unwrap_err();
        assert_eq!((e.class(), e.code()), (ErrorClass::Campaign, "template_not_approved"));
        assert!(e.message().contains("PENDING"), "{}", e.message());

        let e = with_waba(&server).preflight("order_update", "es").await.unwrap_err();
        assert_eq!(e.code(), "template_not_found");
        assert!(
            e.message().contains("en_US"),
            "names the languages it exists in: {}",
            e.message()
        );

        let server = preflight_server(templates(json!([]))).await;
        let e = with_waba(&server).preflight("order_update", "en_US").await.unwrap_err();
        assert_eq!(e.code(), "template_not_found");
    }

    #[tokio::test]
    async fn preflight_refuses_a_bad_token_with_the_providers_words() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v21.0/1142"))
            .respond_with(ResponseTemplate::new(401).set_body_json(meta_error(190, "Error validating access token")))
            .expect(1)
            .mount(&server)
            .await;
        let e = with_waba(&server).preflight("order_update", "en_US").await.unwrap_err();
        assert_eq!((e.class(), e.code()), (ErrorClass::Sender, "190"));
        assert!(e.message().contains("Error validating access token"), "{}", e.message());
    }

    #[tokio::test]
    async fn preflight_without_a_waba_checks_the_credentials_only() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v21.0/1142"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1142"})))
            .expect(1)
            .mount(&server)
            .await;
        meta(&server, Duration::from_secs(5))
            .with_waba_id(Some(" ".into()))
            .preflight("anything", "es")
            .await
            .unwrap();
        // The WABA's template list was not asked for.
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn preflight_reports_a_template_list_error() {
        let server = preflight_server(ResponseTemplate::new(400).set_body_json(meta_error(
            100,
            "Unsupported get request. Object with ID '555' does not exist",
        )))
        .await;
        let e = with_waba(&server).preflight("order_update", "en_US").await.unwrap_err();
        assert_eq!((e.class(), e.code()), (ErrorClass::Permanent, "100"));
        assert!(e.message().contains("does not exist"));
    }

    fn accepted_answer(extra: Value) -> ResponseTemplate {
        let mut body = json!({"messaging_product": "whatsapp",
            "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": "wamid.HBgL123"}]});
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        ResponseTemplate::new(200).set_body_json(body)
    }

    /// Sends `m` to a server answering `answer`; returns the result and the requests made.
    async fn send_to(
        meta: impl FnOnce(&MockServer) -> Meta,
        m: &OutboundMessage,
        answer: ResponseTemplate,
    ) -> (Result<Accepted, ProviderError>, Vec<wiremock::Request>) {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(answer).mount(&server).await;
        let result = meta(&server).send(m).await;
        (result, server.received_requests().await.unwrap())
    }

    fn plain(server: &MockServer) -> Meta {
        meta(server, Duration::from_secs(5))
    }

    fn body_of(request: &wiremock::Request) -> Value {
        serde_json::from_slice(&request.body).unwrap()
    }

    #[tokio::test]
    async fn sends_to_a_business_scoped_user_id_when_there_is_no_phone() {
        let mut m = message();
        m.to = String::new();
        m.recipient_user_id = Some(pregon_domain::BusinessUserId::parse("US.13491208655302741918").unwrap());
        let answer = ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp",
            "contacts": [{"input": "US.13491208655302741918", "user_id": "US.13491208655302741918"}],
            "messages": [{"id": "wamid.B1", "message_status": "accepted"}]}));
        let (accepted, requests) = send_to(plain, &m, answer).await;
        let accepted = accepted.unwrap();
        let body = body_of(&requests[0]);
        assert_eq!(body["recipient"], "US.13491208655302741918");
        assert!(body.get("to").is_none(), "no `to` without a phone: {body}");
        assert_eq!(accepted.user_id.unwrap().as_str(), "US.13491208655302741918");
        assert_eq!(
            (accepted.wa_id, accepted.message_status),
            (None, Some(SendStatus::Accepted))
        );

        // With a phone too, the phone is used (Meta: `to` takes precedence anyway).
        let mut both = message();
        both.recipient_user_id = m.recipient_user_id.clone();
        let (accepted, requests) = send_to(plain, &both, accepted_answer(json!({}))).await;
        let body = body_of(&requests[0]);
        assert_eq!(
            (body["to"].as_str(), body.get("recipient")),
            (Some("16505551234"), None)
        );
        assert_eq!(accepted.unwrap().wa_id.as_deref(), Some("16505551234"));
    }

    #[tokio::test]
    async fn a_message_without_any_recipient_or_past_its_expiry_is_not_sent() {
        let mut m = message();
        m.to = "+".into();
        let (result, requests) = send_to(plain, &m, accepted_answer(json!({}))).await;
        let e = result.unwrap_err();
        assert_eq!(
            (e.class(), e.code(), e.is_ambiguous()),
            (ErrorClass::Permanent, "no_recipient", false)
        );
        assert!(requests.is_empty());

        let mut m = message();
        m.expires_at = Some(crate::now_millis() - 5_000);
        let (result, requests) = send_to(plain, &m, accepted_answer(json!({}))).await;
        let e = result.unwrap_err();
        assert_eq!((e.class(), e.code()), (ErrorClass::Permanent, "expired"));
        assert_eq!(e.reason(), Some(ErrorReason::Expired));
        assert!(!e.counts_toward_auto_pause());
        assert!(requests.is_empty(), "an expired message never leaves");

        let mut m = message();
        m.expires_at = Some(crate::now_millis() + 60_000);
        let (result, requests) = send_to(plain, &m, accepted_answer(json!({}))).await;
        result.unwrap();
        assert_eq!(requests.len(), 1, "not yet expired: sent");
    }

    #[tokio::test]
    async fn template_pacing_is_an_acceptance_that_says_so() {
        let answer =
            accepted_answer(json!({"messages": [{"id": "wamid.P", "message_status": "held_for_quality_assessment"}]}));
        let (accepted, _) = send_to(plain, &message(), answer).await;
        let accepted = accepted.unwrap();
        assert_eq!(accepted.provider_message_id, "wamid.P");
        assert_eq!(accepted.message_status, Some(SendStatus::HeldForQualityAssessment));

        let answer = accepted_answer(json!({"messages": [{"id": "wamid.Q", "message_status": "something_new"}]}));
        let (accepted, _) = send_to(plain, &message(), answer).await;
        assert_eq!(accepted.unwrap().message_status, None, "unknown values are not guessed");
    }

    fn marketing(server: &MockServer) -> Meta {
        meta(server, Duration::from_secs(5)).with_marketing_messages(Some(MarketingMessages {
            product_policy: Some(ProductPolicy::CloudApiFallback),
            activity_sharing: Some(true),
        }))
    }

    #[tokio::test]
    async fn marketing_templates_of_an_opted_in_sender_go_to_the_marketing_messages_api() {
        let mut m = message();
        m.category = Some(TemplateCategory::Marketing);
        let (accepted, requests) = send_to(marketing, &m, accepted_answer(json!({}))).await;
        accepted.unwrap();
        assert_eq!(requests[0].url.path(), "/v21.0/1142/marketing_messages");
        let body = body_of(&requests[0]);
        assert_eq!(body["product_policy"], "CLOUD_API_FALLBACK");
        assert_eq!(body["message_activity_sharing"], true);
        assert_eq!(body["template"]["name"], "order_update", "the same template body");
        assert_eq!(body["to"], "16505551234");

        // Utility (and unknown) templates stay on the Cloud API, without the MM fields.
        for category in [
            Some(TemplateCategory::Utility),
            Some(TemplateCategory::Authentication),
            None,
        ] {
            let mut m = message();
            m.category = category;
            let (_, requests) = send_to(marketing, &m, accepted_answer(json!({}))).await;
            assert_eq!(requests[0].url.path(), "/v21.0/1142/messages", "{category:?}");
            let body = body_of(&requests[0]);
            assert!(body.get("product_policy").is_none() && body.get("message_activity_sharing").is_none());
        }

        // A sender that did not opt in sends marketing on the Cloud API.
        let mut m = message();
        m.category = Some(TemplateCategory::Marketing);
        let (_, requests) = send_to(plain, &m, accepted_answer(json!({}))).await;
        assert_eq!(requests[0].url.path(), "/v21.0/1142/messages");
    }

    #[test]
    fn the_opt_in_is_read_from_the_credentials() {
        let c = |json: Value| serde_json::from_value::<Credentials>(json).unwrap();
        assert_eq!(MarketingMessages::from_credentials(&c(json!({}))).unwrap(), None);
        assert_eq!(
            MarketingMessages::from_credentials(&c(
                json!({"marketing_messages_api": false, "marketing_product_policy": "STRICT"})
            ))
            .unwrap(),
            None
        );
        assert_eq!(
            MarketingMessages::from_credentials(&c(
                json!({"marketing_messages_api": true, "marketing_product_policy": "strict",
                "marketing_activity_sharing": false})
            ))
            .unwrap(),
            Some(MarketingMessages {
                product_policy: Some(ProductPolicy::Strict),
                activity_sharing: Some(false)
            })
        );
        assert!(matches!(
            MarketingMessages::from_credentials(&c(
                json!({"marketing_messages_api": true, "marketing_product_policy": "LOOSE"})
            )),
            Err(ConfigError::InvalidCredential {
                name: "marketing_product_policy",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn named_templates_send_each_value_with_its_name() {
        let mut m = message();
        m.body_parameter_names = Some(vec!["first_name".into(), "order".into()]);
        let (_, requests) = send_to(plain, &m, accepted_answer(json!({}))).await;
        let body = body_of(&requests[0]);
        assert_eq!(
            body["template"]["components"][1]["parameters"],
            json!([{"type": "text", "parameter_name": "first_name", "text": "Asha"},
                   {"type": "text", "parameter_name": "order", "text": "ORD-9271"}])
        );
    }

    #[tokio::test]
    async fn marketing_opt_outs_and_metas_refusals_carry_their_reason() {
        let e = error_for(400, meta_error(131050, "(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business."), &[]).await;
        assert_eq!(
            (e.class(), e.code(), e.is_throttled()),
            (ErrorClass::Permanent, "131050", false)
        );
        assert_eq!(e.reason(), Some(ErrorReason::MarketingOptOut));
        assert_eq!(e.opt_out_scope(), Some(pregon_domain::OptOutScope::Marketing));
        assert!(!e.counts_toward_auto_pause(), "the recipient's choice, not a fault");

        let e = error_for(
            400,
            meta_error(
                131049,
                "This message was not delivered to maintain healthy ecosystem engagement.",
            ),
            &[],
        )
        .await;
        assert_eq!(
            (e.class(), e.reason(), e.is_throttled()),
            (ErrorClass::Permanent, Some(ErrorReason::NotDeliveredByMeta), false)
        );
        assert!(e.counts_toward_auto_pause());
        assert_eq!(e.opt_out_scope(), None);

        let e = error_for(400, meta_error(132015, "Template is paused"), &[]).await;
        assert_eq!(e.reason(), Some(ErrorReason::TemplatePaused));
        let e = error_for(400, meta_error(131026, "Message undeliverable"), &[]).await;
        assert_eq!(e.reason(), None);
        assert!(e.counts_toward_auto_pause());
    }

    /// A Cloud API whose number 1142 answers `number` and whose WABA 555 answers `list`.
    async fn preflight_details_server(number: Value, list: Value) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v21.0/1142"))
            .and(query_param("fields", PHONE_NUMBER_FIELDS))
            .respond_with(ResponseTemplate::new(200).set_body_json(number))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v21.0/555/message_templates"))
            .and(query_param("name", "order_update"))
            .respond_with(templates(list))
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn preflight_reads_the_numbers_throughput_and_the_templates_state() {
        let server = preflight_details_server(
            json!({"id": "1142", "display_phone_number": "+1 555-555-0100", "quality_rating": "YELLOW",
                "throughput": {"level": "HIGH"}, "whatsapp_business_manager_messaging_limit": "TIER_10K"}),
            json!([{"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
                "quality_score": {"score": "GREEN"}, "components": [{"type": "BODY", "text": "Hi {{1}}"}]}]),
        )
        .await;
        let report = with_waba(&server)
            .preflight_details("order_update", "en_US")
            .await
            .unwrap();
        assert_eq!(report.throughput, Some(ThroughputLevel::High));
        assert_eq!(
            report.throughput.and_then(ThroughputLevel::messages_per_second),
            Some(1_000)
        );
        assert_eq!(report.quality, Some(TemplateQuality::Yellow));
        assert_eq!(report.messaging_limit, Some(MessagingTier::Tier10K));
        let t = report.template.unwrap();
        assert_eq!(
            (t.category, t.quality),
            (Some(TemplateCategory::Utility), TemplateQuality::Green)
        );
        assert_eq!(t.placeholders, ["1"]);

        // Without a WABA: the number only.
        let server =
            preflight_details_server(json!({"id": "1142", "throughput": {"level": "STANDARD"}}), json!([])).await;
        let report = meta(&server, Duration::from_secs(5))
            .preflight_details("x", "es")
            .await
            .unwrap();
        assert_eq!(
            (report.throughput, report.template),
            (Some(ThroughputLevel::Standard), None)
        );
        assert_eq!(report.quality, None);
    }

    #[tokio::test]
    async fn preflight_says_why_a_template_cannot_be_sent() {
        for (status, reason) in [
            ("PAUSED", ErrorReason::TemplatePaused),
            ("DISABLED", ErrorReason::TemplateDisabled),
            ("REJECTED", ErrorReason::TemplateUnavailable),
        ] {
            let server = preflight_details_server(
                json!({"id": "1142"}),
                json!([{"name": "order_update", "language": "en_US", "status": status}]),
            )
            .await;
            let e = with_waba(&server).preflight("order_update", "en_US").await.unwrap_err();
            assert_eq!(
                (e.class(), e.code()),
                (ErrorClass::Campaign, "template_not_approved"),
                "{status}"
            );
            assert_eq!(e.reason(), Some(reason), "{status}");
            assert!(e.message().contains(status), "{}", e.message());
        }
    }

    fn template_object(name: &str, language: &str, category: &str) -> Value {
        json!({"name": name, "language": language, "status": "APPROVED", "category": category,
            "id": format!("{name}-{language}"), "quality_score": {"score": "UNKNOWN"},
            "components": [{"type": "BODY", "text": "Hola {{1}}, tu saldo es {{2}}", "example": {"body_text": [["Ana", "10 USD"]]}}]})
    }

    #[tokio::test]
    async fn lists_every_template_following_the_pages() {
        let server = MockServer::start().await;
        let next = format!(
            "{}/v21.0/555/message_templates?fields=name&limit=100&after=QVFIUk1",
            server.uri()
        );
        Mock::given(method("GET"))
            .and(path("/v21.0/555/message_templates"))
            .and(query_param("fields", TEMPLATE_FIELDS))
            .and(query_param("limit", "100"))
            .and(query_param_is_missing("after"))
            .and(header("authorization", "Bearer EAAG-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": [template_object("saldo", "es", "UTILITY"), template_object("saldo", "en_US", "UTILITY")],
                "paging": {"cursors": {"before": "QVFIUk0", "after": "QVFIUk1"}, "next": next}})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v21.0/555/message_templates"))
            .and(query_param("after", "QVFIUk1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": [template_object("promo_enero", "es", "MARKETING"), {"language": "es", "status": "APPROVED"}],
                "paging": {"cursors": {"before": "QVFIUk2", "after": "QVFIUk3"}}})))
            .expect(1)
            .mount(&server)
            .await;
        // Through the trait: what `POST /api/v1/templates/sync` calls.
        let provider: Box<dyn Provider> = Box::new(with_waba(&server));
        let templates = provider.list_templates().await.unwrap();
        let names: Vec<(&str, &str)> = templates
            .iter()
            .map(|t| (t.name.as_str(), t.language.as_str()))
            .collect();
        assert_eq!(
            names,
            [("saldo", "es"), ("saldo", "en_US"), ("promo_enero", "es")],
            "the nameless one is skipped"
        );
        assert_eq!(templates[2].category, Some(TemplateCategory::Marketing));
        assert_eq!(templates[0].placeholders, ["1", "2"]);
        assert_eq!(templates[0].body_examples, ["Ana", "10 USD"]);
        assert_eq!(templates[0].id.as_deref(), Some("saldo-es"));
    }

    #[tokio::test]
    async fn listing_templates_reads_the_cursor_from_next_and_stops_on_a_loop() {
        let server = MockServer::start().await;
        // `next` without `cursors.after`: the cursor comes from `next`'s query.
        Mock::given(method("GET"))
            .and(query_param_is_missing("after"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": [template_object("a", "es", "MARKETING")],
                "paging": {"next": "https://graph.facebook.com/v21.0/555/message_templates?after=C1"}})))
            .mount(&server)
            .await;
        // The second page points at itself forever.
        Mock::given(method("GET"))
            .and(query_param("after", "C1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": [template_object("b", "es", "MARKETING")],
                "paging": {"cursors": {"after": "C1"}, "next": "https://graph.facebook.com/v21.0/555/message_templates?after=C1"}})))
            .mount(&server)
            .await;
        let templates = with_waba(&server).list_templates().await.unwrap();
        assert_eq!(templates.len(), 2);
        assert_eq!(server.received_requests().await.unwrap().len(), 2, "no third request");
    }

    #[tokio::test]
    async fn listing_templates_needs_a_waba_and_reports_errors() {
        let server = MockServer::start().await;
        let e = meta(&server, Duration::from_secs(5))
            .list_templates()
            .await
            .unwrap_err();
        assert_eq!((e.class(), e.code()), (ErrorClass::Sender, "missing_waba_id"));
        assert!(server.received_requests().await.unwrap().is_empty());

        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401).set_body_json(meta_error(190, "Error validating access token")))
            .mount(&server)
            .await;
        let e = with_waba(&server).list_templates().await.unwrap_err();
        assert_eq!((e.class(), e.code()), (ErrorClass::Sender, "190"));

        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"paging": {}})))
            .mount(&server)
            .await;
        let e = with_waba(&server).list_templates().await.unwrap_err();
        assert_eq!((e.class(), e.code()), (ErrorClass::Retryable, "bad_response"));

        // Other providers do not list templates.
        let sandbox = crate::sandbox::Sandbox::new(Duration::ZERO);
        let e = Provider::list_templates(&sandbox).await.unwrap_err();
        assert_eq!(e.code(), "unsupported");
    }
}
