#!/usr/bin/env python3
"""Read an scfm corpus directory with numpy (independent of the C code).

Library use:
    from corpus_to_numpy import read_corpus
    c = read_corpus("corpus_dir")      # dict: meta, offsets (int64 [n+1]), tokens (int32),
                                       # values (float32 or None), cell_ids, obs {col: [..]},
                                       # species (int8 [n]: 0 human, 1 mouse, -1 unknown)
    cell_i = c["tokens"][c["offsets"][i]:c["offsets"][i + 1]]

Command line:
    python scripts/corpus_to_numpy.py DIR -o out.npz     # offsets, tokens[, values], cell_ids, obs_<col>
    python scripts/corpus_to_numpy.py DIR                # prints a summary

Checks the format as documented in include/scfm/corpus.h: magic, version, flags, sizes,
64-byte aligned sections, offsets, and the CRC-32 of each shard recorded in corpus.json.
"""
import argparse
import json
import os
import sys
import zlib

import numpy as np

MAGIC = b"SCFMCRP1"
HEADER = 64


def _align64(x):
    return (x + 63) // 64 * 64


def _read_shard(path, n_cells, n_tokens, crc, has_values):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < HEADER or buf[:8] != MAGIC:
        raise ValueError(f"{path}: not an scfm shard")
    version, flags = np.frombuffer(buf, "<u4", 2, 8)
    hc, ht = np.frombuffer(buf, "<u8", 2, 16)
    if version != 1 or flags != int(has_values) or hc != n_cells or ht != n_tokens:
        raise ValueError(f"{path}: header disagrees with corpus.json")
    off_tok = _align64(HEADER + 8 * (n_cells + 1))
    off_val = _align64(off_tok + 4 * n_tokens) if has_values else off_tok + 4 * n_tokens
    total = off_val + 4 * n_tokens if has_values else off_val
    if len(buf) != total:
        raise ValueError(f"{path}: size {len(buf)} != expected {total}")
    if zlib.crc32(buf[HEADER:]) != crc:
        raise ValueError(f"{path}: CRC-32 mismatch")
    offsets = np.frombuffer(buf, "<u8", n_cells + 1, HEADER).astype(np.int64)
    if offsets[0] != 0 or offsets[-1] != n_tokens or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{path}: bad offsets")
    tokens = np.frombuffer(buf, "<i4", n_tokens, off_tok).copy()
    values = np.frombuffer(buf, "<f4", n_tokens, off_val).copy() if has_values else None
    return offsets, tokens, values


def _read_obs(path, columns, n_cells):
    with open(path, "r", encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t")
    if header != ["cell_id"] + list(columns):
        raise ValueError(f"{path}: header {header} does not match corpus.json")
    rows = [ln.split("\t") for ln in lines[1:]]
    if len(rows) != n_cells or any(len(r) != len(header) for r in rows):
        raise ValueError(f"{path}: expected {n_cells} rows of {len(header)} fields")
    cell_ids = [r[0] for r in rows]
    obs = {c: [r[k + 1] for r in rows] for k, c in enumerate(columns)}
    return cell_ids, obs


def read_corpus(d):
    with open(os.path.join(d, "corpus.json"), encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format") != "scfm-corpus" or meta.get("version") != 1:
        raise ValueError(f"{d}: not an scfm corpus version 1")
    has_values = bool(meta["has_values"])
    offs, toks, vals = [np.zeros(1, np.int64)], [], []
    base = 0
    for k, s in enumerate(meta["shards"]):
        if s["file"] != "shard-%05d.bin" % k:
            raise ValueError(f"{d}: unexpected shard name {s['file']}")
        o, t, v = _read_shard(os.path.join(d, s["file"]), s["n_cells"], s["n_tokens"], s["crc32"], has_values)
        offs.append(o[1:] + base)
        base += int(o[-1])
        toks.append(t)
        vals.append(v)
    offsets = np.concatenate(offs)
    tokens = np.concatenate(toks) if toks else np.zeros(0, np.int32)
    values = np.concatenate(vals) if has_values and vals else None
    n = len(offsets) - 1
    if n != meta["n_cells"] or len(tokens) != meta["n_tokens"]:
        raise ValueError(f"{d}: totals disagree with corpus.json")
    cell_ids, obs = _read_obs(os.path.join(d, "obs.tsv"), meta["obs_columns"], n)
    return {"meta": meta, "offsets": offsets, "tokens": tokens, "values": values, "cell_ids": cell_ids, "obs": obs,
            "species": _read_species(d, meta, n)}


def _read_species(d, meta, n):
    """Per-cell species: species.u8 (0 human, 1 mouse, 255 unknown) with its CRC-32, or, for corpora
    written before it existed, the corpus's species for every cell."""
    cs = meta.get("cell_species")
    if cs is None:
        code = {"human": 0, "mouse": 1}.get(meta.get("species", ""), -1)
        return np.full(n, code, np.int8)
    with open(os.path.join(d, cs["file"]), "rb") as f:
        buf = f.read()
    if len(buf) != n or zlib.crc32(buf) != cs["crc32"]:
        raise ValueError(f"{d}: species.u8 size or CRC-32 disagrees with corpus.json")
    a = np.frombuffer(buf, np.uint8)
    if np.any((a > 1) & (a != 255)):
        raise ValueError(f"{d}: species.u8 holds codes other than 0, 1, 255")
    return np.where(a == 255, -1, a).astype(np.int8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("-o", "--out", help="write an .npz")
    a = ap.parse_args()
    try:
        c = read_corpus(a.corpus)
    except (OSError, ValueError, KeyError) as e:
        print(f"corpus_to_numpy: {e}", file=sys.stderr)
        return 1
    if a.out:
        arrs = {"offsets": c["offsets"], "tokens": c["tokens"], "cell_ids": np.array(c["cell_ids"])}
        if c["values"] is not None:
            arrs["values"] = c["values"]
        for k, v in c["obs"].items():
            arrs["obs_" + k] = np.array(v)
        np.savez(a.out, **arrs)
    lens = np.diff(c["offsets"])
    m = c["meta"]
    print(f"{a.corpus}: {len(lens)} cells, {len(c['tokens'])} tokens, mode {m['mode']}, vocab {m['vocab_hash']}, "
          f"length min/median/max {lens.min()}/{int(np.median(lens))}/{lens.max()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
