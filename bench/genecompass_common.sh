# Sourced by bench/genecompass_real.sh and bench/genecompass_priors.sh (not run by itself): the
# steps both share on the team's data (../shared/data). After `gc_prepare`:
#   $OUT/vocab/          joint human + mouse vocabulary (every human folder + the mouse pancreas,
#                        BioMart one-to-one homologs), medians, homologs.tsv
#   $OUT/hs, $OUT/mm     both species tokenized with values ($MAX_LEN genes per cell)
#   $OUT/joint           the two merged
#   $OUT/coexp.tsv       co-expression prior (`scfm priors build coexpression`, two human PBMC sets)
#   $OUT/grn.tsv         GRN prior (`scfm priors build grn`, DoRothEA A-C)
#   PRIORS=(...)         `scfm model init` options for the two tables (and --prior-random)
# Each step is skipped when its output exists, so a second run (or the other script with the
# same OUT) reuses them. Environment: OUT, MAX_LEN (256), THREADS (2), PRIOR_DIM (128),
# PRIOR_EPOCHS (10), SCFM_BIN, SCFM_PYTHON, SCFM_SHARED_DATA.
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-$PWD/build/scfm}
PY=${SCFM_PYTHON:-$PWD/.venv/bin/python}
MAX_LEN=${MAX_LEN:-256}
THREADS=${THREADS:-2}
PRIOR_DIM=${PRIOR_DIM:-128}
PRIOR_EPOCHS=${PRIOR_EPOCHS:-10}
export OMP_NUM_THREADS=$THREADS
HG=$D/genes/human_ensembl_genes.csv.gz
MG=$D/genes/mouse_ensembl_genes.csv.gz
TOK=(--vocab "$OUT/vocab/vocab.tsv" --medians "$OUT/vocab/medians.tsv" --values --max-len "$MAX_LEN" --threads "$THREADS")

gc_machine() { # CPU, threads, load, binary
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, threads $THREADS;" \
        "load average $(cut -d' ' -f1-3 /proc/loadavg); $("$BIN" --version | head -1)"
}

gc_prepare() {
    mkdir -p "$OUT"
    if [ ! -f "$OUT/vocab/vocab.json" ]; then
        local HUMAN=() h
        for h in "$D"/human/*; do HUMAN+=(--human "$h"); done
        "$BIN" vocab build "${HUMAN[@]}" --mouse "$D/mouse/pancreas_baron_labeled" --human-gene-names "$HG" \
            --mouse-gene-names "$MG" --orthologs "$D/orthologs/biomart_human_to_mouse.csv.gz" -o "$OUT/vocab" \
            2> "$OUT/vocab.log"
    fi
    grep "joint vocabulary\|pairs kept" "$OUT/vocab.log" | sed 's/^/  /'
    [ -f "$OUT/hs/corpus.json" ] || "$BIN" tokenize "$D"/human/* "${TOK[@]}" --gene-names "$HG" --species human \
        -o "$OUT/hs" 2> "$OUT/tok_hs.log"
    [ -f "$OUT/mm/corpus.json" ] || "$BIN" tokenize "$D/mouse/pancreas_baron_labeled" "${TOK[@]}" --gene-names "$MG" \
        --species mouse --obs label -o "$OUT/mm" 2> "$OUT/tok_mm.log"
    [ -f "$OUT/joint/corpus.json" ] || "$BIN" corpus merge "$OUT/hs" "$OUT/mm" -o "$OUT/joint" 2> /dev/null
    "$BIN" corpus info "$OUT/joint" > "$OUT/joint.info" 2> /dev/null
    grep "cells per species" "$OUT/joint.info" | sed 's/^/  /'

    # prior tables: co-expression from two human PBMC sets, GRN from DoRothEA A-C
    PRIORS=(--prior-random)
    if "$BIN" priors --help > /dev/null 2>&1; then
        [ -f "$OUT/coexp.tsv" ] || "$BIN" priors build coexpression "$D/human/pbmc4k_labeled" "$D/human/pbmc_donorA" \
            --gene-names "$HG" --vocab "$OUT/vocab/vocab.tsv" --dim "$PRIOR_DIM" --epochs "$PRIOR_EPOCHS" \
            -o "$OUT/coexp" > "$OUT/priors_coexp.log" 2>&1 || true
        [ -f "$OUT/grn.tsv" ] || "$BIN" priors build grn "$D/grn/dorothea_human.tsv.gz" --confidence A,B,C \
            --gene-names "$HG" --vocab "$OUT/vocab/vocab.tsv" --dim "$PRIOR_DIM" --epochs "$PRIOR_EPOCHS" \
            -o "$OUT/grn" > "$OUT/priors_grn.log" 2>&1 || true
        [ -s "$OUT/coexp.tsv" ] && PRIORS+=(--prior co_exp="$OUT/coexp.tsv")
        [ -s "$OUT/grn.tsv" ] && PRIORS+=(--prior peca_grn="$OUT/grn.tsv")
    fi
    echo "  priors: ${PRIORS[*]}"
}

# gc_pretrain NAME CORPUS INIT: pretrain with the options in PT=(...), unless done
gc_pretrain() {
    [ -f "$OUT/$1/final/model.safetensors" ] && return 0
    local t0=$SECONDS
    "$BIN" pretrain "$2" --init "$3" -o "$OUT/$1" "${PT[@]}" --force > "$OUT/$1.out" 2> "$OUT/$1.log"
    echo "  pretrain $1: $((SECONDS - t0)) s wall (load average now $(cut -d' ' -f1 /proc/loadavg))"
}
