//! What an attempt needs to know besides its message: the template it renders and its
//! campaign's rules (retry policy, rate plan, recipients' window). Each is read from the store
//! once per sender run and shared by every message that needs it; the sender loop
//! ([`super::sender`]) and the checks before `sending` ([`super::limits`]) both read them here.

use std::collections::HashMap;
use std::sync::Arc;

use pregon_domain::{RatePlan, RecipientWindow, RetryPolicy, Template};
use pregon_store::{ClaimedMessage, TemplateRecord};

use super::Dispatcher;

/// What an attempt needs to know about its campaign.
pub(crate) struct CampaignContext {
    pub retry: RetryPolicy,
    /// Single API messages have no campaign to pause; a sender error retries them instead.
    pub is_campaign: bool,
    /// The campaign's own rate plan, and how many of its messages went out before.
    pub rate_plan: Option<(RatePlan, u64)>,
    /// A sending window kept in each recipient's own time zone.
    pub recipient_window: Option<RecipientWindow>,
}

/// Everything one attempt needs beside its message, shared.
pub(crate) struct Prepared {
    pub template: Arc<(TemplateRecord, Template)>,
    pub campaign: Arc<CampaignContext>,
}

/// Templates by id, parsed, as loaded during one sender run.
pub(crate) type Templates = HashMap<String, Arc<(TemplateRecord, Template)>>;

/// Campaign contexts by campaign id (`None`: single messages), as loaded during one sender run.
pub(crate) type Campaigns = HashMap<Option<String>, Arc<CampaignContext>>;

/// Loads (once per sender run) what a message's attempt needs. The error is the reason the
/// attempt fails with (`render`).
pub(crate) async fn prepare(
    d: &Dispatcher,
    message: &ClaimedMessage,
    templates: &mut Templates,
    campaigns: &mut Campaigns,
) -> Result<Prepared, String> {
    let template = match templates.get(&message.template_id) {
        Some(t) => t.clone(),
        None => {
            let record = d
                .store
                .template_by_id(&message.template_id)
                .await
                .map_err(|e| format!("template: {e}"))?;
            let parsed =
                Template::parse(&record.body, record.header_image.as_deref()).map_err(|e| format!("template: {e}"))?;
            let t = Arc::new((record, parsed));
            templates.insert(message.template_id.clone(), t.clone());
            t
        }
    };
    let campaign = context_for(d, &message.campaign_id, campaigns).await?;
    Ok(Prepared { template, campaign })
}

/// Loads (once per sender run) what sending a campaign's messages needs to know.
pub(crate) async fn context_for(
    d: &Dispatcher,
    campaign_id: &Option<String>,
    campaigns: &mut Campaigns,
) -> Result<Arc<CampaignContext>, String> {
    if let Some(c) = campaigns.get(campaign_id) {
        return Ok(c.clone());
    }
    let ctx = match campaign_id {
        None => CampaignContext {
            retry: RetryPolicy::default(),
            is_campaign: false,
            rate_plan: None,
            recipient_window: None,
        },
        Some(id) => {
            let c = d.store.campaign_by_id(id).await.map_err(|e| format!("campaign: {e}"))?;
            let n = &c.counts;
            let already_sent = (n.sending + n.sent + n.delivered + n.read + n.failed + n.unknown).max(0) as u64;
            CampaignContext {
                retry: c.settings.retry.clone(),
                is_campaign: true,
                rate_plan: c.settings.rate_plan().map(|plan| (plan.clone(), already_sent)),
                recipient_window: c.settings.recipient_window(),
            }
        }
    };
    let ctx = Arc::new(ctx);
    campaigns.insert(campaign_id.clone(), ctx.clone());
    Ok(ctx)
}
