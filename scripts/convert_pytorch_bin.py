#!/usr/bin/env python3
"""Convert a Hugging Face BERT checkpoint stored as pytorch_model.bin (Geneformer V1 ships
one) to model.safetensors, which scfm reads directly.

Usage:
    python scripts/convert_pytorch_bin.py SRC_DIR [OUT_DIR] [--check]

SRC_DIR holds pytorch_model.bin and config.json. The result (model.safetensors, with
"__metadata__": {"format": "pt"}) goes to OUT_DIR (default: SRC_DIR); config.json and the
tokenizer/vocabulary files beside it are copied when OUT_DIR differs. Tensors whose storage
is shared (the tied MLM decoder: cls.predictions.decoder.weight = word embeddings,
decoder.bias = cls.predictions.bias) are written once, as transformers' save_pretrained
does; the legacy bert.embeddings.position_ids buffer is dropped. Dtypes are kept.
--check loads both checkpoints with transformers (BertForMaskedLM) and compares the logits
on a random batch.

Needs torch and safetensors (transformers only for --check). The .bin is a pickle: only
convert files you trust (torch.load is called with weights_only=True where the installed
torch supports it).

Example (Geneformer V1):
    python scripts/convert_pytorch_bin.py Geneformer/geneformer-12L-30M gf-v1
    scfm model info gf-v1
"""
import os
import shutil
import sys

import torch
from safetensors.torch import save_file

COPY = ("config.json", "vocab.tsv", "tokenizer.json", "token_dictionary.pkl", "special_tokens_map.json",
        "training_args.bin")


def load_state(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        return torch.load(path, map_location="cpu")


def dedupe(state):
    """Drop tied duplicates and buffers; returns {name: contiguous tensor}."""
    out, seen = {}, {}
    drop = {"bert.embeddings.position_ids", "embeddings.position_ids"}
    # prefer the canonical name when two names share storage
    order = sorted(state, key=lambda n: ("decoder" in n, n))
    for name in order:
        t = state[name]
        if name in drop or not isinstance(t, torch.Tensor):
            continue
        key = (t.data_ptr(), t.dtype, tuple(t.shape), t.storage_offset()) if t.numel() else None
        if key is not None and key in seen:
            print("  %s is tied to %s: written once" % (name, seen[key]))
            continue
        if key is not None:
            seen[key] = name
        out[name] = t.detach().clone().contiguous()
    # a decoder stored separately but equal to the embeddings is still the tied one
    emb = out.get("bert.embeddings.word_embeddings.weight")
    dec = out.get("cls.predictions.decoder.weight")
    if emb is not None and dec is not None and torch.equal(emb, dec):
        del out["cls.predictions.decoder.weight"]
    if "cls.predictions.decoder.bias" in out and "cls.predictions.bias" in out and \
            torch.equal(out["cls.predictions.decoder.bias"], out["cls.predictions.bias"]):
        del out["cls.predictions.decoder.bias"]
    return out


def check(src, dst):
    from transformers import BertForMaskedLM
    a = BertForMaskedLM.from_pretrained(src).eval()
    b = BertForMaskedLM.from_pretrained(dst).eval()
    torch.manual_seed(0)
    ids = torch.randint(2, a.config.vocab_size, (2, min(16, a.config.max_position_embeddings)))
    with torch.no_grad():
        la, lb = a(input_ids=ids).logits, b(input_ids=ids).logits
    diff = float((la - lb).abs().max())
    print("check: max |logits difference| = %g" % diff)
    return diff == 0.0


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    if not args or len(args) > 2 or any(a not in ("--check",) for a in argv if a.startswith("--")):
        sys.exit(__doc__)
    src = args[0]
    dst = args[1] if len(args) > 1 else src
    binp = os.path.join(src, "pytorch_model.bin")
    if not os.path.isfile(binp):
        sys.exit("%s: no pytorch_model.bin" % src)
    if not os.path.isfile(os.path.join(src, "config.json")):
        sys.exit("%s: no config.json" % src)
    os.makedirs(dst, exist_ok=True)
    state = dedupe(load_state(binp))
    tmp = os.path.join(dst, "model.safetensors.tmp.%d" % os.getpid())
    save_file(state, tmp, metadata={"format": "pt"})
    os.replace(tmp, os.path.join(dst, "model.safetensors"))
    if os.path.abspath(dst) != os.path.abspath(src):
        for f in COPY:
            if os.path.isfile(os.path.join(src, f)):
                shutil.copy2(os.path.join(src, f), os.path.join(dst, f))
    n = sum(t.numel() for t in state.values())
    print("%s: %d tensors, %d values -> %s" % (binp, len(state), n, os.path.join(dst, "model.safetensors")))
    if "--check" in argv and not check(src, dst):
        sys.exit("check failed: logits differ")


if __name__ == "__main__":
    main(sys.argv[1:])
