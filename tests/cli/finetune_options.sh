#!/usr/bin/env bash
# scfm finetune options: --split-column (train/validation/test from an obs column),
# --train-fraction (stratified share of the training cells), --freeze-layers (embeddings and
# the first layers keep the checkpoint's weights), --patience (early stopping, the best
# evaluation's weights are kept), --random-init (same architecture, new weights).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
"$BIN" tokenize "$D/human/pbmc4k_labeled" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz \
    --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 64 \
    --obs label 2> /dev/null > /dev/null
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 3 > /dev/null 2>&1
# a copy of the corpus with a 'split' obs column (cell i: test if i%10==0, validation if 1, else train)
cp -r "$T/c" "$T/cs"
"$PY" - "$T/cs" <<'PYEOF'
import json, sys
d = sys.argv[1]
rows = [l.rstrip("\n").split("\t") for l in open(f"{d}/obs.tsv")]
with open(f"{d}/obs.tsv", "w") as f:
    f.write("cell_id\tlabel\tsplit\n")
    for i, r in enumerate(rows[1:]):
        f.write("\t".join(r + ["test" if i % 10 == 0 else "validation" if i % 10 == 1 else "train"]) + "\n")
j = json.load(open(f"{d}/corpus.json"))
j["obs_columns"] = ["label", "split"]
json.dump(j, open(f"{d}/corpus.json", "w"))
PYEOF

"$BIN" finetune "$T/cs" -m "$T/m" -o "$T/o1" --label label --drop-label '?' --split-column split \
    --train-fraction 0.5 --freeze-layers 1 --patience 1 --eval-every 5 --max-steps 300 --lr 2e-3 \
    --warmup-steps 0 --batch-size 16 --threads 1 > "$T/out1" 2> "$T/err1" || { cat "$T/err1"; exit 1; }
grep -q "stopping early" "$T/err1"
"$BIN" finetune "$T/c" -m "$T/m" -o "$T/o2" --label label --drop-label '?' --random-init --max-steps 3 \
    --batch-size 8 --lr 1e-3 --warmup-steps 0 --threads 1 > /dev/null 2> "$T/err2" || { cat "$T/err2"; exit 1; }
OMP_NUM_THREADS=1 "$BIN" predict "$T/cs" -m "$T/o1/best" -o "$T/pred.tsv" > /dev/null 2>&1

"$PY" - "$T" <<'PYEOF'
import csv, json, sys
import numpy as np
from safetensors.numpy import load_file
T = sys.argv[1]
def tsv(p):
    rows = list(csv.reader(open(p), delimiter="\t"))
    return rows[0], rows[1:]
_, obs = tsv(f"{T}/cs/obs.tsv")
lab = {r[0]: r[1] for r in obs}
want = {r[0]: ("excluded" if r[1] == "?" else "val" if r[2] == "validation" else r[2]) for r in obs}
_, split = tsv(f"{T}/o1/split.tsv")
got = {r[0]: r[1] for r in split}
# the split column decides val/test; train-fraction 0.5 keeps half of each class's training cells
for k in got:
    if want[k] == "train":
        assert got[k] in ("train", "unused"), (k, got[k])
    else:
        assert got[k] == want[k], (k, got[k], want[k])
for cl in set(lab.values()) - {"?"}:
    n = sum(want[k] == "train" and lab[k] == cl for k in got)
    kept = sum(got[k] == "train" and lab[k] == cl for k in got)
    assert abs(kept - n / 2) <= 1, (cl, n, kept)
m = json.load(open(f"{T}/o1/metrics.json"))
assert m["stopped_early"] is True and m["steps"] < 300, m["steps"]
log = [json.loads(l) for l in open(f"{T}/o1/log.jsonl")]
ev = [r for r in log if r["type"] == "eval"]
assert ev[-1]["step"] == m["steps"] and len(ev) >= 2
best = max(ev, key=lambda r: r["val_macro_f1"])
assert m["validation"]["best_step"] == best["step"] and not ev[-1]["best"], (best, ev[-1])
# frozen: embeddings and layer 0 unchanged, layer 1 and the head trained
a, b = load_file(f"{T}/m/model.safetensors"), load_file(f"{T}/o1/best/model.safetensors")
def get(d, k):
    return d[k] if k in d else d["bert." + k]
for k in ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
          "encoder.layer.0.attention.self.query.weight", "encoder.layer.0.output.dense.weight"]:
    assert np.array_equal(get(a, k), get(b, k)), k
assert not np.array_equal(get(a, "encoder.layer.1.output.dense.weight"), get(b, "encoder.layer.1.output.dense.weight"))
# the kept weights are those of the best evaluation: predict reproduces test_predictions
_, tp = tsv(f"{T}/o1/test_predictions.tsv")
_, pr = tsv(f"{T}/pred.tsv")
q = {r[0]: np.array(r[2:], float) for r in pr}
assert max(np.abs(q[r[0]] - np.array(r[3:], float)).max() for r in tp) < 1e-4
# random init: the word embeddings are not the checkpoint's
c = load_file(f"{T}/o2/best/model.safetensors")
assert not np.allclose(get(a, "embeddings.word_embeddings.weight"), get(c, "embeddings.word_embeddings.weight"))
assert json.load(open(f"{T}/o2/metrics.json"))["settings"]["random_init"] is True
print("ok")
PYEOF

# --class-weights: balanced weights n / (C * n_c) over the training cells, reported on stderr
# and recorded in metrics.json; the loss itself is checked against torch's weighted
# CrossEntropyLoss by tests/test_bert on the *_weighted fixtures.
"$BIN" finetune "$T/c" -m "$T/m" -o "$T/o3" --label label --drop-label '?' --class-weights --max-steps 3 \
    --batch-size 8 --lr 1e-3 --warmup-steps 0 --threads 1 > /dev/null 2> "$T/err3" || { cat "$T/err3"; exit 1; }
"$PY" - "$T" <<'PYEOF'
import csv, json, re, sys
T = sys.argv[1]
obs = {r[0]: r[1] for r in list(csv.reader(open(f"{T}/c/obs.tsv"), delimiter="\t"))[1:]}
split = {r[0]: r[1] for r in list(csv.reader(open(f"{T}/o3/split.tsv"), delimiter="\t"))[1:]}
train = [obs[c] for c, s in split.items() if s == "train"]
classes = sorted(set(train))
got = {m.group(1): float(m.group(3)) for m in
       re.finditer(r"class (\S+): (\d+) training samples, loss weight (\S+)", open(f"{T}/err3").read())}
assert set(got) == set(classes), (got, classes)
for c in classes:
    want = len(train) / (len(classes) * train.count(c))
    assert abs(got[c] - want) <= 1e-3 * want, (c, got[c], want)
assert json.load(open(f"{T}/o3/metrics.json"))["settings"]["class_weights"] is True
print("class weights ok:", got)
PYEOF
