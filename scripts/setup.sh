#!/usr/bin/env bash
# Set up what vsep needs on a Debian machine: system packages (through apt, only
# when missing) and a virtual environment in .venv with the pinned packages.
#   bash scripts/setup.sh          # for the dashboard and CLI
#   bash scripts/setup.sh --test   # also what the test suite needs (Chromium, espeak-ng, sox)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)           # decodes m4a/aac; museval needs it on PATH
"$PYTHON" -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
if [ "$want_test" = 1 ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)    # speech for the fake microphone
  command -v sox >/dev/null || missing+=(sox)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

reqs=requirements.txt
[ "$want_test" = 1 ] && reqs=requirements-dev.txt
stamp=.venv/.installed-$(cat requirements.txt "$reqs" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$reqs"
  touch "$stamp"
fi
# Build numba's compiled loops once (~8 s), so the first run of the CLI or the dashboard does not.
.venv/bin/python -c "from vsep_core.experiment import warm_up; warm_up()"
