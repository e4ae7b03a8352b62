#!/usr/bin/env bash
# Builds one service and writes its pruned production tree to <out-dir>: exactly what the image's
# /app holds. The Dockerfile and charts/test/image.slow-test.ts (in make test) both call it, so CI runs what ships.
# Usage: scripts/build-service.sh <gateway|auth|audit|email-worker|ai-worker> <out-dir>
set -euo pipefail

service="${1:?usage: scripts/build-service.sh <service> <out-dir>}"
out="${2:?usage: scripts/build-service.sh <service> <out-dir>}"
case "$service" in
  gateway | auth | audit | email-worker | ai-worker) ;;
  *) echo "unknown service: $service" >&2; exit 2 ;;
esac

# The service and every workspace package it depends on ("..."), compiled to dist/.
# No standard input and no prompts: a pnpm waiting on a question would hang a CI run silently.
exec </dev/null
export CI=true
pnpm --filter "@securevault/${service}..." run build

# --legacy: pnpm 10's default deploy needs inject-workspace-packages=true, which would change how
# every workspace package is linked in development (copies instead of symlinks) and the lockfile.
# Legacy deploy copies the workspace libs with their built dist/, which production imports
# (their "default" export is ./dist/index.js; ./src is only for the securevault-source condition).
# --prefer-offline: `pnpm install` (make install, or the Dockerfile's fetch + install) has just put
# every package in the store, so nothing is downloaded and the lockfile's versions are deployed.
# Deploy still reads the registry metadata of the service's direct dependencies, which a frozen
# install never caches: on a fresh machine --offline failed (ERR_PNPM_NO_OFFLINE_META), so the
# metadata comes from the cache when it is there and from the registry once when it is not.
pnpm deploy --legacy --prefer-offline --config.confirmModulesPurge=false --reporter=append-only \
  --filter "@securevault/${service}" --prod "$out"

# Fail the build, not the pod, if the output is missing what production runs.
test -f "$out/dist/main.js" || { echo "missing $out/dist/main.js" >&2; exit 1; }
for lib in "$out"/node_modules/@securevault/*/; do
  # The web console (the gateway's) is a static build: its entry is dist/index.html.
  test -f "$lib/dist/index.js" || test -f "$lib/dist/index.html" \
    || { echo "missing ${lib}dist/index.js" >&2; exit 1; }
done
