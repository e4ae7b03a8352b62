# syntax=docker/dockerfile:1
# One image per service: docker build --build-arg SERVICE=gateway|auth|audit|email-worker|ai-worker .
# Base images are pinned by major version here; CI pins them by digest when it builds releases.

# ---- build: install the workspace, build the service and its libs, deploy a pruned copy -------
# bookworm, not the default slim (Debian 13): native addons (argon2) built here must load against
# the runtime's Debian 12 glibc.
FROM node:24-bookworm-slim AS build
ARG SERVICE
# Keep equal to "packageManager" in package.json (charts/test/chart.test.ts checks it).
ARG PNPM_VERSION=10.34.9
RUN test -n "$SERVICE" || { echo "--build-arg SERVICE=<service> is required" >&2; exit 1; }
# npm rather than corepack: no signature-key download at build time, same pinned version.
RUN npm install -g "pnpm@${PNPM_VERSION}" && pnpm --version
ENV PNPM_HOME=/pnpm npm_config_store_dir=/pnpm/store CI=true TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
WORKDIR /repo

# Fetch dependencies from the lockfile alone so this layer survives source changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm fetch

COPY . .
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --offline
# Build the service and its workspace libs, then deploy the pruned production tree to /out. The
# same script builds what charts/test/image.slow-test.ts (make test-images) starts, so CI runs exactly what ships.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    bash scripts/build-service.sh "${SERVICE}" /out

# ---- dev-standins: the SMTP sink and model stand-in for the Kubernetes dev loop only -----------
# `docker build --target dev-standins .` (skaffold does this). Never part of a release: it runs the
# TypeScript sources of libs/testing with Node's type stripping.
FROM node:24-bookworm-slim AS dev-standins
ARG PNPM_VERSION=10.34.9
RUN npm install -g "pnpm@${PNPM_VERSION}"
ENV CI=true
WORKDIR /repo
COPY . .
RUN pnpm install --frozen-lockfile --filter securevault --filter @securevault/testing... \
    && chown -R root:root /repo
USER node
EXPOSE 1025 8025 8089
CMD ["node", "--conditions=securevault-source", "scripts/dev-standins.ts"]

# ---- runtime: distroless Node — no shell, no package manager, fewer CVEs; runs as nonroot ----
# (uid 65532, the user the chart's securityContext expects). Nothing is written at run time, so
# a read-only root filesystem works; /tmp is an emptyDir in Kubernetes.
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
# Owned by root and only readable by the service: it cannot modify its own code.
COPY --from=build /out /app
USER nonroot
# Documentation only: gateway 8080, auth 8081, audit 8082; every service 9464 (management).
EXPOSE 8080 8081 8082 9464
# The image's entrypoint is node; pnpm deploy puts the service package at /app.
CMD ["dist/main.js"]
