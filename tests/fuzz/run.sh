#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ and runs each for
# FUZZ_SECONDS (default 60) from its seeds: the small real files of tests/fixtures, the
# generated seeds of tests/fuzz/seeds (scripts/make_fuzz_seeds.sh) and every regression
# input of tests/fuzz/regress/<target>/. A crash, leak, UBSan report, timeout (> 10 s for one
# input) or an input needing more than 2 GiB is saved as build-fuzz/crashes/<target>-*;
# copy it to tests/fuzz/regress/<target>/ once fixed, and the normal test suite replays it.
# Environment: FUZZ_SECONDS, FUZZ_TARGETS (space-separated subset), FUZZ_JOBS (parallel
# targets, default 1). Exit 77 when clang or its libFuzzer runtime is missing, 1 on findings.
set -uo pipefail
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-60}
B=build-fuzz
CLANG=${FUZZ_CC:-clang}
if ! command -v "$CLANG" > /dev/null ||
   ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' |
        "$CLANG" -fsanitize=fuzzer -x c - -o /dev/null 2> /dev/null; then
    echo "fuzz: $CLANG with libFuzzer not available (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 77
fi
ALL=$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||')
TARGETS=${FUZZ_TARGETS:-$ALL}
make -s BUILD=$B CC="$CLANG" OPT="-O1 -g -fno-omit-frame-pointer" \
    SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
    $(for t in $TARGETS; do echo $B/fuzz/fuzz_$t; done) > $B.log 2>&1 || { tail -30 $B.log; exit 1; }

seeds() { # target -> seed files
    local F=tests/fixtures
    case $1 in
        json) echo $F/bert/relu_mlm/config.json tests/fuzz/seeds/corpus_store/corpus.json ;;
        config) echo $F/bert/relu_mlm/config.json ;;
        pickle) echo $F/genes/*.pkl ;;
        safetensors) echo $F/bert/relu_mlm/model.safetensors ;;
        text_matrix) echo $F/io/mtx_plain/matrix.mtx $F/io/cells_rows.csv $F/io/genes_rows.tsv $F/io/bad_*.csv ;;
        hdf5) echo $F/io/*.h5ad $F/io/*.loom $F/io/*.h5 ;;
        train_state) echo tests/fuzz/seeds/train_state/* ;;
        tables) echo tests/fuzz/seeds/tables/* $F/io/mtx_plain/genes.tsv ;;
    esac
}
fail=0
mkdir -p $B/crashes
for t in $TARGETS; do
    c=$B/corpus/$t
    mkdir -p "$c"
    for f in $(seeds $t); do cp -f "$f" "$c/" 2> /dev/null; done
    if [ "$t" = corpus ]; then # byte 0 selects the file: even = corpus.json, odd = shard
        { printf '\0'; cat tests/fuzz/seeds/corpus_store/corpus.json; } > "$c/seed_json"
        { printf '\1'; cat tests/fuzz/seeds/corpus_store/shard-00000.bin; } > "$c/seed_shard"
    fi
    [ -d tests/fuzz/regress/$t ] && cp -f tests/fuzz/regress/$t/* "$c/" 2> /dev/null
    log=$B/fuzz_$t.log
    # hdf5: libhdf5 runs in scfm's guarded child (src/io/h5guard.c); an input that makes it
    # hang is stopped by the guard's CPU limit, here 2 s (SCFM_HDF5_CPU_S; wall 10x), so it ends
    # as an error inside libFuzzer's per-input timeout instead of being reported as a timeout.
    tmo=10; [ "$t" = hdf5 ] && tmo=60
    SCFM_HDF5_CPU_S=${SCFM_HDF5_CPU_S:-2} ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
    $B/fuzz/fuzz_$t -max_total_time="$SECS" -timeout=$tmo -rss_limit_mb=2560 -malloc_limit_mb=2048 \
        -max_len=131072 -artifact_prefix=$B/crashes/$t- -print_final_stats=1 "$c" > "$log" 2>&1
    rc=$?
    runs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$log" | tail -1 | grep -o "[0-9]*$")
    if [ $rc -eq 0 ]; then
        echo "fuzz $t: ok, ${runs:-?} runs in ${SECS}s"
    else
        fail=1
        echo "fuzz $t: FINDING (exit $rc), see $log and $B/crashes/$t-*"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -8
    fi
done
exit $fail
