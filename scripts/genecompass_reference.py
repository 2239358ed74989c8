#!/usr/bin/env python3
"""An independent PyTorch re-implementation of GeneCompass's model (Yang et al., Cell
Research 2024), written from the facts of its released code as scfm's docs/genecompass.md
states them, with the state-dict names of GeneCompass's checkpoints. It is the reference the
C model is tested against (scripts/make_genecompass_fixtures.py); nothing at run time uses it.

The embedding, per gene position with token g, value v, species s (0 human, 1 mouse):
    g' = homologous_index[g] if s == 1 else g               (prior look-ups only)
    P_k = alpha * linear1_k(K_k[g'])                         k = promoter, co_exp, gene_family, peca_grn
    x = concat(E_word[g], v, P_promoter, P_co_exp, P_gene_family, P_peca_grn)   (enabled parts)
    e = cat_proj(QuickGELU(cat_ln(cat_fc(x))))               cat_ln: nn.LayerNorm, eps 1e-5
    h = dropout(LayerNorm(e + token_type[0] + position[i]))  eps = layer_norm_eps
then the species row cls_embedding[s] in front (use_cls_token), a transformers BertEncoder,
the MLM head on rows 1.. (tied decoder + bias) and the value head cls4value (transform +
Linear(H, 1)). Loss: id_loss_weight * CE + value_loss_weight * MSE over masked positions.

Usage: as a module (GeneCompassForMaskedLM, load_checkpoint, save_checkpoint).
"""
import json
import os
from collections import OrderedDict

import torch
from torch import nn
from transformers import BertConfig
from transformers.activations import ACT2FN
from transformers.models.bert.modeling_bert import BertEncoder

PRIORS = ["promoter", "co_exp", "gene_family", "peca_grn"]


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class PriorEmbedding(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.linear1 = nn.Linear(d_in, d_out)

    def forward(self, x):
        return self.linear1(x)


class Embeddings(nn.Module):
    def __init__(self, cfg, gc):
        super().__init__()
        H, V = cfg.hidden_size, cfg.vocab_size
        self.gc = gc
        self.word_embeddings = nn.Embedding(V, H, padding_idx=cfg.pad_token_id)
        n_on = 0
        for k in PRIORS:
            if gc["use_" + k]:
                self.register_buffer(k + "_knowledge", torch.zeros(V, gc["prior_dim"]))
                setattr(self, k + "_embeddings", PriorEmbedding(gc["prior_dim"], H))
                n_on += 1
        if n_on:
            self.register_buffer("homologous_index", torch.arange(V, dtype=torch.int64))
        width = H * (1 + n_on) + (1 if gc["use_values"] else 0)
        self.concat_embeddings = nn.Sequential(OrderedDict([
            ("cat_fc", nn.Linear(width, H)), ("cat_ln", nn.LayerNorm(H)),
            ("cat_gelu", QuickGELU()), ("cat_proj", nn.Linear(H, H))]))
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, H)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, H)
        self.LayerNorm = nn.LayerNorm(H, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(cfg.max_position_embeddings).expand((1, -1)))

    def forward(self, ids, values, species, alpha):
        B, T = ids.shape
        parts = [self.word_embeddings(ids)]
        if self.gc["use_values"]:
            parts.append(values.unsqueeze(-1).float())
        pid = ids
        if hasattr(self, "homologous_index"):
            mouse = (species == 1).view(B, 1).expand(B, T)
            pid = torch.where(mouse, self.homologous_index[ids], ids)
        for k in PRIORS:
            if self.gc["use_" + k]:
                table = getattr(self, k + "_knowledge")
                parts.append(alpha * getattr(self, k + "_embeddings")(table[pid]))
        e = self.concat_embeddings(torch.cat(parts, dim=2))
        tt = self.token_type_embeddings(torch.zeros_like(ids))
        pos = self.position_embeddings(self.position_ids[:, :T])
        return self.dropout(self.LayerNorm(e + tt + pos))


class Transform(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.act = ACT2FN[cfg.hidden_act]
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x):
        return self.LayerNorm(self.act(self.dense(x)))


class Predictions(nn.Module):
    def __init__(self, cfg, out):
        super().__init__()
        self.transform = Transform(cfg)
        self.decoder = nn.Linear(cfg.hidden_size, out, bias=False)
        self.bias = nn.Parameter(torch.zeros(out))
        self.decoder.bias = self.bias

    def forward(self, x):
        return self.decoder(self.transform(x))


class Head(nn.Module):
    def __init__(self, cfg, out):
        super().__init__()
        self.predictions = Predictions(cfg, out)

    def forward(self, x):
        return self.predictions(x)


class Bert(nn.Module):
    def __init__(self, cfg, gc):
        super().__init__()
        self.embeddings = Embeddings(cfg, gc)
        self.encoder = BertEncoder(cfg)
        if gc["use_cls_token"]:
            self.cls_embedding = nn.Embedding(gc["n_species"], cfg.hidden_size)


class EmbWarmup(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("alpha", torch.tensor(1.0))
        self.register_buffer("steps", torch.tensor(0, dtype=torch.int64))


class GeneCompassForMaskedLM(nn.Module):
    def __init__(self, cfg, gc):
        super().__init__()
        self.cfg, self.gc = cfg, gc
        self.bert = Bert(cfg, gc)
        self.cls = Head(cfg, cfg.vocab_size)
        self.cls4value = Head(cfg, 1)
        self.emb_warmup = EmbWarmup()
        self.apply(self._init)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def _init(self, mod):
        std = self.cfg.initializer_range
        if isinstance(mod, nn.Linear):
            mod.weight.data.normal_(0.0, std)
            if mod.bias is not None:
                mod.bias.data.zero_()
        elif isinstance(mod, nn.Embedding):
            mod.weight.data.normal_(0.0, std)
            if mod.padding_idx is not None:
                mod.weight.data[mod.padding_idx].zero_()
        elif isinstance(mod, nn.LayerNorm):
            mod.weight.data.fill_(1.0)
            mod.bias.data.zero_()

    def forward(self, ids, values, species, attention_mask):
        """ids, values, attention_mask [B, T] (padded), species [B]. Returns the encoder's
        hidden states (each [B, 1 + T, H] with the species row, or [B, T, H] without), the
        gene rows' MLM logits [B, T, V] and predicted values [B, T]."""
        emb = self.bert.embeddings(ids, values, species, self.emb_warmup.alpha)
        mask = attention_mask
        if self.gc["use_cls_token"]:
            emb = torch.cat([self.bert.cls_embedding(species).unsqueeze(1), emb], dim=1)
            mask = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        out = self.bert.encoder(emb, attention_mask=ext, output_hidden_states=True)
        seq = out.last_hidden_state
        genes = seq[:, 1:] if self.gc["use_cls_token"] else seq
        return out.hidden_states, self.cls(genes), self.cls4value(genes).squeeze(-1)

    def loss(self, logits, pred_values, labels, target_values):
        """CE over labelled positions; with target values, the GeneCompass mix with MSE over
        the same positions."""
        sel = labels != -100
        ce = nn.functional.cross_entropy(logits[sel], labels[sel])
        if target_values is None:
            return ce, ce, torch.tensor(0.0)
        mse = ((pred_values[sel] - target_values[sel]) ** 2).mean()
        return self.gc["id_loss_weight"] * ce + self.gc["value_loss_weight"] * mse, ce, mse


GC_KEYS = ["use_values", "use_promoter", "use_co_exp", "use_gene_family", "use_peca_grn", "use_cls_token"]


def config_dict(cfg, gc):
    d = cfg.to_diff_dict()
    d["model_type"] = "bert"
    d.update({k: bool(gc[k]) for k in GC_KEYS})
    d.update(prior_embedding_size=gc["prior_dim"], id_loss_weight=gc["id_loss_weight"],
             value_loss_weight=gc["value_loss_weight"], emb_warmup_steps=0, architectures=["BertForMaskedLM"])
    d.pop("_attn_implementation_autoset", None)
    return d


TIED = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "cls4value.predictions.decoder.bias"]


def save_checkpoint(model, d):
    from safetensors.torch import save_file
    os.makedirs(d, exist_ok=True)
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if k not in TIED}
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config_dict(model.cfg, model.gc), f, indent=2, sort_keys=True)


def load_checkpoint(d):
    from safetensors.torch import load_file
    with open(os.path.join(d, "config.json")) as f:
        j = json.load(f)
    sd = load_file(os.path.join(d, "model.safetensors"))
    gc = {k: bool(j.get(k, False)) for k in GC_KEYS}
    dims = [v.shape[1] for k, v in sd.items() if k.endswith("_knowledge")]
    gc.update(prior_dim=int(j.get("prior_embedding_size", dims[0] if dims else 768)),
              id_loss_weight=float(j.get("id_loss_weight", 0.2)),
              value_loss_weight=float(j.get("value_loss_weight", 0.8)),
              n_species=sd["bert.cls_embedding.weight"].shape[0] if "bert.cls_embedding.weight" in sd else 2)
    keep = {k: v for k, v in j.items() if k not in GC_KEYS}
    cfg = BertConfig(**keep)
    cfg._attn_implementation = "eager"
    model = GeneCompassForMaskedLM(cfg, gc)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k not in TIED]
    if missing or unexpected:
        raise SystemExit("%s: missing %s unexpected %s" % (d, missing, unexpected))
    return model
