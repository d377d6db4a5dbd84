#!/usr/bin/env bash
# Builds a 1,000,000-message campaign in a fresh SQLite database (messages written straight
# into it with sqlite3) and times its console detail page and the failures endpoint with curl.
# Usage: PREGON_BIN=target/debug/pregon scripts/bench-campaign-detail.sh (needs sqlite3, curl).
set -euo pipefail
BIN=$(realpath "${PREGON_BIN:-target/debug/pregon}")
DIR=$(mktemp -d)
PORT=${PORT:-18731}
trap 'rm -rf "$DIR"' EXIT
export PREGON_DATABASE_URL="sqlite://$DIR/pregon.db" PREGON_LISTEN="127.0.0.1:$PORT" \
  PREGON_BOOTSTRAP_API_KEY=pgn_perf_key_0123456789 PREGON_BOOTSTRAP_EMAIL=perf@example.com \
  PREGON_BOOTSTRAP_PASSWORD="una clave larga de prueba" PREGON_LOG=warn
start() { (cd "$DIR" && exec "$BIN" serve > "$DIR/log" 2>&1) & echo $! > "$DIR/pid"; for i in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return; sleep 0.2; done; cat "$DIR/log"; exit 1; }
stop() { kill "$(cat "$DIR/pid")"; while kill -0 "$(cat "$DIR/pid")" 2>/dev/null; do sleep 0.1; done; }
API() { curl -sf -H "authorization: Bearer pgn_perf_key_0123456789" -H 'content-type: application/json' "$@"; }
start
T=$(API -X POST "http://127.0.0.1:$PORT/api/v1/templates" -d '{"name":"t","language":"es","body":"Hola {{n}}"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
C=$(API -X POST "http://127.0.0.1:$PORT/api/v1/campaigns" -d "{\"name\":\"Un millón\",\"template_id\":\"$T\",\"contacts\":[{\"phone\":\"+584120000001\",\"n\":\"x\"}],\"start\":false}" | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
stop
echo "campaign $C"
time sqlite3 "$DIR/pregon.db" <<SQL
pragma journal_mode=wal;
begin;
create temp table base as select tenant_id, sender_id, template_id from message where campaign_id = '$C' limit 1;
delete from message where campaign_id = '$C';
with recursive n(i) as (select 1 union all select i + 1 from n where i < 1000000)
insert into message (tenant_id, campaign_id, sender_id, template_id, phone, variables, status, attempts,
  error_code, error_message, created_at, sent_at, delivered_at, read_at, updated_at)
select b.tenant_id, '$C', b.sender_id, b.template_id, '+58412' || printf('%07d', i), '{"n":"x"}',
  case when i % 20 = 0 then 'failed' when i > 990000 then 'queued' when i % 3 = 0 then 'read' when i % 3 = 1 then 'delivered' else 'sent' end,
  case when i > 990000 then 0 else 1 end,
  case when i % 20 = 0 then (case i % 3 when 0 then '131026' when 1 then '131000' else '132001' end) end,
  case when i % 20 = 0 then 'provider words' end,
  1767225600000, case when i % 20 <> 0 and i <= 990000 then 1767225600000 + i * 10 end, null, null, 1767225600000
from n, base b;
insert into message_event (message_id, status, detail, at)
select message_id, 'queued', null, created_at from message where campaign_id = '$C' order by message_id limit 2000;
update campaign set status = 'paused', paused_reason = 'user', started_at = 1767225600000,
  n_queued = (select count(*) from message where campaign_id = '$C' and status = 'queued'),
  n_sent = (select count(*) from message where campaign_id = '$C' and status = 'sent'),
  n_delivered = (select count(*) from message where campaign_id = '$C' and status = 'delivered'),
  n_read = (select count(*) from message where campaign_id = '$C' and status = 'read'),
  n_failed = (select count(*) from message where campaign_id = '$C' and status = 'failed')
  where campaign_id = '$C';
commit;
analyze;
SQL
start
COOKIE=$(curl -s -D - -o /dev/null -H 'content-type: application/json' -X POST "http://127.0.0.1:$PORT/api/v1/sessions" -d '{"email":"perf@example.com","password":"una clave larga de prueba"}' | grep -i '^set-cookie' | head -1 | sed 's/^[Ss]et-[Cc]ookie: //; s/;.*//')
for path in "/campaigns/$C" "/campaigns/$C" "/campaigns/$C" "/campaigns/$C?status=failed" "/campaigns/$C?status=queued" "/campaigns/$C?phone=%2B584120000777" "/api/v1/campaigns/$C/failures"; do
  curl -s -o /dev/null -H "cookie: $COOKIE" -w "%{http_code} %{time_total}s $path\n" "http://127.0.0.1:$PORT$path"
done
stop
