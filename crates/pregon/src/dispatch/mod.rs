//! The dispatcher (design.md "Dispatch").
//!
//! Work is partitioned by sender. A dispatcher takes a sender's lease (owner, fencing epoch,
//! expiry) and then alone sends for it, so the sender's rate limit is local and exact. The
//! lease is renewed by heartbeat; a dispatcher that dies loses its senders when their leases
//! expire, at once when it ran on this host and its process is gone. Each owned sender runs
//! in `sender`'s loop: claim a batch, wait for the rate limiter, durably mark `sending`,
//! make the requests, group-commit their outcomes.
//!
//! Shutdown is graceful: stop claiming, let in-flight requests finish and record them,
//! return claimed messages to the queue, release the leases.
//!
//! [`Dispatcher::run_until_stopped`] polls for work on its own; [`Dispatcher::run_once`] is
//! one step of it, which sends what is due now and returns, for callers (tests) that decide
//! when work happens.
//!
//! The modules: `sender` (one owned sender's loop), `context` (what an attempt needs to know
//! about its template and campaign), `consent` and `limits` (the checks just before
//! `sending`), `rate_plans` (campaigns' own pace), `outcome` (the group-committed outcomes),
//! [`process`] (which dispatchers are alive).

mod consent;
mod context;
mod limits;
mod outcome;
pub mod process;
mod rate_plans;
mod sender;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pregon_store::{DispatcherStore, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::DispatchConfig;
use crate::crypto::MasterKey;
pub use crate::metrics::Metrics;
use sender::Until;

/// The sender tasks of a dispatcher, by sender id: each with the token that stops it.
type SenderTasks = HashMap<String, (CancellationToken, JoinHandle<()>)>;

/// Most messages one look for work expires (the claim never takes the rest meanwhile).
const EXPIRE_BATCH: usize = 5_000;

/// One dispatcher process's view of the work.
pub struct Dispatcher {
    pub(crate) store: Arc<dyn DispatcherStore>,
    pub(crate) id: String,
    pub(crate) host: String,
    pub(crate) config: DispatchConfig,
    pub(crate) master_key: MasterKey,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http: reqwest::Client,
    pub(crate) wake: Arc<Notify>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn DispatcherStore>,
        config: DispatchConfig,
        master_key: MasterKey,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let http = pregon_providers::http_client(config.provider_timeout);
        Dispatcher {
            store,
            id: pregon_domain::id::new_id("dsp"),
            host: process::host_name(),
            config,
            master_key,
            clock,
            http,
            wake,
            metrics,
        }
    }

    /// This dispatcher's id, as in `GET /api/v1/system`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown` is cancelled, then winds down gracefully.
    pub async fn run_until_stopped(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.register().await?;
        tracing::info!(dispatcher = %self.id, host = %self.host, "dispatcher started");
        let mut tasks = SenderTasks::new();
        let heartbeat_every = (self.config.lease_ttl / 3).max(Duration::from_millis(200));
        let mut last_heartbeat: Option<tokio::time::Instant> = None;
        let mut sent_at_heartbeat = self.metrics.sent();
        loop {
            tasks.retain(|_, (_, handle)| !handle.is_finished());
            if shutdown.is_cancelled() {
                break;
            }
            let now = self.clock.now_millis();
            if last_heartbeat.is_none_or(|t| t.elapsed() >= heartbeat_every) {
                let elapsed = last_heartbeat
                    .map(|t| t.elapsed().as_secs_f64())
                    .unwrap_or(1.0)
                    .max(0.001);
                let sent = self.metrics.sent();
                let rate = (sent - sent_at_heartbeat) as f64 / elapsed;
                sent_at_heartbeat = sent;
                last_heartbeat = Some(tokio::time::Instant::now());
                if let Err(e) = self.store.heartbeat_dispatcher(&self.id, rate, now).await {
                    tracing::warn!(error = %e, "dispatcher heartbeat failed");
                }
                self.reap_dead_dispatchers(now).await;
            }
            self.poll(&mut tasks, Until::NoWork, &shutdown, now).await;
            self.metrics.set_senders_owned(tasks.len() as i64);
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        tracing::info!(
            senders = tasks.len(),
            "dispatcher stopping: finishing in-flight requests"
        );
        for (token, _) in tasks.values() {
            token.cancel();
        }
        for (_, (_, handle)) in tasks {
            let _ = handle.await;
        }
        self.store.remove_dispatcher(&self.id).await?;
        self.metrics.set_senders_owned(0);
        tracing::info!("dispatcher stopped");
        Ok(())
    }

    /// Sends what is due now and returns once it is sent and every outcome recorded: the
    /// step of [`run_until_stopped`](Self::run_until_stopped)'s loop, for callers (tests)
    /// that decide when work happens. Scheduled campaigns that are due start, windows and
    /// limits are looked at again, and every sender with work is taken and run until nothing
    /// of it is due; then again while that sent anything (an attempt may leave a retry due
    /// at once). What comes due later (a backoff, a window, a pace) waits for the next call.
    ///
    /// Not beside [`run_until_stopped`](Self::run_until_stopped) of the same dispatcher:
    /// one of them would find the other's leases taken.
    pub async fn run_once(self: &Arc<Self>) -> anyhow::Result<()> {
        self.register().await?;
        let stop = CancellationToken::new();
        let result = async {
            loop {
                let before = self.metrics.attempted();
                let mut tasks = SenderTasks::new();
                self.poll(&mut tasks, Until::NothingDue, &stop, self.clock.now_millis())
                    .await;
                for (sender, (_, handle)) in tasks {
                    handle.await.with_context(|| format!("the task of sender {sender}"))?;
                }
                if self.metrics.attempted() == before {
                    return Ok(());
                }
            }
        }
        .await;
        self.store.remove_dispatcher(&self.id).await?;
        result
    }

    /// Makes this dispatcher known to the others (`GET /api/v1/system`, fair shares).
    async fn register(&self) -> Result<(), StoreError> {
        let info = pregon_store::DispatcherInfo {
            id: self.id.clone(),
            host: self.host.clone(),
            pid: std::process::id() as i64,
            version: env!("CARGO_PKG_VERSION").to_string(),
            now: self.clock.now_millis(),
        };
        self.store.register_dispatcher(&info).await
    }

    /// One look for work: scheduled campaigns that are due start, campaigns' windows and
    /// limits are looked at again, and senders with work that no one owns are taken, up to
    /// this dispatcher's fair share, each run in a task of its own until `until`.
    async fn poll(self: &Arc<Self>, tasks: &mut SenderTasks, until: Until, shutdown: &CancellationToken, now: i64) {
        if let Err(e) = self.store.start_due_campaigns(now).await {
            tracing::warn!(error = %e, "starting scheduled campaigns failed");
        }
        if let Err(e) = crate::scheduler::recheck_due(self.store.as_ref(), now).await {
            tracing::warn!(error = %e, "checking campaign windows and limits failed");
        }
        match self.store.expire_due(now, EXPIRE_BATCH).await {
            Ok(n) => {
                self.metrics.expired.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "expiring messages past their time failed"),
        }
        let senders = match self.store.senders_with_work(now).await {
            Ok(senders) => senders,
            Err(e) => {
                tracing::warn!(error = %e, "looking for work failed");
                return;
            }
        };
        let share = if senders.iter().any(|s| !tasks.contains_key(s)) {
            fair_share(senders.len(), self.live_dispatchers(now).await)
        } else {
            usize::MAX
        };
        for sender_id in senders {
            if tasks.contains_key(&sender_id) {
                continue;
            }
            // Leave the rest to the others: a sender not taken by anyone within a poll is
            // free again for whoever looks next.
            if tasks.len() >= share {
                break;
            }
            let ttl = self.config.lease_ttl.as_millis() as i64;
            match self.store.acquire_lease(&sender_id, &self.id, ttl, now).await {
                Ok(Some(lease)) => {
                    tracing::info!(sender = %sender_id, epoch = lease.epoch, "took sender lease");
                    self.metrics
                        .lease_changed(&sender_id, crate::metrics::LeaseChange::acquired);
                    let token = shutdown.child_token();
                    let handle = tokio::spawn(sender::run(self.clone(), lease, until, token.clone()));
                    tasks.insert(sender_id, (token, handle));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, sender = %sender_id, "lease acquisition failed"),
            }
        }
    }

    /// How many dispatchers are alive (heard from within a lease lifetime, and on this host
    /// still running), this one included.
    async fn live_dispatchers(&self, now: i64) -> usize {
        let Ok(all) = self.store.list_dispatchers().await else {
            return 1;
        };
        let ttl = self.config.lease_ttl.as_millis() as i64;
        all.iter()
            .filter(|d| d.id != self.id && now - d.last_heartbeat_at <= ttl)
            .filter(|d| d.host != self.host || process::is_alive(d.pid))
            .count()
            + 1
    }

    /// Frees the senders of dispatchers that are gone: on this host, a process that no longer
    /// runs; anywhere, one silent for ten lease lifetimes.
    async fn reap_dead_dispatchers(&self, now: i64) {
        let Ok(all) = self.store.list_dispatchers().await else {
            return;
        };
        let silent_for = 10 * self.config.lease_ttl.as_millis() as i64;
        for d in all {
            if d.id == self.id {
                continue;
            }
            let dead_here = d.host == self.host && !process::is_alive(d.pid);
            if dead_here || now - d.last_heartbeat_at > silent_for {
                tracing::warn!(dispatcher = %d.id, pid = d.pid, "dispatcher is gone; freeing its senders");
                if let Err(e) = self.store.remove_dispatcher(&d.id).await {
                    tracing::warn!(error = %e, "removing a dead dispatcher failed");
                }
            }
        }
    }
}

/// How many of `senders` one of `dispatchers` takes: an equal share, rounded up, so that
/// the processes of a scale-out share the work instead of the quickest taking it all.
fn fair_share(senders: usize, dispatchers: usize) -> usize {
    senders.div_ceil(dispatchers.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::fair_share;

    #[test]
    fn dispatchers_take_equal_shares_rounded_up() {
        assert_eq!(fair_share(2, 2), 1);
        assert_eq!(fair_share(3, 2), 2);
        assert_eq!(fair_share(1, 3), 1);
        assert_eq!(fair_share(10, 1), 10);
        assert_eq!(fair_share(0, 0), 1);
    }
}
