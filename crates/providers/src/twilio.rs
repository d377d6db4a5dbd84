//! Twilio Programmable Messaging for WhatsApp (docs/providers.md §3).
//!
//! `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth
//! (`AccountSid:AuthToken`) and a form body: `To` as `whatsapp:+E164`; the sender as `From`
//! (`whatsapp:+E164`) or, for a sender with a Messaging Service, `MessagingServiceSid`
//! (`MG…`, Twilio picks a number from the service's pool); a template with a Content SID as
//! `ContentSid` + `ContentVariables` (a JSON string, `{"1": …}` from the body parameters in
//! order), otherwise the rendered text as `Body`; the header image as `MediaUrl`;
//! `StatusCallback` when pregon has a public URL; `ValidityPeriod` (seconds, at most 36,000)
//! from the message's `expires_at`. Success is 201 with `sid`.

use std::time::Duration;

use async_trait::async_trait;
use pregon_domain::{ErrorClass, Millis};
use serde::Deserialize;

use crate::{
    classify, excerpt, retry_after, transport_error, unreadable_success, Accepted, ConfigError, OutboundMessage,
    Provider, ProviderError,
};

/// Twilio's API when a sender names no base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// The longest `ValidityPeriod` Twilio takes, and its default: 10 hours.
pub const MAX_VALIDITY_PERIOD_SECS: i64 = 36_000;

pub struct Twilio {
    http: reqwest::Client,
    account_sid: String,
    auth_token: String,
    messages: String,
    account: String,
    /// Sends through this Messaging Service instead of `From`.
    messaging_service_sid: Option<String>,
}

impl Twilio {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        account_sid: String,
        auth_token: String,
    ) -> Result<Self, ConfigError> {
        let base = crate::base_url(base_url)?;
        Ok(Twilio {
            http,
            messages: format!("{base}/2010-04-01/Accounts/{account_sid}/Messages.json"),
            account: format!("{base}/2010-04-01/Accounts/{account_sid}.json"),
            account_sid,
            auth_token,
            messaging_service_sid: None,
        })
    }

    /// Sends through a Messaging Service (`MG…`) instead of the sender's own number.
    pub fn with_messaging_service_sid(mut self, sid: Option<String>) -> Self {
        self.messaging_service_sid = sid.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        self
    }

    /// The form fields of one message sent at `now` (Unix milliseconds), in the order they
    /// are sent.
    pub fn form(&self, message: &OutboundMessage, now: Millis) -> Vec<(&'static str, String)> {
        let sender = match &self.messaging_service_sid {
            Some(sid) => ("MessagingServiceSid", sid.clone()),
            None => ("From", whatsapp(&message.from)),
        };
        let mut form = vec![("To", whatsapp(&message.to)), sender];
        match &message.content_sid {
            Some(sid) => {
                form.push(("ContentSid", sid.clone()));
                form.push(("ContentVariables", content_variables(&message.rendered.body_parameters)));
            }
            None => form.push(("Body", message.rendered.text.clone())),
        }
        if let Some(url) = &message.rendered.header_image {
            form.push(("MediaUrl", url.clone()));
        }
        if let Some(url) = &message.status_callback {
            form.push(("StatusCallback", url.clone()));
        }
        if let Some(seconds) = message.expires_at.and_then(|at| validity_period(at, now)) {
            form.push(("ValidityPeriod", seconds.to_string()));
        }
        form
    }
}

/// The `ValidityPeriod` of a message expiring at `expires_at`: the seconds left, rounded
/// up, at least 1. `None` when at least Twilio's default (36,000 s) is left: the default
/// then does, and the field is not sent.
pub fn validity_period(expires_at: Millis, now: Millis) -> Option<i64> {
    let seconds = (expires_at - now + 999).div_euclid(1000).max(1);
    (seconds < MAX_VALIDITY_PERIOD_SECS).then_some(seconds)
}

/// `whatsapp:+E164`.
fn whatsapp(phone: &str) -> String {
    let phone = phone.trim().trim_start_matches("whatsapp:");
    if phone.starts_with('+') {
        format!("whatsapp:{phone}")
    } else {
        format!("whatsapp:+{phone}")
    }
}

/// `{"1":"…","2":"…"}`: the body parameters in order, numbered from 1.
pub fn content_variables(parameters: &[String]) -> String {
    let pairs: Vec<String> = parameters
        .iter()
        .enumerate()
        .map(|(i, p)| format!("\"{}\":{}", i + 1, serde_json::Value::String(p.clone())))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Account {
    status: Option<String>,
}

/// A Twilio error answer, classified by its code (or its status without one).
fn error_answer(status: u16, wait: Option<Duration>, bytes: &[u8]) -> ProviderError {
    let (code, text) = match serde_json::from_slice::<TwilioError>(bytes) {
        Ok(e) if e.code.is_some() || e.message.is_some() => (e.code, e.message.unwrap_or_default()),
        _ => (None, excerpt(bytes)),
    };
    let class = match code {
        Some(c) => classify::twilio(c, status),
        None => classify::by_status(status),
    };
    let hold = code
        .and_then(classify::twilio_throttle)
        .or_else(|| (status == 429).then(|| Duration::from_secs(1)));
    ProviderError::answered(
        class,
        code.and_then(classify::twilio_reason),
        code.map(|c| c.to_string()).unwrap_or_else(|| format!("http_{status}")),
        text,
        wait.or(hold),
    )
}

#[async_trait]
impl Provider for Twilio {
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, ProviderError> {
        let now = crate::now_millis();
        if let Some(at) = message.expires_at.filter(|at| *at <= now) {
            return Err(crate::expired(at, now));
        }
        if message
            .to
            .trim()
            .trim_start_matches("whatsapp:")
            .trim_start_matches('+')
            .is_empty()
        {
            // Twilio addresses WhatsApp users by phone; sending to a business-scoped user ID
            // through Twilio is UNCONFIRMED (docs/providers.md §3.1).
            return Err(ProviderError::local(
                ErrorClass::Permanent,
                "no_phone",
                "Twilio sends WhatsApp messages to phone numbers; this recipient has none",
                None,
            ));
        }
        let response = self
            .http
            .post(&self.messages)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&self.form(message, now))
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        if status.is_success() {
            return match serde_json::from_slice::<Created>(&bytes) {
                Ok(c) if !c.sid.is_empty() => Ok(Accepted::new(c.sid)),
                _ => Err(unreadable_success(&bytes)),
            };
        }
        Err(error_answer(status.as_u16(), wait, &bytes))
    }

    /// `GET /2010-04-01/Accounts/{sid}.json`: the credentials work and the account is active.
    /// Twilio's Content templates are not checked.
    async fn preflight(&self, _template_name: &str, _language: &str) -> Result<(), ProviderError> {
        let response = self
            .http
            .get(&self.account)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        if !status.is_success() {
            return Err(error_answer(status.as_u16(), wait, &bytes));
        }
        match serde_json::from_slice::<Account>(&bytes).ok().and_then(|a| a.status) {
            Some(s) if !s.eq_ignore_ascii_case("active") => Err(ProviderError::SenderLevel {
                code: format!("account_{}", s.to_ascii_lowercase()),
                message: format!("the Twilio account {} is {s}", self.account_sid),
                retry_after: None,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorClass;
    use pregon_domain::template::Rendered;
    use serde_json::{json, Value};
    use std::collections::HashMap;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const MESSAGES: &str = "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages.json";
    /// `Basic base64(SID:secret-token)`.
    fn basic() -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{SID}:secret-token"))
        )
    }

    fn message(content_sid: Option<&str>, header_image: Option<&str>, callback: Option<&str>) -> OutboundMessage {
        OutboundMessage {
            to: "+14155550100".into(),
            from: "+14155238886".into(),
            template_name: "order_update".into(),
            language: "en".into(),
            rendered: Rendered {
                text: "Hi Asha, your order ORD-9271 \"ships\" today.".into(),
                body_parameters: vec!["Asha".into(), "ORD-9271 \"x\"".into()],
                header_image: header_image.map(str::to_string),
            },
            callback_data: "77".into(),
            content_sid: content_sid.map(str::to_string),
            status_callback: callback.map(str::to_string),
            recipient_user_id: None,
            category: None,
            expires_at: None,
            body_parameter_names: None,
        }
    }

    fn twilio(server: &MockServer, timeout: Duration) -> Twilio {
        Twilio::new(
            crate::http_client(timeout),
            &format!("{}/", server.uri()),
            SID.into(),
            "secret-token".into(),
        )
        .unwrap()
    }

    fn created() -> ResponseTemplate {
        ResponseTemplate::new(201).set_body_json(json!({
            "sid": "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "status": "queued", "account_sid": SID,
            "from": "whatsapp:+14155238886", "to": "whatsapp:+14155550100", "body": "…",
            "error_code": null, "error_message": null, "num_segments": "1", "price": null,
            "uri": "/2010-04-01/Accounts/AC…/Messages/SM….json", "subresource_uris": {}
        }))
    }

    /// Sends one message to a server that accepts it; returns the form fields it got (a
    /// repeated field keeps its last value) and the raw request.
    async fn sent_form(message: &OutboundMessage) -> (HashMap<String, String>, Request) {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(MESSAGES))
            .and(header("authorization", basic().as_str()))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .respond_with(created())
            .expect(1)
            .mount(&server)
            .await;
        let accepted = twilio(&server, Duration::from_secs(5)).send(message).await.unwrap();
        assert_eq!(accepted.provider_message_id, "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        let request = server.received_requests().await.unwrap().remove(0);
        let form = url_form(&request.body);
        (form, request)
    }

    /// Decodes `application/x-www-form-urlencoded`.
    fn url_form(body: &[u8]) -> HashMap<String, String> {
        fn decode(s: &str) -> String {
            let bytes = s.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'+' => out.push(b' '),
                    b'%' => {
                        out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("a percent escape"));
                        i += 2;
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            String::from_utf8(out).expect("UTF-8")
        }
        std::str::from_utf8(body)
            .unwrap()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    #[tokio::test]
    async fn a_content_template_goes_as_content_sid_and_variables() {
        let m = message(
            Some("HX0123456789abcdef0123456789abcdef"),
            Some("https://cdn.example.com/a.jpg"),
            Some("https://pregon.example.com/webhooks/twilio"),
        );
        let (form, _) = sent_form(&m).await;
        let expected: HashMap<String, String> = [
            ("To", "whatsapp:+14155550100"),
            ("From", "whatsapp:+14155238886"),
            ("ContentSid", "HX0123456789abcdef0123456789abcdef"),
            ("ContentVariables", r#"{"1":"Asha","2":"ORD-9271 \"x\""}"#),
            ("MediaUrl", "https://cdn.example.com/a.jpg"),
            ("StatusCallback", "https://pregon.example.com/webhooks/twilio"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(form, expected);
        let vars: Value = serde_json::from_str(&form["ContentVariables"]).unwrap();
        assert_eq!(vars, json!({"1": "Asha", "2": "ORD-9271 \"x\""}), "a JSON string");
    }

    #[tokio::test]
    async fn without_a_content_sid_the_rendered_text_goes_as_body() {
        let (form, _) = sent_form(&message(None, None, None)).await;
        assert_eq!(form["Body"], "Hi Asha, your order ORD-9271 \"ships\" today.");
        assert_eq!(form["To"], "whatsapp:+14155550100");
        assert_eq!(form["From"], "whatsapp:+14155238886");
        for absent in ["ContentSid", "ContentVariables", "MediaUrl", "StatusCallback"] {
            assert!(!form.contains_key(absent), "{absent}: {form:?}");
        }
    }

    #[test]
    fn content_variables_number_every_parameter_in_order() {
        let params: Vec<String> = (1..=11).map(|i| format!("v{i}")).collect();
        let s = content_variables(&params);
        assert!(s.starts_with(r#"{"1":"v1","2":"v2","#), "{s}");
        assert!(s.ends_with(r#""10":"v10","11":"v11"}"#), "{s}");
        assert_eq!(content_variables(&[]), "{}");
    }

    async fn error_for(status: u16, body: Value, headers: &[(&str, &str)]) -> ProviderError {
        let server = MockServer::start().await;
        let mut resp = ResponseTemplate::new(status).set_body_json(body);
        for (k, v) in headers {
            resp = resp.insert_header(*k, *v);
        }
        Mock::given(method("POST")).respond_with(resp).mount(&server).await;
        twilio(&server, Duration::from_secs(5))
            .send(&message(None, None, None))
            .await
            .unwrap_err()
    }

    fn twilio_error(code: i64, status: u16, msg: &str) -> Value {
        json!({"code": code, "message": msg, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status})
    }

    #[tokio::test]
    async fn every_error_class_keeps_the_code_and_message() {
        // (code, HTTP status, class, throttled)
        let cases: &[(i64, u16, ErrorClass, bool)] = &[
            (20003, 401, ErrorClass::Sender, false),
            (20429, 429, ErrorClass::Retryable, true),
            (21211, 400, ErrorClass::Permanent, false),
            (21610, 400, ErrorClass::Permanent, false),
            (63016, 400, ErrorClass::Permanent, false),
            (63018, 400, ErrorClass::Retryable, true),
            (63024, 400, ErrorClass::Permanent, false),
            (63032, 400, ErrorClass::Permanent, false),
            (63049, 400, ErrorClass::Permanent, false),
            (63014, 400, ErrorClass::Permanent, false),
            (63025, 400, ErrorClass::Permanent, false),
            (63062, 400, ErrorClass::Campaign, false),
            (30036, 400, ErrorClass::Permanent, false),
            // Not in the table: the status decides.
            (30001, 503, ErrorClass::Retryable, false),
            (20404, 404, ErrorClass::Permanent, false),
            (20005, 403, ErrorClass::Sender, false),
        ];
        for &(code, status, class, throttled) in cases {
            let text = format!("Twilio says {code}");
            let e = error_for(status, twilio_error(code, status, &text), &[]).await;
            assert_eq!(e.class(), class, "{code}");
            assert_eq!(e.code(), code.to_string());
            assert_eq!(e.message(), text);
            assert_eq!(e.is_throttled(), throttled, "{code}");
            assert!(!e.is_ambiguous());
            if throttled {
                assert_eq!(e.retry_after(), Some(Duration::from_secs(1)), "{code}");
            }
        }
    }

    #[tokio::test]
    async fn retry_after_is_honoured_and_bodies_without_a_code_fall_back_on_the_status() {
        let e = error_for(
            429,
            twilio_error(20429, 429, "Too Many Requests"),
            &[("retry-after", "9")],
        )
        .await;
        assert_eq!(
            (e.retry_after(), e.is_throttled()),
            (Some(Duration::from_secs(9)), true)
        );
        let e = error_for(503, json!({"oops": 1}), &[("retry-after", "3")]).await;
        assert_eq!((e.class(), e.code()), (ErrorClass::Retryable, "http_503"));
        assert_eq!(
            (e.retry_after(), e.is_throttled()),
            (Some(Duration::from_secs(3)), true)
        );
        let e = error_for(500, json!({}), &[]).await;
        assert_eq!((e.class(), e.is_throttled()), (ErrorClass::Retryable, false));
        let e = error_for(401, json!({}), &[]).await;
        assert_eq!((e.class(), e.code()), (ErrorClass::Sender, "http_401"));
    }

    #[tokio::test]
    async fn a_timeout_is_ambiguous_an_unreadable_success_too_and_a_refused_connection_is_not() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(created().set_delay(Duration::from_millis(800)))
            .mount(&server)
            .await;
        let e = twilio(&server, Duration::from_millis(100))
            .send(&message(None, None, None))
            .await
            .unwrap_err();
        assert_eq!(
            (e.class(), e.code(), e.is_ambiguous()),
            (ErrorClass::Retryable, "timeout", true)
        );

        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_body_string("<xml/>"))
            .mount(&server)
            .await;
        let e = twilio(&server, Duration::from_secs(5))
            .send(&message(None, None, None))
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.is_ambiguous()), ("bad_response", true));

        let closed = Twilio::new(
            crate::http_client(Duration::from_secs(1)),
            "http://127.0.0.1:9",
            SID.into(),
            "t".into(),
        )
        .unwrap();
        let e = closed.send(&message(None, None, None)).await.unwrap_err();
        assert_eq!((e.class(), e.is_ambiguous()), (ErrorClass::Retryable, false));
    }

    #[test]
    fn the_base_url_must_be_http() {
        let err = Twilio::new(reqwest::Client::new(), "api.twilio.com", SID.into(), "t".into())
            .err()
            .unwrap();
        assert!(matches!(err, ConfigError::BaseUrl(_)));
    }

    async fn account_server(answer: ResponseTemplate) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
            .and(header("authorization", basic().as_str()))
            .respond_with(answer)
            .expect(1)
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn preflight_checks_the_account() {
        let ok = account_server(
            ResponseTemplate::new(200).set_body_json(json!({"sid": SID, "status": "active", "friendly_name": "x"})),
        )
        .await;
        twilio(&ok, Duration::from_secs(5))
            .preflight("order_update", "en")
            .await
            .unwrap();

        let bad =
            account_server(ResponseTemplate::new(401).set_body_json(twilio_error(20003, 401, "Authenticate"))).await;
        let e = twilio(&bad, Duration::from_secs(5))
            .preflight("order_update", "en")
            .await
            .unwrap_err();
        assert_eq!(
            (e.class(), e.code(), e.message()),
            (ErrorClass::Sender, "20003", "Authenticate")
        );

        let suspended =
            account_server(ResponseTemplate::new(200).set_body_json(json!({"sid": SID, "status": "suspended"}))).await;
        let e = twilio(&suspended, Duration::from_secs(5))
            .preflight("order_update", "en")
            .await
            .unwrap_err();
        assert_eq!((e.class(), e.code()), (ErrorClass::Sender, "account_suspended"));
    }

    const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";

    #[tokio::test]
    async fn a_sender_with_a_messaging_service_sends_through_it_instead_of_from() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(MESSAGES))
            .respond_with(created())
            .expect(1)
            .mount(&server)
            .await;
        let pooled = twilio(&server, Duration::from_secs(5)).with_messaging_service_sid(Some(format!(" {SERVICE} ")));
        pooled.send(&message(None, None, None)).await.unwrap();
        let form = url_form(&server.received_requests().await.unwrap()[0].body);
        assert_eq!(form["MessagingServiceSid"], SERVICE);
        assert!(!form.contains_key("From"), "{form:?}");
        assert_eq!(form["To"], "whatsapp:+14155550100");

        let blank = twilio(&server, Duration::from_secs(5)).with_messaging_service_sid(Some("  ".into()));
        let fields = blank.form(&message(None, None, None), 0);
        assert_eq!(
            fields[1],
            ("From", "whatsapp:+14155238886".to_string()),
            "a blank sid is no sid"
        );
    }

    #[test]
    fn the_validity_period_comes_from_the_expiry() {
        let t = Twilio::new(reqwest::Client::new(), "https://api.twilio.com", SID.into(), "t".into()).unwrap();
        let now = 1_800_000_000_000;
        let period = |expires_at: Option<Millis>| {
            let mut m = message(None, None, None);
            m.expires_at = expires_at;
            t.form(&m, now)
                .into_iter()
                .find(|(k, _)| *k == "ValidityPeriod")
                .map(|(_, v)| v)
        };
        assert_eq!(period(None), None);
        assert_eq!(period(Some(now + 600_000)).as_deref(), Some("600"));
        assert_eq!(period(Some(now + 1_500)).as_deref(), Some("2"), "rounded up");
        assert_eq!(period(Some(now + 1)).as_deref(), Some("1"), "at least one second");
        assert_eq!(period(Some(now + 35_999_000)).as_deref(), Some("35999"));
        assert_eq!(
            period(Some(now + 36_000_000)),
            None,
            "Twilio's default (10 h) already does"
        );
        assert_eq!(period(Some(now + 7 * 86_400_000)), None);
        assert_eq!(validity_period(now - 10, now), Some(1));
    }

    #[tokio::test]
    async fn an_expired_message_or_one_without_a_phone_is_not_sent() {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(created()).mount(&server).await;
        let t = twilio(&server, Duration::from_secs(5));

        let mut m = message(None, None, None);
        m.expires_at = Some(crate::now_millis() - 1);
        let e = t.send(&m).await.unwrap_err();
        assert_eq!(
            (e.class(), e.code(), e.reason()),
            (ErrorClass::Permanent, "expired", Some(crate::ErrorReason::Expired))
        );

        let mut m = message(None, None, None);
        m.to = String::new();
        m.recipient_user_id = Some(pregon_domain::BusinessUserId::parse("US.1").unwrap());
        let e = t.send(&m).await.unwrap_err();
        assert_eq!((e.class(), e.code()), (ErrorClass::Permanent, "no_phone"));
        assert!(
            server.received_requests().await.unwrap().is_empty(),
            "nothing reached Twilio"
        );

        let mut m = message(None, None, None);
        m.expires_at = Some(crate::now_millis() + 120_000);
        t.send(&m).await.unwrap();
        let form = url_form(&server.received_requests().await.unwrap()[0].body);
        let left: i64 = form["ValidityPeriod"].parse().unwrap();
        assert!((118..=120).contains(&left), "{left}");
    }

    #[tokio::test]
    async fn the_new_codes_carry_their_reasons() {
        let cases: &[(i64, Option<crate::ErrorReason>, bool)] = &[
            (63014, Some(crate::ErrorReason::RecipientOptedOut), false),
            (63049, Some(crate::ErrorReason::NotDeliveredByMeta), true),
            (63016, Some(crate::ErrorReason::OutsideWindow), true),
            (30036, Some(crate::ErrorReason::Expired), false),
            (63062, Some(crate::ErrorReason::MarketingTermsNotAccepted), true),
            (63024, None, true),
            (63025, None, true),
        ];
        for &(code, reason, counts) in cases {
            let e = error_for(400, twilio_error(code, 400, "x"), &[]).await;
            assert_eq!(e.reason(), reason, "{code}");
            assert_eq!(e.counts_toward_auto_pause(), counts, "{code}");
        }
        let e = error_for(400, twilio_error(63014, 400, "blocked"), &[]).await;
        assert_eq!(e.opt_out_scope(), Some(pregon_domain::OptOutScope::All));
    }

    #[test]
    fn credentials_name_a_real_messaging_service() {
        let c = |json: Value| serde_json::from_value::<crate::Credentials>(json).unwrap();
        let ok = c(json!({"account_sid": SID, "auth_token": "t", "messaging_service_sid": SERVICE}));
        assert!(crate::validate_credentials(crate::ProviderKind::Twilio, &ok).is_ok());
        let bad = c(json!({"account_sid": SID, "auth_token": "t", "messaging_service_sid": "MG123"}));
        assert!(matches!(
            crate::validate_credentials(crate::ProviderKind::Twilio, &bad),
            Err(ConfigError::InvalidCredential {
                name: "messaging_service_sid",
                ..
            })
        ));
        let meta_bad = c(
            json!({"access_token": "t", "phone_number_id": "1", "marketing_messages_api": true,
            "marketing_product_policy": "ALWAYS"}),
        );
        assert!(crate::validate_credentials(crate::ProviderKind::Meta, &meta_bad).is_err());
        // Credentials stored before these fields existed still read.
        let old = c(json!({"account_sid": SID, "auth_token": "t"}));
        assert_eq!((old.messaging_service_sid, old.marketing_messages_api), (None, None));
        assert!(crate::build(
            crate::ProviderKind::Twilio,
            &ok,
            None,
            reqwest::Client::new(),
            Duration::ZERO
        )
        .is_ok());
    }
}
