#!/usr/bin/env bash
# Runs every C test binary (build/tests/test_*) and every CLI test (tests/cli/*.sh) from the
# repository root, then prints the totals as "N passed, N failed". Exit status 1 on any failure.
# Environment: SCFM_BUILD (default build), SCFM_SHARED_DATA (default ../shared/data),
# SCFM_PYTHON (python with torch/transformers for reference checks; default .venv/bin/python).
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
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
