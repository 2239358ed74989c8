#!/usr/bin/env python3
"""Reference values for tests/test_priors.c, computed with numpy (independent of scfm).

Writes tests/fixtures/priors/:
  coexp/{matrix.mtx,genes.tsv,barcodes.tsv}  400 cells x 120 genes of the IFN-beta PBMCs
        (../shared/data/human/pbmc_ifnb_stim), genes given as Ensembl IDs (symbols mapped
        through Geneformer's gene_name_id_dict), the most frequently expressed ones.
  coexp_expected.tsv  gene_a gene_b r n: every pair co-expressed in >= 10 cells with Pearson
        r >= 0.3 over the cells where both are expressed, values log1p(1e4 * count / cell total)
        (cell total over the 120 genes of the fixture), numpy.corrcoef per pair.
  g2v_pairs.tsv  planted pairs: 8 groups of 8 genes, every within-group pair.
  g2v_ref_knn.tsv  gene then its 5 nearest genes by cosine in vectors trained by the small
        skip-gram-with-negative-sampling reference below (numpy's RNG, not scfm's: only
        seed-free statistics are compared), dim 32, 300 epochs, 5 negatives, lr 0.025.
Usage: .venv/bin/python scripts/make_priors_fixtures.py [SHARED_DATA]
"""
import gzip
import os
import pickle
import sys

import numpy as np
import scipy.io

data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "priors")
os.makedirs(os.path.join(out, "coexp"), exist_ok=True)

# ---- co-expression -------------------------------------------------------------------
src = os.path.join(data, "human", "pbmc_ifnb_stim")
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).tocsc()  # genes x cells
syms = [l.strip() for l in open(os.path.join(src, "genes.tsv"))]
names = pickle.load(open(os.path.join(data, "geneformer", "v1", "gene_name_id_dict.pkl"), "rb"))
ids = [names.get(s.upper()) for s in syms]
nexpr = np.asarray((X > 0).sum(axis=1)).ravel()
cand = [g for g in np.argsort(-nexpr, kind="stable") if ids[g] is not None]
seen, genes = set(), []
for g in cand:
    if ids[g] in seen:
        continue
    seen.add(ids[g])
    genes.append(g)
    if len(genes) == 120:
        break
genes = sorted(genes)
cells = np.arange(0, 2000, 5)  # 400 cells
sub = X[genes][:, cells].toarray().astype(np.int64)
scipy.io.mmwrite(os.path.join(out, "coexp", "matrix.mtx"), scipy.sparse.coo_matrix(sub), field="integer")
with open(os.path.join(out, "coexp", "genes.tsv"), "w") as f:
    for g in genes:
        f.write("%s\t%s\n" % (ids[g], syms[g]))
bcs = [l.strip() for l in open(os.path.join(src, "barcodes.tsv"))]
with open(os.path.join(out, "coexp", "barcodes.tsv"), "w") as f:
    for c in cells:
        f.write(bcs[c] + "\n")
C = sub.T.astype(np.float64)  # cells x genes
tot = C.sum(axis=1, keepdims=True)
V = np.log1p(1e4 * C / np.where(tot > 0, tot, 1))
E = C > 0
rows = []
G = len(genes)
for i in range(G):
    for j in range(i + 1, G):
        m = E[:, i] & E[:, j]
        n = int(m.sum())
        if n < 10:
            continue
        x, y = V[m, i], V[m, j]
        if x.std() == 0 or y.std() == 0:
            continue
        r = float(np.corrcoef(x, y)[0, 1])
        assert abs(r - 0.3) > 1e-9
        if r >= 0.3:
            a, b = sorted([ids[genes[i]], ids[genes[j]]])
            rows.append((a, b, r, n))
rows.sort()
with open(os.path.join(out, "coexp_expected.tsv"), "w") as f:
    for a, b, r, n in rows:
        f.write("%s\t%s\t%r\t%d\n" % (a, b, r, n))
print("coexpression: %d pairs" % len(rows))

# ---- gene2vec reference ----------------------------------------------------------------
gn = ["G%02d" % i for i in range(64)]
pairs = [(8 * g + a, 8 * g + b) for g in range(8) for a in range(8) for b in range(a + 1, 8)]
with open(os.path.join(out, "g2v_pairs.tsv"), "w") as f:
    for a, b in pairs:
        f.write("%s\t%s\n" % (gn[a], gn[b]))


def sgns(pairs, n, dim=32, epochs=300, neg=5, lr0=0.025, seed=7):
    rng = np.random.default_rng(seed)
    win = (rng.random((n, dim)) - 0.5) / dim
    wout = np.zeros((n, dim))
    cnt = np.zeros(n)
    for a, b in pairs:
        cnt[a] += 1
        cnt[b] += 1
    p = cnt ** 0.75
    p /= p.sum()
    steps, step = epochs * len(pairs) * 2, 0
    for ep in range(epochs):
        for k in rng.permutation(len(pairs)):
            for w, c in (pairs[k], pairs[k][::-1]):
                lr = max(lr0 * (1 - step / steps), lr0 * 1e-4)
                step += 1
                grad = np.zeros(dim)
                tg = [(c, 1.0)] + [(t, 0.0) for t in rng.choice(n, size=neg, p=p) if t != c]
                for t, label in tg:
                    f = win[w] @ wout[t]
                    g = (label - 1 / (1 + np.exp(-f))) * lr
                    grad += g * wout[t]
                    wout[t] += g * win[w]
                win[w] += grad
    return win


W = sgns(pairs, 64)
Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
S = Wn @ Wn.T
grp = np.arange(64) // 8
same = grp[:, None] == grp[None, :]
off = ~np.eye(64, dtype=bool)
margin = S[same & off].mean() - S[~same].mean()
assert margin > 0.3, margin
with open(os.path.join(out, "g2v_ref_knn.tsv"), "w") as f:
    for i in range(64):
        order = [j for j in np.argsort(-S[i], kind="stable") if j != i][:5]
        f.write(gn[i] + "\t" + "\t".join(gn[j] for j in order) + "\n")
print("gene2vec reference: planted - random mean cosine %.3f" % margin)
