//! People from the command line and at the first start: `pregon user create` and `pregon
//! user list` work on the database directly, as `pregon tenant create` does; `serve`'s first
//! start makes an owner to sign in to the console with. Every change is audited as the CLI's.

use anyhow::Context;
use pregon_domain::Role;
use pregon_store::{Actor, Change, NewUser, PageRequest, Store, Tenant, UserRecord};

use crate::http::sessions::normalize_email;
use crate::passwords;

/// The email of the owner the first start makes, unless `PREGON_BOOTSTRAP_EMAIL` names one.
pub const BOOTSTRAP_EMAIL: &str = "owner@pregon.local";

/// Who the CLI's changes are recorded as: the operating system's user.
pub fn cli_actor() -> Actor {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "cli".into());
    Actor::cli(name)
}

/// The tenant a CLI command means: the one named, or the only one there is.
pub async fn tenant_named(store: &dyn Store, name: Option<&str>) -> anyhow::Result<Tenant> {
    let tenants = store.list_tenants().await?;
    match name {
        Some(name) => tenants
            .into_iter()
            .find(|t| t.name == name)
            .with_context(|| format!("no tenant named {name:?}")),
        None => match tenants.len() {
            1 => Ok(tenants.into_iter().next().unwrap_or_else(|| unreachable!())),
            0 => anyhow::bail!("there is no tenant yet: run `pregon serve` once, or `pregon tenant create NAME`"),
            n => anyhow::bail!(
                "there are {n} tenants; say which with --tenant ({})",
                tenants.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        },
    }
}

/// A person to make a user of.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    pub email: &'a str,
    /// Default: the email's local part.
    pub name: Option<&'a str>,
    pub role: Role,
    /// Default: a generated one.
    pub password: Option<String>,
}

/// Creates a user; with no password given, one is generated. Returns the user and the
/// password when it was generated (to show once).
pub async fn create_user(
    store: &dyn Store,
    tenant: &Tenant,
    person: Person<'_>,
    actor: Actor,
    now: i64,
) -> anyhow::Result<(UserRecord, Option<String>)> {
    let Person {
        email,
        name,
        role,
        password,
    } = person;
    let email = normalize_email(email);
    if !email.contains('@') || email.len() > 254 {
        anyhow::bail!("{email:?} is not an email address");
    }
    let (password, generated) = match password.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => (passwords::generate(), true),
    };
    passwords::validate(&password).map_err(|e| anyhow::anyhow!("the password {e}"))?;
    let hashed = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || passwords::hash(&password)).await?
    };
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
    let user = NewUser {
        id: pregon_domain::id::new_id("usr"),
        tenant_id: tenant.id.clone(),
        email: email.clone(),
        name,
        role,
        password_hash: hashed,
        now,
    };
    let created = store
        .create_user(&user, &Change::by(actor))
        .await
        .map_err(|e| match e {
            pregon_store::StoreError::Conflict {
                constraint: pregon_store::Constraint::UserEmail,
            } => anyhow::anyhow!("a user with the email {email:?} exists"),
            other => other.into(),
        })?;
    Ok((created, generated.then_some(password)))
}

/// Every user of a tenant, in id order.
pub async fn list_users(store: &dyn Store, tenant: &Tenant) -> anyhow::Result<Vec<UserRecord>> {
    let mut users = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_users(&tenant.id, &PageRequest { limit: 200, cursor })
            .await?;
        users.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(users),
        }
    }
}
