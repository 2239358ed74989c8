#!/usr/bin/env bash
# scfm finetune / predict on bad input: a clear message, a non-zero exit, and no OUT (nor
# OUT.tmp.*) left behind.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 geneformer/v2 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
"$BIN" tokenize "$D/human/pbmc4k_labeled" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz \
    --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 64 \
    --obs label 2> /dev/null > /dev/null
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" > /dev/null 2>&1
"$BIN" model init --config tiny --vocab $D/geneformer/v2/token_dictionary_gc104M.tsv.gz -o "$T/m2" > /dev/null 2>&1

fails() { # expected-message-regex, command...
    local want=$1; shift
    rm -rf "$T/o"
    if "$@" > "$T/stdout" 2> "$T/stderr"; then echo "expected failure: $*"; exit 1; fi
    grep -Eq -- "$want" "$T/stderr" || { echo "message for '$*' lacks /$want/:"; cat "$T/stderr"; exit 1; }
    [ ! -e "$T/o" ] || { echo "OUT left behind by: $*"; exit 1; }
    ! ls "$T" | grep -q '^o\.tmp' || { echo "OUT.tmp left behind by: $*"; exit 1; }
    echo "ok: $(head -1 "$T/stderr")"
}
FT=("$BIN" finetune "$T/c" -o "$T/o" --max-steps 2 --threads 1)
fails "no obs column 'celltype'.*available columns: 'label'" "${FT[@]}" -m "$T/m" --label celltype
fails "$T/nope: no such model directory" "${FT[@]}" -m "$T/nope" --label label
fails "vocabulary .* is not the model's" "${FT[@]}" -m "$T/m2" --label label
fails "1 class \('T_CD8'\).*at least 2" "${FT[@]}" -m "$T/m" --label label --drop-label '?' --drop-label B \
    --drop-label MNP --drop-label NK --drop-label T_CD4
fails "--lr: .*out of range" "${FT[@]}" -m "$T/m" --label label --lr -1
fails "--lr: " "${FT[@]}" -m "$T/m" --label label --lr abc
fails "--batch-size: " "${FT[@]}" -m "$T/m" --label label --batch-size 0
fails "--val-frac 0.6 \+ --test-frac 0.5" "${FT[@]}" -m "$T/m" --label label --val-frac 0.6 --test-frac 0.5
fails "--train-fraction: " "${FT[@]}" -m "$T/m" --label label --train-fraction 1.5
fails "freeze_layers 5 exceeds the model's 2 layers" "${FT[@]}" -m "$T/m" --label label --freeze-layers 5
fails "--schedule: " "${FT[@]}" -m "$T/m" --label label --schedule steep
fails "unknown option --bogus" "${FT[@]}" -m "$T/m" --label label --bogus 1
fails "--label COLUMN or --gene-labels FILE is required" "${FT[@]}" -m "$T/m"
fails "no obs column 'fold'" "${FT[@]}" -m "$T/m" --label label --split-column fold
fails "$T/c/nothere|nothere" "$BIN" finetune "$T/c/nothere" -o "$T/o" -m "$T/m" --label label
printf 'gene_id\tlabel\nNOT_A_GENE\tx\n' > "$T/genes.tsv"
fails "none of its .* genes is in the corpus's vocabulary" "${FT[@]}" -m "$T/m" --gene-labels "$T/genes.tsv"
# an existing OUT is not replaced without --force (and is left as it was)
mkdir "$T/o" && touch "$T/o/keep"
if "${FT[@]}" -m "$T/m" --label label 2> "$T/stderr"; then echo "overwrote OUT"; exit 1; fi
grep -q "already exists" "$T/stderr" && [ -e "$T/o/keep" ]
# predict wants a fine-tuned classifier
rm -rf "$T/o"
if "$BIN" predict "$T/c" -m "$T/m" -o "$T/p.tsv" 2> "$T/stderr"; then echo "predict accepted an MLM model"; exit 1; fi
grep -q "not a fine-tuned classifier" "$T/stderr" && [ ! -e "$T/p.tsv" ]
if "$BIN" predict "$T/c" -m "$T/nope" -o "$T/p.tsv" 2> "$T/stderr"; then echo "predict without a model"; exit 1; fi
grep -q "no such model directory" "$T/stderr"
echo "all ok"
