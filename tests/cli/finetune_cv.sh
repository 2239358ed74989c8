#!/usr/bin/env bash
# scfm finetune --folds, --group-column, --min-class-fraction, --max-cells-per-class on 600
# real PBMCs (an .h5ad with obs label and donor d0..d5), a tiny model, a few steps each.
# Checked independently with pandas/numpy: the folds' test cells partition the labelled cells
# and are stratified (per class, fold sizes differ by at most one); metrics.json's mean and sd
# (ddof 1) of the folds; every donor wholly in one split, with and without folds; classes
# below the fraction left out (and gone from id2label); at most N cells per class kept.
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
X = scipy.io.mmread(f"{src}/matrix.mtx.gz").T.tocsr().astype(np.float32)[:600]
genes = pd.read_csv(f"{src}/genes.tsv", sep="\t", header=None)
cells = pd.read_csv(f"{src}/barcodes.tsv", sep="\t", header=None)[0].values[:600]
lab = pd.read_csv(f"{src}/labels.tsv", sep="\t")
lab = lab.set_index(lab.columns[0]).loc[cells, lab.columns[1]].values
obs = pd.DataFrame({"label": lab, "donor": [f"d{(i * 7) % 6}" for i in range(600)]}, index=cells)
ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes[0].values)).write_h5ad(f"{T}/a.h5ad")
obs.to_csv(f"{T}/obs.tsv", sep="\t")
PYEOF
"$BIN" tokenize "$T/a.h5ad" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 32 --obs label --obs donor > /dev/null 2>&1
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 4 > /dev/null 2>&1
F() { local out=$1; shift
    "$BIN" finetune "$T/c" -m "$T/m" -o "$T/$out" --label label --drop-label '?' --max-steps 4 --batch-size 16 \
        --warmup-steps 1 --lr 1e-3 --threads 1 "$@" > "$T/$out.stdout" 2> "$T/$out.stderr" || { cat "$T/$out.stderr"; exit 1; }
}
F cv --folds 3
F grp --group-column donor
F grpcv --group-column donor --folds 3
F rare --min-class-fraction 0.1 --max-cells-per-class 60
grep -E "^(folds|test_accuracy)" "$T/cv.stdout"
"$PY" - "$T" <<'PYEOF'
import csv, json, sys
import numpy as np, pandas as pd
T = sys.argv[1]
obs = pd.read_csv(f"{T}/obs.tsv", sep="\t", index_col=0)
obs = obs[obs.label != "?"]
def split(d):
    r = list(csv.reader(open(f"{T}/{d}/split.tsv"), delimiter="\t"))
    assert r[0] == ["cell_id", "split"]
    return pd.Series({a: b for a, b in r[1:]})
# folds: test sets partition the labelled cells, stratified
cv = json.load(open(f"{T}/cv/metrics.json"))
tests = [set(split(f"cv/fold-{k}")[lambda s: s == "test"].index) for k in (1, 2, 3)]
assert sum(map(len, tests)) == len(obs) and set.union(*tests) == set(obs.index)
for lab, n in obs.label.value_counts().items():
    per = [sum(obs.loc[list(t), "label"] == lab) for t in tests]
    assert max(per) - min(per) <= 1, (lab, per)
for key in ("accuracy", "macro_f1"):
    v = np.array([json.load(open(f"{T}/cv/fold-{k}/metrics.json"))[key] for k in (1, 2, 3)])
    assert abs(cv["mean"][key] - v.mean()) < 1e-8 and abs(cv["sd"][key] - v.std(ddof=1)) < 1e-8, key
# groups kept apart
for d in ("grp", "grpcv/fold-1", "grpcv/fold-2", "grpcv/fold-3"):
    s = split(d)
    s = s[s != "excluded"]
    parts = pd.DataFrame({"donor": obs.loc[s.index, "donor"], "split": s}).groupby("donor")["split"].nunique()
    assert (parts == 1).all(), (d, parts)
    assert set(s) >= {"train", "test"}, (d, set(s))
g = [set(obs.loc[split(f"grpcv/fold-{k}")[lambda x: x == "test"].index, "donor"]) for k in (1, 2, 3)]
assert sum(map(len, g)) == 6 and set.union(*g) == set(obs.donor), g
# rare classes and per-class cap
m = json.load(open(f"{T}/rare/metrics.json"))
frac = obs.label.value_counts() / len(obs)
keep = sorted(frac[frac >= 0.1].index)
assert m["classes"] == keep, (m["classes"], keep)
cfg = json.load(open(f"{T}/rare/best/config.json"))
assert sorted(cfg["id2label"].values()) == keep
s = split("rare")
used = obs.loc[s[s != "excluded"].index, "label"].value_counts()
for lab in keep:
    assert used[lab] == min(60, (obs.label == lab).sum()), (lab, used[lab])
assert set(used.index) == set(keep)
print("folds, groups, rare classes, per-class cap: ok")
PYEOF
echo ok
