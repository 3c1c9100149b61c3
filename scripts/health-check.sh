#!/usr/bin/env bash
# Checks a running SMS CRM from outside (issue 20): web (/health), the database, Redis, each
# queue's worker heartbeat, beat, the Celery queue depths, the oldest due send job, and the
# short-link host (a link that cannot exist must answer 404 quickly). One line per component:
#   OK|FAIL  <component>  <latency>ms  <detail>
# Exit 0 when all pass, 1 when any fails, 2 on bad usage. `--help` for the rest.
#
# Usage: scripts/health-check.sh [--timeout SECONDS] [BASE_URL]   (default http://127.0.0.1:8000)
# Needs bash and python3 (standard library only: no virtualenv, no Django). PYTHON: the interpreter.
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || {
    echo "health-check.sh: $PY not found (python3 is needed)" >&2
    exit 2
}
exec "$PY" "$HERE/health_check.py" "$@"
