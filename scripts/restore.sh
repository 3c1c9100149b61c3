#!/usr/bin/env bash
# Restores a backup made by scripts/backup.sh into a PostgreSQL database (issue 20).
#
#   1. checks FILE against FILE.sha256 (refuses on a mismatch or a missing checksum), and its
#      media tarball too when it is beside it;
#   2. refuses the database DATABASE_URL names while the app's workers or beat are beating (a
#      heartbeat younger than HEALTH_HEARTBEAT_MAX_AGE_SECONDS, 120 s, in smscrm_heartbeat:
#      what `manage.py health` checks), and any target with a table in its public schema;
#      --force overrides both;
#   3. prints every table's row count ("before: TABLE N"), restores with
#      pg_restore --no-owner --clean --if-exists in one transaction, prints the counts again
#      ("after: TABLE N"), and runs `manage.py migrate --check` against the target;
#   4. records the drill, one JSON line in var/restore_drills.log (RESTORE_DRILL_LOG): time,
#      file, target (without its password) and result ("ok", or why it failed or refused).
# The uploaded files are not restored by this script: `tar -xzf smscrm_<stamp>.media.tar.gz
# -C "$MEDIA_ROOT"`.
#
# Usage: scripts/restore.sh FILE [--into DATABASE_URL] [--force]
#   The target is --into, else $DATABASE_URL. PYTHON: the interpreter (default .venv/bin/python).
# Exits non-zero with one line "restore.sh: <reason>" on any failure.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG="${RESTORE_DRILL_LOG:-$ROOT/var/restore_drills.log}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[[ -x "$PY" ]] || PY=python3
FILE=""
TARGET=""
FORCE=0
RESULT="failed"
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
LOGGING=0

record() {
    ((LOGGING)) || return 0
    mkdir -p "$(dirname "$LOG")"
    "$PY" -c 'import json, sys; print(json.dumps(dict(zip(["at", "file", "target", "result"], sys.argv[1:]))))' \
        "$STARTED" "$(realpath -m "$FILE")" "$(redact "$TARGET")" "$RESULT" >>"$LOG" || true
}
# The last non-blank line of a tool's output: the one that says why it failed.
last_line() { grep -v '^[[:space:]]*$' <<<"$1" | tail -n1 || true; }
die() {
    echo "restore.sh: $*" >&2
    RESULT="$*"
    exit 1
}
trap record EXIT

# postgres://user:secret@host/db -> postgresql://user@host/db: the log and messages never hold it.
redact() { sed -E 's#^[a-z]+://([^:/@]*):[^@]*@#postgresql://\1@#' <<<"$1"; }
normalise() {
    case "$1" in
    sqlite:*) die "$2 is SQLite: restore into PostgreSQL only" ;;
    postgres://* | postgresql://*) echo "postgresql://${1#*://}" ;;
    *) die "$2 must be a postgres:// URL" ;;
    esac
}

while (($#)); do
    case "$1" in
    --into) TARGET="${2:-}" && shift 2 ;;
    --force) FORCE=1 && shift ;;
    -*) die "unknown option: $1 (usage: restore.sh FILE [--into DATABASE_URL] [--force])" ;;
    *) [[ -z "$FILE" ]] || die "one FILE only" && FILE="$1" && shift ;;
    esac
done
[[ -n "$FILE" ]] || die "usage: restore.sh FILE [--into DATABASE_URL] [--force]"
[[ -n "$TARGET" ]] || TARGET="${DATABASE_URL:-}"
[[ -n "$TARGET" ]] || die "no target: pass --into DATABASE_URL or set DATABASE_URL"
TARGET="$(normalise "$TARGET" "the target")"
LOGGING=1
[[ -f "$FILE" ]] || die "$FILE not found"
command -v pg_restore >/dev/null || die "pg_restore not found on PATH (apt-get install postgresql-client)"
command -v psql >/dev/null || die "psql not found on PATH (apt-get install postgresql-client)"

# 1. The checksum.
SUM="$FILE.sha256"
[[ -f "$SUM" ]] || die "no checksum $SUM: refusing an unverified backup"
# The line for NAME in the .sha256 (sha256sum's "HASH  NAME", or "HASH *NAME" in binary mode).
listed() { awk -v name="$1" '$2 == name || $2 == "*" name {print $1; exit}' "$SUM"; }
expected="$(listed "$(basename "$FILE")")"
actual="$(sha256sum "$FILE" | awk '{print $1}')"
[[ -n "$expected" && "$expected" == "$actual" ]] || die "checksum mismatch for $FILE: refusing it"
MEDIA="${FILE%.dump}.media.tar.gz"
if [[ -f "$MEDIA" && -n "$(listed "$(basename "$MEDIA")")" ]]; then
    [[ "$(listed "$(basename "$MEDIA")")" == "$(sha256sum "$MEDIA" | awk '{print $1}')" ]] ||
        die "checksum mismatch for $MEDIA: refusing the backup"
fi

q() { psql "$TARGET" -X -At -v ON_ERROR_STOP=1 -c "$1"; }
tables="$(q "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'" 2>&1)" ||
    die "cannot reach the target database: $(last_line "$tables")"

# 2. The live database, and a non-empty target.
same_db() {
    [[ -n "${DATABASE_URL:-}" ]] || return 1
    local live
    live="$(normalise "$DATABASE_URL" DATABASE_URL)"
    # The same database name on the same server port: erring towards refusing.
    local where="SELECT current_database() || ':' || inet_server_port()"
    [[ "$(q "$where")" == "$(psql "$live" -X -At -c "$where" 2>/dev/null)" ]]
}
if ((!FORCE)) && same_db; then
    max_age="${HEALTH_HEARTBEAT_MAX_AGE_SECONDS:-120}"
    beating="$(q "SELECT string_agg(component, ', ' ORDER BY component) FROM smscrm_heartbeat
                  WHERE beat_at > now() - interval '$max_age seconds'" 2>/dev/null || true)"
    [[ -z "$beating" ]] || die "the target is the live database (DATABASE_URL) and $beating are beating: stop them first, or --force"
fi
if ((!FORCE)) && ((tables > 0)); then
    die "the target database is not empty ($tables tables in public): restore into an empty one, or --force"
fi

COUNTS="SELECT table_name || ' ' || (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM public.%I', table_name), false, true, '')))[1]::text
        FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"

# 3. Counts, restore, counts, migrate --check.
q "$COUNTS" | sed 's/^/before: /'
errors="$(pg_restore --no-owner --clean --if-exists --single-transaction --exit-on-error --dbname="$TARGET" "$FILE" 2>&1)" ||
    die "pg_restore failed: $(last_line "$errors")"
q "$COUNTS" | sed 's/^/after: /'
errors="$(cd "$ROOT" && DATABASE_URL="$TARGET" "$PY" manage.py migrate --check 2>&1)" ||
    die "migrate --check failed against the restored database: $(last_line "$errors")"
RESULT="ok"
echo "restored $FILE into $(redact "$TARGET")"
