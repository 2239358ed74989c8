#!/usr/bin/env python3
"""PyTorch (newest from PyPI, bench/.venv-torch) side of bench/perturb_vs_torch.sh: in-silico
deletion of every gene of each cell, the way Geneformer's InSilicoPerturber does it with
perturb_type "delete" over all genes: for each cell, the original cell and one copy per gene
with that gene removed (the genes after it move up one rank) go through the model in batches
of --batch sequences (padded to the longest in the batch, attention mask), the cell embedding
is the mean of the chosen layer's token states over the cell's genes (padding and special
tokens left out), and the shift of a copy is its cosine to the original cell's embedding.

The model is the scfm checkpoint itself (config.json + model.safetensors, loaded with
transformers' BertModel, sdpa attention); the cells are the first --cells cells of the scfm
corpus, read with scripts/corpus_to_numpy.py. With --scfm-shifts (the --shifts table of
`scfm perturb`), every (cell, gene) cosine is compared with scfm's and the largest absolute
difference printed.

With --bf16 the forwards run under torch.autocast("cpu", dtype=torch.bfloat16) (PyTorch's own
reduced precision inference: its linear layers and attention in bf16; the embeddings are
compared in float32).

Usage: python bench/perturb_torch.py --corpus DIR --model DIR --cells N --batch B --threads T
           [--layer -1] [--bf16] [--scfm-shifts shifts.tsv] [--out torch_shifts.tsv]
Prints "RESULT torch cells=... copies=... tokens=... seconds=... cells_per_s=...
copies_per_s=... [compared=... max_abs_diff=... max_shift=...]" (max_shift: the largest
1 - cos, the scale of the shifts) and a line with the versions.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import transformers
from transformers import BertModel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from corpus_to_numpy import read_corpus  # noqa: E402


def special_ids(model_dir, corpus_dir, vocab_size):
    """Token ids whose vocabulary entry is a special token (<pad>, <mask>, <cls>, ...)."""
    for d in (model_dir, corpus_dir):
        p = os.path.join(d, "vocab.tsv")
        if os.path.exists(p):
            sp = np.zeros(vocab_size, dtype=bool)
            for i, line in enumerate(open(p, encoding="utf-8")):
                name = line.split("\t")[0]
                if i < vocab_size and name.startswith("<") and name.endswith(">"):
                    sp[i] = True
            return sp
    sys.exit("perturb_torch: no vocab.tsv in %s or %s" % (model_dir, corpus_dir))


def embed(model, seqs, layer, special, pad_id):
    """Cell embeddings (float32 [len(seqs), H]) of one batch of token sequences."""
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    att = torch.zeros((len(seqs), T), dtype=torch.long)
    for b, s in enumerate(seqs):
        ids[b, :len(s)] = torch.from_numpy(s.astype(np.int64))
        att[b, :len(s)] = 1
    if layer == -1:
        h = model(input_ids=ids, attention_mask=att).last_hidden_state
    else:
        h = model(input_ids=ids, attention_mask=att, output_hidden_states=True).hidden_states[layer]
    h = h.float()
    keep = (att.bool() & ~special[ids]).unsqueeze(-1).to(h.dtype)
    return (h * keep).sum(1) / keep.sum(1)


def cosine(a, b):
    a, b = a.double(), b.double()
    return (a @ b) / (a.norm() * b.norm())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--cells", type=int, required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--layer", type=int, default=-1, help="hidden-state index as scfm's --layer (-1: last layer)")
    ap.add_argument("--scfm-shifts", help="scfm perturb --shifts table to compare with")
    ap.add_argument("--bf16", action="store_true", help="forwards under torch.autocast (cpu, bfloat16)")
    ap.add_argument("--out", help="write this side's shifts: cell token_id cos")
    a = ap.parse_args()
    if a.cells < 1 or a.batch < 1:
        sys.exit("perturb_torch: --cells and --batch must be positive")
    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error()  # the load report lists the MLM head BertModel leaves out
    transformers.logging.disable_progress_bar()
    model, info = BertModel.from_pretrained(a.model, attn_implementation="sdpa", add_pooling_layer=False,
                                            output_loading_info=True)
    if info["missing_keys"] or info["mismatched_keys"]:
        sys.exit("perturb_torch: %s does not load as BertModel: %s" % (a.model, info))
    model.eval()
    cfg = model.config
    special = torch.from_numpy(special_ids(a.model, a.corpus, cfg.vocab_size))
    pad_id = cfg.pad_token_id if cfg.pad_token_id is not None else 0
    c = read_corpus(a.corpus)
    offs, toks = c["offsets"], c["tokens"]
    n_cells = min(a.cells, len(offs) - 1)
    cells = [toks[offs[i]:offs[i + 1]] for i in range(n_cells)]
    for i, t in enumerate(cells):
        if len(t) > cfg.max_position_embeddings:
            sys.exit("perturb_torch: cell %d has %d tokens, more than the model's %d positions"
                     % (i, len(t), cfg.max_position_embeddings))

    shifts = {}
    n_copies = n_tokens = 0
    amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16)
    with torch.inference_mode(), amp:  # warm-up (one-time kernel set-up), not timed
        embed(model, [cells[0]] * a.batch, a.layer, special, pad_id)
    t0 = time.perf_counter()
    with torch.inference_mode(), amp:
        for ci, tok in enumerate(cells):
            genes, seen = [], set()
            for g in tok.tolist():
                if not special[g] and g not in seen:
                    seen.add(g)
                    genes.append(g)
            if not genes:
                continue
            seqs = [tok] + [tok[tok != g] for g in genes]
            embs = torch.cat([embed(model, seqs[s:s + a.batch], a.layer, special, pad_id)
                              for s in range(0, len(seqs), a.batch)])
            for j, g in enumerate(genes):
                shifts[(ci, g)] = float(cosine(embs[j + 1], embs[0]))
            n_copies += len(genes)
            n_tokens += sum(len(s) for s in seqs)
    dt = time.perf_counter() - t0

    print("torch %s transformers %s attention %s, %d threads, CPU capability %s, batch %d, layer %d, %s"
          % (torch.__version__, transformers.__version__, model.config._attn_implementation,
             torch.get_num_threads(), torch.backends.cpu.get_cpu_capability(), a.batch, a.layer,
             "bf16 autocast" if a.bf16 else "float32"))
    if a.out:
        with open(a.out, "w") as f:
            f.write("cell\ttoken_id\tcos\n")
            for (ci, g), v in sorted(shifts.items()):
                f.write("%d\t%d\t%.9g\n" % (ci, g, v))
    res = ("RESULT torch cells=%d copies=%d tokens=%d seconds=%.3f cells_per_s=%.4f copies_per_s=%.2f"
           % (n_cells, n_copies, n_tokens, dt, n_cells / dt, n_copies / dt))
    if a.scfm_shifts:
        lines = open(a.scfm_shifts, encoding="utf-8").read().splitlines()
        h = lines[0].split("\t")
        ic, it, inull, icos = h.index("cell"), h.index("token_id"), h.index("null"), h.index("cos")
        theirs = {}
        for line in lines[1:]:
            f = line.split("\t")
            if f[inull] == "0":
                theirs[(int(f[ic]), int(f[it]))] = float(f[icos])
        if set(theirs) != set(shifts):
            only_s, only_t = len(set(theirs) - set(shifts)), len(set(shifts) - set(theirs))
            print(res)
            sys.exit("perturb_torch: the two runs perturbed different (cell, gene) pairs: %d only in scfm's, "
                     "%d only in torch's" % (only_s, only_t))
        diff = max(abs(theirs[k] - shifts[k]) for k in shifts)
        res += " compared=%d max_abs_diff=%.3g max_shift=%.3g" % (len(shifts), diff, 1 - min(shifts.values()))
    print(res)


if __name__ == "__main__":
    main()
