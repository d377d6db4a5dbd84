-- Users without phone numbers (BSUID, docs/providers.md §1.6, README "Users without phone
-- numbers"). A recipient's identity is its E.164 phone when known, else its business-scoped
-- user ID. The `phone` columns of message, inbound_message and opt_out hold that identity:
-- an E.164 number starts with `+`, a BSUID with two letters, so the two never collide, and
-- every rule keyed by those columns (dedupe, opt-outs, pair gaps, daily unique recipients)
-- works on the identity without a second key. `user_id` is the BSUID beside it, when known.
alter table message add column user_id text;
alter table inbound_message add column user_id text;

-- A phone and a BSUID seen together (a contact with both, a reply or a status naming both):
-- an opt-out under either covers the other.
create table recipient_link (
    tenant_id   text not null references tenant (tenant_id) on delete cascade,
    user_id     text not null,
    phone       text not null,
    created_at  integer not null,
    primary key (tenant_id, user_id, phone)
);
create index recipient_link_phone on recipient_link (tenant_id, phone);
