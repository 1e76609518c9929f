#!/usr/bin/env bash
# Set up what vsep needs on a Debian machine: system packages (through apt, only
# when missing) and a virtual environment in .venv with the pinned packages.
#   bash scripts/setup.sh          # for the dashboard and CLI
#   bash scripts/setup.sh --test   # also what the test suite needs (Chromium, espeak-ng, sox, PostgreSQL)
# PYTHON=/path/to/python3.11 picks the interpreter (default: python3, installed through apt when absent).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
PIP_VERSION=26.3   # pinned like everything else: the same installer on every machine
want_test=0
[ "${1:-}" = "--test" ] && want_test=1
started=$SECONDS
step() { echo "setup [$1/4, $((SECONDS - started)) s] $2"; }
# Run "$@" and say every 10 s that it is still going, so a long quiet step never looks stuck.
with_ticks() {
  local label=$1; shift
  "$@" &
  local pid=$! waited=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1; waited=$((waited + 1))
    if [ $((waited % 10)) -eq 0 ] && kill -0 "$pid" 2>/dev/null; then
      echo "        … still $label ($((SECONDS - started)) s)"
    fi
  done
  wait "$pid"
}

apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install Debian packages: $*" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "        apt-get update (reading the package lists)"
  with_ticks "reading the package lists" $sudo apt-get update -qq
  echo "        apt-get install: $*"
  with_ticks "installing $*" $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v "$PYTHON" >/dev/null; then
  [ "$PYTHON" = python3 ] || { echo "setup: $PYTHON is not found" >&2; exit 1; }
  apt_install python3
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: vsep needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)." \
       "Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

step 1 "Checking the Debian packages vsep needs (ffmpeg$([ "$want_test" = 1 ] && echo ', Chromium, espeak-ng, sox'))"
missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)           # decodes m4a/aac; museval (tests) needs it on PATH
# Debian splits venv's pip bootstrap (ensurepip) into python3-venv.
[ -x .venv/bin/python ] || "$PYTHON" -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
if [ "$want_test" = 1 ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)          # Playwright drives it (no browser download)
  # The brief's browser-test packages: Chromium with its driver, so WebDriver-based tools work too.
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)    # speech for the fake microphone
  command -v sox >/dev/null || missing+=(sox)
  # The results store's tests start a real PostgreSQL server (initdb/pg_ctl under /usr/lib/postgresql).
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "        installing with apt (a first run downloads them: a minute or more): ${missing[*]}"
  apt_install "${missing[@]}"
else
  echo "        all present"
fi

reqs=requirements.txt
[ "$want_test" = 1 ] && reqs=requirements-dev.txt
stamp=.venv/.installed-$( { cat requirements.txt "$reqs"; echo "pip==$PIP_VERSION"; } | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  n_packages=$(grep -cE '^[A-Za-z]' requirements.txt "$reqs" | awk -F: '{s += $2} END {print s}')
  step 2 "Installing the pinned Python packages from $reqs into .venv (about $n_packages, with what they need; 1–2 minutes the first time)"
  if [ ! -x .venv/bin/python ]; then
    echo "        creating the virtual environment in .venv"
    with_ticks "creating .venv" "$PYTHON" -m venv .venv
  fi
  echo "        installing pip $PIP_VERSION (the pinned installer)"
  with_ticks "installing pip" .venv/bin/python -m pip install -q "pip==$PIP_VERSION"
  # One line per package as pip reaches it, so a first run shows it is moving.
  if ! .venv/bin/python -m pip install -r "$reqs" 2>&1 \
      | awk '/^Collecting /{n++; printf "        %3d  %s\n", n, $2; fflush()}
             /^Installing collected packages/{print "        unpacking and installing them into .venv (the longest part: up to a minute)"; fflush()}
             /^Successfully installed/{print "        installed"; fflush()}
             /^(ERROR|error)/{print; fflush()}'; then
    echo "setup: pip could not install $reqs (its errors are above)" >&2
    exit 1
  fi
  touch "$stamp"
else
  step 2 "Python packages already installed in .venv"
fi
step 3 "Compiling the greedy search's loops once (numba; a few seconds)"
# Build numba's compiled loops now, so the first run of the CLI or the dashboard does not.
.venv/bin/python -c "from vsep_core.experiment import warm_up; warm_up()"
step 4 "Ready"
