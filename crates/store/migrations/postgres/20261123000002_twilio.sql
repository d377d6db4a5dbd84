-- Twilio Content API: a template's Content SID (HX…), sent as ContentSid instead of its text.
alter table template add column twilio_content_sid text;
