//! One owned sender: claim, pace, mark `sending`, request, report.
//!
//! [`run`] holds the lease (renewed beside it) while a [`SenderRun`] sends, one named step
//! after another: refresh the sender's settings, claim and sort the claim into the buffer
//! and the paced campaigns' slots, wait for a grant (the provider's hold, the requests in
//! flight, the rate limiter), pick, screen (opt-outs and consent, windows, pair gap, daily
//! limit), mark `sending`, start the requests, claim ahead; and at the end wind down. Each
//! request runs in a task of its own and reports its outcome to the group-committing writer
//! ([`super::outcome`]).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pregon_domain::{FailureReason, PausedReason, RateLimiter, SkipReason};
use pregon_providers::classify::ErrorReason;
use pregon_providers::{Credentials, OutboundMessage, Provider, ProviderError};
use pregon_store::{ClaimRequest, ClaimedMessage, Lease, Millis, Outcome, OutcomeKind, SenderRecord, StoreError};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::consent::Gate;
use super::context::{context_for, prepare, CampaignContext, Campaigns, Prepared, Templates};
use super::limits::{hold_back, Held, PairGap};
use super::outcome::{write_outcomes, CampaignEffect, CampaignRefusal, ProviderOptOut, Report};
use super::rate_plans::Pacing;
use super::Dispatcher;
use crate::metrics::{AttemptClass, LeaseChange};

/// How long a new owner of a previously held lease waits before sending: one rate window.
const TAKEOVER_HOLD: Duration = Duration::from_secs(1);

/// How often a sending task re-reads its sender's settings.
const SENDER_REFRESH: Duration = Duration::from_secs(2);

/// Longest a provider's throttling holds a sender off at once.
const MAX_HOLD: Duration = Duration::from_secs(300);

/// What the provider request needs to know about the sender.
struct Wire {
    /// The sender's own number (Twilio's `From`).
    from: String,
    /// Where the provider should post status updates, when pregon has a public URL.
    status_callback: Option<String>,
    /// Who sends, for the metrics' labels.
    sender_id: String,
    provider: pregon_domain::ProviderKind,
}

impl Wire {
    fn of(d: &Dispatcher, sender: &SenderRecord) -> Arc<Self> {
        Arc::new(Wire {
            from: sender.phone_number.clone(),
            status_callback: d.config.status_callback(sender.provider),
            sender_id: sender.id.clone(),
            provider: sender.provider,
        })
    }
}

/// A sender holding off because its provider asked it to slow down.
#[derive(Default)]
struct Hold {
    until: Mutex<Option<Instant>>,
    /// Throttling answers in a row, each after the previous hold ended (a success resets
    /// it): every one doubles the hold.
    streak: AtomicU32,
}

impl Hold {
    fn until(&self) -> Option<Instant> {
        *self.until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds off for `wait`, doubled per throttling answer in a row when `escalate`; returns
    /// the hold (never past [`MAX_HOLD`]).
    fn hold(&self, wait: Duration, escalate: bool) -> Duration {
        let now = Instant::now();
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        let wait = if escalate {
            // Answers to requests made before the current hold began do not escalate it.
            let streak = if until.is_none_or(|u| u <= now) {
                self.streak.fetch_add(1, Ordering::Relaxed) + 1
            } else {
                self.streak.load(Ordering::Relaxed).max(1)
            };
            wait.saturating_mul(1 << (streak - 1).min(10))
        } else {
            wait
        }
        .min(MAX_HOLD);
        let end = now + wait;
        *until = Some(until.map_or(end, |cur| cur.max(end)));
        wait
    }

    fn succeeded(&self) {
        if self.streak.load(Ordering::Relaxed) != 0 {
            self.streak.store(0, Ordering::Relaxed);
        }
    }
}

/// Runs a sender until `until` (its work done, or nothing due), the lease is lost, or shutdown.
#[tracing::instrument(name = "sender", skip_all, fields(sender = %lease.sender_id, epoch = lease.epoch))]
pub(crate) async fn run(d: Arc<Dispatcher>, lease: Lease, until: Until, stop: CancellationToken) {
    let lost = CancellationToken::new();
    let heartbeat_stop = CancellationToken::new();
    let heartbeat = tokio::spawn(keep_lease(
        d.clone(),
        lease.clone(),
        lost.clone(),
        heartbeat_stop.clone(),
    ));
    // A lease that had an owner before may have been sending until a moment ago: our limiter
    // knows nothing of those sends, so wait out one rate window before the first of ours.
    if lease.epoch > 1 {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = lost.cancelled() => {}
            _ = tokio::time::sleep(TAKEOVER_HOLD) => {}
        }
    }
    if let Err(e) = send_loop(&d, &lease, until, &stop, &lost).await {
        tracing::warn!(error = %e, sender = %lease.sender_id, "sender loop ended with an error");
    }
    heartbeat_stop.cancel();
    let _ = heartbeat.await;
    if !lost.is_cancelled() {
        if let Err(e) = d.store.release_lease(&lease).await {
            tracing::warn!(error = %e, sender = %lease.sender_id, "releasing the lease failed");
        }
    }
    tracing::info!(sender = %lease.sender_id, lost = lost.is_cancelled(), "sender released");
    let change = if lost.is_cancelled() {
        LeaseChange::lost
    } else {
        LeaseChange::released
    };
    d.metrics.lease_changed(&lease.sender_id, change);
    d.metrics.sender_gone(&lease.sender_id);
}

/// Renews the lease every third of its lifetime; cancels `lost` when it is gone.
async fn keep_lease(d: Arc<Dispatcher>, lease: Lease, lost: CancellationToken, stop: CancellationToken) {
    let ttl = d.config.lease_ttl;
    let every = (ttl / 3).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match d
            .store
            .renew_lease(&lease, ttl.as_millis() as i64, d.clock.now_millis())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(sender = %lease.sender_id, "lost the sender lease; stopping at once");
                lost.cancel();
                return;
            }
            Err(e) => tracing::warn!(error = %e, "lease renewal failed; retrying"),
        }
    }
}

async fn pause_sender(d: &Dispatcher, sender_id: &str, detail: &str) {
    let now = d.clock.now_millis();
    match d
        .store
        .pause_sender_campaigns(sender_id, PausedReason::SenderError, Some(detail), now)
        .await
    {
        Ok(ids) if !ids.is_empty() => {
            tracing::error!(sender = sender_id, campaigns = ?ids, detail, "paused the sender's campaigns")
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "pausing the sender's campaigns failed"),
    }
}

fn provider_for(d: &Dispatcher, sender: &SenderRecord) -> Result<Arc<dyn Provider>, String> {
    let plain = d.master_key.open(&sender.credentials).map_err(|e| e.to_string())?;
    let credentials: Credentials =
        serde_json::from_slice(&plain).map_err(|e| format!("stored credentials are unreadable: {e}"))?;
    pregon_providers::build(
        sender.provider,
        &credentials,
        sender.base_url.as_deref(),
        d.http.clone(),
        d.config.sandbox_latency,
    )
    .map_err(|e| e.to_string())
}

/// When a sender's run ends by itself, short of shutdown or a lost lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Once the sender has no work at all: no running campaign, no due single message. The
    /// dispatcher's own loop runs senders so.
    NoWork,
    /// Once nothing is due now: nothing is buffered, paced or in flight, and a claim found
    /// nothing. [`Dispatcher::run_once`] runs senders so.
    NothingDue,
}

/// Sends for a leased sender until `until`, shutdown or the lease is lost, then winds down.
async fn send_loop(
    d: &Arc<Dispatcher>,
    lease: &Lease,
    until: Until,
    stop: &CancellationToken,
    lost: &CancellationToken,
) -> Result<(), StoreError> {
    let Some(mut run) = SenderRun::begin(d, lease, until, stop, lost).await? else {
        return Ok(());
    };
    let result = run.send().await;
    run.wind_down(result).await
}

/// One run of a sender: what its loop keeps from one step to the next.
struct SenderRun<'a> {
    d: &'a Arc<Dispatcher>,
    lease: &'a Lease,
    until: Until,
    stop: &'a CancellationToken,
    lost: &'a CancellationToken,
    /// The sender as last read ([`SENDER_REFRESH`]).
    sender: SenderRecord,
    provider: Arc<dyn Provider>,
    wire: Arc<Wire>,
    /// Grants sends at the sender's rate.
    limiter: RateLimiter,
    /// The same rule again at the moment each request leaves: the durable `sending` write
    /// between a grant and the requests takes a varying time, which would otherwise let
    /// grants made apart leave together. The provider measures when requests arrive.
    departures: RateLimiter,
    /// Enough requests in flight to hold the rate through 2 s of provider latency.
    max_in_flight: usize,
    in_flight: Arc<Semaphore>,
    /// About a quarter second of sending: claimed at a time, little to hand back on a pause.
    batch: usize,
    hold: Arc<Hold>,
    /// Where attempts send their reports, for the group-committing writer.
    reports: mpsc::UnboundedSender<Report>,
    writer: JoinHandle<()>,
    /// Up while the writer cannot record outcomes: nothing is claimed or sent meanwhile.
    outcomes_stuck: watch::Receiver<bool>,
    /// When the run began: the origin of the limiters' and the pacers' times.
    start: Instant,
    /// Claimed messages of unpaced campaigns (and single messages), in claim order.
    buffer: VecDeque<ClaimedMessage>,
    templates: Templates,
    campaigns: Campaigns,
    /// Claims so far: rotates the round-robin between campaigns of equal priority.
    round: u64,
    gate: Gate,
    pacing: Pacing,
    pairs: PairGap,
    refreshed: Instant,
    /// The next claim, started as soon as a batch's requests are on their way, so that its
    /// database round trip overlaps them instead of following them.
    next_claim: Option<JoinHandle<Result<Vec<ClaimedMessage>, StoreError>>>,
}

impl<'a> SenderRun<'a> {
    /// Reads the sender and starts the outcome writer; `None` (its campaigns paused) when
    /// the sender's credentials cannot make a provider.
    async fn begin(
        d: &'a Arc<Dispatcher>,
        lease: &'a Lease,
        until: Until,
        stop: &'a CancellationToken,
        lost: &'a CancellationToken,
    ) -> Result<Option<SenderRun<'a>>, StoreError> {
        let sender = d.store.sender_by_id(&lease.sender_id).await?;
        let provider = match provider_for(d, &sender) {
            Ok(p) => p,
            Err(detail) => {
                pause_sender(d, &sender.id, &detail).await;
                return Ok(None);
            }
        };
        // The sender's own rate, or what its number is granted when it follows the provider.
        let rate = sender.rate();
        let max_in_flight = d
            .config
            .max_in_flight
            .unwrap_or(((rate * 2.0).ceil() as usize).clamp(4, 4096));
        let batch = ((rate / 4.0).ceil() as usize).clamp(1, 1000);
        let wire = Wire::of(d, &sender);
        let (reports, rx) = mpsc::unbounded_channel::<Report>();
        let (stuck, outcomes_stuck) = watch::channel(false);
        let writer = tokio::spawn(write_outcomes(
            d.clone(),
            lease.clone(),
            sender.tenant_id.clone(),
            rx,
            stop.clone(),
            stuck,
        ));
        d.metrics.set_configured_rate(&sender.id, rate);
        tracing::info!(sender = %sender.id, rate, max_in_flight, batch, "sending");
        Ok(Some(SenderRun {
            d,
            lease,
            until,
            stop,
            lost,
            gate: Gate::new(&sender.tenant_id),
            sender,
            provider,
            wire,
            limiter: RateLimiter::new(rate),
            departures: RateLimiter::new(rate),
            max_in_flight,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            batch,
            hold: Arc::new(Hold::default()),
            reports,
            writer,
            outcomes_stuck,
            start: Instant::now(),
            buffer: VecDeque::new(),
            templates: Templates::new(),
            campaigns: Campaigns::new(),
            round: 0,
            pacing: Pacing::default(),
            pairs: PairGap::default(),
            refreshed: Instant::now(),
            next_claim: None,
        }))
    }

    fn stopped(&self) -> bool {
        self.stop.is_cancelled() || self.lost.is_cancelled()
    }

    /// The loop: claim, wait for the limits, check, mark `sending`, request; until the run
    /// is over. An error ends it (the lease lost, the store unreachable).
    async fn send(&mut self) -> Result<(), StoreError> {
        loop {
            if self.stopped() {
                return Ok(());
            }
            if *self.outcomes_stuck.borrow() {
                self.wait_for_outcomes().await;
                continue;
            }
            let now = self.d.clock.now_millis();
            if self.refreshed.elapsed() >= SENDER_REFRESH && !self.refresh_sender().await? {
                return Ok(());
            }
            let mut claimed = None;
            if self.buffer.len() <= self.batch / 2 {
                claimed = Some(self.claim(now).await?);
            }
            let due_paced = self.pacing.due(self.start.elapsed());
            if self.buffer.is_empty() && due_paced == 0 {
                if self.is_over(now, claimed).await? {
                    return Ok(());
                }
                self.wait_for_work().await;
                continue;
            }
            let Some((n, elapsed)) = self.grant(due_paced).await else {
                continue;
            };
            let picked = self.pick(n, elapsed);
            let held = self.screen(picked).await?;
            let (picked, moved) = self.mark_sending(held).await?;
            self.start_requests(picked, &moved).await?;
            self.claim_ahead();
        }
    }

    /// Picks up edits to the sender (rate, credentials) made while it sends. False when the
    /// run is over: the sender was paused or suspended (the store claims nothing for it
    /// either; what is in flight finishes and the claimed rest goes back), or its new
    /// credentials cannot make a provider (its campaigns pause).
    async fn refresh_sender(&mut self) -> Result<bool, StoreError> {
        let d = self.d;
        self.refreshed = Instant::now();
        self.pairs.forget_before(d.config.pair_gap, self.refreshed);
        let fresh = d.store.sender_by_id(&self.sender.id).await?;
        if !fresh.status.is_active() {
            tracing::info!(sender = %fresh.id, status = %fresh.status, "sender stopped; releasing it");
            return Ok(false);
        }
        if fresh.updated_at != self.sender.updated_at {
            match provider_for(d, &fresh) {
                Ok(p) => self.provider = p,
                Err(detail) => {
                    pause_sender(d, &fresh.id, &detail).await;
                    return Ok(false);
                }
            }
            // A new cap, or (following the provider) a new throughput level.
            let rate = fresh.rate();
            if rate != self.sender.rate() {
                self.limiter.set_rate(rate);
                self.departures.set_rate(rate);
                d.metrics.set_configured_rate(&fresh.id, rate);
                tracing::info!(sender = %fresh.id, rate, "sender rate changed");
            }
            self.wire = Wire::of(d, &fresh);
            self.sender = fresh;
        }
        Ok(true)
    }

    /// The next claim: what the buffer lacks of a batch, paced campaigns up to their slots.
    fn claim_request(&self) -> ClaimRequest {
        ClaimRequest {
            limit: self.batch - self.buffer.len(),
            round: self.round,
            caps: self.pacing.caps(self.start.elapsed()),
        }
    }

    /// Claims (or takes the claim made ahead) and sorts what came: paced campaigns' messages
    /// wait for their slots, the rest join the buffer. Returns how many came.
    async fn claim(&mut self, now: Millis) -> Result<usize, StoreError> {
        let fresh = match self.next_claim.take() {
            Some(claim) => joined(claim.await)?,
            None => {
                let request = self.claim_request();
                self.d.store.claim(self.lease, &request, now).await?
            }
        };
        self.round += 1;
        let claimed = fresh.len();
        // Any claimed beyond a paced campaign's slots (a campaign seen for the first time)
        // go back to the queue.
        let mut over = Vec::new();
        for message in fresh {
            let Some(cid) = message.campaign_id.clone() else {
                self.buffer.push_back(message);
                continue;
            };
            if !self.campaigns.contains_key(&message.campaign_id) {
                if let Ok(ctx) = context_for(self.d, &message.campaign_id, &mut self.campaigns).await {
                    if let Some((plan, sent)) = &ctx.rate_plan {
                        self.pacing.add(&cid, plan.clone(), *sent);
                    }
                }
            }
            if self.pacing.is_paced(&cid) {
                if let Some(back) = self.pacing.offer(&cid, message, self.start.elapsed()) {
                    over.push(back.id);
                }
            } else {
                self.buffer.push_back(message);
            }
        }
        if !over.is_empty() {
            self.d
                .store
                .release_claimed(self.lease, &over, self.d.clock.now_millis())
                .await?;
        }
        Ok(claimed)
    }

    /// With nothing to send: whether the run is over. Nothing may wait here (paced) or be
    /// in flight; then the sender must have no work left ([`Until::NoWork`]), or the claim
    /// just made (`claimed`) must have found nothing ([`Until::NothingDue`]).
    async fn is_over(&self, now: Millis, claimed: Option<usize>) -> Result<bool, StoreError> {
        if !self.pacing.is_idle() || self.in_flight.available_permits() != self.max_in_flight {
            return Ok(false);
        }
        // Asked whatever `until` says: it also completes campaigns left with nothing to send.
        let has_work = self.d.store.sender_has_work(&self.sender.id, now).await?;
        Ok(!has_work || (self.until == Until::NothingDue && claimed == Some(0)))
    }

    /// Waits for the next paced slot, new work, or a poll interval, whichever comes first.
    async fn wait_for_work(&self) {
        let poll = self.d.config.poll_interval;
        let wait = self
            .pacing
            .next_slot()
            .map(|slot| slot.saturating_sub(self.start.elapsed()))
            .unwrap_or(poll)
            .min(poll);
        tokio::select! {
            _ = self.stop.cancelled() => {}
            _ = self.lost.cancelled() => {}
            _ = self.d.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }

    /// Waits while the outcome writer cannot record what was sent (the database is full,
    /// read-only or unreachable), or for the run to stop.
    async fn wait_for_outcomes(&mut self) {
        let mut stuck = self.outcomes_stuck.clone();
        tokio::select! {
            _ = self.stop.cancelled() => {}
            _ = self.lost.cancelled() => {}
            _ = stuck.wait_for(|stuck| !*stuck) => {}
        }
    }

    /// How many messages may leave now (and the moment that was decided), by the provider's
    /// hold, the requests in flight and the rate limiter; `None` after waiting for whichever
    /// of them said no, for the loop to look again.
    async fn grant(&mut self, due_paced: usize) -> Option<(usize, Duration)> {
        if let Some(until) = self.hold.until().filter(|u| *u > Instant::now()) {
            tokio::select! {
                _ = self.stop.cancelled() => {}
                _ = self.lost.cancelled() => {}
                _ = tokio::time::sleep_until(until) => {}
            }
            return None;
        }
        let slots = self.in_flight.available_permits();
        if slots == 0 {
            tokio::select! {
                _ = self.stop.cancelled() => {}
                _ = self.lost.cancelled() => {}
                permit = self.in_flight.acquire() => drop(permit),
            }
            return None;
        }
        let elapsed = self.start.elapsed();
        let n = self
            .limiter
            .acquire(elapsed, (self.buffer.len() + due_paced).min(slots));
        if n == 0 {
            let ready = self.start + self.limiter.next_available(elapsed);
            tokio::select! {
                _ = self.stop.cancelled() => {}
                _ = self.lost.cancelled() => {}
                _ = tokio::time::sleep_until(ready) => {}
            }
            return None;
        }
        Some((n, elapsed))
    }

    /// Takes `n` granted messages: paced ones whose slot has come first, then the buffer's.
    fn pick(&mut self, n: usize, elapsed: Duration) -> Vec<ClaimedMessage> {
        let mut picked = self.pacing.take_due(elapsed, n);
        let rest = (n - picked.len()).min(self.buffer.len());
        picked.extend(self.buffer.drain(..rest));
        picked
    }

    /// The checks just before sending: opt-outs (and consent, where required), then the
    /// recipients' windows, the pair gap and the daily limit. What fails them is skipped or
    /// deferred; the rest may leave.
    async fn screen(&mut self, picked: Vec<ClaimedMessage>) -> Result<Held, StoreError> {
        let picked = self.gate.admit(self.d, self.lease, picked).await?;
        for m in &picked {
            if !self.campaigns.contains_key(&m.campaign_id) {
                let _ = context_for(self.d, &m.campaign_id, &mut self.campaigns).await;
            }
        }
        hold_back(self.d, self.lease, &self.sender, picked, &self.campaigns, &self.pairs).await
    }

    /// Durably marks what may leave `sending`, before any request: a crash from here on
    /// leaves `sending`, which recovery turns into `unknown`, never into a second send.
    /// Pauses the campaigns a daily limit turned away, and hands back what did not move (its
    /// campaign paused or cancelled meanwhile). Returns the messages and the ids that moved.
    async fn mark_sending(&mut self, held: Held) -> Result<(Vec<ClaimedMessage>, HashSet<i64>), StoreError> {
        let d = self.d;
        let picked = held.keep;
        let ids: Vec<i64> = picked.iter().map(|m| m.id).collect();
        let moved: HashSet<i64> = d
            .store
            .mark_sending(self.lease, &ids, d.clock.now_millis())
            .await?
            .into_iter()
            .collect();
        if let Some(room_at) = held.limit_reached {
            let now = d.clock.now_millis();
            let paused = d.store.pause_for_daily_limit(&self.sender, room_at, now).await?;
            tracing::warn!(sender = %self.sender.id, campaigns = ?paused, "campaigns paused until the daily limit has room");
        }
        let stale: Vec<i64> = ids.iter().copied().filter(|id| !moved.contains(id)).collect();
        if !stale.is_empty() {
            d.store
                .release_claimed(self.lease, &stale, d.clock.now_millis())
                .await?;
        }
        Ok((picked, moved))
    }

    /// Starts the request of every message that moved to `sending`, each in a task of its
    /// own that reports to the writer, at the departure rate. One span per batch (the claim
    /// round it came from), which each request's task carries on.
    #[tracing::instrument(name = "batch", skip_all, fields(batch = self.round, messages = moved.len()))]
    async fn start_requests(&mut self, picked: Vec<ClaimedMessage>, moved: &HashSet<i64>) -> Result<(), StoreError> {
        let d = self.d;
        let mut started = HashSet::with_capacity(moved.len());
        let departed = Instant::now();
        for message in picked {
            if !moved.contains(&message.id) || !started.insert(message.id) {
                continue;
            }
            if !d.config.pair_gap.is_zero() {
                self.pairs.departed(&message.phone, message.id, departed);
            }
            let prepared = prepare(d, &message, &mut self.templates, &mut self.campaigns).await;
            // Already `sending`: it goes out whatever happens now, at most a moment late.
            loop {
                let t = self.start.elapsed();
                if self.departures.acquire(t, 1) == 1 {
                    break;
                }
                tokio::time::sleep_until(self.start + self.departures.next_available(t)).await;
            }
            let permit = self
                .in_flight
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| StoreError::LeaseLost)?;
            let (d2, provider, tx, hold, wire) = (
                d.clone(),
                self.provider.clone(),
                self.reports.clone(),
                self.hold.clone(),
                self.wire.clone(),
            );
            tokio::spawn(
                async move {
                    let report = attempt(&d2, provider.as_ref(), &wire, &message, prepared, &hold).await;
                    let _ = tx.send(report);
                    drop(permit);
                }
                .in_current_span(),
            );
        }
        tracing::debug!(requests = started.len(), "requests started");
        Ok(())
    }

    /// Unpaced sending that will want more soon: claims it now, while these requests are in
    /// flight. (Paced campaigns claim only what their next slots need.)
    fn claim_ahead(&mut self) {
        if self.next_claim.is_none() && self.buffer.len() <= self.batch / 2 && self.pacing.is_idle() && !self.stopped()
        {
            let request = self.claim_request();
            let (d, lease, now) = (self.d.clone(), self.lease.clone(), self.d.clock.now_millis());
            self.next_claim = Some(tokio::spawn(async move { d.store.claim(&lease, &request, now).await }));
        }
    }

    /// Winds down after the loop, whatever ended it: in-flight requests finish and are
    /// recorded (unless the lease is gone, in which case the new owner will find them
    /// `sending` and mark them `unknown`), and what is still claimed goes back to the queue.
    async fn wind_down(self, result: Result<(), StoreError>) -> Result<(), StoreError> {
        let SenderRun {
            d,
            lease,
            lost,
            max_in_flight,
            in_flight,
            reports,
            writer,
            mut buffer,
            mut pacing,
            next_claim,
            ..
        } = self;
        // A claim made ahead and not yet used goes back with the rest of the buffer.
        if let Some(claim) = next_claim {
            match joined(claim.await) {
                Ok(claimed) => buffer.extend(claimed),
                Err(StoreError::LeaseLost) => lost.cancel(),
                Err(e) => tracing::warn!(error = %e, "a claim made ahead failed"),
            }
        }
        if !lost.is_cancelled() {
            let _ = in_flight.acquire_many(max_in_flight as u32).await;
        }
        drop(reports);
        let _ = writer.await;
        buffer.extend(pacing.drain());
        if !lost.is_cancelled() && !buffer.is_empty() {
            let ids: Vec<i64> = buffer.iter().map(|m| m.id).collect();
            d.store.release_claimed(lease, &ids, d.clock.now_millis()).await?;
        }
        match result {
            Err(StoreError::LeaseLost) => {
                lost.cancel();
                Ok(())
            }
            other => other,
        }
    }
}

/// A spawned store call's result; a panic in it carries on here.
fn joined<T>(result: Result<Result<T, StoreError>, tokio::task::JoinError>) -> Result<T, StoreError> {
    match result {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the task is never aborted, so only if the runtime is shutting down.
        Err(_) => Err(StoreError::LeaseLost),
    }
}

/// Makes one attempt and decides what becomes of the message.
async fn attempt(
    d: &Dispatcher,
    provider: &dyn Provider,
    wire: &Wire,
    message: &ClaimedMessage,
    prepared: Result<Prepared, String>,
    hold: &Hold,
) -> Report {
    let failed = |code: &str, text: String| {
        Report::new(
            message,
            OutcomeKind::Failed {
                error_code: code.into(),
                error_message: text,
            },
        )
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => return failed("render", e),
    };
    let (record, template) = prepared.template.as_ref();
    let vars: pregon_domain::template::Variables = match serde_json::from_str(&message.variables) {
        Ok(v) => v,
        Err(e) => return failed("render", format!("stored variables are unreadable: {e}")),
    };
    if let Some(missing) = template.missing_variable(&vars) {
        return failed("render", format!("missing template variable {missing:?}"));
    }
    // A user known only by BSUID has it as its identity: Meta then sends to `recipient`.
    let user_id = message
        .user_id
        .as_deref()
        .and_then(|u| pregon_domain::BusinessUserId::parse(u).ok());
    let bsuid_only = message.user_id.as_deref() == Some(message.phone.as_str());
    let outbound = OutboundMessage {
        to: if bsuid_only {
            String::new()
        } else {
            message.phone.clone()
        },
        from: wire.from.clone(),
        template_name: record.name.clone(),
        language: record.language.clone(),
        rendered: template.render(&vars),
        callback_data: message.id.to_string(),
        content_sid: record.twilio_content_sid.clone(),
        status_callback: wire.status_callback.clone(),
        recipient_user_id: user_id,
        category: None,
        expires_at: message.expires_at,
        body_parameter_names: None,
    };
    // Its time ran out while it waited its turn: never sent late, whatever the provider.
    if let Some(at) = message.expires_at.filter(|at| *at <= d.clock.now_millis()) {
        return Report::new(
            message,
            OutcomeKind::Expired {
                error_code: "expired".into(),
                error_message: format!("expired at {} before it could be sent", crate::clock::rfc3339(at)),
            },
        );
    }
    let answer = {
        let _in_flight = d.metrics.request_started(&wire.sender_id);
        let began = Instant::now();
        let answer = provider.send(&outbound).await;
        d.metrics
            .attempt(wire.provider, &wire.sender_id, attempt_class(&answer), began.elapsed());
        answer
    };
    match answer {
        Ok(accepted) => {
            hold.succeeded();
            Report::new(
                message,
                OutcomeKind::Sent {
                    provider_message_id: accepted.provider_message_id,
                    recorded_text: accepted.recorded_text,
                },
            )
        }
        Err(e) => refused(d, message, &prepared.campaign, hold, e),
    }
}

/// How the provider answered, as `/metrics` counts attempts.
fn attempt_class<T>(answer: &Result<T, ProviderError>) -> AttemptClass {
    match answer {
        Ok(_) => AttemptClass::accepted,
        Err(ProviderError::Ambiguous { .. }) => AttemptClass::ambiguous,
        Err(ProviderError::Throttled { .. }) => AttemptClass::throttled,
        Err(ProviderError::Retryable { .. }) => AttemptClass::retryable,
        Err(ProviderError::Permanent { .. }) => AttemptClass::permanent,
        Err(ProviderError::SenderLevel { .. }) => AttemptClass::sender,
        Err(ProviderError::CampaignLevel { .. }) => AttemptClass::campaign,
    }
}

/// What becomes of a message the provider did not take, and of its sender.
fn refused(
    d: &Dispatcher,
    message: &ClaimedMessage,
    campaign: &CampaignContext,
    hold: &Hold,
    e: ProviderError,
) -> Report {
    let attempts = message.attempts as u32 + 1;
    // Another attempt after the campaign's backoff (never sooner than the provider asked),
    // or failed once the attempts are spent.
    let retry_or_fail = |code: String, text: String, retry_after: Option<Duration>| {
        let policy = &campaign.retry;
        if policy.can_retry(attempts) {
            let wait = policy.backoff(attempts, retry_after, &mut rand::thread_rng());
            OutcomeKind::Retry {
                next_attempt_at: d.clock.now_millis() + wait.as_millis() as i64,
                error_code: code,
                error_message: text,
            }
        } else {
            OutcomeKind::Failed {
                error_code: code,
                error_message: text,
            }
        }
    };
    // Refused for the sender or the campaign as a whole: not attempted after all.
    let requeue = |code: String, text: String| OutcomeKind::Requeue {
        error_code: code,
        error_message: text,
        next_attempt_at: None,
    };
    // A refusal that asks for a wait besides holds the sender off, without escalating.
    let hold_off = |retry_after: Option<Duration>| {
        if let Some(wait) = retry_after {
            hold.hold(wait, false);
        }
    };
    match e {
        ProviderError::Ambiguous { code, message: text } => Report::new(
            message,
            OutcomeKind::Unknown {
                error_code: code,
                error_message: text,
            },
        ),
        // The provider asked the sender to slow down: the message is not at fault. It goes
        // back to the queue, due when the hold ends, without spending its attempt.
        ProviderError::Throttled {
            code,
            message: text,
            retry_after,
        } => {
            let wait = hold.hold(retry_after, true);
            Report::new(
                message,
                OutcomeKind::Requeue {
                    error_code: code,
                    error_message: text,
                    next_attempt_at: Some(d.clock.now_millis() + wait.as_millis() as i64),
                },
            )
        }
        ProviderError::Retryable { code, message: text } => Report::new(message, retry_or_fail(code, text, None)),
        ProviderError::Permanent {
            code,
            message: text,
            retry_after,
            reason,
        } => {
            hold_off(retry_after);
            let kind = match reason {
                // The provider would not send it after its validity period.
                Some(ErrorReason::Expired) => OutcomeKind::Expired {
                    error_code: code.clone(),
                    error_message: text,
                },
                // The recipient's own choice: not a failure of the campaign (auto-pause
                // counts failures only).
                Some(r) if r.opt_out_scope().is_some() => OutcomeKind::Skipped {
                    skip_reason: SkipReason::OptedOut,
                    error_code: code.clone(),
                    error_message: text,
                },
                _ => OutcomeKind::Failed {
                    error_code: code.clone(),
                    error_message: text,
                },
            };
            let mut r = Report::new(message, kind);
            r.opt_out = reason.and_then(|r| r.opt_out_scope()).map(|scope| ProviderOptOut {
                phone: message.phone.clone(),
                scope,
                code,
            });
            r
        }
        ProviderError::SenderLevel {
            code,
            message: text,
            retry_after,
        } => {
            hold_off(retry_after);
            // Single API messages have no campaign to pause: they retry instead.
            if !campaign.is_campaign {
                return Report::new(message, retry_or_fail(code, text, retry_after));
            }
            let detail = format!("{code}: {text}");
            let mut r = Report::new(message, requeue(code, text));
            r.sender_error = Some(detail);
            r
        }
        ProviderError::CampaignLevel {
            code,
            message: text,
            retry_after,
            reason,
        } => {
            hold_off(retry_after);
            let Some(campaign_id) = &message.campaign_id else {
                return Report::new(message, retry_or_fail(code, text, retry_after));
            };
            let effect = match reason {
                Some(ErrorReason::TemplatePaused) => CampaignEffect::Pause(PausedReason::TemplatePaused),
                Some(ErrorReason::TemplateDisabled) => CampaignEffect::Fail(FailureReason::TemplateDisabled),
                _ => CampaignEffect::Pause(PausedReason::TemplateError),
            };
            let detail = format!("{code}: {text}");
            let mut r = Report::new(message, requeue(code, text));
            r.campaign_error = Some(CampaignRefusal {
                campaign_id: campaign_id.clone(),
                detail,
                effect,
            });
            r
        }
    }
}

impl Report {
    fn new(message: &ClaimedMessage, kind: OutcomeKind) -> Self {
        Report {
            outcome: Outcome {
                message_id: message.id,
                kind,
            },
            sender_error: None,
            campaign_error: None,
            opt_out: None,
        }
    }
}
