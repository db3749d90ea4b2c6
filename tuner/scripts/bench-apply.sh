#!/usr/bin/env bash
# Measures `pincore-tuner apply` + `verify` of the largest built-in profile (connections) against procps'
# `sysctl -p` of the same keys, side by side with hyperfine, inside a network namespace this script creates
# and deletes. The host's own settings are never touched. Needs root, iproute2, procps, hyperfine.
#
#   tuner/scripts/bench-apply.sh [extra hyperfine args]
set -euo pipefail
cd "$(dirname "$0")/../.."

ns="pincore-bench-$$"
work="$(mktemp -d)"
cleanup() { ip netns delete "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}" cargo build --release -q -p pincore-tuner
tuner="$(realpath "${CARGO_TARGET_DIR:-target}/release/pincore-tuner")"
ip netns add "$ns"

# The keys of `connections` that exist in a namespace, at the values the tuner writes ...
"$tuner" --netns "$ns" plan connections --json \
  | python3 -c 'import json,sys; [print("%s = %s" % (c["key"], c["write"] or c["current"])) for c in json.load(sys.stdin)["changes"] if c["action"] in ("change","ok")]' \
  > "$work/connections.conf"
# ... and at the namespace's stock values, to reset before every run so both sides really write.
"$tuner" --netns "$ns" plan connections --json \
  | python3 -c 'import json,sys; [print("%s = %s" % (c["key"], c["current"])) for c in json.load(sys.stdin)["changes"] if c["action"] in ("change","ok")]' \
  > "$work/stock.conf"
echo "keys: $(wc -l < "$work/connections.conf") (the rest of the profile is host-global, skipped in a namespace)"

# Every command runs under `sh -c`, so each side pays the same shell start.
reset="nsenter --net=/run/netns/$ns sysctl -q -p $work/stock.conf && rm -f $work/state/*.json"
hyperfine --warmup 20 --runs 300 -N --output=null --prepare "sh -c '$reset'" "$@" \
  -n "pincore-tuner apply + verify" \
  "sh -c '$tuner --netns $ns --state-dir $work/state apply connections && $tuner --netns $ns --state-dir $work/state verify connections'" \
  -n "pincore-tuner apply (reads every write back)" \
  "sh -c '$tuner --netns $ns --state-dir $work/state apply connections'" \
  -n "sysctl -p (nsenter)" \
  "sh -c 'nsenter --net=/run/netns/$ns sysctl -q -p $work/connections.conf'" \
  -n "sysctl -p (ip netns exec)" \
  "sh -c 'ip netns exec $ns sysctl -q -p $work/connections.conf'"
