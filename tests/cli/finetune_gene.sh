#!/usr/bin/env bash
# scfm finetune --gene-labels (token classification, loss only at labelled genes; the labelled
# genes are split, stratified by class, never the cells) and scfm predict on a gene classifier,
# on real PBMCs with a tiny model. Labels: the chromosome (chr1 / chr6 / chr19) of each gene
# from the Ensembl gene table, with versioned IDs. Checks the gene split (disjoint, stratified,
# each split's cells are the cells holding its genes), metrics.json against scikit-learn on the
# labelled test tokens, predict's per-gene and per-token tables, and transformers'
# BertForTokenClassification against the per-token probabilities. (Whether held-out genes
# score near chance with random labels: finetune_gene_split.sh.)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 genes/human_ensembl_genes.csv.gz human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
"$BIN" tokenize "$D/human/pbmc4k_labeled" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz \
    --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 48 \
    2> /dev/null > /dev/null
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 4 > /dev/null 2>&1
{ printf 'gene_id\tlabel\n'; zcat "$D/genes/human_ensembl_genes.csv.gz" | \
    awk -F, '$4 == "chr1" || $4 == "chr6" || $4 == "chr19" { print $1 "\t" $4 }'; } > "$T/genes.tsv"

"$BIN" finetune "$T/c" -m "$T/m" -o "$T/out" --gene-labels "$T/genes.tsv" --max-steps 80 --eval-every 40 \
    --batch-size 16 --lr 2e-3 --warmup-steps 5 --threads 1 > "$T/stdout" 2> "$T/stderr" || { cat "$T/stderr"; exit 1; }
cat "$T/stdout"
grep -q "^task	gene" "$T/stdout"
OMP_NUM_THREADS=1 "$BIN" predict "$T/c" -m "$T/out/best" -o "$T/genes_pred.tsv" > /dev/null 2>&1
OMP_NUM_THREADS=1 "$BIN" predict "$T/c" -m "$T/out/best" -o "$T/tok_pred.tsv" --per-token > /dev/null 2>&1

"$PY" - "$T" "$ROOT/scripts" <<'PYEOF'
import csv, json, sys
import numpy as np
from sklearn.metrics import accuracy_score, f1_score
T, scripts = sys.argv[1:3]
sys.path.insert(0, scripts)
from corpus_to_numpy import read_corpus
def tsv(p):
    rows = list(csv.reader(open(p), delimiter="\t"))
    return rows[0], rows[1:]
c = read_corpus(f"{T}/c")
vocab = [l.split("\t")[0] for l in open(f"{T}/c/vocab.tsv")]
tok = {t: i for i, t in enumerate(vocab)}
_, g = tsv(f"{T}/genes.tsv")
glab = {r[0].split(".")[0]: r[1] for r in g}
classes = ["chr1", "chr19", "chr6"]
m = json.load(open(f"{T}/out/metrics.json"))
assert m["task"] == "gene" and m["classes"] == classes, m["classes"]
h, split = tsv(f"{T}/out/split.tsv")
assert h == ["gene", "label", "split"], h
present = set(vocab[t] for t in np.unique(c["tokens"]))
gs = {r[0]: r[2] for r in split}
assert all(glab[r[0]] == r[1] for r in split)
assert {g for g in gs if gs[g] != "absent"} == {g for g in glab if g in present}   # labelled genes seen in cells
for k in classes:  # stratified: round(n * 0.1) validation and test genes per class
    n = sum(1 for g, s in gs.items() if s != "absent" and glab[g] == k)
    for part in ("val", "test"):
        got = sum(1 for g, s in gs.items() if s == part and glab[g] == k)
        assert abs(got - 0.1 * n) <= 1, (k, part, got, n)
test_genes = {g for g, s in gs.items() if s == "test"}
assert len(test_genes) == m["genes"]["n_test"] and test_genes.isdisjoint(g for g, s in gs.items() if s in ("train", "val"))
# test rows: every token of a test gene, in every cell, nothing else
h, rows = tsv(f"{T}/out/test_predictions.tsv")
assert h == ["cell_id", "gene", "position", "label", "predicted"] + ["prob_" + x for x in classes], h
index = {cid: i for i, cid in enumerate(c["cell_ids"])}
want = sum(vocab[t] in test_genes for t in c["tokens"])
test_cells = sum(any(vocab[t] in test_genes for t in c["tokens"][c["offsets"][i]:c["offsets"][i + 1]]) for i in range(len(index)))
assert len(rows) == want == m["n_test_samples"], (len(rows), want)
assert test_cells == m["n_test"], (test_cells, m["n_test"])
for r in rows:
    i = index[r[0]]
    assert vocab[c["tokens"][c["offsets"][i] + int(r[2])]] == r[1] and glab[r[1]] == r[3] and r[1] in test_genes, r
y, yp = [r[3] for r in rows], [r[4] for r in rows]
acc, mf1 = accuracy_score(y, yp), f1_score(y, yp, average="macro")
print(f"gene test accuracy {acc:.4f}, macro-F1 {mf1:.4f}; majority {max(y.count(k) for k in classes) / len(y):.4f}")
assert abs(acc - m["accuracy"]) < 1e-6 and abs(mf1 - m["macro_f1"]) < 1e-6
# predict: per-gene table (occurrence counts over the corpus) and per-token table
h, gp = tsv(f"{T}/genes_pred.tsv")
assert h == ["gene", "n", "predicted"] + ["prob_" + x for x in classes], h
counts = np.bincount(c["tokens"], minlength=len(vocab))
assert len(gp) == int((counts > 0).sum())
for r in gp:
    assert int(r[1]) == counts[tok[r[0]]], r
    p = np.array(r[3:], float)
    assert abs(p.sum() - 1) < 1e-5 and classes[int(p.argmax())] == r[2]
h, tp = tsv(f"{T}/tok_pred.tsv")
assert h == ["cell_id", "gene", "position", "predicted"] + ["prob_" + x for x in classes], h
assert len(tp) == len(c["tokens"])
per = {(r[0], int(r[2])): np.array(r[4:], float) for r in tp}
worst = max(np.abs(per[(r[0], int(r[2]))] - np.array(r[5:], float)).max() for r in rows)
assert worst < 1e-4, worst
import torch
from transformers import BertForTokenClassification
model = BertForTokenClassification.from_pretrained(f"{T}/out/best").eval()
worst = 0.0
for cid in c["cell_ids"][:4]:
    i = index[cid]
    ids = torch.tensor(c["tokens"][c["offsets"][i]:c["offsets"][i + 1]].astype(np.int64))[None]
    with torch.no_grad():
        p = torch.softmax(model(input_ids=ids).logits[0].double(), -1).numpy()
    for k in range(p.shape[0]):
        worst = max(worst, np.abs(p[k] - per[(cid, k)]).max())
print(f"transformers vs scfm predict --per-token: max |dp| = {worst:.2e}")
assert worst < 1e-4, worst
print("ok")
PYEOF
