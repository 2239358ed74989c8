#!/usr/bin/env bash
# Runs every C test binary (build/tests/test_*) and every CLI test (tests/cli/*.sh) from the
# repository root, then prints the totals as "N passed, N failed". Exit status 1 on any failure.
# Environment: SCFM_BUILD (default build), SCFM_SHARED_DATA (default ../shared/data),
# SCFM_PYTHON (python with torch/transformers for reference checks; default .venv/bin/python),
# SCFM_TEST_FILTER (extended regex on test names such as test_io or cli/faults: run only those).
set -u
cd "$(dirname "$0")/.."
BUILD=${SCFM_BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
export SCFM_BIN="$BUILD/scfm"
export SCFM_SHARED_DATA=${SCFM_SHARED_DATA:-$(cd .. && pwd)/shared/data}
export SCFM_PYTHON=${SCFM_PYTHON:-$PWD/.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
pass=0; fail=0; failed=()
run() { # name, command...
    local name=$1; shift
    if [ -n "${SCFM_TEST_FILTER:-}" ] && ! [[ $name =~ $SCFM_TEST_FILTER ]]; then return 0; fi
    local log; log=$(mktemp)
    local t0=$SECONDS
    if "$@" >"$log" 2>&1; then
        pass=$((pass+1)); echo "ok   $name ($((SECONDS-t0))s)"
    else
        fail=$((fail+1)); failed+=("$name"); echo "FAIL $name ($((SECONDS-t0))s)"; sed 's/^/     | /' "$log" | tail -40
    fi
    rm -f "$log"
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t"
done
for t in tests/cli/*.sh; do
    [ -f "$t" ] || continue
    run "cli/$(basename "$t" .sh)" bash "$t"
done
echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
