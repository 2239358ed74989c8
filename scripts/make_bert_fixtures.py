#!/usr/bin/env python3
"""Golden fixtures for tests/test_bert.c, computed with transformers (the reference).

For each case it builds a tiny BERT (2 layers, hidden 64, 4 heads, FFN 128, vocab 300,
dropout 0) with transformers, saves it with save_pretrained (config.json +
model.safetensors), runs one padded batch of sequences of different lengths, and writes
DIR/<case>/state.safetensors holding:
  ids I32[N], offs I64[B+1]             the batch packed the way scfm takes it
  mlm_rows I64[M], mlm_labels I32[M]    (mlm)  masked rows (packed) and targets, -100 ignored
  seq_labels I32[B] / tok_labels I32[N] (seqcls / tokcls)
  logits F32[rows, cols], loss F32[1]   head logits (MLM: only at mlm_rows) and mean CE
  hidden.<l> F32[N,H]                   hidden states (0 = embeddings .. L), packed
  grad.<name> F32                       d loss / d parameter, every parameter
  steps.loss, steps.norm, steps.lr F32[S]  after S AdamW steps on the same batch:
                                        loss, pre-clip grad norm and learning rate per step
  final.<name> F32                      every parameter after the S steps
metadata: head, lr, weight_decay, warmup, total_steps, max_grad_norm, steps.
The optimizer is torch.optim.AdamW with the Hugging Face Trainer groups (no weight decay
for biases and LayerNorm weights), clip_grad_norm_(1.0) and
get_linear_schedule_with_warmup, stepped once per update as the Trainer does.

Usage (regenerate the committed fixture, or all cases into a scratch directory):
    .venv/bin/python scripts/make_bert_fixtures.py tests/fixtures/bert relu_mlm
    .venv/bin/python scripts/make_bert_fixtures.py /tmp/fx            # every case
Cases: relu_mlm gelu_mlm gelu_new_mlm silu_mlm untied_mlm seqcls tokcls seqcls_weighted
tokcls_weighted (class-weighted cross-entropy; the state also holds class_weights F32[C]).
Deterministic (torch.manual_seed per case); needs torch, transformers, safetensors.
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import (BertConfig, BertForMaskedLM, BertForSequenceClassification,
                          BertForTokenClassification, get_linear_schedule_with_warmup)

V, H, L, NH, I, P = 300, 64, 2, 4, 128, 32
LENGTHS = [7, 12, 3, 9]
STEPS, LR, WD, WARMUP, CLIP = 5, 3e-3, 0.01, 2, 1.0
NUM_LABELS = 3

CASES = {
    "relu_mlm": dict(head="mlm", act="relu"),
    "gelu_mlm": dict(head="mlm", act="gelu"),
    "gelu_new_mlm": dict(head="mlm", act="gelu_new"),
    "silu_mlm": dict(head="mlm", act="silu"),
    "untied_mlm": dict(head="mlm", act="gelu", tie=False),
    "seqcls": dict(head="seqcls", act="relu"),
    "tokcls": dict(head="tokcls", act="gelu"),
    # class-weighted losses: torch.nn.CrossEntropyLoss(weight=w) on the head's logits
    "seqcls_weighted": dict(head="seqcls", act="relu", weights=[0.5, 2.0, 1.25]),
    "tokcls_weighted": dict(head="tokcls", act="gelu", weights=[1.5, 0.25, 1.0]),
}


def make_model(case, seed):
    spec = CASES[case]
    torch.manual_seed(seed)
    kw = dict(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=NH,
              intermediate_size=I, hidden_act=spec["act"], hidden_dropout_prob=0.0,
              attention_probs_dropout_prob=0.0, max_position_embeddings=P, pad_token_id=0,
              tie_word_embeddings=spec.get("tie", True), attn_implementation="eager")
    if spec["head"] != "mlm":
        kw.update(num_labels=NUM_LABELS, id2label={i: "class_%d" % i for i in range(NUM_LABELS)},
                  label2id={"class_%d" % i: i for i in range(NUM_LABELS)})
    cfg = BertConfig(**kw)
    cls = {"mlm": BertForMaskedLM, "seqcls": BertForSequenceClassification,
           "tokcls": BertForTokenClassification}[spec["head"]]
    model = cls(cfg)
    # Non-trivial LayerNorm and bias values, so their gradients and use are really tested.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def make_batch(case, rng):
    head = CASES[case]["head"]
    B, T = len(LENGTHS), max(LENGTHS)
    ids = np.zeros((B, T), dtype=np.int64)
    att = np.zeros((B, T), dtype=np.int64)
    for b, n in enumerate(LENGTHS):
        ids[b, :n] = rng.integers(2, V, n)
        att[b, :n] = 1
    labels = np.full((B, T), -100, dtype=np.int64)
    batch = dict(input_ids=ids, attention_mask=att)
    if head == "mlm":
        for b, n in enumerate(LENGTHS):
            pos = rng.choice(n, size=max(1, n // 3), replace=False)
            for j, p in enumerate(sorted(pos)):
                labels[b, p] = ids[b, p]
                ids[b, p] = 1 if j % 3 != 2 else rng.integers(2, V)
        # one masked row of sequence 1 is kept in the target list but ignored (-100)
        first = [p for p in range(LENGTHS[1]) if labels[1, p] != -100][0]
        labels[1, first] = -100
        mask_rows = [(b, p) for b, n in enumerate(LENGTHS) for p in range(n)
                     if labels[b, p] != -100 or (b == 1 and p == first)]
        batch["labels"] = labels
        return batch, mask_rows
    if head == "seqcls":
        batch["labels"] = rng.integers(0, NUM_LABELS, B)
        batch["labels"][2] = -100
        return batch, None
    for b, n in enumerate(LENGTHS):
        labels[b, :n] = rng.integers(0, NUM_LABELS, n)
        labels[b, 0] = -100
    batch["labels"] = labels
    return batch, None


def packed(x, lengths):
    return np.concatenate([x[b, :n] for b, n in enumerate(lengths)], axis=0)


def t(batch):
    return {k: torch.as_tensor(v) for k, v in batch.items()}


def param_groups(model):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}]


def state_of(model):
    # named_parameters() drops tied duplicates: one entry per parameter, HF names.
    return {n: p.detach().clone().contiguous() for n, p in model.named_parameters()}


def loss_of(case, out, batch):
    """The head's loss: the model's own, or CrossEntropyLoss(weight=w) for weighted cases."""
    w = CASES[case].get("weights")
    if w is None:
        return out.loss
    ce = torch.nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32))
    labels = torch.as_tensor(batch["labels"])
    return ce(out.logits.reshape(-1, NUM_LABELS), labels.reshape(-1))


def run_case(out_dir, case, seed):
    spec = CASES[case]
    model = make_model(case, seed)
    rng = np.random.default_rng(seed)
    batch, mask_rows = make_batch(case, rng)
    d = os.path.join(out_dir, case)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    if os.path.exists(os.path.join(d, "generation_config.json")):
        os.remove(os.path.join(d, "generation_config.json"))
    offs = np.concatenate([[0], np.cumsum(LENGTHS)]).astype(np.int64)
    res = {"ids": torch.tensor(packed(batch["input_ids"], LENGTHS), dtype=torch.int32),
           "offs": torch.tensor(offs)}
    inputs = {k: v for k, v in t(batch).items() if k != "labels" or "weights" not in spec}
    out = model(**inputs, output_hidden_states=True)
    loss = loss_of(case, out, batch)
    loss.backward()
    if "weights" in spec:
        res["class_weights"] = torch.tensor(spec["weights"], dtype=torch.float32)
    logits = out.logits.detach()
    if spec["head"] == "mlm":
        rows = [offs[b] + p for b, p in mask_rows]
        res["mlm_rows"] = torch.tensor(rows, dtype=torch.int64)
        res["mlm_labels"] = torch.tensor([batch["labels"][b, p] for b, p in mask_rows], dtype=torch.int32)
        res["logits"] = torch.stack([logits[b, p] for b, p in mask_rows])
    elif spec["head"] == "seqcls":
        res["seq_labels"] = torch.tensor(batch["labels"], dtype=torch.int32)
        res["logits"] = logits
    else:
        res["tok_labels"] = torch.tensor(packed(batch["labels"], LENGTHS), dtype=torch.int32)
        res["logits"] = torch.tensor(packed(logits.numpy(), LENGTHS))
    res["loss"] = loss.detach().reshape(1)
    for l, hs in enumerate(out.hidden_states):
        res["hidden.%d" % l] = torch.tensor(packed(hs.detach().numpy(), LENGTHS))
    for n, p in model.named_parameters():
        res["grad." + n] = p.grad.detach().clone()
    train_steps(model, batch, res, case)
    res = {k: v.contiguous() for k, v in res.items()}
    meta = {"head": spec["head"], "lr": repr(LR), "weight_decay": repr(WD), "warmup": str(WARMUP),
            "total_steps": str(STEPS), "max_grad_norm": repr(CLIP), "steps": str(STEPS),
            "hidden_act": spec["act"]}
    save_file(res, os.path.join(d, "state.safetensors"), metadata=meta)


def train_steps(model, batch, res, case):
    model.train()  # dropout is 0, so train mode computes the same function
    opt = torch.optim.AdamW(param_groups(model), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, WARMUP, STEPS)
    losses, norms, lrs = [], [], []
    for _ in range(STEPS):
        opt.zero_grad()
        weighted = "weights" in CASES[case]
        out = model(**{k: v for k, v in t(batch).items() if k != "labels" or not weighted})
        loss = loss_of(case, out, batch)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        losses.append(float(loss))
    res["steps.loss"] = torch.tensor(losses, dtype=torch.float32)
    res["steps.norm"] = torch.tensor(norms, dtype=torch.float32)
    res["steps.lr"] = torch.tensor(lrs, dtype=torch.float32)
    for n, p in state_of(model).items():
        res["final." + n] = p


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    cases = sys.argv[2:] or list(CASES)
    torch.set_num_threads(1)
    for i, case in enumerate(cases):
        if case not in CASES:
            sys.exit("unknown case %s (known: %s)" % (case, " ".join(CASES)))
        run_case(out_dir, case, 1000 + list(CASES).index(case))
        print("wrote", os.path.join(out_dir, case))


if __name__ == "__main__":
    main()
