#!/usr/bin/env bash
# scfm pretrain against an independent PyTorch/transformers re-implementation
# (scripts/pretrain_reference.py: split, length-grouped sampler and 80/10/10 masking redone in
# Python; BertForMaskedLM on padded batches, torch AdamW, transformers' schedules, torch
# grad clipping): the loss of every step and the weights after the last step agree.
# Two runs: linear schedule with clipping and weight decay; cosine with grad accumulation 2.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 human/pbmc1k_v2
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
"$BIN" tokenize "$D/human/pbmc1k_v2" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz \
    --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 48 2> /dev/null

# initial weights from transformers (dropout 0, so both sides compute the same function)
"$PY" - "$T/init" <<'PYEOF'
import sys, torch
from transformers import BertConfig, BertForMaskedLM
torch.manual_seed(3)
cfg = BertConfig(vocab_size=25426, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=64, max_position_embeddings=64, hidden_act="gelu",
                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
BertForMaskedLM(cfg).save_pretrained(sys.argv[1], safe_serialization=True)
PYEOF

"$BIN" pretrain "$T/c" -o "$T/r1" --init "$T/init" --batch-size 6 --max-steps 8 --lr 2e-3 --warmup-steps 3 \
    --weight-decay 0.01 --max-grad-norm 0.5 --log-every 1 --eval-every 0 --save-every 8 --val-fraction 0.2 \
    --mega-mult 4 --seed 11 --threads 2 > /dev/null 2> "$T/e1"
"$PY" scripts/pretrain_reference.py --run "$T/r1" --init "$T/init" --steps 8 | tee "$T/ref1"
grep -q "^AGREE" "$T/ref1"

"$BIN" pretrain "$T/c" -o "$T/r2" --init "$T/init" --batch-size 4 --grad-accum 2 --max-steps 6 --lr 1e-3 \
    --schedule cosine --warmup-ratio 0.3 --log-every 1 --eval-every 0 --save-every 6 --val-fraction 0.05 \
    --mask-prob 0.3 --seed 5 --threads 1 > /dev/null 2> "$T/e2"
"$PY" scripts/pretrain_reference.py --run "$T/r2" --init "$T/init" --steps 6 | tee "$T/ref2"
grep -q "^AGREE" "$T/ref2"
