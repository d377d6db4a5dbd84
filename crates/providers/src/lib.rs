//! WhatsApp providers: one trait, one module per provider.
//!
//! - [`sandbox`]: sends nothing; renders the message, keeps its text, answers "sent".
//! - [`meta`]: WhatsApp Business Cloud API template messages.
//! - [`twilio`]: Twilio Programmable Messaging for WhatsApp (Content SID templates or text).
//!
//! A provider turns one rendered message into one request and classifies whatever comes
//! back ([`ErrorClass`], then [`ProviderError`]: throttled, ambiguous, retryable, permanent,
//! the sender's or the campaign's): the dispatcher decides what to do with the kind, never
//! with a provider's raw codes.

pub mod classify;
pub mod meta;
pub mod sandbox;
pub mod signature;
pub mod twilio;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pregon_domain::template::Rendered;
pub use pregon_domain::{ErrorClass, ProviderKind};
use serde::Deserialize;

/// One message, rendered and ready for the wire.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// E.164, `+` included.
    pub to: String,
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
}

/// The provider took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub provider_message_id: String,
    /// What was "sent", for providers that only record (the sandbox).
    pub recorded_text: Option<String>,
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
    },
}

impl ProviderError {
    /// A refusal the provider answered, by the class of its code: a retryable one that
    /// comes with a wait (the provider's `Retry-After`, or the hold its code implies) is
    /// throttling.
    pub fn answered(class: ErrorClass, code: String, message: String, retry_after: Option<Duration>) -> Self {
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
            .with_waba_id(credentials.waba_id.clone()),
        )),
        ProviderKind::Twilio => Ok(Arc::new(twilio::Twilio::new(
            http,
            base_url.unwrap_or(twilio::DEFAULT_BASE_URL),
            credentials.account_sid.clone().unwrap_or_default(),
            credentials.auth_token.clone().unwrap_or_default(),
        )?)),
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
