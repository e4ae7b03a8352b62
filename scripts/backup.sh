#!/usr/bin/env bash
# `make backup`: pg_dump of the SecureVault database (schemas auth and audit) in custom format to
# backups/securevault-<UTC timestamp>.dump, verified readable before it is kept.
#   DATABASE_URL (or DATABASE_URL_FILE)  the database; its password never reaches a command line
#   BACKUP_DIR                            where dumps go (default: backups/ in the repository)
set -euo pipefail
# shellcheck source=lib/pg-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pg-env.sh"

load_database_url
BACKUP_DIR="${BACKUP_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/backups}"
mkdir -p "$BACKUP_DIR"
# Dumps hold user data: readable by the owner only.
umask 077

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
file="$BACKUP_DIR/securevault-$stamp.dump"
[[ ! -e "$file" ]] || die "$file already exists"
partial="$file.partial"
trap 'rm -f "$partial"' EXIT

echo "backing up $DATABASE_LABEL to $file"
# Custom format: compressed, and pg_restore can pick objects and run in parallel.
pg_dump --format=custom --compress=6 --no-password --file="$partial"
# A dump pg_restore cannot list is no backup: check before renaming it into place.
pg_restore --list "$partial" >/dev/null || die "the dump cannot be read back; nothing kept"
mv "$partial" "$file"
trap - EXIT
sha256sum "$file" | sed "s|$BACKUP_DIR/||" >"$file.sha256"
echo "backup written: $file ($(du -h "$file" | cut -f1))"
