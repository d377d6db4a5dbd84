-- pregon core schema (PostgreSQL). Times are bigint milliseconds since the Unix epoch (UTC),
-- the same in the SQLite schema, so both stores compare and index them the same way.
-- Identifiers (and opted-out phones, which are paged by value) use the "C" collation: they
-- sort and compare byte by byte, as in SQLite, whatever the database's default collation.

create table tenant (
    tenant_id       text collate "C" primary key,
    name            text not null unique,
    webhook_secret  text not null,
    created_at      bigint not null
);

-- Only a SHA-256 of each key is kept; keys are 256-bit random, so a slow hash adds nothing.
create table api_key (
    api_key_id  text collate "C" primary key,
    tenant_id   text collate "C" not null references tenant (tenant_id) on delete cascade,
    key_hash    text not null unique,
    prefix      text not null,
    created_at  bigint not null
);

create table sender (
    sender_id            text collate "C" primary key,
    tenant_id            text collate "C" not null references tenant (tenant_id) on delete cascade,
    name                 text not null,
    provider             text not null check (provider in ('meta', 'twilio', 'sandbox')),
    phone_number         text not null,
    -- nonce || ciphertext of the credentials JSON (ChaCha20-Poly1305, PREGON_MASTER_KEY).
    credentials          bytea not null,
    base_url             text,
    messages_per_second  double precision not null check (messages_per_second > 0),
    daily_limit          bigint,
    is_default           boolean not null default false,
    status               text not null default 'active' check (status in ('active', 'paused', 'suspended')),
    quality_rating       text,
    deleted_at           bigint,
    created_at           bigint not null,
    updated_at           bigint not null
);
create index sender_tenant on sender (tenant_id, sender_id);
create unique index sender_one_default on sender (tenant_id) where is_default and deleted_at is null;

create table template (
    template_id   text collate "C" primary key,
    tenant_id     text collate "C" not null references tenant (tenant_id) on delete cascade,
    name          text not null,
    language      text not null,
    body          text not null,
    header_image  text,
    deleted_at    bigint,
    created_at    bigint not null
);
create index template_tenant on template (tenant_id, template_id);

create table campaign (
    campaign_id    text collate "C" primary key,
    tenant_id      text collate "C" not null references tenant (tenant_id) on delete cascade,
    name           text not null,
    sender_id      text collate "C" not null references sender (sender_id),
    template_id    text collate "C" not null references template (template_id),
    status         text not null check (status in ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled', 'failed')),
    paused_reason  text,
    paused_detail  text,
    priority       bigint not null default 5 check (priority between 1 and 10),
    -- schedule, rate plan, retry policy, auto-pause rule, webhook URL, default region.
    settings       text not null default '{}',
    -- When a scheduled campaign starts by itself.
    start_at       bigint,
    -- Exact counts per message state, changed in the same transactions as the messages.
    n_queued     bigint not null default 0,
    n_claimed    bigint not null default 0,
    n_sending    bigint not null default 0,
    n_sent       bigint not null default 0,
    n_delivered  bigint not null default 0,
    n_read       bigint not null default 0,
    n_failed     bigint not null default 0,
    n_unknown    bigint not null default 0,
    n_skipped    bigint not null default 0,
    n_cancelled  bigint not null default 0,
    created_at     bigint not null,
    started_at     bigint,
    completed_at   bigint,
    last_sent_at   bigint,
    updated_at     bigint not null,
    check (paused_reason is null or status = 'paused')
);
create index campaign_tenant on campaign (tenant_id, campaign_id);
create index campaign_sender_status on campaign (sender_id, status);
create index campaign_scheduled on campaign (start_at) where status = 'scheduled';

create table message (
    message_id           bigint generated always as identity primary key,
    tenant_id            text collate "C" not null,
    campaign_id          text collate "C" references campaign (campaign_id) on delete cascade,
    sender_id            text collate "C" not null,
    template_id          text collate "C" not null,
    phone                text not null,
    variables            text not null default '{}',
    status               text not null check (status in ('queued', 'claimed', 'sending', 'sent', 'delivered', 'read', 'failed', 'unknown', 'skipped', 'cancelled')),
    skip_reason          text,
    priority             bigint not null default 5,
    attempts             bigint not null default 0,
    max_attempts         bigint not null default 3,
    next_attempt_at      bigint not null default 0,
    -- The fencing epoch of the sender lease under which the message was claimed.
    lease_epoch          bigint,
    provider_message_id  text,
    error_code           text,
    error_message        text,
    created_at           bigint not null,
    sent_at              bigint,
    delivered_at         bigint,
    read_at              bigint,
    updated_at           bigint not null
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
    message_event_id  bigint generated always as identity primary key,
    message_id        bigint not null references message (message_id) on delete cascade,
    status            text not null,
    detail            text,
    at                bigint not null
);
create index message_event_message on message_event (message_id, message_event_id);

create table opt_out (
    tenant_id   text collate "C" not null references tenant (tenant_id) on delete cascade,
    phone       text collate "C" not null,
    reason      text,
    source      text not null default 'api',
    created_at  bigint not null,
    primary key (tenant_id, phone)
);

-- Who owns each sender's dispatch: one owner at a time, fenced by epoch.
create table sender_lease (
    sender_id   text collate "C" primary key,
    owner_id    text collate "C" not null,
    epoch       bigint not null,
    expires_at  bigint not null
);

create table dispatcher (
    dispatcher_id      text collate "C" primary key,
    host               text not null,
    pid                bigint not null,
    version            text not null,
    started_at         bigint not null,
    last_heartbeat_at  bigint not null,
    current_rate       double precision not null default 0
);
