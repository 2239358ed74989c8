#!/usr/bin/env bash
# scfm priors build: a GRN prior from DoRothEA (A-C) and a co-expression prior from real PBMCs
# (skipped without ../shared/data), the report's contents, and bad inputs (clear message,
# non-zero exit, no output left).
set -euo pipefail
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

fails() { # expected-message args...
    local msg=$1
    shift
    rm -f "$T"/o.*
    if "$BIN" priors "$@" > "$T/out" 2> "$T/err"; then echo "FAIL: succeeded: priors $*"; exit 1; fi
    if ! grep -q -- "$msg" "$T/err"; then echo "FAIL: priors $*: message lacks '$msg':"; cat "$T/err"; exit 1; fi
    if ls "$T"/o.* > /dev/null 2>&1; then echo "FAIL: priors $*: left an output file"; exit 1; fi
}
printf 'tf\ttarget\nFOO\tBAR\nBAZ\tQUX\n' > "$T/unknown.tsv"
printf 'tf\ttarget\n' > "$T/empty.tsv"
printf 'tf\ttarget\nENSG00000000001\tENSG00000000002\n' > "$T/one.tsv"
printf 'regulator_x\ttarget\nENSG00000000001\tENSG00000000002\n' > "$T/nocol.tsv"
fails "promoter vectors are not built" build promoter x -o "$T/o"
fails "unknown prior" build nonsense x -o "$T/o"
fails "no gene pairs" build grn "$T/unknown.tsv" -o "$T/o"
fails "no gene pairs" build grn "$T/empty.tsv" -o "$T/o"
fails "no TF column" build grn "$T/nocol.tsv" -o "$T/o"
fails "dim" build grn "$T/one.tsv" -o "$T/o" --dim 0
fails "-o PREFIX is required" build grn "$T/one.tsv"
fails "cannot open\|No such file" build grn "$T/missing.tsv" -o "$T/o"
# a tiny valid one
"$BIN" priors build grn "$T/one.tsv" -o "$T/ok" --dim 4 --epochs 2 2> /dev/null
[ "$(wc -l < "$T/ok.tsv")" -eq 3 ] || { echo "FAIL: expected 2 genes"; exit 1; }

if [ ! -d "$D/grn" ]; then echo "SKIP: needs the team's real data: no shared data at $D"; exit 77; fi
V1=$D/geneformer/v1
"$BIN" priors build grn "$D/grn/dorothea_human.tsv.gz" --confidence A,B,C --gene-names "$V1/gene_name_id_dict.pkl" \
    --vocab "$V1/token_dictionary.pkl" -o "$T/grn" --dim 32 --epochs 3 2> "$T/log"
grep -q '"kind": "grn"' "$T/grn.json"
grep -q '"hash": "[0-9a-f]\{16\}"' "$T/grn.json"
# A-C edges in the file, counted independently
want=$(zcat "$D/grn/dorothea_human.tsv.gz" | awk -F'\t' 'NR>1 && ($2=="A"||$2=="B"||$2=="C")' | wc -l)
pairs=$(sed -n 's/.*"pairs": \([0-9]*\).*/\1/p' "$T/grn.json")
lines=$(($(wc -l < "$T/grn.pairs.tsv") - 1))
[ "$pairs" -eq "$lines" ] || { echo "FAIL: report says $pairs pairs, file has $lines"; exit 1; }
[ "$pairs" -gt $((want * 9 / 10)) ] && [ "$pairs" -le "$want" ] || { echo "FAIL: $pairs pairs from $want A-C edges"; exit 1; }
genes=$(sed -n 's/.*"genes": \([0-9]*\),$/\1/p' "$T/grn.json" | head -1)
[ "$(($(wc -l < "$T/grn.tsv") - 1))" -eq "$genes" ]
[ "$(head -2 "$T/grn.tsv" | tail -1 | awk -F'\t' '{print NF}')" -eq 33 ]
grep -q '"covered": [1-9]' "$T/grn.json"
echo "grn prior: $pairs pairs over $genes genes"
