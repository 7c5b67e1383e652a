#!/usr/bin/env bash
# Install what the tests need and run the whole suite. Extra arguments go to pytest.
# PostgreSQL tests run when HOTLINE_TEST_PG_URL is set (.ci/run sets it when the server answers).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_venv .venv test
ensure_chromium
exec .venv/bin/python -m pytest -q "$@"
