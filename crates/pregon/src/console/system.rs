//! The system page at `/system`: is the database answering, the dispatcher processes
//! sharing it (host, process, version, heartbeat age, rate, and which of this tenant's
//! senders each one holds), and the queue. The same facts as `GET /api/v1/system` and
//! `/health`, for people.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use pregon_store::PageRequest;

use super::access::SignedIn;
use super::i18n::Lang;
use super::layout::{Layout, Section, Tone};
use super::{error_page, render};
use crate::http::AppState;

/// A dispatcher whose heartbeat is older than this is shown as late: its leases are about
/// to be taken over by the others.
const LATE_AFTER_MS: i64 = 30_000;

/// One dispatcher process as a row.
struct DispatcherRow {
    id: String,
    host: String,
    pid: String,
    version: String,
    started: String,
    heartbeat_age: String,
    tone: &'static str,
    state: String,
    rate: String,
    /// The names of this tenant's senders it holds.
    senders: Vec<String>,
    /// How many senders of other tenants it holds, in words; never named.
    others: Option<String>,
}

#[derive(Template)]
#[template(path = "system.html")]
struct SystemPage {
    layout: Layout,
    database_tone: &'static str,
    database: String,
    dispatchers: Vec<DispatcherRow>,
    queue_depth: String,
    running: String,
}

/// A time in milliseconds in the page's language.
pub fn when(lang: Lang, millis: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(millis)
        .map(|t| lang.datetime(&t))
        .unwrap_or_default()
}

/// `GET /system`.
pub async fn page(State(state): State<AppState>, layout: Layout, who: SignedIn) -> Result<Response, Response> {
    let layout = layout.at(Section::System);
    let lang = layout.lang;
    let fail = |e: pregon_store::StoreError| error_page(&layout, e.into());
    let healthy = state.store.ping().await.is_ok();
    let dispatchers = state.store.list_dispatchers().await.map_err(fail)?;
    let senders = state
        .store
        .list_senders(
            who.tenant_id(),
            &PageRequest {
                limit: 500,
                cursor: None,
            },
        )
        .await
        .map_err(fail)?;
    let names: HashMap<&str, &str> = senders.items.iter().map(|s| (s.id.as_str(), s.name.as_str())).collect();
    let now = state.clock.now_millis();
    let rows = dispatchers
        .iter()
        .map(|d| {
            let age = (now - d.last_heartbeat_at).max(0);
            let late = age > LATE_AFTER_MS;
            let mine: Vec<String> = d
                .senders
                .iter()
                .filter_map(|s| names.get(s.as_str()).map(|n| n.to_string()))
                .collect();
            DispatcherRow {
                id: d.id.clone(),
                host: d.host.clone(),
                pid: d.pid.to_string(),
                version: d.version.clone(),
                started: when(lang, d.started_at),
                heartbeat_age: lang.duration(age / 1000),
                tone: if late { Tone::Warn } else { Tone::Ok }.as_str(),
                state: lang.t(if late {
                    "system-dispatcher-late"
                } else {
                    "system-dispatcher-alive"
                }),
                rate: lang.number(d.current_rate, 1),
                others: match d.senders.len() - mine.len() {
                    0 => None,
                    n => Some(lang.t_count("system-other-senders", n as i64)),
                },
                senders: mine,
            }
        })
        .collect();
    let queue_depth = state.store.queue_depth().await.map_err(fail)?;
    let running = state.store.running_campaigns().await.map_err(fail)?;
    let page = SystemPage {
        database_tone: if healthy { Tone::Ok } else { Tone::Bad }.as_str(),
        database: lang.t(if healthy {
            "system-database-ok"
        } else {
            "system-database-down"
        }),
        dispatchers: rows,
        queue_depth: lang.integer(queue_depth),
        running: lang.integer(running),
        layout,
    };
    Ok(render(lang, &page))
}
