-- Expiry (api.md "Additions, 2026-12"): campaigns and single messages may say when their
-- messages stop being worth sending (`expires_at`); a message not sent by then becomes
-- `expired`, a final state counted in `n_expired`, and is never sent late. And a campaign
-- that ends `failed` says why (its template was disabled).
alter table campaign add column expires_at bigint;
alter table campaign add column n_expired bigint not null default 0;
-- Why a campaign ended `failed` (`template_disabled`), and the provider's words.
alter table campaign add column failure_reason text;
alter table campaign add column failure_detail text;
alter table campaign_tally add column n_expired bigint not null default 0;

alter table message drop constraint message_status_check;
alter table message add constraint message_status_check
    check (status in ('queued', 'claimed', 'sending', 'sent', 'delivered', 'read', 'failed', 'unknown', 'skipped', 'cancelled', 'expired'));
-- Not sent by then, never: the message becomes `expired`.
alter table message add column expires_at bigint;

drop index message_single_finished;
create index message_single_finished on message (updated_at)
    where campaign_id is null and status in ('sent', 'delivered', 'read', 'failed', 'unknown', 'skipped', 'cancelled', 'expired');
-- The queued messages that can expire, soonest first: what the expiry sweep reads.
create index message_expiring on message (expires_at) where status = 'queued' and expires_at is not null;

-- The view gains the new count, the expiry and the failure (new columns go last).
create or replace view campaign_counted as
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
       greatest(c.updated_at, t.at) as updated_at,
       c.n_expired + coalesce(t.n_expired, 0) as n_expired,
       c.expires_at, c.failure_reason, c.failure_detail
from campaign c
left join lateral (
    select sum(n_queued)::bigint as n_queued, sum(n_claimed)::bigint as n_claimed,
           sum(n_sending)::bigint as n_sending, sum(n_sent)::bigint as n_sent,
           sum(n_delivered)::bigint as n_delivered, sum(n_read)::bigint as n_read,
           sum(n_failed)::bigint as n_failed, sum(n_unknown)::bigint as n_unknown,
           sum(n_skipped)::bigint as n_skipped, sum(n_cancelled)::bigint as n_cancelled,
           max(last_sent_at) as last_sent_at, max(at) as at, sum(n_expired)::bigint as n_expired
    from campaign_tally where campaign_tally.campaign_id = c.campaign_id
) t on true;
