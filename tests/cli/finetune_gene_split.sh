#!/usr/bin/env bash
# Gene classification holds out genes, not cells. On real PBMCs (tiny model): the 300 most
# frequent genes get random labels A / B (150 each, numpy seed 0). Scored on held-out genes a
# model cannot beat chance: with 90 test genes (45 per class, stratified) and predictions that
# cannot depend on the test labels, the number of correct genes is hypergeometric around 45
# with sd at most 4.8 (2 x hypergeometric sd), so accuracy per held-out gene must lie in
# [0.29, 0.71] (4 sd either side; the old cell
# split, with the same genes in training and test, scored 1.000). Also checks test_genes.tsv
# (mean probabilities over each gene's test tokens, numpy) and the per-gene metrics against
# scikit-learn, and --folds 3 over genes: the test genes of the folds partition the labelled
# genes, metrics.json's per-fold figures equal fold-K/metrics.json, mean and sd (ddof 1) numpy's.
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
    --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 48 \
    > /dev/null 2>&1
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 4 > /dev/null 2>&1
"$PY" - "$T" "$ROOT/scripts" <<'PYEOF'
import sys
import numpy as np
T, scripts = sys.argv[1:3]
sys.path.insert(0, scripts)
from corpus_to_numpy import read_corpus
c = read_corpus(f"{T}/c")
vocab = [l.split("\t")[0] for l in open(f"{T}/c/vocab.tsv")]
top = np.argsort(-np.bincount(c["tokens"], minlength=len(vocab)), kind="stable")[:300]
lab = np.random.default_rng(0).permutation(np.array(["A", "B"] * 150))
with open(f"{T}/random.tsv", "w") as f:
    f.write("gene_id\tlabel\n" + "".join(f"{vocab[t]}\t{l}\n" for t, l in zip(top, lab)))
PYEOF
COMMON=(-m "$T/m" --gene-labels "$T/random.tsv" --batch-size 16 --lr 2e-3 --warmup-steps 5 --threads 1)
"$BIN" finetune "$T/c" "${COMMON[@]}" -o "$T/out" --max-steps 80 --eval-every 40 --test-frac 0.3 \
    > "$T/stdout" 2> "$T/stderr" || { cat "$T/stderr"; exit 1; }
grep -E "^(genes_|test_)" "$T/stdout"
"$BIN" finetune "$T/c" "${COMMON[@]}" -o "$T/cv" --max-steps 20 --folds 3 > "$T/cv.stdout" 2> "$T/cv.stderr" \
    || { cat "$T/cv.stderr"; exit 1; }
grep -E "^(folds|test_)" "$T/cv.stdout"

"$PY" - "$T" <<'PYEOF'
import csv, json, sys
import numpy as np
from sklearn.metrics import accuracy_score, f1_score
T = sys.argv[1]
def tsv(p):
    rows = list(csv.reader(open(p), delimiter="\t"))
    return rows[0], rows[1:]
m = json.load(open(f"{T}/out/metrics.json"))
_, split = tsv(f"{T}/out/split.tsv")
test = {r[0] for r in split if r[2] == "test"}
train = {r[0] for r in split if r[2] == "train"}
assert len(test) == 90 and len(train) == 180 and not test & train, (len(test), len(train))
# per held-out gene: mean of its test-token probabilities, then argmax
_, rows = tsv(f"{T}/out/test_predictions.tsv")
agg = {}
for r in rows:
    assert r[1] in test, r
    agg.setdefault(r[1], []).append(np.array(r[5:], float))
h, genes = tsv(f"{T}/out/test_genes.tsv")
assert h == ["gene", "label", "n", "predicted", "prob_A", "prob_B"], h
assert {g[0] for g in genes} == set(agg) == test
for g in genes:
    p = np.mean(agg[g[0]], axis=0)
    assert int(g[2]) == len(agg[g[0]]) and np.abs(p - np.array(g[4:], float)).max() < 1e-5, g
    assert g[3] == "AB"[int(np.argmax(np.array(g[4:], float)))]
y, yp = [g[1] for g in genes], [g[3] for g in genes]
acc, f1 = accuracy_score(y, yp), f1_score(y, yp, average="macro")
pg = m["per_gene"]
assert pg["n"] == 90 and abs(pg["accuracy"] - acc) < 1e-9 and abs(pg["macro_f1"] - f1) < 1e-6, (pg, acc, f1)
print(f"random labels, 90 held-out genes: accuracy {acc:.3f}, macro-F1 {f1:.3f} (chance 0.5; bound [0.29, 0.71])")
assert 0.29 <= acc <= 0.71, acc
# folds over genes
cv = json.load(open(f"{T}/cv/metrics.json"))
assert cv["format"] == "scfm-finetune-cv" and cv["folds"] == 3 and len(cv["per_fold"]) == 3
seen = []
for k, pf in enumerate(cv["per_fold"], 1):
    fm = json.load(open(f"{T}/cv/fold-{k}/metrics.json"))
    for key in ("accuracy", "macro_f1"):
        assert abs(pf[key] - fm[key]) < 1e-8, (k, key)
    assert abs(pf["gene_accuracy"] - fm["per_gene"]["accuracy"]) < 1e-8
    _, s = tsv(f"{T}/cv/fold-{k}/split.tsv")
    seen.append({r[0] for r in s if r[2] == "test"})
    assert len(seen[-1]) == 100 and sum(1 for r in s if r[2] == "test" and r[1] == "A") == 50
assert set.union(*seen) == {r[0] for r in split if r[2] != "absent"} and sum(map(len, seen)) == 300
for key in ("accuracy", "macro_f1", "gene_accuracy"):
    v = np.array([pf[key] for pf in cv["per_fold"]])
    assert abs(cv["mean"][key] - v.mean()) < 1e-8 and abs(cv["sd"][key] - v.std(ddof=1)) < 1e-8, key
print("ok")
PYEOF
