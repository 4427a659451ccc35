#!/usr/bin/env bash
# Runs the whole suite and ends with one "N passed, N failed" line (read by CI).
# Extra arguments go to `deno test` (e.g. a file or --filter).
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
node_modules/.bin/deno test -A --quiet "${@:-tests/}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1)
passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
if [ -z "$summary" ]; then
  passed=0
  failed=1
fi
echo "${passed} passed, ${failed} failed"
exit "$status"
