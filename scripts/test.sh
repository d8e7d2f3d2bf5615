#!/usr/bin/env bash
# The whole default test suite: installs the system packages the tests need (Chromium, iproute2,
# avahi-utils) when missing, builds, type-checks, lints, then runs every Vitest project except the
# long soak. Ends with the plain line "N passed, N failed" (type check and lint count as one test each).
set -uo pipefail
cd "$(dirname "$0")/.."

apt_need=()
command -v chromium >/dev/null 2>&1 || apt_need+=(chromium)
command -v ip >/dev/null 2>&1 || apt_need+=(iproute2)
command -v avahi-browse >/dev/null 2>&1 || apt_need+=(avahi-utils avahi-daemon)
if [ ${#apt_need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${apt_need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_need[@]}") >/dev/null ||
      echo "!! could not install ${apt_need[*]}; the tests that need them will say so"
  else
    echo "!! missing ${apt_need[*]} (needs root and apt-get); the tests that need them will say so"
  fi
fi

mkdir -p test-artifacts
checks_failed=0
checks_passed=0
run_check() {
  echo "== $1"
  if "${@:2}"; then checks_passed=$((checks_passed + 1)); else
    echo "!! $1 failed"
    checks_failed=$((checks_failed + 1))
  fi
}
run_check build npm run --silent build
run_check typecheck npm run --silent typecheck
run_check lint npm run --silent lint
run_check workflows npm run --silent lint:workflows

echo "== tests"
CHAOS_SECONDS="${CHAOS_SECONDS:-45}" npx vitest run \
  --project unit --project ui --project integration --project lan --project e2e --project chaos \
  --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json
vitest_rc=$?
# the swarm (24 real peers) alone, after the rest: its figures are the overlay's, not the machine's load
npx vitest run --project swarm --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest-swarm.json
swarm_rc=$?
[ $vitest_rc -eq 0 ] && vitest_rc=$swarm_rc

node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const file of ["test-artifacts/vitest.json", "test-artifacts/vitest-swarm.json"]) {
    try {
      const r = JSON.parse(fs.readFileSync(file, "utf8"));
      passed += r.numPassedTests;
      const f = r.numFailedTests + (r.numRuntimeErrorTestSuites || 0);
      failed += !r.success && f === 0 ? 1 : f;
      skipped += r.numPendingTests + r.numTodoTests;
    } catch { failed += 1; }
  }
  passed += Number(process.argv[1]); failed += Number(process.argv[2]);
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
  process.exit(failed ? 1 : 0);
' "$checks_passed" "$checks_failed"
summary_rc=$?
[ $vitest_rc -ne 0 ] && exit $vitest_rc
exit $summary_rc
