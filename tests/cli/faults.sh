#!/usr/bin/env bash
# Faults (docs/robustness.md): a SIGKILL in the middle of scfm tokenize, vocab build, embed
# and finetune leaves no output that looks complete (OUT is absent, or a previous OUT is
# untouched; at most a stale OUT.tmp.<pid> remains; a killed --force run over a corpus, a
# vocabulary or a fine-tuning output leaves the previous one, or the new one, whole); a file-size limit (ulimit -f, as on a full disk)
# makes tokenize and embed fail with "File too large" naming the file, and a previous output
# at the same path (--force) stays intact; a flipped byte in a checkpoint is an error naming
# the tensor. Real data: human/pbmc4k_labeled (skipped when ../shared/data is absent).
set -euo pipefail
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
[ -d "$D/human/pbmc4k_labeled" ] || { echo "SKIP: needs the team's real data: $D/human/pbmc4k_labeled not found (set SCFM_SHARED_DATA)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
TOK=(--vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz)

# kill_mid NAME OUT CMD...: runs CMD once to completion (timing it), then again twice,
# SIGKILLed at 50% and at 90% of that time; after each kill OUT must not exist.
kill_mid() {
    local name=$1 out=$2; shift 2
    rm -rf "$out"
    local t0; t0=$(date +%s.%N)
    "$@" > /dev/null 2>&1
    local full; full=$(echo "$(date +%s.%N) - $t0" | bc)
    [ -e "$out" ] || { echo "$name: the uninterrupted run wrote no $out"; exit 1; }
    local ref; ref=$(dirname "$out")/uninterrupted-$(basename "$out")
    rm -rf "$ref"; mv "$out" "$ref"
    local f
    for f in 0.5 0.9; do
        rm -rf "$out" "$out".tmp.*
        "$@" > /dev/null 2>&1 &
        local pid=$!
        sleep "$(echo "$full * $f" | bc)"
        if ! kill -9 $pid 2> /dev/null; then wait $pid || true; echo "$name: finished before the kill at $f"; continue; fi
        st=0; wait $pid 2> /dev/null || st=$?
        # kill succeeds on a process that already exited (a zombie not yet waited for): only an
        # exit status of 128+9 says the signal ended it
        if [ "$st" -ne 137 ]; then echo "$name: finished (exit $st) before the kill at $f"; continue; fi
        if [ -e "$out" ]; then
            # the signal came after the output was committed (renamed into place): then it must be
            # the complete output, as the uninterrupted run wrote it (logs and JSON hold times)
            if diff -rq -x '*.json' -x '*.log' "$out" "$ref" > /dev/null; then
                echo "$name: killed at $f of ${full}s after $out was committed; it is complete"; continue
            fi
            echo "$name: killed at $f of ${full}s but an incomplete $out exists"; ls -la "$out"
            diff -rq -x '*.json' -x '*.log' "$out" "$ref"; exit 1
        fi
        echo "$name: SIGKILL at $f of ${full}s: no $out ($(ls -d "$out".tmp.* 2> /dev/null | wc -l) partial $out.tmp.*)"
    done
}

# a finished corpus (cells cut to 64 tokens: the model steps stay fast) and a checkpoint
"$BIN" tokenize "$D/human/pbmc4k_labeled" -o "$T/c" "${TOK[@]}" --obs label --max-len 64 2> /dev/null
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" > /dev/null 2>&1
"$BIN" corpus info "$T/c" > /dev/null

kill_mid tokenize "$T/c2" "$BIN" tokenize "$D/human/pbmc4k_labeled" -o "$T/c2" "${TOK[@]}" --obs label --threads 1
kill_mid vocab "$T/v" "$BIN" vocab build "$D/human/pbmc4k_labeled" --gene-names $V1/gene_name_id_dict.tsv.gz -o "$T/v"
kill_mid embed "$T/e.npy" "$BIN" embed "$T/c" -m "$T/m" -o "$T/e.npy" --threads 1
kill_mid finetune "$T/ft" "$BIN" finetune "$T/c" -m "$T/m" -o "$T/ft" --label label --max-steps 40 --eval-every 20 --threads 1

# a previous output survives a killed --force run over it
cp -r "$T/c" "$T/c_ref"
for d in 0.3 0.6 1 2; do
    "$BIN" tokenize "$D/human/pbmc4k_labeled" -o "$T/c" "${TOK[@]}" --obs label --max-len 64 --force --threads 1 > /dev/null 2>&1 &
    pid=$!; sleep $d
    if kill -9 $pid 2> /dev/null; then wait $pid 2> /dev/null || true; break; fi
    wait $pid || true
done
diff -r -x corpus.json "$T/c" "$T/c_ref" > /dev/null || { echo "killed --force run changed the previous corpus"; exit 1; }
"$BIN" corpus info "$T/c" > /dev/null
echo "tokenize --force killed: previous corpus intact"

# the same for a vocabulary: SIGKILLed --force runs at 10 points near the end of the run (the
# replace is one rename exchanging the directories: DIR is always one whole vocabulary)
rm -rf "$T/v" "$T"/v.tmp.*
"$BIN" vocab build "$D/human/pbmc4k_labeled" --gene-names $V1/gene_name_id_dict.tsv.gz -o "$T/v" > /dev/null 2>&1
cp -r "$T/v" "$T/v_ref"
t0=$(date +%s.%N)
"$BIN" vocab build "$D/human/pbmc4k_labeled" --gene-names $V1/gene_name_id_dict.tsv.gz -o "$T/v" --force > /dev/null 2>&1
full=$(echo "$(date +%s.%N) - $t0" | bc)
diff -r "$T/v" "$T/v_ref" > /dev/null || { echo "vocab --force: a different vocabulary from the same input"; exit 1; }
[ -z "$(ls -d "$T"/v.* 2> /dev/null)" ] || { echo "vocab --force left $(ls -d "$T"/v.*)"; exit 1; }
for f in 0.8 0.85 0.9 0.92 0.94 0.96 0.97 0.98 0.99 1.0; do
    "$BIN" vocab build "$D/human/pbmc4k_labeled" --gene-names $V1/gene_name_id_dict.tsv.gz -o "$T/v" --force > /dev/null 2>&1 &
    pid=$!; sleep "$(echo "$full * $f" | bc)"
    kill -9 $pid 2> /dev/null || true
    wait $pid 2> /dev/null || true
    rm -rf "$T"/v.tmp.* "$T"/v.old.*  # what a SIGKILL can leave beside DIR (never DIR itself)
    diff -r "$T/v" "$T/v_ref" > /dev/null || { echo "vocab --force killed at $f of ${full}s: $T/v is not the whole vocabulary"; ls -la "$T"; exit 1; }
done
echo "vocab build --force killed 10 times near its end: the vocabulary at DIR stays whole"

# and for a fine-tuning output: --force runs over a finished one, SIGKILLed near their end (the
# new output replaces the old in one exchange, scfm_install_dir): OUT is always one whole output
FT=("$BIN" finetune "$T/c" -m "$T/m" -o "$T/ft" --label label --max-steps 40 --eval-every 20 --threads 1 --force)
rm -rf "$T/ft" "$T"/ft.tmp.*
cp -r "$T/uninterrupted-ft" "$T/ft"
t0=$(date +%s.%N)
"${FT[@]}" > /dev/null 2>&1
full=$(echo "$(date +%s.%N) - $t0" | bc)
diff -rq -x '*.json' -x '*.jsonl' -x '*.log' "$T/ft" "$T/uninterrupted-ft" > /dev/null || { echo "finetune --force: a different output from the same input"; exit 1; }
[ -z "$(ls -d "$T"/ft.* 2> /dev/null)" ] || { echo "finetune --force left $(ls -d "$T"/ft.*)"; exit 1; }
for f in 0.9 0.95 0.98 1.0; do
    "${FT[@]}" > /dev/null 2>&1 &
    pid=$!; sleep "$(echo "$full * $f" | bc)"
    kill -9 $pid 2> /dev/null || true
    wait $pid 2> /dev/null || true
    rm -rf "$T"/ft.tmp.* "$T"/ft.old.*
    diff -rq -x '*.json' -x '*.jsonl' -x '*.log' "$T/ft" "$T/uninterrupted-ft" > /dev/null ||
        { echo "finetune --force killed at $f of ${full}s: $T/ft is not one whole output"; ls -la "$T/ft"; exit 1; }
done
echo "finetune --force killed 4 times near its end: the output at OUT stays whole"

# full disk: RLIMIT_FSIZE of 256 KiB (the corpus needs about 1 MB). A SIGKILLed run above may
# have left its own DIR.tmp.<pid> (nothing can clean up after SIGKILL): remove those first, so
# the check below sees only what the failing run leaves.
rm -rf "$T"/c.tmp.*
set +e
(ulimit -f 256; exec "$BIN" tokenize "$D/human/pbmc4k_labeled" -o "$T/c" "${TOK[@]}" --obs label --max-len 64 --force) 2> "$T/fs.log"
rc=$?
set -e
[ $rc -ne 0 ] && [ $rc -lt 128 ] || { echo "tokenize under ulimit -f: exit $rc (killed by a signal?)"; cat "$T/fs.log"; exit 1; }
grep -q "File too large" "$T/fs.log" || { echo "no clear error:"; cat "$T/fs.log"; exit 1; }
grep -q "$T/c" "$T/fs.log" || { echo "error does not name the output:"; cat "$T/fs.log"; exit 1; }
diff -r -x corpus.json "$T/c" "$T/c_ref" > /dev/null && "$BIN" corpus info "$T/c" > /dev/null ||
    { echo "previous corpus damaged by the failed run"; exit 1; }
[ -z "$(ls -d "$T"/c.tmp.* 2> /dev/null)" ] || { echo "tmp left after a reported failure"; exit 1; }
echo "tokenize under ulimit -f: $(grep -m1 'File too large' "$T/fs.log")"

rm -f "$T/e.npy"
"$BIN" embed "$T/c" -m "$T/m" -o "$T/e.npy" --max-cells 50 > /dev/null 2>&1
cp "$T/e.npy" "$T/e_ref.npy"
set +e
(ulimit -f 16; exec "$BIN" embed "$T/c" -m "$T/m" -o "$T/e.npy") 2> "$T/fe.log"
rc=$?
set -e
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "File too large" "$T/fe.log" ||
    { echo "embed under ulimit -f: exit $rc"; cat "$T/fe.log"; exit 1; }
cmp -s "$T/e.npy" "$T/e_ref.npy" || { echo "previous embedding damaged"; exit 1; }
echo "embed under ulimit -f: $(grep -m1 'File too large' "$T/fe.log")"

# a flipped byte in a checkpoint scfm wrote: an error naming the file and the tensor
cp -r "$T/m" "$T/mf"
python3 - "$T/mf/model.safetensors" <<'PY'
import struct, sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
b[8 + n + 1000] ^= 0x01
open(p, "wb").write(b)
PY
set +e
"$BIN" model info "$T/mf" > /dev/null 2> "$T/crc.log"; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "model.safetensors: tensor '.*': CRC-32 .* does not match" "$T/crc.log" ||
    { echo "flipped checkpoint byte: exit $rc"; cat "$T/crc.log"; exit 1; }
echo "flipped byte: $(head -1 "$T/crc.log")"
