-- Expiry (api.md "Additions, 2026-12"): campaigns and single messages may say when their
-- messages stop being worth sending (`expires_at`); a message not sent by then becomes
-- `expired`, a final state counted in `n_expired`, and is never sent late. And a campaign
-- that ends `failed` says why (its template was disabled).
--
-- SQLite cannot change a CHECK constraint in place, so `message` is rebuilt with `expired`
-- among its statuses (the documented create-copy-drop-rename procedure). `message_event`,
-- the one table that references it, is rebuilt with it: dropping the old `message` first
-- would otherwise cascade into its events.
alter table campaign add column expires_at integer;
alter table campaign add column n_expired integer not null default 0;
-- Why a campaign ended `failed` (`template_disabled`), and the provider's words.
alter table campaign add column failure_reason text;
alter table campaign add column failure_detail text;

create table message_new (
    message_id           integer primary key,
    tenant_id            text not null,
    campaign_id          text references campaign (campaign_id) on delete cascade,
    sender_id            text not null,
    template_id          text not null,
    phone                text not null,
    variables            text not null default '{}',
    status               text not null check (status in ('queued', 'claimed', 'sending', 'sent', 'delivered', 'read', 'failed', 'unknown', 'skipped', 'cancelled', 'expired')),
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
    updated_at           integer not null,
    send_at              integer,
    -- Not sent by then, never: the message becomes `expired`.
    expires_at           integer
);
insert into message_new (message_id, tenant_id, campaign_id, sender_id, template_id, phone, variables, status,
    skip_reason, priority, attempts, max_attempts, next_attempt_at, lease_epoch, provider_message_id, error_code,
    error_message, created_at, sent_at, delivered_at, read_at, updated_at, send_at)
select message_id, tenant_id, campaign_id, sender_id, template_id, phone, variables, status,
    skip_reason, priority, attempts, max_attempts, next_attempt_at, lease_epoch, provider_message_id, error_code,
    error_message, created_at, sent_at, delivered_at, read_at, updated_at, send_at
from message;

create table message_event_new (
    message_event_id  integer primary key,
    message_id        integer not null references message_new (message_id) on delete cascade,
    status            text not null,
    detail            text,
    at                integer not null,
    provider_key      text
);
insert into message_event_new (message_event_id, message_id, status, detail, at, provider_key)
select message_event_id, message_id, status, detail, at, provider_key from message_event;

drop table message_event;
drop table message;
-- Renaming rewrites message_event_new's reference to message_new into `message`.
alter table message_new rename to message;
alter table message_event_new rename to message_event;

create index message_queue on message (campaign_id, message_id) where status = 'queued';
create index message_single_queue on message (sender_id, priority, message_id) where status = 'queued' and campaign_id is null;
create index message_inflight on message (sender_id, status) where status in ('claimed', 'sending');
create index message_campaign on message (campaign_id, message_id);
create index message_campaign_status on message (campaign_id, status, message_id);
create index message_provider_id on message (provider_message_id) where provider_message_id is not null;
create index message_single on message (tenant_id, message_id) where campaign_id is null;
create index message_sender_phone on message (sender_id, phone);
create index message_single_scheduled on message (tenant_id, next_attempt_at, message_id)
    where campaign_id is null and status = 'queued';
create index message_single_finished on message (updated_at)
    where campaign_id is null and status in ('sent', 'delivered', 'read', 'failed', 'unknown', 'skipped', 'cancelled', 'expired');
-- The queued messages that can expire, soonest first: what the expiry sweep reads.
create index message_expiring on message (expires_at) where status = 'queued' and expires_at is not null;

create index message_event_message on message_event (message_id, message_event_id);
create unique index message_event_provider_key on message_event (message_id, provider_key) where provider_key is not null;
