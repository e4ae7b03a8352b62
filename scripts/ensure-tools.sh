#!/usr/bin/env bash
# Makes promtool available for the chart tests (charts/test/chart.test.ts checks the PrometheusRule
# with it) and Debian's chromium for the console's browser tests (apps/console/test). Idempotent;
# installs only as root with apt, otherwise says why and carries on.
set -euo pipefail
log() { echo "[ensure-tools] $*" >&2; }

if command -v promtool >/dev/null 2>&1; then
  log "promtool present ($(command -v promtool)); nothing to do"
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  # Debian's "prometheus" package ships promtool; the server it also installs is not started here.
  if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 \
     || { apt-get update >/dev/null 2>&1 \
          && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1; }; then
    log "installed promtool with apt-get (package prometheus)"
  else
    log "notice: apt-get install prometheus failed; chart tests will skip the promtool check"
  fi
else
  log "notice: promtool missing and not root with apt-get; chart tests will skip the promtool check"
fi

# The console's browser tests drive /usr/bin/chromium through playwright-core (no browser download).
if command -v chromium >/dev/null 2>&1; then
  log "chromium present ($(command -v chromium)); nothing to do"
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
     || { apt-get update >/dev/null 2>&1 \
          && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }; then
    log "installed chromium with apt-get"
  else
    log "notice: apt-get install chromium failed; console browser tests skip (and fail under CI=true)"
  fi
else
  log "notice: chromium missing and not root with apt-get; console browser tests skip (and fail under CI=true)"
fi
