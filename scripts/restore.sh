#!/usr/bin/env bash
# `make restore FILE=backups/securevault-<stamp>.dump CONFIRM=yes`: pg_restore of a backup.sh dump
# into DATABASE_URL, replacing the objects it contains, in one transaction (all or nothing).
#   DATABASE_URL (or DATABASE_URL_FILE)  the target database (it must exist; create it first)
#   CONFIRM=yes                           required: a restore overwrites what is there
set -euo pipefail
# shellcheck source=lib/pg-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pg-env.sh"

file="${1:-}"
[[ -n "$file" ]] || die "usage: restore.sh <backup file> (make restore FILE=backups/...dump CONFIRM=yes)"
[[ -r "$file" ]] || die "no readable backup at $file"
if [[ -r "$file.sha256" ]]; then
  (cd "$(dirname "$file")" && sha256sum --check --quiet "$(basename "$file").sha256") ||
    die "$file does not match its checksum $file.sha256"
fi
load_database_url
[[ "${CONFIRM:-}" == "yes" ]] ||
  die "restoring $file replaces the data in $DATABASE_LABEL; run again with CONFIRM=yes"

echo "restoring $file into $DATABASE_LABEL"
pg_restore --clean --if-exists --single-transaction --exit-on-error --no-password \
  --dbname="$PGDATABASE" "$file"
echo "restore finished: $DATABASE_LABEL"
