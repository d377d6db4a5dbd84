//! Meta's webhook payloads (providers.md §1.4), read tolerantly (Meta adds fields without
//! notice): `entry[].changes[]` whose `field` is
//! - `messages`: `value.metadata.phone_number_id` names the sender; `statuses[]` report on
//!   messages it sent, `messages[]` are replies;
//! - `phone_number_quality_update` (`value.display_phone_number`, `event`, `current_limit`)
//!   and `account_update` (`event`, `ban_info`; `entry[].id` is the WhatsApp Business
//!   Account): the sender's quality rating and status, see [`account_effect`].

use pregon_domain::{MessageStatus, SenderStatus};
use pregon_providers::meta_webhooks::{self, TemplateStatusUpdate, UserPreferenceUpdate};
use pregon_store::Millis;
use serde_json::{json, Value};

/// One `statuses[]` item.
#[derive(Debug, Clone)]
pub struct MetaStatus {
    pub provider_message_id: String,
    pub status: MessageStatus,
    /// `biz_opaque_callback_data`: our message id, as we sent it.
    pub message_hint: Option<i64>,
    pub at: Option<Millis>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The event's detail.
    pub detail: Value,
    /// `recipient_user_id`: the recipient's BSUID, when Meta reports a well-formed one.
    pub user_id: Option<String>,
}

/// One `messages[]` item (a reply).
#[derive(Debug, Clone)]
pub struct MetaInbound {
    /// The sender's identity: E.164 when `from` is there, else its BSUID
    /// ([`pregon_domain::identity_key`]).
    pub key: String,
    /// `from_user_id` (or the matching contact's `user_id`), when well-formed.
    pub user_id: Option<String>,
    pub provider_message_id: String,
    pub message_type: String,
    pub text: Option<String>,
    pub at: Option<Millis>,
}

/// One `changes[]` item pregon acts on.
#[derive(Debug, Clone)]
pub enum Change {
    Messages {
        phone_number_id: String,
        statuses: Vec<MetaStatus>,
        inbound: Vec<MetaInbound>,
    },
    /// `phone_number_quality_update` or `account_update`.
    Account {
        field: String,
        /// `entry[].id`.
        waba_id: Option<String>,
        /// The number it is about, digits only, when it names one.
        phone_digits: Option<String>,
        value: Value,
    },
    /// `message_template_status_update`: a template of the account approved, paused,
    /// disabled… (read by the providers crate's typed reader).
    Template(Box<TemplateStatusUpdate>),
    /// `user_preferences`: a user stopped or resumed marketing messages.
    Preference(Box<UserPreferenceUpdate>),
}

/// A string or a number, as text fit to store (see [`super::clean`]).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(super::clean(s, 4096)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An id: text of at most 256 characters.
fn id(v: &Value) -> Option<String> {
    text(v).filter(|t| t.chars().count() <= 256)
}

/// Unix seconds (as Meta writes them, a string) to milliseconds; `None` when absent or absurd.
pub fn seconds(v: &Value) -> Option<Millis> {
    let secs: i64 = text(v)?.parse().ok()?;
    // 2001-09-09 .. 2286-11-20: anything else is not a timestamp of this world.
    (1_000_000_000..10_000_000_000).contains(&secs).then(|| secs * 1000)
}

/// Digits only.
pub fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// Reads every change pregon acts on; anything else (other objects, other fields, items
/// without the ids they need) is skipped.
pub fn parse(body: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    for entry in body["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            let value = &change["value"];
            match change["field"].as_str().unwrap_or("messages") {
                "messages" => {
                    let Some(phone_number_id) = id(&value["metadata"]["phone_number_id"]) else {
                        continue;
                    };
                    if let Some(errors) = value["errors"].as_array().filter(|e| !e.is_empty()) {
                        tracing::warn!(%phone_number_id, ?errors, "Meta reported webhook errors");
                    }
                    out.push(Change::Messages {
                        statuses: value["statuses"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(status)
                            .collect(),
                        inbound: value["messages"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|m| inbound_among(m, &value["contacts"]))
                            .collect(),
                        phone_number_id,
                    });
                }
                "message_template_status_update" | "user_preferences" => {
                    // The typed reader reads whole bodies: hand it this one change.
                    let one = serde_json::json!({
                        "object": "whatsapp_business_account",
                        "entry": [{"id": entry["id"], "time": entry["time"], "changes": [change]}],
                    });
                    out.extend(meta_webhooks::parse_value(&one).into_iter().filter_map(|e| match e {
                        meta_webhooks::Event::TemplateStatus(t) => Some(Change::Template(Box::new(t))),
                        meta_webhooks::Event::UserPreference(p) => Some(Change::Preference(Box::new(p))),
                        _ => None,
                    }));
                }
                field @ ("phone_number_quality_update" | "account_update") => out.push(Change::Account {
                    field: field.to_string(),
                    waba_id: text(&entry["id"]),
                    phone_digits: text(&value["display_phone_number"])
                        .or_else(|| text(&value["phone_number"]))
                        .map(|p| digits(&p))
                        .filter(|d| !d.is_empty()),
                    value: value.clone(),
                }),
                _ => {}
            }
        }
    }
    out
}

fn status(s: &Value) -> Option<MetaStatus> {
    let provider_message_id = id(&s["id"])?;
    let raw = s["status"].as_str()?;
    let status = match raw {
        "sent" => MessageStatus::Sent,
        "delivered" => MessageStatus::Delivered,
        // A voice message played has been read.
        "read" | "played" => MessageStatus::Read,
        "failed" => MessageStatus::Failed,
        // `deleted`, `warning`, …: nothing to do with delivery.
        _ => return None,
    };
    let error = &s["errors"][0];
    let (error_code, error_message) = if error.is_object() {
        let title = text(&error["title"]);
        let message = text(&error["message"]);
        let words = match (title, message) {
            (Some(t), Some(m)) if t != m => Some(format!("{t}: {m}")),
            (t, m) => m.or(t),
        };
        (text(&error["code"]), words)
    } else {
        (None, None)
    };
    let mut detail = json!({
        "source": "meta",
        "provider_status": raw,
        "provider_message_id": provider_message_id,
        "timestamp": text(&s["timestamp"]),
    });
    for key in ["recipient_id", "pricing", "conversation", "errors"] {
        if !s[key].is_null() {
            detail[key] = s[key].clone();
        }
    }
    Some(MetaStatus {
        user_id: bsuid(&s["recipient_user_id"]),
        message_hint: text(&s["biz_opaque_callback_data"]).and_then(|d| d.parse().ok()),
        at: seconds(&s["timestamp"]),
        status,
        error_code,
        error_message,
        detail,
        provider_message_id,
    })
}

/// A well-formed BSUID; anything else is ignored.
fn bsuid(v: &Value) -> Option<String> {
    let id = pregon_domain::BusinessUserId::parse(v.as_str()?).ok()?;
    Some(id.to_string())
}

#[cfg(test)]
fn inbound(m: &Value) -> Option<MetaInbound> {
    inbound_among(m, &Value::Null)
}

/// One reply; `contacts` is the change's `contacts[]`, where Meta may name the BSUID too.
/// A reply needs a phone (`from`) or a well-formed BSUID (`from_user_id`).
fn inbound_among(m: &Value, contacts: &Value) -> Option<MetaInbound> {
    let provider_message_id = id(&m["id"])?;
    let from = match text(&m["from"]) {
        Some(f) => Some(super::e164(&f)?),
        None => None,
    };
    let from_digits = from.as_deref().map(digits);
    let contact_user = || {
        let contacts = contacts.as_array()?;
        let c = match &from_digits {
            Some(d) => contacts
                .iter()
                .find(|c| text(&c["wa_id"]).as_deref() == Some(d.as_str()))?,
            None if contacts.len() == 1 => &contacts[0],
            None => return None,
        };
        bsuid(&c["user_id"])
    };
    let user_id = bsuid(&m["from_user_id"]).or_else(contact_user);
    let key = from.or_else(|| user_id.clone())?;
    let message_type = m["type"].as_str().map_or("unknown".into(), |t| super::clean(t, 50));
    let text = match message_type.as_str() {
        "text" => text(&m["text"]["body"]),
        "button" => text(&m["button"]["text"]).or_else(|| text(&m["button"]["payload"])),
        "interactive" => {
            let reply = &m["interactive"];
            text(&reply["button_reply"]["title"]).or_else(|| text(&reply["list_reply"]["title"]))
        }
        other => text(&m[other]["caption"]),
    };
    Some(MetaInbound {
        key,
        user_id,
        provider_message_id,
        message_type,
        text,
        at: seconds(&m["timestamp"]),
    })
}

/// What an account webhook means for its sender: `(quality_rating, status)`, each `None`
/// when it says nothing about it.
///
/// | field | `event` | quality_rating | status |
/// |---|---|---|---|
/// | `phone_number_quality_update` | `FLAGGED`, `DOWNGRADE` | `RED` | |
/// | | `UNFLAGGED` | `YELLOW` | |
/// | | `UPGRADE` | `GREEN` | |
/// | | `ONBOARDING`, `THROUGHPUT_UPGRADE`, other | | |
/// | `account_update` | `DISABLED_UPDATE` with `ban_info.waba_ban_state` `DISABLE` | | `suspended` |
/// | | `DISABLED_UPDATE` with `REINSTATE` | | `active` (only from `suspended`) |
/// | | `ACCOUNT_DELETED`, `DISABLED`, `BANNED` | | `suspended` |
/// | | other (`ACCOUNT_VIOLATION`, `SCHEDULE_FOR_DISABLE`, …) | | (logged) |
///
/// A sender that becomes `suspended` stops sending, and its running campaigns pause with
/// reason `sender_paused`; they resume by themselves when it is reinstated (`active`).
pub fn account_effect(field: &str, value: &Value) -> (Option<&'static str>, Option<SenderStatus>) {
    let event = value["event"].as_str().unwrap_or_default().to_ascii_uppercase();
    let ban = value["ban_info"]["waba_ban_state"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let quality = match (field, event.as_str()) {
        ("phone_number_quality_update", "FLAGGED" | "DOWNGRADE") => Some("RED"),
        ("phone_number_quality_update", "UNFLAGGED") => Some("YELLOW"),
        ("phone_number_quality_update", "UPGRADE") => Some("GREEN"),
        _ => None,
    };
    let status = match (event.as_str(), ban.as_str()) {
        ("DISABLED_UPDATE", "DISABLE") | ("ACCOUNT_DELETED" | "DISABLED" | "BANNED", _) => {
            Some(SenderStatus::Suspended)
        }
        ("DISABLED_UPDATE", "REINSTATE") | ("REINSTATED", _) => Some(SenderStatus::Active),
        _ => None,
    };
    (quality, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// providers.md §1.4, byte for byte.
    const DELIVERED: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.TEST1","status":"delivered","timestamp":"1750263773","recipient_id":"16505551234","pricing":{"billable":true,"pricing_model":"PMP","category":"marketing","type":"regular"}}]},"field":"messages"}]}]}"#;
    const INBOUND: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"1234567890987654321","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"972123456789","phone_number_id":"1122334455667"},"contacts":[{"profile":{"name":"Test Name"},"wa_id":"972987654321"}],"messages":[{"from":"972987654321","id":"wamid.xyzxyz","timestamp":"1697043223","text":{"body":"Body Text"},"type":"text"}]},"field":"messages"}]}]}"#;

    #[test]
    fn reads_the_documented_status() {
        let changes = parse(&serde_json::from_str(DELIVERED).unwrap());
        let [Change::Messages {
            phone_number_id,
            statuses,
            inbound,
        }] = changes.as_slice()
        else {
            panic!("one messages change: {changes:?}")
        };
        assert_eq!(phone_number_id, "106540352242922");
        assert!(inbound.is_empty());
        let s = &statuses[0];
        assert_eq!(
            (s.provider_message_id.as_str(), s.status, s.at, s.message_hint),
            ("wamid.TEST1", MessageStatus::Delivered, Some(1_750_263_773_000), None)
        );
        assert_eq!(s.detail["pricing"]["pricing_model"], "PMP");
        assert_eq!(s.detail["provider_status"], "delivered");
    }

    #[test]
    fn reads_the_documented_reply_and_other_types() {
        let changes = parse(&serde_json::from_str(INBOUND).unwrap());
        let [Change::Messages { inbound, .. }] = changes.as_slice() else {
            panic!("one messages change")
        };
        assert_eq!(inbound[0].key, "+972987654321");
        assert_eq!(inbound[0].text.as_deref(), Some("Body Text"));
        assert_eq!(inbound[0].message_type, "text");
        let button =
            json!({"from": "584121234567", "id": "w1", "type": "button", "button": {"payload": "p", "text": "Baja"}});
        assert_eq!(super::inbound(&button).unwrap().text.as_deref(), Some("Baja"));
        let list = json!({"from": "584121234567", "id": "w2", "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": "1", "title": "STOP"}}});
        assert_eq!(super::inbound(&list).unwrap().text.as_deref(), Some("STOP"));
        let image = json!({"from": "584121234567", "id": "w3", "type": "image", "image": {"id": "m"}});
        assert_eq!(super::inbound(&image).unwrap().text, None);
    }

    #[test]
    fn reads_a_failed_status_with_its_error() {
        let s = json!({"id": "wamid.F", "status": "failed", "timestamp": "1750263773", "biz_opaque_callback_data": "42",
            "errors": [{"code": 130472, "title": "User's number is part of an experiment", "message": "User's number is part of an experiment"}]});
        let s = status(&s).unwrap();
        assert_eq!(s.status, MessageStatus::Failed);
        assert_eq!(s.message_hint, Some(42));
        assert_eq!(s.error_code.as_deref(), Some("130472"));
        assert_eq!(
            s.error_message.as_deref(),
            Some("User's number is part of an experiment")
        );
        assert!(status(&json!({"id": "x", "status": "deleted"})).is_none());
    }

    #[test]
    fn account_events_map_to_quality_and_status() {
        let q = "phone_number_quality_update";
        let a = "account_update";
        assert_eq!(account_effect(q, &json!({"event": "FLAGGED"})), (Some("RED"), None));
        assert_eq!(account_effect(q, &json!({"event": "UPGRADE"})), (Some("GREEN"), None));
        assert_eq!(account_effect(q, &json!({"event": "THROUGHPUT_UPGRADE"})), (None, None));
        assert_eq!(
            account_effect(
                a,
                &json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE"}})
            ),
            (None, Some(SenderStatus::Suspended))
        );
        assert_eq!(
            account_effect(
                a,
                &json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}})
            ),
            (None, Some(SenderStatus::Active))
        );
        assert_eq!(account_effect(a, &json!({"event": "ACCOUNT_VIOLATION"})), (None, None));
    }
}
