#!/usr/bin/env bash
# In-silico deletion, perturbed cells per second: `scfm perturb --delete` over every gene of
# each cell against the same algorithm written in the newest PyTorch (bench/perturb_torch.py:
# Geneformer's way, every perturbed copy through transformers' BertModel with sdpa attention,
# in batches), side by side in one run, with the same model weights (scfm's checkpoint, which
# transformers loads as it is), the same cells, threads, layer and batch size. Checks that the
# two give the same shifts (the largest absolute difference of the cosines is printed) and
# exits non-zero when they differ by more than TOL.
#   data   the registry data of the demo (Baron et al. 2016 human islets, PyPI came 0.1.13,
#          scripts/fetch_data, cached in .cache/), vocabulary built from it, tokenized with
#          cells cut to MAXLEN genes;
#   model  the Geneformer-V1 shape (6 layers / 256 hidden / 4 heads / 512 FFN), randomly
#          initialised (`scfm model init --config geneformer-v1 --vocab`): speed does not
#          depend on the weights, and both sides read the same file.
# Each cell of n genes costs n + 1 forwards of about n tokens (the original and one copy per
# gene); scfm's figure is the wall time of the whole command (corpus, model, statistics and
# tables included), PyTorch's the perturbation loop only (after one untimed warm-up batch;
# imports and loading left out).
#
#   make bench && bash bench/perturb_vs_torch.sh [THREADS]
# Environment (defaults in brackets): CELLS [6] cells perturbed (the corpus's first), MAXLEN
# [512] genes per cell, BATCH [16] sequences per forward batch (scfm: --batch-cells BATCH,
# --batch-tokens BATCH*MAXLEN), LAYER [-1] hidden state of the cell embedding (scfm's --layer
# numbering; -1 the last layer), TOL [1e-6] largest accepted cosine difference, TORCH_PY
# (a python with torch instead of bench/.venv-torch, see bench/torch_env.sh), SCFM_BUILD
# [build], SCFM_GEMM (matmul backend), SCFM_PYTHON (python with h5py for scripts/fetch_data),
# WORK (keep the corpus, model and tables there instead of a temporary folder), LOWP [the
# reduced precisions `scfm --version` says are available; "none" for none]: after the float32
# comparison, scfm perturb again with each of them (--precision bf16 / int8) and, where bf16
# is among them, PyTorch under bf16 autocast, in the same run: cells/s, the ratios to PyTorch
# float32 and to PyTorch bf16, the largest cosine difference to scfm's float32 shifts and the
# top-20 overlap of the gene ranking with it.
set -euo pipefail
cd "$(dirname "$0")/.."
TH=${1:-2}
CELLS=${CELLS:-6} MAXLEN=${MAXLEN:-512} BATCH=${BATCH:-16} LAYER=${LAYER:--1} TOL=${TOL:-1e-6}
BUILD=${SCFM_BUILD:-build}
BIN=$BUILD/scfm
. bench/torch_env.sh
torch_python
[ -x "$BIN" ] || { echo "bench: $BIN not found: run 'make -j2' first" >&2; exit 1; }
export OMP_NUM_THREADS=$TH
if [ -n "${WORK:-}" ]; then
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d /tmp/scfm-perturb-bench-XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi

machine_info "$TH"
rc=0
DATA=$(bash scripts/fetch_data) || rc=$?
[ $rc -eq 0 ] || { echo "bench: scripts/fetch_data failed (exit $rc): no data to run on" >&2; exit 1; }
H5=$DATA/raw-Baron_human.h5ad
"$BIN" vocab build "$H5" -o "$WORK/vocab" --symbols --force >"$WORK/vocab.log" 2>&1
"$BIN" tokenize "$H5" -o "$WORK/corpus" --vocab "$WORK/vocab/vocab.tsv" --medians "$WORK/vocab/medians.tsv" \
    --max-len "$MAXLEN" --threads "$TH" --force >"$WORK/tokenize.log" 2>&1
"$BIN" model init --config geneformer-v1 --vocab "$WORK/corpus/vocab.tsv" -o "$WORK/model" --seed 1 >"$WORK/init.log"
echo "data: $H5 (first $CELLS cells, at most $MAXLEN genes each)"
echo "model: $(cat "$WORK/init.log")"
echo "deletion of every gene of each cell; batch $BATCH sequences; cell embedding: mean of hidden state $LAYER"

P=(perturb "$WORK/corpus" -m "$WORK/model" -o "$WORK/scfm.tsv" --delete --max-cells "$CELLS" --layer "$LAYER"
   --batch-cells "$BATCH" --batch-tokens $((BATCH * MAXLEN)) --threads "$TH" --shifts "$WORK/scfm_shifts.tsv")
echo
echo "== scfm ${P[*]}"
t0=$(date +%s.%N)
"$BIN" "${P[@]}" >"$WORK/scfm.out" 2>"$WORK/scfm.log" || { cat "$WORK/scfm.log" >&2; exit 1; }
t1=$(date +%s.%N)
sed 's/^/  /' "$WORK/scfm.out"
echo "== torch bench/perturb_torch.py"
tr=$("$PY" bench/perturb_torch.py --corpus "$WORK/corpus" --model "$WORK/model" --cells "$CELLS" --batch "$BATCH" \
    --threads "$TH" --layer "$LAYER" --scfm-shifts "$WORK/scfm_shifts.tsv")
echo "$tr" | sed 's/^/  /'

val() { echo "$2" | sed -n "s/^RESULT.* $1=\([0-9.e+-]*\).*/\1/p"; }
out() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$WORK/scfm.out"; }
cells=$(out cells) copies=$(out perturbations)
awk -v c="$cells" -v p="$copies" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v tc="$(val cells "$tr")" \
    -v tp="$(val copies "$tr")" -v ts="$(val seconds "$tr")" -v d="$(val max_abs_diff "$tr")" \
    -v ms="$(val max_shift "$tr")" -v tol="$TOL" '
BEGIN {
    printf "\n%-8s %6s %8s %10s %12s %12s\n", "", "cells", "copies", "seconds", "cells/s", "copies/s"
    printf "%-8s %6d %8d %10.2f %12.4f %12.1f\n", "scfm", c, p, s, c / s, p / s
    printf "%-8s %6d %8d %10.2f %12.4f %12.1f\n", "torch", tc, tp, ts, tc / ts, tp / ts
    printf "ratio scfm/torch (perturbed cells/s): %.2fx\n", (c / s) / (tc / ts)
    printf "shifts: max |cos_scfm - cos_torch| = %s over %d copies (tolerance %s; largest shift 1 - cos = %s)\n", d, tp, tol, ms
    if (c != tc || p != tp) { print "bench: the two sides perturbed different cells or copies" > "/dev/stderr"; exit 1 }
    if (d + 0 > tol + 0) { print "bench: the shifts differ by more than the tolerance" > "/dev/stderr"; exit 1 }
}'

# ---- reduced precision: scfm bf16 / int8, PyTorch bf16 autocast ----------------------------
if [ -z "${LOWP+x}" ]; then
    LOWP=""
    for p in bf16 int8; do "$BIN" --version | grep -q "^$p inference: available" && LOWP="$LOWP $p"; done
fi
[ "$LOWP" = none ] && LOWP=""
[ -n "$LOWP" ] || exit 0
echo
fp32_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
torch_cps=$(awk -v c="$(val cells "$tr")" -v s="$(val seconds "$tr")" 'BEGIN { print c / s }')
for p in $LOWP; do
    Q=("${P[@]}")
    Q[5]="$WORK/scfm_$p.tsv"
    Q[${#Q[@]}-1]="$WORK/scfm_shifts_$p.tsv"
    echo "== scfm ${Q[*]} --precision $p"
    t0=$(date +%s.%N)
    "$BIN" "${Q[@]}" --precision "$p" >"$WORK/scfm_$p.out" 2>"$WORK/scfm_$p.log" || { cat "$WORK/scfm_$p.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    eval "s_$p=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
done
if [[ " $LOWP " == *" bf16 "* ]]; then
    echo "== torch bench/perturb_torch.py --bf16"
    trb=$("$PY" bench/perturb_torch.py --corpus "$WORK/corpus" --model "$WORK/model" --cells "$CELLS" --batch "$BATCH" \
        --threads "$TH" --layer "$LAYER" --bf16 --scfm-shifts "$WORK/scfm_shifts_bf16.tsv")
    echo "$trb" | sed 's/^/  /'
fi
printf "\n%-11s %10s %12s %14s %14s\n" "" "seconds" "cells/s" "/ torch fp32" "/ torch bf16"
tb_cps=${trb:+$(awk -v c="$(val cells "$trb")" -v s="$(val seconds "$trb")" 'BEGIN { print c / s }')}
row() { # name seconds
    awk -v n="$1" -v s="$2" -v c="$cells" -v t="$torch_cps" -v b="${tb_cps:-0}" 'BEGIN {
        printf "%-11s %10.2f %12.4f %13.2fx %13s\n", n, s, c / s, (c / s) / t, (b > 0 ? sprintf("%.2fx", (c / s) / b) : "-") }'
}
row scfm-fp32 "$fp32_s"
for p in $LOWP; do eval "row scfm-$p \$s_$p"; done
[ -z "${trb:-}" ] || row torch-bf16 "$(val seconds "$trb")"
"$PY" - "$WORK" $LOWP <<'PY'
import csv, sys
w = sys.argv[1]
def shifts(f):
    return {(r["cell"], r["token_id"]): float(r["cos"]) for r in csv.DictReader(open(f), delimiter="\t")
            if r["null"] == "0"}
def top(f, k=20):
    rs = list(csv.DictReader(open(f), delimiter="\t"))
    return {r["gene"] for r in sorted(rs, key=lambda r: (float(r["mean_shift"]), r["gene"]))[:k]}
ref, rtop = shifts(f"{w}/scfm_shifts.tsv"), top(f"{w}/scfm.tsv")
for p in sys.argv[2:]:
    s = shifts(f"{w}/scfm_shifts_{p}.tsv")
    assert s.keys() == ref.keys(), p
    d = max(abs(s[k] - ref[k]) for k in ref)
    print(f"scfm {p} vs scfm fp32: max |cos difference| {d:.3g} over {len(ref)} copies, "
          f"top-20 overlap {len(top(f'{w}/scfm_{p}.tsv') & rtop)}/20")
PY
