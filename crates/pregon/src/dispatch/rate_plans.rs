//! Campaigns with their own rate plan (a rate below the sender's, a warm-up, random pauses):
//! each gets a [`Pacer`] that hands out departure slots, and the sender loop claims no more
//! of its messages than can leave within [`HORIZON`]. Claimed messages wait here for their
//! slot; everything else goes straight to the sender's own rate limiter, which every message
//! passes as well.

use std::collections::HashMap;
use std::time::Duration;

use pregon_domain::rate_plan::{Pacer, RatePlan};
use pregon_store::ClaimedMessage;

/// How far ahead a paced campaign's messages are claimed.
pub(crate) const HORIZON: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct Pacing {
    pacers: HashMap<String, Pacer>,
    /// Claimed messages of paced campaigns with their slots, soonest first.
    waiting: Vec<(Duration, ClaimedMessage)>,
}

impl Pacing {
    /// Whether the campaign is paced (a pacer exists for it).
    pub(crate) fn is_paced(&self, campaign_id: &str) -> bool {
        self.pacers.contains_key(campaign_id)
    }

    /// Paces a campaign from now on; `already_sent` continues its warm-up.
    pub(crate) fn add(&mut self, campaign_id: &str, plan: RatePlan, already_sent: u64) {
        self.pacers
            .entry(campaign_id.to_string())
            .or_insert_with(|| Pacer::new(plan, already_sent));
    }

    /// What each paced campaign may have claimed now.
    pub(crate) fn caps(&self, now: Duration) -> HashMap<String, usize> {
        self.pacers
            .iter()
            .map(|(id, pacer)| (id.clone(), pacer.slots_within(now, HORIZON)))
            .collect()
    }

    /// Gives a claimed message of a paced campaign its slot; hands it back when the campaign
    /// has no slot within the horizon (claimed before its pacer existed).
    pub(crate) fn offer(
        &mut self,
        campaign_id: &str,
        message: ClaimedMessage,
        now: Duration,
    ) -> Option<ClaimedMessage> {
        let Some(pacer) = self.pacers.get_mut(campaign_id) else {
            return Some(message);
        };
        if pacer.slots_within(now, HORIZON) == 0 {
            return Some(message);
        }
        let slot = pacer.reserve(now, &mut rand::thread_rng());
        let at = self.waiting.partition_point(|(s, _)| *s <= slot);
        self.waiting.insert(at, (slot, message));
        None
    }

    /// How many waiting messages are due at `now`.
    pub(crate) fn due(&self, now: Duration) -> usize {
        self.waiting.partition_point(|(slot, _)| *slot <= now)
    }

    /// Takes up to `n` due messages.
    pub(crate) fn take_due(&mut self, now: Duration, n: usize) -> Vec<ClaimedMessage> {
        let n = self.due(now).min(n);
        self.waiting.drain(..n).map(|(_, m)| m).collect()
    }

    /// The next slot of a waiting message.
    pub(crate) fn next_slot(&self) -> Option<Duration> {
        self.waiting.first().map(|(slot, _)| *slot)
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Every waiting message, for the queue on the way out.
    pub(crate) fn drain(&mut self) -> Vec<ClaimedMessage> {
        self.waiting.drain(..).map(|(_, m)| m).collect()
    }
}
