#!/usr/bin/env bash
# GeneCompass data side on real data: a joint human+mouse vocabulary (two human PBMC folders,
# the mouse pancreas, BioMart and HCOP orthologs) checked against the numpy reference
# scripts/joint_vocab_reference.py (layout, medians, homolog pairs, report); human and mouse
# cells tokenized against it equal, cell for cell, scripts/tokenize_reference.py --joint
# (homologous mouse genes carry the human token, normalized by their own median; GeneCompass
# values log2(1 + counts/median)); a merged corpus keeps every cell, value and species.
set -euo pipefail
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
if [ ! -d "$D/mouse/pancreas_baron_labeled" ]; then echo "SKIP: needs the team's real data: no shared data at $D"; exit 77; fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
H1=$D/human/pbmc1k_v3 H2=$D/human/pbmc1k_v2 M=$D/mouse/pancreas_baron_labeled
HN=$D/genes/human_ensembl_genes.csv.gz MN=$D/genes/mouse_ensembl_genes.csv.gz
IN=(--human $H1 --human $H2 --mouse $M --human-gene-names $HN --mouse-gene-names $MN)

# 1. joint vocabularies, BioMart and HCOP (support >= 3)
"$BIN" vocab build "${IN[@]}" --orthologs $D/orthologs/biomart_mouse_to_human.csv.gz -o "$T/jv" 2> "$T/vocab.log"
grep "joint vocabulary\|homologs from" "$T/vocab.log"
grep -q "one-to-one pairs kept" "$T/vocab.log"
"$PY" scripts/joint_vocab_reference.py "$T/jv" "${IN[@]}" --orthologs $D/orthologs/biomart_mouse_to_human.csv.gz
"$BIN" vocab build "${IN[@]}" --orthologs $D/orthologs/hcop_human_mouse.tsv.gz --ortholog-min-support 3 -o "$T/jvh" 2> /dev/null
"$PY" scripts/joint_vocab_reference.py "$T/jvh" "${IN[@]}" --orthologs $D/orthologs/hcop_human_mouse.tsv.gz \
    --ortholog-min-support 3
"$PY" - "$T/jv" "$T/jvh" <<'PY'
import json, sys
a, b = (json.load(open(d + "/vocab.json")) for d in sys.argv[1:])
assert a["joint"] and a["species"] == ["human", "mouse"] and a["vocab_hash"] == b["vocab_hash"]
assert a["n_homologs"] > 8000 and b["n_homologs"] > 8000, (a["n_homologs"], b["n_homologs"])
assert b["homolog_report"]["below_support"] > 0 and a["homolog_report"]["not_one2one_type"] > 0
print("vocab.json ok:", a["n_genes"], "BioMart", a["n_homologs"], "pairs, HCOP", b["n_homologs"])
PY

# 2. tokenize each species against the joint vocabulary, GeneCompass values
V=(--vocab "$T/jv/vocab.tsv" --medians "$T/jv/medians.tsv")
"$BIN" tokenize $M -o "$T/cm" "${V[@]}" --gene-names $MN --species mouse --values --obs label 2> "$T/tm.log"
grep -q "take their human homolog's token" "$T/tm.log"
"$PY" scripts/tokenize_reference.py $M "${V[@]}" --gene-names $MN --joint "$T/jv" --species mouse --values \
    --compare "$T/cm" | tee "$T/ref_m.log"
grep -q "822 cells, 0 differ" "$T/ref_m.log"
"$BIN" tokenize $H1 -o "$T/ch" "${V[@]}" --gene-names $HN --species human --values --threads 2 2> /dev/null
"$PY" scripts/tokenize_reference.py $H1 "${V[@]}" --gene-names $HN --joint "$T/jv" --species human --values \
    --compare "$T/ch" | tee "$T/ref_h.log"
grep -q "906 cells, 0 differ" "$T/ref_h.log"
# the per-cell step as an option (also against the reference)
"$BIN" tokenize $M -o "$T/cmp" "${V[@]}" --gene-names $MN --species mouse --values-per-cell 2> /dev/null
"$PY" scripts/tokenize_reference.py $M "${V[@]}" --gene-names $MN --joint "$T/jv" --species mouse --values-per-cell \
    --compare "$T/cmp" | grep -q "822 cells, 0 differ"

# 3. merge: cells, values and species of both, homolog map kept
"$BIN" corpus merge "$T/ch" "$T/cm" -o "$T/cmh" 2> /dev/null
"$BIN" corpus info "$T/cmh" > "$T/info.txt"
grep -q "cells per species: human 906, mouse 822, unknown 0" "$T/info.txt"
grep -q "species mixed" "$T/info.txt"
"$PY" - "$T" <<'PY'
import csv, json, sys
import numpy as np
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
t = sys.argv[1]
h, m, hm = read_corpus(t + "/ch"), read_corpus(t + "/cm"), read_corpus(t + "/cmh")
assert list(h["species"]) == [0] * 906 and list(m["species"]) == [1] * 822
assert list(hm["species"]) == [0] * 906 + [1] * 822
assert np.array_equal(hm["tokens"], np.concatenate([h["tokens"], m["tokens"]]))
assert np.array_equal(hm["values"], np.concatenate([h["values"], m["values"]]))
assert hm["cell_ids"] == h["cell_ids"] + m["cell_ids"]
assert hm["obs"]["label"] == [""] * 906 + m["obs"]["label"]
j = json.load(open(t + "/jv/vocab.json"))
meta = hm["meta"]
assert meta["joint"] and meta["homologs"]["fnv1a64"] == j["homologs_fnv1a64"] == meta["settings"]["homologs_fnv1a64"]
assert open(t + "/cmh/homologs.tsv").read() == open(t + "/jv/homologs.tsv").read()
# mouse cells: homologous genes only as human tokens, other mouse genes as their own tokens
rows = list(csv.reader(open(t + "/jv/homologs.tsv"), delimiter="\t"))[1:]
paired_mouse = {int(r[1]) for r in rows}
paired_human = {int(r[0]) for r in rows}
lo, hi = j["ranges"]["mouse"]
mt = m["tokens"]
assert not (set(mt.tolist()) & paired_mouse), "a paired mouse token was written"
in_human = mt < lo
assert set(mt[in_human].tolist()) <= paired_human and in_human.sum() > 0.5 * len(mt)
assert h["tokens"].max() < lo, "human cells hold only human tokens"
print(f"merge ok: 1728 cells; mouse tokens {100 * in_human.mean():.1f}% shared human tokens")
PY
echo "genecompass_data: ok"
