//! The settings page at `/settings`: the tenant's people and their roles, its API keys
//! (made here and shown once, with a copy button; revoked here), the campaign-webhook
//! secret, and the audit log. Owners manage people, keys and read the log; admins rotate
//! the secret; everyone else is told who can. Every change goes through `/api/v1`.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use pregon_domain::{AuditAction, Role};
use pregon_store::{AuditFilter, PageRequest};
use serde::Deserialize;

use super::access::SignedIn;
use super::layout::{Layout, Section};
use super::system::when;
use super::{error_page, render};
use crate::http::AppState;

/// Rows of the audit log on one page.
const AUDIT_PAGE: i64 = 50;

struct UserRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    created: String,
    /// The signed-in person: they cannot remove themselves here.
    is_me: bool,
}

struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    role_name: String,
    created: String,
    last_used: String,
}

struct AuditRow {
    at: String,
    actor: String,
    action: String,
    target: String,
    details: String,
}

/// A role as a choice of a select: its wire name and its words.
struct RoleChoice {
    value: &'static str,
    label: String,
}

impl RoleChoice {
    fn is(&self, role: &str) -> bool {
        self.value == role
    }
}

/// Whether `a` is the action the log is filtered by.
fn is_action(a: &str, current: &str) -> bool {
    a == current
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    is_owner: bool,
    is_admin: bool,
    users: Vec<UserRow>,
    keys: Vec<KeyRow>,
    roles: Vec<RoleChoice>,
    audit: Vec<AuditRow>,
    actions: Vec<&'static str>,
    action: &'static str,
    audit_next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SettingsQuery {
    action: Option<String>,
    cursor: Option<String>,
}

/// A role's catalog key.
pub fn role_key(role: Role) -> &'static str {
    match role {
        Role::Viewer => "role-viewer",
        Role::Operator => "role-operator",
        Role::Admin => "role-admin",
        Role::Owner => "role-owner",
    }
}

/// `GET /settings`.
pub async fn page(
    State(state): State<AppState>,
    layout: Layout,
    who: SignedIn,
    Query(q): Query<SettingsQuery>,
) -> Result<Response, Response> {
    let layout = layout.at(Section::Settings);
    let lang = layout.lang;
    let fail = |e: pregon_store::StoreError| error_page(&layout, e.into());
    let is_owner = who.may(Role::Owner);
    let me = who.0.user().map(|u| u.id.clone());
    let everyone = PageRequest {
        limit: 200,
        cursor: None,
    };
    let (mut users, mut keys, mut audit, mut audit_next) = (Vec::new(), Vec::new(), Vec::new(), None);
    let action = q.action.as_deref().and_then(|a| a.parse::<AuditAction>().ok());
    if is_owner {
        let tenant = who.tenant_id();
        users = state
            .store
            .list_users(tenant, &everyone)
            .await
            .map_err(fail)?
            .items
            .into_iter()
            .map(|u| UserRow {
                is_me: me.as_deref() == Some(u.id.as_str()),
                created: when(lang, u.created_at),
                id: u.id,
                name: u.name,
                email: u.email,
                role: u.role.as_str(),
            })
            .collect();
        keys = state
            .store
            .list_api_keys(tenant, &everyone)
            .await
            .map_err(fail)?
            .items
            .into_iter()
            .map(|k| KeyRow {
                role_name: lang.t(role_key(k.role)),
                created: when(lang, k.created_at),
                last_used: k
                    .last_used_at
                    .map(|t| when(lang, t))
                    .unwrap_or_else(|| lang.t("settings-never")),
                id: k.id,
                name: k.name,
                prefix: k.prefix,
            })
            .collect();
        let page = state
            .store
            .list_audit(
                tenant,
                &AuditFilter { action },
                &PageRequest {
                    limit: AUDIT_PAGE,
                    cursor: q.cursor.filter(|c| c.len() <= 200),
                },
            )
            .await
            .map_err(fail)?;
        audit_next = page.next_cursor.map(|c| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(a) = action {
                query.append_pair("action", a.as_str());
            }
            query.append_pair("cursor", &c);
            format!("/settings?{}#audit", query.finish())
        });
        audit = page
            .items
            .into_iter()
            .map(|a| AuditRow {
                at: when(lang, a.at),
                actor: a.actor.name,
                action: a.action.as_str().to_string(),
                target: match (a.target_kind, a.target_id) {
                    (Some(kind), Some(id)) => format!("{kind} {id}"),
                    _ => String::new(),
                },
                details: match &a.details {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::Object(m) if m.is_empty() => String::new(),
                    other => other.to_string(),
                },
            })
            .collect();
    }
    let roles = Role::ALL
        .iter()
        .map(|r| RoleChoice {
            value: r.as_str(),
            label: lang.t(role_key(*r)),
        })
        .collect();
    let page = SettingsPage {
        is_owner,
        is_admin: who.may(Role::Admin),
        users,
        keys,
        roles,
        audit,
        actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
        action: action.map(|a| a.as_str()).unwrap_or_default(),
        audit_next,
        layout,
    };
    Ok(render(lang, &page))
}
