//! Campaign webhooks out (api.md "Outbound notification").
//!
//! When a campaign reaches `completed`, `cancelled` or `failed` and has a `webhook_url`, the
//! store writes a row to the `notification` outbox in the same transaction (its body, the
//! campaign as it was then, rendered once). The [`Notifier`] running beside every dispatcher
//! claims due rows, POSTs each body with `X-Pregon-Signature: sha256=<hex HMAC-SHA256 of the
//! exact body>` keyed with the tenant's webhook secret as it is at delivery, and records the
//! result. Non-2xx answers (redirects included) and transport errors are retried with
//! backoff ([`NotifyConfig`]), then the notification is `failed`.
//!
//! Delivery is **at least once**: a claim moves the row's next attempt past the request
//! timeout, so no other process sends it meanwhile, but a process that dies after the
//! receiver answered and before the result is written leaves it to be sent again. The body
//! carries a unique `id` for receivers to drop repeats. Nothing here ever blocks dispatch:
//! the dispatcher only writes a row.

use std::sync::Arc;
use std::time::Duration;

use pregon_store::{NotificationDelivery, NotificationResult, NotificationStore, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::NotifyConfig;

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Pregon-Signature";

/// Delivers due notifications until stopped.
pub struct Notifier {
    store: Arc<dyn NotificationStore>,
    config: NotifyConfig,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    /// Wakes the deliverer before its next poll (a campaign just finished).
    wake: Arc<Notify>,
}

impl Notifier {
    pub fn new(
        store: Arc<dyn NotificationStore>,
        config: NotifyConfig,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirected POST turns into a GET: a receiver that redirects has not received.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pregon/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Notifier {
            store,
            config,
            clock,
            http,
            wake,
        }
    }

    /// Polls for due notifications until `shutdown`; deliveries in flight then finish (each
    /// within the request timeout) and are recorded.
    pub async fn run_until_stopped(self: Arc<Self>, shutdown: CancellationToken) {
        tracing::debug!("notification deliverer started");
        while !shutdown.is_cancelled() {
            let full = match self.deliver_due().await {
                Ok(n) => n >= self.config.batch.max(1),
                Err(e) => {
                    tracing::warn!(error = %e, "delivering notifications failed; retrying");
                    false
                }
            };
            if full {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        tracing::debug!("notification deliverer stopped");
    }

    /// Claims the due notifications (up to a batch) and delivers them concurrently; returns
    /// how many were attempted.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let lease = self.config.claim_lease().as_millis() as i64;
        let claimed = self
            .store
            .claim_notifications(self.config.batch.max(1), lease, self.clock.now_millis())
            .await?;
        let n = claimed.len();
        futures::future::join_all(claimed.into_iter().map(|d| self.deliver(d))).await;
        Ok(n)
    }

    /// One attempt: POST, then record what became of it.
    async fn deliver(&self, d: NotificationDelivery) {
        let signature = pregon_providers::signature::sha256_header(d.webhook_secret.as_bytes(), d.body.as_bytes());
        let answer = self
            .http
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(d.body.clone())
            .send()
            .await;
        let error = match answer {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let text: String = text.chars().take(200).collect();
                Some(format!("the receiver answered {status}: {}", text.trim()))
            }
            Err(e) if e.is_timeout() => Some(format!("no answer within {} s", self.config.timeout.as_secs_f64())),
            Err(e) => Some(format!("request failed: {}", error_chain(&e))),
        };
        let now = self.clock.now_millis();
        let result = match error {
            None => NotificationResult::Delivered,
            Some(error) if d.attempt >= i64::from(self.config.max_attempts) => NotificationResult::Failed { error },
            Some(error) => {
                let wait: Duration = self.config.backoff_after(d.attempt.max(1) as u32);
                NotificationResult::Retry {
                    next_attempt_at: now + wait.as_millis() as i64,
                    error,
                }
            }
        };
        match &result {
            NotificationResult::Delivered => {
                tracing::info!(notification = %d.id, campaign = %d.campaign_id, attempt = d.attempt, "notification delivered")
            }
            NotificationResult::Retry { error, .. } => {
                tracing::warn!(notification = %d.id, campaign = %d.campaign_id, attempt = d.attempt, %error, "notification not delivered; will retry")
            }
            NotificationResult::Failed { error } => {
                tracing::error!(notification = %d.id, campaign = %d.campaign_id, attempt = d.attempt, %error, "notification given up")
            }
        }
        match self.store.finish_notification(&d.id, d.attempt, &result, now).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(notification = %d.id, "notification was claimed again meanwhile; result dropped")
            }
            // The claim lease runs out and the notification is attempted again: at least once.
            Err(e) => tracing::warn!(error = %e, notification = %d.id, "recording a notification attempt failed"),
        }
    }
}

/// An error with its causes, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A new webhook secret: 256 random bits, hex.
pub fn new_webhook_secret() -> String {
    format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_schedule_then_repeats_its_last_step() {
        let c = NotifyConfig::default();
        let secs: Vec<u64> = (1..=8).map(|a| c.backoff_after(a).as_secs()).collect();
        assert_eq!(secs, vec![10, 60, 300, 1_800, 7_200, 7_200, 7_200, 7_200]);
        assert!(c.claim_lease() > c.timeout, "a claim outlasts its request");
        let empty = NotifyConfig {
            backoff: vec![],
            ..NotifyConfig::default()
        };
        assert_eq!(empty.backoff_after(3), Duration::from_secs(60));
    }

    #[test]
    fn secrets_are_random() {
        let a = new_webhook_secret();
        assert!(a.starts_with("whsec_") && a.len() == 70);
        assert_ne!(a, new_webhook_secret());
    }
}
