//! Who is using the console, and what they may see.
//!
//! Every console request passes [`identify`]: the `pregon_session` cookie's session, when it
//! is live, becomes the same [`Caller`] the API knows (so pages and the API agree on who and
//! which role), and the header's [`Viewer`], the page's [`CsrfToken`] and the user's
//! chosen language ([`UserLang`]) are put beside it. A page that needs someone signed in
//! takes [`SignedIn`], which sends anyone else to `/login` and back afterwards; what a role
//! may do is then the page's to show (buttons for the allowed actions only), while the API
//! behind every action checks it again.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use pregon_domain::Role;
use pregon_store::{Change, UserPatch};

use super::i18n::Lang;
use super::layout::{CsrfToken, Viewer};
use crate::http::auth::{session_caller, Caller, Via};
use crate::http::AppState;

/// The signed-in user's chosen language, when they chose one: it comes after `?lang=` and
/// the language cookie, before the browser's.
#[derive(Debug, Clone, Copy)]
pub struct UserLang(pub Lang);

/// Reads the session of a console request (see the module's documentation). A language
/// chosen with `?lang=` by a signed-in user is remembered as theirs.
pub async fn identify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Ok(Some(caller)) = session_caller(&state, req.headers()).await {
        if let Via::Session { user, csrf_token, .. } = &caller.via {
            let chosen = super::i18n::query_lang_of(req.uri());
            let mut language = user.language.as_deref().and_then(Lang::parse);
            if let Some(chosen) = chosen.filter(|c| Some(*c) != language) {
                let patch = UserPatch {
                    language: Some(Some(chosen.code().to_string())),
                    ..UserPatch::default()
                };
                let change = Change::by(caller.actor());
                match state
                    .store
                    .update_user(&caller.tenant.id, &user.id, &patch, state.clock.now_millis(), &change)
                    .await
                {
                    Ok(_) => language = Some(chosen),
                    Err(e) => tracing::warn!(error = %e, "remembering a user's language failed"),
                }
            }
            let extensions = req.extensions_mut();
            extensions.insert(Viewer {
                name: user.name.clone(),
                tenant: caller.tenant.name.clone(),
            });
            extensions.insert(CsrfToken(csrf_token.clone()));
            if let Some(lang) = language {
                extensions.insert(UserLang(lang));
            }
        }
        req.extensions_mut().insert(caller);
    }
    next.run(req).await
}

/// Someone signed in to the console: the page's extractor. Anyone else is sent to
/// `/login`, and back to the page once signed in.
pub struct SignedIn(pub Caller);

impl SignedIn {
    pub fn tenant_id(&self) -> &str {
        &self.0.tenant.id
    }

    /// Whether their role allows what `needed` allows.
    pub fn may(&self, needed: Role) -> bool {
        self.0.role.includes(needed)
    }
}

/// Where to go to sign in, coming back to `path_and_query` afterwards.
pub fn login_url(path_and_query: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("next", path_and_query);
    format!("/login?{}", query.finish())
}

/// A `next` the login page may send someone to: a path of this site, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        match parts.extensions.get::<Caller>() {
            Some(caller) => Ok(SignedIn(caller.clone())),
            None => {
                let here = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                Err(Redirect::to(&login_url(here)).into_response())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_page_sends_back_only_within_the_site() {
        assert_eq!(safe_next(Some("/campaigns/cmp_1?tab=x")), "/campaigns/cmp_1?tab=x");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(login_url("/senders?x=1&y=2"), "/login?next=%2Fsenders%3Fx%3D1%26y%3D2");
    }
}
