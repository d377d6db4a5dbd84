-- A Meta sender may follow the throughput its number is granted (80 or 1,000 messages per
-- second, docs/providers.md §1.3) instead of a fixed rate, never above messages_per_second.
-- throughput_level is the level last learned: at pre-flight (the phone number's
-- throughput.level) or from a phone_number_quality_update THROUGHPUT_UPGRADE webhook.
alter table sender add column rate_follows_provider integer not null default 0;
alter table sender add column throughput_level text;
