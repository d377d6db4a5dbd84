//! The frame every console page is drawn in (`templates/base.html`): `<html lang>`, the
//! CSRF token's `<meta>`, the skip link, the header with the product name, the navigation,
//! the language switcher and who is signed in, the main landmark, the footer, the live
//! region for announcements and the confirmation dialog.
//!
//! A page's template struct holds a [`Layout`] as its `layout` field (taken as an
//! extractor, then [`Layout::at`] its section) and extends `base.html`. Who is signed in
//! ([`Viewer`]) and the CSRF token ([`CsrfToken`]) are read from the request's extensions,
//! where the sessions layer will put them; until then the header says nobody is signed in.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::assets;
use super::i18n::Lang;

/// The person signed in, for the header. Put into the request's extensions by whatever
/// authenticates console requests.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Their name (or e-mail), as they wrote it.
    pub name: String,
    /// The tenant (business) they act for.
    pub tenant: String,
}

/// The CSRF token of the request's session, copied into `<meta name="csrf-token">` for
/// `api.js` to send as `X-CSRF-Token`. Put into the request's extensions by the sessions
/// layer.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// The sections of the console, as the navigation lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Campaigns,
    NewCampaign,
    Templates,
    Senders,
    Messages,
    Audience,
    Settings,
    System,
}

impl Section {
    /// Every section, in the navigation's order.
    pub const ALL: [Section; 8] = [
        Section::Campaigns,
        Section::NewCampaign,
        Section::Templates,
        Section::Senders,
        Section::Messages,
        Section::Audience,
        Section::Settings,
        Section::System,
    ];

    /// Where the section's page is.
    pub fn href(self) -> &'static str {
        match self {
            Section::Campaigns => "/",
            Section::NewCampaign => "/campaigns/new",
            Section::Templates => "/templates",
            Section::Senders => "/senders",
            Section::Messages => "/messages",
            Section::Audience => "/audience",
            Section::Settings => "/settings",
            Section::System => "/system",
        }
    }

    /// The catalog key of its name.
    pub fn label_key(self) -> &'static str {
        match self {
            Section::Campaigns => "nav-campaigns",
            Section::NewCampaign => "nav-new-campaign",
            Section::Templates => "nav-templates",
            Section::Senders => "nav-senders",
            Section::Messages => "nav-messages",
            Section::Audience => "nav-audience",
            Section::Settings => "nav-settings",
            Section::System => "nav-system",
        }
    }
}

/// A link of the navigation or of the language switcher, ready for the template.
#[derive(Debug)]
pub struct Link {
    pub href: String,
    pub label: String,
    /// `aria-current` is set on it.
    pub current: bool,
    /// For the switcher: the language the link is in (`lang`, `hreflang`).
    pub lang: &'static str,
}

/// How a state is coloured. The colour is never the only signal: a badge always says its
/// state in words beside it (`templates/components.html`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Nothing to act on: drafts, cancelled.
    Neutral,
    /// Under way: scheduled, sending.
    Info,
    /// Done well.
    Ok,
    /// Needs attention: paused, unknown.
    Warn,
    /// Failed.
    Bad,
}

impl Tone {
    /// The `data-tone` value `app.css` colours.
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Neutral => "neutral",
            Tone::Info => "info",
            Tone::Ok => "ok",
            Tone::Warn => "warn",
            Tone::Bad => "bad",
        }
    }
}

/// What `base.html` needs from the request.
#[derive(Debug, Clone)]
pub struct Layout {
    pub lang: Lang,
    /// The request's path and query, for the language switcher.
    path: String,
    query: Option<String>,
    /// The section whose link is marked current; `None` on a page outside the navigation.
    pub section: Option<Section>,
    pub viewer: Option<Viewer>,
    /// Empty until there are sessions.
    pub csrf_token: String,
}

impl Layout {
    /// A layout for the request to `path_and_query` in `lang`, nobody signed in.
    pub fn new(lang: Lang, path_and_query: &str) -> Layout {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_and_query.to_string(), None),
        };
        Layout {
            lang,
            path,
            query,
            section: None,
            viewer: None,
            csrf_token: String::new(),
        }
    }

    /// The same layout with `section` marked current in the navigation.
    pub fn at(mut self, section: Section) -> Layout {
        self.section = Some(section);
        self
    }

    /// A message in the page's language ([`Lang::t`]).
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }

    /// A message with text arguments ([`Lang::t_args`]).
    pub fn t_args<'a>(&self, key: &str, args: impl AsRef<[(&'a str, &'a str)]>) -> String {
        self.lang.t_args(key, args)
    }

    /// A message for a count ([`Lang::t_count`]).
    pub fn t_count(&self, key: &str, count: i64) -> String {
        self.lang.t_count(key, count)
    }

    /// The hashed URL of an asset ([`assets::url`]).
    pub fn asset(&self, name: &str) -> String {
        assets::url(name)
    }

    /// The navigation's links.
    pub fn nav(&self) -> Vec<Link> {
        Section::ALL
            .iter()
            .map(|&s| Link {
                href: s.href().to_string(),
                label: self.t(s.label_key()),
                current: self.section == Some(s),
                lang: self.lang.code(),
            })
            .collect()
    }

    /// The language switcher's links: this page, with `?lang=` set, other parameters kept.
    pub fn languages(&self) -> Vec<Link> {
        Lang::ALL
            .iter()
            .map(|&lang| {
                let mut query = form_urlencoded::Serializer::new(String::new());
                if let Some(q) = &self.query {
                    for (name, value) in form_urlencoded::parse(q.as_bytes()).filter(|(n, _)| n != "lang") {
                        query.append_pair(&name, &value);
                    }
                }
                query.append_pair("lang", lang.code());
                Link {
                    href: format!("{}?{}", self.path, query.finish()),
                    label: self.t(&format!("language-{}", lang.code())),
                    current: lang == self.lang,
                    lang: lang.code(),
                }
            })
            .collect()
    }

    /// pregon's version, for the footer.
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Layout {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut layout = Layout::new(Lang::of_request(parts), path);
        layout.viewer = parts.extensions.get::<Viewer>().cloned();
        layout.csrf_token = parts
            .extensions
            .get::<CsrfToken>()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switcher_keeps_the_page_and_its_parameters() {
        let layout = Layout::new(Lang::En, "/messages?status=failed&lang=en&q=a+b");
        let links = layout.languages();
        assert_eq!(links[0].href, "/messages?status=failed&q=a+b&lang=es");
        assert_eq!(links[0].label, "Español");
        assert!(!links[0].current);
        assert_eq!(links[1].href, "/messages?status=failed&q=a+b&lang=en");
        assert!(links[1].current);
        assert_eq!(Layout::new(Lang::Es, "/").languages()[1].href, "/?lang=en");
    }

    #[test]
    fn the_navigation_marks_the_current_section() {
        let nav = Layout::new(Lang::Es, "/").at(Section::Senders).nav();
        assert_eq!(nav.len(), Section::ALL.len());
        let current: Vec<_> = nav.iter().filter(|l| l.current).map(|l| l.label.as_str()).collect();
        assert_eq!(current, ["Números"]);
        assert_eq!(nav[0].label, "Campañas");
        assert_eq!(nav[0].href, "/");
    }
}
