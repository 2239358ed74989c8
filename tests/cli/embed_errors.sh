#!/usr/bin/env bash
# Bad input to scfm embed: each case fails with a non-zero exit and a message naming the
# file or option and the problem, and leaves no output file (nor OUT.tmp.*) behind:
# missing checkpoint, vocabulary mismatch (scfm_vocab_hash, vocab.tsv, vocab size), bad
# output extension, <cls> pooling on a V1 corpus, layer out of range, unknown obs column.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 geneformer/v2 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
V2=$D/geneformer/v2

# a 12-cell V1 corpus and two models: one on its vocabulary, one on V2's
"$PY" - "$D/human/pbmc4k_labeled" "$T/in" <<'PY'
import os, sys
import scipy.io
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d)
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).tocsc()[:, :12]
scipy.io.mmwrite(os.path.join(d, "matrix.mtx"), X.tocoo(), field="integer")
open(os.path.join(d, "genes.tsv"), "w").write(open(os.path.join(src, "genes.tsv")).read())
bcs = open(os.path.join(src, "barcodes.tsv")).read().splitlines()[:12]
open(os.path.join(d, "barcodes.tsv"), "w").write("".join(b + "\n" for b in bcs))
PY
"$BIN" tokenize "$T/in" -o "$T/c1" --vocab $V1/token_dictionary.pkl --medians $V1/gene_median_dictionary.pkl \
    --gene-names $V1/gene_name_id_dict.pkl 2> /dev/null
"$BIN" model init --config tiny --vocab "$T/c1/vocab.tsv" -o "$T/m1" > /dev/null 2>&1
"$BIN" model init --config tiny --vocab $V2/token_dictionary_gc104M.pkl -o "$T/m2" > /dev/null 2>&1
"$BIN" embed "$T/c1" -m "$T/m1" -o "$T/ok.npy" --max-cells 2 > /dev/null 2>&1   # the baseline works
test -f "$T/ok.npy"

n=0
# expect_fail NAME EXPECTED_EXIT PATTERN... -- ARGS
expect_fail() {
    local name=$1 want_rc=$2; shift 2
    local pats=()
    while [ "$1" != "--" ]; do pats+=("$1"); shift; done
    shift
    rm -f "$T"/out.*
    set +e
    "$BIN" "$@" 2> "$T/err.log" > /dev/null
    local rc=$?
    set -e
    if [ $rc -eq 0 ]; then echo "FAIL $name: exit 0"; cat "$T/err.log"; exit 1; fi
    if [ "$want_rc" != "any" ] && [ $rc -ne "$want_rc" ]; then echo "FAIL $name: exit $rc, want $want_rc"; cat "$T/err.log"; exit 1; fi
    for p in "${pats[@]}"; do
        if ! grep -qiF -- "$p" "$T/err.log"; then echo "FAIL $name: message lacks '$p':"; cat "$T/err.log"; exit 1; fi
    done
    if compgen -G "$T/out.*" > /dev/null; then echo "FAIL $name: output left behind: $(ls "$T"/out.*)"; exit 1; fi
    n=$((n+1))
    echo "ok $name: $(tail -1 "$T/err.log")"
}

expect_fail missing_checkpoint 1 "$T/nope" -- embed "$T/c1" -m "$T/nope" -o "$T/out.npy"
mkdir "$T/empty"
expect_fail checkpoint_without_files 1 "$T/empty" -- embed "$T/c1" -m "$T/empty" -o "$T/out.npy"
expect_fail missing_corpus 1 "$T/nocorpus" -- embed "$T/nocorpus" -m "$T/m1" -o "$T/out.npy"
expect_fail vocab_hash_mismatch 1 "vocabulary mismatch" "scfm_vocab_hash" "$T/m2" "$T/c1" -- \
    embed "$T/c1" -m "$T/m2" -o "$T/out.npy"

# the V2 model without scfm_vocab_hash: its vocab.tsv still tells
cp -r "$T/m2" "$T/m3"
"$PY" - "$T/m3/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c.pop("scfm_vocab_hash", None); json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
expect_fail vocab_tsv_mismatch 1 "vocabulary mismatch" "$T/m3" -- embed "$T/c1" -m "$T/m3" -o "$T/out.npy"
# ... and without vocab.tsv either: the sizes (20275 vs 25426) disagree
rm "$T/m3/vocab.tsv"
expect_fail vocab_size_mismatch 1 "vocabulary mismatch" "20275" "25426" -- embed "$T/c1" -m "$T/m3" -o "$T/out.npy"

expect_fail bad_extension 2 "out.csv" ".h5ad" ".npy" ".tsv" -- embed "$T/c1" -m "$T/m1" -o "$T/out.csv"
expect_fail no_extension 2 "unknown output type" -- embed "$T/c1" -m "$T/m1" -o "$T/out"
expect_fail genes_extension 2 "--genes" -- embed "$T/c1" -m "$T/m1" -o "$T/out.npy" --genes "$T/out.g.npy"
expect_fail cls_on_v1 1 "<cls>" "$T/c1" -- embed "$T/c1" -m "$T/m1" -o "$T/out.npy" --pool cls
expect_fail bad_pool 2 "--pool" -- embed "$T/c1" -m "$T/m1" -o "$T/out.npy" --pool max
expect_fail layer_out_of_range 1 "layer 5" "0..2" -- embed "$T/c1" -m "$T/m1" -o "$T/out.npy" --layer 5
expect_fail layer_not_a_number 2 "--layer" -- embed "$T/c1" -m "$T/m1" -o "$T/out.npy" --layer two
expect_fail unknown_obs 1 "no obs column 'celltype'" -- embed "$T/c1" -m "$T/m1" -o "$T/out.tsv" --obs celltype
expect_fail unknown_option 2 "--frobnicate" -- embed "$T/c1" -m "$T/m1" -o "$T/out.npy" --frobnicate 1
expect_fail no_model 2 "-m" -- embed "$T/c1" -o "$T/out.npy"
expect_fail unwritable_output 1 "$T/nodir/out.npy" -- embed "$T/c1" -m "$T/m1" -o "$T/nodir/out.npy" --max-cells 1
echo "embed errors: $n cases ok"
