#!/usr/bin/env bash
# Data parallelism: `mpirun -np 2 scfm pretrain --batch-size 4` reproduces the one-process run
# with --batch-size 8 (the same global batches: gradients all-reduced and averaged over all
# masked tokens). Stated tolerance: per-step loss within 1e-4 relative, weights after 10 steps
# within 1e-4 absolute (the only difference is float summation order). Only rank 0 writes;
# resuming a 2-rank run with one process (another global batch) is refused.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 human/pbmc1k_v2
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
command -v mpirun > /dev/null || { echo "mpirun not found (install OpenMPI: scripts/setup)"; exit 1; }
V1=$D/geneformer/v1
"$BIN" tokenize "$D/human/pbmc1k_v2" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz \
    --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 64 2> /dev/null
ARGS=(--config tiny --set vocab_size=25426 --set hidden_dropout_prob=0 --set attention_probs_dropout_prob=0
      --max-steps 10 --lr 2e-3 --warmup-steps 2 --log-every 1 --eval-every 5
      --save-every 5 --val-fraction 0.1 --mega-mult 5 --seed 3)
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0   # OpenMPI's own allocations under `make asan`
MPI=(mpirun --allow-run-as-root -np 2 --oversubscribe --mca btl self,vader)

"$BIN" pretrain "$T/c" -o "$T/one" "${ARGS[@]}" --batch-size 8 > "$T/one.out" 2> "$T/one.err"
"${MPI[@]}" "$BIN" pretrain "$T/c" -o "$T/two" "${ARGS[@]}" --batch-size 4 > "$T/two.out" 2> "$T/two.err"
cat "$T/two.out"
grep -q "2 rank(s) x batch 4" "$T/two.err"
[ "$(grep -c '^steps' "$T/two.out")" -eq 1 ]   # one summary: rank 0 only
[ "$(cat "$T/two/latest")" = checkpoint-10 ]

"$PY" - "$T/one" "$T/two" <<'PYEOF'
import json, sys
from safetensors.numpy import load_file
def log(run):
    recs = [json.loads(l) for l in open(f"{run}/log.jsonl")]
    return ({r["step"]: r for r in recs if r["type"] == "train"}, {r["step"]: r for r in recs if r["type"] == "eval"})
(t1, e1), (t2, e2) = log(sys.argv[1]), log(sys.argv[2])
assert sorted(t1) == sorted(t2) == list(range(1, 11)), (sorted(t1), sorted(t2))
worst = max(abs(t1[s]["loss"] - t2[s]["loss"]) / abs(t1[s]["loss"]) for s in t1)
assert all(t1[s]["tokens"] == t2[s]["tokens"] for s in t1)
for s in e1:
    assert abs(e1[s]["val_loss"] - e2[s]["val_loss"]) <= 1e-4 * abs(e1[s]["val_loss"]), (e1[s], e2[s])
    assert e1[s]["n_masked"] == e2[s]["n_masked"]
a = load_file(f"{sys.argv[1]}/checkpoint-10/model.safetensors")
b = load_file(f"{sys.argv[2]}/checkpoint-10/model.safetensors")
wd = max(float(abs(a[k] - b[k]).max()) for k in a)
print(f"1 process vs 2 ranks: max relative loss difference {worst:.2e}, max weight difference {wd:.2e}")
assert worst <= 1e-4 and wd <= 1e-4
PYEOF

# resuming with another rank count changes the global batch: refused before any step
rc=0
"$BIN" pretrain --resume "$T/two" --max-steps 12 > /dev/null 2> "$T/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "rank count" "$T/err" || { echo "resume with 1 rank: exit $rc"; cat "$T/err"; exit 1; }
# the 2-rank run resumes under mpirun
"${MPI[@]}" "$BIN" pretrain --resume "$T/two" --max-steps 12 > "$T/two2.out" 2> /dev/null
grep -q "^steps	12 of 12" "$T/two2.out"
