#!/usr/bin/env bash
# Do GeneCompass's prior-knowledge tables help? Measured on the team's data (../shared/data).
# The joint human + mouse vocabulary, corpora and prior tables of bench/genecompass_real.sh
# (bench/genecompass_common.sh: co-expression from two human PBMC sets and a DoRothEA A-C GRN
# prior, both built by `scfm priors build`), then two genecompass-small models pretrained with
# the same init seed, steps, batch, learning rate and data order (pretrain seed):
#   priors     values on + co-expression and GRN priors + species row (promoter and gene family
#              off: scfm has no real tables for them, random vectors would only add noise)
#   no-priors  values on, the four priors off, species row kept
# Reported per arm: held-out masked-gene top-1 / top-10 and value MSE per species (the eval of
# `scfm pretrain`), and `scfm grn` on the final checkpoint: the stimulated IFN-beta PBMCs
# (tokenized with the joint vocabulary and values), the TRRUST TFs they express most, each
# deleted in up to CELLS_PER_TF cells, scored against TRRUST (not DoRothEA: it built the GRN
# prior and `scfm grn` refuses to score a model against its own input); median precision@k,
# its random baseline k/n and median AUPRC. Controls: the two untrained starting points
# (randomly initialised models of the same shapes; the priors one carries the same tables).
#
#   bash bench/genecompass_priors.sh      (make first; defaults: about 25 minutes on 2 cores)
# Environment: OUT (/tmp/scfm-genecompass-priors; reuses what is there), STEPS (200), BATCH (8),
# LR (1e-3), TFS (20 TFs), CELLS_PER_TF (20), NULL (2 random genes per cell), ROUTE2_CELLS (300),
# CONTROLS (1: also score the untrained models), MAX_LEN, THREADS, SCFM_BIN, SCFM_SHARED_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/scfm-genecompass-priors}
STEPS=${STEPS:-200}
BATCH=${BATCH:-8}
LR=${LR:-1e-3}
TFS=${TFS:-20}
CELLS_PER_TF=${CELLS_PER_TF:-20}
NULL=${NULL:-2}
ROUTE2_CELLS=${ROUTE2_CELLS:-300}
CONTROLS=${CONTROLS:-1}
. bench/genecompass_common.sh
T0=$SECONDS
gc_machine
gc_prepare
echo "  data and priors: $((SECONDS - T0)) s wall"

MODEL=(--config genecompass-small --vocab "$OUT/vocab/vocab.tsv" --set max_position_embeddings="$MAX_LEN" --seed 7)
"$BIN" model init "${MODEL[@]}" "${PRIORS[@]}" --homologs "$OUT/vocab/homologs.tsv" --set use_promoter=false --set use_gene_family=false \
    -o "$OUT/init_priors" > /dev/null 2> "$OUT/init_priors.log"
"$BIN" model init "${MODEL[@]}" --set use_promoter=false --set use_co_exp=false --set use_gene_family=false \
    --set use_peca_grn=false -o "$OUT/init_nopriors" > /dev/null 2> "$OUT/init_nopriors.log"

PT=(--batch-size "$BATCH" --max-steps "$STEPS" --lr "$LR" --warmup-ratio 0.05 --eval-every "$STEPS"
    --log-every 50 --save-every "$STEPS" --val-fraction 0.05 --val-max-cells 500 --seed 11 --threads "$THREADS")
gc_pretrain priors "$OUT/joint" "$OUT/init_priors"
gc_pretrain nopriors "$OUT/joint" "$OUT/init_nopriors"

# GRN by in-silico deletion: stimulated IFN-beta PBMCs, TRRUST TFs, scored against TRRUST
[ -f "$OUT/ifnb/corpus.json" ] || "$BIN" tokenize "$D/human/pbmc_ifnb_stim" "${TOK[@]}" --gene-names "$HG" \
    --species human --obs label -o "$OUT/ifnb" 2> "$OUT/tok_ifnb.log"
ARMS=(priors nopriors)
[ "$CONTROLS" = 1 ] && ARMS+=(init_priors init_nopriors)
for arm in "${ARMS[@]}"; do
    m=$OUT/$arm/final
    case $arm in init_*) m=$OUT/$arm ;; esac
    [ -f "$OUT/grn_$arm.summary.json" ] && continue
    t0=$SECONDS
    "$BIN" grn "$OUT/ifnb" -m "$m" -o "$OUT/grn_$arm" --cells label=stim --network "$D/grn/trrust_human.tsv.gz" \
        --gene-names "$HG" --max-tfs "$TFS" --max-cells "$CELLS_PER_TF" --null-genes "$NULL" \
        --route2-cells "$ROUTE2_CELLS" --seed 1 --truncate --threads "$THREADS" > /dev/null 2> "$OUT/grn_$arm.log"
    echo "  grn $arm: $((SECONDS - t0)) s wall (load average now $(cut -d' ' -f1 /proc/loadavg))"
done
# the network behind the GRN prior must be refused as the reference (it would score the prior's own input)
if "$BIN" grn "$OUT/ifnb" -m "$OUT/priors/final" -o "$OUT/grn_dorothea" --cells label=stim --confidence A,B,C \
    --network "$D/grn/dorothea_human.tsv.gz" --gene-names "$HG" --max-tfs 1 --max-cells 1 --route2-cells 0 \
    > /dev/null 2> "$OUT/grn_dorothea.log"; then
    echo "  ERROR: scfm grn scored the priors model against DoRothEA, which built its GRN prior" >&2
    exit 1
fi
grep -q "was used to build the model's GRN prior" "$OUT/grn_dorothea.log" &&
    echo "  DoRothEA as the reference for the priors model: refused (it built the GRN prior), as it should be"
echo "  total: $((SECONDS - T0)) s wall; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" - "$OUT" "$STEPS" "$BATCH" "$MAX_LEN" "$TFS" "$CELLS_PER_TF" <<'PY' | tee "$OUT/report.md"
import json, os, sys
out, steps, batch, L, tfs, cpt = sys.argv[1], *sys.argv[2:]
def last_eval(run):
    p = os.path.join(out, run, "log.jsonl")
    if not os.path.exists(p):
        return None
    rows = [r for r in (json.loads(l) for l in open(p)) if r["type"] == "eval"]
    return rows[-1] if rows else None
def grn(arm):
    p = os.path.join(out, "grn_" + arm + ".summary.json")
    return json.load(open(p)) if os.path.exists(p) else None
def f(x, d=4):
    return "-" if x is None or x != x else "%.*f" % (d, x)
print("\n### GeneCompass-small, priors on vs off (%s steps of %s cells, %s genes per cell; "
      "grn: up to %s TRRUST TFs x %s stim IFN-beta PBMCs)\n" % (steps, batch, L, tfs, cpt))
print("| arm | species | masked genes | top-1 | top-10 | value MSE | TFs scored | median precision@k "
      "| baseline k/n | median AUPRC | emb. route AUPRC |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
names = (("priors", "values + co-exp + GRN priors + species row"), ("nopriors", "values, priors off, species row"),
         ("init_priors", "untrained, priors shape (control)"), ("init_nopriors", "untrained, no-priors shape (control)"))
for arm, name in names:
    e, g = last_eval(arm), grn(arm)
    if e is None and g is None:
        continue
    gs = ["-"] * 5
    if g:
        gs = [str(g["tfs_scored"]), f(g["median_precision_at_k"]), f(g["median_random_baseline"]), f(g["median_auprc"]),
              f(g.get("embedding_route", {}).get("auprc"))]
    for i, sp in enumerate(("human", "mouse")):
        ev = ["-"] * 4
        if e:
            ev = ["%d" % e[sp + "_n_masked"], f(e[sp + "_top1"]), f(e[sp + "_top10"]), f(e.get(sp + "_value_mse"))]
        print("| %s | %s | %s | %s |" % (name if i == 0 else "", sp, " | ".join(ev), " | ".join(gs if i == 0 else [""] * 5)))
PY
