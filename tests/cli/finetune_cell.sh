#!/usr/bin/env bash
# scfm finetune (cell classification) and scfm predict end to end on real labelled PBMCs
# (human/pbmc4k_labeled, V1 vocabulary, cells cut to 64 tokens) with a tiny model:
# output layout, metrics.json against scikit-learn on test_predictions.tsv, confusion matrix,
# stratified split, accuracy above the majority-class share, predict reproduces the test
# predictions, and transformers' BertForSequenceClassification gives the same probabilities.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
"$BIN" tokenize "$D/human/pbmc4k_labeled" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz \
    --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 64 \
    --obs label 2> /dev/null > /dev/null
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 3 > /dev/null 2>&1

"$BIN" finetune "$T/c" -m "$T/m" -o "$T/out" --label label --drop-label '?' --max-steps 120 --eval-every 40 \
    --batch-size 16 --lr 1e-3 --warmup-steps 10 --seed 5 --threads 1 > "$T/stdout" 2> "$T/stderr" \
    || { cat "$T/stderr"; exit 1; }
cat "$T/stdout"
for f in best/config.json best/model.safetensors best/vocab.tsv metrics.json confusion.tsv test_predictions.tsv \
         split.tsv log.jsonl; do
    [ -s "$T/out/$f" ] || { echo "missing $f"; exit 1; }
done
ls "$T" | grep -q 'out\.tmp' && { echo "temporary directory left"; exit 1; }
cmp "$T/out/best/vocab.tsv" "$T/c/vocab.tsv"
grep -q "cells/s" "$T/stderr" && grep -q "ETA" "$T/stderr" && grep -q "validation loss" "$T/stderr"
grep -q "^test_accuracy" "$T/stdout" && grep -q "^test_macro_f1" "$T/stdout"

OMP_NUM_THREADS=1 "$BIN" predict "$T/c" -m "$T/out/best" -o "$T/pred.tsv" > /dev/null 2> "$T/perr" \
    || { cat "$T/perr"; exit 1; }

"$PY" - "$T/out" "$T/c" "$T/pred.tsv" "$ROOT/scripts" <<'PYEOF'
import csv, json, math, sys
import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support, confusion_matrix
out, corpus, pred_path, scripts = sys.argv[1:5]
sys.path.insert(0, scripts)
from corpus_to_numpy import read_corpus

def tsv(path):
    with open(path) as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[0], rows[1:]

m = json.load(open(f"{out}/metrics.json"))
classes = m["classes"]
assert classes == ["B", "MNP", "NK", "T_CD4", "T_CD8"], classes
c = read_corpus(corpus)
label_of = dict(zip(c["cell_ids"], c["obs"]["label"]))

# split: every cell once; '?' excluded; sizes as reported; stratified about 80/10/10
h, split = tsv(f"{out}/split.tsv")
assert h == ["cell_id", "split"] and len(split) == len(c["cell_ids"])
sp = {r[0]: r[1] for r in split}
assert all((sp[k] == "excluded") == (label_of[k] == "?") for k in sp)
for s, key in (("train", "n_train"), ("val", "n_val"), ("test", "n_test")):
    assert sum(v == s for v in sp.values()) == m[key], (s, m[key])
for cl in classes:
    n = sum(label_of[k] == cl for k in sp)
    nt = sum(label_of[k] == cl and sp[k] == "test" for k in sp)
    assert abs(nt - round(0.1 * n)) <= 1, (cl, n, nt)

# test predictions: one row per test cell, true labels from the corpus, probabilities sum to 1
h, rows = tsv(f"{out}/test_predictions.tsv")
assert h == ["cell_id", "label", "predicted"] + ["prob_" + x for x in classes], h
assert sorted(r[0] for r in rows) == sorted(k for k in sp if sp[k] == "test")
y = [r[1] for r in rows]
yp = [r[2] for r in rows]
P = np.array([[float(v) for v in r[3:]] for r in rows])
assert all(label_of[r[0]] == r[1] for r in rows)
assert np.allclose(P.sum(1), 1, atol=1e-5)
assert all(classes[int(np.argmax(p))] == r[2] for p, r in zip(P, rows))

# metrics.json against scikit-learn
acc, mf1 = accuracy_score(y, yp), f1_score(y, yp, average="macro")
print(f"test accuracy {acc:.4f} macro-F1 {mf1:.4f} (metrics.json {m['accuracy']:.4f} {m['macro_f1']:.4f})")
assert abs(acc - m["accuracy"]) < 1e-6 and abs(mf1 - m["macro_f1"]) < 1e-6
pr, rc, f1, sup = precision_recall_fscore_support(y, yp, labels=classes, zero_division=0)
for i, cl in enumerate(classes):
    pc = m["per_class"][cl]
    assert abs(pc["precision"] - pr[i]) < 1e-6 and abs(pc["recall"] - rc[i]) < 1e-6 and abs(pc["f1"] - f1[i]) < 1e-6
    assert pc["support"] == sup[i]
loss = -np.mean([math.log(P[i, classes.index(t)]) for i, t in enumerate(y)])
assert abs(loss - m["loss"]) < 1e-3, (loss, m["loss"])
h, cm = tsv(f"{out}/confusion.tsv")
assert h[1:] == classes and [r[0] for r in cm] == classes
assert (np.array([[int(v) for v in r[1:]] for r in cm]) == confusion_matrix(y, yp, labels=classes)).all()
majority = max(y.count(cl) for cl in classes) / len(y)
assert acc > majority + 0.1, (acc, majority)

# log: evaluations at 40, 80, 120; best step is the best validation macro-F1
log = [json.loads(l) for l in open(f"{out}/log.jsonl")]
ev = [r for r in log if r["type"] == "eval"]
assert [r["step"] for r in ev] == [40, 80, 120], ev
best = max(ev, key=lambda r: r["val_macro_f1"])
assert m["validation"]["best_step"] == best["step"] and abs(m["validation"]["macro_f1"] - best["val_macro_f1"]) < 1e-9
tr = [r for r in log if r["type"] == "train"]
assert tr[-1]["loss"] < tr[0]["loss"], (tr[0], tr[-1])

# predict: one row per cell, probabilities sum to 1, the test cells as in test_predictions
h, pred = tsv(pred_path)
assert h == ["cell_id", "predicted"] + ["prob_" + x for x in classes], h
assert [r[0] for r in pred] and sorted(r[0] for r in pred) == sorted(c["cell_ids"])
Q = {r[0]: np.array([float(v) for v in r[2:]]) for r in pred}
assert all(abs(q.sum() - 1) < 1e-5 for q in Q.values())
dmax = max(np.abs(Q[r[0]] - P[i]).max() for i, r in enumerate(rows))
assert dmax < 1e-4, dmax
assert all(dict((r[0], r[1]) for r in pred)[r[0]] == r[2] for i, r in enumerate(rows) if np.sort(P[i])[-1] - np.sort(P[i])[-2] > 1e-3)

# transformers reads OUT/best and gives the same probabilities on a few test cells
import torch
from transformers import BertForSequenceClassification
model = BertForSequenceClassification.from_pretrained(f"{out}/best").eval()
assert model.config.id2label == {i: x for i, x in enumerate(classes)}
index = {cid: i for i, cid in enumerate(c["cell_ids"])}
worst = 0.0
for r in rows[:8]:
    i = index[r[0]]
    ids = torch.tensor(c["tokens"][c["offsets"][i]:c["offsets"][i + 1]].astype(np.int64))[None]
    with torch.no_grad():
        p = torch.softmax(model(input_ids=ids).logits[0].double(), -1).numpy()
    worst = max(worst, np.abs(p - Q[r[0]]).max())
print(f"transformers vs scfm predict: max |dp| = {worst:.2e}")
assert worst < 1e-4, worst
print("ok")
PYEOF
