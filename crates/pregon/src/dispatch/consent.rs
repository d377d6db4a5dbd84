//! The last check before a batch is marked `sending`: a number that opted out after its
//! campaign was imported (or whose consent was withdrawn, for a campaign that requires
//! consent) is never sent to. Such messages become `skipped` (`opted_out`, `no_consent`),
//! with an event each and exact counters, in one lease-fenced write.

use std::collections::{HashMap, HashSet};

use pregon_domain::{SkipReason, TemplateCategory};
use pregon_store::{ClaimedMessage, Lease, Skip, StoreError};

use super::Dispatcher;

/// Per sender run: the tenant whose lists apply, and which campaigns require consent.
pub(crate) struct Gate {
    tenant_id: String,
    /// Campaign id → whether it requires consent (a campaign's settings do not change).
    requires_consent: HashMap<String, bool>,
    /// Template id → its category (`None`: not found).
    categories: HashMap<String, Option<TemplateCategory>>,
}

impl Gate {
    pub(crate) fn new(tenant_id: &str) -> Self {
        Gate {
            tenant_id: tenant_id.to_string(),
            requires_consent: HashMap::new(),
            categories: HashMap::new(),
        }
    }

    /// Returns the messages that may be sent; skips the others. One query for opt-outs, and
    /// one for opt-ins when a campaign in the batch requires consent.
    pub(crate) async fn admit(
        &mut self,
        d: &Dispatcher,
        lease: &Lease,
        picked: Vec<ClaimedMessage>,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        if picked.is_empty() {
            return Ok(picked);
        }
        let phones: Vec<String> = unique(picked.iter().map(|m| &m.phone));
        let opted_out = d.store.opted_out_among(&self.tenant_id, &phones).await?;
        let mut need_consent: Vec<&ClaimedMessage> = Vec::new();
        for m in &picked {
            if let Some(cid) = &m.campaign_id {
                if self.requires(d, cid).await? {
                    need_consent.push(m);
                }
            }
        }
        let opted_in: HashSet<String> = if need_consent.is_empty() {
            HashSet::new()
        } else {
            let phones = unique(need_consent.iter().map(|m| &m.phone));
            d.store.opted_in_among(&self.tenant_id, &phones).await?
        };
        let consent_ids: HashSet<i64> = need_consent.iter().map(|m| m.id).collect();
        let mut skips = Vec::new();
        let mut admitted = Vec::with_capacity(picked.len());
        for m in picked {
            let covered = match opted_out.get(&m.phone) {
                Some(scope) => scope.covers(self.category(d, &m.template_id).await?),
                None => false,
            };
            let reason = if covered {
                Some(SkipReason::OptedOut)
            } else if consent_ids.contains(&m.id) && !opted_in.contains(&m.phone) {
                Some(SkipReason::NoConsent)
            } else {
                None
            };
            match reason {
                Some(reason) => skips.push(Skip {
                    message_id: m.id,
                    reason,
                }),
                None => admitted.push(m),
            }
        }
        if !skips.is_empty() {
            let skipped = d.store.skip_claimed(lease, &skips, d.clock.now_millis()).await?;
            tracing::info!(
                sender = %lease.sender_id,
                skipped = skipped.len(),
                "skipped messages to numbers that opted out or lack consent"
            );
        }
        Ok(admitted)
    }

    /// A template's category (`None` when it is gone), read once per sender run: a marketing
    /// opt-out covers marketing templates only.
    async fn category(&mut self, d: &Dispatcher, template_id: &str) -> Result<Option<TemplateCategory>, StoreError> {
        if let Some(c) = self.categories.get(template_id) {
            return Ok(*c);
        }
        let c = match d.store.template_by_id(template_id).await {
            Ok(t) => Some(t.category),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        self.categories.insert(template_id.to_string(), c);
        Ok(c)
    }

    async fn requires(&mut self, d: &Dispatcher, campaign_id: &str) -> Result<bool, StoreError> {
        if let Some(r) = self.requires_consent.get(campaign_id) {
            return Ok(*r);
        }
        let c = d.store.campaign_by_id(campaign_id).await?;
        let r = c.settings.require_consent;
        self.requires_consent.insert(campaign_id.to_string(), r);
        Ok(r)
    }
}

fn unique<'a>(phones: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut seen = HashSet::new();
    phones.filter(|p| seen.insert(p.as_str())).cloned().collect()
}
