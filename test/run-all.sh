#!/usr/bin/env bash
# The one command that runs every test: `npm test`. It installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-host-deps.sh --tests

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

echo "==> go vet + go test (guest agent)"
(cd guest-agent && go vet ./... && go test -count=1 ./... 2>&1 | tee "$results/go.txt")

echo "==> cross-builds of the guest agent"
for target in linux/amd64 linux/arm64 windows/amd64; do
  (cd guest-agent && CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./...)
  echo "    $target ok"
done

echo "==> typecheck and lint"
npm run --silent typecheck
npx eslint .

echo "==> building the minimal guest image (cached after the first run)"
npx tsx src/main/cli/build-image.ts

echo "==> building the ai-agent image from Debian packages (a few minutes the first time, cached after)"
npx tsx src/main/cli/build-image.ts ai-agent

echo "==> building the desktop image (ai-agent plus X, VNC and chromium; about four minutes the first time, cached after)"
npx tsx src/main/cli/build-image.ts desktop

echo "==> building the SDK"
npm run --silent build:sdk

echo "==> building the UI (browser mode and the end-to-end tests use it)"
npm run --silent build:ui

echo "==> vitest (host tests, then real-VM tests)"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results/vitest.json" || status=$?

node -e '
  const r = require(process.argv[1]);
  const go = require("fs").readFileSync(process.argv[2], "utf8");
  const goPass = (go.match(/^ok\s/gm) || []).length, goFail = (go.match(/^FAIL\s/gm) || []).length;
  console.log(`go packages: ${goPass} passed, ${goFail} failed`);
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
' "$results/vitest.json" "$results/go.txt"
exit $status
