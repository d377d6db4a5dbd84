-- What an opt-out covers (api.md "Templates, opt-outs, pricing, expiry"): `all` messages
-- (every opt-out so far), or `marketing` ones only (Meta's 131050 on a send, a
-- `user_preferences` stop). `source` already says where it came from.
alter table opt_out add column scope text not null default 'all';
