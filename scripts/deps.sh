#!/usr/bin/env bash
# deps.sh - install what Vault Notes needs to build, test and run, idempotently.
#
# Debian 12 packages through apt-get (as root, or through sudo), with
# `apt-get update` only when something is missing; npm packages from the
# committed package-lock.json (npm ci), only when node_modules is out of date.
# Prints what it installs; fails loudly when something cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build tools, libraries of the C code, fuzzing, Node.js for interop tests,
# Chromium for the web app's end-to-end tests (driven by playwright-core).
packages=(
  build-essential cmake pkg-config git curl ca-certificates
  clang libclang-rt-14-dev
  libh2o-dev libuv1-dev libssl-dev libjansson-dev zlib1g-dev
  libsqlite3-dev libpq-dev postgresql postgresql-contrib libsodium-dev libwslay-dev libmd4c-dev wrk time sqlite3
  libcurl4-openssl-dev
  nodejs npm
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js may come from elsewhere than Debian (a newer build): accept it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi

if ((${#missing[@]})); then
  echo "deps: installing Debian packages: ${missing[*]}"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=900 update -q || { echo "deps: apt-get update failed" >&2; exit 1; }
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}" \
    || { echo "deps: could not install: ${missing[*]}" >&2; exit 1; }
fi

# npm packages: reinstall only when the lock file changed since the last install.
stamp=node_modules/.package-lock.json
if [[ ! -f $stamp || package-lock.json -nt $stamp ]]; then
  echo "deps: installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error || { echo "deps: npm ci failed" >&2; exit 1; }
fi
