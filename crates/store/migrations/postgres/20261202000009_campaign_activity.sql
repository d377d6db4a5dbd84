-- The console's campaign detail (issue 12): its failures grouped by provider error code,
-- read from this index alone (no message row is visited to count them).
create index message_campaign_failed on message (campaign_id, error_code) where status = 'failed';
