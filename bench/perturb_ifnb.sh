#!/usr/bin/env bash
# Real-data in-silico deletion experiment (run by hand, not in CI):
#   Kang et al. 2018 PBMCs (../shared/data/human/pbmc_ifnb_stim, labels ctrl / stim), tokenized
#   with the Geneformer V1 dictionaries (--max-len 256). Start state stim, goal state ctrl.
#   Delete interferon-stimulated genes (ISG15, IFI6, IFIT1, MX1, and IFIT3, ISG20, IFITM3 when
#   expressed) one at a time, against a null run of random expressed genes deleted the same
#   way; report per gene the mean shift toward ctrl, the Mann-Whitney p vs the null, BH FDR,
#   and whether the interferon genes move stim cells toward ctrl more than random genes do.
#
# Environment: MODEL (default /tmp/scfm-pretrain-real/run/final; when missing, a random tiny
# model is used and the table is only a smoke test), SCFM_BIN (build/scfm), SCFM_PYTHON
# (.venv/bin/python), SCFM_SHARED_DATA (../shared/data), WORK (/tmp/perturb-ifnb), CELLS (400
# stim cells), NULL (20 null genes per cell), THREADS (2), SEED (1), SYMBOLS (the genes to
# delete, default the interferon list; e.g. SYMBOLS=FTH1,FTL,B2M,TMSB4X,ACTB,TPT1 for the
# housekeeping-gene control reported in the README).
set -euo pipefail
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
WORK=${WORK:-/tmp/perturb-ifnb}
MODEL=${MODEL:-/tmp/scfm-pretrain-real/run/final}
CELLS=${CELLS:-400}
NULL=${NULL:-20}
THREADS=${THREADS:-2}
SEED=${SEED:-1}
V1=$D/geneformer/v1
mkdir -p "$WORK"
C=$WORK/corpus
if [ ! -f "$C/corpus.json" ]; then
    "$BIN" tokenize "$D/human/pbmc_ifnb_stim" -o "$C" --vocab $V1/token_dictionary.tsv.gz \
        --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 256 \
        --obs label --threads "$THREADS" > /dev/null 2> "$WORK/tokenize.log"
fi
if [ ! -f "$MODEL/config.json" ]; then
    echo "note: $MODEL not found: using a RANDOM tiny model (smoke test only, shifts mean nothing)"
    MODEL=$WORK/random-tiny
    [ -f "$MODEL/config.json" ] || "$BIN" model init --config tiny --vocab "$C/vocab.tsv" -o "$MODEL" --seed 1 > /dev/null 2>&1
fi

# the listed genes the stim cells express (in at least 10 of them)
SYMBOLS=${SYMBOLS:-ISG15,IFI6,IFIT1,MX1,IFIT3,ISG20,IFITM3}
GENES=$("$PY" - "$C" "$V1/gene_name_id_dict.tsv.gz" "$SYMBOLS" <<'PY'
import sys, gzip
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
c = read_corpus(sys.argv[1])
vocab = {l.split("\t")[0]: i for i, l in enumerate(open(sys.argv[1] + "/vocab.tsv").read().splitlines()) if l}
ids = {}
for l in gzip.open(sys.argv[2], "rt"):
    s, e = l.rstrip("\n").split("\t")[:2]
    ids.setdefault(s.strip().upper(), e.strip().upper())
stim = [i for i, x in enumerate(c["obs"]["label"]) if x == "stim"]
keep = []
for g in sys.argv[3].split(","):
    t = vocab.get(ids.get(g, ""), -1)
    n = sum(t in set(c["tokens"][c["offsets"][i]:c["offsets"][i + 1]].tolist()) for i in stim) if t >= 0 else 0
    if n >= 10:
        keep.append(g)
    else:
        print("note: %s is expressed in %d stim cells: left out" % (g, n), file=sys.stderr)
print(",".join(keep))
PY
)
echo "model: $MODEL"
echo "genes: $GENES; start stim (first $CELLS cells), goal ctrl (200 cells), null: $NULL random expressed genes per cell (seed $SEED)"
t0=$(date +%s)
"$BIN" perturb "$C" -m "$MODEL" -o "$WORK/result.tsv" --delete --genes "$GENES" --gene-names $V1/gene_name_id_dict.tsv.gz \
    --cells label=stim --goal label=ctrl --max-cells "$CELLS" --null-genes "$NULL" --seed "$SEED" \
    --shifts "$WORK/shifts.tsv" --threads "$THREADS" > "$WORK/perturb.out" 2> "$WORK/perturb.log"
t1=$(date +%s)
cat "$WORK/perturb.out"
echo "wall: $((t1 - t0)) s"
"$PY" - "$WORK" <<'PY'
import sys, os
import numpy as np
W = sys.argv[1]
rows = [l.split("\t") for l in open(os.path.join(W, "result.tsv")).read().splitlines()]
h = rows[0]
sh = [l.split("\t") for l in open(os.path.join(W, "shifts.tsv")).read().splitlines()[1:]]
null = np.array([float(r[5]) for r in sh if r[4] == "1"])
print()
print("%-8s %-16s %7s %12s %8s %10s %10s %s" % ("gene", "ensembl", "cells", "shift->ctrl", "z", "p", "fdr", "vs null"))
up = 0
for r in rows[1:]:
    d = dict(zip(h, r))
    better = float(d["mean_shift"]) > null.mean() and float(d["fdr"]) < 0.05 and float(d["z"]) > 0
    up += better
    print("%-8s %-16s %7s %12.3e %8.2f %10.3g %10.3g %s" % (d["name"], d["gene"], d["n_cells"], float(d["mean_shift"]),
          float(d["z"]), float(d["p"]), float(d["fdr"]), "toward ctrl more (FDR<0.05)" if better else "-"))
print("%-8s %-16s %7d %12.3e   (median %.3e, sd %.3e)" % ("null", "random genes", len(null), null.mean(), np.median(null), null.std()))
print()
print("listed genes shifting stim cells toward ctrl more than random genes (FDR < 0.05): %d of %d" % (up, len(rows) - 1))
PY
