//! Twilio's webhooks (providers.md §2.3): form-encoded POSTs naming the account by
//! `AccountSid`. A status callback carries `MessageSid` and `MessageStatus` (with
//! `ErrorCode` on `failed`/`undelivered`); an incoming message carries `From=whatsapp:+…`,
//! `To`, `Body` and no `MessageStatus` (or `received`).

use pregon_domain::MessageStatus;
use serde_json::{json, Value};

/// The POSTed fields, in order, duplicates kept (the signature covers them all).
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first non-empty value of a field, as received (the signature covers it as is).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }
}

/// What a Twilio webhook says.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Status {
        message_sid: String,
        status: MessageStatus,
        error_code: Option<String>,
        error_message: Option<String>,
        detail: Value,
    },
    Inbound {
        message_sid: String,
        /// The recipient who wrote, E.164.
        phone: String,
        /// Our number it was written to, E.164.
        to: Option<String>,
        message_type: String,
        text: Option<String>,
    },
    /// A status that says nothing about delivery (`queued`, `accepted`, `sending`, …).
    Ignored(String),
}

/// Twilio's words for the WhatsApp error codes it reports asynchronously (providers.md §2.2).
fn describe(code: &str) -> Option<&'static str> {
    Some(match code {
        "63016" => "outside the 24 h customer-service window, or a template sent as free text",
        "63018" => "rate limit exceeded for the channel, sender or portfolio",
        "63024" => "invalid recipient (not on WhatsApp, terms not accepted, or an old client)",
        "63032" => "the user is in a Meta marketing experiment",
        "63049" => "Meta chose not to deliver this marketing message",
        "21610" => "the recipient opted out (STOP)",
        _ => return None,
    })
}

/// `whatsapp:+14155550100` → `+14155550100`.
fn address(text: &str) -> Option<String> {
    let bare = text.trim();
    let bare = bare.strip_prefix("whatsapp:").unwrap_or(bare);
    super::e164(bare)
}

/// A field fit to store (see [`super::clean`]).
fn field(form: &Form, name: &str, max: usize) -> Option<String> {
    form.get(name).map(|v| super::clean(v, max))
}

/// Reads a webhook; `None` when it is neither a status nor a message.
pub fn read(form: &Form) -> Option<Event> {
    let message_sid = field(form, "MessageSid", 256)
        .or_else(|| field(form, "SmsSid", 256))
        .filter(|sid| !sid.is_empty())?;
    let raw = form.get("MessageStatus").or_else(|| form.get("SmsStatus"));
    let status = match raw {
        Some("sent") => MessageStatus::Sent,
        Some("delivered") => MessageStatus::Delivered,
        Some("read") => MessageStatus::Read,
        Some("failed" | "undelivered" | "canceled") => MessageStatus::Failed,
        None | Some("received" | "receiving") => {
            let phone = address(form.get("From")?)?;
            let media = form.get("NumMedia").and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
            let text = field(form, "Body", 4096).or_else(|| field(form, "ButtonText", 4096));
            let message_type =
                field(form, "MessageType", 50).unwrap_or_else(|| if media > 0 { "media" } else { "text" }.to_string());
            return Some(Event::Inbound {
                message_sid,
                phone,
                to: form.get("To").and_then(address),
                message_type,
                text,
            });
        }
        Some(other) => return Some(Event::Ignored(other.to_string())),
    };
    let raw = raw.unwrap_or_default();
    let error_code = field(form, "ErrorCode", 50).filter(|c| c != "0");
    let error_message = field(form, "ChannelStatusMessage", 1000)
        .or_else(|| field(form, "ErrorMessage", 1000))
        .or_else(|| error_code.as_deref().and_then(describe).map(str::to_string));
    let mut detail = json!({"source": "twilio", "provider_status": raw, "provider_message_id": message_sid});
    for (name, key) in [
        ("ErrorCode", "error_code"),
        ("ChannelStatusMessage", "channel_status_message"),
        ("EventType", "event_type"),
    ] {
        if let Some(v) = self::field(form, name, 1000) {
            detail[key] = json!(v);
        }
    }
    Some(Event::Status {
        message_sid,
        status,
        error_code: if status == MessageStatus::Failed {
            error_code
        } else {
            None
        },
        error_message: if status == MessageStatus::Failed {
            error_message
        } else {
            None
        },
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn reads_status_callbacks() {
        let f = form(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "63016"),
            ("AccountSid", "AC1"),
        ]);
        let Some(Event::Status {
            status,
            error_code,
            error_message,
            ..
        }) = read(&f)
        else {
            panic!("a status")
        };
        assert_eq!(status, MessageStatus::Failed);
        assert_eq!(error_code.as_deref(), Some("63016"));
        assert!(error_message.unwrap().contains("24 h"));
        let f = form(&[("MessageSid", "SM1"), ("MessageStatus", "read"), ("EventType", "READ")]);
        assert!(matches!(
            read(&f),
            Some(Event::Status {
                status: MessageStatus::Read,
                ..
            })
        ));
        let f = form(&[("MessageSid", "SM1"), ("MessageStatus", "queued")]);
        assert_eq!(read(&f), Some(Event::Ignored("queued".into())));
    }

    #[test]
    fn reads_incoming_messages() {
        let f = Form::parse(b"MessageSid=SM2&From=whatsapp%3A%2B584121234567&To=whatsapp%3A%2B14155238886&Body=Baja&NumMedia=0&SmsStatus=received");
        assert_eq!(
            read(&f),
            Some(Event::Inbound {
                message_sid: "SM2".into(),
                phone: "+584121234567".into(),
                to: Some("+14155238886".into()),
                message_type: "text".into(),
                text: Some("Baja".into()),
            })
        );
        assert!(read(&form(&[("Body", "hi")])).is_none(), "no MessageSid");
    }
}
