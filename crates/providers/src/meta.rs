//! The WhatsApp Business Cloud API (Meta): template messages with a header image parameter
//! and body parameters in placeholder order.
//!
//! `POST {base_url}/{phone_number_id}/messages` with `Authorization: Bearer <token>`; the API
//! version is part of the base URL (`https://graph.facebook.com/v21.0`), so it is a setting.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    classify, excerpt, retry_after, transport_error, unreadable_success, Accepted, ConfigError, OutboundMessage,
    Provider, ProviderError,
};

/// The Cloud API base URL when a sender names none.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com/v21.0";

pub struct Meta {
    http: reqwest::Client,
    base: String,
    phone_number_id: String,
    waba_id: Option<String>,
    /// Parsed once: a URL parse per request is measurable at thousands per second.
    endpoint: reqwest::Url,
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

    /// The JSON body of a template message.
    pub fn body(message: &OutboundMessage) -> Value {
        serde_json::to_value(SendBody::new(message)).unwrap_or_default()
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
}

/// The send request, borrowed from the message: serialised straight to bytes, with no
/// intermediate JSON tree (one of the larger costs per message at thousands a second).
#[derive(Serialize)]
struct SendBody<'a> {
    messaging_product: &'static str,
    recipient_type: &'static str,
    to: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    template: TemplateBody<'a>,
    biz_opaque_callback_data: &'a str,
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
    text: &'a str,
}

impl<'a> SendBody<'a> {
    fn new(message: &'a OutboundMessage) -> Self {
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
            let parameters = message
                .rendered
                .body_parameters
                .iter()
                .map(|text| TextParameter { kind: "text", text })
                .collect();
            components.push(Component::Body { parameters });
        }
        SendBody {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to: message.to.trim_start_matches('+'),
            kind: "template",
            template: TemplateBody {
                name: &message.template_name,
                language: Language {
                    code: &message.language,
                },
                components,
            },
            biz_opaque_callback_data: &message.callback_data,
        }
    }
}

#[derive(Deserialize)]
struct SendResponse {
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
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

#[derive(Deserialize)]
struct TemplateList {
    #[serde(default)]
    data: Vec<TemplateEntry>,
}

#[derive(Deserialize)]
struct TemplateEntry {
    name: String,
    language: String,
    #[serde(default)]
    status: String,
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

#[async_trait]
impl Provider for Meta {
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, ProviderError> {
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
            .json(&SendBody::new(message))
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        if status.is_success() {
            return match serde_json::from_slice::<SendResponse>(&bytes) {
                Ok(r) if !r.messages.is_empty() => Ok(Accepted {
                    provider_message_id: r.messages[0].id.clone(),
                    recorded_text: None,
                }),
                // A 2xx we cannot read: the message may well have been accepted.
                _ => Err(unreadable_success(&bytes)),
            };
        }
        Err(error_answer(status.as_u16(), wait, &bytes))
    }

    /// `GET /{phone_number_id}` checks the token; with a WABA id, `GET
    /// /{waba_id}/message_templates?name=…` checks the template is approved in that language.
    async fn preflight(&self, template_name: &str, language: &str) -> Result<(), ProviderError> {
        self.get(&format!("{}/{}", self.base, self.phone_number_id), &[])
            .await?;
        let Some(waba_id) = &self.waba_id else {
            return Ok(());
        };
        let bytes = self
            .get(
                &format!("{}/{waba_id}/message_templates", self.base),
                &[("name", template_name), ("limit", "100")],
            )
            .await?;
        let list: TemplateList = serde_json::from_slice(&bytes).map_err(|e| ProviderError::Retryable {
            code: "bad_response".into(),
            message: format!("unreadable template list ({e}): {}", excerpt(&bytes)),
        })?;
        let refused = |code: &str, message: String| ProviderError::CampaignLevel {
            code: code.into(),
            message,
            retry_after: None,
        };
        let named: Vec<&TemplateEntry> = list.data.iter().filter(|t| t.name == template_name).collect();
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
            ));
        };
        if !entry.status.eq_ignore_ascii_case("APPROVED") {
            return Err(refused(
                "template_not_approved",
                format!(
                    "template {template_name:?} ({language}) is {}, not APPROVED",
                    if entry.status.is_empty() {
                        "of unknown status"
                    } else {
                        &entry.status
                    }
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorClass;
    use pregon_domain::template::Rendered;
    use serde_json::json;
    use std::time::Duration;
    use wiremock::matchers::{body_json, header, method, path, query_param};
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
}
