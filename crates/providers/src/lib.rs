//! WhatsApp providers: one trait, one module per provider.
//!
//! - [`sandbox`]: sends nothing; renders the message, keeps its text, answers "sent".
//! - [`meta`]: WhatsApp Business Cloud API template messages.
//! - [`twilio`]: Twilio Programmable Messaging for WhatsApp (Content SID templates or text).
//! - [`template_sync`]: templates as a provider holds them (Meta's template objects, typed).
//! - [`meta_webhooks`]: typed readers of Meta's webhook fields (template status and quality,
//!   user preferences, phone-number throughput, statuses with pricing, BSUIDs).
//! - [`throughput`]: a number's throughput level and the rate a sender follows from it.
//! - [`classify`]: provider error codes → [`ErrorClass`] and [`classify::ErrorReason`].
//!
//! A provider turns one rendered message into one request and classifies whatever comes
//! back ([`ErrorClass`], then [`ProviderError`]: throttled, ambiguous, retryable, permanent,
//! the sender's or the campaign's, with an [`classify::ErrorReason`] when the code says
//! more): the dispatcher decides what to do with those, never with a provider's raw codes.
//! The facts behind every choice are in `docs/providers.md`.

pub mod classify;
pub mod meta;
pub mod meta_webhooks;
pub mod sandbox;
pub mod signature;
pub mod template_sync;
/// Re-exported from the domain: the store keeps a sender's level.
pub use pregon_domain::throughput;
pub mod twilio;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pregon_domain::template::Rendered;
use pregon_domain::{BusinessUserId, MessagingTier, Millis, TemplateCategory, TemplateQuality};
pub use pregon_domain::{ErrorClass, ProviderKind};
use serde::Deserialize;

pub use classify::ErrorReason;
pub use template_sync::ProviderTemplate;
pub use throughput::ThroughputLevel;

/// One message, rendered and ready for the wire.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// E.164, `+` included; empty when the recipient is known by [`Self::recipient_user_id`]
    /// alone.
    pub to: String,
    /// The recipient's business-scoped user ID. Meta sends to it (`recipient`) when `to` is
    /// empty; with a phone, the phone is used (Meta recommends it, and it keeps phone
    /// numbers in the webhooks). Twilio sends to phones only.
    pub recipient_user_id: Option<BusinessUserId>,
    /// The sender's own number, E.164 (Twilio's `From`; Meta sends by phone number id).
    pub from: String,
    /// The approved template's name and language at the provider.
    pub template_name: String,
    pub language: String,
    pub rendered: Rendered,
    /// Returned by the provider in status webhooks (Meta's `biz_opaque_callback_data`).
    pub callback_data: String,
    /// The template's Twilio Content SID (`HX…`): Twilio then sends `ContentSid` and
    /// `ContentVariables` instead of the rendered text.
    pub content_sid: Option<String>,
    /// Where the provider should post this message's status updates (Twilio's
    /// `StatusCallback`), when pregon has a public URL.
    pub status_callback: Option<String>,
    /// The template's category, when known. A Meta sender that opted into the Marketing
    /// Messages API sends `marketing` templates through it; everything else (and unknown)
    /// stays on the Cloud API.
    pub category: Option<TemplateCategory>,
    /// When the message stops being worth sending (Unix milliseconds). Both providers refuse
    /// to send it after that ([`ErrorReason::Expired`], nothing sent); Twilio also gets it as
    /// `ValidityPeriod` so that its own queue drops it in time.
    pub expires_at: Option<Millis>,
    /// The names of the body parameters, in order, for a template whose Meta parameter
    /// format is `NAMED` (`{{first_name}}`): Meta then gets `parameter_name` with each value.
    /// `None` for positional (`{{1}}`) templates.
    pub body_parameter_names: Option<Vec<String>>,
}

/// What Meta says became of a template message it accepted (the send answer's
/// `messages[].message_status`, docs/providers.md §1.1). None of these is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendStatus {
    /// Accepted for delivery.
    Accepted,
    /// Template pacing: held while Meta assesses the template's quality from early
    /// feedback. It is delivered later (a `sent` webhook), or dropped with a `failed` webhook
    /// (132015) if the template gets paused.
    HeldForQualityAssessment,
    /// Accepted while the template is paused (documented value; its later fate is
    /// UNCONFIRMED).
    Paused,
}

impl SendStatus {
    /// Reads Meta's value; `None` for values this version does not know.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "accepted" => Some(Self::Accepted),
            "held_for_quality_assessment" => Some(Self::HeldForQualityAssessment),
            "paused" => Some(Self::Paused),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::HeldForQualityAssessment => "held_for_quality_assessment",
            Self::Paused => "paused",
        }
    }
}

/// The provider took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub provider_message_id: String,
    /// What was "sent", for providers that only record (the sandbox).
    pub recorded_text: Option<String>,
    /// Meta's `message_status` (template pacing): record it, it is not a failure.
    pub message_status: Option<SendStatus>,
    /// The recipient's phone as the provider knows it (Meta `contacts[].wa_id`, digits).
    pub wa_id: Option<String>,
    /// The recipient's business-scoped user ID, when the provider returned one (Meta
    /// `contacts[].user_id`, on sends to a BSUID): link it to the contact.
    pub user_id: Option<BusinessUserId>,
}

impl Accepted {
    /// An answer with nothing but the provider's id.
    pub fn new(provider_message_id: impl Into<String>) -> Self {
        Accepted {
            provider_message_id: provider_message_id.into(),
            recorded_text: None,
            message_status: None,
            wa_id: None,
            user_id: None,
        }
    }
}

/// The provider refused the message, or its answer never came: what that means for the
/// message, each with the provider's own code (`131026`, `http_503`, `timeout`, …) and words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider asked us to slow down (a throttling code, 429, `Retry-After`): the
    /// message is not at fault. It goes back to the queue without spending an attempt while
    /// the sender holds off for `retry_after`.
    #[error("{code}: {message}")]
    Throttled {
        code: String,
        message: String,
        retry_after: Duration,
    },
    /// The request may have reached the provider and been accepted (a timeout after it was
    /// sent, a success answer that cannot be read): retrying could send the message twice,
    /// so the message becomes `unknown`.
    #[error("{code}: {message}")]
    Ambiguous { code: String, message: String },
    /// Worth trying again after a backoff (a server error, a connection that never opened).
    #[error("{code}: {message}")]
    Retryable { code: String, message: String },
    /// This message (or recipient) will not go through.
    #[error("{code}: {message}")]
    Permanent {
        code: String,
        message: String,
        /// How long the provider asked the sender to hold off besides (`Retry-After`).
        retry_after: Option<Duration>,
        /// What the code says beyond its class: an opt-out to record, an expiry, Meta's
        /// choice not to deliver.
        reason: Option<ErrorReason>,
    },
    /// The sender itself cannot send (credentials, account, number): its campaigns pause.
    #[error("{code}: {message}")]
    SenderLevel {
        code: String,
        message: String,
        /// How long the provider asked the sender to hold off besides (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Every message of the campaign would fail the same way (its template): it pauses.
    #[error("{code}: {message}")]
    CampaignLevel {
        code: String,
        message: String,
        /// How long the provider asked the sender to hold off besides (`Retry-After`).
        retry_after: Option<Duration>,
        /// Why, when the code says (the template paused or disabled, marketing terms).
        reason: Option<ErrorReason>,
    },
}

impl ProviderError {
    /// A refusal the provider answered, by the class of its code (and the reason it gives,
    /// kept on the refusals that carry one): a retryable one that comes with a wait (the
    /// provider's `Retry-After`, or the hold its code implies) is throttling.
    pub fn answered(
        class: ErrorClass,
        reason: Option<ErrorReason>,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    ) -> Self {
        match (class, retry_after) {
            (ErrorClass::Retryable, Some(retry_after)) => ProviderError::Throttled {
                code,
                message,
                retry_after,
            },
            (ErrorClass::Retryable, None) => ProviderError::Retryable { code, message },
            (ErrorClass::Permanent, retry_after) => ProviderError::Permanent {
                code,
                message,
                retry_after,
                reason,
            },
            (ErrorClass::Sender, retry_after) => ProviderError::SenderLevel {
                code,
                message,
                retry_after,
            },
            (ErrorClass::Campaign, retry_after) => ProviderError::CampaignLevel {
                code,
                message,
                retry_after,
                reason,
            },
        }
    }

    /// The provider's own code.
    pub fn code(&self) -> &str {
        match self {
            ProviderError::Throttled { code, .. }
            | ProviderError::Ambiguous { code, .. }
            | ProviderError::Retryable { code, .. }
            | ProviderError::Permanent { code, .. }
            | ProviderError::SenderLevel { code, .. }
            | ProviderError::CampaignLevel { code, .. } => code,
        }
    }

    /// The provider's own words.
    pub fn message(&self) -> &str {
        match self {
            ProviderError::Throttled { message, .. }
            | ProviderError::Ambiguous { message, .. }
            | ProviderError::Retryable { message, .. }
            | ProviderError::Permanent { message, .. }
            | ProviderError::SenderLevel { message, .. }
            | ProviderError::CampaignLevel { message, .. } => message,
        }
    }

    /// How long the provider asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Throttled { retry_after, .. } => Some(*retry_after),
            ProviderError::Ambiguous { .. } | ProviderError::Retryable { .. } => None,
            ProviderError::Permanent { retry_after, .. }
            | ProviderError::SenderLevel { retry_after, .. }
            | ProviderError::CampaignLevel { retry_after, .. } => *retry_after,
        }
    }

    /// The class of the code: throttling and ambiguous answers are retryable ones.
    pub fn class(&self) -> ErrorClass {
        match self {
            ProviderError::Throttled { .. } | ProviderError::Ambiguous { .. } | ProviderError::Retryable { .. } => {
                ErrorClass::Retryable
            }
            ProviderError::Permanent { .. } => ErrorClass::Permanent,
            ProviderError::SenderLevel { .. } => ErrorClass::Sender,
            ProviderError::CampaignLevel { .. } => ErrorClass::Campaign,
        }
    }

    pub fn is_throttled(&self) -> bool {
        matches!(self, ProviderError::Throttled { .. })
    }

    pub fn is_ambiguous(&self) -> bool {
        matches!(self, ProviderError::Ambiguous { .. })
    }

    /// A refusal made here, before any request: nothing reached the provider.
    pub fn local(class: ErrorClass, code: &str, message: impl Into<String>, reason: Option<ErrorReason>) -> Self {
        ProviderError::answered(class, reason, code.to_string(), message.into(), None)
    }

    /// What the code says beyond its class, if anything.
    pub fn reason(&self) -> Option<ErrorReason> {
        match self {
            ProviderError::Permanent { reason, .. } | ProviderError::CampaignLevel { reason, .. } => *reason,
            _ => None,
        }
    }

    /// Whether the failed message counts toward its campaign's auto-pause: not when the
    /// recipient chose (an opt-out) or the message expired.
    pub fn counts_toward_auto_pause(&self) -> bool {
        self.reason().is_none_or(ErrorReason::counts_toward_auto_pause)
    }

    /// The opt-out to record for the recipient, if the error says there is one.
    pub fn opt_out_scope(&self) -> Option<pregon_domain::OptOutScope> {
        self.reason().and_then(ErrorReason::opt_out_scope)
    }
}

/// What a pre-flight check learned beyond "it can send" ([`Provider::preflight_details`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preflight {
    /// The sending number's throughput level (Meta `throughput.level`): a sender that
    /// follows the provider's rate takes [`ThroughputLevel::messages_per_second`].
    pub throughput: Option<ThroughputLevel>,
    /// The sending number's quality rating (Meta `quality_rating`).
    pub quality: Option<TemplateQuality>,
    /// The business portfolio's messaging limit (Meta
    /// `whatsapp_business_manager_messaging_limit`).
    pub messaging_limit: Option<MessagingTier>,
    /// The template as the provider holds it, when it was looked up.
    pub template: Option<ProviderTemplate>,
}

/// A provider of WhatsApp messages for one sender.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Sends one message.
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, ProviderError>;

    /// Checks, before a campaign starts, that the sender's credentials work and (where the
    /// provider can tell) that the template exists and is approved in that language.
    async fn preflight(&self, _template_name: &str, _language: &str) -> Result<(), ProviderError> {
        Ok(())
    }

    /// [`Provider::preflight`], and what it learned on the way: the number's throughput and
    /// quality, the template's status, category and quality.
    async fn preflight_details(&self, template_name: &str, language: &str) -> Result<Preflight, ProviderError> {
        self.preflight(template_name, language)
            .await
            .map(|()| Preflight::default())
    }

    /// Every template the sender's account holds, every page of them.
    async fn list_templates(&self) -> Result<Vec<ProviderTemplate>, ProviderError> {
        Err(ProviderError::local(
            ErrorClass::Permanent,
            "unsupported",
            "this provider cannot list its templates",
            None,
        ))
    }
}

/// A sender's configuration could not become a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing credential {0:?}")]
    MissingCredential(&'static str),
    #[error("the {0} provider is not available in this version")]
    Unavailable(&'static str),
    #[error("invalid base_url: {0}")]
    BaseUrl(String),
    #[error("invalid credential {name:?}: {reason}")]
    InvalidCredential { name: &'static str, reason: String },
}

/// Credentials as stored (decrypted), per provider.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Credentials {
    pub access_token: Option<String>,
    pub phone_number_id: Option<String>,
    pub waba_id: Option<String>,
    pub app_secret: Option<String>,
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
    /// Twilio: a Messaging Service (`MG…`) to send through instead of a `From` number, so
    /// that Twilio picks a sender from the service's pool.
    pub messaging_service_sid: Option<String>,
    /// Meta: send `marketing` templates through the Marketing Messages API
    /// (`/marketing_messages`). Needs Meta's terms accepted for the business portfolio.
    #[serde(default)]
    pub marketing_messages_api: Option<bool>,
    /// Meta, Marketing Messages API: `STRICT` or `CLOUD_API_FALLBACK` (its `product_policy`).
    pub marketing_product_policy: Option<String>,
    /// Meta, Marketing Messages API: `message_activity_sharing`.
    pub marketing_activity_sharing: Option<bool>,
}

/// `MG` and 32 hexadecimal digits.
fn is_messaging_service_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("MG") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks that a provider's credentials hold what it needs, without contacting it.
pub fn validate_credentials(provider: ProviderKind, credentials: &Credentials) -> Result<(), ConfigError> {
    match provider {
        ProviderKind::Sandbox => Ok(()),
        ProviderKind::Meta => {
            credentials
                .access_token
                .as_ref()
                .ok_or(ConfigError::MissingCredential("access_token"))?;
            credentials
                .phone_number_id
                .as_ref()
                .ok_or(ConfigError::MissingCredential("phone_number_id"))?;
            meta::MarketingMessages::from_credentials(credentials)?;
            Ok(())
        }
        ProviderKind::Twilio => {
            credentials
                .account_sid
                .as_ref()
                .ok_or(ConfigError::MissingCredential("account_sid"))?;
            credentials
                .auth_token
                .as_ref()
                .ok_or(ConfigError::MissingCredential("auth_token"))?;
            if let Some(sid) = &credentials.messaging_service_sid {
                if !is_messaging_service_sid(sid.trim()) {
                    return Err(ConfigError::InvalidCredential {
                        name: "messaging_service_sid",
                        reason: "must be MG followed by 32 hexadecimal digits".into(),
                    });
                }
            }
            Ok(())
        }
    }
}

/// Builds the provider of one sender.
pub fn build(
    provider: ProviderKind,
    credentials: &Credentials,
    base_url: Option<&str>,
    http: reqwest::Client,
    sandbox_latency: Duration,
) -> Result<Arc<dyn Provider>, ConfigError> {
    validate_credentials(provider, credentials)?;
    match provider {
        ProviderKind::Sandbox => Ok(Arc::new(sandbox::Sandbox::new(sandbox_latency))),
        ProviderKind::Meta => Ok(Arc::new(
            meta::Meta::new(
                http,
                base_url.unwrap_or(meta::DEFAULT_BASE_URL),
                credentials.phone_number_id.clone().unwrap_or_default(),
                credentials.access_token.clone().unwrap_or_default(),
            )?
            .with_waba_id(credentials.waba_id.clone())
            .with_marketing_messages(meta::MarketingMessages::from_credentials(credentials)?),
        )),
        ProviderKind::Twilio => Ok(Arc::new(
            twilio::Twilio::new(
                http,
                base_url.unwrap_or(twilio::DEFAULT_BASE_URL),
                credentials.account_sid.clone().unwrap_or_default(),
                credentials.auth_token.clone().unwrap_or_default(),
            )?
            .with_messaging_service_sid(credentials.messaging_service_sid.clone()),
        )),
    }
}

/// The HTTP client every provider shares: pooled connections, HTTP/2 where offered.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .user_agent(concat!("pregon/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Classifies a transport failure: a request that never left is safe to retry; one whose
/// answer never came may have been accepted.
pub(crate) fn transport_error(e: &reqwest::Error) -> ProviderError {
    let (code, ambiguous) = if e.is_connect() {
        ("connect", false)
    } else if e.is_timeout() {
        ("timeout", true)
    } else if e.is_builder() || e.is_request() && !e.is_body() {
        ("request", false)
    } else {
        ("transport", true)
    };
    let (code, message) = (code.to_string(), e.to_string());
    if ambiguous {
        ProviderError::Ambiguous { code, message }
    } else {
        ProviderError::Retryable { code, message }
    }
}

/// A 2xx answer that cannot be read: the message may well have been accepted.
pub(crate) fn unreadable_success(bytes: &[u8]) -> ProviderError {
    ProviderError::Ambiguous {
        code: "bad_response".into(),
        message: format!("unreadable success answer: {}", excerpt(bytes)),
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// The refusal of a message whose `expires_at` has passed: nothing is sent.
pub(crate) fn expired(expires_at: Millis, now: Millis) -> ProviderError {
    ProviderError::local(
        ErrorClass::Permanent,
        "expired",
        format!(
            "the message expired {} s ago, before it could be sent",
            (now - expires_at) / 1000
        ),
        Some(ErrorReason::Expired),
    )
}

/// The first 200 bytes of a body, as text.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
}

/// Checks a base URL and drops its trailing slashes.
pub(crate) fn base_url(url: &str) -> Result<String, ConfigError> {
    let base = url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(ConfigError::BaseUrl(url.to_string()));
    }
    Ok(base.to_string())
}

/// Reads a `Retry-After` header given in seconds.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}
