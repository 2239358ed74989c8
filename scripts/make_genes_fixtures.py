#!/usr/bin/env python3
"""Writes the genes-module fixtures to tests/fixtures/genes/ (used by tests/test_genes.c).

Regenerate (from the repository root):
    .venv/bin/python scripts/make_genes_fixtures.py [--shared ../shared/data]

expected.tsv: reference facts computed here with Python's pickle / pandas from the real files
in shared/data (independently of the C code), one per line, tab separated:
    size      <name> <n>                      vocabulary sizes, median counts
    hash      <name> <16 hex>                 FNV-1a-64 of "id\\ttoken\\n" lines (genes.h)
    tok       <name> <token> <id>             sampled tokens
    med       <name> <gene> <repr(float)>     sampled medians
    nmed      <name> <n>                      vocabulary tokens that have a median
    sym       <name> <symbol> <ensembl id>    gene-map lookups (first ID wins)
    bio       <name> <ensembl id> <biotype>
    nsym      <name> <n>                      distinct normalized symbols
    namb      <name> <n>                      symbols with more than one ID
    orth      <rule> <n>                      ortholog pairs kept under the rule
    pair      <rule> <from id> <to id>        sampled kept pairs
    nopair    <rule> <from id>                sampled dropped sources
Small pickles written by Python (protocols 2-5, numpy scalars of several dtypes and byte
orders) with their expected contents in pickles.tsv (file, key, type, value), and a few
malicious / unsupported pickles (bad_*.pkl) the reader must reject.
"""
import argparse
import os
import pickle
import random

import numpy as np
import pandas as pd

OUT = "tests/fixtures/genes"


def fnv_hash(tokens):
    h = 0xCBF29CE484222325
    for b in "".join(f"{i}\t{t}\n" for i, t in enumerate(tokens)).encode():
        h = ((h ^ b) * 0x100000001B3) % 2**64
    return f"{h:016x}"


def norm_id(s):
    s = s.strip().upper()
    head, dot, tail = s.rpartition(".")
    if dot and tail.isdigit() and is_ens(head):
        return head
    return s


def is_ens(s):
    import re
    return re.fullmatch(r"ENS[A-Z]*GR?[0-9]+", s) is not None


def vocab_facts(out, name, tok_path, med_path, rng):
    with open(tok_path, "rb") as f:
        tok = pickle.load(f)
    with open(med_path, "rb") as f:
        med = pickle.load(f)
    tokens = [None] * len(tok)
    for k, v in tok.items():
        tokens[int(v)] = k
    out.append(("size", name + "_vocab", len(tok)))
    out.append(("size", name + "_medians", len(med)))
    out.append(("hash", name, fnv_hash(tokens)))
    for k in ["<pad>", "<mask>", "<cls>", "<eos>"]:
        out.append(("tok", name, k, int(tok[k]) if k in tok else -1))
    for k in rng.sample(sorted(tok), 25) + [tokens[-1]]:
        out.append(("tok", name, k, int(tok[k])))
    for k in rng.sample(sorted(med), 25):
        out.append(("med", name, k, repr(float(med[k]))))
    out.append(("nmed", name, sum(1 for t in tokens if t in med)))


def gene_table_facts(out, name, path, rng):
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["id"] = [norm_id(x) for x in df["gene_id"]]
    df["sym"] = [x.strip().upper() for x in df["gene_name"]]
    df = df[(df["sym"] != "") & df["id"].map(is_ens)]
    first = df.drop_duplicates("sym", keep="first").set_index("sym")["id"]
    nid = df.groupby("sym")["id"].nunique()
    out.append(("nsym", name, len(first)))
    out.append(("namb", name, int((nid > 1).sum())))
    amb = sorted(nid[nid > 1].index)
    for s in rng.sample(sorted(first.index), 20) + rng.sample(amb, 5):
        out.append(("sym", name, s, first[s]))
    bt = df.drop_duplicates("id", keep="first").set_index("id")["biotype"]
    for i in rng.sample(sorted(bt.index), 10):
        out.append(("bio", name, i, bt[i]))


def dict_map_facts(out, name, path, rng):
    with open(path, "rb") as f:
        d = pickle.load(f)
    first = {}
    nids = {}
    for k, v in d.items():
        s, i = k.strip().upper(), norm_id(v)
        if not s or not is_ens(i):
            continue
        first.setdefault(s, i)
        nids.setdefault(s, set()).add(i)
    out.append(("nsym", name, len(first)))
    out.append(("namb", name, sum(1 for s in nids if len(nids[s]) > 1)))
    for s in rng.sample(sorted(first), 20):
        out.append(("sym", name, s, first[s]))


def uniq_rule(pairs, one2one):
    pairs = pairs.drop_duplicates()
    ns = pairs.groupby("src")["dst"].transform("nunique")
    nd = pairs.groupby("dst")["src"].transform("nunique")
    keep = ns == 1
    if one2one:
        keep &= nd == 1
    return pairs[keep], pairs[~keep]["src"].unique()


def ortholog_facts(out, shared, rng):
    cases = []
    for fname, fsp, psp in [("biomart_human_to_mouse.csv.gz", "human", "Mouse"),
                            ("biomart_mouse_to_human.csv.gz", "mouse", "Human")]:
        df = pd.read_csv(os.path.join(shared, "orthologs", fname), dtype=str, keep_default_na=False)
        g, p = df["Gene stable ID"], df[f"{psp} gene stable ID"]
        t = df[f"{psp} homology type"]
        conf = df[[c for c in df.columns if c.startswith(f"{psp} orthology confidence")][0]]
        for frm in ["human", "mouse"]:
            to = "mouse" if frm == "human" else "human"
            for one2one in [1, 0]:
                for minc in [0, 1]:
                    sel = (p != "") & (t == "ortholog_one2one" if one2one else t.str.startswith("ortholog_"))
                    if minc:
                        sel &= conf.map(lambda c: c.isdigit() and int(c) >= minc)
                    src, dst = (g, p) if frm == fsp else (p, g)
                    pairs = pd.DataFrame({"src": src[sel].map(norm_id), "dst": dst[sel].map(norm_id)})
                    pairs = pairs[pairs["src"].map(is_ens) & pairs["dst"].map(is_ens)]
                    rule = f"{fname}|biomart:{frm}->{to}:{'one2one' if one2one else 'many2one'}:conf>={minc}"
                    cases.append((rule, uniq_rule(pairs, one2one)))
    df = pd.read_csv(os.path.join(shared, "orthologs", "hcop_human_mouse.tsv.gz"), sep="\t", dtype=str,
                     keep_default_na=False)
    df = df[df["taxon_id"] == "10090"]
    for frm in ["human", "mouse"]:
        to = "mouse" if frm == "human" else "human"
        for one2one in [1, 0]:
            for mins in [0, 5]:
                sel = df["support_n"].astype(int) >= mins
                h, m = df["human_ensembl"][sel].map(norm_id), df["ensembl"][sel].map(norm_id)
                src, dst = (h, m) if frm == "human" else (m, h)
                pairs = pd.DataFrame({"src": src, "dst": dst})
                pairs = pairs[pairs["src"].map(is_ens) & pairs["dst"].map(is_ens)]
                rule = f"hcop_human_mouse.tsv.gz|hcop:{frm}->{to}:{'one2one' if one2one else 'many2one'}:support>={mins}"
                cases.append((rule, uniq_rule(pairs, one2one)))
    for rule, (kept, dropped) in cases:
        out.append(("orth", rule, len(kept)))
        for _, r in kept.sample(6, random_state=rng.randrange(10**6)).iterrows():
            out.append(("pair", rule, r["src"], r["dst"]))
        for s in rng.sample(sorted(dropped), min(4, len(dropped))):
            out.append(("nopair", rule, s))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def small_pickles():
    rows = []
    f4 = np.float32(1.1)
    objs = {
        "p2_numpy.pkl": (2, {"a": np.int16(2), "b": np.float64(2.001186019549122), "c": f4, "d": np.int64(-5),
                             "e": np.uint8(200), "f": np.bool_(True), "g": np.int32(-70000), "h": np.float64(0.5)}),
        "p3_numpy.pkl": (3, {"x": np.float64(3.25), "y": np.int8(-3), "z": "ENSG00000141510"}),
        "p4_plain.pkl": (4, {"<pad>": 0, "<mask>": 1, "big": 2**40, "neg": -300, "fl": 1.5, "s": "str", "t": True}),
        "p5_numpy.pkl": (5, {"k1": np.float64(-0.0), "k2": np.uint64(2**63 - 1), "k3": np.float32(-2.5e-8)}),
        "be_numpy.pkl": (4, {"be8": np.array([1.25], dtype=">f8")[0], "be4": np.array([-7], dtype=">i4")[0],
                             "be2": np.array([300], dtype=">u2")[0]}),
    }
    for fname, (proto, d) in objs.items():
        with open(os.path.join(OUT, fname), "wb") as f:
            pickle.dump(d, f, protocol=proto)
        for k, v in d.items():
            if isinstance(v, str):
                rows.append((fname, k, "str", v))
            elif isinstance(v, (bool, np.bool_, int, np.integer)):
                rows.append((fname, k, "int", str(int(v))))
            else:
                rows.append((fname, k, "float", repr(float(v))))
    with open(os.path.join(OUT, "pickles.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(map(str, r)) + "\n")
    bad = {
        "bad_global.pkl": {"a": Evil()},
        "bad_list.pkl": {"a": [1, 2]},
        "bad_notdict.pkl": [("a", 1)],
        "bad_nested.pkl": {"a": {"b": 1}},
        "bad_intkey.pkl": {1: 2},
        "bad_array.pkl": {"a": np.arange(3)},
    }
    for fname, obj in bad.items():
        with open(os.path.join(OUT, fname), "wb") as f:
            pickle.dump(obj, f, protocol=4)
    with open(os.path.join(OUT, "bad_proto0.pkl"), "wb") as f:
        pickle.dump({"a": 1}, f, protocol=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(12345)
    out = []
    g = os.path.join(a.shared, "geneformer")
    vocab_facts(out, "v1", f"{g}/v1/token_dictionary.pkl", f"{g}/v1/gene_median_dictionary.pkl", rng)
    vocab_facts(out, "v2", f"{g}/v2/token_dictionary_gc104M.pkl", f"{g}/v2/gene_median_dictionary_gc104M.pkl", rng)
    gene_table_facts(out, "human_table", os.path.join(a.shared, "genes", "human_ensembl_genes.csv.gz"), rng)
    gene_table_facts(out, "mouse_table", os.path.join(a.shared, "genes", "mouse_ensembl_genes.csv.gz"), rng)
    dict_map_facts(out, "v1_names", f"{g}/v1/gene_name_id_dict.pkl", rng)
    dict_map_facts(out, "v2_names", f"{g}/v2/gene_name_id_dict_gc104M.pkl", rng)
    ortholog_facts(out, a.shared, rng)
    with open(os.path.join(OUT, "expected.tsv"), "w") as f:
        for r in out:
            f.write("\t".join(map(str, r)) + "\n")
    small_pickles()


if __name__ == "__main__":
    main()
