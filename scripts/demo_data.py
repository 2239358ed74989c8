#!/usr/bin/env python3
"""Data steps of scripts/demo that scfm does not do itself (python3 with numpy, anndata and
scikit-learn, which scripts/setup installs from Debian):

  prepare OUT HUMAN.h5ad MOUSE.h5ad LABEL [--cells N] [--seed S]
      on both species (genes untouched: scfm's joint vocabulary keeps each species' own genes):
      obs species (human / mouse), cell_type (LABEL where the type occurs in both species, else
      'other'), split (mouse: train / val 90:10 per type, seeded; human: test). --cells N keeps
      a seeded subsample of N cells per species (for quick runs). Writes OUT/human.h5ad and
      OUT/mouse.h5ad (raw counts, the same cells' obs).
  single OUT IN.h5ad LABEL [--cells N] [--seed S]
      one dataset (your own): obs cell_type = LABEL, split train / val / test 80:10:10 per type.
  baseline OUT TRAIN.h5ad[,...] TEST.h5ad[,...] [--orthologs ORTHOLOGS.csv]
      logistic regression (scikit-learn, lbfgs, C=1, max_iter 1000) on log1p(counts / total * 1e4)
      of the genes all inputs share (with --orthologs, came's gene_matches_1v1 table, columns
      gene.name, human.gene.name: the genes of inputs whose obs species is mouse renamed to their
      one-to-one human orthologs first, the others dropped), trained on the split == train cells, scored on split == test
      cells (cell_type != 'other'), written like scfm finetune's metrics.json + confusion.tsv
      (format "sklearn-logistic-regression-baseline") so that scfm report shows it beside the
      fine-tuned model.
"""
import json
import os
import sys

import anndata as ad
import numpy as np


def opt(args, name, default):
    if name in args:
        i = args.index(name)
        v = args[i + 1]
        del args[i:i + 2]
        return type(default)(v)
    return default


def subsample(a, n, rng):
    if n and a.n_obs > n:
        a = a[np.sort(rng.choice(a.n_obs, n, replace=False))].copy()
    return a


def split_by_type(types, fracs, names, rng):
    split = np.empty(len(types), dtype=object)
    for t in np.unique(types):
        idx = np.flatnonzero(types == t)
        rng.shuffle(idx)
        cuts = np.cumsum([int(round(f * len(idx))) for f in fracs[:-1]])
        for part, name in zip(np.split(idx, cuts), names):
            split[part] = name
        if (split[idx] == names[0]).sum() == 0:  # every type keeps a training cell
            split[idx[0]] = names[0]
    return split


def prepare(args):
    cells, seed = opt(args, "--cells", 0), opt(args, "--seed", 1)
    out, hpath, mpath, label = args
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    h, m = ad.read_h5ad(hpath), ad.read_h5ad(mpath)
    h, m = subsample(h, cells, rng), subsample(m, cells, rng)
    shared = set(h.obs[label].astype(str)) & set(m.obs[label].astype(str))
    for a, sp in ((h, "human"), (m, "mouse")):
        lab = a.obs[label].astype(str).to_numpy()
        a.obs["cell_type"] = np.where(np.isin(lab, list(shared)), lab, "other")
        a.obs["species"] = sp
    m.obs["split"] = split_by_type(m.obs["cell_type"].to_numpy(), [0.9, 0.1], ["train", "val"], rng)
    h.obs["split"] = "test"
    for a in (h, m):
        for c in list(a.obs.columns):
            a.obs[c] = a.obs[c].astype(str)
    h.write_h5ad(os.path.join(out, "human.h5ad"))
    m.write_h5ad(os.path.join(out, "mouse.h5ad"))
    print(f"prepare: human {h.n_obs} cells x {h.n_vars} genes; mouse {m.n_obs} cells x {m.n_vars} genes; "
          f"{len(shared)} cell types in both species; "
          f"mouse train {int((m.obs['split'] == 'train').sum())}, val {int((m.obs['split'] == 'val').sum())}; "
          f"human test {int((h.obs['cell_type'] != 'other').sum())} (+{int((h.obs['cell_type'] == 'other').sum())} "
          f"of types mouse lacks)")


def single(args):
    cells, seed = opt(args, "--cells", 0), opt(args, "--seed", 1)
    out, path, label = args
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    a = subsample(ad.read_h5ad(path), cells, rng)
    if label not in a.obs:
        sys.exit(f"demo_data: {path}: no obs column '{label}' (available: {', '.join(a.obs.columns)})")
    a.obs["cell_type"] = a.obs[label].astype(str)
    a.obs["split"] = split_by_type(a.obs["cell_type"].to_numpy(), [0.8, 0.1, 0.1], ["train", "val", "test"], rng)
    for c in list(a.obs.columns):
        a.obs[c] = a.obs[c].astype(str)
    a.write_h5ad(os.path.join(out, "data.h5ad"))
    print(f"single: {a.n_obs} cells x {a.n_vars} genes, {a.obs['cell_type'].nunique()} types")


def load(paths, orthologs=None):
    sets = [ad.read_h5ad(p) for p in paths.split(",")]
    if not orthologs:
        return sets
    import csv
    pairs, seen = {}, {}
    with open(orthologs, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("human.homology.type", "ortholog_one2one") == "ortholog_one2one" and row["human.gene.name"]:
                pairs.setdefault(row["gene.name"], row["human.gene.name"])
    for i, a in enumerate(sets):
        if "species" in a.obs and (a.obs["species"] == "mouse").all():
            a = a[:, [g in pairs for g in a.var_names]].copy()
            a.var_names = [pairs[g] for g in a.var_names]
            sets[i] = a[:, ~a.var_names.duplicated()].copy()
    return sets


def baseline(args):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
    orth = opt(args, "--orthologs", "")
    out, tr, te = args
    tr, te = load(tr, orth), load(te, orth)
    genes = sorted(set.intersection(*[set(a.var_names) for a in tr + te]))

    def xy(sets, split):
        X, y = [], []
        for a in sets:
            s = a[(a.obs["split"] == split).to_numpy() & (a.obs["cell_type"] != "other").to_numpy()]
            x = s[:, genes].X
            x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
            x = x.astype(np.float64)
            X.append(np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1) * 1e4))
            y += list(s.obs["cell_type"])
        return np.vstack(X), np.array(y)
    Xtr, ytr = xy(tr, "train")
    Xte, yte = xy(te, "test")
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(Xtr, ytr)
    pred = clf.predict(Xte)
    classes = sorted(set(ytr) | set(yte))
    p, r, f, s = precision_recall_fscore_support(yte, pred, labels=classes, zero_division=0)
    os.makedirs(out, exist_ok=True)
    cmd = "scripts/demo_data.py baseline: sklearn LogisticRegression(C=1, lbfgs, max_iter=1000) on log1p CP10k of %d shared genes%s" % (
        len(genes), " (mouse genes renamed to their one-to-one human orthologs)" if orth else "")
    m = {"format": "sklearn-logistic-regression-baseline", "version": 1, "task": "logistic-regression baseline",
         "label": "cell_type", "classes": classes, "accuracy": accuracy_score(yte, pred),
         "macro_f1": f1_score(yte, pred, labels=sorted(set(yte) | set(pred)), average="macro", zero_division=0),
         "n_test_samples": len(yte),
         "per_class": {c: {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])} for i, c in enumerate(classes)},
         "validation": {}, "n_train": len(ytr), "n_val": 0, "n_test": len(yte), "n_excluded": 0,
         "settings": {"genes": len(genes), "C": 1.0, "solver": "lbfgs", "max_iter": 1000, "features": "log1p(counts/total*1e4)"},
         "command": cmd}
    json.dump(m, open(os.path.join(out, "metrics.json"), "w"), indent=2)
    cm = confusion_matrix(yte, pred, labels=classes)
    with open(os.path.join(out, "confusion.tsv"), "w") as fh:
        fh.write("true\\pred\t" + "\t".join(classes) + "\n")
        for c, row in zip(classes, cm):
            fh.write(c + "\t" + "\t".join(str(v) for v in row) + "\n")
    print(f"baseline: logistic regression on {len(genes)} shared genes, {len(ytr)} training cells: "
          f"accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f} on {len(yte)} test cells")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("prepare", "single", "baseline"):
        sys.exit(__doc__)
    {"prepare": prepare, "single": single, "baseline": baseline}[sys.argv[1]](sys.argv[2:])
