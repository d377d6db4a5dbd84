//! The store's one error type. Its variants say what happened in the store's own terms, so
//! that a caller decides what to answer with one `match`; no database text is carried to
//! be shown to anyone (the `Db` variant is for logs).

use pregon_domain::{CampaignStatus, MessageStatus};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row (or it belongs to another tenant).
    #[error("not found")]
    NotFound,
    /// A rule of the data refused the change.
    #[error("conflict: {constraint}")]
    Conflict { constraint: Constraint },
    /// The state of what the change is about does not allow it.
    #[error("cannot {action} a {subject} that is {from}")]
    IllegalTransition {
        action: &'static str,
        subject: &'static str,
        from: &'static str,
    },
    /// The sender lease under which the dispatcher wrote is no longer its own.
    #[error("the sender lease was lost")]
    LeaseLost,
    /// The database cannot take the change now; nothing was written.
    #[error("the database is unavailable: {0}")]
    Unavailable(Unavailability),
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://USER@HOST/DATABASE")]
    UnsupportedUrl(String),
    /// A stored value this version cannot read.
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
    /// This database cannot do what was asked (say why).
    #[error("{0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error (for logs only).
    #[error(transparent)]
    Db(sqlx::Error),
}

impl StoreError {
    /// A campaign's state refuses `action`.
    pub fn campaign_transition(action: &'static str, from: CampaignStatus) -> Self {
        StoreError::IllegalTransition {
            action,
            subject: "campaign",
            from: from.as_str(),
        }
    }

    /// A message's state refuses `action`.
    pub fn message_transition(action: &'static str, from: MessageStatus) -> Self {
        StoreError::IllegalTransition {
            action,
            subject: "message",
            from: from.as_str(),
        }
    }
}

/// The rule a [`StoreError::Conflict`] broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// Tenant names are unique.
    TenantName,
    /// A tenant has at most one default sender.
    OneDefaultSender,
    /// A sender with unfinished campaigns cannot be deleted.
    SenderInUse { unfinished: i64 },
    /// An email signs in to one user.
    UserEmail,
    /// A tenant keeps at least one owner.
    LastOwner,
    /// The request's `Idempotency-Key` was taken over by another request since it reserved
    /// it (its lock ran out): only one of them may commit.
    IdempotencyKeyTaken,
    /// Any other uniqueness rule.
    Unique,
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Constraint::TenantName => f.write_str("a tenant of that name exists"),
            Constraint::OneDefaultSender => f.write_str("the tenant has another default sender"),
            Constraint::SenderInUse { unfinished } => {
                write!(
                    f,
                    "the sender has {unfinished} unfinished campaign(s); cancel them first"
                )
            }
            Constraint::UserEmail => f.write_str("a user with that email exists"),
            Constraint::LastOwner => f.write_str("the tenant's last owner cannot be removed or demoted"),
            Constraint::IdempotencyKeyTaken => {
                f.write_str("another request with the same Idempotency-Key is in progress")
            }
            Constraint::Unique => f.write_str("that value is already taken"),
        }
    }
}

impl Constraint {
    /// The rule a database's uniqueness error names: PostgreSQL gives the constraint or
    /// index, SQLite the table and columns in its message.
    fn of(db: &dyn sqlx::error::DatabaseError) -> Self {
        let named = db.constraint().unwrap_or_default();
        let message = db.message();
        if named == "tenant_name_key" || message.ends_with("tenant.name") {
            Constraint::TenantName
        } else if named == "sender_one_default" || message.ends_with("sender.tenant_id") {
            Constraint::OneDefaultSender
        } else if named == "app_user_email_key" || message.ends_with("app_user.email") {
            Constraint::UserEmail
        } else {
            Constraint::Unique
        }
    }
}

/// Why the database cannot take changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailability {
    /// Its disk (or quota) is full.
    Full,
    /// It is read-only: a read-only file or file system, or a PostgreSQL standby.
    ReadOnly,
    /// It does not answer, or refuses connections.
    Unreachable,
}

impl std::fmt::Display for Unavailability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unavailability::Full => "its storage is full",
            Unavailability::ReadOnly => "it is read-only",
            Unavailability::Unreachable => "it does not answer",
        })
    }
}

impl StoreError {
    /// A PostgreSQL deadlock (`40P01`) or serialization failure (`40001`): the transaction
    /// was rolled back whole, and running it again may well succeed.
    pub fn is_transient_conflict(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("40P01") | Some("40001"))
            }
            _ => false,
        }
    }
}

impl Unavailability {
    /// What a database error code says of the database, if it says it cannot take changes:
    /// SQLite's primary result codes, PostgreSQL's SQLSTATEs.
    fn of(db: &dyn sqlx::error::DatabaseError) -> Option<Self> {
        let code = db.code()?;
        // Told apart by driver, not by the code's look: SQLSTATEs such as 25006 and 53100
        // are all digits too, and read as SQLite codes they meant nothing (a 500).
        let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
        if let (true, Ok(extended)) = (sqlite, code.parse::<i32>()) {
            // SQLite: FULL, READONLY, IOERR / CANTOPEN.
            return match extended & 0xff {
                13 => Some(Unavailability::Full),
                8 => Some(Unavailability::ReadOnly),
                10 | 14 => Some(Unavailability::Unreachable),
                _ => None,
            };
        }
        match code.as_ref() {
            "53100" => Some(Unavailability::Full),
            "25006" => Some(Unavailability::ReadOnly),
            c if c.starts_with("08") || c.starts_with("57P") || c == "53300" => Some(Unavailability::Unreachable),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                constraint: Constraint::of(db.as_ref()),
            },
            sqlx::Error::Database(db) => match Unavailability::of(db.as_ref()) {
                Some(why) => StoreError::Unavailable(why),
                None => StoreError::Db(e),
            },
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(Unavailability::Unreachable)
            }
            _ => StoreError::Db(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
