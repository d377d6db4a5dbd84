//! The rows the store reads and writes, as plain data.

use std::collections::HashSet;

use pregon_domain::{
    CampaignSettings, CampaignStatus, MessageStatus, PausedReason, ProviderKind, SenderStatus, SkipReason,
};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `?limit=` and `?cursor=`, already bounded by the caller.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: i64,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub webhook_secret: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct SenderRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub provider: ProviderKind,
    pub phone_number: String,
    /// Encrypted credentials; only the API layer holds the key.
    pub credentials: Vec<u8>,
    pub base_url: Option<String>,
    pub messages_per_second: f64,
    pub daily_limit: Option<i64>,
    pub is_default: bool,
    pub status: SenderStatus,
    pub quality_rating: Option<String>,
    /// The non-secret account id the provider's webhooks name the sender by (the Meta
    /// `phone_number_id`, the Twilio account SID), copied from the credentials.
    pub provider_account: Option<String>,
    /// Senders of a tenant with the same group share one daily limit of unique recipients
    /// (Meta counts it per business portfolio); `None`: the sender counts alone.
    pub limit_group: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Meta: send at the throughput the number is granted ([`Self::throughput_level`]),
    /// with `messages_per_second` as the cap.
    pub rate_follows_provider: bool,
    /// The number's throughput level as last learned (pre-flight, or a webhook).
    pub throughput_level: Option<pregon_domain::ThroughputLevel>,
}

impl SenderRecord {
    /// The rate it sends at: `messages_per_second`, or, when it follows the provider, what
    /// its number is granted, never above `messages_per_second`.
    pub fn rate(&self) -> f64 {
        if self.rate_follows_provider {
            pregon_domain::followed_rate(self.throughput_level, self.messages_per_second)
        } else {
            self.messages_per_second
        }
    }

    /// The key its daily recipients are counted under: the group's, or its own.
    pub fn limit_key(&self) -> String {
        match &self.limit_group {
            Some(group) => format!("{}/{}", self.tenant_id, group),
            None => self.id.clone(),
        }
    }
}

/// A partial update of a sender; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SenderPatch {
    pub name: Option<String>,
    pub phone_number: Option<String>,
    pub credentials: Option<Vec<u8>>,
    pub base_url: Option<Option<String>>,
    pub messages_per_second: Option<f64>,
    pub daily_limit: Option<Option<i64>>,
    pub is_default: Option<bool>,
    pub status: Option<SenderStatus>,
    /// Set with new credentials (see [`SenderRecord::provider_account`]).
    pub provider_account: Option<Option<String>>,
    pub limit_group: Option<Option<String>>,
    pub rate_follows_provider: Option<bool>,
    pub throughput_level: Option<Option<pregon_domain::ThroughputLevel>>,
}

#[derive(Debug, Clone)]
pub struct TemplateRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub language: String,
    pub body: String,
    pub header_image: Option<String>,
    /// The template's Twilio Content SID (`HX…`), sent as `ContentSid` by Twilio senders.
    pub twilio_content_sid: Option<String>,
    /// What the provider bills it as (`marketing` unless told otherwise).
    pub category: pregon_domain::TemplateCategory,
    /// Whether it can be sent, as the provider last said.
    pub status: pregon_domain::TemplateStatus,
    /// Its quality rating, as the provider last said.
    pub quality: pregon_domain::TemplateQuality,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct OptOutRecord {
    pub phone: String,
    pub reason: Option<String>,
    pub source: String,
    /// Every message, or those of marketing templates only.
    pub scope: pregon_domain::OptOutScope,
    pub created_at: Millis,
}

/// Exact message counts per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CountsView))]
pub struct Counts {
    pub queued: i64,
    pub claimed: i64,
    pub sending: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub unknown: i64,
    pub skipped: i64,
    pub cancelled: i64,
    /// Not sent by the campaign's `expires_at`.
    pub expired: i64,
}

impl Counts {
    /// Every message counted once, in its current state.
    pub fn total(&self) -> i64 {
        self.queued
            + self.claimed
            + self.sending
            + self.sent
            + self.delivered
            + self.read
            + self.failed
            + self.unknown
            + self.skipped
            + self.cancelled
            + self.expired
    }

    /// Messages still owed an attempt.
    pub fn pending(&self) -> i64 {
        self.queued + self.claimed + self.sending
    }

    /// The counter of one state.
    pub fn get_mut(&mut self, status: MessageStatus) -> &mut i64 {
        match status {
            MessageStatus::Queued => &mut self.queued,
            MessageStatus::Claimed => &mut self.claimed,
            MessageStatus::Sending => &mut self.sending,
            MessageStatus::Sent => &mut self.sent,
            MessageStatus::Delivered => &mut self.delivered,
            MessageStatus::Read => &mut self.read,
            MessageStatus::Failed => &mut self.failed,
            MessageStatus::Unknown => &mut self.unknown,
            MessageStatus::Skipped => &mut self.skipped,
            MessageStatus::Cancelled => &mut self.cancelled,
            MessageStatus::Expired => &mut self.expired,
        }
    }

    /// Records one message moving from `from` to `to`.
    pub fn shift(&mut self, from: MessageStatus, to: MessageStatus, n: i64) {
        *self.get_mut(from) -= n;
        *self.get_mut(to) += n;
    }
}

#[derive(Debug, Clone)]
pub struct CampaignRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub sender_id: String,
    pub template_id: String,
    pub status: CampaignStatus,
    pub paused_reason: Option<PausedReason>,
    pub paused_detail: Option<String>,
    pub priority: i64,
    pub settings: CampaignSettings,
    pub start_at: Option<Millis>,
    /// Sends only inside a daily window (its settings say which).
    pub windowed: bool,
    /// When the scheduler looks at it again: its window opens or closes, or room frees up
    /// under its sender's daily limit.
    pub recheck_at: Option<Millis>,
    pub counts: Counts,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub completed_at: Option<Millis>,
    pub last_sent_at: Option<Millis>,
    pub updated_at: Millis,
    /// Messages not sent by then never are.
    pub expires_at: Option<Millis>,
    /// Why it ended `failed`, and the provider's words.
    pub failure_reason: Option<pregon_domain::FailureReason>,
    pub failure_detail: Option<String>,
}

impl CampaignRecord {
    /// Why it is not sending, as the API says it: its `paused_reason` while paused, and
    /// `scheduled` while waiting for `start_at`.
    pub fn waiting_reason(&self) -> Option<&'static str> {
        match self.status {
            CampaignStatus::Scheduled => Some("scheduled"),
            _ => self.paused_reason.map(|r| r.as_str()),
        }
    }

    /// When it goes on by itself: its start while scheduled, or the scheduler's next look
    /// while paused for its window or its sender's daily limit.
    pub fn resumes_at(&self) -> Option<Millis> {
        match (self.status, self.paused_reason) {
            (CampaignStatus::Scheduled, _) => self.start_at,
            (CampaignStatus::Paused, Some(PausedReason::OutsideWindow | PausedReason::DailyLimit)) => self.recheck_at,
            _ => None,
        }
    }
}

/// A campaign to create, with every contact already parsed and classified.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub sender_id: String,
    pub template_id: String,
    /// `draft`, `scheduled` or `running`.
    pub status: CampaignStatus,
    pub priority: i64,
    pub settings: CampaignSettings,
    /// For `scheduled`: when it starts by itself.
    pub start_at: Option<Millis>,
    /// Sends only inside a daily window: the scheduler decides when it may send.
    pub windowed: bool,
    pub max_attempts: i64,
    /// Messages not sent by then never are: they become `expired`.
    pub expires_at: Option<Millis>,
    pub messages: Vec<NewMessage>,
    pub now: Millis,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    /// E.164 when valid; what was given otherwise (kept to report it).
    pub phone: String,
    /// The contact's fields as a JSON object.
    pub variables: String,
    pub skip_reason: Option<SkipReason>,
    /// The recipient's business-scoped user ID, when known. `phone` is the recipient's
    /// identity: its E.164 phone, or this BSUID when it has no phone
    /// ([`pregon_domain::identity_key`]).
    pub user_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewSingleMessage {
    pub tenant_id: String,
    pub sender_id: String,
    pub template_id: String,
    pub phone: String,
    pub variables: String,
    pub priority: i64,
    pub max_attempts: i64,
    /// Not before this time (`send_at`), or now.
    pub send_at: Millis,
    /// Not sent by then, never: it becomes `expired`.
    pub expires_at: Option<Millis>,
    pub now: Millis,
    /// The recipient's business-scoped user ID, when known. `phone` is the recipient's
    /// identity: its E.164 phone, or this BSUID when it has no phone
    /// ([`pregon_domain::identity_key`]).
    pub user_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub id: i64,
    pub tenant_id: String,
    pub campaign_id: Option<String>,
    pub sender_id: String,
    pub template_id: String,
    pub phone: String,
    pub variables: String,
    pub status: MessageStatus,
    pub skip_reason: Option<String>,
    pub priority: i64,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
    pub delivered_at: Option<Millis>,
    pub read_at: Option<Millis>,
    /// A single message's send time: its `send_at`, or when it was accepted. `None` for
    /// campaign messages.
    pub send_at: Option<Millis>,
    /// Not sent by then, never (the campaign's `expires_at`, or the single message's).
    pub expires_at: Option<Millis>,
    /// The recipient's business-scoped user ID, when known. `phone` is the recipient's
    /// identity: its E.164 phone, or this BSUID when it has no phone
    /// ([`pregon_domain::identity_key`]).
    pub user_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EventRecord {
    pub status: String,
    pub detail: Option<serde_json::Value>,
    pub at: Millis,
}

/// A running dispatcher process.
#[derive(Debug, Clone)]
pub struct DispatcherInfo {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub now: Millis,
}

#[derive(Debug, Clone)]
pub struct DispatcherRecord {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub started_at: Millis,
    pub last_heartbeat_at: Millis,
    pub current_rate: f64,
    pub senders: Vec<String>,
}

/// A sender lease: only its holder sends for the sender, and only under this epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub sender_id: String,
    pub owner_id: String,
    pub epoch: i64,
}

/// A message reserved for sending.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub id: i64,
    pub campaign_id: Option<String>,
    pub template_id: String,
    pub phone: String,
    pub variables: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub max_attempts: i64,
    /// Not to be sent after this (the provider refuses it locally then).
    pub expires_at: Option<Millis>,
    /// The recipient's business-scoped user ID, when known. `phone` is the recipient's
    /// identity: its E.164 phone, or this BSUID when it has no phone
    /// ([`pregon_domain::identity_key`]).
    pub user_id: Option<String>,
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub message_id: i64,
    pub kind: OutcomeKind,
}

#[derive(Debug, Clone)]
pub enum OutcomeKind {
    /// The provider accepted it. `recorded_text` is what the sandbox "sent".
    Sent {
        provider_message_id: String,
        recorded_text: Option<String>,
    },
    /// Try again at `next_attempt_at`.
    Retry {
        next_attempt_at: Millis,
        error_code: String,
        error_message: String,
    },
    /// Failed for good.
    Failed { error_code: String, error_message: String },
    /// Its `expires_at` passed before it could go (the provider refused it before any
    /// request, or said so): `expired`, never tried again.
    Expired { error_code: String, error_message: String },
    /// The recipient chose not to receive it (the provider said they opted out): `skipped`
    /// with `skip_reason`, not a failure of the campaign.
    Skipped {
        skip_reason: pregon_domain::SkipReason,
        error_code: String,
        error_message: String,
    },
    /// The request may or may not have been accepted (its answer never came): never
    /// re-sent silently.
    Unknown { error_code: String, error_message: String },
    /// Not attempted after all (the sender was refused, or the provider asked to slow
    /// down): back to `queued` without spending the attempt, due again at `next_attempt_at`
    /// (`None`: at once).
    Requeue {
        error_code: String,
        error_message: String,
        next_attempt_at: Option<Millis>,
    },
}

/// A phone number's recorded consent to receive messages (an opt-in).
#[derive(Debug, Clone)]
pub struct OptInRecord {
    pub phone: String,
    /// Where the consent was given: `api`, `web_form`, `whatsapp`, … (free text).
    pub source: String,
    /// What proves it (a form submission id, a message id, a note), kept as given.
    pub evidence: Option<String>,
    pub created_at: Millis,
}

/// A claimed message that must not be sent after all, and why.
#[derive(Debug, Clone)]
pub struct Skip {
    pub message_id: i64,
    pub reason: SkipReason,
}

/// An outbound notification (the campaign webhook), kept in the `notification` outbox.
#[derive(Debug, Clone)]
pub struct NotificationRecord {
    pub id: String,
    pub tenant_id: String,
    pub campaign_id: String,
    /// `campaign.completed`, `campaign.cancelled` or `campaign.failed`.
    pub event: String,
    pub url: String,
    /// The exact JSON bytes POSTed and signed.
    pub body: String,
    /// Deliveries started so far (a claim counts as one).
    pub attempts: i64,
    pub next_attempt_at: Millis,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub delivered_at: Option<Millis>,
}

/// A notification claimed for one delivery attempt, with the key to sign it.
#[derive(Debug, Clone)]
pub struct NotificationDelivery {
    pub id: String,
    pub tenant_id: String,
    pub campaign_id: String,
    pub url: String,
    pub body: String,
    /// This attempt's number, from 1; finishing it is conditional on it (a fencing token).
    pub attempt: i64,
    /// The tenant's webhook secret at claim time.
    pub webhook_secret: String,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone)]
pub enum NotificationResult {
    /// The receiver answered 2xx.
    Delivered,
    /// Try again at `next_attempt_at`.
    Retry { next_attempt_at: Millis, error: String },
    /// Given up for good.
    Failed { error: String },
}

/// One status a provider reported about a message it was given (a status webhook).
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    /// The sender the webhook was verified for: only its messages are touched.
    pub sender_id: String,
    pub provider_message_id: String,
    /// Our message id as the provider echoes it back (Meta's `biz_opaque_callback_data`):
    /// finds a message whose provider id was never recorded (still `sending`, or `unknown`).
    pub message_hint: Option<i64>,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: MessageStatus,
    /// When it happened at the provider (when it arrived, if the provider does not say).
    pub at: Millis,
    /// For `failed`: the provider's error.
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The event's detail: provider, provider status, timestamp, pricing, error.
    pub detail: serde_json::Value,
    /// The recipient's BSUID when the provider reports it (Meta's `recipient_user_id`): fills
    /// the message's `user_id` if it had none, and links it to the message's phone.
    pub user_id: Option<String>,
}

/// What one [`StatusUpdate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusEffect {
    /// The message moved to the reported status.
    Applied,
    /// Recorded as an event; the message keeps a status it must not leave (a late
    /// `delivered` after `read`, a `failed` after `delivered`, an earlier attempt's report).
    Kept,
    /// The same status for the same message was recorded before: nothing changed.
    Duplicate,
    /// No message of the sender has that provider id.
    UnknownMessage,
}

/// A message a recipient sent to a sender (a reply).
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub tenant_id: String,
    pub sender_id: String,
    /// The recipient's phone, E.164.
    pub phone: String,
    pub provider_message_id: String,
    /// The provider's message type: `text`, `button`, `interactive`, `image`, …
    pub message_type: String,
    pub text: Option<String>,
    pub received_at: Millis,
    /// The text is a stop word: the phone is opted out for the tenant (source `reply`), with
    /// this reason, in the same transaction.
    pub opt_out_reason: Option<String>,
    /// The recipient's business-scoped user ID, when known. `phone` is the recipient's
    /// identity: its E.164 phone, or this BSUID when it has no phone
    /// ([`pregon_domain::identity_key`]).
    pub user_id: Option<String>,
}

/// A stored reply.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    pub id: i64,
    pub tenant_id: String,
    pub sender_id: String,
    /// The campaign of the latest campaign message the sender sent to this phone, if any.
    pub campaign_id: Option<String>,
    pub phone: String,
    pub provider_message_id: String,
    pub message_type: String,
    pub text: Option<String>,
    /// It was a stop word, and the phone was opted out.
    pub opted_out: bool,
    pub received_at: Millis,
    pub created_at: Millis,
    /// The recipient's business-scoped user ID, when known. `phone` is the recipient's
    /// identity: its E.164 phone, or this BSUID when it has no phone
    /// ([`pregon_domain::identity_key`]).
    pub user_id: Option<String>,
}

/// Which replies to list (the tenant's, newest first).
#[derive(Debug, Clone, Default)]
pub struct ReplyFilter {
    pub campaign_id: Option<String>,
    pub phone: Option<String>,
}

/// What a dispatcher asks of one claim.
#[derive(Debug, Clone, Default)]
pub struct ClaimRequest {
    /// At most this many messages.
    pub limit: usize,
    /// Rotates the round-robin between campaigns of equal priority.
    pub round: u64,
    /// At most this many from these campaigns (paced by their own rate plans); others
    /// take what the round-robin gives them.
    pub caps: std::collections::HashMap<String, usize>,
}

impl ClaimRequest {
    /// A claim of up to `limit` messages, no campaign capped.
    pub fn new(limit: usize, round: u64) -> Self {
        ClaimRequest {
            limit,
            round,
            caps: Default::default(),
        }
    }
}

/// Which of a tenant's single messages (those of no campaign) to list.
#[derive(Debug, Clone, Default)]
pub struct SingleMessageFilter {
    /// Only messages in this state.
    pub status: Option<MessageStatus>,
    /// Only messages waiting for their send time: `queued`, never attempted, and due after
    /// this time (now), listed soonest first. Without it, messages are listed newest first.
    pub scheduled_after: Option<Millis>,
}

impl SingleMessageFilter {
    /// The position a cursor names, when it is one this filter's lists give out: a message
    /// id (newest first), or `<next_attempt_at>:<message id>` (scheduled, soonest first).
    pub fn parse_cursor(&self, cursor: &str) -> Option<(Millis, i64)> {
        match self.scheduled_after {
            None => cursor.parse().ok().map(|id| (0, id)),
            Some(_) => {
                let (at, id) = cursor.split_once(':')?;
                Some((at.parse().ok()?, id.parse().ok()?))
            }
        }
    }

    /// The cursor after `m` in this filter's order.
    pub fn cursor_of(&self, m: &MessageRecord) -> String {
        match self.scheduled_after {
            None => m.id.to_string(),
            Some(_) => format!("{}:{}", m.next_attempt_at, m.id),
        }
    }
}

/// The scheduler's verdict on a campaign it looked at again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// May send until `recheck_at` (None: until something else changes).
    Run { recheck_at: Option<Millis> },
    /// Pauses for `reason` (`outside_window` or `daily_limit`) until `recheck_at`.
    Hold { reason: PausedReason, recheck_at: Millis },
}

/// The recipients a send may reach under a daily limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// Phones that may be sent to now (already counted, or counted now).
    pub admitted: HashSet<String>,
    /// Unique recipients in the rolling 24 hours, after this admission.
    pub used: i64,
    /// When the oldest counted recipient leaves the 24 hours (room frees up), if any.
    pub room_at: Option<Millis>,
}

/// A limit key's usage over the rolling 24 hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DailyUsage {
    pub used: i64,
    /// When the oldest counted recipient leaves the 24 hours.
    pub room_at: Option<Millis>,
}

/// The length of a daily limit's rolling window.
pub const DAY_MILLIS: Millis = 24 * 60 * 60 * 1000;

/// A claimed message put back in the queue until a time (a window, a pair gap, room under
/// a daily limit), without spending an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deferral {
    pub message_id: i64,
    pub until: Millis,
}

/// What one [`crate::Store::purge_finished`] call deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Finished campaigns deleted, each with the last of its messages, their events and its
    /// notifications.
    pub campaigns: u64,
    /// Messages of finished campaigns deleted (a large campaign's over several calls).
    pub campaign_messages: u64,
    /// Finished single messages deleted (with their events).
    pub single_messages: u64,
}

impl PurgeReport {
    /// Nothing was deleted: nothing older is left.
    pub fn is_empty(&self) -> bool {
        self.campaigns == 0 && self.campaign_messages == 0 && self.single_messages == 0
    }

    /// Adds another call's report to this one.
    pub fn add(&mut self, other: PurgeReport) {
        self.campaigns += other.campaigns;
        self.campaign_messages += other.campaign_messages;
        self.single_messages += other.single_messages;
    }
}

/// A campaign's failed messages with one provider error code (the console's detail page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    /// The provider's code, as recorded (`None`: failed with no code).
    pub error_code: Option<String>,
    pub count: i64,
    /// The provider's words on one of them.
    pub error_message: Option<String>,
}

/// One point of a campaign's sending over time: the message `message_id` was sent at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendSample {
    pub message_id: i64,
    pub at: Millis,
}
