//! Idempotent requests: a request sent again with the same `Idempotency-Key` gets the first
//! answer again and changes nothing again, across restarts and processes.
//!
//! A key goes through three states:
//! 1. `running`: a request reserved it ([`IdempotencyStore::reserve_idempotency`]), with a
//!    token of its own and a lock. Another request with the key meanwhile is told the first
//!    is in progress. A request that dies leaves the lock to run out; then a retry takes the
//!    key over with a new token.
//! 2. `committed`: the change the request made committed the key in the change's own
//!    transaction, conditional on the token ([`crate::audit::record`]). So a request whose
//!    key was taken over cannot commit its change too, and a change is never made twice.
//! 3. `done`: the answer is kept ([`IdempotencyStore::save_idempotent_response`]) and given
//!    to every retry. A key left `committed` (the process died between the commit and
//!    keeping the answer) says what the change made.
//!
//! Keys are kept 24 hours ([`crate::RetentionStore::purge_idempotency`]); an older one is
//! free again.

use async_trait::async_trait;

use crate::audit::Reservation;
use crate::db::sql;
use crate::error::Result;
use crate::records::{Millis, DAY_MILLIS};
use crate::rows::RecordRow;
use crate::SqlStore;

/// A request asking to reserve its key.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    pub tenant_id: String,
    pub key: String,
    pub method: String,
    pub path: String,
    /// A hash of the whole request body.
    pub request_hash: String,
    /// How long the reservation holds before a retry may take the key over: longer than
    /// the request can take.
    pub lock_ms: i64,
}

/// What a request with a key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// Go ahead: the key is this request's.
    Proceed(Reservation),
    /// Answer the first request's answer again: its status and its (sealed) body.
    Replay { status: u16, response: Vec<u8> },
    /// The first request with the key is still running.
    InProgress,
    /// The first request committed its change but its answer was not kept; `resource` is
    /// what the change made (`campaign/cmp_…`).
    Committed { resource: Option<String> },
    /// The key was used for another request (method, path or body).
    Mismatch,
}

/// Keys of idempotent requests.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Reserves a key for a request, or says what became of the request that holds it.
    async fn reserve_idempotency(&self, request: &KeyRequest, now: Millis) -> Result<Reserved>;
    /// Keeps the answer of a request that holds its key (whether or not it changed
    /// anything); false when the key was taken over since.
    async fn save_idempotent_response(
        &self,
        reservation: &Reservation,
        status: u16,
        response: &[u8],
        now: Millis,
    ) -> Result<bool>;
    /// Gives a key up (the request failed on our side and changed nothing): a retry starts
    /// afresh.
    async fn release_idempotency(&self, reservation: &Reservation) -> Result<()>;
}

#[async_trait]
impl IdempotencyStore for SqlStore {
    async fn reserve_idempotency(&self, r: &KeyRequest, now: Millis) -> Result<Reserved> {
        let token = pregon_domain::id::new_id("idk");
        let mut tx = self.db.write().await?;
        let d = tx.dialect();
        let taken = tx
            .fetch_optional(
                sql(
                    "insert into idempotency_key (tenant_id, idempotency_key, method, path, request_hash, state, \
                     token, locked_until, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $8) \
                     on conflict (tenant_id, idempotency_key) do nothing returning token",
                )
                .bind(&r.tenant_id)
                .bind(&r.key)
                .bind(&r.method)
                .bind(&r.path)
                .bind(&r.request_hash)
                .bind(&token)
                .bind(now + r.lock_ms)
                .bind(now),
            )
            .await?;
        let reservation = Reservation {
            tenant_id: r.tenant_id.clone(),
            key: r.key.clone(),
            token: token.clone(),
        };
        if taken.is_some() {
            tx.commit().await?;
            return Ok(Reserved::Proceed(reservation));
        }
        let row = tx
            .fetch_one(
                sql(format!(
                    "select method, path, request_hash, state, locked_until, resource, status, response, created_at \
                     from idempotency_key where tenant_id = $1 and idempotency_key = $2{}",
                    d.for_update()
                ))
                .bind(&r.tenant_id)
                .bind(&r.key),
            )
            .await?;
        let expired = row.int("created_at")? <= now - DAY_MILLIS;
        let same = row.text("method")? == r.method
            && row.text("path")? == r.path
            && row.text("request_hash")? == r.request_hash;
        let state = row.text("state")?;
        let running_over = state == "running" && row.int("locked_until")? <= now;
        let outcome = if expired || (same && running_over) {
            // A key older than a day is free again; a running one whose lock ran out was left
            // by a request that died before changing anything: a retry takes it over.
            tx.execute(
                sql(
                    "update idempotency_key set method = $1, path = $2, request_hash = $3, state = 'running', \
                     token = $4, locked_until = $5, resource = null, status = null, response = null, \
                     created_at = case when $6 then $7 else created_at end, updated_at = $7 \
                     where tenant_id = $8 and idempotency_key = $9",
                )
                .bind(&r.method)
                .bind(&r.path)
                .bind(&r.request_hash)
                .bind(&token)
                .bind(now + r.lock_ms)
                .bind(expired)
                .bind(now)
                .bind(&r.tenant_id)
                .bind(&r.key),
            )
            .await?;
            Reserved::Proceed(reservation)
        } else if !same {
            Reserved::Mismatch
        } else {
            match state.as_str() {
                "done" => Reserved::Replay {
                    status: row.int("status")?.clamp(100, 599) as u16,
                    response: row.bytes("response")?,
                },
                "committed" => Reserved::Committed {
                    resource: row.opt_text("resource")?,
                },
                _ => Reserved::InProgress,
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn save_idempotent_response(
        &self,
        reservation: &Reservation,
        status: u16,
        response: &[u8],
        now: Millis,
    ) -> Result<bool> {
        let mut tx = self.db.write().await?;
        let saved = tx
            .execute(
                sql(
                    "update idempotency_key set state = 'done', status = $1, response = $2, updated_at = $3 \
                     where tenant_id = $4 and idempotency_key = $5 and token = $6 and state <> 'done'",
                )
                .bind(status as i64)
                .bind(response)
                .bind(now)
                .bind(&reservation.tenant_id)
                .bind(&reservation.key)
                .bind(&reservation.token),
            )
            .await?;
        tx.commit().await?;
        Ok(saved == 1)
    }

    async fn release_idempotency(&self, reservation: &Reservation) -> Result<()> {
        let mut tx = self.db.write().await?;
        tx.execute(
            sql(
                "delete from idempotency_key where tenant_id = $1 and idempotency_key = $2 and token = $3 \
                 and state = 'running'",
            )
            .bind(&reservation.tenant_id)
            .bind(&reservation.key)
            .bind(&reservation.token),
        )
        .await?;
        tx.commit().await
    }
}
