#!/usr/bin/env bash
# scfm tokenize on real PBMCs (human/pbmc4k_labeled) with Geneformer's V1 and V2 dictionaries
# equals, cell for cell, the independent numpy reference (scripts/tokenize_reference.py);
# the corpus is identical for 1 and 2 threads and for different chunk/shard sizes; corpus
# info/export and the numpy corpus reader agree.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 geneformer/v2 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
IN=$D/human/pbmc4k_labeled
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
V2=$D/geneformer/v2

# V1
"$BIN" tokenize "$IN" -o "$T/v1" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz --obs label --threads 2 2> "$T/v1.log"
grep -q "reach the vocabulary" "$T/v1.log"
grep -q "cells/s" "$T/v1.log"
"$PY" scripts/tokenize_reference.py "$IN" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz --compare "$T/v1" | tee "$T/ref1.log"
grep -q "2170 cells, 0 differ" "$T/ref1.log"

# V2 with values (pickled dictionaries this time), small shards and chunks
"$BIN" tokenize "$IN" -o "$T/v2" --mode v2 --vocab $V2/token_dictionary_gc104M.pkl \
    --medians $V2/gene_median_dictionary_gc104M.pkl --gene-names $V2/gene_name_id_dict_gc104M.pkl \
    --values-per-cell --threads 2 --chunk 100 --shard-cells 700 2> "$T/v2.log"
"$PY" scripts/tokenize_reference.py "$IN" --mode v2 --vocab $V2/token_dictionary_gc104M.tsv.gz \
    --medians $V2/gene_median_dictionary_gc104M.tsv.gz --gene-names $V2/gene_name_id_dict_gc104M.tsv.gz --values-per-cell \
    --compare "$T/v2" | tee "$T/ref2.log"
grep -q "2170 cells, 0 differ" "$T/ref2.log"

# thread count and chunk size do not change a byte (V1, one shard)
"$BIN" tokenize "$IN" -o "$T/v1t1" --vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz \
    --gene-names $V1/gene_name_id_dict.tsv.gz --obs label --threads 1 --chunk 333 2> /dev/null
cmp "$T/v1/shard-00000.bin" "$T/v1t1/shard-00000.bin"
cmp "$T/v1/obs.tsv" "$T/v1t1/obs.tsv"

# corpus info validates and summarizes; export agrees with the numpy reader
"$BIN" corpus info "$T/v2" > "$T/info.txt"
grep -q "cells 2170" "$T/info.txt"
grep -q "mode v2" "$T/info.txt"
grep -q "CRC-32s verified" "$T/info.txt"
"$BIN" corpus export "$T/v1" --tsv "$T/v1.tsv" 2> /dev/null
"$PY" - "$T/v1" "$T/v1.tsv" <<'PY'
import sys
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
c = read_corpus(sys.argv[1])
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
assert rows[0] == ["cell_id", "label", "length", "tokens"], rows[0]
assert len(rows) - 1 == len(c["cell_ids"]) == 2170
for i, r in enumerate(rows[1:]):
    toks = c["tokens"][c["offsets"][i]:c["offsets"][i + 1]]
    assert r[0] == c["cell_ids"][i] and r[1] == c["obs"]["label"][i] and int(r[2]) == len(toks), i
    assert [int(x) for x in r[3].split()] == toks.tolist(), i
labels = set(c["obs"]["label"])
assert {"B", "NK", "T_CD4"} <= labels, labels
m = c["meta"]
assert m["vocab_size"] == 25426 and m["mode"] == "v1" and m["max_len"] == 2048 and not m["has_values"]
assert abs(m["sources"][0]["count_share_in_vocab"] - 0.9072) < 1e-3, m["sources"]
print("export ok:", len(rows) - 1, "cells")
PY
echo "tokenize_pbmc: ok"
