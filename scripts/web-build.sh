#!/usr/bin/env bash
# web-build.sh - builds the web app (web/) into web/dist, only when needed:
#   - npm ci from web/package-lock.json when web/node_modules is missing or older than the lock;
#   - vite build (after a type check) when a source is newer than web/dist/index.html.
# `make run` and `make test-e2e` call it; vaultd serves web/dist (--web-dir).
set -euo pipefail
cd "$(dirname "$0")/../web"

stamp=node_modules/.package-lock.json
if [[ ! -f $stamp || package-lock.json -nt $stamp ]]; then
  echo "web: installing npm packages from web/package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error || { echo "web: npm ci failed" >&2; exit 1; }
fi

out=dist/index.html
if [[ ! -f $out ]] || [[ -n $(find index.html vite.config.ts tsconfig.json package-lock.json src public \
    -newer "$out" -print -quit) ]]; then
  echo "web: building web/dist"
  npm run --silent build || { echo "web: build failed" >&2; exit 1; }
fi
