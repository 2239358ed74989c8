#!/usr/bin/env bash
# The GeneCompass chain on real data: a joint human + mouse vocabulary (pbmc1k_v3 and the
# mouse pancreas, BioMart one-to-one homologs), both species tokenized with values, merged,
# a small GeneCompass model with a co-expression prior from a table keyed by Ensembl ID
# (the other three random) and the homolog map; pretraining (values + species in every batch,
# validation per species), exact resume, embeddings (mean and species row), fine-tuning on the
# mouse cell types, prediction and in-silico deletion. Bad inputs, each a clear error before
# any compute: a corpus without values, a joint corpus for a model without the homolog map,
# a prior table of the wrong width or with duplicate genes.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared human/pbmc1k_v3 mouse/pancreas_baron_labeled genes orthologs/biomart_human_to_mouse.csv.gz
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
fails() { # what, message fragment, command...
    local what=$1 msg=$2; shift 2
    if "$@" > "$T/out" 2> "$T/err"; then echo "FAIL $what: accepted"; exit 1; fi
    grep -qF -- "$msg" "$T/err" || { echo "FAIL $what: message lacks '$msg':"; cat "$T/err"; exit 1; }
}
HG=$D/genes/human_ensembl_genes.csv.gz
MG=$D/genes/mouse_ensembl_genes.csv.gz
"$BIN" vocab build --human "$D/human/pbmc1k_v3" --mouse "$D/mouse/pancreas_baron_labeled" \
    --human-gene-names "$HG" --mouse-gene-names "$MG" --orthologs "$D/orthologs/biomart_human_to_mouse.csv.gz" \
    -o "$T/vocab" 2> "$T/vocab.log"
grep -q "one-to-one pairs kept" "$T/vocab.log"
TOK=(--vocab "$T/vocab/vocab.tsv" --medians "$T/vocab/medians.tsv" --values --max-len 96)
"$BIN" tokenize "$D/human/pbmc1k_v3" "${TOK[@]}" --gene-names "$HG" --species human -o "$T/hs" 2> /dev/null
"$BIN" tokenize "$D/mouse/pancreas_baron_labeled" "${TOK[@]}" --gene-names "$MG" --species mouse --obs label \
    -o "$T/mm" 2> /dev/null
"$BIN" corpus merge "$T/hs" "$T/mm" -o "$T/joint" 2> /dev/null
NH=$("$BIN" corpus info "$T/hs" | awk '/^cells [0-9]+,/ {print $2 + 0}')
NM=$("$BIN" corpus info "$T/mm" | awk '/^cells [0-9]+,/ {print $2 + 0}')
"$BIN" corpus info "$T/joint" > "$T/info.txt"
grep -q "cells per species: human $NH, mouse $NM" "$T/info.txt"

# a co-expression table for some genes (random, keyed by Ensembl ID), width 16
"$PY" - "$T/vocab/vocab.tsv" "$T/coexp.tsv" 16 <<'PY'
import sys, numpy as np
ids = [l.split("\t")[0] for l in open(sys.argv[1]) if not l.startswith("<")]
rng = np.random.default_rng(5)
with open(sys.argv[2], "w") as f:
    f.write("gene\t" + "\t".join("d%d" % i for i in range(int(sys.argv[3]))) + "\n")
    for g in ids[::3]:
        f.write(g + "\t" + "\t".join("%.5f" % x for x in rng.normal(size=int(sys.argv[3]))) + "\n")
PY
MODEL=(--config genecompass-small --set num_hidden_layers=2 --set hidden_size=32 --set num_attention_heads=2
       --set intermediate_size=64 --set prior_embedding_size=16 --set max_position_embeddings=96
       --vocab "$T/vocab/vocab.tsv")
"$BIN" model init "${MODEL[@]}" --prior co_exp="$T/coexp.tsv" --prior-random --homologs "$T/vocab/homologs.tsv" \
    -o "$T/m0" 2> "$T/init.log" > /dev/null
grep -q "co_exp prior .*genes from the file" "$T/init.log"
"$BIN" model info "$T/m0" > "$T/minfo.txt"
grep -q "genecompass: values on, species row on" "$T/minfo.txt"

# pretraining: 8 steps straight, and 4 + resume to 8: the same weights, bit for bit
PT=(--batch-size 8 --max-steps 8 --lr 1e-3 --warmup-steps 2 --log-every 1 --eval-every 4 --save-every 4
    --val-fraction 0.1 --mega-mult 5 --seed 3)
"$BIN" pretrain "$T/joint" --init "$T/m0" -o "$T/run" "${PT[@]}" > /dev/null 2> "$T/pt.log"
grep -q '"human_top1"' "$T/run/log.jsonl" && grep -q '"mouse_value_mse"' "$T/run/log.jsonl"
grep -q "mouse cells: top-1" "$T/pt.log"
"$BIN" pretrain "$T/joint" --init "$T/m0" -o "$T/run2" "${PT[@]}" --stop-at 4 > /dev/null 2>&1
"$BIN" pretrain --resume "$T/run2" > /dev/null 2>&1
cmp "$T/run/final/model.safetensors" "$T/run2/final/model.safetensors"
"$PY" - "$T/run/log.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in rows if r["type"] == "train"]
ev = [r for r in rows if r["type"] == "eval"]
assert len(train) == 8 and all(math.isfinite(r["loss"]) for r in train), train
assert ev and all(0 <= ev[-1][k] <= 1 for k in ("human_top10", "mouse_top10")), ev
assert ev[-1]["val_value_mse"] > 0, ev
PY

M=$T/run/final
# embeddings: mean over genes and the species row (GeneCompass's cell state)
"$BIN" embed "$T/joint" -m "$M" -o "$T/e.npy" --layer -1 2> /dev/null
"$BIN" embed "$T/joint" -m "$M" -o "$T/cls.npy" --layer -1 --pool cls 2> /dev/null
"$PY" - "$T/e.npy" "$T/cls.npy" "$NH" "$NM" <<'PY'
import sys, numpy as np
e, c = np.load(sys.argv[1]), np.load(sys.argv[2])
nh, nm = int(sys.argv[3]), int(sys.argv[4])
assert e.shape == (nh + nm, 32) and c.shape == (nh + nm, 32), (e.shape, c.shape)
assert np.isfinite(e).all() and np.isfinite(c).all() and not np.allclose(e, c)
# two species rows: the cells of one species share more of their species-row state
sim = lambda a, b: float(np.mean(a @ b.T) / (np.linalg.norm(a, axis=1).mean() * np.linalg.norm(b, axis=1).mean()))
assert sim(c[:nh], c[:nh]) > sim(c[:nh], c[nh:]), "species rows do not separate the species"
PY
# fine-tuning on the mouse cell types, prediction, deletion
"$BIN" finetune "$T/mm" -m "$M" -o "$T/ft" --label label --epochs 1 --batch-size 8 --warmup-steps 2 --lr 1e-3 \
    > /dev/null 2> "$T/ft.log"
grep -q "macro" "$T/ft/metrics.json"
"$BIN" predict "$T/mm" -m "$T/ft/best" -o "$T/pred.tsv" > /dev/null 2>&1
[ "$(wc -l < "$T/pred.tsv")" -eq $((NM + 1)) ]
# deletion in mouse beta cells, every gene, against a null of random expressed genes; the
# perturbed copies' token/value pairs are dumped: a deleted gene's pair leaves, the rest stay
"$BIN" perturb "$T/mm" -m "$M" -o "$T/del.tsv" --delete --cells label=beta --max-cells 6 --null-genes 2 \
    --gene-shifts "$T/gs.tsv" > /dev/null 2> "$T/del.log"
[ "$(wc -l < "$T/del.tsv")" -gt 20 ] && [ "$(wc -l < "$T/gs.tsv")" -gt 20 ]
"$BIN" perturb "$T/mm" -m "$M" -o "$T/ovx.tsv" --overexpress --genes "$(awk -F'\t' 'NR == 40 {print $1}' "$T/vocab/vocab.tsv")" \
    --cells label=alpha --max-cells 4 > /dev/null 2>&1
[ "$(wc -l < "$T/ovx.tsv")" -eq 2 ]

# bad input
"$BIN" tokenize "$D/mouse/pancreas_baron_labeled" --vocab "$T/vocab/vocab.tsv" --medians "$T/vocab/medians.tsv" \
    --gene-names "$MG" --species mouse --max-len 96 -o "$T/novalues" 2> /dev/null
fails "corpus without values" "has no expression values" "$BIN" pretrain "$T/novalues" --init "$T/m0" -o "$T/r3" --max-steps 1
fails "embed without values" "has no expression values" "$BIN" embed "$T/novalues" -m "$M" -o "$T/x.npy"
"$BIN" model init "${MODEL[@]}" --prior-random -o "$T/nohom" > /dev/null 2>&1
fails "joint corpus, model without homologs" "has no homolog map" "$BIN" pretrain "$T/joint" --init "$T/nohom" -o "$T/r4" --max-steps 1
fails "prior of the wrong width" "16 wide, expected 8" "$BIN" model init "${MODEL[@]}" --set prior_embedding_size=8 \
    --prior co_exp="$T/coexp.tsv" --prior-random -o "$T/bad1"
head -3 "$T/coexp.tsv" > "$T/dup.tsv"
sed -n 2p "$T/coexp.tsv" >> "$T/dup.tsv"
fails "prior with a duplicate gene" "dup.tsv" "$BIN" model init "${MODEL[@]}" --prior co_exp="$T/dup.tsv" --prior-random -o "$T/bad2"
fails "priors from a config alone" "prior-knowledge tables" "$BIN" pretrain "$T/joint" -o "$T/r5" --config genecompass-small \
    --set vocab_size=$(($(wc -l < "$T/vocab/vocab.tsv"))) --max-steps 1
fails "prior without --prior" "give --prior promoter=FILE" "$BIN" model init "${MODEL[@]}" -o "$T/bad3"
[ ! -e "$T/bad1" ] && [ ! -e "$T/bad2" ] && [ ! -e "$T/r3/final" ]
echo "genecompass chain: ok"
