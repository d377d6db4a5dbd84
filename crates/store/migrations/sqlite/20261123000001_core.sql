-- pregon core schema (SQLite). Times are INTEGER milliseconds since the Unix epoch (UTC),
-- the same in the PostgreSQL schema, so both stores compare and index them the same way.

create table tenant (
    tenant_id       text primary key,
    name            text not null unique,
    webhook_secret  text not null,
    created_at      integer not null
);

-- Only a SHA-256 of each key is kept; keys are 256-bit random, so a slow hash adds nothing.
create table api_key (
    api_key_id  text primary key,
    tenant_id   text not null references tenant (tenant_id) on delete cascade,
    key_hash    text not null unique,
    prefix      text not null,
    created_at  integer not null
);

create table sender (
    sender_id            text primary key,
    tenant_id            text not null references tenant (tenant_id) on delete cascade,
    name                 text not null,
    provider             text not null check (provider in ('meta', 'twilio', 'sandbox')),
    phone_number         text not null,
    -- nonce || ciphertext of the credentials JSON (ChaCha20-Poly1305, PREGON_MASTER_KEY).
    credentials          blob not null,
    base_url             text,
    messages_per_second  real not null check (messages_per_second > 0),
    daily_limit          integer,
    is_default           integer not null default 0,
    status               text not null default 'active' check (status in ('active', 'paused', 'suspended')),
    quality_rating       text,
    deleted_at           integer,
    created_at           integer not null,
    updated_at           integer not null
);
create index sender_tenant on sender (tenant_id, sender_id);
create unique index sender_one_default on sender (tenant_id) where is_default = 1 and deleted_at is null;

create table template (
    template_id   text primary key,
    tenant_id     text not null references tenant (tenant_id) on delete cascade,
    name          text not null,
    language      text not null,
    body          text not null,
    header_image  text,
    deleted_at    integer,
    created_at    integer not null
);
create index template_tenant on template (tenant_id, template_id);

create table campaign (
    campaign_id    text primary key,
    tenant_id      text not null references tenant (tenant_id) on delete cascade,
    name           text not null,
    sender_id      text not null references sender (sender_id),
    template_id    text not null references template (template_id),
    status         text not null check (status in ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled', 'failed')),
    paused_reason  text,
    paused_detail  text,
    priority       integer not null default 5 check (priority between 1 and 10),
    -- schedule, rate plan, retry policy, auto-pause rule, webhook URL, default region.
    settings       text not null default '{}',
    -- When a scheduled campaign starts by itself.
    start_at       integer,
    -- Exact counts per message state, changed in the same transactions as the messages.
    n_queued     integer not null default 0,
    n_claimed    integer not null default 0,
    n_sending    integer not null default 0,
    n_sent       integer not null default 0,
    n_delivered  integer not null default 0,
    n_read       integer not null default 0,
    n_failed     integer not null default 0,
    n_unknown    integer not null default 0,
    n_skipped    integer not null default 0,
    n_cancelled  integer not null default 0,
    created_at     integer not null,
    started_at     integer,
    completed_at   integer,
    last_sent_at   integer,
    updated_at     integer not null,
    check (paused_reason is null or status = 'paused')
);
create index campaign_tenant on campaign (tenant_id, campaign_id);
create index campaign_sender_status on campaign (sender_id, status);
create index campaign_scheduled on campaign (start_at) where status = 'scheduled';

create table message (
    message_id           integer primary key,
    tenant_id            text not null,
    campaign_id          text references campaign (campaign_id) on delete cascade,
    sender_id            text not null,
    template_id          text not null,
    phone                text not null,
    variables            text not null default '{}',
    status               text not null check (status in ('queued', 'claimed', 'sending', 'sent', 'delivered', 'read', 'failed', 'unknown', 'skipped', 'cancelled')),
    skip_reason          text,
    priority             integer not null default 5,
    attempts             integer not null default 0,
    max_attempts         integer not null default 3,
    next_attempt_at      integer not null default 0,
    -- The fencing epoch of the sender lease under which the message was claimed.
    lease_epoch          integer,
    provider_message_id  text,
    error_code           text,
    error_message        text,
    created_at           integer not null,
    sent_at              integer,
    delivered_at         integer,
    read_at              integer,
    updated_at           integer not null
);
-- The dispatch queue: only queued rows, per campaign in claim order (oldest first).
create index message_queue on message (campaign_id, message_id) where status = 'queued';
-- Single API messages waiting, per sender, highest priority first.
create index message_single_queue on message (sender_id, priority, message_id) where status = 'queued' and campaign_id is null;
-- In-flight rows, for recovery when a lease changes hands.
create index message_inflight on message (sender_id, status) where status in ('claimed', 'sending');
create index message_campaign on message (campaign_id, message_id);
create index message_campaign_status on message (campaign_id, status, message_id);
create index message_provider_id on message (provider_message_id) where provider_message_id is not null;
create index message_single on message (tenant_id, message_id) where campaign_id is null;

create table message_event (
    message_event_id  integer primary key,
    message_id        integer not null references message (message_id) on delete cascade,
    status            text not null,
    detail            text,
    at                integer not null
);
create index message_event_message on message_event (message_id, message_event_id);

create table opt_out (
    tenant_id   text not null references tenant (tenant_id) on delete cascade,
    phone       text not null,
    reason      text,
    source      text not null default 'api',
    created_at  integer not null,
    primary key (tenant_id, phone)
);

-- Who owns each sender's dispatch: one owner at a time, fenced by epoch.
create table sender_lease (
    sender_id   text primary key,
    owner_id    text not null,
    epoch       integer not null,
    expires_at  integer not null
);

create table dispatcher (
    dispatcher_id      text primary key,
    host               text not null,
    pid                integer not null,
    version            text not null,
    started_at         integer not null,
    last_heartbeat_at  integer not null,
    current_rate       real not null default 0
);
