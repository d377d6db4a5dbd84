-- A template's lifecycle as its provider tells it (api.md "Templates, opt-outs, pricing,
-- expiry"): its category (default `marketing`, the cautious choice), its review status and
-- its quality rating. `POST /api/v1/templates/sync` reads them from the sender's WhatsApp
-- Business Account; templates created by hand start approved and unrated.
alter table template add column category text not null default 'marketing';
alter table template add column status text not null default 'approved';
alter table template add column quality text not null default 'unknown';
-- Sync finds a template by its provider name and language.
create index template_name_language on template (tenant_id, name, language);
