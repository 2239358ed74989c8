#!/usr/bin/env bash
# scripts/convert_genecompass_bin.py: a tiny random GeneCompass-like state dict (every name
# GeneCompass writes, tied decoder and value-head bias stored once, int64 buffers, 0-d
# tensors) saved by torch as pytorch_model.bin converts to model.safetensors whose tensors
# equal the originals (values, dtypes, shapes, checked with safetensors and in the raw header);
# unknown tensors, a missing config.json and a config disagreeing with the tensors are errors
# that leave no output.
set -euo pipefail
: "${SCFM_PYTHON:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CONV="$ROOT/scripts/convert_genecompass_bin.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"

"$SCFM_PYTHON" - <<'EOF'
import json, os, torch
torch.manual_seed(0)
V, H, I, P, K, L = 12, 8, 16, 10, 5, 2   # vocab, hidden, FFN, positions, prior width, layers
sd = {}
def r(*s): return torch.randn(*s)
emb = r(V, H)
sd["bert.embeddings.word_embeddings.weight"] = emb
sd["bert.embeddings.position_embeddings.weight"] = r(P, H)
sd["bert.embeddings.token_type_embeddings.weight"] = r(2, H)
sd["bert.embeddings.LayerNorm.weight"] = r(H); sd["bert.embeddings.LayerNorm.bias"] = r(H)
sd["bert.embeddings.position_ids"] = torch.arange(P).unsqueeze(0)
sd["bert.embeddings.homologous_index"] = torch.tensor([0, 1, 2, 3, 4, 5, 6, 2, 3, 9, 10, 11])
for k in ("promoter", "co_exp", "gene_family", "peca_grn"):
    sd["bert.embeddings.%s_knowledge" % k] = r(V, K)
    sd["bert.embeddings.%s_embeddings.linear1.weight" % k] = r(H, K)
    sd["bert.embeddings.%s_embeddings.linear1.bias" % k] = r(H)
cat = "bert.embeddings.concat_embeddings."
sd[cat + "cat_fc.weight"] = r(H, 5 * H + 1); sd[cat + "cat_fc.bias"] = r(H)
sd[cat + "cat_ln.weight"] = r(H); sd[cat + "cat_ln.bias"] = r(H)
sd[cat + "cat_proj.weight"] = r(H, H); sd[cat + "cat_proj.bias"] = r(H)
for l in range(L):
    p = "bert.encoder.layer.%d." % l
    for n, shp in (("attention.self.query", (H, H)), ("attention.self.key", (H, H)), ("attention.self.value", (H, H)),
                   ("attention.output.dense", (H, H)), ("intermediate.dense", (I, H)), ("output.dense", (H, I))):
        sd[p + n + ".weight"] = r(*shp); sd[p + n + ".bias"] = r(shp[0])
    for n in ("attention.output.LayerNorm", "output.LayerNorm"):
        sd[p + n + ".weight"] = r(H); sd[p + n + ".bias"] = r(H)
sd["bert.cls_embedding.weight"] = r(2, H)
for head in ("cls", "cls4value"):
    q = head + ".predictions."
    sd[q + "transform.dense.weight"] = r(H, H); sd[q + "transform.dense.bias"] = r(H)
    sd[q + "transform.LayerNorm.weight"] = r(H); sd[q + "transform.LayerNorm.bias"] = r(H)
bias = r(V)
sd["cls.predictions.bias"] = bias
sd["cls.predictions.decoder.weight"] = emb          # tied: the same tensor, stored once by torch
sd["cls.predictions.decoder.bias"] = bias
vbias = r(1)
sd["cls4value.predictions.bias"] = vbias
sd["cls4value.predictions.decoder.weight"] = r(1, H)
sd["cls4value.predictions.decoder.bias"] = vbias
sd["emb_warmup.alpha"] = torch.tensor(1.0)
sd["emb_warmup.steps"] = torch.tensor(7, dtype=torch.int64)
os.makedirs("gc", exist_ok=True)
torch.save(sd, "gc/pytorch_model.bin")
cfg = {"architectures": ["BertForMaskedLM"], "vocab_size": V, "hidden_size": H, "num_hidden_layers": L,
       "num_attention_heads": 2, "intermediate_size": I, "max_position_embeddings": P, "hidden_act": "gelu",
       "use_values": True, "use_promoter": True, "use_co_exp": True, "use_gene_family": True,
       "use_peca_grn": True, "use_cls_token": True, "warmup_steps": 10, "emb_warmup_steps": 7}
json.dump(cfg, open("gc/config.json", "w"))
torch.save({k: v.clone() for k, v in sd.items()}, "ref.pt")  # untied copy for the comparison
EOF

"$SCFM_PYTHON" "$CONV" gc out > conv.log
grep -q "cls.predictions.decoder.weight is tied" conv.log
grep -q "cls4value.predictions.decoder.bias is tied" conv.log
cmp gc/config.json out/config.json

"$SCFM_PYTHON" - <<'EOF'
import json, struct, torch
from safetensors.torch import load_file
ref = torch.load("ref.pt")
got = load_file("out/model.safetensors")
dropped = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "cls4value.predictions.decoder.bias"}
assert set(got) == set(ref) - dropped, sorted(set(got) ^ (set(ref) - dropped))
for n, t in got.items():
    assert t.dtype == ref[n].dtype and t.shape == ref[n].shape and torch.equal(t, ref[n]), n
raw = open("out/model.safetensors", "rb").read()
hdr = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
assert hdr["__metadata__"] == {"format": "pt"}, hdr["__metadata__"]
want = {"bert.embeddings.homologous_index": ("I64", [12]), "bert.embeddings.position_ids": ("I64", [1, 10]),
        "emb_warmup.alpha": ("F32", []), "emb_warmup.steps": ("I64", []),
        "bert.embeddings.concat_embeddings.cat_fc.weight": ("F32", [8, 41]),
        "bert.embeddings.promoter_knowledge": ("F32", [12, 5]), "cls4value.predictions.bias": ("F32", [1])}
for n, (dt, shp) in want.items():
    assert (hdr[n]["dtype"], hdr[n]["shape"]) == (dt, shp), (n, hdr[n])
assert int(got["emb_warmup.steps"]) == 7 and float(got["emb_warmup.alpha"]) == 1.0
print("converted: %d tensors match" % len(got))
EOF

# in place (OUT_DIR omitted)
cp -r gc inplace
"$SCFM_PYTHON" "$CONV" inplace > /dev/null
cmp out/model.safetensors inplace/model.safetensors

# bad inputs: each an error naming the problem, nothing written
"$SCFM_PYTHON" - <<'EOF'
import os, shutil, torch
sd = torch.load("gc/pytorch_model.bin")
for name, extra in (("unknown", {"bert.embeddings.value_embeddings.weight": torch.zeros(3)}),
                    ("notensor", {"emb_warmup.steps": 7})):
    os.makedirs(name); shutil.copy("gc/config.json", name)
    torch.save({**sd, **extra}, name + "/pytorch_model.bin")
os.makedirs("nocfg"); shutil.copy("gc/pytorch_model.bin", "nocfg")
os.makedirs("badcfg"); shutil.copy("gc/pytorch_model.bin", "badcfg")
open("badcfg/config.json", "w").write('{"vocab_size": 13, "hidden_size": 8}')
EOF
expect_fail() { # dir, message fragment
    if "$SCFM_PYTHON" "$CONV" "$1" "bad_$1" > out.txt 2> err.txt; then echo "$1: converted" >&2; exit 1; fi
    grep -q -- "$2" err.txt || { echo "$1: message lacks '$2':" >&2; cat err.txt >&2; exit 1; }
    [ ! -e "bad_$1/model.safetensors" ] || { echo "$1: output left behind" >&2; exit 1; }
    ! ls "bad_$1"/*.tmp.* 2>/dev/null | grep -q . || { echo "$1: temporary file left behind" >&2; exit 1; }
}
expect_fail unknown "bert.embeddings.value_embeddings.weight"
expect_fail notensor "'emb_warmup.steps' is not a tensor"
expect_fail nocfg "no config.json"
expect_fail badcfg "vocab_size is 13"
mkdir empty
expect_fail empty "no pytorch_model.bin"
echo "convert_genecompass: ok"
