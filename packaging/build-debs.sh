#!/usr/bin/env bash
# Builds pincore's Debian packages from this workspace:
#   pincore-server  the server, its man pages and completions, the hardened systemd unit, /etc/pincore/server.yaml
#   pincore-tuner   the tuner, pincore-tuner-apply@.service (a profile and its NIC settings at boot)
#   pincore-tools   pincore-deploy, pincore-bench and pincore-top
# Man pages and completions are generated from each binary's own command line (`BINARY generate-dist-files DIR`),
# so they never drift from --help.
#
# usage: packaging/build-debs.sh [--profile release|dev] [--out DIR] [--no-build] [--only "PACKAGE..."]
#   --profile  cargo profile of the binaries (default release; dev packages build fast, for tests)
#   --no-build package the binaries already built for that profile
#   --out      where the .deb files go (default target/debian)
#   --only     these packages alone, e.g. "pincore-server pincore-tuner" (what pincore-deploy rolls out)
# Needs cargo-deb (`cargo install cargo-deb --locked`) and dpkg-dev's tools (Debian: dpkg-dev, binutils).
# Install the result with: apt install ./target/debian/pincore-*.deb
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
out=target/debian
build=yes
only="pincore-server pincore-tuner pincore-tools"
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=${2:?--profile needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    --no-build) build=no; shift ;;
    --only) only=${2:?--only needs package names}; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "build-debs.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) profile_dir=release ;;
  dev) profile_dir=debug ;;
  *) echo "build-debs.sh: --profile is release or dev, not '$profile'" >&2; exit 2 ;;
esac
# Each package: its crate, and the crates of the binaries it carries.
crates=() binaries=() packages=()
for package in $only; do
  case "$package" in
    pincore-server|pincore-tuner) crates+=("$package"); binaries+=("$package"); packages+=("$package") ;;
    pincore-tools) crates+=(pincore-deploy pincore-bench pincore-top)
      binaries+=(pincore-deploy pincore-bench pincore-bench-tokio-echo pincore-top); packages+=(pincore-deploy) ;;
    *) echo "build-debs.sh: --only takes pincore-server, pincore-tuner and pincore-tools, not '$package'" >&2; exit 2 ;;
  esac
done
cargo deb --version >/dev/null 2>&1 \
  || { echo "build-debs.sh: cargo-deb is not installed (cargo install cargo-deb --locked)" >&2; exit 1; }

[ "$build" = no ] || cargo build --profile "$profile" --bins $(printf -- '-p %s ' "${crates[@]}")
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin_dir=$target_dir/$profile_dir

for binary in "${binaries[@]}"; do
  [ -x "$bin_dir/$binary" ] || { echo "build-debs.sh: $bin_dir/$binary is not built" >&2; exit 1; }
  rm -rf "$bin_dir/dist/$binary"
  "$bin_dir/$binary" generate-dist-files "$bin_dir/dist/$binary" >/dev/null
  gzip -9n "$bin_dir/dist/$binary"/man1/*.1
done

mkdir -p "$out"
for crate in "${packages[@]}"; do
  # dev packages are for tests: compress fast.
  cargo deb --no-build --profile "$profile" -p "$crate" --output "$out" --strip $([ "$profile" = dev ] && echo --fast)
done
ls -1 "$out"/*.deb
