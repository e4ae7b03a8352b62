#!/usr/bin/env bash
# Makes sure a Postgres answers on 127.0.0.1:$PGPORT for `make dev`, starting one from the machine's binaries if needed.
# Idempotent. Order: already answering -> the Debian cluster (pg_ctlcluster) on that port ->
# a repo-local cluster in .data/postgres (trust auth, superuser "postgres"). What it starts keeps
# running after `make dev` exits, so restarts are fast; the last line says how to stop it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PGPORT="${PGPORT:-5432}"
DATA="$ROOT/.data/postgres"
LOG="$ROOT/.data/postgres.log"
say() { echo "[ensure-postgres] $*"; }

answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p "$PGPORT" -t 2
  else
    # Without the client tools, an open port is the best signal we have.
    (exec 3<>"/dev/tcp/127.0.0.1/$PGPORT") 2>/dev/null
  fi
}

wait_ready() {
  for _ in $(seq 1 60); do
    answers && return 0
    sleep 0.5
  done
  return 1
}

if answers; then
  say "Postgres already answers on 127.0.0.1:$PGPORT; nothing to do."
  exit 0
fi

# 1. A Debian/Ubuntu cluster configured for this port: start it the distribution's way.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for conf in /etc/postgresql/*/main/postgresql.conf; do
    [ -f "$conf" ] || continue
    version="$(basename "$(dirname "$(dirname "$conf")")")"
    port="$(sed -nE "s/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p" "$conf" | tail -n1)"
    [ "${port:-5432}" = "$PGPORT" ] || continue
    # --skip-systemctl-redirect: work in containers and shells where systemd is not PID 1.
    if pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 && wait_ready; then
      say "started the Debian cluster $version/main on 127.0.0.1:$PGPORT (it keeps running; stop: pg_ctlcluster $version main stop)."
      exit 0
    fi
    say "could not start the Debian cluster $version/main; falling back to a cluster in .data/postgres." >&2
  done
fi

# 2. A repo-local cluster. Find initdb/pg_ctl: newest /usr/lib/postgresql/*/bin, pg_config, or PATH.
BIN=""
for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then BIN="$dir"; break; fi
done
if [ -z "$BIN" ] && command -v pg_config >/dev/null 2>&1; then
  dir="$(pg_config --bindir)"
  if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then BIN="$dir"; fi
fi
if [ -z "$BIN" ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
  BIN="$(dirname "$(command -v pg_ctl)")"
fi
if [ -z "$BIN" ]; then
  say "no Postgres answers on 127.0.0.1:$PGPORT and no Postgres server binaries (initdb, pg_ctl) were found." >&2
  say "install them, e.g. 'sudo apt-get install postgresql' (Debian/Ubuntu) or 'brew install postgresql@17' (macOS), or set DATABASE_URL to a running server." >&2
  exit 1
fi

# Postgres refuses to run as root: when we are root, run it as the "postgres" system user.
# su takes one shell string, so quote every argument for it.
su_postgres() { su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; }
RUN=()
STOP_AS=""
if [ "$(id -u)" = "0" ]; then
  if ! id -u postgres >/dev/null 2>&1; then
    say "running as root and there is no 'postgres' user to run the server as; create one (useradd -r postgres) or run make dev as a normal user." >&2
    exit 1
  fi
  if command -v runuser >/dev/null 2>&1; then
    RUN=(runuser -u postgres --)
    STOP_AS="runuser -u postgres -- "
  else
    RUN=(su_postgres)
    STOP_AS="su postgres -s /bin/sh -c "
  fi
fi
as_owner() { if [ ${#RUN[@]} -eq 0 ]; then "$@"; else "${RUN[@]}" "$@"; fi; }

mkdir -p "$ROOT/.data"
touch "$LOG"
if [ ! -d "$DATA" ]; then mkdir -p "$DATA"; fi
if [ "$(id -u)" = "0" ]; then
  chown postgres "$LOG"
  chown -R postgres "$DATA"
  # The server user must be able to reach the data dir through the repo's parent directories.
  if ! as_owner test -w "$DATA"; then
    say "the 'postgres' user cannot write $DATA (a parent directory is not traversable); move the repo or run as a normal user." >&2
    exit 1
  fi
fi
chmod 700 "$DATA"

did="started"
if [ ! -f "$DATA/PG_VERSION" ]; then
  as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >>"$LOG" 2>&1 || {
    say "initdb failed; see $LOG" >&2
    exit 1
  }
  # Local-only, and the Unix socket inside the data dir: /var/run/postgresql may not be writable.
  cat >>"$DATA/postgresql.conf" <<EOF

# Added by scripts/ensure-postgres.sh for local development.
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$DATA'
EOF
  did="initialised and started"
fi

# -p on the command line wins over postgresql.conf, so a changed PGPORT still takes effect.
if ! as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -o "-p $PGPORT" -w -t 30 start >/dev/null 2>&1; then
  say "pg_ctl could not start Postgres from $DATA; last log lines:" >&2
  tail -n 15 "$LOG" >&2 || true
  exit 1
fi
if ! wait_ready; then
  say "Postgres started but does not answer on 127.0.0.1:$PGPORT within 30 s; see $LOG" >&2
  exit 1
fi
say "$did Postgres ($("$BIN/postgres" --version | awk '{print $3}')) from $BIN with data in .data/postgres on 127.0.0.1:$PGPORT (log .data/postgres.log); it keeps running, stop it with: $STOP_AS$BIN/pg_ctl -D $DATA stop"
