#!/usr/bin/env bash
# Set up (first time only) and run the whole test suite: engine, evaluation,
# dashboard (Streamlit AppTest) and the real-browser tests in headless Chromium.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
