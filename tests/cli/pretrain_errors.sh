#!/usr/bin/env bash
# Bad input to scfm pretrain fails before step 1 with a non-zero exit and a message naming
# the problem (and the file), and leaves no checkpoint: vocabulary mismatches (model vs
# corpus, corpus vs corpus, vocabulary hash), cells longer than the model's positions, an
# occupied run directory, corrupt / truncated / mismatched checkpoints and training states on
# resume, settings that cannot change on resume, bad options.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 geneformer/v2 human/pbmc1k_v2
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
V2=$D/geneformer/v2
IN=$D/human/pbmc1k_v2
"$BIN" tokenize "$IN" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 32 2> /dev/null
"$BIN" tokenize "$IN" -o "$T/long" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 200 2> /dev/null
"$BIN" tokenize "$IN" -o "$T/c2" --mode v2 --vocab $V2/token_dictionary_gc104M.tsv.gz \
    --medians $V2/gene_median_dictionary_gc104M.tsv.gz --gene-names $V2/gene_name_id_dict_gc104M.tsv.gz \
    --max-len 32 2> /dev/null
OK=(--config tiny --set vocab_size=25426 --set max_position_embeddings=64 --batch-size 4 --max-steps 3 --warmup-steps 1 --save-every 0 --eval-every 0)

n=0
expect_fail() { # what, exit code, message part, -- args...
    local what=$1 code=$2 msg=$3; shift 4
    local rc=0
    "$BIN" "$@" > "$T/out" 2> "$T/err" || rc=$?
    if [ "$rc" -ne "$code" ]; then echo "FAIL $what: exit $rc (want $code)"; cat "$T/err"; exit 1; fi
    if ! grep -qF -- "$msg" "$T/err"; then echo "FAIL $what: message lacks '$msg':"; cat "$T/err"; exit 1; fi
    n=$((n+1)); echo "ok $what: $(head -c 300 "$T/err" | tr '\n' ' ')"
}
no_checkpoint() { if ls -d "$1"/checkpoint-* > /dev/null 2>&1; then echo "FAIL: checkpoint written in $1"; exit 1; fi; }

expect_fail "model vocab size" 1 "vocab_size 300" -- pretrain "$T/c" -o "$T/r1" --config tiny --set vocab_size=300 --max-steps 2
no_checkpoint "$T/r1"
expect_fail "corpora vocabularies differ" 1 "differs from" -- pretrain "$T/c" "$T/c2" -o "$T/r2" "${OK[@]}"
no_checkpoint "$T/r2"
expect_fail "cells too long" 1 "--truncate" -- pretrain "$T/long" -o "$T/r3" "${OK[@]}"
no_checkpoint "$T/r3"
"$BIN" pretrain "$T/long" -o "$T/r3t" "${OK[@]}" --truncate --max-steps 1 > /dev/null 2> "$T/err"
grep -q "are cut to 64" "$T/err"
expect_fail "missing corpus" 1 "$T/nope" -- pretrain "$T/nope" -o "$T/r4" "${OK[@]}"

# a finished run to damage
"$BIN" pretrain "$T/c" -o "$T/run" "${OK[@]}" --save-every 2 --max-steps 4 > /dev/null 2>&1
expect_fail "occupied run" 1 "--resume" -- pretrain "$T/c" -o "$T/run" "${OK[@]}"
# model hash: a checkpoint made for another vocabulary of the same size
cp -r "$T/run/checkpoint-4" "$T/other"
sed -i 's/"scfm_vocab_hash": "[0-9a-f]*"/"scfm_vocab_hash": "0123456789abcdef"/' "$T/other/config.json"
expect_fail "model vocabulary hash" 1 "0123456789abcdef" -- pretrain "$T/c" -o "$T/r5" --init "$T/other" --max-steps 2
# model of a V2 corpus used on V1
"$BIN" pretrain "$T/c2" -o "$T/v2run" --config tiny --set vocab_size=20275 --max-steps 1 --batch-size 4 \
    --save-every 0 --eval-every 0 > /dev/null 2>&1
expect_fail "V2 model on V1 corpus" 1 "vocab_size 20275" -- pretrain "$T/c" -o "$T/r6" --init "$T/v2run/checkpoint-1"

cp -r "$T/run" "$T/bad1"
"$PY" -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[300]^=0x40; open(p,"wb").write(b)' \
    "$T/bad1/checkpoint-4/state.bin"
expect_fail "corrupt state" 1 "CRC" -- pretrain --resume "$T/bad1" --max-steps 6
expect_fail "corrupt state names file" 1 "checkpoint-4/state.bin" -- pretrain --resume "$T/bad1" --max-steps 6
cp -r "$T/run" "$T/bad2"
truncate -s 1000 "$T/bad2/checkpoint-4/model.safetensors"
expect_fail "truncated model" 1 "model.safetensors" -- pretrain --resume "$T/bad2" --max-steps 6
cp -r "$T/run" "$T/bad3"
"$BIN" pretrain "$T/c" -o "$T/small" --config tiny --set vocab_size=25426 --set hidden_size=32 --max-steps 1 \
    --batch-size 4 --save-every 0 --eval-every 0 > /dev/null 2>&1
cp "$T/small/checkpoint-1/state.bin" "$T/bad3/checkpoint-4/state.bin"
expect_fail "state of another model" 1 "parameters" -- pretrain --resume "$T/bad3" --max-steps 6
cp -r "$T/run" "$T/bad4"
echo checkpoint-99 > "$T/bad4/latest"
expect_fail "latest names a missing checkpoint" 1 "checkpoint-99" -- pretrain --resume "$T/bad4" --max-steps 6
cp -r "$T/run" "$T/bad5"
truncate -s 100 "$T/bad5/checkpoint-4/state.bin"
expect_fail "truncated state" 1 "truncated" -- pretrain --resume "$T/bad5" --max-steps 6
expect_fail "resume with new lr" 2 "cannot change when resuming" -- pretrain --resume "$T/run" --lr 1e-4
expect_fail "resume with corpora" 2 "takes the corpora" -- pretrain --resume "$T/run" "$T/c"
expect_fail "resume nothing" 1 "no pretraining run" -- pretrain --resume "$T/nope"

expect_fail "unknown set key" 2 "unknown setting 'hidden_sise'" -- pretrain "$T/c" -o "$T/r7" --config tiny --set hidden_sise=3
expect_fail "bad set syntax" 2 "KEY=VALUE" -- pretrain "$T/c" -o "$T/r7" --config tiny --set hidden_size
expect_fail "bad model value" 2 "hidden_size" -- pretrain "$T/c" -o "$T/r7" --config tiny --set hidden_size=63
expect_fail "unknown preset" 1 "geneformer-v1" -- pretrain "$T/c" -o "$T/r7" --config nosuchpreset
expect_fail "batch size 0" 2 "batch_size" -- pretrain "$T/c" -o "$T/r7" "${OK[@]}" --batch-size 0
expect_fail "bad schedule" 2 "unknown schedule" -- pretrain "$T/c" -o "$T/r7" "${OK[@]}" --schedule steep
expect_fail "bad number" 2 "not a number" -- pretrain "$T/c" -o "$T/r7" "${OK[@]}" --lr fast
expect_fail "mask fractions" 1 "exceeds 1" -- pretrain "$T/c" -o "$T/r7" "${OK[@]}" --mask-frac 0.95
expect_fail "unknown option" 2 "unknown option --frobnicate" -- pretrain "$T/c" -o "$T/r7" "${OK[@]}" --frobnicate 1
expect_fail "no output" 2 "-o RUN" -- pretrain "$T/c" --config tiny
expect_fail "no model" 2 "--config" -- pretrain "$T/c" -o "$T/r7"
[ ! -e "$T/r7" ] || no_checkpoint "$T/r7"
echo "$n error cases ok"
