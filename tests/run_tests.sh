#!/usr/bin/env bash
# Runs every C test binary (build/tests/test_*) and every CLI test (tests/cli/*.sh) from the
# repository root, then prints the totals as "N passed, N failed, N skipped". Exit status 1 on
# any failure.
# Skips: a test that cannot run because its data is absent (the team's ../shared/data, or the
# registry data of scripts/fetch_data when offline) prints "SKIP: reason" and exits 77; it is
# counted as skipped and the reason shown. Under CI=true a skip is a failure (CI has all data).
# Environment: SCFM_BUILD (default build), SCFM_SHARED_DATA (default ../shared/data),
# SCFM_PYTHON (python with torch/transformers for reference checks; default .venv/bin/python),
# SCFM_DATA_CACHE (registry data, default .cache/scfm-data), CI (true: skips fail).
# SCFM_TEST_FILTER (extended regex on test names such as test_io or cli/faults: run only those).
set -u
cd "$(dirname "$0")/.."
BUILD=${SCFM_BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
export SCFM_BIN="$BUILD/scfm"
export SCFM_SHARED_DATA=${SCFM_SHARED_DATA:-$(cd .. && pwd)/shared/data}
export SCFM_PYTHON=${SCFM_PYTHON:-$PWD/.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
CI=${CI:-}
pass=0; fail=0; skip=0; failed=(); skipped=()
run() { # name, command...
    local name=$1; shift
    if [ -n "${SCFM_TEST_FILTER:-}" ] && ! [[ $name =~ $SCFM_TEST_FILTER ]]; then return 0; fi
    local log; log=$(mktemp)
    local t0=$SECONDS rc=0
    "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        pass=$((pass+1)); echo "ok   $name ($((SECONDS-t0))s)"
    elif [ "$rc" -eq 77 ]; then
        local why; why=$(grep '^SKIP: ' "$log" | tail -1 | cut -c7-)
        [ -n "$why" ] || why="no reason given"
        if [ "$CI" = true ]; then
            fail=$((fail+1)); failed+=("$name"); echo "FAIL $name ($((SECONDS-t0))s): skipped under CI=true: $why"
            sed 's/^/     | /' "$log" | tail -40
        else
            skip=$((skip+1)); skipped+=("$name"); echo "skip $name ($((SECONDS-t0))s): $why"
        fi
    else
        fail=$((fail+1)); failed+=("$name"); echo "FAIL $name ($((SECONDS-t0))s, exit $rc)"; sed 's/^/     | /' "$log" | tail -40
    fi
    rm -f "$log"
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t"
done
# The engine's kernel and golden tests once more on every other matmul backend the build has
# (the run above used the default); the names come from `scfm --version`.
ver=$("$SCFM_BIN" --version)
default_be=$(echo "$ver" | sed -n 's/^matmul: \([a-z]*\) .*/\1/p')
for be in $(echo "$ver" | sed -n 's/^matmul: .*backends: auto \(.*\) (choose.*/\1/p'); do
    [ "$be" = "$default_be" ] && continue
    for t in test_nn test_bert; do
        [ -x "$BUILD/tests/$t" ] && run "$t[SCFM_GEMM=$be]" env SCFM_GEMM="$be" "$BUILD/tests/$t"
    done
done
for t in tests/cli/*.sh; do
    [ -f "$t" ] || continue
    run "cli/$(basename "$t" .sh)" bash "$t"
done
echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
[ ${#skipped[@]} -gt 0 ] && echo "skipped: ${skipped[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
