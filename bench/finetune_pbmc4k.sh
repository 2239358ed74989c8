#!/usr/bin/env bash
# Cell-type classification on real PBMCs (../shared/data/human/pbmc4k_labeled, cells labelled
# '?' dropped; 80/10/10 stratified split, seed 1): test accuracy and macro-F1 of
#   - the model fine-tuned from a pretrained checkpoint ($MODEL),
#   - the same architecture fine-tuned from random initialization,
#   - a logistic regression on log-normalized counts (log1p(counts / total * 1e4), sklearn),
# each with all training labels and with 10% of them (stratified). All use the same split:
# the split scfm writes (split.tsv) is given to the logistic regression.
#   bash bench/finetune_pbmc4k.sh        (MODEL defaults to the run of bench/pretrain_real.sh)
# Environment: MODEL, OUT (default /tmp/scfm-finetune-pbmc4k), EPOCHS (5), LR (5e-4), MAX_LEN
# (256, as the pretraining corpus), SCFM_BIN, SCFM_PYTHON, SCFM_SHARED_DATA, THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
MODEL=${MODEL:-/tmp/scfm-pretrain-real/run/final}
OUT=${OUT:-/tmp/scfm-finetune-pbmc4k}
EPOCHS=${EPOCHS:-5}
LR=${LR:-5e-4}
MAX_LEN=${MAX_LEN:-256}
export OMP_NUM_THREADS=${THREADS:-2}
V1=$D/geneformer/v1
mkdir -p "$OUT"
"$BIN" tokenize "$D/human/pbmc4k_labeled" -o "$OUT/corpus" --force --obs label --max-len "$MAX_LEN" \
    --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz 2> "$OUT/tokenize.log"
COMMON=(--label label --drop-label '?' --epochs "$EPOCHS" --batch-size 16 --lr "$LR" --warmup-steps 50
        --patience 3 --seed 1 --force)
run() { # name, extra args...
    local name=$1; shift
    local t0=$SECONDS
    "$BIN" finetune "$OUT/corpus" -m "$MODEL" -o "$OUT/$name" "${COMMON[@]}" "$@" > "$OUT/$name.out" 2> "$OUT/$name.log"
    echo "$name: $((SECONDS - t0)) s" >&2
}
run pretrained
run random --random-init
run pretrained_10pct --train-fraction 0.1
run random_10pct --random-init --train-fraction 0.1

"$PY" - "$OUT" "$D/human/pbmc4k_labeled" <<'PYEOF'
import json, sys, gzip, os
import numpy as np
import scipy.io, scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
out, data = sys.argv[1], sys.argv[2]
X = scipy.io.mmread(os.path.join(data, "matrix.mtx.gz")).tocsr().T.tocsr().astype(np.float64)  # cells x genes
bc = [l.rstrip("\n").split("\t")[0] for l in open(os.path.join(data, "barcodes.tsv"))]
lab = dict(l.rstrip("\n").split("\t")[:2] for l in open(os.path.join(data, "labels.tsv")))
tot = np.asarray(X.sum(1)).ravel()
Xn = sp.diags(1e4 / np.maximum(tot, 1)) @ X
Xn.data = np.log1p(Xn.data)
row = {b: i for i, b in enumerate(bc)}
def lr_eval(split_file):
    sp_ = [l.rstrip("\n").split("\t") for l in open(split_file)][1:]
    tr = [(row[c], lab[c]) for c, s in sp_ if s == "train"]
    te = [(row[c], lab[c]) for c, s in sp_ if s == "test"]
    clf = LogisticRegression(max_iter=2000, C=1.0)
    clf.fit(Xn[[i for i, _ in tr]], [y for _, y in tr])
    pred = clf.predict(Xn[[i for i, _ in te]])
    truth = [y for _, y in te]
    return accuracy_score(truth, pred), f1_score(truth, pred, average="macro"), len(tr), len(te)
rows = []
for name, desc in [("pretrained", "fine-tuned from pretrained"), ("random", "fine-tuned from random init")]:
    for suffix, frac in [("", "100%"), ("_10pct", "10%")]:
        m = json.load(open(os.path.join(out, name + suffix, "metrics.json")))
        t = m.get("test", m)
        rows.append((desc, frac, t["accuracy"], t["macro_f1"], m.get("n_train", m.get("split", {}).get("train", "?"))))
for suffix, frac in [("", "100%"), ("_10pct", "10%")]:
    acc, f1, ntr, nte = lr_eval(os.path.join(out, "pretrained" + suffix, "split.tsv"))
    rows.append(("logistic regression, log-normalized counts", frac, acc, f1, ntr))
print("| model | training labels | test accuracy | test macro-F1 | training cells |")
print("|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]} |")
PYEOF
