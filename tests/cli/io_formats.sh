#!/usr/bin/env bash
# Every layout of the reader fixtures (tests/fixtures/io: the same 30 real pbmc4k cells x 50
# genes as h5ad dense/CSR/CSC/layers/anndata-0.7/legacy, 10x h5 v2/v3, loom, mtx, csv) gives a
# byte-identical corpus through `scfm tokenize`; corrupt files fail with a message naming the
# file. Two vocabularies: one built from the fixtures themselves by `scfm vocab build` (keyed
# by symbols for the symbol inputs, by Ensembl IDs for the ID inputs; needs nothing else), and,
# when the team's ../shared/data is there, Geneformer's V1 dictionaries with a gene table.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # D (../shared/data)
BIN=${SCFM_BIN:-build/scfm}
FX=tests/fixtures/io
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$BIN" vocab build "$FX/mtx_plain" -o "$T/vocab_sym" --symbols 2> /dev/null
"$BIN" vocab build "$FX/mtx_gz" -o "$T/vocab_id" 2> /dev/null

tok() { # name, input, extra options...: symbol inputs use TOKS, names starting id_ use TOKI
    local name=$1 in=$2; shift 2
    local -a opts=("${TOKS[@]}")
    case $name in id_*) opts=("${TOKI[@]}") ;; esac
    rm -rf "$T/$name"
    "$BIN" tokenize "$in" -o "$T/$name" "${opts[@]}" --ignore-n-counts "$@" 2> "$T/$name.log" ||
        { echo "tokenize $in failed:"; cat "$T/$name.log"; exit 1; }
}
same() { # reference, others...
    local ref=$1; shift
    for n in "$@"; do
        cmp "$T/$ref/shard-00000.bin" "$T/$n/shard-00000.bin" || { echo "$n differs from $ref"; exit 1; }
    done
}

check_route() { # what
# gene symbols
tok sym_mtx "$FX/mtx_plain"
tok sym_csv "$FX/cells_rows.csv"
same sym_mtx sym_csv
rm -rf "$T/probe"
"$BIN" tokenize "$FX/csr.h5ad" -o "$T/probe" "${TOKS[@]}" > "$T/probe.log" 2>&1 || true
if grep -q "without HDF5" "$T/probe.log"; then
    echo "io_formats ($1): scfm built without HDF5: h5ad/10x h5/loom refused with a clear error; mtx and csv ok"
    return 0
fi
tok sym_csr "$FX/csr.h5ad"
tok sym_csc "$FX/csc.h5ad"
tok sym_layer "$FX/dense_layers.h5ad" --matrix layers/counts
tok sym_07 "$FX/anndata07.h5ad"
tok sym_legacy "$FX/legacy.h5ad"
tok sym_10x "$FX/tenx_v3.h5" --gene-column name
tok sym_10x2 "$FX/tenx_v2.h5" --gene-column name
tok sym_loom "$FX/cells.loom" --gene-column Gene
same sym_mtx sym_07 sym_legacy sym_10x sym_10x2 sym_csv
# these carry obs/col attr filter_pass (every 4th cell fails): 23 of the 30 cells
same sym_csr sym_csc sym_layer sym_loom
grep -q "30 cells" "$T/sym_mtx.log" && grep -q "23 cells" "$T/sym_csr.log" || { cat "$T/sym_mtx.log" "$T/sym_csr.log"; exit 1; }
# Ensembl IDs
tok id_mtx "$FX/mtx_gz"
tok id_10x "$FX/tenx_v3.h5"
tok id_10x2 "$FX/tenx_v2.h5"
tok id_loom "$FX/cells.loom"
tok id_h5ad "$FX/dense_layers.h5ad" --matrix layers/counts --gene-column ensembl_id
same id_mtx id_10x id_10x2
same id_loom id_h5ad
# the corpus is not empty
test "$(stat -c %s "$T/id_mtx/shard-00000.bin")" -gt 100

echo "io_formats ($1): every layout gives the same corpus ($(stat -c %s "$T/sym_mtx/shard-00000.bin") and $(stat -c %s "$T/id_mtx/shard-00000.bin") bytes)"
}

TOKS=(--vocab "$T/vocab_sym/vocab.tsv" --medians "$T/vocab_sym/medians.tsv")
TOKI=(--vocab "$T/vocab_id/vocab.tsv" --medians "$T/vocab_id/medians.tsv")
check_route "vocabulary built from the fixtures"
TOK=("${TOKS[@]}")
if [ -e "$D/geneformer/v1" ] && [ -e "$D/genes/human_ensembl_genes.csv.gz" ]; then
    V1=$D/geneformer/v1
    TOKS=(--vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz --gene-names $D/genes/human_ensembl_genes.csv.gz)
    TOKI=("${TOKS[@]}")
    TOK=("${TOKS[@]}")
    check_route "Geneformer V1 dictionaries from $D"
else
    echo "io_formats: $D not found: the Geneformer-dictionary route is not checked"
fi

# corrupt inputs
head -c 20000 "$FX/csr.h5ad" > "$T/cut.h5ad"
if "$BIN" tokenize "$T/cut.h5ad" -o "$T/bad1" "${TOK[@]}" 2> "$T/bad1.log"; then echo "truncated h5ad accepted"; exit 1; fi
grep -q "cut.h5ad: not an HDF5 file or corrupt" "$T/bad1.log" || { cat "$T/bad1.log"; exit 1; }
if "$BIN" tokenize "$FX/bad_neg.h5ad" -o "$T/bad2" "${TOK[@]}" 2> "$T/bad2.log"; then echo "negative accepted"; exit 1; fi
grep -q "bad_neg.h5ad: .*negative" "$T/bad2.log" || { cat "$T/bad2.log"; exit 1; }
if "$BIN" tokenize "$FX/csr.h5ad" -o "$T/bad3" "${TOK[@]}" --gene-column nope 2> "$T/bad3.log"; then
    echo "missing gene column accepted"; exit 1
fi
grep -q "csr.h5ad: .*'nope' not found" "$T/bad3.log" || { cat "$T/bad3.log"; exit 1; }
echo "io_formats: ok"
