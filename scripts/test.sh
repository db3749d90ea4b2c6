#!/usr/bin/env bash
# Installs what pincore's test suite needs on a Debian machine, then runs the whole suite.
#
# The suite drives real clients (redis-cli, redis-benchmark, curl, ssh, ansible) against real servers, and
# creates network namespaces for sysctl and deploy tests, so it wants root. Without root the tests that need
# it say why they did not run; with CI=true a missing prerequisite is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests call. Keep this list in step with README.md ("Testing").
packages=(
  iproute2        # ip netns, veth, tc: throwaway namespaces and shaped paths for kernel tests
  procps          # sysctl(8): the reference the tuner is checked against
  curl            # admin endpoint tests
  redis-tools     # redis-cli, redis-benchmark: real RESP clients
  redis-server    # the peer in benchmarks and comparison tests
  hyperfine       # tuner performance measurement
  socat           # ssh ProxyCommand into test hosts' namespaces
  openssh-server  # sshd for deploy test hosts
  openssh-client
  util-linux      # unshare, nsenter
  ansible         # deploy: rendered playbooks are syntax-checked and run against a test host
  systemd         # deploy: systemd-analyze verify for the rendered unit
  binutils        # deploy: strip, to keep test releases small
  python3-pip     # installs the PyPI tools below
  nodejs          # ioredis, a real Node.js client of the RESP service
  lintian         # packaging: the .deb files are checked by Debian's own linter
  dpkg-dev        # packaging: dpkg-shlibdeps, which cargo-deb uses for the packages' dependencies
  man-db          # packaging: man -w finds the installed man pages
  bash-completion # packaging: the installed completion is loaded the way an interactive shell loads it
  prometheus      # promtool: checks monitoring/'s alert rules and a real /metrics scrape
  tmux            # runs pincore-top's terminal view in a test and reads its screen
)

# PyPI tools the tests call. kubernetes-validate ships the Kubernetes JSON schemas, so it works offline.
pip_packages=(
  kubernetes-validate  # deploy: rendered Kubernetes objects
)
# PyPI libraries the tests import: the current redis-py, which speaks RESP3 by default.
pip_libraries=(
  redis
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

pip_missing=()
for p in "${pip_packages[@]}"; do
  command -v "$p" >/dev/null 2>&1 || pip_missing+=("$p")
done
for p in "${pip_libraries[@]}"; do
  python3 -c "import $p" >/dev/null 2>&1 || pip_missing+=("$p")
done
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "installing from PyPI: ${pip_missing[*]}"
  # Debian's own python refuses system-wide installs unless told (PEP 668); other pythons do not need it.
  python3 -m pip install --quiet "${pip_missing[@]}" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "${pip_missing[@]}"
  # A pyenv-managed python puts new commands on PATH only through its shims.
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi

# npm packages the tests require, kept in target/ (not system-wide); the tests find them through NODE_PATH.
# Debian ships npm apart from nodejs; NodeSource's nodejs includes it.
if ! command -v npm >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm
fi
node_dir="$PWD/target/node"
if ! NODE_PATH="$node_dir/node_modules" node -e "require('ioredis')" >/dev/null 2>&1; then
  echo "installing from npm: ioredis"
  mkdir -p "$node_dir"
  npm install --silent --no-audit --no-fund --prefix "$node_dir" ioredis@5
fi
export NODE_PATH="$node_dir/node_modules"

if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
# packaging/build-debs.sh builds the Debian packages with cargo-deb (pinned: the tests package dev builds,
# which later versions may refuse).
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb 3.8.0" ]; then
  cargo install --locked cargo-deb --version 3.8.0
fi

# Tests that skip for a missing prerequisite (outside CI) pass in nextest's count; each records why in this
# directory, and the summary below lists them so that "all passed" never hides a group that did not run.
skip_log="$(mktemp -d)"
export PINCORE_SKIP_LOG="$skip_log"
summarise_skips() {
  local status=$?
  scripts/skip-summary.sh "$skip_log" || true
  rm -rf "$skip_log"
  exit "$status"
}
trap summarise_skips EXIT

cargo nextest run --workspace --profile ci "$@"
