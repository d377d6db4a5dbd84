-- Sending windows and daily limits (SQLite).

-- A campaign with a daily sending window (`windowed`) is re-evaluated by the scheduler at
-- `recheck_at`: the instant its window next opens or closes, or the moment it (re)started.
-- A campaign paused for `daily_limit` is re-evaluated when room frees up. Claims take from a
-- running campaign only while `recheck_at` is null or still ahead, so nothing is sent
-- outside a window even before the scheduler has paused the campaign.
alter table campaign add column windowed integer not null default 0;
alter table campaign add column recheck_at integer;
create index campaign_recheck on campaign (recheck_at) where recheck_at is not null;

-- Senders that share one daily limit of unique recipients (Meta counts it per business
-- portfolio). Null: the sender counts alone.
alter table sender add column limit_group text;

-- Recipients messaged, per limit key (`tenant_id/group` or the sender id), with the last
-- time: the unique recipients of the rolling 24 hours are the rows with a recent `last_at`.
create table daily_recipient (
    limit_key  text not null,
    phone      text not null,
    last_at    integer not null,
    primary key (limit_key, phone)
);
create index daily_recipient_recent on daily_recipient (limit_key, last_at);
