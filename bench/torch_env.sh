# Shared by the bench/ scripts that compare scfm with the newest PyTorch (source it, after
# `cd` to the repository root):
#   torch_python          sets PY to a python with the pinned torch and transformers: TORCH_PY
#                         when set (used as it is), else bench/.venv-torch, created on first use
#                         and skipped when it already holds the pinned versions (PyPI's Linux
#                         wheel pulls the CUDA libraries: about 5.6 GB on disk)
#   machine_info THREADS  prints the CPU model, CPU count, the flags that decide the kernels,
#                         the load, `scfm --version` (matmul backend and kernel) and the threads
# Needs BUILD (the scfm build folder) for machine_info.
TORCH_VERSION=2.15.0 TRANSFORMERS_VERSION=5.24.0
TORCH_VENV=bench/.venv-torch

torch_python() {
    PY=${TORCH_PY:-$TORCH_VENV/bin/python}
    [ -z "${TORCH_PY:-}" ] || return 0
    if ! "$PY" -c "import torch, transformers, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION' or transformers.__version__ != '$TRANSFORMERS_VERSION')" 2>/dev/null; then
        echo "bench: creating $TORCH_VENV with torch==$TORCH_VERSION transformers==$TRANSFORMERS_VERSION (large download)" >&2
        [ -x "$TORCH_VENV/bin/python" ] || python3 -m venv "$TORCH_VENV"
        "$TORCH_VENV/bin/pip" install -q --disable-pip-version-check "torch==$TORCH_VERSION" \
            "transformers==$TRANSFORMERS_VERSION" numpy
    fi
}

machine_info() {
    echo "== machine"
    lscpu | sed -n 's/^Model name: *//p; s/^CPU(s): */CPUs: /p'
    printf "flags: "
    grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
        grep -E '^(avx|avx2|fma|avx512f|avx512bw|avx512_vnni|avx512_bf16|amx_bf16|avx_vnni)$' | tr '\n' ' ' || true
    echo
    uptime | sed 's/.*load/load/'
    "$BUILD/scfm" --version
    echo "threads: $1"
}
