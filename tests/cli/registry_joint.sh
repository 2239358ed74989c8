#!/usr/bin/env bash
# The joint (GeneCompass) human+mouse route on the registry data (scripts/fetch_data: Baron 2016
# human and mouse pancreas from PyPI's came 0.1.13, gene symbols only; skipped only when it cannot
# be downloaded):
#  - scfm vocab build --human H --mouse M --orthologs gene_matches_1v1_mouse2human.csv --symbols:
#    species-qualified symbols (human:INS, mouse:INS1), each species' medians, the homolog map
#    from the symbol-keyed BioMart table; against the numpy reference
#    scripts/joint_vocab_reference.py --symbols (layout, medians, every pair, the report);
#  - both species tokenized with GeneCompass values against it: every cell equals
#    scripts/tokenize_reference.py --joint (mouse genes with a pair take the human token);
#    merged, the corpus keeps both species and the homolog map;
#  - scfm priors build coexpression on the two value corpora: every pair and its Pearson r equal
#    numpy on the corpora's values;
#  - a GRN prior on the vocabulary's symbols: config.json records its network (path, hash) from model
#    init through pretraining, and scfm grn refuses that network (or a copy) unless --force;
#  - bad input: a symbol-keyed ortholog table for a vocabulary without --symbols, a corpus without
#    values or whose vocabulary cannot be found for the co-expression prior, a changed homolog map.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # need_registry_data
need_registry_data              # BARON=.cache/scfm-data/baron
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
H=$BARON/raw-Baron_human.h5ad
M=$BARON/raw-Baron_mouse.h5ad
O=$BARON/gene_matches_1v1_mouse2human.csv
fails() { # what, message fragment, command...
    local what=$1 msg=$2; shift 2
    if "$@" > "$T/out" 2> "$T/err"; then echo "FAIL $what: accepted"; exit 1; fi
    grep -qF -- "$msg" "$T/err" || { echo "FAIL $what: message lacks '$msg':"; cat "$T/err"; exit 1; }
    echo "ok error ($what): $(grep -F -- "$msg" "$T/err" | head -1)"
}

# 1. the joint vocabulary from symbols, against the numpy reference
"$BIN" vocab build --human "$H" --mouse "$M" --orthologs "$O" --symbols -o "$T/jv" 2> "$T/vocab.log"
grep "joint vocabulary\|homologs from" "$T/vocab.log"
"$PY" scripts/joint_vocab_reference.py "$T/jv" --human "$H" --mouse "$M" --orthologs "$O" --symbols
"$PY" - "$T/jv" <<'PY'
import csv, json, sys
d = sys.argv[1]
j = json.load(open(d + "/vocab.json"))
assert j["joint"] and j["gene_keys"] == "symbols" and j["n_homologs"] > 10000, j
tok = {t: int(i) for t, i in (l.rstrip("\n").split("\t") for l in open(d + "/vocab.tsv"))}
lo, hi = j["ranges"]["mouse"]
for g in ("human:INS", "human:GCG", "human:PDX1"):
    assert 2 <= tok[g] < lo, g
for g in ("mouse:INS1", "mouse:INS2", "mouse:GCG", "mouse:PDX1"):
    assert lo <= tok[g] < hi, g
pairs = {(r["human_id"], r["mouse_id"]) for r in csv.DictReader(open(d + "/homologs.tsv"), delimiter="\t")}
assert ("human:GCG", "mouse:GCG") in pairs and ("human:PDX1", "mouse:PDX1") in pairs
assert not any(h == "human:INS" for h, _ in pairs)  # INS has two mouse orthologs: no one-to-one pair
print(f"vocab.json ok: {j['n_genes']}, {j['n_homologs']} pairs; GCG and PDX1 paired, INS not (Ins1, Ins2)")
PY

# 2. tokenize each species against it, GeneCompass values; compare cell for cell; merge
V=(--vocab "$T/jv/vocab.tsv" --medians "$T/jv/medians.tsv" --values --max-len 256)
"$BIN" tokenize "$H" -o "$T/hs" "${V[@]}" --species human --obs cell_ontology_class 2> /dev/null
"$BIN" tokenize "$M" -o "$T/mm" "${V[@]}" --species mouse --obs cell_ontology_class 2> "$T/tm.log"
grep -q "11308 mouse genes take their human homolog's token" "$T/tm.log" ||
    { echo "FAIL: mouse homologs not written with the human token"; cat "$T/tm.log"; exit 1; }
"$PY" scripts/tokenize_reference.py "$H" "${V[@]}" --joint "$T/jv" --species human --compare "$T/hs" | tee "$T/rh.log"
grep -q "2142 cells, 0 differ" "$T/rh.log"
"$PY" scripts/tokenize_reference.py "$M" "${V[@]}" --joint "$T/jv" --species mouse --compare "$T/mm" | tee "$T/rm.log"
grep -q "1886 cells, 0 differ" "$T/rm.log"
"$BIN" corpus merge "$T/hs" "$T/mm" -o "$T/joint" 2> /dev/null
"$BIN" corpus info "$T/joint" > "$T/info.txt"
grep -q "cells per species: human 2142, mouse 1886, unknown 0" "$T/info.txt"
"$PY" - "$T" <<'PY'
import json, sys
import numpy as np
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
t = sys.argv[1]
c = read_corpus(t + "/joint")
lo = json.load(open(t + "/jv/vocab.json"))["ranges"]["mouse"][0]
sp = np.repeat(c["species"], np.diff(c["offsets"]))
shared = float(np.mean(c["tokens"][sp == 1] < lo))
assert list(c["species"]) == [0] * 2142 + [1] * 1886 and c["tokens"][sp == 0].max() < lo
assert shared > 0.7, shared  # most of a mouse cell's genes are written with human tokens
assert c["meta"]["joint"] and c["meta"]["homologs"]["n_pairs"] > 10000
print(f"merge ok: 4028 cells; {100 * shared:.1f}% of the mouse cells' tokens are shared human tokens")
PY

# 3. a co-expression prior from the two value corpora (scfm priors build coexpression CORPUS...):
#    the pairs and their r against numpy on the corpora's own values (every cell: --max-cells above both)
"$BIN" priors build coexpression "$T/hs" "$T/mm" --vocab "$T/jv/vocab.tsv" --max-cells 5000 --min-cells 150 \
    --threshold 0.6 --dim 8 --epochs 2 -o "$T/cx" 2> "$T/cx.log"
grep "coexpression:" "$T/cx.log"
"$PY" - "$T" <<'PY'
import json, sys
import numpy as np, scipy.sparse as sp
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
t = sys.argv[1]
vocab = [l.split("\t")[0] for l in open(t + "/jv/vocab.tsv")]
rows, cols, vals = [], [], []
n = 0
for d in ("hs", "mm"):
    c = read_corpus(f"{t}/{d}")
    lens = np.diff(c["offsets"])
    rows.append(n + np.repeat(np.arange(len(lens)), lens)); cols.append(c["tokens"]); vals.append(c["values"])
    n += len(lens)
X = sp.csr_matrix((np.concatenate(vals).astype(np.float64), (np.concatenate(rows), np.concatenate(cols))),
                  shape=(n, len(vocab)))
keep = np.flatnonzero(np.asarray((X > 0).sum(axis=0)).ravel() >= 150)
A = X[:, keep].toarray()
M = (A > 0).astype(np.float64)
N = M.T @ M
sx, sxx, sxy = A.T @ M, (A * A).T @ M, A.T @ A
with np.errstate(invalid="ignore", divide="ignore"):
    R = (N * sxy - sx * sx.T) / np.sqrt((N * sxx - sx ** 2) * (N * sxx.T - sx.T ** 2))
iu = np.triu_indices(len(keep), 1)
ok = (N[iu] >= 150) & (R[iu] >= 0.6)
want = {tuple(sorted((vocab[keep[i]], vocab[keep[j]]))): R[i, j] for i, j in zip(iu[0][ok], iu[1][ok])}
got = {}
for l in open(t + "/cx.pairs.tsv").read().splitlines()[1:]:
    a, b, r = l.split("\t")
    got[tuple(sorted((a, b)))] = float(r)
assert set(got) == set(want), (len(got), len(want), sorted(set(got) ^ set(want))[:5])
err = max(abs(got[k] - want[k]) for k in got)
assert err < 1e-6, err
rep = json.load(open(t + "/cx.json"))
assert rep["records"] == n and rep["pairs"] == len(want) and rep["sources"][0]["corpus"], rep
assert any(a.startswith("human:") for a, _ in got)
print(f"coexpression from corpora: {len(got)} pairs over {len(keep)} genes equal numpy (r within {err:.1e}), {n} cells")
PY

# 4. a GRN prior keyed by the joint vocabulary's symbols: model init records the network it was
#    built from in config.json (path and content hash, read from the prior's report), pretraining
#    keeps the record, and scfm grn refuses that network as its reference unless --force
printf 'tf\ttarget\nhuman:PDX1\thuman:INS\nhuman:PDX1\thuman:IAPP\nhuman:MAFA\thuman:INS\nhuman:PDX1\thuman:GCG\n' \
    > "$T/net.tsv"
printf 'tf\ttarget\nhuman:PDX1\thuman:INS\nhuman:PDX1\thuman:TTR\n' > "$T/other.tsv"
"$BIN" priors build grn "$T/net.tsv" --vocab "$T/jv/vocab.tsv" -o "$T/grnp" --dim 16 --epochs 2 2> /dev/null
GM=(--config genecompass-small --set num_hidden_layers=1 --set hidden_size=32 --set num_attention_heads=2
    --set intermediate_size=64 --set prior_embedding_size=16 --set max_position_embeddings=256
    --vocab "$T/jv/vocab.tsv" --homologs "$T/jv/homologs.tsv" --prior-random)
"$BIN" model init "${GM[@]}" --prior peca_grn="$T/grnp.tsv" -o "$T/gm" > /dev/null 2> "$T/init.log"
grep -q "peca_grn prior built from $T/net.tsv" "$T/init.log" || { echo "FAIL: no record"; cat "$T/init.log"; exit 1; }
"$BIN" pretrain "$T/joint" --init "$T/gm" -o "$T/gpt" --max-steps 2 --batch-size 4 --val-fraction 0.01 \
    --eval-every 2 --save-every 2 --seed 1 > /dev/null 2>&1
"$PY" - "$T" <<'PY'
import json, sys, hashlib
t = sys.argv[1]
net_hash = json.load(open(t + "/grnp.json"))["sources"][0]["hash"]
for d in ("gm", "gpt/final"):
    c = json.load(open(f"{t}/{d}/config.json"))
    g = c["scfm_grn_prior"]
    assert g["network"] == t + "/net.tsv" and g["network_hash"] == net_hash and g["table"] == t + "/grnp.tsv", g
    assert c["scfm_grn_prior_hashes"] == [net_hash], c
print("config.json records the GRN prior's network (init and after pretraining):", net_hash)
PY
GR=(--min-tf-cells 1 --max-cells 3 --null-genes 2 --route2-cells 0)
fails "grn: the prior's own network" "was used to build the model's GRN prior ($T/gpt/final/config.json records its hash" \
    "$BIN" grn "$T/hs" -m "$T/gpt/final" -o "$T/bad" --network "$T/net.tsv" "${GR[@]}"
cp "$T/net.tsv" "$T/net_copy.tsv"  # the same network under another name: the content hash is what counts
fails "grn: a copy of it" "was used to build the model's GRN prior" \
    "$BIN" grn "$T/hs" -m "$T/gpt/final" -o "$T/bad" --network "$T/net_copy.tsv" "${GR[@]}"
"$BIN" grn "$T/hs" -m "$T/gpt/final" -o "$T/g1" --network "$T/net.tsv" --force "${GR[@]}" > /dev/null 2> "$T/grn.log" ||
    { cat "$T/grn.log"; exit 1; }
grep -q "scoring anyway (--force)" "$T/grn.log" && [ -s "$T/g1.scores.tsv" ]
"$BIN" grn "$T/hs" -m "$T/gpt/final" -o "$T/g2" --network "$T/other.tsv" "${GR[@]}" > /dev/null 2>&1
[ -s "$T/g2.scores.tsv" ]
# a table without its report: a warning, and nothing recorded about a network
cp "$T/grnp.tsv" "$T/noreport.tsv"
"$BIN" model init "${GM[@]}" --prior peca_grn="$T/noreport.tsv" -o "$T/gm2" > /dev/null 2> "$T/init2.log"
grep -q "warning: no report $T/noreport.json naming the network" "$T/init2.log"
! grep -q scfm_grn_prior_hashes "$T/gm2/config.json" && grep -q '"network": null' "$T/gm2/config.json"
echo "ok: grn refuses the GRN prior's network (--force overrides), accepts another"

# 5. bad input
printf 'gene_id,gene_name\nENSG00000254647,INS\n' > "$T/hg.csv"
printf 'gene_id,gene_name\nENSMUSG00000035804,Ins1\n' > "$T/mg.csv"
fails "symbol table without --symbols" "pairs gene symbols, not Ensembl IDs: build the vocabulary with --symbols" \
    "$BIN" vocab build --human "$H" --mouse "$M" --human-gene-names "$T/hg.csv" --mouse-gene-names "$T/mg.csv" \
    --orthologs "$O" -o "$T/bad"
[ ! -e "$T/bad" ]
"$BIN" tokenize "$H" -o "$T/novalues" --vocab "$T/jv/vocab.tsv" --medians "$T/jv/medians.tsv" --species human \
    --max-len 64 2> /dev/null
fails "corpus without values" "the corpus has no expression values (tokenize with --values)" \
    "$BIN" priors build coexpression "$T/novalues" --vocab "$T/jv/vocab.tsv" -o "$T/bad"
cp "$T/jv/vocab.tsv" "$T/vocab_copy.tsv" && echo "extra	31275" >> "$T/vocab_copy.tsv"
mv "$T/jv/vocab.tsv" "$T/jv/vocab.moved"
fails "corpus vocabulary unknown" "which is none of the --vocab files (nor its recorded vocab_file" \
    "$BIN" priors build coexpression "$T/hs" --vocab "$T/vocab_copy.tsv" -o "$T/bad"
mv "$T/jv/vocab.moved" "$T/jv/vocab.tsv"
ls "$T"/bad* > /dev/null 2>&1 && { echo "FAIL: a failed priors build left output"; exit 1; }
sed '2d' "$T/jv/homologs.tsv" > "$T/h2" && cp "$T/h2" "$T/jv/homologs.tsv"
fails "changed homolog map" "homologs.tsv: hash" "$BIN" tokenize "$M" -o "$T/mm2" "${V[@]}" --species mouse
[ ! -e "$T/mm2" ]
echo "registry_joint: ok"
