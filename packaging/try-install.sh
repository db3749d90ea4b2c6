#!/usr/bin/env bash
# Installs pincore's packages into a throwaway copy of this machine's root — an overlay of / in a mount and
# network namespace of its own — checks what they installed, purges them, and lists what the purge left.
# Nothing on the host changes: every write lands in a tmpfs that disappears with the namespace.
#
# usage: packaging/try-install.sh DEB_DIR      (root; DEB_DIR holds pincore-server/-tuner/-tools .deb files)
# Output, a line per result:
#   check NAME ok            a check passed
#   check NAME FAILED: why   a check failed (the exit status is then 1)
#   left PATH                a file the purge left behind whose name says pincore
#   exposure N               systemd-analyze security's overall exposure of the packaged unit
set -euo pipefail

if [ "${1:-}" = "--inside" ]; then
  stage=inside
  shift
else
  stage=outside
fi
debs=$(cd "${1:?usage: try-install.sh DEB_DIR}" && pwd)

if [ "$stage" = outside ]; then
  [ "$(id -u)" -eq 0 ] || { echo "try-install.sh: needs root (overlay mounts in a new mount namespace)" >&2; exit 2; }
  ls "$debs"/pincore-*.deb >/dev/null 2>&1 || { echo "try-install.sh: no pincore-*.deb in $debs" >&2; exit 2; }
  exec unshare --mount --net --fork --propagation private "$0" --inside "$debs"
fi

# In the new namespaces: an overlay of / whose upper layer is a tmpfs.
scratch=$(mktemp -d)
mount -t tmpfs -o size=2g tmpfs "$scratch"
mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/root"
root=$scratch/root
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t tmpfs tmpfs "$root/tmp"
mount -t tmpfs tmpfs "$root/run"
mkdir "$root/tmp/debs"
cp "$debs"/pincore-*.deb "$root/tmp/debs/"

status=0
chroot "$root" /bin/bash -s <<'INSIDE' || status=1
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
failed=0
check() {  # check NAME COMMAND...: runs COMMAND, reports ok or the first line of its output
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then
    echo "check $name ok"
  else
    echo "check $name FAILED: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
    failed=1
  fi
}
# Minimal images tell dpkg to drop man pages; this copy of the root is throwaway, so let them in.
rm -f /etc/dpkg/dpkg.cfg.d/excludes

check install apt-get install -y -q --no-install-recommends /tmp/debs/pincore-*.deb
check check-config pincore-server check-config /etc/pincore/server.yaml
check conffile sh -c "dpkg-query -W -f='\${Conffiles}' pincore-server | grep -q '/etc/pincore/server.yaml '"
check version sh -c 'pincore-tuner --version | grep -Eq "^pincore-tuner [0-9.]+ \(commit [0-9a-f]{12}|unknown\)"'
check system-user sh -c 'id pincore && [ "$(stat -c %U /var/lib/pincore)" = pincore ]'
check profile-dir test -d /etc/pincore/profiles
check man-tuner sh -c 'man -w pincore-tuner | grep -q /usr/share/man/man1/pincore-tuner.1.gz'
check man-subcommand sh -c 'man -w pincore-tuner-apply | grep -q pincore-tuner-apply.1.gz'
check man-top sh -c 'man -w pincore-top | grep -q pincore-top.1.gz'
check man-renders sh -c 'MANWIDTH=80 man -l /usr/share/man/man1/pincore-server.1.gz 2>/dev/null | grep -q check-config'
check bash-completion bash -c '
  source /usr/share/bash-completion/bash_completion
  _completion_loader pincore-tuner
  fn=$(complete -p pincore-tuner | sed -n "s/.*-F \([^ ]*\).*/\1/p")
  COMP_WORDS=(pincore-tuner ap); COMP_CWORD=1; COMP_LINE="pincore-tuner ap"; COMP_POINT=${#COMP_LINE}
  "$fn" pincore-tuner ap pincore-tuner
  printf "%s\n" "${COMPREPLY[@]}" | grep -qx apply'
check zsh-completion test -f /usr/share/zsh/vendor-completions/_pincore-deploy
check fish-completion test -f /usr/share/fish/vendor_completions.d/pincore-bench.fish
check unit-verify systemd-analyze verify --man=no /lib/systemd/system/pincore-server.service
cp /lib/systemd/system/pincore-tuner-apply@.service /tmp/pincore-tuner-apply@connections.service
check template-verify systemd-analyze verify --man=no /tmp/pincore-tuner-apply@connections.service
exposure=$(systemd-analyze security --offline=true /lib/systemd/system/pincore-server.service 2>/dev/null \
  | sed -n 's/.*Overall exposure level for pincore-server.service: \([0-9.]*\).*/\1/p')
echo "exposure ${exposure:-unknown}"
check unit-enabled test -L /etc/systemd/system/multi-user.target.wants/pincore-server.service
check purge apt-get purge -y -q pincore-server pincore-tuner pincore-tools
check gone sh -c '! command -v pincore-server && ! command -v pincore-tuner && ! command -v pincore-deploy && ! command -v pincore-top'
exit $failed
INSIDE

# What the packages left: files (not whiteouts of deleted ones) in the upper layer that name pincore.
(cd "$scratch/upper" && find . \( -type f -o -type l -o -type d \) -name '*pincore*' | sed 's|^\./|left /|')
exit $status
