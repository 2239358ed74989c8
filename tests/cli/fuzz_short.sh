#!/usr/bin/env bash
# A short libFuzzer run of every fuzz target (FUZZ_SECONDS, default 3 s each) through
# `make fuzz` (tests/fuzz/run.sh: clang, ASan + UBSan, build-fuzz/). Skipped when clang's
# libFuzzer is not installed (Debian: clang + libclang-rt-14-dev).
set -uo pipefail
secs=${FUZZ_SECONDS_CI:-3}
out=$(FUZZ_SECONDS=$secs bash tests/fuzz/run.sh 2>&1); rc=$?
if [ $rc -eq 77 ]; then echo "SKIP: $out"; exit 77; fi
echo "$out"
[ $rc -eq 0 ] || exit 1
n=$(echo "$out" | grep -c ': ok, ')
[ "$n" -eq "$(ls tests/fuzz/fuzz_*.c | wc -l)" ] || { echo "only $n targets ran"; exit 1; }
