#!/usr/bin/env bash
# scfm vocab build: per-gene medians of counts/n_counts*1e4 (non-zero cells) from real PBMCs
# (human/pbmc1k_v3) match numpy's exact medians within the digest's stated relative error;
# filters (--min-cells, --biotypes) and --v2 specials; vocab merge of saved digests; the built
# vocabulary tokenizes the data exactly like the numpy reference does with it.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 genes/human_ensembl_genes.csv.gz human/pbmc1k_v3
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
IN=$D/human/pbmc1k_v3
NAMES=$D/geneformer/v1/gene_name_id_dict.tsv.gz
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
REL_ERR=$(sed -n 's/^#define SCFM_DIGEST_REL_ERR \([0-9.e-]*\).*/\1/p' include/scfm/genes.h)

"$BIN" vocab build "$IN" -o "$T/voc" --gene-names $NAMES --digest-out "$T/d1.dig" 2> "$T/build.log"
"$BIN" vocab build "$IN" -o "$T/voc2" --gene-names $NAMES --v2 --min-cells 10 --biotypes protein_coding \
    --gene-table $D/genes/human_ensembl_genes.csv.gz 2> /dev/null
"$BIN" vocab merge "$T/d1.dig" "$T/d1.dig" -o "$T/vocm" 2> /dev/null

"$PY" - "$IN" "$NAMES" "$T" "$REL_ERR" "$D/genes/human_ensembl_genes.csv.gz" <<'PY'
import csv, gzip, os, sys
import numpy as np, scipy.io
src, names_path, t, rel, table = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
names = {}
for l in gzip.open(names_path, "rt"):
    k, v = l.rstrip("\n").split("\t")
    names.setdefault(k.strip().upper(), v.strip().upper())
genes = [l.rstrip("\n").strip().upper() for l in open(os.path.join(src, "genes.tsv"))]
ids = [g if g.startswith("ENSG") else names.get(g) for g in genes]
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).tocsc().astype(np.float64)   # genes x cells
total = np.asarray(X.sum(0)).ravel()
uid = sorted({i for i in ids if i})
col = {u: k for k, u in enumerate(uid)}
import scipy.sparse as sp
rows = [k for k, i in enumerate(ids) if i]
A = sp.csr_matrix((np.ones(len(rows)), ([col[ids[k]] for k in rows], rows)), shape=(len(uid), len(genes)))
Y = (A @ X).tocsr()                                  # IDs x cells, duplicates summed
Y = Y.multiply(1.0 / total[None, :]).tocsr() * 1e4
exact, lo_hi, ncell = {}, {}, {}
for k, u in enumerate(uid):
    v = np.sort(Y.data[Y.indptr[k]:Y.indptr[k + 1]])
    v = v[v > 0]
    if len(v) == 0:
        continue
    exact[u] = np.median(v)
    lo_hi[u] = (v[(len(v) - 1) // 2], v[len(v) // 2])
    ncell[u] = len(v)

def read_tsv(p):
    return [l.rstrip("\n").split("\t") for l in open(p)]
voc, med = read_tsv(t + "/voc/vocab.tsv"), read_tsv(t + "/voc/medians.tsv")
assert voc[0] == ["<pad>", "0"] and voc[1] == ["<mask>", "1"], voc[:2]
gv = [g for g, _ in voc[2:]]
assert gv == sorted(exact), (len(gv), len(exact))
assert [int(i) for _, i in voc] == list(range(len(voc)))
assert [g for g, _ in med] == gv
worst = 0.0
for g, m in med:
    m = float(m)
    lo, hi = lo_hi[g]
    assert lo * (1 - rel) <= m <= hi * (1 + rel), (g, m, lo, hi)
    worst = max(worst, abs(m - exact[g]) / exact[g])
print(f"vocab build: {len(gv)} genes; digest medians within [{rel}] of numpy's middle order statistics; "
      f"largest relative difference to numpy.median {worst:.4g}")
# --v2 --min-cells 10 --biotypes protein_coding
bt = {}
for row in csv.DictReader(gzip.open(table, "rt")):
    bt[row["gene_id"].split(".")[0]] = row["biotype"]
v2 = read_tsv(t + "/voc2/vocab.tsv")
assert [r[0] for r in v2[:4]] == ["<pad>", "<mask>", "<cls>", "<eos>"]
want = sorted(g for g in exact if ncell[g] >= 10 and bt.get(g) == "protein_coding")
assert [g for g, _ in v2[4:]] == want, (len(v2) - 4, len(want))
print(f"vocab build --v2 --min-cells 10 --biotypes protein_coding: {len(want)} genes")
# merge of a digest with itself: same genes, same medians (every value counted twice)
assert read_tsv(t + "/vocm/vocab.tsv") == voc
mm = read_tsv(t + "/vocm/medians.tsv")
for (g, a), (_, b) in zip(med, mm):
    lo, hi = lo_hi[g]
    assert lo * (1 - rel) <= float(b) <= hi * (1 + rel), (g, a, b)
print("vocab merge ok")
PY

# the built dictionaries drive tokenize exactly as they drive the reference
"$BIN" tokenize "$IN" -o "$T/c" --vocab "$T/voc/vocab.tsv" --medians "$T/voc/medians.tsv" --gene-names $NAMES 2> /dev/null
"$PY" scripts/tokenize_reference.py "$IN" --vocab "$T/voc/vocab.tsv" --medians "$T/voc/medians.tsv" \
    --gene-names $NAMES --compare "$T/c" | tee "$T/ref.log"
grep -q " 0 differ" "$T/ref.log"
echo "tokenize_vocab: ok"
