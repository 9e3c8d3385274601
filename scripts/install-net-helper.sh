#!/usr/bin/env bash
# Installs the privileged network helper (src/main/net-helper) so that a daemon running as
# an ordinary user can give sandboxes TAP networking through pkexec:
#   /usr/local/libexec/microvm-sandbox/microvm-net-helper          one bundled program, root-owned
#   /usr/local/libexec/microvm-sandbox/microvm-net-helper-<verb>   one link per verb (pkexec picks
#                                                                  the polkit action by this path)
#   /usr/share/polkit-1/actions/org.microvm-sandbox.net-helper.policy
#   /var/log/microvm-sandbox/                                      the helper's audit log
# A daemon running as root needs none of this: it runs the same verbs in its own process.
#
#   sudo scripts/install-net-helper.sh              install (again: replaces the old copy)
#   sudo scripts/install-net-helper.sh --uninstall  remove program, links and policy (the log stays)
#   scripts/install-net-helper.sh --bundle-only OUT only bundle the program to OUT (no root needed)
set -euo pipefail
cd "$(dirname "$0")/.."

LIBEXEC=/usr/local/libexec/microvm-sandbox
POLICY_DIR=/usr/share/polkit-1/actions
POLICY=org.microvm-sandbox.net-helper.policy
VERBS=(bridge-ensure bridge-delete tap-create tap-delete rules-set rules-remove)
# pkexec clears PATH, so the program names its interpreter by absolute path; it runs as
# root, so that interpreter must be root's too (not a per-user install such as nvm's).
NODE_BIN=${NODE_BIN:-/usr/bin/node}

bundle() {
  node_modules/.bin/esbuild src/main/net-helper/net-helper.ts --bundle --platform=node --target=node20 --format=cjs \
    --banner:js="#!$NODE_BIN" --log-level=warning --outfile="$1"
  chmod 0755 "$1"
}

case "${1:-}" in
  --bundle-only)
    [ -n "${2:-}" ] || { echo "usage: $0 --bundle-only OUTFILE" >&2; exit 2; }
    bundle "$2"
    exit 0
    ;;
  --uninstall | "") ;;
  *) echo "usage: $0 [--uninstall | --bundle-only OUTFILE]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "run as root: sudo $0 $*" >&2
  exit 1
fi

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$LIBEXEC/microvm-net-helper" "${VERBS[@]/#/$LIBEXEC/microvm-net-helper-}" "$POLICY_DIR/$POLICY"
  rmdir "$LIBEXEC" 2>/dev/null || true
  echo "removed the network helper (its audit log stays in /var/log/microvm-sandbox)"
  exit 0
fi

case "$NODE_BIN" in /*) ;; *) echo "NODE_BIN must be an absolute path (pkexec clears PATH): $NODE_BIN" >&2; exit 1 ;; esac
[ -x "$NODE_BIN" ] || { echo "$NODE_BIN is not there: install Debian's nodejs package (Node 20 or later), or set NODE_BIN" >&2; exit 1; }
major=$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "$NODE_BIN is Node $major: the helper needs Node 20 or later" >&2; exit 1; }
# Whoever can write the interpreter (or a directory on its path) would run code as root.
path=$(readlink -f "$NODE_BIN")
while [ -n "$path" ]; do
  if [ "$(stat -c %u "$path")" != 0 ] || [ -n "$(find "$path" -maxdepth 0 -perm /022 ! -type l ! -perm -1000 2>/dev/null)" ]; then
    echo "$path is not owned by root or is writable by others: the helper runs as root, so its interpreter must be root's alone" >&2
    exit 1
  fi
  [ "$path" = / ] && break
  path=$(dirname "$path")
done
for tool in ip nft pkexec; do
  command -v "$tool" >/dev/null || echo "warning: $tool is not installed (Debian packages: iproute2, nftables, pkexec)" >&2
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bundle "$tmp/microvm-net-helper"

install -d -o root -g root -m 0755 "$LIBEXEC"
install -o root -g root -m 0755 "$tmp/microvm-net-helper" "$LIBEXEC/microvm-net-helper"
for verb in "${VERBS[@]}"; do
  ln -sfn microvm-net-helper "$LIBEXEC/microvm-net-helper-$verb"
done
install -d -o root -g root -m 0755 "$POLICY_DIR"
install -o root -g root -m 0644 "resources/polkit/$POLICY" "$POLICY_DIR/$POLICY"
install -d -o root -g root -m 0750 /var/log/microvm-sandbox
echo "installed the network helper in $LIBEXEC (polkit actions org.microvm-sandbox.net-helper.*, audit log /var/log/microvm-sandbox/net-helper.log)"
