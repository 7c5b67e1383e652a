#!/usr/bin/env bash
# Install everything and run the whole system on 127.0.0.1 with SQLite under var/:
# the gateway (web chat on http://127.0.0.1:8080/), the Rasa server (127.0.0.1:5005) and the
# action server (127.0.0.1:5055). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_venv .venv run
ensure_media_tools
ensure_rasa_venv
mkdir -p var/log
if [ -z "${HOTLINE_API_TOKEN:-}" ]; then
  # A local token for the internal API (tickets, triage, bot actions); kept in var/ across restarts.
  [ -f var/api_token ] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))" > var/api_token
  HOTLINE_API_TOKEN=$(cat var/api_token)
  export HOTLINE_API_TOKEN
  echo ">> internal API token: var/api_token"
fi
# Hex: the token goes on rasa's command line, where one starting with "-" would be taken for an option.
RASA_TOKEN=${RASA_TOKEN:-$(.venv/bin/python -c "import secrets; print(secrets.token_hex(24))")}
.venv/bin/hotline db upgrade
.venv/bin/hotline kb import --if-empty config/kb/seed_kb.yaml
model=$(train_bot)

pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; }
trap cleanup EXIT INT TERM

echo ">> action server on 127.0.0.1:5055 (log: var/log/actions.log)"
(cd bot && SANIC_HOST=127.0.0.1 HOTLINE_GATEWAY_URL=http://127.0.0.1:8080 \
   exec ../.venv-rasa/bin/rasa run actions --actions actions -p 5055) > var/log/actions.log 2>&1 &
pids+=($!)
echo ">> Rasa server on 127.0.0.1:5005 (log: var/log/rasa.log)"
(cd bot/rasa && HOTLINE_ACTION_URL=http://127.0.0.1:5055/webhook \
   exec ../../.venv-rasa/bin/rasa run --enable-api -i 127.0.0.1 -p 5005 --auth-token "$RASA_TOKEN" \
   -m "../../$model" --endpoints endpoints.yml --credentials credentials.yml) > var/log/rasa.log 2>&1 &
pids+=($!)
echo ">> gateway on http://127.0.0.1:8080/"
HOTLINE_BOT_RASA_URL=http://127.0.0.1:5005 HOTLINE_RASA_TOKEN="$RASA_TOKEN" .venv/bin/hotline serve &
pids+=($!)
wait -n "${pids[@]}"
