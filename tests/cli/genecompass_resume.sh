#!/usr/bin/env bash
# Exact resume of GeneCompass pretraining (values, species rows, four prior tables, the
# mouse->human homolog map, dropout on) on a joint human + mouse corpus of real data, with
# OMP_NUM_THREADS=1: a run killed by SIGKILL while writing checkpoint 6
# (SCFM_FAULT_KILL_IN_CHECKPOINT) and resumed from checkpoint 3, and a run SIGKILLed from
# outside at a random moment after its first checkpoint and resumed from the latest one, end
# with model.safetensors identical byte for byte to an uninterrupted run (weights, knowledge
# tables, homologous_index, the embedding warm-up state) and the same train losses at every
# step. Data: human/pbmc1k_v3, mouse/pancreas_baron_labeled, BioMart orthologs.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared human/pbmc1k_v3 mouse/pancreas_baron_labeled genes orthologs/biomart_human_to_mouse.csv.gz
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
HG=$D/genes/human_ensembl_genes.csv.gz
MG=$D/genes/mouse_ensembl_genes.csv.gz
"$BIN" vocab build --human "$D/human/pbmc1k_v3" --mouse "$D/mouse/pancreas_baron_labeled" \
    --human-gene-names "$HG" --mouse-gene-names "$MG" --orthologs "$D/orthologs/biomart_human_to_mouse.csv.gz" \
    -o "$T/vocab" 2> /dev/null
TOK=(--vocab "$T/vocab/vocab.tsv" --medians "$T/vocab/medians.tsv" --values --max-len 64)
"$BIN" tokenize "$D/human/pbmc1k_v3" "${TOK[@]}" --gene-names "$HG" --species human -o "$T/hs" 2> /dev/null
"$BIN" tokenize "$D/mouse/pancreas_baron_labeled" "${TOK[@]}" --gene-names "$MG" --species mouse -o "$T/mm" 2> /dev/null
"$BIN" corpus merge "$T/hs" "$T/mm" -o "$T/joint" 2> /dev/null
"$BIN" model init --config genecompass-small --set num_hidden_layers=2 --set hidden_size=32 \
    --set num_attention_heads=2 --set intermediate_size=64 --set prior_embedding_size=16 \
    --set max_position_embeddings=64 --set hidden_dropout_prob=0.1 --set attention_probs_dropout_prob=0.1 \
    --vocab "$T/vocab/vocab.tsv" --prior-random --homologs "$T/vocab/homologs.tsv" -o "$T/m0" > /dev/null 2> "$T/init.log" || { cat "$T/init.log"; exit 1; }
"$BIN" model info "$T/m0" > "$T/minfo.txt"
grep -q "genecompass: values on, species row on" "$T/minfo.txt" || { cat "$T/minfo.txt"; exit 1; }

PT=(--init "$T/m0" --batch-size 8 --max-steps 12 --lr 1e-3 --warmup-steps 2 --log-every 1 --eval-every 6
    --save-every 3 --val-fraction 0.1 --mega-mult 5 --seed 3)
same_losses() { # two logs: identical train losses and gradient norms at every step
    "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
def losses(p):
    return {r["step"]: (r["loss"], r["grad_norm"]) for r in map(json.loads, open(p)) if r["type"] == "train"}
a, b = losses(sys.argv[1]), losses(sys.argv[2])
assert sorted(a) == list(range(1, 13)) and a == b, (a, b)
PYEOF
}
t0=$(date +%s.%N)
"$BIN" pretrain "$T/joint" -o "$T/a" "${PT[@]}" > /dev/null 2>&1
full=$(echo "$(date +%s.%N) - $t0" | bc)
grep -q '"mouse_value_mse"' "$T/a/log.jsonl"
"$PY" -c 'import sys; from safetensors.numpy import load_file as L; t = L(sys.argv[1]);
assert {"bert.embeddings.homologous_index", "emb_warmup.alpha", "emb_warmup.steps"} <= set(t), sorted(t)
assert sum(k.endswith("_knowledge") for k in t) == 4, sorted(t)' \
    "$T/a/final/model.safetensors"

# killed (SIGKILL) while writing checkpoint 6: resumes from checkpoint 3
rc=0
SCFM_FAULT_KILL_IN_CHECKPOINT=6 "$BIN" pretrain "$T/joint" -o "$T/k" "${PT[@]}" > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 137 ] || { echo "expected death by SIGKILL, got exit $rc"; exit 1; }
[ "$(cat "$T/k/latest")" = checkpoint-3 ] && [ ! -e "$T/k/checkpoint-6" ] && [ ! -e "$T/k/final" ]
"$BIN" pretrain --resume "$T/k" > /dev/null 2> "$T/k.err"
grep -q "resuming at step 3" "$T/k.err"
if ls -d "$T"/k/*.tmp.* > /dev/null 2>&1; then echo "temporary checkpoint left"; exit 1; fi
cmp "$T/a/checkpoint-12/model.safetensors" "$T/k/checkpoint-12/model.safetensors"
cmp "$T/a/final/model.safetensors" "$T/k/final/model.safetensors"
same_losses "$T/a/log.jsonl" "$T/k/log.jsonl"
echo "SIGKILL in checkpoint 6, resumed from 3: final weights identical"

# SIGKILL from outside, once checkpoint 3 exists, at a random moment of the rest of the run
"$BIN" pretrain "$T/joint" -o "$T/r" "${PT[@]}" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ -e "$T/r/checkpoint-3/state.bin" ] && break; sleep 0.05; done
sleep "$("$PY" -c "import random; print(round(random.uniform(0, 0.5) * $full, 3))")"
if kill -9 $pid 2> /dev/null; then
    wait $pid 2> /dev/null || true
    at=$(cat "$T/r/latest")
    "$BIN" pretrain --resume "$T/r" > /dev/null 2> "$T/r.err"
    grep -q "resuming at step ${at#checkpoint-}" "$T/r.err"
    echo "SIGKILL from outside, resumed at $at"
else
    wait $pid; echo "the run finished before the kill (nothing resumed)"
fi
cmp "$T/a/final/model.safetensors" "$T/r/final/model.safetensors"
same_losses "$T/a/log.jsonl" "$T/r/log.jsonl"
echo "SIGKILLed GeneCompass run resumed: final weights identical byte for byte"
