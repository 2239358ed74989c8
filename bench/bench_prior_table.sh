#!/usr/bin/env bash
# Prior-table loading at GeneCompass's size: a 50,558-token joint vocabulary (<pad>, <mask>,
# 23,114 human and 27,442 mouse Ensembl IDs taken from ../shared/data/genes) and a 768-wide
# float32 table of 45,000 of its genes plus 1,000 unknown keys, written by numpy in every
# format; each loaded by scfm (bench_prior_table: best of REPEAT, peak RSS) and, as the
# reference, by Python the way GeneCompass does it (pickle.load of the dict, then stacking
# into [V, 768] in token order with numpy, random rows for the missing genes).
# Usage: make bench && bash bench/bench_prior_table.sh     (env: SCFM_SHARED_DATA, SCFM_PYTHON, REPEAT=3)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SCFM_SHARED_DATA:-../shared/data}
PY=${SCFM_PYTHON:-.venv/bin/python}
BIN=${SCFM_BUILD:-build}/bench/bench_prior_table
REPEAT=${REPEAT:-3}
# PRIOR_BENCH_DIR=DIR keeps the generated files there (and reuses them when present)
if [ -n "${PRIOR_BENCH_DIR:-}" ]; then W=$PRIOR_BENCH_DIR; mkdir -p "$W"; else W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; fi
[ -f "$W/t.tsv" ] || "$PY" - "$D" "$W" <<'PYEOF'
import gzip, json, os, pickle, sys
import numpy as np
from safetensors.numpy import save_file
shared, w = sys.argv[1], sys.argv[2]
def ids(path, n):
    out, seen = [], set()
    with gzip.open(path, "rt") as f:
        head = f.readline().rstrip("\n").split(",")
        col = head.index("gene_id")
        for line in f:
            g = line.split(",")[col].strip('"').split(".")[0]
            if g not in seen:
                seen.add(g); out.append(g)
            if len(out) == n:
                break
    return out
toks = ["<pad>", "<mask>"] + ids(shared + "/genes/human_ensembl_genes.csv.gz", 23114) + ids(shared + "/genes/mouse_ensembl_genes.csv.gz", 27442)
assert len(toks) == 50558, len(toks)
open(w + "/vocab.tsv", "w").write("".join("%s\t%d\n" % (t, i) for i, t in enumerate(toks)))
rng = np.random.default_rng(0)
genes = [str(g) for g in rng.choice(toks[2:], 45000, replace=False)] + ["ENSG9%010d" % i for i in range(1000)]
m = rng.standard_normal((len(genes), 768)).astype(np.float32)
with open(w + "/t.pkl", "wb") as f:
    pickle.dump({g: m[i].copy() for i, g in enumerate(genes)}, f)
np.save(w + "/t.npy", m)
open(w + "/t.genes.txt", "w").write("\n".join(genes) + "\n")
save_file({"prior": m}, w + "/t.safetensors", metadata={"genes": json.dumps(genes)})
with open(w + "/t.tsv", "w") as f:
    for i, g in enumerate(genes):
        f.write(g + "\t" + "\t".join("%.7g" % x for x in m[i]) + "\n")
for n in ("t.pkl", "t.npy", "t.safetensors", "t.tsv"):
    print("%s: %.0f MB" % (n, os.path.getsize(w + "/" + n) / 2**20))
PYEOF
for f in t.pkl t.npy t.safetensors t.tsv; do
    "$BIN" --vocab "$W/vocab.tsv" --table "$W/$f" --width 768 --repeat "$REPEAT"
done
"$PY" - "$W" <<'PYEOF'
import pickle, resource, sys, time
import numpy as np
w = sys.argv[1]
toks = [l.split("\t")[0] for l in open(w + "/vocab.tsv")]
best = best_cpu = 1e30
for _ in range(3):
    t0, c0 = time.perf_counter(), time.process_time()
    d = pickle.load(open(w + "/t.pkl", "rb"))
    rng = np.random.default_rng(1)
    out = np.zeros((len(toks), 768), np.float32)
    for i, t in enumerate(toks):
        if t.startswith("<"):
            continue
        v = d.get(t)
        out[i] = v if v is not None else rng.standard_normal(768)
    best = min(best, time.perf_counter() - t0)
    best_cpu = min(best_cpu, time.process_time() - c0)
    del d, out
print("RESULT python pickle.load + stack seconds=%.3f cpu_seconds=%.3f peak_rss_mb=%.0f" % (best, best_cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
PYEOF
