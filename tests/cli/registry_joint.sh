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
#  - bad input: a symbol-keyed ortholog table for a vocabulary without --symbols, a changed
#    homolog map.
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

# 3. bad input
printf 'gene_id,gene_name\nENSG00000254647,INS\n' > "$T/hg.csv"
printf 'gene_id,gene_name\nENSMUSG00000035804,Ins1\n' > "$T/mg.csv"
fails "symbol table without --symbols" "pairs gene symbols, not Ensembl IDs: build the vocabulary with --symbols" \
    "$BIN" vocab build --human "$H" --mouse "$M" --human-gene-names "$T/hg.csv" --mouse-gene-names "$T/mg.csv" \
    --orthologs "$O" -o "$T/bad"
[ ! -e "$T/bad" ]
sed '2d' "$T/jv/homologs.tsv" > "$T/h2" && cp "$T/h2" "$T/jv/homologs.tsv"
fails "changed homolog map" "homologs.tsv: hash" "$BIN" tokenize "$M" -o "$T/mm2" "${V[@]}" --species mouse
[ ! -e "$T/mm2" ]
echo "registry_joint: ok"
