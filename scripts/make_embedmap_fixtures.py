#!/usr/bin/env python3
"""Fixtures for the 2-D map (src/analysis/embedmap.c): real embeddings of real cells.

Input: Baron et al. 2016 human pancreas counts (raw-Baron_human.h5ad, fetched by
scripts/fetch_data into .cache/scfm-data/baron/). 500 cells are drawn with a fixed seed; their
embedding is the top 32 principal components of log1p(counts / total * 1e4) over the 1,000
most variable genes (numpy). Writes tests/fixtures/embedmap/:
  baron500.npy       float32 [500, 32]  the embedding (what `scfm map` reads)
  baron500.obs.tsv   cell_id, cell_type (obs cell_ontology_class), donor
  pca_ref.npy        float64 [500, 10]  sklearn.decomposition.PCA(10, svd_solver='full')
                     scores of baron500.npy (reference for scfm_pca)
  pca_var.npy        float64 [10]       its explained_variance_
scikit-learn's t-SNE of the same embedding is computed in tests/cli/map_sklearn.sh itself.

Usage: .venv/bin/python scripts/make_embedmap_fixtures.py [BARON_HUMAN_H5AD] [OUTDIR]
"""
import os
import sys

import anndata as ad
import numpy as np
from sklearn.decomposition import PCA

here = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", ".cache", "scfm-data", "baron", "raw-Baron_human.h5ad")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "tests", "fixtures", "embedmap")
os.makedirs(out, exist_ok=True)
a = ad.read_h5ad(src)
rng = np.random.default_rng(20261202)
idx = np.sort(rng.choice(a.n_obs, 500, replace=False))
X = a.X[idx]
X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
X = X.astype(np.float64)
L = np.log1p(X / X.sum(1, keepdims=True) * 1e4)
genes = np.argsort(-L.var(0), kind="stable")[:1000]
L = L[:, genes]
L -= L.mean(0)
U, S, Vt = np.linalg.svd(L, full_matrices=False)
emb = (U[:, :32] * S[:32]).astype(np.float32)
np.save(os.path.join(out, "baron500.npy"), emb)
obs = a.obs.iloc[idx]
with open(os.path.join(out, "baron500.obs.tsv"), "w") as f:
    f.write("cell_id\tcell_type\tdonor\n")
    for cid, ct, dn in zip(obs.index, obs["cell_ontology_class"], obs["donor"]):
        f.write(f"{cid}\t{ct}\t{dn}\n")
p = PCA(10, svd_solver="full").fit(emb.astype(np.float64))
np.save(os.path.join(out, "pca_ref.npy"), p.transform(emb.astype(np.float64)))
np.save(os.path.join(out, "pca_var.npy"), p.explained_variance_)
print("wrote", out)
