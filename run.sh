#!/usr/bin/env bash
# The course's two commands (see README.md):
#   ./run.sh lab [--no-browser]   set up, then open the course in JupyterLab on your workspace/
#   ./run.sh test [PYTEST ARGS]   set up, then run the whole test suite (what CI runs)
#   ./run.sh hub                  set up, then a cohort's JupyterHub on http://127.0.0.1:8000 (README: Cohorts on JupyterHub)
# Also: ./run.sh setup (set up only), ./run.sh lock (rewrite requirements.lock from .venv).
#
# Set-up is idempotent: a virtual environment in .venv, the exact versions in
# requirements.lock, a CPU build of torch, and the course itself (editable). A stamp
# records what was installed, so a second run skips straight to the command.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
TORCH_VERSION=2.13.0
# Where a CPU build of torch comes from when this machine has none on disk.
TORCH_CPU_INDEX=${BOOTCAMP_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}

find_python() {
  for py in "${BOOTCAMP_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "run.sh: Python 3.11 or newer is needed (set BOOTCAMP_PYTHON to its path)" >&2
  return 1
}

# pip -q still warns once per package about this machine's missing mirror folders; drop those lines.
quiet_pip() {
  "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

setup() {
  local stamp_file=$VENV/.bootcamp-installed
  local stamp
  stamp=$(cat requirements.lock pyproject.toml run.sh | sha256sum | cut -c1-16)
  if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && [ -x $VENV/bin/bootcamp ]; then
    return 0
  fi
  local py
  py=$(find_python)
  if [ ! -x $VENV/bin/python ]; then
    echo "run.sh: creating $VENV with $("$py" --version)"
    "$py" -m venv $VENV
  fi
  local pip="quiet_pip $VENV/bin/python -m pip --disable-pip-version-check"
  echo "run.sh: installing torch $TORCH_VERSION (CPU build)"
  if ! $VENV/bin/python -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
    # A CPU wheel already on this machine (pip's find-links) first; else PyTorch's CPU index.
    $pip install -q --no-deps --no-index "torch==$TORCH_VERSION" 2>/dev/null ||
      $pip install -q --no-deps "torch==$TORCH_VERSION" --index-url "$TORCH_CPU_INDEX"
  fi
  echo "run.sh: installing the locked dependencies (requirements.lock)"
  $pip install -q --no-deps -r requirements.lock
  $pip install -q --no-deps --no-build-isolation -e .
  $pip check >/dev/null || { $pip check; echo "run.sh: the environment is inconsistent" >&2; exit 1; }
  echo "$stamp" > "$stamp_file"
  echo "run.sh: environment ready in $VENV"
}

# JupyterHub's proxy is configurable-http-proxy, a node program from npm (as redis-server comes from apt).
ensure_proxy() {
  command -v configurable-http-proxy >/dev/null && return 0
  if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing nodejs and npm (Debian packages)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  if command -v npm >/dev/null; then
    echo "== installing configurable-http-proxy (npm)"
    npm install -g --silent configurable-http-proxy@4.6.3 >/dev/null 2>&1 ||
      npm install -g --silent --prefix "$PWD/$VENV" configurable-http-proxy@4.6.3 >/dev/null
  fi
  command -v configurable-http-proxy >/dev/null
}

# nbgrader runs `alembic` from PATH when it creates a gradebook: act as an activated venv.
export PATH="$PWD/$VENV/bin:$PATH"

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup)
    setup ;;
  lab)
    setup
    # The local grading service beside JupyterLab, so `bootcamp submit` works offline.
    mkdir -p .bootcamp
    $VENV/bin/python -m autograder serve > .bootcamp/serve.log 2>&1 &
    SERVE_PID=$!
    trap 'kill $SERVE_PID 2>/dev/null; wait $SERVE_PID 2>/dev/null' EXIT INT TERM
    echo "run.sh: grading service on http://127.0.0.1:8765 (log: .bootcamp/serve.log; dashboard: /dashboard)"
    $VENV/bin/bootcamp lab "$@" ;;
  test)
    setup
    export MPLBACKEND=Agg
    echo "== ruff"
    $VENV/bin/ruff check .
    # exercises/ current with solutions/ and leaking nothing: tests/test_lessons_run.py
    # (`bootcamp build --check` is the same check by hand).
    # The service's tests use a real PostgreSQL server, a real Redis server and a real browser
    # (Debian's packages); without root or apt they skip, saying why.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      if ! command -v chromium >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
          || ! command -v redis-server >/dev/null; then
        echo "== installing chromium, postgresql and redis-server (Debian packages)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium postgresql redis-server >/dev/null
      fi
    fi
    ensure_proxy || echo "configurable-http-proxy could not be installed: the hub's tests will skip, saying why"
    echo "== pytest"
    exec $VENV/bin/python -m pytest "$@" ;;
  hub)
    setup
    ensure_proxy || { echo "run.sh: configurable-http-proxy is needed: npm install -g configurable-http-proxy" >&2; exit 1; }
    export BOOTCAMP_HUB_DIR=${BOOTCAMP_HUB_DIR:-$PWD/.bootcamp/hub}
    mkdir -p "$BOOTCAMP_HUB_DIR"
    $VENV/bin/python -m autograder.hub.config  # where it listens, where the passwords are
    exec $VENV/bin/jupyterhub -f autograder/hub/jupyterhub_config.py "$@" ;;
  lock)
    # Rewrite the lock from the current .venv (after installing a new dependency there).
    {
      echo "# Exact versions installed by ./run.sh and CI (pip freeze of .venv, Python 3.11)."
      echo "# torch is installed separately by run.sh as a CPU build ($TORCH_VERSION)."
      $VENV/bin/python -m pip freeze --exclude-editable --all | grep -viE '^(torch|pip)==' | sort -f
    } > requirements.lock
    echo "wrote requirements.lock" ;;
  *)
    echo "usage: ./run.sh lab [--no-browser] | test [pytest args] | hub | setup | lock" >&2
    exit 2 ;;
esac
