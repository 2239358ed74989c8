#!/usr/bin/env python3
"""Loads a GeneCompass checkpoint (as scfm writes it) into the PyTorch reference of
scripts/genecompass_reference.py, runs the batch of a fixture state file and compares the
MLM logits at the masked rows, the predicted values and the loss with the state's.
Usage: check_genecompass_checkpoint.py CHECKPOINT_DIR STATE.safetensors   (exit 1 on mismatch)
"""
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from genecompass_reference import load_checkpoint  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model = load_checkpoint(sys.argv[1]).eval()
    st = load_file(sys.argv[2])
    offs = st["offs"].numpy()
    B, T = len(offs) - 1, int(np.max(np.diff(offs)))
    ids = torch.zeros(B, T, dtype=torch.int64)
    vals = torch.zeros(B, T)
    att = torch.zeros(B, T, dtype=torch.int64)
    for b in range(B):
        n = offs[b + 1] - offs[b]
        ids[b, :n] = st["ids"][offs[b]:offs[b + 1]].long()
        vals[b, :n] = st["values"][offs[b]:offs[b + 1]]
        att[b, :n] = 1
    rows = st["mlm_rows"].numpy()
    where = [(int(np.searchsorted(offs, r, side="right") - 1), 0) for r in rows]
    where = [(b, int(r - offs[b])) for (b, _), r in zip(where, rows)]
    with torch.no_grad():
        _, logits, pv = model(ids, vals, st["species"].long(), att)
    lg = torch.stack([logits[b, p] for b, p in where])
    v = torch.stack([pv[b, p] for b, p in where])
    bad = 0
    for name, got, want in (("logits", lg, st["logits"]), ("pred_values", v, st["pred_values"])):
        err = float((got - want).abs().max())
        tol = 1e-5 * float(want.abs().max()) + 1e-6
        print("%s: max abs diff %.3g (tolerance %.3g)" % (name, err, tol))
        bad += err > tol
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
