#!/usr/bin/env python3
"""Independent PyTorch reference for `scfm pretrain` (used by tests/cli/pretrain_reference.sh).

Re-implements, from the descriptions in include/scfm/train.h and include/scfm/rng.h, the
seeded train/validation split, the length-grouped sampler and the 15% / 80-10-10 masking
(xoshiro256** and the splitmix64-based hash, in Python integers), then trains Hugging Face
`BertForMaskedLM` (transformers, padded batches with an attention mask) from the same initial
weights with torch.optim.AdamW (Hugging Face Trainer's no-decay rule for biases and LayerNorm
weights), transformers' LR schedules and torch's grad-norm clipping. Compares the loss of
every step with RUN/log.jsonl and the weights with RUN/checkpoint-N/model.safetensors.

    python scripts/pretrain_reference.py --run RUN --init MODEL_DIR --steps N
        [--loss-rtol 2e-4] [--weight-atol 2e-4]

Requirements: the run used one rank, dropout 0 (the reference model runs with
the config in MODEL_DIR), log_every 1 and no truncation; RUN/pretrain.json names the corpus.
Exit status 0 if everything agrees within the tolerances, 1 otherwise.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import BertForMaskedLM, get_constant_schedule, get_constant_schedule_with_warmup
from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus_to_numpy import read_corpus  # noqa: E402

M64 = (1 << 64) - 1
STREAM_SAMPLER, STREAM_MASK, STREAM_SPLIT = 0x5A4D, 0x4D41, 0x5350


def splitmix(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


def hash3(seed, stream, index):
    x = seed ^ 0x6A09E667F3BCC909
    x, a = splitmix(x)
    x = a ^ ((stream * 0xD6E8FEB86659FD93) & M64)
    x, b = splitmix(x)
    x = b ^ ((index * 0x9E3779B97F4A7C15) & M64)
    return splitmix(x)[1]


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Rng:
    """xoshiro256** seeded by splitmix64."""

    def __init__(self, seed):
        self.s = []
        x = seed
        for _ in range(4):
            x, v = splitmix(x)
            self.s.append(v)

    def u64(self):
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform_d(self):
        return (self.u64() >> 11) * (1.0 / 9007199254740992.0)

    def below(self, n):
        lim = M64 - M64 % n
        while True:
            x = self.u64()
            if x < lim:
                return x % n


def shuffle(a, r):
    for i in range(len(a), 1, -1):
        j = r.below(i)
        a[i - 1], a[j] = a[j], a[i - 1]


def split(lengths, val_fraction, seed):
    train, val = [], []
    for g, n in enumerate(lengths):
        if n == 0:
            continue
        u = (hash3(seed, STREAM_SPLIT, g) >> 11) * (1.0 / 9007199254740992.0)
        (val if u < val_fraction else train).append(g)
    return train, val


def sampler_epoch(cells, lens, batch, mega_mult, seed, epoch):
    """Batches (lists of cell ids) of one epoch, in training order."""
    r = Rng(hash3(seed, STREAM_SAMPLER, epoch))
    n = len(cells)
    perm = list(range(n))
    shuffle(perm, r)
    mega = batch * mega_mult
    starts = []
    for lo in range(0, n, mega):
        chunk = sorted(perm[lo:lo + mega], key=lambda p: (-lens[p], p))
        perm[lo:lo + mega] = chunk
        starts += list(range(lo, min(lo + mega, n), batch))
    starts.append(n)
    order = list(range(len(starts) - 1))
    shuffle(order, r)
    return [[cells[p] for p in perm[starts[k]:starts[k + 1]]] for k in order]


def mask_sequence(tokens, special, mask_id, mp, seed, key):
    r = Rng(hash3(seed, STREAM_MASK, key))
    V = len(special)
    pos = [i for i, t in enumerate(tokens) if not special[t] and r.uniform_d() < mp["mask_prob"]]
    elig = [i for i, t in enumerate(tokens) if not special[t]]
    if not pos and elig:
        pos = [elig[r.below(len(elig))]]
    out = list(tokens)
    for i in pos:
        u = r.uniform_d()
        if u < mp["mask_frac"]:
            out[i] = mask_id
        elif u < mp["mask_frac"] + mp["random_frac"]:
            while True:
                t = r.below(V)
                if not special[t]:
                    break
            out[i] = t
    return out, pos


def read_vocab(path):
    toks = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                toks.append(line.split("\t"))
    # token<TAB>id lines in id order (or a header-less token list)
    ids = {}
    for i, parts in enumerate(toks):
        ids[parts[0]] = int(parts[1]) if len(parts) > 1 and parts[1].lstrip("-").isdigit() else i
    V = max(ids.values()) + 1
    special = [False] * V
    for t, i in ids.items():
        if len(t) >= 2 and t[0] == "<" and t[-1] == ">":
            special[i] = True
    return ids, special


def schedule(opt, name, warmup, total):
    if name == "linear":
        return get_linear_schedule_with_warmup(opt, warmup, total)
    if name == "cosine":
        return get_cosine_schedule_with_warmup(opt, warmup, total)
    if name == "constant_with_warmup":
        return get_constant_schedule_with_warmup(opt, warmup)
    return get_constant_schedule(opt)


def padded(batch_cells, corpus, special, mask_id, mp, seed, epoch):
    seqs, labels = [], []
    for g in batch_cells:
        tok = corpus["tokens"][corpus["offsets"][g]:corpus["offsets"][g + 1]].tolist()
        out, pos = mask_sequence(tok, special, mask_id, mp, seed, (epoch << 40) ^ g)
        lab = [-100] * len(tok)
        for i in pos:
            lab[i] = tok[i]
        seqs.append(out)
        labels.append(lab)
    T = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long)
    att = torch.zeros(len(seqs), T, dtype=torch.long)
    lab = torch.full((len(seqs), T), -100, dtype=torch.long)
    for b, (s, l) in enumerate(zip(seqs, labels)):
        ids[b, :len(s)] = torch.tensor(s)
        att[b, :len(s)] = 1
        lab[b, :len(s)] = torch.tensor(l)
    return ids, att, lab


def make_optimizer(model, cfg):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg["lr"],
                             betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["adam_eps"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--init", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--loss-rtol", type=float, default=2e-4)
    ap.add_argument("--weight-atol", type=float, default=2e-4)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    pj = json.load(open(os.path.join(a.run, "pretrain.json")))
    cfg = pj["training"]
    assert len(pj["corpora"]) == 1 and pj["ranks"] == 1
    corpus = read_corpus(pj["corpora"][0]["path"])
    ids, special = read_vocab(os.path.join(a.run, "vocab.tsv"))
    mask_id = ids["<mask>"]
    lens = np.diff(corpus["offsets"]).tolist()
    seed = cfg["seed"]
    train, _ = split(lens, cfg["val_fraction"], seed)
    tlens = [lens[g] for g in train]
    n_batches = len(sampler_epoch(train, tlens, cfg["batch_size"], cfg["mega_mult"], seed, 0))
    total = cfg["max_steps"] if cfg["max_steps"] > 0 else max(1, math.ceil(cfg["epochs"] * n_batches / cfg["grad_accum"]))
    warmup = math.ceil(cfg["warmup_ratio"] * total) if cfg["warmup_ratio"] > 0 else cfg["warmup_steps"]

    model = BertForMaskedLM.from_pretrained(a.init)
    model.train()
    opt = make_optimizer(model, cfg)
    sched = schedule(opt, cfg["schedule"], warmup, total)
    ours = {}
    with open(os.path.join(a.run, "log.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            if rec["type"] == "train":
                ours[rec["step"]] = rec["loss"]
    epoch, pos, batches, bad = 0, 0, None, 0
    for step in range(1, a.steps + 1):
        micro = []
        for _ in range(cfg["grad_accum"]):
            if batches is None:
                batches = sampler_epoch(train, tlens, cfg["batch_size"], cfg["mega_mult"], seed, epoch)
            micro.append(padded(batches[pos], corpus, special, mask_id, cfg, seed, epoch))
            pos += 1
            if pos == len(batches):
                epoch, pos, batches = epoch + 1, 0, None
        # loss of a step: mean over every masked token of all its micro-batches
        n_masked = sum(int((lab != -100).sum()) for _, _, lab in micro)
        opt.zero_grad()
        total_loss = 0.0
        for x, att, lab in micro:
            logits = model(input_ids=x, attention_mask=att).logits
            loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), lab.view(-1),
                                                     ignore_index=-100, reduction="sum") / n_masked
            loss.backward()
            total_loss += loss.item()
        if cfg["max_grad_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["max_grad_norm"])
        opt.step()
        sched.step()
        ref = total_loss
        got = ours.get(step, float("nan"))
        ok = abs(got - ref) <= a.loss_rtol * abs(ref)
        bad += not ok
        print(f"step {step}: loss scfm {got:.7f} torch {ref:.7f} {'ok' if ok else 'DIFFERS'}")
    theirs = load_file(os.path.join(a.run, f"checkpoint-{a.steps}", "model.safetensors"))
    worst, worst_name = 0.0, ""
    for name, p in model.state_dict().items():
        if name not in theirs:
            continue
        d = (theirs[name].float() - p.float()).abs().max().item()
        if d > worst:
            worst, worst_name = d, name
    ok = worst <= a.weight_atol
    bad += not ok
    print(f"weights after {a.steps} steps: max |scfm - torch| = {worst:.3g} ({worst_name}) {'ok' if ok else 'DIFFERS'}")
    print("AGREE" if bad == 0 else f"{bad} DIFFERENCES")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
