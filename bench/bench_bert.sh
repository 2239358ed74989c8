#!/usr/bin/env bash
# Runs bench_bert (scfm) and bench_bert_torch.py (PyTorch) on the Geneformer-V1 shape with
# the same thread count and prints the speed ratio (scfm / PyTorch, tokens per second).
# Usage: bash bench/bench_bert.sh [THREADS] [T] [BATCH] [ITERS]     (after `make bench`)
set -euo pipefail
cd "$(dirname "$0")/.."
TH=${1:-2} T=${2:-2048} BATCH=${3:-4} ITERS=${4:-3}
BUILD=${SCFM_BUILD:-build}
PY=${SCFM_PYTHON:-.venv/bin/python}
c=$(OMP_NUM_THREADS=$TH "$BUILD/bench/bench_bert" --T "$T" --batch "$BATCH" --iters "$ITERS")
p=$(OMP_NUM_THREADS=$TH "$PY" bench/bench_bert_torch.py --threads "$TH" --T "$T" --batch "$BATCH" --iters "$ITERS")
echo "$c"; echo "$p"
val() { echo "$1" | sed -n "s/.*RESULT.* $2=\([0-9.]*\).*/\1/p"; }
awk -v a="$(val "$c" fwd_tokens_per_s)" -v b="$(val "$p" fwd_tokens_per_s)" \
    -v c="$(val "$c" step_tokens_per_s)" -v d="$(val "$p" step_tokens_per_s)" \
    'BEGIN { printf "ratio scfm/torch: forward %.2fx, train step %.2fx\n", a / b, c / d }'
