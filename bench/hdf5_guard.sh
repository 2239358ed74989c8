#!/usr/bin/env bash
# Cost of reading HDF5 through the reader process (src/io/h5guard.c) against reading it in
# scfm's own process (SCFM_HDF5_INPROCESS=1): scfm tokenize of the 4k real PBMCs written as
# a CSR h5ad, best of REPS runs each. Usage: bash bench/hdf5_guard.sh  (after make)
set -euo pipefail
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
REPS=${REPS:-3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
"$PY" - "$D/human/pbmc4k_labeled" "$T/pbmc4k.h5ad" <<'PY'
import os, sys
import scipy.io, anndata as ad, pandas as pd, numpy as np
src, out = sys.argv[1], sys.argv[2]
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).T.tocsr().astype(np.float32)
genes = [l.rstrip("\n") for l in open(os.path.join(src, "genes.tsv"))]
bcs = [l.rstrip("\n") for l in open(os.path.join(src, "barcodes.tsv"))]
ad.AnnData(X, obs=pd.DataFrame(index=bcs), var=pd.DataFrame(index=genes)).write_h5ad(out)
PY
ls -l "$T/pbmc4k.h5ad" | awk '{print "input:", $5, "bytes"}'
best() { # label, env...
    local label=$1; shift
    local b=999999
    for r in $(seq "$REPS"); do
        rm -rf "$T/c"
        local t0; t0=$(date +%s.%N)
        env "$@" "$BIN" tokenize "$T/pbmc4k.h5ad" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz \
            --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --threads 1 2> /dev/null
        local t; t=$(echo "$(date +%s.%N) - $t0" | bc)
        b=$(echo "if ($t < $b) $t else $b" | bc)
    done
    echo "$label: best of $REPS: ${b}s"
}
best "in-process libhdf5 " SCFM_HDF5_INPROCESS=1
best "reader process      " SCFM_HDF5_INPROCESS=0
