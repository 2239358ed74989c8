#!/usr/bin/env bash
# scfm perturb --cells: repeated filters combine (AND) and COL=V1,V2 takes any of the values
# (OR). 90 real PBMC cells written as an .h5ad with obs label and donor (d0/d1/d2), a tiny
# random model; the cells of --shifts must be exactly the cells (holding the deleted gene)
# whose label is B or MNP and whose donor is d1, computed independently with pandas (the
# deleted gene: the corpus's most frequent token).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
if ! "$BIN" --version 2>&1 | grep -qi "hdf5"; then echo "SKIP: built without HDF5"; exit 77; fi
"$PY" - "$D/human/pbmc4k_labeled" "$T" <<'PYEOF'
import sys, numpy as np, pandas as pd, scipy.io, anndata as ad
src, T = sys.argv[1:3]
X = scipy.io.mmread(f"{src}/matrix.mtx.gz").T.tocsr().astype(np.float32)[:90]
genes = pd.read_csv(f"{src}/genes.tsv", sep="\t", header=None)
cells = pd.read_csv(f"{src}/barcodes.tsv", sep="\t", header=None)[0].values[:90]
lab = pd.read_csv(f"{src}/labels.tsv", sep="\t")
lab = lab.set_index(lab.columns[0]).loc[cells, lab.columns[1]].values
obs = pd.DataFrame({"label": lab, "donor": [f"d{i % 3}" for i in range(90)]}, index=cells)
ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes[0].values)).write_h5ad(f"{T}/a.h5ad")
obs.to_csv(f"{T}/obs.tsv", sep="\t")
PYEOF
"$BIN" tokenize "$T/a.h5ad" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 64 --obs label --obs donor > /dev/null 2>&1
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 4 > /dev/null 2>&1
SCRIPTS=$(cd "$(dirname "$0")/../.." && pwd)/scripts
G=$("$PY" -c "
import sys, numpy as np; sys.path.insert(0, '$SCRIPTS')
from corpus_to_numpy import read_corpus
c = read_corpus('$T/c'); v = [l.split('\t')[0] for l in open('$T/c/vocab.tsv')]
print(v[int(np.bincount(c['tokens']).argmax())])")
"$BIN" perturb "$T/c" -m "$T/m" -o "$T/out.tsv" --delete --genes "$G" \
    --cells label=B,MNP --cells donor=d1 --shifts "$T/shifts.tsv" --threads 1 > /dev/null 2> "$T/err" \
    || { cat "$T/err"; exit 1; }
"$PY" - "$T" "$SCRIPTS" "$G" <<'PYEOF'
import csv, sys, pandas as pd
T, scripts, gene = sys.argv[1:4]
sys.path.insert(0, scripts)
from corpus_to_numpy import read_corpus
c = read_corpus(f"{T}/c")
vocab = [l.split("\t")[0] for l in open(f"{T}/c/vocab.tsv")]
obs = pd.read_csv(f"{T}/obs.tsv", sep="\t", index_col=0)
rows = list(csv.DictReader(open(f"{T}/shifts.tsv"), delimiter="\t"))
want = set()
for i, cid in enumerate(c["cell_ids"]):
    toks = c["tokens"][c["offsets"][i]:c["offsets"][i + 1]]
    if obs.loc[cid, "label"] in ("B", "MNP") and obs.loc[cid, "donor"] == "d1" and any(vocab[t] == gene for t in toks):
        want.add(cid)
got = {r["cell_id"] for r in rows}
print(f"--cells label=B,MNP --cells donor=d1: {len(got)} cells (expected {len(want)})")
assert want and got == want, (sorted(got), sorted(want))
PYEOF
# --mixture (Geneformer's mixture_model) over every gene of 30 cells, against scikit-learn's
# GaussianMixture started from the same exact 1-D 2-means split (then both run EM to tol 1e-10;
# reg_covar 1e-12, since the cosine shifts vary by about 1e-6)
"$BIN" perturb "$T/c" -m "$T/m" -o "$T/all.tsv" --delete --max-cells 30 --mixture "$T/mix.tsv" --mixture-reg 1e-12 \
    --threads 1 \
    > /dev/null 2> "$T/err" || { cat "$T/err"; exit 1; }
grep "mixture model" "$T/err"
"$PY" - "$T" <<'PYEOF'
import sys, numpy as np, pandas as pd
from sklearn.mixture import GaussianMixture
T = sys.argv[1]
st = pd.read_csv(f"{T}/all.tsv", sep="\t", keep_default_na=False)
mx = pd.read_csv(f"{T}/mix.tsv", sep="\t", keep_default_na=False)
assert list(mx.columns) == ["gene", "token_id", "name", "symbol", "n_cells", "mean_shift", "impact_prob", "impact"]
assert sorted(mx.gene) == sorted(st.gene) and len(mx) > 50, len(mx)
x = mx.mean_shift.values.astype(np.float64)
s = np.sort(x)
best, cut = np.inf, None
for k in range(1, len(s)):
    if s[k] == s[k - 1]:
        continue
    ss = ((s[:k] - s[:k].mean()) ** 2).sum() + ((s[k:] - s[k:].mean()) ** 2).sum()
    if ss < best:
        best, cut = ss, (s[k - 1] + s[k]) / 2
hard = x > cut
w0 = np.array([(~hard).mean(), hard.mean()])
m0 = np.array([x[~hard].mean(), x[hard].mean()])
v0 = np.array([x[~hard].var(), x[hard].var()]) + 1e-12
gm = GaussianMixture(2, tol=1e-10, max_iter=10000, reg_covar=1e-12, weights_init=w0, means_init=m0[:, None],
                     precisions_init=(1 / v0)[:, None, None]).fit(x[:, None])
impact = int(np.argmax(np.abs(gm.means_[:, 0] - 1)))  # no --goal: no effect = cosine 1
p = gm.predict_proba(x[:, None])[:, impact]
d = np.abs(p - mx.impact_prob.values).max()
print(f"mixture model vs sklearn GaussianMixture ({len(x)} genes): max |d impact_prob| = {d:.2e}; "
      f"{int((p > 0.5).sum())} genes in the impact component")
assert d < 1e-4, d
assert 0 < (p > 0.5).sum() < len(p), "the two components should split the genes"
assert ((mx.impact_prob.values > 0.5).astype(int) == mx.impact.values).all()
PYEOF
# a filter no cell passes names all of them
if "$BIN" perturb "$T/c" -m "$T/m" -o "$T/x.tsv" --delete --genes "$G" \
    --cells label=B --cells donor=nosuch > /dev/null 2> "$T/err"; then echo "expected failure"; exit 1; fi
grep -qF "no cell has label=B and donor=nosuch" "$T/err" || { cat "$T/err"; exit 1; }
echo ok
