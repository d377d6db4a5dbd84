//! The audience page at `/audience`: the tenant's two consent registers. Opt-outs (numbers
//! never messaged: stop words in replies, the provider, imports, people) and opt-ins (the
//! consent campaigns that require it check), each searched by the start of a phone, paged
//! on the server, added and removed here; opt-outs also imported from a CSV. Every change
//! goes through `/api/v1/opt-outs` and `/api/v1/opt-ins`.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use pregon_domain::{OptOutScope, Role};
use pregon_store::{Page, PageRequest};
use serde::Deserialize;

use super::access::SignedIn;
use super::i18n::Lang;
use super::layout::{Layout, Section};
use super::system::when;
use super::{error_page, render};
use crate::http::extract::PhoneSearch;
use crate::http::AppState;

/// Rows of each register on one page.
const PAGE_SIZE: i64 = 50;

struct EntryRow {
    phone: String,
    /// The opt-out's reason, or the opt-in's evidence.
    note: String,
    source: String,
    created: String,
}

#[derive(Template)]
#[template(path = "audience.html")]
struct AudiencePage {
    layout: Layout,
    can_change: bool,
    phone: String,
    opt_outs: Vec<EntryRow>,
    opt_ins: Vec<EntryRow>,
    out_next: Option<String>,
    in_next: Option<String>,
    searched: bool,
}

#[derive(Debug, Deserialize)]
pub struct AudienceQuery {
    phone: Option<String>,
    out_cursor: Option<String>,
    in_cursor: Option<String>,
}

/// An opt-out's or opt-in's source in words (the API's names otherwise).
fn source_words(lang: Lang, source: &str) -> String {
    match source {
        "api" | "reply" | "provider" | "import" | "console" => lang.t(&format!("audience-source-{source}")),
        other => other.to_string(),
    }
}

/// `GET /audience`.
pub async fn page(
    State(state): State<AppState>,
    layout: Layout,
    who: SignedIn,
    Query(q): Query<AudienceQuery>,
) -> Result<Response, Response> {
    let layout = layout.at(Section::Audience);
    let lang = layout.lang;
    let fail = |e: pregon_store::StoreError| error_page(&layout, e.into());
    // A search that is not the start of a phone finds nothing rather than everything.
    let search = PhoneSearch { phone: q.phone.clone() };
    let (prefix, valid) = match search.phone() {
        Ok(p) => (p, true),
        Err(_) => (None, false),
    };
    let searched = prefix.is_some() || !valid;
    let page_of = |cursor: Option<String>| PageRequest {
        limit: PAGE_SIZE,
        cursor: cursor.filter(|c| c.len() <= 200),
    };
    let tenant = who.tenant_id();
    let outs = if valid {
        state
            .store
            .list_opt_outs(tenant, prefix.as_deref(), &page_of(q.out_cursor.clone()))
            .await
            .map_err(fail)?
    } else {
        Page {
            items: Vec::new(),
            next_cursor: None,
        }
    };
    let ins = if valid {
        state
            .store
            .list_opt_ins(tenant, prefix.as_deref(), &page_of(q.in_cursor.clone()))
            .await
            .map_err(fail)?
    } else {
        Page {
            items: Vec::new(),
            next_cursor: None,
        }
    };
    let link = |key: &str, cursor: &str, anchor: &str| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(p) = q.phone.as_deref().filter(|p| !p.is_empty()) {
            query.append_pair("phone", p);
        }
        query.append_pair(key, cursor);
        format!("/audience?{}#{anchor}", query.finish())
    };
    let page = AudiencePage {
        can_change: who.may(Role::Operator),
        phone: q.phone.clone().unwrap_or_default(),
        out_next: outs.next_cursor.as_deref().map(|c| link("out_cursor", c, "opt-outs")),
        in_next: ins.next_cursor.as_deref().map(|c| link("in_cursor", c, "opt-ins")),
        opt_outs: outs
            .items
            .into_iter()
            .map(|o| EntryRow {
                note: o.reason.unwrap_or_default(),
                source: match o.scope {
                    OptOutScope::All => source_words(lang, &o.source),
                    OptOutScope::Marketing => format!(
                        "{} · {}",
                        source_words(lang, &o.source),
                        lang.t("audience-scope-marketing")
                    ),
                },
                created: when(lang, o.created_at),
                phone: o.phone,
            })
            .collect(),
        opt_ins: ins
            .items
            .into_iter()
            .map(|o| EntryRow {
                note: o.evidence.unwrap_or_default(),
                source: source_words(lang, &o.source),
                created: when(lang, o.created_at),
                phone: o.phone,
            })
            .collect(),
        searched,
        layout,
    };
    Ok(render(lang, &page))
}
