#!/usr/bin/env bash
# scfm embed --summary/--summary-by (per-state mean and exact median over cells, Geneformer's
# summary_stat) and --into (embeddings into a copy of the user's .h5ad). 300 real PBMCs as an
# .h5ad (obs label), a tiny model. The summaries equal numpy's mean / median of the per-cell
# table, per label and over all cells; the copy read with anndata keeps the user's X and obs
# and holds obsm X_scfm equal to the per-cell table.
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
X = scipy.io.mmread(f"{src}/matrix.mtx.gz").T.tocsr().astype(np.float32)[:300]
genes = pd.read_csv(f"{src}/genes.tsv", sep="\t", header=None)
cells = pd.read_csv(f"{src}/barcodes.tsv", sep="\t", header=None)[0].values[:300]
lab = pd.read_csv(f"{src}/labels.tsv", sep="\t")
lab = lab.set_index(lab.columns[0]).loc[cells, lab.columns[1]].values
ad.AnnData(X=X, obs=pd.DataFrame({"label": pd.Categorical(lab)}, index=cells),
           var=pd.DataFrame(index=genes[0].values)).write_h5ad(f"{T}/user.h5ad")
PYEOF
"$BIN" tokenize "$T/user.h5ad" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 32 --obs label > /dev/null 2>&1
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 4 > /dev/null 2>&1
"$BIN" embed "$T/c" -m "$T/m" -o "$T/e.tsv" --summary "$T/s.tsv" --summary-by label --threads 1 > /dev/null 2>&1
"$BIN" embed "$T/c" -m "$T/m" -o "$T/into.h5ad" --into "$T/user.h5ad" --threads 1 > /dev/null 2>&1
if "$BIN" embed "$T/c" -m "$T/m" -o "$T/x.tsv" --summary "$T/s2.tsv" --summary-by nosuch > /dev/null 2> "$T/err"; then
    echo "expected failure"; exit 1; fi
grep -qF "no obs column 'nosuch'" "$T/err" && [ ! -e "$T/x.tsv" ] || { cat "$T/err"; exit 1; }
"$PY" - "$T" <<'PYEOF'
import sys, numpy as np, pandas as pd, anndata as ad
T = sys.argv[1]
e = pd.read_csv(f"{T}/e.tsv", sep="\t", index_col=0)
dims = [c for c in e.columns if c != "label"]
s = pd.read_csv(f"{T}/s.tsv", sep="\t", keep_default_na=False)
assert list(s.columns[:3]) == ["label", "stat", "n"]
groups = {"all": e} | {k: g for k, g in e.groupby("label")}
assert len(s) == 2 * len(groups), (len(s), len(groups))
worst = 0.0
for _, r in s.iterrows():
    g = groups[r["label"]][dims].values.astype(np.float64)
    want = g.mean(0) if r["stat"] == "mean" else np.median(g, 0)
    assert r["n"] == len(g)
    worst = max(worst, np.abs(r[dims].values.astype(np.float64) - want).max())
print(f"summaries ({len(groups)} states) vs numpy: max |diff| {worst:.2e}")
assert worst < 1e-6
u, b = ad.read_h5ad(f"{T}/user.h5ad"), ad.read_h5ad(f"{T}/into.h5ad")
assert list(b.obs_names) == list(u.obs_names) and (b.X != u.X).nnz == 0 and list(b.obs.label) == list(u.obs.label)
d = np.abs(b.obsm["X_scfm"] - e.loc[b.obs_names, dims].values).max()
assert d < 1e-6, d
print("embed --into: read by anndata", ad.__version__)
PYEOF
echo ok
