//! `/webhooks/meta` and `/webhooks/twilio`: provider status reports, replies and account
//! changes (see [`crate::reports`] for how they are recorded).
//!
//! Every POST is checked against the secret of a sender it names (Meta: `X-Hub-Signature-256`
//! over the raw body with the sender's `app_secret`; Twilio: `X-Twilio-Signature` over the
//! URL and fields with the sender's `auth_token`), in constant time. A missing or wrong
//! signature, or one no known sender can check, answers 401 and changes nothing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use pregon_domain::{MessagingTier, ProviderKind, SenderStatus, ThroughputLevel};
use pregon_providers::signature::{verify_sha256_header, verify_twilio};
use pregon_store::{NewInbound, StatusUpdate};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::reports::directory::{KnownSender, Lookup};
use crate::reports::meta::{self, Change};
use crate::reports::twilio::{self, Form};

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
}

fn not_recorded() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_recorded",
        "the webhook could not be recorded now; send it again",
    )
}

/// A database that cannot answer now is a 503 (the provider sends the webhook again), not
/// a 500.
fn lookup_failed(e: pregon_store::StoreError) -> ApiError {
    match e {
        pregon_store::StoreError::Unavailable(_) => ApiError::from(e),
        e => ApiError::internal("looking up a webhook's senders", &e),
    }
}

/// Meta's verification handshake: echoes `hub.challenge` when `hub.verify_token` is
/// `PREGON_META_VERIFY_TOKEN`.
#[utoipa::path(get, path = "/webhooks/meta", tag = "webhooks",
    params(("hub.mode" = String, Query, description = "`subscribe`"),
           ("hub.verify_token" = String, Query, description = "must equal PREGON_META_VERIFY_TOKEN"),
           ("hub.challenge" = String, Query, description = "echoed back")),
    responses((status = 200, description = "the challenge, as plain text", body = String),
              (status = 403, body = super::ErrorBody)))]
pub async fn meta_verify(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Response {
    let expected = state.reports.config.meta_verify_token.as_deref();
    let given = query.get("hub.verify_token").map(String::as_str).unwrap_or_default();
    let token_ok = expected.is_some_and(|t| bool::from(t.as_bytes().ct_eq(given.as_bytes())));
    match (query.get("hub.mode").map(String::as_str), query.get("hub.challenge")) {
        (Some("subscribe"), Some(challenge)) if token_ok => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge.clone(),
        )
            .into_response(),
        _ => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the verification token does not match PREGON_META_VERIFY_TOKEN",
        )
        .into_response(),
    }
}

/// The senders one change may be about: a cached lookup, or some of it.
struct Routed {
    senders: Arc<Vec<KnownSender>>,
    /// Which of them (all when `None`).
    pick: Option<Vec<usize>>,
}

impl Routed {
    fn iter(&self) -> impl Iterator<Item = &KnownSender> {
        let all = self.pick.is_none().then(|| self.senders.iter());
        let some = self.pick.iter().flatten().map(|&i| &self.senders[i]);
        all.into_iter().flatten().chain(some)
    }
}

/// The senders each change may be about.
async fn candidates(state: &AppState, changes: &[Change], fresh: bool) -> Result<Vec<Routed>, ApiError> {
    let dir = &state.reports.directory;
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        let account = match change {
            Change::Messages { phone_number_id, .. } => Some(phone_number_id.as_str()),
            Change::Preference(p) => p.phone_number_id.as_deref(),
            Change::Account { .. } | Change::Template(_) => None,
        };
        let Lookup { senders, .. } = if fresh {
            dir.lookup_fresh(ProviderKind::Meta, account).await
        } else {
            dir.lookup(ProviderKind::Meta, account).await
        }
        .map_err(lookup_failed)?;
        let pick = match change {
            Change::Messages { .. } => None,
            Change::Account {
                waba_id, phone_digits, ..
            } => Some(
                senders
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| match phone_digits {
                        Some(d) => meta::digits(&s.phone_number) == *d,
                        None => s.waba_id.is_some() && s.waba_id == *waba_id,
                    })
                    .map(|(i, _)| i)
                    .collect(),
            ),
            // Said to one number when Meta names it, else to the account.
            Change::Preference(p) => p.phone_number_id.is_none().then(|| {
                senders
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.waba_id.is_some() && s.waba_id == p.waba_id)
                    .map(|(i, _)| i)
                    .collect()
            }),
            // A template belongs to the account: the account's senders, one per tenant.
            Change::Template(t) => Some(
                senders
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.waba_id.is_some() && s.waba_id == t.waba_id)
                    .map(|(i, _)| i)
                    .collect(),
            ),
        };
        out.push(Routed { senders, pick });
    }
    Ok(out)
}

/// The ids of the senders whose secret verifies the request.
fn verified<'a>(senders: impl Iterator<Item = &'a KnownSender>, check: impl Fn(&[u8]) -> bool) -> HashSet<String> {
    // Usually one secret for them all: check each distinct one once.
    let mut verdicts: Vec<(&[u8], bool)> = Vec::new();
    let mut ok = HashSet::new();
    for s in senders {
        let Some(secret) = s.secret.as_deref() else { continue };
        let verdict = match verdicts.iter().find(|(k, _)| *k == secret) {
            Some((_, v)) => *v,
            None => {
                let v = check(secret);
                verdicts.push((secret, v));
                v
            }
        };
        if verdict {
            ok.insert(s.id.clone());
        }
    }
    ok
}

/// Status reports and replies: 200 once recorded. Signed with `X-Hub-Signature-256`.
#[utoipa::path(post, path = "/webhooks/meta", tag = "webhooks",
    request_body(content = Object, description = "Meta's `whatsapp_business_account` webhook"),
    responses((status = 200, description = "recorded"), (status = 400, body = super::ErrorBody),
              (status = 401, body = super::ErrorBody), (status = 503, body = super::ErrorBody)))]
pub async fn meta_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let Some(signature) = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized("the X-Hub-Signature-256 header is missing"));
    };
    let payload: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")))?;
    let changes = meta::parse(&payload);
    let check = |secret: &[u8]| verify_sha256_header(secret, &body, signature);
    let mut routed = candidates(&state, &changes, false).await?;
    let mut ok = verified(routed.iter().flat_map(Routed::iter), check);
    if ok.is_empty() {
        // A secret may have changed since it was cached.
        routed = candidates(&state, &changes, true).await?;
        ok = verified(routed.iter().flat_map(Routed::iter), check);
    }
    if ok.is_empty() {
        // Signed by a Meta app pregon knows, but about numbers it does not serve (another
        // number of the same account): authentic, and nothing to do. Anything else is refused.
        let all = state
            .reports
            .directory
            .lookup(ProviderKind::Meta, None)
            .await
            .map_err(lookup_failed)?;
        if verified(all.senders.iter(), check).is_empty() {
            return Err(unauthorized(
                "the signature does not verify with the app_secret of any sender this webhook names",
            ));
        }
        return Ok(StatusCode::OK);
    }
    let now = state.clock.now_millis();
    let mut statuses = Vec::new();
    let mut inbound = Vec::new();
    for (change, senders) in changes.iter().zip(&routed) {
        let senders = senders.iter().filter(|s| ok.contains(&s.id));
        match change {
            Change::Messages {
                statuses: reports,
                inbound: replies,
                ..
            } => {
                for s in senders {
                    statuses.extend(reports.iter().map(|r| StatusUpdate {
                        sender_id: s.id.clone(),
                        provider_message_id: r.provider_message_id.clone(),
                        message_hint: r.message_hint,
                        status: r.status,
                        at: r.at.unwrap_or(now),
                        error_code: r.error_code.clone(),
                        error_message: r.error_message.clone(),
                        detail: r.detail.clone(),
                        user_id: r.user_id.clone(),
                    }));
                    inbound.extend(replies.iter().map(|m| {
                        reply(
                            &state,
                            s,
                            Received {
                                phone: &m.key,
                                user_id: m.user_id.as_deref(),
                                provider_message_id: &m.provider_message_id,
                                message_type: &m.message_type,
                                text: m.text.as_deref(),
                                at: m.at.unwrap_or(now),
                            },
                        )
                    }));
                }
            }
            Change::Account { field, value, .. } => {
                for s in senders {
                    account_change(&state, s, field, value).await?;
                }
            }
            Change::Preference(update) => {
                let mut tenants = HashSet::new();
                for s in senders.filter(|s| tenants.insert(s.tenant_id.clone())) {
                    preference_change(&state, &s.tenant_id, update).await?;
                }
            }
            Change::Template(update) => {
                let mut tenants = HashSet::new();
                for s in senders.filter(|s| tenants.insert(s.tenant_id.clone())) {
                    template_change(&state, &s.tenant_id, update).await?;
                }
            }
        }
    }
    // The provider's own timestamps, for the lag once recorded (Meta's are whole seconds).
    let stamped: Vec<i64> = changes
        .iter()
        .flat_map(|c| match c {
            Change::Messages { statuses, .. } => statuses.iter().filter_map(|r| r.at).collect(),
            _ => Vec::new(),
        })
        .collect();
    state
        .reports
        .record(statuses, inbound)
        .await
        .map_err(|_| not_recorded())?;
    let recorded = state.clock.now_millis();
    for at in stamped {
        let lag = std::time::Duration::from_millis(recorded.saturating_sub(at).max(0) as u64);
        state.metrics.webhook_lag(ProviderKind::Meta, lag);
    }
    Ok(StatusCode::OK)
}

/// A message a user wrote, as a provider's webhook gave it.
struct Received<'a> {
    /// The recipient's identity: its phone, or its BSUID when Meta shared no phone.
    phone: &'a str,
    user_id: Option<&'a str>,
    provider_message_id: &'a str,
    message_type: &'a str,
    text: Option<&'a str>,
    at: i64,
}

/// A reply to store, opting its phone out when it is a stop word.
fn reply(state: &AppState, sender: &KnownSender, m: Received<'_>) -> NewInbound {
    let stop = m.text.and_then(|t| state.reports.stop_words.find(t));
    NewInbound {
        tenant_id: sender.tenant_id.clone(),
        sender_id: sender.id.clone(),
        phone: m.phone.to_string(),
        provider_message_id: m.provider_message_id.to_string(),
        message_type: m.message_type.to_string(),
        text: m.text.map(|t| t.chars().take(4096).collect()),
        received_at: m.at,
        opt_out_reason: stop.map(|w| format!("replied {w}")),
        user_id: m.user_id.map(str::to_string),
    }
}

/// A user stopped marketing messages (a `marketing` opt-out, `source: provider`) or resumed
/// them (that opt-out lifted; an opt-out of everything stays). The opt-out is keyed by the
/// phone when Meta shares it, else by the BSUID; a report naming both links them.
async fn preference_change(
    state: &AppState,
    tenant_id: &str,
    update: &pregon_providers::meta_webhooks::UserPreferenceUpdate,
) -> Result<(), ApiError> {
    let phone = match update.phone.as_deref() {
        None => None,
        Some(digits) => match pregon_domain::PhoneNumber::parse(&format!("+{digits}"), None) {
            Ok(p) => Some(p),
            Err(_) => {
                tracing::warn!(tenant = %tenant_id, "marketing preference for a phone that does not parse");
                return Ok(());
            }
        },
    };
    let user_id = update.user_id.as_ref();
    let Some(key) = pregon_domain::identity_key(phone.as_ref().map(|p| p.as_str()), user_id) else {
        tracing::info!(tenant = %tenant_id, "marketing preference naming no user: not recorded");
        return Ok(());
    };
    let (scope, stop) = update.opt_out();
    let now = state.clock.now_millis();
    let by = pregon_store::Change::by(pregon_store::Actor::system());
    if let (Some(phone), Some(user_id)) = (&phone, user_id) {
        state
            .store
            .link_recipient(tenant_id, phone.as_str(), user_id.as_str(), now)
            .await?;
    }
    if stop {
        let reason = update.detail.as_deref().unwrap_or("stopped marketing messages");
        state
            .store
            .add_opt_out(tenant_id, &key, Some(reason), "provider", scope, now, &by)
            .await?;
    } else {
        state.store.lift_marketing_opt_out(tenant_id, &key, now, &by).await?;
        if let Some(u) = user_id.filter(|u| u.as_str() != key) {
            state
                .store
                .lift_marketing_opt_out(tenant_id, u.as_str(), now, &by)
                .await?;
        }
    }
    Ok(())
}

/// Applies a template's status event to a tenant's templates of that name and language,
/// and its campaigns: a pause pauses the running ones (`template_paused`), an approval or
/// reinstatement resumes exactly those, a disable, rejection or deletion ends them `failed`.
async fn template_change(
    state: &AppState,
    tenant_id: &str,
    update: &pregon_providers::meta_webhooks::TemplateStatusUpdate,
) -> Result<(), ApiError> {
    use pregon_providers::meta_webhooks::{TemplateEffect, TemplateEnd};
    use pregon_store::TemplateCampaigns;
    let effect = update.event.effect().map(|e| match e {
        TemplateEffect::Pause => TemplateCampaigns::Pause,
        TemplateEffect::Resume => TemplateCampaigns::Resume,
        TemplateEffect::End(end) => TemplateCampaigns::End(match end {
            TemplateEnd::Disabled => pregon_domain::FailureReason::TemplateDisabled,
            TemplateEnd::Rejected => pregon_domain::FailureReason::TemplateRejected,
            TemplateEnd::Deleted => pregon_domain::FailureReason::TemplateDeleted,
        }),
    });
    let status = update.event.status();
    if effect.is_none() && status.is_none() {
        return Ok(());
    }
    let detail = update.explanation();
    let applied = state
        .store
        .apply_template_event(
            tenant_id,
            &update.name,
            &update.language,
            status,
            effect,
            detail.as_deref(),
            state.clock.now_millis(),
        )
        .await?;
    tracing::warn!(
        tenant = %tenant_id, template = %update.name, language = %update.language, event = ?update.event,
        templates = applied.templates.len(), campaigns = ?applied.campaigns,
        "template status update from Meta"
    );
    if effect == Some(TemplateCampaigns::Resume) && !applied.campaigns.is_empty() {
        state.wake.notify_waiters();
    }
    Ok(())
}

/// Applies a Meta account webhook to a sender ([`meta::account_effect`]).
async fn account_change(
    state: &AppState,
    sender: &KnownSender,
    field: &str,
    value: &serde_json::Value,
) -> Result<(), ApiError> {
    let (quality, status) = meta::account_effect(field, value);
    tracing::warn!(sender = %sender.id, field, event = %value["event"], ?quality, ?status, "provider account update");
    let current = state.store.sender_by_id(&sender.id).await?;
    // The messaging tier Meta reports is the number's daily limit of unique recipients:
    // the sender follows it, so campaigns pause at the limit instead of being refused.
    let tier = value["current_limit"]
        .as_str()
        .and_then(MessagingTier::parse)
        .map(MessagingTier::daily_limit);
    let limit = tier.filter(|limit| *limit != current.daily_limit);
    // Meta upgrades eligible numbers to 1,000 messages per second and says so once done: a
    // sender that follows its number's throughput sends at it from its next refresh.
    use pregon_providers::meta_webhooks::PhoneNumberEvent;
    let upgraded = (field == "phone_number_quality_update"
        && value["event"].as_str().map(PhoneNumberEvent::parse) == Some(PhoneNumberEvent::ThroughputUpgrade)
        && current.throughput_level != Some(ThroughputLevel::High))
    .then_some(ThroughputLevel::High);
    if limit.is_some() || upgraded.is_some() {
        let patch = pregon_store::SenderPatch {
            daily_limit: limit,
            throughput_level: upgraded.map(Some),
            ..Default::default()
        };
        state
            .store
            .update_sender(
                &current.tenant_id,
                &current.id,
                &patch,
                state.clock.now_millis(),
                &pregon_store::Change::by(pregon_store::Actor::system()),
            )
            .await?;
        tracing::warn!(sender = %sender.id, daily_limit = ?limit, throughput = ?upgraded, "sender follows what Meta reports");
    }
    // Reinstating lifts only what the provider did: a sender paused by a person stays paused.
    let status =
        status.filter(|s| *s != current.status && (!s.is_active() || current.status == SenderStatus::Suspended));
    let quality = quality.filter(|q| current.quality_rating.as_deref() != Some(*q));
    if quality.is_none() && status.is_none() {
        return Ok(());
    }
    let now = state.clock.now_millis();
    // A suspension pauses the sender's running campaigns (`sender_paused`) in the same
    // transaction, and a reinstatement resumes them.
    state
        .store
        .update_sender_quality(&sender.id, quality, status, now)
        .await?;
    if status == Some(SenderStatus::Suspended) {
        let event = value["event"].as_str().unwrap_or(field);
        tracing::error!(sender = %sender.id, event, "sender suspended by its provider; its campaigns wait for it");
    }
    state.reports.forget_senders();
    state.wake.notify_waiters();
    Ok(())
}

/// The URL Twilio signed: `PREGON_PUBLIC_URL` + path (+ query) behind a proxy, else
/// `http://` + the Host header + path (+ query).
fn signed_url(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match &state.reports.config.public_url {
        Some(base) => Some(format!("{base}{path}")),
        None => {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            Some(format!("http://{host}{path}"))
        }
    }
}

/// An empty TwiML answer: nothing to send back.
fn twiml() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>",
    )
        .into_response()
}

/// Status callbacks and incoming messages: 200 with an empty TwiML `<Response/>` once
/// recorded. Signed with `X-Twilio-Signature`.
#[utoipa::path(post, path = "/webhooks/twilio", tag = "webhooks",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
                 description = "Twilio's status callback or incoming message fields"),
    responses((status = 200, description = "recorded; empty TwiML", content_type = "text/xml"),
              (status = 401, body = super::ErrorBody), (status = 503, body = super::ErrorBody)))]
pub async fn twilio_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(signature) = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized("the X-Twilio-Signature header is missing"));
    };
    let form = Form::parse(&body);
    let Some(account) = form.get("AccountSid") else {
        return Err(unauthorized("no AccountSid: the signature cannot be checked"));
    };
    let url =
        signed_url(&state, &headers, &uri).ok_or_else(|| unauthorized("no Host header to rebuild the signed URL"))?;
    let check =
        |secret: &[u8]| std::str::from_utf8(secret).is_ok_and(|token| verify_twilio(token, &url, &form.0, signature));
    let dir = &state.reports.directory;
    let mut senders = dir
        .lookup(ProviderKind::Twilio, Some(account))
        .await
        .map_err(lookup_failed)?
        .senders;
    let mut ok = verified(senders.iter(), check);
    if ok.is_empty() {
        senders = dir
            .lookup_fresh(ProviderKind::Twilio, Some(account))
            .await
            .map_err(lookup_failed)?
            .senders;
        ok = verified(senders.iter(), check);
    }
    if ok.is_empty() {
        return Err(unauthorized(
            "the signature does not verify with the auth_token of any sender of this AccountSid",
        ));
    }
    let verified: Vec<&KnownSender> = senders.iter().filter(|s| ok.contains(&s.id)).collect();
    let now = state.clock.now_millis();
    let (statuses, inbound) = match twilio::read(&form) {
        Some(twilio::Event::Status {
            message_sid,
            status,
            error_code,
            error_message,
            detail,
        }) => {
            let statuses = verified
                .iter()
                .map(|s| StatusUpdate {
                    sender_id: s.id.clone(),
                    provider_message_id: message_sid.clone(),
                    message_hint: None,
                    status,
                    at: now,
                    error_code: error_code.clone(),
                    error_message: error_message.clone(),
                    detail: detail.clone(),
                    user_id: None,
                })
                .collect();
            (statuses, Vec::new())
        }
        Some(twilio::Event::Inbound {
            message_sid,
            phone,
            to,
            message_type,
            text,
        }) => {
            // The sender whose number it was written to; the account's first otherwise.
            let numbers: BTreeSet<&str> = verified.iter().map(|s| s.phone_number.as_str()).collect();
            let to_ours = to.as_deref().filter(|t| numbers.contains(t));
            let chosen: Vec<&KnownSender> = match to_ours {
                Some(t) => verified.iter().copied().filter(|s| s.phone_number == t).collect(),
                None => verified.iter().copied().take(1).collect(),
            };
            let inbound = chosen
                .into_iter()
                .map(|s| {
                    reply(
                        &state,
                        s,
                        Received {
                            phone: &phone,
                            user_id: None,
                            provider_message_id: &message_sid,
                            message_type: &message_type,
                            text: text.as_deref(),
                            at: now,
                        },
                    )
                })
                .collect();
            (Vec::new(), inbound)
        }
        Some(twilio::Event::Ignored(_)) | None => (Vec::new(), Vec::new()),
    };
    state
        .reports
        .record(statuses, inbound)
        .await
        .map_err(|_| not_recorded())?;
    Ok(twiml())
}
