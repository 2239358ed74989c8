#!/usr/bin/env bash
# scfm tokenize with several inputs: a folder of .h5ad / .loom files is one input (its files
# in sorted order), obs column `source` records each cell's input file, and cell IDs an
# earlier input used are made unique (suffix -K, K = the input's position) with one warning.
# Real cells (human/pbmc4k_labeled) written by anndata / h5py: 1_a.h5ad (cells 0-59),
# 2_b.h5ad (40-99: 20 IDs of 1_a again), 3_c.loom (cells 100-129 under the IDs of cells 50-79:
# IDs of both earlier files). Checked against Python: the folder equals the three files given
# in that order; the tokens equal each file tokenized alone, concatenated; the IDs and the
# source column are those computed independently; one input gets no source column.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if ! "$BIN" --version 2>&1 | grep -qi "hdf5"; then echo "SKIP: built without HDF5"; exit 77; fi
V1=$D/geneformer/v1
TOK=(--vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz
     --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 64 --obs label)
mkdir "$T/dir"
"$PY" - "$D/human/pbmc4k_labeled" "$T/dir" <<'PYEOF'
import os, sys, h5py, numpy as np, pandas as pd, scipy.io, anndata as ad
src, out = sys.argv[1:3]
X = scipy.io.mmread(f"{src}/matrix.mtx.gz").T.tocsr().astype(np.float32)[:130]
genes = pd.read_csv(f"{src}/genes.tsv", sep="\t", header=None)[0].values
bcs = pd.read_csv(f"{src}/barcodes.tsv", sep="\t", header=None)[0].values[:130]
lab = pd.read_csv(f"{src}/labels.tsv", sep="\t")
lab = lab.set_index(lab.columns[0]).loc[bcs, lab.columns[1]].values
def h5ad(name, rows):
    obs = pd.DataFrame({"label": pd.Categorical(lab[rows])}, index=bcs[rows])
    ad.AnnData(X=X[rows], obs=obs, var=pd.DataFrame(index=genes)).write_h5ad(os.path.join(out, name))
h5ad("1_a.h5ad", np.arange(0, 60))
h5ad("2_b.h5ad", np.arange(40, 100))
rows = np.arange(100, 130)
with h5py.File(os.path.join(out, "3_c.loom"), "w") as f:
    f.create_dataset("matrix", data=X[rows].toarray().T)
    ra, ca = f.create_group("row_attrs"), f.create_group("col_attrs")
    s = h5py.string_dtype()
    ra.create_dataset("Gene", data=np.array(genes, dtype=object), dtype=s)
    ca.create_dataset("CellID", data=np.array(bcs[50:80], dtype=object), dtype=s)
    ca.create_dataset("label", data=np.array(lab[rows], dtype=object), dtype=s)
    for g in ("row_graphs", "col_graphs", "layers", "attrs"):
        f.create_group(g)
open(os.path.join(out, "notes.txt"), "w").write("not an input\n")
PYEOF
"$BIN" tokenize "$T/dir" -o "$T/c_dir" "${TOK[@]}" > "$T/out" 2> "$T/err" || { cat "$T/err"; exit 1; }
[ "$(grep -c "made unique" "$T/err")" = 1 ] || { cat "$T/err"; echo "want one warning line"; exit 1; }
"$BIN" tokenize "$T/dir/1_a.h5ad" "$T/dir/2_b.h5ad" "$T/dir/3_c.loom" -o "$T/c_files" "${TOK[@]}" > /dev/null 2>&1
for f in 1_a.h5ad 2_b.h5ad 3_c.loom; do
    "$BIN" tokenize "$T/dir/$f" -o "$T/c_$f" "${TOK[@]}" > /dev/null 2>&1
done
cmp "$T/c_dir/shard-00000.bin" "$T/c_files/shard-00000.bin"
cmp "$T/c_dir/obs.tsv" "$T/c_files/obs.tsv"
head -1 "$T/c_1_a.h5ad/obs.tsv" | grep -qx "cell_id	label" || { head -1 "$T/c_1_a.h5ad/obs.tsv"; echo "one input: no source column"; exit 1; }
SCRIPTS=$(cd "$(dirname "$0")/../.." && pwd)/scripts
"$PY" - "$T" "$SCRIPTS" "$T/err" <<'PYEOF'
import sys, re, numpy as np, pandas as pd, anndata as ad, h5py
T, scripts, err = sys.argv[1:4]
sys.path.insert(0, scripts)
from corpus_to_numpy import read_corpus
files = [f"{T}/dir/1_a.h5ad", f"{T}/dir/2_b.h5ad", f"{T}/dir/3_c.loom"]
c = read_corpus(f"{T}/c_dir")
# tokens: each file alone, concatenated
parts = [read_corpus(f"{T}/c_{f.split('/')[-1]}") for f in files]
tok = np.concatenate([p["tokens"] for p in parts])
assert np.array_equal(c["tokens"], tok), "tokens differ from the files tokenized alone"
# cell IDs and sources, computed independently (every cell is kept: all express vocabulary genes)
ids = [list(ad.read_h5ad(f).obs_names) for f in files[:2]]
with h5py.File(files[2]) as f:
    ids.append([x.decode() for x in f["col_attrs/CellID"][:]])
assert [len(p["cell_ids"]) for p in parts] == [len(i) for i in ids]
owner, want, src, renamed = {}, [], [], 0
for k, lst in enumerate(ids):
    for x in lst:
        if x in owner and owner[x] != k:
            y, j = f"{x}-{k}", 2
            while y in owner:
                y, j = f"{x}-{k}-{j}", j + 1
            x = y
            renamed += 1
        owner.setdefault(x, k)
        want.append(x)
        src.append(files[k])
obs = pd.read_csv(f"{T}/c_dir/obs.tsv", sep="\t", dtype=str, keep_default_na=False)
assert list(obs.columns) == ["cell_id", "label", "source"], list(obs.columns)
assert list(c["cell_ids"]) == want == list(obs.cell_id), [(a, b) for a, b in zip(c["cell_ids"], want) if a != b][:5]
assert len(set(want)) == len(want), "cell IDs not unique"
assert list(obs.source) == src
n = int(re.search(r"(\d+) cell IDs already used", open(err).read()).group(1))
assert n == renamed == 50, (n, renamed)
print(f"folder of 3 files: {len(want)} cells, {renamed} IDs made unique, source per cell, tokens as each file alone")
PYEOF
# a folder with neither 10x files nor .h5ad / .loom files is refused, nothing written
mkdir "$T/empty"
if "$BIN" tokenize "$T/empty" -o "$T/c_bad" "${TOK[@]}" > /dev/null 2> "$T/err"; then echo "empty folder accepted"; exit 1; fi
grep -q "empty" "$T/err" || { cat "$T/err"; exit 1; }
[ ! -e "$T/c_bad" ]
echo ok
