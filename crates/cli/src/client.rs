//! HTTP client for the pregon server's `/api/v1` routes.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::model::{Campaign, CampaignPage, ImportReport, ImportedCampaign};
use crate::ClientArgs;

/// How often `watch` polls the campaign by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a create is sent again, with the same `Idempotency-Key`, after a timeout or a
/// broken connection, and how long it waits first each time (doubling).
const CREATE_RETRIES: u32 = 4;
const CREATE_RETRY_WAIT: Duration = Duration::from_secs(1);
const BODY_SNIPPET_CHARS: usize = 200;

/// Everything that can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No API key was given.
    #[error("no API key configured: pass --api-key <KEY> or set PREGON_API_KEY")]
    MissingApiKey,
    /// The base URL is not an absolute http(s) URL.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server answered with its error envelope.
    #[error("error: {message} ({code}, HTTP {status}){}", render_details(details))]
    Api {
        /// HTTP status code.
        status: u16,
        /// Machine-readable snake_case code.
        code: String,
        /// Human sentence.
        message: String,
        /// Extra details from the envelope (may be empty).
        details: Vec<Value>,
    },
    /// The server answered with an error status but no error envelope.
    #[error("error: server answered HTTP {status}: {body}")]
    UnexpectedStatus {
        /// HTTP status code.
        status: u16,
        /// Start of the response body.
        body: String,
    },
    /// The request could not be sent or the answer not received.
    #[error("request to the pregon server failed")]
    Transport(#[from] reqwest::Error),
    /// The answer was not the JSON we expected.
    #[error("could not parse the server's answer to {what}")]
    Decode {
        /// Which request was answered.
        what: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The CSV file could not be read.
    #[error("could not read CSV file {}", path.display())]
    ReadCsv {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl ClientError {
    /// Whether retrying the same request later might succeed (network trouble,
    /// a restarting server or a 5xx answer).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Api { status, .. } | ClientError::UnexpectedStatus { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

fn render_details(details: &[Value]) -> String {
    details
        .iter()
        .map(|d| match d {
            Value::String(s) => format!("\n  - {s}"),
            other => format!("\n  - {other}"),
        })
        .collect()
}

/// A state change requested with `POST /api/v1/campaigns/{id}/<action>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start a draft or scheduled campaign.
    Start,
    /// Pause a running campaign.
    Pause,
    /// Resume a paused campaign.
    Resume,
    /// Cancel the campaign for good.
    Cancel,
}

impl Action {
    /// The last path segment of the action route.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Cancel => "cancel",
        }
    }
}

/// The fields of a campaign import (`POST /api/v1/campaigns/import`).
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The CSV file to upload.
    pub csv: PathBuf,
    /// Campaign name.
    pub name: String,
    /// Template to send.
    pub template_id: String,
    /// Sender to send from (server default if `None`).
    pub sender_id: Option<String>,
    /// CSV column holding the phone number (server default if `None`).
    pub phone_column: Option<String>,
    /// Region used for numbers without a country code, e.g. `AR`.
    pub default_region: Option<String>,
    /// Scheduling priority.
    pub priority: Option<u8>,
    /// Start right away (`true`) or leave a draft (`false`).
    pub start: bool,
    /// The campaign's `schedule` object (start time, window, time zone), if any.
    pub schedule: Option<serde_json::Value>,
    /// The campaign's `rate` plan, if any.
    pub rate: Option<serde_json::Value>,
}

/// A pregon API client: base URL, API key and a reqwest connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: String,
    poll_interval: Duration,
}

impl Client {
    /// Creates a client for the server at `base_url` authenticating with `api_key`.
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, ClientError> {
        if api_key.trim().is_empty() {
            return Err(ClientError::MissingApiKey);
        }
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if base.cannot_be_a_base() {
            return Err(invalid("not a base URL"));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("pregon-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            base,
            api_key: api_key.trim().to_owned(),
            poll_interval: DEFAULT_POLL_INTERVAL,
        })
    }

    /// Creates a client from the command-line arguments; fails early without an API key.
    pub fn from_args(args: &ClientArgs) -> Result<Self, ClientError> {
        let key = args.api_key.as_deref().ok_or(ClientError::MissingApiKey)?;
        Self::new(&args.url, key)
    }

    /// Sets how often [`Client::watch`] polls (500 ms by default).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How often [`Client::watch`] polls.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Uploads a CSV and creates a campaign from it.
    pub async fn import_campaign(&self, req: &ImportRequest) -> Result<ImportedCampaign, ClientError> {
        let bytes = tokio::fs::read(&req.csv).await.map_err(|source| ClientError::ReadCsv {
            path: req.csv.clone(),
            source,
        })?;
        let file_name = req
            .csv
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recipients.csv".to_owned());
        let mut fields: Vec<(&'static str, String)> =
            vec![("name", req.name.clone()), ("template_id", req.template_id.clone())];
        let optional = [
            ("sender_id", req.sender_id.clone()),
            ("phone_column", req.phone_column.clone()),
            ("default_region", req.default_region.clone()),
            ("priority", req.priority.map(|p| p.to_string())),
            ("schedule", req.schedule.as_ref().map(|v| v.to_string())),
            ("rate", req.rate.as_ref().map(|v| v.to_string())),
        ];
        for (field, value) in optional {
            if let Some(value) = value {
                fields.push((field, value));
            }
        }
        fields.push(("start", req.start.to_string()));

        let build = || {
            let file = Part::bytes(bytes.clone())
                .file_name(file_name.clone())
                .mime_str("text/csv")
                .map_err(ClientError::from)?;
            Ok(self
                .request(Method::POST, &["campaigns", "import"])
                .timeout(UPLOAD_TIMEOUT)
                .multipart(
                    fields
                        .clone()
                        .into_iter()
                        .fold(Form::new().part("file", file), |f, (k, v)| f.text(k, v)),
                ))
        };
        let raw = self.send_create(build, "the campaign import").await?;
        let campaign: Campaign = decode(&raw, "the campaign import")?;
        let import: ImportReport = match raw.get("import") {
            Some(v) => decode(v, "the campaign import")?,
            None => ImportReport::default(),
        };
        Ok(ImportedCampaign {
            campaign: Campaign {
                raw: raw.clone(),
                ..campaign
            },
            import,
            raw,
        })
    }

    /// Lists campaigns, newest first, optionally filtered by status.
    pub async fn list_campaigns(&self, status: Option<&str>, limit: u32) -> Result<CampaignPage, ClientError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(status) = status {
            query.push(("status", status.to_owned()));
        }
        query.push(("limit", limit.to_string()));
        let builder = self.request(Method::GET, &["campaigns"]).query(&query);
        let raw = self.send(builder, "the campaign list").await?;
        let mut page: CampaignPage = decode(&raw, "the campaign list")?;
        if let Some(items) = raw.get("items").and_then(Value::as_array) {
            for (campaign, item) in page.items.iter_mut().zip(items) {
                campaign.raw = item.clone();
            }
        }
        page.raw = raw;
        Ok(page)
    }

    /// Every dispatcher sharing the server's database, and the queue (`GET /api/v1/system`).
    pub async fn system(&self) -> Result<Value, ClientError> {
        let builder = self.request(Method::GET, &["system"]);
        self.send(builder, "the system overview").await
    }

    /// Fetches one campaign.
    pub async fn get_campaign(&self, id: &str) -> Result<Campaign, ClientError> {
        let builder = self.request(Method::GET, &["campaigns", id]);
        self.campaign_answer(builder, &format!("GET campaign {id}")).await
    }

    /// Starts, pauses, resumes or cancels a campaign; returns its new state.
    pub async fn campaign_action(&self, id: &str, action: Action) -> Result<Campaign, ClientError> {
        let builder = self.request(Method::POST, &["campaigns", id, action.as_str()]);
        self.campaign_answer(builder, &format!("{} campaign {id}", action.as_str()))
            .await
    }

    /// Re-queues the failed (and optionally unknown) messages of a campaign.
    pub async fn retry_campaign(&self, id: &str, include_unknown: bool) -> Result<Campaign, ClientError> {
        let builder = self
            .request(Method::POST, &["campaigns", id, "retry"])
            .json(&json!({ "include_unknown": include_unknown }));
        self.campaign_answer(builder, &format!("retry campaign {id}")).await
    }

    async fn campaign_answer(&self, builder: RequestBuilder, what: &str) -> Result<Campaign, ClientError> {
        let raw = self.send(builder, what).await?;
        let campaign: Campaign = decode(&raw, what)?;
        Ok(Campaign { raw, ..campaign })
    }

    /// A request to `<base>/api/v1/<segments…>` (segments are percent-encoded).
    pub(crate) fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        self.http.request(method, url).bearer_auth(&self.api_key)
    }

    /// Sends a request that creates something, with a fresh `Idempotency-Key`; on a timeout
    /// or a broken connection, and while the server says the first is still in progress, it
    /// sends it again with the same key, so that the thing is made once however often it is
    /// sent. `build` makes the request anew for each attempt.
    pub(crate) async fn send_create(
        &self,
        build: impl Fn() -> Result<RequestBuilder, ClientError>,
        what: &str,
    ) -> Result<Value, ClientError> {
        let key = uuid::Uuid::now_v7().to_string();
        let mut wait = CREATE_RETRY_WAIT;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.send(build()?.header("Idempotency-Key", &key), what).await;
            let again = match &result {
                Err(ClientError::Transport(e)) => e.is_timeout() || e.is_connect() || e.is_request(),
                Err(ClientError::Api { code, .. }) => code == "idempotency_key_in_progress",
                _ => false,
            };
            if !again || attempt > CREATE_RETRIES {
                return result;
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }

    pub(crate) async fn send(&self, builder: RequestBuilder, what: &str) -> Result<Value, ClientError> {
        let response = builder.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|source| ClientError::Decode {
                what: what.to_owned(),
                source,
            });
        }
        Err(error_from_body(status, &body))
    }
}

fn decode<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, ClientError> {
    T::deserialize(value).map_err(|source| ClientError::Decode {
        what: what.to_owned(),
        source,
    })
}

/// Turns an error answer into [`ClientError::Api`] if it carries the error
/// envelope, else into [`ClientError::UnexpectedStatus`].
fn error_from_body(status: StatusCode, body: &[u8]) -> ClientError {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        code: String,
        message: String,
        #[serde(default)]
        details: Option<Vec<Value>>,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { error }) => ClientError::Api {
            status: status.as_u16(),
            code: error.code,
            message: error.message,
            details: error.details.unwrap_or_default(),
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let mut snippet: String = text.trim().chars().take(BODY_SNIPPET_CHARS).collect();
            if text.trim().chars().count() > BODY_SNIPPET_CHARS {
                snippet.push('…');
            }
            if snippet.is_empty() {
                snippet = status.canonical_reason().unwrap_or("no body").to_owned();
            }
            ClientError::UnexpectedStatus {
                status: status.as_u16(),
                body: snippet,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_becomes_api_error_with_spec_text() {
        let body = br#"{"error":{"code":"invalid_transition","message":"campaign is completed","details":["from completed"]}}"#;
        let err = error_from_body(StatusCode::CONFLICT, body);
        assert_eq!(
            err.to_string(),
            "error: campaign is completed (invalid_transition, HTTP 409)\n  - from completed"
        );
        assert!(!err.is_transient());
    }

    #[test]
    fn non_envelope_body_is_kept_as_snippet() {
        let err = error_from_body(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(
            err.to_string(),
            "error: server answered HTTP 502: <html>bad gateway</html>"
        );
        assert!(err.is_transient());
        let empty = error_from_body(StatusCode::NOT_FOUND, b"");
        assert_eq!(empty.to_string(), "error: server answered HTTP 404: Not Found");
    }

    #[test]
    fn urls_keep_base_path_and_encode_ids() {
        let client = Client::new("http://example.test/pregon/", "k").unwrap();
        let req = client.request(Method::GET, &["campaigns", "a/b c"]).build().unwrap();
        assert_eq!(
            req.url().as_str(),
            "http://example.test/pregon/api/v1/campaigns/a%2Fb%20c"
        );
        assert_eq!(req.headers()["authorization"], "Bearer k");
    }

    #[test]
    fn rejects_missing_key_and_bad_urls() {
        assert!(matches!(Client::new("http://x", "  "), Err(ClientError::MissingApiKey)));
        assert!(matches!(
            Client::new("ftp://x", "k"),
            Err(ClientError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Client::new("not a url", "k"),
            Err(ClientError::InvalidUrl { .. })
        ));
    }
}
