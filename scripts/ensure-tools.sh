#!/usr/bin/env bash
# Makes promtool available for the chart tests (charts/test/chart.test.ts checks the PrometheusRule
# with it) and Debian's chromium for the console's browser tests (apps/console/test). Idempotent;
# installs only as root with apt, otherwise says why and carries on.
set -euo pipefail
log() { echo "[ensure-tools] $*" >&2; }

# ensure <command> <Debian package> <what happens without it>
ensure() {
  local command="$1" package="$2" without="$3"
  if command -v "$command" >/dev/null 2>&1; then
    log "$command present ($(command -v "$command")); nothing to do"
  elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    # A stale package index is refreshed once, only when the first try fails.
    if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package" >/dev/null 2>&1 \
       || { apt-get update >/dev/null 2>&1 \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package" >/dev/null 2>&1; }; then
      log "installed $command with apt-get (package $package)"
    else
      log "notice: apt-get install $package failed; $without"
    fi
  else
    log "notice: $command missing and not root with apt-get; $without"
  fi
}

# Debian's "prometheus" package ships promtool; the server it also installs is not started here.
ensure promtool prometheus 'chart tests will skip the promtool check'
# The console's browser tests drive /usr/bin/chromium through playwright-core (no browser download).
ensure chromium chromium 'console browser tests skip (and fail under CI=true)'
