#!/usr/bin/env bash
# Runs the Docker image's commands without a Docker engine, to show the image would work.
#
# In a fresh virtualenv built from requirements.txt alone (not requirements-dev.txt: this shows
# the runtime requirements suffice) and a copy of the build context (.dockerignore applied), it
# runs what the Dockerfile and compose.yaml run:
#   build:        collectstatic in production mode with the Dockerfile's build-only values
#   release:      check --deploy --fail-level WARNING, then compose's migrate command (SQLite)
#   web:          the Dockerfile's CMD (gunicorn, gunicorn.conf.py) polled at /health/live, and
#                 the Dockerfile's HEALTHCHECK command
#   worker, beat: compose's commands and healthchecks, against a throwaway redis-server when
#                 one is installed (skipped otherwise)
# Every server listens on 127.0.0.1 only and is stopped on exit. Prints PASS, FAIL and SKIP
# lines; exits non-zero when any check fails. hadolint and `docker compose config` lint the
# Dockerfile and compose.yaml when installed (skipped silently otherwise).
#
# Usage: scripts/check_image_commands.sh
#   PYTHON=python3.11   the interpreter for the venv (default: python3.11, the image's Python)
#   KEEP_WORK=1         keep the temporary directory (venv, app copy, logs) for inspection
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/smscrm-image-check.XXXXXX")
APP=$WORK/app
VENV=$WORK/venv
LOGS=$WORK/logs
mkdir -p "$LOGS"

PASSED=0
FAILED=0
SKIPPED=0
STEP_NO=0
declare -A PID=()
MIGRATE_CMD=() WEB_CMD=() HEALTHCHECK_CMD=() cmd=() check=() # filled by extract

pass() { PASSED=$((PASSED + 1)); printf 'PASS  %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL  %s\n' "$*"; }
skip() { SKIPPED=$((SKIPPED + 1)); printf 'SKIP  %s\n' "$*"; }
show_log() { sed 's/^/      | /' "$1" | tail -n "${2:-25}"; }

summary() { printf 'image-check: %d passed, %d failed, %d skipped\n' "$PASSED" "$FAILED" "$SKIPPED"; }
die() {
    fail "$*"
    echo "      (stopping: later checks depend on this one)"
    summary
    exit 1
}

stop_process() { # stop_process NAME SECONDS: SIGTERM, then SIGKILL after SECONDS
    # returns 0 if it stopped in time, 1 if it had to be killed, 2 if it had already exited
    local name=$1 seconds=$2 pid=${PID[$1]:-}
    [[ -n $pid ]] || return 0
    unset "PID[$name]"
    if ! kill -TERM "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        return 2
    fi
    local deadline=$((SECONDS + seconds))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            return 1
        fi
        sleep 0.2
    done
    wait "$pid" 2>/dev/null || true
    return 0
}

cleanup() {
    local name
    for name in "${!PID[@]}"; do stop_process "$name" 20 || true; done
    if [[ ${KEEP_WORK:-0} == 1 ]]; then
        echo "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { # step DESCRIPTION CMD...: run CMD with its output in a log; PASS, or FAIL with the log's tail
    local desc=$1
    shift
    STEP_NO=$((STEP_NO + 1))
    local log
    log="$LOGS/step-$STEP_NO.log"
    if "$@" >"$log" 2>&1; then
        pass "$desc"
    else
        local rc=$?
        fail "$desc (exit $rc)"
        show_log "$log"
        return 1
    fi
}

wait_for() { # wait_for SECONDS NAME|- CMD...: retry CMD every half second until it succeeds;
    # gives up early when the background process NAME (see start_bg) has exited
    local deadline=$((SECONDS + $1)) name=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        if [[ $name != - ]] && ! kill -0 "${PID[$name]}" 2>/dev/null; then
            echo "      $name exited (log: $LOGS/$name.log)"
            return 1
        fi
        sleep 0.5
    done
}

start_bg() { # start_bg NAME CMD...: CMD in the background, its output in $LOGS/NAME.log
    local name=$1
    shift
    "$@" >"$LOGS/$name.log" 2>&1 &
    PID[$name]=$!
}

# Reads a command out of the Dockerfile or compose.yaml, so what runs here is what runs there.
cat >"$WORK/extract.py" <<'PY'
"""extract.py dockerfile-cmd|dockerfile-healthcheck FILE, or compose-command|compose-healthcheck
FILE SERVICE: prints the exec-form (JSON array) command, its arguments separated by NUL."""
import json
import re
import sys

kind, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
if kind == "dockerfile-cmd":
    args = json.loads(re.findall(r"^CMD\s+(\[.*\])\s*$", text, re.M)[-1])
elif kind == "dockerfile-healthcheck":
    joined = re.sub(r"\\\n\s*", " ", text)
    args = json.loads(re.findall(r"^HEALTHCHECK\s.*?\bCMD\s+(\[.*\])\s*$", joined, re.M)[-1])
else:
    service = sys.argv[3]
    services = re.search(r"^services:\n((?:(?:[ #].*)?\n)*)", text, re.M).group(1)
    block = re.search(rf"^  {re.escape(service)}:\n((?:(?:    .*)?\n)*)", services, re.M).group(1)
    key = "command" if kind == "compose-command" else "test"
    args = json.loads(re.search(rf"^\s+{key}:\s*(\[.*\])\s*$", block, re.M).group(1))
    if kind == "compose-healthcheck":
        if args[0] != "CMD":
            sys.exit(f"{service}: healthcheck test must be exec form ['CMD', ...]")
        args = args[1:]
sys.stdout.write("".join(arg + "\0" for arg in args))
PY

extract() { # extract ARRAY_NAME KIND FILE [SERVICE]: read a command into a bash array
    local -n _into=$1
    shift
    local out
    out=$("$PYTHON" "$WORK/extract.py" "$@" | tr '\0' '\n') || return 1
    mapfile -t _into <<<"$out"
    ((${#_into[@]} > 0))
}

# Copies the build context as `COPY . /app` sees it: .dockerignore applied.
cat >"$WORK/copy_context.py" <<'PY'
"""copy_context.py SRC DST: copy SRC to DST leaving out what SRC/.dockerignore excludes.

Patterns follow Docker's rules (from the context root, * within a name, ** across folders, !
re-includes, the last matching line wins, a matched folder takes its contents with it), except
that a ! pattern cannot re-include a file inside an excluded folder."""
import os
import re
import shutil
import sys

src, dst = sys.argv[1], sys.argv[2]


def to_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


rules = []
ignore_file = os.path.join(src, ".dockerignore")
if os.path.exists(ignore_file):
    for line in open(ignore_file, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line[1:] if negate else line).lstrip("/")
        rules.append((negate, to_regex(pattern)))


def excluded(rel):
    parts = rel.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for negate, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


copied = 0
for root, dirs, files in os.walk(src):
    rel_root = os.path.relpath(root, src)
    rel_root = "" if rel_root == "." else rel_root + "/"
    dirs[:] = [d for d in dirs if not excluded(rel_root + d)]
    os.makedirs(os.path.join(dst, rel_root), exist_ok=True)
    for name in files:
        if not excluded(rel_root + name):
            shutil.copy2(os.path.join(root, name), os.path.join(dst, rel_root, name))
            copied += 1
print(f"{copied} files copied")
PY

echo "== image check: $ROOT (work dir $WORK)"

# ---- optional linters ---------------------------------------------------------------------
if command -v hadolint >/dev/null 2>&1; then
    step "hadolint Dockerfile" hadolint "$ROOT/Dockerfile" || true
fi
COMPOSE=()
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1 && [[ $(docker-compose version --short 2>/dev/null) == 2* ]]; then
    COMPOSE=(docker-compose)
fi
if ((${#COMPOSE[@]} > 0)); then
    mkdir -p "$WORK/compose"
    cp "$ROOT/compose.yaml" "$WORK/compose/compose.yaml"
    echo "SECRET_KEY=compose-config-check" >"$WORK/compose/.env"
    # Quiet on success: any output at all (some wrappers exit 0 on errors) is a failure.
    compose_config() { local out; out=$(cd "$WORK/compose" && "${COMPOSE[@]}" config -q 2>&1) && [[ -z $out ]] || { echo "$out"; return 1; }; }
    step "compose.yaml is valid (${COMPOSE[*]} config)" compose_config || true
fi

# ---- build: the builder stage and COPY . /app ----------------------------------------------
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    echo "      note: $("$PYTHON" -V 2>&1) here, the image has Python 3.11"
step "copy the build context (.dockerignore applied)" "$PYTHON" "$WORK/copy_context.py" "$ROOT" "$APP" ||
    die "cannot copy the build context"
for needed in manage.py gunicorn.conf.py requirements.txt smscrm/settings.py static templates; do
    [[ -e $APP/$needed ]] || die "build context lacks $needed (.dockerignore too broad?)"
done
for secret in .env .venv var .git; do
    [[ ! -e $APP/$secret ]] || fail "build context contains $secret (.dockerignore must exclude it)"
done

# shellcheck disable=SC2016 # $1..$3 are bash -c's own arguments
step "venv from requirements.txt only (python -m venv; pip install -r requirements.txt)" \
    bash -c '"$1" -m venv "$2" && "$2/bin/pip" install --no-cache-dir --disable-pip-version-check -r "$3/requirements.txt"' \
    _ "$PYTHON" "$VENV" "$APP" || die "cannot install requirements.txt"
step "pip check: runtime dependencies consistent" "$VENV/bin/pip" check || true
if "$VENV/bin/python" -c 'import pytest' >/dev/null 2>&1; then
    fail "pytest importable: the runtime venv picked up dev requirements"
fi

# The image's environment: nothing from this shell leaks in (PYTEST_VERSION would force test mode).
BASE_ENV=(env -i "PATH=$VENV/bin:/usr/local/bin:/usr/bin:/bin" "HOME=$APP" "LANG=C.UTF-8"
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_ENV=production)
# The Dockerfile's build-only values, on its collectstatic line alone.
BUILD_ENV=("${BASE_ENV[@]}" DJANGO_ENV=production SECRET_KEY=build-only
    "DATABASE_URL=sqlite:///$WORK/build.sqlite3" ALLOWED_HOSTS=localhost REDIS_URL=redis://localhost:6379/0)
cd "$APP"

step "collectstatic --noinput (production, build-only values)" \
    "${BUILD_ENV[@]}" python manage.py collectstatic --noinput || true
MANIFEST=$APP/var/staticfiles/staticfiles.json
HASHED_CSS=
if [[ -f $MANIFEST ]]; then
    HASHED_CSS=$("$VENV/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["paths"]["css/app.css"])' "$MANIFEST" 2>/dev/null || true)
fi
if [[ -n $HASHED_CSS && -f $APP/var/staticfiles/$HASHED_CSS && -f $APP/var/staticfiles/$HASHED_CSS.gz ]]; then
    pass "static files hashed and compressed (css/app.css -> $HASHED_CSS, .gz)"
else
    fail "collectstatic left no manifest entry, hashed file or .gz for css/app.css in var/staticfiles"
fi
rm -f "$WORK/build.sqlite3"
mkdir -p "$APP/var/staticfiles" "$APP/var/media"
# In the image everything outside var/ belongs to root and is read-only for the app user.
touch "$WORK/built.marker"
sleep 1

# ---- run time -------------------------------------------------------------------------------
SECRET=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(60))')
REDIS_URL=redis://127.0.0.1:6379/14
HAVE_REDIS=0
if command -v redis-server >/dev/null 2>&1; then
    REDIS_PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    start_bg redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK"
    if wait_for 10 redis "$VENV/bin/python" -c 'import redis, sys; redis.Redis.from_url(sys.argv[1]).ping()' "redis://127.0.0.1:$REDIS_PORT/0"; then
        HAVE_REDIS=1
    else
        skip "redis-server would not start on 127.0.0.1:$REDIS_PORT: worker and beat not run"
    fi
else
    skip "no redis-server installed: worker, beat and the full /health not run"
fi

RUN_ENV=("${BASE_ENV[@]}" "SECRET_KEY=$SECRET" "DATABASE_URL=sqlite:///$WORK/db.sqlite3"
    ALLOWED_HOSTS=example.com PUBLIC_BASE_URL=https://example.com "REDIS_URL=$REDIS_URL" HEARTBEAT_INTERVAL_SECONDS=2)

step "check --deploy --fail-level WARNING (production, REDIS_URL=$REDIS_URL)" \
    "${RUN_ENV[@]}" python manage.py check --deploy --fail-level WARNING || true

if ((HAVE_REDIS)); then
    REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
    RUN_ENV=("${BASE_ENV[@]}" "SECRET_KEY=$SECRET" "DATABASE_URL=sqlite:///$WORK/db.sqlite3"
        ALLOWED_HOSTS=example.com PUBLIC_BASE_URL=https://example.com "REDIS_URL=$REDIS_URL" HEARTBEAT_INTERVAL_SECONDS=2)
fi

extract MIGRATE_CMD compose-command "$ROOT/compose.yaml" migrate || die "no migrate command in compose.yaml"
step "migrate service: ${MIGRATE_CMD[*]} (SQLite)" "${RUN_ENV[@]}" "${MIGRATE_CMD[@]}" ||
    die "migrations failed"

step "celery -A smscrm report: the Celery app loads (output not shown: it lists settings)" \
    "${RUN_ENV[@]}" celery -A smscrm report || true
step "heartbeat task registered and CELERY_BEAT_SCHEDULER importable" \
    "${RUN_ENV[@]}" DJANGO_SETTINGS_MODULE=smscrm.settings python -c '
import django
django.setup()
from celery.utils.imports import symbol_by_name
from django.conf import settings
from smscrm.celery import app
app.loader.import_default_modules()
for entry in settings.CELERY_BEAT_SCHEDULE.values():
    assert entry["task"] in app.tasks, entry["task"] + " is not a registered task"
print(symbol_by_name(settings.CELERY_BEAT_SCHEDULER))
' || true

# web: the Dockerfile's CMD. gunicorn.conf.py binds 0.0.0.0:$PORT in the container; here --bind
# keeps it on 127.0.0.1, after checking what the config file alone would do.
extract WEB_CMD dockerfile-cmd "$ROOT/Dockerfile" || die "no exec-form CMD in the Dockerfile"
WEB_PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if "${RUN_ENV[@]}" PORT="$WEB_PORT" WEB_CONCURRENCY=2 "${WEB_CMD[@]}" --print-config >"$LOGS/gunicorn-config.log" 2>&1 &&
    grep -Eq "^bind += \['0\.0\.0\.0:$WEB_PORT'\]" "$LOGS/gunicorn-config.log" &&
    grep -Eq '^workers += 2$' "$LOGS/gunicorn-config.log"; then
    pass "gunicorn.conf.py: bind 0.0.0.0:\$PORT, WEB_CONCURRENCY workers"
else
    fail "gunicorn.conf.py does not resolve to bind 0.0.0.0:$WEB_PORT with 2 workers"
    show_log "$LOGS/gunicorn-config.log"
fi
start_bg gunicorn "${RUN_ENV[@]}" PORT="$WEB_PORT" "${WEB_CMD[0]}" --bind "127.0.0.1:$WEB_PORT" "${WEB_CMD[@]:1}"

http_status() { # http_status PATH [CURL ARGS...]: the status of GET http://127.0.0.1:$WEB_PORT/PATH
    local path=$1
    shift
    curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' --max-time 5 \
        -H 'Host: example.com' "$@" "http://127.0.0.1:$WEB_PORT$path" || true
}
is_200() { [[ $(http_status "$@") == 200 ]]; }

if wait_for 30 gunicorn is_200 /health/live; then
    pass "gunicorn (${WEB_CMD[*]}): GET /health/live 200 on 127.0.0.1:$WEB_PORT"
else
    fail "gunicorn: GET /health/live never answered 200 within 30s (last: $(http_status /health/live))"
    show_log "$LOGS/gunicorn.log"
    die "web does not start"
fi

extract HEALTHCHECK_CMD dockerfile-healthcheck "$ROOT/Dockerfile" || die "no exec-form HEALTHCHECK CMD in the Dockerfile"
step "Dockerfile HEALTHCHECK command exits 0 (PORT=$WEB_PORT, ALLOWED_HOSTS=example.com)" \
    "${RUN_ENV[@]}" PORT="$WEB_PORT" "${HEALTHCHECK_CMD[@]}" || true

status=$(http_status /)
location=$(tr -d '\r' <"$WORK/headers" | sed -n 's/^[Ll]ocation: *//p')
if [[ $status == 301 && $location == https://example.com/* ]]; then
    pass "plain HTTP redirects to HTTPS (301 -> $location)"
else
    fail "GET / over plain HTTP: expected 301 to https://example.com/, got $status ${location:-}"
fi

if [[ -n $HASHED_CSS ]]; then
    status=$(http_status "/static/$HASHED_CSS" -H 'X-Forwarded-Proto: https')
    if [[ $status == 200 ]] && grep -qi '^cache-control:.*immutable' "$WORK/headers"; then
        pass "WhiteNoise serves /static/$HASHED_CSS (200, immutable)"
    else
        fail "GET /static/$HASHED_CSS: expected 200 with an immutable Cache-Control, got $status"
    fi
fi

TOKEN=leak-check-$RANDOM$RANDOM$RANDOM
live_lines() { grep -cE 'GET /health/live[ ?]' "$LOGS/gunicorn.log" || true; }
before=$(live_lines)
http_status "/health/live?sesame=$TOKEN" -H "Referer: https://example.com/login?sesame=$TOKEN" >/dev/null
logged() { (($(live_lines) > before)); }
if ! wait_for 5 - logged; then
    fail "gunicorn access log has no 'GET /health/live' line (accesslog off?)"
elif grep -q "$TOKEN" "$LOGS/gunicorn.log"; then
    fail "gunicorn access log contains a query-string token"
    grep "$TOKEN" "$LOGS/gunicorn.log" | sed 's/^/      | /' | tail -n 3
else
    pass "access log records the path but neither the query string nor the Referer"
fi

# worker and beat: compose's commands and healthchecks.
if ((HAVE_REDIS)); then
    for service in worker worker-dispatch beat; do
        extract cmd compose-command "$ROOT/compose.yaml" "$service" || die "no $service command in compose.yaml"
        echo "      starting $service: ${cmd[*]}"
        start_bg "$service" "${RUN_ENV[@]}" "${cmd[@]}"
    done
    for service in worker worker-dispatch beat; do
        extract check compose-healthcheck "$ROOT/compose.yaml" "$service" || die "no $service healthcheck in compose.yaml"
        if wait_for 60 "$service" "${RUN_ENV[@]}" "${check[@]}"; then
            pass "$service: compose healthcheck '${check[*]}' passes"
        else
            fail "$service: compose healthcheck '${check[*]}' fails"
            "${RUN_ENV[@]}" "${check[@]}" 2>&1 | sed 's/^/      | /' | tail -n 5 || true
            echo "      $service log:"
            show_log "$LOGS/$service.log" 4
        fi
    done
    status=$(http_status /health)
    if [[ $status == 200 ]]; then
        pass "GET /health 200: $(cat "$WORK/body")"
    else
        fail "GET /health: expected 200, got $status: $(cat "$WORK/body")"
    fi
fi

# compose gives web 35s, the workers 60s and beat docker's default 10s before a SIGKILL.
check_stop() { # check_stop NAME SECONDS
    local rc=0
    stop_process "$1" "$2" || rc=$?
    case $rc in
    0) pass "$1 stops on SIGTERM" ;;
    1) fail "$1 ignored SIGTERM for $2s" ;;
    *) fail "$1 had already exited before SIGTERM" ;;
    esac
}
check_stop gunicorn 35
if ((HAVE_REDIS)); then
    check_stop worker 60
    check_stop worker-dispatch 60
    check_stop beat 10
fi

# The app user owns var/ and var/media/ only: everything else it finds in /app is root's.
written=$(find "$APP" -path "$APP/var/media" -prune -o -newer "$WORK/built.marker" -print |
    grep -Ev "^$APP/var(/[^/]+)?\$" || true)
if [[ -z $written ]]; then
    pass "nothing written to root-owned paths at run time (only var/ and var/media/ are the app user's)"
else
    fail "files written at run time where the image's app user cannot write:"
    # shellcheck disable=SC2001
    sed 's/^/      | /' <<<"$written" | head -n 10
fi

summary
((FAILED == 0))
