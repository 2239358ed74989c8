#!/usr/bin/env python3
"""Golden fixtures of the GeneCompass model for tests/test_bert.c, computed with the
independent PyTorch re-implementation in scripts/genecompass_reference.py.

Each case is a tiny GeneCompass (2 layers, hidden 32, 4 heads, FFN 64, vocab 120, prior
width 8, dropout 0), random prior tables and a homolog map (human tokens 40..69 map to mouse
tokens 80..109 for the prior look-ups of mouse cells; 110..119 are mouse-only genes; homologous mouse genes are written with the
human id, as GeneCompass's tokenizer does), saved as DIR/<case>/{config.json,
model.safetensors} in GeneCompass's names (int64 homologous_index / position_ids, 0-d
emb_warmup.alpha / steps), and DIR/<case>/state.safetensors with the same records as
scripts/make_bert_fixtures.py (ids, offs, mlm_rows, mlm_labels, logits at the masked rows,
loss, hidden.<l> gene rows, grad.<name>, steps.*, final.<name>) plus
  values F32[N]        input values (the value of <mask> / random rows is -1)
  species I32[B]       0 human, 1 mouse (both appear)
  mlm_values F32[M]    original values at the masked rows (value targets)
  pred_values F32[M]   value head predictions at the masked rows
  loss_ce, loss_mse F32[1]
  species_hidden.<l> F32[B,H]  the species rows of each encoder layer's output
Cases: all_on (values, four priors, species row), some_off (no values, co_exp and peca_grn
only, species row on), no_species (values, promoter only, no species row).
Usage: .venv/bin/python scripts/make_genecompass_fixtures.py tests/fixtures/genecompass [CASE...]
Deterministic (torch.manual_seed per case).
"""
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import BertConfig, get_linear_schedule_with_warmup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from genecompass_reference import PRIORS, GeneCompassForMaskedLM, save_checkpoint  # noqa: E402

V, H, L, NH, I, P, D = 120, 32, 2, 4, 64, 32, 8
LENGTHS = [7, 12, 3, 9]
SPECIES = [0, 1, 1, 0]
STEPS, LR, WD, WARMUP, CLIP = 5, 3e-3, 0.01, 2, 1.0

CASES = {
    "all_on": dict(use_values=True, priors=PRIORS, cls=True),
    "some_off": dict(use_values=False, priors=["co_exp", "peca_grn"], cls=True),
    "no_species": dict(use_values=True, priors=["promoter"], cls=False),
}


def make_model(case, seed):
    spec = CASES[case]
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=NH,
                     intermediate_size=I, hidden_act="gelu", hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, max_position_embeddings=P, pad_token_id=0)
    cfg._attn_implementation = "eager"
    gc = {"use_values": spec["use_values"], "use_cls_token": spec["cls"], "prior_dim": D, "n_species": 2,
          "id_loss_weight": 0.2, "value_loss_weight": 0.8}
    for k in PRIORS:
        gc["use_" + k] = k in spec["priors"]
    model = GeneCompassForMaskedLM(cfg, gc)
    emb = model.bert.embeddings
    with torch.no_grad():
        for k in spec["priors"]:
            t = torch.randn(V, D)
            t[:2] = 0  # specials: zero rows
            getattr(emb, k + "_knowledge").copy_(t)
        if hasattr(emb, "homologous_index"):
            hi = torch.arange(V)
            hi[40:70] = torch.arange(80, 110)
            emb.homologous_index.copy_(hi)
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name or "cat_ln" in name:
                p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def make_batch(rng):
    B, T = len(LENGTHS), max(LENGTHS)
    ids = np.zeros((B, T), dtype=np.int64)
    vals = np.zeros((B, T), dtype=np.float32)
    att = np.zeros((B, T), dtype=np.int64)
    for b, n in enumerate(LENGTHS):
        # mouse cells: homologous genes (written with the human ids 40..69) and mouse-only genes
        pool = np.arange(2, 80) if SPECIES[b] == 0 else np.concatenate([np.arange(40, 70), np.arange(110, 120)])
        ids[b, :n] = rng.choice(pool, n, replace=False)
        vals[b, :n] = np.sort(rng.gamma(2.0, 1.0, n))[::-1]
        att[b, :n] = 1
    labels = np.full((B, T), -100, dtype=np.int64)
    targets = vals.copy()
    for b, n in enumerate(LENGTHS):
        pos = rng.choice(n, size=max(1, n // 3), replace=False)
        for j, p in enumerate(sorted(pos)):
            labels[b, p] = ids[b, p]
            if j % 3 != 1:  # <mask> or a random token: value -1 (j % 3 == 1 keeps the token)
                ids[b, p] = 1 if j % 3 == 0 else rng.integers(2, V)
                vals[b, p] = -1.0
    first = [p for p in range(LENGTHS[1]) if labels[1, p] != -100][0]
    labels[1, first] = -100  # a masked row kept in the row list but ignored
    mask_rows = [(b, p) for b, n in enumerate(LENGTHS) for p in range(n)
                 if labels[b, p] != -100 or (b == 1 and p == first)]
    return dict(ids=ids, values=vals, att=att, labels=labels, targets=targets), mask_rows


def packed(x):
    return np.concatenate([x[b, :n] for b, n in enumerate(LENGTHS)], axis=0)


def run(model, bt):
    t = {k: torch.as_tensor(v) for k, v in bt.items()}
    species = torch.tensor(SPECIES, dtype=torch.int64)
    hs, logits, pv = model(t["ids"], t["values"], species, t["att"])
    loss, ce, mse = model.loss(logits, pv, t["labels"], t["targets"])
    return hs, logits, pv, loss, ce, mse


def param_groups(model):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name or "cat_ln" in name else decay).append(p)
    return [{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}]


def run_case(out_dir, case, seed):
    model = make_model(case, seed)
    rng = np.random.default_rng(seed)
    bt, mask_rows = make_batch(rng)
    d = os.path.join(out_dir, case)
    save_checkpoint(model, d)
    offs = np.concatenate([[0], np.cumsum(LENGTHS)]).astype(np.int64)
    res = {"ids": torch.tensor(packed(bt["ids"]), dtype=torch.int32), "offs": torch.tensor(offs),
           "values": torch.tensor(packed(bt["values"])), "species": torch.tensor(SPECIES, dtype=torch.int32)}
    hs, logits, pv, loss, ce, mse = run(model, bt)
    loss.backward()
    res["mlm_rows"] = torch.tensor([offs[b] + p for b, p in mask_rows], dtype=torch.int64)
    res["mlm_labels"] = torch.tensor([bt["labels"][b, p] for b, p in mask_rows], dtype=torch.int32)
    res["mlm_values"] = torch.tensor([bt["targets"][b, p] for b, p in mask_rows], dtype=torch.float32)
    res["logits"] = torch.stack([logits[b, p].detach() for b, p in mask_rows])
    res["pred_values"] = torch.stack([pv[b, p].detach() for b, p in mask_rows])
    res["loss"] = loss.detach().reshape(1)
    res["loss_ce"] = ce.detach().reshape(1)
    res["loss_mse"] = mse.detach().reshape(1)
    sp = CASES[case]["cls"]
    for l, h in enumerate(hs):
        h = h.detach().numpy()
        res["hidden.%d" % l] = torch.tensor(packed(h[:, 1:] if sp else h))
        if sp:
            res["species_hidden.%d" % l] = torch.tensor(h[:, 0].copy())
    for n, p in model.named_parameters():
        res["grad." + n] = p.grad.detach().clone()
    train_steps(model, bt, res)
    res = {k: v.contiguous() for k, v in res.items()}
    meta = {"head": "mlm", "lr": repr(LR), "weight_decay": repr(WD), "warmup": str(WARMUP),
            "total_steps": str(STEPS), "max_grad_norm": repr(CLIP), "steps": str(STEPS), "hidden_act": "gelu"}
    save_file(res, os.path.join(d, "state.safetensors"), metadata=meta)


def train_steps(model, bt, res):
    model.train()
    opt = torch.optim.AdamW(param_groups(model), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, WARMUP, STEPS)
    losses, norms, lrs = [], [], []
    for _ in range(STEPS):
        opt.zero_grad()
        _, _, _, loss, _, _ = run(model, bt)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        losses.append(float(loss))
    res["steps.loss"] = torch.tensor(losses, dtype=torch.float32)
    res["steps.norm"] = torch.tensor(norms, dtype=torch.float32)
    res["steps.lr"] = torch.tensor(lrs, dtype=torch.float32)
    for n, p in model.named_parameters():
        res["final." + n] = p.detach().clone()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    for case in sys.argv[2:] or list(CASES):
        if case not in CASES:
            sys.exit("unknown case %s (known: %s)" % (case, " ".join(CASES)))
        run_case(sys.argv[1], case, 2000 + list(CASES).index(case))
        print("wrote", os.path.join(sys.argv[1], case))


if __name__ == "__main__":
    main()
