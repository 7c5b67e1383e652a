#!/usr/bin/env bash
# Install what the tests need and run the whole suite. Extra arguments go to pytest.
# PostgreSQL tests run when HOTLINE_TEST_PG_URL is set (.ci/run sets it when the server answers).
# The bot's tests run the real Rasa server and action server from .venv-rasa with a trained model.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_venv .venv test
ensure_debian_tools
ensure_rasa_venv
HOTLINE_TEST_RASA_MODEL=$(train_bot)
export HOTLINE_TEST_RASA_MODEL
exec .venv/bin/python -m pytest -q "$@"
