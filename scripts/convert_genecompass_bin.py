#!/usr/bin/env python3
"""Convert a GeneCompass checkpoint stored as pytorch_model.bin to model.safetensors +
config.json, which scfm reads directly.

Usage:
    python scripts/convert_genecompass_bin.py SRC_DIR [OUT_DIR]

SRC_DIR holds pytorch_model.bin (a BertForMaskedLM state dict with GeneCompass's extra
tensors) and config.json. The result goes to OUT_DIR (default: SRC_DIR): model.safetensors
(with "__metadata__": {"format": "pt"}) holding every tensor under its own name and dtype
(the int64 buffers bert.embeddings.homologous_index and bert.embeddings.position_ids stay
I64, the 0-d emb_warmup.alpha / emb_warmup.steps stay shape []), and config.json plus the
vocabulary files beside it, copied when OUT_DIR differs. Tied duplicates are written once:
cls.predictions.decoder.weight when it equals bert.embeddings.word_embeddings.weight,
cls.predictions.decoder.bias when it equals cls.predictions.bias, and
cls4value.predictions.decoder.bias when it equals cls4value.predictions.bias.

Every tensor name must be one GeneCompass writes (BERT's embeddings, encoder, pooler and MLM
head; the four prior tables *_knowledge and their *_embeddings.linear1 projections; the
fusion concat_embeddings.{cat_fc,cat_ln,cat_proj}; homologous_index; position_ids;
cls_embedding; the value head cls4value; emb_warmup): anything else is refused, naming the
tensor, so nothing is silently lost or mistaken. The file is written to a temporary name and
renamed; on error nothing is left in OUT_DIR.

Needs torch and safetensors. The .bin is a pickle: only convert files you trust (torch.load
is called with weights_only=True where the installed torch supports it).

Example:
    python scripts/convert_genecompass_bin.py GeneCompass/pretrained_models/GeneCompass_Base gc-base
    scfm model info gc-base
"""
import json
import os
import re
import shutil
import sys

import torch
from safetensors.torch import save_file

COPY = ("vocab.tsv", "tokenizer.json", "token_dictionary.pkl", "special_tokens_map.json", "training_args.bin")

PRIORS = "(promoter|co_exp|gene_family|peca_grn)"
LINEAR = r"(weight|bias)"
LAYER = (r"attention\.self\.(query|key|value)|attention\.output\.dense|attention\.output\.LayerNorm|"
         r"intermediate\.dense|output\.dense|output\.LayerNorm")
KNOWN = [re.compile("^(%s)$" % p) for p in (
    r"bert\.embeddings\.(word_embeddings|position_embeddings|token_type_embeddings)\.weight",
    r"bert\.embeddings\.LayerNorm\." + LINEAR,
    r"bert\.embeddings\.position_ids",
    r"bert\.embeddings\.homologous_index",
    r"bert\.embeddings\.%s_knowledge" % PRIORS,
    r"bert\.embeddings\.%s_embeddings\.linear1\.%s" % (PRIORS, LINEAR),
    r"bert\.embeddings\.concat_embeddings\.(cat_fc|cat_ln|cat_proj)\." + LINEAR,
    r"bert\.encoder\.layer\.[0-9]+\.(%s)\.%s" % (LAYER, LINEAR),
    r"bert\.pooler\.dense\." + LINEAR,
    r"bert\.cls_embedding\.weight",
    r"(cls|cls4value)\.predictions\.transform\.(dense|LayerNorm)\." + LINEAR,
    r"(cls|cls4value)\.predictions\.decoder\." + LINEAR,
    r"(cls|cls4value)\.predictions\.bias",
    r"emb_warmup\.(alpha|steps)",
)]

# (duplicate, canonical): the duplicate is dropped when equal to the canonical tensor
TIED = (("cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight"),
        ("cls.predictions.decoder.bias", "cls.predictions.bias"),
        ("cls4value.predictions.decoder.bias", "cls4value.predictions.bias"))


def fail(msg):
    sys.exit("convert_genecompass_bin: " + msg)


def load_state(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        return torch.load(path, map_location="cpu")


def convert(state, where):
    """Checks the names and drops tied duplicates; returns {name: contiguous tensor}."""
    if not isinstance(state, dict):
        fail("%s: not a state dict (a %s)" % (where, type(state).__name__))
    unknown = [n for n in state if not any(k.match(n) for k in KNOWN)]
    if unknown:
        fail("%s: %d tensor name(s) GeneCompass does not write, e.g. '%s' (refusing to drop or guess them)"
             % (where, len(unknown), "', '".join(sorted(unknown)[:5])))
    for n, t in state.items():
        if not isinstance(t, torch.Tensor):
            fail("%s: '%s' is not a tensor (a Python %s)" % (where, n, type(t).__name__))
    if "bert.embeddings.word_embeddings.weight" not in state:
        fail("%s: no bert.embeddings.word_embeddings.weight: not a GeneCompass/BERT checkpoint" % where)
    out = {n: t.detach().clone().contiguous() for n, t in state.items()}
    for dup, canon in TIED:
        if dup in out and canon in out:
            a, b = out[dup], out[canon]
            if a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b):
                del out[dup]
                print("  %s is tied to %s: written once" % (dup, canon))
            else:
                print("  %s differs from %s: kept (not tied)" % (dup, canon))
    return out


def check_config(path, state):
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: %s" % (path, e))
    if not isinstance(cfg, dict):
        fail("%s: not a JSON object" % path)
    emb = state["bert.embeddings.word_embeddings.weight"]
    for key, got in (("vocab_size", emb.shape[0]), ("hidden_size", emb.shape[1])):
        if key in cfg and cfg[key] != got:
            fail("%s: %s is %s but bert.embeddings.word_embeddings.weight is %s" % (path, key, cfg[key], list(emb.shape)))
    return cfg


def copy_atomic(src, dst):
    tmp = "%s.tmp.%d" % (dst, os.getpid())
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def main(argv):
    if not argv or len(argv) > 2 or any(a.startswith("-") for a in argv):
        sys.exit(__doc__)
    src = argv[0]
    dst = argv[1] if len(argv) > 1 else src
    binp = os.path.join(src, "pytorch_model.bin")
    cfgp = os.path.join(src, "config.json")
    if not os.path.isfile(binp):
        fail("%s: no pytorch_model.bin" % src)
    if not os.path.isfile(cfgp):
        fail("%s: no config.json (the GeneCompass config with use_values, use_promoter, ...)" % src)
    try:
        raw = load_state(binp)
    except Exception as e:  # torch raises many types for a corrupt file
        fail("%s: cannot load: %s" % (binp, e))
    state = convert(raw, binp)
    check_config(cfgp, state)
    os.makedirs(dst, exist_ok=True)
    out = os.path.join(dst, "model.safetensors")
    tmp = "%s.tmp.%d" % (out, os.getpid())
    try:
        save_file(state, tmp, metadata={"format": "pt"})
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    if os.path.abspath(dst) != os.path.abspath(src):
        copy_atomic(cfgp, os.path.join(dst, "config.json"))
        for f in COPY:
            if os.path.isfile(os.path.join(src, f)):
                copy_atomic(os.path.join(src, f), os.path.join(dst, f))
    n = sum(t.numel() for t in state.values())
    print("%s: %d tensors, %d values -> %s" % (binp, len(state), n, out))


if __name__ == "__main__":
    main(sys.argv[1:])
