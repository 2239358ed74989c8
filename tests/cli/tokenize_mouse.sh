#!/usr/bin/env bash
# Mouse cells (mouse/pancreas_baron_labeled, MGI symbols) tokenized for the human V1 vocabulary
# through one-to-one orthologs (mouse-Geneformer route): the surviving share of genes and counts
# and every cell's tokens equal the numpy reference (BioMart and HCOP tables). Without the
# ortholog option the low-share warning appears and points to --to-species.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 genes/mouse_ensembl_genes.csv.gz mouse/pancreas_baron_labeled orthologs
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
IN=$D/mouse/pancreas_baron_labeled
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
BASE=(--vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz --gene-names $D/genes/mouse_ensembl_genes.csv.gz)

for table in biomart_mouse_to_human.csv.gz hcop_human_mouse.tsv.gz; do
    ORTH=(--to-species human --orthologs $D/orthologs/$table)
    [ "$table" = hcop_human_mouse.tsv.gz ] && ORTH+=(--ortholog-min-support 3)
    "$BIN" tokenize "$IN" -o "$T/c_$table" "${BASE[@]}" "${ORTH[@]}" --species mouse --obs label 2> "$T/log"
    grep "reach the vocabulary" "$T/log"
    "$PY" scripts/tokenize_reference.py "$IN" "${BASE[@]}" "${ORTH[@]}" --stats "$T/ref.json" --compare "$T/c_$table" | tee "$T/ref.log"
    grep -q "822 cells, 0 differ" "$T/ref.log"
    "$PY" - "$T/c_$table" "$T/ref.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/corpus.json"))
r = json.load(open(sys.argv[2]))["sources"][0]
s = c["sources"][0]
print(f"scfm: {s['genes_in_vocab']} of {s['genes_in']} genes, {100 * s['count_share_in_vocab']:.2f}% of counts; "
      f"reference: {r['genes_in_vocab']} genes, {100 * r['count_share_in_vocab']:.2f}%")
assert s["genes_in"] == r["genes_in"] == 14878
assert s["genes_in_vocab"] == r["genes_in_vocab"]
assert abs(s["count_share_in_vocab"] - r["count_share_in_vocab"]) < 1e-12
assert s["count_share_in_vocab"] > 0.5
assert c["species"] == "mouse" and c["settings"]["to_species"] == "human"
PY
done

# without orthologs, mouse IDs never reach a human vocabulary: warning, then no cells
set +e
"$BIN" tokenize "$IN" -o "$T/c_none" "${BASE[@]}" 2> "$T/none.log"
rc=$?
set -e
cat "$T/none.log"
[ $rc -ne 0 ]
grep -qi "warning:.*reach the vocabulary" "$T/none.log"
grep -q -- "--to-species" "$T/none.log"
test ! -e "$T/c_none"
echo "tokenize_mouse: ok"
