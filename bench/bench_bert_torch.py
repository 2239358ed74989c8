#!/usr/bin/env python3
"""PyTorch/transformers twin of bench/bench_bert.c: BertForMaskedLM forward (eval, no grad)
and a training step (forward + backward + clip_grad_norm_ + AdamW) for the Geneformer-V1
shape (6 layers, H 256, 4 heads, FFN 512, V 25426, relu), T = 2048, batch 4, 15% of the
tokens masked (labels -100 elsewhere; transformers projects every position to the
vocabulary, as it does in Geneformer's pretraining).
Usage: python bench/bench_bert_torch.py [--threads N] [--T 2048] [--batch 4] [--iters 3]
       [--layers 6 --hidden 256 --heads 4 --ffn 512 --vocab 25426 --act relu]
Prints human-readable lines and "RESULT torch fwd_tokens_per_s=... step_tokens_per_s=...".
"""
import argparse
import time

import torch
from transformers import BertConfig, BertForMaskedLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--T", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=25426)
    ap.add_argument("--act", default="relu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                     num_attention_heads=a.heads, intermediate_size=a.ffn, hidden_act=a.act,
                     max_position_embeddings=max(2048, a.T), hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, attn_implementation="eager")
    model = BertForMaskedLM(cfg)
    B, T = a.batch, a.T
    ids = torch.randint(2, a.vocab, (B, T))
    sel = torch.rand(B, T) < 0.15
    labels = torch.where(sel, ids, torch.full_like(ids, -100))
    ids = torch.where(sel, torch.ones_like(ids), ids)
    att = torch.ones(B, T, dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.001)
    model.train()
    out = model(input_ids=ids, attention_mask=att, labels=labels)  # warm-up
    out.loss.backward()
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(a.iters):
            model(input_ids=ids, attention_mask=att)
    fwd = (time.perf_counter() - t0) / a.iters
    model.train()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        opt.zero_grad()
        loss = model(input_ids=ids, attention_mask=att, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    step = (time.perf_counter() - t0) / a.iters
    N = B * T
    print("torch %s / transformers bert: L %d H %d heads %d FFN %d V %d, batch %d x T %d, %d threads"
          % (torch.__version__, a.layers, a.hidden, a.heads, a.ffn, a.vocab, B, T, a.threads))
    print("  forward (eval):      %8.3f s  %8.2f cells/s  %10.0f tokens/s" % (fwd, B / fwd, N / fwd))
    print("  train step (fwd+bwd+AdamW): %8.3f s  %8.2f cells/s  %10.0f tokens/s  (loss %.4f)"
          % (step, B / step, N / step, float(loss)))
    print("RESULT torch fwd_tokens_per_s=%.1f step_tokens_per_s=%.1f threads=%d" % (N / fwd, N / step, a.threads))


if __name__ == "__main__":
    main()
