#!/usr/bin/env bash
# Bad input to scfm tokenize / corpus / vocab: every case must fail with a non-zero exit, a
# message naming the file (or option) and the problem, and leave no corpus directory (and no
# DIR.tmp.*) behind.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 geneformer/v2 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
V2=$D/geneformer/v2
TOK=(--vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz)

# a small valid mtx directory (20 real cells, plain text matrix) and an h5ad of it
"$PY" - "$D/human/pbmc4k_labeled" "$T/ok" <<'PY'
import os, sys
import numpy as np, pandas as pd, scipy.io, anndata as ad
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d)
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).tocsc()[:, :20]
scipy.io.mmwrite(os.path.join(d, "matrix.mtx"), X.tocoo(), field="integer")
genes = [l.rstrip("\n") for l in open(os.path.join(src, "genes.tsv"))]
bcs = [l.rstrip("\n") for l in open(os.path.join(src, "barcodes.tsv"))][:20]
open(os.path.join(d, "genes.tsv"), "w").write("".join(g + "\n" for g in genes))
open(os.path.join(d, "barcodes.tsv"), "w").write("".join(b + "\n" for b in bcs))
ad.AnnData(X.T.tocsr().astype(np.float32), obs=pd.DataFrame(index=bcs), var=pd.DataFrame(index=genes)).write_h5ad(d + ".h5ad")
PY
"$BIN" tokenize "$T/ok" -o "$T/good" "${TOK[@]}" 2> /dev/null   # the baseline works

n=0
# expect_fail NAME EXPECTED_EXIT PATTERN... -- ARGS: runs scfm ARGS, wants failure, every pattern in stderr
expect_fail() {
    local name=$1 want_rc=$2; shift 2
    local pats=()
    while [ "$1" != "--" ]; do pats+=("$1"); shift; done
    shift
    rm -rf "$T/out"
    set +e
    "$BIN" "$@" 2> "$T/err.log" > /dev/null
    local rc=$?
    set -e
    if [ $rc -eq 0 ]; then echo "FAIL $name: exit 0"; cat "$T/err.log"; exit 1; fi
    if [ "$want_rc" != "any" ] && [ $rc -ne "$want_rc" ]; then echo "FAIL $name: exit $rc, want $want_rc"; cat "$T/err.log"; exit 1; fi
    for p in "${pats[@]}"; do
        if ! grep -qiF -- "$p" "$T/err.log"; then echo "FAIL $name: message lacks '$p':"; cat "$T/err.log"; exit 1; fi
    done
    if [ -e "$T/out" ] || compgen -G "$T/out.tmp.*" > /dev/null; then echo "FAIL $name: output left behind"; exit 1; fi
    n=$((n+1))
    echo "ok $name: $(tail -1 "$T/err.log")"
}
mkbad() { rm -rf "$T/bad"; cp -r "$T/ok" "$T/bad"; }

mkbad; gzip -c "$T/ok/matrix.mtx" > "$T/full.gz"; head -c 20000 "$T/full.gz" > "$T/bad/matrix.mtx.gz"; rm "$T/bad/matrix.mtx"
expect_fail "truncated gzip" any matrix.mtx -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}"
mkbad; head -c 30000 "$T/ok/matrix.mtx" > "$T/bad/matrix.mtx"
expect_fail "truncated mtx" any matrix.mtx -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}"
# the same through the two-pass path that files beyond --read-memory take
mkbad; head -c 20000 "$T/full.gz" > "$T/bad/matrix.mtx.gz"; rm "$T/bad/matrix.mtx"
expect_fail "truncated gzip, streamed" any matrix.mtx -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}" --read-memory 0
mkbad; head -c 30000 "$T/ok/matrix.mtx" > "$T/bad/matrix.mtx"
expect_fail "truncated mtx, streamed" any matrix.mtx -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}" --read-memory 0
mkbad; sed -i '4s/ [0-9]*$/ -3/' "$T/bad/matrix.mtx"
expect_fail "negative count, streamed" any matrix.mtx -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}" --read-memory 0
expect_fail "bad --read-memory" 2 "--read-memory" -- tokenize "$T/ok" -o "$T/out" "${TOK[@]}" --read-memory -5
mkbad; head -c 4000 /dev/urandom > "$T/bad/matrix.mtx"
expect_fail "garbage mtx" any matrix.mtx -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}"
mkbad; : > "$T/bad/matrix.mtx"
expect_fail "empty mtx" any matrix.mtx -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}"
mkbad; sed -i '4s/ [0-9]*$/ nan/' "$T/bad/matrix.mtx"
expect_fail "NaN count" any matrix.mtx -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}"
mkbad; sed -i '4s/ [0-9]*$/ -3/' "$T/bad/matrix.mtx"
expect_fail "negative count" any matrix.mtx -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}"
mkbad; sed -i '4s/ [0-9]*$/ 1.5/' "$T/bad/matrix.mtx"
expect_fail "non-integer count" 1 "non-integer" "$T/bad" "$(head -1 "$T/ok/barcodes.tsv")" -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}"
mkbad; sed -i '$d' "$T/bad/genes.tsv"
expect_fail "genes.tsv short" any genes.tsv -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}"
mkbad; echo EXTRA >> "$T/bad/barcodes.tsv"
expect_fail "barcodes.tsv long" any barcodes.tsv -- tokenize "$T/bad" -o "$T/out" "${TOK[@]}"
mkbad; head -c 5000 "$T/ok.h5ad" > "$T/bad.h5ad"
expect_fail "truncated h5ad" any bad.h5ad -- tokenize "$T/bad.h5ad" -o "$T/out" "${TOK[@]}"
expect_fail "missing input" any "$T/nope" -- tokenize "$T/nope" -o "$T/out" "${TOK[@]}"
expect_fail "unknown obs column" any "ok.h5ad" "no_such_col" -- tokenize "$T/ok.h5ad" -o "$T/out" "${TOK[@]}" --obs no_such_col
expect_fail "unknown gene column" any "ok.h5ad" "no_such_col" -- tokenize "$T/ok.h5ad" -o "$T/out" "${TOK[@]}" --gene-column no_such_col
expect_fail "bad --mode" 2 "--mode" "v3" -- tokenize "$T/ok" -o "$T/out" "${TOK[@]}" --mode v3
expect_fail "bad --norm" 2 "--norm" "median" -- tokenize "$T/ok" -o "$T/out" "${TOK[@]}" --norm median
expect_fail "bad --threads" 2 "--threads" -- tokenize "$T/ok" -o "$T/out" "${TOK[@]}" --threads two
expect_fail "bad --max-len" 2 "--max-len" -- tokenize "$T/ok" -o "$T/out" "${TOK[@]}" --max-len 0
expect_fail "unknown option" 2 "--bogus" -- tokenize "$T/ok" -o "$T/out" "${TOK[@]}" --bogus
expect_fail "missing value" 2 "--vocab" -- tokenize "$T/ok" -o "$T/out" --medians x --vocab
expect_fail "V2 with V1 vocab" 1 "<cls>" "token_dictionary.tsv.gz" -- tokenize "$T/ok" -o "$T/out" "${TOK[@]}" --mode v2
expect_fail "missing vocab" 1 "no_vocab.tsv" -- tokenize "$T/ok" -o "$T/out" --vocab "$T/no_vocab.tsv" \
    --medians $V1/gene_median_dictionary.tsv.gz
expect_fail "orthologs without species" 1 "--to-species" -- tokenize "$T/ok" -o "$T/out" "${TOK[@]}" --orthologs x
# no gene reaches the vocabulary (symbols without --gene-names): every cell empty
expect_fail "no cells" 1 "no cells" -- tokenize "$T/ok" -o "$T/out" --vocab $V1/token_dictionary.tsv.gz \
    --medians $V1/gene_median_dictionary.tsv.gz
# an existing output is not overwritten without --force, and stays intact
mkdir -p "$T/exists"; echo keep > "$T/exists/file"
set +e; "$BIN" tokenize "$T/ok" -o "$T/exists" "${TOK[@]}" 2> "$T/err.log"; rc=$?; set -e
[ $rc -ne 0 ] && grep -q -- "--force" "$T/err.log" && grep -q keep "$T/exists/file"
# --force does not replace a directory that is not a corpus
set +e; "$BIN" tokenize "$T/ok" -o "$T/exists" "${TOK[@]}" --force 2> "$T/err.log"; rc=$?; set -e
[ $rc -ne 0 ] && grep -q "not a corpus" "$T/err.log" && grep -q keep "$T/exists/file"
compgen -G "$T/exists.tmp.*" > /dev/null && { echo "temp dir left"; exit 1; }
# --force replaces a corpus
"$BIN" tokenize "$T/ok" -o "$T/good" "${TOK[@]}" --force 2> /dev/null
"$BIN" corpus info "$T/good" > /dev/null

# corrupt corpora are refused by corpus info, naming the file
cp -r "$T/good" "$T/cbad"; printf '\x01' | dd of="$T/cbad/shard-00000.bin" bs=1 seek=100 conv=notrunc 2> /dev/null
expect_fail "corpus crc" 1 "shard-00000.bin" "CRC" -- corpus info "$T/cbad"
rm -rf "$T/cbad"; cp -r "$T/good" "$T/cbad"; truncate -s -1 "$T/cbad/shard-00000.bin"
expect_fail "corpus truncated" 1 "shard-00000.bin" "truncated" -- corpus info "$T/cbad"
expect_fail "corpus missing" 1 "$T/none" -- corpus info "$T/none"
expect_fail "corpus bad subcommand" 2 "frobnicate" -- corpus frobnicate "$T/good"
expect_fail "vocab no inputs" 2 "no inputs" -- vocab build -o "$T/out"
echo "tokenize_errors: $n cases ok"
