#!/usr/bin/env bash
# `npm start`: installs what is missing on first run, then starts the app.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-host-deps.sh
exec npx tsx src/main/cli/start.ts "$@"
