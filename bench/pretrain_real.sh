#!/usr/bin/env bash
# Pretraining on real data: tokenizes every human folder of ../shared/data (~9,900 PBMCs,
# Geneformer V1 vocabulary), pretrains a small model on 2 cores for about half an hour, and
# reports the loss curve and the held-out top-1 / top-10 masked-gene accuracy next to the
# baseline that predicts, at each rank position, the genes most frequent there in the
# training cells (same held-out cells, same masked positions). Fails unless the model beats
# the baseline clearly (top-1 and top-10 both at least 1.2x the baseline's).
#
#   bash bench/pretrain_real.sh            (make first; about 30 minutes)
# Environment: OUT (work dir, default /tmp/scfm-pretrain-real), STEPS, MAX_LEN, PRESET,
# BATCH, LR, THREADS (default 2), SCFM_BIN, SCFM_SHARED_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
OUT=${OUT:-/tmp/scfm-pretrain-real}
STEPS=${STEPS:-3000}
MAX_LEN=${MAX_LEN:-256}
PRESET=${PRESET:-small-cpu}
BATCH=${BATCH:-16}
LR=${LR:-1e-3}
THREADS=${THREADS:-2}
V1=$D/geneformer/v1
mkdir -p "$OUT"

if [ ! -f "$OUT/corpus/corpus.json" ]; then
    "$BIN" tokenize "$D"/human/* -o "$OUT/corpus" --vocab $V1/token_dictionary.tsv.gz \
        --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz \
        --max-len "$MAX_LEN" --threads "$THREADS" 2> "$OUT/tokenize.log"
fi
"$BIN" corpus info "$OUT/corpus" | head -8

export OMP_NUM_THREADS=$THREADS
"$BIN" pretrain "$OUT/corpus" -o "$OUT/run" --force --config "$PRESET" --batch-size "$BATCH" \
    --max-steps "$STEPS" --lr "$LR" --warmup-ratio 0.05 --val-fraction 0.05 --val-max-cells 500 \
    --eval-every $((STEPS / 6)) --save-every $((STEPS / 3)) --log-every 25 --baseline --seed 1 \
    > "$OUT/summary.tsv" 2> "$OUT/pretrain.log"
cat "$OUT/summary.tsv"

python3 - "$OUT/run/log.jsonl" <<'PYEOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in recs if r["type"] == "train"]
ev = [r for r in recs if r["type"] == "eval"]
print("\nloss curve (training, mean over the logged window):")
print("  step   epoch   loss    tokens/s")
for r in train[:: max(1, len(train) // 15)] + [train[-1]]:
    print(f"  {r['step']:5d}  {r['epoch']:6.2f}  {r['loss']:6.3f}  {r['tokens_per_s']:8.0f}")
print("\nheld-out masked genes:   loss    top-1   top-10   (baseline top-1  top-10)")
for r in ev:
    print(f"  step {r['step']:5d}       {r['val_loss']:6.3f}  {r['val_top1']:.4f}  {r['val_top10']:.4f}"
          f"    ({r['base_top1']:.4f}  {r['base_top10']:.4f})")
e = ev[-1]
ok = e["val_top1"] >= 1.2 * e["base_top1"] and e["val_top10"] >= 1.2 * e["base_top10"]
print(f"\nmodel top-1 {e['val_top1']:.4f} vs baseline {e['base_top1']:.4f} "
      f"({e['val_top1'] / e['base_top1']:.2f}x); top-10 {e['val_top10']:.4f} vs {e['base_top10']:.4f} "
      f"({e['val_top10'] / e['base_top10']:.2f}x): {'model beats the baseline' if ok else 'NOT better than the baseline'}")
print(f"elapsed {train[-1]['elapsed_s'] / 60:.1f} min, {train[-1]['tokens']} tokens")
sys.exit(0 if ok else 1)
PYEOF
