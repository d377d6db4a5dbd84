-- People, roles, sessions, audit log and idempotent requests (PostgreSQL).

-- The people who sign in to a tenant (the console). An email signs in to one tenant.
create table app_user (
    user_id        text collate "C" primary key,
    tenant_id      text collate "C" not null references tenant (tenant_id) on delete cascade,
    -- Lowercased.
    email          text not null unique,
    name           text not null,
    role           text not null check (role in ('viewer', 'operator', 'admin', 'owner')),
    -- argon2id, in the PHC string format.
    password_hash  text not null,
    -- The console's language for this user (`es`, `en`); null: the browser's.
    language       text,
    created_at     bigint not null,
    updated_at     bigint not null
);
create index app_user_tenant on app_user (tenant_id, user_id);

-- API keys get a name and a role. Keys made before roles existed keep working, as owners.
alter table api_key add column name text not null default 'default';
alter table api_key add column role text not null default 'owner'
    check (role in ('viewer', 'operator', 'admin', 'owner'));
-- Who made it: a user id or an API key id (null: the first start or the CLI).
alter table api_key add column created_by text;
-- Written at most once a minute per key.
alter table api_key add column last_used_at bigint;

-- Console sessions. Only a SHA-256 of the cookie's token is kept; a session lasts 7 days at
-- most and ends after 12 hours without use (`last_seen_at`, written at most once a minute).
create table user_session (
    session_id    text collate "C" primary key,
    tenant_id     text collate "C" not null references tenant (tenant_id) on delete cascade,
    user_id       text collate "C" not null references app_user (user_id) on delete cascade,
    token_hash    text not null unique,
    created_at    bigint not null,
    last_seen_at  bigint not null,
    expires_at    bigint not null
);
create index user_session_user on user_session (user_id);
create index user_session_expires on user_session (expires_at);

-- Failed sign-ins per email, for the lockout after 5 in 15 minutes.
create table login_failure (
    email  text not null,
    at     bigint not null
);
create index login_failure_email on login_failure (email, at);

-- Every change made through the API or the CLI, written in the transaction of the change.
create table audit_event (
    audit_event_id  bigint generated always as identity primary key,
    tenant_id       text collate "C" not null references tenant (tenant_id) on delete cascade,
    at              bigint not null,
    -- `user`, `api_key` or `cli`.
    actor_kind      text not null,
    actor_id        text,
    actor_name      text not null,
    action          text not null,
    target_kind     text,
    target_id       text,
    -- A JSON object; never secrets.
    details         text not null default '{}'
);
create index audit_event_tenant on audit_event (tenant_id, audit_event_id);
create index audit_event_action on audit_event (tenant_id, action, audit_event_id);
create index audit_event_at on audit_event (at);

-- `Idempotency-Key`s. A request reserves its key (`running`, with a token and a lock that
-- ends at `locked_until`); the change it makes marks the key `committed` in the change's own
-- transaction, conditional on the token; its answer is then kept (`done`) to be answered
-- again. Kept 24 hours.
create table idempotency_key (
    tenant_id        text collate "C" not null references tenant (tenant_id) on delete cascade,
    idempotency_key  text not null,
    method           text not null,
    path             text not null,
    request_hash     text not null,
    state            text not null check (state in ('running', 'committed', 'done')),
    token            text not null,
    locked_until     bigint not null,
    -- What the change made (`campaign/cmp_…`), once committed.
    resource         text,
    status           bigint,
    -- The answer, sealed with the master key (it may hold a secret shown once).
    response         bytea,
    created_at       bigint not null,
    updated_at       bigint not null,
    primary key (tenant_id, idempotency_key)
);
create index idempotency_key_created on idempotency_key (created_at);
