#!/usr/bin/env python3
"""Writes the prior-table fixtures to tests/fixtures/prior/ (used by tests/test_prior_table.c).

Regenerate (from the repository root):
    .venv/bin/python scripts/make_prior_fixtures.py

One small gene -> vector table (8 rows, width 6, float32 values from numpy's generator) is
written in every format scfm_prior_table_load reads, with the keys spelled in different
ways (Ensembl IDs, versioned or lower-case IDs, symbols), by numpy / pickle / safetensors
themselves:
    prior.tsv              IDs (two versioned / lower case), header line
    prior_sym.tsv.gz       symbols (needs names.tsv), gzip, '#' header
    prior.npy              float32 [8, 6], keys in prior.genes.txt
    prior_f64.npy          big-endian float64, Fortran order, keys in prior_f64.genes.tsv (with header)
    prior.safetensors      F32, keys in __metadata__["genes"]
    prior_sib.safetensors  F64, keys in prior_sib.genes.txt
    prior.pkl              pickle.dump (default protocol) of {symbol: float32 ndarray}, GeneCompass style
    prior_npstr.pkl        the same with numpy str keys (numpy.str_ scalars, as from an array of names)
    prior_p5.pkl           protocol 5 (numpy's _frombuffer path), {ID: float64 ndarray}
    prior_p2.pkl           protocol 2, {ID: big-endian float32 ndarray}
vocab.tsv is the vocabulary (3 specials, 8 genes, two of them absent from the table),
names.tsv the symbol -> ID map, expected.tsv the expected [V, 6] matrix: one line per token
id: id, kind (file / zero / random), and for file rows the 6 values (repr of the float32).
bad_*: inputs that must be rejected (see the C test for the expected messages).

With shared data (--shared DIR, default ../shared/data, skipped when absent), real.tsv holds
what scfm must find for a table keyed by the real symbols of human/pbmc1k_v3/genes.tsv
(14,688 as published: duplicates, odd names) against Geneformer V1's vocabulary and
gene_name_id_dict, computed here with Python's own dicts (independently of the C code):
    dup   <row a> <row b>    the first pair of rows (1-based) that reach the same gene
    drop  <row>              rows to leave out for a duplicate-free table
    count <matched> <unknown> <random> <special>
    digest <hex>             sum over matched vocabulary ids i of (i + 1) * (kept row + 1), mod 2^64
The C test writes the table itself (row r, 0-based among kept rows: values r, -12345, r % 7).
"""
import argparse
import re
import gzip
import io
import json
import os
import pickle

import numpy as np
from safetensors.numpy import save_file

OUT = "tests/fixtures/prior"
D = 6

VOCAB = ["<pad>", "<mask>", "<cls>",
         "ENSG00000000003", "ENSG00000000005", "ENSG00000000419", "ENSG00000000457",
         "ENSG00000000460", "ENSMUSG00000000001", "ENSMUSG00000000003", "ENSG00000000938"]
SYMBOL = {"ENSG00000000003": "TSPAN6", "ENSG00000000005": "TNMD", "ENSG00000000419": "DPM1",
          "ENSG00000000457": "SCYL3", "ENSG00000000460": "C1orf112", "ENSMUSG00000000001": "Gnai3",
          "ENSMUSG00000000003": "Pbsn", "ENSG00000000938": "FGR"}
# table rows (file order): six vocabulary genes and two keys outside the vocabulary
ROWS = ["ENSG00000000457", "ENSG00000000003", "ENSMUSG00000000001", "ENSG00000000938",
        "ENSG00000999999", "ENSG00000000005", "ENSG00000000419", "NOTAGENE"]
SPELL_ID = {"ENSG00000000005": "ensg00000000005.7", "ENSG00000000938": "ENSG00000000938.12"}


def w(name):
    return os.path.join(OUT, name)


def id_keys():
    return [SPELL_ID.get(g, g) for g in ROWS]


def sym_keys():
    return [SYMBOL.get(g, g) for g in ROWS]  # unknown keys stay as they are


def write_lines(name, lines, opener=open):
    with opener(w(name), "wt") as f:
        for line in lines:
            f.write(line + "\n")


def norm_id(s):
    s = s.strip().upper()
    head, dot, tail = s.rpartition(".")
    if dot and tail.isdigit() and is_ens(head):
        return head
    return s


def is_ens(s):
    return re.fullmatch(r"ENS[A-Z]*GR?[0-9]+", s) is not None


def real_facts(shared):
    with open(os.path.join(shared, "geneformer/v1/token_dictionary.pkl"), "rb") as f:
        tok = pickle.load(f)
    with open(os.path.join(shared, "geneformer/v1/gene_name_id_dict.pkl"), "rb") as f:
        names = pickle.load(f)
    first = {}
    for k, v in names.items():
        sym, i = norm_id(k), norm_id(v)
        if sym and is_ens(i):
            first.setdefault(sym, i)
    with open(os.path.join(shared, "human/pbmc1k_v3/genes.tsv"), encoding="utf-8") as f:
        keys = [line.rstrip("\n").rstrip("\r") for line in f]

    def resolve(key):
        for cand in (key, norm_id(key)):
            if cand in tok:
                return None if cand.startswith("<") else tok[cand]
        i = first.get(norm_id(key))
        return tok.get(i) if i is not None else None

    out, seen_norm, seen_id, drop, dup = [], {}, {}, [], None
    ids = []
    for r, key in enumerate(keys):
        n, i = norm_id(key), resolve(key)
        clash = seen_norm.get(n)
        if clash is None and i is not None:
            clash = seen_id.get(i)
        if clash is not None:
            dup = dup or (clash + 1, r + 1)
            drop.append(r)
            continue
        seen_norm[n] = r
        if i is not None:
            seen_id[i] = r
        ids.append(i)
    matched = {i: kr for kr, i in enumerate(ids) if i is not None}
    special = sum(1 for t in tok if t.startswith("<"))
    digest = sum((i + 1) * (kr + 1) for i, kr in matched.items()) % 2**64
    out.append("dup\t%d\t%d" % dup)
    out += ["drop\t%d" % (r + 1) for r in drop]
    out.append("count\t%d\t%d\t%d\t%d" % (len(matched), len(ids) - len(matched), len(tok) - len(matched) - special,
                                          special))
    out.append("digest\t%016x" % digest)
    write_lines("real.tsv", out)
    print("real.tsv: %d rows kept, %d dropped, %d matched" % (len(ids), len(drop), len(matched)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if os.path.isdir(args.shared):
        real_facts(args.shared)
    else:
        print("no shared data at %s: real.tsv not rewritten" % args.shared)
    rng = np.random.default_rng(20261202)
    m = rng.standard_normal((len(ROWS), D)).astype(np.float32)
    m[1, 0] = np.float32(1e-30)  # a tiny value and an exact zero survive every format
    m[2, 3] = 0.0
    write_lines("vocab.tsv", ["%s\t%d" % (t, i) for i, t in enumerate(VOCAB)])
    write_lines("names.tsv", ["%s\t%s" % (SYMBOL[g], g) for g in SYMBOL])

    def tsv_rows(keys):
        return ["\t".join([k] + [repr(float(x)) for x in m[i]]) for i, k in enumerate(keys)]

    write_lines("prior.tsv", ["gene\t" + "\t".join("v%d" % (j + 1) for j in range(D))] + tsv_rows(id_keys()))
    write_lines("prior_sym.tsv.gz", ["# symbol\tvector"] + tsv_rows(sym_keys()),
                opener=lambda p, m: io.TextIOWrapper(gzip.GzipFile(p, "wb", mtime=0)))  # reproducible bytes
    np.save(w("prior.npy"), m)
    write_lines("prior.genes.txt", id_keys())
    np.save(w("prior_f64.npy"), np.asfortranarray(m.astype(">f8")))
    write_lines("prior_f64.genes.tsv", ["gene_id"] + id_keys())
    save_file({"prior": m}, w("prior.safetensors"), metadata={"genes": json.dumps(id_keys())})
    save_file({"vectors": m.astype(np.float64)}, w("prior_sib.safetensors"))
    write_lines("prior_sib.genes.txt", id_keys())
    with open(w("prior.pkl"), "wb") as f:
        pickle.dump({k: m[i].copy() for i, k in enumerate(sym_keys())}, f)
    with open(w("prior_npstr.pkl"), "wb") as f:  # keys as numpy str scalars (from a numpy array of names)
        pickle.dump({k: m[i].copy() for i, k in enumerate(np.array(sym_keys()))}, f)
    with open(w("prior_p5.pkl"), "wb") as f:
        pickle.dump({k: m[i].astype(np.float64) for i, k in enumerate(id_keys())}, f, protocol=5)
    with open(w("prior_p2.pkl"), "wb") as f:
        pickle.dump({k: m[i].astype(">f4") for i, k in enumerate(id_keys())}, f, protocol=2)

    with open(w("expected.tsv"), "w") as f:
        for i, t in enumerate(VOCAB):
            if t.startswith("<"):
                f.write("%d\tzero\n" % i)
            elif t in ROWS:
                f.write("%d\tfile\t%s\n" % (i, "\t".join(repr(float(x)) for x in m[ROWS.index(t)])))
            else:
                f.write("%d\trandom\n" % i)

    # inputs that must be rejected
    keys = id_keys()
    np.save(w("bad_int.npy"), np.arange(len(ROWS) * D, dtype=np.int32).reshape(len(ROWS), D))
    write_lines("bad_int.genes.txt", keys)
    np.save(w("bad_3d.npy"), np.zeros((len(ROWS), 2, 3), np.float32))
    write_lines("bad_3d.genes.txt", keys)
    nan = m.copy()
    nan[6, 2] = np.nan  # row 7 ('ENSG00000000419')
    np.save(w("bad_nan.npy"), nan)
    write_lines("bad_nan.genes.txt", keys)
    np.save(w("bad_rows.npy"), m)
    write_lines("bad_rows.genes.txt", keys[:-1])  # one key short
    np.save(w("bad_nolist.npy"), m)                # no gene list at all
    np.save(w("bad_width0.npy"), np.zeros((len(ROWS), 0), np.float32))
    write_lines("bad_width0.genes.txt", keys)
    with open(w("bad_int.pkl"), "wb") as f:
        pickle.dump({k: np.arange(D) for k in keys}, f)
    with open(w("bad_2d.pkl"), "wb") as f:
        pickle.dump({k: np.zeros((2, 3), np.float32) for k in keys}, f)
    with open(w("bad_ragged.pkl"), "wb") as f:
        pickle.dump({k: np.zeros(D + (i == 3), np.float32) for i, k in enumerate(keys)}, f)
    with open(w("bad_list.pkl"), "wb") as f:
        pickle.dump({k: [float(x) for x in m[i]] for i, k in enumerate(keys)}, f)
    dup = {k: m[i].copy() for i, k in enumerate(keys)}
    dup["TSPAN6"] = m[0].copy()  # the symbol of ENSG00000000003, also present as an ID
    with open(w("bad_dup.pkl"), "wb") as f:
        pickle.dump(dup, f)
    save_file({"a": m, "b": m[:, :2].copy()}, w("bad_two.safetensors"), metadata={"genes": json.dumps(keys)})
    save_file({"a": m.astype(np.int64)}, w("bad_int.safetensors"), metadata={"genes": json.dumps(keys)})
    save_file({"a": m}, w("bad_genes.safetensors"), metadata={"genes": json.dumps(keys[:3])})
    print("wrote", OUT)


if __name__ == "__main__":
    main()
