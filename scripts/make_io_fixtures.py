#!/usr/bin/env python3
"""Writes the count-matrix reader fixtures to tests/fixtures/io/ (used by tests/test_io.c).

Regenerate (from the repository root):
    .venv/bin/python scripts/make_io_fixtures.py [--shared ../shared/data]

Source: real counts, the first 30 cells of shared/data/human/pbmc4k_labeled and 50 genes
(3 all-zero genes from the top of the file, then the first 47 genes with a count in those
cells). The same matrix is written as h5ad (dense, CSR, CSC, raw/X, layers/counts, anndata
0.7 and legacy layouts), 10x h5 (v3 and v2), loom, mtx directories and csv/tsv, plus the
expected values computed with scipy/numpy/anndata as plain text:
    expected_matrix.txt  30 lines of 50 integers (cells x genes)
    expected_genes.txt, expected_cells.txt, expected_labels.txt, expected_ids.txt (one per line)
    expected_obs.tsv     obs column name<TAB>values (one per cell, tab separated), as the reader
                         renders them (ints as integers, floats shortest round-trip, bools 1/0,
                         categoricals as category text, missing as "")
    pbmc4k_total.txt     "n_cells n_genes nnz total" of the full shared directory (scipy)
Corrupt variants are tiny 3 x 4 files (tiny.h5ad is the valid original, tiny_dense.h5ad the
same matrix dense): bad_indptr/bad_index/bad_nan/bad_neg.h5ad (edited X arrays),
bad_shape.h5ad (X shape attr 3 x 5, var has 4), bad_dense_shape.h5ad (dense X 3 x 3),
bad_neg.loom, bad_nan.csv, bad_number.csv ("x7" at line 3, column 3), tenx_two_genomes.h5
(v2 with hg19 and mm10: needs the genome option). Gzip files are written with mtime 0 so
reruns are byte-identical.
"""
import argparse
import gzip
import io
import os
import shutil

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

N_CELLS, N_GENES = 30, 50


def shortest(x, single):
    """Integral values as integers, others the shortest %g text that reads back to the same
    float (what the C reader prints)."""
    if np.isnan(x):
        return ""
    if float(x) == int(x) and abs(x) < 2.0 ** 53:
        return "%d" % int(x)
    t = np.float32 if single else np.float64
    for p in range(1, 18):
        s = "%.*g" % (p, float(x))
        if t(float(s)) == t(x):
            return s
    return "%.17g" % float(x)


def load(shared):
    d = os.path.join(shared, "human", "pbmc4k_labeled")
    m = scipy.io.mmread(os.path.join(d, "matrix.mtx.gz")).tocsc()  # genes x cells
    genes = open(os.path.join(d, "genes.tsv")).read().split("\n")[:-1]
    cells = open(os.path.join(d, "barcodes.tsv")).read().split()
    lab = pd.read_csv(os.path.join(d, "labels.tsv"), sep="\t", index_col=0)["label"].to_dict()
    total = (m.shape[1], m.shape[0], m.nnz, int(m.sum()))
    sub = m[:, :N_CELLS].T.tocsr()  # cells x all genes
    nz = np.flatnonzero(np.asarray(sub.sum(axis=0)).ravel() > 0)
    zero = [g for g in range(200) if sub[:, g].sum() == 0][:3]
    keep = np.array(zero + list(nz[: N_GENES - 3]))
    x = sub[:, keep].toarray().astype(np.int64)
    g = [genes[i] for i in keep]
    c = cells[:N_CELLS]
    return x, g, c, [lab.get(b, "") for b in c], total


def ensembl_ids(shared, genes):
    t = pd.read_csv(os.path.join(shared, "genes", "human_ensembl_genes.csv.gz"), usecols=["gene_id", "gene_name"])
    first = t.drop_duplicates("gene_name").set_index("gene_name")["gene_id"].to_dict()
    out, seen = [], set()
    for i, g in enumerate(genes):
        e = first.get(g.strip(), "ENSGFAKE%05d" % i).split(".")[0]
        if e in seen:
            e = "%s_%d" % (e, i)
        seen.add(e)
        out.append(e)
    return out


def obs_frame(x, cells, labels):
    n = len(cells)
    obs = pd.DataFrame(index=pd.Index(cells, name="barcode"))
    obs["label"] = pd.Categorical(labels)
    obs["n_counts"] = x.sum(axis=1).astype(np.float32)
    obs["n_genes"] = (x > 0).sum(axis=1).astype(np.int64)
    obs["filter_pass"] = np.arange(n) % 4 != 3
    obs["note"] = ["note_%s" % b for b in cells]  # unique strings: stays a string-array
    obs["score"] = np.linspace(0.1, 3.1, n)
    obs.loc[obs.index[2], "score"] = np.nan
    obs["flag"] = pd.array([True, False, None] * (n // 3), dtype="boolean")
    obs["nint"] = pd.array([1, None, -3] * (n // 3), dtype="Int64")
    return obs


def obs_expected(obs):
    rows = []
    for col in obs.columns:
        v = obs[col]
        if col == "label" or col == "note":
            vals = [str(s) for s in v]
        elif col == "n_counts":
            vals = [shortest(s, True) for s in v]
        elif col == "score":
            vals = [shortest(s, False) for s in v]
        elif col == "filter_pass":
            vals = ["1" if s else "0" for s in v]
        elif col == "flag":
            vals = ["" if pd.isna(s) else ("1" if s else "0") for s in v]
        else:
            vals = ["" if pd.isna(s) else str(int(s)) for s in v]
        rows.append(col + "\t" + "\t".join(vals))
    return "\n".join(rows) + "\n"


def write_lines(path, items):
    with open(path, "w") as f:
        f.write("".join("%s\n" % s for s in items))


def write_h5ads(out, x, genes, ens, cells, obs):
    var = pd.DataFrame(index=pd.Index(genes, name="symbol"))
    var["ensembl_id"] = ens
    var["feature_type"] = pd.Categorical(["Gene Expression"] * len(genes))
    xf = x.astype(np.float32)
    a = ad.AnnData(X=xf * 2, obs=obs, var=var)
    a.layers["counts"] = sp.csr_matrix(x.astype(np.int32))
    a.raw = ad.AnnData(X=sp.csr_matrix(xf * 3), obs=obs, var=var)
    a.write_h5ad(os.path.join(out, "dense_layers.h5ad"))
    ad.AnnData(X=sp.csr_matrix(xf), obs=obs, var=var).write_h5ad(os.path.join(out, "csr.h5ad"))
    ad.AnnData(X=sp.csc_matrix(x.astype(np.float64)), obs=obs, var=var, dtype=np.float64).write_h5ad(os.path.join(out, "csc.h5ad"))


def vlen(f, name, items):
    f.create_dataset(name, data=np.array(items, dtype=object), dtype=h5py.string_dtype())


def write_h5ad_07(path, x, genes, cells, labels):
    """anndata 0.7 layout: no root attrs, dataframe 0.1.0 with __categories object refs."""
    m = sp.csr_matrix(x.astype(np.float32))
    with h5py.File(path, "w") as f:
        g = f.create_group("X")
        g.attrs["encoding-type"] = "csr_matrix"
        g.attrs["encoding-version"] = "0.1.0"
        g.attrs["shape"] = np.array(m.shape, dtype=np.int64)
        g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr
        for name, index, cols in (("obs", cells, ["label", "n_counts"]), ("var", genes, [])):
            df = f.create_group(name)
            df.attrs["encoding-type"] = "dataframe"
            df.attrs["encoding-version"] = "0.1.0"
            df.attrs["_index"] = "_index"
            df.attrs["column-order"] = np.array(cols, dtype=object) if cols else np.array([], dtype=np.float64)
            vlen(df, "_index", index)
        cats = sorted(set(labels))
        f["obs"].create_group("__categories")
        vlen(f["obs/__categories"], "label", cats)
        f["obs/__categories/label"].attrs["ordered"] = False
        f["obs"]["label"] = np.array([cats.index(s) for s in labels], dtype=np.int8)
        f["obs/label"].attrs["categories"] = f["obs/__categories/label"].ref
        f["obs"]["n_counts"] = x.sum(axis=1).astype(np.float32)


def write_h5ad_legacy(path, x, genes, cells, labels):
    """anndata < 0.7: compound obs/var, categories in uns, h5sparse attrs."""
    m = sp.csr_matrix(x.astype(np.float32))
    cats = sorted(set(labels))
    with h5py.File(path, "w") as f:
        g = f.create_group("X")
        g.attrs["h5sparse_format"] = "csr"
        g.attrs["h5sparse_shape"] = np.array(m.shape)
        g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr
        ot = np.dtype([("index", "S32"), ("label", np.int8), ("n_counts", np.float32)])
        obs = np.zeros(len(cells), dtype=ot)
        obs["index"] = [c.encode() for c in cells]
        obs["label"] = [cats.index(s) for s in labels]
        obs["n_counts"] = x.sum(axis=1)
        f["obs"] = obs
        vt = np.dtype([("index", h5py.string_dtype())])
        var = np.zeros(len(genes), dtype=vt)
        var["index"] = genes
        f["var"] = var
        f["uns/label_categories"] = np.array([c.encode() for c in cats])


def write_tenx(out, x, genes, ens, cells):
    m = sp.csc_matrix(x.T.astype(np.int32))  # genes x cells, CSC by cell
    fs = lambda a, w: np.array([s.encode() for s in a], dtype="S%d" % w)
    with h5py.File(os.path.join(out, "tenx_v3.h5"), "w") as f:
        f.attrs["filetype"] = "matrix"
        f.attrs["version"] = 2
        g = f.create_group("matrix")
        g.create_dataset("barcodes", data=fs(cells, 18), compression="gzip", shuffle=True)
        g.create_dataset("data", data=m.data, compression="gzip", shuffle=True)
        g.create_dataset("indices", data=m.indices.astype(np.int64), compression="gzip", shuffle=True)
        g.create_dataset("indptr", data=m.indptr.astype(np.int64))
        g["shape"] = np.array(m.shape, dtype=np.int32)
        ft = g.create_group("features")
        ft["id"], ft["name"] = fs(ens, 256), fs(genes, 256)
        ft["feature_type"] = fs(["Gene Expression"] * len(genes), 256)
        ft["genome"] = fs(["GRCh38"] * len(genes), 256)
        ft["_all_tag_keys"] = fs(["genome"], 256)
    with h5py.File(os.path.join(out, "tenx_v2.h5"), "w") as f:
        g = f.create_group("GRCh38")
        g["barcodes"], g["genes"], g["gene_names"] = fs(cells, 18), fs(ens, 20), fs(genes, 32)
        g["data"], g["indices"] = m.data, m.indices.astype(np.int64)
        g["indptr"], g["shape"] = m.indptr.astype(np.int64), np.array(m.shape, dtype=np.int32)


def write_loom(path, x, genes, ens, cells, labels):
    with h5py.File(path, "w") as f:
        f.create_dataset("matrix", data=x.T.astype(np.float32), chunks=(8, 8), compression="gzip")
        f.create_group("layers").create_dataset("double", data=(2 * x.T).astype(np.int32), chunks=(8, 8))
        ra, ca = f.create_group("row_attrs"), f.create_group("col_attrs")
        vlen(ra, "Gene", genes)
        vlen(ra, "Accession", ens)
        vlen(ca, "CellID", cells)
        vlen(ca, "label", labels)
        ca["n_counts"] = x.sum(axis=1).astype(np.float32)
        ca["filter_pass"] = (np.arange(len(cells)) % 4 != 3).astype(np.uint8)
        for gname in ("row_graphs", "col_graphs", "attrs"):
            f.create_group(gname)
        f["attrs"].create_dataset("LOOM_SPEC_VERSION", data="3.0.0", dtype=h5py.string_dtype())


def write_mtx_dir(d, x, genes, ens, cells, labels, gz, three_col, shuffle):
    os.makedirs(d, exist_ok=True)
    coo = sp.coo_matrix(x.T)  # genes x cells
    rows, cols, vals = coo.row + 1, coo.col + 1, coo.data
    order = np.lexsort((rows, cols))  # by cell, then gene (Cell Ranger order)
    ent = [(r, c, v) for r, c, v in zip(rows[order], cols[order], vals[order])]
    if shuffle:
        rng = np.random.default_rng(7)
        big = [i for i, e in enumerate(ent) if e[2] >= 3]
        r, c, v = ent[big[0]]
        ent[big[0]] = (r, c, v - 1)
        ent.append((r, c, 1))  # a duplicate entry: summed by readers (scipy semantics)
        ent = [ent[i] for i in rng.permutation(len(ent))]
    # mtime=0: byte-identical output on every run
    op = (lambda p: io.TextIOWrapper(gzip.GzipFile(p + ".gz", "wb", mtime=0))) if gz else (lambda p: open(p, "w"))
    with op(os.path.join(d, "matrix.mtx")) as f:
        f.write("%%MatrixMarket matrix coordinate integer general\n%metadata_json: {}\n")
        f.write("%d %d %d\n" % (len(genes), len(cells), len(ent)))
        f.write("".join("%d %d %d\n" % e for e in ent))
    if three_col:
        with op(os.path.join(d, "features.tsv")) as f:
            f.write("".join("%s\t%s\tGene Expression\n" % (e, g) for e, g in zip(ens, genes)))
    else:
        write_lines(os.path.join(d, "genes.tsv"), genes)
    with op(os.path.join(d, "barcodes.tsv")) as f:
        f.write("".join(c + "\n" for c in cells))
    with open(os.path.join(d, "labels.tsv"), "w") as f:
        f.write("barcode\tlabel\n")
        f.write("".join("%s\t%s\n" % (c, l) for c, l in list(zip(cells, labels))[::-1] if c != cells[5]))


def write_csvs(out, x, genes, cells):
    pd.DataFrame(x, index=cells, columns=genes).to_csv(os.path.join(out, "cells_rows.csv"))
    pd.DataFrame(x.T, index=genes, columns=cells).to_csv(os.path.join(out, "genes_rows.tsv"), sep="\t")


def write_bad(out):
    """Tiny corrupt h5ad files (3 cells x 4 genes)."""
    x = sp.csr_matrix(np.array([[1, 0, 2, 0], [0, 0, 0, 3], [4, 5, 0, 0]], dtype=np.float32))
    base = os.path.join(out, "tiny.h5ad")
    ad.AnnData(X=x, obs=pd.DataFrame(index=["c0", "c1", "c2"]), var=pd.DataFrame(index=list("ABCD"))).write_h5ad(base)
    edits = {"bad_indptr": ("X/indptr", np.array([0, 2, 1, 5], dtype=np.int32)),
             "bad_index": ("X/indices", np.array([0, 2, 3, 0, 4], dtype=np.int32)),
             "bad_nan": ("X/data", np.array([1, np.nan, 3, 4, 5], dtype=np.float32)),
             "bad_neg": ("X/data", np.array([1, 2, 3, -4, 5], dtype=np.float32))}
    for name, (ds, val) in edits.items():
        p = os.path.join(out, name + ".h5ad")
        shutil.copy(base, p)
        with h5py.File(p, "r+") as f:
            f[ds][...] = val
    # X's shape attribute disagrees with var (5 genes claimed, var has 4)
    p = os.path.join(out, "bad_shape.h5ad")
    shutil.copy(base, p)
    with h5py.File(p, "r+") as f:
        f["X"].attrs["shape"] = np.array([3, 5], dtype=np.int64)
    # dense X with 3 columns while var has 4 genes
    p = os.path.join(out, "bad_dense_shape.h5ad")
    shutil.copy(base, p)
    with h5py.File(p, "r+") as f:
        del f["X"]
        f["X"] = x.toarray()[:, :3]
    # a dense X that anndata reads: with the CSR variants above it gives the same matrix
    ad.AnnData(X=x.toarray(), obs=pd.DataFrame(index=["c0", "c1", "c2"]),
               var=pd.DataFrame(index=list("ABCD"))).write_h5ad(os.path.join(out, "tiny_dense.h5ad"))
    # 10x v2 file with two genomes (needs the genome option)
    m = sp.csc_matrix(x.toarray().T.astype(np.int32))
    with h5py.File(os.path.join(out, "tenx_two_genomes.h5"), "w") as f:
        for gname, genes in (("hg19", ["A", "B", "C", "D"]), ("mm10", ["a", "b", "c", "d"])):
            g = f.create_group(gname)
            g["barcodes"] = np.array([b"c0", b"c1", b"c2"])
            g["genes"] = np.array([s.encode() for s in genes])
            g["gene_names"] = np.array([s.encode() for s in genes])
            g["data"], g["indices"] = m.data, m.indices.astype(np.int64)
            g["indptr"], g["shape"] = m.indptr.astype(np.int64), np.array(m.shape, dtype=np.int32)
    # loom with a negative value and a csv with a NaN
    with h5py.File(os.path.join(out, "bad_neg.loom"), "w") as f:
        f["matrix"] = np.array([[1, 0, -2], [0, 3, 0]], dtype=np.float32)  # 2 genes x 3 cells
        for gname in ("row_attrs", "col_attrs", "row_graphs", "col_graphs", "layers", "attrs"):
            f.create_group(gname)
        vlen(f["row_attrs"], "Gene", ["G1", "G2"])
        vlen(f["col_attrs"], "CellID", ["c0", "c1", "c2"])
    with open(os.path.join(out, "bad_nan.csv"), "w") as f:
        f.write(",A,B\nc0,1,2\nc1,nan,3\n")
    with open(os.path.join(out, "bad_number.csv"), "w") as f:
        f.write(",A,B\nc0,1,2\nc1,4,x7\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("SCFM_SHARED_DATA", "../shared/data"))
    ap.add_argument("--out", default="tests/fixtures/io")
    a = ap.parse_args()
    out = a.out
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    x, genes, cells, labels, total = load(a.shared)
    ens = ensembl_ids(a.shared, genes)
    obs = obs_frame(x, cells, labels)
    write_lines(os.path.join(out, "expected_matrix.txt"), [" ".join(str(v) for v in row) for row in x])
    write_lines(os.path.join(out, "expected_genes.txt"), genes)
    write_lines(os.path.join(out, "expected_ids.txt"), ens)
    write_lines(os.path.join(out, "expected_cells.txt"), cells)
    write_lines(os.path.join(out, "expected_labels.txt"), labels)
    with open(os.path.join(out, "expected_obs.tsv"), "w") as f:
        f.write(obs_expected(obs))
    with open(os.path.join(out, "pbmc4k_total.txt"), "w") as f:
        f.write("%d %d %d %d\n" % total)
    write_h5ads(out, x, genes, ens, cells, obs)
    write_h5ad_07(os.path.join(out, "anndata07.h5ad"), x, genes, cells, labels)
    write_h5ad_legacy(os.path.join(out, "legacy.h5ad"), x, genes, cells, labels)
    write_tenx(out, x, genes, ens, cells)
    write_loom(os.path.join(out, "cells.loom"), x, genes, ens, cells, labels)
    write_mtx_dir(os.path.join(out, "mtx_gz"), x, genes, ens, cells, labels, True, True, False)
    write_mtx_dir(os.path.join(out, "mtx_plain"), x, genes, ens, cells, labels, False, False, True)
    write_csvs(out, x, genes, cells)
    write_bad(out)
    # check the h5ad files read back in anndata as written
    for name, k in (("csr.h5ad", 1), ("csc.h5ad", 1), ("dense_layers.h5ad", 2)):
        r = ad.read_h5ad(os.path.join(out, name))
        got = r.X.toarray() if sp.issparse(r.X) else r.X
        assert np.array_equal(got, k * x), name
    assert np.array_equal(ad.read_h5ad(os.path.join(out, "anndata07.h5ad")).X.toarray(), x)
    print("wrote", out, "total", total)


if __name__ == "__main__":
    main()
