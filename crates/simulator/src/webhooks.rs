//! Webhooks, best effort. After a send is accepted its statuses (`sent`, `delivered`,
//! `read`, or `failed`) are posted one after the other, each after its delay; a paced
//! message is `held` first, and becomes `sent` or `failed` (132015) when its hold ends,
//! depending on its template then. Other events (template status and quality, user
//! preferences, phone-number throughput, inbound messages) are posted once, as built. A scheduler
//! holds each message's next status until it is due and hands it to a few workers that post
//! it, retrying a couple of times. The API only ever `try_send`s into the scheduler, and the
//! scheduler stops taking new work when it holds `queue` webhooks, so a slow or dead receiver
//! never slows the API: the excess is dropped and counted (`webhooks_dropped`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use pregon_providers::signature::{sha256_header, twilio_signature};
use serde::Serialize;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::config::WebhookConfig;

/// Why a message failed, in the provider's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub code: u32,
    pub title: &'static str,
    pub details: &'static str,
}

/// The failure of a held message whose template was paused during the hold.
pub(crate) const TEMPLATE_PAUSED: Failure = Failure {
    code: 132015,
    title: "Template is Paused",
    details: "Template is paused due to low quality so it cannot be sent in a template message.",
};

/// A status a webhook reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Sent,
    Delivered,
    Read,
    Failed(Failure),
    /// Held by template pacing: becomes `Sent` or `Failed` when due, never posted as such.
    Held,
    /// A prebuilt event ([`Target::Event`]).
    Event,
}

impl Status {
    fn name(&self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
            Status::Failed(_) => "failed",
            Status::Held => "held",
            Status::Event => "event",
        }
    }
}

/// What a paced message waits on: its template, in the catalog.
#[derive(Debug)]
pub(crate) struct Hold {
    pub catalog: Arc<Catalog>,
    pub name: String,
    pub language: String,
}

/// Where a message's webhooks go and what they say about it.
#[derive(Debug)]
pub(crate) enum Target {
    Meta {
        url: String,
        app_secret: Option<String>,
        waba_id: String,
        display_phone_number: String,
        phone_number_id: String,
        wamid: String,
        /// The recipient's phone (digits), unless the message went to a BSUID alone.
        recipient_id: Option<String>,
        /// The recipient's BSUID, on sends to one and with `--user-ids`.
        recipient_user_id: Option<String>,
        /// Echoed back as Meta does, so a client can correlate without a lookup.
        callback_data: Option<String>,
        /// `pricing.category`: the template's (`marketing`, `utility`, `authentication`), or
        /// `marketing_lite` through the Marketing Messages API.
        category: &'static str,
        /// `pricing.type`: `regular` (billable), or a free type (`--free-numbers`).
        pricing_type: &'static str,
        /// Set for a paced message.
        hold: Option<Hold>,
    },
    /// A Meta event built in full by its sender, signed like the rest.
    Event {
        url: String,
        app_secret: Option<String>,
        body: Vec<u8>,
    },
    Twilio {
        url: String,
        /// Signs `X-Twilio-Signature`: the account's auth token.
        auth_token: String,
        account_sid: String,
        sid: String,
        from: String,
        to: String,
    },
}

/// One status of one message, waiting or being posted.
#[derive(Debug)]
struct Job {
    target: Arc<Target>,
    status: Status,
    /// Tries already made.
    attempt: u32,
    /// Unix seconds of the status, fixed at its first try so retries say the same thing.
    timestamp: Option<u64>,
    /// The statuses that follow, each with its delay after this one.
    rest: VecDeque<(Status, Duration)>,
}

/// A job and when it is due; the heap pops the earliest first.
struct Scheduled {
    due: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// The way into the webhook machinery, and its counters.
pub(crate) struct Queue {
    tx: mpsc::Sender<Scheduled>,
    seq: AtomicU64,
    retries: u32,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    /// Webhooks planned and neither posted nor given up yet (a message's next status is
    /// planned before the one before it counts as done): none means nothing more is sent.
    pub pending: AtomicU64,
}

impl Queue {
    /// Plans a message's statuses; each `(status, delay)` comes `delay` after the one before.
    pub(crate) fn plan(&self, target: Target, mut steps: VecDeque<(Status, Duration)>) {
        if let Some((status, delay)) = steps.pop_front() {
            let job = Job {
                target: Arc::new(target),
                status,
                attempt: 0,
                timestamp: None,
                rest: steps,
            };
            self.schedule(job, delay);
        }
    }

    pub(crate) fn reset_counters(&self) {
        for c in [&self.sent, &self.failed, &self.dropped] {
            c.store(0, Relaxed);
        }
    }

    fn schedule(&self, job: Job, delay: Duration) {
        let lost = 1 + job.rest.len() as u64;
        let item = Scheduled {
            due: Instant::now() + delay,
            seq: self.seq.fetch_add(1, Relaxed),
            job,
        };
        // Counted before it can be done (and counted off).
        self.pending.fetch_add(1, Relaxed);
        if self.tx.try_send(item).is_err() {
            self.pending.fetch_sub(1, Relaxed);
            self.dropped.fetch_add(lost, Relaxed);
        }
    }

    /// After a job is done (posted or given up): its message's next status, if any.
    fn follow(&self, job: Job) {
        let mut rest = job.rest;
        if let Some((status, delay)) = rest.pop_front() {
            let next = Job {
                target: job.target,
                status,
                attempt: 0,
                timestamp: None,
                rest,
            };
            self.schedule(next, delay);
        }
    }

    /// 0.25 s, 1 s, 4 s, … after a failed try.
    fn retry(&self, mut job: Job) {
        let delay = Duration::from_millis(250) * 4u32.saturating_pow(job.attempt.min(8));
        job.attempt += 1;
        self.schedule(job, delay);
    }
}

/// Starts the scheduler and the workers; they stop when `cancel` fires.
pub(crate) fn start(config: &WebhookConfig, cancel: CancellationToken) -> (Arc<Queue>, Vec<JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel(config.queue);
    let (work_tx, work_rx) = mpsc::channel(config.workers * 4);
    let queue = Arc::new(Queue {
        tx,
        seq: AtomicU64::new(0),
        retries: config.retries,
        sent: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        pending: AtomicU64::new(0),
    });
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .no_proxy()
        .build()
        .expect("a plain HTTP client builds");
    let mut tasks = vec![tokio::spawn(scheduler(rx, work_tx, config.queue, cancel.clone()))];
    let work_rx = Arc::new(Mutex::new(work_rx));
    for _ in 0..config.workers {
        tasks.push(tokio::spawn(worker(
            work_rx.clone(),
            queue.clone(),
            client.clone(),
            cancel.clone(),
        )));
    }
    (queue, tasks)
}

async fn scheduler(
    mut rx: mpsc::Receiver<Scheduled>,
    out: mpsc::Sender<Job>,
    capacity: usize,
    cancel: CancellationToken,
) {
    let mut heap = BinaryHeap::new();
    loop {
        let next_due = heap.peek().map(|s: &Scheduled| s.due);
        tokio::select! {
            () = cancel.cancelled() => return,
            item = rx.recv(), if heap.len() < capacity => match item {
                Some(item) => heap.push(item),
                None => return,
            },
            () = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => {
                let now = Instant::now();
                while heap.peek().is_some_and(|s| s.due <= now) {
                    let item = heap.pop().expect("peeked");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        sent = out.send(item.job) => if sent.is_err() { return },
                    }
                }
            }
        }
    }
}

async fn worker(
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    queue: Arc<Queue>,
    client: reqwest::Client,
    cancel: CancellationToken,
) {
    loop {
        let job = {
            let mut rx = rx.lock().await;
            tokio::select! {
                () = cancel.cancelled() => return,
                job = rx.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
            }
        };
        let mut job = job;
        if job.status == Status::Held {
            let dropped = match &*job.target {
                Target::Meta { hold: Some(h), .. } => h.catalog.drops_held(&h.name, &h.language),
                _ => false,
            };
            if dropped {
                job.status = Status::Failed(TEMPLATE_PAUSED);
                job.rest.clear();
            } else {
                job.status = Status::Sent;
            }
        }
        let delivered = tokio::select! {
            () = cancel.cancelled() => return,
            ok = deliver(&client, &mut job) => ok,
        };
        if delivered {
            queue.sent.fetch_add(1, Relaxed);
            queue.follow(job);
        } else if job.attempt < queue.retries {
            queue.retry(job);
        } else {
            queue.failed.fetch_add(1, Relaxed);
            queue.follow(job);
        }
        // Its follower (or retry) is planned: this one is done.
        queue.pending.fetch_sub(1, Relaxed);
    }
}

/// Posts one status; true when the receiver answered 2xx.
async fn deliver(client: &reqwest::Client, job: &mut Job) -> bool {
    let timestamp = *job.timestamp.get_or_insert_with(unix_now);
    let request = match &*job.target {
        Target::Meta { url, app_secret, .. } => {
            let body = meta_body(&job.target, &job.status, timestamp);
            let mut request = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::USER_AGENT, "facebookexternalua");
            if let Some(secret) = app_secret {
                request = request.header("X-Hub-Signature-256", sha256_header(secret.as_bytes(), &body));
            }
            request.body(body)
        }
        Target::Event { url, app_secret, body } => {
            let mut request = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::USER_AGENT, "facebookexternalua");
            if let Some(secret) = app_secret {
                request = request.header("X-Hub-Signature-256", sha256_header(secret.as_bytes(), body));
            }
            request.body(body.clone())
        }
        Target::Twilio { url, auth_token, .. } => {
            let params = twilio_params(&job.target, &job.status);
            client
                .post(url)
                .header(reqwest::header::USER_AGENT, "TwilioProxy/1.1")
                .header("X-Twilio-Signature", twilio_signature(auth_token, url, &params))
                .form(&params)
        }
    };
    match request.send().await {
        Ok(response) if response.status().is_success() => true,
        Ok(response) => {
            tracing::debug!(status = %response.status(), status_name = job.status.name(), "webhook refused");
            false
        }
        Err(error) => {
            tracing::debug!(%error, status_name = job.status.name(), "webhook not delivered");
            false
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Serialize)]
struct MetaEnvelope<'a> {
    object: &'static str,
    entry: [MetaEntry<'a>; 1],
}

#[derive(Serialize)]
struct MetaEntry<'a> {
    id: &'a str,
    changes: [MetaChange<'a>; 1],
}

#[derive(Serialize)]
struct MetaChange<'a> {
    value: MetaValue<'a>,
    field: &'static str,
}

#[derive(Serialize)]
struct MetaValue<'a> {
    messaging_product: &'static str,
    metadata: MetaMetadata<'a>,
    /// The recipient, on statuses of messages sent to a BSUID or with `--user-ids`; never
    /// on failures (Meta omits it there).
    #[serde(skip_serializing_if = "Option::is_none")]
    contacts: Option<[MetaContact<'a>; 1]>,
    statuses: [MetaStatus<'a>; 1],
}

#[derive(Serialize)]
struct MetaContact<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    wa_id: Option<&'a str>,
    user_id: &'a str,
}

#[derive(Serialize)]
struct MetaMetadata<'a> {
    display_phone_number: &'a str,
    phone_number_id: &'a str,
}

#[derive(Serialize)]
struct MetaStatus<'a> {
    id: &'a str,
    status: &'static str,
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    biz_opaque_callback_data: Option<&'a str>,
    pricing: MetaPricing,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<[MetaError<'a>; 1]>,
}

#[derive(Serialize)]
struct MetaPricing {
    billable: bool,
    pricing_model: &'static str,
    category: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct MetaError<'a> {
    code: u32,
    title: &'a str,
    message: &'a str,
    error_data: MetaErrorData<'a>,
    href: &'static str,
}

#[derive(Serialize)]
struct MetaErrorData<'a> {
    details: &'a str,
}

/// The webhook body, shaped exactly as providers.md §1.4 shows it.
fn meta_body(target: &Target, status: &Status, timestamp: u64) -> Vec<u8> {
    let Target::Meta {
        waba_id,
        display_phone_number,
        phone_number_id,
        wamid,
        recipient_id,
        recipient_user_id,
        callback_data,
        category,
        pricing_type,
        ..
    } = target
    else {
        unreachable!("a Meta body for a Meta target only")
    };
    let failed = matches!(status, Status::Failed(_));
    let contacts = match (recipient_user_id, failed) {
        (Some(user_id), false) => Some([MetaContact {
            wa_id: recipient_id.as_deref(),
            user_id,
        }]),
        _ => None,
    };
    let envelope = MetaEnvelope {
        object: "whatsapp_business_account",
        entry: [MetaEntry {
            id: waba_id,
            changes: [MetaChange {
                value: MetaValue {
                    messaging_product: "whatsapp",
                    metadata: MetaMetadata {
                        display_phone_number,
                        phone_number_id,
                    },
                    contacts,
                    statuses: [MetaStatus {
                        id: wamid,
                        status: status.name(),
                        timestamp: timestamp.to_string(),
                        recipient_id: recipient_id.as_deref(),
                        recipient_user_id: recipient_user_id.as_deref(),
                        biz_opaque_callback_data: callback_data.as_deref(),
                        pricing: MetaPricing {
                            billable: !failed && *pricing_type == "regular",
                            pricing_model: "PMP",
                            category,
                            kind: pricing_type,
                        },
                        errors: match status {
                            Status::Failed(f) => Some([MetaError {
                                code: f.code,
                                title: f.title,
                                message: f.title,
                                error_data: MetaErrorData { details: f.details },
                                href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                            }]),
                            _ => None,
                        },
                    }],
                },
                field: "messages",
            }],
        }],
    };
    serde_json::to_vec(&envelope).expect("plain structs serialize")
}

/// The fields of a Twilio status callback (as a WhatsApp sender gets them).
fn twilio_params(target: &Target, status: &Status) -> Vec<(String, String)> {
    let Target::Twilio {
        account_sid,
        sid,
        from,
        to,
        ..
    } = target
    else {
        unreachable!("Twilio fields for a Twilio target only")
    };
    let name = status.name();
    let mut params: Vec<(String, String)> = [
        ("MessageSid", sid.as_str()),
        ("SmsSid", sid.as_str()),
        ("AccountSid", account_sid.as_str()),
        ("From", from.as_str()),
        ("To", to.as_str()),
        ("MessageStatus", name),
        ("SmsStatus", name),
        ("ApiVersion", "2010-04-01"),
        ("ChannelPrefix", "whatsapp"),
        ("ChannelToAddress", to.strip_prefix("whatsapp:").unwrap_or(to)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    match status {
        Status::Failed(f) => {
            params.push(("ErrorCode".into(), f.code.to_string()));
            params.push(("ChannelStatusMessage".into(), f.title.to_string()));
        }
        Status::Read => params.push(("EventType".into(), "READ".into())),
        Status::Sent | Status::Delivered | Status::Held | Status::Event => {}
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meta_body_has_the_documented_shape() {
        let target = Target::Meta {
            url: "http://127.0.0.1:1/".into(),
            app_secret: None,
            waba_id: "102290129340398".into(),
            display_phone_number: "15550783881".into(),
            phone_number_id: "106540352242922".into(),
            wamid: "wamid.TEST1".into(),
            recipient_id: Some("16505551234".into()),
            recipient_user_id: None,
            callback_data: None,
            category: "marketing",
            pricing_type: "regular",
            hold: None,
        };
        let body = meta_body(&target, &Status::Delivered, 1750263773);
        // Byte for byte the delivered example of providers.md §1.4 (432 bytes).
        let expected = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.TEST1","status":"delivered","timestamp":"1750263773","recipient_id":"16505551234","pricing":{"billable":true,"pricing_model":"PMP","category":"marketing","type":"regular"}}]},"field":"messages"}]}]}"#;
        assert_eq!(String::from_utf8(body).unwrap(), expected);

        let failed = Status::Failed(Failure {
            code: 131026,
            title: "Message undeliverable",
            details: "x",
        });
        let body: serde_json::Value = serde_json::from_slice(&meta_body(&target, &failed, 1)).unwrap();
        let status = &body["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(status["status"], "failed");
        assert_eq!(status["errors"][0]["code"], 131026);
        assert_eq!(status["pricing"]["billable"], false);

        // A recipient inside the customer-service window: free, not billable.
        let Target::Meta {
            url,
            app_secret,
            waba_id,
            display_phone_number,
            phone_number_id,
            wamid,
            recipient_id,
            recipient_user_id,
            callback_data,
            category,
            ..
        } = target
        else {
            unreachable!()
        };
        let free = Target::Meta {
            url,
            app_secret,
            waba_id,
            display_phone_number,
            phone_number_id,
            wamid,
            recipient_id,
            recipient_user_id,
            callback_data,
            category,
            pricing_type: "free_customer_service",
            hold: None,
        };
        let body: serde_json::Value = serde_json::from_slice(&meta_body(&free, &Status::Delivered, 1)).unwrap();
        let pricing = &body["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"];
        assert_eq!(
            (&pricing["type"], &pricing["billable"]),
            (&serde_json::json!("free_customer_service"), &serde_json::json!(false))
        );
    }

    #[test]
    fn twilio_fields() {
        let target = Target::Twilio {
            url: "http://127.0.0.1:1/".into(),
            auth_token: "t".into(),
            account_sid: "AC1".into(),
            sid: "SM1".into(),
            from: "whatsapp:+14155238886".into(),
            to: "whatsapp:+14155550100".into(),
        };
        let p = twilio_params(&target, &Status::Read);
        assert!(p.contains(&("ChannelToAddress".into(), "+14155550100".into())));
        assert!(p.contains(&("EventType".into(), "READ".into())));
        assert!(!p.iter().any(|(k, _)| k == "ErrorCode"));
    }
}
