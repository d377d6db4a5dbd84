//! One owned sender: claim, pace, mark `sending`, request, report.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pregon_domain::{PausedReason, RateLimiter, RatePlan, RecipientWindow, RetryPolicy, Template};
use pregon_providers::{Credentials, ErrorClass, OutboundMessage, Provider};
use pregon_store::{ClaimRequest, ClaimedMessage, Lease, Outcome, OutcomeKind, StoreError, TemplateRecord};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::consent::Gate;
use super::limits::{hold_back, PairGap};
use super::outcome::{write_outcomes, Report};
use super::rate_plans::Pacing;
use super::Dispatcher;

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
}

impl Wire {
    fn of(d: &Dispatcher, sender: &pregon_store::SenderRecord) -> Arc<Self> {
        Arc::new(Wire {
            from: sender.phone_number.clone(),
            status_callback: d.config.status_callback(sender.provider),
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

struct Prepared {
    template: Arc<(TemplateRecord, Template)>,
    campaign: Arc<CampaignContext>,
}

/// Runs a sender until its work is done, the lease is lost, or shutdown.
pub(crate) async fn run(d: Arc<Dispatcher>, lease: Lease, stop: CancellationToken) {
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
    if let Err(e) = send_loop(&d, &lease, &stop, &lost).await {
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

fn provider_for(d: &Dispatcher, sender: &pregon_store::SenderRecord) -> Result<Arc<dyn Provider>, String> {
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

async fn send_loop(
    d: &Arc<Dispatcher>,
    lease: &Lease,
    stop: &CancellationToken,
    lost: &CancellationToken,
) -> Result<(), StoreError> {
    let mut sender = d.store.sender_by_id(&lease.sender_id).await?;
    let mut provider = match provider_for(d, &sender) {
        Ok(p) => p,
        Err(detail) => {
            pause_sender(d, &sender.id, &detail).await;
            return Ok(());
        }
    };
    let rate = sender.messages_per_second;
    let mut limiter = RateLimiter::new(rate);
    // The same rule again at the moment each request leaves: the durable `sending` write
    // between a grant and the requests takes a varying time, which would otherwise let
    // grants made apart leave together. The provider measures when requests arrive.
    let mut departures = RateLimiter::new(rate);
    // Enough requests in flight to hold the rate through 2 s of provider latency.
    let max_in_flight = d
        .config
        .max_in_flight
        .unwrap_or(((rate * 2.0).ceil() as usize).clamp(4, 4096));
    // Claim about a quarter second of sending at a time: little to hand back on a pause.
    let batch = ((rate / 4.0).ceil() as usize).clamp(1, 1000);
    let in_flight = Arc::new(Semaphore::new(max_in_flight));
    let hold = Arc::new(Hold::default());
    let mut wire = Wire::of(d, &sender);
    let (tx, rx) = mpsc::unbounded_channel::<Report>();
    let writer = tokio::spawn(write_outcomes(d.clone(), lease.clone(), rx));
    let start = Instant::now();
    let mut buffer: VecDeque<ClaimedMessage> = VecDeque::new();
    let mut templates: HashMap<String, Arc<(TemplateRecord, Template)>> = HashMap::new();
    let mut campaigns: HashMap<Option<String>, Arc<CampaignContext>> = HashMap::new();
    let mut round = 0u64;
    let mut gate = Gate::new(&sender.tenant_id);
    let mut pacing = Pacing::default();
    let mut pairs = PairGap::default();
    let mut refreshed = Instant::now();
    // The next claim, started as soon as a batch's requests are on their way, so that its
    // database round trip overlaps them instead of following them.
    let mut next_claim: Option<JoinHandle<Result<Vec<ClaimedMessage>, StoreError>>> = None;
    tracing::info!(sender = %sender.id, rate, max_in_flight, batch, "sending");

    let result: Result<(), StoreError> = async {
        loop {
            if stop.is_cancelled() || lost.is_cancelled() {
                return Ok(());
            }
            let now = d.clock.now_millis();
            // Pick up edits to the sender (rate, credentials) made while it sends.
            if refreshed.elapsed() >= SENDER_REFRESH {
                refreshed = Instant::now();
                pairs.forget_before(d.config.pair_gap, refreshed);
                let fresh = d.store.sender_by_id(&sender.id).await?;
                // Paused or suspended: it sends nothing more (the store claims nothing for it
                // either); what is in flight finishes and the claimed rest goes back.
                if !fresh.status.is_active() {
                    tracing::info!(sender = %fresh.id, status = %fresh.status, "sender stopped; releasing it");
                    return Ok(());
                }
                if fresh.updated_at != sender.updated_at {
                    match provider_for(d, &fresh) {
                        Ok(p) => provider = p,
                        Err(detail) => {
                            pause_sender(d, &fresh.id, &detail).await;
                            return Ok(());
                        }
                    }
                    if fresh.messages_per_second != sender.messages_per_second {
                        limiter.set_rate(fresh.messages_per_second);
                        departures.set_rate(fresh.messages_per_second);
                        tracing::info!(sender = %fresh.id, rate = fresh.messages_per_second, "sender rate changed");
                    }
                    wire = Wire::of(d, &fresh);
                    sender = fresh;
                }
            }
            if buffer.len() <= batch / 2 {
                let fresh = match next_claim.take() {
                    Some(claim) => joined(claim.await)?,
                    None => {
                        let request = ClaimRequest {
                            limit: batch - buffer.len(),
                            round,
                            caps: pacing.caps(start.elapsed()),
                        };
                        d.store.claim(lease, &request, now).await?
                    }
                };
                round += 1;
                // Paced campaigns' messages wait for their slots; any claimed beyond them
                // (a campaign seen for the first time) go back to the queue.
                let mut over = Vec::new();
                for message in fresh {
                    let Some(cid) = message.campaign_id.clone() else {
                        buffer.push_back(message);
                        continue;
                    };
                    if !campaigns.contains_key(&message.campaign_id) {
                        if let Ok(ctx) = context_for(d, &message.campaign_id, &mut campaigns).await {
                            if let Some((plan, sent)) = &ctx.rate_plan {
                                pacing.add(&cid, plan.clone(), *sent);
                            }
                        }
                    }
                    if pacing.is_paced(&cid) {
                        if let Some(back) = pacing.offer(&cid, message, start.elapsed()) {
                            over.push(back.id);
                        }
                    } else {
                        buffer.push_back(message);
                    }
                }
                if !over.is_empty() {
                    d.store.release_claimed(lease, &over, d.clock.now_millis()).await?;
                }
            }
            let due_paced = pacing.due(start.elapsed());
            if buffer.is_empty() && due_paced == 0 {
                if pacing.is_idle()
                    && in_flight.available_permits() == max_in_flight
                    && !d.store.sender_has_work(&sender.id, now).await?
                {
                    return Ok(());
                }
                let wait = pacing
                    .next_slot()
                    .map(|slot| slot.saturating_sub(start.elapsed()))
                    .unwrap_or(d.config.poll_interval)
                    .min(d.config.poll_interval);
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = lost.cancelled() => {}
                    _ = d.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            if let Some(until) = hold.until().filter(|u| *u > Instant::now()) {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = lost.cancelled() => {}
                    _ = tokio::time::sleep_until(until) => {}
                }
                continue;
            }
            let slots = in_flight.available_permits();
            if slots == 0 {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = lost.cancelled() => {}
                    permit = in_flight.acquire() => drop(permit),
                }
                continue;
            }
            let elapsed = start.elapsed();
            let n = limiter.acquire(elapsed, (buffer.len() + due_paced).min(slots));
            if n == 0 {
                let ready = start + limiter.next_available(elapsed);
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = lost.cancelled() => {}
                    _ = tokio::time::sleep_until(ready) => {}
                }
                continue;
            }
            let mut picked: Vec<ClaimedMessage> = pacing.take_due(elapsed, n);
            let rest = (n - picked.len()).min(buffer.len());
            picked.extend(buffer.drain(..rest));
            // Opt-outs (and consent, where required) again, just before sending.
            let picked = gate.admit(d, lease, picked).await?;
            // Recipients' windows, the pair gap and the daily limit.
            for m in &picked {
                if !campaigns.contains_key(&m.campaign_id) {
                    let _ = context_for(d, &m.campaign_id, &mut campaigns).await;
                }
            }
            let held = hold_back(d, lease, &sender, picked, &campaigns, &pairs).await?;
            let picked = held.keep;
            let ids: Vec<i64> = picked.iter().map(|m| m.id).collect();
            // Durable before any request: a crash from here on leaves `sending`, which
            // recovery turns into `unknown`, never into a second send.
            let moved: HashSet<i64> = d
                .store
                .mark_sending(lease, &ids, d.clock.now_millis())
                .await?
                .into_iter()
                .collect();
            if let Some(room_at) = held.limit_reached {
                let now = d.clock.now_millis();
                let paused = d.store.pause_for_daily_limit(&sender, room_at, now).await?;
                tracing::warn!(sender = %sender.id, campaigns = ?paused, "campaigns paused until the daily limit has room");
            }
            let stale: Vec<i64> = ids.iter().copied().filter(|id| !moved.contains(id)).collect();
            if !stale.is_empty() {
                d.store.release_claimed(lease, &stale, d.clock.now_millis()).await?;
            }
            let mut started = HashSet::with_capacity(moved.len());
            let departed = Instant::now();
            for message in picked {
                if !moved.contains(&message.id) || !started.insert(message.id) {
                    continue;
                }
                if !d.config.pair_gap.is_zero() {
                    pairs.departed(&message.phone, message.id, departed);
                }
                let prepared = prepare(d, &message, &mut templates, &mut campaigns).await;
                // Already `sending`: it goes out whatever happens now, at most a moment late.
                loop {
                    let t = start.elapsed();
                    if departures.acquire(t, 1) == 1 {
                        break;
                    }
                    tokio::time::sleep_until(start + departures.next_available(t)).await;
                }
                let permit = in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| StoreError::LeaseLost)?;
                let (d2, provider, tx, hold, wire) =
                    (d.clone(), provider.clone(), tx.clone(), hold.clone(), wire.clone());
                tokio::spawn(async move {
                    let report = attempt(&d2, provider.as_ref(), &wire, &message, prepared, &hold).await;
                    let _ = tx.send(report);
                    drop(permit);
                });
            }
            // Unpaced sending that will want more soon: claim it now, while these requests
            // are in flight. (Paced campaigns claim only what their next slots need.)
            if next_claim.is_none()
                && buffer.len() <= batch / 2
                && pacing.is_idle()
                && !stop.is_cancelled()
                && !lost.is_cancelled()
            {
                let request = ClaimRequest {
                    limit: batch - buffer.len(),
                    round,
                    caps: pacing.caps(start.elapsed()),
                };
                let (d2, lease2, now) = (d.clone(), lease.clone(), d.clock.now_millis());
                next_claim = Some(tokio::spawn(async move { d2.store.claim(&lease2, &request, now).await }));
            }
        }
    }
    .await;

    // A claim made ahead and not yet used goes back with the rest of the buffer.
    if let Some(claim) = next_claim.take() {
        match joined(claim.await) {
            Ok(claimed) => buffer.extend(claimed),
            Err(StoreError::LeaseLost) => lost.cancel(),
            Err(e) => tracing::warn!(error = %e, "a claim made ahead failed"),
        }
    }

    // Wind down: in-flight requests finish and are recorded (unless the lease is gone, in
    // which case the new owner will find them `sending` and mark them `unknown`).
    if !lost.is_cancelled() {
        let _ = in_flight.acquire_many(max_in_flight as u32).await;
    }
    drop(tx);
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

/// A spawned store call's result; a panic in it carries on here.
fn joined<T>(result: Result<Result<T, StoreError>, tokio::task::JoinError>) -> Result<T, StoreError> {
    match result {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the task is never aborted, so only if the runtime is shutting down.
        Err(_) => Err(StoreError::LeaseLost),
    }
}

/// Loads (once per sender run) what a message's attempt needs.
async fn prepare(
    d: &Dispatcher,
    message: &ClaimedMessage,
    templates: &mut HashMap<String, Arc<(TemplateRecord, Template)>>,
    campaigns: &mut HashMap<Option<String>, Arc<CampaignContext>>,
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
async fn context_for(
    d: &Dispatcher,
    campaign_id: &Option<String>,
    campaigns: &mut HashMap<Option<String>, Arc<CampaignContext>>,
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
    let outbound = OutboundMessage {
        to: message.phone.clone(),
        from: wire.from.clone(),
        template_name: record.name.clone(),
        language: record.language.clone(),
        rendered: template.render(&vars),
        callback_data: message.id.to_string(),
        content_sid: record.twilio_content_sid.clone(),
        status_callback: wire.status_callback.clone(),
        recipient_user_id: None,
        category: None,
        expires_at: None,
        body_parameter_names: None,
    };
    let attempts = message.attempts + 1;
    match provider.send(&outbound).await {
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
        Err(e) if e.ambiguous => Report::new(
            message,
            OutcomeKind::Unknown {
                error_code: e.code,
                error_message: e.message,
            },
        ),
        // The provider asked the sender to slow down: the message is not at fault. It goes
        // back to the queue, due when the hold ends, without spending its attempt.
        Err(e) if e.throttled && e.class == ErrorClass::Retryable => {
            let wait = hold.hold(e.retry_after.unwrap_or(Duration::from_secs(1)), true);
            Report::new(
                message,
                OutcomeKind::Requeue {
                    error_code: e.code,
                    error_message: e.message,
                    next_attempt_at: Some(d.clock.now_millis() + wait.as_millis() as i64),
                },
            )
        }
        Err(e) => {
            if let Some(wait) = e.retry_after {
                hold.hold(wait, false);
            }
            let policy = &prepared.campaign.retry;
            let retry_or_fail = |code: String, text: String| {
                if policy.can_retry(attempts as u32) {
                    let wait = policy.backoff(attempts as u32, e.retry_after, &mut rand::thread_rng());
                    let next = d.clock.now_millis() + wait.as_millis() as i64;
                    OutcomeKind::Retry {
                        next_attempt_at: next,
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
            match e.class {
                ErrorClass::Permanent => Report::new(
                    message,
                    OutcomeKind::Failed {
                        error_code: e.code,
                        error_message: e.message,
                    },
                ),
                ErrorClass::Retryable => Report::new(message, retry_or_fail(e.code, e.message)),
                ErrorClass::Sender if prepared.campaign.is_campaign => {
                    let detail = format!("{}: {}", e.code, e.message);
                    let mut r = Report::new(message, requeue(e.code, e.message));
                    r.sender_error = Some(detail);
                    r
                }
                ErrorClass::Campaign => match &message.campaign_id {
                    Some(campaign_id) => {
                        let detail = format!("{}: {}", e.code, e.message);
                        let mut r = Report::new(message, requeue(e.code, e.message));
                        r.campaign_error = Some((campaign_id.clone(), detail));
                        r
                    }
                    None => Report::new(message, retry_or_fail(e.code, e.message)),
                },
                ErrorClass::Sender => Report::new(message, retry_or_fail(e.code, e.message)),
            }
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
        }
    }
}
