-- Counts that one campaign's batches can add to side by side (PostgreSQL).
--
-- The dispatcher's own writes (claim, mark `sending`, record outcomes, hand back, defer,
-- skip) lock their campaign rows FOR SHARE, so a campaign's state cannot change under them
-- while its next claim, the current batch's `sending` mark and the previous batch's outcomes
-- run at the same time. They add their count changes here, a row per campaign and
-- transaction, instead of updating the campaign row (which would queue them one behind the
-- other again). Writes that change a campaign's state lock it FOR NO KEY UPDATE and update
-- its counters directly, as before. A campaign's counts are its `n_*` columns plus the sum of
-- its rows here (the view `campaign_counted`); from time to time the rows are folded back
-- into the campaign row under its exclusive lock.
create table campaign_tally (
    campaign_id  text collate "C" not null references campaign (campaign_id) on delete cascade,
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
    last_sent_at bigint,
    at           bigint not null
);
create index campaign_tally_campaign on campaign_tally (campaign_id);

-- Campaigns with exact counts: what every read of a campaign's record goes through.
create view campaign_counted as
select c.campaign_id, c.tenant_id, c.name, c.sender_id, c.template_id, c.status, c.paused_reason,
       c.paused_detail, c.priority, c.settings, c.start_at, c.windowed, c.recheck_at,
       c.n_queued + coalesce(t.n_queued, 0) as n_queued,
       c.n_claimed + coalesce(t.n_claimed, 0) as n_claimed,
       c.n_sending + coalesce(t.n_sending, 0) as n_sending,
       c.n_sent + coalesce(t.n_sent, 0) as n_sent,
       c.n_delivered + coalesce(t.n_delivered, 0) as n_delivered,
       c.n_read + coalesce(t.n_read, 0) as n_read,
       c.n_failed + coalesce(t.n_failed, 0) as n_failed,
       c.n_unknown + coalesce(t.n_unknown, 0) as n_unknown,
       c.n_skipped + coalesce(t.n_skipped, 0) as n_skipped,
       c.n_cancelled + coalesce(t.n_cancelled, 0) as n_cancelled,
       c.created_at, c.started_at, c.completed_at,
       greatest(c.last_sent_at, t.last_sent_at) as last_sent_at,
       greatest(c.updated_at, t.at) as updated_at
from campaign c
left join lateral (
    select sum(n_queued)::bigint as n_queued, sum(n_claimed)::bigint as n_claimed,
           sum(n_sending)::bigint as n_sending, sum(n_sent)::bigint as n_sent,
           sum(n_delivered)::bigint as n_delivered, sum(n_read)::bigint as n_read,
           sum(n_failed)::bigint as n_failed, sum(n_unknown)::bigint as n_unknown,
           sum(n_skipped)::bigint as n_skipped, sum(n_cancelled)::bigint as n_cancelled,
           max(last_sent_at) as last_sent_at, max(at) as at
    from campaign_tally where campaign_tally.campaign_id = c.campaign_id
) t on true;
