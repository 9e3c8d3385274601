#!/usr/bin/env bash
# `npm start`: installs what is missing on first run, then starts the app (the desktop app,
# or browser mode where Electron cannot run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-host-deps.sh
# One node process (no tsx wrapper in between), so Ctrl+C and SIGTERM reach the daemon directly.
exec node --import tsx src/main/cli/start.ts "$@"
