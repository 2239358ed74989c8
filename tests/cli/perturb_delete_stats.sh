#!/usr/bin/env bash
# scfm perturb --delete on 24 real PBMC cells (restricted to 60 genes, so no cell is cut at
# --max-len 64) with a tiny random model:
#  1. deleting a gene equals tokenizing the cells without it: the count matrix with that
#     gene's row zeroed (in Python) is tokenized and embedded by `scfm embed`, and the cosine
#     (and goal shift) between those embeddings and the original ones equals the shifts;
#  2. the statistics equal scipy: mannwhitneyu (asymptotic, no continuity) of each gene's
#     written shifts against the written null shifts (--null-genes, and --null-fixed), then
#     Benjamini-Hochberg; a --together row likewise.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1

# 12 T_CD4 + 12 B cells, the 60 genes (known to the V1 dictionaries) with the most counts;
# the copy without gene G = the gene whose token is in most cells
"$PY" - "$D/human/pbmc4k_labeled" "$V1" "$T" > "$T/gene" <<'PY'
import os, sys, gzip
import numpy as np, scipy.io
src, v1, T = sys.argv[1:4]
lab = dict(l.split("\t") for l in open(os.path.join(src, "labels.tsv")).read().splitlines()[1:])
bcs = open(os.path.join(src, "barcodes.tsv")).read().splitlines()
want = {"B": 12, "T_CD4": 12}
idx = []
for i, b in enumerate(bcs):
    if want.get(lab.get(b), 0) > 0:
        want[lab[b]] -= 1
        idx.append(i)
genes = open(os.path.join(src, "genes.tsv")).read().splitlines()
ids = {}
for l in gzip.open(os.path.join(v1, "gene_name_id_dict.tsv.gz"), "rt"):
    s, e = l.rstrip("\n").split("\t")[:2]
    ids.setdefault(s.strip().upper(), set()).add(e.strip().upper())
tok = {l.split("\t")[0] for l in gzip.open(os.path.join(v1, "token_dictionary.tsv.gz"), "rt")}
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).tocsr()[:, idx]
tot = np.asarray(X.sum(1)).ravel()
ok = [g for g in np.argsort(-tot, kind="stable")
      if len(ids.get(genes[g].upper(), ())) == 1 and next(iter(ids[genes[g].upper()])) in tok]
# one symbol per ID
seen, keep = set(), []
for g in ok:
    e = next(iter(ids[genes[g].upper()]))
    if e not in seen:
        seen.add(e)
        keep.append(g)
keep = sorted(keep[:60])
Xk = X[keep]
ncells = np.asarray((Xk > 0).sum(1)).ravel()
G = int(np.argmax(ncells))
for name, M in (("in", Xk), ("noG", Xk.tolil())):
    d = os.path.join(T, name)
    os.makedirs(d)
    if name == "noG":
        M[G, :] = 0
        M = M.tocsr()
        M.eliminate_zeros()
    scipy.io.mmwrite(os.path.join(d, "matrix.mtx"), M.tocoo(), field="integer")
    open(os.path.join(d, "genes.tsv"), "w").write("".join(genes[g] + "\n" for g in keep))
    open(os.path.join(d, "barcodes.tsv"), "w").write("".join(bcs[i] + "\n" for i in idx))
    open(os.path.join(d, "labels.tsv"), "w").write("barcode\tlabel\n" + "".join("%s\t%s\n" % (bcs[i], lab[bcs[i]]) for i in idx))
print(genes[keep[G]])
print(next(iter(ids[genes[keep[G]].upper()])))
PY
SYM=$(sed -n 1p "$T/gene"); GID=$(sed -n 2p "$T/gene")
for x in in noG; do
    "$BIN" tokenize "$T/$x" -o "$T/c-$x" --vocab $V1/token_dictionary.pkl --medians $V1/gene_median_dictionary.pkl \
        --gene-names $V1/gene_name_id_dict.pkl --max-len 64 --obs label 2> /dev/null > /dev/null
done
"$BIN" model init --config tiny --vocab "$T/c-in/vocab.tsv" -o "$T/m" --seed 11 > /dev/null 2>&1
"$BIN" embed "$T/c-in" -m "$T/m" -o "$T/e-in.npy" > /dev/null 2>&1
"$BIN" embed "$T/c-noG" -m "$T/m" -o "$T/e-noG.npy" > /dev/null 2>&1
P() { "$BIN" perturb "$T/c-in" -m "$T/m" "$@" > "$T/out" 2> "$T/log" || { cat "$T/log"; exit 1; }; }
P -o "$T/d.tsv" --delete --genes "$SYM" --gene-names $V1/gene_name_id_dict.tsv.gz --shifts "$T/d.shifts.tsv"
P -o "$T/dg.tsv" --delete --genes "$GID" --goal label=T_CD4 --goal-cells 12 --shifts "$T/dg.shifts.tsv"
grep -q "^reference	all$" "$T/out"
# statistics: 6 genes against a per-cell null run, against a fixed null set, and a gene set
GENES=$("$PY" - "$T/c-in" <<'PY'
import sys, collections
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
c = read_corpus(sys.argv[1])
vocab = [l.split("\t")[0] for l in open(sys.argv[1] + "/vocab.tsv").read().splitlines() if l]
print(",".join(vocab[t] for t, _ in collections.Counter(c["tokens"].tolist()).most_common(6)))
PY
)
P -o "$T/n.tsv" --delete --genes "$GENES" --null-genes 4 --seed 3 --goal label=B --shifts "$T/n.shifts.tsv"
grep -q "^reference	null$" "$T/out"
P -o "$T/f.tsv" --delete --genes "$GENES" --null-genes 5 --null-fixed --seed 3 --shifts "$T/f.shifts.tsv" --dump-tokens "$T/f.dump"
P -o "$T/s.tsv" --delete --together --genes "$(echo "$GENES" | cut -d, -f1-2)" --null-genes 3 --shifts "$T/s.shifts.tsv"

"$PY" - "$T" "$GID" "$GENES" <<'PY'
import sys, os
import numpy as np, scipy.stats as ss
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
T, gid, genes = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
c = read_corpus(os.path.join(T, "c-in"))
c2 = read_corpus(os.path.join(T, "c-noG"))
vocab = [l.split("\t")[0] for l in open(os.path.join(T, "c-in", "vocab.tsv")).read().splitlines() if l]
tid = {g: i for i, g in enumerate(vocab)}
g = tid[gid]
E, E2 = np.load(os.path.join(T, "e-in.npy")).astype(np.float64), np.load(os.path.join(T, "e-noG.npy")).astype(np.float64)
n = len(c["offsets"]) - 1
assert max(np.diff(c["offsets"])) < 64, "no cell may be cut"
cos = lambda a, b: float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-8))
has = [i for i in range(n) if g in c["tokens"][c["offsets"][i]:c["offsets"][i + 1]]]
assert len(has) >= 12, len(has)
for i in range(n):  # the re-tokenized cells are the original ones without g
    a = c["tokens"][c["offsets"][i]:c["offsets"][i + 1]].tolist()
    b = c2["tokens"][c2["offsets"][i]:c2["offsets"][i + 1]].tolist()
    assert b == [t for t in a if t != g], i
def shifts(path):
    rows = [l.split("\t") for l in open(path).read().splitlines()]
    assert rows[0][:7] == ["gene", "token_id", "cell", "cell_id", "null", "shift", "cos"], rows[0]
    return rows[1:]
got = {int(r[2]): float(r[5]) for r in shifts(os.path.join(T, "d.shifts.tsv"))}
assert sorted(got) == has, (sorted(got), has)
d1 = max(abs(got[i] - cos(E2[i], E[i])) for i in has)
labels = c["obs"]["label"]
goal = E[[i for i in range(n) if labels[i] == "T_CD4"]].mean(0)
got = {int(r[2]): float(r[5]) for r in shifts(os.path.join(T, "dg.shifts.tsv"))}
d2 = max(abs(got[i] - (cos(E2[i], goal) - cos(E[i], goal))) for i in has)
print("delete == re-tokenize without %s: %d cells, max diff %.2g (cos), %.2g (goal)" % (gid, len(has), d1, d2))
assert d1 < 2e-5 and d2 < 2e-5

def bh(p):
    p = np.asarray(p); m = len(p); o = np.argsort(p, kind="mergesort")
    q = np.empty(m); q[o] = np.clip(np.minimum.accumulate((p[o] * m / np.arange(1, m + 1))[::-1])[::-1], 0, 1)
    return q
def check(name, n_null_per_cell=None):
    rows = shifts(os.path.join(T, name + ".shifts.tsv"))
    null = [float(r[5]) for r in rows if r[4] == "1"]
    per = {}
    for r in rows:
        if r[4] == "0":
            per.setdefault(r[0], []).append(float(r[5]))
    assert null and per
    if n_null_per_cell:
        cnt = {}
        for r in rows:
            if r[4] == "1":
                cnt[r[2]] = cnt.get(r[2], 0) + 1
        assert set(cnt.values()) == {n_null_per_cell} and len(cnt) == n, cnt
    keys = sorted(per)
    p = [ss.mannwhitneyu(per[k], null, alternative="two-sided", method="asymptotic", use_continuity=False).pvalue for k in keys]
    q = bh(p)
    st = [l.split("\t") for l in open(os.path.join(T, name + ".tsv")).read().splitlines()]
    assert st[0][:11] == ["gene", "token_id", "name", "symbol", "n_cells", "mean_shift", "sd_shift", "z", "p", "fdr",
                          "significant"], st[0]
    assert len(st) - 1 == len(keys)
    for r in st[1:]:
        r = dict(zip(st[0], r))
        k = keys.index(r["gene"]); x = per[r["gene"]]
        assert int(r["n_cells"]) == len(x) and abs(float(r["mean_shift"]) - np.mean(x)) < 1e-8, r
        assert (len(x) < 2 and r["sd_shift"] == "nan") or abs(float(r["sd_shift"]) - np.std(x, ddof=1)) < 1e-8, r
        assert abs(float(r["p"]) - p[k]) <= 1e-7 * p[k] + 1e-12 and abs(float(r["fdr"]) - q[k]) <= 1e-7 * q[k] + 1e-12, (r, p[k], q[k])
        assert r["significant"] == str(int(q[k] < 0.05))
    print("%s: %d rows vs %d null shifts: p and BH equal scipy" % (name, len(keys), len(null)))
    return st
check("n", 4)
check("f")
st = check("s", 3)
assert st[1][0] == "+".join(genes[:2]) and st[1][1] == "-1", st[1]
# the fixed null set: the same 5 genes (not among the tested ones) in every cell that has them
nullg = set()
for l in open(os.path.join(T, "f.dump")).read().splitlines():
    ci, kind, u, _ = l.split("\t")
    if kind == "null":
        nullg.add(int(u))
assert 1 <= len(nullg) <= 5 and not nullg & {tid[x] for x in genes}, nullg
PY
echo "perturb delete/stats: ok"
