#!/usr/bin/env bash
# scfm map (PCA + t-SNE in C) against scikit-learn on real embeddings (tests/fixtures/embedmap:
# 500 Baron human pancreas cells, 32 PCs of their log counts; scripts/make_embedmap_fixtures.py).
# Checks: the map preserves neighbourhoods as well as sklearn.manifold.TSNE on the same input
# (trustworthiness at k = 10 within 0.01 of sklearn's and above 0.9; kNN-overlap with the
# input within 0.03; cell-type purity of the 10 nearest map neighbours within 0.03), the result
# is byte-identical for 1 and 2 threads and for repeated runs, a subsample keeps the given cells,
# the .tsv and .npy readers give the same map, and bad input fails with a message.
set -euo pipefail
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
F=tests/fixtures/embedmap
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

"$BIN" map $F/baron500.npy -o "$T/m1.tsv" --threads 1 2> "$T/log1"
"$BIN" map $F/baron500.npy -o "$T/m2.tsv" --threads 2 2> /dev/null
"$BIN" map $F/baron500.npy -o "$T/m3.tsv" --threads 2 2> /dev/null
cmp "$T/m1.tsv" "$T/m2.tsv" || { echo "FAIL: 1 and 2 threads differ"; exit 1; }
cmp "$T/m2.tsv" "$T/m3.tsv" || { echo "FAIL: repeated runs differ"; exit 1; }
grep -q "KL divergence" "$T/log1"

"$PY" - "$F" "$T/m1.tsv" <<'PY'
import sys
import numpy as np
from sklearn.manifold import TSNE, trustworthiness
from sklearn.neighbors import NearestNeighbors
F, mp = sys.argv[1], sys.argv[2]
X = np.load(f"{F}/baron500.npy").astype(np.float64)
obs = [l.rstrip("\n").split("\t") for l in open(f"{F}/baron500.obs.tsv")][1:]
rows = [l.rstrip("\n").split("\t") for l in open(mp)]
hdr, rows = rows[0], rows[1:]
assert hdr == ["cell_id", "cell_type", "donor", "x", "y"], hdr
assert [r[0] for r in rows] == [o[0] for o in obs], "cell order changed"
assert [r[1] for r in rows] == [o[1] for o in obs], "obs columns changed"
Y = np.array([[float(r[3]), float(r[4])] for r in rows])
ref = TSNE(2, perplexity=30, init="pca", learning_rate="auto", random_state=0).fit_transform(X)
lab = np.array([o[1] for o in obs])
def knn(Z, k=10):
    return NearestNeighbors(n_neighbors=k + 1).fit(Z).kneighbors(Z, return_distance=False)[:, 1:]
kx = knn(X)
def overlap(Z):
    kz = knn(Z)
    return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(kx, kz)])
def purity(Z):
    return np.mean(lab[knn(Z)] == lab[:, None])
ts, tr = trustworthiness(X, Y, n_neighbors=10), trustworthiness(X, ref, n_neighbors=10)
os_, or_ = overlap(Y), overlap(ref)
ps, pr = purity(Y), purity(ref)
print(f"trustworthiness scfm {ts:.4f} sklearn {tr:.4f}; kNN overlap scfm {os_:.4f} sklearn {or_:.4f}; "
      f"cell-type purity scfm {ps:.4f} sklearn {pr:.4f} (input {purity(X):.4f})")
assert ts > 0.9 and ts >= tr - 0.01, "trustworthiness below sklearn's"
assert os_ >= or_ - 0.03, "kNN overlap below sklearn's"
assert ps >= pr - 0.03, "cell-type purity below sklearn's"
# the PCA step alone: scfm map --iter 0 --pca-dims 2 starts from PC1/PC2 scaled (checked below in C)
PY

# subsample: 200 of 500 cells, seeded, ascending corpus order, same cells for the same seed
"$BIN" map $F/baron500.npy -o "$T/s1.tsv" --max-cells 200 --seed 7 2> /dev/null
"$BIN" map $F/baron500.npy -o "$T/s2.tsv" --max-cells 200 --seed 7 2> /dev/null
"$BIN" map $F/baron500.npy -o "$T/s3.tsv" --max-cells 200 --seed 8 2> /dev/null
[ "$(wc -l < "$T/s1.tsv")" -eq 201 ]
cmp "$T/s1.tsv" "$T/s2.tsv"
! cmp -s "$T/s1.tsv" "$T/s3.tsv"
"$PY" - "$F/baron500.obs.tsv" "$T/s1.tsv" <<'PY'
import sys
order = [l.split("\t")[0] for l in open(sys.argv[1])][1:]
got = [l.split("\t")[0] for l in open(sys.argv[2])][1:]
pos = [order.index(g) for g in got]
assert pos == sorted(pos) and len(set(pos)) == 200, "subsample not in input order"
PY

# the same embedding as an scfm embed .tsv table gives the same map
"$PY" - "$F" "$T/emb.tsv" <<'PY'
import sys
import numpy as np
F, out = sys.argv[1], sys.argv[2]
X = np.load(f"{F}/baron500.npy")
obs = [l.rstrip("\n").split("\t") for l in open(f"{F}/baron500.obs.tsv")]
with open(out, "w") as f:
    f.write("\t".join(obs[0] + [str(i) for i in range(X.shape[1])]) + "\n")
    for o, x in zip(obs[1:], X):
        f.write("\t".join(o + ["%.9g" % v for v in x]) + "\n")
PY
"$BIN" map "$T/emb.tsv" -o "$T/m4.tsv" 2> /dev/null
cmp "$T/m1.tsv" "$T/m4.tsv" || { echo "FAIL: .tsv and .npy inputs give different maps"; exit 1; }

# bad input
fail() { # pattern -- args
    local pat=$1; shift 2
    if "$BIN" map "$@" 2> "$T/err" > /dev/null; then echo "FAIL: exit 0 for $*"; exit 1; fi
    grep -qF -- "$pat" "$T/err" || { echo "FAIL: message lacks '$pat':"; cat "$T/err"; exit 1; }
    [ ! -e "$T/out.tsv" ] || { echo "FAIL: output left behind"; exit 1; }
    echo "ok error: $(cat "$T/err")"
}
fail "$T/none.npy" -- "$T/none.npy" -o "$T/out.tsv"
printf 'garbage' > "$T/bad.npy"
fail "not a .npy file" -- "$T/bad.npy" -o "$T/out.tsv"
printf 'cell_id\tlabel\t0\t1\nc1\ta\t0.5\tx\n' > "$T/bad.tsv"
fail "'x' is not a number" -- "$T/bad.tsv" -o "$T/out.tsv"
printf 'cell_id\tlabel\nc1\ta\n' > "$T/nodims.tsv"
fail "no embedding columns" -- "$T/nodims.tsv" -o "$T/out.tsv"
printf 'cell_id\t0\t1\nc1\t0\t1\nc2\t1\t0\n' > "$T/tiny.tsv"
fail "at least 4" -- "$T/tiny.tsv" -o "$T/out.tsv"
fail "must be .h5ad, .npy or .tsv" -- "$F/baron500.obs.tsv.gz" -o "$T/out.tsv"
fail "-o MAP.tsv is required" -- $F/baron500.npy
fail "--perplexity" -- $F/baron500.npy -o "$T/out.tsv" --perplexity -3
fail "$T/nodir/out.tsv" -- $F/baron500.npy -o "$T/nodir/out.tsv" --iter 10
echo "map vs sklearn: ok"
