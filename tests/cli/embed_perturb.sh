#!/usr/bin/env bash
# scfm perturb (in-silico deletion) on 12 real PBMC cells with a small random model equals an
# independent reference: transformers BertModel for the cell embeddings (second-to-last
# layer, mean over gene tokens), cosine shifts toward a goal state, then
# scipy.stats.mannwhitneyu (asymptotic, no continuity) of each gene's shifts against all
# shifts and Benjamini-Hochberg FDR. Skipped while `scfm perturb` is not registered.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
if ! "$BIN" perturb --help > /dev/null 2>&1; then echo "SKIP: scfm perturb is not registered in tools/commands.def"; exit 77; fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1

"$PY" - "$D/human/pbmc4k_labeled" "$T/in" <<'PY'
import os, sys
import scipy.io
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d)
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).tocsc()[:, :12]
scipy.io.mmwrite(os.path.join(d, "matrix.mtx"), X.tocoo(), field="integer")
open(os.path.join(d, "genes.tsv"), "w").write(open(os.path.join(src, "genes.tsv")).read())
bcs = open(os.path.join(src, "barcodes.tsv")).read().splitlines()[:12]
open(os.path.join(d, "barcodes.tsv"), "w").write("".join(b + "\n" for b in bcs))
PY
"$BIN" tokenize "$T/in" -o "$T/c" --vocab $V1/token_dictionary.pkl --medians $V1/gene_median_dictionary.pkl \
    --gene-names $V1/gene_name_id_dict.pkl 2> /dev/null
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 5 > /dev/null 2>&1

# genes: the 4 most frequent gene tokens of these cells, and one that no cell has
GENES=$("$PY" - "$T/c" <<'PY'
import sys, collections
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
c = read_corpus(sys.argv[1])
vocab = [l.split("\t")[0] for l in open(sys.argv[1] + "/vocab.tsv").read().splitlines() if l]
cnt = collections.Counter(c["tokens"].tolist())
present = set(cnt)
top = [vocab[t] for t, _ in cnt.most_common(4)]
absent = next(vocab[t] for t in range(2, len(vocab)) if t not in present)
print(",".join(top + [absent]))
PY
)
"$BIN" perturb "$T/c" -m "$T/m" -o "$T/p.tsv" --delete --genes "$GENES" --shifts "$T/s.tsv" --goal-cells 3 \
    --goal "$(head -2 "$T/c/obs.tsv" | tail -1 | cut -f1 | sed 's/^/cell_id=/')" 2> "$T/log" > "$T/out" || true
# --goal needs an obs column; the corpus has none: that must be a clean error
grep -q "no obs column 'cell_id'" "$T/log"
"$BIN" perturb "$T/c" -m "$T/m" -o "$T/p.tsv" --delete --genes "$GENES" --shifts "$T/s.tsv" --batch-tokens 5000 \
    2> "$T/log" > "$T/out"
grep -q "^cells	12$" "$T/out"

"$PY" - "$T" "$GENES" <<'PY'
import sys, os
import numpy as np, torch, scipy.stats as ss
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
from transformers import BertModel
T, genes = sys.argv[1], sys.argv[2].split(",")
c = read_corpus(os.path.join(T, "c"))
vocab = [l.split("\t")[0] for l in open(os.path.join(T, "c", "vocab.tsv")).read().splitlines() if l]
tid = {g: i for i, g in enumerate(vocab)}
special = np.array([t.startswith("<") and t.endswith(">") for t in vocab])
m = BertModel.from_pretrained(os.path.join(T, "m"), add_pooling_layer=False).eval()
L = m.config.num_hidden_layers
def emb(ids):
    with torch.no_grad():
        h = m(torch.tensor(ids, dtype=torch.long)[None], output_hidden_states=True).hidden_states[L - 1][0].double().numpy()
    return h[~special[ids]].mean(0)
def cos(a, b):
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-8))
shifts = {}
for i in range(len(c["offsets"]) - 1):
    ids = c["tokens"][c["offsets"][i]:c["offsets"][i + 1]].astype(np.int64)
    o = emb(ids)
    for g in sorted(tid[x] for x in genes):
        if g in ids:
            shifts.setdefault(g, []).append(cos(emb(ids[ids != g]), o))
got = [l.split("\t") for l in open(os.path.join(T, "s.tsv")).read().splitlines()[1:]]
got_sh = {}
for name, t, cell, cid, null, s, cs, _name, _symbol in got:
    assert vocab[int(t)] == name and null == "0" and abs(float(s) - float(cs)) < 1e-12
    got_sh.setdefault(int(t), []).append(float(s))
assert set(got_sh) == set(shifts), (sorted(got_sh), sorted(shifts))
d = max(np.abs(np.array(got_sh[g]) - np.array(shifts[g])).max() for g in shifts)
print("shifts vs transformers: %d genes, max abs diff %g" % (len(shifts), d)); assert d < 1e-5
# statistics on scfm's own shifts (so only the statistics are compared here)
allv = np.concatenate([np.array(got_sh[g]) for g in sorted(got_sh)])
ref = {}
for g in sorted(got_sh):
    r = ss.mannwhitneyu(got_sh[g], allv, alternative="two-sided", method="asymptotic", use_continuity=False)
    ref[g] = r.pvalue
gs = sorted(ref)
p = np.array([ref[g] for g in gs])
order = np.argsort(p, kind="mergesort"); m_ = len(p)
q = np.empty(m_); q[order] = np.clip(np.minimum.accumulate((p[order] * m_ / np.arange(1, m_ + 1))[::-1])[::-1], 0, 1)
rows = [l.split("\t") for l in open(os.path.join(T, "p.tsv")).read().splitlines()]
assert rows[0] == ["gene", "token_id", "name", "symbol", "n_cells", "mean_shift", "sd_shift", "z", "p", "fdr",
                   "significant", "mean_cos"], rows[0]
assert len(rows) - 1 == len(gs)
for r in rows[1:]:
    r = dict(zip(rows[0], r))
    g = int(r["token_id"]); k = gs.index(g)
    assert int(r["n_cells"]) == len(got_sh[g])
    assert abs(float(r["mean_shift"]) - np.mean(got_sh[g])) < 1e-8
    assert abs(float(r["p"]) - p[k]) <= 1e-7 * max(p[k], 1e-300) + 1e-12, (r, p[k])
    assert abs(float(r["fdr"]) - q[k]) <= 1e-7 * q[k] + 1e-12, (r, q[k])
print("perturb statistics vs scipy: ok (%d genes)" % len(gs))
PY
echo "perturb reference: ok"
