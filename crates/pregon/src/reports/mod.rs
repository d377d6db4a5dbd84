//! Provider webhooks: status reports and replies from Meta and Twilio, recorded in group
//! commits.
//!
//! A handler (`http::reports`) reads the request, finds the senders it may be about
//! ([`directory`]), checks the signature against their secrets, and turns what it says into
//! [`StatusUpdate`]s and [`NewInbound`] replies ([`meta`], [`twilio`]). It then hands them to
//! the single writer task ([`Reports::record`]) and waits: the writer takes whatever has
//! queued while its previous write ran and records it all in one transaction per table, then
//! answers every request of the batch. A 200 therefore still means "recorded", but a busy
//! server writes a few large transactions rather than one per request.
//!
//! Reports about messages pregon does not know (yet) are answered 200 and tried again a
//! couple of times in the background: a fast provider can report on a message before the
//! dispatcher has recorded the id the provider gave it.

pub mod directory;
pub mod meta;
pub mod stop_words;
pub mod twilio;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pregon_domain::PhoneNumber;
use pregon_store::{NewInbound, ReportWriterStore, ReportedPricing, StatusEffect, StatusUpdate};
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::config::ReportConfig;
use crate::crypto::MasterKey;
use directory::Directory;
use stop_words::StopWords;

/// Status reports and replies in one write, at most.
const MAX_BATCH: usize = 5_000;
/// Requests waiting for the writer, at most (then handlers wait to queue).
const QUEUE: usize = 20_000;
/// When reports about unknown messages are tried again.
const RETRY_UNKNOWN: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(15)];
/// Reports about unknown messages waiting to be tried again, at most.
const MAX_UNKNOWN: usize = 100_000;

/// The webhooks' shared state: settings, the sender directory, the writer's queue.
pub struct Reports {
    pub config: ReportConfig,
    pub stop_words: StopWords,
    pub directory: Directory,
    queue: mpsc::Sender<Job>,
}

/// What one request (or one retry) asks the writer to record.
struct Job {
    statuses: Vec<StatusUpdate>,
    inbound: Vec<NewInbound>,
    /// How many times these reports were tried already.
    tries: usize,
    done: Option<oneshot::Sender<bool>>,
}

impl Job {
    fn answer(self, recorded: bool) {
        if let Some(done) = self.done {
            let _ = done.send(recorded);
        }
    }
}

/// The writer could not record a webhook; the provider should send it again.
#[derive(Debug, thiserror::Error)]
#[error("the webhook could not be recorded")]
pub struct NotRecorded;

impl Reports {
    /// Starts the writer; it stops once every handle to these webhooks is gone.
    pub fn start(
        store: Arc<dyn ReportWriterStore>,
        master_key: MasterKey,
        clock: Arc<dyn Clock>,
        config: ReportConfig,
    ) -> Arc<Self> {
        let (queue, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            store: store.clone(),
            clock,
            retry: queue.downgrade(),
            waiting_retry: Arc::new(AtomicUsize::new(0)),
        };
        tokio::spawn(writer.run(rx));
        Arc::new(Reports {
            stop_words: StopWords::new(&config.stop_words),
            directory: Directory::new(store, master_key),
            config,
            queue,
        })
    }

    /// Records status reports and replies; returns once they are committed.
    pub async fn record(&self, statuses: Vec<StatusUpdate>, inbound: Vec<NewInbound>) -> Result<(), NotRecorded> {
        if statuses.is_empty() && inbound.is_empty() {
            return Ok(());
        }
        let (done, recorded) = oneshot::channel();
        let job = Job {
            statuses,
            inbound,
            tries: 0,
            done: Some(done),
        };
        self.queue.send(job).await.map_err(|_| NotRecorded)?;
        match recorded.await {
            Ok(true) => Ok(()),
            _ => Err(NotRecorded),
        }
    }

    /// Forgets cached senders (one was created or changed).
    pub fn forget_senders(&self) {
        self.directory.forget();
    }
}

/// Text from a webhook, fit to store: without NUL characters (which PostgreSQL's text and
/// jsonb refuse, and one would fail the whole batch it is written in) and at most `max`
/// characters.
pub fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|c| *c != '\0').take(max).collect()
}

/// A WhatsApp id or phone (`584121234567`, `+584121234567`) in E.164; `None` when it is not
/// a phone number at all.
pub fn e164(text: &str) -> Option<String> {
    let digits = meta::digits(text);
    if digits.len() < 7 || digits.len() > 15 || digits.len() + 1 < text.trim().len() {
        return None;
    }
    let plus = format!("+{digits}");
    Some(
        PhoneNumber::parse(&plus, None)
            .map(|p| p.as_str().to_string())
            .unwrap_or(plus),
    )
}

/// The pricing a Meta status report carried, typed; `None` for other providers' reports
/// and statuses without it.
fn reported_pricing(s: &StatusUpdate) -> Option<ReportedPricing> {
    if s.detail.get("source").and_then(serde_json::Value::as_str) != Some("meta") {
        return None;
    }
    let p = pregon_providers::meta_webhooks::pricing(s.detail.get("pricing")?)?;
    Some(ReportedPricing {
        sender_id: s.sender_id.clone(),
        provider_message_id: s.provider_message_id.clone(),
        message_hint: s.message_hint,
        category: p.category,
        kind: p.kind,
        billable: p.billable,
    })
}

struct Writer {
    store: Arc<dyn ReportWriterStore>,
    clock: Arc<dyn Clock>,
    /// Where reports about unknown messages go back to; weak, so the writer still stops.
    retry: mpsc::WeakSender<Job>,
    waiting_retry: Arc<AtomicUsize>,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        let mut jobs: Vec<Job> = Vec::new();
        while let Some(first) = rx.recv().await {
            let mut size = first.statuses.len() + first.inbound.len();
            jobs.push(first);
            while size < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => {
                        size += job.statuses.len() + job.inbound.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.write(std::mem::take(&mut jobs)).await;
        }
    }

    /// Records a batch and answers its requests. When the batch as a whole cannot be
    /// written, each request is written on its own, so that one the database refuses fails
    /// alone rather than every request that happened to share its batch, at every redelivery.
    #[tracing::instrument(name = "report_batch", skip_all, fields(requests = jobs.len()))]
    async fn write(&self, jobs: Vec<Job>) {
        if self.record(&jobs, 3).await {
            for job in jobs {
                job.answer(true);
            }
            return;
        }
        if jobs.len() == 1 {
            jobs.into_iter().for_each(|job| job.answer(false));
            return;
        }
        tracing::warn!(
            requests = jobs.len(),
            "writing the requests of a failed batch one by one"
        );
        for job in jobs {
            let recorded = self.record(std::slice::from_ref(&job), 1).await;
            job.answer(recorded);
        }
    }

    /// Writes the jobs' reports and replies (trying `tries` times); sends reports about
    /// unknown messages back for later. Whether it all committed.
    async fn record(&self, jobs: &[Job], tries: u64) -> bool {
        let statuses: Vec<StatusUpdate> = jobs.iter().flat_map(|j| j.statuses.iter().cloned()).collect();
        let inbound: Vec<NewInbound> = jobs.iter().flat_map(|j| j.inbound.iter().cloned()).collect();
        let Ok(effects) = self.apply(&statuses, tries).await else {
            return false;
        };
        if self.price(&statuses, tries).await.is_err() {
            return false;
        }
        if self.insert(&inbound, tries).await.is_err() {
            return false;
        }
        let previous = jobs.iter().flat_map(|j| std::iter::repeat_n(j.tries, j.statuses.len()));
        let unknown: Vec<(StatusUpdate, usize)> = statuses
            .into_iter()
            .zip(previous)
            .zip(effects)
            .filter(|((_, t), e)| *e == StatusEffect::UnknownMessage && *t < RETRY_UNKNOWN.len())
            .map(|(u, _)| u)
            .collect();
        self.retry_later(unknown);
        true
    }

    /// Keeps the pricing Meta's statuses carry (`detail.pricing`), once per message: a
    /// replayed webhook or a later status changes nothing billed.
    async fn price(&self, statuses: &[StatusUpdate], tries: u64) -> Result<(), ()> {
        let reports: Vec<ReportedPricing> = statuses.iter().filter_map(reported_pricing).collect();
        if reports.is_empty() {
            return Ok(());
        }
        for attempt in 1..=tries {
            match self.store.record_pricing(&reports, self.clock.now_millis()).await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, reports = reports.len(), "recording message pricing failed");
                    if attempt < tries {
                        tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                    }
                }
            }
        }
        Err(())
    }

    async fn apply(&self, statuses: &[StatusUpdate], tries: u64) -> Result<Vec<StatusEffect>, ()> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        for attempt in 1..=tries {
            match self.store.apply_status_updates(statuses, self.clock.now_millis()).await {
                Ok(effects) => return Ok(effects),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, reports = statuses.len(), "recording status reports failed");
                    if attempt < tries {
                        tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                    }
                }
            }
        }
        Err(())
    }

    async fn insert(&self, inbound: &[NewInbound], tries: u64) -> Result<(), ()> {
        if inbound.is_empty() {
            return Ok(());
        }
        for attempt in 1..=tries {
            match self.store.insert_inbound(inbound, self.clock.now_millis()).await {
                Ok(stored) => {
                    for r in stored.iter().filter(|r| r.opted_out) {
                        tracing::info!(tenant = %r.tenant_id, phone = %r.phone, "opted out by a stop-word reply");
                    }
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, replies = inbound.len(), "recording replies failed");
                    if attempt < tries {
                        tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                    }
                }
            }
        }
        Err(())
    }

    /// Sends reports about unknown messages back to the queue after a while.
    fn retry_later(&self, unknown: Vec<(StatusUpdate, usize)>) {
        if unknown.is_empty() {
            return;
        }
        let n = unknown.len();
        if self.waiting_retry.fetch_add(n, Ordering::Relaxed) + n > MAX_UNKNOWN {
            self.waiting_retry.fetch_sub(n, Ordering::Relaxed);
            tracing::debug!(
                reports = n,
                "too many reports about unknown messages waiting; dropping these"
            );
            return;
        }
        let mut by_try: [Vec<StatusUpdate>; RETRY_UNKNOWN.len()] = Default::default();
        for (u, t) in unknown {
            by_try[t].push(u);
        }
        for (t, statuses) in by_try.into_iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            let queue = self.retry.clone();
            let waiting = self.waiting_retry.clone();
            tokio::spawn(async move {
                tokio::time::sleep(RETRY_UNKNOWN[t]).await;
                waiting.fetch_sub(statuses.len(), Ordering::Relaxed);
                if let Some(queue) = queue.upgrade() {
                    let job = Job {
                        statuses,
                        inbound: Vec::new(),
                        tries: t + 1,
                        done: None,
                    };
                    let _ = queue.send(job).await;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_ids_become_e164() {
        assert_eq!(e164("584121234567").as_deref(), Some("+584121234567"));
        assert_eq!(e164("+584121234567").as_deref(), Some("+584121234567"));
        assert_eq!(e164("972987654321").as_deref(), Some("+972987654321"));
        assert_eq!(e164("123"), None);
        assert_eq!(e164("abc-not-a-phone-1234567"), None);
    }

    #[test]
    fn webhook_text_is_cleaned() {
        assert_eq!(clean("a\0b", 10), "ab");
        assert_eq!(clean("ñandú", 3), "ñan");
    }
}
