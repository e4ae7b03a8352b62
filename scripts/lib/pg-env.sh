# Sourced by backup.sh and restore.sh: turns DATABASE_URL (or DATABASE_URL_FILE) into libpq's
# PG* variables, so the password never appears on a command line (visible in `ps`).
# shellcheck shell=bash

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# Percent-decoding of URL parts (user names and passwords may contain @ : / as %40 %3A %2F).
urldecode() {
  local s="${1//+/ }"
  printf '%b' "${s//%/\\x}"
}

load_database_url() {
  if [[ -z "${DATABASE_URL:-}" && -n "${DATABASE_URL_FILE:-}" ]]; then
    [[ -r "$DATABASE_URL_FILE" ]] || die "DATABASE_URL_FILE is not readable"
    DATABASE_URL="$(<"$DATABASE_URL_FILE")"
    DATABASE_URL="${DATABASE_URL%$'\n'}"
  fi
  [[ -n "${DATABASE_URL:-}" ]] || die "set DATABASE_URL (or DATABASE_URL_FILE) to the database's postgres:// URL"
  local re='^postgres(ql)?://(([^:@/]*)(:([^@/]*))?@)?([^:/?]*)(:([0-9]+))?/([^?]+)(\?(.*))?$'
  [[ "$DATABASE_URL" =~ $re ]] || die "DATABASE_URL is not a postgres://user:password@host:port/database URL"
  local user="${BASH_REMATCH[3]}" password="${BASH_REMATCH[5]}" host="${BASH_REMATCH[6]}"
  local port="${BASH_REMATCH[8]}" database="${BASH_REMATCH[9]}" query="${BASH_REMATCH[11]}"
  export PGHOST="${host:-127.0.0.1}" PGPORT="${port:-5432}" PGDATABASE
  PGDATABASE="$(urldecode "$database")"
  if [[ -n "$user" ]]; then export PGUSER; PGUSER="$(urldecode "$user")"; fi
  if [[ -n "$password" ]]; then export PGPASSWORD; PGPASSWORD="$(urldecode "$password")"; fi
  local pair
  IFS='&' read -r -a pairs <<<"$query"
  for pair in "${pairs[@]}"; do
    case "$pair" in
      sslmode=*) export PGSSLMODE="${pair#sslmode=}" ;;
      sslrootcert=*) export PGSSLROOTCERT="$(urldecode "${pair#sslrootcert=}")" ;;
    esac
  done
  # What logs may show: never the user's password.
  DATABASE_LABEL="${PGHOST}:${PGPORT}/${PGDATABASE}"
  unset DATABASE_URL
}
