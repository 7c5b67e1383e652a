#!/usr/bin/env bash
# Install everything and run the whole system on 127.0.0.1 with SQLite under var/.
# The gateway (web chat on http://127.0.0.1:8080/) runs in the foreground; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_venv .venv run
mkdir -p var
if [ -z "${HOTLINE_API_TOKEN:-}" ]; then
  # A local token for the internal API (tickets, triage); kept in var/ so it survives restarts.
  [ -f var/api_token ] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))" > var/api_token
  HOTLINE_API_TOKEN=$(cat var/api_token)
  export HOTLINE_API_TOKEN
  echo ">> internal API token: var/api_token"
fi
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
.venv/bin/hotline db upgrade
.venv/bin/hotline kb import --if-empty config/kb/seed_kb.yaml
echo ">> gateway on http://127.0.0.1:8080/"
.venv/bin/hotline serve &
pids+=($!)
wait "${pids[0]}"
