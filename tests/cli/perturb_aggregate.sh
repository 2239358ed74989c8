#!/usr/bin/env bash
# scfm perturb --cell-range A:B and scfm perturb aggregate: a job run in pieces, then merged,
# equals the job run at once. Real PBMC cells (pbmc4k, tokenized V1, 64 tokens), a tiny random
# model. Two jobs:
#   1. every gene of 24 cells, --goal label=B --alt label=MNP (reference: all shifts), pieces
#      0:10 and 10: given as a run folder;
#   2. three listed genes, a fixed null run (--null-genes 4 --null-fixed, drawn from the whole
#      selection), pieces 0:7, 7:15 and 15: given as files.
# The merged tables must equal the full run's (-o and --mixture): strings and counts exactly,
# numbers within a relative 1e-9 (the shifts are written with 17 digits, so only the order of
# the sums may differ). Means and sds are also checked against numpy over the raw shifts.
# Then the errors: overlapping pieces, pieces of runs with other states, bad ranges.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
"$BIN" tokenize "$D/human/pbmc4k_labeled" -o "$T/c" --vocab $V1/token_dictionary.tsv.gz \
    --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 64 --obs label \
    > /dev/null 2> "$T/err" || { cat "$T/err"; exit 1; }
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 5 > /dev/null 2>&1
SCRIPTS=$(cd "$(dirname "$0")/../.." && pwd)/scripts
GENES=$("$PY" -c "
import sys, numpy as np; sys.path.insert(0, '$SCRIPTS')
from corpus_to_numpy import read_corpus
c = read_corpus('$T/c'); v = [l.split('\t')[0] for l in open('$T/c/vocab.tsv')]
print(','.join(v[t] for t in np.argsort(-np.bincount(c['tokens']))[4:7]))")
P() { "$BIN" perturb "$T/c" -m "$T/m" --delete --threads 1 "$@" > "$T/out" 2> "$T/err" || { cat "$T/err"; exit 1; }; }
# job 1: every gene, goal and alternative state
J1="--max-cells 24 --goal label=B --alt label=MNP"
# shellcheck disable=SC2086
P $J1 -o "$T/full1.tsv" --shifts "$T/full1.shifts.tsv" --mixture "$T/full1.mix.tsv" --mixture-reg 1e-12
mkdir "$T/run1"
# shellcheck disable=SC2086
P $J1 --cell-range 0:10 -o "$T/run1/part0.tsv" --shifts "$T/run1/part0.shifts.tsv"
# shellcheck disable=SC2086
P $J1 --cell-range 10: -o "$T/run1/part1.tsv" --shifts "$T/run1/part1.shifts.tsv"
grep -q "^cells	14$" "$T/out" || { cat "$T/out"; echo "the piece 10: of 24 cells should run 14"; exit 1; }
"$BIN" perturb aggregate "$T/run1" -o "$T/agg1.tsv" --mixture "$T/agg1.mix.tsv" --mixture-reg 1e-12 > "$T/out" 2> "$T/err" \
    || { cat "$T/err"; exit 1; }
grep -q "2 shift tables, 24 cells" "$T/err" || { cat "$T/err"; exit 1; }
# job 2: listed genes against a fixed null run
J2="--genes $GENES --null-genes 4 --null-fixed --seed 7"
P $J2 -o "$T/full2.tsv" --shifts "$T/full2.shifts.tsv"
for r in 0:7 7:15 15:; do P $J2 --cell-range $r -o "$T/p2.tsv" --shifts "$T/p2-${r%%:*}.shifts.tsv"; done
"$BIN" perturb aggregate "$T/p2-0.shifts.tsv" "$T/p2-7.shifts.tsv" "$T/p2-15.shifts.tsv" -o "$T/agg2.tsv" \
    > "$T/out" 2> "$T/err" || { cat "$T/err"; exit 1; }
grep -q "^reference	null$" "$T/out" || { cat "$T/out"; exit 1; }
"$PY" - "$T" "$V1/gene_name_id_dict.tsv.gz" <<'PYEOF'
import sys, gzip, numpy as np, pandas as pd
T, names = sys.argv[1:3]
rd = lambda p: pd.read_csv(f"{T}/{p}", sep="\t", keep_default_na=False, na_values=["nan"])
def same(a, b, what, key="gene"):
    a, b = rd(a).set_index(key), rd(b).set_index(key)
    assert list(a.columns) == list(b.columns), (what, list(a.columns), list(b.columns))
    assert sorted(a.index) == sorted(b.index) and len(a) > 2, what
    b = b.loc[a.index]
    worst = 0.0
    for col in a.columns:
        if a[col].dtype.kind == "f":
            x, y = a[col].values, b[col].values
            assert (np.isnan(x) == np.isnan(y)).all(), (what, col)
            ok = ~np.isnan(x)
            d = np.abs(x[ok] - y[ok]) / np.maximum(np.abs(x[ok]), 1e-300)
            worst = max(worst, d.max() if len(d) else 0.0)
            assert (d <= 1e-9).all(), (what, col, d.max())
        else:
            assert (a[col].values == b[col].values).all(), (what, col)
    print(f"{what}: {len(a)} rows, {len(a.columns)} columns equal (max relative difference {worst:.1e})")
    return a
st1 = same("full1.tsv", "agg1.tsv", "job 1 (every gene, goal + alt) -o")
same("full1.mix.tsv", "agg1.mix.tsv", "job 1 --mixture")
st2 = same("full2.tsv", "agg2.tsv", "job 2 (listed genes, fixed null run) -o")
for col in ["mean_shift_to_B", "sd_shift_to_B", "mean_shift_to_MNP", "sd_shift_to_MNP", "symbol", "sd_shift"]:
    assert col in st1.columns, (col, list(st1.columns))
# means and sample sds against numpy over the raw shifts of the full run
sh = rd("full1.shifts.tsv")
assert list(sh.columns) == ["gene", "token_id", "cell", "cell_id", "null", "shift", "cos", "shift_to_MNP", "name",
                            "symbol", "shift_to_B"], list(sh.columns)
assert (sh["shift"] == sh["shift_to_B"]).all()
g = sh.groupby("gene")
for col, m, s in [("shift", "mean_shift", "sd_shift"), ("shift_to_MNP", "mean_shift_to_MNP", "sd_shift_to_MNP")]:
    mean, sd = g[col].mean(), g[col].std(ddof=1)
    dm = np.abs(st1[m] - mean.loc[st1.index]).max()
    ok = g.size().loc[st1.index] > 1
    ds = np.abs(st1[s][ok] - sd.loc[st1.index][ok]).max()
    assert dm < 1e-12 and ds < 1e-9, (col, dm, ds)
    assert st1[s][~ok].isna().all()
print("means and sds (n - 1) equal numpy's over the raw shifts")
# symbols: from the corpus's gene-name table (symbol -> ID); each symbol shown must map to its
# row's gene, and every gene the table knows must have one
id2syms = {}
for l in gzip.open(names, "rt"):
    k, v = l.rstrip("\n").split("\t")[:2]
    id2syms.setdefault(v, set()).add(k)
for gene, sym in zip(st1.index, st1["symbol"]):
    assert (sym != "") == (gene in id2syms), (gene, sym)
    assert sym == "" or sym in id2syms[gene], (gene, sym, id2syms[gene])
print(f"symbols: {int((st1.symbol != '').sum())} of {len(st1)} genes, each a symbol of its gene in the table")
PYEOF
# errors: overlapping pieces; pieces of runs with other states; bad ranges; not a shift table
fails() { # expected message, command...
    local want=$1; shift
    if "$@" > /dev/null 2> "$T/err"; then echo "expected failure: $*"; exit 1; fi
    grep -qF -- "$want" "$T/err" || { echo "wanted '$want', got:"; cat "$T/err"; exit 1; }
}
fails "the runs overlap" "$BIN" perturb aggregate "$T/full1.shifts.tsv" "$T/run1/part0.shifts.tsv" -o "$T/x.tsv"
fails "columns differ" "$BIN" perturb aggregate "$T/full1.shifts.tsv" "$T/p2-0.shifts.tsv" -o "$T/x.tsv"
fails "not a shift table" "$BIN" perturb aggregate "$T/full1.tsv" -o "$T/x.tsv"
fails "no shift table" "$BIN" perturb aggregate "$T/c" -o "$T/x.tsv"
[ ! -e "$T/x.tsv" ] || { echo "a failed aggregate wrote its output"; exit 1; }
fails "B must be larger than A" "$BIN" perturb "$T/c" -m "$T/m" --delete -o "$T/x.tsv" --cell-range 5:3
fails "--cell-range wants A:B" "$BIN" perturb "$T/c" -m "$T/m" --delete -o "$T/x.tsv" --cell-range 7
fails "--cell-range" "$BIN" perturb "$T/c" -m "$T/m" --delete -o "$T/x.tsv" --cell-range a:3
fails "the selection has only 24 cells" "$BIN" perturb "$T/c" -m "$T/m" --delete -o "$T/x.tsv" --max-cells 24 --cell-range 30:40
[ ! -e "$T/x.tsv" ] || { echo "a failed perturb wrote its output"; exit 1; }
echo ok
