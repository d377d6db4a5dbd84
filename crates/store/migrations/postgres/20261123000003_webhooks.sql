-- Provider webhooks (PostgreSQL): routing a webhook to its sender by a non-secret account
-- id, recording each provider status report once, and inbound replies.

-- The non-secret id a provider's webhooks name a sender by: the Meta phone_number_id, the
-- Twilio account SID. Copied from the (encrypted) credentials whenever they are set.
alter table sender add column provider_account text collate "C";
create index sender_provider_account on sender (provider, provider_account) where provider_account is not null;

-- `<provider message id>/<status>` on an event a provider webhook reported: providers
-- deliver at least once, and each report is recorded once per message.
alter table message_event add column provider_key text;
create unique index message_event_provider_key on message_event (message_id, provider_key) where provider_key is not null;

-- The campaign a reply answers: the latest message the sender sent to that phone.
create index message_sender_phone on message (sender_id, phone);

-- Messages recipients sent back (replies), per sender.
create table inbound_message (
    inbound_message_id   bigint generated always as identity primary key,
    tenant_id            text collate "C" not null references tenant (tenant_id) on delete cascade,
    sender_id            text collate "C" not null references sender (sender_id),
    -- E.164.
    phone                text collate "C" not null,
    provider_message_id  text not null,
    -- The provider's message type: text, button, interactive, image, …
    message_type         text not null,
    text                 text,
    -- The campaign of the latest campaign message sent to this phone by this sender.
    campaign_id          text collate "C" references campaign (campaign_id) on delete set null,
    -- The text was a stop word, and the phone was opted out.
    opted_out            boolean not null default false,
    received_at          bigint not null,
    created_at           bigint not null,
    unique (sender_id, provider_message_id)
);
create index inbound_tenant on inbound_message (tenant_id, inbound_message_id);
create index inbound_phone on inbound_message (tenant_id, phone, inbound_message_id);
create index inbound_campaign on inbound_message (campaign_id, inbound_message_id) where campaign_id is not null;
