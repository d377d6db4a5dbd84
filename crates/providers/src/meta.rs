//! The WhatsApp Business Cloud API (Meta): template messages with a header image parameter
//! and body parameters in placeholder order.
//!
//! `POST {base_url}/{phone_number_id}/messages` with `Authorization: Bearer <token>`; the API
//! version is part of the base URL (`https://graph.facebook.com/v21.0`), so it is a setting.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{classify, retry_after, transport_error, Accepted, ConfigError, OutboundMessage, Provider, ProviderError};

/// The Cloud API base URL when a sender names none.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com/v21.0";

pub struct Meta {
    http: reqwest::Client,
    endpoint: String,
    bearer: String,
}

impl Meta {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        phone_number_id: String,
        access_token: String,
    ) -> Result<Self, ConfigError> {
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ConfigError::BaseUrl(base_url.to_string()));
        }
        Ok(Meta {
            http,
            endpoint: format!("{base}/{phone_number_id}/messages"),
            bearer: format!("Bearer {access_token}"),
        })
    }

    /// The JSON body of a template message.
    pub fn body(message: &OutboundMessage) -> Value {
        let mut components = Vec::new();
        if let Some(link) = &message.rendered.header_image {
            components.push(json!({"type": "header", "parameters": [{"type": "image", "image": {"link": link}}]}));
        }
        if !message.rendered.body_parameters.is_empty() {
            let params: Vec<Value> = message
                .rendered
                .body_parameters
                .iter()
                .map(|t| json!({"type": "text", "text": t}))
                .collect();
            components.push(json!({"type": "body", "parameters": params}));
        }
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to.trim_start_matches('+'),
            "type": "template",
            "template": {"name": message.template_name, "language": {"code": message.language}, "components": components},
            "biz_opaque_callback_data": message.callback_data,
        })
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

#[async_trait]
impl Provider for Meta {
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, ProviderError> {
        let response = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
            .json(&Self::body(message))
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
                _ => Err(ProviderError {
                    class: pregon_domain::ErrorClass::Retryable,
                    code: "bad_response".into(),
                    message: format!(
                        "unreadable success answer: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    ),
                    retry_after: None,
                    ambiguous: true,
                }),
            };
        }
        let (code, text) = match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
            Ok(env) => {
                let mut text = env.error.message.unwrap_or_default();
                if let Some(details) = env.error.error_data.and_then(|d| d.details) {
                    text = format!("{text} ({details})");
                }
                (env.error.code, text)
            }
            Err(_) => (
                None,
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            ),
        };
        let class = match code {
            Some(c) => classify::meta(c, status.as_u16()),
            None => classify::by_status(status.as_u16()),
        };
        let throttled = code.is_some_and(classify::meta_is_throttle) || status.as_u16() == 429;
        Err(ProviderError {
            class,
            code: code
                .map(|c| c.to_string())
                .unwrap_or_else(|| format!("http_{}", status.as_u16())),
            message: text,
            retry_after: wait.or(throttled.then(|| std::time::Duration::from_secs(1))),
            ambiguous: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorClass;
    use pregon_domain::template::Rendered;
    use std::time::Duration;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn message() -> OutboundMessage {
        OutboundMessage {
            to: "+16505551234".into(),
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
        assert_eq!((e.class, e.code.as_str()), (ErrorClass::Retryable, "130429"));
        assert_eq!(e.message, "(#130429) Rate limit hit (more)");
        assert_eq!(e.retry_after, Some(Duration::from_secs(1)), "throttling slows down");

        let e = error_for(400, meta_error(131026, "Message undeliverable"), &[]).await;
        assert_eq!((e.class, e.code.as_str()), (ErrorClass::Permanent, "131026"));

        let e = error_for(401, meta_error(190, "Access token has expired"), &[]).await;
        assert_eq!(e.class, ErrorClass::Sender);
        assert!(!e.ambiguous);
    }

    #[tokio::test]
    async fn falls_back_on_status_and_reads_retry_after() {
        let e = error_for(503, json!({"oops": true}), &[("retry-after", "7")]).await;
        assert_eq!((e.class, e.code.as_str()), (ErrorClass::Retryable, "http_503"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        let e = error_for(404, json!({}), &[]).await;
        assert_eq!(e.class, ErrorClass::Permanent);
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
        assert_eq!((e.code.as_str(), e.ambiguous), ("timeout", true));

        let closed = Meta::new(
            crate::http_client(Duration::from_secs(1)),
            "http://127.0.0.1:9/v21.0",
            "1".into(),
            "t".into(),
        )
        .unwrap();
        let e = closed.send(&message()).await.unwrap_err();
        assert_eq!((e.class, e.ambiguous), (ErrorClass::Retryable, false));
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
        assert!(e.ambiguous);
    }
}
