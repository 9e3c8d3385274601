#!/usr/bin/env bash
# Installs what the app and its tests need on a Debian 12 machine, on first run only:
# Debian packages (through apt, as root) and the npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# mmdebstrap builds rootfs templates (ai-agent, desktop, users' own) from Debian packages;
# uidmap lets it do that without root (unshare mode); e2fsprogs packs the tree (mke2fs -d).
APT_PACKAGES=(golang-go qemu-system-x86 qemu-utils busybox-static e2fsprogs iproute2 util-linux ca-certificates mmdebstrap uidmap debian-archive-keyring)
# nftables: the firewall and NAT of TAP networking (the network helper's rules).
APT_PACKAGES+=(nftables)
# `--tests`: what only the test suite needs. The end-to-end tests drive Debian's chromium
# through playwright-core (no browser download from a registry).
if [ "${1:-}" = "--tests" ]; then
  APT_PACKAGES+=(chromium)
  # Computer use is tested against a real X desktop on the host too (test/agent/computer-host-desktop.test.ts).
  APT_PACKAGES+=(xvfb xdotool scrot xterm openbox x11vnc)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "==> installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The minimal image is built from apt's package lists; an empty list means apt-get update
# never ran on this machine.
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> apt-get update (package lists are empty)"
    apt-get update -q
  else
    echo "apt has no package lists: run 'sudo apt-get update' once" >&2
    exit 1
  fi
fi

# npm ci again whenever package-lock.json changed since the last install.
stamp=node_modules/.install-stamp
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  echo "==> installing npm dependencies"
  # Electron's binary cannot be downloaded everywhere (CI, servers); the desktop shell
  # fetches it on a real desktop, and everything else runs without it.
  ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci --no-audit --no-fund
  echo "$lock_hash" > "$stamp"
fi
