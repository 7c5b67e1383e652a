#!/usr/bin/env bash
# A local cluster: N gateways (default 2) on PostgreSQL and Redis behind HAProxy (deploy/haproxy.cfg), two
# Rasa servers (SQL tracker store on PostgreSQL, Redis lock store) and two action servers behind it too.
#
#   scripts/cluster.sh [N]
#
# Web chat and console on http://127.0.0.1:8080/, SMTP on 127.0.0.1:2525 (the balancer's); gateway i
# listens on 808i (HTTP) and 253i (SMTP). PostgreSQL: $HOTLINE_DATABASE_URL (default
# postgresql://postgres@127.0.0.1:5432/hotline, created when missing; Rasa's trackers in database
# "rasa" beside it); Redis: $HOTLINE_CLUSTER_REDIS_URL (default redis://127.0.0.1:6379/0).
# Logs in var/log/cluster/. Ctrl-C stops everything (SIGTERM: graceful).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N=${1:-2}
[[ "$N" =~ ^[1-9]$ ]] || { echo "usage: scripts/cluster.sh [N gateways, 1-9]" >&2; exit 2; }
ensure_venv .venv run
ensure_rasa_venv
ensure_debian_tools
export HOTLINE_DATABASE_URL=${HOTLINE_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/hotline}
export HOTLINE_CLUSTER_REDIS_URL=${HOTLINE_CLUSTER_REDIS_URL:-redis://127.0.0.1:6379/0}
LOG=var/log/cluster
mkdir -p "$LOG"

# PostgreSQL: the gateways' database and Rasa's, created when missing.
read -r PG_USER PG_HOST PG_PORT PG_DB < <(.venv/bin/python - <<'PY'
import os
from urllib.parse import urlsplit
u = urlsplit(os.environ["HOTLINE_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql"))
print(u.username or "postgres", u.hostname or "127.0.0.1", u.port or 5432, u.path.lstrip("/") or "hotline")
PY
)
for db in "$PG_DB" rasa; do
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" \
    | grep -q 1 || psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "CREATE DATABASE \"$db\""
done
read -r REDIS_HOST REDIS_PORT REDIS_DB < <(.venv/bin/python - <<'PY'
import os
from urllib.parse import urlsplit
u = urlsplit(os.environ["HOTLINE_CLUSTER_REDIS_URL"])
print(u.hostname or "127.0.0.1", u.port or 6379, u.path.lstrip("/") or 0)
PY
)

if [ -z "${HOTLINE_API_TOKEN:-}" ]; then
  [ -f var/api_token ] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))" > var/api_token
  HOTLINE_API_TOKEN=$(cat var/api_token)
  export HOTLINE_API_TOKEN
fi
RASA_TOKEN=${RASA_TOKEN:-$(.venv/bin/python -c "import secrets; print(secrets.token_hex(24))")}
# One migration before the replicas start (they would also wait for each other on an advisory lock).
.venv/bin/hotline db upgrade
.venv/bin/hotline kb import --if-empty config/kb/seed_kb.yaml
model=$(train_bot)

pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null; }
trap cleanup EXIT INT TERM

gateways=() smtps=()
for i in $(seq 1 "$N"); do gateways+=("127.0.0.1:$((8080 + i))"); smtps+=("127.0.0.1:$((2530 + i))"); done
.venv/bin/python deploy/haproxy_render.py "$LOG/haproxy.cfg" \
  "gateways=$(IFS=,; echo "${gateways[*]}")" "gateways_smtp=$(IFS=,; echo "${smtps[*]}")" \
  rasa_servers=127.0.0.1:5015,127.0.0.1:5016 action_servers=127.0.0.1:5065,127.0.0.1:5066
echo ">> HAProxy: http://127.0.0.1:8080/ smtp 127.0.0.1:2525 rasa 127.0.0.1:5005 actions 127.0.0.1:5055"
HOTLINE_LB_BIND=127.0.0.1 HOTLINE_LB_PORT=8080 HOTLINE_LB_SMTP_PORT=2525 HOTLINE_LB_RASA_PORT=5005 \
  HOTLINE_LB_ACTIONS_PORT=5055 /usr/sbin/haproxy -db -f "$LOG/haproxy.cfg" > "$LOG/haproxy.log" 2>&1 &
pids+=($!)

for i in 1 2; do
  echo ">> action server $i on 127.0.0.1:$((5064 + i))"
  (cd bot && SANIC_HOST=127.0.0.1 HOTLINE_GATEWAY_URL=http://127.0.0.1:8080 \
     exec ../.venv-rasa/bin/rasa run actions --actions actions -p $((5064 + i))) > "$LOG/actions-$i.log" 2>&1 &
  pids+=($!)
  echo ">> Rasa server $i on 127.0.0.1:$((5014 + i))"
  (cd bot/rasa && HOTLINE_ACTION_URL=http://127.0.0.1:5055/webhook \
     HOTLINE_RASA_DB_HOST="$PG_HOST" HOTLINE_RASA_DB_PORT="$PG_PORT" HOTLINE_RASA_DB_NAME=rasa \
     HOTLINE_RASA_DB_USER="$PG_USER" HOTLINE_RASA_DB_PASSWORD="${HOTLINE_RASA_DB_PASSWORD:-}" \
     HOTLINE_RASA_REDIS_HOST="$REDIS_HOST" HOTLINE_RASA_REDIS_PORT="$REDIS_PORT" HOTLINE_RASA_REDIS_DB="$REDIS_DB" \
     exec ../../.venv-rasa/bin/rasa run --enable-api -i 127.0.0.1 -p $((5014 + i)) --auth-token "$RASA_TOKEN" \
     -m "../../$model" --endpoints endpoints-cluster.yml --credentials credentials.yml) > "$LOG/rasa-$i.log" 2>&1 &
  pids+=($!)
done

for i in $(seq 1 "$N"); do
  echo ">> gateway $i on http://127.0.0.1:$((8080 + i))/ (log: $LOG/gateway-$i.log)"
  HOTLINE_SERVER_PORT=$((8080 + i)) HOTLINE_EMAIL_PORT=$((2530 + i)) HOTLINE_CLUSTER_INSTANCE="gw$i" \
    HOTLINE_SERVER_TRUSTED_PROXIES=127.0.0.1 HOTLINE_BOT_RASA_URL=http://127.0.0.1:5005 \
    HOTLINE_RASA_TOKEN="$RASA_TOKEN" .venv/bin/hotline serve > "$LOG/gateway-$i.log" 2>&1 &
  pids+=($!)
done
wait -n "${pids[@]}"
