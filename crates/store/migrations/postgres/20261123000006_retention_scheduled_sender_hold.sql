-- Retention, the list of scheduled single messages, and campaigns held for their sender
-- (PostgreSQL).

-- When a single message was to be sent: its `send_at`, or when it was accepted. Null for
-- campaign messages. Existing single messages take it from the detail of their first event.
alter table message add column send_at bigint;
update message set send_at = coalesce(
    (select (e.detail::jsonb ->> 'send_at')::bigint from message_event e
      where e.message_id = message.message_id and e.status = 'queued'
      order by e.message_event_id limit 1),
    created_at)
where campaign_id is null;

-- A tenant's single messages waiting for their send time, soonest first.
create index message_single_scheduled on message (tenant_id, next_attempt_at, message_id)
    where campaign_id is null and status = 'queued';

-- Retention: finished single messages by their last update, finished campaigns by when they
-- finished.
create index message_single_finished on message (updated_at)
    where campaign_id is null and status in ('sent', 'delivered', 'read', 'failed', 'unknown', 'skipped', 'cancelled');
create index campaign_finished on campaign (coalesce(completed_at, updated_at))
    where status in ('completed', 'cancelled', 'failed');

-- A running campaign's sender is active: campaigns of senders already paused or suspended
-- wait for them with reason `sender_paused`, and resume when the sender is active again.
update campaign set status = 'paused', paused_reason = 'sender_paused',
    paused_detail = 'the sender is ' || (select s.status from sender s where s.sender_id = campaign.sender_id)
where status = 'running'
  and exists (select 1 from sender s where s.sender_id = campaign.sender_id and s.status <> 'active');
