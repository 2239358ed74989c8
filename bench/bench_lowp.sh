#!/usr/bin/env bash
# Reduced precision inference (bf16 and int8, each where the CPU has it) against fp32, all
# measured back to back in one run (under load only the ratios mean something):
#  1. bench_bert forward (encoder, Geneformer V1 shape) tokens/s at T=512 B=16 and T=2048 B=4;
#  2. scfm embed on the registry Baron human cells (scripts/fetch_data) with a random model of
#     the Geneformer V1 shape: wall, cells/s, cosine min/mean to fp32 per cell;
#  3. scfm perturb --delete on a few of those cells, tokenized at most 256 genes long (every
#     gene of a cell is deleted in turn: one forward per gene): cells/s and the top-20 overlap
#     of the ranking (genes by mean shift).
# Usage: bash bench/bench_lowp.sh   (env: BUILD=build, THREADS=2, EMBED_CELLS=300,
#        PERTURB_CELLS=2, ITERS=3, PY=.venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
EMBED_CELLS=${EMBED_CELLS:-300}
PERTURB_CELLS=${PERTURB_CELLS:-2}
ITERS=${ITERS:-3}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=$THREADS
. bench/torch_env.sh
make -s -j2 "$BUILD/scfm" "$BUILD/bench/bench_bert" > /dev/null
machine_info "$THREADS"
LOWP=""
for p in bf16 int8; do
    if "$BUILD/scfm" --version | grep -q "^$p inference: available"; then LOWP="$LOWP $p"
    else "$BUILD/scfm" --version | grep "^$p inference"; fi
done
if [ -z "$LOWP" ]; then
    echo "neither bf16 nor int8 inference is available on this machine: nothing to compare"; exit 0
fi
ALL="fp32$LOWP"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "== bench_bert forward, geneformer-v1 shape (L 6, H 256, 4 heads, FFN 512)"
for shape in "512 16" "2048 4"; do
    set -- $shape
    for p in $ALL; do
        r=$("$BUILD/bench/bench_bert" --only fwd --T "$1" --batch "$2" --iters "$ITERS" --precision "$p" | grep '^RESULT')
        tps=$(echo "$r" | sed 's/.*fwd_tokens_per_s=\([0-9.]*\).*/\1/')
        echo "T=$1 B=$2 $p: $tps tokens/s"
        eval "tps_$p=$tps"
    done
    for p in $LOWP; do
        eval "tps=\$tps_$p"
        echo "T=$1 B=$2 $p/fp32: $(awk -v a="$tps" -v b="$tps_fp32" 'BEGIN{printf "%.2fx", a/b}')"
    done
done

echo "== scfm embed, Baron human, $EMBED_CELLS cells, random geneformer-v1-shaped model"
BARON=$(bash scripts/fetch_data)
H=$BARON/raw-Baron_human.h5ad
"$BUILD/scfm" vocab build "$H" -o "$T/v" --symbols > /dev/null 2>&1
"$BUILD/scfm" tokenize "$H" -o "$T/c" --vocab "$T/v/vocab.tsv" --medians "$T/v/medians.tsv" --max-len 2048 > /dev/null 2>&1
"$BUILD/scfm" tokenize "$H" -o "$T/c256" --vocab "$T/v/vocab.tsv" --medians "$T/v/medians.tsv" --max-len 256 > /dev/null 2>&1
"$BUILD/scfm" model init --config geneformer-v1 --vocab "$T/v/vocab.tsv" -o "$T/m" --seed 1 > /dev/null 2>&1
for p in $ALL; do
    t0=$(date +%s.%N)
    "$BUILD/scfm" embed "$T/c" -m "$T/m" -o "$T/e_$p.npy" --max-cells "$EMBED_CELLS" --precision "$p" > "$T/e_$p.out" 2> /dev/null
    t1=$(date +%s.%N)
    s=$(sed -n 's/^seconds\t//p' "$T/e_$p.out")
    echo "embed $p: wall $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s, forward $s s," \
        "$(awk -v n="$EMBED_CELLS" -v s="$s" 'BEGIN{printf "%.2f", n/s}') cells/s"
done
"$PY" - "$T" $LOWP <<'PY'
import sys
import numpy as np
t = sys.argv[1]
a = np.load(f"{t}/e_fp32.npy").astype(np.float64)
for p in sys.argv[2:]:
    b = np.load(f"{t}/e_{p}.npy").astype(np.float64)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(f"embed {p} vs fp32: {a.shape[0]} cells, cosine min {cos.min():.6f} mean {cos.mean():.6f}")
PY

echo "== scfm perturb --delete, $PERTURB_CELLS cells of at most 256 genes (every gene of each), same model"
for p in $ALL; do
    t0=$(date +%s.%N)
    "$BUILD/scfm" perturb "$T/c256" -m "$T/m" -o "$T/p_$p.tsv" --delete --max-cells "$PERTURB_CELLS" --precision "$p" \
        > /dev/null 2> /dev/null
    t1=$(date +%s.%N)
    echo "perturb $p: wall $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s," \
        "$(awk -v n="$PERTURB_CELLS" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", n/(b-a)}') cells/s"
done
"$PY" - "$T" $LOWP <<'PY'
import csv, sys
t = sys.argv[1]
def top(p, k=20):
    rs = list(csv.DictReader(open(p), delimiter="\t"))
    return len(rs), {r["gene"] for r in sorted(rs, key=lambda r: (float(r["mean_shift"]), r["gene"]))[:k]}
n, a = top(f"{t}/p_fp32.tsv")
for p in sys.argv[2:]:
    _, b = top(f"{t}/p_{p}.tsv")
    print(f"perturb {p} vs fp32: {n} genes, top-20 by mean shift overlap {len(a & b)}/20")
PY
uptime | sed 's/.*load/load after/'
