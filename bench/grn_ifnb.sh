#!/usr/bin/env bash
# GRN inference by in-silico deletion on real data (run by hand, not in CI):
#   Kang et al. 2018 IFN-beta-stimulated PBMCs (../shared/data/human/pbmc_ifnb_stim), the
#   stimulated cells, tokenized with the Geneformer V1 dictionaries (--max-len 256); the TFs of
#   DoRothEA (confidence A-C) that the most stim cells express; each TF deleted in up to
#   MAX_CELLS cells expressing it; targets ranked by mean cosine of token states (last layer);
#   per TF precision@k (k = known DoRothEA targets among the scored genes) against its random
#   baseline k/n, AUPRC; the median over TFs; the gene-embedding route (TF x gene cosine of
#   gene embeddings averaged over cells, AUPRC). The same for a randomly initialised model of
#   the same shape (the control).
#
#   bash bench/grn_ifnb.sh           (make first; MODEL from bench/pretrain_real.sh)
# Environment: MODEL (a checkpoint, default /tmp/scfm-pretrain-real/run/final), WORK
# (/tmp/grn-ifnb), TFS (10), MAX_CELLS (30 per TF), NULL (2 random genes per cell),
# ROUTE2_CELLS (300), CELLS (label=stim), THREADS (2), SEED (1), SCFM_BIN, SCFM_SHARED_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
WORK=${WORK:-/tmp/grn-ifnb}
MODEL=${MODEL:-/tmp/scfm-pretrain-real/run/final}
TFS=${TFS:-10}
MAX_CELLS=${MAX_CELLS:-30}
NULL=${NULL:-2}
ROUTE2_CELLS=${ROUTE2_CELLS:-300}
CELLS=${CELLS:-label=stim}
THREADS=${THREADS:-2}
SEED=${SEED:-1}
V1=$D/geneformer/v1
if [ ! -f "$MODEL/config.json" ]; then
    echo "no checkpoint at $MODEL: run bench/pretrain_real.sh first, or set MODEL" >&2
    exit 1
fi
mkdir -p "$WORK"
C=$WORK/corpus
if [ ! -f "$C/corpus.json" ]; then
    "$BIN" tokenize "$D/human/pbmc_ifnb_stim" -o "$C" --vocab $V1/token_dictionary.tsv.gz \
        --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 256 \
        --obs label --threads "$THREADS" > /dev/null 2> "$WORK/tokenize.log"
fi
RANDOM_MODEL=$WORK/random-same-shape
rm -rf "$RANDOM_MODEL"
"$BIN" model init --config "$MODEL/config.json" --vocab "$C/vocab.tsv" -o "$RANDOM_MODEL" --seed "$SEED" > /dev/null 2>&1
export OMP_NUM_THREADS=$THREADS
for which in pretrained random; do
    m=$MODEL
    [ $which = random ] && m=$RANDOM_MODEL
    /usr/bin/time -f "%e s wall, %U s user" -o "$WORK/$which.time" \
        "$BIN" grn "$C" -m "$m" -o "$WORK/$which" --cells "$CELLS" --network "$D/grn/dorothea_human.tsv.gz" \
        --confidence A,B,C --gene-names $V1/gene_name_id_dict.tsv.gz --max-tfs "$TFS" --max-cells "$MAX_CELLS" \
        --null-genes "$NULL" --route2-cells "$ROUTE2_CELLS" --seed "$SEED" --truncate > "$WORK/$which.out" 2> "$WORK/$which.log"
done
python3 - "$WORK" "$MODEL" <<'PY'
import json, os, sys
w, model = sys.argv[1], sys.argv[2]
print("model: %s (and a random model of the same shape)" % model)
print("%-10s %4s %14s %10s %12s %14s %14s %10s" % ("model", "TFs", "median p@k", "random", "median AUPRC",
      "emb. AUPRC", "emb. top-k prec", "random"))
for which in ("pretrained", "random"):
    s = json.load(open(os.path.join(w, which + ".summary.json")))
    e = s.get("embedding_route", {})
    print("%-10s %4d %14.4f %10.4f %12.4f %14.4f %14.4f %10.4f" % (which, s["tfs_scored"], s["median_precision_at_k"],
          s["median_random_baseline"], s["median_auprc"], e.get("auprc", float("nan")),
          e.get("top_edges_precision", float("nan")), e.get("random_baseline", float("nan"))))
    print("           time: %s" % open(os.path.join(w, which + ".time")).read().strip())
PY
