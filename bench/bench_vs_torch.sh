#!/usr/bin/env bash
# scfm against the newest PyTorch (PyPI) on this machine, side by side in one run, same
# threads, Geneformer-V1 shape (6 layers / 256 hidden / 4 heads / 512 FFN, V 25,426):
#   forward tokens/s (scfm embedding forward; torch BertModel, sdpa attention) at T=512 B=16
#   and T=2048 B=4; training-step tokens/s (torch: MLM head at masked rows only, and HF's
#   default BertForMaskedLM(labels=)); scfm's forward GFLOP/s beside the machine's f32 matmul
#   ceiling (best of scfm's matmul backends and torch.mm); the CPU model and flags; scfm's
#   matmul backend and kernel. Then the real command on a real corpus (a 10x folder
#   tokenized, `scfm pretrain --config tiny`), which catches slowdowns the engine benchmark
#   cannot see (the dirty-vector-state regression was one). Where the CPU has them, the
#   reduced precision forwards too: scfm --precision bf16 and int8 against torch under bf16
#   autocast and torch float32.
#
#   make bench && bash bench/bench_vs_torch.sh [THREADS] [ITERS]
# PyTorch lives in bench/.venv-torch, created on first use with the versions pinned in
# bench/torch_env.sh (skipped when present; PyPI's Linux wheel pulls the CUDA libraries: about
# 5.6 GB on disk). Environment:
# TORCH_PY (use another python with torch instead), SCFM_BUILD (default build), SCFM_GEMM
# (matmul backend), REAL_DATA (a 10x folder; default ../shared/data/human/pbmc1k_v3) and
# V1 (folder with Geneformer's V1 token/median/name dictionaries as .tsv.gz).
set -euo pipefail
cd "$(dirname "$0")/.."
TH=${1:-2} ITERS=${2:-3}
BUILD=${SCFM_BUILD:-build}
. bench/torch_env.sh
torch_python
[ -x "$BUILD/bench/bench_bert" ] || { echo "bench: run 'make bench' first" >&2; exit 1; }
export OMP_NUM_THREADS=$TH

machine_info "$TH"
echo "iterations: $ITERS"

val() { echo "$1" | sed -n "s/^RESULT.* $2=\([0-9.]*\).*/\1/p"; }
printf '\n%-14s %12s %12s %7s | %12s %12s %12s %7s %7s | %8s %8s\n' shape scfm_fwd torch_fwd ratio scfm_step \
    torch_masked torch_hf r_mask r_hf fwd_GF ceil_GF
for shape in "512 16" "2048 4"; do
    set -- $shape
    c=$("$BUILD/bench/bench_bert" --T "$1" --batch "$2" --iters "$ITERS")
    p=$("$PY" bench/bench_torch_new.py --threads "$TH" --T "$1" --batch "$2" --iters "$ITERS")
    echo "$c" | sed 's/^/  scfm | /' >&2
    echo "$p" | sed 's/^/  torch| /' >&2
    sf=$(val "$c" fwd_tokens_per_s) ss=$(val "$c" step_tokens_per_s) gf=$(val "$c" fwd_gflops) cg=$(val "$c" ceiling_gflops)
    tf=$(val "$p" fwd_tokens_per_s) tm=$(val "$p" step_masked_tokens_per_s) th=$(val "$p" step_hf_tokens_per_s)
    tg=$(val "$p" sgemm_gflops)
    awk -v s="T=$1 B=$2" -v sf="$sf" -v tf="$tf" -v ss="$ss" -v tm="$tm" -v th="$th" -v gf="$gf" -v cg="$cg" -v tg="$tg" \
        'BEGIN { ceil = cg > tg ? cg : tg;
                 printf "%-14s %12.0f %12.0f %6.2fx | %12.0f %12.0f %12.0f %6.2fx %6.2fx | %8.1f %8.1f (%.0f%%)\n",
                        s, sf, tf, sf / tf, ss, tm, th, ss / tm, ss / th, gf, ceil, 100 * gf / ceil }'
done

LOWP=""
for p in bf16 int8; do "$BUILD/scfm" --version | grep -q "^$p inference: available" && LOWP="$LOWP $p"; done
if [ -n "$LOWP" ]; then
    echo
    printf '%-14s %-6s %12s %14s %14s %8s\n' "reduced prec." scfm "scfm_fwd" "/ torch fp32" "/ torch bf16" torch_bf16
    for shape in "512 16" "2048 4"; do
        set -- $shape
        tf=$(val "$("$PY" bench/bench_torch_new.py --threads "$TH" --T "$1" --batch "$2" --iters "$ITERS" --only fwd)" \
            fwd_tokens_per_s)
        tb=$(val "$("$PY" bench/bench_torch_new.py --threads "$TH" --T "$1" --batch "$2" --iters "$ITERS" --only fwd \
            --bf16)" fwd_tokens_per_s)
        for p in $LOWP; do
            sf=$(val "$("$BUILD/bench/bench_bert" --only fwd --T "$1" --batch "$2" --iters "$ITERS" --precision "$p")" \
                fwd_tokens_per_s)
            awk -v s="T=$1 B=$2" -v p="$p" -v sf="$sf" -v tf="$tf" -v tb="$tb" \
                'BEGIN { printf "%-14s %-6s %12.0f %13.2fx %13.2fx %8.0f\n", s, p, sf, sf / tf, sf / tb, tb }'
        done
    done
fi

D=${SCFM_SHARED_DATA:-../shared/data}
REAL=${REAL_DATA:-$D/human/pbmc1k_v3} V1=${V1:-$D/geneformer/v1}
echo
if [ -d "$REAL" ] && [ -f "$V1/token_dictionary.tsv.gz" ]; then
    W=$(mktemp -d /tmp/scfm-bench-XXXXXX)
    trap 'rm -rf "$W"' EXIT
    "$BUILD/scfm" tokenize "$REAL" -o "$W/corpus" --vocab "$V1/token_dictionary.tsv.gz" \
        --medians "$V1/gene_median_dictionary.tsv.gz" --gene-names "$V1/gene_name_id_dict.tsv.gz" --threads 1 2>"$W/tok.log"
    echo "== real command: scfm pretrain CORPUS --config tiny --batch-size 8 --max-steps 4 --threads 1 ($REAL)"
    OMP_NUM_THREADS=1 "$BUILD/scfm" pretrain "$W/corpus" -o "$W/run" --force --config tiny --batch-size 8 \
        --max-steps 4 --threads 1 >"$W/pt.out" 2>&1
    grep -E '^\[scfm\] real' "$W/pt.out" || tail -3 "$W/pt.out"
else
    echo "== real command: skipped (no 10x folder at $REAL or no V1 dictionaries at $V1; set REAL_DATA and V1)"
fi
