#!/usr/bin/env python3
"""Independent numpy/scipy implementation of scfm's rank-value tokenizer (docs/computation.md),
used by tests/cli/tokenize_*.sh and bench/bench_tokenize.sh to check `scfm tokenize` cell for
cell. It shares no code with the C path: matrices are read with scipy.io.mmread, dictionaries
with gzip/csv, and the corpus (for --compare) with scripts/corpus_to_numpy.py.

Rules implemented (as in docs/computation.md):
  - gene identifiers: trimmed, upper-cased, Ensembl version suffix stripped; identifiers that
    are not Ensembl IDs are mapped through the --gene-names tables (symbol -> ID; when a
    symbol maps to several IDs the first row of the first table wins); a symbol that maps to
    no ID is kept as it is when the vocabulary holds it (vocabularies keyed by symbols);
  - optional orthologs (--to-species): BioMart csv, stable-ID columns or, when it has none,
    gene-name columns (titles compared lower-cased with '.'/'_' as spaces, so R's spellings
    work); one2one rows, or with --all-orthologs any ortholog_* row; or HCOP tsv (support_n >=
    --ortholog-min-support). Pairs unique on both sides (one2one) or on the source side
    (--all-orthologs: several sources may share a target, their counts are summed);
  - n_counts = sum over all genes of the file; duplicate IDs summed; genes outside the
    vocabulary (or without a median) dropped; x = counts / n * 10000 / median (n = n_counts,
    or the vocabulary sum with --norm vocab-sum); non-zero, descending, ties by ascending
    token id; V1 <= max_len genes, V2 <cls> + max_len-2 genes + <eos>; empty cells dropped;
  - optional values (as `scfm tokenize`): --values log2(1 + counts / median) (GeneCompass, no
    per-cell step), --values-per-cell log2(1 + x); with values, genes without a median get
    median 1 (--missing-median auto|one|drop); with --values cells are ranked by counts / median;
  - joint vocabulary (--joint DIR, written by `scfm vocab build --human ... --mouse ...`, with
    --species): genes outside the species' token range (vocab.json ranges) are dropped; for mouse
    cells, a gene with a pair in DIR/homologs.tsv is written with the pair's human token, its
    x and value computed with the mouse gene's own median; ties then break by the written id.
    A joint vocabulary keyed by symbols (tokens "human:INS", "mouse:INS1") is looked up with
    the cells' symbols qualified by --species.

Usage:
  tokenize_reference.py --vocab V --medians M [--gene-names G]... [--mode v1|v2] [--max-len N]
      [--to-species human|mouse --orthologs F [--ortholog-min-support N]] [--norm n_counts|vocab-sum]
      [--all-orthologs] [--values | --values-per-cell] [--missing-median auto|one|drop]
      [--joint DIR --species human|mouse] [--out ref.npz] [--stats stats.json]
      [--compare CORPUS] INPUT...          (INPUT: a 10x mtx folder, or an .h5ad file read with anndata)
Prints per input: genes, genes reaching the vocabulary, share of counts reaching it.
--compare exits 1 unless the corpus holds exactly the same cells, tokens (and values within
1 ulp of float32) in the same order.
"""
import argparse
import csv
import gzip
import io
import json
import os
import re
import sys
import time

import numpy as np
import scipy.io
import scipy.sparse as sp

ENS_RE = re.compile(r"^ENS[A-Z]*G\d+$")
VERSION_RE = re.compile(r"^(ENS[A-Z]*G\d+)\.\d+$")


def opentext(path):
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def norm_id(s):
    s = s.strip().upper()
    m = VERSION_RE.match(s)
    return m.group(1) if m else s


def read_kv(path):
    """key<TAB>value lines (Geneformer dictionary dumps, scfm vocab.tsv / medians.tsv)."""
    out = []
    with opentext(path) as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line:
                continue
            k, v = line.split("\t")[:2]
            out.append((k, v))
    return out


def load_vocab(path):
    return {k: int(v) for k, v in read_kv(path)}


def load_medians(path, vocab):
    med = np.full(max(vocab.values()) + 1, np.nan)
    for k, v in read_kv(path):
        if k in vocab:
            med[vocab[k]] = float(v)
    return med


def load_gene_names(paths):
    m = {}
    for p in paths:
        if ".csv" in os.path.basename(p):
            with opentext(p) as f:
                for row in csv.DictReader(f):
                    key = norm_id(row["gene_name"])
                    if key and key not in m:
                        m[key] = norm_id(row["gene_id"])
        else:
            for k, v in read_kv(p):
                key = norm_id(k)
                if key not in m:
                    m[key] = norm_id(v)
    return m


def unique_pairs(pairs, one2one):
    pairs = sorted(set(pairs))
    ns, nd = {}, {}
    for s, d in pairs:
        ns[s] = ns.get(s, 0) + 1
        nd[d] = nd.get(d, 0) + 1
    return {s: d for s, d in pairs if ns[s] == 1 and (nd[d] == 1 or not one2one)}


def load_orthologs_biomart(path, src, dst, one2one=True):
    """Returns (map, by_symbol)."""
    with opentext(path) as f:
        rows = list(csv.reader(f))
    head = [h.lower().replace(".", " ").replace("_", " ") for h in rows[0]]
    for key in ("gene stable id", "gene name"):
        partner = [i for i, h in enumerate(head) if h.endswith(" " + key) and h != key]
        if key in head and partner:
            break
    else:
        sys.exit(f"tokenize_reference: {path}: no BioMart gene columns")
    g, p = head.index(key), partner[-1]
    species = head[p][: -len(key) - 1]
    t = head.index(f"{species} homology type")
    a, b = (g, p) if species == dst else (p, g)  # the file's gene column is the other species
    by_symbol = key == "gene name"
    pairs = []
    for r in rows[1:]:
        if len(r) <= max(a, b, t):
            continue
        typ = r[t]
        if not (typ == "ortholog_one2one" if one2one else typ.startswith("ortholog_")):
            continue
        x, y = norm_id(r[a]), norm_id(r[b])
        if (x and y) if by_symbol else (ENS_RE.match(x) and ENS_RE.match(y)):
            pairs.append((x, y))
    return unique_pairs(pairs, one2one), by_symbol


def load_orthologs_hcop(path, src, dst, min_support):
    pairs = []
    with opentext(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if int(row["support_n"] or 0) < min_support or not row["human_ensembl"] or not row["ensembl"]:
                continue
            h, m = norm_id(row["human_ensembl"]), norm_id(row["ensembl"])
            pairs.append((h, m) if src == "human" else (m, h))
    return unique_pairs(pairs, True)


def resolve(genes, vocab, names, orth, med, orth_by_symbol=False, prefix=None):
    vid = np.full(len(genes), -1, np.int64)
    for i, g in enumerate(genes):
        gid = norm_id(g)
        if not (orth is not None and orth_by_symbol) and not ENS_RE.match(gid):
            if gid in names:
                gid = names[gid]
            elif prefix and orth is None:
                gid = prefix + gid
            elif orth is not None or gid not in vocab:
                continue
        if orth is not None:
            gid = orth.get(gid)
            if gid is None:
                continue
        v = vocab.get(gid, -1)
        if v >= 0 and np.isfinite(med[v]) and med[v] > 0:
            vid[i] = v
    return vid


def read_mtx_dir(d):
    def find(*names):
        for n in names:
            for ext in ("", ".gz"):
                p = os.path.join(d, n + ext)
                if os.path.exists(p):
                    return p
        raise FileNotFoundError(f"{d}: none of {names}")
    X = scipy.io.mmread(find("matrix.mtx")).tocsc()  # genes x cells
    with opentext(find("features.tsv", "genes.tsv")) as f:
        genes = [ln.rstrip("\r\n").split("\t")[0] for ln in f if ln.rstrip("\r\n")]
    with opentext(find("barcodes.tsv")) as f:
        barcodes = [ln.rstrip("\r\n").split("\t")[0] for ln in f if ln.rstrip("\r\n")]
    return X.T.tocsr(), genes, barcodes  # cells x genes


def load_joint(d, species, n_vocab):
    """Token range of `species` and the token each of its vocabulary ids is written with."""
    with open(os.path.join(d, "vocab.json"), encoding="utf-8") as f:
        lo, hi = json.load(f)["ranges"][species]
    written = np.arange(n_vocab, dtype=np.int64)
    if species == "mouse":
        with open(os.path.join(d, "homologs.tsv"), encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        assert rows[0] == ["human_token", "mouse_token", "human_id", "mouse_id"], rows[0]
        for r in rows[1:]:
            written[int(r[1])] = int(r[0])
    return lo, hi, written


def read_input(path):
    if path.endswith(".h5ad"):
        import anndata
        ad = anndata.read_h5ad(path)
        return sp.csr_matrix(ad.X), list(ad.var_names), list(ad.obs_names)
    return read_mtx_dir(path)


def tokenize_matrix(X, vid, med, a, cls, eos, written=None):
    """X: CSR cells x genes (float64 counts). Returns list of (tokens, values) per cell.
    written: token id each vocabulary id is written with (joint vocabularies), None = itself."""
    n_cells = X.shape[0]
    total = np.asarray(X.sum(axis=1)).ravel()
    keep = vid >= 0
    A = sp.csr_matrix((np.ones(keep.sum()), (np.nonzero(keep)[0], vid[keep])), shape=(X.shape[1], len(med)))
    Xv = (X @ A).tocsr()  # cells x vocab ids, duplicates summed
    Xv.sort_indices()
    vsum = np.asarray(Xv.sum(axis=1)).ravel()
    max_genes = a.max_len - 2 if a.mode == "v2" else a.max_len
    out = []
    for c in range(n_cells):
        lo, hi = Xv.indptr[c], Xv.indptr[c + 1]
        ids, cnt = Xv.indices[lo:hi], Xv.data[lo:hi]
        nz = cnt > 0
        ids, cnt = ids[nz], cnt[nz]
        if len(ids) == 0:
            out.append(None)
            continue
        n = vsum[c] if a.norm == "vocab-sum" else total[c]
        x = cnt / n * 10000.0 / med[ids]
        out_ids = written[ids] if written is not None else ids
        key = cnt / med[ids] if a.values and not a.values_per_cell else x  # GeneCompass: by value
        order = np.lexsort((out_ids, -key))[:max_genes]
        toks = out_ids[order].astype(np.int32)
        vals = None
        if a.values:
            v = x[order] if a.values_per_cell else cnt[order] / med[ids[order]]
            vals = np.log2(1.0 + v).astype(np.float32)
        if a.mode == "v2":
            toks = np.concatenate([[cls], toks, [eos]]).astype(np.int32)
            if vals is not None:
                vals = np.concatenate([[0.0], vals, [0.0]]).astype(np.float32)
        out.append((toks, vals))
    return out, total, vsum


def compare(ref, corpus_dir):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from corpus_to_numpy import read_corpus
    c = read_corpus(corpus_dir)
    if len(c["offsets"]) - 1 != len(ref["cells"]):
        print(f"compare: corpus has {len(c['offsets']) - 1} cells, reference {len(ref['cells'])}", file=sys.stderr)
        return 1
    bad = 0
    for i, (cid, toks, vals) in enumerate(ref["cells"]):
        got = c["tokens"][c["offsets"][i]:c["offsets"][i + 1]]
        ok = c["cell_ids"][i] == cid and np.array_equal(got, toks)
        if ok and vals is not None:
            gv = c["values"][c["offsets"][i]:c["offsets"][i + 1]]
            ok = np.all(np.abs(gv.view(np.int32).astype(np.int64) - vals.view(np.int32).astype(np.int64)) <= 1)
        if not ok:
            bad += 1
            if bad <= 3:
                print(f"compare: cell {i} ({cid}) differs: corpus {c['cell_ids'][i]} {got[:10]}... "
                      f"reference {toks[:10]}...", file=sys.stderr)
    print(f"compare: {len(ref['cells'])} cells, {bad} differ")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description="numpy reference rank-value tokenizer")
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--medians", required=True)
    ap.add_argument("--gene-names", action="append", default=[])
    ap.add_argument("--mode", choices=["v1", "v2"], default="v1")
    ap.add_argument("--max-len", type=int)
    ap.add_argument("--to-species", choices=["human", "mouse"])
    ap.add_argument("--orthologs")
    ap.add_argument("--ortholog-min-support", type=int, default=0)
    ap.add_argument("--all-orthologs", action="store_true")
    ap.add_argument("--norm", choices=["n_counts", "vocab-sum"], default="n_counts")
    ap.add_argument("--values", action="store_true")
    ap.add_argument("--values-raw-median", action="store_true")
    ap.add_argument("--values-per-cell", action="store_true")
    ap.add_argument("--missing-median", choices=["auto", "one", "drop"], default="auto")
    ap.add_argument("--joint")
    ap.add_argument("--species", choices=["human", "mouse"])
    ap.add_argument("--out")
    ap.add_argument("--stats")
    ap.add_argument("--compare")
    a = ap.parse_args()
    a.max_len = a.max_len or (4096 if a.mode == "v2" else 2048)
    a.values = a.values or a.values_raw_median or a.values_per_cell
    t0 = time.time()
    vocab = load_vocab(a.vocab)
    med = load_medians(a.medians, vocab)
    if a.missing_median == "one" or (a.missing_median == "auto" and a.values):
        for tok, i in vocab.items():
            if not tok.startswith("<") and not (med[i] > 0):
                med[i] = 1.0
    written, prefix = None, None
    if a.joint:
        if any(":" in t for t in vocab):
            prefix = a.species + ":"
        lo, hi, written = load_joint(a.joint, a.species, len(med))
        outside = np.ones(len(med), bool)
        outside[lo:hi] = False
        med[outside] = np.nan
    names = load_gene_names(a.gene_names)
    orth, by_symbol = None, False
    if a.to_species:
        src = "mouse" if a.to_species == "human" else "human"
        if "hcop" in os.path.basename(a.orthologs).lower() or a.orthologs.endswith((".tsv", ".tsv.gz")):
            orth = load_orthologs_hcop(a.orthologs, src, a.to_species, a.ortholog_min_support)
        else:
            orth, by_symbol = load_orthologs_biomart(a.orthologs, src, a.to_species, not a.all_orthologs)
    cls, eos = vocab.get("<cls>", -1), vocab.get("<eos>", -1)
    if a.mode == "v2" and (cls < 0 or eos < 0):
        sys.exit("tokenize_reference: V2 needs <cls> and <eos> in the vocabulary")
    cells, stats, n_in = [], [], 0
    for path in a.inputs:
        X, genes, barcodes = read_input(path)
        X = X.astype(np.float64)
        vid = resolve(genes, vocab, names, orth, med, by_symbol, prefix)
        res, total, vsum = tokenize_matrix(X, vid, med, a, cls, eos, written)
        kept = 0
        for bc, r in zip(barcodes, res):
            if r is not None:
                cells.append((bc, r[0], r[1]))
                kept += 1
        n_in += len(barcodes)
        share = float(vsum.sum() / total.sum()) if total.sum() > 0 else 0.0
        s = {"path": path, "n_cells_in": len(barcodes), "n_cells_kept": kept, "genes_in": len(genes),
             "genes_in_vocab": int((vid >= 0).sum()), "count_share_in_vocab": share}
        stats.append(s)
        print(f"reference: {path}: {len(barcodes)} cells, {len(genes)} genes, {s['genes_in_vocab']} reach the "
              f"vocabulary, {100 * share:.2f}% of counts; {kept} cells kept")
    dt = time.time() - t0
    print(f"reference: {n_in} cells in {dt:.2f} s ({n_in / dt:.1f} cells/s)")
    if a.stats:
        with open(a.stats, "w") as f:
            json.dump({"sources": stats, "seconds": dt, "n_cells_in": n_in}, f, indent=1)
    if a.out:
        lens = np.array([len(t) for _, t, _ in cells], np.int64)
        arrs = {"offsets": np.concatenate([[0], np.cumsum(lens)]),
                "tokens": np.concatenate([t for _, t, _ in cells]) if cells else np.zeros(0, np.int32),
                "cell_ids": np.array([c for c, _, _ in cells])}
        if a.values and cells:
            arrs["values"] = np.concatenate([v for _, _, v in cells])
        np.savez(a.out, **arrs)
    if a.compare:
        return compare({"cells": cells}, a.compare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
