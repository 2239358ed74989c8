#!/usr/bin/env bash
# scfm perturb: every perturbation mode (delete, overexpress, inhibit, activate), gene sets
# (--together), anchor combinations and null units, on 20 real PBMC cells tokenized as V1
# and as V2 (<cls>/<eos>) with --max-len 64 and a tiny random model.
#  1. the sequences scfm embeds (--dump-tokens) equal an independent Python re-implementation
#     of the rules in docs/perturb.md, built from the corpus tokens;
#  2. the shifts (goal, alternative state, cos to baseline) and gene-embedding shifts of an
#     anchor + inhibit run equal transformers BertModel on those sequences;
#  3. symbols through --gene-names give the same result as the Ensembl IDs.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 geneformer/v2 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
V2=$D/geneformer/v2

# 8 B cells, 8 T_CD4, 4 MNP from the labelled PBMC set
"$PY" - "$D/human/pbmc4k_labeled" "$T/in" <<'PY'
import os, sys
import scipy.io
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d)
lab = [l.split("\t") for l in open(os.path.join(src, "labels.tsv")).read().splitlines()[1:]]
bcs = open(os.path.join(src, "barcodes.tsv")).read().splitlines()
lab_of = dict(lab)
want = {"B": 8, "T_CD4": 8, "MNP": 4}
idx = []
for i, b in enumerate(bcs):
    l = lab_of.get(b)
    if l in want and want[l] > 0:
        want[l] -= 1
        idx.append(i)
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).tocsc()[:, idx]
scipy.io.mmwrite(os.path.join(d, "matrix.mtx"), X.tocoo(), field="integer")
open(os.path.join(d, "genes.tsv"), "w").write(open(os.path.join(src, "genes.tsv")).read())
open(os.path.join(d, "barcodes.tsv"), "w").write("".join(bcs[i] + "\n" for i in idx))
open(os.path.join(d, "labels.tsv"), "w").write("barcode\tlabel\n" + "".join("%s\t%s\n" % (bcs[i], lab_of[bcs[i]]) for i in idx))
PY
"$BIN" tokenize "$T/in" -o "$T/c1" --vocab $V1/token_dictionary.pkl --medians $V1/gene_median_dictionary.pkl \
    --gene-names $V1/gene_name_id_dict.pkl --max-len 64 --obs label 2> /dev/null > /dev/null
"$BIN" tokenize "$T/in" -o "$T/c2" --mode v2 --vocab $V2/token_dictionary_gc104M.pkl \
    --medians $V2/gene_median_dictionary_gc104M.pkl --gene-names $V2/gene_name_id_dict_gc104M.pkl --max-len 64 \
    --obs label 2> /dev/null > /dev/null
"$BIN" model init --config tiny --vocab "$T/c1/vocab.tsv" -o "$T/m1" --seed 3 > /dev/null 2>&1
"$BIN" model init --config tiny --vocab "$T/c2/vocab.tsv" -o "$T/m2" --seed 4 > /dev/null 2>&1

# genes: the 4 most frequent tokens of the B cells (IDs and unambiguous symbols), the 5th as
# anchor, and a vocabulary gene no cell has
for v in 1 2; do
    NAMES=$V1/gene_name_id_dict.tsv.gz
    [ $v = 2 ] && NAMES=$V2/gene_name_id_dict_gc104M.tsv.gz
    "$PY" - "$T/c$v" "$NAMES" > "$T/genes$v" <<'PY'
import sys, gzip, collections
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
c = read_corpus(sys.argv[1])
vocab = [l.split("\t")[0] for l in open(sys.argv[1] + "/vocab.tsv").read().splitlines() if l]
sym = collections.defaultdict(set)
for l in gzip.open(sys.argv[2], "rt"):
    s, i = l.rstrip("\n").split("\t")[:2]
    sym[s.strip().upper()].add(i.strip().upper())
by_id = collections.defaultdict(list)
for s, ids in sym.items():
    if len(ids) == 1:
        by_id[next(iter(ids))].append(s)
cnt = collections.Counter()
for i, lab in enumerate(c["obs"]["label"]):
    if lab == "B":
        cnt.update(c["tokens"][c["offsets"][i]:c["offsets"][i + 1]].tolist())
top = [t for t, _ in cnt.most_common() if not vocab[t].startswith("<") and len(by_id[vocab[t]]) == 1][:5]
present = set(c["tokens"].tolist())
absent = next(t for t in range(4, len(vocab)) if t not in present and len(by_id[vocab[t]]) == 1)
print(",".join(vocab[t] for t in top[:4]))
print(",".join(by_id[vocab[t]][0] for t in top[:4]))
print(vocab[top[4]])
print(by_id[vocab[top[4]]][0])
print(vocab[absent])
PY
done

run() { # corpus-version name args...
    local v=$1 name=$2
    shift 2
    "$BIN" perturb "$T/c$v" -m "$T/m$v" -o "$T/$name.tsv" --dump-tokens "$T/$name.dump" --shifts "$T/$name.shifts.tsv" "$@" \
        > "$T/$name.out" 2> "$T/$name.log" || { cat "$T/$name.log"; exit 1; }
}
for v in 1 2; do
    IDS=$(sed -n 1p "$T/genes$v"); SYMS=$(sed -n 2p "$T/genes$v"); ANC=$(sed -n 3p "$T/genes$v")
    ANCS=$(sed -n 4p "$T/genes$v"); ABS=$(sed -n 5p "$T/genes$v")
    NAMES=$V1/gene_name_id_dict.tsv.gz
    [ $v = 2 ] && NAMES=$V2/gene_name_id_dict_gc104M.tsv.gz
    printf '# genes\n%s\n\n%s\n' "$(echo "$SYMS" | cut -d, -f1-2 | tr , '\n')" "$(echo "$IDS" | cut -d, -f3-4 | tr , '\n')" > "$T/gf$v"
    run $v v$v-inhibit --inhibit --genes "$IDS" --cells label=B
    run $v v$v-inhibit-sym --inhibit --gene-file "$T/gf$v" --gene-names "$NAMES" --cells label=B
    run $v v$v-activate --activate --shift-fraction 0.1 --genes "$SYMS" --gene-names "$NAMES" --cells label=B
    run $v v$v-inhibit-all --inhibit --shift-fraction 0.5 --max-cells 3
    run $v v$v-delete-set --delete --together --genes "$IDS" --null-genes 2 --seed 9
    run $v v$v-over-anchor --overexpress --anchor "$ANCS" --gene-names "$NAMES" --genes "$IDS,$ABS" --cells label=B
    run $v v$v-act-set-anchor --activate --together --anchor "$ANC" --genes "$IDS" --null-genes 2 --seed 1
    run $v v$v-inh-anchor --inhibit --anchor "$ANC" --genes "$IDS" --null-genes 3 --seed 5 --cells label=B \
        --goal label=T_CD4 --alt label=MNP --goal-cells 5 --gene-shifts "$T/v$v-inh-anchor.gs.tsv" --batch-tokens 100
    grep -q "^reference	null$" "$T/v$v-inh-anchor.out"
    # symbols and IDs: the same rows (gene_file lists the same 4 genes)
    cmp <(cut -f1,2,4- "$T/v$v-inhibit.tsv") <(cut -f1,2,4- "$T/v$v-inhibit-sym.tsv")
done

"$PY" - "$T" <<'PY'
import sys, os, math
import numpy as np, torch
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
from transformers import BertModel
T = sys.argv[1]

def dedup(g):
    out = []
    for x in g:
        if x not in out:
            out.append(x)
    return out

def apply(cell, genes, mode, F, head, tail, maxlen=2048):
    h, reg, t = cell[:head], list(cell[head:len(cell) - tail]), cell[len(cell) - tail:]
    genes = dedup(genes)
    if not genes:
        return list(cell)
    if mode == "overexpress":
        return (h + genes + [x for x in reg if x not in genes] + t)[:maxlen]
    if any(g not in reg for g in genes):
        return None
    if mode == "delete":
        return h + [x for x in reg if x not in genes] + t
    n = len(reg)
    k = max(1, int(math.floor(F * n + 0.5)))
    for g in genes:
        i = reg.index(g)
        j = min(i + k, n - 1) if mode == "inhibit" else max(i - k, 0)
        reg.insert(j, reg.pop(i))
    return h + reg + t

def expected(c, vocab, cells, mode, F, genes, together, anchor):
    """(cell, kind, unit genes, sequence) for the tested units, in scfm's order."""
    special = [t.startswith("<") for t in vocab]
    out = []
    for ci in cells:
        cell = c["tokens"][c["offsets"][ci]:c["offsets"][ci + 1]].tolist()
        head = 1 if cell and special[cell[0]] else 0
        tail = 1 if len(cell) > head and special[cell[-1]] else 0
        pre = [anchor] if anchor is not None else []
        base = apply(cell, pre, mode, F, head, tail)
        if base is None or not base:
            continue
        rows = [(ci, "baseline", (), base)]
        if genes is None:
            units = [[g] for g in dedup(cell[head:len(cell) - tail]) if g != anchor]
        elif together:
            units = [genes]
        else:
            units = [[g] for g in dedup(genes) if g != anchor]
        for u in units:
            s = apply(cell, pre + u, mode, F, head, tail)
            if s is not None and s:
                rows.append((ci, "set" if together else "gene", tuple(u), s))
        out.append(rows)
    return out

def read_dump(path):
    rows = []
    for l in open(path).read().splitlines():
        ci, kind, g, toks = l.split("\t")
        rows.append((int(ci), kind, () if g == "-" else tuple(int(x) for x in g.split("+")), [int(x) for x in toks.split()]))
    return rows

runs = {
    "inhibit": ("inhibit", 0.25, "ids", False, False, "B"),
    "inhibit-sym": ("inhibit", 0.25, "ids", False, False, "B"),
    "activate": ("activate", 0.1, "ids", False, False, "B"),
    "inhibit-all": ("inhibit", 0.5, None, False, False, None),
    "delete-set": ("delete", 0.25, "ids", True, False, None),
    "over-anchor": ("overexpress", 0.25, "ids+absent", False, True, "B"),
    "act-set-anchor": ("activate", 0.25, "ids", True, True, None),
    "inh-anchor": ("inhibit", 0.25, "ids", False, True, "B"),
}
models = {}
for v in (1, 2):
    c = read_corpus(os.path.join(T, "c%d" % v))
    vocab = [l.split("\t")[0] for l in open(os.path.join(T, "c%d" % v, "vocab.tsv")).read().splitlines() if l]
    tid = {g: i for i, g in enumerate(vocab)}
    special = [t.startswith("<") for t in vocab]
    lines = open(os.path.join(T, "genes%d" % v)).read().splitlines()
    ids = [tid[x] for x in lines[0].split(",")]
    anchor, absent = tid[lines[2]], tid[lines[4]]
    labels = c["obs"]["label"]
    ncell = len(c["offsets"]) - 1
    if v == 2:
        assert all(special[c["tokens"][c["offsets"][i]]] for i in range(ncell)), "V2 cells start with <cls>"
    for name, (mode, F, gs, together, anc, cells_lab) in runs.items():
        cells = [i for i in range(ncell) if cells_lab is None or labels[i] == cells_lab]
        if name == "inhibit-all":
            cells = cells[:3]
        genes = None if gs is None else ids + ([absent] if gs == "ids+absent" else [])
        exp = expected(c, vocab, cells, mode, F, genes, together, anchor if anc else None)
        got = read_dump(os.path.join(T, "v%d-%s.dump" % (v, name)))
        tested = [r for r in got if r[1] != "null"]
        with_null = {r[0] for r in got if r[1] == "null"}
        flat = [r for rows in exp if len(rows) > 1 or rows[0][0] in with_null for r in rows]
        assert len(tested) == len(flat), (v, name, len(tested), len(flat))
        for a, b in zip(tested, flat):
            assert a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[3] == b[3], (v, name, a, b)
        # null units: the cell's own genes (not listed, not the anchor), sequences by the same rule
        nulls = [r for r in got if r[1] == "null"]
        for ci, kind, u, s in nulls:
            cell = c["tokens"][c["offsets"][ci]:c["offsets"][ci + 1]].tolist()
            head = 1 if special[cell[0]] else 0
            tail = 1 if len(cell) > head and special[cell[-1]] else 0
            assert len(u) == (len(ids) if together else 1) and len(set(u)) == len(u)
            assert all(g in cell[head:len(cell) - tail] and g not in ids and (not anc or g != anchor) for g in u), (name, u)
            assert s == apply(cell, ([anchor] if anc else []) + list(u), mode, F, head, tail), (v, name, ci, u)
        if name in ("delete-set", "act-set-anchor", "inh-anchor"):
            per = {}
            for ci, *_ in nulls:
                per[ci] = per.get(ci, 0) + 1
            n_null = 3 if name == "inh-anchor" else 2
            for rows in exp:
                assert per.get(rows[0][0], 0) == n_null, (name, rows[0][0], per.get(rows[0][0]))
        # the shifts file has one row per embedded copy (besides the baseline)
        sh = open(os.path.join(T, "v%d-%s.shifts.tsv" % (v, name))).read().splitlines()
        nb = sum(r[1] == "baseline" for r in got)
        assert len(sh) - 1 == len(got) - nb, (name, len(sh), len(got), nb)
    print("v%d: perturbed sequences equal the Python re-implementation (%d runs)" % (v, len(runs)))

    # shifts and gene shifts of the anchor + inhibit run against transformers
    m = BertModel.from_pretrained(os.path.join(T, "m%d" % v), add_pooling_layer=False).eval()
    L = m.config.num_hidden_layers
    sp = np.array(special)
    def states(seq):
        with torch.no_grad():
            return m(torch.tensor(seq, dtype=torch.long)[None], output_hidden_states=True).hidden_states[L - 1][0].double().numpy()
    def emb(seq):
        return states(seq)[~sp[seq]].mean(0)
    def cos(a, b):
        return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-8))
    state = lambda lab: np.mean([emb(c["tokens"][c["offsets"][i]:c["offsets"][i + 1]].tolist())
                                 for i in [i for i in range(ncell) if labels[i] == lab][:5]], 0)
    goal, alt = state("T_CD4"), state("MNP")
    cells = [i for i in range(ncell) if labels[i] == "B"]
    exp = expected(c, vocab, cells, "inhibit", 0.25, ids, False, anchor)
    want, gsum = {}, {}
    for rows in exp:
        bs = states(rows[0][3]); b = bs[~sp[rows[0][3]]].mean(0)
        bpos = {t: q for q, t in enumerate(rows[0][3]) if not special[t]}
        for ci, kind, u, s in rows[1:]:
            ps = states(s); p = ps[~sp[s]].mean(0)
            want[(u[0], ci)] = (cos(p, goal) - cos(b, goal), cos(p, b), cos(p, alt) - cos(b, alt))
            for q, t in enumerate(s):
                if special[t] or t == anchor or t in u or t not in bpos:
                    continue
                k = (u[0], t)
                a = gsum.setdefault(k, [0.0, 0, []])
                x = cos(ps[q], bs[bpos[t]])
                a[0] += x; a[1] += 1; a[2].append(x)
    got = {}
    hdr, *rows = [l.split("\t") for l in open(os.path.join(T, "v%d-inh-anchor.shifts.tsv" % v)).read().splitlines()]
    assert hdr == ["gene", "token_id", "cell", "cell_id", "null", "shift", "cos", "shift_to_MNP", "name", "symbol",
                   "shift_to_T_CD4"], hdr
    for r in rows:
        if r[4] == "0":
            got[(int(r[1]), int(r[2]))] = tuple(float(x) for x in r[5:8])
    assert set(got) == set(want), (sorted(got), sorted(want))
    d = max(abs(got[k][j] - want[k][j]) for k in want for j in range(3))
    assert d < 2e-5, d
    gs = [l.split("\t") for l in open(os.path.join(T, "v%d-inh-anchor.gs.tsv" % v)).read().splitlines()]
    assert gs[0] == ["perturbed", "perturbed_token", "affected", "affected_token", "n_cells", "mean_cos",
                     "perturbed_symbol", "affected_symbol", "sd_cos"], gs[0]
    gg = {(int(r[1]), int(r[3])): (int(r[4]), float(r[5]), float(r[8])) for r in gs[1:]}
    assert set(gg) == set(gsum), (len(gg), len(gsum))
    dg = max(abs(gg[k][1] - gsum[k][0] / gsum[k][1]) for k in gsum)
    assert all(gg[k][0] == gsum[k][1] for k in gsum) and dg < 2e-5, dg
    # sample sd of the cosines (n - 1; nan for one cell)
    dsd = max(abs(gg[k][2] - np.std(gsum[k][2], ddof=1)) for k in gsum if gsum[k][1] > 1)
    assert all(np.isnan(gg[k][2]) for k in gsum if gsum[k][1] == 1) and dsd < 2e-5, dsd
    # the stats rows: means of the written columns
    st = [l.split("\t") for l in open(os.path.join(T, "v%d-inh-anchor.tsv" % v)).read().splitlines()]
    assert st[0][-5:] == ["mean_cos", "mean_shift_to_T_CD4", "sd_shift_to_T_CD4", "mean_shift_to_MNP", "sd_shift_to_MNP"], st[0]
    for r in st[1:]:
        r = dict(zip(st[0], r))
        g = int(r["token_id"])
        vals = [want[k] for k in want if k[0] == g]
        assert int(r["n_cells"]) == len(vals)
        for col, j in (("mean_shift", 0), ("mean_shift_to_T_CD4", 0), ("mean_cos", 1), ("mean_shift_to_MNP", 2)):
            assert abs(float(r[col]) - np.mean([x[j] for x in vals])) < 2e-5, (r, col)
        for col, j in (("sd_shift", 0), ("sd_shift_to_MNP", 2)):
            if len(vals) > 1:
                assert abs(float(r[col]) - np.std([x[j] for x in vals], ddof=1)) < 2e-5, (r, col)
    print("v%d: shifts (goal, cos, alt) and gene shifts equal transformers: max diff %.2g / %.2g over %d copies, %d gene pairs"
          % (v, d, dg, len(want), len(gsum)))
PY
echo "perturb modes: ok"
