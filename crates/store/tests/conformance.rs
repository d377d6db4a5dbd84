//! The store conformance suite: the semantics every `Store` implementation must keep.
//! Each test takes a fresh, migrated store; `conformance!` runs the whole suite against a
//! store factory, so a new database backend adds one line at the bottom. A factory returns
//! `None` when its database is not available here (a notice says so), and the test passes
//! without running.

mod support;

use std::any::Any;
use std::sync::Arc;

use pregon_domain::state::CampaignAction;
use pregon_domain::{
    CampaignSettings, CampaignStatus, MessageStatus, OptOutScope, PausedReason, ProviderKind, SenderStatus, SkipReason,
    TemplateStatus,
};
use pregon_store::*;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// Who the suite's changes are made by.
fn by() -> Change {
    Change::by(Actor::cli("conformance"))
}
const TTL: i64 = 10_000;

struct Fixture {
    store: Arc<dyn Store>,
    tenant: String,
    sender: String,
    template: String,
    /// What must outlive the store (its directory, its database); dropped after it.
    _keep: Box<dyn Any>,
}

async fn fixture(store: Arc<dyn Store>, keep: Box<dyn Any>) -> Fixture {
    let tenant = store.create_tenant("acme", "secret", T0).await.unwrap().id;
    let sender = SenderRecord {
        id: pregon_domain::id::new_id("snd"),
        tenant_id: tenant.clone(),
        name: "s".into(),
        provider: ProviderKind::Sandbox,
        phone_number: "+15555550100".into(),
        credentials: vec![1, 2, 3],
        base_url: None,
        messages_per_second: 10.0,
        daily_limit: None,
        is_default: true,
        status: SenderStatus::Active,
        quality_rating: None,
        provider_account: None,
        limit_group: None,
        rate_follows_provider: false,
        throughput_level: None,
        created_at: T0,
        updated_at: T0,
    };
    store.insert_sender(&sender, &by()).await.unwrap();
    let template = TemplateRecord {
        id: pregon_domain::id::new_id("tpl"),
        tenant_id: tenant.clone(),
        name: "t".into(),
        language: "es".into(),
        body: "Hola {{n}}".into(),
        header_image: None,
        twilio_content_sid: None,
        category: pregon_domain::TemplateCategory::Marketing,
        status: pregon_domain::TemplateStatus::Approved,
        quality: pregon_domain::TemplateQuality::Unknown,
        created_at: T0,
    };
    store.insert_template(&template, &by()).await.unwrap();
    Fixture {
        store,
        tenant,
        sender: sender.id,
        template: template.id,
        _keep: keep,
    }
}

impl Fixture {
    async fn campaign(&self, queued: usize, skipped: usize, priority: i64) -> CampaignRecord {
        let mut messages: Vec<NewMessage> = (0..queued)
            .map(|i| NewMessage {
                user_id: None,
                phone: format!("+58412{i:07}"),
                variables: r#"{"n":"x"}"#.into(),
                skip_reason: None,
            })
            .collect();
        messages.extend((0..skipped).map(|_| NewMessage {
            user_id: None,
            phone: "junk".into(),
            variables: "{}".into(),
            skip_reason: Some(SkipReason::InvalidPhone),
        }));
        self.store
            .create_campaign(
                NewCampaign {
                    expires_at: None,
                    id: pregon_domain::id::new_id("cmp"),
                    tenant_id: self.tenant.clone(),
                    name: "c".into(),
                    sender_id: self.sender.clone(),
                    template_id: self.template.clone(),
                    status: CampaignStatus::Running,
                    priority,
                    settings: CampaignSettings::default(),
                    start_at: None,
                    windowed: false,
                    max_attempts: 3,
                    messages,
                    now: T0,
                },
                &by(),
            )
            .await
            .unwrap()
    }

    async fn lease(&self, owner: &str, now: i64) -> Option<Lease> {
        self.store.acquire_lease(&self.sender, owner, TTL, now).await.unwrap()
    }

    async fn counts(&self, campaign: &str) -> Counts {
        self.store.campaign_by_id(campaign).await.unwrap().counts
    }

    async fn statuses(&self, campaign: &str) -> Vec<MessageStatus> {
        let page = PageRequest {
            limit: 200,
            cursor: None,
        };
        let items = self
            .store
            .list_messages(&self.tenant, campaign, None, &page)
            .await
            .unwrap()
            .items;
        items.into_iter().map(|m| m.status).collect()
    }
}

fn sent(id: i64) -> Outcome {
    Outcome {
        message_id: id,
        kind: OutcomeKind::Sent {
            provider_message_id: format!("wamid.{id}"),
            recorded_text: None,
        },
    }
}

/// A running campaign of `n` messages, all sent (provider ids `wamid.<id>`), with a lease
/// that lasts the test.
async fn sent_campaign(f: &Fixture, n: usize) -> (CampaignRecord, Vec<i64>) {
    let c = f.campaign(n, 0, 5).await;
    let lease = f.lease("a", T0).await.unwrap();
    assert!(f.store.renew_lease(&lease, 3_600_000, T0).await.unwrap());
    let ids: Vec<i64> = f
        .store
        .claim(&lease, &ClaimRequest::new(n, 0), T0)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    f.store.mark_sending(&lease, &ids, T0).await.unwrap();
    let outcomes: Vec<Outcome> = ids.iter().map(|id| sent(*id)).collect();
    f.store.record_outcomes(&lease, &outcomes, T0 + 1).await.unwrap();
    (c, ids)
}

/// A provider's report on one of the fixture sender's messages.
fn report(f: &Fixture, id: i64, status: MessageStatus, at: i64) -> StatusUpdate {
    StatusUpdate {
        user_id: None,
        sender_id: f.sender.clone(),
        provider_message_id: format!("wamid.{id}"),
        message_hint: None,
        status,
        at,
        error_code: None,
        error_message: None,
        detail: serde_json::json!({"source": "test", "provider_status": status.as_str()}),
    }
}

async fn message(f: &Fixture, id: i64) -> MessageRecord {
    f.store.get_message(&f.tenant, id).await.unwrap()
}

fn reply(f: &Fixture, phone: &str, provider_id: &str, text: &str, stop: bool) -> NewInbound {
    NewInbound {
        user_id: None,
        tenant_id: f.tenant.clone(),
        sender_id: f.sender.clone(),
        phone: phone.into(),
        provider_message_id: provider_id.into(),
        message_type: "text".into(),
        text: Some(text.into()),
        received_at: T0 + 10,
        opt_out_reason: stop.then(|| format!("replied {text}")),
    }
}

/// Settings with a campaign webhook.
fn hook_settings() -> CampaignSettings {
    CampaignSettings {
        webhook_url: Some("https://example.com/hook".into()),
        ..CampaignSettings::default()
    }
}

/// A running campaign of `queued` messages and `skipped` invalid ones, with `settings`.
async fn campaign_with(f: &Fixture, queued: usize, skipped: usize, settings: CampaignSettings) -> CampaignRecord {
    let mut messages: Vec<NewMessage> = (0..queued)
        .map(|i| NewMessage {
            user_id: None,
            phone: format!("+58414{i:07}"),
            variables: r#"{"n":"x"}"#.into(),
            skip_reason: None,
        })
        .collect();
    messages.extend((0..skipped).map(|_| NewMessage {
        user_id: None,
        phone: "junk".into(),
        variables: "{}".into(),
        skip_reason: Some(SkipReason::InvalidPhone),
    }));
    f.store
        .create_campaign(
            NewCampaign {
                expires_at: None,
                id: pregon_domain::id::new_id("cmp"),
                tenant_id: f.tenant.clone(),
                name: "hooked".into(),
                sender_id: f.sender.clone(),
                template_id: f.template.clone(),
                status: CampaignStatus::Running,
                priority: 5,
                settings,
                start_at: None,
                windowed: false,
                max_attempts: 3,
                messages,
                now: T0,
            },
            &by(),
        )
        .await
        .unwrap()
}

const DAY: i64 = 24 * 60 * 60 * 1000;

/// A campaign of `queued` messages created at `now` in `status` (`Scheduled`: due at `start_at`).
async fn campaign_at(
    f: &Fixture,
    status: CampaignStatus,
    queued: usize,
    start_at: Option<i64>,
    now: i64,
) -> CampaignRecord {
    f.store
        .create_campaign(
            NewCampaign {
                expires_at: None,
                id: pregon_domain::id::new_id("cmp"),
                tenant_id: f.tenant.clone(),
                name: "at".into(),
                sender_id: f.sender.clone(),
                template_id: f.template.clone(),
                status,
                priority: 5,
                settings: CampaignSettings::default(),
                start_at,
                windowed: false,
                max_attempts: 3,
                messages: (0..queued)
                    .map(|i| NewMessage {
                        user_id: None,
                        phone: format!("+58416{i:07}"),
                        variables: r#"{"n":"x"}"#.into(),
                        skip_reason: None,
                    })
                    .collect(),
                now,
            },
            &by(),
        )
        .await
        .unwrap()
}

/// A single message of the fixture's tenant to `phone`, due at `send_at`, accepted at `now`.
async fn single_at(f: &Fixture, tenant: &str, phone: &str, send_at: i64, now: i64) -> MessageRecord {
    f.store
        .insert_single_message(
            NewSingleMessage {
                user_id: None,
                expires_at: None,
                tenant_id: tenant.to_string(),
                sender_id: f.sender.clone(),
                template_id: f.template.clone(),
                phone: phone.into(),
                variables: r#"{"n":"x"}"#.into(),
                priority: 5,
                max_attempts: 3,
                send_at,
                now,
            },
            &by(),
        )
        .await
        .unwrap()
}

/// Every page of a tenant's single messages, as ids.
async fn single_ids(f: &Fixture, tenant: &str, filter: &SingleMessageFilter, limit: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = f
            .store
            .list_single_messages(tenant, filter, &PageRequest { limit, cursor })
            .await
            .unwrap();
        assert!(page.items.len() as i64 <= limit);
        ids.extend(page.items.iter().map(|m| m.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

/// Sets the fixture sender's status as a person would (`update_sender`).
async fn set_sender_status(f: &Fixture, status: &str, now: i64) -> SenderRecord {
    let patch = SenderPatch {
        status: Some(status.parse().unwrap()),
        ..SenderPatch::default()
    };
    f.store
        .update_sender(&f.tenant, &f.sender, &patch, now, &by())
        .await
        .unwrap()
}

/// A running campaign of `n` messages that expire at `expires_at`.
async fn expiring_campaign(f: &Fixture, n: usize, expires_at: i64) -> CampaignRecord {
    let messages = (0..n)
        .map(|i| NewMessage {
            user_id: None,
            phone: format!("+58414{i:07}"),
            variables: r#"{"n":"x"}"#.into(),
            skip_reason: None,
        })
        .collect();
    f.store
        .create_campaign(
            NewCampaign {
                expires_at: Some(expires_at),
                id: pregon_domain::id::new_id("cmp"),
                tenant_id: f.tenant.clone(),
                name: "expiring".into(),
                sender_id: f.sender.clone(),
                template_id: f.template.clone(),
                status: CampaignStatus::Running,
                priority: 5,
                settings: CampaignSettings::default(),
                start_at: None,
                windowed: false,
                max_attempts: 3,
                messages,
                now: T0,
            },
            &by(),
        )
        .await
        .unwrap()
}

/// A rate card from `(country, category, price)` lines.
fn rate_card(currency: &str, lines: &[(&str, pregon_domain::PricingCategory, f64)]) -> pregon_domain::RateCard {
    use pregon_domain::{Currency, Micros, Rate, RateCard, RateCountry};
    let rates = lines
        .iter()
        .map(|(c, cat, p)| Rate {
            country: RateCountry::parse(c).unwrap(),
            category: *cat,
            price: Micros::from_price(*p).unwrap(),
        })
        .collect();
    RateCard::new(Currency::parse(currency).unwrap(), rates).unwrap()
}

/// The pricing a Meta status carried for message `id` of the fixture's sender.
fn priced(
    f: &Fixture,
    id: i64,
    category: pregon_domain::PricingCategory,
    kind: pregon_domain::PricingType,
    billable: bool,
) -> ReportedPricing {
    ReportedPricing {
        sender_id: f.sender.clone(),
        provider_message_id: format!("wamid.{id}"),
        message_hint: None,
        category: Some(category),
        kind: Some(kind),
        billable: Some(billable),
    }
}

macro_rules! conformance {
    ($factory:ident) => {
        #[tokio::test]
        async fn a_field_mapping_is_kept_with_the_campaign_and_shown_in_its_object() {
            let Some(f) = $factory().await else { return };
            let mapping: std::collections::BTreeMap<String, String> =
                [("phone", "Celular"), ("nombre", "Nombre completo")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            let settings = CampaignSettings {
                field_mapping: Some(mapping.clone()),
                ..CampaignSettings::default()
            };
            let c = campaign_with(&f, 1, 0, settings).await;
            let stored = f.store.campaign_by_id(&c.id).await.unwrap();
            assert_eq!(stored.settings.field_mapping.as_ref(), Some(&mapping));
            let object = pregon_store::CampaignObject::new(&stored, 0.0);
            assert_eq!(object.field_mapping.as_ref(), Some(&mapping));
            assert_eq!(object.settings["field_mapping"]["nombre"], "Nombre completo");
            // A campaign without one has none, and its settings do not name it.
            let plain = campaign_with(&f, 1, 0, CampaignSettings::default()).await;
            let object = pregon_store::CampaignObject::new(&f.store.campaign_by_id(&plain.id).await.unwrap(), 0.0);
            assert!(object.field_mapping.is_none());
            assert!(
                object.settings.get("field_mapping").is_none(),
                "{}",
                object.settings
            );
        }

        #[tokio::test]
        async fn a_sender_following_its_numbers_throughput_keeps_the_level_it_was_told() {
            use pregon_domain::ThroughputLevel;
            let Some(f) = $factory().await else { return };
            let fresh = f.store.get_sender(&f.tenant, &f.sender).await.unwrap();
            assert_eq!(
                (fresh.rate_follows_provider, fresh.throughput_level),
                (false, None)
            );
            let follow = SenderPatch {
                rate_follows_provider: Some(true),
                messages_per_second: Some(500.0),
                ..SenderPatch::default()
            };
            let s = f
                .store
                .update_sender(&f.tenant, &f.sender, &follow, T0 + 1, &by())
                .await
                .unwrap();
            assert_eq!(
                (s.rate_follows_provider, s.throughput_level, s.rate()),
                (true, None, 80.0)
            );
            let high = SenderPatch {
                throughput_level: Some(Some(ThroughputLevel::High)),
                ..SenderPatch::default()
            };
            f.store
                .update_sender(&f.tenant, &f.sender, &high, T0 + 2, &by())
                .await
                .unwrap();
            // Read back as the dispatcher reads it, and as the API lists it.
            let read = f.store.sender_by_id(&f.sender).await.unwrap();
            assert_eq!(
                (read.throughput_level, read.rate()),
                (Some(ThroughputLevel::High), 500.0)
            );
            let listed = f
                .store
                .list_senders(
                    &f.tenant,
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            assert!(listed
                .items
                .iter()
                .any(|s| s.id == f.sender && s.throughput_level == Some(ThroughputLevel::High)));
            // A patch naming neither leaves both; switching off keeps the level learned.
            let off = SenderPatch {
                rate_follows_provider: Some(false),
                ..SenderPatch::default()
            };
            let s = f
                .store
                .update_sender(&f.tenant, &f.sender, &off, T0 + 3, &by())
                .await
                .unwrap();
            assert_eq!(
                (s.rate_follows_provider, s.throughput_level, s.rate()),
                (false, Some(ThroughputLevel::High), 500.0)
            );
            let cleared = SenderPatch {
                throughput_level: Some(None),
                ..SenderPatch::default()
            };
            let s = f
                .store
                .update_sender(&f.tenant, &f.sender, &cleared, T0 + 4, &by())
                .await
                .unwrap();
            assert_eq!(s.throughput_level, None);
        }

        #[tokio::test]
        async fn messages_past_their_expiry_are_never_claimed_and_the_sweep_expires_them() {
            let Some(f) = $factory().await else { return };
            let c = expiring_campaign(&f, 3, T0 + 1_000).await;
            assert_eq!(c.expires_at, Some(T0 + 1_000));
            let lease = f.lease("a", T0).await.unwrap();
            assert!(f.store.renew_lease(&lease, 3_600_000, T0).await.unwrap());
            // One is claimed in time; the rest wait past the expiry, unswept: no claim takes them.
            let early = f.store.claim(&lease, &ClaimRequest::new(1, 0), T0).await.unwrap();
            assert_eq!(early.len(), 1);
            assert_eq!(early[0].expires_at, Some(T0 + 1_000));
            let late = f
                .store
                .claim(&lease, &ClaimRequest::new(10, 0), T0 + 1_000)
                .await
                .unwrap();
            assert!(late.is_empty(), "{late:?}");
            assert_eq!(f.store.expire_due(T0 + 999, 100).await.unwrap(), 0, "not yet");
            assert_eq!(f.store.expire_due(T0 + 1_000, 100).await.unwrap(), 2);
            assert_eq!(f.store.expire_due(T0 + 2_000, 100).await.unwrap(), 0, "once only");
            let n = f.counts(&c.id).await;
            assert_eq!((n.expired, n.queued, n.claimed), (2, 0, 1));
            // The one claimed in time is refused at the send: expired, its attempt not spent.
            f.store
                .mark_sending(&lease, &[early[0].id], T0 + 1_500)
                .await
                .unwrap();
            let expired = Outcome {
                message_id: early[0].id,
                kind: OutcomeKind::Expired {
                    error_code: "expired".into(),
                    error_message: "too late".into(),
                },
            };
            f.store
                .record_outcomes(&lease, &[expired], T0 + 1_500)
                .await
                .unwrap();
            let after = f.store.campaign_by_id(&c.id).await.unwrap();
            assert_eq!(after.counts.expired, 3);
            assert_eq!(after.counts.total(), 3);
            assert_eq!(after.status, CampaignStatus::Completed);
            let m = f.store.get_message(&f.tenant, early[0].id).await.unwrap();
            assert_eq!((m.status, m.attempts), (MessageStatus::Expired, 0));
        }

        #[tokio::test]
        async fn a_templates_provider_events_pause_resume_exactly_those_and_end_its_campaigns() {
            let Some(f) = $factory().await else { return };
            let running = f.campaign(3, 0, 5).await;
            let by_hand = f.campaign(2, 0, 5).await;
            f.store
                .apply_action(&f.tenant, &by_hand.id, CampaignAction::Pause, false, T0, &by())
                .await
                .unwrap();
            let lease = f.lease("a", T0).await.unwrap();
            assert!(f.store.renew_lease(&lease, 3_600_000, T0).await.unwrap());
            let claimed = f.store.claim(&lease, &ClaimRequest::new(1, 0), T0).await.unwrap();
            assert_eq!(claimed.len(), 1);

            let paused = f
                .store
                .apply_template_event(
                    &f.tenant,
                    "t",
                    "ES",
                    Some(TemplateStatus::Paused),
                    Some(TemplateCampaigns::Pause),
                    Some("first pause"),
                    T0 + 1,
                )
                .await
                .unwrap();
            assert_eq!(paused.templates, vec![f.template.clone()]);
            assert_eq!(paused.campaigns, vec![running.id.clone()], "only the running one");
            let c = f.store.campaign_by_id(&running.id).await.unwrap();
            assert_eq!(
                (
                    c.status,
                    c.paused_reason.map(|r| r.as_str()),
                    c.counts.claimed,
                    c.counts.queued
                ),
                (CampaignStatus::Paused, Some("template_paused"), 0, 3),
                "paused, its claimed message back in the queue"
            );
            assert_eq!(
                f.store.get_template(&f.tenant, &f.template).await.unwrap().status,
                TemplateStatus::Paused
            );
            let other = f
                .store
                .apply_template_event(
                    "no-such-tenant",
                    "t",
                    "es",
                    Some(TemplateStatus::Disabled),
                    None,
                    None,
                    T0,
                )
                .await
                .unwrap();
            assert!(
                other.templates.is_empty(),
                "another tenant's templates are not touched"
            );

            let resumed = f
                .store
                .apply_template_event(
                    &f.tenant,
                    "t",
                    "es",
                    Some(TemplateStatus::Approved),
                    Some(TemplateCampaigns::Resume),
                    None,
                    T0 + 2,
                )
                .await
                .unwrap();
            assert_eq!(
                resumed.campaigns,
                vec![running.id.clone()],
                "exactly those it paused"
            );
            assert_eq!(
                f.store.campaign_by_id(&running.id).await.unwrap().status,
                CampaignStatus::Running
            );
            assert_eq!(
                f.store.campaign_by_id(&by_hand.id).await.unwrap().paused_reason,
                Some(pregon_domain::PausedReason::User),
                "a person's pause stays"
            );

            let ended = f
                .store
                .apply_template_event(
                    &f.tenant,
                    "t",
                    "es",
                    Some(TemplateStatus::Disabled),
                    Some(TemplateCampaigns::End(
                        pregon_domain::FailureReason::TemplateDisabled,
                    )),
                    Some("disabled for low quality"),
                    T0 + 3,
                )
                .await
                .unwrap();
            let mut both = vec![running.id.clone(), by_hand.id.clone()];
            both.sort();
            assert_eq!(ended.campaigns, both, "running and paused ones end");
            for id in &both {
                let c = f.store.campaign_by_id(id).await.unwrap();
                assert_eq!(c.status, CampaignStatus::Failed);
                assert_eq!(
                    c.failure_reason,
                    Some(pregon_domain::FailureReason::TemplateDisabled)
                );
                assert_eq!(
                    (c.counts.queued, c.counts.claimed),
                    (0, 0),
                    "nothing left to send"
                );
            }
        }

        #[tokio::test]
        async fn a_failed_campaign_cancels_what_is_queued_and_what_comes_back_from_flight() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(4, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            assert!(f.store.renew_lease(&lease, 3_600_000, T0).await.unwrap());
            let claimed = f.store.claim(&lease, &ClaimRequest::new(2, 0), T0).await.unwrap();
            let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
            f.store.mark_sending(&lease, &ids, T0).await.unwrap();
            assert!(f
                .store
                .fail_campaign(
                    &c.id,
                    pregon_domain::FailureReason::TemplateDisabled,
                    Some("132016"),
                    T0 + 1
                )
                .await
                .unwrap());
            assert!(
                !f.store
                    .fail_campaign(
                        &c.id,
                        pregon_domain::FailureReason::TemplateDisabled,
                        None,
                        T0 + 2
                    )
                    .await
                    .unwrap(),
                "once"
            );
            // The two in flight come back to be retried: a failed campaign keeps nothing queued.
            let retry: Vec<Outcome> = ids
                .iter()
                .map(|id| Outcome {
                    message_id: *id,
                    kind: OutcomeKind::Retry {
                        next_attempt_at: T0 + 60_000,
                        error_code: "131000".into(),
                        error_message: "try later".into(),
                    },
                })
                .collect();
            f.store.record_outcomes(&lease, &retry, T0 + 3).await.unwrap();
            let after = f.store.campaign_by_id(&c.id).await.unwrap();
            assert_eq!(after.status, CampaignStatus::Failed);
            assert_eq!(
                after.failure_reason,
                Some(pregon_domain::FailureReason::TemplateDisabled)
            );
            assert_eq!(after.failure_detail.as_deref(), Some("132016"));
            assert_eq!(after.counts.cancelled, 4, "{:?}", after.counts);
            assert_eq!(after.counts.pending(), 0);
            assert!(f
                .store
                .claim(&lease, &ClaimRequest::new(10, 0), T0 + 120_000)
                .await
                .unwrap()
                .is_empty());
        }
        #[tokio::test]
        async fn creating_a_campaign_counts_every_contact() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(5, 2, 5).await;
            assert_eq!(c.counts.queued, 5);
            assert_eq!(c.counts.skipped, 2);
            assert_eq!(c.counts.total(), 7);
            assert_eq!(c.status, CampaignStatus::Running);
        }

        #[tokio::test]
        async fn a_campaign_with_nothing_to_send_completes_at_once() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(0, 3, 5).await;
            assert_eq!(c.status, CampaignStatus::Completed);
        }

        #[tokio::test]
        async fn a_failed_create_leaves_nothing_behind() {
            let Some(f) = $factory().await else { return };
            let result = f
                .store
                .create_campaign(
                    NewCampaign {
                        expires_at: None,
                        id: "cmp_bad".into(),
                        tenant_id: f.tenant.clone(),
                        name: "c".into(),
                        sender_id: "snd_missing".into(),
                        template_id: f.template.clone(),
                        status: CampaignStatus::Running,
                        priority: 5,
                        settings: CampaignSettings::default(),
                        start_at: None,
                        windowed: false,
                        max_attempts: 3,
                        messages: vec![NewMessage {
                            user_id: None,
                            phone: "+584121234567".into(),
                            variables: "{}".into(),
                            skip_reason: None,
                        }],
                        now: T0,
                    },
                    &by(),
                )
                .await;
            assert!(
                result.is_err(),
                "a campaign for a sender that does not exist must be refused"
            );
            let page = PageRequest {
                limit: 50,
                cursor: None,
            };
            assert!(f
                .store
                .list_campaigns(&f.tenant, None, &page)
                .await
                .unwrap()
                .items
                .is_empty());
            assert_eq!(f.store.queue_depth().await.unwrap(), 0);
        }

        #[tokio::test]
        async fn the_metrics_queue_is_counted_by_sender_as_the_total_is() {
            let Some(f) = $factory().await else { return };
            assert_eq!(f.store.queue_depth_by_sender().await.unwrap(), vec![]);
            assert_eq!(
                f.store.notification_counts().await.unwrap(),
                NotificationCounts::default()
            );
            f.campaign(4, 1, 5).await;
            let by_sender = |depth| {
                vec![SenderQueue {
                    tenant_id: f.tenant.clone(),
                    sender_id: f.sender.clone(),
                    depth,
                }]
            };
            assert_eq!(f.store.queue_depth_by_sender().await.unwrap(), by_sender(4));
            let lease = f.lease("a", T0).await.unwrap();
            let ids: Vec<i64> = f
                .store
                .claim(&lease, &ClaimRequest::new(2, 0), T0)
                .await
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect();
            f.store.mark_sending(&lease, &ids[..1], T0).await.unwrap();
            // Claimed and sending are still owed their outcome.
            assert_eq!(f.store.queue_depth_by_sender().await.unwrap(), by_sender(4));
            f.store
                .record_outcomes(&lease, &[sent(ids[0])], T0)
                .await
                .unwrap();
            assert_eq!(f.store.queue_depth_by_sender().await.unwrap(), by_sender(3));
            assert_eq!(f.store.queue_depth().await.unwrap(), 3);
        }

        #[tokio::test]
        async fn a_campaigns_failures_group_by_code_and_its_detail_reads_stay_in_the_tenant() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(6, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            assert!(f.store.renew_lease(&lease, 3_600_000, T0).await.unwrap());
            let ids: Vec<i64> = f
                .store
                .claim(&lease, &ClaimRequest::new(6, 0), T0)
                .await
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect();
            f.store.mark_sending(&lease, &ids, T0).await.unwrap();
            let failed = |id: i64, code: &str, words: &str| Outcome {
                message_id: id,
                kind: OutcomeKind::Failed {
                    error_code: code.into(),
                    error_message: words.into(),
                },
            };
            let outcomes = vec![
                failed(ids[0], "131026", "Message undeliverable"),
                failed(ids[1], "131026", "Message undeliverable"),
                failed(ids[2], "131026", "Message undeliverable"),
                failed(ids[3], "132001", "Template does not exist"),
                sent(ids[4]),
                sent(ids[5]),
            ];
            f.store
                .record_outcomes(&lease, &outcomes, T0 + 1_000)
                .await
                .unwrap();
            let groups = f.store.campaign_failures(&f.tenant, &c.id, 10).await.unwrap();
            assert_eq!(
                groups,
                vec![
                    FailureGroup {
                        error_code: Some("131026".into()),
                        count: 3,
                        error_message: Some("Message undeliverable".into()),
                    },
                    FailureGroup {
                        error_code: Some("132001".into()),
                        count: 1,
                        error_message: Some("Template does not exist".into()),
                    },
                ]
            );
            assert_eq!(
                f.store
                    .campaign_failures(&f.tenant, &c.id, 1)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            let other = f.store.create_tenant("otra", "secret2", T0).await.unwrap().id;
            assert!(f
                .store
                .campaign_failures(&other, &c.id, 10)
                .await
                .unwrap()
                .is_empty());

            let phone = message(&f, ids[4]).await.phone;
            let to = f
                .store
                .campaign_messages_to(&f.tenant, &c.id, &phone, 10)
                .await
                .unwrap();
            assert_eq!(to.iter().map(|m| m.id).collect::<Vec<_>>(), vec![ids[4]]);
            assert!(f
                .store
                .campaign_messages_to(&other, &c.id, &phone, 10)
                .await
                .unwrap()
                .is_empty());
            assert!(f
                .store
                .campaign_messages_to(&f.tenant, &c.id, "+10000000000", 10)
                .await
                .unwrap()
                .is_empty());

            assert_eq!(f.store.campaign_reply_count(&f.tenant, &c.id).await.unwrap(), 0);
            f.store
                .insert_inbound(&[reply(&f, &phone, "wamid.in9", "Gracias", false)], T0 + 2_000)
                .await
                .unwrap();
            assert_eq!(f.store.campaign_reply_count(&f.tenant, &c.id).await.unwrap(), 1);
            assert_eq!(f.store.campaign_reply_count(&other, &c.id).await.unwrap(), 0);

            let samples = f.store.campaign_send_samples(&f.tenant, &c.id, 10).await.unwrap();
            assert_eq!(
                samples,
                vec![
                    SendSample {
                        message_id: ids[4],
                        at: T0 + 1_000
                    },
                    SendSample {
                        message_id: ids[5],
                        at: T0 + 1_000
                    },
                ],
                "only sent messages are samples, each once"
            );
            assert!(f
                .store
                .campaign_send_samples(&other, &c.id, 10)
                .await
                .unwrap()
                .is_empty());
        }

        #[tokio::test]
        async fn claim_send_record_keeps_counts_exact_and_completes() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(3, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            assert!(
                f.store.renew_lease(&lease, 120_000, T0).await.unwrap(),
                "the test runs a minute of simulated time"
            );
            let claimed = f
                .store
                .claim(&lease, &ClaimRequest::new(10, 0), T0)
                .await
                .unwrap();
            assert_eq!(claimed.len(), 3);
            assert_eq!(f.counts(&c.id).await.claimed, 3);
            let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
            let moved = f.store.mark_sending(&lease, &ids, T0).await.unwrap();
            assert_eq!(moved.len(), 3);
            assert_eq!(f.counts(&c.id).await.sending, 3);
            let touched = f
                .store
                .record_outcomes(
                    &lease,
                    &[
                        sent(ids[0]),
                        Outcome {
                            message_id: ids[1],
                            kind: OutcomeKind::Failed {
                                error_code: "131026".into(),
                                error_message: "no".into(),
                            },
                        },
                        Outcome {
                            message_id: ids[2],
                            kind: OutcomeKind::Retry {
                                next_attempt_at: T0 + 60_000,
                                error_code: "2".into(),
                                error_message: "later".into(),
                            },
                        },
                    ],
                    T0 + 1,
                )
                .await
                .unwrap();
            assert_eq!(touched.len(), 1);
            let counts = f.counts(&c.id).await;
            assert_eq!(
                (counts.sent, counts.failed, counts.queued, counts.sending),
                (1, 1, 1, 0)
            );
            assert_eq!(
                touched[0].status,
                CampaignStatus::Running,
                "a retry is still owed"
            );
            // Not due yet.
            assert!(f
                .store
                .claim(&lease, &ClaimRequest::new(10, 1), T0 + 30_000)
                .await
                .unwrap()
                .is_empty());
            let again = f
                .store
                .claim(&lease, &ClaimRequest::new(10, 2), T0 + 60_000)
                .await
                .unwrap();
            assert_eq!(again.len(), 1);
            assert_eq!(again[0].attempts, 1, "the first attempt was counted");
            f.store
                .mark_sending(&lease, &[again[0].id], T0 + 60_000)
                .await
                .unwrap();
            let touched = f
                .store
                .record_outcomes(&lease, &[sent(again[0].id)], T0 + 60_001)
                .await
                .unwrap();
            assert_eq!(touched[0].status, CampaignStatus::Completed);
            assert_eq!(touched[0].counts.total(), 3);
            let events = f.store.message_events(again[0].id).await.unwrap();
            assert_eq!(
                events.iter().map(|e| e.status.as_str()).collect::<Vec<_>>(),
                vec!["queued", "sent"]
            );
        }

        #[tokio::test]
        async fn a_lease_has_one_owner_until_it_expires() {
            let Some(f) = $factory().await else { return };
            f.campaign(1, 0, 5).await;
            let a = f.lease("a", T0).await.unwrap();
            assert!(
                f.lease("b", T0 + TTL - 1).await.is_none(),
                "b must wait for a's lease to expire"
            );
            assert!(f.store.renew_lease(&a, TTL, T0 + 5_000).await.unwrap());
            assert!(
                f.lease("b", T0 + TTL + 1).await.is_none(),
                "the renewal moved the expiry"
            );
            let b = f.lease("b", T0 + 5_000 + TTL).await.unwrap();
            assert!(b.epoch > a.epoch, "a new owner gets a new epoch");
            assert!(
                !f.store.renew_lease(&a, TTL, T0 + 5_000 + TTL).await.unwrap(),
                "a lost it"
            );
            assert!(matches!(
                f.store
                    .claim(&a, &ClaimRequest::new(10, 0), T0 + 5_000 + TTL)
                    .await,
                Err(StoreError::LeaseLost)
            ));
        }

        #[tokio::test]
        async fn a_new_owner_requeues_claimed_and_marks_sending_unknown() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(4, 0, 5).await;
            let a = f.lease("a", T0).await.unwrap();
            let claimed = f.store.claim(&a, &ClaimRequest::new(4, 0), T0).await.unwrap();
            let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
            f.store.mark_sending(&a, &ids[..2], T0).await.unwrap();
            // a dies; b takes over after expiry.
            let b = f.lease("b", T0 + TTL).await.unwrap();
            let counts = f.counts(&c.id).await;
            assert_eq!(
                (counts.unknown, counts.queued, counts.claimed, counts.sending),
                (2, 2, 0, 0)
            );
            // a's late writes change nothing: fenced by epoch.
            f.store
                .record_outcomes(&a, &[sent(ids[0])], T0 + TTL + 1)
                .await
                .unwrap();
            assert!(
                f.store.mark_sending(&a, &ids[2..], T0 + TTL + 1).await.is_err() || f.counts(&c.id).await.sending == 0
            );
            let counts = f.counts(&c.id).await;
            assert_eq!(
                (counts.unknown, counts.sent),
                (2, 0),
                "an old owner cannot overwrite recovery"
            );
            // b sends only the two that were never attempted.
            let again = f
                .store
                .claim(&b, &ClaimRequest::new(10, 0), T0 + TTL + 2)
                .await
                .unwrap();
            let mut again_ids: Vec<i64> = again.iter().map(|m| m.id).collect();
            again_ids.sort();
            assert_eq!(again_ids, ids[2..].to_vec());
            let events = f.store.message_events(ids[0]).await.unwrap();
            assert_eq!(events.last().unwrap().status, "unknown");
        }

        #[tokio::test]
        async fn claims_take_priority_first_then_turns() {
            let Some(f) = $factory().await else { return };
            let low = f.campaign(10, 0, 1).await;
            let a = f.campaign(10, 0, 7).await;
            let b = f.campaign(10, 0, 7).await;
            let lease = f.lease("a", T0).await.unwrap();
            let first = f.store.claim(&lease, &ClaimRequest::new(8, 0), T0).await.unwrap();
            let from =
                |id: &str, v: &[ClaimedMessage]| v.iter().filter(|m| m.campaign_id.as_deref() == Some(id)).count();
            assert_eq!(
                (from(&a.id, &first), from(&b.id, &first), from(&low.id, &first)),
                (4, 4, 0)
            );
            // One at a time, equal priorities still alternate.
            let mut turns = Vec::new();
            for round in 1..=4 {
                let one = f
                    .store
                    .claim(&lease, &ClaimRequest::new(1, round), T0)
                    .await
                    .unwrap();
                turns.push(one[0].campaign_id.clone().unwrap());
            }
            assert_ne!(turns[0], turns[1]);
            assert_eq!(turns[0], turns[2]);
            // The higher priority group is drained before the lower one gets anything.
            let rest = f
                .store
                .claim(&lease, &ClaimRequest::new(100, 5), T0)
                .await
                .unwrap();
            assert_eq!(from(&low.id, &rest), 10);
            assert_eq!(from(&a.id, &rest) + from(&b.id, &rest), 8);
        }

        #[tokio::test]
        async fn pause_returns_claims_and_blocks_sending_until_resume() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(3, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            let claimed = f.store.claim(&lease, &ClaimRequest::new(3, 0), T0).await.unwrap();
            let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
            let paused = f
                .store
                .apply_action(&f.tenant, &c.id, CampaignAction::Pause, false, T0, &by())
                .await
                .unwrap();
            assert_eq!(
                (paused.status, paused.paused_reason),
                (CampaignStatus::Paused, Some(PausedReason::User))
            );
            assert_eq!((paused.counts.queued, paused.counts.claimed), (3, 0));
            assert!(
                f.store.mark_sending(&lease, &ids, T0).await.unwrap().is_empty(),
                "nothing of a paused campaign is sent"
            );
            assert!(f
                .store
                .claim(&lease, &ClaimRequest::new(3, 1), T0)
                .await
                .unwrap()
                .is_empty());
            assert!(matches!(
                f.store
                    .apply_action(&f.tenant, &c.id, CampaignAction::Pause, false, T0, &by())
                    .await,
                Err(StoreError::IllegalTransition { .. })
            ));
            f.store
                .apply_action(&f.tenant, &c.id, CampaignAction::Resume, false, T0, &by())
                .await
                .unwrap();
            assert_eq!(
                f.store
                    .claim(&lease, &ClaimRequest::new(3, 2), T0)
                    .await
                    .unwrap()
                    .len(),
                3
            );
        }

        #[tokio::test]
        async fn cancel_and_retry_move_the_right_messages() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(4, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            let claimed = f.store.claim(&lease, &ClaimRequest::new(2, 0), T0).await.unwrap();
            let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
            f.store.mark_sending(&lease, &ids, T0).await.unwrap();
            let failed = Outcome {
                message_id: ids[0],
                kind: OutcomeKind::Failed {
                    error_code: "x".into(),
                    error_message: "y".into(),
                },
            };
            let unknown = Outcome {
                message_id: ids[1],
                kind: OutcomeKind::Unknown {
                    error_code: "timeout".into(),
                    error_message: "z".into(),
                },
            };
            f.store
                .record_outcomes(&lease, &[failed, unknown], T0)
                .await
                .unwrap();
            let cancelled = f
                .store
                .apply_action(&f.tenant, &c.id, CampaignAction::Cancel, false, T0, &by())
                .await
                .unwrap();
            assert_eq!(cancelled.status, CampaignStatus::Cancelled);
            assert_eq!(
                (
                    cancelled.counts.cancelled,
                    cancelled.counts.failed,
                    cancelled.counts.unknown
                ),
                (2, 1, 1)
            );
            assert!(matches!(
                f.store
                    .apply_action(&f.tenant, &c.id, CampaignAction::Retry, false, T0, &by())
                    .await,
                Err(StoreError::IllegalTransition { .. })
            ));

            let d = f.campaign(2, 0, 5).await;
            let claimed = f.store.claim(&lease, &ClaimRequest::new(2, 1), T0).await.unwrap();
            let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
            f.store.mark_sending(&lease, &ids, T0).await.unwrap();
            let failed = Outcome {
                message_id: ids[0],
                kind: OutcomeKind::Failed {
                    error_code: "x".into(),
                    error_message: "y".into(),
                },
            };
            let unknown = Outcome {
                message_id: ids[1],
                kind: OutcomeKind::Unknown {
                    error_code: "timeout".into(),
                    error_message: "z".into(),
                },
            };
            let done = f
                .store
                .record_outcomes(&lease, &[failed, unknown], T0)
                .await
                .unwrap();
            assert_eq!(done[0].status, CampaignStatus::Completed);
            let retried = f
                .store
                .apply_action(&f.tenant, &d.id, CampaignAction::Retry, false, T0, &by())
                .await
                .unwrap();
            assert_eq!(
                (retried.status, retried.counts.queued, retried.counts.unknown),
                (CampaignStatus::Running, 1, 1)
            );
            let retried = f
                .store
                .apply_action(&f.tenant, &d.id, CampaignAction::Retry, true, T0, &by())
                .await
                .unwrap();
            assert_eq!((retried.counts.queued, retried.counts.unknown), (2, 0));
            assert_eq!(
                f.statuses(&d.id).await,
                vec![MessageStatus::Queued, MessageStatus::Queued]
            );
        }

        #[tokio::test]
        async fn requeue_does_not_spend_an_attempt() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(1, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            let m = f
                .store
                .claim(&lease, &ClaimRequest::new(1, 0), T0)
                .await
                .unwrap()
                .remove(0);
            f.store.mark_sending(&lease, &[m.id], T0).await.unwrap();
            let requeue = Outcome {
                message_id: m.id,
                kind: OutcomeKind::Requeue {
                    error_code: "190".into(),
                    error_message: "token".into(),
                    next_attempt_at: None,
                },
            };
            f.store
                .pause_sender_campaigns(&f.sender, PausedReason::SenderError, Some("190: token"), T0)
                .await
                .unwrap();
            f.store.record_outcomes(&lease, &[requeue], T0).await.unwrap();
            let c = f.store.campaign_by_id(&c.id).await.unwrap();
            assert_eq!(
                (c.status, c.paused_reason, c.counts.queued),
                (CampaignStatus::Paused, Some(PausedReason::SenderError), 1)
            );
            assert_eq!(c.paused_detail.as_deref(), Some("190: token"));
            f.store
                .apply_action(&f.tenant, &c.id, CampaignAction::Resume, false, T0, &by())
                .await
                .unwrap();
            assert_eq!(
                f.store.claim(&lease, &ClaimRequest::new(1, 1), T0).await.unwrap()[0].attempts,
                0
            );
        }

        #[tokio::test]
        async fn a_throttled_requeue_waits_for_its_hold_without_spending_an_attempt() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(1, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            let m = f
                .store
                .claim(&lease, &ClaimRequest::new(1, 0), T0)
                .await
                .unwrap()
                .remove(0);
            f.store.mark_sending(&lease, &[m.id], T0).await.unwrap();
            let hold = T0 + TTL / 2;
            let requeue = Outcome {
                message_id: m.id,
                kind: OutcomeKind::Requeue {
                    error_code: "130429".into(),
                    error_message: "Rate limit hit".into(),
                    next_attempt_at: Some(hold),
                },
            };
            f.store.record_outcomes(&lease, &[requeue], T0).await.unwrap();
            let c = f.store.campaign_by_id(&c.id).await.unwrap();
            assert_eq!(
                (c.status, c.counts.queued, c.counts.sending),
                (CampaignStatus::Running, 1, 0)
            );
            let listed = f
                .store
                .list_messages(
                    &f.tenant,
                    &c.id,
                    None,
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap()
                .items
                .remove(0);
            assert_eq!(listed.attempts, 0, "no attempt spent");
            assert_eq!(listed.next_attempt_at, hold);
            assert_eq!(listed.error_code.as_deref(), Some("130429"));
            // Not due before the hold ends; then claimable with its attempt intact.
            assert!(f
                .store
                .claim(&lease, &ClaimRequest::new(1, 1), hold - 1)
                .await
                .unwrap()
                .is_empty());
            let again = f
                .store
                .claim(&lease, &ClaimRequest::new(1, 2), hold)
                .await
                .unwrap();
            assert_eq!((again.len(), again[0].attempts), (1, 0));
        }

        #[tokio::test]
        async fn a_template_keeps_its_twilio_content_sid() {
            let Some(f) = $factory().await else { return };
            let t = TemplateRecord {
                id: pregon_domain::id::new_id("tpl"),
                tenant_id: f.tenant.clone(),
                name: "order_update".into(),
                language: "en".into(),
                body: "Hi {{n}}".into(),
                header_image: None,
                twilio_content_sid: Some("HX0123456789abcdef0123456789abcdef".into()),
                category: pregon_domain::TemplateCategory::Marketing,
                status: pregon_domain::TemplateStatus::Approved,
                quality: pregon_domain::TemplateQuality::Unknown,
                created_at: T0,
            };
            f.store.insert_template(&t, &by()).await.unwrap();
            let got = f.store.get_template(&f.tenant, &t.id).await.unwrap();
            assert_eq!(got.twilio_content_sid, t.twilio_content_sid);
            let by_id = f.store.template_by_id(&t.id).await.unwrap();
            assert_eq!(by_id.twilio_content_sid, t.twilio_content_sid);
            let plain = f.store.get_template(&f.tenant, &f.template).await.unwrap();
            assert_eq!(plain.twilio_content_sid, None);
            let listed = f
                .store
                .list_templates(
                    &f.tenant,
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap()
                .items;
            assert!(listed
                .iter()
                .any(|x| x.twilio_content_sid == t.twilio_content_sid));
        }

        #[tokio::test]
        async fn a_template_sync_creates_then_updates_by_name_and_language() {
            use pregon_domain::{TemplateCategory, TemplateQuality, TemplateStatus};
            let Some(f) = $factory().await else { return };
            let fresh = |status, quality| TemplateRecord {
                id: pregon_domain::id::new_id("tpl"),
                tenant_id: f.tenant.clone(),
                name: "promo".into(),
                language: "es".into(),
                body: "Hola {{1}}".into(),
                header_image: None,
                twilio_content_sid: None,
                category: TemplateCategory::Utility,
                status,
                quality,
                created_at: T0,
            };
            let first = fresh(TemplateStatus::Pending, TemplateQuality::Unknown);
            let done = f
                .store
                .sync_templates(&f.tenant, std::slice::from_ref(&first), T0, &by())
                .await
                .unwrap();
            assert_eq!((done.created, done.updated), (1, 0));
            let got = f.store.get_template(&f.tenant, &first.id).await.unwrap();
            assert_eq!(got.category, TemplateCategory::Utility);
            assert_eq!(got.status, TemplateStatus::Pending);
            let mut again = fresh(TemplateStatus::Paused, TemplateQuality::Red);
            again.body = "Hola {{1}}, nuevo".into();
            let done = f
                .store
                .sync_templates(&f.tenant, &[again], T0 + 1, &by())
                .await
                .unwrap();
            assert_eq!((done.created, done.updated), (0, 1));
            assert_eq!(done.items[0].id, first.id, "the same template, updated in place");
            let got = f.store.get_template(&f.tenant, &first.id).await.unwrap();
            assert_eq!(got.status, TemplateStatus::Paused);
            assert_eq!(got.quality, TemplateQuality::Red);
            assert_eq!(got.body, "Hola {{1}}, nuevo");
            let audit = f
                .store
                .list_audit(
                    &f.tenant,
                    &AuditFilter::default(),
                    &PageRequest {
                        limit: 50,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            let syncs = audit
                .items
                .iter()
                .filter(|a| a.action == pregon_domain::AuditAction::TemplateSync)
                .count();
            assert_eq!(syncs, 2);
        }

        #[tokio::test]
        async fn everything_is_scoped_by_tenant() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(1, 0, 5).await;
            let other = f.store.create_tenant("other", "s", T0).await.unwrap().id;
            assert!(matches!(
                f.store.get_campaign(&other, &c.id).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                f.store.get_sender(&other, &f.sender).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                f.store.get_template(&other, &f.template).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                f.store
                    .apply_action(&other, &c.id, CampaignAction::Pause, false, T0, &by())
                    .await,
                Err(StoreError::NotFound)
            ));
            let page = PageRequest {
                limit: 50,
                cursor: None,
            };
            assert!(f
                .store
                .list_campaigns(&other, None, &page)
                .await
                .unwrap()
                .items
                .is_empty());
            let m = f
                .store
                .list_messages(&f.tenant, &c.id, None, &page)
                .await
                .unwrap()
                .items
                .remove(0);
            assert!(matches!(
                f.store.get_message(&other, m.id).await,
                Err(StoreError::NotFound)
            ));
        }

        #[tokio::test]
        async fn single_messages_wait_for_send_at_and_cancel_only_before_an_attempt() {
            let Some(f) = $factory().await else { return };
            let later = f
                .store
                .insert_single_message(
                    NewSingleMessage {
                        user_id: None,
                        expires_at: None,
                        tenant_id: f.tenant.clone(),
                        sender_id: f.sender.clone(),
                        template_id: f.template.clone(),
                        phone: "+584121234567".into(),
                        variables: r#"{"n":"x"}"#.into(),
                        priority: 5,
                        max_attempts: 3,
                        send_at: T0 + 60_000,
                        now: T0,
                    },
                    &by(),
                )
                .await
                .unwrap();
            assert!(f.store.senders_with_work(T0).await.unwrap().is_empty());
            assert_eq!(
                f.store.senders_with_work(T0 + 60_000).await.unwrap(),
                vec![f.sender.clone()]
            );
            let lease = f.lease("a", T0 + 60_000).await.unwrap();
            let claimed = f
                .store
                .claim(&lease, &ClaimRequest::new(5, 0), T0 + 60_000)
                .await
                .unwrap();
            assert_eq!(claimed.len(), 1);
            f.store
                .mark_sending(&lease, &[later.id], T0 + 60_000)
                .await
                .unwrap();
            assert!(matches!(
                f.store.cancel_message(&f.tenant, later.id, T0, &by()).await,
                Err(StoreError::IllegalTransition { .. })
            ));
        }

        #[tokio::test]
        async fn paging_walks_every_item_once() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(25, 0, 5).await;
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = f
                    .store
                    .list_messages(&f.tenant, &c.id, None, &PageRequest { limit: 10, cursor })
                    .await
                    .unwrap();
                seen.extend(page.items.iter().map(|m| m.id));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            let mut sorted = seen.clone();
            sorted.dedup();
            assert_eq!(sorted.len(), 25);
            assert_eq!(seen, sorted);
        }

        #[tokio::test]
        async fn senders_keep_one_default_and_are_not_deleted_while_busy() {
            let Some(f) = $factory().await else { return };
            let first = f.store.get_sender(&f.tenant, &f.sender).await.unwrap();
            let second = SenderRecord {
                id: pregon_domain::id::new_id("snd"),
                ..first.clone()
            };
            f.store.insert_sender(&second, &by()).await.unwrap();
            let default = f.store.default_sender(&f.tenant).await.unwrap().unwrap();
            assert_eq!(default.id, second.id, "a new default replaces the old one");
            assert!(!f.store.get_sender(&f.tenant, &f.sender).await.unwrap().is_default);
            let patch = SenderPatch {
                is_default: Some(true),
                base_url: Some(Some("http://127.0.0.1:9".into())),
                daily_limit: Some(Some(1_000)),
                messages_per_second: Some(20.5),
                credentials: Some(vec![9, 9]),
                ..SenderPatch::default()
            };
            let updated = f
                .store
                .update_sender(&f.tenant, &f.sender, &patch, T0 + 1, &by())
                .await
                .unwrap();
            assert_eq!(
                (
                    updated.is_default,
                    updated.base_url.as_deref(),
                    updated.daily_limit,
                    updated.messages_per_second,
                    updated.credentials.clone(),
                    updated.name.as_str(),
                    updated.updated_at
                ),
                (
                    true,
                    Some("http://127.0.0.1:9"),
                    Some(1_000),
                    20.5,
                    vec![9, 9],
                    "s",
                    T0 + 1
                )
            );
            assert_eq!(
                f.store.default_sender(&f.tenant).await.unwrap().unwrap().id,
                f.sender
            );
            let cleared = SenderPatch {
                base_url: Some(None),
                ..SenderPatch::default()
            };
            let updated = f
                .store
                .update_sender(&f.tenant, &f.sender, &cleared, T0 + 2, &by())
                .await
                .unwrap();
            assert_eq!((updated.base_url, updated.daily_limit), (None, Some(1_000)));

            let mut listed = Vec::new();
            let mut cursor = None;
            loop {
                let page = f
                    .store
                    .list_senders(&f.tenant, &PageRequest { limit: 1, cursor })
                    .await
                    .unwrap();
                listed.extend(page.items.into_iter().map(|s| s.id));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            let mut expected = vec![f.sender.clone(), second.id.clone()];
            expected.sort();
            assert_eq!(listed, expected, "senders page in id order");

            let c = f.campaign(1, 0, 5).await;
            assert!(matches!(
                f.store.delete_sender(&f.tenant, &f.sender, T0, &by()).await,
                Err(StoreError::Conflict { .. })
            ));
            f.store
                .apply_action(&f.tenant, &c.id, CampaignAction::Cancel, false, T0, &by())
                .await
                .unwrap();
            f.store
                .delete_sender(&f.tenant, &f.sender, T0 + 3, &by())
                .await
                .unwrap();
            assert!(matches!(
                f.store.get_sender(&f.tenant, &f.sender).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                f.store.delete_sender(&f.tenant, &f.sender, T0 + 3, &by()).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                f.store
                    .update_sender(&f.tenant, &f.sender, &cleared, T0 + 3, &by())
                    .await,
                Err(StoreError::NotFound)
            ));
            assert!(f.store.default_sender(&f.tenant).await.unwrap().is_none());
            assert!(
                f.store.sender_by_id(&f.sender).await.is_ok(),
                "the dispatcher still reads a deleted sender"
            );
        }

        #[tokio::test]
        async fn templates_are_soft_deleted() {
            let Some(f) = $factory().await else { return };
            let page = PageRequest {
                limit: 10,
                cursor: None,
            };
            let listed = f.store.list_templates(&f.tenant, &page).await.unwrap().items;
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].body, "Hola {{n}}");
            f.store
                .delete_template(&f.tenant, &f.template, T0, &by())
                .await
                .unwrap();
            assert!(f
                .store
                .list_templates(&f.tenant, &page)
                .await
                .unwrap()
                .items
                .is_empty());
            assert!(matches!(
                f.store.get_template(&f.tenant, &f.template).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                f.store.delete_template(&f.tenant, &f.template, T0, &by()).await,
                Err(StoreError::NotFound)
            ));
            assert_eq!(f.store.template_by_id(&f.template).await.unwrap().language, "es");
        }

        #[tokio::test]
        async fn a_marketing_opt_out_covers_marketing_templates_only_and_never_narrows() {
            use pregon_domain::TemplateCategory as C;
            let Some(f) = $factory().await else { return };
            let (m, everything) = ("+584121111111", "+584122222222");
            f.store
                .add_opt_out(
                    &f.tenant,
                    m,
                    Some("131050"),
                    "provider",
                    OptOutScope::Marketing,
                    T0,
                    &by(),
                )
                .await
                .unwrap();
            f.store
                .add_opt_out(&f.tenant, everything, None, "api", OptOutScope::All, T0, &by())
                .await
                .unwrap();
            let of = |c: Option<C>| {
                let f = &f;
                async move {
                    let mut p: Vec<String> = f
                        .store
                        .opted_out_phones(&f.tenant, c)
                        .await
                        .unwrap()
                        .into_iter()
                        .collect();
                    p.sort();
                    p
                }
            };
            assert_eq!(of(Some(C::Marketing)).await, vec![m, everything]);
            assert_eq!(
                of(None).await,
                vec![m, everything],
                "an unknown category is treated as marketing"
            );
            assert_eq!(of(Some(C::Utility)).await, vec![everything]);
            let scopes = f
                .store
                .opted_out_among(&f.tenant, &[m.to_string(), everything.to_string()])
                .await
                .unwrap();
            assert_eq!(scopes.get(m), Some(&OptOutScope::Marketing));
            // A marketing one never narrows an opt-out of everything; an `all` one widens.
            let kept = f
                .store
                .add_opt_out(
                    &f.tenant,
                    everything,
                    None,
                    "provider",
                    OptOutScope::Marketing,
                    T0 + 1,
                    &by(),
                )
                .await
                .unwrap();
            assert_eq!(kept.scope, OptOutScope::All);
            let widened = f
                .store
                .add_opt_out(&f.tenant, m, None, "api", OptOutScope::All, T0 + 2, &by())
                .await
                .unwrap();
            assert_eq!(
                (widened.scope, widened.source.as_str()),
                (OptOutScope::All, "provider")
            );
            assert_eq!(of(Some(C::Utility)).await, vec![m, everything]);
        }

        #[tokio::test]
        async fn a_link_lets_an_opt_out_under_either_identifier_cover_the_other() {
            let Some(f) = $factory().await else { return };
            let (phone, user) = ("+584121111111", "VE.55");
            f.store
                .add_opt_out(
                    &f.tenant,
                    user,
                    Some("replied STOP"),
                    "reply",
                    OptOutScope::All,
                    T0,
                    &by(),
                )
                .await
                .unwrap();
            let among = |keys: &[&str]| {
                let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                let f = &f;
                async move { f.store.opted_out_among(&f.tenant, &keys).await.unwrap() }
            };
            assert!(
                among(&[phone]).await.is_empty(),
                "not linked yet: the phone is free"
            );
            assert_eq!(among(&[user]).await.get(user), Some(&OptOutScope::All));
            f.store
                .link_recipient(&f.tenant, phone, user, T0 + 1)
                .await
                .unwrap();
            f.store
                .link_recipient(&f.tenant, phone, user, T0 + 2)
                .await
                .unwrap();
            assert_eq!(
                among(&[phone]).await.get(phone),
                Some(&OptOutScope::All),
                "the BSUID's opt-out covers its phone"
            );
            assert!(f
                .store
                .opted_out_phones(&f.tenant, None)
                .await
                .unwrap()
                .contains(phone));
            assert_eq!(
                f.store.linked_identities(&f.tenant, phone).await.unwrap(),
                vec![user.to_string()]
            );
            assert_eq!(
                f.store.linked_identities(&f.tenant, user).await.unwrap(),
                vec![phone.to_string()]
            );

            // And the other way: a phone's marketing opt-out covers its linked BSUID, as marketing.
            let (phone2, user2) = ("+584122222222", "VE.66");
            f.store
                .add_opt_out(
                    &f.tenant,
                    phone2,
                    None,
                    "provider",
                    OptOutScope::Marketing,
                    T0,
                    &by(),
                )
                .await
                .unwrap();
            assert!(among(&[user2]).await.is_empty());
            f.store
                .link_recipient(&f.tenant, phone2, user2, T0 + 3)
                .await
                .unwrap();
            assert_eq!(among(&[user2]).await.get(user2), Some(&OptOutScope::Marketing));
            let utility = f
                .store
                .opted_out_phones(&f.tenant, Some(pregon_domain::TemplateCategory::Utility))
                .await
                .unwrap();
            assert!(!utility.contains(user2) && utility.contains(phone), "{utility:?}");

            // Another tenant's links and opt-outs are its own.
            let other = f.store.create_tenant("other", "secret2", T0).await.unwrap().id;
            assert!(f
                .store
                .opted_out_among(&other, &[phone.to_string()])
                .await
                .unwrap()
                .is_empty());
            assert!(f.store.linked_identities(&other, phone).await.unwrap().is_empty());
        }

        #[tokio::test]
        async fn messages_keep_their_user_id_and_contacts_with_both_identifiers_are_linked() {
            let Some(f) = $factory().await else { return };
            let messages = vec![
                NewMessage {
                    user_id: Some("VE.77".into()),
                    phone: "VE.77".into(),
                    variables: r#"{"n":"x"}"#.into(),
                    skip_reason: None,
                },
                NewMessage {
                    user_id: Some("VE.88".into()),
                    phone: "+584143333333".into(),
                    variables: r#"{"n":"x"}"#.into(),
                    skip_reason: None,
                },
            ];
            let c = f
                .store
                .create_campaign(
                    NewCampaign {
                        expires_at: None,
                        id: pregon_domain::id::new_id("cmp"),
                        tenant_id: f.tenant.clone(),
                        name: "bsuid".into(),
                        sender_id: f.sender.clone(),
                        template_id: f.template.clone(),
                        status: CampaignStatus::Running,
                        priority: 5,
                        settings: CampaignSettings::default(),
                        start_at: None,
                        windowed: false,
                        max_attempts: 3,
                        messages,
                        now: T0,
                    },
                    &by(),
                )
                .await
                .unwrap();
            let listed = f
                .store
                .list_messages(
                    &f.tenant,
                    &c.id,
                    None,
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap()
                .items;
            let got: Vec<(String, Option<String>)> = listed
                .iter()
                .map(|m| (m.phone.clone(), m.user_id.clone()))
                .collect();
            assert_eq!(
                got,
                vec![
                    ("VE.77".to_string(), Some("VE.77".to_string())),
                    ("+584143333333".to_string(), Some("VE.88".to_string()))
                ]
            );
            assert_eq!(
                f.store
                    .linked_identities(&f.tenant, "+584143333333")
                    .await
                    .unwrap(),
                vec!["VE.88".to_string()]
            );
            assert!(f
                .store
                .linked_identities(&f.tenant, "VE.77")
                .await
                .unwrap()
                .is_empty());
            // The claim hands the BSUID to the dispatcher.
            let lease = f.lease("a", T0).await.unwrap();
            let claimed = f
                .store
                .claim(&lease, &ClaimRequest::new(10, 0), T0)
                .await
                .unwrap();
            let mut ids: Vec<Option<String>> = claimed.iter().map(|m| m.user_id.clone()).collect();
            ids.sort();
            assert_eq!(ids, vec![Some("VE.77".to_string()), Some("VE.88".to_string())]);
        }

        #[tokio::test]
        async fn a_status_naming_a_user_id_fills_the_message_and_replies_link_or_opt_out_by_it() {
            let Some(f) = $factory().await else { return };
            let (_, ids) = sent_campaign(&f, 2).await;
            let before = message(&f, ids[0]).await;
            assert_eq!(before.user_id, None);
            let mut update = report(&f, ids[0], MessageStatus::Delivered, T0 + 5);
            update.user_id = Some("VE.91".into());
            f.store.apply_status_updates(&[update], T0 + 5).await.unwrap();
            let after = message(&f, ids[0]).await;
            assert_eq!(
                (after.status, after.user_id.as_deref()),
                (MessageStatus::Delivered, Some("VE.91"))
            );
            assert_eq!(
                message(&f, ids[1]).await.user_id,
                None,
                "only the reported message"
            );
            assert_eq!(
                f.store.linked_identities(&f.tenant, "VE.91").await.unwrap(),
                vec![before.phone.clone()]
            );

            // A reply naming both links them; a BSUID-only stop opts the BSUID out.
            let mut both = reply(&f, "+584145555555", "wamid.in.1", "hola", false);
            both.user_id = Some("VE.92".into());
            let mut alone = reply(&f, "VE.93", "wamid.in.2", "STOP", true);
            alone.user_id = Some("VE.93".into());
            let stored = f.store.insert_inbound(&[both, alone], T0 + 10).await.unwrap();
            assert_eq!(stored.len(), 2);
            assert_eq!(stored[1].user_id.as_deref(), Some("VE.93"));
            assert_eq!(
                f.store
                    .linked_identities(&f.tenant, "+584145555555")
                    .await
                    .unwrap(),
                vec!["VE.92".to_string()]
            );
            let opted = f.store.opted_out_phones(&f.tenant, None).await.unwrap();
            assert!(
                opted.contains("VE.93") && !opted.contains("+584145555555"),
                "{opted:?}"
            );
        }

        #[tokio::test]
        async fn resuming_marketing_lifts_a_marketing_opt_out_only() {
            let Some(f) = $factory().await else { return };
            let (m, everything) = ("+584121111111", "+584122222222");
            for (phone, scope) in [(m, OptOutScope::Marketing), (everything, OptOutScope::All)] {
                f.store
                    .add_opt_out(&f.tenant, phone, None, "provider", scope, T0, &by())
                    .await
                    .unwrap();
            }
            assert!(!f
                .store
                .lift_marketing_opt_out(&f.tenant, everything, T0, &by())
                .await
                .unwrap());
            assert!(
                !f.store
                    .lift_marketing_opt_out("other", m, T0, &by())
                    .await
                    .unwrap(),
                "per tenant"
            );
            assert!(f
                .store
                .lift_marketing_opt_out(&f.tenant, m, T0, &by())
                .await
                .unwrap());
            assert!(
                !f.store
                    .lift_marketing_opt_out(&f.tenant, m, T0, &by())
                    .await
                    .unwrap(),
                "once"
            );
            let left: Vec<String> = f
                .store
                .opted_out_phones(&f.tenant, None)
                .await
                .unwrap()
                .into_iter()
                .collect();
            assert_eq!(left, vec![everything.to_string()]);
        }

        #[tokio::test]
        async fn opt_outs_are_found_by_phone_prefix_and_imported_at_once() {
            let Some(f) = $factory().await else { return };
            f.store
                .add_opt_out(
                    &f.tenant,
                    "+584121234567",
                    Some("STOP"),
                    "reply",
                    OptOutScope::All,
                    T0,
                    &by(),
                )
                .await
                .unwrap();
            let phones: Vec<String> = ["+584121234567", "+584129999999", "+15555550100"]
                .iter()
                .map(|p| p.to_string())
                .collect();
            let added = f
                .store
                .import_opt_outs(&f.tenant, &phones, Some("lista vieja"), T0 + 1, &by())
                .await
                .unwrap();
            assert_eq!(added, 2, "the phone already there is not added again");
            let kept = f
                .store
                .list_opt_outs(
                    &f.tenant,
                    Some("+584121"),
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            assert_eq!(kept.items.len(), 1);
            assert_eq!(
                (kept.items[0].reason.as_deref(), kept.items[0].source.as_str()),
                (Some("STOP"), "reply"),
                "an import does not overwrite an opt-out's first reason"
            );
            let venezuela = f
                .store
                .list_opt_outs(
                    &f.tenant,
                    Some("+58"),
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            let phones: Vec<&str> = venezuela.items.iter().map(|o| o.phone.as_str()).collect();
            assert_eq!(phones, vec!["+584121234567", "+584129999999"]);
            let wildcard = f
                .store
                .list_opt_outs(
                    &f.tenant,
                    Some("%"),
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                wildcard.items.len(),
                3,
                "a LIKE wildcard in a prefix is dropped, not obeyed"
            );
            let other = f
                .store
                .list_opt_outs(
                    "no-such-tenant",
                    Some("+58"),
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            assert!(
                other.items.is_empty(),
                "another tenant's register is not searched"
            );
        }

        #[tokio::test]
        async fn opt_outs_keep_their_first_reason_and_page_in_byte_order() {
            let Some(f) = $factory().await else { return };
            f.store
                .add_opt_out(
                    &f.tenant,
                    "+584121234567",
                    Some("STOP"),
                    "reply",
                    OptOutScope::All,
                    T0,
                    &by(),
                )
                .await
                .unwrap();
            let again = f
                .store
                .add_opt_out(
                    &f.tenant,
                    "+584121234567",
                    None,
                    "api",
                    OptOutScope::All,
                    T0 + 5,
                    &by(),
                )
                .await
                .unwrap();
            assert_eq!(
                (again.reason.as_deref(), again.source.as_str(), again.created_at),
                (Some("STOP"), "reply", T0)
            );
            for phone in ["+15555550100", "+442071234567"] {
                f.store
                    .add_opt_out(&f.tenant, phone, None, "import", OptOutScope::All, T0, &by())
                    .await
                    .unwrap();
            }
            let mut listed = Vec::new();
            let mut cursor = None;
            loop {
                let page = f
                    .store
                    .list_opt_outs(&f.tenant, None, &PageRequest { limit: 2, cursor })
                    .await
                    .unwrap();
                listed.extend(page.items.into_iter().map(|o| o.phone));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(listed, vec!["+15555550100", "+442071234567", "+584121234567"]);
            assert_eq!(f.store.opted_out_phones(&f.tenant, None).await.unwrap().len(), 3);
            f.store
                .delete_opt_out(&f.tenant, "+15555550100", T0, &by())
                .await
                .unwrap();
            assert!(matches!(
                f.store.delete_opt_out(&f.tenant, "+15555550100", T0, &by()).await,
                Err(StoreError::NotFound)
            ));
        }

        #[tokio::test]
        async fn scheduled_campaigns_start_when_due() {
            let Some(f) = $factory().await else { return };
            let new = |status, start_at| NewCampaign {
                expires_at: None,
                id: pregon_domain::id::new_id("cmp"),
                tenant_id: f.tenant.clone(),
                name: "later".into(),
                sender_id: f.sender.clone(),
                template_id: f.template.clone(),
                status,
                priority: 5,
                settings: CampaignSettings {
                    schedule: Some(pregon_domain::ScheduleSettings {
                        timezone: Some("America/Caracas".into()),
                        ..Default::default()
                    }),
                    ..CampaignSettings::default()
                },
                start_at,
                windowed: false,
                max_attempts: 3,
                messages: vec![NewMessage {
                    user_id: None,
                    phone: "+584121234567".into(),
                    variables: "{}".into(),
                    skip_reason: None,
                }],
                now: T0,
            };
            let scheduled = f
                .store
                .create_campaign(new(CampaignStatus::Scheduled, Some(T0 + 1_000)), &by())
                .await
                .unwrap();
            assert_eq!(
                scheduled
                    .settings
                    .schedule
                    .as_ref()
                    .and_then(|s| s.timezone.as_deref()),
                Some("America/Caracas")
            );
            assert!(f.store.start_due_campaigns(T0).await.unwrap().is_empty());
            assert_eq!(f.store.running_campaigns().await.unwrap(), 0);
            assert_eq!(
                f.store.start_due_campaigns(T0 + 1_000).await.unwrap(),
                vec![scheduled.id.clone()]
            );
            assert!(f.store.start_due_campaigns(T0 + 2_000).await.unwrap().is_empty());
            let started = f.store.campaign_by_id(&scheduled.id).await.unwrap();
            assert_eq!(
                (started.status, started.started_at),
                (CampaignStatus::Running, Some(T0 + 1_000))
            );
            assert_eq!(f.store.running_campaigns().await.unwrap(), 1);

            let draft = f
                .store
                .create_campaign(new(CampaignStatus::Draft, Some(T0 + 5_000)), &by())
                .await
                .unwrap();
            let page = PageRequest {
                limit: 10,
                cursor: None,
            };
            let drafts = f
                .store
                .list_campaigns(&f.tenant, Some(CampaignStatus::Draft), &page)
                .await
                .unwrap()
                .items;
            assert_eq!(drafts.len(), 1);
            let all = f
                .store
                .list_campaigns(&f.tenant, None, &page)
                .await
                .unwrap()
                .items;
            assert_eq!(
                all.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
                vec![draft.id.clone(), scheduled.id.clone()],
                "newest first"
            );
            let started = f
                .store
                .apply_action(&f.tenant, &draft.id, CampaignAction::Start, false, T0, &by())
                .await
                .unwrap();
            assert_eq!(
                started.status,
                CampaignStatus::Scheduled,
                "start waits for start_at"
            );
            assert_eq!(f.store.queue_depth().await.unwrap(), 2);
        }

        #[tokio::test]
        async fn windowed_campaigns_send_only_while_the_scheduler_lets_them() {
            let Some(f) = $factory().await else { return };
            let c = f
                .store
                .create_campaign(
                    NewCampaign {
                        expires_at: None,
                        id: pregon_domain::id::new_id("cmp"),
                        tenant_id: f.tenant.clone(),
                        name: "office hours".into(),
                        sender_id: f.sender.clone(),
                        template_id: f.template.clone(),
                        status: CampaignStatus::Running,
                        priority: 5,
                        settings: CampaignSettings::default(),
                        start_at: None,
                        windowed: true,
                        max_attempts: 3,
                        messages: (0..3)
                            .map(|i| NewMessage {
                                user_id: None,
                                phone: format!("+58412000000{i}"),
                                variables: "{}".into(),
                                skip_reason: None,
                            })
                            .collect(),
                        now: T0,
                    },
                    &by(),
                )
                .await
                .unwrap();
            assert_eq!((c.windowed, c.recheck_at), (true, Some(T0)));
            let lease = f.lease("a", T0).await.unwrap();
            assert!(f.store.renew_lease(&lease, 3_600_000, T0).await.unwrap());
            // Until the scheduler has looked at its window, nothing is claimed.
            assert!(f
                .store
                .claim(&lease, &ClaimRequest::new(10, 0), T0)
                .await
                .unwrap()
                .is_empty());
            assert!(!f.store.sender_has_work(&f.sender, T0).await.unwrap());
            let due = f.store.campaigns_to_recheck(T0, 10).await.unwrap();
            assert_eq!(
                due.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
                vec![c.id.clone()]
            );
            let open = Verdict::Run {
                recheck_at: Some(T0 + 1_000),
            };
            assert!(f.store.apply_verdict(&c.id, open, T0).await.unwrap());
            assert!(f
                .store
                .campaigns_to_recheck(T0 + 999, 10)
                .await
                .unwrap()
                .is_empty());
            assert!(f.store.sender_has_work(&f.sender, T0 + 1).await.unwrap());
            let claimed = f
                .store
                .claim(&lease, &ClaimRequest::new(1, 0), T0 + 1)
                .await
                .unwrap();
            assert_eq!(claimed.len(), 1);
            // The window closes at T0 + 1000: no claim, and no claimed message starts, even
            // before the scheduler pauses the campaign.
            assert!(f
                .store
                .claim(&lease, &ClaimRequest::new(10, 1), T0 + 1_000)
                .await
                .unwrap()
                .is_empty());
            assert!(f
                .store
                .mark_sending(&lease, &[claimed[0].id], T0 + 1_000)
                .await
                .unwrap()
                .is_empty());
            let closed = Verdict::Hold {
                reason: PausedReason::OutsideWindow,
                recheck_at: T0 + 5_000,
            };
            assert!(f.store.apply_verdict(&c.id, closed, T0 + 1_000).await.unwrap());
            let held = f.store.campaign_by_id(&c.id).await.unwrap();
            assert_eq!(
                (held.status, held.paused_reason, held.recheck_at),
                (
                    CampaignStatus::Paused,
                    Some(PausedReason::OutsideWindow),
                    Some(T0 + 5_000)
                )
            );
            assert_eq!(
                (held.counts.queued, held.counts.claimed),
                (3, 0),
                "claims went back"
            );
            assert!(f
                .store
                .campaigns_to_recheck(T0 + 4_999, 10)
                .await
                .unwrap()
                .is_empty());
            assert_eq!(
                f.store.campaigns_to_recheck(T0 + 5_000, 10).await.unwrap().len(),
                1
            );
            let reopened = Verdict::Run {
                recheck_at: Some(T0 + 9_000),
            };
            assert!(f.store.apply_verdict(&c.id, reopened, T0 + 5_000).await.unwrap());
            assert_eq!(
                f.store.campaign_by_id(&c.id).await.unwrap().status,
                CampaignStatus::Running
            );
            // A person's pause is theirs: the scheduler neither looks at it nor resumes it.
            f.store
                .apply_action(&f.tenant, &c.id, CampaignAction::Pause, false, T0 + 6_000, &by())
                .await
                .unwrap();
            assert!(f
                .store
                .campaigns_to_recheck(T0 + 20_000, 10)
                .await
                .unwrap()
                .is_empty());
            assert!(!f.store.apply_verdict(&c.id, reopened, T0 + 20_000).await.unwrap());
            let mine = f.store.campaign_by_id(&c.id).await.unwrap();
            assert_eq!(mine.paused_reason, Some(PausedReason::User));
            // Resumed by the person, it waits for the scheduler again.
            let resumed = f
                .store
                .apply_action(
                    &f.tenant,
                    &c.id,
                    CampaignAction::Resume,
                    false,
                    T0 + 21_000,
                    &by(),
                )
                .await
                .unwrap();
            assert_eq!(resumed.recheck_at, Some(T0 + 21_000));
            assert!(f
                .store
                .claim(&lease, &ClaimRequest::new(10, 2), T0 + 21_000)
                .await
                .unwrap()
                .is_empty());
        }

        #[tokio::test]
        async fn daily_limits_count_unique_recipients_over_a_rolling_day() {
            let Some(f) = $factory().await else { return };
            let phones = |list: &[&str]| list.iter().map(|p| p.to_string()).collect::<Vec<_>>();
            let first = f
                .store
                .admit_recipients("k", 2, &phones(&["+1", "+2", "+3"]), T0)
                .await
                .unwrap();
            let mut admitted: Vec<String> = first.admitted.into_iter().collect();
            admitted.sort();
            assert_eq!(admitted, phones(&["+1", "+2"]));
            assert_eq!((first.used, first.room_at), (2, Some(T0 + DAY_MILLIS)));
            // A recipient already counted is free; a new one finds no room.
            let again = f
                .store
                .admit_recipients("k", 2, &phones(&["+1", "+3"]), T0 + 1_000)
                .await
                .unwrap();
            assert_eq!(
                again.admitted,
                std::collections::HashSet::from(["+1".to_string()])
            );
            let usage = f.store.daily_usage("k", T0 + 1_000).await.unwrap();
            assert_eq!((usage.used, usage.room_at), (2, Some(T0 + DAY_MILLIS)));
            // Once +2 leaves the 24 hours there is room again; +1 (messaged again at T0 + 1 s)
            // still counts.
            let later = f
                .store
                .admit_recipients("k", 2, &phones(&["+3"]), T0 + DAY_MILLIS)
                .await
                .unwrap();
            assert_eq!(later.admitted.len(), 1);
            assert_eq!(later.used, 2);
            assert_eq!(f.store.daily_usage("k", T0 + DAY_MILLIS).await.unwrap().used, 2);
            assert_eq!(
                f.store
                    .daily_usage("k", T0 + 2 * DAY_MILLIS + 1)
                    .await
                    .unwrap()
                    .used,
                0
            );
            // Keys count apart.
            let other = f
                .store
                .admit_recipients("other", 1, &phones(&["+2"]), T0)
                .await
                .unwrap();
            assert_eq!(other.admitted.len(), 1);
        }

        #[tokio::test]
        async fn a_daily_limit_pauses_every_campaign_of_the_group_and_deferrals_wait() {
            let Some(f) = $factory().await else { return };
            let base = f.store.get_sender(&f.tenant, &f.sender).await.unwrap();
            let mut grouped = Vec::new();
            for group in [Some("portfolio"), Some("portfolio"), None] {
                let s = SenderRecord {
                    id: pregon_domain::id::new_id("snd"),
                    is_default: false,
                    limit_group: group.map(str::to_string),
                    rate_follows_provider: false,
                    throughput_level: None,
                    daily_limit: Some(10),
                    ..base.clone()
                };
                f.store.insert_sender(&s, &by()).await.unwrap();
                grouped.push(s);
            }
            assert_eq!(grouped[0].limit_key(), grouped[1].limit_key());
            assert_ne!(grouped[0].limit_key(), grouped[2].limit_key());
            let mut campaigns = Vec::new();
            for s in &grouped {
                let c = f
                    .store
                    .create_campaign(
                        NewCampaign {
                            expires_at: None,
                            id: pregon_domain::id::new_id("cmp"),
                            tenant_id: f.tenant.clone(),
                            name: "c".into(),
                            sender_id: s.id.clone(),
                            template_id: f.template.clone(),
                            status: CampaignStatus::Running,
                            priority: 5,
                            settings: CampaignSettings::default(),
                            start_at: None,
                            windowed: false,
                            max_attempts: 3,
                            messages: vec![NewMessage {
                                user_id: None,
                                phone: "+584120000001".into(),
                                variables: "{}".into(),
                                skip_reason: None,
                            }],
                            now: T0,
                        },
                        &by(),
                    )
                    .await
                    .unwrap();
                campaigns.push(c.id);
            }
            let paused = f
                .store
                .pause_for_daily_limit(&grouped[0], T0 + 5_000, T0)
                .await
                .unwrap();
            let mut expected = vec![campaigns[0].clone(), campaigns[1].clone()];
            expected.sort();
            let mut got = paused.clone();
            got.sort();
            assert_eq!(got, expected, "the group's campaigns, not the lone sender's");
            let c = f.store.campaign_by_id(&campaigns[1]).await.unwrap();
            assert_eq!(
                (c.status, c.paused_reason, c.recheck_at),
                (
                    CampaignStatus::Paused,
                    Some(PausedReason::DailyLimit),
                    Some(T0 + 5_000)
                )
            );
            assert_eq!(
                f.store.campaign_by_id(&campaigns[2]).await.unwrap().status,
                CampaignStatus::Running
            );
            assert_eq!(
                f.store.campaigns_to_recheck(T0 + 5_000, 10).await.unwrap().len(),
                2
            );

            // A deferred message waits for its time, without spending an attempt.
            let c = f.campaign(2, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            let claimed = f.store.claim(&lease, &ClaimRequest::new(2, 0), T0).await.unwrap();
            assert_eq!(claimed.len(), 2);
            let later = Deferral {
                message_id: claimed[0].id,
                until: T0 + 6_000,
            };
            f.store
                .release_claimed(&lease, &[claimed[1].id], T0)
                .await
                .unwrap();
            f.store.defer_claimed(&lease, &[later], T0).await.unwrap();
            let counts = f.counts(&c.id).await;
            assert_eq!((counts.queued, counts.claimed), (2, 0));
            let now = f
                .store
                .claim(&lease, &ClaimRequest::new(2, 1), T0 + 1)
                .await
                .unwrap();
            assert_eq!(now.iter().map(|m| m.id).collect::<Vec<_>>(), vec![claimed[1].id]);
            let due = f
                .store
                .claim(&lease, &ClaimRequest::new(2, 2), T0 + 6_000)
                .await
                .unwrap();
            assert_eq!(
                due.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(),
                vec![(claimed[0].id, 0)]
            );
        }

        #[tokio::test]
        async fn capped_campaigns_give_way_to_others() {
            let Some(f) = $factory().await else { return };
            let paced = f.campaign(5, 0, 5).await;
            let free = f.campaign(5, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            let mut request = ClaimRequest::new(6, 0);
            request.caps.insert(paced.id.clone(), 1);
            let claimed = f.store.claim(&lease, &request, T0).await.unwrap();
            let from = |id: &str| {
                claimed
                    .iter()
                    .filter(|m| m.campaign_id.as_deref() == Some(id))
                    .count()
            };
            assert_eq!((from(&paced.id), from(&free.id)), (1, 5));
        }

        #[tokio::test]
        async fn pregon_pauses_return_claims_and_keep_the_reason() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(3, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            assert_eq!(
                f.store
                    .claim(&lease, &ClaimRequest::new(2, 0), T0)
                    .await
                    .unwrap()
                    .len(),
                2
            );
            assert!(f
                .store
                .pause_campaign(&c.id, PausedReason::TooManyFailures, Some("51 of 60 failed"), T0)
                .await
                .unwrap());
            assert!(!f
                .store
                .pause_campaign(&c.id, PausedReason::TooManyFailures, None, T0)
                .await
                .unwrap());
            let paused = f.store.campaign_by_id(&c.id).await.unwrap();
            assert_eq!(
                (
                    paused.status,
                    paused.paused_reason,
                    paused.paused_detail.as_deref(),
                    paused.counts.queued,
                    paused.counts.claimed
                ),
                (
                    CampaignStatus::Paused,
                    Some(PausedReason::TooManyFailures),
                    Some("51 of 60 failed"),
                    3,
                    0
                )
            );
            assert_eq!(f.store.queue_depth().await.unwrap(), 3);
            assert!(!f.store.sender_has_work(&f.sender, T0).await.unwrap());
            f.store
                .apply_action(&f.tenant, &c.id, CampaignAction::Resume, false, T0, &by())
                .await
                .unwrap();
            assert!(f.store.sender_has_work(&f.sender, T0).await.unwrap());
        }

        #[tokio::test]
        async fn cancelling_a_claimed_message_keeps_counts_exact() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(2, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            let m = f
                .store
                .claim(&lease, &ClaimRequest::new(1, 0), T0)
                .await
                .unwrap()
                .remove(0);
            let cancelled = f
                .store
                .cancel_message(&f.tenant, m.id, T0 + 1, &by())
                .await
                .unwrap();
            assert_eq!(cancelled.status, MessageStatus::Cancelled);
            let counts = f.counts(&c.id).await;
            assert_eq!((counts.queued, counts.claimed, counts.cancelled), (1, 0, 1));
            assert!(
                f.store
                    .mark_sending(&lease, &[m.id], T0 + 2)
                    .await
                    .unwrap()
                    .is_empty(),
                "a cancelled message is not sent"
            );
            let events = f.store.message_events(m.id).await.unwrap();
            assert_eq!(events.last().map(|e| e.status.as_str()), Some("cancelled"));
            assert!(matches!(
                f.store.cancel_message(&f.tenant, m.id, T0 + 3, &by()).await,
                Err(StoreError::IllegalTransition { .. })
            ));
        }

        #[tokio::test]
        async fn tenants_keys_and_dispatchers() {
            let Some(f) = $factory().await else { return };
            assert_eq!(f.store.tenant_count().await.unwrap(), 1);
            assert!(matches!(
                f.store.create_tenant("acme", "other", T0).await,
                Err(StoreError::Conflict { .. })
            ));
            f.store
                .add_api_key(&f.tenant, "hash-1", "pk_1", T0)
                .await
                .unwrap();
            assert!(matches!(
                f.store.add_api_key(&f.tenant, "hash-1", "pk_1", T0).await,
                Err(StoreError::Conflict { .. })
            ));
            let found = f.store.tenant_by_api_key("hash-1").await.unwrap().unwrap();
            assert_eq!(
                (found.id, found.webhook_secret),
                (f.tenant.clone(), "secret".into())
            );
            assert!(f.store.tenant_by_api_key("hash-2").await.unwrap().is_none());

            // `list_dispatchers` reads leases on the wall clock.
            let now = chrono::Utc::now().timestamp_millis();
            let info = DispatcherInfo {
                id: "dsp_1".into(),
                host: "h".into(),
                pid: 42,
                version: "0.1.0".into(),
                now,
            };
            f.store.register_dispatcher(&info).await.unwrap();
            f.store
                .acquire_lease(&f.sender, "dsp_1", 60_000, now)
                .await
                .unwrap()
                .unwrap();
            f.store
                .heartbeat_dispatcher("dsp_1", 12.5, now + 1)
                .await
                .unwrap();
            let listed = f.store.list_dispatchers().await.unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(
                (
                    listed[0].pid,
                    listed[0].current_rate,
                    listed[0].last_heartbeat_at,
                    listed[0].senders.clone()
                ),
                (42, 12.5, now + 1, vec![f.sender.clone()])
            );
            f.store.remove_dispatcher("dsp_1").await.unwrap();
            assert!(f.store.list_dispatchers().await.unwrap().is_empty());
            assert!(
                f.store
                    .acquire_lease(&f.sender, "dsp_2", 60_000, now)
                    .await
                    .unwrap()
                    .is_some(),
                "a removed dispatcher's leases are free at once"
            );
        }

        #[tokio::test]
        async fn a_campaign_reaching_a_final_state_queues_one_notification() {
            let Some(f) = $factory().await else { return };
            let hooked = campaign_with(&f, 2, 1, hook_settings()).await;
            let plain = f.campaign(1, 0, 5).await;
            let lease = f.lease("a", T0).await.unwrap();
            let claimed = f
                .store
                .claim(&lease, &ClaimRequest::new(10, 0), T0)
                .await
                .unwrap();
            let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
            f.store.mark_sending(&lease, &ids, T0).await.unwrap();
            let outcomes: Vec<Outcome> = ids.iter().map(|id| sent(*id)).collect();
            f.store.record_outcomes(&lease, &outcomes, T0 + 5).await.unwrap();
            let notes = f.store.list_notifications(&f.tenant, &hooked.id).await.unwrap();
            assert_eq!(notes.len(), 1, "{notes:?}");
            let n = &notes[0];
            assert_eq!(
                (n.event.as_str(), n.url.as_str(), n.status.as_str(), n.attempts),
                ("campaign.completed", "https://example.com/hook", "pending", 0)
            );
            let body: serde_json::Value = serde_json::from_str(&n.body).unwrap();
            assert_eq!(body["id"], n.id.as_str());
            assert_eq!(body["event"], "campaign.completed");
            assert_eq!(body["campaign"]["id"], hooked.id.as_str());
            assert_eq!(body["campaign"]["status"], "completed");
            assert_eq!(body["campaign"]["counts"]["sent"], 2);
            assert_eq!(body["campaign"]["counts"]["skipped"], 1);
            assert_eq!(body["campaign"]["total"], 3);
            assert!(
                f.store
                    .list_notifications(&f.tenant, &plain.id)
                    .await
                    .unwrap()
                    .is_empty(),
                "no webhook URL, no notification"
            );
            assert!(
                f.store
                    .list_notifications("ten_other", &hooked.id)
                    .await
                    .unwrap()
                    .is_empty(),
                "scoped by tenant"
            );
        }

        #[tokio::test]
        async fn every_way_to_a_final_state_notifies_once() {
            let Some(f) = $factory().await else { return };
            let events = |c: &CampaignRecord| {
                let (store, tenant, id) = (f.store.clone(), f.tenant.clone(), c.id.clone());
                async move {
                    store
                        .list_notifications(&tenant, &id)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|n| n.event)
                        .collect::<Vec<_>>()
                }
            };
            // Nothing to send: completed at creation.
            let empty = campaign_with(&f, 0, 2, hook_settings()).await;
            assert_eq!(empty.status, CampaignStatus::Completed);
            assert_eq!(events(&empty).await, ["campaign.completed"]);
            // A retry with nothing to retry ends where it began: no second notification.
            f.store
                .apply_action(&f.tenant, &empty.id, CampaignAction::Retry, false, T0 + 1, &by())
                .await
                .unwrap();
            assert_eq!(events(&empty).await, ["campaign.completed"]);
            // Cancel.
            let cancelled = campaign_with(&f, 3, 0, hook_settings()).await;
            let after = f
                .store
                .apply_action(
                    &f.tenant,
                    &cancelled.id,
                    CampaignAction::Cancel,
                    false,
                    T0 + 2,
                    &by(),
                )
                .await
                .unwrap();
            assert_eq!(events(&cancelled).await, ["campaign.cancelled"]);
            let n = f
                .store
                .list_notifications(&f.tenant, &cancelled.id)
                .await
                .unwrap()
                .remove(0);
            let body: serde_json::Value = serde_json::from_str(&n.body).unwrap();
            assert_eq!(
                body["campaign"]["counts"]["cancelled"], 3,
                "counted after the cancel: {body}"
            );
            assert_eq!(after.counts.cancelled, 3);
            // Cancelling the last queued message completes it.
            let single = campaign_with(&f, 1, 0, hook_settings()).await;
            let page = PageRequest {
                limit: 10,
                cursor: None,
            };
            let m = f
                .store
                .list_messages(&f.tenant, &single.id, None, &page)
                .await
                .unwrap()
                .items
                .remove(0);
            f.store
                .cancel_message(&f.tenant, m.id, T0 + 3, &by())
                .await
                .unwrap();
            assert_eq!(events(&single).await, ["campaign.completed"]);
            // A scheduled campaign with nothing to send completes when it starts.
            let settings = hook_settings();
            let scheduled = f
                .store
                .create_campaign(
                    NewCampaign {
                        expires_at: None,
                        id: pregon_domain::id::new_id("cmp"),
                        tenant_id: f.tenant.clone(),
                        name: "later".into(),
                        sender_id: f.sender.clone(),
                        template_id: f.template.clone(),
                        status: CampaignStatus::Scheduled,
                        priority: 5,
                        settings,
                        start_at: Some(T0 + 10),
                        windowed: false,
                        max_attempts: 3,
                        messages: vec![NewMessage {
                            user_id: None,
                            phone: "junk".into(),
                            variables: "{}".into(),
                            skip_reason: Some(SkipReason::InvalidPhone),
                        }],
                        now: T0,
                    },
                    &by(),
                )
                .await
                .unwrap();
            assert!(events(&scheduled).await.is_empty());
            f.store.start_due_campaigns(T0 + 10).await.unwrap();
            assert_eq!(events(&scheduled).await, ["campaign.completed"]);
            // A new lease owner's recovery that leaves nothing to send completes it.
            let recovered = campaign_with(&f, 1, 0, hook_settings()).await;
            let lease = f.lease("a", T0).await.unwrap();
            let claimed = f
                .store
                .claim(&lease, &ClaimRequest::new(10, 0), T0)
                .await
                .unwrap();
            let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
            f.store.mark_sending(&lease, &ids, T0).await.unwrap();
            f.lease("b", T0 + TTL + 1).await.unwrap();
            assert_eq!(events(&recovered).await, ["campaign.completed"]);
            assert_eq!(f.counts(&recovered.id).await.unknown, 1);
        }

        #[tokio::test]
        async fn notifications_are_claimed_once_retried_and_fenced() {
            let Some(f) = $factory().await else { return };
            let c = campaign_with(&f, 0, 1, hook_settings()).await;
            let id = f.store.list_notifications(&f.tenant, &c.id).await.unwrap()[0]
                .id
                .clone();
            let got = f.store.claim_notifications(10, 30_000, T0).await.unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(
                (got[0].id.as_str(), got[0].attempt, got[0].webhook_secret.as_str()),
                (id.as_str(), 1, "secret")
            );
            assert_eq!(got[0].campaign_id, c.id);
            assert!(got[0].body.contains("campaign.completed"));
            assert!(
                f.store
                    .claim_notifications(10, 30_000, T0 + 1)
                    .await
                    .unwrap()
                    .is_empty(),
                "claimed: nobody else takes it while it is delivered"
            );
            let retry = NotificationResult::Retry {
                next_attempt_at: T0 + 10_000,
                error: "the receiver answered 500".into(),
            };
            assert!(f.store.finish_notification(&id, 1, &retry, T0 + 2).await.unwrap());
            assert!(f
                .store
                .claim_notifications(10, 30_000, T0 + 9_999)
                .await
                .unwrap()
                .is_empty());
            // The secret is read at delivery: a rotation applies to the next attempt.
            f.store
                .set_webhook_secret(&f.tenant, "rotated", T0, &by())
                .await
                .unwrap();
            let second = f
                .store
                .claim_notifications(10, 30_000, T0 + 10_000)
                .await
                .unwrap();
            assert_eq!(
                (second[0].attempt, second[0].webhook_secret.as_str()),
                (2, "rotated")
            );
            // Its deliverer died: the claim runs out and another takes it.
            let third = f
                .store
                .claim_notifications(10, 30_000, T0 + 40_001)
                .await
                .unwrap();
            assert_eq!(third[0].attempt, 3);
            assert!(
                !f.store
                    .finish_notification(&id, 2, &NotificationResult::Delivered, T0 + 40_002)
                    .await
                    .unwrap(),
                "a stale attempt records nothing"
            );
            assert!(f
                .store
                .finish_notification(&id, 3, &NotificationResult::Delivered, T0 + 40_003)
                .await
                .unwrap());
            let n = f
                .store
                .list_notifications(&f.tenant, &c.id)
                .await
                .unwrap()
                .remove(0);
            assert_eq!(
                (n.status.as_str(), n.attempts, n.delivered_at, n.last_error),
                ("delivered", 3, Some(T0 + 40_003), None)
            );
            assert!(f
                .store
                .claim_notifications(10, 30_000, T0 + 999_999)
                .await
                .unwrap()
                .is_empty());

            // Given up: failed, never claimed again.
            let other = campaign_with(&f, 0, 1, hook_settings()).await;
            let got = f
                .store
                .claim_notifications(10, 30_000, T0 + 1_000_000)
                .await
                .unwrap();
            assert_eq!(got.len(), 1);
            let failed = NotificationResult::Failed {
                error: "no answer".into(),
            };
            assert!(f
                .store
                .finish_notification(&got[0].id, 1, &failed, T0 + 1_000_001)
                .await
                .unwrap());
            let n = f
                .store
                .list_notifications(&f.tenant, &other.id)
                .await
                .unwrap()
                .remove(0);
            assert_eq!(
                (n.status.as_str(), n.last_error.as_deref()),
                ("failed", Some("no answer"))
            );
            assert!(f
                .store
                .claim_notifications(10, 30_000, T0 + 9_000_000)
                .await
                .unwrap()
                .is_empty());
            assert!(matches!(
                f.store.set_webhook_secret("ten_missing", "x", T0, &by()).await,
                Err(StoreError::NotFound)
            ));
        }

        #[tokio::test]
        async fn opt_ins_are_kept_per_tenant_and_looked_up_in_batches() {
            let Some(f) = $factory().await else { return };
            let a = f
                .store
                .add_opt_in(
                    &f.tenant,
                    "+584121234567",
                    "web_form",
                    Some("form #12"),
                    T0,
                    &by(),
                )
                .await
                .unwrap();
            assert_eq!(
                (
                    a.phone.as_str(),
                    a.source.as_str(),
                    a.evidence.as_deref(),
                    a.created_at
                ),
                ("+584121234567", "web_form", Some("form #12"), T0)
            );
            // Again: the source is refreshed, the evidence kept unless new, the time kept.
            let again = f
                .store
                .add_opt_in(&f.tenant, "+584121234567", "whatsapp", None, T0 + 5, &by())
                .await
                .unwrap();
            assert_eq!(
                (again.source.as_str(), again.evidence.as_deref(), again.created_at),
                ("whatsapp", Some("form #12"), T0)
            );
            f.store
                .add_opt_in(&f.tenant, "+584129876543", "api", None, T0, &by())
                .await
                .unwrap();
            let page = f
                .store
                .list_opt_ins(
                    &f.tenant,
                    None,
                    &PageRequest {
                        limit: 1,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            assert_eq!(page.items.len(), 1);
            let rest = f
                .store
                .list_opt_ins(
                    &f.tenant,
                    None,
                    &PageRequest {
                        limit: 10,
                        cursor: page.next_cursor,
                    },
                )
                .await
                .unwrap();
            assert_eq!(rest.items[0].phone, "+584129876543");
            let asked: Vec<String> = ["+584121234567", "+584120000000"].map(String::from).to_vec();
            assert_eq!(
                f.store.opted_in_among(&f.tenant, &asked).await.unwrap(),
                ["+584121234567".to_string()].into()
            );
            assert!(f
                .store
                .opted_in_among("ten_other", &asked)
                .await
                .unwrap()
                .is_empty());
            assert!(f.store.opted_in_among(&f.tenant, &[]).await.unwrap().is_empty());
            assert_eq!(f.store.opted_in_phones(&f.tenant).await.unwrap().len(), 2);
            f.store
                .add_opt_out(
                    &f.tenant,
                    "+584120000000",
                    None,
                    "api",
                    OptOutScope::All,
                    T0,
                    &by(),
                )
                .await
                .unwrap();
            assert_eq!(
                f.store.opted_out_among(&f.tenant, &asked).await.unwrap(),
                [("+584120000000".to_string(), OptOutScope::All)].into()
            );
            f.store
                .delete_opt_in(&f.tenant, "+584121234567", T0, &by())
                .await
                .unwrap();
            assert!(matches!(
                f.store.delete_opt_in(&f.tenant, "+584121234567", T0, &by()).await,
                Err(StoreError::NotFound)
            ));
            assert!(f
                .store
                .opted_in_among(&f.tenant, &asked)
                .await
                .unwrap()
                .is_empty());
        }

        #[tokio::test]
        async fn skipping_claimed_messages_keeps_counts_exact_and_completes() {
            let Some(f) = $factory().await else { return };
            let c = campaign_with(&f, 3, 0, hook_settings()).await;
            let lease = f.lease("a", T0).await.unwrap();
            let claimed = f
                .store
                .claim(&lease, &ClaimRequest::new(10, 0), T0)
                .await
                .unwrap();
            let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
            let skips = [
                Skip {
                    message_id: ids[0],
                    reason: SkipReason::OptedOut,
                },
                Skip {
                    message_id: ids[1],
                    reason: SkipReason::NoConsent,
                },
            ];
            let stale = Lease {
                epoch: lease.epoch + 7,
                ..lease.clone()
            };
            assert!(matches!(
                f.store.skip_claimed(&stale, &skips, T0 + 1).await,
                Err(StoreError::LeaseLost)
            ));
            let skipped = f.store.skip_claimed(&lease, &skips, T0 + 1).await.unwrap();
            assert_eq!(skipped, vec![ids[0], ids[1]]);
            let counts = f.counts(&c.id).await;
            assert_eq!((counts.claimed, counts.skipped, counts.total()), (1, 2, 3));
            let page = PageRequest {
                limit: 10,
                cursor: None,
            };
            let messages = f
                .store
                .list_messages(&f.tenant, &c.id, None, &page)
                .await
                .unwrap()
                .items;
            assert_eq!(
                messages.iter().map(|m| m.skip_reason.clone()).collect::<Vec<_>>(),
                vec![
                    Some("opted_out".to_string()),
                    Some("no_consent".to_string()),
                    None
                ]
            );
            let events = f.store.message_events(ids[0]).await.unwrap();
            assert_eq!(events.last().map(|e| e.status.as_str()), Some("skipped"));
            assert_eq!(
                events.last().unwrap().detail.as_ref().unwrap()["reason"],
                "opted_out"
            );
            // Only claimed messages are skipped, once.
            assert!(f
                .store
                .skip_claimed(&lease, &skips, T0 + 2)
                .await
                .unwrap()
                .is_empty());
            assert_eq!(
                f.store.mark_sending(&lease, &ids, T0 + 2).await.unwrap(),
                vec![ids[2]],
                "a skipped message is never sent"
            );
            assert_eq!(f.counts(&c.id).await.skipped, 2);
            // Skipping the last one left completes the campaign, and notifies.
            let last = campaign_with(&f, 1, 0, hook_settings()).await;
            let claimed = f
                .store
                .claim(&lease, &ClaimRequest::new(10, 1), T0 + 3)
                .await
                .unwrap();
            assert_eq!(claimed.len(), 1);
            f.store
                .skip_claimed(
                    &lease,
                    &[Skip {
                        message_id: claimed[0].id,
                        reason: SkipReason::OptedOut,
                    }],
                    T0 + 4,
                )
                .await
                .unwrap();
            let done = f.store.campaign_by_id(&last.id).await.unwrap();
            assert_eq!((done.status, done.counts.skipped), (CampaignStatus::Completed, 1));
            assert_eq!(
                f.store
                    .list_notifications(&f.tenant, &last.id)
                    .await
                    .unwrap()
                    .len(),
                1
            );
        }

        #[tokio::test]
        async fn status_reports_move_messages_up_only_and_keep_counts_exact() {
            use MessageStatus::*;
            let Some(f) = $factory().await else { return };
            let (c, ids) = sent_campaign(&f, 4).await;
            let effects = f
                .store
                .apply_status_updates(
                    &[
                        report(&f, ids[0], Delivered, T0 + 100),
                        report(&f, ids[0], Read, T0 + 200),
                        // Out of order: read before delivered.
                        report(&f, ids[1], Read, T0 + 300),
                        report(&f, ids[1], Delivered, T0 + 250),
                        StatusUpdate {
                            user_id: None,
                            error_code: Some("131026".into()),
                            error_message: Some("Message undeliverable".into()),
                            ..report(&f, ids[2], Failed, T0 + 400)
                        },
                    ],
                    T0 + 500,
                )
                .await
                .unwrap();
            assert_eq!(
                effects,
                vec![
                    StatusEffect::Applied,
                    StatusEffect::Applied,
                    StatusEffect::Applied,
                    StatusEffect::Kept,
                    StatusEffect::Applied
                ]
            );
            let m0 = message(&f, ids[0]).await;
            assert_eq!(
                (m0.status, m0.delivered_at, m0.read_at),
                (Read, Some(T0 + 100), Some(T0 + 200))
            );
            let m1 = message(&f, ids[1]).await;
            assert_eq!(
                (m1.status, m1.delivered_at, m1.read_at),
                (Read, Some(T0 + 250), Some(T0 + 300)),
                "a late delivered keeps read and tells when it was delivered"
            );
            let m2 = message(&f, ids[2]).await;
            assert_eq!(
                (m2.status, m2.error_code.as_deref(), m2.error_message.as_deref()),
                (Failed, Some("131026"), Some("Message undeliverable"))
            );
            let counts = f.counts(&c.id).await;
            assert_eq!(
                (
                    counts.sent,
                    counts.delivered,
                    counts.read,
                    counts.failed,
                    counts.total()
                ),
                (1, 0, 2, 1, 4),
                "a message counts once, in its current state"
            );

            // Later: a late delivered and a failed after read change nothing; a sent adds history.
            let effects = f
                .store
                .apply_status_updates(
                    &[
                        report(&f, ids[0], Failed, T0 + 600),
                        report(&f, ids[3], Delivered, T0 + 600),
                        report(&f, ids[3], Sent, T0 + 50),
                    ],
                    T0 + 700,
                )
                .await
                .unwrap();
            assert_eq!(
                effects,
                vec![StatusEffect::Kept, StatusEffect::Applied, StatusEffect::Kept]
            );
            assert_eq!(message(&f, ids[0]).await.status, Read);
            assert_eq!(message(&f, ids[0]).await.error_code, None);
            let counts = f.counts(&c.id).await;
            assert_eq!(
                (counts.sent, counts.delivered, counts.read, counts.failed),
                (0, 1, 2, 1)
            );
            let events: Vec<String> = f
                .store
                .message_events(ids[0])
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.status)
                .collect();
            assert_eq!(events, vec!["sent", "delivered", "read", "failed"]);
            let last = f.store.message_events(ids[0]).await.unwrap().pop().unwrap();
            assert_eq!(
                (last.detail.unwrap()["applied"].clone(), last.at),
                (serde_json::json!(false), T0 + 600)
            );
        }

        #[tokio::test]
        async fn repeated_status_reports_are_recorded_once() {
            let Some(f) = $factory().await else { return };
            let (c, ids) = sent_campaign(&f, 1).await;
            let delivered = report(&f, ids[0], MessageStatus::Delivered, T0 + 100);
            let effects = f
                .store
                .apply_status_updates(&[delivered.clone(), delivered.clone()], T0 + 200)
                .await
                .unwrap();
            assert_eq!(effects, vec![StatusEffect::Applied, StatusEffect::Duplicate]);
            let again = f
                .store
                .apply_status_updates(&[delivered], T0 + 300)
                .await
                .unwrap();
            assert_eq!(again, vec![StatusEffect::Duplicate]);
            let events = f.store.message_events(ids[0]).await.unwrap();
            assert_eq!(events.iter().filter(|e| e.status == "delivered").count(), 1);
            let counts = f.counts(&c.id).await;
            assert_eq!((counts.sent, counts.delivered), (0, 1));
        }

        #[tokio::test]
        async fn status_reports_about_unknown_messages_change_nothing() {
            let Some(f) = $factory().await else { return };
            let (c, ids) = sent_campaign(&f, 1).await;
            let mut unknown = report(&f, ids[0], MessageStatus::Delivered, T0 + 100);
            unknown.provider_message_id = "wamid.nobody".into();
            let mut other_sender = report(&f, ids[0], MessageStatus::Delivered, T0 + 100);
            other_sender.sender_id = "snd_other".into();
            let effects = f
                .store
                .apply_status_updates(&[unknown, other_sender], T0 + 200)
                .await
                .unwrap();
            assert_eq!(
                effects,
                vec![StatusEffect::UnknownMessage, StatusEffect::UnknownMessage],
                "a report only reaches its own sender's messages"
            );
            assert_eq!(message(&f, ids[0]).await.status, MessageStatus::Sent);
            assert_eq!(f.counts(&c.id).await.sent, 1);
            assert_eq!(f.store.message_events(ids[0]).await.unwrap().len(), 1);
        }

        #[tokio::test]
        async fn an_echoed_message_id_finds_a_message_whose_answer_was_not_recorded() {
            let Some(f) = $factory().await else { return };
            let c = f.campaign(2, 0, 5).await;
            let a = f.lease("a", T0).await.unwrap();
            let ids: Vec<i64> = f
                .store
                .claim(&a, &ClaimRequest::new(2, 0), T0)
                .await
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect();
            f.store.mark_sending(&a, &ids, T0).await.unwrap();
            // The provider reports on the first before its answer is recorded.
            let early = StatusUpdate {
                user_id: None,
                provider_message_id: "wamid.early".into(),
                message_hint: Some(ids[0]),
                ..report(&f, ids[0], MessageStatus::Delivered, T0 + 5)
            };
            let effects = f.store.apply_status_updates(&[early], T0 + 6).await.unwrap();
            assert_eq!(effects, vec![StatusEffect::Applied]);
            let m = message(&f, ids[0]).await;
            assert_eq!(
                (
                    m.status,
                    m.provider_message_id.as_deref(),
                    m.delivered_at.is_some(),
                    m.sent_at.is_some()
                ),
                (MessageStatus::Delivered, Some("wamid.early"), true, true)
            );
            // The late answer changes nothing.
            f.store
                .record_outcomes(&a, &[sent(ids[0])], T0 + 7)
                .await
                .unwrap();
            assert_eq!(message(&f, ids[0]).await.status, MessageStatus::Delivered);
            let counts = f.counts(&c.id).await;
            assert_eq!((counts.sending, counts.sent, counts.delivered), (1, 0, 1));
            // The second one's dispatcher dies: `unknown`, until the provider says it took it.
            let b = f.lease("b", T0 + TTL).await.unwrap();
            assert_eq!(message(&f, ids[1]).await.status, MessageStatus::Unknown);
            let resolved = StatusUpdate {
                user_id: None,
                provider_message_id: "wamid.late".into(),
                message_hint: Some(ids[1]),
                ..report(&f, ids[1], MessageStatus::Read, T0 + TTL + 5)
            };
            let effects = f
                .store
                .apply_status_updates(&[resolved], T0 + TTL + 6)
                .await
                .unwrap();
            assert_eq!(effects, vec![StatusEffect::Applied]);
            let counts = f.counts(&c.id).await;
            assert_eq!(
                (counts.unknown, counts.read, counts.delivered, counts.total()),
                (0, 1, 1, 2)
            );
            let done = f.store.campaign_by_id(&c.id).await.unwrap();
            assert_eq!(done.status, CampaignStatus::Completed);
            // A hint never takes over a message that has a provider id.
            let stray = StatusUpdate {
                user_id: None,
                provider_message_id: "wamid.stray".into(),
                message_hint: Some(ids[1]),
                ..report(&f, ids[1], MessageStatus::Failed, T0 + TTL + 7)
            };
            assert_eq!(
                f.store
                    .apply_status_updates(&[stray], T0 + TTL + 8)
                    .await
                    .unwrap(),
                vec![StatusEffect::UnknownMessage]
            );
            drop(b);
        }

        #[tokio::test]
        async fn replies_are_stored_once_linked_to_their_campaign_and_stop_words_opt_out() {
            let Some(f) = $factory().await else { return };
            let (c, ids) = sent_campaign(&f, 2).await;
            let phone = message(&f, ids[0]).await.phone;
            let stored = f
                .store
                .insert_inbound(
                    &[
                        reply(&f, &phone, "wamid.in1", "Hola", false),
                        reply(&f, &phone, "wamid.in2", "BAJA", true),
                        reply(&f, "+593995683452", "wamid.in3", "¿quién es?", false),
                        reply(&f, &phone, "wamid.in1", "Hola", false),
                    ],
                    T0 + 20,
                )
                .await
                .unwrap();
            assert_eq!(stored.len(), 3, "a redelivered reply is stored once");
            assert_eq!(stored[0].campaign_id.as_deref(), Some(c.id.as_str()));
            assert_eq!(
                stored[2].campaign_id, None,
                "no campaign message went to that phone"
            );
            assert!(stored[1].opted_out && !stored[0].opted_out);
            let again = f
                .store
                .insert_inbound(&[reply(&f, &phone, "wamid.in2", "BAJA", true)], T0 + 30)
                .await
                .unwrap();
            assert!(again.is_empty());
            assert!(f
                .store
                .opted_out_phones(&f.tenant, None)
                .await
                .unwrap()
                .contains(&phone));
            let opt_outs = f
                .store
                .list_opt_outs(
                    &f.tenant,
                    None,
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            assert_eq!(opt_outs.items[0].source, "reply");

            let page = |limit| PageRequest { limit, cursor: None };
            let by_campaign = ReplyFilter {
                campaign_id: Some(c.id.clone()),
                phone: None,
            };
            let first = f
                .store
                .list_replies(&f.tenant, &by_campaign, &page(1))
                .await
                .unwrap();
            assert_eq!(first.items[0].provider_message_id, "wamid.in2", "newest first");
            let second = f
                .store
                .list_replies(
                    &f.tenant,
                    &by_campaign,
                    &PageRequest {
                        limit: 1,
                        cursor: first.next_cursor.clone(),
                    },
                )
                .await
                .unwrap();
            assert_eq!(second.items[0].provider_message_id, "wamid.in1");
            assert!(second.next_cursor.is_none());
            let by_phone = ReplyFilter {
                campaign_id: None,
                phone: Some("+593995683452".into()),
            };
            let listed = f
                .store
                .list_replies(&f.tenant, &by_phone, &page(50))
                .await
                .unwrap();
            assert_eq!(listed.items.len(), 1);
            let all = f
                .store
                .list_replies(&f.tenant, &ReplyFilter::default(), &page(50))
                .await
                .unwrap();
            assert_eq!(all.items.len(), 3);
            let other = f.store.create_tenant("other", "s", T0).await.unwrap();
            let none = f
                .store
                .list_replies(&other.id, &ReplyFilter::default(), &page(50))
                .await
                .unwrap();
            assert!(none.items.is_empty(), "replies are the tenant's own");
        }

        #[tokio::test]
        async fn senders_are_found_by_provider_account_and_take_quality_reports() {
            let Some(f) = $factory().await else { return };
            let first = f.store.get_sender(&f.tenant, &f.sender).await.unwrap();
            assert_eq!(first.provider_account, None);
            let meta = SenderRecord {
                id: pregon_domain::id::new_id("snd"),
                provider: ProviderKind::Meta,
                provider_account: Some("1142".into()),
                limit_group: None,
                rate_follows_provider: false,
                throughput_level: None,
                is_default: false,
                ..first.clone()
            };
            f.store.insert_sender(&meta, &by()).await.unwrap();
            let found = f
                .store
                .senders_by_provider_account(ProviderKind::Meta, Some("1142"))
                .await
                .unwrap();
            assert_eq!(
                found.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
                vec![meta.id.as_str()]
            );
            assert!(f
                .store
                .senders_by_provider_account(ProviderKind::Meta, Some("9"))
                .await
                .unwrap()
                .is_empty());
            assert!(f
                .store
                .senders_by_provider_account(ProviderKind::Twilio, Some("1142"))
                .await
                .unwrap()
                .is_empty());
            assert_eq!(
                f.store
                    .senders_by_provider_account(ProviderKind::Meta, None)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            let patch = SenderPatch {
                provider_account: Some(Some("2000".into())),
                ..SenderPatch::default()
            };
            let updated = f
                .store
                .update_sender(&f.tenant, &meta.id, &patch, T0 + 1, &by())
                .await
                .unwrap();
            assert_eq!(updated.provider_account.as_deref(), Some("2000"));
            let q = f
                .store
                .update_sender_quality(&meta.id, Some("RED"), None, T0 + 2)
                .await
                .unwrap();
            assert_eq!(
                (q.quality_rating.as_deref(), q.status.as_str()),
                (Some("RED"), "active")
            );
            let s = f
                .store
                .update_sender_quality(&meta.id, None, Some(SenderStatus::Suspended), T0 + 3)
                .await
                .unwrap();
            assert_eq!(
                (s.quality_rating.as_deref(), s.status.as_str(), s.updated_at),
                (Some("RED"), "suspended", T0 + 3)
            );
            assert!(matches!(
                f.store
                    .update_sender_quality("snd_missing", Some("RED"), None, T0)
                    .await,
                Err(StoreError::NotFound)
            ));
        }
        #[tokio::test]
        async fn retention_purges_finished_campaigns_and_single_messages_only() {
            let Some(f) = $factory().await else { return };
            // Finished long ago: a completed campaign with events, a reply and a notification …
            let (done, done_ids) = sent_campaign(&f, 2).await;
            assert_eq!(f.counts(&done.id).await.sent, 2);
            let effects = f
                .store
                .apply_status_updates(
                    &[report(&f, done_ids[0], MessageStatus::Delivered, T0 + 2)],
                    T0 + 2,
                )
                .await
                .unwrap();
            assert_eq!(effects, vec![StatusEffect::Applied]);
            let first = message(&f, done_ids[0]).await;
            let replies = f
                .store
                .insert_inbound(&[reply(&f, &first.phone, "wamid.in1", "gracias", false)], T0 + 3)
                .await
                .unwrap();
            assert_eq!(replies[0].campaign_id.as_deref(), Some(done.id.as_str()));
            let hooked = campaign_with(&f, 0, 1, hook_settings()).await;
            assert_eq!(hooked.status, CampaignStatus::Completed);
            assert_eq!(
                f.store
                    .list_notifications(&f.tenant, &hooked.id)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            // … a cancelled one, and finished single messages.
            let cancelled = f.campaign(2, 0, 5).await;
            f.store
                .apply_action(&f.tenant, &cancelled.id, CampaignAction::Cancel, false, T0, &by())
                .await
                .unwrap();
            let old_single = single_at(&f, &f.tenant, "+584121111111", T0, T0).await;
            f.store
                .cancel_message(&f.tenant, old_single.id, T0, &by())
                .await
                .unwrap();
            // Kept: unfinished campaigns however old, a scheduled single message, and what
            // finished within the period.
            let running = f.campaign(1, 0, 5).await;
            let paused = f.campaign(1, 0, 5).await;
            let paused = f
                .store
                .apply_action(&f.tenant, &paused.id, CampaignAction::Pause, false, T0, &by())
                .await
                .unwrap();
            let draft = campaign_at(&f, CampaignStatus::Draft, 1, None, T0).await;
            let scheduled = campaign_at(&f, CampaignStatus::Scheduled, 1, Some(T0 + 400 * DAY), T0).await;
            let waiting = single_at(&f, &f.tenant, "+584122222222", T0 + 400 * DAY, T0).await;
            let recent = campaign_at(&f, CampaignStatus::Running, 0, None, T0 + 40 * DAY).await;
            assert_eq!(recent.status, CampaignStatus::Completed);
            let recent_single = single_at(&f, &f.tenant, "+584123333333", T0, T0 + 40 * DAY).await;
            f.store
                .cancel_message(&f.tenant, recent_single.id, T0 + 40 * DAY, &by())
                .await
                .unwrap();
            let depth = f.store.queue_depth().await.unwrap();

            let before = T0 + 30 * DAY;
            let mut total = PurgeReport::default();
            let mut calls = 0;
            loop {
                let r = f.store.purge_finished(before, 1).await.unwrap();
                assert!(r.campaigns <= 1, "at most `limit` campaigns per call: {r:?}");
                if r.is_empty() {
                    break;
                }
                total.add(r);
                calls += 1;
                assert!(calls <= 10, "purging ends");
            }
            assert_eq!(
                total,
                PurgeReport {
                    campaigns: 3,
                    campaign_messages: 2 + 1 + 2,
                    single_messages: 1
                }
            );
            for gone in [&done.id, &hooked.id, &cancelled.id] {
                assert!(matches!(
                    f.store.get_campaign(&f.tenant, gone).await,
                    Err(StoreError::NotFound)
                ));
                assert!(f
                    .store
                    .list_notifications(&f.tenant, gone)
                    .await
                    .unwrap()
                    .is_empty());
            }
            for id in done_ids.iter().chain([&old_single.id]) {
                assert!(matches!(
                    f.store.get_message(&f.tenant, *id).await,
                    Err(StoreError::NotFound)
                ));
                assert!(
                    f.store.message_events(*id).await.unwrap().is_empty(),
                    "events go too"
                );
            }
            let kept = f
                .store
                .list_replies(
                    &f.tenant,
                    &ReplyFilter::default(),
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap()
                .items;
            assert_eq!(kept.len(), 1, "replies stay");
            assert_eq!(
                (kept[0].id, kept[0].campaign_id.as_deref()),
                (replies[0].id, None)
            );
            for c in [&running, &paused, &draft, &scheduled, &recent] {
                let still = f.store.get_campaign(&f.tenant, &c.id).await.unwrap();
                assert_eq!(
                    (still.status, still.counts),
                    (c.status, c.counts),
                    "{} stays",
                    c.id
                );
                assert_eq!(f.statuses(&c.id).await.len() as i64, c.counts.total());
            }
            assert_eq!(
                f.store.get_message(&f.tenant, waiting.id).await.unwrap().status,
                MessageStatus::Queued
            );
            assert_eq!(
                f.store
                    .get_message(&f.tenant, recent_single.id)
                    .await
                    .unwrap()
                    .status,
                MessageStatus::Cancelled
            );
            assert_eq!(f.store.queue_depth().await.unwrap(), depth);
            // A later purge takes what has aged since.
            let later = f.store.purge_finished(T0 + 71 * DAY, 10).await.unwrap();
            assert_eq!((later.campaigns, later.single_messages), (1, 1));
            assert!(f.store.get_campaign(&f.tenant, &running.id).await.is_ok());
        }

        #[tokio::test]
        async fn a_large_finished_campaign_is_purged_over_several_transactions() {
            let Some(f) = $factory().await else { return };
            let big = f.campaign(2_500, 0, 5).await;
            f.store
                .apply_action(&f.tenant, &big.id, CampaignAction::Cancel, false, T0, &by())
                .await
                .unwrap();
            let before = T0 + 30 * DAY;
            // `limit` 1: a budget of 1,000 messages per transaction.
            let first = f.store.purge_finished(before, 1).await.unwrap();
            assert_eq!((first.campaigns, first.campaign_messages), (0, 1_000));
            assert!(!first.is_empty(), "more to come");
            let still = f.store.get_campaign(&f.tenant, &big.id).await.unwrap();
            assert_eq!(
                still.counts.cancelled, 2_500,
                "the campaign stays until its last message goes"
            );
            let second = f.store.purge_finished(before, 1).await.unwrap();
            assert_eq!((second.campaigns, second.campaign_messages), (0, 1_000));
            let third = f.store.purge_finished(before, 1).await.unwrap();
            assert_eq!((third.campaigns, third.campaign_messages), (1, 500));
            assert!(matches!(
                f.store.get_campaign(&f.tenant, &big.id).await,
                Err(StoreError::NotFound)
            ));
            assert!(f.store.purge_finished(before, 1).await.unwrap().is_empty());
        }

        #[tokio::test]
        async fn single_messages_list_newest_first_or_scheduled_soonest_first() {
            let Some(f) = $factory().await else { return };
            let later = single_at(&f, &f.tenant, "+584121000001", T0 + 120_000, T0).await;
            let sooner = single_at(&f, &f.tenant, "+584121000002", T0 + 60_000, T0).await;
            let now_one = single_at(&f, &f.tenant, "+584121000003", T0, T0).await;
            let tie = single_at(&f, &f.tenant, "+584121000004", T0 + 60_000, T0).await;
            let other = f.store.create_tenant("other", "s", T0).await.unwrap().id;
            let theirs = single_at(&f, &other, "+584121000005", T0 + 90_000, T0).await;
            let campaign = f.campaign(2, 0, 5).await;
            assert_eq!(
                (later.send_at, now_one.send_at),
                (Some(T0 + 120_000), Some(T0)),
                "send_at is kept"
            );
            let of_campaign = f
                .store
                .list_messages(
                    &f.tenant,
                    &campaign.id,
                    None,
                    &PageRequest {
                        limit: 1,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                of_campaign.items[0].send_at, None,
                "campaign messages have no send_at"
            );

            let all = SingleMessageFilter::default();
            assert_eq!(
                single_ids(&f, &f.tenant, &all, 2).await,
                vec![tie.id, now_one.id, sooner.id, later.id],
                "newest first, no campaign messages, no other tenant's"
            );
            let scheduled = SingleMessageFilter {
                status: None,
                scheduled_after: Some(T0),
            };
            assert_eq!(
                single_ids(&f, &f.tenant, &scheduled, 1).await,
                vec![sooner.id, tie.id, later.id],
                "soonest first, ties by id"
            );
            assert_eq!(single_ids(&f, &other, &scheduled, 10).await, vec![theirs.id]);
            // Cancelled: no longer scheduled, listed as cancelled.
            f.store
                .cancel_message(&f.tenant, sooner.id, T0 + 1, &by())
                .await
                .unwrap();
            assert_eq!(
                single_ids(&f, &f.tenant, &scheduled, 10).await,
                vec![tie.id, later.id]
            );
            let cancelled = SingleMessageFilter {
                status: Some(MessageStatus::Cancelled),
                scheduled_after: None,
            };
            assert_eq!(single_ids(&f, &f.tenant, &cancelled, 10).await, vec![sooner.id]);
            // Due: no longer scheduled; attempted: neither.
            let at_due = SingleMessageFilter {
                status: Some(MessageStatus::Queued),
                scheduled_after: Some(T0 + 60_000),
            };
            assert_eq!(single_ids(&f, &f.tenant, &at_due, 10).await, vec![later.id]);
            let lease = f.lease("a", T0 + 60_000).await.unwrap();
            let claimed = f
                .store
                .claim(&lease, &ClaimRequest::new(10, 0), T0 + 60_000)
                .await
                .unwrap();
            assert!(claimed.iter().any(|m| m.id == tie.id));
            assert_eq!(
                single_ids(&f, &f.tenant, &scheduled, 10).await,
                vec![later.id],
                "claimed: no longer waiting"
            );
            let page = PageRequest {
                limit: 10,
                cursor: Some("not-a-cursor".into()),
            };
            assert!(matches!(
                f.store.list_single_messages(&f.tenant, &scheduled, &page).await,
                Err(StoreError::NotFound)
            ));
        }

        #[tokio::test]
        async fn a_stopped_sender_holds_its_campaigns_until_it_is_active_again() {
            let Some(f) = $factory().await else { return };
            let running = f.campaign(3, 0, 5).await;
            let by_user = f.campaign(1, 0, 5).await;
            f.store
                .apply_action(&f.tenant, &by_user.id, CampaignAction::Pause, false, T0, &by())
                .await
                .unwrap();
            let scheduled = campaign_at(&f, CampaignStatus::Scheduled, 1, Some(T0 + 60_000), T0).await;
            // In flight when the sender stops: it finishes while the campaign waits.
            let in_flight = campaign_with(&f, 1, 0, hook_settings()).await;
            let single = single_at(&f, &f.tenant, "+584121000009", T0, T0).await;
            let lease = f.lease("a", T0).await.unwrap();
            assert!(f.store.renew_lease(&lease, 3_600_000, T0).await.unwrap());
            let claimed = f
                .store
                .claim(&lease, &ClaimRequest::new(10, 0), T0)
                .await
                .unwrap();
            let flying: Vec<i64> = claimed
                .iter()
                .filter(|m| m.campaign_id.as_deref() == Some(in_flight.id.as_str()))
                .map(|m| m.id)
                .collect();
            assert_eq!(f.store.mark_sending(&lease, &flying, T0).await.unwrap(), flying);
            assert!(f.counts(&running.id).await.claimed > 0);

            let paused = set_sender_status(&f, "paused", T0 + 1).await;
            assert_eq!(paused.status.as_str(), "paused");
            let held = f.store.campaign_by_id(&running.id).await.unwrap();
            assert_eq!(
                (held.status, held.paused_reason, held.paused_detail.as_deref()),
                (
                    CampaignStatus::Paused,
                    Some(PausedReason::SenderPaused),
                    Some("the sender is paused")
                )
            );
            assert_eq!(
                (held.counts.queued, held.counts.claimed),
                (3, 0),
                "claims go back"
            );
            let user = f.store.campaign_by_id(&by_user.id).await.unwrap();
            assert_eq!(
                user.paused_reason,
                Some(PausedReason::User),
                "a person's pause stays theirs"
            );
            // Nothing is sent for it: no work, no claim, no attempt, single messages included.
            assert!(claimed.iter().any(|m| m.id == single.id));
            assert!(f
                .store
                .mark_sending(&lease, &[single.id], T0 + 2)
                .await
                .unwrap()
                .is_empty());
            f.store
                .release_claimed(&lease, &[single.id], T0 + 2)
                .await
                .unwrap();
            assert!(f.store.senders_with_work(T0 + 2).await.unwrap().is_empty());
            assert!(!f.store.sender_has_work(&f.sender, T0 + 2).await.unwrap());
            assert!(f
                .store
                .claim(&lease, &ClaimRequest::new(10, 1), T0 + 2)
                .await
                .unwrap()
                .is_empty());
            // What was in flight finishes; its campaign waits, done, for the sender.
            f.store
                .record_outcomes(
                    &lease,
                    &flying.iter().map(|id| sent(*id)).collect::<Vec<_>>(),
                    T0 + 3,
                )
                .await
                .unwrap();
            assert_eq!(
                f.store.campaign_by_id(&in_flight.id).await.unwrap().status,
                CampaignStatus::Paused
            );

            // Created, resumed, retried or due while the sender is stopped: held.
            let created = campaign_at(&f, CampaignStatus::Running, 2, None, T0 + 4).await;
            assert_eq!(
                (created.status, created.paused_reason),
                (CampaignStatus::Paused, Some(PausedReason::SenderPaused))
            );
            let empty = campaign_at(&f, CampaignStatus::Running, 0, None, T0 + 4).await;
            assert_eq!(
                empty.status,
                CampaignStatus::Completed,
                "nothing to send completes"
            );
            let resumed = f
                .store
                .apply_action(
                    &f.tenant,
                    &running.id,
                    CampaignAction::Resume,
                    false,
                    T0 + 5,
                    &by(),
                )
                .await
                .unwrap();
            assert_eq!(
                (resumed.status, resumed.paused_reason),
                (CampaignStatus::Paused, Some(PausedReason::SenderPaused))
            );
            let draft = campaign_at(&f, CampaignStatus::Draft, 1, None, T0).await;
            let started = f
                .store
                .apply_action(&f.tenant, &draft.id, CampaignAction::Start, false, T0 + 5, &by())
                .await
                .unwrap();
            assert_eq!(started.paused_reason, Some(PausedReason::SenderPaused));
            assert_eq!(
                f.store.start_due_campaigns(T0 + 60_000).await.unwrap(),
                vec![scheduled.id.clone()]
            );
            assert_eq!(
                f.store.campaign_by_id(&scheduled.id).await.unwrap().paused_reason,
                Some(PausedReason::SenderPaused)
            );
            // A person's pause of a held campaign makes it theirs; a second one is refused.
            let mine = f
                .store
                .apply_action(&f.tenant, &draft.id, CampaignAction::Pause, false, T0 + 6, &by())
                .await
                .unwrap();
            assert_eq!(
                (mine.status, mine.paused_reason),
                (CampaignStatus::Paused, Some(PausedReason::User))
            );
            assert!(matches!(
                f.store
                    .apply_action(&f.tenant, &draft.id, CampaignAction::Pause, false, T0 + 6, &by())
                    .await,
                Err(StoreError::IllegalTransition { .. })
            ));

            // Suspended by the provider: still held, saying so.
            f.store
                .update_sender_quality(&f.sender, Some("RED"), Some(SenderStatus::Suspended), T0 + 7)
                .await
                .unwrap();
            assert_eq!(
                f.store
                    .campaign_by_id(&running.id)
                    .await
                    .unwrap()
                    .paused_detail
                    .as_deref(),
                Some("the sender is suspended")
            );

            // Active again: the held ones resume (or complete), the others stay.
            let active = f
                .store
                .update_sender_quality(&f.sender, None, Some(SenderStatus::Active), T0 + 8)
                .await
                .unwrap();
            assert_eq!(active.status.as_str(), "active");
            for id in [&running.id, &created.id, &scheduled.id] {
                let c = f.store.campaign_by_id(id).await.unwrap();
                assert_eq!(
                    (c.status, c.paused_reason, c.paused_detail),
                    (CampaignStatus::Running, None, None)
                );
            }
            let finished = f.store.campaign_by_id(&in_flight.id).await.unwrap();
            assert_eq!(
                (finished.status, finished.counts.sent),
                (CampaignStatus::Completed, 1)
            );
            assert_eq!(
                f.store
                    .list_notifications(&f.tenant, &in_flight.id)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            for id in [&by_user.id, &draft.id] {
                let c = f.store.campaign_by_id(id).await.unwrap();
                assert_eq!(
                    (c.status, c.paused_reason),
                    (CampaignStatus::Paused, Some(PausedReason::User))
                );
            }
            assert_eq!(
                f.store.senders_with_work(T0 + 9).await.unwrap(),
                vec![f.sender.clone()]
            );
            assert!(!f
                .store
                .claim(&lease, &ClaimRequest::new(10, 2), T0 + 9)
                .await
                .unwrap()
                .is_empty());

            // The same through a person's edits: suspended by the provider, active by a person.
            f.store
                .update_sender_quality(&f.sender, None, Some(SenderStatus::Suspended), T0 + 10)
                .await
                .unwrap();
            let held = f.store.campaign_by_id(&running.id).await.unwrap();
            assert_eq!((held.status, held.counts.claimed), (CampaignStatus::Paused, 0));
            set_sender_status(&f, "active", T0 + 11).await;
            assert_eq!(
                f.store.campaign_by_id(&running.id).await.unwrap().status,
                CampaignStatus::Running
            );
            // Another sender's status leaves these alone.
            let second = SenderRecord {
                id: pregon_domain::id::new_id("snd"),
                is_default: false,
                ..f.store.get_sender(&f.tenant, &f.sender).await.unwrap()
            };
            f.store.insert_sender(&second, &by()).await.unwrap();
            let patch = SenderPatch {
                status: Some(SenderStatus::Paused),
                ..SenderPatch::default()
            };
            f.store
                .update_sender(&f.tenant, &second.id, &patch, T0 + 12, &by())
                .await
                .unwrap();
            assert_eq!(
                f.store.campaign_by_id(&running.id).await.unwrap().status,
                CampaignStatus::Running
            );
        }

        #[tokio::test]
        async fn a_rate_card_is_replaced_whole_kept_per_tenant_and_audited() {
            use pregon_domain::{Micros, PricingCategory::*};
            let Some(f) = $factory().await else { return };
            assert_eq!(f.store.get_rate_card(&f.tenant).await.unwrap(), None);
            // No card: no estimate, no cost.
            let unpriced = f.campaign(2, 0, 5).await;
            let costs = f
                .store
                .campaign_costs(&f.tenant, std::slice::from_ref(&unpriced.id))
                .await
                .unwrap();
            assert!(costs.is_empty(), "{costs:?}");
            let first = rate_card("USD", &[("VE", Marketing, 0.0436), ("*", Utility, 0.008)]);
            f.store.put_rate_card(&f.tenant, &first, T0, &by()).await.unwrap();
            let read = f.store.get_rate_card(&f.tenant).await.unwrap().unwrap();
            assert_eq!(read, first);
            assert_eq!(
                read.price_for_country_code(Some("VE"), Marketing),
                Some(Micros(43_600))
            );
            // Replaced whole: the VE line is gone, not merged.
            let second = rate_card("EUR", &[("CO", Marketing, 0.0125)]);
            f.store
                .put_rate_card(&f.tenant, &second, T0 + 1, &by())
                .await
                .unwrap();
            let read = f.store.get_rate_card(&f.tenant).await.unwrap().unwrap();
            assert_eq!(read, second);
            assert_eq!(read.currency().as_str(), "EUR");
            assert_eq!(read.price_for_country_code(Some("VE"), Marketing), None);
            // Another tenant has none, and its own does not touch this one.
            let other = f.store.create_tenant("other", "s2", T0).await.unwrap().id;
            assert_eq!(f.store.get_rate_card(&other).await.unwrap(), None);
            f.store
                .put_rate_card(&other, &first, T0 + 2, &by())
                .await
                .unwrap();
            assert_eq!(f.store.get_rate_card(&f.tenant).await.unwrap().unwrap(), second);
            let audit = f
                .store
                .list_audit(
                    &f.tenant,
                    &AuditFilter {
                        action: Some(pregon_domain::AuditAction::PricingUpdate),
                    },
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap()
                .items;
            assert_eq!(audit.len(), 2, "two updates of this tenant, not the other's");
            assert_eq!(audit[0].details["currency"], "EUR");
            assert_eq!(audit[0].details["rates"], 1);
        }

        #[tokio::test]
        async fn a_campaign_is_estimated_at_import_and_billed_once_per_message_from_its_reports() {
            use pregon_domain::{CostSum, Micros, PricingCategory::*, PricingType::*};
            let Some(f) = $factory().await else { return };
            // The fixture's phones are Venezuelan (+58412…); the template is marketing.
            let card = rate_card(
                "USD",
                &[
                    ("VE", Marketing, 0.0436),
                    ("*", Marketing, 0.05),
                    ("*", Authentication, 0.03),
                ],
            );
            f.store.put_rate_card(&f.tenant, &card, T0, &by()).await.unwrap();
            let (c, ids) = sent_campaign(&f, 4).await;
            let cost = f
                .store
                .campaign_costs(&f.tenant, std::slice::from_ref(&c.id))
                .await
                .unwrap()
                .remove(&c.id)
                .unwrap();
            assert_eq!(cost.currency.as_ref().map(|c| c.as_str()), Some("USD"));
            assert_eq!(
                cost.estimated,
                Some(CostSum {
                    amount: Micros(4 * 43_600),
                    unpriced: 0
                })
            );
            assert_eq!((cost.billed, cost.billable_messages), (CostSum::default(), 0));
            // Skipped contacts are not estimated.
            let with_skips = f.campaign(1, 3, 5).await;
            let cost = f
                .store
                .campaign_costs(&f.tenant, std::slice::from_ref(&with_skips.id))
                .await
                .unwrap();
            assert_eq!(
                cost[&with_skips.id].estimated,
                Some(CostSum {
                    amount: Micros(43_600),
                    unpriced: 0
                })
            );

            let reports = vec![
                // Charged marketing (sent), then the same message's delivered and read.
                priced(&f, ids[0], Marketing, Regular, true),
                priced(&f, ids[0], Marketing, Regular, true),
                // Free: inside the customer-service window, and a free entry point.
                priced(&f, ids[1], Service, FreeCustomerService, false),
                priced(&f, ids[2], Marketing, FreeEntryPoint, true),
                // Charged as utility, which the card has no rate for: unknown, not zero.
                priced(&f, ids[3], Utility, Regular, true),
                // Not a message of ours.
                ReportedPricing {
                    provider_message_id: "wamid.nobody".into(),
                    ..priced(&f, 0, Marketing, Regular, true)
                },
            ];
            assert_eq!(f.store.record_pricing(&reports, T0 + 5).await.unwrap(), 4);
            // A later rate change and a replayed webhook change nothing billed.
            let dearer = rate_card("USD", &[("VE", Marketing, 0.09), ("*", Utility, 0.01)]);
            f.store
                .put_rate_card(&f.tenant, &dearer, T0 + 6, &by())
                .await
                .unwrap();
            assert_eq!(f.store.record_pricing(&reports, T0 + 7).await.unwrap(), 0);
            let cost = f
                .store
                .campaign_costs(&f.tenant, std::slice::from_ref(&c.id))
                .await
                .unwrap()
                .remove(&c.id)
                .unwrap();
            assert_eq!(
                cost.billable_messages, 2,
                "the free ones are not billable: {cost:?}"
            );
            assert_eq!(
                cost.billed,
                CostSum {
                    amount: Micros(43_600),
                    unpriced: 1
                }
            );
            assert_eq!(
                cost.estimated,
                Some(CostSum {
                    amount: Micros(4 * 43_600),
                    unpriced: 0
                }),
                "the estimate stays"
            );
            // Another tenant sees none of it.
            let other = f.store.create_tenant("other", "s2", T0).await.unwrap().id;
            assert!(f
                .store
                .campaign_costs(&other, std::slice::from_ref(&c.id))
                .await
                .unwrap()
                .is_empty());
        }
    };
}

mod sqlite {
    use super::*;

    async fn sqlite_store() -> Option<Fixture> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/store.db", dir.path().display());
        let store = pregon_store::open(&url).await.unwrap();
        Some(fixture(store, Box::new(dir)).await)
    }

    conformance!(sqlite_store);
}

mod postgres {
    use super::*;

    /// A store on a database of its own, dropped after the test.
    async fn postgres_store() -> Option<Fixture> {
        let db = support::TestDatabase::create().await?;
        let store = pregon_store::open(&db.url).await.unwrap();
        Some(fixture(store, Box::new(db)).await)
    }

    conformance!(postgres_store);
}
