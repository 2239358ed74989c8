#!/usr/bin/env bash
# GeneCompass checkpoints both ways, against the PyTorch re-implementation in
# scripts/genecompass_reference.py: fixtures regenerated fresh (three cases: everything on,
# some use_* off, no species row) must match test_bert (logits, predicted values, losses,
# hidden states and species rows, every gradient, 5 AdamW steps); the checkpoints scfm
# writes back load in the PyTorch module and give the same outputs. Bad checkpoints: a
# cat_fc width that disagrees with config.json, GeneCompass tensors under a plain BERT
# config.json, a missing prior table.
set -euo pipefail
: "${SCFM_BIN:?}" "${SCFM_PYTHON:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TEST_BERT="$(dirname "$SCFM_BIN")/tests/test_bert"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$SCFM_PYTHON" "$ROOT/scripts/make_genecompass_fixtures.py" "$T/fx" > /dev/null
mkdir -p "$T/saved"
SCFM_TEST_SAVE_DIR="$T/saved" "$TEST_BERT" "$T/fx/all_on" "$T/fx/some_off" "$T/fx/no_species" | tee "$T/log"
grep -q "all_on (mlm): ok" "$T/log"
for c in all_on some_off no_species; do
    "$SCFM_PYTHON" "$ROOT/scripts/check_genecompass_checkpoint.py" "$T/saved/$c" "$T/fx/$c/state.safetensors"
    # the int64 buffers and 0-d tensors are written with GeneCompass's names and dtypes
    "$SCFM_PYTHON" - "$T/saved/$c/model.safetensors" <<'PY'
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], "pt") as f:
    keys = set(f.keys())
    assert "bert.embeddings.position_ids" in keys
    if "bert.embeddings.homologous_index" in keys:
        assert str(f.get_tensor("bert.embeddings.homologous_index").dtype) == "torch.int64"
    if "emb_warmup.alpha" in keys:
        assert f.get_tensor("emb_warmup.alpha").dim() == 0
        assert str(f.get_tensor("emb_warmup.steps").dtype) == "torch.int64"
    assert "cls.predictions.decoder.weight" not in keys  # tied: stored once
PY
done
"$SCFM_BIN" model info "$T/saved/all_on" > "$T/info.txt"
grep -q "bert.embeddings.concat_embeddings.cat_fc.weight" "$T/info.txt"

# cat_fc width that disagrees with config.json (values switched off in the config only)
cp -r "$T/fx/all_on" "$T/badwidth"
sed -i 's/"use_values": true/"use_values": false/' "$T/badwidth/config.json"
if "$SCFM_BIN" model info "$T/badwidth" > "$T/out" 2> "$T/err"; then cat "$T/out"; echo "bad width accepted"; exit 1; fi
grep -q "cat_fc.weight" "$T/err" && grep -q "badwidth" "$T/err"
# GeneCompass tensors under a config.json without GeneCompass's fields: refused, not run as BERT
cp -r "$T/fx/all_on" "$T/plain"
"$SCFM_PYTHON" - "$T/plain/config.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for k in list(j):
    if k.startswith("use_"):
        del j[k]
json.dump(j, open(sys.argv[1], "w"))
PY
if "$SCFM_BIN" model info "$T/plain" > "$T/out" 2> "$T/err"; then echo "GeneCompass as plain BERT accepted"; exit 1; fi
grep -q "GeneCompass part" "$T/err"
# a prior table the config asks for is missing from the weights
cp -r "$T/fx/some_off" "$T/noprior"
sed -i 's/"use_promoter": false/"use_promoter": true/' "$T/noprior/config.json"
if "$SCFM_BIN" model info "$T/noprior" > "$T/out" 2> "$T/err"; then echo "missing prior accepted"; exit 1; fi
grep -q "promoter" "$T/err"
echo "genecompass checkpoints: ok"
