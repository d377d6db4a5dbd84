//! `GET /api/v1/campaigns/{id}/failures`: a campaign's failed messages grouped by the
//! provider's error code, each with its count, one message's provider words, and what the
//! code means in pregon's classification (`crates/providers/src/classify.rs`).

use axum::extract::{Path, State};
use axum::Json;
use pregon_domain::{ErrorClass, ProviderKind};
use pregon_providers::classify;
use pregon_store::FailureGroup;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{Caller, Viewer, Who};
use super::error::{ApiError, NotFoundAs};
use super::AppState;

/// Groups one answer lists at most: codes beyond them are rare and left out.
pub const MAX_GROUPS: i64 = 50;

/// A provider's table: a code and the HTTP status to its class.
type Classifier = fn(i64, u16) -> ErrorClass;

/// What a provider error code means for pregon, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The provider asked to slow down (and the message ran out of attempts).
    Throttled,
    /// A passing error: retried with backoff until the attempts ran out.
    Retryable,
    /// This message (or recipient) will not go through.
    Permanent,
    /// The template: every message of the campaign would fail the same way.
    Campaign,
    /// The sender itself could not send (credentials, account, payment).
    Sender,
    /// A code the provider's table does not know, or no code.
    Unknown,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Throttled => "throttled",
            FailureClass::Retryable => "retryable",
            FailureClass::Permanent => "permanent",
            FailureClass::Campaign => "campaign",
            FailureClass::Sender => "sender",
            FailureClass::Unknown => "unknown",
        }
    }

    /// How `provider` classifies `code`, by the provider crate's own tables. A code those
    /// tables do not know (its class would come from the HTTP status alone) is `unknown`.
    pub fn of(provider: ProviderKind, code: Option<&str>) -> FailureClass {
        let Some(code) = code.and_then(|c| c.trim().parse::<i64>().ok()) else {
            return FailureClass::Unknown;
        };
        let (class, throttle): (Classifier, fn(i64) -> bool) = match provider {
            ProviderKind::Meta => (classify::meta, classify::meta_is_throttle),
            ProviderKind::Twilio => (classify::twilio, classify::twilio_is_throttle),
            _ => return FailureClass::Unknown,
        };
        if throttle(code) {
            return FailureClass::Throttled;
        }
        // Known codes classify the same whatever the status; unknown ones follow it.
        let known = class(code, 400);
        if known != class(code, 503) {
            return FailureClass::Unknown;
        }
        match known {
            ErrorClass::Retryable => FailureClass::Retryable,
            ErrorClass::Permanent => FailureClass::Permanent,
            ErrorClass::Campaign => FailureClass::Campaign,
            ErrorClass::Sender => FailureClass::Sender,
        }
    }
}

/// One provider error code of a campaign's failures.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailureView {
    pub error_code: Option<String>,
    pub count: i64,
    /// The provider's words on one of these messages.
    pub error_message: Option<String>,
    /// `throttled`, `retryable`, `permanent`, `campaign`, `sender` or `unknown`.
    pub class: FailureClass,
}

/// The answer: the largest groups first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailuresView {
    pub items: Vec<FailureView>,
}

/// The failure groups of a campaign whose sender speaks for `provider`.
pub fn views(provider: ProviderKind, groups: Vec<FailureGroup>) -> Vec<FailureView> {
    groups
        .into_iter()
        .map(|g| FailureView {
            class: FailureClass::of(provider, g.error_code.as_deref()),
            error_code: g.error_code,
            count: g.count,
            error_message: g.error_message,
        })
        .collect()
}

/// The campaign's failures by provider error code (at most 50 codes, the largest first).
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/failures", tag = "campaigns",
    responses((status = 200, body = FailuresView), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn campaign(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    Path(id): Path<String>,
) -> Result<Json<FailuresView>, ApiError> {
    let c = state
        .store
        .get_campaign(&tenant.id, &id)
        .await
        .or_not_found("campaign")?;
    let sender = state.store.sender_by_id(&c.sender_id).await?;
    let groups = state.store.campaign_failures(&tenant.id, &c.id, MAX_GROUPS).await?;
    Ok(Json(FailuresView {
        items: views(sender.provider, groups),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified_by_the_providers_tables() {
        let meta = |code| FailureClass::of(ProviderKind::Meta, Some(code));
        assert_eq!(meta("131026"), FailureClass::Permanent);
        assert_eq!(meta("130429"), FailureClass::Throttled);
        assert_eq!(meta("131000"), FailureClass::Retryable);
        assert_eq!(meta("132001"), FailureClass::Campaign);
        assert_eq!(meta("190"), FailureClass::Sender);
        assert_eq!(meta("987654"), FailureClass::Unknown);
        assert_eq!(meta("timeout"), FailureClass::Unknown);
        let twilio = |code| FailureClass::of(ProviderKind::Twilio, Some(code));
        assert_eq!(twilio("21211"), FailureClass::Permanent);
        assert_eq!(twilio("20429"), FailureClass::Throttled);
        assert_eq!(FailureClass::of(ProviderKind::Meta, None), FailureClass::Unknown);
    }
}
