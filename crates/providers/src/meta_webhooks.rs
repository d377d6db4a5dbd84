//! Typed readers of Meta's webhook fields (docs/providers.md §1.4–§1.6), for the report
//! writer: each `entry[].changes[]` becomes at most a few [`Event`]s.
//!
//! | `field` | becomes |
//! |---|---|
//! | `message_template_status_update` | [`Event::TemplateStatus`]: the template's new status and what it means for its campaigns ([`TemplateEvent::effect`]) |
//! | `message_template_quality_update` | [`Event::TemplateQuality`] |
//! | `user_preferences` | [`Event::UserPreference`]: marketing stopped or resumed, by phone and/or BSUID |
//! | `phone_number_quality_update` | [`Event::PhoneNumberQuality`]: messaging limit and throughput ([`PhoneNumberQualityUpdate::throughput`]) |
//! | `messages`, `statuses[]` | [`Event::Status`], with `pricing` and the recipient's BSUID |
//! | `messages`, `messages[]` | [`Event::Inbound`], from a phone, a BSUID, or both |
//!
//! Meta adds fields and values without notice, so everything is read tolerantly: unknown
//! fields are ignored, unknown values become `Other(…)` or `None`, an item without the ids it
//! needs is skipped. Nothing here panics on any input; only a body that is not JSON at all
//! is an error ([`parse`]).

use pregon_domain::{
    BusinessUserId, MessagingTier, Millis, OptOutScope, PricingCategory, PricingType, TemplateCategory,
    TemplateQuality, TemplateStatus,
};
use serde_json::Value;

use crate::classify::{self, ErrorReason};
use crate::throughput::ThroughputLevel;

/// A webhook body that is not JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the webhook body is not JSON: {0}")]
pub struct NotJson(pub String);

/// One thing a webhook says.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    TemplateStatus(TemplateStatusUpdate),
    TemplateQuality(TemplateQualityUpdate),
    UserPreference(UserPreferenceUpdate),
    PhoneNumberQuality(PhoneNumberQualityUpdate),
    Status(StatusUpdate),
    Inbound(InboundMessage),
}

/// Reads a webhook body as received. Bodies of other objects than
/// `whatsapp_business_account`, and fields pregon does not read, give no events.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, NotJson> {
    let value: Value = serde_json::from_slice(body).map_err(|e| NotJson(e.to_string()))?;
    Ok(parse_value(&value))
}

/// [`parse`] on a body already read as JSON.
pub fn parse_value(body: &Value) -> Vec<Event> {
    if let Some(object) = body.get("object").and_then(Value::as_str) {
        if object != "whatsapp_business_account" {
            return Vec::new();
        }
    }
    let mut out = Vec::new();
    for entry in array(body, "entry") {
        let waba_id = text(entry.get("id"));
        let entry_time = seconds(entry.get("time"));
        for change in array(entry, "changes") {
            let value = change.get("value").unwrap_or(&Value::Null);
            let ctx = Context {
                waba_id: waba_id.clone(),
                at: entry_time,
            };
            match change.get("field").and_then(Value::as_str).unwrap_or("messages") {
                "message_template_status_update" => {
                    out.extend(template_status(value, &ctx).map(Event::TemplateStatus));
                }
                "message_template_quality_update" => {
                    out.extend(template_quality(value, &ctx).map(Event::TemplateQuality));
                }
                "user_preferences" => out.extend(user_preferences(value, &ctx).map(Event::UserPreference)),
                "phone_number_quality_update" => {
                    out.extend(phone_number_quality(value, &ctx).map(Event::PhoneNumberQuality));
                }
                "messages" => messages(value, &mut out),
                _ => {}
            }
        }
    }
    out
}

/// What every event of one entry shares.
struct Context {
    waba_id: Option<String>,
    /// `entry[].time`: when Meta triggered the webhook.
    at: Option<Millis>,
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// A non-empty string or a number, as text.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Unix seconds (a string or a number) to milliseconds; `None` when absent or absurd.
fn seconds(v: Option<&Value>) -> Option<Millis> {
    let secs: i64 = text(v)?.parse().ok()?;
    // 2001-09-09 .. 2286-11-20: anything else is not a timestamp of this world.
    (1_000_000_000..10_000_000_000).contains(&secs).then(|| secs * 1000)
}

/// A phone number as Meta writes it (`16505551234`, sometimes `+1 650…`): its digits, if
/// there are 7 to 15 of them.
fn phone_digits(v: Option<&Value>) -> Option<String> {
    let digits: String = text(v)?.chars().filter(char::is_ascii_digit).collect();
    (7..=15).contains(&digits.len()).then_some(digits)
}

fn user_id(v: Option<&Value>) -> Option<BusinessUserId> {
    BusinessUserId::parse(&text(v)?).ok()
}

/// `"NONE"` and blanks say nothing.
fn meaningful(v: Option<&Value>) -> Option<String> {
    text(v).filter(|s| !s.eq_ignore_ascii_case("NONE"))
}

// --- message_template_status_update --------------------------------------------------------

/// What happened to a template (`event` of `message_template_status_update`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateEvent {
    Approved,
    Rejected,
    Pending,
    /// Paused for low quality (3 h the first time, 6 h the second).
    Paused,
    /// Disabled after repeated low quality.
    Disabled,
    /// No longer flagged or disabled: sendable again.
    Reinstated,
    /// Deleted in WhatsApp Manager; gone for good after a grace period.
    PendingDeletion,
    Deleted,
    /// Negative feedback: at risk of being disabled (`disable_info.disable_date`). Still
    /// sendable.
    Flagged,
    InAppeal,
    /// The account is at its template limit.
    LimitExceeded,
    /// Locked (cannot be edited) or unlocked.
    Locked,
    Unlocked,
    Archived,
    Unarchived,
    /// A value this version does not know, as Meta wrote it.
    Other(String),
}

/// What a template event means for the running campaigns of that template (api.md
/// "Additions, 2026-12").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateEffect {
    /// Pause them with `paused_reason: "template_paused"`, saying Meta's reason.
    Pause,
    /// Resume exactly the campaigns a template pause paused.
    Resume,
    /// End them `failed` with this `failure_reason`.
    End(TemplateEnd),
}

/// Why a template's campaigns end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateEnd {
    Disabled,
    Rejected,
    Deleted,
}

impl TemplateEnd {
    /// The campaign's `failure_reason`.
    pub fn failure_reason(self) -> &'static str {
        match self {
            Self::Disabled => "template_disabled",
            Self::Rejected => "template_rejected",
            Self::Deleted => "template_deleted",
        }
    }
}

impl TemplateEvent {
    pub fn parse(event: &str) -> Self {
        match event.trim().to_ascii_uppercase().as_str() {
            "APPROVED" => Self::Approved,
            "REJECTED" => Self::Rejected,
            "PENDING" => Self::Pending,
            "PAUSED" => Self::Paused,
            "DISABLED" => Self::Disabled,
            "REINSTATED" => Self::Reinstated,
            "PENDING_DELETION" => Self::PendingDeletion,
            "DELETED" => Self::Deleted,
            "FLAGGED" => Self::Flagged,
            "IN_APPEAL" => Self::InAppeal,
            "LIMIT_EXCEEDED" => Self::LimitExceeded,
            "LOCKED" => Self::Locked,
            "UNLOCKED" => Self::Unlocked,
            "ARCHIVED" => Self::Archived,
            "UNARCHIVED" => Self::Unarchived,
            _ => Self::Other(event.trim().to_string()),
        }
    }

    /// The template's status after this event; `None` when the event does not change
    /// whether it can be sent (flagged, locked, archived, limits, unknown events).
    pub fn status(&self) -> Option<TemplateStatus> {
        match self {
            Self::Approved | Self::Reinstated => Some(TemplateStatus::Approved),
            Self::Pending | Self::InAppeal => Some(TemplateStatus::Pending),
            Self::Paused => Some(TemplateStatus::Paused),
            Self::Disabled | Self::PendingDeletion | Self::Deleted => Some(TemplateStatus::Disabled),
            Self::Rejected => Some(TemplateStatus::Rejected),
            _ => None,
        }
    }

    /// What the event does to the template's running campaigns; `None`: nothing.
    pub fn effect(&self) -> Option<TemplateEffect> {
        match self {
            Self::Paused => Some(TemplateEffect::Pause),
            Self::Approved | Self::Reinstated => Some(TemplateEffect::Resume),
            Self::Disabled => Some(TemplateEffect::End(TemplateEnd::Disabled)),
            Self::Rejected => Some(TemplateEffect::End(TemplateEnd::Rejected)),
            Self::PendingDeletion | Self::Deleted => Some(TemplateEffect::End(TemplateEnd::Deleted)),
            _ => None,
        }
    }
}

/// `other_info` of a pause or unpause: `title` (`FIRST_PAUSE`, `SECOND_PAUSE`,
/// `RATE_LIMITING_PAUSE`, `UNPAUSE`, `DISABLED`) and Meta's sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseInfo {
    pub title: Option<String>,
    pub description: Option<String>,
}

/// One `message_template_status_update`.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateStatusUpdate {
    /// `entry[].id`: the WhatsApp Business Account.
    pub waba_id: Option<String>,
    pub template_id: Option<String>,
    pub name: String,
    /// `message_template_language` (`en_US`, sometimes written `en-US`).
    pub language: String,
    pub event: TemplateEvent,
    pub category: Option<TemplateCategory>,
    /// `reason` (why it was rejected: `INCORRECT_CATEGORY`, `PROMOTIONAL`…), unless `NONE`.
    pub reason: Option<String>,
    pub other_info: Option<PauseInfo>,
    /// `disable_info.disable_date`: when a flagged template will be (or was) disabled.
    pub disable_date: Option<Millis>,
    /// `rejection_info`: Meta's explanation and recommendation, for `INVALID_FORMAT`.
    pub rejection_info: Option<(String, Option<String>)>,
    /// `entry[].time`.
    pub at: Option<Millis>,
}

impl TemplateStatusUpdate {
    /// Meta's words on why, for `paused_reason` and `failure_reason` details: the pause
    /// description, else the rejection explanation, else the reason code.
    pub fn explanation(&self) -> Option<String> {
        self.other_info
            .as_ref()
            .and_then(|o| o.description.clone())
            .or_else(|| self.rejection_info.as_ref().map(|(r, _)| r.clone()))
            .or_else(|| self.reason.clone())
    }
}

fn template_status(v: &Value, ctx: &Context) -> Option<TemplateStatusUpdate> {
    let name = text(v.get("message_template_name"))?;
    let language = text(v.get("message_template_language"))?;
    let event = TemplateEvent::parse(v.get("event").and_then(Value::as_str)?);
    let other_info = v.get("other_info").filter(|o| o.is_object()).map(|o| PauseInfo {
        title: text(o.get("title")),
        description: text(o.get("description")),
    });
    let rejection_info = v
        .get("rejection_info")
        .and_then(|r| Some((text(r.get("reason"))?, text(r.get("recommendation")))));
    Some(TemplateStatusUpdate {
        waba_id: ctx.waba_id.clone(),
        template_id: text(v.get("message_template_id")),
        name,
        language,
        event,
        category: v
            .get("message_template_category")
            .and_then(Value::as_str)
            .and_then(TemplateCategory::parse_meta),
        reason: meaningful(v.get("reason")),
        other_info,
        disable_date: seconds(v.get("disable_info").and_then(|d| d.get("disable_date"))),
        rejection_info,
        at: ctx.at,
    })
}

// --- message_template_quality_update -------------------------------------------------------

/// One `message_template_quality_update`.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateQualityUpdate {
    pub waba_id: Option<String>,
    pub template_id: Option<String>,
    pub name: String,
    pub language: String,
    pub previous: TemplateQuality,
    pub quality: TemplateQuality,
    pub at: Option<Millis>,
}

fn template_quality(v: &Value, ctx: &Context) -> Option<TemplateQualityUpdate> {
    let quality = |key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .map(TemplateQuality::parse_meta)
            .unwrap_or(TemplateQuality::Unknown)
    };
    // Without a new score the webhook says nothing.
    v.get("new_quality_score")?.as_str()?;
    Some(TemplateQualityUpdate {
        waba_id: ctx.waba_id.clone(),
        template_id: text(v.get("message_template_id")),
        name: text(v.get("message_template_name"))?,
        language: text(v.get("message_template_language"))?,
        previous: quality("previous_quality_score"),
        quality: quality("new_quality_score"),
        at: ctx.at,
    })
}

// --- user_preferences ----------------------------------------------------------------------

/// A user's marketing preference (`value` of `user_preferences`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    /// Stop marketing messages from this business.
    Stop,
    /// Resume them.
    Resume,
}

/// One `user_preferences[]` item of `category: marketing_messages`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPreferenceUpdate {
    pub waba_id: Option<String>,
    /// `metadata.phone_number_id`: the sender it was said to.
    pub phone_number_id: Option<String>,
    /// The user's phone, digits (`wa_id`), when Meta shares it.
    pub phone: Option<String>,
    /// The user's business-scoped user ID, when given.
    pub user_id: Option<BusinessUserId>,
    pub preference: Preference,
    /// Meta's sentence ("User requested to stop marketing messages").
    pub detail: Option<String>,
    pub at: Option<Millis>,
}

impl UserPreferenceUpdate {
    /// The opt-out this changes: `stop` adds a `marketing` opt-out (`source: provider`),
    /// `resume` removes it.
    pub fn opt_out(&self) -> (OptOutScope, bool) {
        (OptOutScope::Marketing, self.preference == Preference::Stop)
    }
}

fn user_preferences<'a>(v: &'a Value, ctx: &'a Context) -> impl Iterator<Item = UserPreferenceUpdate> + 'a {
    let phone_number_id = text(v.get("metadata").and_then(|m| m.get("phone_number_id")));
    let contacts: Vec<&Value> = array(v, "contacts").collect();
    array(v, "user_preferences").filter_map(move |p| {
        let category = p
            .get("category")
            .and_then(Value::as_str)
            .unwrap_or("marketing_messages");
        if !category.eq_ignore_ascii_case("marketing_messages") {
            return None;
        }
        let preference = match p
            .get("value")
            .and_then(Value::as_str)?
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "stop" => Preference::Stop,
            "resume" => Preference::Resume,
            _ => return None,
        };
        let phone = phone_digits(p.get("wa_id"));
        let mut user = user_id(p.get("user_id"));
        if user.is_none() {
            // The BSUID may come on the matching contact only.
            user = contacts
                .iter()
                .find(|c| phone.is_some() && phone_digits(c.get("wa_id")) == phone)
                .and_then(|c| user_id(c.get("user_id")));
        }
        if phone.is_none() && user.is_none() {
            return None;
        }
        Some(UserPreferenceUpdate {
            waba_id: ctx.waba_id.clone(),
            phone_number_id: phone_number_id.clone(),
            phone,
            user_id: user,
            preference,
            detail: text(p.get("detail")),
            at: seconds(p.get("timestamp")).or(ctx.at),
        })
    })
}

// --- phone_number_quality_update -----------------------------------------------------------

/// What changed for a number (`event` of `phone_number_quality_update`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneNumberEvent {
    /// Still being registered.
    Onboarding,
    /// Upgraded to higher throughput (1,000 messages per second).
    ThroughputUpgrade,
    /// Messaging limit raised (older payloads).
    Upgrade,
    /// Messaging limit lowered (older payloads).
    Downgrade,
    /// Quality flagged (older payloads).
    Flagged,
    Unflagged,
    Other(String),
}

impl PhoneNumberEvent {
    pub fn parse(event: &str) -> Self {
        match event.trim().to_ascii_uppercase().as_str() {
            "ONBOARDING" => Self::Onboarding,
            "THROUGHPUT_UPGRADE" => Self::ThroughputUpgrade,
            "UPGRADE" => Self::Upgrade,
            "DOWNGRADE" => Self::Downgrade,
            "FLAGGED" => Self::Flagged,
            "UNFLAGGED" => Self::Unflagged,
            _ => Self::Other(event.trim().to_string()),
        }
    }
}

/// One `phone_number_quality_update`.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneNumberQualityUpdate {
    pub waba_id: Option<String>,
    /// `display_phone_number`, digits: which sender it is about.
    pub display_phone_number: Option<String>,
    pub event: PhoneNumberEvent,
    /// `max_daily_conversations_per_business`: the portfolio's messaging limit.
    pub messaging_limit: Option<MessagingTier>,
    /// `current_limit` (to be removed by Meta; read for older payloads).
    pub current_limit: Option<MessagingTier>,
    /// `old_limit`, on limit changes.
    pub old_limit: Option<MessagingTier>,
    pub at: Option<Millis>,
}

impl PhoneNumberQualityUpdate {
    /// The number's throughput level after this event, when it says: `THROUGHPUT_UPGRADE`
    /// means 1,000 messages per second.
    pub fn throughput(&self) -> Option<ThroughputLevel> {
        (self.event == PhoneNumberEvent::ThroughputUpgrade).then_some(ThroughputLevel::High)
    }

    /// The messaging limit to record: the portfolio's, else the number's current one.
    pub fn limit(&self) -> Option<MessagingTier> {
        self.messaging_limit.or(self.current_limit)
    }
}

fn phone_number_quality(v: &Value, ctx: &Context) -> Option<PhoneNumberQualityUpdate> {
    let tier = |key: &str| v.get(key).and_then(Value::as_str).and_then(MessagingTier::parse);
    Some(PhoneNumberQualityUpdate {
        waba_id: ctx.waba_id.clone(),
        display_phone_number: phone_digits(v.get("display_phone_number")),
        event: PhoneNumberEvent::parse(v.get("event").and_then(Value::as_str)?),
        messaging_limit: tier("max_daily_conversations_per_business"),
        current_limit: tier("current_limit"),
        old_limit: tier("old_limit"),
        at: ctx.at,
    })
}

// --- messages: statuses --------------------------------------------------------------------

/// A message's delivery status (`statuses[].status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    /// Read (a voice message `played` counts as read).
    Read,
    Failed,
    /// `deleted`, `warning` and values this version does not know: nothing about delivery.
    Other(String),
}

impl DeliveryStatus {
    pub fn parse(status: &str) -> Self {
        match status.trim().to_ascii_lowercase().as_str() {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" | "played" => Self::Read,
            "failed" => Self::Failed,
            other => Self::Other(other.to_string()),
        }
    }
}

/// How a message was priced (`pricing_model`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PricingModel {
    /// Per-message pricing, in force since 2025-07-01.
    Pmp,
    /// Conversation-based pricing: before 2025-07-01, and free entry-point conversations.
    Cbp,
    Other(String),
}

/// `statuses[].pricing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    /// `billable`: whether Meta charges the message. Absent in some payloads.
    pub billable: Option<bool>,
    pub model: Option<PricingModel>,
    pub category: Option<PricingCategory>,
    /// `type`: `regular`, or free (`free_customer_service`, `free_entry_point`).
    pub kind: Option<PricingType>,
}

impl Pricing {
    /// Whether the message is charged: billable and not of a free type.
    pub fn is_charged(&self) -> bool {
        self.billable.unwrap_or(false) && self.kind.is_none_or(PricingType::is_charged)
    }
}

/// Reads a `statuses[].pricing` object; `None` when it is not an object.
pub fn pricing(v: &Value) -> Option<Pricing> {
    if !v.is_object() {
        return None;
    }
    Some(Pricing {
        billable: v.get("billable").and_then(Value::as_bool),
        model: v
            .get("pricing_model")
            .and_then(Value::as_str)
            .map(|m| match m.trim().to_ascii_uppercase().as_str() {
                "PMP" => PricingModel::Pmp,
                "CBP" => PricingModel::Cbp,
                other => PricingModel::Other(other.to_string()),
            }),
        category: v
            .get("category")
            .and_then(Value::as_str)
            .and_then(PricingCategory::parse_meta),
        kind: v.get("type").and_then(Value::as_str).and_then(PricingType::parse_meta),
    })
}

/// One of `statuses[].errors[]` (or `value.errors[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookError {
    pub code: Option<i64>,
    pub title: Option<String>,
    pub message: Option<String>,
    /// `error_data.details`.
    pub details: Option<String>,
}

impl WebhookError {
    /// What the code says beyond failure (131050: a marketing opt-out, …).
    pub fn reason(&self) -> Option<ErrorReason> {
        self.code.and_then(classify::meta_reason)
    }
}

fn errors(v: &Value) -> Vec<WebhookError> {
    array(v, "errors")
        .filter(|e| e.is_object())
        .map(|e| WebhookError {
            code: e.get("code").and_then(Value::as_i64),
            title: text(e.get("title")),
            message: text(e.get("message")),
            details: text(e.get("error_data").and_then(|d| d.get("details"))),
        })
        .collect()
}

/// One `statuses[]` item: what became of a message pregon sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub phone_number_id: String,
    /// `id`: the `wamid` the send answered.
    pub wamid: String,
    pub status: DeliveryStatus,
    pub at: Option<Millis>,
    /// `recipient_id`: the recipient's phone, digits, when Meta shares it.
    pub recipient_phone: Option<String>,
    /// `recipient_user_id`: the recipient's BSUID.
    pub recipient_user_id: Option<BusinessUserId>,
    /// `recipient_parent_user_id`, for linked business portfolios.
    pub recipient_parent_user_id: Option<BusinessUserId>,
    /// The recipient's username (`contacts[].profile.username`), on delivered and read.
    pub username: Option<String>,
    /// `biz_opaque_callback_data`: what pregon sent with the message (its id).
    pub callback_data: Option<String>,
    pub pricing: Option<Pricing>,
    pub errors: Vec<WebhookError>,
}

impl StatusUpdate {
    /// The reason of the first error that has one (a `failed` status with 131050 is a
    /// marketing opt-out).
    pub fn error_reason(&self) -> Option<ErrorReason> {
        self.errors.iter().find_map(WebhookError::reason)
    }
}

// --- messages: inbound ---------------------------------------------------------------------

/// One `messages[]` item: something a user sent the business.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    pub phone_number_id: String,
    pub wamid: String,
    /// `from`: the user's phone, digits, when Meta shares it.
    pub from_phone: Option<String>,
    /// `from_user_id` (or the matching contact's `user_id`): the user's BSUID.
    pub from_user_id: Option<BusinessUserId>,
    /// `from_parent_user_id`, for linked business portfolios.
    pub from_parent_user_id: Option<BusinessUserId>,
    /// The user's profile name and username, from `contacts[]`.
    pub profile_name: Option<String>,
    pub username: Option<String>,
    /// `type`: `text`, `button`, `interactive`, `image`, …
    pub kind: String,
    /// The words of it: a text body, a button's text, a list or button reply's title, a
    /// media caption.
    pub text: Option<String>,
    /// `context.id`: the message it replies to.
    pub context_wamid: Option<String>,
    pub at: Option<Millis>,
}

/// One `contacts[]` item.
struct Contact {
    wa_id: Option<String>,
    user_id: Option<BusinessUserId>,
    parent_user_id: Option<BusinessUserId>,
    name: Option<String>,
    username: Option<String>,
}

fn contacts(v: &Value) -> Vec<Contact> {
    array(v, "contacts")
        .map(|c| Contact {
            wa_id: phone_digits(c.get("wa_id")),
            user_id: user_id(c.get("user_id")),
            parent_user_id: user_id(c.get("parent_user_id")),
            name: text(c.get("profile").and_then(|p| p.get("name"))),
            username: text(c.get("profile").and_then(|p| p.get("username"))).or_else(|| text(c.get("username"))),
        })
        .collect()
}

/// The contact of a user known by phone and/or BSUID; the only contact when there is one.
fn contact_of<'a>(contacts: &'a [Contact], phone: Option<&str>, user: Option<&BusinessUserId>) -> Option<&'a Contact> {
    contacts
        .iter()
        .find(|c| (phone.is_some() && c.wa_id.as_deref() == phone) || (user.is_some() && c.user_id.as_ref() == user))
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]))
}

fn messages(v: &Value, out: &mut Vec<Event>) {
    let Some(phone_number_id) = text(v.get("metadata").and_then(|m| m.get("phone_number_id"))) else {
        return;
    };
    let contacts = contacts(v);
    for s in array(v, "statuses") {
        let (Some(wamid), Some(status)) = (text(s.get("id")), s.get("status").and_then(Value::as_str)) else {
            continue;
        };
        let recipient_phone = phone_digits(s.get("recipient_id"));
        let recipient_user_id = user_id(s.get("recipient_user_id"));
        let contact = contact_of(&contacts, recipient_phone.as_deref(), recipient_user_id.as_ref());
        out.push(Event::Status(StatusUpdate {
            phone_number_id: phone_number_id.clone(),
            wamid,
            status: DeliveryStatus::parse(status),
            at: seconds(s.get("timestamp")),
            recipient_user_id: recipient_user_id.or_else(|| contact.and_then(|c| c.user_id.clone())),
            recipient_parent_user_id: user_id(s.get("recipient_parent_user_id"))
                .or_else(|| contact.and_then(|c| c.parent_user_id.clone())),
            recipient_phone: recipient_phone.or_else(|| contact.and_then(|c| c.wa_id.clone())),
            username: contact.and_then(|c| c.username.clone()),
            callback_data: text(s.get("biz_opaque_callback_data")),
            pricing: s.get("pricing").and_then(pricing),
            errors: errors(s),
        }));
    }
    for m in array(v, "messages") {
        let Some(wamid) = text(m.get("id")) else { continue };
        let from_phone = phone_digits(m.get("from"));
        let from_user_id = user_id(m.get("from_user_id"));
        let contact = contact_of(&contacts, from_phone.as_deref(), from_user_id.as_ref());
        let from_user_id = from_user_id.or_else(|| contact.and_then(|c| c.user_id.clone()));
        let from_phone = from_phone.or_else(|| contact.and_then(|c| c.wa_id.clone()));
        if from_phone.is_none() && from_user_id.is_none() {
            continue;
        }
        let kind = m.get("type").and_then(Value::as_str).unwrap_or("unknown").to_string();
        let words = match kind.as_str() {
            "text" => text(m.get("text").and_then(|t| t.get("body"))),
            "button" => {
                let b = m.get("button");
                text(b.and_then(|b| b.get("text"))).or_else(|| text(b.and_then(|b| b.get("payload"))))
            }
            "interactive" => {
                let i = m.get("interactive");
                text(i.and_then(|i| i.get("button_reply")).and_then(|r| r.get("title")))
                    .or_else(|| text(i.and_then(|i| i.get("list_reply")).and_then(|r| r.get("title"))))
            }
            other => text(m.get(other).and_then(|x| x.get("caption"))),
        };
        out.push(Event::Inbound(InboundMessage {
            phone_number_id: phone_number_id.clone(),
            wamid,
            from_phone,
            from_parent_user_id: user_id(m.get("from_parent_user_id"))
                .or_else(|| contact.and_then(|c| c.parent_user_id.clone())),
            from_user_id,
            profile_name: contact.and_then(|c| c.name.clone()),
            username: contact.and_then(|c| c.username.clone()),
            kind,
            text: words,
            context_wamid: text(m.get("context").and_then(|c| c.get("id"))),
            at: seconds(m.get("timestamp")),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(body: Value) -> Event {
        let events = parse_value(&body);
        assert_eq!(events.len(), 1, "{events:?}");
        events.into_iter().next().unwrap()
    }

    fn wrap(field: &str, value: Value) -> Value {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "time": 1739321024,
            "changes": [{"value": value, "field": field}]}]})
    }

    /// Meta's PAUSED example (docs/providers.md §1.4, aclwhatsapp's copy of Meta's payload).
    #[test]
    fn reads_a_template_pause_with_metas_reason() {
        let body = wrap(
            "message_template_status_update",
            json!({"reason": "NONE", "message_template_name": "testing_template", "event": "PAUSED",
                "message_template_language": "en", "message_template_id": 1689556908129832_i64,
                "message_template_category": "MARKETING",
                "other_info": {"title": "SECOND_PAUSE", "description": "Your WhatsApp message template has been paused for 6 hours until Aug 31 at 12:47 AM UTC because it continued to have issues."}}),
        );
        let Event::TemplateStatus(u) = one(body) else { panic!() };
        assert_eq!(u.waba_id.as_deref(), Some("102290129340398"));
        assert_eq!(u.template_id.as_deref(), Some("1689556908129832"));
        assert_eq!((u.name.as_str(), u.language.as_str()), ("testing_template", "en"));
        assert_eq!(u.event, TemplateEvent::Paused);
        assert_eq!(u.event.status(), Some(TemplateStatus::Paused));
        assert_eq!(u.event.effect(), Some(TemplateEffect::Pause));
        assert_eq!(u.category, Some(TemplateCategory::Marketing));
        assert_eq!(u.reason, None, "NONE is no reason");
        assert_eq!(u.other_info.as_ref().unwrap().title.as_deref(), Some("SECOND_PAUSE"));
        assert!(u.explanation().unwrap().contains("paused for 6 hours"));
        assert_eq!(u.at, Some(1_739_321_024_000));
    }

    #[test]
    fn every_template_event_has_its_status_and_effect() {
        use TemplateEffect::*;
        let cases: &[(&str, Option<TemplateStatus>, Option<TemplateEffect>)] = &[
            ("APPROVED", Some(TemplateStatus::Approved), Some(Resume)),
            ("REINSTATED", Some(TemplateStatus::Approved), Some(Resume)),
            ("PAUSED", Some(TemplateStatus::Paused), Some(Pause)),
            (
                "DISABLED",
                Some(TemplateStatus::Disabled),
                Some(End(TemplateEnd::Disabled)),
            ),
            (
                "REJECTED",
                Some(TemplateStatus::Rejected),
                Some(End(TemplateEnd::Rejected)),
            ),
            (
                "PENDING_DELETION",
                Some(TemplateStatus::Disabled),
                Some(End(TemplateEnd::Deleted)),
            ),
            (
                "DELETED",
                Some(TemplateStatus::Disabled),
                Some(End(TemplateEnd::Deleted)),
            ),
            ("PENDING", Some(TemplateStatus::Pending), None),
            ("IN_APPEAL", Some(TemplateStatus::Pending), None),
            ("FLAGGED", None, None),
            ("LOCKED", None, None),
            ("ARCHIVED", None, None),
            ("LIMIT_EXCEEDED", None, None),
            ("SOMETHING_NEW", None, None),
        ];
        for (name, status, effect) in cases {
            let e = TemplateEvent::parse(name);
            assert_eq!(e.status(), *status, "{name}");
            assert_eq!(e.effect(), *effect, "{name}");
        }
        assert_eq!(
            TemplateEvent::parse("brand_new"),
            TemplateEvent::Other("brand_new".into())
        );
        assert_eq!(TemplateEnd::Disabled.failure_reason(), "template_disabled");
    }

    /// Meta's syntax: a rejection with `rejection_info`, a flag with `disable_info`.
    #[test]
    fn reads_rejections_and_flags() {
        let Event::TemplateStatus(u) = one(wrap(
            "message_template_status_update",
            json!({"event": "REJECTED", "message_template_id": "77", "message_template_name": "promo",
                "message_template_language": "es", "reason": "INVALID_FORMAT",
                "rejection_info": {"reason": "Variables are not formatted correctly.", "recommendation": "Use {{1}}."}}),
        )) else {
            panic!()
        };
        assert_eq!(u.reason.as_deref(), Some("INVALID_FORMAT"));
        assert_eq!(
            u.explanation().as_deref(),
            Some("Variables are not formatted correctly.")
        );
        assert_eq!(u.rejection_info.unwrap().1.as_deref(), Some("Use {{1}}."));

        let Event::TemplateStatus(u) = one(wrap(
            "message_template_status_update",
            json!({"event": "FLAGGED", "message_template_name": "promo", "message_template_language": "es",
                "disable_info": {"disable_date": "1751234563"}}),
        )) else {
            panic!()
        };
        assert_eq!((u.event.effect(), u.disable_date), (None, Some(1_751_234_563_000)));
    }

    /// Meta's example, byte for byte (message_template_quality_update reference).
    #[test]
    fn reads_a_quality_update() {
        let body = br#"{ "entry": [ { "id": "102290129340398", "time": 1674864290, "changes": [ { "value": { "previous_quality_score": "GREEN", "new_quality_score": "YELLOW", "message_template_id": 806312974732579, "message_template_name": "welcome_template", "message_template_language": "en-US" }, "field": "message_template_quality_update" } ] } ], "object": "whatsapp_business_account" }"#;
        let events = parse(body).unwrap();
        let [Event::TemplateQuality(q)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(
            (q.previous, q.quality),
            (TemplateQuality::Green, TemplateQuality::Yellow)
        );
        assert_eq!(q.template_id.as_deref(), Some("806312974732579"));
        assert_eq!((q.name.as_str(), q.language.as_str()), ("welcome_template", "en-US"));
        assert_eq!(q.at, Some(1_674_864_290_000));
    }

    /// Meta's resume example, byte for byte (user_preferences reference).
    #[test]
    fn reads_a_marketing_preference_by_phone_and_by_bsuid() {
        let body = br#"{ "object": "whatsapp_business_account", "entry": [ { "id": "102290129340398", "changes": [ { "value": { "messaging_product": "whatsapp", "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" }, "contacts": [ { "wa_id": "16505551234" } ], "user_preferences": [ { "wa_id": "16505551234", "detail": "User requested to resume marketing messages", "category": "marketing_messages", "value": "resume", "timestamp": 1731705721 } ] }, "field": "user_preferences" } ] } ] }"#;
        let events = parse(body).unwrap();
        let [Event::UserPreference(p)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(p.phone.as_deref(), Some("16505551234"));
        assert_eq!(p.phone_number_id.as_deref(), Some("106540352242922"));
        assert_eq!(p.preference, Preference::Resume);
        assert_eq!(p.opt_out(), (OptOutScope::Marketing, false));
        assert_eq!(p.at, Some(1_731_705_721_000));
        assert_eq!(p.user_id, None);

        // A stop from a user known by BSUID only; another item of an unknown category and
        // one with an unknown value are ignored.
        let Event::UserPreference(p) = one(wrap(
            "user_preferences",
            json!({"metadata": {"phone_number_id": "1"}, "user_preferences": [
                {"user_id": "US.13491208655302741918", "category": "marketing_messages", "value": "stop"},
                {"wa_id": "16505551234", "category": "utility_messages", "value": "stop"},
                {"wa_id": "16505551234", "category": "marketing_messages", "value": "maybe"},
                {"category": "marketing_messages", "value": "stop"}]}),
        )) else {
            panic!()
        };
        assert_eq!(p.phone, None);
        assert_eq!(p.user_id.as_ref().unwrap().as_str(), "US.13491208655302741918");
        assert_eq!(p.opt_out(), (OptOutScope::Marketing, true));

        // The BSUID on the matching contact links the two.
        let Event::UserPreference(p) = one(wrap(
            "user_preferences",
            json!({"contacts": [{"wa_id": "16505551234", "user_id": "US.1"}],
                "user_preferences": [{"wa_id": "16505551234", "value": "stop"}]}),
        )) else {
            panic!()
        };
        assert_eq!(p.user_id.unwrap().as_str(), "US.1");
    }

    /// Meta's example, byte for byte (phone_number_quality_update reference).
    #[test]
    fn reads_a_throughput_upgrade() {
        let body = br#"{ "entry": [ { "id": "102290129340398", "time": 1748454394, "changes": [ { "value": { "display_phone_number": "15550783881", "event": "THROUGHPUT_UPGRADE", "current_limit": "TIER_UNLIMITED" }, "field": "phone_number_quality_update" } ] } ], "object": "whatsapp_business_account" }"#;
        let events = parse(body).unwrap();
        let [Event::PhoneNumberQuality(u)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(u.event, PhoneNumberEvent::ThroughputUpgrade);
        assert_eq!(u.throughput(), Some(ThroughputLevel::High));
        assert_eq!(u.display_phone_number.as_deref(), Some("15550783881"));
        assert_eq!(u.limit(), Some(MessagingTier::Unlimited));
        assert_eq!(u.at, Some(1_748_454_394_000));

        let Event::PhoneNumberQuality(u) = one(wrap(
            "phone_number_quality_update",
            json!({"display_phone_number": "+1 555-078-3881", "event": "ONBOARDING",
                "max_daily_conversations_per_business": "TIER_2K", "current_limit": "TIER_NOT_SET"}),
        )) else {
            panic!()
        };
        assert_eq!((u.throughput(), u.limit()), (None, Some(MessagingTier::Tier2K)));
        assert_eq!(u.display_phone_number.as_deref(), Some("15550783881"));
    }

    /// docs/providers.md §1.4's delivered example, byte for byte.
    #[test]
    fn reads_a_status_with_its_pricing() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.TEST1","status":"delivered","timestamp":"1750263773","recipient_id":"16505551234","pricing":{"billable":true,"pricing_model":"PMP","category":"marketing","type":"regular"}}]},"field":"messages"}]}]}"#;
        let events = parse(body).unwrap();
        let [Event::Status(s)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(
            (s.phone_number_id.as_str(), s.wamid.as_str()),
            ("106540352242922", "wamid.TEST1")
        );
        assert_eq!(s.status, DeliveryStatus::Delivered);
        assert_eq!(s.at, Some(1_750_263_773_000));
        assert_eq!(s.recipient_phone.as_deref(), Some("16505551234"));
        let p = s.pricing.as_ref().unwrap();
        assert_eq!(
            (p.billable, p.model.clone(), p.category, p.kind),
            (
                Some(true),
                Some(PricingModel::Pmp),
                Some(PricingCategory::Marketing),
                Some(PricingType::Regular)
            )
        );
        assert!(p.is_charged());
        assert!(s.errors.is_empty() && s.error_reason().is_none());
    }

    #[test]
    fn free_messages_are_not_charged() {
        for (billable, kind, charged) in [
            (json!(false), json!("free_customer_service"), false),
            (json!(true), json!("free_entry_point"), false),
            (json!(true), json!("regular"), true),
            (json!(null), json!("regular"), false),
        ] {
            let p =
                pricing(&json!({"billable": billable, "pricing_model": "PMP", "category": "utility", "type": kind}))
                    .unwrap();
            assert_eq!(p.is_charged(), charged, "{p:?}");
        }
        assert_eq!(pricing(&json!("marketing")), None);
    }

    /// A failed status with 131050, sent to a BSUID (contacts omitted on failures, per the
    /// BSUID document).
    #[test]
    fn reads_a_failed_status_to_a_bsuid_with_its_reason() {
        let Event::Status(s) = one(wrap(
            "messages",
            json!({"metadata": {"phone_number_id": "1142"}, "statuses": [{"id": "wamid.F", "status": "failed",
                "timestamp": 1750263773, "recipient_user_id": "VE.8812", "biz_opaque_callback_data": "42",
                "errors": [{"code": 131050, "title": "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
                    "message": "…", "error_data": {"details": "stopped marketing"}, "href": "…"}]}]}),
        )) else {
            panic!()
        };
        assert_eq!(s.status, DeliveryStatus::Failed);
        assert_eq!(s.recipient_phone, None);
        assert_eq!(s.recipient_user_id.as_ref().unwrap().as_str(), "VE.8812");
        assert_eq!(s.callback_data.as_deref(), Some("42"));
        assert_eq!(s.errors[0].code, Some(131050));
        assert_eq!(s.errors[0].details.as_deref(), Some("stopped marketing"));
        assert_eq!(s.error_reason(), Some(ErrorReason::MarketingOptOut));
        assert_eq!(s.pricing, None);
    }

    /// A delivered status with the BSUID fields of the 2026 payloads and a username.
    #[test]
    fn reads_the_bsuid_fields_of_a_status() {
        let Event::Status(s) = one(wrap(
            "messages",
            json!({"metadata": {"phone_number_id": "1142"},
                "contacts": [{"profile": {"name": "Ana", "username": "@ana"}, "wa_id": "584121234567", "user_id": "VE.55", "parent_user_id": "VE.P55"}],
                "statuses": [{"id": "wamid.D", "status": "read", "timestamp": "1750263773", "recipient_id": "584121234567",
                    "recipient_user_id": "VE.55", "recipient_parent_user_id": "VE.P55"}]}),
        )) else {
            panic!()
        };
        assert_eq!(s.status, DeliveryStatus::Read);
        assert_eq!(s.recipient_user_id.unwrap().as_str(), "VE.55");
        assert_eq!(s.recipient_parent_user_id.unwrap().as_str(), "VE.P55");
        assert_eq!(s.username.as_deref(), Some("@ana"));
    }

    /// pywa's inbound fixture (docs/providers.md §1.4), then a BSUID-only reply.
    #[test]
    fn reads_replies_by_phone_and_by_bsuid_alone() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1234567890987654321","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"972123456789","phone_number_id":"1122334455667"},"contacts":[{"profile":{"name":"Test Name"},"wa_id":"972987654321"}],"messages":[{"from":"972987654321","id":"wamid.xyzxyz","timestamp":"1697043223","text":{"body":"Body Text"},"type":"text"}]},"field":"messages"}]}]}"#;
        let events = parse(body).unwrap();
        let [Event::Inbound(m)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(m.from_phone.as_deref(), Some("972987654321"));
        assert_eq!((m.kind.as_str(), m.text.as_deref()), ("text", Some("Body Text")));
        assert_eq!(m.profile_name.as_deref(), Some("Test Name"));
        assert_eq!(m.from_user_id, None);

        let Event::Inbound(m) = one(wrap(
            "messages",
            json!({"metadata": {"phone_number_id": "1142"},
                "contacts": [{"profile": {"name": "Ana", "username": "@ana"}, "user_id": "VE.55"}],
                "messages": [{"from_user_id": "VE.55", "id": "wamid.B", "timestamp": "1750263773",
                    "type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "b", "title": "STOP"}},
                    "context": {"from": "15555550100", "id": "wamid.ORIG"}}]}),
        )) else {
            panic!()
        };
        assert_eq!(m.from_phone, None);
        assert_eq!(m.from_user_id.unwrap().as_str(), "VE.55");
        assert_eq!(m.username.as_deref(), Some("@ana"));
        assert_eq!(m.text.as_deref(), Some("STOP"));
        assert_eq!(m.context_wamid.as_deref(), Some("wamid.ORIG"));

        // The BSUID given only on the contact.
        let Event::Inbound(m) = one(wrap(
            "messages",
            json!({"metadata": {"phone_number_id": "1142"}, "contacts": [{"wa_id": "584121234567", "user_id": "VE.9"}],
                "messages": [{"from": "584121234567", "id": "w", "type": "button", "button": {"payload": "Baja"}}]}),
        )) else {
            panic!()
        };
        assert_eq!(
            (m.from_user_id.unwrap().as_str(), m.text.as_deref()),
            ("VE.9", Some("Baja"))
        );
    }

    #[test]
    fn junk_never_panics_and_yields_nothing_it_should_not() {
        assert!(parse(b"not json").is_err());
        for body in [
            json!(null),
            json!([]),
            json!("x"),
            json!({"object": "page", "entry": [{"changes": [{"field": "messages", "value": {}}]}]}),
            json!({"entry": "nope"}),
            json!({"entry": [{"changes": [{"field": 7, "value": []}]}]}),
            json!({"entry": [{"changes": [{"field": "messages", "value": {"statuses": [{"id": "w", "status": "sent"}]}}]}]}),
            wrap("message_template_status_update", json!({"event": "PAUSED"})),
            wrap(
                "message_template_status_update",
                json!({"event": 3, "message_template_name": "t", "message_template_language": "es"}),
            ),
            wrap(
                "message_template_quality_update",
                json!({"message_template_name": "t", "message_template_language": "es"}),
            ),
            wrap("user_preferences", json!({"user_preferences": "stop"})),
            wrap(
                "user_preferences",
                json!({"user_preferences": [{"wa_id": "12", "value": "stop"}, {"user_id": "bad", "value": "stop"}]}),
            ),
            wrap(
                "phone_number_quality_update",
                json!({"display_phone_number": "15550783881"}),
            ),
            wrap(
                "messages",
                json!({"metadata": {"phone_number_id": "1"}, "statuses": [{"status": "sent"}, 5],
                "messages": [{"id": "w", "type": "text", "text": {"body": "no sender"}}, null]}),
            ),
            wrap("account_alerts", json!({"anything": true})),
        ] {
            assert!(parse_value(&body).is_empty(), "{body}");
        }

        // Odd types inside a readable item are absent, not fatal.
        let Event::Status(s) = one(wrap(
            "messages",
            json!({"metadata": {"phone_number_id": 1142}, "statuses": [{"id": "w", "status": "sent", "timestamp": "yesterday",
                "recipient_id": {"x": 1}, "pricing": {"billable": "yes", "category": 3, "type": "premium"},
                "errors": [{"code": "131050"}, "junk"]}]}),
        )) else {
            panic!()
        };
        assert_eq!(
            (s.phone_number_id.as_str(), s.at, s.recipient_phone.clone()),
            ("1142", None, None)
        );
        let p = s.pricing.unwrap();
        assert_eq!((p.billable, p.category, p.kind), (None, None, None));
        assert_eq!(s.errors.len(), 1);
        assert_eq!(s.errors[0].code, None);
        assert_eq!(
            DeliveryStatus::parse("deleted"),
            DeliveryStatus::Other("deleted".into())
        );
    }
}
