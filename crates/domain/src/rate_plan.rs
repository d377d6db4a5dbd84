//! A campaign's own rate plan, below the sender's rate: a fixed rate, a warm-up for a new
//! number, and a random pause between messages ("cautious mode").
//!
//! The sender's [`RateLimiter`](crate::rate::RateLimiter) still applies on top: a plan can
//! only slow a campaign down. A [`Pacer`] turns a plan into departure slots; time is passed
//! in as a [`Duration`] since any fixed origin, as for the rate limiter.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Highest `messages_per_second` a plan may set.
pub const MAX_MESSAGES_PER_SECOND: f64 = 100_000.0;
/// Longest interval of a warm-up tier, in ms (a day).
pub const MAX_INTERVAL_MS: u64 = 86_400_000;
/// Longest jitter, in ms (an hour).
pub const MAX_JITTER_MS: u64 = 3_600_000;

/// One step of a warm-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmupTier {
    /// Applies while fewer than `up_to` messages of the campaign were sent; None = from then on.
    #[serde(default)]
    pub up_to: Option<u64>,
    /// Least time between two messages while this tier applies.
    pub interval_ms: u64,
}

/// How fast one campaign may go, whatever its sender allows. Every part is optional; the
/// empty plan (the default) leaves the sender's rate alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RatePlan {
    /// A fixed rate for the campaign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_per_second: Option<f64>,
    /// Warm-up tiers, ascending `up_to`, the last one open-ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Vec<WarmupTier>>,
    /// Extra random pause between two messages of the campaign, uniform in [min, max] ms ("cautious mode").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<[u64; 2]>,
}

/// Why a rate plan was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RatePlanError {
    #[error("messages_per_second must be a number above 0 and at most 100000, got {0}")]
    BadRate(f64),
    #[error("warmup must have at least one tier")]
    EmptyWarmup,
    #[error("warmup tier {index}: interval_ms must be 1 to 86400000 (a day), got {interval_ms}")]
    BadInterval { index: usize, interval_ms: u64 },
    #[error("warmup tier {index}: up_to must be above 0 and above the previous tier's")]
    NotAscending { index: usize },
    #[error("warmup tier {index}: only the last tier may leave up_to out")]
    OpenEndedTooEarly { index: usize },
    #[error("the last warmup tier must leave up_to out (it applies from then on)")]
    LastTierBounded,
    #[error("jitter_ms must be [min, max] with min <= max <= 3600000 (an hour), got [{min}, {max}]")]
    BadJitter { min: u64, max: u64 },
}

impl RatePlan {
    /// The warm-up of a new number: first 100 messages 1.2 s apart, up to 500 0.8 s, up to 2,000 0.6 s, then 0.4 s.
    pub fn warmup_preset() -> Vec<WarmupTier> {
        vec![
            WarmupTier {
                up_to: Some(100),
                interval_ms: 1_200,
            },
            WarmupTier {
                up_to: Some(500),
                interval_ms: 800,
            },
            WarmupTier {
                up_to: Some(2_000),
                interval_ms: 600,
            },
            WarmupTier {
                up_to: None,
                interval_ms: 400,
            },
        ]
    }

    /// messages_per_second finite, > 0 and <= 100_000; tiers non-empty, ascending, last open-ended, interval_ms
    /// 1..=86_400_000; jitter min <= max <= 3_600_000.
    ///
    /// `up_to` must also be above 0 and strictly ascending (a tier that never applies is a
    /// mistake).
    pub fn validate(&self) -> Result<(), RatePlanError> {
        if let Some(rate) = self.messages_per_second {
            if !(rate.is_finite() && rate > 0.0 && rate <= MAX_MESSAGES_PER_SECOND) {
                return Err(RatePlanError::BadRate(rate));
            }
        }
        if let Some(tiers) = &self.warmup {
            let Some(last) = tiers.last() else {
                return Err(RatePlanError::EmptyWarmup);
            };
            let mut previous = 0;
            for (index, tier) in tiers.iter().enumerate() {
                if !(1..=MAX_INTERVAL_MS).contains(&tier.interval_ms) {
                    return Err(RatePlanError::BadInterval {
                        index,
                        interval_ms: tier.interval_ms,
                    });
                }
                match tier.up_to {
                    None if index + 1 < tiers.len() => return Err(RatePlanError::OpenEndedTooEarly { index }),
                    None => {}
                    Some(up_to) if up_to <= previous => return Err(RatePlanError::NotAscending { index }),
                    Some(up_to) => previous = up_to,
                }
            }
            if last.up_to.is_some() {
                return Err(RatePlanError::LastTierBounded);
            }
        }
        if let Some([min, max]) = self.jitter_ms {
            if min > max || max > MAX_JITTER_MS {
                return Err(RatePlanError::BadJitter { min, max });
            }
        }
        Ok(())
    }

    /// Whether the plan sets anything (an empty plan leaves the sender's rate alone).
    pub fn is_paced(&self) -> bool {
        self.messages_per_second.is_some() || self.warmup.is_some() || self.jitter_ms.is_some()
    }

    /// The minimum gap before the next message when `sent` messages of the campaign already went out: the largest of
    /// 1/messages_per_second and the warm-up tier's interval, plus a jitter draw.
    ///
    /// 1/messages_per_second is rounded up to the nanosecond, so that at an integer rate `r`
    /// no one-second window ever holds more than `r` messages. Parts an invalid plan gets
    /// wrong are read leniently: a rate that is not a positive number is ignored, a jitter
    /// given as [max, min] is read as [min, max].
    pub fn gap<R: Rng + ?Sized>(&self, sent: u64, rng: &mut R) -> Duration {
        let jitter = match self.jitter_ms {
            Some([a, b]) => Duration::from_millis(rng.gen_range(a.min(b)..=a.max(b))),
            None => Duration::ZERO,
        };
        self.base_gap(sent).saturating_add(jitter)
    }

    /// [`RatePlan::gap`] with the smallest jitter draw: the gap is never shorter than this.
    pub fn min_gap(&self, sent: u64) -> Duration {
        let jitter = self.jitter_ms.map_or(0, |[a, b]| a.min(b));
        self.base_gap(sent).saturating_add(Duration::from_millis(jitter))
    }

    /// The larger of 1/rate and the tier's interval, without jitter.
    fn base_gap(&self, sent: u64) -> Duration {
        let rate_gap = match self.messages_per_second {
            // `as` saturates: a tiny rate gives the longest Duration from_nanos can hold.
            Some(rate) if rate.is_finite() && rate > 0.0 => Duration::from_nanos((1e9 / rate).ceil() as u64),
            _ => Duration::ZERO,
        };
        let tier_gap = self
            .tier(sent)
            .map_or(Duration::ZERO, |t| Duration::from_millis(t.interval_ms));
        rate_gap.max(tier_gap)
    }

    /// The warm-up tier that applies after `sent` messages, if any.
    fn tier(&self, sent: u64) -> Option<&WarmupTier> {
        self.warmup
            .as_ref()?
            .iter()
            .find(|t| t.up_to.is_none_or(|up_to| sent < up_to))
    }
}

/// What the next slot must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Floor {
    /// Nothing reserved yet: the next slot may be now.
    Free,
    /// At least the gap after the last reserved slot.
    After(Duration),
    /// At or after this instant: the last slot, handed back for reuse.
    At(Duration),
}

/// Paces one campaign: hands out departure slots (offsets from an arbitrary start, as Duration) at least `gap` apart.
///
/// The gap before each slot is drawn when the slot is reserved, from the plan in force then
/// and the number of slots reserved (and not handed back) so far. Not thread-safe by design:
/// one dispatcher task owns it.
#[derive(Debug, Clone)]
pub struct Pacer {
    plan: RatePlan,
    sent: u64,
    floor: Floor,
}

impl Pacer {
    /// `already_sent`: messages of the campaign sent before (the warm-up goes on where it was).
    ///
    /// The first slot may be right away: the pacer does not know when those went out.
    pub fn new(plan: RatePlan, already_sent: u64) -> Self {
        Pacer {
            plan,
            sent: already_sent,
            floor: Floor::Free,
        }
    }

    /// Changes the plan. The next gap, counted from the last slot, follows the new plan; a
    /// slot handed back before the change is reused as it is.
    pub fn set_plan(&mut self, plan: RatePlan) {
        self.plan = plan;
    }

    /// The plan in force.
    pub fn plan(&self) -> &RatePlan {
        &self.plan
    }

    /// Reserves the next departure slot at or after `now`; slots are never closer than the gap.
    pub fn reserve<R: Rng + ?Sized>(&mut self, now: Duration, rng: &mut R) -> Duration {
        let slot = match self.floor {
            Floor::Free => now,
            Floor::At(at) => now.max(at),
            Floor::After(last) => now.max(last.saturating_add(self.plan.gap(self.sent, rng))),
        };
        self.sent = self.sent.saturating_add(1);
        self.floor = Floor::After(slot);
        slot
    }

    /// How many slots could be reserved before `now + horizon` (at least the one at/after now if it starts before
    /// the horizon end; 0 if the next slot is beyond it), without reserving. Used to claim no more than can go out
    /// soon. Jitter may make this an estimate: use the jitter minimum.
    ///
    /// With no gap at all (an empty plan) it is `usize::MAX`: the plan sets no limit.
    pub fn slots_within(&self, now: Duration, horizon: Duration) -> usize {
        let end = now.saturating_add(horizon);
        let first = match self.floor {
            Floor::Free => now,
            Floor::At(at) => now.max(at),
            Floor::After(last) => now.max(last.saturating_add(self.plan.min_gap(self.sent))),
        };
        if first >= end {
            return 0;
        }
        // Slots go at `t`, then one gap later each; the gap changes only between warm-up tiers.
        let (mut t, mut count, mut sent) = (first.as_nanos(), 1u128, self.sent.saturating_add(1));
        let end = end.as_nanos();
        loop {
            let gap = self.plan.min_gap(sent).as_nanos();
            if gap == 0 {
                return usize::MAX;
            }
            // Slots at t + gap, t + 2 gap, … before `end`, while this tier applies.
            let fit = (end - t - 1) / gap;
            let tier_end = self.plan.tier(sent).and_then(|tier| tier.up_to);
            let in_tier = tier_end.map_or(u128::MAX, |up_to| u128::from(up_to.saturating_sub(sent)));
            let k = fit.min(in_tier);
            count += k;
            t += k * gap;
            if k < in_tier {
                return usize::try_from(count).unwrap_or(usize::MAX);
            }
            sent = sent.saturating_add(u64::try_from(k).unwrap_or(u64::MAX));
        }
    }

    /// Hands back a reserved slot that was not used (message paused/cancelled). It no longer
    /// counts as sent; if it is the last slot reserved, the next reservation may take it again
    /// (at or after it), otherwise the gap it leaves stays unused. Returns whether the slot will
    /// be reused. Hand each slot back at most once.
    pub fn release(&mut self, slot: Duration) -> bool {
        self.sent = self.sent.saturating_sub(1);
        if self.floor == Floor::After(slot) {
            self.floor = Floor::At(slot);
            true
        } else {
            false
        }
    }

    /// Messages of the campaign counted as sent: `already_sent`, plus slots reserved, less
    /// slots handed back.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn preset() -> RatePlan {
        RatePlan {
            warmup: Some(RatePlan::warmup_preset()),
            ..RatePlan::default()
        }
    }

    fn rate(r: f64) -> RatePlan {
        RatePlan {
            messages_per_second: Some(r),
            ..RatePlan::default()
        }
    }

    #[test]
    fn the_preset_warms_up_in_four_steps() {
        let tiers = RatePlan::warmup_preset();
        let pairs: Vec<_> = tiers.iter().map(|t| (t.up_to, t.interval_ms)).collect();
        assert_eq!(
            pairs,
            vec![(Some(100), 1_200), (Some(500), 800), (Some(2_000), 600), (None, 400)]
        );
        let plan = preset();
        assert_eq!(plan.validate(), Ok(()));
        let mut r = rng();
        for (sent, gap) in [
            (0, 1_200),
            (99, 1_200),
            (100, 800),
            (499, 800),
            (500, 600),
            (1_999, 600),
            (2_000, 400),
        ] {
            assert_eq!(plan.gap(sent, &mut r), ms(gap), "after {sent}");
        }
        assert_eq!(plan.gap(u64::MAX, &mut r), ms(400));
    }

    #[test]
    fn validate_names_what_is_wrong() {
        use RatePlanError::*;
        assert_eq!(RatePlan::default().validate(), Ok(()));
        for bad in [0.0, -1.0, f64::INFINITY, 100_000.5] {
            assert_eq!(rate(bad).validate(), Err(BadRate(bad)));
        }
        assert!(matches!(rate(f64::NAN).validate(), Err(BadRate(r)) if r.is_nan()));
        assert_eq!(rate(100_000.0).validate(), Ok(()));
        assert_eq!(rate(0.001).validate(), Ok(()));

        let tiers = |t: &[(Option<u64>, u64)]| RatePlan {
            warmup: Some(
                t.iter()
                    .map(|&(up_to, interval_ms)| WarmupTier { up_to, interval_ms })
                    .collect(),
            ),
            ..RatePlan::default()
        };
        assert_eq!(tiers(&[]).validate(), Err(EmptyWarmup));
        assert_eq!(tiers(&[(None, 500)]).validate(), Ok(()));
        assert_eq!(
            tiers(&[(None, 0)]).validate(),
            Err(BadInterval {
                index: 0,
                interval_ms: 0
            })
        );
        assert_eq!(
            tiers(&[(Some(10), 1_000), (None, 86_400_001)]).validate(),
            Err(BadInterval {
                index: 1,
                interval_ms: 86_400_001
            })
        );
        assert_eq!(tiers(&[(Some(10), 1_000), (None, 86_400_000)]).validate(), Ok(()));
        assert_eq!(
            tiers(&[(Some(10), 900), (Some(10), 800), (None, 700)]).validate(),
            Err(NotAscending { index: 1 })
        );
        assert_eq!(
            tiers(&[(Some(0), 900), (None, 700)]).validate(),
            Err(NotAscending { index: 0 })
        );
        assert_eq!(
            tiers(&[(None, 900), (Some(10), 800)]).validate(),
            Err(OpenEndedTooEarly { index: 0 })
        );
        assert_eq!(
            tiers(&[(Some(10), 900), (Some(20), 800)]).validate(),
            Err(LastTierBounded)
        );

        let jitter = |j| RatePlan {
            jitter_ms: Some(j),
            ..RatePlan::default()
        };
        assert_eq!(jitter([0, 0]).validate(), Ok(()));
        assert_eq!(jitter([500, 3_600_000]).validate(), Ok(()));
        assert_eq!(jitter([2, 1]).validate(), Err(BadJitter { min: 2, max: 1 }));
        assert_eq!(
            jitter([0, 3_600_001]).validate(),
            Err(BadJitter { min: 0, max: 3_600_001 })
        );
        assert_eq!(
            BadJitter { min: 2, max: 1 }.to_string(),
            "jitter_ms must be [min, max] with min <= max <= 3600000 (an hour), got [2, 1]"
        );
    }

    #[test]
    fn is_paced_when_anything_is_set() {
        assert!(!RatePlan::default().is_paced());
        assert!(rate(5.0).is_paced());
        assert!(preset().is_paced());
        assert!(RatePlan {
            jitter_ms: Some([0, 10]),
            ..RatePlan::default()
        }
        .is_paced());
    }

    #[test]
    fn gap_takes_the_larger_of_rate_and_tier_plus_jitter() {
        let mut r = rng();
        assert_eq!(RatePlan::default().gap(0, &mut r), Duration::ZERO);
        assert_eq!(rate(10.0).gap(0, &mut r), ms(100));
        assert_eq!(
            rate(3.0).gap(0, &mut r),
            Duration::from_nanos(333_333_334),
            "rounded up"
        );
        assert_eq!(rate(0.5).gap(0, &mut r), ms(2_000));
        // Rate 2/s (500 ms) against the preset: the tier wins while it is slower.
        let both = RatePlan {
            messages_per_second: Some(2.0),
            ..preset()
        };
        assert_eq!(both.gap(0, &mut r), ms(1_200));
        assert_eq!(both.gap(600, &mut r), ms(600));
        assert_eq!(both.gap(5_000, &mut r), ms(500));

        let cautious = RatePlan {
            messages_per_second: Some(10.0),
            jitter_ms: Some([1_000, 3_000]),
            ..RatePlan::default()
        };
        let draws: Vec<Duration> = (0..200).map(|_| cautious.gap(0, &mut r)).collect();
        assert!(draws.iter().all(|g| (ms(1_100)..=ms(3_100)).contains(g)), "{draws:?}");
        assert!(
            draws.iter().any(|g| *g < ms(1_500)) && draws.iter().any(|g| *g > ms(2_700)),
            "spread out"
        );
        assert_eq!(cautious.min_gap(0), ms(1_100));
        let fixed = RatePlan {
            jitter_ms: Some([250, 250]),
            ..RatePlan::default()
        };
        assert_eq!(fixed.gap(0, &mut r), ms(250));
        // The same seed draws the same gaps.
        let (mut a, mut b) = (rng(), rng());
        assert_eq!(cautious.gap(0, &mut a), cautious.gap(0, &mut b));
    }

    #[test]
    fn invalid_plans_are_read_leniently() {
        let mut r = rng();
        assert_eq!(rate(f64::NAN).gap(0, &mut r), Duration::ZERO);
        assert_eq!(rate(-1.0).gap(0, &mut r), Duration::ZERO);
        let swapped = RatePlan {
            jitter_ms: Some([300, 100]),
            ..RatePlan::default()
        };
        assert!((ms(100)..=ms(300)).contains(&swapped.gap(0, &mut r)));
        assert_eq!(swapped.min_gap(0), ms(100));
        assert!(rate(1e-300).gap(0, &mut r) > Duration::from_secs(500 * 365 * 86_400));
    }

    #[test]
    fn serde_round_trip() {
        let plan = RatePlan {
            messages_per_second: Some(2.5),
            jitter_ms: Some([100, 900]),
            ..preset()
        };
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<RatePlan>(&json).unwrap(), plan);
        assert_eq!(serde_json::to_string(&RatePlan::default()).unwrap(), "{}");
        assert_eq!(serde_json::from_str::<RatePlan>("{}").unwrap(), RatePlan::default());
        let tier: WarmupTier = serde_json::from_str(r#"{"interval_ms": 400}"#).unwrap();
        assert_eq!(
            tier,
            WarmupTier {
                up_to: None,
                interval_ms: 400
            }
        );
    }

    #[test]
    fn the_warmup_goes_on_where_it_was() {
        let mut r = rng();
        let mut pacer = Pacer::new(preset(), 150);
        assert_eq!(
            pacer.reserve(ms(5_000), &mut r),
            ms(5_000),
            "the first slot is right away"
        );
        assert_eq!(pacer.reserve(ms(5_000), &mut r), ms(5_800), "0.8 s: 151 sent");
        assert_eq!(pacer.sent(), 152);

        let mut fresh = Pacer::new(preset(), 0);
        let slots: Vec<Duration> = (0..102).map(|_| fresh.reserve(Duration::ZERO, &mut r)).collect();
        assert_eq!(slots[1], ms(1_200));
        assert_eq!(slots[99], ms(99 * 1_200), "the first 100 messages 1.2 s apart");
        assert_eq!(slots[100] - slots[99], ms(800));
        assert_eq!(slots[101] - slots[100], ms(800));
    }

    #[test]
    fn reserve_never_goes_before_now() {
        let mut r = rng();
        let mut pacer = Pacer::new(rate(1.0), 0);
        assert_eq!(pacer.reserve(ms(0), &mut r), ms(0));
        assert_eq!(pacer.reserve(ms(10), &mut r), ms(1_000));
        assert_eq!(pacer.reserve(ms(5_000), &mut r), ms(5_000), "idle time is not saved up");
        assert_eq!(pacer.reserve(ms(5_000), &mut r), ms(6_000));
    }

    #[test]
    fn set_plan_applies_from_the_last_slot() {
        let mut r = rng();
        let mut pacer = Pacer::new(rate(1.0), 0);
        pacer.reserve(ms(0), &mut r);
        pacer.set_plan(rate(10.0));
        assert_eq!(pacer.reserve(ms(0), &mut r), ms(100));
        pacer.set_plan(rate(0.5));
        assert_eq!(pacer.reserve(ms(0), &mut r), ms(2_100));
        assert_eq!(pacer.plan(), &rate(0.5));
        pacer.set_plan(RatePlan::default());
        assert_eq!(
            pacer.reserve(ms(0), &mut r),
            ms(2_100),
            "unpaced: no gap, but never before the last slot"
        );
    }

    #[test]
    fn released_slots_are_reused_and_not_counted() {
        let mut r = rng();
        let mut pacer = Pacer::new(rate(1.0), 10);
        let a = pacer.reserve(ms(0), &mut r);
        let b = pacer.reserve(ms(0), &mut r);
        assert_eq!(pacer.sent(), 12);
        assert!(pacer.release(b));
        assert_eq!(pacer.sent(), 11);
        assert_eq!(pacer.reserve(ms(0), &mut r), b, "the last slot is taken again");
        assert_eq!(pacer.reserve(ms(0), &mut r), ms(2_000));
        assert!(!pacer.release(a), "an older slot leaves a hole");
        assert_eq!(pacer.sent(), 12);
        assert_eq!(pacer.reserve(ms(0), &mut r), ms(3_000));
        // Handing back the last two slots: only the last is reused, the one before stays a hole.
        let c = pacer.reserve(ms(0), &mut r);
        let d = pacer.reserve(ms(0), &mut r);
        assert!(pacer.release(d));
        assert!(!pacer.release(c));
        assert_eq!(pacer.sent(), 13);
        assert_eq!(pacer.reserve(ms(0), &mut r), d);
        assert_eq!(pacer.reserve(ms(0), &mut r), d + ms(1_000));
    }

    #[test]
    fn slots_within_counts_what_fits() {
        let mut r = rng();
        let mut pacer = Pacer::new(rate(10.0), 0);
        assert_eq!(pacer.slots_within(ms(0), ms(1_000)), 10, "0, 100, …, 900");
        assert_eq!(pacer.slots_within(ms(0), ms(1_001)), 11);
        assert_eq!(pacer.slots_within(ms(0), ms(1)), 1);
        assert_eq!(pacer.slots_within(ms(0), Duration::ZERO), 0);
        pacer.reserve(ms(0), &mut r);
        assert_eq!(pacer.slots_within(ms(0), ms(100)), 0, "the next slot is at 100 ms");
        assert_eq!(pacer.slots_within(ms(0), ms(101)), 1);
        assert_eq!(
            Pacer::new(RatePlan::default(), 0).slots_within(ms(0), ms(1)),
            usize::MAX
        );

        // Across warm-up tiers: 98 and 99 sent → slots at 0, 1.2 s, then 0.8 s apart.
        let warm = Pacer::new(preset(), 98);
        assert_eq!(warm.slots_within(ms(0), ms(1_201)), 2);
        assert_eq!(warm.slots_within(ms(0), ms(2_001)), 3);
        assert_eq!(warm.slots_within(ms(0), ms(2_000)), 2);
        // Jitter counts at its minimum.
        let cautious = Pacer::new(
            RatePlan {
                jitter_ms: Some([500, 5_000]),
                ..rate(10.0)
            },
            0,
        );
        assert_eq!(cautious.slots_within(ms(0), ms(1_201)), 3);
        // Huge horizons at high rates do not loop message by message.
        assert_eq!(
            Pacer::new(rate(100_000.0), 0).slots_within(ms(0), Duration::from_secs(3_600)),
            360_000_000
        );
    }

    fn any_plan() -> impl Strategy<Value = RatePlan> {
        let rate = prop::option::of(prop_oneof![0.5f64..50.0, (1u32..200).prop_map(f64::from)]);
        let tiers = prop::option::of(prop::collection::vec((1u64..40, 1u64..3_000), 0..4).prop_map(|steps| {
            let mut up_to = 0;
            let mut tiers: Vec<WarmupTier> = steps
                .into_iter()
                .map(|(step, interval_ms)| {
                    up_to += step;
                    WarmupTier {
                        up_to: Some(up_to),
                        interval_ms,
                    }
                })
                .collect();
            tiers.push(WarmupTier {
                up_to: None,
                interval_ms: 1 + up_to * 7 % 900,
            });
            tiers
        }));
        (rate, tiers).prop_map(|(messages_per_second, warmup)| RatePlan {
            messages_per_second,
            warmup,
            jitter_ms: None,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Without jitter, a slot comes exactly the plan's gap after the previous one unless
        /// `now` is later, and never before `now`; with jitter, at least the gap's minimum.
        #[test]
        fn slots_keep_the_gap_and_never_precede_now(
            plan in any_plan(),
            jitter in prop::option::of((0u64..500, 0u64..500)),
            already_sent in 0u64..120,
            advances in prop::collection::vec(prop_oneof![Just(0u64), 0u64..3_000_000], 1..150),
            seed in any::<u64>(),
        ) {
            prop_assert_eq!(plan.validate(), Ok(()));
            let plan = RatePlan { jitter_ms: jitter.map(|(a, b)| [a, a + b]), ..plan };
            let mut r = StdRng::seed_from_u64(seed);
            let mut pacer = Pacer::new(plan.clone(), already_sent);
            let mut now = Duration::ZERO;
            let mut last: Option<Duration> = None;
            for advance_us in advances {
                now += Duration::from_micros(advance_us);
                let sent = pacer.sent();
                let predicted = pacer.slots_within(now, Duration::from_secs(3));
                let slot = pacer.reserve(now, &mut r);
                prop_assert!(slot >= now);
                if plan.jitter_ms.is_none() {
                    prop_assert_eq!(predicted > 0, slot < now + Duration::from_secs(3));
                }
                if let Some(last) = last {
                    let gap = slot - last;
                    prop_assert!(gap >= plan.min_gap(sent), "gap {gap:?} after {sent}");
                    if plan.jitter_ms.is_none() && slot > now {
                        prop_assert_eq!(gap, plan.base_gap(sent));
                    }
                    if let Some([_, max]) = plan.jitter_ms {
                        prop_assert!(slot == now || gap <= plan.base_gap(sent) + ms(max));
                    }
                }
                last = Some(slot);
            }
        }

        /// At an integer rate `r`, no half-open one-second window holds more than `r` slots,
        /// however callers ask, releases included.
        #[test]
        fn never_more_than_the_rate_in_any_one_second_window(
            r in 1u32..300,
            already_sent in 0u64..3_000,
            warmup in any::<bool>(),
            steps in prop::collection::vec((0u64..20_000, any::<bool>()), 1..600),
        ) {
            let plan = RatePlan {
                messages_per_second: Some(f64::from(r)),
                warmup: warmup.then(RatePlan::warmup_preset),
                jitter_ms: None,
            };
            let mut rng = rng();
            let mut pacer = Pacer::new(plan, already_sent);
            let mut now = Duration::ZERO;
            let mut slots: Vec<Duration> = Vec::new();
            for (advance_us, release) in steps {
                now += Duration::from_micros(advance_us);
                let slot = pacer.reserve(now, &mut rng);
                if release {
                    pacer.release(slot);
                } else {
                    slots.push(slot);
                }
            }
            prop_assert!(slots.windows(2).all(|w| w[0] <= w[1]));
            let mut j = 0;
            for i in 0..slots.len() {
                j = j.max(i);
                while j < slots.len() && slots[j] < slots[i] + Duration::from_secs(1) {
                    j += 1;
                }
                prop_assert!(j - i <= r as usize, "{} slots in one second at rate {r}", j - i);
            }
        }

        /// Without jitter, slots_within is exact: it counts the slots that reserving at `now`
        /// over and over would hand out before the horizon's end.
        #[test]
        fn slots_within_matches_reserving(
            plan in any_plan(),
            already_sent in 0u64..120,
            reserved in 0usize..5,
            horizon_ms in 0u64..20_000,
        ) {
            let mut r = rng();
            let mut pacer = Pacer::new(plan, already_sent);
            let now = ms(1_000);
            for _ in 0..reserved {
                pacer.reserve(now, &mut r);
            }
            let predicted = pacer.slots_within(now, ms(horizon_ms));
            let end = now + ms(horizon_ms);
            let mut trial = pacer.clone();
            let mut actual = 0;
            while actual <= 100_000 && trial.reserve(now, &mut r) < end {
                actual += 1;
            }
            if predicted == usize::MAX {
                prop_assert!(actual > 100_000);
            } else {
                prop_assert_eq!(predicted, actual);
            }
        }
    }
}
