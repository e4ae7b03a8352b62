#!/usr/bin/env bash
# Makes sure a Redis answers on 127.0.0.1:$REDIS_PORT for `make dev`, starting one from the machine's redis-server if needed.
# Idempotent. BullMQ needs maxmemory-policy noeviction (an evicted job key is a lost job), so an
# already-running Redis is switched to it when possible. A Redis started here keeps running
# after `make dev` exits, with an append-only file in .data/redis so queued jobs survive restarts.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${REDIS_PORT:-6379}"
DIR="$ROOT/.data/redis"
LOG="$ROOT/.data/redis.log"
say() { echo "[ensure-redis] $*"; }

pong() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = "PONG" ]
  else
    # RESP over bash's /dev/tcp, for machines with redis-server but no redis-cli. The subshell
    # keeps the socket and the silenced stderr from leaking into the rest of the script.
    (
      exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
      printf 'PING\r\n' >&3
      reply=""
      IFS= read -r -t 2 reply <&3 || true
      [ "${reply%$'\r'}" = "+PONG" ]
    ) 2>/dev/null
  fi
}

if pong; then
  if ! command -v redis-cli >/dev/null 2>&1; then
    say "Redis already answers on 127.0.0.1:$PORT (no redis-cli to check maxmemory-policy; BullMQ needs noeviction)."
    exit 0
  fi
  policy="$(redis-cli -h 127.0.0.1 -p "$PORT" config get maxmemory-policy 2>/dev/null | sed -n 2p || true)"
  if [ "$policy" = "noeviction" ]; then
    say "Redis already answers on 127.0.0.1:$PORT with maxmemory-policy noeviction; nothing to do."
  elif [ "$(redis-cli -h 127.0.0.1 -p "$PORT" config set maxmemory-policy noeviction 2>/dev/null)" = "OK" ]; then
    say "Redis already answers on 127.0.0.1:$PORT; switched maxmemory-policy from ${policy:-unknown} to noeviction (not persisted to its config file)."
  else
    say "WARNING: Redis on 127.0.0.1:$PORT has maxmemory-policy '${policy:-unknown}' and CONFIG SET was refused; BullMQ may lose jobs under memory pressure." >&2
  fi
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  say "no Redis answers on 127.0.0.1:$PORT and redis-server is not installed." >&2
  say "install it, e.g. 'sudo apt-get install redis-server' (Debian/Ubuntu) or 'brew install redis' (macOS), or set REDIS_URL to a running server." >&2
  exit 1
fi

mkdir -p "$DIR"
# --save "": no RDB snapshots; the AOF alone gives durability for queued dev jobs.
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" \
  --maxmemory-policy noeviction \
  --dir "$DIR" --logfile "$LOG" --pidfile "$ROOT/.data/redis.pid" \
  --save "" --appendonly yes

for _ in $(seq 1 60); do
  if pong; then
    say "started redis-server ($(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/')) on 127.0.0.1:$PORT with data in .data/redis (log .data/redis.log); it keeps running, stop it with: redis-cli -p $PORT shutdown"
    exit 0
  fi
  sleep 0.5
done
say "redis-server did not answer on 127.0.0.1:$PORT within 30 s; last log lines:" >&2
tail -n 15 "$LOG" >&2 || true
exit 1
