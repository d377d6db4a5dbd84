//! Twilio Programmable Messaging for WhatsApp, as far as pregon uses it (docs/providers.md §3):
//!
//! - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: form-encoded, Basic auth
//!   (`AccountSid:AuthToken`), answers 201 with the Message resource; `From` or
//!   `MessagingServiceSid`; `ValidityPeriod` (1 to 36,000 s; shorter than `--sent-delay-ms`,
//!   the message fails with 30036); `--twilio-fail-codes` recipients fail later with their
//!   code in the status callback;
//! - `GET /2010-04-01/Accounts/{AccountSid}.json`: the account, a credentials check.
//!
//! Errors use Twilio's body: `{"code","message","more_info","status"}`.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine as _;
use serde_json::json;

use crate::engine::{Engine, Refusal, Send};
use crate::webhooks::{Failure, Target};

/// The asynchronous failure of a `--fail-numbers` recipient.
const INVALID_RECIPIENT: Failure = Failure {
    code: 63024,
    title: "Invalid message recipient",
    details: "The recipient is not a valid WhatsApp user.",
};

/// The failure drawn by `--async-failure-rate`.
const ECOSYSTEM: Failure = Failure {
    code: 63049,
    title: "Meta chose not to deliver this WhatsApp marketing message",
    details: "Meta chose not to deliver this message to maintain healthy ecosystem engagement.",
};

/// Twilio's words for an error code reported on a status callback (`--twilio-fail-codes`,
/// an expired validity period).
pub(crate) fn failure(code: u32) -> Failure {
    let title = match code {
        63014 => "Channel message blocked by user action",
        63016 => "Outside messaging window. For WhatsApp, use a Message Template instead",
        63018 => "Rate limit exceeded for Channel",
        63024 => INVALID_RECIPIENT.title,
        63025 => "Channel error 63025 (meaning UNCONFIRMED; Twilio maps it to WhatsApp 1004)",
        63032 => "User's number is part of an experiment",
        63049 => ECOSYSTEM.title,
        63062 => "WhatsApp Terms of Service for Marketing Messages API not accepted",
        30036 => "Validity Period Expired",
        21610 => "Attempt to send to unsubscribed recipient",
        _ => "Simulated failure",
    };
    Failure {
        code,
        title,
        details: title,
    }
}

struct TwilioError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl TwilioError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        TwilioError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for TwilioError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        response
    }
}

/// Checks Basic auth: the user is the path's account, the password the auth token (any that
/// is not in `--bad-tokens` when `--auth-token` is unset). Returns the password.
fn authorize(engine: &Engine, account: &str, headers: &HeaderMap) -> Result<String, TwilioError> {
    let refused = || TwilioError::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    let encoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, rest)| rest.trim())
        .ok_or_else(refused)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(refused)?;
    let (user, password) = decoded.split_once(':').ok_or_else(refused)?;
    let c = &engine.config;
    let password_ok = !password.is_empty()
        && !c.bad_tokens.contains(password)
        && c.auth_token.as_deref().is_none_or(|t| t == password);
    if user != account || !password_ok {
        return Err(refused());
    }
    Ok(password.to_string())
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
pub(crate) async fn create_message(
    State(engine): State<Arc<Engine>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f);
    let sender = form
        .as_ref()
        .ok()
        .and_then(|f| field(f, "From").or_else(|| field(f, "MessagingServiceSid")))
        .unwrap_or("(none)")
        .to_string();
    let latency = engine.request(&sender);
    let response = match accept(&engine, &account, &headers, form) {
        Ok(response) => response,
        Err(error) => {
            engine.rejected(error.code);
            error.into_response()
        }
    };
    tokio::time::sleep(latency).await;
    response
}

fn accept(
    engine: &Engine,
    account: &str,
    headers: &HeaderMap,
    form: Result<Vec<(String, String)>, FormRejection>,
) -> Result<Response, TwilioError> {
    let password = authorize(engine, account, headers)?;
    let form = form.map_err(|e| TwilioError::bad_request(20001, format!("Invalid request: {e}")))?;
    let to = field(&form, "To").ok_or_else(|| TwilioError::bad_request(21604, "A 'To' phone number is required."))?;
    let to_digits = crate::phone::twilio_address(to)
        .ok_or_else(|| TwilioError::bad_request(21211, format!("The 'To' number {to} is not a valid phone number.")))?;
    let from = field(&form, "From");
    let service = field(&form, "MessagingServiceSid");
    let sender = match (from, service) {
        (Some(from), _) => {
            crate::phone::twilio_address(from).ok_or_else(|| {
                TwilioError::bad_request(
                    21212,
                    format!(
                        "The 'From' number {from} is not a valid phone number, shortcode, or alphanumeric sender ID."
                    ),
                )
            })?;
            from
        }
        (None, Some(service)) => service,
        (None, None) => return Err(TwilioError::bad_request(21603, "A 'From' phone number is required.")),
    };
    let body = field(&form, "Body");
    let content_sid = field(&form, "ContentSid");
    let variables = field(&form, "ContentVariables");
    let media: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == "MediaUrl")
        .map(|(_, v)| v.as_str())
        .collect();
    if body.is_none() && content_sid.is_none() && media.is_empty() {
        return Err(TwilioError::bad_request(
            21619,
            "A text message body or media URL must be specified.",
        ));
    }
    if let Some(variables) = variables {
        if !serde_json::from_str::<serde_json::Value>(variables).is_ok_and(|v| v.is_object()) {
            return Err(TwilioError::bad_request(
                21656,
                "The ContentVariables Parameter is invalid.",
            ));
        }
    }
    let validity = match field(&form, "ValidityPeriod") {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .ok()
                .filter(|s| (1..=36_000).contains(s))
                .ok_or_else(|| {
                    TwilioError::bad_request(
                        21624,
                        "Invalid validity period value: an integer between 1 and 36000 seconds.",
                    )
                })?,
        ),
    };
    let chosen = engine
        .config
        .twilio_fail_codes
        .get(&to_digits)
        .map(|code| failure(*code))
        .or_else(|| {
            // Twilio's queue would hold the message longer than its validity period.
            validity
                .filter(|secs| std::time::Duration::from_secs(*secs) < engine.config.webhooks.sent_delay)
                .map(|_| failure(30036))
        });
    let content = [
        body.unwrap_or(""),
        content_sid.unwrap_or(""),
        variables.unwrap_or(""),
        &media.join("\n"),
    ]
    .join("\u{1f}");
    let admission = engine
        .decide(&Send {
            sender,
            recipient: &to_digits,
            content: &content,
            chosen,
            chosen_later: true,
        })
        .map_err(|refusal| refused(engine, refusal, sender, to))?;
    let sid = format!("SM{:032x}", admission.unique);

    let callback = field(&form, "StatusCallback")
        .map(str::to_string)
        .or_else(|| engine.config.webhooks.twilio_url.clone());
    if let Some(url) = callback {
        let target = Target::Twilio {
            url,
            auth_token: engine.config.auth_token.clone().unwrap_or(password),
            account_sid: account.to_string(),
            sid: sid.clone(),
            from: sender.to_string(),
            to: to.to_string(),
        };
        engine.webhooks.plan(
            target,
            engine.steps(admission.fate, INVALID_RECIPIENT, ECOSYSTEM, false),
        );
    }

    let now = chrono::Utc::now().to_rfc2822();
    let uri = format!("/2010-04-01/Accounts/{account}/Messages/{sid}");
    let message = json!({
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": body.unwrap_or(""),
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": media.len().to_string(),
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": if from.is_some() { "queued" } else { "accepted" },
        "subresource_uris": {"media": format!("{uri}/Media.json")},
        "to": to,
        "uri": format!("{uri}.json"),
    });
    Ok((StatusCode::CREATED, Json(message)).into_response())
}

fn refused(engine: &Engine, refusal: Refusal, from: &str, to: &str) -> TwilioError {
    match refusal {
        Refusal::ServerError => TwilioError::new(StatusCode::INTERNAL_SERVER_ERROR, 20500, "Internal Server Error"),
        Refusal::Throttled => TwilioError::new(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests"),
        Refusal::SenderRate => TwilioError::new(
            StatusCode::TOO_MANY_REQUESTS,
            63018,
            format!(
                "Rate limit exceeded for Channel: more than {} messages per second from {from}",
                engine.config.mps
            ),
        ),
        Refusal::PairRate => TwilioError::new(
            StatusCode::TOO_MANY_REQUESTS,
            63018,
            format!(
                "Rate limit exceeded for Channel: too many messages from {from} to {to} in a short time (pair rate)"
            ),
        ),
        Refusal::FailNumber => {
            TwilioError::bad_request(21211, format!("The 'To' number {to} is not a valid phone number."))
        }
        Refusal::Chosen(f) => TwilioError::bad_request(f.code, f.title),
    }
}

/// `GET /2010-04-01/Accounts/{AccountSid}.json`.
pub(crate) async fn account(
    State(engine): State<Arc<Engine>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(account) = file.strip_suffix(".json") else {
        return TwilioError::new(StatusCode::NOT_FOUND, 20404, "The requested resource was not found").into_response();
    };
    let latency = engine.lookup();
    let response = match authorize(&engine, account, &headers) {
        Ok(_) => {
            let now = chrono::Utc::now().to_rfc2822();
            Json(json!({
                "sid": account,
                "friendly_name": "pregon simulator",
                "status": "active",
                "type": "Full",
                "date_created": now,
                "date_updated": now,
                "owner_account_sid": account,
                "uri": format!("/2010-04-01/Accounts/{account}.json"),
            }))
            .into_response()
        }
        Err(error) => error.into_response(),
    };
    tokio::time::sleep(latency).await;
    response
}
