#!/usr/bin/env bash
# Geneformer-V2-104M shape (12 layers / 768 hidden / 12 heads / 3072 FFN, V 20,275, relu) at
# long inputs, one cell (B = 1) of T = 1024, 2048 and 4096 tokens: forward (embedding
# extraction) and training-step tokens/s and the peak RSS of each, scfm (bench/bench_bert.c,
# preset geneformer-v2-104m) against the newest PyTorch (bench/bench_torch_new.py:
# BertModel with sdpa attention; training step with the MLM head at the masked rows only, and
# Hugging Face's default BertForMaskedLM(labels=)), same threads. Every measurement runs in
# its own process (bench_bert --only, bench_torch_new.py --only), so its peak RSS (getrusage)
# is its own: the model, the optimizer state and gradients where it trains, the activations,
# and for PyTorch the library itself (the "torch baseline" line: the same process at the
# smallest shape). The last lines give the RSS increase per 1,024 tokens between successive
# T: memory linear in T shows as equal increases, a T x T buffer as increases that double.
#
#   make bench && bash bench/v2_memory.sh [THREADS]
# Environment (defaults in brackets): TS ["1024 2048 4096"] input lengths, ITERS [2] timed
# iterations after one warm-up, LAYERS/HIDDEN/HEADS/FFN/VOCAB [12/768/12/3072/20275] the
# shape (both sides), TORCH_PY (a python with torch instead of bench/.venv-torch, see
# bench/torch_env.sh), SCFM_BUILD [build], SCFM_GEMM (matmul backend).
set -euo pipefail
cd "$(dirname "$0")/.."
TH=${1:-2}
TS=${TS:-1024 2048 4096} ITERS=${ITERS:-2}
LAYERS=${LAYERS:-12} HIDDEN=${HIDDEN:-768} HEADS=${HEADS:-12} FFN=${FFN:-3072} VOCAB=${VOCAB:-20275}
BUILD=${SCFM_BUILD:-build}
. bench/torch_env.sh
torch_python
[ -x "$BUILD/bench/bench_bert" ] || { echo "bench: run 'make bench' first" >&2; exit 1; }
export OMP_NUM_THREADS=$TH
maxT=0
for T in $TS; do [ "$T" -gt "$maxT" ] && maxT=$T; done
POS=$((maxT > 4096 ? maxT : 4096))

machine_info "$TH"
echo "shape: $LAYERS layers / $HIDDEN hidden / $HEADS heads / $FFN FFN, V $VOCAB, batch 1, T: $TS; iterations: $ITERS"
SHAPE=(--layers "$LAYERS" --hidden "$HIDDEN" --heads "$HEADS" --ffn "$FFN" --vocab "$VOCAB")

# run LABEL CMD...: the RESULT line of one measurement (its output goes to stderr), or
# "RESULT failed" when the process fails (out of memory, for example)
run() {
    local label=$1 out
    shift
    if out=$("$@" 2>&1); then
        echo "$out" | sed "s/^/  $label | /" >&2
        echo "$out" | grep '^RESULT'
    else
        echo "$out" | tail -3 | sed "s/^/  $label FAILED | /" >&2
        echo "RESULT failed"
    fi
}
# val RESULT FIELD: the field's value, or - when the run failed
val() { local x; x=$(echo "$1" | sed -n "s/^RESULT.* $2=\([0-9.]*\).*/\1/p"); echo "${x:--}"; }

base=$(run "torch baseline" "$PY" bench/bench_torch_new.py --threads "$TH" --T 8 --batch 1 --iters 1 --layers 1 \
    --hidden 64 --heads 1 --ffn 64 --vocab 64 --only fwd)
rows=()
for T in $TS; do
    sf=$(run "scfm fwd T=$T" "$BUILD/bench/bench_bert" --preset geneformer-v2-104m "${SHAPE[@]}" --T "$T" --batch 1 \
        --iters "$ITERS" --only fwd)
    ss=$(run "scfm step T=$T" "$BUILD/bench/bench_bert" --preset geneformer-v2-104m "${SHAPE[@]}" --T "$T" --batch 1 \
        --iters "$ITERS" --only step)
    tp=()
    for m in fwd step_masked step_hf; do
        tp+=("$(run "torch $m T=$T" "$PY" bench/bench_torch_new.py --threads "$TH" --T "$T" --batch 1 --iters "$ITERS" \
            "${SHAPE[@]}" --positions "$POS" --only "$m")")
    done
    rows+=("$T $(val "$sf" fwd_tokens_per_s) $(val "$sf" peak_rss_mib) $(val "${tp[0]}" fwd_tokens_per_s) \
$(val "${tp[0]}" peak_rss_mib) $(val "$ss" step_tokens_per_s) $(val "$ss" peak_rss_mib) \
$(val "${tp[1]}" step_masked_tokens_per_s) $(val "${tp[1]}" peak_rss_mib) $(val "${tp[2]}" step_hf_tokens_per_s) \
$(val "${tp[2]}" peak_rss_mib)")
done

echo
echo "torch baseline (the library alone, smallest model): peak RSS $(val "$base" peak_rss_mib) MiB"
printf '%s\n' "${rows[@]}" | awk '
function ratio(a, b) { return (a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.2fx", a / b) }
function cell(x, f) { return x == "-" ? "-" : sprintf(f, x) }
BEGIN {
    printf "%-6s | %-39s | %s\n", "", "forward tokens/s (peak RSS MiB)", "train step tokens/s (peak RSS MiB)"
    printf "%-6s | %15s %15s %7s | %15s %15s %15s %7s %7s\n", "T", "scfm", "torch", "ratio", "scfm", "torch_masked", \
        "torch_hf", "r_mask", "r_hf"
}
{
    T[NR] = $1; for (k = 2; k <= 11; k++) v[NR, k] = $k
    printf "%-6s | %7s (%5s) %7s (%5s) %7s | %7s (%5s) %7s (%5s) %7s (%5s) %7s %7s\n", $1, \
        cell($2, "%.0f"), cell($3, "%.0f"), cell($4, "%.0f"), cell($5, "%.0f"), ratio($2, $4), \
        cell($6, "%.0f"), cell($7, "%.0f"), cell($8, "%.0f"), cell($9, "%.0f"), cell($10, "%.0f"), cell($11, "%.0f"), \
        ratio($6, $8), ratio($6, $10)
}
END {
    if (NR < 2) exit
    print "\npeak RSS increase per 1,024 tokens (MiB) from the previous T; equal values = memory linear in T"
    split("3 5 7 9 11", col, " "); split("scfm_fwd torch_fwd scfm_step torch_masked torch_hf", name, " ")
    printf "%-13s", "T"; for (i = 1; i <= 5; i++) printf " %12s", name[i]; printf "\n"
    for (r = 2; r <= NR; r++) {
        printf "%-13s", T[r - 1] "->" T[r]
        for (i = 1; i <= 5; i++) {
            a = v[r - 1, col[i]]; b = v[r, col[i]]
            if (a == "-" || b == "-" || T[r] == T[r - 1]) printf " %12s", "-"
            else printf " %12.1f", (b - a) / ((T[r] - T[r - 1]) / 1024)
        }
        printf "\n"
    }
}'
