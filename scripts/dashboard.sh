#!/usr/bin/env bash
# Set up (first time only) and start the dashboard on http://localhost:8501
# with the bundled sample loaded. Extra arguments go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m streamlit run serve.py "$@"
