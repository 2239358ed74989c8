#!/usr/bin/env bash
# Replays every fuzz regression input (tests/fuzz/regress/<target>/) and every seed through
# the fuzz targets built by the normal build (build/fuzz/replay_<target>; under `make asan`
# the ASan+UBSan ones): each must run to completion (an error from scfm is fine, a crash,
# sanitizer report or abort is not). Outside ASan each replay runs under a 1 GiB address-space
# limit, so an input that costs far more memory than its size fails here too.
set -euo pipefail
BIN=${SCFM_BIN:-build/scfm}
RB=$(dirname "$BIN")/fuzz
F=tests/fixtures
export SCFM_FUZZ_AS_MIB=1024
export TMPDIR=$(mktemp -d)
trap 'rm -rf "$TMPDIR"' EXIT
declare -A SEEDS=(
    [json]="$F/bert/relu_mlm/config.json tests/fuzz/seeds/corpus_store/corpus.json"
    [config]="$F/bert/relu_mlm/config.json"
    [pickle]="$F/genes"
    [safetensors]="$F/bert/relu_mlm/model.safetensors"
    [text_matrix]="$F/io/mtx_plain/matrix.mtx $F/io/cells_rows.csv $F/io/genes_rows.tsv"
    [hdf5]="$F/io/tiny.h5ad $F/io/csc.h5ad $F/io/legacy.h5ad $F/io/cells.loom $F/io/tenx_v2.h5 $F/io/tenx_v3.h5"
    [train_state]="tests/fuzz/seeds/train_state"
    [tables]="tests/fuzz/seeds/tables"
    [corpus]=""
)
total=0
for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c); t=${t#fuzz_}
    [ -x "$RB/replay_$t" ] || { echo "missing $RB/replay_$t (run make)"; exit 1; }
    args=(${SEEDS[$t]-})
    [ -d tests/fuzz/regress/$t ] && [ -n "$(ls tests/fuzz/regress/$t)" ] && args+=(tests/fuzz/regress/$t)
    [ ${#args[@]} -gt 0 ] || continue
    out=$("$RB/replay_$t" "${args[@]}" 2> "$TMPDIR/log") || { echo "replay_$t failed:"; tail -20 "$TMPDIR/log"; exit 1; }
    n=${out//[!0-9]/}
    echo "$t: $out"
    total=$((total + n))
done
# the corpus target: byte 0 = 0 replaces corpus.json, 1 the shard (crc fixed up)
{ printf '\0'; cat tests/fuzz/seeds/corpus_store/corpus.json; } > "$TMPDIR/cj"
{ printf '\1'; cat tests/fuzz/seeds/corpus_store/shard-00000.bin; } > "$TMPDIR/cs"
"$RB/replay_corpus" "$TMPDIR/cj" "$TMPDIR/cs" > /dev/null 2> "$TMPDIR/log" || { tail -20 "$TMPDIR/log"; exit 1; }
[ "$total" -ge 30 ] || { echo "only $total inputs replayed"; exit 1; }
echo "ok: $total inputs replayed"
