#!/usr/bin/env bash
# scfm pretrain end to end on real PBMCs (human/pbmc1k_v2, V1 vocabulary, cells cut to 64
# tokens) with a tiny model: run directory layout, JSONL log, progress line, checkpoints,
# latest/final pointers, the loss falls and held-out accuracy beats chance, the checkpoint
# loads in transformers with the corpus's vocabulary hash.
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

"$BIN" pretrain "$T/c" -o "$T/run" --config tiny --set vocab_size=25426 --batch-size 8 \
    --max-steps 60 --lr 3e-3 --warmup-steps 5 --log-every 5 --eval-every 30 --save-every 30 --val-fraction 0.1 \
    --baseline --seed 7 > "$T/out" 2> "$T/err"
cat "$T/out"
for f in config.json pretrain.json vocab.tsv corpus-0.json log.jsonl latest checkpoint-30/model.safetensors \
         checkpoint-30/config.json checkpoint-30/state.bin checkpoint-30/vocab.tsv checkpoint-60/model.safetensors \
         checkpoint-60/state.bin; do
    [ -s "$T/run/$f" ] || { echo "missing $f"; exit 1; }
done
[ "$(cat "$T/run/latest")" = checkpoint-60 ] || { echo "latest: $(cat "$T/run/latest")"; exit 1; }
[ "$(readlink "$T/run/final")" = checkpoint-60 ] || { echo "final link wrong"; exit 1; }
ls "$T/run" | grep -q tmp && { echo "temporary files left"; exit 1; }
grep -q "tok/s" "$T/err" && grep -q "ETA" "$T/err" && grep -q "validation loss" "$T/err"
grep -q "^steps	60 of 60" "$T/out"
cmp "$T/run/vocab.tsv" "$T/c/vocab.tsv"
cmp "$T/run/corpus-0.json" "$T/c/corpus.json"

"$PY" - "$T/run" "$T/c" <<'PYEOF'
import json, math, sys
import torch
from transformers import BertForMaskedLM
run, corpus = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(f"{run}/log.jsonl")]
train = [r for r in recs if r["type"] == "train"]
ev = [r for r in recs if r["type"] == "eval"]
assert [r["step"] for r in train] == list(range(5, 61, 5)), [r["step"] for r in train]
assert [r["step"] for r in ev] == [30, 60], ev
first, last = train[0]["loss"], train[-1]["loss"]
print(f"loss {first:.3f} -> {last:.3f}; eval {ev[-1]}")
assert abs(first - math.log(25426)) < 0.6, first            # untrained: about ln V
assert last < first - 1.0, (first, last)                    # it learns (60 steps: ~10.1 -> ~8.6)
assert all(r["tokens_per_s"] > 0 and r["lr"] >= 0 and r["grad_norm"] > 0 for r in train)
e = ev[-1]
assert e["val_top10"] > 0.02 and e["val_top1"] > 0.003, e    # chance is 1/25426 (top-10: 10/25426)
assert 0 < e["base_top1"] <= e["base_top10"] <= 1, e
pj = json.load(open(f"{run}/pretrain.json"))
assert pj["format"] == "scfm-pretrain" and pj["training"]["batch_size"] == 8 and pj["training"]["max_steps"] == 60
cj = json.load(open(f"{corpus}/corpus.json"))
mj = json.load(open(f"{run}/checkpoint-60/config.json"))
assert mj["scfm_vocab_hash"] == cj["vocab_hash"], (mj.get("scfm_vocab_hash"), cj["vocab_hash"])
m = BertForMaskedLM.from_pretrained(f"{run}/checkpoint-60")
assert m.config.vocab_size == 25426 and m.config.num_hidden_layers == 2
with torch.no_grad():
    out = m(input_ids=torch.tensor([[1, 100, 200, 300]]))
assert torch.isfinite(out.logits).all()
print("ok")
PYEOF
