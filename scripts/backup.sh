#!/usr/bin/env bash
# Backs up the database and the uploaded files (issue 20), with PostgreSQL's own tools.
#
# Writes, into DIR (default: $BACKUP_DIR), with one stamp YYYYMMDD_HHMMSS (UTC):
#   smscrm_<stamp>.dump           pg_dump --format=custom of $DATABASE_URL (postgres:// only)
#   smscrm_<stamp>.dump.sha256    the checksums of the dump and the tarball, as `sha256sum`
#                                 writes them (`sha256sum -c` in DIR; restore.sh checks them)
#   smscrm_<stamp>.media.tar.gz   MEDIA_ROOT (env, else settings.MEDIA_ROOT), the uploaded files
# Each file is written under a hidden temporary name in DIR, fsynced, then renamed: a file named
# like a backup is always a whole one.
#
# Retention, over the files named smscrm_<stamp>.dump in DIR (nothing else is ever touched):
#   daily:  the newest backup of each day, for the newest --keep-daily days that have one (7);
#   weekly: the newest backup of each ISO week no daily backup falls in, for the newest
#           --keep-weekly such weeks (4);
# every other backup is deleted with its .sha256 and media tarball. The one just made is kept.
#
# Usage: scripts/backup.sh [--dir DIR] [--keep-daily N] [--keep-weekly N] [--now YYYYMMDD_HHMMSS]
#   env: DATABASE_URL, BACKUP_DIR, BACKUP_KEEP_DAILY, BACKUP_KEEP_WEEKLY, BACKUP_NOW (fakes the
#   clock, for tests), MEDIA_ROOT, PYTHON (default .venv/bin/python).
# Exits non-zero with one line "backup.sh: <reason>" on any failure.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The last non-blank line of a tool's output: the one that says why it failed.
last_line() { grep -v '^[[:space:]]*$' <<<"$1" | tail -n1 || true; }
die() {
    echo "backup.sh: $*" >&2
    exit 1
}

DIR="${BACKUP_DIR:-}"
KEEP_DAILY="${BACKUP_KEEP_DAILY:-7}"
KEEP_WEEKLY="${BACKUP_KEEP_WEEKLY:-4}"
NOW="${BACKUP_NOW:-}"
while (($#)); do
    case "$1" in
    --dir) DIR="${2:-}" && shift 2 ;;
    --keep-daily) KEEP_DAILY="${2:-}" && shift 2 ;;
    --keep-weekly) KEEP_WEEKLY="${2:-}" && shift 2 ;;
    --now) NOW="${2:-}" && shift 2 ;;
    *) die "unknown argument: $1 (usage: backup.sh [--dir DIR] [--keep-daily N] [--keep-weekly N] [--now STAMP])" ;;
    esac
done
[[ -n "$DIR" ]] || die "no backup directory: pass --dir DIR or set BACKUP_DIR"
[[ "$KEEP_DAILY" =~ ^[0-9]+$ ]] || die "--keep-daily must be a whole number, not '$KEEP_DAILY'"
[[ "$KEEP_WEEKLY" =~ ^[0-9]+$ ]] || die "--keep-weekly must be a whole number, not '$KEEP_WEEKLY'"
if [[ -z "$NOW" ]]; then
    NOW="$(date -u +%Y%m%d_%H%M%S)"
fi
[[ "$NOW" =~ ^[0-9]{8}_[0-9]{6}$ ]] && date -u -d "${NOW%_*}" >/dev/null 2>&1 ||
    die "--now must be YYYYMMDD_HHMMSS, not '$NOW'"

# The database URL: postgres:// (or postgresql://) only; libpq takes it as it is.
URL="${DATABASE_URL:-}"
case "$URL" in
"") die "DATABASE_URL is not set" ;;
sqlite:*) die "DATABASE_URL is SQLite: back up with PostgreSQL only (in development, copy var/db.sqlite3)" ;;
postgres://* | postgresql://*) URL="postgresql://${URL#*://}" ;;
*) die "DATABASE_URL must be a postgres:// URL, not '${URL%%://*}://…'" ;;
esac

command -v pg_dump >/dev/null || die "pg_dump not found on PATH (apt-get install postgresql-client)"
command -v psql >/dev/null || die "psql not found on PATH (apt-get install postgresql-client)"
mkdir -p "$DIR" 2>/dev/null || die "cannot create $DIR"
[[ -w "$DIR" ]] || die "$DIR is not writable"

# pg_dump refuses (or worse, half-works) against a newer server: say so first.
server_num="$(psql "$URL" -X -At -c 'SHOW server_version_num' 2>&1 | tail -n1)" || die "cannot reach the database: $server_num"
[[ "$server_num" =~ ^[0-9]+$ ]] || die "cannot read the server's version: $server_num"
server_major=$((server_num / 10000))
dump_major="$(pg_dump --version | sed -nE 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/p' | head -n1)"
[[ "$dump_major" =~ ^[0-9]+$ ]] || die "cannot read pg_dump's version"
((dump_major >= server_major)) || die "pg_dump $dump_major is older than the server ($server_major): install postgresql-client-$server_major"

BASE="smscrm_${NOW}"
DUMP="$DIR/$BASE.dump"
MEDIA="$DIR/$BASE.media.tar.gz"
[[ ! -e "$DUMP" ]] || die "$DUMP exists already"
TMP_DUMP="$DIR/.$BASE.dump.partial.$$"
TMP_MEDIA="$DIR/.$BASE.media.partial.$$"
TMP_SUM="$DIR/.$BASE.sha256.partial.$$"
cleanup() { rm -f "$TMP_DUMP" "$TMP_MEDIA" "$TMP_SUM"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Writes to a temporary name, fsyncs it, then renames it: the rename is what publishes it.
publish() {
    sync "$1" || die "cannot fsync $1"
    mv -f "$1" "$2" || die "cannot rename $1 to $2"
}

errors="$(pg_dump --format=custom --file="$TMP_DUMP" --dbname="$URL" 2>&1)" ||
    die "pg_dump failed: $(last_line "$errors")"
[[ -s "$TMP_DUMP" ]] || die "pg_dump wrote nothing"

MEDIA_DIR="${MEDIA_ROOT:-}"
if [[ -z "$MEDIA_DIR" ]]; then
    PY="${PYTHON:-$ROOT/.venv/bin/python}"
    [[ -x "$PY" ]] || PY=python3
    MEDIA_DIR="$(cd "$ROOT" && "$PY" manage.py shell -c 'from django.conf import settings; print(settings.MEDIA_ROOT)' 2>/dev/null | tail -n1)" ||
        die "cannot read MEDIA_ROOT from settings (set MEDIA_ROOT)"
fi
if [[ -d "$MEDIA_DIR" ]]; then
    errors="$(tar -czf "$TMP_MEDIA" -C "$MEDIA_DIR" . 2>&1)" || die "tar of $MEDIA_DIR failed: $(last_line "$errors")"
else
    errors="$(tar -czf "$TMP_MEDIA" -T /dev/null 2>&1)" || die "tar failed: $(last_line "$errors")"
fi

{
    sha256sum "$TMP_DUMP" | sed "s#  .*\$#  $BASE.dump#"
    sha256sum "$TMP_MEDIA" | sed "s#  .*\$#  $BASE.media.tar.gz#"
} >"$TMP_SUM" || die "cannot write $DUMP.sha256"
publish "$TMP_MEDIA" "$MEDIA"
publish "$TMP_SUM" "$DUMP.sha256"
publish "$TMP_DUMP" "$DUMP" # last: a .dump is there only once everything beside it is
sync "$DIR" 2>/dev/null || true
echo "backup: $DUMP"
# A run killed outright (no trap runs) leaves its hidden partial files: gone after a day.
find "$DIR" -maxdepth 1 -type f -name '.smscrm_*.partial.*' -mmin +1440 -delete 2>/dev/null || true

# Retention (see the header).
mapfile -t stamps < <(find "$DIR" -maxdepth 1 -type f -name 'smscrm_*.dump' -printf '%f\n' |
    sed -nE 's/^smscrm_([0-9]{8}_[0-9]{6})\.dump$/\1/p' | sort -r)
declare -A keep=(["$NOW"]=1) days=() weeks=()
daily=0
for stamp in "${stamps[@]}"; do
    day="${stamp%_*}"
    [[ -n "${days[$day]:-}" ]] && continue
    ((daily < KEEP_DAILY)) || break
    days[$day]=1
    keep[$stamp]=1
    weeks[$(date -u -d "$day" +%G-W%V)]=1
    daily=$((daily + 1))
done
weekly=0
for stamp in "${stamps[@]}"; do
    ((weekly < KEEP_WEEKLY)) || break
    [[ -n "${keep[$stamp]:-}" ]] && continue
    week="$(date -u -d "${stamp%_*}" +%G-W%V)"
    [[ -n "${weeks[$week]:-}" ]] && continue
    weeks[$week]=1
    keep[$stamp]=1
    weekly=$((weekly + 1))
done
for stamp in "${stamps[@]}"; do
    [[ -n "${keep[$stamp]:-}" ]] && continue
    rm -f "$DIR/smscrm_$stamp.dump" "$DIR/smscrm_$stamp.dump.sha256" "$DIR/smscrm_$stamp.media.tar.gz"
    echo "deleted: smscrm_$stamp"
done
