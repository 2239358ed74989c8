#!/usr/bin/env bash
# The main chain on the registry data (scripts/fetch_data: Baron 2016 human and mouse pancreas
# from PyPI's came 0.1.13; skipped only when it cannot be downloaded), with no Geneformer files:
#  - scfm vocab build --symbols on the human cells: the gene set and every median against
#    numpy (exact medians of counts / n_counts * 1e4 over expressing cells, within the digest's
#    0.5% relative error);
#  - scfm tokenize of the human cells (symbols) and of the mouse cells through the BioMart
#    name table with --all-orthologs (Ins1 + Ins2 -> INS): every cell's tokens equal the numpy
#    reference scripts/tokenize_reference.py, the shares of genes and counts too, the obs
#    labels are carried;
#  - scfm pretrain (tiny model, a few steps, both species) and scfm embed: a loss that falls,
#    cell embeddings in .h5ad read back with anndata, one row per cell with its labels;
#  - bad input: symbols without --symbols, broken ortholog tables.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # need_registry_data
need_registry_data              # BARON=.cache/scfm-data/baron
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
H=$BARON/raw-Baron_human.h5ad
M=$BARON/raw-Baron_mouse.h5ad
ORTH=(--to-species human --orthologs "$BARON/gene_matches_mouse2human.csv" --all-orthologs)

# vocabulary and medians from the human cells, keyed by symbols
"$BIN" vocab build "$H" -o "$T/v" --symbols 2> "$T/vocab.log"
cat "$T/vocab.log"
"$PY" - "$H" "$T/v" <<'PY'
import sys
import anndata, numpy as np, scipy.sparse as sp
ad = anndata.read_h5ad(sys.argv[1])
X = sp.csr_matrix(ad.X).astype(np.float64)
names = [g.strip().upper() for g in ad.var_names]
assert len(set(names)) == len(names)  # no two symbols collide when upper-cased
N = sp.diags(1e4 / np.asarray(X.sum(axis=1)).ravel()) @ X
N = N.tocsc()
want = {}
for j, g in enumerate(names):
    v = N.data[N.indptr[j]:N.indptr[j + 1]]
    v = v[v > 0]
    if len(v):
        want[g] = float(np.median(v))
vocab = [l.rstrip("\n").split("\t") for l in open(sys.argv[2] + "/vocab.tsv")]
assert vocab[:2] == [["<pad>", "0"], ["<mask>", "1"]], vocab[:2]
toks = [t for t, _ in vocab[2:]]
assert [int(i) for _, i in vocab] == list(range(len(vocab)))
assert toks == sorted(want), (len(toks), len(want))
med = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[2] + "/medians.tsv"))
err = max(abs(float(med[g]) / want[g] - 1) for g in want)
print(f"vocab: {len(toks)} symbols (numpy: {len(want)}), worst median relative error {err:.5f}")
assert len(toks) == 16413 and err <= 0.005 + 1e-12
PY
V=(--vocab "$T/v/vocab.tsv" --medians "$T/v/medians.tsv")

# tokenize both species; compare with the numpy reference cell for cell
"$BIN" tokenize "$H" -o "$T/human" "${V[@]}" --obs cell_type1 --obs donor --species human 2> "$T/h.log"
"$BIN" tokenize "$M" -o "$T/mouse" "${V[@]}" "${ORTH[@]}" --obs cell_type1 --species mouse 2> "$T/m.log"
grep "reach the vocabulary" "$T/h.log" "$T/m.log"
"$PY" scripts/tokenize_reference.py "$H" "${V[@]}" --stats "$T/rh.json" --compare "$T/human" | tee "$T/rh.log"
grep -q "2142 cells, 0 differ" "$T/rh.log"
"$PY" scripts/tokenize_reference.py "$M" "${V[@]}" "${ORTH[@]}" --stats "$T/rm.json" --compare "$T/mouse" | tee "$T/rm.log"
grep -q "1886 cells, 0 differ" "$T/rm.log"
"$PY" - "$T" "$H" "$M" <<'PY'
import csv, json, sys
import anndata
t = sys.argv[1]
for name, h5, cells, genes in (("human", sys.argv[2], 2142, 20125), ("mouse", sys.argv[3], 1886, 14877)):
    c = json.load(open(f"{t}/{name}/corpus.json"))
    r = json.load(open(f"{t}/r{name[0]}.json"))["sources"][0]
    s = c["sources"][0]
    print(f"{name}: scfm {s['genes_in_vocab']} of {s['genes_in']} genes, {100 * s['count_share_in_vocab']:.2f}% "
          f"of counts; reference {r['genes_in_vocab']}, {100 * r['count_share_in_vocab']:.2f}%")
    assert s["genes_in"] == r["genes_in"] == genes and s["genes_in_vocab"] == r["genes_in_vocab"]
    assert abs(s["count_share_in_vocab"] - r["count_share_in_vocab"]) < 1e-12
    assert c["species"] == name
    ad = anndata.read_h5ad(h5)
    rows = list(csv.DictReader(open(f"{t}/{name}/obs.tsv"), delimiter="\t"))
    assert len(rows) == cells
    assert [x["cell_id"] for x in rows] == list(ad.obs_names)
    assert [x["cell_type1"] for x in rows] == [str(v) for v in ad.obs["cell_type1"]]
c = json.load(open(f"{t}/mouse/corpus.json"))
assert c["settings"]["orthologs"] == "biomart-names:mouse->human:many2one:conf>=0", c["settings"]["orthologs"]
assert c["sources"][0]["count_share_in_vocab"] > 0.85  # with Ins1 + Ins2 -> INS
PY

# the chain: pretrain a tiny model a few steps on both species, embed the human cells
"$BIN" tokenize "$H" -o "$T/h64" "${V[@]}" --obs cell_type1 --max-len 64 2> /dev/null
"$BIN" tokenize "$M" -o "$T/m64" "${V[@]}" "${ORTH[@]}" --obs cell_type1 --species mouse --max-len 64 2> /dev/null
NV=$(wc -l < "$T/v/vocab.tsv")
"$BIN" pretrain "$T/h64" "$T/m64" -o "$T/run" --config tiny --set vocab_size="$NV" --set max_position_embeddings=64 \
    --batch-size 8 --max-steps 40 --lr 3e-3 --warmup-steps 4 --log-every 5 --eval-every 40 --save-every 40 \
    --val-fraction 0.05 --seed 3 > "$T/pt.out" 2> "$T/pt.err"
cat "$T/pt.out"
"$BIN" embed "$T/h64" -m "$T/run/final" -o "$T/human.h5ad" 2> "$T/embed.log"
"$PY" - "$T" "$NV" <<'PY'
import json, math, sys
import anndata, numpy as np
t, nv = sys.argv[1], int(sys.argv[2])
recs = [json.loads(l) for l in open(f"{t}/run/log.jsonl")]
train = [r for r in recs if r["type"] == "train"]
first, last = train[0]["loss"], train[-1]["loss"]
print(f"pretrain: loss {first:.3f} -> {last:.3f} (ln V = {math.log(nv):.3f})")
assert all(math.isfinite(r["loss"]) for r in train)
assert abs(first - math.log(nv)) < 0.6 and last < first - 0.5, (first, last)
e = anndata.read_h5ad(f"{t}/human.h5ad")
X = np.asarray(e.obsm["X_scfm"])
print(f"embed: {X.shape[0]} cells x {X.shape[1]}, obs {list(e.obs.columns)}")
assert X.shape[0] == 2142 and X.shape[1] > 0 and np.all(np.isfinite(X)) and X.std() > 0
ids = [l.split("\t")[0] for l in open(f"{t}/h64/obs.tsv").read().splitlines()[1:]]
assert list(e.obs_names) == ids
assert "cell_type1" in e.obs.columns and e.obs["cell_type1"].nunique() == 14
PY

# bad input: symbols without --symbols; a name table without its gene columns; one without pairs
fails() { # what, message part, command...: must exit non-zero, name the problem, leave no output
    local what=$1 msg=$2 rc=0; shift 2
    "$@" > /dev/null 2> "$T/err" || rc=$?
    if [ "$rc" -eq 0 ] || ! grep -q -- "$msg" "$T/err"; then echo "FAIL $what: exit $rc"; cat "$T/err"; exit 1; fi
    echo "ok $what: $(grep -- "$msg" "$T/err" | head -1)"
}
fails "symbols without --symbols" "--symbols" "$BIN" vocab build "$H" -o "$T/nosym"
test ! -e "$T/nosym"
cut -d, -f3- "$BARON/gene_matches_mouse2human.csv" > "$T/nogenes.csv"
fails "name table without gene columns" "nogenes.csv: BioMart header lacks" \
    "$BIN" tokenize "$M" -o "$T/bad1" "${V[@]}" --to-species human --orthologs "$T/nogenes.csv"
head -1 "$BARON/gene_matches_mouse2human.csv" > "$T/header_only.csv"
fails "name table without rows" "no mouse -> human ortholog pair" \
    "$BIN" tokenize "$M" -o "$T/bad2" "${V[@]}" --to-species human --orthologs "$T/header_only.csv"
test ! -e "$T/bad1" && test ! -e "$T/bad2"
echo "registry_baron: ok"
