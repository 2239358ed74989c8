#!/usr/bin/env bash
# Bad input to the GeneCompass data commands (vocab build --human/--mouse, tokenize --species,
# corpus merge): each case fails before any compute with a non-zero exit and a message naming the
# file or option and the problem, and leaves no output (nor OUT.tmp.*) behind.
set -euo pipefail
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
if [ ! -d "$D/mouse/pancreas_baron_labeled" ]; then echo "SKIP: needs the team's real data: no shared data at $D"; exit 77; fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
HN=$D/genes/human_ensembl_genes.csv.gz MN=$D/genes/mouse_ensembl_genes.csv.gz
ORTH=$D/orthologs/biomart_human_to_mouse.csv.gz
V1=$D/geneformer/v1

# small real inputs: the first 40 cells of a human and of the mouse folder
"$PY" - "$D" "$T" <<'PY'
import os, sys
import scipy.io
d, t = sys.argv[1:]
for src, dst in (("human/pbmc1k_v3", "h"), ("mouse/pancreas_baron_labeled", "m")):
    os.makedirs(os.path.join(t, dst))
    X = scipy.io.mmread(os.path.join(d, src, "matrix.mtx.gz")).tocsc()[:, :40]
    scipy.io.mmwrite(os.path.join(t, dst, "matrix.mtx"), X.tocoo(), field="integer")
    for f, n in (("genes.tsv", None), ("barcodes.tsv", 40)):
        lines = open(os.path.join(d, src, f)).read().splitlines()
        open(os.path.join(t, dst, f), "w").write("".join(x + "\n" for x in lines[:n]))
PY
J=(--human "$T/h" --mouse "$T/m" --human-gene-names $HN --mouse-gene-names $MN)
"$BIN" vocab build "${J[@]}" --orthologs $ORTH -o "$T/jv" 2> /dev/null        # the baselines work
JV=(--vocab "$T/jv/vocab.tsv" --medians "$T/jv/medians.tsv")
"$BIN" tokenize "$T/m" -o "$T/cm" "${JV[@]}" --gene-names $MN --species mouse --values 2> /dev/null
"$BIN" tokenize "$T/h" -o "$T/ch" "${JV[@]}" --gene-names $HN --species human --values 2> /dev/null
"$BIN" tokenize "$T/h" -o "$T/c_v1" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz 2> /dev/null

n=0
# expect_fail NAME PATTERN... -- ARGS: scfm ARGS must fail with every pattern in stderr, no $T/out left
expect_fail() {
    local name=$1; shift
    local pats=()
    while [ "$1" != "--" ]; do pats+=("$1"); shift; done
    shift
    rm -rf "$T/out"
    set +e
    "$BIN" "$@" 2> "$T/err.log" > /dev/null
    local rc=$?
    set -e
    if [ $rc -eq 0 ]; then echo "FAIL $name: exit 0"; cat "$T/err.log"; exit 1; fi
    for p in "${pats[@]}"; do
        if ! grep -qiF -- "$p" "$T/err.log"; then echo "FAIL $name: message lacks '$p':"; cat "$T/err.log"; exit 1; fi
    done
    if [ -e "$T/out" ] || compgen -G "$T/out.tmp.*" > /dev/null; then echo "FAIL $name: output left behind"; exit 1; fi
    n=$((n+1))
    echo "ok $name: $(tail -1 "$T/err.log")"
}

# ortholog tables with unknown columns (csv and tsv), for vocab build and for tokenize --to-species
printf 'human,mouse,kind\nENSG00000000003,ENSMUSG00000067377,one2one\n' > "$T/unknown.csv"
printf 'hgnc\tmgi\nA1BG\tA1bg\n' > "$T/unknown.tsv"
expect_fail "unknown csv ortholog columns" "unknown.csv" "unknown ortholog table columns" "'human', 'mouse', 'kind'" \
    -- vocab build "${J[@]}" --orthologs "$T/unknown.csv" -o "$T/out"
expect_fail "unknown tsv ortholog columns" "unknown.tsv" "unknown ortholog table columns" "HCOP" \
    -- vocab build "${J[@]}" --orthologs "$T/unknown.tsv" -o "$T/out"
expect_fail "unknown columns in tokenize" "unknown.csv" "unknown ortholog table columns" \
    -- tokenize "$T/m" -o "$T/out" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
       --gene-names $MN --to-species human --orthologs "$T/unknown.csv"

# joint build options
expect_fail "joint build without orthologs" "--orthologs FILE" -- vocab build --human "$T/h" --mouse "$T/m" -o "$T/out"
expect_fail "joint build with one species" "--mouse INPUT" -- vocab build --human "$T/h" --orthologs $ORTH -o "$T/out"
expect_fail "joint build with a positional input" "every input names its species" \
    -- vocab build "${J[@]}" "$T/h" --orthologs $ORTH -o "$T/out"
expect_fail "joint build with --v2" "--v2" "<cls>" -- vocab build "${J[@]}" --orthologs $ORTH --v2 -o "$T/out"
expect_fail "joint build with --gene-names" "--human-gene-names" \
    -- vocab build "${J[@]}" --gene-names $HN --orthologs $ORTH -o "$T/out"
expect_fail "mouse inputs without mouse IDs" "mouse inputs" "--mouse-gene-names" \
    -- vocab build --human "$T/h" --mouse "$T/m" --human-gene-names $HN --orthologs $ORTH -o "$T/out"

# species and vocabularies
expect_fail "joint vocabulary without --species" "joint (human+mouse) vocabulary" "--species human|mouse" \
    -- tokenize "$T/m" -o "$T/out" "${JV[@]}" --gene-names $MN
expect_fail "joint vocabulary with --to-species" "joint vocabulary" "--to-species" \
    -- tokenize "$T/m" -o "$T/out" "${JV[@]}" --gene-names $MN --species mouse --to-species human --orthologs $ORTH
expect_fail "mouse cells for a human-only vocabulary" "token_dictionary.tsv.gz" "holds no mouse genes" "--to-species" \
    -- tokenize "$T/m" -o "$T/out" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
       --gene-names $MN --species mouse
expect_fail "a species scfm does not know" "--species" "'zebrafish' is not one of human, mouse" \
    -- tokenize "$T/m" -o "$T/out" "${JV[@]}" --species zebrafish
expect_fail "bad --missing-median" "--missing-median" -- tokenize "$T/m" -o "$T/out" "${JV[@]}" --species mouse \
    --missing-median zero

# a joint vocabulary whose homolog map is missing, changed, or whose vocab.json disagrees
cp -r "$T/jv" "$T/jv2"; rm "$T/jv2/homologs.tsv"
expect_fail "joint vocabulary without homologs.tsv" "homologs.tsv" "homolog map is missing" \
    -- tokenize "$T/m" -o "$T/out" --vocab "$T/jv2/vocab.tsv" --medians "$T/jv2/medians.tsv" --species mouse
cp "$T/jv/homologs.tsv" "$T/jv2/homologs.tsv"; sed -i '$d' "$T/jv2/homologs.tsv"
expect_fail "changed homologs.tsv" "homologs.tsv" "differs from" \
    -- tokenize "$T/m" -o "$T/out" --vocab "$T/jv2/vocab.tsv" --medians "$T/jv2/medians.tsv" --species mouse
cp "$T/jv/homologs.tsv" "$T/jv2/homologs.tsv"; sed -i 's/"vocab_hash": "[0-9a-f]*"/"vocab_hash": "0000000000000000"/' "$T/jv2/vocab.json"
expect_fail "vocab.json of another vocabulary" "vocab.json" "describes vocabulary 0000000000000000" \
    -- tokenize "$T/m" -o "$T/out" --vocab "$T/jv2/vocab.tsv" --medians "$T/jv2/medians.tsv" --species mouse

# merge
expect_fail "merge of different vocabularies" "c_v1" "vocabulary" "same vocabulary" -- corpus merge "$T/ch" "$T/c_v1" -o "$T/out"
"$BIN" tokenize "$T/h" -o "$T/ch_novalues" "${JV[@]}" --gene-names $HN --species human 2> /dev/null
expect_fail "merge of values with none" "values" -- corpus merge "$T/ch" "$T/ch_novalues" -o "$T/out"
expect_fail "merge without -o" "-o OUT" -- corpus merge "$T/ch" "$T/cm"
mkdir "$T/out_exists"
set +e; "$BIN" corpus merge "$T/ch" "$T/cm" -o "$T/out_exists" 2> "$T/err.log"; rc=$?; set -e
[ $rc -ne 0 ] && grep -q "already exists" "$T/err.log" && n=$((n+1)) && echo "ok merge onto an existing directory"

# a joint corpus that lost its homolog map does not open
cp -r "$T/cm" "$T/cm2"; rm "$T/cm2/homologs.tsv"
expect_fail "joint corpus without its homolog map" "cm2" "without its homolog map" -- corpus info "$T/cm2"
expect_fail "merge with such a corpus" "cm2" "without its homolog map" -- corpus merge "$T/ch" "$T/cm2" -o "$T/out"
echo "genecompass_data_errors: $n cases ok"
