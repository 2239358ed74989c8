#!/usr/bin/env python3
"""PyTorch (newest from PyPI, bench/.venv-torch) side of bench/bench_vs_torch.sh, for the
Geneformer-V1 shape (6 layers, H 256, 4 heads, FFN 512, V 25426, relu), no dropout:
  forward     BertModel with attn_implementation="sdpa", eval, no grad (embedding extraction);
  step_masked training step (forward + backward + clip_grad_norm_ + AdamW) with the MLM head
              applied at the masked rows only (what an expert writes);
  step_hf     the same with Hugging Face's default BertForMaskedLM(labels=...) (every row
              projected to the vocabulary);
  sgemm       torch.mm of 8192x256 by 256x768 (f32 matmul GFLOP/s of the BLAS torch uses).
15% of the tokens masked, as in bench/bench_bert.c.
Usage: python bench/bench_torch_new.py --threads N --T 512 --batch 16 --iters 3
           [--layers 6 --hidden 256 --heads 4 --ffn 512 --vocab 25426 --positions P --act relu]
           [--only fwd|step_masked|step_hf]
The shape options give another model (bench/v2_memory.sh: the Geneformer-V2-104M shape);
--only runs one measurement (and not the sgemm), so that the peak RSS, printed as
peak_rss_mib (getrusage), is that measurement's.
Prints "RESULT torch fwd_tokens_per_s=... step_masked_tokens_per_s=... step_hf_tokens_per_s=...
sgemm_gflops=... peak_rss_mib=..." (only the measured fields with --only) and a line with the
versions.
"""
import argparse
import resource
import sys
import time

import torch
import transformers
from transformers import BertConfig, BertForMaskedLM


def timed(fn, iters):
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--T", type=int, default=512)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=25426)
    ap.add_argument("--positions", type=int, default=0, help="position embeddings (default max(2048, T))")
    ap.add_argument("--act", default="relu")
    ap.add_argument("--only", choices=["fwd", "step_masked", "step_hf"])
    ap.add_argument("--bf16", action="store_true", help="forward under torch.autocast(cpu, bfloat16) (with --only fwd)")
    a = ap.parse_args()
    if a.bf16 and a.only != "fwd":
        sys.exit("bench_torch_new: --bf16 is for the forward only (--only fwd)")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                     intermediate_size=a.ffn, hidden_act=a.act, max_position_embeddings=a.positions or max(2048, a.T),
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    mlm = BertForMaskedLM._from_config(cfg, attn_implementation="sdpa")
    bert, head = mlm.bert, mlm.cls
    B, T = a.batch, a.T
    ids = torch.randint(2, cfg.vocab_size, (B, T))
    sel = torch.rand(B, T) < 0.15
    labels = torch.where(sel, ids, torch.full_like(ids, -100))
    ids = torch.where(sel, torch.ones_like(ids), ids)
    att = torch.ones(B, T, dtype=torch.long)
    rows = sel.reshape(-1).nonzero().squeeze(1)
    targets = labels.reshape(-1)[rows]
    opt = torch.optim.AdamW(mlm.parameters(), lr=1e-4, weight_decay=0.001)

    mlm.eval()

    def fwd():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            bert(input_ids=ids, attention_mask=att)

    run = {k: a.only in (None, k) for k in ("fwd", "step_masked", "step_hf")}
    t = {}
    if run["fwd"]:
        t["fwd"] = timed(fwd, a.iters)
    mlm.train()

    def step_masked():
        opt.zero_grad(set_to_none=True)
        h = bert(input_ids=ids, attention_mask=att).last_hidden_state.reshape(B * T, -1)
        logits = head(h.index_select(0, rows))
        torch.nn.functional.cross_entropy(logits, targets).backward()
        torch.nn.utils.clip_grad_norm_(mlm.parameters(), 1.0)
        opt.step()

    def step_hf():
        opt.zero_grad(set_to_none=True)
        mlm(input_ids=ids, attention_mask=att, labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(mlm.parameters(), 1.0)
        opt.step()

    for k, fn in (("step_masked", step_masked), ("step_hf", step_hf)):
        if run[k]:
            t[k] = timed(fn, a.iters)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    n = B * T
    res = " ".join(f"{k}_tokens_per_s={n / v:.1f}" for k, v in t.items())
    if not a.only:
        x, w = torch.randn(8192, 256), torch.randn(256, 768)
        t_mm = timed(lambda: torch.mm(x, w), 5)
        res += f" sgemm_gflops={2 * 8192 * 256 * 768 / t_mm / 1e9:.1f}"
    print(f"torch {torch.__version__} transformers {transformers.__version__} attention "
          f"{bert.config._attn_implementation}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}; L {a.layers} H {a.hidden} heads {a.heads} "
          f"FFN {a.ffn} V {a.vocab}, batch {B} x T {T}, {sum(p.numel() for p in mlm.parameters())} params"
          f"{', bf16 autocast' if a.bf16 else ''}")
    print(f"RESULT torch {res} peak_rss_mib={rss_mib:.1f}")


if __name__ == "__main__":
    main()
