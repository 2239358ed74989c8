#!/usr/bin/env bash
# Regenerates the fuzz seeds that are not plain copies of tests/fixtures (tests/fuzz/seeds/):
#   corpus_store/  a one-shard corpus tokenized from tests/fixtures/io/csr.h5ad with a
#                  50-gene vocabulary made from that file's gene IDs (needs build/scfm);
#   train_state/   a training-state file for 4 parameters (the layout of include/scfm/train.h);
#   tables/        the first 12 lines of the real gene tables in ../shared/data (token
#                  dictionary, medians, gene names, BioMart and HCOP orthologs).
# Usage: bash scripts/make_fuzz_seeds.sh   (from the repository root, after make)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SCFM_SHARED_DATA:-../shared/data}
S=tests/fuzz/seeds
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
rm -rf "$S/corpus_store" "$S/train_state" "$S/tables"
mkdir -p "$S/train_state" "$S/tables"
(printf '<pad>\t0\n<mask>\t1\n'; awk '{printf "%s\t%d\n", $1, NR + 1}' tests/fixtures/io/expected_ids.txt) > "$T/vocab.tsv"
awk -F'\t' 'NR > 2 {printf "%s\t%.3f\n", $1, 1 + NR / 10}' "$T/vocab.tsv" > "$T/med.tsv"
build/scfm tokenize tests/fixtures/io/csr.h5ad -o "$T/c" --vocab "$T/vocab.tsv" --medians "$T/med.tsv" \
    --gene-column ensembl_id --obs label 2> /dev/null
mkdir -p "$S/corpus_store"
cp "$T/c/shard-00000.bin" "$T/c/vocab.tsv" "$T/c/obs.tsv" "$S/corpus_store/"
# corpus.json without the absolute paths and time of this machine
sed -e 's|"command": "[^"]*"|"command": "scfm tokenize csr.h5ad"|' -e 's|"created": "[^"]*"|"created": "2026-01-01T00:00:00Z"|' \
    -e 's|"path": "[^"]*"|"path": "csr.h5ad"|' "$T/c/corpus.json" > "$S/corpus_store/corpus.json"
python3 - "$S/train_state/state4.bin" <<'PY'
import struct, sys, zlib
n = 4
h = b"SCFMTST1" + struct.pack("<II", 1, 128) + struct.pack("<QQQ", 7, 1, 3) + struct.pack("<4Q", 1, 2, 3, 4)
h += struct.pack("<QQQQQd", 0x1234, n, 1000, 10, 0x99, 1.5) + struct.pack("<II", 0, 0)
assert len(h) == 128
b = h + struct.pack("<%df" % n, *[0.1 * i for i in range(n)]) + struct.pack("<%df" % n, *[0.01 * i for i in range(n)])
open(sys.argv[1], "wb").write(b + struct.pack("<I", zlib.crc32(b)))
PY
V1=$D/geneformer/v1
for f in "$V1/token_dictionary.tsv.gz" "$V1/gene_median_dictionary.tsv.gz" "$V1/gene_name_id_dict.tsv.gz" \
         "$D/genes/human_ensembl_genes.csv.gz" "$D/orthologs/biomart_mouse_to_human.csv.gz" \
         "$D/orthologs/hcop_human_mouse.tsv.gz"; do
    b=$(basename "$f" .gz)
    (zcat "$f" | head -12) > "$S/tables/$b" || true
done
ls -l "$S"/*
