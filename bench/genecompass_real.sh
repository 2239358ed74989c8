#!/usr/bin/env bash
# GeneCompass on real data (the team's ../shared/data): a joint human + mouse vocabulary
# (every human folder + the mouse pancreas, BioMart one-to-one homologs), both species
# tokenized with values and merged, then three small GeneCompass models pretrained with the
# same steps, batch and seed:
#   full      values + four priors (co-expression from two human PBMC sets and a DoRothEA A-C
#             GRN prior built by `scfm priors build`, keyed by human Ensembl IDs; mouse-only
#             genes, promoter and gene family: seeded random vectors) + species row
#   ablation  the same architecture with values and priors off (species row kept)
#   mouse     the full configuration pretrained on the mouse cells only
# Reported: held-out masked-gene top-1 / top-10 and value MSE per species (full vs ablation),
# and cell-type fine-tuning on the mouse pancreas (same split and seed) from the full joint
# model vs the mouse-only model: accuracy and macro-F1 on the test cells.
#
#   bash bench/genecompass_real.sh        (make first; STEPS=600: about 15-25 minutes on 2 cores)
# Environment: OUT (default /tmp/scfm-genecompass-real), STEPS (600), MAX_LEN (256), BATCH (8),
# LR (1e-3), FT_EPOCHS (3), THREADS (2), SCFM_BIN, SCFM_SHARED_DATA. The data and prior steps are
# in bench/genecompass_common.sh (shared with bench/genecompass_priors.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/scfm-genecompass-real}
STEPS=${STEPS:-600}
BATCH=${BATCH:-8}
LR=${LR:-1e-3}
FT_EPOCHS=${FT_EPOCHS:-3}
. bench/genecompass_common.sh
gc_machine
gc_prepare
MODEL=(--config genecompass-small --vocab "$OUT/vocab/vocab.tsv" --set max_position_embeddings="$MAX_LEN" --seed 7)
"$BIN" model init "${MODEL[@]}" "${PRIORS[@]}" --homologs "$OUT/vocab/homologs.tsv" -o "$OUT/init_full" \
    > /dev/null 2> "$OUT/init_full.log"
"$BIN" model init "${MODEL[@]}" --set use_values=false --set use_promoter=false --set use_co_exp=false \
    --set use_gene_family=false --set use_peca_grn=false -o "$OUT/init_ablation" > /dev/null 2> /dev/null

PT=(--batch-size "$BATCH" --max-steps "$STEPS" --lr "$LR" --warmup-ratio 0.05 --eval-every "$STEPS"
    --log-every 50 --save-every "$STEPS" --val-fraction 0.05 --val-max-cells 500 --seed 11 --threads "$THREADS")
gc_pretrain full "$OUT/joint" "$OUT/init_full"
gc_pretrain ablation "$OUT/joint" "$OUT/init_ablation"
gc_pretrain mouse "$OUT/mm" "$OUT/init_full"

FT=(--label label --epochs "$FT_EPOCHS" --batch-size 8 --lr 1e-4 --warmup-steps 20 --seed 5 --threads "$THREADS")
for m in full mouse; do
    [ -f "$OUT/ft_$m/metrics.json" ] || "$BIN" finetune "$OUT/mm" -m "$OUT/$m/final" -o "$OUT/ft_$m" "${FT[@]}" \
        > "$OUT/ft_$m.out" 2> "$OUT/ft_$m.log"
done

"$PY" - "$OUT" "$STEPS" "$BATCH" "$MAX_LEN" <<'PY' | tee "$OUT/report.md"
import json, os, sys
out, steps, batch, L = sys.argv[1], *sys.argv[2:]
def last_eval(run):
    rows = [json.loads(l) for l in open(os.path.join(out, run, "log.jsonl"))]
    return [r for r in rows if r["type"] == "eval"][-1]
print("\n### GeneCompass-small on real data (%s steps, batch %s, %s genes per cell)\n" % (steps, batch, L))
print("| model | species | masked genes | top-1 | top-10 | value MSE |")
print("|---|---|---|---|---|---|")
for run, name in (("full", "values + priors + species row"), ("ablation", "values and priors off")):
    e = last_eval(run)
    for sp in ("human", "mouse"):
        mse = e.get(sp + "_value_mse")
        print("| %s | %s | %d | %.4f | %.4f | %s |" % (name, sp, e[sp + "_n_masked"], e[sp + "_top1"], e[sp + "_top10"],
              "%.4f" % mse if mse is not None else "-"))
print("\n| fine-tuned on mouse pancreas from | test accuracy | test macro-F1 |")
print("|---|---|---|")
for m, name in (("full", "joint human+mouse model"), ("mouse", "mouse-only model")):
    j = json.load(open(os.path.join(out, "ft_" + m, "metrics.json")))
    t = j.get("test", j)
    print("| %s | %.4f | %.4f |" % (name, t["accuracy"], t["macro_f1"]))
PY
