#!/usr/bin/env bash
# scfm grn on real PBMCs (IFN-beta stimulated, Kang et al.) with a tiny random model:
#  - every TF-deletion mean cosine and cell count equals an independent reference
#    (transformers BertModel, last layer: each cell with and without the TF);
#  - precision@k and AUPRC per TF equal sklearn / numpy on the written ranking, the medians
#    equal numpy's; the embedding route's AUPRC equals sklearn on transformers' gene means;
#  - the network of the model's GRN prior is refused (report next to the model, or given),
#    unless --force; bad inputs give a clear message and leave no output.
set -euo pipefail
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
if [ ! -d "$D/human/pbmc_ifnb_stim" ]; then echo "SKIP: needs the team's real data: no shared data at $D"; exit 77; fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
NET=$D/grn/dorothea_human.tsv.gz

"$PY" - "$D/human/pbmc_ifnb_stim" "$T/in" <<'PY'
import os, sys
import scipy.io
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d)
cells = list(range(0, 2000, 50))  # 40 cells, ctrl and stim
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).tocsc()[:, cells]
scipy.io.mmwrite(os.path.join(d, "matrix.mtx"), X.tocoo(), field="integer")
open(os.path.join(d, "genes.tsv"), "w").write(open(os.path.join(src, "genes.tsv")).read())
bcs = open(os.path.join(src, "barcodes.tsv")).read().splitlines()
open(os.path.join(d, "barcodes.tsv"), "w").write("".join(bcs[c] + "\n" for c in cells))
lab = dict(l.split("\t") for l in open(os.path.join(src, "labels.tsv")).read().splitlines()[1:])
open(os.path.join(d, "labels.tsv"), "w").write("barcode\tlabel\n" + "".join("%s\t%s\n" % (bcs[c], lab[bcs[c]]) for c in cells))
PY
"$BIN" tokenize "$T/in" -o "$T/c" --vocab $V1/token_dictionary.pkl --medians $V1/gene_median_dictionary.pkl \
    --gene-names $V1/gene_name_id_dict.pkl --max-len 48 --obs label > /dev/null 2>&1
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 3 > /dev/null 2>&1

"$BIN" grn "$T/c" -m "$T/m" -o "$T/g" --network "$NET" --confidence A,B,C --gene-names $V1/gene_name_id_dict.pkl \
    --max-tfs 3 --min-tf-cells 3 --max-cells 1000 --null-genes 2 --route2-cells 40 > "$T/out" 2> "$T/log" \
    || { cat "$T/log"; exit 1; }
grep -q "^tfs	3$" "$T/out"

"$PY" - "$T" "$NET" <<'PY'
import sys, os, gzip, json, pickle
import numpy as np, torch
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
from transformers import BertModel
from sklearn.metrics import average_precision_score
T, net = sys.argv[1], sys.argv[2]
c = read_corpus(os.path.join(T, "c"))
vocab = [l.split("\t")[0] for l in open(os.path.join(T, "c", "vocab.tsv")).read().splitlines() if l]
tid = {t: i for i, t in enumerate(vocab)}
special = np.array([t.startswith("<") and t.endswith(">") for t in vocab])
m = BertModel.from_pretrained(os.path.join(T, "m"), add_pooling_layer=False).eval()
names = pickle.load(open(os.path.join(os.environ.get("SCFM_SHARED_DATA", "../shared/data"), "geneformer", "v1", "gene_name_id_dict.pkl"), "rb"))
edges = set()
for line in gzip.open(net, "rt").read().splitlines()[1:]:
    tf, conf, tg = line.split("\t")[:3]
    if conf in "ABC" and tf.upper() in names and tg.upper() in names:
        a, b = tid.get(names[tf.upper()]), tid.get(names[tg.upper()])
        if a is not None and b is not None and a != b:
            edges.add((a, b))
rows = [l.split("\t") for l in open(os.path.join(T, "g.targets.tsv")).read().splitlines()]
assert rows[0] == "tf tf_token rank target mean_cos n_cells z p fdr known".split(), rows[0]
rows = rows[1:]
ncell = c["offsets"].size - 1
cells = [c["tokens"][c["offsets"][i]:c["offsets"][i + 1]].astype(np.int64) for i in range(ncell)]
def last(ids):
    with torch.no_grad():
        return m(torch.tensor(ids)[None]).last_hidden_state[0].double().numpy()
base = [last(ids) for ids in cells]
def cos(x, y):
    return (x * y).sum(-1) / np.maximum(np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1), 1e-8)
worst, scores = 0, {}
for tf in sorted({int(r[1]) for r in rows}):
    acc = {}
    for i, ids in enumerate(cells):
        if tf not in ids:
            continue
        keep = ids != tf
        h = last(ids[keep])
        for q, (t, cv) in enumerate(zip(ids[keep], cos(h, base[i][keep]))):
            if not special[t]:
                acc.setdefault(int(t), []).append(cv)
    mine = [r for r in rows if int(r[1]) == tf]
    assert len(mine) == len(acc), (tf, len(mine), len(acc))
    for r in mine:
        t = tid[r[3]]
        assert int(r[5]) == len(acc[t]), (r, len(acc[t]))
        worst = max(worst, abs(float(r[4]) - np.mean(acc[t])))
        assert r[9] == ("1" if (tf, t) in edges else "0"), r
    mc = np.array([float(r[4]) for r in mine])
    assert np.all(np.diff(mc) >= 0), "not ranked by ascending mean cosine"
    lab = np.array([int(r[9]) for r in mine])
    k = int(lab.sum())
    if k:
        scores[tf] = (lab[:k].sum() / k, k / len(mine), average_precision_score(lab, 1 - mc))
print("largest |mean cosine - transformers| %.2e over %d rows" % (worst, len(rows)))
assert worst < 1e-4, worst
sc = [l.split("\t") for l in open(os.path.join(T, "g.scores.tsv")).read().splitlines()[1:]]
assert len(sc) == len(scores), (len(sc), len(scores))
for r in sc:
    p, b, ap = scores[int(r[1])]
    assert abs(float(r[5]) - p) < 1e-6 and abs(float(r[6]) - b) < 1e-6 and abs(float(r[7]) - ap) < 1e-6, (r, p, b, ap)
s = json.load(open(os.path.join(T, "g.summary.json")))
if scores:
    v = np.array(list(scores.values()))
    assert abs(s["median_precision_at_k"] - np.median(v[:, 0])) < 1e-6
    assert abs(s["median_random_baseline"] - np.median(v[:, 1])) < 1e-6
    assert abs(s["median_auprc"] - np.median(v[:, 2])) < 1e-6
# embedding route: gene means over the 40 cells at the last layer
gs, gc = {}, {}
for ids, h in zip(cells, base):
    for t, row in zip(ids, h):
        if not special[t]:
            gs[int(t)] = gs.get(int(t), 0) + row
            gc[int(t)] = gc.get(int(t), 0) + 1
genes = sorted(gs)
E = np.array([gs[t] / gc[t] for t in genes])
tfs = {a for a, b in edges}
sc2, lb2 = [], []
for i, a in enumerate(genes):
    if a not in tfs:
        continue
    cv = cos(E[i][None], E)
    for j, b in enumerate(genes):
        if j != i:
            sc2.append(cv[j]); lb2.append((a, b) in edges)
er = s["embedding_route"]
assert er["edges_scored"] == len(sc2) and er["known_edges"] == sum(lb2), (er, len(sc2), sum(lb2))
ap2 = average_precision_score(lb2, sc2)
assert abs(er["auprc"] - ap2) < 1e-4, (er["auprc"], ap2)
print("TFs scored %d, embedding route AUPRC %.4f (sklearn %.4f)" % (len(scores), er["auprc"], ap2))
PY
[ "$(head -1 "$T/g.edges.tsv")" = "$(printf 'TF\ttarget\tscore')" ]

# the network of the model's GRN prior is refused
printf 'tf\ttarget\nSTAT1\tIRF1\nIRF1\tSTAT1\nSTAT1\tGBP1\n' > "$T/net.tsv"
"$BIN" priors build grn "$T/net.tsv" --gene-names $V1/gene_name_id_dict.pkl -o "$T/prior" --dim 4 --epochs 1 2> /dev/null
fails() { # expected-message args...
    local msg=$1
    shift
    rm -f "$T"/o.*
    if "$BIN" grn "$@" > "$T/out" 2> "$T/err"; then echo "FAIL: succeeded: grn $*"; exit 1; fi
    if ! grep -q -- "$msg" "$T/err"; then echo "FAIL: grn $*: message lacks '$msg':"; cat "$T/err"; exit 1; fi
    if ls "$T"/o.* > /dev/null 2>&1; then echo "FAIL: grn $*: left an output file"; exit 1; fi
}
G=(--gene-names $V1/gene_name_id_dict.pkl --min-tf-cells 1 --max-cells 3 --route2-cells 0)
fails "used to build the model's GRN prior" "$T/c" -m "$T/m" -o "$T/o" --network "$T/net.tsv" --prior-report "$T/prior.json" "${G[@]}"
cp -r "$T/m" "$T/m2"
cp "$T/prior.json" "$T/m2/prior_grn.json"
fails "used to build the model's GRN prior" "$T/c" -m "$T/m2" -o "$T/o" --network "$T/net.tsv" "${G[@]}"
"$BIN" grn "$T/c" -m "$T/m2" -o "$T/o" --network "$T/net.tsv" --force "${G[@]}" > /dev/null 2> "$T/err" \
    || { cat "$T/err"; exit 1; }
grep -q "scoring anyway" "$T/err"
# another network is fine with that model
"$BIN" grn "$T/c" -m "$T/m2" -o "$T/o" --network "$NET" --confidence A --max-tfs 1 "${G[@]}" > /dev/null 2>&1
rm -f "$T"/o.*
fails "which TFs" "$T/c" -m "$T/m" -o "$T/o"
fails "unknown gene 'NOTAGENE'" "$T/c" -m "$T/m" -o "$T/o" --tfs NOTAGENE "${G[@]}"
fails "--tfs: no gene in ',,'" "$T/c" -m "$T/m" -o "$T/o" --tfs ,, "${G[@]}"
fails "no TF column" "$T/c" -m "$T/m" -o "$T/o" --network "$T/in/labels.tsv" "${G[@]}"
fails "no obs column 'nope'" "$T/c" -m "$T/m" -o "$T/o" --tfs STAT1 --cells nope=x "${G[@]}"
fails "layer 9 out of range" "$T/c" -m "$T/m" -o "$T/o" --tfs STAT1 --layer 9 "${G[@]}"
fails "no TF of the network is expressed" "$T/c" -m "$T/m" -o "$T/o" --network "$T/net.tsv" --force --min-tf-cells 1000 \
    --gene-names $V1/gene_name_id_dict.pkl
echo "grn reference: ok"
