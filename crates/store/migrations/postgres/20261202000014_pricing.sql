-- What a campaign costs (issue 13 §4): a tenant's rate card, each campaign's estimate at
-- import, and each message's pricing as Meta billed it. Money in integer millionths of the
-- currency (micros): sums are exact.

create table rate_card (
    tenant_id   text collate "C" primary key references tenant (tenant_id) on delete cascade,
    currency    text not null,
    updated_at  bigint not null
);

create table rate_card_rate (
    tenant_id     text collate "C" not null references rate_card (tenant_id) on delete cascade,
    -- ISO 3166 alpha-2, or '*' for every other country.
    country       text not null,
    category      text not null,
    price_micros  bigint not null check (price_micros >= 0),
    primary key (tenant_id, country, category)
);

-- The estimate of a campaign, at import, with the rate card of that moment.
create table campaign_estimate (
    campaign_id    text collate "C" primary key references campaign (campaign_id) on delete cascade,
    tenant_id      text collate "C" not null,
    currency       text not null,
    amount_micros  bigint not null,
    -- Accepted recipients without a rate (not counted in the amount).
    unpriced       bigint not null
);

-- One row per message, from the first status webhook that carried pricing: a message is
-- billed once whatever arrives after. The price is the rate card's when it arrived.
create table message_pricing (
    message_id     bigint primary key references message (message_id) on delete cascade,
    tenant_id      text collate "C" not null,
    campaign_id    text collate "C",
    category       text,
    pricing_type   text,
    billable       boolean,
    -- Billable and not of a free type.
    charged        boolean not null,
    country        text,
    currency       text,
    -- Null when not charged, or charged without a rate in the card.
    price_micros   bigint,
    recorded_at    bigint not null
);
create index message_pricing_campaign on message_pricing (campaign_id) where campaign_id is not null;
