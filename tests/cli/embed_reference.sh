#!/usr/bin/env bash
# scfm embed on real PBMC cells with a small random model equals an independent reference
# (transformers BertModel, output_hidden_states, mean over gene tokens / <cls> state):
#  - V1 corpus, default layer (second-to-last) and --layer -1, mean pooling, .npy and .tsv;
#  - the same cells embedded in one batch and one by one (--batch-cells 1) agree;
#  - gene embeddings (--genes) equal the per-gene mean of token states;
#  - V2 corpus with --pool cls; .h5ad output read back by anndata (when built with HDF5).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 geneformer/v2 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
V2=$D/geneformer/v2
IN=$D/human/pbmc4k_labeled
N=10

"$BIN" tokenize "$IN" -o "$T/c1" --vocab $V1/token_dictionary.pkl --medians $V1/gene_median_dictionary.pkl \
    --gene-names $V1/gene_name_id_dict.pkl --obs label 2> /dev/null
"$BIN" model init --config tiny --vocab "$T/c1/vocab.tsv" -o "$T/m1" --seed 7 2> /dev/null

"$BIN" embed "$T/c1" -m "$T/m1" -o "$T/e.npy" --max-cells $N --genes "$T/genes.tsv" 2> "$T/log" > "$T/out"
grep -q "^layer	1$" "$T/out"
"$BIN" embed "$T/c1" -m "$T/m1" -o "$T/e1.npy" --max-cells $N --batch-cells 1 2> /dev/null > /dev/null
"$BIN" embed "$T/c1" -m "$T/m1" -o "$T/last.tsv" --max-cells $N --layer -1 --batch-tokens 3000 2> /dev/null > /dev/null
test -f "$T/e.obs.tsv"

"$PY" - "$T" "$N" <<'PY'
import sys, os
import numpy as np, torch
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
from transformers import BertModel
T, N = sys.argv[1], int(sys.argv[2])
c = read_corpus(os.path.join(T, "c1"))
vocab = [l.split("\t")[0] for l in open(os.path.join(T, "c1", "vocab.tsv")).read().splitlines() if l]
special = np.array([t.startswith("<") and t.endswith(">") for t in vocab])
m = BertModel.from_pretrained(os.path.join(T, "m1"), add_pooling_layer=False).eval()
L = m.config.num_hidden_layers
ref_m2, ref_last, gsum, gcnt = [], [], {}, {}
with torch.no_grad():
    for i in range(N):
        ids = c["tokens"][c["offsets"][i]:c["offsets"][i + 1]].astype(np.int64)
        hs = m(torch.tensor(ids)[None], output_hidden_states=True).hidden_states
        keep = ~special[ids]
        h2 = hs[L - 1][0].double().numpy()
        ref_m2.append(h2[keep].mean(0))
        ref_last.append(hs[L][0].double().numpy()[keep].mean(0))
        for t, row in zip(ids[keep], h2[keep]):
            gsum[t] = gsum.get(t, 0) + row
            gcnt[t] = gcnt.get(t, 0) + 1
ref_m2, ref_last = np.array(ref_m2), np.array(ref_last)
e = np.load(os.path.join(T, "e.npy"))
e1 = np.load(os.path.join(T, "e1.npy"))
assert e.dtype == np.float32 and e.shape == (N, m.config.hidden_size), e.shape
d = np.abs(e - ref_m2).max(); print("layer L-1 vs transformers: max abs diff", d); assert d < 1e-4
d = np.abs(e - e1).max(); print("batched vs one by one: max abs diff", d); assert d < 1e-5
tab = [l.split("\t") for l in open(os.path.join(T, "last.tsv")).read().splitlines()]
assert tab[0][:2] == ["cell_id", "label"] and tab[0][2] == "0", tab[0][:3]
assert [r[0] for r in tab[1:]] == list(c["cell_ids"][:N])
assert [r[1] for r in tab[1:]] == list(c["obs"]["label"][:N])
last = np.array([[float(x) for x in r[2:]] for r in tab[1:]])
d = np.abs(last - ref_last).max(); print("layer L (.tsv) vs transformers: max abs diff", d); assert d < 1e-4
side = [l.split("\t") for l in open(os.path.join(T, "e.obs.tsv")).read().splitlines()]
assert side[0] == ["cell_id", "label"] and [r[0] for r in side[1:]] == list(c["cell_ids"][:N])
g = [l.split("\t") for l in open(os.path.join(T, "genes.tsv")).read().splitlines()]
assert g[0][:3] == ["gene", "token_id", "n"]
rows = {int(r[1]): r for r in g[1:]}
assert set(rows) == set(gcnt), (len(rows), len(gcnt))
worst = 0
for t, r in rows.items():
    assert r[0] == vocab[t] and int(r[2]) == gcnt[t]
    worst = max(worst, np.abs(np.array([float(x) for x in r[3:]]) - gsum[t] / gcnt[t]).max())
print("gene embeddings: %d genes, max abs diff %g" % (len(rows), worst)); assert worst < 1e-4
PY

# V2: <cls> pooling (and mean) on a V2 corpus, .h5ad output when HDF5 is there
"$BIN" tokenize "$IN" -o "$T/c2" --mode v2 --vocab $V2/token_dictionary_gc104M.pkl \
    --medians $V2/gene_median_dictionary_gc104M.pkl --gene-names $V2/gene_name_id_dict_gc104M.pkl --obs label 2> /dev/null
"$BIN" model init --config tiny --vocab "$T/c2/vocab.tsv" -o "$T/m2" --seed 3 2> /dev/null
"$BIN" embed "$T/c2" -m "$T/m2" -o "$T/cls.npy" --max-cells 6 --pool cls 2> /dev/null > /dev/null
H5=0
if "$BIN" embed "$T/c2" -m "$T/m2" -o "$T/e2.h5ad" --max-cells 6 --obs label 2> "$T/h5.log" > /dev/null; then H5=1
else grep -q "without HDF5" "$T/h5.log"; "$BIN" embed "$T/c2" -m "$T/m2" -o "$T/e2.npy" --max-cells 6 2> /dev/null > /dev/null; fi

"$PY" - "$T" "$H5" <<'PY'
import sys, os
import numpy as np, torch
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
from transformers import BertModel
T, H5 = sys.argv[1], sys.argv[2] == "1"
c = read_corpus(os.path.join(T, "c2"))
vocab = [l.split("\t")[0] for l in open(os.path.join(T, "c2", "vocab.tsv")).read().splitlines() if l]
special = np.array([t.startswith("<") and t.endswith(">") for t in vocab])
m = BertModel.from_pretrained(os.path.join(T, "m2"), add_pooling_layer=False).eval()
L = m.config.num_hidden_layers
cls, mean = [], []
with torch.no_grad():
    for i in range(6):
        ids = c["tokens"][c["offsets"][i]:c["offsets"][i + 1]].astype(np.int64)
        assert vocab[ids[0]] == "<cls>" and vocab[ids[-1]] == "<eos>"
        h = m(torch.tensor(ids)[None], output_hidden_states=True).hidden_states[L - 1][0].double().numpy()
        cls.append(h[0]); mean.append(h[~special[ids]].mean(0))
d = np.abs(np.load(os.path.join(T, "cls.npy")) - np.array(cls)).max(); print("V2 <cls> pooling: max abs diff", d); assert d < 1e-4
if H5:
    import anndata as ad
    a = ad.read_h5ad(os.path.join(T, "e2.h5ad"))
    assert a.n_obs == 6 and list(a.obs_names) == list(c["cell_ids"][:6]), a
    assert list(a.obs["label"]) == list(c["obs"]["label"][:6])
    e = a.obsm["X_scfm"]
    print("h5ad: read by anndata", ad.__version__, a.shape, e.dtype)
else:
    e = np.load(os.path.join(T, "e2.npy"))
    print("h5ad: skipped (no HDF5)")
d = np.abs(e - np.array(mean)).max(); print("V2 mean pooling: max abs diff", d); assert d < 1e-4
PY
echo "embed reference: ok"
