# The commands SecureVault's users type. Node 24 and pnpm come from scripts/ensure-node.sh
# (the machine's Node when it is 24+, otherwise one unpacked into .cache/): nothing global changes.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_BIN := $(shell bash scripts/ensure-node.sh)
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export TURBO_TELEMETRY_DISABLED := 1
export DO_NOT_TRACK := 1
NODE := node --conditions=securevault-source

NAMESPACE ?= securevault
RELEASE ?= securevault
VALUES ?= k8s/values-prod.yaml
BASE_URL ?= http://localhost:8080

.PHONY: help
help: ## List the commands
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-14s %s\n", $$1, $$2 }'

node_modules/.modules.yaml: package.json pnpm-lock.yaml pnpm-workspace.yaml $(wildcard libs/*/package.json services/*/package.json apps/*/package.json)
	pnpm install --frozen-lockfile
	@touch $@

.PHONY: install
install: node_modules/.modules.yaml ## Install dependencies (pnpm, frozen lockfile)

.PHONY: services-up
services-up: ## Start Redis and Postgres from the machine's binaries when none answer
	@bash scripts/ensure-redis.sh
	@bash scripts/ensure-postgres.sh

.PHONY: dev
dev: install services-up ## Run the whole platform locally (SMTP sink, dev model, five services)
	@# The gateway serves the web console from its build (about a second).
	pnpm --filter @securevault/console run build --logLevel warn
	$(NODE) scripts/dev.ts

.PHONY: lint
lint: install ## ESLint and Prettier
	turbo run lint --output-logs=errors-only
	eslint --no-error-on-unmatched-pattern scripts tests charts/test bench
	prettier --check . --log-level warn

.PHONY: typecheck
typecheck: install ## tsc --noEmit everywhere
	turbo run typecheck --output-logs=errors-only
	tsc --noEmit -p tsconfig.json

.PHONY: build
build: install ## Compile every package to dist/
	turbo run build --output-logs=errors-only

.PHONY: format
format: install ## Rewrite files with Prettier
	prettier --write . --log-level warn

.PHONY: test
test: install services-up ## Lint, typecheck, unit, integration and end-to-end tests with coverage
	@bash scripts/ensure-tools.sh
	$(MAKE) --no-print-directory lint typecheck build
	$(NODE) scripts/run-tests.ts

.PHONY: screenshots
screenshots: install services-up ## Run the console's browser tests and refresh docs/screenshots/*.png
	@bash scripts/ensure-tools.sh
	UPDATE_SCREENSHOTS=1 $(NODE) --test apps/console/test/console.test.ts

.PHONY: benchmark
benchmark: install services-up build ## Throughput, latency, memory and start-up against reference peers (QUICK=1: < 3 min)
	@# The services run compiled (dist/, as in the images): `build` first, cached by turbo.
	@# 2,000 SSE streams need ~4,000 descriptors in the gateway and as many in the runner.
	ulimit -n $$(ulimit -Hn) && $(NODE) bench/run.ts $(if $(QUICK),--quick,)

.PHONY: test-images
test-images: install services-up ## Build each service's production tree as the Dockerfile does and start it
	$(NODE) scripts/run-tests.ts --images

.PHONY: security
security: install services-up ## Dependency audit, security lint, secret scan, security tests (docs/security.md)
	@bash scripts/security.sh

.PHONY: test-e2e
# BASE_URL given on the command line or in the environment: drive that deployed platform instead.
E2E_BASE_URL := $(if $(filter environment command line,$(origin BASE_URL)),$(BASE_URL),)
test-e2e: install ## End-to-end suite alone (local platform, or a deployed one with BASE_URL=...)
	@if [ -n "$(E2E_BASE_URL)" ]; then BASE_URL=$(E2E_BASE_URL) $(NODE) scripts/run-tests.ts --e2e; \
	else bash scripts/ensure-redis.sh && bash scripts/ensure-postgres.sh && $(NODE) scripts/run-tests.ts --e2e; fi

.PHONY: k8s-deploy
k8s-deploy: ## Deploy the chart to the current kubectl context (namespace, then helm upgrade --install)
	kubectl apply -f k8s/namespace.yaml
	@kubectl -n $(NAMESPACE) get secret securevault-secrets >/dev/null 2>&1 || { \
	  echo "Create the Secret securevault-secrets first: see docs/deployment.md"; exit 1; }
	@# --wait: done only when every Deployment is available; the timeout covers the migration hook
	@# (migrations.activeDeadlineSeconds, 600 s by default) plus the rollout.
	helm upgrade --install $(RELEASE) charts/securevault --namespace $(NAMESPACE) -f $(VALUES) --wait --timeout 15m

.PHONY: logs
logs: ## Follow the gateway's logs in the cluster
	kubectl logs -f deployment/securevault-app --namespace $(NAMESPACE)

.PHONY: health
health: ## Ask a running platform for its health (BASE_URL, default http://localhost:8080)
	@curl -fsS $(BASE_URL)/api/health && echo

# ---- Monitoring and operations (docs/operations.md) ------------------------------------------
APP_VERSION := $(shell awk -F"'" '/^appVersion:/ { print $$2 }' charts/securevault/Chart.yaml)
IMAGE_PREFIX ?= securevault
IMAGE_TAG ?= $(APP_VERSION)
COMPOSE := docker compose -f monitoring/compose.yaml
# service:component — the chart calls the gateway's image "app" (values.yaml image.repository/app).
IMAGES := gateway:app auth:auth audit:audit email-worker:email-worker ai-worker:ai-worker
# backup/restore default to the `make dev` database, unless DATABASE_URL_FILE names the URL.
DEV_DATABASE_URL = $(if $(DATABASE_URL_FILE),,postgres://postgres@127.0.0.1:5432/securevault)

.PHONY: metrics
metrics: ## Metrics: the gateway's /api/metrics (BASE_URL, METRICS_TOKEN), or LOCAL=1 for make dev's ports
	@if [ -n "$(LOCAL)" ]; then \
	  for port in 9464 9465 9466 9467 9468; do echo "# http://127.0.0.1:$$port/metrics"; \
	    curl -fsS http://127.0.0.1:$$port/metrics || exit 1; done; \
	else \
	  [ -n "$$METRICS_TOKEN" ] || { echo "export METRICS_TOKEN (or run make metrics LOCAL=1)"; exit 1; }; \
	  printf 'authorization: Bearer %s\n' "$$METRICS_TOKEN" | curl -fsS -H @- $(BASE_URL)/api/metrics; \
	fi

.PHONY: docker-prod
docker-prod: ## Build the five production images securevault/<component>:<appVersion> (IMAGE_TAG=...)
	@set -e; for pair in $(IMAGES); do \
	  service=$${pair%%:*}; component=$${pair##*:}; \
	  echo "docker build --build-arg SERVICE=$$service -t $(IMAGE_PREFIX)/$$component:$(IMAGE_TAG) ."; \
	  docker build --build-arg SERVICE=$$service -t $(IMAGE_PREFIX)/$$component:$(IMAGE_TAG) .; \
	done

.PHONY: monitoring-rules
monitoring-rules: install ## Regenerate monitoring/prometheus/rules.yaml from the chart's PrometheusRule
	$(NODE) scripts/monitoring-rules.ts

.PHONY: monitoring-up
monitoring-up: install monitoring-rules ## Platform + Prometheus + Grafana in Docker (Grafana :3000, Prometheus :9090)
	IMAGE_TAG=$(IMAGE_TAG) $(COMPOSE) up --build --detach
	@echo "Gateway http://localhost:8080  Grafana http://localhost:3000  Prometheus http://localhost:9090  Mailpit http://localhost:8025"

.PHONY: monitoring-down
monitoring-down: ## Stop the compose stack (WIPE=1 also deletes its volumes)
	$(COMPOSE) down $(if $(WIPE),--volumes,)

.PHONY: backup
backup: export DATABASE_URL ?= $(DEV_DATABASE_URL)
backup: ## pg_dump to backups/securevault-<UTC time>.dump (DATABASE_URL or DATABASE_URL_FILE)
	@bash scripts/backup.sh

.PHONY: restore
restore: export DATABASE_URL ?= $(DEV_DATABASE_URL)
restore: ## pg_restore a dump: make restore FILE=backups/securevault-<time>.dump CONFIRM=yes
	@[ -n "$(FILE)" ] || { echo "usage: make restore FILE=backups/securevault-<time>.dump CONFIRM=yes"; exit 1; }
	@CONFIRM="$(CONFIRM)" bash scripts/restore.sh "$(FILE)"
