//! A tenant's people and keys: users with roles and passwords (hashed by the caller),
//! console sessions (only a hash of each token is kept), API keys with names and roles, and
//! the failed sign-ins that lock an email out for a while.
//!
//! Every change here is audited in its own transaction ([`crate::audit::record`]). A tenant
//! keeps at least one owner: removing or demoting the last is refused (PostgreSQL holds the
//! tenant's row meanwhile, so two such changes at once cannot both pass the check).

use async_trait::async_trait;
use pregon_domain::{AuditAction, Role};
use serde_json::json;

use crate::audit::{self, AuditEntry, Change};
use crate::db::{sql, Tx};
use crate::error::{Constraint, Result, StoreError};
use crate::records::{Millis, Page, PageRequest, Tenant};
use crate::rows::{page_of, parse_enum, RecordRow};
use crate::SqlStore;

/// A person who signs in to a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
    pub tenant_id: String,
    /// Lowercased; signs in to this user only.
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The console's language for this user (`es`, `en`); `None`: the browser's.
    pub language: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// argon2id, PHC string.
    pub password_hash: String,
    pub now: Millis,
}

/// A partial update of a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub language: Option<Option<String>>,
}

/// What signing in checks: the user, its password hash and its tenant.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: UserRecord,
    pub password_hash: String,
    pub tenant: Tenant,
}

/// A session to open.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub user: UserRecord,
    /// SHA-256 of the cookie's token.
    pub token_hash: String,
    pub now: Millis,
    /// When it ends whatever its use (7 days).
    pub expires_at: Millis,
}

/// A live session, with whom it signs in.
#[derive(Debug, Clone)]
pub struct SessionAuth {
    pub session_id: String,
    pub user: UserRecord,
    pub tenant: Tenant,
    pub last_seen_at: Millis,
    pub expires_at: Millis,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub role: Role,
    /// The key's first characters, safe to show.
    pub prefix: String,
    /// The user or key that made it (`None`: the first start or the CLI).
    pub created_by: Option<String>,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
}

/// An API key to create.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub role: Role,
    /// SHA-256 of the key.
    pub key_hash: String,
    pub prefix: String,
    pub created_by: Option<String>,
    pub now: Millis,
}

/// A live API key, with its tenant.
#[derive(Debug, Clone)]
pub struct KeyAuth {
    pub key: ApiKeyRecord,
    pub tenant: Tenant,
}

/// Users, sessions and API keys.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_user(&self, user: &NewUser, change: &Change) -> Result<UserRecord>;
    async fn list_users(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<UserRecord>>;
    async fn get_user(&self, tenant_id: &str, user_id: &str) -> Result<UserRecord>;
    /// Updates a user; demoting the tenant's last owner is a `Conflict` (`LastOwner`).
    async fn update_user(
        &self,
        tenant_id: &str,
        user_id: &str,
        patch: &UserPatch,
        now: Millis,
        change: &Change,
    ) -> Result<UserRecord>;
    /// Deletes a user and its sessions; the tenant's last owner is a `Conflict`.
    async fn delete_user(&self, tenant_id: &str, user_id: &str, now: Millis, change: &Change) -> Result<()>;
    /// The user an email signs in to, for checking its password.
    async fn user_for_login(&self, email: &str) -> Result<Option<Login>>;
    /// The times of an email's failed sign-ins since `since`, oldest first.
    async fn login_failures(&self, email: &str, since: Millis) -> Result<Vec<Millis>>;
    async fn record_login_failure(&self, email: &str, now: Millis) -> Result<()>;
    /// Opens a session (audited as the user's `session.create`) and forgets the email's
    /// failed sign-ins.
    async fn create_session(&self, session: &NewSession, change: &Change) -> Result<()>;
    /// The live session of a token hash: not past `expires_at`, and used within `idle_ms`.
    async fn session_by_token(&self, token_hash: &str, idle_ms: i64, now: Millis) -> Result<Option<SessionAuth>>;
    /// Marks a session used now, unless it was within `every_ms` (so that a busy console
    /// writes once a minute, not once a request); true when it wrote.
    async fn touch_session(&self, session_id: &str, every_ms: i64, now: Millis) -> Result<bool>;
    /// Ends a session (signing out).
    async fn delete_session(&self, tenant_id: &str, session_id: &str, now: Millis, change: &Change) -> Result<()>;
    async fn create_api_key(&self, key: &NewApiKey, change: &Change) -> Result<ApiKeyRecord>;
    async fn list_api_keys(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<ApiKeyRecord>>;
    /// Revokes a key: it answers 401 from the next request on, in every process.
    async fn delete_api_key(&self, tenant_id: &str, key_id: &str, now: Millis, change: &Change) -> Result<()>;
    /// The live key of a key hash.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<KeyAuth>>;
    /// Marks a key used now, unless it was within `every_ms`; true when it wrote.
    async fn touch_api_key(&self, key_id: &str, every_ms: i64, now: Millis) -> Result<bool>;
}

const USER_COLUMNS: &str = "u.user_id, u.tenant_id, u.email, u.name, u.role, u.language, u.created_at, u.updated_at";
const KEY_COLUMNS: &str =
    "k.api_key_id, k.tenant_id, k.name, k.role, k.prefix, k.created_by, k.created_at, k.last_used_at";
/// The tenant joined in beside a user or a key (whose own `tenant_id` names it).
const TENANT_COLUMNS: &str = "t.name as tenant_name, t.webhook_secret, t.created_at as tenant_created_at";

fn user_from_row(row: &impl RecordRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: row.text("user_id")?,
        tenant_id: row.text("tenant_id")?,
        email: row.text("email")?,
        name: row.text("name")?,
        role: parse_enum(&row.text("role")?)?,
        language: row.opt_text("language")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

fn key_from_row(row: &impl RecordRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.text("api_key_id")?,
        tenant_id: row.text("tenant_id")?,
        name: row.text("name")?,
        role: parse_enum(&row.text("role")?)?,
        prefix: row.text("prefix")?,
        created_by: row.opt_text("created_by")?,
        created_at: row.int("created_at")?,
        last_used_at: row.opt_int("last_used_at")?,
    })
}

/// The tenant joined in as [`TENANT_COLUMNS`].
fn joined_tenant(row: &impl RecordRow) -> Result<Tenant> {
    Ok(Tenant {
        id: row.text("tenant_id")?,
        name: row.text("tenant_name")?,
        webhook_secret: row.text("webhook_secret")?,
        created_at: row.int("tenant_created_at")?,
    })
}

async fn read_user(tx: &mut Tx, tenant_id: &str, user_id: &str) -> Result<UserRecord> {
    let lock = tx.dialect().for_no_key_update();
    let row = tx
        .fetch_one(
            sql(format!(
                "select {USER_COLUMNS} from app_user u where u.tenant_id = $1 and u.user_id = $2{lock}"
            ))
            .bind(tenant_id)
            .bind(user_id),
        )
        .await?;
    user_from_row(&row)
}

/// Refuses to leave the tenant without an owner when `user` stops being one. The tenant's
/// row is held (PostgreSQL) so that two such changes at once see each other.
async fn keep_an_owner(tx: &mut Tx, user: &UserRecord) -> Result<()> {
    if user.role != Role::Owner {
        return Ok(());
    }
    tx.lock(sql("select 1 from tenant where tenant_id = $1 for no key update").bind(&user.tenant_id))
        .await?;
    let owners = tx
        .fetch_one(
            sql("select count(*) as n from app_user where tenant_id = $1 and role = 'owner'").bind(&user.tenant_id),
        )
        .await?
        .int("n")?;
    if owners <= 1 {
        return Err(StoreError::Conflict {
            constraint: Constraint::LastOwner,
        });
    }
    Ok(())
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_user(&self, u: &NewUser, change: &Change) -> Result<UserRecord> {
        let mut tx = self.db.write().await?;
        tx.execute(
            sql(
                "insert into app_user (user_id, tenant_id, email, name, role, password_hash, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(&u.id)
            .bind(&u.tenant_id)
            .bind(&u.email)
            .bind(&u.name)
            .bind(u.role.as_str())
            .bind(&u.password_hash)
            .bind(u.now),
        )
        .await?;
        let created = read_user(&mut tx, &u.tenant_id, &u.id).await?;
        let entry = AuditEntry::new(AuditAction::UserCreate, "user", &u.id)
            .with(json!({"email": u.email, "name": u.name, "role": u.role}));
        audit::record(&mut tx, &u.tenant_id, change, entry, u.now).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn list_users(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<UserRecord>> {
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select {USER_COLUMNS} from app_user u where u.tenant_id = $1 and u.user_id > $2 \
                     order by u.user_id limit $3"
                ))
                .bind(tenant_id)
                .bind(page.cursor.as_deref().unwrap_or(""))
                .bind(page.limit + 1),
            )
            .await?;
        let items = rows.iter().map(user_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |u| u.id.clone()))
    }

    async fn get_user(&self, tenant_id: &str, user_id: &str) -> Result<UserRecord> {
        let row = self
            .db
            .fetch_one(
                sql(format!(
                    "select {USER_COLUMNS} from app_user u where u.tenant_id = $1 and u.user_id = $2"
                ))
                .bind(tenant_id)
                .bind(user_id),
            )
            .await?;
        user_from_row(&row)
    }

    async fn update_user(
        &self,
        tenant_id: &str,
        user_id: &str,
        p: &UserPatch,
        now: Millis,
        change: &Change,
    ) -> Result<UserRecord> {
        let mut tx = self.db.write().await?;
        let before = read_user(&mut tx, tenant_id, user_id).await?;
        if p.role.is_some_and(|r| r != Role::Owner) {
            keep_an_owner(&mut tx, &before).await?;
        }
        tx.execute(
            sql(
                "update app_user set name = coalesce($1, name), role = coalesce($2, role), \
                 password_hash = coalesce($3, password_hash), \
                 language = case when $4 then $5 else language end, updated_at = $6 \
                 where tenant_id = $7 and user_id = $8",
            )
            .bind(&p.name)
            .bind(p.role.map(Role::as_str))
            .bind(&p.password_hash)
            .bind(p.language.is_some())
            .bind(p.language.clone().flatten())
            .bind(now)
            .bind(tenant_id)
            .bind(user_id),
        )
        .await?;
        if p.password_hash.is_some() {
            // A new password ends the user's sessions: it may have been changed because one leaked.
            tx.execute(sql("delete from user_session where user_id = $1").bind(user_id))
                .await?;
        }
        let after = read_user(&mut tx, tenant_id, user_id).await?;
        let mut changed = serde_json::Map::new();
        if after.name != before.name {
            changed.insert("name".into(), json!(after.name));
        }
        if after.role != before.role {
            changed.insert("role".into(), json!({"from": before.role, "to": after.role}));
        }
        if after.language != before.language {
            changed.insert("language".into(), json!(after.language));
        }
        if p.password_hash.is_some() {
            changed.insert("password".into(), json!("changed"));
        }
        let entry = AuditEntry::new(AuditAction::UserUpdate, "user", user_id).with(changed.into());
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn delete_user(&self, tenant_id: &str, user_id: &str, now: Millis, change: &Change) -> Result<()> {
        let mut tx = self.db.write().await?;
        let user = read_user(&mut tx, tenant_id, user_id).await?;
        keep_an_owner(&mut tx, &user).await?;
        tx.execute(sql("delete from user_session where user_id = $1").bind(user_id))
            .await?;
        tx.execute(
            sql("delete from app_user where tenant_id = $1 and user_id = $2")
                .bind(tenant_id)
                .bind(user_id),
        )
        .await?;
        let entry = AuditEntry::new(AuditAction::UserDelete, "user", user_id)
            .with(json!({"email": user.email, "role": user.role}));
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await
    }

    async fn user_for_login(&self, email: &str) -> Result<Option<Login>> {
        let row = self
            .db
            .fetch_optional(
                sql(format!(
                    "select {USER_COLUMNS}, u.password_hash, {TENANT_COLUMNS} from app_user u \
                     join tenant t on t.tenant_id = u.tenant_id where u.email = $1"
                ))
                .bind(email),
            )
            .await?;
        row.map(|r| {
            Ok(Login {
                user: user_from_row(&r)?,
                password_hash: r.text("password_hash")?,
                tenant: joined_tenant(&r)?,
            })
        })
        .transpose()
    }

    async fn login_failures(&self, email: &str, since: Millis) -> Result<Vec<Millis>> {
        let rows = self
            .db
            .fetch_all(
                sql("select at from login_failure where email = $1 and at > $2 order by at")
                    .bind(email)
                    .bind(since),
            )
            .await?;
        rows.iter().map(|r| r.int("at")).collect()
    }

    async fn record_login_failure(&self, email: &str, now: Millis) -> Result<()> {
        let mut tx = self.db.write().await?;
        tx.execute(
            sql("insert into login_failure (email, at) values ($1, $2)")
                .bind(email)
                .bind(now),
        )
        .await?;
        tx.commit().await
    }

    async fn create_session(&self, s: &NewSession, change: &Change) -> Result<()> {
        let mut tx = self.db.write().await?;
        tx.execute(
            sql(
                "insert into user_session (session_id, tenant_id, user_id, token_hash, created_at, last_seen_at, \
                 expires_at) values ($1, $2, $3, $4, $5, $5, $6)",
            )
            .bind(&s.id)
            .bind(&s.user.tenant_id)
            .bind(&s.user.id)
            .bind(&s.token_hash)
            .bind(s.now)
            .bind(s.expires_at),
        )
        .await?;
        tx.execute(sql("delete from login_failure where email = $1").bind(&s.user.email))
            .await?;
        let entry = AuditEntry::new(AuditAction::SessionCreate, "session", &s.id)
            .with(json!({"user_id": s.user.id, "email": s.user.email}));
        audit::record(&mut tx, &s.user.tenant_id, change, entry, s.now).await?;
        tx.commit().await
    }

    async fn session_by_token(&self, token_hash: &str, idle_ms: i64, now: Millis) -> Result<Option<SessionAuth>> {
        let row = self
            .db
            .fetch_optional(
                sql(format!(
                    "select s.session_id, s.last_seen_at, s.expires_at, {USER_COLUMNS}, {TENANT_COLUMNS} \
                     from user_session s join app_user u on u.user_id = s.user_id \
                     join tenant t on t.tenant_id = s.tenant_id \
                     where s.token_hash = $1 and s.expires_at > $2 and s.last_seen_at > $3"
                ))
                .bind(token_hash)
                .bind(now)
                .bind(now - idle_ms),
            )
            .await?;
        row.map(|r| {
            Ok(SessionAuth {
                session_id: r.text("session_id")?,
                user: user_from_row(&r)?,
                tenant: joined_tenant(&r)?,
                last_seen_at: r.int("last_seen_at")?,
                expires_at: r.int("expires_at")?,
            })
        })
        .transpose()
    }

    async fn touch_session(&self, session_id: &str, every_ms: i64, now: Millis) -> Result<bool> {
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql("update user_session set last_seen_at = $1 where session_id = $2 and last_seen_at <= $3")
                    .bind(now)
                    .bind(session_id)
                    .bind(now - every_ms),
            )
            .await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    async fn delete_session(&self, tenant_id: &str, session_id: &str, now: Millis, change: &Change) -> Result<()> {
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql("delete from user_session where tenant_id = $1 and session_id = $2")
                    .bind(tenant_id)
                    .bind(session_id),
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        let entry = AuditEntry::new(AuditAction::SessionDelete, "session", session_id);
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await
    }

    async fn create_api_key(&self, k: &NewApiKey, change: &Change) -> Result<ApiKeyRecord> {
        let mut tx = self.db.write().await?;
        tx.execute(
            sql(
                "insert into api_key (api_key_id, tenant_id, key_hash, prefix, name, role, created_by, created_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&k.id)
            .bind(&k.tenant_id)
            .bind(&k.key_hash)
            .bind(&k.prefix)
            .bind(&k.name)
            .bind(k.role.as_str())
            .bind(&k.created_by)
            .bind(k.now),
        )
        .await?;
        let entry = AuditEntry::new(AuditAction::ApiKeyCreate, "api_key", &k.id)
            .with(json!({"name": k.name, "role": k.role, "prefix": k.prefix}));
        audit::record(&mut tx, &k.tenant_id, change, entry, k.now).await?;
        tx.commit().await?;
        Ok(ApiKeyRecord {
            id: k.id.clone(),
            tenant_id: k.tenant_id.clone(),
            name: k.name.clone(),
            role: k.role,
            prefix: k.prefix.clone(),
            created_by: k.created_by.clone(),
            created_at: k.now,
            last_used_at: None,
        })
    }

    async fn list_api_keys(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<ApiKeyRecord>> {
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select {KEY_COLUMNS} from api_key k where k.tenant_id = $1 and k.api_key_id > $2 \
                     order by k.api_key_id limit $3"
                ))
                .bind(tenant_id)
                .bind(page.cursor.as_deref().unwrap_or(""))
                .bind(page.limit + 1),
            )
            .await?;
        let items = rows.iter().map(key_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |k| k.id.clone()))
    }

    async fn delete_api_key(&self, tenant_id: &str, key_id: &str, now: Millis, change: &Change) -> Result<()> {
        let mut tx = self.db.write().await?;
        let row = tx
            .fetch_one(
                sql(format!(
                    "select {KEY_COLUMNS} from api_key k where k.tenant_id = $1 and k.api_key_id = $2"
                ))
                .bind(tenant_id)
                .bind(key_id),
            )
            .await?;
        let key = key_from_row(&row)?;
        tx.execute(
            sql("delete from api_key where tenant_id = $1 and api_key_id = $2")
                .bind(tenant_id)
                .bind(key_id),
        )
        .await?;
        let entry = AuditEntry::new(AuditAction::ApiKeyDelete, "api_key", key_id)
            .with(json!({"name": key.name, "role": key.role, "prefix": key.prefix}));
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<KeyAuth>> {
        let row = self
            .db
            .fetch_optional(
                sql(format!(
                    "select {KEY_COLUMNS}, {TENANT_COLUMNS} from api_key k \
                     join tenant t on t.tenant_id = k.tenant_id where k.key_hash = $1"
                ))
                .bind(key_hash),
            )
            .await?;
        row.map(|r| {
            Ok(KeyAuth {
                key: key_from_row(&r)?,
                tenant: joined_tenant(&r)?,
            })
        })
        .transpose()
    }

    async fn touch_api_key(&self, key_id: &str, every_ms: i64, now: Millis) -> Result<bool> {
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql("update api_key set last_used_at = $1 where api_key_id = $2 \
                     and (last_used_at is null or last_used_at <= $3)")
                .bind(now)
                .bind(key_id)
                .bind(now - every_ms),
            )
            .await?;
        tx.commit().await?;
        Ok(done == 1)
    }
}
