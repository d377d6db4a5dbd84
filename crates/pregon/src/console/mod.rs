//! The operator console: pages rendered on the server, in Spanish or English, served by
//! the one binary beside the API (issue 12).
//!
//! # Layout
//! - [`access`]: who is signed in (the session cookie), and sending anyone else to sign in.
//! - [`login`]: signing in and out.
//! - [`i18n`]: the language of a request, the Fluent catalogs (`locales/{es,en}/*.ftl`),
//!   number and date formats.
//! - [`assets`]: our style sheet, ES modules and icon (`assets/`), embedded and served at
//!   content-hashed URLs with a year's cache.
//! - [`layout`]: the frame of every page (`templates/base.html`) and what it needs from
//!   the request.
//! - [`security`]: the Content-Security-Policy and the other security headers, applied to
//!   the whole application.
//! - [`campaigns`]: the campaigns list at `/`.
//! - [`audience`]: the opt-outs and opt-ins, searched, added, removed and imported.
//! - [`messages`]: single messages: send one, the scheduled ones, the history.
//! - [`settings`]: people and roles, API keys, the webhook secret, the audit log.
//! - [`system`]: the database, the dispatcher processes and the queue.
//! - [`templates`]: the templates page at `/templates`.
//! - [`senders`]: the senders (numbers) page at `/senders`.
//! - [`detail`]: a campaign's detail at `/campaigns/{id}`.
//! - [`wizard`]: the new-campaign wizard at `/campaigns/new`.
//!
//! # Rules for pages
//! - An askama template per page in `templates/`, extending `base.html`, its struct
//!   holding a [`layout::Layout`]; answered with [`render`].
//! - Every word a person reads comes from the catalogs, in both languages
//!   (`layout.t("key")`); numbers and dates through [`i18n::Lang`]'s formatters.
//! - Nothing user-supplied is marked `|safe`: askama escapes it.
//! - No inline script, style or event handler attribute: the policy refuses them.
//!   Behaviour is wired by `data-*` attributes in `assets/app.js`; style lives in
//!   `assets/app.css`, and widths and colours come from attributes (`<progress value>`,
//!   `data-tone`), not `style=`.
//! - Every control is reachable by keyboard and has an accessible name; every state has
//!   its word beside its colour. `console-tests/` checks this in Chromium.

pub mod access;
pub mod assets;
pub mod audience;
pub mod campaigns;
pub mod detail;
pub mod i18n;
pub mod layout;
pub mod login;
pub mod messages;
pub mod security;
pub mod senders;
pub mod settings;
pub mod system;
pub mod templates;
pub mod wizard;

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_LANGUAGE, CONTENT_TYPE, VARY};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::http::error::ApiError;
use crate::http::AppState;
use i18n::Lang;
use layout::Layout;

/// The console's routes, to be merged into the application's router. Its pages read the
/// session first ([`access::identify`]); its assets need none.
pub fn routes(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(campaigns::list))
        .route("/campaigns/{id}", get(detail::page))
        .route("/campaigns/new", get(wizard::new))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/audience", get(audience::page))
        .route("/messages", get(messages::page))
        .route("/settings", get(settings::page))
        .route("/system", get(system::page))
        .route("/templates", get(templates::list))
        .route("/senders", get(senders::list));
    let pages = pages
        .route_layer(axum::middleware::from_fn_with_state(state, access::identify))
        .layer(axum::middleware::from_fn(i18n::remember));
    Router::new().route("/assets/{file}", get(assets::serve)).merge(pages)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    title_key: &'static str,
    body_key: &'static str,
}

/// A page that cannot be shown: the API's error, said for people, with its status.
pub fn error_page(layout: &Layout, error: ApiError) -> Response {
    let (title_key, body_key) = match error.status.as_u16() {
        404 => ("error-not-found-title", "error-not-found-body"),
        403 => ("error-forbidden-title", "error-forbidden-body"),
        _ => ("error-other-title", "error-other-body"),
    };
    let page = ErrorPage {
        layout: layout.clone(),
        title_key,
        body_key,
    };
    let mut response = render(layout.lang, &page);
    *response.status_mut() = error.status;
    response
}

/// A page as an HTML answer in `lang`. Pages carry the session's CSRF token and, soon, a
/// tenant's data: they are never stored by a cache.
pub fn render(lang: Lang, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            [
                (CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
                (CONTENT_LANGUAGE, HeaderValue::from_static(lang.code())),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (VARY, HeaderValue::from_static("Accept-Language, Cookie")),
            ],
            html,
        )
            .into_response(),
        Err(e) => ApiError::internal("rendering a console page", &e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use askama::Template;
    use pregon_domain::state::CampaignStatus;

    use super::layout::{Layout, Section, Viewer};
    use super::*;

    #[derive(Template)]
    #[template(
        ext = "html",
        source = r#"{% import "components.html" as ui %}{% call ui::badge(tone, label) %}{% endcall %}|{% call ui::progress(40, 100, name, text) %}{% endcall %}"#
    )]
    struct Pieces<'a> {
        tone: &'a str,
        label: &'a str,
        name: &'a str,
        text: &'a str,
    }

    #[test]
    fn a_badge_has_its_word_and_a_progress_bar_its_name() {
        let (tone, key) = campaigns::status_badge(CampaignStatus::Paused);
        let label = Lang::Es.t(key);
        let html = Pieces {
            tone: tone.as_str(),
            label: &label,
            name: "Progreso de <x>",
            text: "40 %",
        }
        .render()
        .expect("renders");
        assert_eq!(
            html,
            r#"<span class="badge" data-tone="warn">En pausa</span>|<span class="progress"><progress value="40" max="100" aria-label="Progreso de &#60;x&#62;"></progress><span class="progress__text">40 %</span></span>"#
        );
    }

    fn campaigns_page(lang: Lang, viewer: Option<Viewer>) -> String {
        let mut layout = Layout::new(lang, "/").at(Section::Campaigns);
        layout.viewer = viewer;
        campaigns::render_html(layout)
    }

    fn someone() -> Option<Viewer> {
        Some(Viewer {
            name: "Ana".into(),
            tenant: "Tienda".into(),
        })
    }

    #[test]
    fn pages_have_every_message_in_both_languages() {
        for lang in Lang::ALL {
            let html = campaigns_page(lang, someone());
            assert!(html.contains(r#"<nav class="site-nav""#));
            assert!(!html.contains('⟦'), "{}: a message is missing:\n{html}", lang.code());
            assert!(html.contains(&format!(r#"<html lang="{}">"#, lang.code())));
        }
        assert!(campaigns_page(Lang::Es, None).contains("Saltar al contenido"));
        assert!(campaigns_page(Lang::En, None).contains("Skip to content"));
    }

    #[test]
    fn what_a_user_wrote_is_escaped() {
        let viewer = Viewer {
            name: r#"<script>alert("x")</script>"#.into(),
            tenant: "Ana & Co <b>".into(),
        };
        let html = campaigns_page(Lang::En, Some(viewer));
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("Signed in as &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;"),
            "{html}"
        );
        assert!(html.contains("Business: Ana &#38; Co &#60;b&#62;"), "{html}");
        assert!(html.contains(r#"action="/logout""#), "a signed-in page can sign out");
    }

    #[test]
    fn no_inline_script_or_style() {
        let html = campaigns_page(Lang::Es, someone());
        let lower = html.to_lowercase();
        assert!(!lower.contains(" style="), "{html}");
        assert!(!lower.contains("<style"), "{html}");
        let handler = lower.split(" on").skip(1).find(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(handler.is_none(), "an inline event handler: on{handler:?}");
        for script in lower.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap_or_default();
            assert!(tag.contains(" src="), "an inline script: <script{tag}>");
        }
    }
}
