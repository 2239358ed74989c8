#!/usr/bin/env bash
# Exact resume. With OMP_NUM_THREADS=1, a run stopped at step 6 (--stop-at) and resumed, and a
# run killed by SIGKILL in the middle of writing checkpoint 8 (SCFM_FAULT_KILL_IN_CHECKPOINT)
# and resumed from checkpoint 4, end with weights identical bit for bit to an uninterrupted
# run, and their logs agree. With 2 threads the same holds within the stated tolerance
# (max |difference| <= 1e-6; the kernels are deterministic for a fixed thread count, so it is
# in practice 0). Dropout is on, so the saved RNG state matters.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 human/pbmc1k_v2
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
"$BIN" tokenize "$D/human/pbmc1k_v2" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz \
    --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 64 2> /dev/null
ARGS=(--config tiny --set vocab_size=25426 --set hidden_dropout_prob=0.1 --set attention_probs_dropout_prob=0.1
      --batch-size 8 --max-steps 12 --lr 2e-3 --warmup-steps 3 --log-every 1 --eval-every 6 --save-every 4
      --val-fraction 0.1 --mega-mult 5)

same_losses() { # two logs: identical train losses at every step
    "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
def losses(p):
    return {r["step"]: (r["loss"], r["grad_norm"]) for r in map(json.loads, open(p)) if r["type"] == "train"}
a, b = losses(sys.argv[1]), losses(sys.argv[2])
assert sorted(a) == list(range(1, 13)) and a == b, (a, b)
PYEOF
}
max_diff() { # max |a - b| over every tensor of two safetensors files
    "$PY" -c 'import sys; from safetensors.numpy import load_file as L; a, b = L(sys.argv[1]), L(sys.argv[2]);
assert a.keys() == b.keys(); print(max(float(abs(a[k] - b[k]).max()) for k in a))' "$1" "$2"
}

export OMP_NUM_THREADS=1
"$BIN" pretrain "$T/c" -o "$T/a" "${ARGS[@]}" > /dev/null 2>&1
# stopped and resumed
"$BIN" pretrain "$T/c" -o "$T/b" "${ARGS[@]}" --stop-at 6 > "$T/b.out" 2>&1
grep -q "^steps	6 of 12" "$T/b.out"
[ "$(cat "$T/b/latest")" = checkpoint-6 ]
[ ! -e "$T/b/final" ]
"$BIN" pretrain --resume "$T/b" > "$T/b2.out" 2> "$T/b2.err"
grep -q "resuming at step 6" "$T/b2.err"
grep -q "^steps	12 of 12" "$T/b2.out"
cmp "$T/a/checkpoint-12/model.safetensors" "$T/b/checkpoint-12/model.safetensors"
same_losses "$T/a/log.jsonl" "$T/b/log.jsonl"

# killed (SIGKILL) while writing checkpoint 8: resumes from checkpoint 4
rc=0
SCFM_FAULT_KILL_IN_CHECKPOINT=8 "$BIN" pretrain "$T/c" -o "$T/k" "${ARGS[@]}" > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 137 ] || { echo "expected death by SIGKILL, got exit $rc"; exit 1; }
[ "$(cat "$T/k/latest")" = checkpoint-4 ]
ls -d "$T"/k/checkpoint-8.tmp.* > /dev/null
[ ! -e "$T/k/checkpoint-8" ]
"$BIN" pretrain --resume "$T/k" > /dev/null 2> "$T/k.err"
grep -q "resuming at step 4" "$T/k.err"
if ls "$T"/k/*.tmp.* > /dev/null 2>&1; then echo "temporary checkpoint left"; exit 1; fi
cmp "$T/a/checkpoint-12/model.safetensors" "$T/k/checkpoint-12/model.safetensors"
same_losses "$T/a/log.jsonl" "$T/k/log.jsonl"

# resuming a finished run does nothing; a longer run continues from it
"$BIN" pretrain --resume "$T/a" > "$T/a2.out" 2> /dev/null
grep -q "^steps	12 of 12" "$T/a2.out"
"$BIN" pretrain --resume "$T/a" --max-steps 14 > "$T/a3.out" 2> /dev/null
grep -q "^steps	14 of 14" "$T/a3.out"
[ "$(cat "$T/a/latest")" = checkpoint-14 ]

# two threads: uninterrupted vs stopped + resumed
export OMP_NUM_THREADS=2
"$BIN" pretrain "$T/c" -o "$T/a2" "${ARGS[@]}" > /dev/null 2>&1
"$BIN" pretrain "$T/c" -o "$T/b2" "${ARGS[@]}" --stop-at 5 > /dev/null 2>&1
"$BIN" pretrain --resume "$T/b2" > /dev/null 2>&1
d=$(max_diff "$T/a2/checkpoint-12/model.safetensors" "$T/b2/checkpoint-12/model.safetensors")
echo "2 threads: max |uninterrupted - resumed| = $d"
"$PY" -c "import sys; sys.exit(0 if float('$d') <= 1e-6 else 1)"
