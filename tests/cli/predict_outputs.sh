#!/usr/bin/env bash
# scfm predict picks its output format from the extension: .tsv (tab), .csv (comma), .h5ad
# (AnnData; also into a copy of the user's own .h5ad with --into) and refuses anything else.
# Real PBMCs: a user's .h5ad of 600 cells (CSR counts, obs label categorical + donor) is
# written with anndata; its first 500 cells are tokenized, a tiny classifier is fine-tuned and
# predicts. Checks, reading with anndata: the new .h5ad (obs names, scfm_prediction as a
# categorical equal to the TSV's predicted column, scfm_prediction_prob = max probability,
# obsm scfm_probs = the TSV's probabilities, uns scfm_probs_classes, the corpus's obs columns
# as categoricals); the copy (the user's X, var and obs kept, the 500 cells' predictions
# added, the other 100 missing: NaN and no category); CSV = TSV; refusals leave nothing.
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
import sys, numpy as np, pandas as pd, scipy.io, scipy.sparse as sp, anndata as ad
src, T = sys.argv[1:3]
X = scipy.io.mmread(f"{src}/matrix.mtx.gz").T.tocsr().astype(np.float32)[:600]
genes = pd.read_csv(f"{src}/genes.tsv", sep="\t", header=None)
cells = pd.read_csv(f"{src}/barcodes.tsv", sep="\t", header=None)[0].values[:600]
lab = pd.read_csv(f"{src}/labels.tsv", sep="\t")
lab = lab.set_index(lab.columns[0]).loc[cells, lab.columns[1]].values
obs = pd.DataFrame({"label": pd.Categorical(lab), "donor": [f"d{i % 3}" for i in range(600)]}, index=cells)
a = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes[0].values))
a.write_h5ad(f"{T}/user.h5ad")
a[:500].copy().write_h5ad(f"{T}/sub.h5ad")
a[100:].copy().write_h5ad(f"{T}/other.h5ad")
PYEOF
"$BIN" tokenize "$T/sub.h5ad" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz \
    --max-len 48 --obs label --obs donor > /dev/null 2>&1
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 4 > /dev/null 2>&1
"$BIN" finetune "$T/c" -m "$T/m" -o "$T/ft" --label label --max-steps 10 --batch-size 16 --lr 2e-3 --warmup-steps 2 \
    --threads 1 > /dev/null 2>&1
P=("$BIN" predict "$T/c" -m "$T/ft/best" --threads 1)
"${P[@]}" -o "$T/p.tsv" > /dev/null 2>&1
"${P[@]}" -o "$T/p.csv" > /dev/null 2>&1
"${P[@]}" -o "$T/new.h5ad" > "$T/stdout" 2>&1
"${P[@]}" -o "$T/into.h5ad" --into "$T/user.h5ad" > /dev/null 2>&1
fails() { # expected message, command...
    local msg=$1; shift
    if "$@" > "$T/err" 2>&1; then echo "expected failure: $*"; exit 1; fi
    grep -qF -- "$msg" "$T/err" || { echo "expected '$msg' in:"; cat "$T/err"; exit 1; }
}
fails "unknown output type (use .tsv, .csv or .h5ad)" "${P[@]}" -o "$T/p.xlsx"
fails "needs -o FILE.h5ad" "${P[@]}" -o "$T/q.tsv" --into "$T/user.h5ad"
fails "cells are not in its obs index" "${P[@]}" -o "$T/q.h5ad" --into "$T/other.h5ad"
ls "$T" | grep -E "^(p\.xlsx|q\.)" && { echo "a refused output was left behind"; exit 1; }
"$PY" - "$T" <<'PYEOF'
import csv, sys, numpy as np, pandas as pd, anndata as ad
T = sys.argv[1]
t = list(csv.reader(open(f"{T}/p.tsv"), delimiter="\t"))
assert list(csv.reader(open(f"{T}/p.csv"))) == t, "CSV differs from TSV"
head, rows = t[0], {r[0]: r for r in t[1:]}
classes = [h[5:] for h in head[2:]]
a = ad.read_h5ad(f"{T}/new.h5ad")
assert a.n_obs == 500 and set(a.obs_names) == set(rows)
assert isinstance(a.obs["scfm_prediction"].dtype, pd.CategoricalDtype)
assert isinstance(a.obs["label"].dtype, pd.CategoricalDtype) and isinstance(a.obs["donor"].dtype, pd.CategoricalDtype)
assert list(a.uns["scfm_probs_classes"]) == classes
P = np.array([[float(v) for v in rows[c][2:]] for c in a.obs_names])
assert np.abs(a.obsm["scfm_probs"] - P).max() < 1e-6
assert list(a.obs["scfm_prediction"].astype(str)) == [rows[c][1] for c in a.obs_names]
assert np.abs(a.obs["scfm_prediction_prob"].values - P.max(1)).max() < 1e-6
u, b = ad.read_h5ad(f"{T}/user.h5ad"), ad.read_h5ad(f"{T}/into.h5ad")
assert b.n_obs == 600 and list(b.obs_names) == list(u.obs_names) and list(b.var_names) == list(u.var_names)
assert (b.X != u.X).nnz == 0 and list(b.obs["label"]) == list(u.obs["label"]) and list(b.obs["donor"]) == list(u.obs["donor"])
have = b.obs_names[:500]
assert list(b.obs.loc[have, "scfm_prediction"].astype(str)) == [rows[c][1] for c in have]
Pb = b.obsm["scfm_probs"]
assert np.abs(Pb[:500] - np.array([[float(v) for v in rows[c][2:]] for c in have])).max() < 1e-6
assert np.isnan(Pb[500:]).all() and b.obs["scfm_prediction"][500:].isna().all() and b.obs["scfm_prediction_prob"][500:].isna().all()
print("predict outputs: tsv = csv; h5ad and copy of the user's h5ad read by anndata", ad.__version__)
PYEOF
echo ok
