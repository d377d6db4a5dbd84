//! The dialect seam: what every transaction script needs from a database, written once, and
//! the few places where SQLite and PostgreSQL differ.
//!
//! Statements are written once, in the SQL both databases speak: `$1`-style placeholders
//! (SQLite reads `$N` as the N-th argument too), `cast(… as text)` rather than `::text`,
//! `returning`, `on conflict … do update`, `update … from`, row values. What differs is
//! asked of the [`Dialect`] as a fragment: row locks (nothing in SQLite, whose one writer
//! holds the whole database), lists of ids (a JSON array in SQLite, an array in PostgreSQL),
//! rows of a JSON array, and where a campaign's counts are read from. Arguments are
//! collected as [`Arg`]s and bound to whichever driver runs the statement; rows come back as
//! a [`DbRow`] read by column name.
//!
//! Reads go through [`Db`] (SQLite: a pool of readers beside the one writer; PostgreSQL: the
//! pool), writes through a [`Tx`] from [`Db::write`].

mod postgres;
mod sqlite;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::error::{Result, StoreError};
use crate::rows::RecordRow;

/// Which SQL a statement fragment is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// The type of a column taken out of a JSON array row ([`Dialect::json_rows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Int,
    Text,
    Flag,
}

impl Dialect {
    /// `for share` after a `select` in PostgreSQL: the rows cannot change until the
    /// transaction ends, while other sharers go ahead.
    pub(crate) fn for_share(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " for share",
        }
    }

    /// `for no key update`: the rows are this transaction's to change.
    pub(crate) fn for_no_key_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " for no key update",
        }
    }

    /// `for update`: as [`Dialect::for_no_key_update`], and no new row may reference them.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " for update",
        }
    }

    /// `for update skip locked`: rows another transaction holds are passed over, so that
    /// processes taking work at once take different rows.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " for update skip locked",
        }
    }

    /// `column` is one of the list bound at `param` (an [`Ids`] or [`Texts`] argument).
    pub(crate) fn in_list(self, column: &str, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{column} in (select value from json_each({param}))"),
            Dialect::Postgres => format!("{column} = any({param})"),
        }
    }

    /// `column` is one of the rows `subquery` selects. In PostgreSQL the subquery runs
    /// exactly once, before the statement (`= any(array(…))`), so a locking subquery locks
    /// what it chose, in its order, whatever plan the statement gets.
    pub(crate) fn in_subquery(self, column: &str, subquery: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{column} in ({subquery})"),
            Dialect::Postgres => format!("{column} = any(array({subquery}))"),
        }
    }

    /// The rows of the JSON array of arrays bound at `param`, as a subquery with the named,
    /// typed columns (element 0, 1, … of each row) and `n`, the row's position.
    pub(crate) fn json_rows(self, param: &str, columns: &[(&str, Ty)]) -> String {
        let mut select = Vec::with_capacity(columns.len() + 1);
        for (i, (name, ty)) in columns.iter().enumerate() {
            select.push(match (self, ty) {
                (Dialect::Sqlite, _) => format!("value ->> {i} as {name}"),
                (Dialect::Postgres, Ty::Text) => format!("e ->> {i} as {name}"),
                (Dialect::Postgres, Ty::Int) => format!("(e ->> {i})::bigint as {name}"),
                (Dialect::Postgres, Ty::Flag) => format!("(e ->> {i})::boolean as {name}"),
            });
        }
        match self {
            Dialect::Sqlite => {
                select.push("key as n".into());
                format!("(select {} from json_each({param}))", select.join(", "))
            }
            Dialect::Postgres => {
                select.push("n".into());
                format!(
                    "(select {} from jsonb_array_elements({param}::jsonb) with ordinality as r (e, n))",
                    select.join(", ")
                )
            }
        }
    }

    /// The values of the list bound at `param` (an [`Ids`] or [`Texts`] argument), as a
    /// subquery of `value` and `n`, its position.
    pub(crate) fn list_rows(self, param: &str, ty: Ty) -> String {
        match (self, ty) {
            (Dialect::Sqlite, _) => format!("(select value, key as n from json_each({param}))"),
            (Dialect::Postgres, Ty::Int) => {
                format!("(select value, n from unnest({param}::bigint[]) with ordinality as u (value, n))")
            }
            (Dialect::Postgres, _) => {
                format!("(select value, n from unnest({param}::text[]) with ordinality as u (value, n))")
            }
        }
    }

    /// Where a campaign's record is read from: its row, whose counters are exact in SQLite;
    /// in PostgreSQL the view that adds the counts batches tallied beside it
    /// ([`crate::campaigns::counts`]).
    pub(crate) fn campaigns(self) -> &'static str {
        match self {
            Dialect::Sqlite => "campaign",
            Dialect::Postgres => "campaign_counted",
        }
    }
}

/// One argument of a statement.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Flag(Option<bool>),
    Bytes(Option<Vec<u8>>),
    /// A list of ids, read with [`Dialect::in_list`] or [`Dialect::list_rows`]: a JSON
    /// array in SQLite, a `bigint[]` in PostgreSQL.
    Ids(Vec<i64>),
    /// A list of strings, as [`Arg::Ids`] (`text[]` in PostgreSQL).
    Texts(Vec<String>),
}

/// A list of ids to bind ([`Arg::Ids`]).
pub(crate) struct Ids<'a>(pub(crate) &'a [i64]);

/// A list of strings to bind ([`Arg::Texts`]).
pub(crate) struct Texts<'a>(pub(crate) &'a [String]);

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::Real(Some(v))
    }
}
impl From<Option<f64>> for Arg {
    fn from(v: Option<f64>) -> Self {
        Arg::Real(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Flag(Some(v))
    }
}
impl From<Option<bool>> for Arg {
    fn from(v: Option<bool>) -> Self {
        Arg::Flag(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_string))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Arg::Text(v.clone())
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Bytes(Some(v.to_vec()))
    }
}
impl From<Option<&[u8]>> for Arg {
    fn from(v: Option<&[u8]>) -> Self {
        Arg::Bytes(v.map(<[u8]>::to_vec))
    }
}
impl From<Ids<'_>> for Arg {
    fn from(v: Ids<'_>) -> Self {
        Arg::Ids(v.0.to_vec())
    }
}
impl From<Texts<'_>> for Arg {
    fn from(v: Texts<'_>) -> Self {
        Arg::Texts(v.0.to_vec())
    }
}

/// A statement and its arguments, `$1` first.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

/// A statement to bind arguments to.
pub(crate) fn sql(text: impl Into<String>) -> Sql {
    Sql {
        text: text.into(),
        args: Vec::new(),
    }
}

impl Sql {
    /// Binds the next argument.
    pub(crate) fn bind(mut self, arg: impl Into<Arg>) -> Self {
        self.args.push(arg.into());
        self
    }

    fn sqlite(&self) -> sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for arg in &self.args {
            q = match arg {
                Arg::Int(v) => q.bind(*v),
                Arg::Real(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_deref()),
                Arg::Flag(v) => q.bind(*v),
                Arg::Bytes(v) => q.bind(v.as_deref()),
                Arg::Ids(v) => q.bind(serde_json::to_string(v).unwrap_or_else(|_| "[]".into())),
                Arg::Texts(v) => q.bind(serde_json::to_string(v).unwrap_or_else(|_| "[]".into())),
            };
        }
        q
    }

    fn postgres(&self) -> sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments> {
        let mut q = sqlx::query(&self.text);
        for arg in &self.args {
            q = match arg {
                Arg::Int(v) => q.bind(*v),
                Arg::Real(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_deref()),
                Arg::Flag(v) => q.bind(*v),
                Arg::Bytes(v) => q.bind(v.as_deref()),
                Arg::Ids(v) => q.bind(v.as_slice()),
                Arg::Texts(v) => q.bind(v.as_slice()),
            };
        }
        q
    }
}

/// A row of either database.
pub(crate) enum DbRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl RecordRow for DbRow {
    fn text(&self, column: &str) -> Result<String> {
        match self {
            DbRow::Sqlite(r) => r.text(column),
            DbRow::Postgres(r) => r.text(column),
        }
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        match self {
            DbRow::Sqlite(r) => r.opt_text(column),
            DbRow::Postgres(r) => r.opt_text(column),
        }
    }
    fn int(&self, column: &str) -> Result<i64> {
        match self {
            DbRow::Sqlite(r) => r.int(column),
            DbRow::Postgres(r) => r.int(column),
        }
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        match self {
            DbRow::Sqlite(r) => r.opt_int(column),
            DbRow::Postgres(r) => r.opt_int(column),
        }
    }
    fn real(&self, column: &str) -> Result<f64> {
        match self {
            DbRow::Sqlite(r) => r.real(column),
            DbRow::Postgres(r) => r.real(column),
        }
    }
    fn flag(&self, column: &str) -> Result<bool> {
        match self {
            DbRow::Sqlite(r) => r.flag(column),
            DbRow::Postgres(r) => r.flag(column),
        }
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>> {
        match self {
            DbRow::Sqlite(r) => r.bytes(column),
            DbRow::Postgres(r) => r.bytes(column),
        }
    }
}

/// The connections of one database.
#[derive(Clone)]
enum Pools {
    /// One writer (every write transaction queues for it) and a few readers (WAL).
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// A database: its dialect and its connections.
#[derive(Clone)]
pub(crate) struct Db {
    pools: Pools,
}

/// Runs `$body` with `$pool` bound to whichever pool reads, and `$q` to the statement
/// prepared for its driver, mapping its rows to [`DbRow`].
macro_rules! on_reader {
    ($db:expr, $sql:expr, |$q:ident, $pool:ident| $body:expr, $wrap:expr) => {
        match &$db.pools {
            Pools::Sqlite { reader: $pool, .. } => {
                let $q = $sql.sqlite();
                $wrap($body.await, DbRow::Sqlite)
            }
            Pools::Postgres($pool) => {
                let $q = $sql.postgres();
                $wrap($body.await, DbRow::Postgres)
            }
        }
    };
}

fn rows<R>(r: std::result::Result<Vec<R>, sqlx::Error>, wrap: fn(R) -> DbRow) -> Result<Vec<DbRow>> {
    Ok(r?.into_iter().map(wrap).collect())
}

fn optional<R>(r: std::result::Result<Option<R>, sqlx::Error>, wrap: fn(R) -> DbRow) -> Result<Option<DbRow>> {
    Ok(r?.map(wrap))
}

fn one<R>(r: std::result::Result<R, sqlx::Error>, wrap: fn(R) -> DbRow) -> Result<DbRow> {
    Ok(wrap(r?))
}

impl Db {
    /// Opens the database a URL names: `sqlite://FILE` or `postgres://…`.
    pub(crate) async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        let pools = if url.starts_with("sqlite:") {
            let (writer, reader) = sqlite::connect(url).await?;
            Pools::Sqlite { writer, reader }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pools::Postgres(postgres::connect(url, pool_size).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        Ok(Db { pools })
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self.pools {
            Pools::Sqlite { .. } => Dialect::Sqlite,
            Pools::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Applies the dialect's pending migrations (`migrations/<dialect>/`).
    pub(crate) async fn migrate(&self) -> Result<()> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => sqlx::migrate!("./migrations/sqlite").run(writer).await?,
            Pools::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// The migrations this build holds that the database has not applied (by version).
    pub(crate) async fn pending_migrations(&self) -> Result<Vec<i64>> {
        let known: Vec<i64> = match &self.pools {
            Pools::Sqlite { .. } => sqlx::migrate!("./migrations/sqlite")
                .iter()
                .map(|m| m.version)
                .collect(),
            Pools::Postgres(_) => sqlx::migrate!("./migrations/postgres")
                .iter()
                .map(|m| m.version)
                .collect(),
        };
        // A database never migrated has no table to read: everything is pending.
        let applied: std::collections::HashSet<i64> = match self
            .fetch_all(sql("select version from _sqlx_migrations where success"))
            .await
        {
            Ok(rows) => rows.iter().map(|r| r.int("version")).collect::<Result<_>>()?,
            Err(StoreError::Db(_)) => Default::default(),
            Err(e) => return Err(e),
        };
        Ok(known.into_iter().filter(|v| !applied.contains(v)).collect())
    }

    /// Writes a consistent copy of a SQLite database to `path` (`VACUUM INTO`, inside one
    /// read transaction, so writers carry on meanwhile). PostgreSQL has `pg_dump`.
    pub(crate) async fn backup_to(&self, path: &str) -> Result<()> {
        match &self.pools {
            Pools::Sqlite { reader, .. } => {
                sqlx::query("vacuum into ?").bind(path).execute(reader).await?;
                Ok(())
            }
            Pools::Postgres(_) => Err(StoreError::Unsupported(
                "a PostgreSQL database is backed up with pg_dump (or the server's own backups), not by pregon",
            )),
        }
    }

    /// Starts a write transaction. SQLite's starts `IMMEDIATE`: it takes the database's
    /// write lock at once, so writers queue instead of failing with `SQLITE_BUSY`.
    pub(crate) async fn write(&self) -> Result<Tx> {
        Ok(match &self.pools {
            Pools::Sqlite { writer, .. } => Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub(crate) async fn fetch_all(&self, q: Sql) -> Result<Vec<DbRow>> {
        on_reader!(self, q, |query, pool| query.fetch_all(pool), rows)
    }

    pub(crate) async fn fetch_optional(&self, q: Sql) -> Result<Option<DbRow>> {
        on_reader!(self, q, |query, pool| query.fetch_optional(pool), optional)
    }

    /// The one row the statement answers; `NotFound` when there is none.
    pub(crate) async fn fetch_one(&self, q: Sql) -> Result<DbRow> {
        on_reader!(self, q, |query, pool| query.fetch_one(pool), one)
    }
}

/// Whether a connection handed back to its pool is out of any transaction, so that the
/// pool may keep it (`after_release`; `false` closes it and the pool opens a fresh one).
///
/// A write whose `COMMIT` fails (`SQLITE_FULL`, say) may already have been rolled back by
/// SQLite itself; the `ROLLBACK` sqlx then queues fails with "no transaction is active" and
/// leaves its transaction depth at 1, so every later `BEGIN IMMEDIATE` on that connection
/// failed ("begin_with at non-zero transaction depth") until a restart. With `settle`, a
/// ping first waits for what the connection has queued (SQLite's rollback runs on the
/// connection's thread, in order), so a connection whose rollback went through is kept;
/// PostgreSQL's driver counts its rollback at once and needs no round trip.
pub(super) async fn outside_transaction<C: sqlx::Connection>(
    conn: &mut C,
    settle: bool,
) -> std::result::Result<bool, sqlx::Error> {
    if settle && conn.ping().await.is_err() {
        return Ok(false);
    }
    let clean = !conn.is_in_transaction();
    if !clean {
        tracing::warn!("a database connection was left inside a transaction; closing it");
    }
    Ok(clean)
}

/// A write transaction. Dropped without [`Tx::commit`], it rolls back.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's connection and `$q` to the statement
/// prepared for its driver.
macro_rules! on_tx {
    ($tx:expr, $sql:expr, |$q:ident, $conn:ident| $body:expr, $wrap:expr) => {
        match $tx {
            Tx::Sqlite(t) => {
                let $conn = &mut **t;
                let $q = $sql.sqlite();
                $wrap($body.await, DbRow::Sqlite)
            }
            Tx::Postgres(t) => {
                let $conn = &mut **t;
                let $q = $sql.postgres();
                $wrap($body.await, DbRow::Postgres)
            }
        }
    };
}

impl Tx {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement; returns the rows it changed.
    pub(crate) async fn execute(&mut self, q: Sql) -> Result<u64> {
        let done = match self {
            Tx::Sqlite(t) => q.sqlite().execute(&mut **t).await?.rows_affected(),
            Tx::Postgres(t) => q.postgres().execute(&mut **t).await?.rows_affected(),
        };
        Ok(done)
    }

    pub(crate) async fn fetch_all(&mut self, q: Sql) -> Result<Vec<DbRow>> {
        on_tx!(self, q, |query, conn| query.fetch_all(conn), rows)
    }

    pub(crate) async fn fetch_optional(&mut self, q: Sql) -> Result<Option<DbRow>> {
        on_tx!(self, q, |query, conn| query.fetch_optional(conn), optional)
    }

    /// The one row the statement answers; `NotFound` when there is none.
    pub(crate) async fn fetch_one(&mut self, q: Sql) -> Result<DbRow> {
        on_tx!(self, q, |query, conn| query.fetch_one(conn), one)
    }

    /// Takes row locks in PostgreSQL (a `select … for …` whose rows are not needed), in the
    /// order the lock order of [`crate`] gives. Nothing in SQLite: the transaction already
    /// holds the database's one write lock.
    pub(crate) async fn lock(&mut self, q: Sql) -> Result<()> {
        if let Tx::Postgres(t) = self {
            q.postgres().execute(&mut **t).await?;
        }
        Ok(())
    }

    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}
