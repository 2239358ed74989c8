#!/usr/bin/env bash
# Every command ends with a one-line summary on stdout ("scfm CMD: ...", the last line there,
# once), and progress goes to stderr as plain lines when stderr is not a terminal (no \r)
# and as one line rewritten with \r on a terminal (script(1) gives it one). No data needed:
# synthetic counts (two CSV files, 40 + 30 cells of 80 genes, 10 cell IDs shared), then
# every command once on them with a tiny model.
set -uo pipefail
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
"$PY" - "$T" <<'PYEOF'
import sys, numpy as np
T = sys.argv[1]
rng = np.random.default_rng(3)
genes = [f"ENSG{10000 + 7 * g:011d}" for g in range(80)]
rate = rng.gamma(0.6, 3.0, size=80)
for name, n, first in (("a", 40, 0), ("b", 30, 30)):
    X = rng.poisson(rate * rng.uniform(0.5, 2.0, size=(n, 1)))
    X[:, :5] += 1  # every cell expresses some genes
    with open(f"{T}/{name}.csv", "w") as f:
        f.write("cell," + ",".join(genes) + "\n")
        for i in range(n):
            f.write(f"cell{first + i}," + ",".join(str(v) for v in X[i]) + "\n")
with open(f"{T}/net.tsv", "w") as f:
    f.write("tf\ttarget\n")
    for t in range(5, 9):
        for g in range(10, 20):
            f.write(f"{genes[t]}\t{genes[g]}\n")
with open(f"{T}/tok.txt", "w") as f:
    f.write("5 6 7 8 9\n10 11 12\n")
PYEOF
# run NAME COMMAND-WORDS... : stdout's last line is "scfm NAME: ...", the only such line; no \r on stderr
run() {
    local name=$1; shift
    if ! "$BIN" "$@" > "$T/out" 2> "$T/err"; then echo "FAIL: scfm $*: exit $?"; tail -3 "$T/err"; fail=1; return; fi
    local last; last=$(tail -n 1 "$T/out")
    case $last in "scfm $name: "*) ;; *) echo "FAIL: scfm $name: last stdout line is '$last'"; fail=1 ;; esac
    [ "$(grep -c "^scfm $name: " "$T/out")" = 1 ] || { echo "FAIL: scfm $name: the summary is not one line"; fail=1; }
    if grep -q $'\r' "$T/err"; then echo "FAIL: scfm $name: carriage return on a stderr that is not a terminal"; fail=1; fi
    echo "$last"
}
C=$T/c
run "vocab build" vocab build "$T/a.csv" "$T/b.csv" -o "$T/v"
run tokenize tokenize "$T/a.csv" "$T/b.csv" -o "$C" --vocab "$T/v/vocab.tsv" --medians "$T/v/medians.tsv" --max-len 32
grep -q "from 2 input files" "$T/out" || { echo "FAIL: tokenize summary: $(tail -1 "$T/out")"; fail=1; }
run "corpus info" corpus info "$C"
run "corpus export" corpus export "$C" --tsv "$T/export.tsv"
run "corpus merge" corpus merge "$C" "$C" -o "$T/merged"
run "model init" model init --config tiny --vocab "$C/vocab.tsv" -o "$T/m" --seed 1
run "model info" model info "$T/m"
run "model forward" model forward "$T/m" --tokens "$T/tok.txt" -o "$T/f.safetensors" --threads 1
run "model train" model train "$T/m" --tokens "$T/tok.txt" --steps 2 -o "$T/m2" --threads 1
V=$(wc -l < "$C/vocab.tsv")
run pretrain pretrain "$C" -o "$T/run" --config tiny --set vocab_size="$V" --max-steps 3 --batch-size 8 --threads 1
run embed embed "$C" -m "$T/m" -o "$T/e.tsv" --threads 1
run map map "$T/e.tsv" -o "$T/map.tsv" --iter 50 --perplexity 5 --threads 1
run finetune finetune "$C" -m "$T/m" -o "$T/ft" --label source --max-steps 4 --eval-every 2 --threads 1
run predict predict "$C" -m "$T/ft/best" -o "$T/pred.tsv" --threads 1
run perturb perturb "$C" -m "$T/m" -o "$T/p.tsv" --delete --max-cells 6 --shifts "$T/raw.tsv" --threads 1
grep -q "^perturb: 6 / 6 cells" "$T/err" || { echo "FAIL: no plain progress line from perturb"; cat "$T/err"; fail=1; }
run "perturb aggregate" perturb aggregate "$T/raw.tsv" -o "$T/agg.tsv"
run "priors build" priors build grn "$T/net.tsv" -o "$T/prior" --dim 8 --epochs 2 --threads 1
run grn grn "$C" -m "$T/m" -o "$T/g" --network "$T/net.tsv" --min-tf-cells 2 --max-cells 5 --route2-cells 0 --threads 1
run report report "$T/run" "$T/p.tsv" -o "$T/r.html" --threads 1
# on a terminal (script(1) provides one) progress is one line rewritten with \r
if command -v script > /dev/null; then
    script -qec "$BIN perturb $C -m $T/m -o $T/p2.tsv --delete --max-cells 6 --threads 1" /dev/null > "$T/tty" 2>&1 \
        || { echo "FAIL: perturb under script: exit $?"; fail=1; }
    grep -q $'\rperturb: 6 / 6 cells' "$T/tty" || { echo "FAIL: no \\r progress line on a terminal"; cat -A "$T/tty" | head; fail=1; }
else
    echo "(script(1) not found: the terminal case is not checked)"
fi
[ $fail -eq 0 ] && echo ok
exit $fail
