#!/usr/bin/env python3
"""Independent numpy check of a joint (GeneCompass) vocabulary written by
`scfm vocab build --human ... --mouse ... --orthologs ...` (used by tests/cli/genecompass_data.sh).

Recomputes from the count matrices and the ortholog table, with scipy/numpy and the csv module:
  - per species, the genes: identifiers trimmed, upper-cased, version-stripped, symbols mapped
    through that species' gene tables (first row wins), only that species' Ensembl IDs (human
    ENSG/ENSGR, mouse ENSMUSG); duplicate IDs summed per cell; a gene is kept when it is non-zero
    in at least --min-cells cells (n_counts > 0);
  - the layout: <pad> 0, <mask> 1, human IDs sorted, mouse IDs sorted;
  - the medians: exact numpy medians of the non-zero counts / n_counts * 10000 per gene (n_counts:
    the cell's total over all genes of its file), which scfm's digests approximate within a
    relative error of 0.005;
  - the homolog pairs: BioMart rows of type ortholog_one2one (either direction of the export) or
    HCOP rows with support_n >= --ortholog-min-support, distinct pairs, kept when each gene has
    exactly one partner, then only pairs with both genes in the vocabulary; and the report counts.
  - with --symbols (data keyed by gene symbols, such as the registry's Baron pancreas): an
    identifier that is no Ensembl ID and that the tables do not map is kept as a symbol,
    qualified by its input's species ("human:INS", "mouse:INS1"); a BioMart table without
    stable-ID columns pairs gene names (R's column spellings "gene.name" read too), qualified
    the same way.
Exits 1 on any difference.

Usage: joint_vocab_reference.py VOCAB_DIR --human INPUT... --mouse INPUT... [--human-gene-names F]
       [--mouse-gene-names F] --orthologs F [--ortholog-min-support N] [--min-cells N] [--symbols]
       (INPUT: a 10x mtx folder or an .h5ad file)
"""
import argparse
import csv
import json
import os
import re
import sys

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenize_reference import ENS_RE, load_gene_names, norm_id, opentext, read_input  # noqa: E402

SPECIES_RE = {"human": re.compile(r"^ENSGR?\d+$"), "mouse": re.compile(r"^ENSMUSG\d+$")}


def species_values(dirs, names, species, min_cells, symbols=False):
    """{gene ID: sorted non-zero counts / n_counts * 10000 over the cells of dirs}."""
    vals = {}
    for d in dirs:
        X, genes, _ = read_input(d)
        X = sp.csr_matrix(X).astype(np.float64)
        total = np.asarray(X.sum(axis=1)).ravel()
        ids = []
        for g in genes:
            gid = norm_id(g)
            if not ENS_RE.match(gid):
                gid = names.get(gid) or (f"{species}:{gid}" if symbols and gid else None)
            ok = gid and (SPECIES_RE[species].match(gid) or gid.startswith(species + ":"))
            ids.append(gid if ok else None)
        uniq = sorted({i for i in ids if i})
        col = {g: k for k, g in enumerate(uniq)}
        rows = [k for k, i in enumerate(ids) if i]
        A = sp.csr_matrix((np.ones(len(rows)), (rows, [col[ids[k]] for k in rows])), shape=(len(genes), len(uniq)))
        Y = (X @ A).tocsc()  # cells x IDs, duplicates summed
        ok = total > 0
        for j, g in enumerate(uniq):
            lo, hi = Y.indptr[j], Y.indptr[j + 1]
            r, c = Y.indices[lo:hi], Y.data[lo:hi]
            m = (c > 0) & ok[r]
            if m.any():
                vals.setdefault(g, []).append(c[m] / total[r[m]] * 10000.0)
    out = {}
    for g, parts in vals.items():
        v = np.concatenate(parts)
        if len(v) >= min_cells:
            out[g] = float(np.median(v))
    return out


def ortholog_pairs(path, min_support, symbols=False):
    """Distinct (human, mouse) pairs after the row filters, and the one-to-one subset."""
    pairs = set()
    with opentext(path) as f:
        if path.endswith((".tsv", ".tsv.gz")):
            for row in csv.DictReader(f, delimiter="\t"):
                if row.get("taxon_id", "10090") != "10090":
                    continue
                if int(row["support_n"]) < min_support:
                    continue
                h, m = norm_id(row["human_ensembl"]), norm_id(row["ensembl"])
                if ENS_RE.match(h) and ENS_RE.match(m):
                    pairs.add((h, m))
        else:
            rows = csv.reader(f)
            head = [x.lower().replace(".", " ").replace("_", " ") for x in next(rows)]
            t = [i for i, x in enumerate(head) if x.endswith("homology type")][0]
            key = "gene stable id" if "gene stable id" in head else "gene name"
            by_name = key == "gene name"
            if f"mouse {key}" in head:
                hc, mc = head.index(key), head.index(f"mouse {key}")
            else:
                hc, mc = head.index(f"human {key}"), head.index(key)
            for r in rows:
                if len(r) > max(hc, mc, t) and r[t] == "ortholog_one2one" and r[hc] and r[mc]:
                    h, m = norm_id(r[hc]), norm_id(r[mc])
                    if by_name and symbols:
                        pairs.add(("human:" + h, "mouse:" + m))
                    elif ENS_RE.match(h) and ENS_RE.match(m):
                        pairs.add((h, m))
    nh, nm = {}, {}
    for h, m in pairs:
        nh[h] = nh.get(h, 0) + 1
        nm[m] = nm.get(m, 0) + 1
    return pairs, [(h, m) for h, m in pairs if nh[h] == 1 and nm[m] == 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vocab_dir")
    ap.add_argument("--human", action="append", required=True)
    ap.add_argument("--mouse", action="append", required=True)
    ap.add_argument("--human-gene-names", action="append", default=[])
    ap.add_argument("--mouse-gene-names", action="append", default=[])
    ap.add_argument("--orthologs", required=True)
    ap.add_argument("--ortholog-min-support", type=int, default=0)
    ap.add_argument("--min-cells", type=int, default=1)
    ap.add_argument("--symbols", action="store_true")
    a = ap.parse_args()
    med = {s: species_values(getattr(a, s), load_gene_names(getattr(a, s + "_gene_names")), s, a.min_cells,
                             a.symbols)
           for s in ("human", "mouse")}
    tokens = ["<pad>", "<mask>"] + sorted(med["human"]) + sorted(med["mouse"])
    bad = 0
    with open(os.path.join(a.vocab_dir, "vocab.tsv"), encoding="utf-8") as f:
        got = [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]
    if [t for t, _ in got] != tokens or [int(i) for _, i in got] != list(range(len(tokens))):
        print(f"vocab.tsv differs: {len(got)} tokens, reference {len(tokens)}")
        bad += 1
    with open(os.path.join(a.vocab_dir, "medians.tsv"), encoding="utf-8") as f:
        gm = {k: float(v) for k, v in (ln.rstrip("\n").split("\t") for ln in f if ln.strip())}
    allm = {**med["human"], **med["mouse"]}
    worst = max(abs(gm[g] / allm[g] - 1) for g in allm) if set(gm) == set(allm) else float("inf")
    if worst > 0.005 + 1e-9:
        print(f"medians differ: worst relative error {worst:.3g} (genes {len(gm)} vs {len(allm)})")
        bad += 1
    tok = {t: i for i, t in enumerate(tokens)}
    filtered, one2one = ortholog_pairs(a.orthologs, a.ortholog_min_support, a.symbols)
    kept = sorted((tok[h], tok[m], h, m) for h, m in one2one if h in tok and m in tok)
    with open(os.path.join(a.vocab_dir, "homologs.tsv"), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if rows[0] != ["human_token", "mouse_token", "human_id", "mouse_id"] or \
            [(int(r[0]), int(r[1]), r[2], r[3]) for r in rows[1:]] != kept:
        print(f"homologs.tsv differs: {len(rows) - 1} pairs, reference {len(kept)}")
        bad += 1
    with open(os.path.join(a.vocab_dir, "vocab.json"), encoding="utf-8") as f:
        j = json.load(f)
    rep = j["homolog_report"]
    want = {"kept": len(kept), "not_one2one_partners": len(filtered) - len(one2one),
            "human_gene_absent": sum(1 for h, m in one2one if h not in tok and m in tok),
            "mouse_gene_absent": sum(1 for h, m in one2one if h in tok and m not in tok),
            "both_absent": sum(1 for h, m in one2one if h not in tok and m not in tok)}
    nh = len(med["human"])
    want_json = {"vocab_size": len(tokens), "n_homologs": len(kept),
                 "ranges": {"human": [2, 2 + nh], "mouse": [2 + nh, len(tokens)]}}
    for k, v in want.items():
        if rep[k] != v:
            print(f"report {k}: {rep[k]}, reference {v}")
            bad += 1
    for k, v in want_json.items():
        if j[k] != v:
            print(f"vocab.json {k}: {j[k]}, reference {v}")
            bad += 1
    print(f"joint_vocab_reference: {nh} human + {len(med['mouse'])} mouse genes, {len(kept)} homologous pairs, "
          f"median worst relative error {worst:.2e}; {bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
