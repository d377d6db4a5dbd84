-- Outbound campaign notifications and the consent registry (SQLite).

-- The outbox of campaign webhooks. A row is written in the same transaction that moves its
-- campaign to a final state; a deliverer claims due rows (attempts + 1, next_attempt_at
-- pushed past the request's timeout, so no other process takes it meanwhile), POSTs the body
-- signed with the tenant's current webhook secret, and records the result conditional on
-- the attempt number it claimed. Delivery is at least once; the body's id lets receivers
-- drop repeats.
create table notification (
    notification_id  text primary key,
    tenant_id        text not null references tenant (tenant_id) on delete cascade,
    campaign_id      text not null references campaign (campaign_id) on delete cascade,
    -- campaign.completed, campaign.cancelled or campaign.failed.
    event            text not null,
    url              text not null,
    -- The exact JSON bytes POSTed (and signed), rendered once when the campaign finished.
    body             text not null,
    attempts         integer not null default 0,
    next_attempt_at  integer not null,
    status           text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    last_error       text,
    created_at       integer not null,
    delivered_at     integer,
    updated_at       integer not null
);
-- What a deliverer looks for: pending rows by due time.
create index notification_due on notification (next_attempt_at) where status = 'pending';
create index notification_campaign on notification (campaign_id, created_at);

-- Phones that consented to be messaged; campaigns with `require_consent` send only to these.
create table opt_in (
    tenant_id   text not null references tenant (tenant_id) on delete cascade,
    phone       text not null,
    source      text not null default 'api',
    evidence    text,
    created_at  integer not null,
    primary key (tenant_id, phone)
);
